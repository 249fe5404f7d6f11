//! Contract tests of the store, through its public API only, on a real database: a temporary SQLite
//! file, or — when `LEDGERLINK_TEST_DATABASE_URL` names a Postgres server — a fresh database created
//! there for each test and dropped afterwards. The same tests therefore hold both backends to one
//! contract: leases, compare-and-swap on secrets, idempotent scheduling, and organization scoping.

mod connect_sessions;
mod harness;
mod jobs;
mod leases;
mod record_keys;
mod records;
mod scheduling;
mod scoping;
mod secrets;
mod settings;
mod writes;
