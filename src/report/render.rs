//! The one human rendering of reports and operations: the text `sync`,
//! `plan` and the daemon print, and the one-line descriptions that go into
//! operation outcomes, logs and the audit trail. Both come from the same
//! phrases, so a plan and the audit trail name an operation the same way.

use std::collections::BTreeMap;

use crate::plan::{Operation, RemovalReason};

use super::RunReport;

/// The human form of a run report (the CLI, the daemon and the demo).
pub fn render_report(report: &RunReport) -> String {
    let mut out = String::new();
    let title = match (report.mode, report.dry_run) {
        ("sync", true) => "plan",
        ("reconcile", true) => "reconcile (dry run)",
        (mode, _) => mode,
    };
    out.push_str(&format!("Connection {} — {title}\n", report.connection));
    if let Some(error) = &report.error {
        out.push_str(&format!("  FAILED: {error}\n"));
        return out;
    }
    render_source(report, &mut out);
    if report.dry_run {
        if report.operations.is_empty() {
            out.push_str("  No changes: Penvio is up to date.\n");
        }
        for operation in &report.operations {
            out.push_str(&render_operation(operation));
        }
        out.push_str(&format!("  Plan: {}\n", counts_line(&report.planned)));
    } else {
        render_applied(report, &mut out);
    }
    render_held_and_refused(report, &mut out);
    out.push_str(&format!(
        "  Penvio requests: {} writes, {} reads, {} retries, {} throttled; {} ms\n",
        report.target_requests.writes,
        report.target_requests.reads,
        report.target_requests.retries,
        report.target_requests.throttled,
        report.duration_ms
    ));
    out
}

/// What the source returned, what was skipped, what reconcile found.
fn render_source(report: &RunReport, out: &mut String) {
    out.push_str(&format!(
        "  source: {} users, {} groups read; {} users and {} teams in scope",
        report.source.users,
        report.source.groups,
        report.source.desired_users,
        report.source.desired_teams
    ));
    if report.source.out_of_scope_users > 0 {
        out.push_str(&format!(
            "; {} users out of scope",
            report.source.out_of_scope_users
        ));
    }
    out.push('\n');
    for group in &report.source.unmatched_user_groups {
        out.push_str(&format!(
            "  warning: scope.user_groups entry {group:?} matches no group\n"
        ));
    }
    if !report.skipped.is_empty() {
        out.push_str(&format!(
            "  skipped {}:\n",
            crate::plural::count(report.skipped.len(), "record")
        ));
        for skipped in &report.skipped {
            out.push_str(&format!(
                "    {} {}: {}\n",
                skipped.kind, skipped.id, skipped.reason
            ));
        }
    }
    if let Some(findings) = &report.reconcile {
        out.push_str(&format!(
            "  Penvio: linked {} users and {} teams; {} users and {} teams missing; {} users and {} teams not managed{}\n",
            findings.linked_users,
            findings.linked_teams,
            findings.missing_users,
            findings.missing_teams,
            findings.unmanaged_users,
            findings.unmanaged_teams,
            if findings.adopted > 0 { format!("; {} adopted", findings.adopted) } else { String::new() }
        ));
    }
}

/// Applied counts and each failure.
fn render_applied(report: &RunReport, out: &mut String) {
    out.push_str(&format!("  applied: {}\n", counts_line(&report.applied)));
    if !report.failures.is_empty() {
        out.push_str(&format!("  failed: {}\n", report.failures.len()));
        for failure in &report.failures {
            out.push_str(&format!(
                "    {}: {}\n",
                failure.description,
                failure.error.as_deref().unwrap_or("")
            ));
        }
    }
}

/// Operations the guard held back and operations of a reviewed plan refused.
fn render_held_and_refused(report: &RunReport, out: &mut String) {
    if !report.held_back.is_empty() {
        out.push_str(&format!(
            "  held back: {} destructive operations: {}\n",
            report.held_back.len(),
            report.held_back[0].reason
        ));
        for held in report.held_back.iter().take(20) {
            out.push_str(&format!(
                "    {}",
                render_operation(&held.operation).trim_start()
            ));
        }
    }
    if !report.refused.is_empty() {
        out.push_str(&format!(
            "  refused: {} operations of the reviewed plan were not sent:\n",
            report.refused.len()
        ));
        for refused in &report.refused {
            let rendered = render_operation(&refused.operation);
            out.push_str(&format!(
                "    {}: {}\n",
                rendered.lines().next().unwrap_or_default().trim(),
                refused.reason
            ));
        }
    }
}

