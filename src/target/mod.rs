//! Targets penvio-sync writes to. Penvio speaks SCIM 2.0, and so does any
//! RFC 7643/7644 server used as a stand-in in tests. The executor sees a
//! target only as a [`Provisioner`].

#[cfg(test)]
pub mod memory;
pub mod provisioner;
pub mod scim;

pub use provisioner::{FoundTeam, FoundUser, Provisioner, TargetError, TargetFuture};
