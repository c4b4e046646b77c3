//! Running commands through the daemon when it holds the state file.
//!
//! redb lets one process open the state, and while the service runs that is
//! the daemon. An admin should never have to stop it to run a sync, a plan
//! for review or a reviewed plan: those commands are sent to the daemon's
//! local endpoint and print the same output and exit with the same code as
//! a local run would.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::{Value, json};

use super::exit::{combine_apply_exit_codes, combine_exit_codes};
use super::plan_file::{PlannedRun, write_plan_file};
use crate::config::{Config, ConnectionConfig, Secret};
use crate::daemon::api::{
    self, ApplyQuery, EXIT_CODE_HEADER, ExplainQuery, FORMAT_JSON, MODE_INCREMENTAL, NOTHING_NAMED,
    SyncQuery,
};
use crate::report::exit::{EXIT_OK, EXIT_RUN_FAILED};
use crate::reviewed::ReviewedPlan;

/// The daemon's address as a client reaches it (a wildcard listen address
/// is reached on loopback).
fn daemon_address(listen: SocketAddr) -> SocketAddr {
    let mut address = listen;
    if address.ip().is_unspecified() {
        address.set_ip(match address.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    address
}

/// The daemon's endpoint, as the config describes it.
pub(super) struct Daemon {
    address: SocketAddr,
    client: reqwest::Client,
    /// `listen_token`, else the token the daemon generated in `state_dir`.
    token: Option<Secret>,
}

/// What the daemon said to one request.
enum Answer {
    /// The run happened: its exit code and report (text or JSON).
    Ran { code: i32, body: String },
    /// It did not run; why was printed. The exit code to use.
    Refused(i32),
}

impl Daemon {
    /// Connects to the daemon holding the state (said on stderr). `Err` is
    /// the exit code; why was printed.
    pub(super) fn connect(config: &Config) -> Result<Self, i32> {
        let address = daemon_address(config.listen);
        eprintln!("The daemon holds the state; running through it at {address}.");
        let token = match crate::daemon::token::client_token(config) {
            Ok(token) => token,
            Err(error) => {
                eprintln!("Cannot read the daemon's API token: {error}");
                return Err(EXIT_RUN_FAILED);
            }
        };
        // Runs of the largest directories take hours; the daemon answers
        // when the run ends. Never through a proxy: the token stays local.
        match crate::http::build_direct_client(std::time::Duration::from_secs(6 * 3600)) {
            Ok(client) => Ok(Daemon {
                address,
                client,
                token,
            }),
            Err(error) => {
                eprintln!("cannot reach the daemon: {error}");
                Err(EXIT_RUN_FAILED)
            }
        }
    }

    /// A POST to the API: every POST carries JSON (the daemon refuses others).
    fn post(&self, url: String) -> reqwest::RequestBuilder {
        self.client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
    }

    /// The URL of `route` (an [`api`] route) for `connection`.
    fn url(&self, route: &str, connection: &str) -> String {
        format!(
            "http://{}{}",
            self.address,
            api::connection_path(route, connection)
        )
    }

    /// Sends `request` with the token; `Err` (with the exit code, said why)
    /// when no daemon answered at all, so the caller stops there. Answers
    /// the status, the run's exit code header if any, and the body.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Option<i32>, String), i32> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                eprintln!(
                    "The state is in use by another process, and no daemon answered at {}: {}",
                    self.address,
                    crate::http::describe_error(&error)
                );
                return Err(EXIT_RUN_FAILED);
            }
        };
        let status = response.status().as_u16();
        let code = response
            .headers()
            .get(EXIT_CODE_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i32>().ok());
        let body = response.text().await.unwrap_or_default();
        Ok((status, code, body))
    }

    /// Sends a run about `connection` (see [`Daemon::send`]) and says why
    /// when it did not run.
    async fn ask(&self, request: reqwest::RequestBuilder, connection: &str) -> Result<Answer, i32> {
        let (status, code, body) = self.send(request).await?;
        Ok(match (status, code) {
            (200, Some(code)) => Answer::Ran { code, body },
            (409, _) => {
                eprintln!(
                    "{connection}: a run is already in progress in the daemon; try again when it ends."
                );
                Answer::Refused(EXIT_RUN_FAILED)
            }
            (401, _) => {
                eprintln!("{UNAUTHORIZED}");
                Answer::Refused(EXIT_RUN_FAILED)
            }
            (other, _) => {
                eprintln!("{connection}: the daemon answered {other}: {}", body.trim());
                Answer::Refused(EXIT_RUN_FAILED)
            }
        })
    }
}

/// What to do when the daemon refuses the token.
const UNAUTHORIZED: &str = "The daemon refused the request: run as a user who can read the listen_token file in state_dir, or set listen_token in the config to the daemon's token.";

/// Prints collected JSON reports as a local run does: one report alone, or
/// `{"connections": [...]}`.
fn print_json_reports(mut reports: Vec<Value>) {
    let value = if reports.len() == 1 {
        reports.remove(0)
    } else {
        json!({ "connections": reports })
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    );
}

impl Daemon {
    /// `sync`, `plan` and `reconcile` through the daemon: `query` (the same
    /// for every selected connection) says which run and which output.
    pub(super) async fn run(
        &self,
        query: &SyncQuery,
        selected: &[(usize, &ConnectionConfig)],
    ) -> i32 {
        let json = query.format.as_deref() == Some(FORMAT_JSON);
        let mut codes = Vec::new();
        let mut reports = Vec::new();
        for (_, connection) in selected {
            let request = self
                .post(self.url(api::SYNC, &connection.name))
                .query(query)
                .body("{}");
            match self.ask(request, &connection.name).await {
                Err(code) => return code,
                Ok(Answer::Refused(code)) => codes.push(code),
                Ok(Answer::Ran { code, body }) => {
                    if json {
                        reports.push(serde_json::from_str::<Value>(&body).unwrap_or_default());
                    } else {
                        print!("{body}");
                    }
                    codes.push(code);
                }
            }
        }
        if json {
            print_json_reports(reports);
        }
        combine_exit_codes(&codes)
    }

