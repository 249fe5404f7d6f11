use std::time::Duration;

use ledgerlink_connectors::business_central::{BcConfig, BusinessCentral};
use ledgerlink_connectors::{AuthorizationRequest, Connector, ConnectorError, ErrorKind, Pkce};
use secrecy::ExposeSecret;

use crate::{authorize, browse, cloud, config, connector, sim};

#[tokio::test]
async fn consent_exchange_and_tenant_from_token() {
    let sim = sim().await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    assert_eq!(tokens.tenant_id, Some(sim.tenant_id().to_string()));
    assert!(
        tokens.refresh_token.is_some(),
        "offline_access gives a refresh token"
    );
    assert!(tokens.expires_at > chrono::Utc::now() + chrono::Duration::minutes(50));
    bc.validate_credentials(&cloud(&sim, &tokens, None))
        .await
        .unwrap();
}

#[tokio::test]
async fn refresh_rotates_and_the_old_token_dies() {
    let sim = sim().await;
    let bc = connector(&sim);
    let first = authorize(&bc).await;
    let target = cloud(&sim, &first, None).target;
    let old = first.refresh_token.unwrap();
    let second = bc.refresh(&target, &old).await.unwrap();
    let new = second.refresh_token.clone().expect("rotated refresh token");
    assert_ne!(new.expose_secret(), old.expose_secret());
    assert_eq!(second.tenant_id, Some(sim.tenant_id().to_string()));
    let replay = bc.refresh(&target, &old).await.unwrap_err();
    assert_eq!(replay.kind(), ErrorKind::Unauthorized, "{replay}");
    assert_eq!(replay.provider_code(), Some("invalid_grant"));
    bc.refresh(&target, &new).await.unwrap();
}

#[tokio::test]
async fn a_wrong_pkce_verifier_is_refused() {
    let sim = sim().await;
    let bc = connector(&sim);
    let pkce = Pkce::generate();
    let url = bc
        .authorization_url(&AuthorizationRequest {
            state: "s".into(),
            code_challenge: pkce.challenge.clone(),
            ..Default::default()
        })
        .unwrap();
    let back = browse(&url).await;
    let other = Pkce::generate();
    let err = bc
        .exchange_code(&back["code"], &other.verifier)
        .await
        .unwrap_err();
    assert_eq!(err.provider_code(), Some("invalid_grant"), "{err}");
    assert!(err.requires_reauthentication());
}

#[tokio::test]
async fn revoked_consent_kills_refresh_and_access_tokens() {
    let sim = sim().await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    let session = cloud(&sim, &tokens, None);
    sim.revoke_consent(sim.tenant_id());
    let err = bc.validate_credentials(&session).await.unwrap_err();
    assert!(err.requires_reauthentication(), "{err}");
    let err = bc
        .refresh(&session.target, tokens.refresh_token.as_ref().unwrap())
        .await
        .unwrap_err();
    assert!(err.requires_reauthentication(), "{err}");
    assert_eq!(err.provider_code(), Some("invalid_grant"));
    assert!(
        !err.to_string()
            .contains(tokens.refresh_token.unwrap().expose_secret())
    );
}

#[tokio::test]
async fn an_expired_refresh_token_needs_reauthentication() {
    let sim = sim().await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    sim.advance_clock(Duration::from_secs(91 * 24 * 3600));
    let target = cloud(&sim, &tokens, None).target;
    let err = bc
        .refresh(&target, tokens.refresh_token.as_ref().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    // The access token expired long ago too.
    let err = bc
        .validate_credentials(&cloud(&sim, &tokens, None))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
}

#[tokio::test]
async fn client_credentials_for_a_tenant() {
    let sim = sim().await;
    let bc = connector(&sim);
    let tenant = sim.tenant_id().to_string();
    let tokens = bc.client_credentials(&tenant).await.unwrap();
    assert_eq!(tokens.tenant_id.as_deref(), Some(tenant.as_str()));
    assert!(tokens.refresh_token.is_none());
    let found = bc.discover(&cloud(&sim, &tokens, None)).await.unwrap();
    assert_eq!(found.companies.len(), 2);
}

#[tokio::test]
async fn a_wrong_client_secret_is_unauthorized_and_not_echoed() {
    let sim = sim().await;
    let mut cfg = config(&sim);
    cfg.app.as_mut().unwrap().client_secret = "not-the-secret".to_owned().into();
    let bc = BusinessCentral::new(cfg).unwrap();
    let err = bc
        .client_credentials(&sim.tenant_id().to_string())
        .await
        .unwrap_err();
    assert_eq!(err.provider_code(), Some("invalid_client"), "{err}");
    assert!(!format!("{err:?}").contains("not-the-secret"));
}

#[tokio::test]
async fn without_an_entra_app_nothing_is_handed_out() {
    let sim = sim().await;
    let bc = BusinessCentral::new(BcConfig {
        app: None,
        ..config(&sim)
    })
    .unwrap();
    let err = bc
        .authorization_url(&AuthorizationRequest {
            state: "s".into(),
            code_challenge: "c".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(err, ConnectorError::NotConfigured(_)));
    assert!(!bc.has_entra_app());
}

#[tokio::test]
async fn declined_consent_comes_back_as_unauthorized() {
    let mut cfg = bc_sim::SimConfig::default();
    cfg.user.auto_consent = false;
    let sim = crate::sim_with(cfg).await;
    sim.revoke_consent(sim.tenant_id());
    let bc = connector(&sim);
    let url = bc
        .authorization_url(&AuthorizationRequest {
            state: "st".into(),
            code_challenge: Pkce::generate().challenge,
            ..Default::default()
        })
        .unwrap();
    let back = browse(&url).await;
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(back.iter())
        .finish();
    let callback = ledgerlink_connectors::parse_callback(&query);
    assert_eq!(callback.state.as_deref(), Some("st"));
    let err = callback.code.unwrap_err();
    assert!(err.requires_reauthentication(), "{err}");
    assert_eq!(err.provider_code(), Some("access_denied"));
}
