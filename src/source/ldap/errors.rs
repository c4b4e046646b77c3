//! What an LDAP failure means for the admin: result codes and Active
//! Directory's bind sub-codes turned into messages that name the config key
//! to check.

use ldap3::{LdapError, LdapResult};

use super::KIND;
use crate::source::SourceError;

/// `invalidCredentials` (RFC 4511).
pub(super) const RC_INVALID_CREDENTIALS: u32 = 49;
/// `sizeLimitExceeded`.
const RC_SIZE_LIMIT: u32 = 4;
/// `timeLimitExceeded`.
const RC_TIME_LIMIT: u32 = 3;
/// `strongerAuthRequired` (AD: LDAP signing required on a clear connection).
const RC_STRONGER_AUTH: u32 = 8;
/// `referral`: the base lives on another server.
pub(super) const RC_REFERRAL: u32 = 10;
/// `unavailableCriticalExtension`: the server does not page.
const RC_CRITICAL_EXTENSION: u32 = 12;
/// `noSuchObject`: the base DN does not exist.
const RC_NO_SUCH_OBJECT: u32 = 32;
/// `insufficientAccessRights`.
const RC_INSUFFICIENT_ACCESS: u32 = 50;

/// Config key paths of one connection, for messages.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    index: usize,
}

impl Keys {
    pub(super) fn new(index: usize) -> Self {
        Keys { index }
    }

    /// `connections[i].source.<name>`.
    pub(super) fn key(&self, name: &str) -> String {
        format!("connections[{}].source.{name}", self.index)
    }
}

/// The `data XXX` sub-code of an Active Directory bind failure
/// (`80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext
/// error, data 52e, v4563`), lower-cased.
pub fn ad_bind_subcode(diagnostic: &str) -> Option<String> {
    let lower = diagnostic.to_ascii_lowercase();
    let at = lower.find("data ")?;
    let code: String = lower[at + 5..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (!code.is_empty() && code.len() <= 8).then_some(code)
}

/// Advice for an AD bind sub-code.
pub fn ad_bind_advice(subcode: &str) -> Option<&'static str> {
    Some(match subcode {
        "525" => "the account does not exist: check the name",
        "52e" => {
            "the password is wrong (or the name is not a DN, UPN or DOMAIN\\user of an existing account)"
        }
        "530" => "the account may not log on at this time (logon hours)",
        "531" => "the account may not log on from this computer (workstation restriction)",
        "532" => "the account's password has expired: set a new one in AD and in the config",
        "533" => "the account is disabled: enable the service account in AD",
        "701" => "the account has expired (accountExpires): extend it in AD",
        "773" => {
            "the account must change its password at next logon: set a password (and clear \"User must change password\") in AD"
        }
        "775" => {
            "the account is locked out (too many bad passwords): unlock it in AD and check the password"
        }
        _ => return None,
    })
}

/// The error for a refused bind (any result code but 0) as `bind_dn` (a
/// name, not a secret).
pub(super) fn bind_refused(result: &LdapResult, bind_dn: &str, keys: &Keys) -> SourceError {
    let dn = keys.key("bind_dn");
    let password = keys.key("bind_password");
    if result.rc == RC_INVALID_CREDENTIALS {
        let advice = ad_bind_subcode(&result.text)
            .and_then(|code| ad_bind_advice(&code).map(|a| format!(" (AD code {code}: {a})")))
            .unwrap_or_default();
        return SourceError::Unauthorized {
            source_kind: KIND,
            message: format!(
                "the server refused the bind as {bind_dn:?} with invalid credentials (49){advice}. Check `{dn}` and `{password}`"
            ),
        };
    }
    if result.rc == RC_STRONGER_AUTH {
        return SourceError::Unauthorized {
            source_kind: KIND,
            message: format!(
                "the server requires a protected connection for binds (8, {}): use an ldaps:// `{}` or starttls: true",
                result.text.trim(),
                keys.key("url")
            ),
        };
    }
    SourceError::Unauthorized {
        source_kind: KIND,
        message: format!(
            "the bind as {bind_dn:?} failed: {} (check `{dn}` and `{password}`)",
            describe_result(result)
        ),
    }
}

/// `rc` and diagnostic text of a result.
fn describe_result(result: &LdapResult) -> String {
    let text = result.text.trim();
    if text.is_empty() {
        format!("result code {}", result.rc)
    } else {
        format!("result code {} ({text})", result.rc)
    }
}

