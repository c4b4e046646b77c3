//! Group membership: member DNs (`member`, `uniqueMember`) matched to the
//! users and groups read, `posixGroup` `memberUid` logins resolved to users,
//! and nested groups flattened locally (every server; AD's IN_CHAIN rule
//! would give the same result at more cost per group).

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What one group entry says about its members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupMembers {
    /// Member DNs (`member`, `uniqueMember`), as written.
    pub dns: Vec<String>,
    /// `memberUid` logins.
    pub logins: Vec<String>,
}

/// A DN in a form two spellings of the same DN share: attribute types and
/// values lower-cased, spaces around `,`/`=`/`+` dropped, a
/// `uniqueMember` `#'…'B` suffix removed. (DNs compare case-insensitively
/// for the attributes directories name entries by.)
pub fn normalize_dn(dn: &str) -> String {
    let dn = strip_unique_member_suffix(dn);
    let mut out = String::with_capacity(dn.len());
    let mut escaped = false;
    let mut pending_space = false;
    // At the start or right after an unescaped `,`/`=`/`+`: spaces vanish.
    let mut after_separator = true;
    for c in dn.chars() {
        if escaped {
            out.extend(c.to_lowercase());
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                flush_space(&mut out, &mut pending_space);
                out.push('\\');
                escaped = true;
                after_separator = false;
            }
            ',' | '=' | '+' => {
                pending_space = false;
                out.push(c);
                after_separator = true;
            }
            ' ' => {
                if !after_separator {
                    pending_space = true;
                }
            }
            other => {
                flush_space(&mut out, &mut pending_space);
                out.extend(other.to_lowercase());
                after_separator = false;
            }
        }
    }
    out
}

fn flush_space(out: &mut String, pending: &mut bool) {
    if *pending {
        out.push(' ');
        *pending = false;
    }
}

/// `uid=a,dc=x#'0101'B` → `uid=a,dc=x` (RFC 4517 NameAndOptionalUID).
fn strip_unique_member_suffix(dn: &str) -> &str {
    match dn.rfind("#'") {
        Some(at) if dn.ends_with("'B") => &dn[..at],
        _ => dn,
    }
}

/// Each group's member users (ids), nested groups flattened (cycles end).
/// `groups`: group id → (normalized DN, members); `users_by_dn`: normalized
/// DN → user id; `users_by_login`: login → user id. Members that are
/// neither (out of the bases or filters) are left out.
pub fn resolve(
    groups: &BTreeMap<String, (String, GroupMembers)>,
    users_by_dn: &HashMap<String, String>,
    users_by_login: &HashMap<String, String>,
) -> BTreeMap<String, BTreeSet<String>> {
    let group_by_dn: HashMap<&str, &str> = groups
        .iter()
        .map(|(id, (dn, _))| (dn.as_str(), id.as_str()))
        .collect();
    let mut direct: BTreeMap<&str, (BTreeSet<String>, BTreeSet<&str>)> = BTreeMap::new();
    for (id, (_, members)) in groups {
        let (users, children) = direct.entry(id.as_str()).or_default();
        for dn in &members.dns {
            let dn = normalize_dn(dn);
            if let Some(user) = users_by_dn.get(&dn) {
                users.insert(user.clone());
            } else if let Some(child) = group_by_dn.get(dn.as_str()) {
                children.insert(child);
            }
        }
        for login in &members.logins {
            if let Some(user) = users_by_login.get(login) {
                users.insert(user.clone());
            }
        }
    }
    direct
        .keys()
        .map(|id| {
            let mut all = BTreeSet::new();
            let mut seen = BTreeSet::from([*id]);
            let mut stack = vec![*id];
            while let Some(current) = stack.pop() {
                if let Some((users, children)) = direct.get(current) {
                    all.extend(users.iter().cloned());
                    for child in children {
                        if seen.insert(child) {
                            stack.push(child);
                        }
                    }
                }
            }
            ((*id).to_owned(), all)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_dn_normalize_alike() {
        let a = normalize_dn("CN=Alice Smith,OU=Staff,DC=corp,DC=example,DC=com");
        assert_eq!(a, "cn=alice smith,ou=staff,dc=corp,dc=example,dc=com");
        assert_eq!(
            normalize_dn("cn = Alice Smith , ou=Staff,dc=corp, dc=example,dc=com"),
            a
        );
        assert_eq!(normalize_dn("uid=a,dc=x#'0101'B"), "uid=a,dc=x");
        assert_eq!(
            normalize_dn(r"cn=Smith\, John,dc=x"),
            r"cn=smith\, john,dc=x"
        );
        assert_ne!(normalize_dn("cn=a b,dc=x"), normalize_dn("cn=ab,dc=x"));
    }

    #[test]
    fn nesting_flattens_and_logins_resolve() {
        let group = |dn: &str, dns: &[&str], logins: &[&str]| {
            (
                normalize_dn(dn),
                GroupMembers {
                    dns: dns.iter().map(|s| s.to_string()).collect(),
                    logins: logins.iter().map(|s| s.to_string()).collect(),
                },
            )
        };
        let mut groups = BTreeMap::new();
        groups.insert(
            "all".to_string(),
            group("cn=all,dc=x", &["cn=eng,dc=x", "uid=out,dc=y"], &[]),
        );
        groups.insert(
            "eng".to_string(),
            group("cn=eng,dc=x", &["UID=ada,dc=x", "cn=all,dc=x"], &[]),
        );
        groups.insert(
            "posix".to_string(),
            group("cn=posix,dc=x", &[], &["bob", "nobody"]),
        );
        let users_by_dn: HashMap<String, String> =
            [("uid=ada,dc=x".to_string(), "u-ada".to_string())].into();
        let users_by_login: HashMap<String, String> =
            [("bob".to_string(), "u-bob".to_string())].into();
        let members = resolve(&groups, &users_by_dn, &users_by_login);
        let set = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(members["all"], set(&["u-ada"]), "through eng; cycle ends");
        assert_eq!(members["eng"], set(&["u-ada"]));
        assert_eq!(members["posix"], set(&["u-bob"]));
    }
}
