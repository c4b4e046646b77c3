//! The `file` source: a YAML or JSON export of a directory.
//!
//! For IdPs with no usable API, for air-gapped sites that ship an export, and
//! for the demo. Shape: `users[{id, email, given_name, family_name,
//! display_name, active}]`, `groups[{id, name, members[ids]}]`.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

use super::{BoxFuture, FetchContext, Fetched, IdentitySource, SourceError};
use crate::model::{Directory, SkippedRecord, SourceUser};
use crate::source::kit::records::Record;
use crate::source::kit::values::team;

const KIND: &str = "file";

/// Reads a directory export from a file on every run.
pub struct FileSource {
    path: PathBuf,
}

/// The file as a whole; records are read one by one so a bad one is skipped.
///
/// `R` is how a record is held until it is decoded: a borrowed slice of the
/// JSON text (no tree is built, so a 100,000-user export costs its text plus
/// the typed records), or a YAML value.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Export<R> {
    #[serde(default = "Vec::new")]
    users: Vec<R>,
    #[serde(default = "Vec::new")]
    groups: Vec<R>,
}

/// One record of an export, decoded on its own so a bad one is skipped.
trait RawRecord: Sized {
    /// The record as `T`, or why it is unreadable.
    fn decode<T: DeserializeOwned>(&self) -> Result<T, String>;
    /// The record's id if it has a string one.
    fn id(&self) -> Option<String>;
}

impl RawRecord for Value {
    fn decode<T: DeserializeOwned>(&self) -> Result<T, String> {
        T::deserialize(self).map_err(|e| e.to_string())
    }

    fn id(&self) -> Option<String> {
        self.get("id")?.as_str().map(str::to_string)
    }
}

