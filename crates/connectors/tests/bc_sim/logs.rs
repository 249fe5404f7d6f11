use std::io::Write;
use std::sync::{Arc, Mutex};

use ledgerlink_connectors::{Connector, PageRequest};
use secrecy::ExposeSecret;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

use crate::{authorize, cloud, connector, first_company, on_prem, sim};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn trace_output_carries_no_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        )
        .with(Targets::new().with_target("ledgerlink_connectors", Level::TRACE));
    let _guard = tracing::subscriber::set_default(subscriber);

    let sim = sim().await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    let session = cloud(&sim, &tokens, Some(first_company(&sim)));
    let refreshed = bc
        .refresh(&session.target, tokens.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    let req = PageRequest {
        model: "invoices".into(),
        page_size: Some(10),
        ..Default::default()
    };
    bc.fetch_page(&session, &req).await.unwrap();
    let on_prem = on_prem(&sim, Some(sim.onprem_company_ids()[0].to_string()));
    bc.fetch_page(&on_prem, &req).await.unwrap();
    sim.revoke_tokens();
    bc.fetch_page(&session, &req).await.unwrap_err();

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("bc.fetch_page") && text.contains("bc.refresh"),
        "{text}"
    );
    let (_, access_key) = sim.onprem_credentials().unwrap();
    let secrets = [
        tokens.access_token.expose_secret().to_owned(),
        tokens.refresh_token.unwrap().expose_secret().to_owned(),
        refreshed.access_token.expose_secret().to_owned(),
        refreshed.refresh_token.unwrap().expose_secret().to_owned(),
        sim.client_secret(),
        access_key,
    ];
    for secret in secrets {
        assert!(!text.contains(&secret), "a secret was logged");
    }
}