/// `3 create_user, 1 delete_team`, or `nothing`.
fn counts_line(counts: &BTreeMap<&'static str, usize>) -> String {
    if counts.is_empty() {
        return "nothing".to_string();
    }
    counts
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An operation as a plan lists it: a sign (`+` adds, `~` changes, `-`
/// removes), the phrase, the reason of a removal and, for updates, each
/// attribute change on its own line.
pub fn render_operation(operation: &Operation) -> String {
    let sign = match operation {
        Operation::CreateUser { .. }
        | Operation::CreateTeam { .. }
        | Operation::AddMembers { .. } => '+',
        Operation::ReactivateUser { .. }
        | Operation::UpdateUser { .. }
        | Operation::RenameTeam { .. } => '~',
        Operation::DeactivateUser { .. }
        | Operation::DeleteUser { .. }
        | Operation::RemoveMembers { .. }
        | Operation::DeleteTeam { .. } => '-',
    };
    let mut text = format!("  {sign} {}", phrase(operation));
    match operation {
        Operation::DeactivateUser { reason, .. } | Operation::DeleteUser { reason, .. } => {
            text.push_str(&format!(" ({})", removal_reason(reason)));
        }
        _ => {}
    }
    text.push('\n');
    if let Operation::ReactivateUser { changes, .. } | Operation::UpdateUser { changes, .. } =
        operation
    {
        for change in changes {
            text.push_str(&format!(
                "      {}: {:?} → {:?}\n",
                change.path, change.old, change.new
            ));
        }
    }
    text
}

/// A one-line description of an operation, for outcomes, logs and the
/// audit trail: the phrase, and for an update the attributes it changes.
pub fn describe(operation: &Operation) -> String {
    let mut text = phrase(operation);
    if let Operation::UpdateUser { changes, .. } = operation {
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        text.push_str(&format!(" ({})", paths.join(", ")));
    }
    text
}

/// The words both renderings share: verb, object and name.
fn phrase(operation: &Operation) -> String {
    let members = |n: usize| crate::plural::count(n, "member");
    match operation {
        Operation::CreateUser { attributes, .. } => format!("create user {}", attributes.user_name),
        Operation::ReactivateUser { attributes, .. } => {
            format!("reactivate user {}", attributes.user_name)
        }
        Operation::UpdateUser { attributes, .. } => {
            format!("update user {}", attributes.user_name)
        }
        Operation::DeactivateUser { attributes, .. } => {
            format!("deactivate user {}", attributes.user_name)
        }
        Operation::DeleteUser { user_name, .. } => format!("delete user {user_name}"),
        Operation::CreateTeam {
            name, members: m, ..
        } => {
            format!("create team {name} with {}", members(m.len()))
        }
        Operation::RenameTeam {
            old_name, new_name, ..
        } => format!("rename team {old_name:?} → {new_name:?}"),
        Operation::AddMembers {
            team_name,
            members: m,
            ..
        } => format!("add {} to team {team_name}", members(m.len())),
        Operation::RemoveMembers {
            team_name,
            members: m,
            foreign_members,
            ..
        } => format!(
            "remove {} from team {team_name}",
            members(m.len() + foreign_members.len())
        ),
        Operation::DeleteTeam { name, .. } => format!("delete team {name}"),
    }
}

fn removal_reason(reason: &RemovalReason) -> &'static str {
    match reason {
        RemovalReason::InactiveInSource => "inactive in the source",
        RemovalReason::RemovedFromSource => "removed from the source or scope",
        RemovalReason::RetentionExpired => "deactivated longer than delete_deactivated_after",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UserAttributes;
    use crate::plan::AttributeChange;

    fn ada(active: bool) -> UserAttributes {
        UserAttributes {
            user_name: "ada@example.com".into(),
            given_name: "Ada".into(),
            family_name: String::new(),
            display_name: "Ada".into(),
            email: "ada@example.com".into(),
            external_id: "1".into(),
            active,
        }
    }

    #[test]
    fn plans_and_descriptions_name_operations_the_same_way() {
        let change = AttributeChange {
            path: "displayName".into(),
            old: "A".into(),
            new: "Ada".into(),
        };
        // (operation, as a plan lists it, as outcomes and the audit describe it)
        let table = [
            (
                Operation::UpdateUser {
                    source_id: "1".into(),
                    penvio_id: "p1".into(),
                    attributes: ada(true),
                    changes: vec![change],
                },
                "  ~ update user ada@example.com\n      displayName: \"A\" → \"Ada\"\n",
                "update user ada@example.com (displayName)",
            ),
            (
                Operation::DeactivateUser {
                    source_id: "1".into(),
                    penvio_id: "p1".into(),
                    attributes: ada(false),
                    changes: Vec::new(),
                    reason: RemovalReason::RemovedFromSource,
                },
                "  - deactivate user ada@example.com (removed from the source or scope)\n",
                "deactivate user ada@example.com",
            ),
            (
                Operation::CreateTeam {
                    source_id: "g".into(),
                    name: "Eng".into(),
                    members: vec!["1".into()],
                },
                "  + create team Eng with 1 member\n",
                "create team Eng with 1 member",
            ),
            (
                Operation::RenameTeam {
                    source_id: "g".into(),
                    penvio_id: "t".into(),
                    old_name: "Eng".into(),
                    new_name: "R&D".into(),
                },
                "  ~ rename team \"Eng\" → \"R&D\"\n",
                "rename team \"Eng\" → \"R&D\"",
            ),
            (
                Operation::RemoveMembers {
                    team: "g".into(),
                    penvio_id: "t".into(),
                    team_name: "Eng".into(),
                    members: vec!["1".into()],
                    foreign_members: vec!["x".into()],
                },
                "  - remove 2 members from team Eng\n",
                "remove 2 members from team Eng",
            ),
        ];
        for (operation, listed, described) in table {
            assert_eq!(render_operation(&operation), listed);
            assert_eq!(describe(&operation), described);
        }
    }

    #[test]
    fn a_failed_run_renders_only_its_error() {
        let mut report = RunReport::new("main", "main-1".into(), "sync", false, 0);
        report.fail("the source is down".into());
        assert_eq!(
            render_report(&report),
            "Connection main — sync\n  FAILED: the source is down\n"
        );
    }
}
