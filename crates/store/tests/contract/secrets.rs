//! Compare-and-swap on a connection's sealed credentials: a token refresh only lands on the version
//! it read; a stale writer is told so and changes nothing.

use ledgerlink_store::SealedSecret;

use crate::harness::{TestDb, at, org, ready_connection};

fn sealed(bytes: &[u8]) -> SealedSecret {
    SealedSecret {
        kind: "oauth".into(),
        sealed: bytes.to_vec(),
        version: 1,
        expires_at: Some(at(3600)),
    }
}

#[tokio::test]
async fn a_stale_version_is_refused_and_the_right_one_bumps_it() {
    let db = TestDb::new().await;
    let s = &db.store;
    let acme = org(s, "acme").await;
    let c = ready_connection(s, &acme, "Acme").await;

    assert!(s.get_secret(&c.id).await.unwrap().is_none());
    // Nothing stored yet: a conditional write has nothing to compare with.
    assert!(
        !s.put_secret(&c.id, &sealed(b"v0"), Some(1), at(0))
            .await
            .unwrap()
    );
    assert!(s.get_secret(&c.id).await.unwrap().is_none());

    // Unconditional: stored as given.
    assert!(
        s.put_secret(&c.id, &sealed(b"first"), None, at(1))
            .await
            .unwrap()
    );
    let v1 = s.get_secret(&c.id).await.unwrap().unwrap();
    assert_eq!(v1.sealed, b"first");
    assert_eq!(v1.kind, "oauth");
    assert_eq!(v1.expires_at, Some(at(3600)));
    let first_version = v1.version;

    // A writer that read an older version loses and changes nothing.
    let stale = first_version - 1;
    assert!(
        !s.put_secret(&c.id, &sealed(b"stale"), Some(stale), at(2))
            .await
            .unwrap()
    );
    let still = s.get_secret(&c.id).await.unwrap().unwrap();
    assert_eq!(still.sealed, b"first");
    assert_eq!(still.version, first_version);

    // The writer that read the current version wins, and the version moves on.
    let mut refreshed = sealed(b"refreshed");
    refreshed.expires_at = Some(at(7200));
    assert!(
        s.put_secret(&c.id, &refreshed, Some(first_version), at(3))
            .await
            .unwrap()
    );
    let v2 = s.get_secret(&c.id).await.unwrap().unwrap();
    assert_eq!(v2.sealed, b"refreshed");
    assert_eq!(v2.expires_at, Some(at(7200)));
    assert_eq!(v2.version, first_version + 1);

    // The version it replaced is now stale too.
    assert!(
        !s.put_secret(&c.id, &sealed(b"late"), Some(first_version), at(4))
            .await
            .unwrap()
    );
    assert_eq!(
        s.get_secret(&c.id).await.unwrap().unwrap().sealed,
        b"refreshed"
    );

    // Unconditional replaces whatever is there, and still moves the version on (so a refresh that
    // read the old one cannot overwrite the new credentials).
    assert!(
        s.put_secret(&c.id, &sealed(b"new login"), None, at(5))
            .await
            .unwrap()
    );
    let v3 = s.get_secret(&c.id).await.unwrap().unwrap();
    assert_eq!(v3.sealed, b"new login");
    assert!(
        v3.version > v2.version,
        "{} after {}",
        v3.version,
        v2.version
    );
    assert!(
        !s.put_secret(&c.id, &sealed(b"old refresh"), Some(v2.version), at(6))
            .await
            .unwrap()
    );
    assert_eq!(
        s.get_secret(&c.id).await.unwrap().unwrap().sealed,
        b"new login"
    );

    // Deleted: gone, and a conditional write does not bring it back.
    s.delete_secret(&c.id).await.unwrap();
    assert!(s.get_secret(&c.id).await.unwrap().is_none());
    assert!(
        !s.put_secret(&c.id, &sealed(b"x"), Some(v3.version), at(7))
            .await
            .unwrap()
    );
    assert!(s.get_secret(&c.id).await.unwrap().is_none());
}

#[tokio::test]
async fn of_concurrent_refreshes_from_one_version_exactly_one_wins() {
    let db = TestDb::new().await;
    let s = &db.store;
    let acme = org(s, "acme").await;
    let c = ready_connection(s, &acme, "Acme").await;
    assert!(
        s.put_secret(&c.id, &sealed(b"start"), None, at(0))
            .await
            .unwrap()
    );
    let read = s.get_secret(&c.id).await.unwrap().unwrap().version;
    let other = db.second_handle().await;

    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let store = if i % 2 == 0 { s.clone() } else { other.clone() };
        let id = c.id.clone();
        tasks.push(tokio::spawn(async move {
            let won = store
                .put_secret(&id, &sealed(&[i]), Some(read), at(1))
                .await
                .unwrap();
            (i, won)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (i, won) = t.await.unwrap();
        if won {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let stored = s.get_secret(&c.id).await.unwrap().unwrap();
    assert_eq!(stored.sealed, vec![winners[0]]);
    assert_eq!(stored.version, read + 1);
}
