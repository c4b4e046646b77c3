//! Opening a connection: TCP (+ TLS for `ldaps://`, or StartTLS before the
//! bind), the system's trusted roots plus `ca_file`, then a simple bind as
//! the service account. Every step is bounded by `timeout`.

use std::sync::Arc;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::KIND;
use super::errors::{Keys, bind_refused, connection_problem};
use crate::config::{CaBundle, LdapSourceConfig, LdapTransport};
use crate::source::SourceError;

/// The TLS client settings: the system roots plus the CAs of `ca_file`
/// (never replacing them), on the aws-lc-rs provider the agent uses.
fn tls_config(
    ca: Option<&CaBundle>,
    keys: &Keys,
) -> Result<Arc<rustls::ClientConfig>, SourceError> {
    let setup = |message: String| SourceError::Setup {
        source_kind: KIND,
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A system root rustls cannot parse is skipped, as ldap3 does.
        let _ = roots.add(cert);
    }
    if let Some(ca) = ca {
        for cert in CertificateDer::pem_slice_iter(&ca.pem) {
            let cert = cert.map_err(|e| {
                setup(format!(
                    "`{}` ({}): {e}",
                    keys.key("ca_file"),
                    ca.path.display()
                ))
            })?;
            roots.add(cert).map_err(|e| {
                setup(format!(
                    "`{}` ({}): {e}",
                    keys.key("ca_file"),
                    ca.path.display()
                ))
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Connects and binds; the returned handle is ready for searches.
pub(super) async fn open(config: &LdapSourceConfig, keys: &Keys) -> Result<Ldap, SourceError> {
    let mut settings = LdapConnSettings::new().set_conn_timeout(config.timeout);
    if config.transport != LdapTransport::PlainLoopback {
        settings = settings.set_config(tls_config(config.ca_file.as_ref(), keys)?);
    }
    if config.transport == LdapTransport::StartTls {
        settings = settings.set_starttls(true);
    }
    let fetch_error = |message: String| SourceError::Fetch {
        source_kind: KIND,
        message,
    };
    let (connection, mut ldap) = LdapConnAsync::with_settings(settings, config.url.as_str())
        .await
        .map_err(|e| {
            fetch_error(format!(
                "cannot connect to {}: {}",
                config.url,
                connection_problem(&e, keys)
            ))
        })?;
    // The connection task ends when the last handle is dropped or unbinds.
    tokio::spawn(async move {
        if let Err(error) = connection.drive().await {
            tracing::debug!(%error, "LDAP connection ended with an error.");
        }
    });
    let result = ldap
        .with_timeout(config.timeout)
        .simple_bind(&config.bind_dn, config.bind_password.expose())
        .await
        .map_err(|e| {
            fetch_error(format!(
                "binding to {}: {}",
                config.url,
                connection_problem(&e, keys)
            ))
        })?;
    if result.rc != 0 {
        return Err(bind_refused(&result, &config.bind_dn, keys));
    }
    Ok(ldap)
}