/// The error for a failed search (`what`: which search, `base_key`/
/// `filter_key`: the keys that shaped it).
pub(super) fn search_failed(
    error: &LdapError,
    what: &str,
    base_key: &str,
    filter_key: &str,
    keys: &Keys,
) -> SourceError {
    let message = match error {
        LdapError::LdapResult { result } => match result.rc {
            RC_SIZE_LIMIT => format!(
                "{what}: the server's size limit was exceeded (4) even with paging: raise the limit for the service account (slapd: limits … size.prtotal=unlimited), or keep `{}` at or below the server's largest page (AD: MaxPageSize, 1000)",
                keys.key("page_size")
            ),
            RC_TIME_LIMIT => format!(
                "{what}: the server's time limit was exceeded (3): narrow `{base_key}` or `{filter_key}`, index the filter's attributes, or raise the limit for the service account"
            ),
            RC_REFERRAL => format!(
                "{what}: the server answered with a referral to {} instead of entries: `{base_key}` lives on another server. Point `{}` at that server, or set `{}: true` (referrals are not followed by default: the bind password would go to a server the config does not name)",
                if result.refs.is_empty() {
                    "another server".to_owned()
                } else {
                    result.refs.join(", ")
                },
                keys.key("url"),
                keys.key("follow_referrals")
            ),
            RC_CRITICAL_EXTENSION => format!(
                "{what}: the server does not support paged results (RFC 2696, 1.2.840.113556.1.4.319), which penvio-sync needs to read a directory completely"
            ),
            RC_NO_SUCH_OBJECT => format!(
                "{what}: `{base_key}` does not exist on the server ({})",
                describe_result(result)
            ),
            RC_INSUFFICIENT_ACCESS => format!(
                "{what}: the service account may not read there (50): grant `{}` read access to `{base_key}`",
                keys.key("bind_dn")
            ),
            _ => format!("{what}: {}", describe_result(result)),
        },
        other => format!("{what}: {}", connection_problem(other, keys)),
    };
    SourceError::Fetch {
        source_kind: KIND,
        message,
    }
}

/// A transport failure, with the key most likely to fix it.
pub(super) fn connection_problem(error: &LdapError, keys: &Keys) -> String {
    let text = error.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        format!(
            "TLS failed: {text}. Check that the server's certificate is issued for the host in `{}` and trusted: name its CA in `{}`",
            keys.key("url"),
            keys.key("ca_file")
        )
    } else if matches!(error, LdapError::Timeout { .. }) {
        format!("no answer within `{}` ({text})", keys.key("timeout"))
    } else {
        format!("{text} (check `{}`)", keys.key("url"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn result(rc: u32, text: &str) -> LdapResult {
        LdapResult {
            rc,
            matched: String::new(),
            text: text.to_owned(),
            refs: vec![],
            ctrls: vec![],
        }
    }

    #[test]
    fn ad_sub_codes_become_advice() {
        // Diagnostics as AD words them (FACTS §1, bind error data codes).
        let cases = [
            ("525", "does not exist"),
            ("52e", "password is wrong"),
            ("530", "logon hours"),
            ("531", "workstation"),
            ("532", "password has expired"),
            ("533", "disabled"),
            ("701", "has expired (accountExpires)"),
            ("773", "must change its password"),
            ("775", "locked out"),
        ];
        for (code, advice) in cases {
            let text = format!(
                "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data {code}, v4563\0"
            );
            assert_eq!(ad_bind_subcode(&text).as_deref(), Some(code));
            let error = bind_refused(&result(49, &text), "svc@corp", &Keys::new(2)).to_string();
            assert!(error.contains(advice), "{code}: {error}");
            assert!(error.contains(&format!("AD code {code}")), "{error}");
            assert!(
                error.contains("connections[2].source.bind_password"),
                "{error}"
            );
        }
        assert_eq!(ad_bind_subcode("Invalid credentials"), None);
        let plain = bind_refused(&result(49, ""), "cn=r", &Keys::new(0)).to_string();
        assert!(
            plain.contains("bind as \"cn=r\" with invalid credentials (49). Check"),
            "{plain}"
        );
    }

    #[test]
    fn limits_and_referrals_name_the_key() {
        let keys = Keys::new(0);
        let size = LdapError::LdapResult {
            result: result(4, ""),
        };
        let text = search_failed(&size, "reading users", "b", "f", &keys).to_string();
        assert!(text.contains("connections[0].source.page_size"), "{text}");
        let mut referral = result(10, "");
        referral.refs = vec!["ldap://dc2.example.com/dc=other".into()];
        let text = search_failed(
            &LdapError::LdapResult { result: referral },
            "reading users",
            "connections[0].source.user_base",
            "f",
            &keys,
        )
        .to_string();
        assert!(text.contains("ldap://dc2.example.com/dc=other"), "{text}");
        assert!(text.contains("connections[0].source.user_base"), "{text}");
        let time = LdapError::LdapResult {
            result: result(3, ""),
        };
        let text = search_failed(&time, "reading groups", "gb", "gf", &keys).to_string();
        assert!(
            text.contains("time limit") && text.contains("`gf`"),
            "{text}"
        );
        let strong = bind_refused(&result(8, "00002028: LdapErr"), "cn=r", &keys).to_string();
        assert!(strong.contains("connections[0].source.url"), "{strong}");
    }
}
