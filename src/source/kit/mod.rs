//! The vendor kit: the plumbing every HTTP adapter shares, so an adapter
//! keeps only what is vendor-specific (its URLs, wire types, statuses and
//! advice). A new vendor is one folder under `src/source/`, one config file
//! and one arm in [`super::build`].
//!
//! - [`http`]: the paced, retrying, capped HTTP client and authenticators;
//! - [`token`]: the one OAuth token-endpoint path (on the `oauth2` crate)
//!   and the token cache; [`assertion`]: signed `private_key_jwt` assertions;
//! - [`paging`]: the [`paging::Pager`] trait and its one `list_all`;
//! - [`records`]: reading listing records, skipping an unreadable one with
//!   a reason; [`values`]: the text, attribute and member-list readers the
//!   adapters share;
//! - [`encode`]: percent-encoding of URLs and forms.

pub mod assertion;
pub mod encode;
pub mod http;
pub mod paging;
pub mod records;
pub mod token;
pub mod values;

/// The [`http::SourceConnection`] of an adapter config: `connection!(KIND,
/// config, index)`. A macro because the configs are distinct types that
/// share these field names.
macro_rules! connection {
    ($kind:expr, $config:expr, $index:expr) => {
        $crate::source::kit::http::SourceConnection {
            kind: $kind,
            source_key: format!("connections[{}].source", $index),
            timeout: $config.timeout,
            ca: $config.ca_file.clone(),
            proxy: $config.proxy.clone(),
            limits: $config.limits,
            requests_per_second: $config.requests_per_second,
        }
    };
}
pub(crate) use connection;
