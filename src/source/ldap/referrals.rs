//! `follow_referrals: true`: entries the server says live elsewhere
//! (continuation references below the base, or a referral answering for the
//! whole base) are read from the server named, one hop, with the same
//! account and TLS rules (ldaps://, StartTLS when the source uses it, plain
//! only to loopback). Off by default: the bind password would go to a
//! server the config does not name, and continuation references are then
//! ignored (AD's `DomainDnsZones` under a domain root hold no users).
//! Limitation: the rest of a ranged `member` of a group read through a
//! referral is asked of the first server, which fails the run clearly
//! rather than reading it incompletely.

use std::collections::HashSet;
use std::net::IpAddr;

use ldap3::Ldap;
use reqwest::Url;

use super::KIND;
use super::connect;
use super::decode::Entry;
use super::errors::Keys;
use super::members::normalize_dn;
use super::search::{Pager, SearchSpec, failed, search_all};
use crate::config::{LdapSourceConfig, LdapTransport};
use crate::source::SourceError;

/// Most referrals one search may send us to.
const MAX_REFERRALS: usize = 32;

/// Which search this is, for messages: what it reads and its keys.
pub(super) struct Purpose<'a> {
    /// E.g. "reading users".
    pub what: &'a str,
    /// The key of its base (`user_base`).
    pub base_key: &'a str,
    /// The key of its filter (`user_filter`).
    pub filter_key: &'a str,
}

fn fetch_error(message: String) -> SourceError {
    SourceError::Fetch {
        source_kind: KIND,
        message,
    }
}

/// Runs a paged search and, with `follow_referrals`, the same search at
/// every server it refers to; entries are unique by DN.
pub(super) async fn search_following(
    ldap: &mut Ldap,
    config: &LdapSourceConfig,
    spec: &SearchSpec<'_>,
    pager: &Pager<'_>,
    keys: &Keys,
    purpose: &Purpose<'_>,
) -> Result<Vec<Entry>, SourceError> {
    let fail = |e| failed(e, purpose.what, purpose.base_key, purpose.filter_key, keys);
    let listing = search_all(ldap, spec, pager).await.map_err(fail)?;
    let mut entries = listing.entries;
    if !config.follow_referrals || listing.referrals.is_empty() {
        return Ok(entries);
    }
    if listing.referrals.len() > MAX_REFERRALS {
        return Err(fetch_error(format!(
            "{}: the server referred to {} other servers (at most {MAX_REFERRALS} are followed); narrow `{}`",
            purpose.what,
            listing.referrals.len(),
            keys.key(purpose.base_key)
        )));
    }
    let mut seen: HashSet<String> = entries.iter().map(|e| normalize_dn(&e.dn)).collect();
    let one_hop = Pager {
        follow_referrals: false,
        ..*pager
    };
    for referral in &listing.referrals {
        let (target, base) = referred(referral, config, keys)?;
        let mut other = connect::open(&target, keys).await?;
        let spec = SearchSpec {
            base: base.as_deref().unwrap_or(spec.base),
            ..*spec
        };
        let found = search_all(&mut other, &spec, &one_hop).await;
        let _ = other.unbind().await;
        let what = format!("{} at {referral} (a referral)", purpose.what);
        let found =
            found.map_err(|e| failed(e, &what, purpose.base_key, purpose.filter_key, keys))?;
        for entry in found.entries {
            if seen.insert(normalize_dn(&entry.dn)) {
                entries.push(entry);
            }
        }
    }
    Ok(entries)
}

/// The source settings for a referred server, and the base it names.
fn referred(
    referral: &str,
    config: &LdapSourceConfig,
    keys: &Keys,
) -> Result<(LdapSourceConfig, Option<String>), SourceError> {
    let refuse = |why: &str| {
        fetch_error(format!(
            "not following the referral to {referral}: {why} (`{}`)",
            keys.key("follow_referrals")
        ))
    };
    let url = Url::parse(referral).map_err(|_| refuse("not an LDAP URL"))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| refuse("no host"))?;
    let transport = match url.scheme() {
        "ldaps" => LdapTransport::Ldaps,
        "ldap" if config.transport == LdapTransport::StartTls => LdapTransport::StartTls,
        "ldap" if is_loopback(host) => LdapTransport::PlainLoopback,
        "ldap" => {
            return Err(refuse(
                "plain ldap:// would send the bind password in clear (the source does not use StartTLS)",
            ));
        }
        _ => return Err(refuse("not an ldap:// or ldaps:// URL")),
    };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let server = Url::parse(&format!("{}://{host}{port}", url.scheme()))
        .map_err(|_| refuse("not an LDAP URL"))?;
    let base = ldap3::get_url_params(&url)
        .ok()
        .map(|params| params.base.into_owned())
        .filter(|base| !base.is_empty());
    Ok((
        LdapSourceConfig {
            url: server,
            transport,
            ..config.clone()
        },
        base,
    ))
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
