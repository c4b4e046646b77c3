//! Fault injection: which requests misbehave, and how.
//!
//! Two layers, checked in this order for every request:
//! - [`ScriptedResponse`]: the original, simple form — the next N matching
//!   requests get a status;
//! - [`FaultRule`]: a trigger ([`FaultTrigger`]: next N, a seeded share, a
//!   time window, from the Nth request on) and an action ([`FaultAction`]:
//!   status, delay, connection reset, HTML 200, truncated JSON).
//!
//! A faulted request is not applied to the emulator's data unless the rule
//! says [`FaultRule::after_apply`] — "the server did the work but the answer
//! was lost", the case that tests a client's handling of unknown outcomes.

use std::time::{Duration, Instant};

/// A scripted answer: the next `times` requests that match get `status`
/// instead of being served.
#[derive(Debug, Clone)]
pub struct ScriptedResponse {
    /// Only this method (any case); `None` matches all.
    pub method: Option<String>,
    /// Only paths, relative to the org base URL (e.g. `/Users`), that start
    /// with this; empty matches all.
    pub path_prefix: String,
    /// Only this org; `None` matches all.
    pub org: Option<String>,
    /// HTTP status to answer.
    pub status: u16,
    /// How many more requests to answer this way.
    pub times: usize,
    /// `Retry-After` header value (seconds or an HTTP date), if any.
    pub retry_after: Option<String>,
}

impl ScriptedResponse {
    /// Answer `status` to the next `times` matching requests (all, until narrowed).
    pub fn new(status: u16, times: usize) -> Self {
        Self {
            method: None,
            path_prefix: String::new(),
            org: None,
            status,
            times,
            retry_after: None,
        }
    }

    /// Narrows to one HTTP method.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Narrows to paths (relative to the org base URL) starting with `prefix`.
    pub fn path_prefix(mut self, prefix: &str) -> Self {
        self.path_prefix = prefix.to_string();
        self
    }

    /// Narrows to one org.
    pub fn org(mut self, org: &str) -> Self {
        self.org = Some(org.to_string());
        self
    }

    /// Adds `Retry-After: <secs>`.
    pub fn retry_after_secs(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.to_string());
        self
    }

    /// Adds a raw `Retry-After` value (e.g. an HTTP date).
    pub fn retry_after(mut self, value: &str) -> Self {
        self.retry_after = Some(value.to_string());
        self
    }

    fn matches(&self, method: &str, org: Option<&str>, rel_path: &str) -> bool {
        self.times > 0
            && request_matches(
                &self.method,
                &self.org,
                &self.path_prefix,
                method,
                org,
                rel_path,
            )
    }
}

fn request_matches(
    want_method: &Option<String>,
    want_org: &Option<String>,
    prefix: &str,
    method: &str,
    org: Option<&str>,
    rel_path: &str,
) -> bool {
    want_method
        .as_deref()
        .is_none_or(|m| m.eq_ignore_ascii_case(method))
        && want_org.as_deref().is_none_or(|o| Some(o) == org)
        && rel_path.starts_with(prefix)
}

/// What a faulted request gets instead of its normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultAction {
    /// An error status with a SCIM error body, and `Retry-After` if given
    /// (401 also carries `WWW-Authenticate: Bearer`).
    Status {
        /// HTTP status.
        status: u16,
        /// `Retry-After` value (seconds or an HTTP date).
        retry_after: Option<String>,
    },
    /// The answer comes only after this delay. A delay longer than the
    /// client's timeout makes it give up; the request is then never
    /// processed (the handler is dropped with the connection), unless the
    /// rule is [`FaultRule::after_apply`].
    Delay(Duration),
    /// The TCP connection is reset without any HTTP answer.
    Reset,
    /// `200 OK` with an HTML error page, as a proxy or portal in front of
    /// the server might send.
    Html200,
    /// A JSON body cut in half: the real answer's status and half its body
    /// when applied first, else `200` with half a SCIM document.
    TruncatedJson,
    /// One of these, drawn by the rule's seeded generator for each hit.
    OneOf(Vec<FaultAction>),
}

impl FaultAction {
    /// An error status without `Retry-After`.
    pub fn status(status: u16) -> Self {
        Self::Status {
            status,
            retry_after: None,
        }
    }

    /// An error status with `Retry-After: <secs>`.
    pub fn status_retry_after(status: u16, secs: u64) -> Self {
        Self::Status {
            status,
            retry_after: Some(secs.to_string()),
        }
    }

