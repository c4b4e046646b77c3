//! The crate's own SCIM emulator as the target of the adapter tests, with
//! the calls they made on the real scim2-server: an adapter test is about
//! what the source reads, and the target contract has its own tests
//! against scim2-server (`tests/sync_scim2_server.rs`).

use penvio_sync::emulator::{Emulator, EmulatorConfig};
use serde_json::Value;

use super::TOKEN;

/// An emulator on a free loopback port accepting [`TOKEN`]; any org is
/// created on its first request, so each test picks its own.
pub struct EmulatorTarget {
    /// The emulator, for assertions beyond these helpers.
    pub emulator: Emulator,
}

impl EmulatorTarget {
    /// Starts the emulator.
    pub async fn start() -> Self {
        let emulator = Emulator::start(EmulatorConfig {
            tokens: vec![TOKEN.to_string()],
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        EmulatorTarget { emulator }
    }

    /// The SCIM base URL of one org.
    pub fn org_url(&self, org: &str) -> String {
        self.emulator.base_url(org)
    }

    /// Every resource of a type (`Users`, `Groups`) in an org.
    pub async fn list(&self, org: &str, resource: &str) -> Vec<Value> {
        match resource {
            "Users" => self.emulator.users(org),
            "Groups" => self.emulator.groups(org),
            other => panic!("no resource type {other}"),
        }
    }

    /// (writes, reads) the org has received.
    pub async fn request_counts(&self, org: &str) -> (u64, u64) {
        let (mut writes, mut reads) = (0, 0);
        for request in self.emulator.request_log() {
            if request.path.split('/').any(|segment| segment == org) {
                if request.is_write {
                    writes += 1;
                } else {
                    reads += 1;
                }
            }
        }
        (writes, reads)
    }
}
