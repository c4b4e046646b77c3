//! OneLogin in the adapter scenarios: an API credential pair, two records
//! per page; teams come from roles.

use std::path::Path;

use serde_json::json;

use crate::common::vendor_fake::{VendorFake, email, given};
use crate::onelogin_fake::faults::Fault;
use crate::onelogin_fake::{CLIENT_ID, CLIENT_SECRET, OneLoginFake};

/// A later page of the v2 user listing.
const LATER_USERS: &[&str] = &["GET /api/2/users?", "cursor="];
/// The group every user belongs to.
const DEFAULT_GROUP: u64 = 501;
/// OneLogin's `status` of a suspended user.
const SUSPENDED: u64 = 2;

pub async fn start() -> OneLoginFake {
    let fake = OneLoginFake::start(2).await;
    fake.add_group(DEFAULT_GROUP, "Default");
    fake
}

/// A numeric id per handle (OneLogin ids are numbers).
fn id(handle: &str) -> u64 {
    handle
        .bytes()
        .fold(100, |id, b| id * 31 % 1_000_003 + u64::from(b))
}

impl VendorFake for OneLoginFake {
    fn name(&self) -> &'static str {
        "onelogin"
    }

    fn source_block(&self, _dir: &Path) -> String {
        format!(
            "    source: {{type: onelogin, base_url: \"{}\", client_id: {CLIENT_ID}, client_secret: {CLIENT_SECRET}, requests_per_second: 200}}\n",
            self.base_url
        )
    }

    fn add_user(&self, handle: &str) {
        OneLoginFake::add_user(
            self,
            id(handle),
            &email(handle),
            &given(handle),
            "Tester",
            1,
            DEFAULT_GROUP,
        );
    }

    fn add_group(&self, handle: &str, name: &str, members: &[&str]) {
        let members: Vec<u64> = members.iter().map(|m| id(m)).collect();
        self.add_role(id(handle), name, &members);
    }

    fn rename_user(&self, handle: &str, given: &str) {
        self.update_user(id(handle), &[("firstname", json!(given))]);
    }

    fn suspend_user(&self, handle: &str) {
        self.update_user(id(handle), &[("status", json!(SUSPENDED))]);
    }

    fn delete_user(&self, handle: &str) {
        OneLoginFake::delete_user(self, id(handle));
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
