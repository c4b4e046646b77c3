//! Targets penvio-sync writes to. Penvio speaks SCIM 2.0, and so does any
//! RFC 7643/7644 server used as a stand-in in tests.

pub mod scim;
