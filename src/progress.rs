//! Progress bars for fetch and apply, shown only on a terminal.
//!
//! Under systemd, in CI or with JSON logs the bars are hidden and the same
//! information goes to the logs, so output stays machine-readable.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress indicator that may be hidden; cloning shares the bar.
#[derive(Clone, Default)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A hidden indicator (tests, daemon, non-terminal stderr).
    pub fn hidden() -> Self {
        Progress { bar: None }
    }

    /// A spinner with a message, shown on stderr when `visible`.
    pub fn spinner(visible: bool, message: &str) -> Self {
        if !visible {
            return Self::hidden();
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({pos} read, {elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { bar: Some(bar) }
    }

    /// A bar of `total` steps, shown on stderr when `visible`.
    pub fn bar(visible: bool, total: u64, message: &str) -> Self {
        if !visible {
            return Self::hidden();
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(message.to_string());
        Progress { bar: Some(bar) }
    }

    /// Advances by `n` records or operations.
    pub fn advance(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Changes the message (e.g. the resource being read).
    pub fn message(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_string());
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
