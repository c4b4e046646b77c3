//! `source.type: ldap`: an LDAP directory (Active Directory, OpenLDAP,
//! FreeIPA/389-DS or any other) read with a read-only service account.
//!
//! `flavor` sets a default for every other key (filters, id and name
//! attributes, how a disabled account looks), so an AD or OpenLDAP setup
//! needs only the URL, the bind account and the base DN.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;

use super::reader::{Ctx, DEFAULT_TIMEOUT, Field, MapReader};
use super::secret::Secret;
use super::source_limits::ListingLimits;

/// The `flavor` values, for messages and the schema.
pub const LDAP_FLAVORS: &[&str] = &["active_directory", "openldap", "freeipa", "generic"];
/// Entries per page by default: AD's MaxPageSize is 1000 and slapd's default
/// size limit 500, so 500 works unchanged against both.
const DEFAULT_PAGE_SIZE: u64 = 500;
/// Largest page accepted (AD caps pages at its MaxPageSize, 1000 by default;
/// other servers may allow more).
const MAX_PAGE_SIZE: u64 = 10_000;

/// Which kind of directory server, deciding the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdapFlavor {
    /// Microsoft Active Directory (or Samba AD): objectGUID ids,
    /// userAccountControl and accountExpires, range retrieval.
    ActiveDirectory,
    /// OpenLDAP slapd: entryUUID ids, inetOrgPerson users, groupOfNames,
    /// groupOfUniqueNames and posixGroup groups.
    OpenLdap,
    /// FreeIPA / 389-DS: ipaUniqueID ids, `cn=accounts` layout, nsAccountLock.
    FreeIpa,
    /// Any other LDAPv3 server: entryUUID ids, no disabled-account rule.
    Generic,
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdapTransport {
    /// `ldaps://`: TLS from the first byte.
    Ldaps,
    /// `ldap://` upgraded with StartTLS before the bind (`starttls: true`).
    StartTls,
    /// Plain `ldap://`, allowed only to a loopback address.
    PlainLoopback,
}

/// Attribute names the adapter reads (`attributes:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapAttributes {
    /// The immutable id (`objectGUID`, `entryUUID`, `ipaUniqueID`,
    /// `nsUniqueId`); never a DN, which changes on rename or move.
    pub id: String,
    /// The email, which becomes the Penvio user name.
    pub email: String,
    /// First name.
    pub given_name: String,
    /// Last name.
    pub family_name: String,
    /// Display name.
    pub display_name: String,
    /// A group's name (the team name).
    pub group_name: String,
    /// The login name `posixGroup` `memberUid` values refer to.
    pub login: String,
}

/// An LDAP directory as a source (`type: ldap`).
#[derive(Debug, Clone)]
pub struct LdapSourceConfig {
    /// Which server kind the defaults were taken for.
    pub flavor: LdapFlavor,
    /// `ldaps://host[:port]` or `ldap://host[:port]`.
    pub url: Url,
    /// TLS mode derived from `url` and `starttls`.
    pub transport: LdapTransport,
    /// The service account's DN (or, for AD, `user@domain`).
    pub bind_dn: String,
    /// Its password (`bind_password` or `bind_password_file`).
    pub bind_password: Secret,
    /// Extra trusted CAs (the directory's own CA), added to the system roots.
    pub ca_file: Option<super::CaBundle>,
    /// The naming context, e.g. `dc=example,dc=com`.
    pub base_dn: String,
    /// Where users are searched (subtree); defaults to `base_dn`.
    pub user_base: String,
    /// Where groups are searched (subtree); defaults to `base_dn`.
    pub group_base: String,
    /// Which entries are users.
    pub user_filter: String,
    /// Which entries are groups.
    pub group_filter: String,
    /// Users matching this filter (and `user_filter`) are inactive; `None`:
    /// only the flavor's own rule (AD userAccountControl/accountExpires,
    /// FreeIPA nsAccountLock).
    pub disabled_filter: Option<String>,
    /// Attribute names.
    pub attributes: LdapAttributes,
    /// Longest wait for one answer (connect, bind, each page).
    pub timeout: Duration,
    /// Entries per page (RFC 2696 paged results).
    pub page_size: u32,
    /// Whether referrals to other servers are chased (never by default: the
    /// bind password would go to a server the config does not name).
    pub follow_referrals: bool,
    /// Most pages one search may take (`max_pages`); `max_wait` and
    /// `max_body` do not apply to LDAP.
    pub limits: ListingLimits,
}