    /// A short label for the request log (`status 503`, `reset`, …).
    pub fn label(&self) -> String {
        match self {
            Self::Status {
                status,
                retry_after: Some(after),
            } => format!("status {status} (Retry-After: {after})"),
            Self::Status { status, .. } => format!("status {status}"),
            Self::Delay(d) => format!("delay {}ms", d.as_millis()),
            Self::Reset => "reset".into(),
            Self::Html200 => "html 200".into(),
            Self::TruncatedJson => "truncated json".into(),
            Self::OneOf(all) => format!(
                "one of [{}]",
                all.iter().map(Self::label).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// Which of the matching requests a rule hits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultTrigger {
    /// The next `n` matching requests; the rule is then spent.
    Next(usize),
    /// About `per_mille`/1000 of the matching requests, drawn from a
    /// generator seeded with `seed`: the same sequence of requests gets the
    /// same faults in every run.
    Share {
        /// Share of requests hit, in thousandths.
        per_mille: u32,
        /// Generator seed.
        seed: u64,
    },
    /// Every matching request that arrives before this instant.
    Until(Instant),
    /// Every matching request from the `n`th on (1 = the next one): e.g. a
    /// token regenerated in the middle of a run.
    From(usize),
}

impl FaultTrigger {
    /// Every matching request for `window` from now.
    pub fn for_duration(window: Duration) -> Self {
        Self::Until(Instant::now() + window)
    }

    /// A seeded share given in percent.
    pub fn percent(percent: u32, seed: u64) -> Self {
        Self::Share {
            per_mille: percent.saturating_mul(10),
            seed,
        }
    }
}

/// One fault rule: an action for the requests its trigger picks among
/// those that match its method, path prefix and org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// What the hit requests get.
    pub action: FaultAction,
    /// Which matching requests are hit.
    pub trigger: FaultTrigger,
    /// Only this method (any case); `None` matches all.
    pub method: Option<String>,
    /// Only paths, relative to the org base URL, starting with this.
    pub path_prefix: String,
    /// Only this org; `None` matches all.
    pub org: Option<String>,
    /// Process the request first, then misbehave: the work is done, the
    /// answer is lost (the client cannot tell whether it happened).
    pub after_apply: bool,
    /// Matching requests seen so far.
    pub seen: usize,
    /// Requests hit so far.
    pub hits: usize,
    rng: u64,
}

impl FaultRule {
    /// A rule hitting every request its trigger picks (narrow it with the
    /// builder methods).
    pub fn new(action: FaultAction, trigger: FaultTrigger) -> Self {
        let seed = match trigger {
            FaultTrigger::Share { seed, .. } => seed,
            _ => 0x5eed,
        };
        Self {
            action,
            trigger,
            method: None,
            path_prefix: String::new(),
            org: None,
            after_apply: false,
            seen: 0,
            hits: 0,
            rng: seed,
        }
    }

    /// Narrows to one HTTP method.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Narrows to paths (relative to the org base URL) starting with `prefix`.
    pub fn path_prefix(mut self, prefix: &str) -> Self {
        self.path_prefix = prefix.to_string();
        self
    }

    /// Narrows to one org.
    pub fn org(mut self, org: &str) -> Self {
        self.org = Some(org.to_string());
        self
    }

    /// Processes the hit requests before misbehaving (see the field).
    pub fn after_apply(mut self) -> Self {
        self.after_apply = true;
        self
    }

    /// Whether the rule can hit no more requests.
    fn spent(&self) -> bool {
        match self.trigger {
            FaultTrigger::Next(n) => self.hits >= n,
            FaultTrigger::Until(until) => Instant::now() >= until,
            FaultTrigger::Share { .. } | FaultTrigger::From(_) => false,
        }
    }

    /// splitmix64: small, seedable and good enough to pick a share.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Counts a matching request and says whether the rule hits it.
    fn observe(&mut self) -> bool {
        self.seen += 1;
        let hit = match self.trigger {
            FaultTrigger::Next(n) => self.hits < n,
            FaultTrigger::Share { per_mille, .. } => {
                self.next_random() % 1000 < u64::from(per_mille)
            }
            FaultTrigger::Until(until) => Instant::now() < until,
            FaultTrigger::From(n) => self.seen >= n.max(1),
        };
        if hit {
            self.hits += 1;
        }
        hit
    }

    /// The concrete action for one hit (`OneOf` resolved).
    fn resolve(&mut self) -> FaultAction {
        let mut action = self.action.clone();
        while let FaultAction::OneOf(all) = action {
            if all.is_empty() {
                return FaultAction::status(500);
            }
            let pick = (self.next_random() % all.len() as u64) as usize;
            action = all.get(pick).cloned().unwrap_or(FaultAction::status(500));
        }
        action
    }
}

/// The fault a request was chosen for.
#[derive(Debug, Clone)]
pub(crate) enum Hit {
    Scripted(ScriptedResponse),
    Rule {
        action: FaultAction,
        after_apply: bool,
    },
}

impl Hit {
    /// What the request log says about the fault.
    pub(crate) fn label(&self) -> String {
        match self {
            Hit::Scripted(s) => match &s.retry_after {
                Some(after) => format!("scripted {} (Retry-After: {after})", s.status),
                None => format!("scripted {}", s.status),
            },
            Hit::Rule {
                action,
                after_apply: true,
            } => format!("{} after apply", action.label()),
            Hit::Rule { action, .. } => action.label(),
        }
    }
}

/// A fault to inject into a running emulator.
///
/// Non-exhaustive: new kinds of faults can be added without breaking callers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Fault {
    /// Answer a status to the next matching requests (e.g. 429 with `Retry-After`).
    Respond(ScriptedResponse),
    /// Set (or clear) the fixed latency added to every request.
    Latency(Option<Duration>),
    /// Forget every scripted response not yet used.
    ClearScripted,
    /// Add a rule (see [`FaultRule`]); rules are tried in injection order.
    Rule(FaultRule),
    /// Forget every rule.
    ClearRules,
    /// Forget every scripted response and rule, and the latency: the
    /// emulator behaves again.
    ClearAll,
}

impl From<ScriptedResponse> for Fault {
    fn from(r: ScriptedResponse) -> Self {
        Self::Respond(r)
    }
}

impl From<FaultRule> for Fault {
    fn from(r: FaultRule) -> Self {
        Self::Rule(r)
    }
}

/// The faults currently in force.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Fixed delay before each answer.
    pub latency: Option<Duration>,
    /// Scripted answers, tried in injection order.
    pub scripted: Vec<ScriptedResponse>,
    /// Rules, tried in injection order after the scripted answers.
    pub rules: Vec<FaultRule>,
}

