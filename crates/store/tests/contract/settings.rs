//! Connection settings the engine and the user both write: the user's choice always wins.

use ledgerlink_domain::ConnectionChanges;

use crate::harness::{TestDb, at, org, ready_connection};

#[tokio::test]
async fn setups_journal_pick_never_overrides_the_users_choice_or_another_company() {
    let db = TestDb::new().await;
    let s = &db.store;
    let acme = org(s, "acme").await;
    let c = ready_connection(s, &acme, "Acme").await;
    let journal = |s: &std::sync::Arc<dyn ledgerlink_store::Store>| {
        let s = s.clone();
        let (org, id) = (acme.clone(), c.id.clone());
        async move {
            s.get_connection(&org, &id)
                .await
                .unwrap()
                .unwrap()
                .payment_journal
        }
    };
    // The user chose BANK while setup ran: setup's pick of GENERAL is not recorded.
    let choose = |code: Option<&str>| ConnectionChanges {
        payment_journal: Some(code.map(str::to_owned)),
        ..Default::default()
    };
    s.update_connection(&acme, &c.id, &choose(Some("BANK")), at(1))
        .await
        .unwrap();
    let picked = s
        .pick_payment_journal(&acme, &c.id, "company-1", "GENERAL")
        .await
        .unwrap();
    assert!(!picked);
    assert_eq!(journal(s).await.as_deref(), Some("BANK"));
    // Cleared by the user, then an engine save of the connection as loaded before: still cleared.
    let stale = s.get_connection(&acme, &c.id).await.unwrap().unwrap();
    s.update_connection(&acme, &c.id, &choose(None), at(2))
        .await
        .unwrap();
    assert!(s.save_connection_state(&stale, at(3)).await.unwrap());
    assert_eq!(journal(s).await, None);
    // A pick for a company that is no longer the connection's is not recorded.
    let picked = s
        .pick_payment_journal(&acme, &c.id, "company-2", "GENERAL")
        .await
        .unwrap();
    assert!(!picked);
    assert_eq!(journal(s).await, None);
    // Nothing chosen, same company: recorded.
    let picked = s
        .pick_payment_journal(&acme, &c.id, "company-1", "GENERAL")
        .await
        .unwrap();
    assert!(picked);
    assert_eq!(journal(s).await.as_deref(), Some("GENERAL"));
    // Another organization cannot pick for it.
    let other = org(s, "other").await;
    let picked = s
        .pick_payment_journal(&other, &c.id, "company-1", "CASH")
        .await
        .unwrap();
    assert!(!picked);
}
