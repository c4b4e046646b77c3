//! When a SCIM listing is complete (invariant 1): only when the distinct
//! resources read equal the `totalResults` the server announced. A page that
//! comes back empty before that, a count that overshoots it, or a response
//! without it leaves no proof, and a listing without proof is an error: its
//! missing users would otherwise look removed (or, for reconcile, vanish
//! from the snapshot and never be deactivated).

use std::collections::HashSet;

use crate::config::ListingLimits;

/// How a client lists: its caps, and whether a server without
/// `totalResults` is tolerated.
#[derive(Debug, Clone, Default)]
pub struct ListingRules {
    /// Caps on waits, pages and bodies.
    pub limits: ListingLimits,
    /// Read until an empty page when `totalResults` is missing (unsafe,
    /// opt-in per source).
    pub allow_missing_total: bool,
    /// The config path of these settings (`connections[0].source`), named in
    /// errors; `None` where they are built in (the Penvio target).
    pub config_key: Option<String>,
}

impl ListingRules {
    /// How to name one of the caps in a message: its config key in
    /// backticks, or that it is built in.
    pub fn key(&self, name: &str) -> String {
        match &self.config_key {
            Some(key) => format!("`{key}.{name}`"),
            None => format!("the built-in {name}"),
        }
    }
}

/// What to do after a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Ask for the next page.
    Next,
    /// Every resource was read.
    Done,
}

/// The distinct resources of one listing so far.
#[derive(Debug, Default)]
pub struct Tally {
    seen: HashSet<String>,
}

impl Tally {
    /// Records an id; false if it was read before (it then counts once).
    pub fn insert(&mut self, id: &str) -> bool {
        self.seen.insert(id.to_string())
    }

    /// Distinct resources read.
    pub fn distinct(&self) -> u64 {
        u64::try_from(self.seen.len()).unwrap_or(u64::MAX)
    }

    /// Decides after a page of `received` resources whose response announced
    /// `total`; `Err` says why the listing cannot be proven complete.
    pub fn after_page(
        &self,
        received: u64,
        total: Option<u64>,
        rules: &ListingRules,
    ) -> Result<Step, String> {
        let distinct = self.distinct();
        let Some(total) = total else {
            if !rules.allow_missing_total {
                let hint = match &rules.config_key {
                    Some(key) => format!(
                        "; if this server never sends it, `{key}.allow_missing_total: true` reads until an empty page instead (unsafe: a listing cut short then looks complete and its missing users are deactivated)"
                    ),
                    None => String::new(),
                };
                return Err(format!(
                    "the list response has no totalResults, so nothing proves the listing complete{hint}"
                ));
            }
            return Ok(if received == 0 {
                Step::Done
            } else {
                Step::Next
            });
        };
        if distinct == total {
            return Ok(Step::Done);
        }
        if distinct > total {
            return Err(format!(
                "read {distinct} distinct resources but totalResults says {total}; the listing changed while it was read, and the next run reads it again"
            ));
        }
        if received == 0 {
            return Err(format!(
                "a page came back empty after {distinct} of the {total} resources totalResults announces; the listing is incomplete"
            ));
        }
        Ok(Step::Next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(ids: &[&str]) -> Tally {
        let mut tally = Tally::default();
        for id in ids {
            tally.insert(id);
        }
        tally
    }

    #[test]
    fn a_listing_ends_only_when_the_distinct_ids_reach_the_total() {
        let strict = ListingRules {
            config_key: Some("connections[0].source".into()),
            ..ListingRules::default()
        };
        let lenient = ListingRules {
            allow_missing_total: true,
            ..strict.clone()
        };
        let two = tally(&["a", "b"]);
        // (tally, received, total, rules) → done / next / error text
        assert_eq!(two.after_page(2, Some(2), &strict), Ok(Step::Done));
        assert_eq!(two.after_page(2, Some(5), &strict), Ok(Step::Next));
        assert_eq!(tally(&[]).after_page(0, Some(0), &strict), Ok(Step::Done));
        let empty = two.after_page(0, Some(5), &strict).unwrap_err();
        assert!(empty.contains("empty after 2 of the 5"), "{empty}");
        let over = two.after_page(2, Some(1), &strict).unwrap_err();
        assert!(over.contains("read 2 distinct"), "{over}");
        let missing = two.after_page(2, None, &strict).unwrap_err();
        assert!(
            missing.contains("`connections[0].source.allow_missing_total: true`"),
            "{missing}"
        );
        let target = two
            .after_page(2, None, &ListingRules::default())
            .unwrap_err();
        assert!(!target.contains("allow_missing_total"), "{target}");
        assert_eq!(two.after_page(2, None, &lenient), Ok(Step::Next));
        assert_eq!(two.after_page(0, None, &lenient), Ok(Step::Done));
        // Duplicates count once: two pages of the same ids never reach 4.
        let mut repeated = tally(&["a", "b"]);
        assert!(!repeated.insert("a"));
        assert_eq!(repeated.after_page(2, Some(4), &strict), Ok(Step::Next));
    }
}
