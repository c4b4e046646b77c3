//! Entra in the adapter scenarios: a client secret, two records per page;
//! every scenario run is past the daily full round, so it lists everything.

use std::path::Path;

use serde_json::json;

use crate::common::vendor_fake::{VendorFake, email, given};
use crate::entra_fake::faults::Fault;
use crate::entra_fake::{CLIENT_SECRET, FakeEntra};

/// A later page of the users delta round.
const LATER_USERS: &[&str] = &["users/delta?$skiptoken"];

pub async fn start() -> FakeEntra {
    FakeEntra::start().await
}

impl VendorFake for FakeEntra {
    fn name(&self) -> &'static str {
        "entra"
    }

    fn source_block(&self, _dir: &Path) -> String {
        FakeEntra::source_block(self, &format!("client_secret: {CLIENT_SECRET}"), &[])
    }

    fn add_user(&self, handle: &str) {
        self.put_user(handle, Some(&email(handle)), &given(handle), "Tester");
    }

    fn add_group(&self, handle: &str, name: &str, members: &[&str]) {
        self.put_group(handle, name);
        self.add_members(handle, members);
    }

    fn rename_user(&self, handle: &str, given: &str) {
        self.put_user_record(handle, json!({"givenName": given}));
    }

    fn suspend_user(&self, handle: &str) {
        self.put_user_record(handle, json!({"accountEnabled": false}));
    }

    fn delete_user(&self, handle: &str) {
        FakeEntra::delete_user(self, handle);
    }

    fn fail_later_user_pages(&self) {
        self.faults.inject(LATER_USERS, 0, None, Fault::Storm);
    }

    fn throttle_later_user_pages(&self, times: u32) {
        self.faults
            .inject(LATER_USERS, 0, Some(times), Fault::Throttle(1));
    }

    fn clear_faults(&self) {
        self.faults.clear();
    }

    fn faults_met(&self) -> u64 {
        self.faults.injected()
    }
}
