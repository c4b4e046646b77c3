//! The human form of a run report, as `sync`, `plan`, the demo and the
//! daemon's text answers print it.

use std::collections::BTreeMap;

use crate::plan::{Operation, RemovalReason};
use crate::sync::RunReport;

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

/// The human form of a run report (also used by the demo).
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
    if report.dry_run {
        if report.operations.is_empty() {
            out.push_str("  No changes: Penvio is up to date.\n");
        }
        for operation in &report.operations {
            out.push_str(&render_operation(operation));
        }
        out.push_str(&format!("  Plan: {}\n", counts_line(&report.planned)));
    } else {
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

fn render_operation(operation: &Operation) -> String {
    let reason = |reason: &RemovalReason| match reason {
        RemovalReason::InactiveInSource => "inactive in the source",
        RemovalReason::RemovedFromSource => "removed from the source or scope",
        RemovalReason::RetentionExpired => "deactivated longer than delete_deactivated_after",
    };
    match operation {
        Operation::CreateUser { attributes, .. } => {
            format!("  + create user {}\n", attributes.user_name)
        }
        Operation::ReactivateUser {
            attributes,
            changes,
            ..
        }
        | Operation::UpdateUser {
            attributes,
            changes,
            ..
        } => {
            let verb = if matches!(operation, Operation::ReactivateUser { .. }) {
                "reactivate"
            } else {
                "update"
            };
            let mut text = format!("  ~ {verb} user {}\n", attributes.user_name);
            for change in changes {
                text.push_str(&format!(
                    "      {}: {:?} → {:?}\n",
                    change.path, change.old, change.new
                ));
            }
            text
        }
        Operation::DeactivateUser {
            attributes,
            reason: why,
            ..
        } => {
            format!(
                "  - deactivate user {} ({})\n",
                attributes.user_name,
                reason(why)
            )
        }
        Operation::DeleteUser {
            user_name,
            reason: why,
            ..
        } => {
            format!("  - delete user {user_name} ({})\n", reason(why))
        }
        Operation::CreateTeam { name, members, .. } => {
            format!(
                "  + create team {name} with {}\n",
                crate::plural::count(members.len(), "member")
            )
        }
        Operation::RenameTeam {
            old_name, new_name, ..
        } => {
            format!("  ~ rename team {old_name:?} → {new_name:?}\n")
        }
        Operation::AddMembers {
            team_name, members, ..
        } => {
            format!(
                "  + add {} to team {team_name}\n",
                crate::plural::count(members.len(), "member")
            )
        }
        Operation::RemoveMembers {
            team_name,
            members,
            foreign_members,
            ..
        } => format!(
            "  - remove {} from team {team_name}\n",
            crate::plural::count(members.len() + foreign_members.len(), "member")
        ),
        Operation::DeleteTeam { name, .. } => format!("  - delete team {name}\n"),
    }
}
