//! Okta in the adapter scenarios: an API token, two records per page.

use std::path::Path;

use crate::common::vendor_fake::{VendorFake, email, given};
use crate::okta_fake::faults::Fault;
use crate::okta_fake::{API_TOKEN, OktaFake};

/// A later page of the user listing.
const LATER_USERS: &[&str] = &["GET /api/v1/users?after="];

pub async fn start() -> OktaFake {
    OktaFake::start(2).await
}

fn id(handle: &str) -> String {
    format!("00u-{handle}")
}

impl VendorFake for OktaFake {
    fn name(&self) -> &'static str {
        "okta"
    }

    fn source_block(&self, _dir: &Path) -> String {
        format!(
            "    source: {{type: okta, base_url: \"{}\", token: {API_TOKEN}, requests_per_second: 200}}\n",
            self.base_url
        )
    }

    fn add_user(&self, handle: &str) {
        OktaFake::add_user(
            self,
            &id(handle),
            &email(handle),
            &given(handle),
            "Tester",
            "ACTIVE",
        );
    }

    fn add_group(&self, handle: &str, name: &str, members: &[&str]) {
        let members: Vec<String> = members.iter().map(|m| id(m)).collect();
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        OktaFake::add_group(self, &format!("00g-{handle}"), name, "OKTA_GROUP", &members);
    }

    fn rename_user(&self, handle: &str, given: &str) {
        self.update_profile(&id(handle), &[("firstName", given)]);
    }

    fn suspend_user(&self, handle: &str) {
        self.set_status(&id(handle), "SUSPENDED");
    }

    fn delete_user(&self, handle: &str) {
        OktaFake::delete_user(self, &id(handle));
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
