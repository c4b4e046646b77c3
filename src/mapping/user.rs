//! Mapping one user: Penvio's attributes from a directory record, checked
//! (lengths, invisible characters, a plausible email) so a bad record is
//! skipped with a reason instead of sent.

use crate::config::{MappingConfig, Template};
use crate::model::{SourceUser, UserAttributes};

/// Longest name (given, family, display, team name) sent to Penvio, in
/// characters. Real names are far shorter; a longer one is bad data (a
/// pasted blob, a 1 MB string) and its record is skipped with a reason
/// rather than truncated, so nobody gets a silently cut name.
pub const MAX_NAME_CHARS: usize = 256;

/// Longest email and `userName`, in characters: RFC 5321 caps a path at 256
/// octets including the angle brackets, which leaves 254 for the address.
pub const MAX_EMAIL_CHARS: usize = 254;

/// Longest `externalId` (the IdP's immutable id; real ones are 20–40
/// characters): it is also the snapshot key, so a huge one is refused.
pub const MAX_EXTERNAL_ID_CHARS: usize = 256;

/// How much of a bad value a skip reason quotes: enough to find it, never
/// the whole of a megabyte string in a log line.
const QUOTED_CHARS: usize = 64;

/// Bidirectional formatting characters: the Arabic letter mark, LRM/RLM,
/// the embeddings and overrides (U+202A–U+202E) and the isolates
/// (U+2066–U+2069). A U+202E (right-to-left override) makes
/// `Ada\u{202E}gpj.exe` display as `Adaexe.jpg`: a classic spoofing trick.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that are invisible in an address: bidi controls, zero-width
/// spaces and joiners, the byte-order mark.
fn is_invisible(c: char) -> bool {
    is_bidi_control(c) || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Cleans a name for display in Penvio.
///
/// Chosen behaviour (the record is kept, the name is repaired): control
/// characters (C0 and C1, tabs and newlines included) become a space and
/// bidirectional formatting characters are removed, then runs of
/// whitespace collapse to one space. Removing a right-to-left override
/// defeats the spoofing while the person, who did nothing wrong, is still
/// provisioned; emoji and every other printable character are kept as-is.
pub fn clean_name(raw: &str) -> String {
    if is_clean_ascii(raw) {
        return raw.to_string();
    }
    repair_name(raw)
}

/// The general path of [`clean_name`].
fn repair_name(raw: &str) -> String {
    let replaced: String = raw
        .chars()
        .filter(|c| !is_bidi_control(*c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    replaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `raw` is already what [`clean_name`] makes of it, checked
/// without allocating: printable ASCII words separated by single spaces
/// (nearly every name), so only the rest takes the repairing path.
fn is_clean_ascii(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    bytes.first() != Some(&b' ')
        && bytes.last() != Some(&b' ')
        && bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
        && !raw.contains("  ")
}

/// A value as quoted in a skip reason: the start of it, and its length
/// when it was cut.
fn quoted(value: &str) -> String {
    let count = value.chars().count();
    if count <= QUOTED_CHARS {
        format!("{value:?}")
    } else {
        let start: String = value.chars().take(QUOTED_CHARS).collect();
        format!("{start:?}… ({count} characters)")
    }
}

/// `Err` naming the attribute when `value` is longer than `max` characters.
pub(super) fn check_length(attribute: &str, value: &str, max: usize) -> Result<(), String> {
    // A string has at most as many characters as bytes.
    if value.len() <= max {
        return Ok(());
    }
    let count = value.chars().count();
    if count > max {
        return Err(format!(
            "{attribute} is {count} characters long, more than the {max} Penvio accepts: {}",
            quoted(value)
        ));
    }
    Ok(())
}

/// Maps one user with the connection's overrides, falling back to Penvio's
/// default mapping for every attribute not overridden.
pub fn map_user(user: &SourceUser, mapping: &MappingConfig) -> Result<UserAttributes, String> {
    let lookup = |field: &str| -> Option<String> {
        let value = match field {
            "id" => Some(user.id.as_str()),
            "email" => user.email.as_deref(),
            "given_name" => user.given_name.as_deref(),
            "family_name" => user.family_name.as_deref(),
            "display_name" => user.display_name.as_deref(),
            other => other
                .strip_prefix("attributes.")
                .and_then(|key| user.attributes.get(key))
                .map(String::as_str),
        };
        value
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    // An override that refers to a missing field skips the user: sending a
    // half-rendered value would be worse than waiting for the data.
    let render = |key: &str,
                  template: &Option<Template>,
                  default: &dyn Fn() -> Option<String>|
     -> Result<Option<String>, String> {
        match template {
            Some(t) => t.render(&lookup).map(Some).ok_or_else(|| {
                format!(
                    "mapping.{key} ({:?}) refers to a field this user does not have",
                    t.as_str()
                )
            }),
            None => Ok(default()),
        }
    };

    let email = render("email", &mapping.email, &|| lookup("email"))?;
    let user_name = render("userName", &mapping.user_name, &|| email.clone())?
        .ok_or_else(|| "no email (userName is required and defaults to the email)".to_string())?;
    check_length("userName", &user_name, MAX_EMAIL_CHARS)?;
    if user_name.chars().any(char::is_control) || user_name.contains(char::is_whitespace) {
        return Err(format!(
            "userName {} contains whitespace or control characters",
            quoted(&user_name)
        ));
    }
    // An invisible character makes two addresses look the same to a person
    // while Penvio sees two accounts: refuse rather than guess.
    if user_name.chars().any(is_invisible) {
        return Err(format!(
            "userName {} contains invisible formatting characters (bidi controls or zero-width)",
            quoted(&user_name)
        ));
    }
    let email = email.unwrap_or_else(|| user_name.clone());
    check_length("email", &email, MAX_EMAIL_CHARS)?;
    if !looks_like_email(&email) {
        return Err(format!("email {} is not a valid address", quoted(&email)));
    }
    let name = |key: &str, value: Option<String>| -> Result<String, String> {
        let cleaned = value.map(|v| clean_name(&v)).unwrap_or_default();
        check_length(key, &cleaned, MAX_NAME_CHARS)?;
        Ok(cleaned)
    };
    let given_name = name(
        "givenName",
        render("givenName", &mapping.given_name, &|| lookup("given_name"))?,
    )?;
    let family_name = name(
        "familyName",
        render("familyName", &mapping.family_name, &|| {
            lookup("family_name")
        })?,
    )?;
    let display_name = name(
        "displayName",
        render("displayName", &mapping.display_name, &|| {
            lookup("display_name")
                .filter(|v| !clean_name(v).is_empty())
                .or_else(|| {
                    // Composed by us from two valid names, so cut to the
                    // limit rather than skipping the user for it.
                    let composed: String = format!("{given_name} {family_name}")
                        .trim()
                        .chars()
                        .take(MAX_NAME_CHARS)
                        .collect();
                    (!composed.is_empty()).then(|| composed.trim_end().to_string())
                })
        })?,
    )?;
    let display_name = if display_name.is_empty() {
        user_name.clone()
    } else {
        display_name
    };
    let external_id = render("externalId", &mapping.external_id, &|| {
        Some(user.id.clone())
    })?
    .unwrap_or_else(|| user.id.clone());
    check_length("externalId", &external_id, MAX_EXTERNAL_ID_CHARS)?;

    Ok(UserAttributes {
        user_name,
        given_name,
        family_name,
        display_name,
        email,
        external_id,
        active: user.active,
    })
}

/// A deliberately loose check: one `@` with text on both sides and a dot in
/// the domain. Penvio validates strictly; this only catches obvious garbage
/// early so it is reported per record instead of as a failed request.
fn looks_like_email(value: &str) -> bool {
    match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ascii_shortcut_keeps_exactly_what_the_repair_would() {
        for raw in [
            "Ada Lovelace",
            "O'Brien-Smith Jr.",
            "",
            " Ada",
            "Ada ",
            "Ada  Lovelace",
            "Ada\tLovelace",
            "Ada\u{7f}",
            "Zoë",
            "a\u{202E}b",
        ] {
            if is_clean_ascii(raw) {
                assert_eq!(repair_name(raw), raw, "{raw:?}");
            }
            assert_eq!(clean_name(raw), repair_name(raw), "{raw:?}");
        }
        assert!(is_clean_ascii("Ada Lovelace"));
        assert!(!is_clean_ascii("Ada  Lovelace"));
        assert!(!is_clean_ascii("Ada\tLovelace"));
    }
}
