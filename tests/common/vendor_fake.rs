//! What every vendor fake offers the generic adapter scenarios
//! (`tests/adapter_scenarios.rs`), and the helpers the adapter tests shared
//! by copy before: a vendor joins the scenarios with one file implementing
//! [`VendorFake`] over its fake.
//!
//! The scenarios name people by a short handle (`ada`, `bob`, …); a fake
//! maps it to its vendor's ids and fields. Every person is
//! `<handle>@example.com`, given name the capitalised handle, family name
//! `Tester`.

use std::path::Path;

use penvio_sync::sync::RunOptions;

use penvio_sync::timestamp::unix_now;

use penvio_sync::report::exit::EXIT_OK;

use penvio_sync::report::RunReport;
use serde_json::Value;

use super::find;

/// A vendor API fake as the generic scenarios drive it.
pub trait VendorFake: Send + Sync {
    /// Adapter name (`okta`, `entra`, …), for messages and org names.
    fn name(&self) -> &'static str;

    /// The connection's `source:` block, indented under the connection;
    /// `dir` may hold files it needs (a key file).
    fn source_block(&self, dir: &Path) -> String;

    /// Adds an active person.
    fn add_user(&self, handle: &str);

    /// Adds a group the adapter turns into a team, with `members`.
    fn add_group(&self, handle: &str, name: &str, members: &[&str]);

    /// Changes a person's given name.
    fn rename_user(&self, handle: &str, given: &str);

    /// Suspends (disables) a person, who stays in the directory.
    fn suspend_user(&self, handle: &str);

    /// Deletes a person from the directory.
    fn delete_user(&self, handle: &str);

    /// Fails every request for a later page of the user listing (a 5xx
    /// storm longer than the retry budget) until [`Self::clear_faults`].
    fn fail_later_user_pages(&self);

    /// Answers the next `times` requests for a later page of the user
    /// listing with 429 and a one-second `Retry-After`.
    fn throttle_later_user_pages(&self, times: u32);

    /// Stops injected faults.
    fn clear_faults(&self);

    /// How many requests met an injected fault.
    fn faults_met(&self) -> u64;
}

/// A person's email, as every fake writes it.
pub fn email(handle: &str) -> String {
    format!("{handle}@example.com")
}

/// A person's given name: the handle, capitalised.
pub fn given(handle: &str) -> String {
    let mut chars = handle.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// A run two days later: past every adapter's `full_fetch_interval`, so a
/// full read.
pub fn full_run() -> RunOptions {
    RunOptions {
        now: unix_now() + 2 * 86_400,
        ..RunOptions::sync_now()
    }
}

/// Whether a SCIM user resource is active (absent means active).
pub fn active(resource: &Value) -> bool {
    resource["active"].as_bool().unwrap_or(true)
}

/// Sorted `userName`s of SCIM user resources.
pub fn user_names(users: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = users
        .iter()
        .filter_map(|u| u["userName"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Asserts that a run succeeded, showing the report if not.
pub fn ok(report: &RunReport) {
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
}

/// The target id of the user named `user_name`.
pub fn id_of(users: &[Value], user_name: &str) -> String {
    find(users, "userName", user_name).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Sorted target ids of the users named `names`.
pub fn ids_of(users: &[Value], names: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = names.iter().map(|n| id_of(users, n)).collect();
    ids.sort();
    ids
}

/// Whether the user named `user_name` is active (it must exist).
pub fn active_named(users: &[Value], user_name: &str) -> bool {
    active(find(users, "userName", user_name).unwrap())
}
