//! ledgerlink's connector layer: the [`Connector`] trait every ERP/accounting provider implements, the
//! classified [`ConnectorError`], OAuth helpers ([`Pkce`], [`TokenSet`]), the SSRF guard for user-supplied
//! URLs ([`SsrfPolicy`]) and the first provider, [`business_central`].
//!
//! Nothing here stores anything or knows about organisations or the HTTP API: the engine owns tokens,
//! locks, retries and health; a connector performs single calls and says how they failed.
#![forbid(unsafe_code)]

pub mod business_central;
pub mod connector;
pub mod error;
mod http;
pub mod oauth;
pub mod payment_write;
pub mod ssrf;
#[cfg(test)]
mod test_server;

pub use connector::{
    AuthType, AuthorizationRequest, Company, Connector, Credentials, Discovery, Environment,
    MAX_IDS_PER_REQUEST, ModelSupport, Page, PageEnd, PageEvent, PageRequest, ReadScope, Session,
    Target, TimeWindow, reader_gone,
};
pub use error::{ConnectorError, ErrorKind, classify_response, classify_write_response};
pub use http::HttpSettings;
pub use oauth::{Callback, Pkce, TokenSet, jwt_tenant_id, parse_callback};
pub use payment_write::{JournalInfo, NewPaymentLine, PaymentLineInfo, PostedPayment};
pub use ssrf::{SsrfError, SsrfPolicy};