/// The defaults a flavor gives every key that is not set.
struct FlavorDefaults {
    user_filter: &'static str,
    group_filter: &'static str,
    disabled_filter: Option<&'static str>,
    id: &'static str,
    login: &'static str,
    /// Relative to `base_dn` (empty: `base_dn` itself).
    user_base: &'static str,
    group_base: &'static str,
}

impl LdapFlavor {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "active_directory" => Some(LdapFlavor::ActiveDirectory),
            "openldap" => Some(LdapFlavor::OpenLdap),
            "freeipa" => Some(LdapFlavor::FreeIpa),
            "generic" => Some(LdapFlavor::Generic),
            _ => None,
        }
    }

    fn defaults(self) -> FlavorDefaults {
        match self {
            LdapFlavor::ActiveDirectory => FlavorDefaults {
                // objectClass=user alone matches computers, objectCategory=person
                // alone contacts: both are needed.
                user_filter: "(&(objectCategory=person)(objectClass=user))",
                group_filter: "(objectClass=group)",
                disabled_filter: None,
                id: "objectGUID",
                login: "sAMAccountName",
                user_base: "",
                group_base: "",
            },
            LdapFlavor::OpenLdap => FlavorDefaults {
                user_filter: "(objectClass=inetOrgPerson)",
                group_filter: "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))",
                // OpenLDAP has no standard "disabled" flag; the ppolicy
                // overlay's lock is the closest common one.
                disabled_filter: Some("(pwdAccountLockedTime=*)"),
                id: "entryUUID",
                login: "uid",
                user_base: "",
                group_base: "",
            },
            LdapFlavor::FreeIpa => FlavorDefaults {
                user_filter: "(objectClass=inetOrgPerson)",
                group_filter: "(|(objectClass=groupOfNames)(objectClass=posixGroup))",
                disabled_filter: None,
                id: "ipaUniqueID",
                login: "uid",
                user_base: "cn=users,cn=accounts",
                group_base: "cn=groups,cn=accounts",
            },
            LdapFlavor::Generic => FlavorDefaults {
                user_filter: "(objectClass=inetOrgPerson)",
                group_filter: "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))",
                disabled_filter: None,
                id: "entryUUID",
                login: "uid",
                user_base: "",
                group_base: "",
            },
        }
    }
}

