//! Which alerts to send: one per (channel, connection, event) until the
//! connection recovers, then one `recovered`. The state is kept in
//! `state_dir/notify-state.json` so a restart neither repeats an alert nor
//! forgets one that is open. Pure apart from [`DedupState::load`]/[`DedupState::save`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{AlertEvent, NotificationConfig};

/// The file name of the state, in `state_dir`.
pub const STATE_FILE: &str = "notify-state.json";
/// Largest state file read (a few entries per connection and channel).
const MAX_STATE_BYTES: u64 = 1 << 20;

/// Open alerts and the last success of each connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupState {
    /// channel → connection → events sent and not yet recovered.
    #[serde(default)]
    pub open: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// connection → unix seconds of its last successful run.
    #[serde(default)]
    pub last_success: BTreeMap<String, i64>,
    /// connection → unix seconds it was first watched (the stale baseline
    /// of a connection that never succeeded).
    #[serde(default)]
    pub first_seen: BTreeMap<String, i64>,
}

/// One alert to deliver: a channel (by index in the config) and an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Index of the channel in `notifications`.
    pub channel: usize,
    /// The event to send.
    pub event: AlertEvent,
}

impl DedupState {
    /// The path of the state file in `state_dir`.
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(STATE_FILE)
    }

    /// Reads the state; a missing, oversized or unreadable file starts
    /// afresh (at worst one alert is repeated).
    pub fn load(path: &Path) -> Self {
        let too_big = std::fs::metadata(path).is_ok_and(|m| m.len() > MAX_STATE_BYTES);
        if too_big {
            return Self::default();
        }
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Writes the state (owner-only, atomically).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::private_file::write_private(path, &bytes)
    }

    /// Starts watching `connection` at `now` (the stale baseline); returns
    /// whether it is new (the state changed).
    pub fn watch(&mut self, connection: &str, now: i64) -> bool {
        if self.first_seen.contains_key(connection) {
            return false;
        }
        self.first_seen.insert(connection.to_owned(), now);
        true
    }

    /// The alerts a run outcome raises: `Ok(())` closes every open alert of
    /// the connection (one `recovered` per channel that had one), `Err(e)`
    /// opens `e` on each channel that wants it and has not sent it yet.
    pub fn on_run(
        &mut self,
        channels: &[NotificationConfig],
        connection: &str,
        result: Result<(), AlertEvent>,
        finished_at: i64,
    ) -> Vec<Decision> {
        let mut decisions = Vec::new();
        for (index, channel) in channels.iter().enumerate() {
            let open = self
                .open
                .entry(channel.name.clone())
                .or_default()
                .entry(connection.to_owned())
                .or_default();
            match result {
                Ok(()) => {
                    if !open.is_empty() && channel.wants(AlertEvent::Recovered, connection) {
                        decisions.push(Decision {
                            channel: index,
                            event: AlertEvent::Recovered,
                        });
                    }
                    open.clear();
                }
                Err(event) => {
                    if channel.wants(event, connection) && open.insert(event.as_str().to_owned()) {
                        decisions.push(Decision {
                            channel: index,
                            event,
                        });
                    }
                }
            }
        }
        if result.is_ok() {
            self.last_success.insert(connection.to_owned(), finished_at);
        }
        self.prune();
        decisions
    }

    /// The `stale` alerts due at `now`: a connection whose last success (or,
    /// if none, the time it was first watched) is older than the channel's
    /// `stale_after` (`default_after` of the connection when unset).
    pub fn on_stale_check(
        &mut self,
        channels: &[NotificationConfig],
        connections: &[(String, Duration)],
        now: i64,
    ) -> Vec<(Decision, String)> {
        let mut due = Vec::new();
        for (index, channel) in channels.iter().enumerate() {
            for (connection, default_after) in connections {
                if !channel.wants(AlertEvent::Stale, connection) {
                    continue;
                }
                let after = channel.stale_after.unwrap_or(*default_after);
                let Some(since) = self
                    .last_success
                    .get(connection)
                    .or_else(|| self.first_seen.get(connection))
                    .copied()
                else {
                    continue;
                };
                let age = u64::try_from(now.saturating_sub(since)).unwrap_or(0);
                if age < after.as_secs() {
                    continue;
                }
                let open = self
                    .open
                    .entry(channel.name.clone())
                    .or_default()
                    .entry(connection.clone())
                    .or_default();
                if open.insert(AlertEvent::Stale.as_str().to_owned()) {
                    let decision = Decision {
                        channel: index,
                        event: AlertEvent::Stale,
                    };
                    due.push((decision, connection.clone()));
                }
            }
        }
        self.prune();
        due
    }

    /// Drops empty entries so the file stays small.
    fn prune(&mut self) {
        for connections in self.open.values_mut() {
            connections.retain(|_, events| !events.is_empty());
        }
        self.open.retain(|_, connections| !connections.is_empty());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::config::{Channel, Secret};

    fn channel(name: &str, events: &[AlertEvent]) -> NotificationConfig {
        NotificationConfig {
            name: name.into(),
            channel: Channel::Slack {
                url: Secret::new("https://x".into()),
            },
            events: events.iter().copied().collect(),
            stale_after: None,
            connections: Vec::new(),
        }
    }

    #[test]
    fn one_alert_per_event_until_recovered_then_one_recovered() {
        let channels = [channel("a", &AlertEvent::ALL)];
        let mut state = DedupState::default();
        let failed = Err(AlertEvent::RunFailed);
        assert_eq!(state.on_run(&channels, "c", failed, 1).len(), 1);
        assert!(state.on_run(&channels, "c", failed, 2).is_empty());
        let held = state.on_run(&channels, "c", Err(AlertEvent::HeldBack), 3);
        assert_eq!(held[0].event, AlertEvent::HeldBack);
        let recovered = state.on_run(&channels, "c", Ok(()), 4);
        assert_eq!(
            recovered,
            vec![Decision {
                channel: 0,
                event: AlertEvent::Recovered
            }]
        );
        assert!(state.on_run(&channels, "c", Ok(()), 5).is_empty());
        assert_eq!(state.on_run(&channels, "c", failed, 6).len(), 1);
    }

    #[test]
    fn channels_get_only_the_events_they_want() {
        let channels = [
            channel("all", &AlertEvent::ALL),
            channel("failures", &[AlertEvent::RunFailed]),
        ];
        let mut state = DedupState::default();
        let partial = state.on_run(&channels, "c", Err(AlertEvent::Partial), 1);
        assert_eq!(partial.iter().map(|d| d.channel).collect::<Vec<_>>(), [0]);
        let recovered = state.on_run(&channels, "c", Ok(()), 2);
        assert_eq!(recovered.iter().map(|d| d.channel).collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn stale_fires_once_after_the_threshold_and_recovers() {
        let channels = [channel("a", &AlertEvent::ALL)];
        let mut state = DedupState::default();
        state.watch("c", 100);
        let watched = [("c".to_owned(), Duration::from_secs(60))];
        assert!(state.on_stale_check(&channels, &watched, 159).is_empty());
        assert_eq!(state.on_stale_check(&channels, &watched, 160).len(), 1);
        assert!(state.on_stale_check(&channels, &watched, 500).is_empty());
        assert_eq!(state.on_run(&channels, "c", Ok(()), 501).len(), 1);
        assert!(state.on_stale_check(&channels, &watched, 560).is_empty());
    }

    #[test]
    fn the_state_survives_a_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = DedupState::path(dir.path());
        let channels = [channel("a", &AlertEvent::ALL)];
        let mut state = DedupState::default();
        state.on_run(&channels, "c", Err(AlertEvent::RunFailed), 1);
        state.save(&path).unwrap();
        let mut loaded = DedupState::load(&path);
        assert_eq!(loaded, state);
        assert!(
            loaded
                .on_run(&channels, "c", Err(AlertEvent::RunFailed), 2)
                .is_empty()
        );
    }
}
