//! The Penvio target over SCIM: the [`Provisioner`](crate::target::Provisioner)
//! built on the shared SCIM client ([`crate::scim::client`]).

pub mod provision;
