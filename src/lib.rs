//! penvio-sync: a pull-based identity sync agent.
//!
//! It fetches users and groups from an identity provider, diffs them against
//! a redb snapshot of what Penvio last acknowledged, and applies only the
//! changes to Penvio through SCIM 2.0. The binary is a thin shell over this
//! library so tests drive the same code paths the CLI does.

pub mod config;
pub mod emulator;
pub mod model;
pub mod mapping;
pub mod plan;
pub mod state;
pub mod http;
pub mod ratelimit;
pub mod target;
pub mod progress;
pub mod source;
pub mod apply;
pub mod reconcile;
pub mod sync;
pub mod telemetry;
