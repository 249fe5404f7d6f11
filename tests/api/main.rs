//! Black-box tests of the HTTP API: the real server on port 0, real HTTP, a real database (SQLite by
//! default; Postgres when `LEDGERLINK_TEST_DATABASE_URL=postgres://…`).

mod harness;
mod webdriver;

mod api_keys;
mod auth;
mod bc_connect;
mod bc_health;
mod budget;
mod cli;
mod cli_help;
mod connect;
mod connect_browser;
mod connections;
mod erp_truths;
mod hardening;
mod jobs;
mod onprem_urls;
mod ops;
mod pagination;
mod sandbox;
mod schema;
mod store_faults;
mod sync;
mod validation;
mod workers;
mod writes;