impl RawRecord for &RawValue {
    fn decode<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_str(self.get()).map_err(|_| {
            // The rare bad record is decoded again as a value, so its reason
            // reads the same as a YAML record's (no position inside the slice).
            match serde_json::from_str::<Value>(self.get()) {
                Ok(value) => value.decode::<T>().err().unwrap_or_default(),
                Err(e) => e.to_string(),
            }
        })
    }

    fn id(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct IdOnly {
            id: String,
        }
        serde_json::from_str::<IdOnly>(self.get())
            .ok()
            .map(|r| r.id)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileUser {
    id: String,
    email: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    display_name: Option<String>,
    #[serde(default = "default_active")]
    active: bool,
}

fn default_active() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGroup {
    id: String,
    name: String,
    #[serde(default)]
    members: Vec<String>,
}

impl FileSource {
    /// A source reading `path` (absolute, resolved by config validation).
    pub fn new(path: PathBuf) -> Self {
        FileSource { path }
    }

    /// Why the file could not be read, naming it.
    fn cannot_read(&self, error: std::io::Error) -> SourceError {
        let message = format!("cannot read {}: {error}", self.path.display());
        SourceError::Fetch {
            source_kind: KIND,
            message,
        }
    }

    /// Parses an export. Public so the demo and tests use the same parser.
    pub fn parse(text: &str, is_json: bool, origin: &str) -> Result<Directory, SourceError> {
        let unreadable = |error: &dyn std::fmt::Display| SourceError::Fetch {
            source_kind: KIND,
            message: format!("{origin}: {error}"),
        };
        let mut directory = if is_json {
            let export = serde_json::from_str::<Export<&RawValue>>(text);
            decode_records(export.map_err(|e| unreadable(&e))?, origin)
        } else {
            let export = serde_saphyr::from_str::<Export<Value>>(text);
            decode_records(export.map_err(|e| unreadable(&e))?, origin)
        };
        report_unknown_members(&mut directory);
        Ok(directory)
    }
}

/// Decodes every record of `export`, skipping the bad ones with a reason.
fn decode_records<R: RawRecord>(export: Export<R>, origin: &str) -> Directory {
    let (Export { users, groups }, mut skips) = (export, Vec::new());
    let to_user = |user: FileUser| SourceUser {
        id: user.id,
        email: user.email,
        given_name: user.given_name,
        family_name: user.family_name,
        display_name: user.display_name,
        active: user.active,
        attributes: Default::default(),
    };
    let to_team = |g: FileGroup| team(g.id, g.name, g.members);
    let users = decode_all(&users, ("user", origin), &mut skips, to_user, |u| &u.id);
    let groups = decode_all(&groups, ("group", origin), &mut skips, to_team, |g| &g.id);
    Directory {
        users,
        groups,
        skipped: skips,
    }
}

/// The `kind` records of `raws` (from `origin`) decoded as `T` and
/// converted; one that cannot be read or has an empty `id` goes to
/// `skipped` with the reason.
fn decode_all<R: RawRecord, T: DeserializeOwned, U>(
    raws: &[R],
    (kind, origin): (&'static str, &str),
    skipped: &mut Vec<SkippedRecord>,
    convert: impl Fn(T) -> U,
    id: fn(&U) -> &str,
) -> Vec<U> {
    let mut kept = Vec::with_capacity(raws.len());
    for (index, raw) in raws.iter().enumerate() {
        let reason = match raw.decode::<T>().map(&convert) {
            Ok(record) if !id(&record).trim().is_empty() => {
                kept.push(record);
                continue;
            }
            Ok(_) => "empty id".to_string(),
            Err(e) => format!("unreadable record in {origin}: {e}"),
        };
        skipped.push(Record::named(kind, raw.id(), index).skip(reason));
    }
    kept
}

/// Reports group members that name no user of the export.
///
/// An export is self-contained, so such an id is a broken reference (a
/// typo, a user deleted from the file but not from its groups). Mapping
/// would drop it silently; here each one becomes one skipped `member`
/// record naming the group, and the team is still synced without it.
/// Members that are users skipped above as unreadable are not reported
/// again: their own skip already says why they are missing.
fn report_unknown_members(directory: &mut Directory) {
    let users = directory.users.iter().map(|u| u.id.as_str());
    let skipped = directory.skipped.iter().filter(|s| s.kind == "user");
    let known: HashSet<&str> = users.chain(skipped.map(|s| s.id.as_str())).collect();
    let mut unknown = Vec::new();
    for group in &directory.groups {
        let mut reported = HashSet::new();
        for member in &group.members {
            if !known.contains(member.as_str()) && reported.insert(member.as_str()) {
                let reason = format!(
                    "group {} ({:?}) lists {member:?} as a member, but the export has no such user; the team is synced without it",
                    group.id, group.name
                );
                unknown.push(Record::named("member", Some(member.clone()), 0).skip(reason));
            }
        }
    }
    directory.skipped.extend(unknown);
}

impl IdentitySource for FileSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn fetch<'a>(
        &'a self,
        context: FetchContext<'a>,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>> {
        Box::pin(async move {
            let progress = context.progress;
            progress.message(&format!("Reading {}", self.path.display()));
            let text = tokio::fs::read_to_string(&self.path).await;
            let text = text.map_err(|e| self.cannot_read(e))?;
            let is_json = self
                .path
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
            let directory = Self::parse(&text, is_json, &self.path.display().to_string())?;
            progress.advance((directory.users.len() + directory.groups.len()) as u64);
            Ok(Fetched::full(directory))
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(async move {
            let metadata = tokio::fs::metadata(&self.path).await;
            metadata.map(drop).map_err(|e| self.cannot_read(e))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_exports_parse_and_bad_records_are_skipped() {
        let yaml = "users:\n  - {id: u1, email: a@example.com, given_name: Ada}\n  - {id: u2, active: false}\n  - {email: noid@example.com}\n  - {id: u4, active: maybe}\n  - {id: ' '}\ngroups:\n  - {id: g1, name: Eng, members: [u1, u2, ghost, u4, ghost]}\n  - {id: g2}\n";
        let directory = FileSource::parse(yaml, false, "dir.yaml").unwrap();
        assert_eq!(directory.users.len(), 2);
        assert!(directory.users[0].active);
        assert!(!directory.users[1].active);
        assert_eq!(directory.groups.len(), 1);
        let members = &directory.groups[0].members;
        assert_eq!(members, &["u1", "u2", "ghost", "u4", "ghost"]);
        // The unknown member once; u4's own skip already says why it is missing.
        let skipped: Vec<&str> = directory.skipped.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(skipped, vec!["#2", "u4", " ", "g2", "ghost"]);
        assert_eq!(directory.skipped[2].reason, "empty id");
        let ghost = &directory.skipped[4];
        assert_eq!(ghost.kind, "member");
        assert!(ghost.reason.contains("lists \"ghost\""), "{ghost:?}");

        let json = r#"{"users":[{"id":"u1","email":"a@example.com"}],"groups":[]}"#;
        let directory = FileSource::parse(json, true, "dir.json").unwrap();
        assert_eq!(directory.users[0].email.as_deref(), Some("a@example.com"));
    }

    #[test]
    fn a_broken_file_is_an_error_naming_it() {
        let err = FileSource::parse("users: [", false, "dir.yaml").unwrap_err();
        assert!(err.to_string().contains("dir.yaml"), "{err}");
    }
}
