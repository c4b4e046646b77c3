//! The vendor kit: the plumbing every HTTP adapter shares, so an adapter
//! keeps only what is vendor-specific (its URLs, wire types, statuses and
//! advice). A new vendor is one folder under `src/source/`, one config file
//! and one arm in [`super::build`].
//!
//! - [`http`]: the paced, retrying, capped HTTP client and authenticators;
//! - [`token`]: the one OAuth token-endpoint path (on the `oauth2` crate)
//!   and the token cache;
//! - [`paging`]: the [`paging::Pager`] trait and its one `list_all`;
//! - [`encode`]: percent-encoding of URLs and forms.

pub mod encode;
pub mod http;
pub mod paging;
pub mod token;
