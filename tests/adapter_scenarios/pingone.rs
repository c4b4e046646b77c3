//! PingOne in the adapter scenarios: a worker app with CLIENT_SECRET_BASIC,
//! two records per page.

use std::path::Path;

use serde_json::json;

use crate::common::vendor_fake::{VendorFake, email, given};
use crate::pingone_fake::faults::Fault;
use crate::pingone_fake::{CLIENT_SECRET, ENV, FakePingOne};

pub async fn start() -> FakePingOne {
    FakePingOne::start().await
}

fn id(handle: &str) -> String {
    format!("u-{handle}")
}

/// A later page of the user listing.
fn later_users() -> String {
    format!("/environments/{ENV}/users?cursor=")
}

impl VendorFake for FakePingOne {
    fn name(&self) -> &'static str {
        "pingone"
    }

    fn source_block(&self, _dir: &Path) -> String {
        FakePingOne::source_block(self, &format!("client_secret: {CLIENT_SECRET}"), &[])
    }

    fn add_user(&self, handle: &str) {
        self.put_user(&id(handle), &email(handle), &given(handle), "Tester");
    }

    fn add_group(&self, handle: &str, name: &str, members: &[&str]) {
        let group = format!("g-{handle}");
        let members: Vec<String> = members.iter().map(|m| id(m)).collect();
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        self.put_group(&group, name, None);
        self.add_members(&group, &members);
    }

    fn rename_user(&self, handle: &str, given: &str) {
        self.update_user(
            &id(handle),
            json!({"name": {"given": given, "family": "Tester", "formatted": format!("{given} Tester")}}),
        );
    }

    fn suspend_user(&self, handle: &str) {
        self.set_enabled(&id(handle), false);
    }

    fn delete_user(&self, handle: &str) {
        FakePingOne::delete_user(self, &id(handle));
    }

    fn fail_later_user_pages(&self) {
        self.faults
            .inject(&[later_users().as_str()], 0, None, Fault::Storm);
    }

    fn throttle_later_user_pages(&self, times: u32) {
        self.faults.inject(
            &[later_users().as_str()],
            0,
            Some(times),
            Fault::Throttle(1),
        );
    }

    fn clear_faults(&self) {
        self.faults.clear();
    }

    fn faults_met(&self) -> u64 {
        self.faults.injected()
    }
}
