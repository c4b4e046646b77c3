//! `penvio-sync check`: validate the config, say what each connection will
//! do, and with `--connectivity` authenticate to every source and target.

use clap::Args;

use crate::config::{self, Config, ConnectionConfig, SourceConfig};
use crate::report::exit::{EXIT_OK, EXIT_RUN_FAILED};
use crate::scim::client::ScimError;
use crate::source;
use crate::sync::target_client;

/// Options of `check`.
#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    /// Also authenticate to every source and target.
    #[arg(long)]
    pub connectivity: bool,
}

fn describe_connection(connection: &ConnectionConfig) -> String {
    let source = match &connection.source {
        SourceConfig::Scim(scim) => {
            format!("SCIM server {}", crate::http::redact_url(&scim.base_url))
        }
        SourceConfig::File(file) => format!("file {}", file.path.display()),
        SourceConfig::Okta(okta) => format!("Okta org {}", crate::http::redact_url(&okta.base_url)),
        SourceConfig::Entra(entra) => format!("Microsoft Entra tenant {}", entra.tenant_id),
        SourceConfig::OneLogin(onelogin) => {
            format!(
                "OneLogin account {}",
                crate::http::redact_url(&onelogin.base_url)
            )
        }
        SourceConfig::JumpCloud(jc) => {
            format!("JumpCloud {}", crate::http::redact_url(&jc.base_url))
        }
        SourceConfig::PingOne(p1) => format!("PingOne environment {}", p1.environment_id),
        SourceConfig::Google(google) => format!("Google Workspace as {}", google.admin_email),
        SourceConfig::Ldap(ldap) => format!("LDAP directory {} ({})", ldap.url, ldap.base_dn),
    };
    let users = if connection.scope.user_groups.is_empty() {
        "all users".to_string()
    } else {
        format!("members of {}", connection.scope.user_groups.join(", "))
    };
    let teams: Vec<&str> = connection
        .scope
        .team_groups
        .iter()
        .map(|p| p.as_str())
        .collect();
    let policy = &connection.policy;
    let removal = match policy.on_user_removed {
        config::OnUserRemoved::Deactivate => match policy.delete_deactivated_after {
            Some(after) => format!(
                "deactivated, deleted {} later",
                humantime::format_duration(after)
            ),
            None => "deactivated".to_string(),
        },
        config::OnUserRemoved::Delete => "deleted".to_string(),
    };
    format!(
        "{name}: on schedule '{schedule}' (UTC), reads {users} from the {source}; groups matching [{teams}] become teams; writes to {target} at most {rps} requests/s; removed users are {removal}; guard: at most {deact} deactivations and {del} deletions per run",
        name = connection.name,
        schedule = connection.schedule,
        teams = teams.join(", "),
        target = crate::http::redact_url(&connection.target.url),
        rps = connection.target.requests_per_second,
        deact = policy.max_deactivations,
        del = policy.max_deletions,
    )
}

/// Validates (loading the config did), describes, and optionally reaches
/// every connection; the exit code.
pub(super) async fn run(config: &Config, args: &CheckArgs) -> i32 {
    println!("{}: configuration is valid.", config.path.display());
    println!("  state: {}", config.state_dir.display());
    if let Some(warning) = state_dir_warning(config) {
        println!("  warning: {warning}");
    }
    if let Some(token) = &config.listen_token {
        println!("  listen_token: {}", token.fingerprint());
    }
    let mut code = EXIT_OK;
    for (index, connection) in config.connections.iter().enumerate() {
        println!("  {}", describe_connection(connection));
        println!(
            "    credentials (fingerprints): {}",
            credential_fingerprints(connection).join(", ")
        );
        if args.connectivity && !check_connectivity(connection, index).await {
            code = EXIT_RUN_FAILED;
        }
    }
    for notification in &config.notifications {
        println!("  {}", notification.describe());
    }
    code
}

/// Each secret of the connection as `key fingerprint`, the target's first.
fn credential_fingerprints(connection: &ConnectionConfig) -> Vec<String> {
    let mut credentials = vec![format!(
        "target.token {}",
        connection.target.token.fingerprint()
    )];
    credentials.extend(
        connection
            .source
            .secrets()
            .into_iter()
            .map(|(key, secret)| format!("{key} {}", secret.fingerprint())),
    );
    credentials
}

/// Authenticates to the connection's source and to Penvio, printing one
/// line for each; whether both succeeded.
async fn check_connectivity(connection: &ConnectionConfig, index: usize) -> bool {
    let source = match source::build(connection, index) {
        Ok(source) => source.check().await.map_err(|error| error.to_string()),
        Err(error) => Err(error.to_string()),
    };
    let source_ok = match source {
        Ok(()) => {
            println!("    source: reachable, credentials accepted");
            true
        }
        Err(error) => {
            println!("    source: FAILED: {error}");
            false
        }
    };
    let target = match target_client(connection, index) {
        Ok(client) => client.check_access().await.map_err(|error| match error {
            ScimError::Unauthorized { status, key, .. } => format!(
                "token rejected ({status}) — it may have been regenerated; update {key} (the configured token has fingerprint {})",
                connection.target.token.fingerprint()
            ),
            other => other.to_string(),
        }),
        Err(error) => Err(error.to_string()),
    };
    match target {
        Ok(()) => {
            println!("    Penvio: reachable, token accepted");
            source_ok
        }
        Err(error) => {
            println!("    Penvio: FAILED: {error}");
            false
        }
    }
}

/// Why this command and the packaged daemon may use different state
/// directories (then the CLI would not see that the daemon holds the state,
/// and would sync beside it from a snapshot of its own).
fn state_dir_warning(config: &Config) -> Option<String> {
    let packaged = std::path::Path::new(config::PACKAGED_STATE_DIR);
    if config.state_dir_configured || config.state_dir == packaged {
        return None;
    }
    Some(format!(
        "state_dir is not set: this command uses {}, but the packaged daemon uses {} ($STATE_DIRECTORY); set state_dir so both use the same state",
        config.state_dir.display(),
        packaged.display()
    ))
}
