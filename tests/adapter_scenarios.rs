//! The end-to-end shape every vendor adapter passes, run against each
//! vendor's fake through [`VendorFake`], with the crate's own SCIM emulator
//! as the target (the real scim2-server adds nothing here; the target
//! contract has its own tests): a first run provisions; a second plans
//! nothing and writes nothing; a change, a suspension and a deletion become
//! exactly the matching writes; a failed later page fails the run and
//! deactivates nobody, and the next run converges; a throttled page is
//! waited out.
//!
//! A vendor joins with one file under `tests/adapter_scenarios/`
//! implementing [`VendorFake`] and one line in [`vendors!`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Each fake includes tests/fake_faults as its own `faults` module.
#![allow(clippy::duplicate_mod)]

mod common;
mod entra_fake;
mod google_fake;
mod jumpcloud_fake;
mod okta_fake;
mod onelogin_fake;
mod pingone_fake;

#[path = "adapter_scenarios/entra.rs"]
mod entra;
#[path = "adapter_scenarios/google.rs"]
mod google;
#[path = "adapter_scenarios/jumpcloud.rs"]
mod jumpcloud;
#[path = "adapter_scenarios/okta.rs"]
mod okta;
#[path = "adapter_scenarios/onelogin.rs"]
mod onelogin;
#[path = "adapter_scenarios/pingone.rs"]
mod pingone;

use common::vendor_fake::{VendorFake, active, email, user_names};
use common::{Fixture, TOKEN, find, member_ids};
use penvio_sync::emulator::{Emulator, EmulatorConfig};
use penvio_sync::report::RunReport;
use penvio_sync::report::exit::EXIT_OK;
use penvio_sync::sync::RunOptions;
use penvio_sync::timestamp::unix_now;
use serde_json::Value;

/// Allows the scenario's removals (one of four people is a quarter).
const POLICY: &str = "    policy: {max_deactivations: 10, max_shrinkage: \"100%\"}\n";

/// The people every scenario starts with; Engineering holds the first two.
const PEOPLE: [&str; 4] = ["ada", "bob", "cy", "dee"];

/// One vendor's fake wired to a fresh emulator org.
struct Harness {
    fake: Box<dyn VendorFake>,
    emulator: Emulator,
    fixture: Fixture,
    org: String,
    /// Runs so far: each run is two days after the last, past every
    /// adapter's `full_fetch_interval`, so a full read.
    runs: i64,
}

impl Harness {
    async fn new(fake: Box<dyn VendorFake>) -> Self {
        for person in PEOPLE {
            fake.add_user(person);
        }
        fake.add_group("eng", "Engineering", &PEOPLE[..2]);
        let emulator = Emulator::start(EmulatorConfig {
            tokens: vec![TOKEN.to_string()],
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        let org = format!("scenario-{}", fake.name());
        let mut fixture = Fixture::new(&emulator.base_url(&org));
        fixture.source_block = Some(fake.source_block(fixture.dir.path()));
        fixture.extra_config = POLICY.into();
        Harness {
            fake,
            emulator,
            fixture,
            org,
            runs: 0,
        }
    }

    /// A full read, as any run of the scenario (incremental reads are each
    /// vendor's own tests).
    async fn run(&mut self) -> RunReport {
        self.runs += 1;
        let options = RunOptions {
            now: unix_now() + self.runs * 2 * 86_400,
            ..RunOptions::sync_now()
        };
        self.fixture.run(options).await
    }

    async fn run_ok(&mut self, step: &str) -> RunReport {
        let report = self.run().await;
        assert_eq!(
            report.exit_code,
            EXIT_OK,
            "{}: {step}: {report:#?}",
            self.fake.name()
        );
        report
    }

    fn users(&self) -> Vec<Value> {
        self.emulator.users(&self.org)
    }

    fn user(&self, handle: &str) -> Value {
        find(&self.users(), "userName", &email(handle))
            .unwrap_or_else(|| panic!("{}: {handle} is not in the target", self.fake.name()))
            .clone()
    }

    /// Runs `step` and returns the writes it sent to the target.
    async fn writes_of(&mut self, step: &str) -> usize {
        let before = self.emulator.write_count();
        self.run_ok(step).await;
        self.emulator.write_count() - before
    }
}

/// The whole scenario for one vendor.
async fn scenario(fake: Box<dyn VendorFake>) {
    let mut h = Harness::new(fake).await;
    let name = h.fake.name();

    // Initial: everyone provisioned, Engineering a team of two.
    h.run_ok("initial").await;
    let names = user_names(&h.users());
    for person in PEOPLE {
        assert!(
            names.contains(&email(person)),
            "{name}: {person} missing in {names:?}"
        );
        assert!(active(&h.user(person)), "{name}: {person} inactive");
    }
    let groups = h.emulator.groups(&h.org);
    let eng = find(&groups, "displayName", "Engineering")
        .unwrap_or_else(|| panic!("{name}: no Engineering team in {groups:#?}"));
    let mut ids: Vec<String> = ["ada", "bob"]
        .iter()
        .map(|p| h.user(p)["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(member_ids(eng), ids, "{name}: Engineering's members");

    // No-op: nothing changed, nothing written.
    assert_eq!(h.writes_of("no-op").await, 0, "{name}: a no-op run wrote");

    // Change: one given name, one write.
    h.fake.rename_user("cy", "Cyrus");
    assert_eq!(h.writes_of("change").await, 1, "{name}: change");
    assert_eq!(h.user("cy")["name"]["givenName"], "Cyrus", "{name}: change");

    // Suspension: deactivated, not deleted.
    h.fake.suspend_user("dee");
    h.writes_of("suspension").await;
    assert!(!active(&h.user("dee")), "{name}: dee still active");
    assert!(active(&h.user("ada")), "{name}: ada deactivated");

    // A failed later page: the run fails and deactivates nobody.
    h.fake.delete_user("bob");
    h.fake.fail_later_user_pages();
    let before = h.emulator.write_count();
    let failed = h.run().await;
    assert_ne!(failed.exit_code, EXIT_OK, "{name}: {failed:#?}");
    assert!(h.fake.faults_met() > 0, "{name}: the fault was never met");
    assert_eq!(
        h.emulator.write_count(),
        before,
        "{name}: a failed run wrote"
    );
    assert!(
        active(&h.user("bob")),
        "{name}: bob deactivated on a failed read"
    );

    // Deletion, once the page reads again: deactivated.
    h.fake.clear_faults();
    h.run_ok("deletion").await;
    assert!(!active(&h.user("bob")), "{name}: bob still active");

    // Throttling on a later page is waited out; the run completes.
    h.fake.rename_user("ada", "Adaline");
    h.fake.throttle_later_user_pages(2);
    let met = h.fake.faults_met();
    h.run_ok("throttled").await;
    assert!(h.fake.faults_met() > met, "{name}: the 429s were never met");
    assert_eq!(h.user("ada")["name"]["givenName"], "Adaline", "{name}");
    h.emulator.shutdown().await;
}

/// One test per vendor: `name => module`, the module's `start()` giving its
/// seeded-empty fake.
macro_rules! vendors {
    ($($test:ident => $vendor:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $test() {
            scenario(Box::new($vendor::start().await)).await;
        }
    )*};
}

vendors! {
    okta_passes_the_adapter_scenarios => okta,
    entra_passes_the_adapter_scenarios => entra,
    onelogin_passes_the_adapter_scenarios => onelogin,
    jumpcloud_passes_the_adapter_scenarios => jumpcloud,
    pingone_passes_the_adapter_scenarios => pingone,
    google_passes_the_adapter_scenarios => google,
}