    /// `plan --out FILE` through the daemon: a dry run of each connection
    /// there, written as the plan file a local `plan --out` writes.
    pub(super) async fn plan(
        &self,
        selected: &[(usize, &ConnectionConfig)],
        json: bool,
        out: &Path,
    ) -> i32 {
        let query = SyncQuery {
            mode: Some(MODE_INCREMENTAL.to_string()),
            dry_run: true,
            format: Some(FORMAT_JSON.to_string()),
            ..SyncQuery::default()
        };
        let mut plans = Vec::new();
        let mut reports = Vec::new();
        let mut codes = Vec::new();
        for (_, connection) in selected {
            let request = self
                .post(self.url(api::SYNC, &connection.name))
                .query(&query)
                .body("{}");
            let body = match self.ask(request, &connection.name).await {
                Err(code) => return code,
                Ok(Answer::Refused(code)) => {
                    eprintln!("No plan written to {}.", out.display());
                    return code;
                }
                Ok(Answer::Ran { code, body }) => {
                    codes.push(code);
                    body
                }
            };
            let planned = match read_planned_run(&connection.name, &body, out) {
                Ok(planned) => planned,
                Err(code) => return code,
            };
            plans.push(planned.into_connection_plan(connection.name.clone()));
            if json {
                reports.push(serde_json::from_str::<Value>(&body).unwrap_or_default());
            }
        }
        if json {
            print_json_reports(reports);
        }
        if let Err(code) = write_plan_file(out, plans) {
            return code;
        }
        combine_exit_codes(&codes)
    }

    /// `apply PLAN` through the daemon: each connection's part of the plan
    /// is applied there, onto the generation it was computed against.
    pub(super) async fn apply(
        &self,
        reviewed: &ReviewedPlan,
        allow_deletions: bool,
        json: bool,
    ) -> i32 {
        let query = ApplyQuery {
            allow_deletions,
            format: Some(api::format(json).to_string()),
        };
        let mut codes = Vec::new();
        let mut reports = Vec::new();
        for entry in &reviewed.connections {
            let request = self
                .post(self.url(api::APPLY, &entry.connection))
                .query(&query)
                .json(entry);
            match self.ask(request, &entry.connection).await {
                Err(code) => return code,
                Ok(Answer::Refused(code)) => codes.push(code),
                Ok(Answer::Ran { code, body }) => {
                    if json {
                        reports.push(serde_json::from_str::<Value>(&body).unwrap_or_default());
                    } else {
                        print!("{body}");
                    }
                    codes.push(code);
                }
            }
        }
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({ "connections": reports }))
                    .unwrap_or_default()
            );
        }
        combine_apply_exit_codes(&codes)
    }

    /// `explain SUBJECT` through the daemon, which fetches the directory and
    /// reads the snapshot it holds. `Ok` says whether any connection knew
    /// the subject, and the exit code so far; `Err` is the final exit code.
    pub(super) async fn explain(
        &self,
        selected: &[(usize, &ConnectionConfig)],
        subject: &str,
    ) -> Result<(bool, i32), i32> {
        let query = ExplainQuery {
            subject: subject.to_string(),
        };
        let mut found = false;
        let mut code = EXIT_OK;
        for (_, connection) in selected {
            let request = self
                .client
                .get(self.url(api::EXPLAIN, &connection.name))
                .query(&query);
            let (status, _, body) = self.send(request).await?;
            match status {
                200 => {
                    found = true;
                    println!("Connection {}:", connection.name);
                    print!("{body}");
                }
                // Nothing by that name in this connection.
                404 if body.contains(NOTHING_NAMED) => {}
                401 => {
                    eprintln!("{UNAUTHORIZED}");
                    return Err(EXIT_RUN_FAILED);
                }
                429 => {
                    eprintln!(
                        "{}: another explain is in progress in the daemon; try again in a few seconds.",
                        connection.name
                    );
                    code = EXIT_RUN_FAILED;
                }
                other => {
                    eprintln!(
                        "{}: the daemon answered {other}: {}",
                        connection.name,
                        body.trim()
                    );
                    code = EXIT_RUN_FAILED;
                }
            }
        }
        Ok((found, code))
    }
}

/// The plan in the daemon's JSON report of a dry run of `connection`, or
/// the exit code (said why: nothing is written to `out`).
fn read_planned_run(connection: &str, body: &str, out: &Path) -> Result<PlannedRun, i32> {
    let planned: PlannedRun = match serde_json::from_str(body) {
        Ok(planned) => planned,
        Err(error) => {
            eprintln!(
                "{connection}: the daemon's report cannot be read ({error}); no plan written to {}.",
                out.display()
            );
            return Err(EXIT_RUN_FAILED);
        }
    };
    if let Some(error) = &planned.error {
        eprintln!("{connection}: {error}");
        eprintln!("No plan written to {}: a run failed.", out.display());
        return Err(EXIT_RUN_FAILED);
    }
    eprintln!(
        "{connection}: {} operations planned, {} held back by the guard (snapshot generation {}).",
        planned.operations.len(),
        planned.held_back.len(),
        planned.snapshot_generation
    );
    Ok(planned)
}
