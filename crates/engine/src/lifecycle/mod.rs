//! A connection's lifecycle, from "created" to "configured and healthy": authorizing it, sessions
//! with fresh tokens, setup, and health.

pub mod authorize;
pub mod health;
pub mod session;
pub mod setup;
