//! The source cache an incremental adapter continues from: it keeps only the
//! raw attributes the mapping uses, a mapping that needs another one reads
//! the directory in full, and a cache another version wrote is a full read,
//! never a failed run. Through fake Okta into the crate's SCIM emulator;
//! assertions on what Penvio holds, the stored cache and the run's report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod okta_fake;

use common::emulator_target::EmulatorTarget;
use common::{Fixture, find};
use okta_fake::{API_TOKEN, OktaFake};
use penvio_sync::report::exit::EXIT_OK;
use penvio_sync::source::SourceCache;

async fn fake_with_cost_centers() -> OktaFake {
    let fake = OktaFake::start(2).await;
    fake.set_clock_offset(-3_600_000);
    fake.add_user("00u-ada", "ada@example.com", "Ada", "Lovelace", "ACTIVE");
    fake.add_user("00u-alan", "alan@example.com", "Alan", "Turing", "ACTIVE");
    fake.update_profile("00u-ada", &[("costCenter", "42"), ("mobilePhone", "555")]);
    fake.update_profile("00u-alan", &[("costCenter", "7")]);
    fake
}

fn fixture(server: &EmulatorTarget, org: &str, fake: &OktaFake) -> Fixture {
    let mut fixture = Fixture::new(&server.org_url(org));
    fixture.source_block = Some(format!(
        "    source: {{type: okta, base_url: \"{}\", token: {API_TOKEN}, requests_per_second: 200}}\n",
        fake.base_url
    ));
    fixture
}

fn stored_cache(fixture: &mut Fixture) -> SourceCache {
    let bytes = fixture.store().load_source_cache("test").unwrap().unwrap();
    SourceCache::decode(&bytes).unwrap()
}

async fn display_name(server: &EmulatorTarget, org: &str, user_name: &str) -> String {
    let users = server.list(org, "Users").await;
    let user = find(&users, "userName", user_name).unwrap();
    user["displayName"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cache_keeps_only_the_attributes_the_mapping_uses() {
    let server = EmulatorTarget::start().await;
    let fake = fake_with_cost_centers().await;
    let mut fixture = fixture(&server, "cache-attributes", &fake);

    let first = fixture.sync().await;
    assert_eq!(first.exit_code, EXIT_OK, "{first:#?}");
    assert!(first.source.full_fetch);
    let cache = stored_cache(&mut fixture);
    assert!(cache.kept_attributes.is_empty());
    assert_eq!(cache.directory.users.len(), 2);
    assert!(
        cache
            .directory
            .users
            .iter()
            .all(|u| u.attributes.is_empty()),
        "the default mapping reads no raw attribute: {:?}",
        cache.directory.users
    );
    let second = fixture.sync().await;
    assert!(!second.source.full_fetch, "the cache is continued from");
    assert!(second.planned.is_empty(), "{:?}", second.planned);

    // The mapping now needs the cost centre, which the cache does not hold:
    // a full read, so every user gets it (no stale, attribute-less record).
    fixture.extra_config =
        "    mapping:\n      displayName: \"{given_name} ({attributes.profile.costCenter})\"\n"
            .into();
    let third = fixture.sync().await;
    assert_eq!(third.exit_code, EXIT_OK, "{third:#?}");
    assert!(third.source.full_fetch, "a mapping change reads in full");
    assert!(third.skipped.is_empty(), "{:?}", third.skipped);
    assert_eq!(
        display_name(&server, "cache-attributes", "ada@example.com").await,
        "Ada (42)"
    );
    assert_eq!(
        display_name(&server, "cache-attributes", "alan@example.com").await,
        "Alan (7)"
    );
    let cache = stored_cache(&mut fixture);
    assert_eq!(cache.kept_attributes, ["profile.costCenter"]);
    let ada = cache
        .directory
        .users
        .iter()
        .find(|u| u.id == "00u-ada")
        .unwrap();
    assert_eq!(
        ada.attributes.keys().collect::<Vec<_>>(),
        ["profile.costCenter"],
        "the phone number is not kept"
    );

    // Unchanged mapping: incremental again, and nothing to do.
    let fourth = fixture.sync().await;
    assert!(!fourth.source.full_fetch);
    assert!(fourth.planned.is_empty(), "{:?}", fourth.planned);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cache_written_by_another_version_means_a_full_read_not_a_failure() {
    let server = EmulatorTarget::start().await;
    let fake = fake_with_cost_centers().await;
    let mut fixture = fixture(&server, "cache-version", &fake);
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);

    // What an older penvio-sync stored: the bare encoding, no format tag.
    let store = fixture.store();
    store
        .save_source_cache("test", b"\x02\x07old layout")
        .unwrap();
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(report.source.full_fetch, "read in full instead");
    assert!(report.planned.is_empty(), "{:?}", report.planned);
    assert_eq!(stored_cache(&mut fixture).directory.users.len(), 2);
    assert!(!fixture.sync().await.source.full_fetch);
}