impl Faults {
    /// Adds, changes or clears faults.
    pub(crate) fn inject(&mut self, fault: Fault) {
        match fault {
            Fault::Respond(r) => self.scripted.push(r),
            Fault::Latency(l) => self.latency = l,
            Fault::ClearScripted => self.scripted.clear(),
            Fault::Rule(r) => self.rules.push(r),
            Fault::ClearRules => self.rules.clear(),
            Fault::ClearAll => *self = Faults::default(),
        }
    }

    /// Picks the fault for a request, if any: the first scripted answer that
    /// matches, else the first rule that hits. Every matching rule counts
    /// the request, so each rule's trigger sees the same sequence whatever
    /// other rules do.
    pub(crate) fn take(&mut self, method: &str, org: Option<&str>, rel_path: &str) -> Option<Hit> {
        if let Some(idx) = self
            .scripted
            .iter()
            .position(|s| s.matches(method, org, rel_path))
            && let Some(entry) = self.scripted.get_mut(idx)
        {
            entry.times -= 1;
            let hit = entry.clone();
            if entry.times == 0 {
                self.scripted.remove(idx);
            }
            return Some(Hit::Scripted(hit));
        }
        let mut chosen = None;
        for rule in &mut self.rules {
            if !request_matches(
                &rule.method,
                &rule.org,
                &rule.path_prefix,
                method,
                org,
                rel_path,
            ) {
                continue;
            }
            if rule.observe() && chosen.is_none() {
                chosen = Some(Hit::Rule {
                    action: rule.resolve(),
                    after_apply: rule.after_apply,
                });
            }
        }
        self.rules.retain(|r| !r.spent());
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(faults: &mut Faults, n: usize) -> Vec<bool> {
        (0..n)
            .map(|_| faults.take("POST", Some("o"), "/Users").is_some())
            .collect()
    }

    #[test]
    fn triggers_pick_the_documented_requests() {
        let mut faults = Faults::default();
        faults.inject(FaultRule::new(FaultAction::Reset, FaultTrigger::Next(2)).into());
        assert_eq!(hits(&mut faults, 4), [true, true, false, false]);
        assert!(faults.rules.is_empty(), "a spent rule is dropped");

        faults.inject(FaultRule::new(FaultAction::status(401), FaultTrigger::From(3)).into());
        assert_eq!(hits(&mut faults, 5), [false, false, true, true, true]);
        faults.inject(Fault::ClearAll);

        // Narrowed rules ignore other requests and do not count them.
        faults.inject(Fault::Rule(
            FaultRule::new(FaultAction::Html200, FaultTrigger::Next(1))
                .method("PATCH")
                .path_prefix("/Groups"),
        ));
        assert!(faults.take("POST", Some("o"), "/Groups").is_none());
        assert!(faults.take("PATCH", Some("o"), "/Users/1").is_none());
        assert!(faults.take("PATCH", Some("o"), "/Groups/1").is_some());

        faults.inject(
            FaultRule::new(
                FaultAction::Reset,
                FaultTrigger::for_duration(Duration::ZERO),
            )
            .into(),
        );
        assert_eq!(hits(&mut faults, 1), [false]);
    }

    #[test]
    fn a_seeded_share_is_repeatable_and_close_to_its_rate() {
        let run = |seed| {
            let mut faults = Faults::default();
            faults.inject(
                FaultRule::new(FaultAction::status(500), FaultTrigger::percent(30, seed)).into(),
            );
            hits(&mut faults, 2000)
        };
        let first = run(7);
        assert_eq!(first, run(7));
        assert_ne!(first, run(8));
        let share = first.iter().filter(|h| **h).count();
        assert!((500..700).contains(&share), "{share} of 2000");
    }

    #[test]
    fn one_of_draws_each_alternative() {
        let mut rule = FaultRule::new(
            FaultAction::OneOf(vec![
                FaultAction::status(500),
                FaultAction::status(502),
                FaultAction::status(503),
            ]),
            FaultTrigger::From(1),
        );
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..100 {
            if let FaultAction::Status { status, .. } = rule.resolve() {
                seen.insert(status);
            }
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), [500, 502, 503]);
    }
}
