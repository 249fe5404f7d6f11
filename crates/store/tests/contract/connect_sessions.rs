//! Connect links: made only for the organization's own connections, claimed by exactly one browser
//! (also when two open the link at the same instant), and dead after their deadline.

use ledgerlink_store::LinkClaim;

use crate::harness::{TestDb, at, org, ready_connection};

#[tokio::test]
async fn a_link_is_claimed_once_and_expires() {
    let db = TestDb::new().await;
    let s = &db.store;
    let acme = org(s, "acme").await;
    let other = org(s, "other").await;
    let c = ready_connection(s, &acme, "Acme").await;
    assert!(
        s.create_connect_link(&other, &c.id, at(0), at(900))
            .await
            .unwrap()
            .is_none(),
        "not another organization's connection"
    );
    let link = s
        .create_connect_link(&acme, &c.id, at(0), at(900))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.session.connection_id, c.id);

    // Two browsers at once: one session.
    let second = db.second_handle().await;
    let (a, b) = tokio::join!(
        s.claim_connect_link(&link.token, at(10), at(3610)),
        second.claim_connect_link(&link.token, at(10), at(3610)),
    );
    let claims = [a.unwrap(), b.unwrap()];
    let secrets: Vec<&String> = claims
        .iter()
        .filter_map(|c| match c {
            LinkClaim::Claimed { browser_secret, .. } => Some(browser_secret),
            _ => None,
        })
        .collect();
    assert_eq!(secrets.len(), 1, "{claims:?}");
    assert!(claims.contains(&LinkClaim::AlreadyClaimed));
    let session = s
        .connect_session(secrets[0], at(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&session.org_id, &session.connection_id), (&acme, &c.id));
    assert_eq!(session.expires_at, at(3610));
    assert!(
        s.connect_session("0".repeat(64).as_str(), at(20))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.connect_session(secrets[0], at(3610))
            .await
            .unwrap()
            .is_none(),
        "expired"
    );

    // Unopened links die at their deadline; made-up ones never lived.
    let unopened = s
        .create_connect_link(&acme, &c.id, at(0), at(900))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.claim_connect_link(&unopened.token, at(900), at(4500))
            .await
            .unwrap(),
        LinkClaim::Expired
    );
    assert_eq!(
        s.claim_connect_link(&"1".repeat(64), at(10), at(3610))
            .await
            .unwrap(),
        LinkClaim::Unknown
    );
}
