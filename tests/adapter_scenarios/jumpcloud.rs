//! JumpCloud in the adapter scenarios: an API key, two records per page.

use std::path::Path;

use serde_json::json;

use crate::common::vendor_fake::{VendorFake, email, given};
use crate::jumpcloud_fake::faults::Fault;
use crate::jumpcloud_fake::{API_KEY, JumpCloudFake};

/// A later page of the system-user listing.
const LATER_USERS: &[&str] = &["GET /api/systemusers?", "skip=2"];

pub async fn start() -> JumpCloudFake {
    JumpCloudFake::start().await
}

fn id(handle: &str) -> String {
    format!("u-{handle}")
}

impl VendorFake for JumpCloudFake {
    fn name(&self) -> &'static str {
        "jumpcloud"
    }

    fn source_block(&self, _dir: &Path) -> String {
        format!(
            "    source: {{type: jumpcloud, base_url: \"{}\", api_key: {API_KEY}, page_size: 2, requests_per_second: 200}}\n",
            self.base_url
        )
    }

    fn add_user(&self, handle: &str) {
        JumpCloudFake::add_user(self, &id(handle), &email(handle), &given(handle), "Tester");
    }

    fn add_group(&self, handle: &str, name: &str, members: &[&str]) {
        let members: Vec<String> = members.iter().map(|m| id(m)).collect();
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        JumpCloudFake::add_group(self, &format!("g-{handle}"), name, &members);
    }

    fn rename_user(&self, handle: &str, given: &str) {
        self.set_user(&id(handle), &[("firstname", json!(given))]);
    }

    fn suspend_user(&self, handle: &str) {
        self.set_user(
            &id(handle),
            &[("state", json!("SUSPENDED")), ("suspended", json!(true))],
        );
    }

    fn delete_user(&self, handle: &str) {
        JumpCloudFake::delete_user(self, &id(handle));
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
