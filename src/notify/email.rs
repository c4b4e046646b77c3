//! E-mail alerts over SMTP through `lettre`: STARTTLS (required) for
//! `smtp://`, TLS from the first byte for `smtps://`, opportunistic STARTTLS
//! only for a relay on loopback. Credentials go only over TLS, except to
//! that loopback relay.

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{EmailConfig, SmtpSecurity};

use super::event::Alert;
use super::failure::{DeliveryError, REQUEST_TIMEOUT};
use super::payload;

/// Sends `alert` as a plain-text e-mail to every recipient of `config`.
pub async fn send(config: &EmailConfig, alert: &Alert) -> Result<(), DeliveryError> {
    let message = build_message(config, alert)?;
    let transport = transport(config)?;
    match transport.send(message).await {
        Ok(_) => Ok(()),
        Err(error) if error.is_permanent() => Err(DeliveryError::Permanent(smtp_error(&error))),
        Err(error) => Err(DeliveryError::Transient(smtp_error(&error))),
    }
}

fn build_message(config: &EmailConfig, alert: &Alert) -> Result<Message, DeliveryError> {
    let invalid = |what: &str| DeliveryError::Permanent(format!("invalid {what} address"));
    let mut builder = Message::builder()
        .from(
            config
                .from
                .parse::<Mailbox>()
                .map_err(|_| invalid("from"))?,
        )
        .subject(payload::email_subject(alert))
        .header(ContentType::TEXT_PLAIN);
    for to in &config.to {
        builder = builder.to(to.parse::<Mailbox>().map_err(|_| invalid("to"))?);
    }
    builder
        .body(payload::email_body(alert))
        .map_err(|error| DeliveryError::Permanent(format!("cannot build the e-mail: {error}")))
}

fn transport(config: &EmailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, DeliveryError> {
    let tls_parameters = || {
        TlsParameters::new(config.host.clone())
            .map_err(|error| DeliveryError::Permanent(format!("TLS setup failed: {error}")))
    };
    let tls = match config.security {
        SmtpSecurity::ImplicitTls => Tls::Wrapper(tls_parameters()?),
        SmtpSecurity::StartTls => Tls::Required(tls_parameters()?),
        SmtpSecurity::LoopbackOpportunistic => Tls::Opportunistic(tls_parameters()?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
        .port(config.port)
        .tls(tls)
        .timeout(Some(REQUEST_TIMEOUT));
    if let (Some(username), Some(password)) = (&config.username, &config.password) {
        builder = builder.credentials(Credentials::new(
            username.clone(),
            password.expose().to_owned(),
        ));
    }
    Ok(builder.build())
}

/// An SMTP error and its causes as text (they name the server's reply, never
/// the password).
fn smtp_error(error: &lettre::transport::smtp::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