/// Decodes the keys of a `type: ldap` source mapping.
pub(super) fn decode_ldap(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>) -> Option<LdapSourceConfig> {
    let flavor = decode_flavor(ctx, map);
    let defaults = flavor.unwrap_or(LdapFlavor::Generic).defaults();
    let transport = decode_url(ctx, map);
    let bind_dn = map
        .require(ctx, "bind_dn")
        .and_then(|f| ctx.non_empty_string(&f))
        .map(|s| s.trim().to_owned());
    let bind_password = ctx.secret(map, "bind_password", true).flatten();
    let ca_file = ctx.ca_file(map);
    let base_dn = map
        .require(ctx, "base_dn")
        .and_then(|f| ctx.non_empty_string(&f))
        .map(|s| s.trim().to_owned());
    let user_base = decode_base(
        ctx,
        map,
        "user_base",
        defaults.user_base,
        base_dn.as_deref(),
    );
    let group_base = decode_base(
        ctx,
        map,
        "group_base",
        defaults.group_base,
        base_dn.as_deref(),
    );
    let user_filter = decode_filter(ctx, map, "user_filter", defaults.user_filter);
    let group_filter = decode_filter(ctx, map, "group_filter", defaults.group_filter);
    let disabled_filter = match map.get("disabled_filter") {
        // An empty value turns the flavor's default rule off.
        Some(field) => match ctx.string(&field) {
            Some(text) if text.trim().is_empty() => Some(None),
            Some(text) => check_filter(ctx, &field, text.trim()).map(Some),
            None => None,
        },
        None => Some(defaults.disabled_filter.map(str::to_owned)),
    };
    let attributes = decode_attributes(ctx, map, &defaults);
    let timeout = match map.get("timeout") {
        Some(field) => ctx.duration(&field, true),
        None => Some(DEFAULT_TIMEOUT),
    };
    let page_size = match map.get("page_size") {
        Some(field) => ctx.integer(&field, 1..=MAX_PAGE_SIZE),
        None => Some(DEFAULT_PAGE_SIZE),
    };
    let follow_referrals = map
        .get("follow_referrals")
        .map_or(Some(false), |field| ctx.boolean(&field));
    let max_pages = match map.get("max_pages") {
        Some(field) => ctx.integer(&field, 1..=u64::MAX),
        None => Some(ListingLimits::default().max_pages),
    };
    let (url, transport) = transport?;
    Some(LdapSourceConfig {
        flavor: flavor?,
        url,
        transport,
        bind_dn: bind_dn?,
        bind_password: bind_password?,
        ca_file: ca_file?,
        base_dn: base_dn?,
        user_base: user_base?,
        group_base: group_base?,
        user_filter: user_filter?,
        group_filter: group_filter?,
        disabled_filter: disabled_filter?,
        attributes: attributes?,
        timeout: timeout?,
        page_size: u32::try_from(page_size?).ok()?,
        follow_referrals: follow_referrals?,
        limits: ListingLimits {
            max_pages: max_pages?,
            ..ListingLimits::default()
        },
    })
}

fn decode_flavor(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>) -> Option<LdapFlavor> {
    let field = map.require(ctx, "flavor")?;
    let text = ctx.string(&field)?;
    let flavor = LdapFlavor::parse(text.trim());
    if flavor.is_none() {
        ctx.field_problem(
            &field,
            format!("must be one of: {}", LDAP_FLAVORS.join(", ")),
        );
    }
    flavor
}

/// `url` and `starttls`: ldaps://, ldap:// with StartTLS, or plain ldap://
/// to loopback only (like every other endpoint).
fn decode_url(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>) -> Option<(Url, LdapTransport)> {
    let field = map.require(ctx, "url");
    let starttls = map.get("starttls").map_or(Some(false), |f| ctx.boolean(&f));
    let field = field?;
    let text = ctx.non_empty_string(&field)?;
    match check_ldap_url(text.trim(), starttls?) {
        Ok(pair) => Some(pair),
        Err(message) => {
            ctx.field_problem(&field, message);
            None
        }
    }
}

/// Checks an LDAP URL against the TLS rule; public for the unit tests.
pub(super) fn check_ldap_url(text: &str, starttls: bool) -> Result<(Url, LdapTransport), String> {
    let url = Url::parse(text).map_err(|error| {
        format!("is not a valid URL ({error}); write it like ldaps://dc1.corp.example.com")
    })?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("names no host (write it like ldaps://dc1.corp.example.com)".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials (use bind_dn and bind_password)".to_owned());
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(
            "must be only scheme, host and port (set the search base with base_dn)".to_owned(),
        );
    }
    match (url.scheme(), starttls) {
        ("ldaps", false) => Ok((url, LdapTransport::Ldaps)),
        ("ldaps", true) => {
            Err("is ldaps:// (already TLS): remove starttls, or use ldap:// with starttls: true".to_owned())
        }
        ("ldap", true) => Ok((url, LdapTransport::StartTls)),
        ("ldap", false) if is_loopback(&url) => Ok((url, LdapTransport::PlainLoopback)),
        ("ldap", false) => Err(
            "must be ldaps:// (or ldap:// with starttls: true): the bind password must not cross the network in clear; plain ldap:// is allowed only for loopback addresses".to_owned(),
        ),
        (other, _) => Err(format!("must be an ldaps:// or ldap:// URL, not {other}:")),
    }
}

