//! Google Workspace in the adapter scenarios: a service-account key file
//! with domain-wide delegation, two records per page.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::json;

use crate::common::vendor_fake::{VendorFake, email, given};
use crate::google_fake::FakeGoogle;
use crate::google_fake::faults::Fault;

/// A later page of the user listing.
const LATER_USERS: &[&str] = &["GET /admin/directory/v1/users?", "pageToken="];

pub async fn start() -> FakeGoogle {
    FakeGoogle::start().await
}

fn id(handle: &str) -> String {
    format!("u-{handle}")
}

impl VendorFake for FakeGoogle {
    fn name(&self) -> &'static str {
        "google"
    }

    fn source_block(&self, dir: &Path) -> String {
        let key = dir.join("google-key.json");
        std::fs::write(&key, self.key_file()).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        FakeGoogle::source_block(self, &key, &[])
    }

    fn add_user(&self, handle: &str) {
        self.put_user(&id(handle), &email(handle), &given(handle), "Tester");
    }

    fn add_group(&self, handle: &str, name: &str, members: &[&str]) {
        let group = format!("g-{handle}");
        let members: Vec<String> = members.iter().map(|m| id(m)).collect();
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        self.put_group(&group, &format!("{handle}@example.com"), name);
        self.add_members(&group, &members);
    }

    fn rename_user(&self, handle: &str, given: &str) {
        self.update_user(
            &id(handle),
            json!({"name": {"givenName": given, "familyName": "Tester", "fullName": format!("{given} Tester")}}),
        );
    }

    fn suspend_user(&self, handle: &str) {
        self.set_suspended(&id(handle), true);
    }

    fn delete_user(&self, handle: &str) {
        FakeGoogle::delete_user(self, &id(handle));
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
