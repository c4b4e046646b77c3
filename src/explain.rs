//! `penvio-sync explain`: why one user or team is (or is not) in Penvio, and
//! what the next sync would do about it, step by step.
//!
//! It answers the questions admins get stuck on ("user not created", "group
//! not syncing") from the same fetch, mapping, snapshot and plan a sync uses,
//! so the explanation can never disagree with what a sync does.

use std::fmt::Write as _;

use crate::config::{ConnectionConfig, MappingConfig, OnUserRemoved, Template};
use crate::mapping::{MappedDirectory, map_directory_with, map_user};
use crate::model::{Directory, SourceGroup, SourceUser};
use crate::plan::{Operation, Plan, PlanPolicy, RemovalAction, plan};
use crate::snapshot::Snapshot;

/// Everything an explanation is computed from.
pub struct Inputs<'a> {
    /// The connection.
    pub connection: &'a ConnectionConfig,
    /// A fresh fetch of the directory.
    pub directory: &'a Directory,
    /// The connection's snapshot.
    pub snapshot: &'a Snapshot,
    /// Unix seconds now.
    pub now: i64,
}

/// Why an explanation could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The source could not be set up or read.
    #[error("cannot read the directory: {0}")]
    Source(String),
    /// The snapshot could not be loaded.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

/// Fetches `connection`'s directory afresh, loads its snapshot from `store`
/// and explains `subject`: what the CLI runs locally and the daemon runs when
/// it holds the state, so both answer alike.
pub async fn explain_connection(
    connection: &ConnectionConfig,
    index: usize,
    store: &dyn crate::state::StateStore,
    subject: &str,
    now: i64,
) -> Result<Option<String>, ExplainError> {
    let directory = fetch_directory(connection, index, now).await?;
    explain_fetched(connection, &directory, store, subject, now)
}

/// A full read of `connection`'s directory, as a sync's first fetch does.
pub async fn fetch_directory(
    connection: &ConnectionConfig,
    index: usize,
    now: i64,
) -> Result<Directory, ExplainError> {
    let source = crate::source::build(connection, index)
        .map_err(|error| ExplainError::Source(error.to_string()))?;
    let progress = crate::progress::Progress::hidden();
    let fetched = source
        .fetch(crate::source::FetchContext {
            progress: &progress,
            previous: None,
            now,
        })
        .await
        .map_err(|error| ExplainError::Source(error.to_string()))?;
    Ok(fetched.directory)
}

/// Explains `subject` from an already fetched `directory` and the snapshot
/// in `store` (the daemon reuses a recent fetch).
pub fn explain_fetched(
    connection: &ConnectionConfig,
    directory: &Directory,
    store: &dyn crate::state::StateStore,
    subject: &str,
    now: i64,
) -> Result<Option<String>, ExplainError> {
    let snapshot = store.load(&connection.name)?;
    let inputs = Inputs {
        connection,
        directory,
        snapshot: &snapshot,
        now,
    };
    Ok(explain(&inputs, subject))
}

/// The explanation of `subject` (an email, a source id, or a team name), as
/// numbered steps; `None` when nothing anywhere matches it.
pub fn explain(inputs: &Inputs<'_>, subject: &str) -> Option<String> {
    let snapshot = inputs.snapshot;
    let mapped = map_directory_with(
        inputs.directory,
        &inputs.connection.scope,
        &inputs.connection.mapping,
        &|id| snapshot.users.contains_key(id),
        &|id| snapshot.users.get(id).map(|u| u.attributes()),
    );
    let planned = plan(&mapped.desired, snapshot, &policy(inputs), inputs.now);
    let wanted = subject.trim().to_lowercase();

    let users: Vec<&SourceUser> = inputs
        .directory
        .users
        .iter()
        .filter(|u| {
            u.id == subject.trim()
                || u.email
                    .as_deref()
                    .is_some_and(|e| e.to_lowercase() == wanted)
        })
        .collect();
    let snapshot_only: Vec<&String> = snapshot
        .users
        .iter()
        .filter(|(id, record)| {
            (id.as_str() == subject.trim() || record.user_name().to_lowercase() == wanted)
                && !users.iter().any(|u| &u.id == *id)
        })
        .map(|(id, _)| id)
        .collect();
    let groups: Vec<&SourceGroup> = inputs
        .directory
        .groups
        .iter()
        .filter(|g| g.id == subject.trim() || g.name.to_lowercase() == wanted)
        .collect();
    if users.is_empty() && snapshot_only.is_empty() && groups.is_empty() {
        return None;
    }
    let mut out = String::new();
    for user in users {
        explain_user(&mut out, inputs, &mapped, &planned, user);
    }
    for id in snapshot_only {
        explain_absent_user(&mut out, inputs, &planned, id);
    }
    for group in groups {
        explain_team(&mut out, inputs, &mapped, &planned, group);
    }
    Some(out)
}

