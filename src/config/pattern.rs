//! Group name patterns for scoping which directory groups become Penvio teams.

use std::fmt;

/// A group name or glob (`eng-*`, `Design`). It matches a group whose name
/// equals the text exactly, or matches it as a glob; both case-sensitive,
/// like the IdP's own group names. The exact match means a literal name that
/// happens to contain glob characters still selects its group.
#[derive(Clone)]
pub struct GroupPattern {
    text: String,
    matcher: Matcher,
}

#[derive(Clone)]
enum Matcher {
    /// `*`: every group.
    All,
    /// No glob characters: name equality only.
    Exact,
    /// A compiled glob, tried after name equality.
    Glob(glob::Pattern),
}

impl GroupPattern {
    /// Compiles a pattern; the error text explains an invalid glob.
    pub fn new(text: &str) -> Result<GroupPattern, String> {
        if text.is_empty() {
            return Err("must not be empty".to_owned());
        }
        let matcher = if text == "*" {
            Matcher::All
        } else if text.contains(['*', '?', '[', ']']) {
            let pattern = glob::Pattern::new(text).map_err(|error| {
                format!(
                    "is not a valid pattern ({}); use [[] and []] for literal brackets",
                    error.msg
                )
            })?;
            Matcher::Glob(pattern)
        } else {
            Matcher::Exact
        };
        Ok(GroupPattern {
            text: text.to_owned(),
            matcher,
        })
    }

    /// The pattern that selects every group: the default for `team_groups`.
    pub fn all() -> GroupPattern {
        GroupPattern {
            text: "*".to_owned(),
            matcher: Matcher::All,
        }
    }

    /// The pattern as written in the config.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a group with this name is selected.
    pub fn matches(&self, group_name: &str) -> bool {
        match &self.matcher {
            Matcher::All => true,
            Matcher::Exact => self.text == group_name,
            Matcher::Glob(pattern) => self.text == group_name || pattern.matches(group_name),
        }
    }
}

impl PartialEq for GroupPattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for GroupPattern {}

impl fmt::Debug for GroupPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GroupPattern").field(&self.text).finish()
    }
}

impl fmt::Display for GroupPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn matches_exact_names_and_globs() {
        let cases = [
            ("*", "anything", true),
            ("*", "", true),
            ("Design", "Design", true),
            ("Design", "design", false),
            ("Design", "Design Ops", false),
            ("eng-*", "eng-backend", true),
            ("eng-*", "eng-", true),
            ("eng-*", "Eng-backend", false),
            ("eng-*", "sales", false),
            ("team-?", "team-a", true),
            ("team-?", "team-ab", false),
            ("Sales [EMEA]", "Sales [EMEA]", true),
            ("Sales [EMEA]", "Sales E", true),
            ("a/*", "a/b/c", true),
        ];
        for (pattern, name, expected) in cases {
            let compiled = GroupPattern::new(pattern).unwrap();
            assert_eq!(compiled.matches(name), expected, "{pattern} vs {name}");
            assert_eq!(compiled.as_str(), pattern);
        }
    }

    #[test]
    fn rejects_empty_and_invalid_globs() {
        assert!(GroupPattern::new("").is_err());
        let error = GroupPattern::new("Sales [EMEA").unwrap_err();
        assert!(error.contains("not a valid pattern"), "{error}");
    }

    #[test]
    fn all_matches_everything() {
        let all = GroupPattern::all();
        assert!(all.matches("x"));
        assert_eq!(all, GroupPattern::new("*").unwrap());
    }
}
