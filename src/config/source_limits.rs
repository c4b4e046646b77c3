//! Bounds on what a source's server can make a run do: how long it may ask
//! us to wait, how many pages a listing may take and how large one answer
//! may be (invariant 11). Every HTTP source reads the same keys.

use std::time::Duration;

use super::reader::{Ctx, Field, MapReader};

/// Longest server-directed wait honoured by default: OneLogin's rate window
/// is an hour, so a reset header up to that is legitimate.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(3600);
/// Most pages one listing may take by default: 10 million records at 100 a
/// page, far beyond any directory, yet a server that pages forever stops.
pub const DEFAULT_MAX_PAGES: u64 = 100_000;
/// Largest response body of one page by default (64 MiB).
pub const DEFAULT_MAX_BODY: u64 = 64 * 1024 * 1024;
/// Smallest `max_body` accepted: a page must fit at least an error message.
const MIN_MAX_BODY: u64 = 1024;

/// The bounds of one source's listings (`max_wait`, `max_pages`, `max_body`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListingLimits {
    /// Longest `Retry-After` or rate-limit reset honoured; a server asking
    /// for more fails the request at once instead of stalling the run.
    pub max_wait: Duration,
    /// Most pages (requests) one listing may take.
    pub max_pages: u64,
    /// Largest response body of one request, in bytes, enforced while reading.
    pub max_body: u64,
}

impl Default for ListingLimits {
    fn default() -> Self {
        ListingLimits {
            max_wait: DEFAULT_MAX_WAIT,
            max_pages: DEFAULT_MAX_PAGES,
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

/// Reads `max_wait`, `max_pages` and `max_body` from a source mapping.
pub(super) fn decode_limits(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>) -> Option<ListingLimits> {
    let defaults = ListingLimits::default();
    let max_wait = match map.get("max_wait") {
        Some(field) => ctx.duration(&field, false),
        None => Some(defaults.max_wait),
    };
    let max_pages = match map.get("max_pages") {
        Some(field) => ctx.integer(&field, 1..=u64::MAX),
        None => Some(defaults.max_pages),
    };
    let max_body = match map.get("max_body") {
        Some(field) => decode_size(ctx, &field),
        None => Some(defaults.max_body),
    };
    Some(ListingLimits {
        max_wait: max_wait?,
        max_pages: max_pages?,
        max_body: max_body?,
    })
}

/// A size in bytes: a whole number, or one with a unit (`64MiB`, `512KiB`,
/// `1GiB`, `10MB`).
fn decode_size(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<u64> {
    let parsed = match &field.node.value {
        super::raw::Value::Int(number) => u64::try_from(*number).ok(),
        super::raw::Value::String(text) => parse_size(text),
        _ => None,
    };
    match parsed {
        Some(size) if size >= MIN_MAX_BODY => Some(size),
        Some(_) => {
            ctx.problem(
                &field.path,
                field.node.location,
                format!("must be at least {MIN_MAX_BODY} bytes"),
            );
            None
        }
        None => {
            ctx.problem(
                &field.path,
                field.node.location,
                "must be a size in bytes, or with a unit like \"64MiB\", \"512KiB\" or \"1GiB\"",
            );
            None
        }
    }
}

/// Parses `64MiB`-style sizes (binary and decimal units, case-insensitive).
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    number.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        let cases = [
            ("1024", Some(1024)),
            ("64MiB", Some(64 << 20)),
            ("64 mib", Some(64 << 20)),
            ("512KiB", Some(512 << 10)),
            ("1GiB", Some(1 << 30)),
            ("10MB", Some(10_000_000)),
            ("5 parsecs", None),
            ("MiB", None),
            ("99999999999999999999GiB", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_size(text), expected, "{text}");
        }
    }
}
