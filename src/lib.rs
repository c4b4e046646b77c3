//! penvio-sync: a pull-based identity sync agent.
//!
//! It fetches users and groups from an identity provider, diffs them against
//! a redb snapshot of what Penvio last acknowledged, and applies only the
//! changes to Penvio through SCIM 2.0. The binary is a thin shell over this
//! library so tests drive the same code paths the CLI does.

pub mod allocator;
pub mod apply;
pub mod audit;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod emulator;
pub mod events;
pub mod explain;
pub mod http;
pub mod init;
pub mod manual;
pub mod mapping;
pub mod model;
pub mod notify;
pub mod only;
pub mod plan;
pub mod plural;
pub mod private_file;
pub mod progress;
pub mod ratelimit;
pub mod reconcile;
pub mod report;
pub mod reviewed;
pub mod scim;
pub mod snapshot;
pub mod source;
pub mod state;
pub mod sync;
pub mod target;
pub mod telemetry;
pub mod timestamp;