fn policy(inputs: &Inputs<'_>) -> PlanPolicy {
    let policy = &inputs.connection.policy;
    let snapshot = inputs.snapshot;
    PlanPolicy {
        on_user_removed: match policy.on_user_removed {
            OnUserRemoved::Deactivate => RemovalAction::Deactivate,
            OnUserRemoved::Delete => RemovalAction::Delete,
        },
        delete_deactivated_after: policy.delete_deactivated_after,
        max_deactivations: policy.max_deactivations.limit(snapshot.users.len()),
        max_deletions: policy
            .max_deletions
            .limit(snapshot.users.len() + snapshot.teams.len()),
        max_shrinkage: policy.max_shrinkage,
        max_member_removals: policy.max_member_removals,
        allow_deletions: false,
    }
}

/// Which source field (or override template) each Penvio attribute comes from.
fn sources(mapping: &MappingConfig) -> [(&'static str, String); 6] {
    let origin = |template: &Option<Template>, default: &str| match template {
        Some(t) => format!("mapping override {:?}", t.as_str()),
        None => default.to_string(),
    };
    [
        ("userName", origin(&mapping.user_name, "email")),
        ("name.givenName", origin(&mapping.given_name, "given_name")),
        (
            "name.familyName",
            origin(&mapping.family_name, "family_name"),
        ),
        (
            "displayName",
            origin(
                &mapping.display_name,
                "display_name, else \"given family\", else userName",
            ),
        ),
        ("emails[primary]", origin(&mapping.email, "email")),
        ("externalId", origin(&mapping.external_id, "the IdP's id")),
    ]
}

fn mentions(operation: &Operation, id: &str) -> bool {
    operation.subject() == id
        || match operation {
            Operation::CreateTeam { members, .. }
            | Operation::AddMembers { members, .. }
            | Operation::RemoveMembers { members, .. } => members.iter().any(|m| m == id),
            _ => false,
        }
}

fn describe_next(out: &mut String, planned: &Plan, id: &str, step: usize, in_penvio: bool) {
    let ops: Vec<&Operation> = planned
        .operations
        .iter()
        .filter(|o| mentions(o, id))
        .collect();
    let held: Vec<_> = planned
        .held_back
        .iter()
        .filter(|h| mentions(&h.operation, id))
        .collect();
    let _ = writeln!(out, "  {step}. Next sync:");
    if ops.is_empty() && held.is_empty() {
        if in_penvio {
            let _ = writeln!(out, "       nothing: Penvio already matches the directory.");
        } else {
            let _ = writeln!(
                out,
                "       nothing: it will not be provisioned until the steps above change."
            );
        }
    }
    for operation in ops {
        let _ = writeln!(out, "       {}", crate::report::render::describe(operation));
        if let Operation::UpdateUser { changes, .. }
        | Operation::ReactivateUser { changes, .. }
        | Operation::DeactivateUser { changes, .. } = operation
        {
            for change in changes {
                let _ = writeln!(
                    out,
                    "         {}: {:?} → {:?}",
                    change.path, change.old, change.new
                );
            }
        }
    }
    for held in held {
        let _ = writeln!(
            out,
            "       HELD BACK: {} ({})",
            crate::report::render::describe(&held.operation),
            held.reason
        );
    }
}

/// The steps of a user found in the directory: read, scope, mapping,
/// skipped, snapshot, next sync.
fn explain_user(
    out: &mut String,
    inputs: &Inputs<'_>,
    mapped: &MappedDirectory,
    planned: &Plan,
    user: &SourceUser,
) {
    describe_source_user(out, inputs, user);
    describe_user_scope(out, inputs, user);
    describe_mapping(out, &inputs.connection.mapping, user);
    describe_skipped(out, mapped, user);
    describe_snapshot(out, inputs.snapshot, &user.id, 5);
    let in_penvio = inputs.snapshot.users.contains_key(&user.id);
    describe_next(out, planned, &user.id, 6, in_penvio);
    let _ = writeln!(out);
}

/// The heading and step 1: the user as the IdP returned it.
fn describe_source_user(out: &mut String, inputs: &Inputs<'_>, user: &SourceUser) {
    let _ = writeln!(
        out,
        "User {} ({})",
        user.email.as_deref().unwrap_or("no email"),
        user.id
    );
    let _ = writeln!(
        out,
        "  1. Found in the IdP ({}): active={}, email={:?}, given_name={:?}, family_name={:?}, display_name={:?}",
        inputs.connection.source.kind(),
        user.active,
        user.email,
        user.given_name,
        user.family_name,
        user.display_name
    );
    for (key, value) in &user.attributes {
        let _ = writeln!(out, "       {key} = {value:?}");
    }
}

/// Step 2: whether `scope.user_groups` lets the user in, and through which.
fn describe_user_scope(out: &mut String, inputs: &Inputs<'_>, user: &SourceUser) {
    let scope = &inputs.connection.scope;
    let groups: Vec<&SourceGroup> = inputs
        .directory
        .groups
        .iter()
        .filter(|g| g.members.iter().any(|m| m == &user.id))
        .collect();
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    if scope.user_groups.is_empty() {
        let _ = writeln!(
            out,
            "  2. In scope: scope.user_groups is empty, so every user is."
        );
        return;
    }
    let via: Vec<&String> = scope
        .user_groups
        .iter()
        .filter(|wanted| {
            groups
                .iter()
                .any(|g| crate::mapping::names_group(wanted, g))
        })
        .collect();
    if via.is_empty() {
        let _ = writeln!(
            out,
            "  2. OUT OF SCOPE: not a member of any scope.user_groups group ({}); member of: {}",
            scope.user_groups.join(", "),
            if names.is_empty() {
                "no group".into()
            } else {
                names.join(", ")
            }
        );
    } else {
        let _ = writeln!(
            out,
            "  2. In scope through scope.user_groups: {}",
            via.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// Step 3: each Penvio attribute with the source field it came from.
fn describe_mapping(out: &mut String, mapping: &MappingConfig, user: &SourceUser) {
    match map_user(user, mapping) {
        Ok(attributes) => {
            let _ = writeln!(out, "  3. Mapped to Penvio:");
            let values = [
                attributes.user_name.clone(),
                attributes.given_name.clone(),
                attributes.family_name.clone(),
                attributes.display_name.clone(),
                attributes.email.clone(),
                attributes.external_id.clone(),
            ];
            for ((attribute, origin), value) in sources(mapping).iter().zip(values) {
                let _ = writeln!(out, "       {attribute} = {value:?}   ← {origin}");
            }
            let _ = writeln!(
                out,
                "       active = {}   ← the IdP status",
                attributes.active
            );
        }
        Err(reason) => {
            let _ = writeln!(out, "  3. Cannot be mapped: {reason}");
        }
    }
}

/// Step 4: whether the mapping skipped the user as bad data.
fn describe_skipped(out: &mut String, mapped: &MappedDirectory, user: &SourceUser) {
    let skipped: Vec<_> = mapped.skipped.iter().filter(|s| s.id == user.id).collect();
    if skipped.is_empty() {
        let in_desired = mapped.desired.users.contains_key(&user.id);
        let _ = writeln!(
            out,
            "  4. Not skipped{}",
            if in_desired {
                "."
            } else {
                " (but out of scope, see step 2)."
            }
        );
    } else {
        for record in skipped {
            let _ = writeln!(out, "  4. SKIPPED: {}", record.reason);
        }
    }
}

fn describe_snapshot(out: &mut String, snapshot: &Snapshot, id: &str, step: usize) {
    match snapshot.users.get(id) {
        Some(record) => {
            let state = match record.deactivated_at() {
                Some(at) => format!(
                    "deactivated {}",
                    crate::sync::ago(at, crate::timestamp::unix_now())
                ),
                None if record.active() => "active".to_string(),
                None => "inactive".to_string(),
            };
            let teams: Vec<&str> = snapshot
                .teams
                .values()
                .filter(|t| t.members.contains(id))
                .map(|t| t.name.as_str())
                .collect();
            let _ = writeln!(
                out,
                "  {step}. In Penvio (snapshot): id {}, userName {}, {state}; teams: {}",
                record.penvio_id(),
                record.user_name(),
                if teams.is_empty() {
                    "none".into()
                } else {
                    teams.join(", ")
                }
            );
        }
        None => {
            let _ = writeln!(out, "  {step}. Not in Penvio yet (no snapshot record).");
        }
    }
}

fn explain_absent_user(out: &mut String, inputs: &Inputs<'_>, planned: &Plan, id: &str) {
    let _ = writeln!(out, "User {id}");
    let _ = writeln!(
        out,
        "  1. NOT in the IdP's directory as read now ({}): removed, or filtered out by the IdP or app assignment.",
        inputs.connection.source.kind()
    );
    describe_snapshot(out, inputs.snapshot, id, 2);
    describe_next(out, planned, id, 3, true);
    let _ = writeln!(out);
}

/// The steps of a directory group: pattern, members, snapshot, next sync.
fn explain_team(
    out: &mut String,
    inputs: &Inputs<'_>,
    mapped: &MappedDirectory,
    planned: &Plan,
    group: &SourceGroup,
) {
    let _ = writeln!(out, "Team {} (IdP group {})", group.name, group.id);
    describe_team_match(out, inputs, mapped, group);
    describe_team_members(out, mapped, group);
    match inputs.snapshot.teams.get(&group.id) {
        Some(team) => {
            let _ = writeln!(
                out,
                "  3. In Penvio (snapshot): team {} {:?} with {} members.",
                team.penvio_id,
                team.name,
                team.members.len()
            );
        }
        None => {
            let _ = writeln!(out, "  3. Not in Penvio yet (no snapshot record).");
        }
    }
    let in_penvio = inputs.snapshot.teams.contains_key(&group.id);
    describe_next(out, planned, &group.id, 4, in_penvio);
    let _ = writeln!(out);
}

/// Step 1: which `scope.team_groups` pattern makes the group a team, if any.
fn describe_team_match(
    out: &mut String,
    inputs: &Inputs<'_>,
    mapped: &MappedDirectory,
    group: &SourceGroup,
) {
    let scope = &inputs.connection.scope;
    let pattern = scope
        .team_groups
        .iter()
        .find(|p| crate::mapping::selects_team(p, group));
    match (pattern, mapped.desired.teams.get(&group.id)) {
        (Some(pattern), Some(_)) => {
            let _ = writeln!(
                out,
                "  1. Becomes a team: matched by scope.team_groups pattern {:?}.",
                pattern.as_str()
            );
        }
        (Some(pattern), None) => {
            let _ = writeln!(
                out,
                "  1. Matched by {:?} but skipped: {}",
                pattern.as_str(),
                mapped
                    .skipped
                    .iter()
                    .find(|s| s.id == group.id)
                    .map_or("see the run's skipped records", |s| s.reason.as_str())
            );
        }
        (None, _) => {
            let patterns: Vec<&str> = scope.team_groups.iter().map(|p| p.as_str()).collect();
            let _ = writeln!(
                out,
                "  1. NOT a team: no scope.team_groups pattern matches {:?} (patterns: {}){}",
                group.name,
                if patterns.is_empty() {
                    "none".into()
                } else {
                    patterns.join(", ")
                },
                if group.built_in {
                    "; built-in groups must be named exactly"
                } else {
                    ""
                }
            );
        }
    }
}

/// Step 2: the members that become team members, and those that do not.
fn describe_team_members(out: &mut String, mapped: &MappedDirectory, group: &SourceGroup) {
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for member in &group.members {
        match mapped.desired.users.get(member) {
            Some(user) if user.active() => inside.push(user.user_name().to_string()),
            Some(user) => outside.push(format!("{} (inactive)", user.user_name())),
            None => outside.push(format!("{member} (not in scope or skipped)")),
        }
    }
    let _ = writeln!(
        out,
        "  2. Members in scope ({}): {}",
        inside.len(),
        inside.join(", ")
    );
    if !outside.is_empty() {
        let _ = writeln!(
            out,
            "     Not team members ({}): {}",
            outside.len(),
            outside.join(", ")
        );
    }
}