fn is_loopback(url: &Url) -> bool {
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `user_base`/`group_base`: a full DN, or the flavor's default under `base_dn`.
fn decode_base(
    ctx: &mut Ctx<'_>,
    map: &mut MapReader<'_>,
    key: &str,
    default_relative: &str,
    base_dn: Option<&str>,
) -> Option<String> {
    match map.get(key) {
        Some(field) => ctx.non_empty_string(&field).map(|s| s.trim().to_owned()),
        None => {
            let base = base_dn?;
            Some(if default_relative.is_empty() {
                base.to_owned()
            } else {
                format!("{default_relative},{base}")
            })
        }
    }
}

fn decode_filter(
    ctx: &mut Ctx<'_>,
    map: &mut MapReader<'_>,
    key: &str,
    default: &str,
) -> Option<String> {
    match map.get(key) {
        Some(field) => {
            let text = ctx.non_empty_string(&field)?;
            check_filter(ctx, &field, text.trim())
        }
        None => Some(default.to_owned()),
    }
}

/// A filter the LDAP library can encode (RFC 4515 syntax, parenthesised).
fn check_filter(ctx: &mut Ctx<'_>, field: &Field<'_>, text: &str) -> Option<String> {
    if text.starts_with('(') && ldap3::parse_filter(text).is_ok() {
        Some(text.to_owned())
    } else {
        ctx.field_problem(
            field,
            "is not a valid LDAP filter (RFC 4515, in parentheses, like (objectClass=inetOrgPerson))",
        );
        None
    }
}

fn decode_attributes(
    ctx: &mut Ctx<'_>,
    map: &mut MapReader<'_>,
    defaults: &FlavorDefaults,
) -> Option<LdapAttributes> {
    let field = map.get("attributes");
    let path = map.child_path("attributes");
    let mut attrs = MapReader::open(ctx, field.as_ref().map(|f| f.node), &path)?;
    let mut name = |ctx: &mut Ctx<'_>, key: &str, default: &str| match attrs.get(key) {
        Some(field) => {
            let text = ctx.non_empty_string(&field)?;
            let text = text.trim();
            if text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                Some(text.to_owned())
            } else {
                ctx.field_problem(&field, "must be an attribute name like mail or givenName");
                None
            }
        }
        None => Some(default.to_owned()),
    };
    let id = name(ctx, "id", defaults.id);
    let email = name(ctx, "email", "mail");
    let given_name = name(ctx, "given_name", "givenName");
    let family_name = name(ctx, "family_name", "sn");
    let display_name = name(ctx, "display_name", "displayName");
    let group_name = name(ctx, "group_name", "cn");
    let login = name(ctx, "login", defaults.login);
    attrs.finish(ctx);
    Some(LdapAttributes {
        id: id?,
        email: email?,
        given_name: given_name?,
        family_name: family_name?,
        display_name: display_name?,
        group_name: group_name?,
        login: login?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::path::Path;

    use crate::config::{MemoryEnvironment, SourceConfig, load_str};

    use super::*;

    fn load(source: &str) -> Result<LdapSourceConfig, String> {
        let text = format!(
            "state_dir: /tmp/x\nconnections:\n  - name: ldap\n    source: {source}\n    target: {{url: https://penvio.io/api/scim/v2/org, token: t}}\n"
        );
        let env = MemoryEnvironment::default().with_file("/etc/penvio-sync/ldap-password", "pw\n");
        match load_str(&text, Path::new("/tmp/penvio-sync.yaml"), &env) {
            Ok(config) => match config.connections.into_iter().next().unwrap().source {
                SourceConfig::Ldap(ldap) => Ok(*ldap),
                other => panic!("not ldap: {other:?}"),
            },
            Err(error) => Err(error.to_string()),
        }
    }

    const AD: &str = "{type: ldap, flavor: active_directory, url: 'ldaps://dc1.corp.example.com', bind_dn: 'svc@corp.example.com', bind_password: hunter2, base_dn: 'DC=corp,DC=example,DC=com'}";

    #[test]
    fn active_directory_defaults() {
        let config = load(AD).unwrap();
        assert_eq!(config.flavor, LdapFlavor::ActiveDirectory);
        assert_eq!(config.transport, LdapTransport::Ldaps);
        assert_eq!(config.attributes.id, "objectGUID");
        assert_eq!(config.attributes.login, "sAMAccountName");
        assert_eq!(
            config.user_filter,
            "(&(objectCategory=person)(objectClass=user))"
        );
        assert_eq!(config.user_base, "DC=corp,DC=example,DC=com");
        assert_eq!(config.disabled_filter, None);
        assert_eq!(config.page_size, 500);
        assert!(!config.follow_referrals);
        assert!(
            !format!("{config:?}").contains("hunter2"),
            "password redacted"
        );
    }

    #[test]
    fn openldap_and_freeipa_defaults() {
        let openldap = load("{type: ldap, flavor: openldap, url: 'ldap://ldap.example.com', starttls: true, bind_dn: 'cn=svc,dc=example,dc=com', bind_password_file: /etc/penvio-sync/ldap-password, base_dn: 'dc=example,dc=com'}").unwrap();
        assert_eq!(openldap.transport, LdapTransport::StartTls);
        assert_eq!(openldap.attributes.id, "entryUUID");
        assert_eq!(openldap.bind_password.expose(), "pw");
        assert_eq!(
            openldap.disabled_filter.as_deref(),
            Some("(pwdAccountLockedTime=*)")
        );
        let ipa = load("{type: ldap, flavor: freeipa, url: 'ldaps://ipa.example.com', bind_dn: 'uid=svc,cn=sysaccounts,cn=etc,dc=example,dc=com', bind_password: p, base_dn: 'dc=example,dc=com'}").unwrap();
        assert_eq!(ipa.attributes.id, "ipaUniqueID");
        assert_eq!(ipa.user_base, "cn=users,cn=accounts,dc=example,dc=com");
        assert_eq!(ipa.group_base, "cn=groups,cn=accounts,dc=example,dc=com");
    }

    #[test]
    fn keys_override_the_flavor() {
        let config = load("{type: ldap, flavor: generic, url: 'ldap://127.0.0.1:3890', bind_dn: 'cn=r', bind_password: p, base_dn: 'o=x', user_base: 'ou=staff,o=x', user_filter: '(objectClass=person)', disabled_filter: '(employeeType=gone)', attributes: {id: nsUniqueId, email: userPrincipalName}, page_size: 100, timeout: 5s, follow_referrals: true}").unwrap();
        assert_eq!(config.transport, LdapTransport::PlainLoopback);
        assert_eq!(config.user_base, "ou=staff,o=x");
        assert_eq!(config.group_base, "o=x");
        assert_eq!(config.user_filter, "(objectClass=person)");
        assert_eq!(
            config.disabled_filter.as_deref(),
            Some("(employeeType=gone)")
        );
        assert_eq!(config.attributes.id, "nsUniqueId");
        assert_eq!(config.attributes.email, "userPrincipalName");
        assert_eq!(config.attributes.given_name, "givenName");
        assert_eq!(config.page_size, 100);
        assert_eq!(config.timeout, Duration::from_secs(5));
        assert!(config.follow_referrals);
        let none = load("{type: ldap, flavor: openldap, url: 'ldap://[::1]', bind_dn: 'cn=r', bind_password: p, base_dn: 'o=x', disabled_filter: ''}").unwrap();
        assert_eq!(none.disabled_filter, None, "empty turns the rule off");
    }

    #[test]
    fn the_commented_example_in_the_example_config_validates() {
        let example = include_str!("../../config/penvio-sync.example.yaml");
        let block: Vec<String> = example
            .lines()
            .skip_while(|line| !line.starts_with("  # - name: ldap-prod"))
            .take_while(|line| line.starts_with("  #"))
            .map(|line| line.replacen("# ", "", 1))
            .collect();
        assert!(block.len() > 10, "the example has an LDAP connection");
        let text = format!("state_dir: /tmp/x\nconnections:\n{}\n", block.join("\n"));
        let env = MemoryEnvironment::default()
            .with_file("/etc/penvio-sync/ldap-password", "pw\n")
            .with_file("/tmp/penvio-token", "penvio-secret\n");
        let config = load_str(&text, Path::new("/tmp/penvio-sync.yaml"), &env)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let SourceConfig::Ldap(ldap) = &config.connections[0].source else {
            panic!()
        };
        assert_eq!(ldap.flavor, LdapFlavor::ActiveDirectory);
        assert_eq!(ldap.user_base, "OU=Staff,DC=corp,DC=example,DC=com");
        assert_eq!(ldap.bind_password.expose(), "pw");
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        let base = "type: ldap, bind_dn: 'cn=r', bind_password: p, base_dn: 'o=x'";
        let cases = [
            (
                format!("{{{base}, flavor: openldap, url: 'ldap://ldap.example.com'}}"),
                "connections[0].source.url: must be ldaps://",
            ),
            (
                format!("{{{base}, flavor: openldap, url: 'ldaps://h', starttls: true}}"),
                "connections[0].source.url: is ldaps:// (already TLS)",
            ),
            (
                format!("{{{base}, flavor: openldap, url: 'https://h'}}"),
                "connections[0].source.url: must be an ldaps:// or ldap:// URL",
            ),
            (
                format!("{{{base}, flavor: openldap, url: 'ldaps://h/dc=x'}}"),
                "connections[0].source.url: must be only scheme, host and port",
            ),
            (
                format!("{{{base}, flavor: novell, url: 'ldaps://h'}}"),
                "connections[0].source.flavor: must be one of: active_directory, openldap",
            ),
            (
                format!("{{{base}, url: 'ldaps://h'}}"),
                "connections[0].source.flavor: is required",
            ),
            (
                format!("{{{base}, flavor: openldap, url: 'ldaps://h', user_filter: 'objectClass=person'}}"),
                "connections[0].source.user_filter: is not a valid LDAP filter",
            ),
            (
                format!("{{{base}, flavor: openldap, url: 'ldaps://h', group_filter: '(&(cn=a)'}}"),
                "connections[0].source.group_filter: is not a valid LDAP filter",
            ),
            (
                format!("{{{base}, flavor: openldap, url: 'ldaps://h', attributes: {{id: 'entry UUID'}}}}"),
                "connections[0].source.attributes.id: must be an attribute name",
            ),
            (
                format!("{{{base}, flavor: openldap, url: 'ldaps://h', attributes: {{uid: x}}}}"),
                "connections[0].source.attributes.uid: unknown key",
            ),
            (
                format!("{{{base}, flavor: openldap, url: 'ldaps://h', page_size: 0}}"),
                "connections[0].source.page_size: must be between 1 and 10000",
            ),
            (
                "{type: ldap, flavor: openldap, url: 'ldaps://h', base_dn: 'o=x', bind_dn: 'cn=r'}".to_owned(),
                "connections[0].source.bind_password: is required",
            ),
            (
                "{type: ldap, flavor: openldap, url: 'ldaps://h', bind_password: p, bind_dn: 'cn=r'}".to_owned(),
                "connections[0].source.base_dn: is required",
            ),
        ];
        for (source, expected) in cases {
            let error = load(&source).unwrap_err();
            assert!(error.contains(expected), "{source}\n→ {error}");
            assert!(
                error.contains("/tmp/penvio-sync.yaml"),
                "names the file: {error}"
            );
        }
    }
}
