//! TLS for https, pops, imaps and ldaps: like ldirectord's
//! `verify_hostname => 0` intent, any certificate is accepted: the real's
//! certificate names the virtual service, and health is not authentication.
//! An https check of a virtual with lvsd.toml's `ca_file` verifies instead:
//! the chain must lead to that CA and the certificate must be valid for the
//! name the check asked for (`virtualhost`, else the real's address).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::check::CheckError;
use crate::model::CaBundle;

#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Client configuration that accepts any server certificate.
pub fn client_config() -> Arc<ClientConfig> {
    static CFG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CFG.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map(|b| {
                b.dangerous()
                    .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
                    .with_no_client_auth()
            });
        match cfg {
            Ok(mut c) => {
                // Every check does a full handshake: resuming a session (one
                // cache for all reals that share an address) proves less.
                c.resumption = rustls::client::Resumption::disabled();
                Arc::new(c)
            }
            // The ring provider always supports the default versions.
            Err(e) => unreachable!("ring provider rejected default TLS versions: {e}"),
        }
    })
    .clone()
}

/// Most CA bundles whose client configurations are kept (one per distinct
/// `ca_file` content; cleared when a long run of reloads exceeds it).
const MAX_CA_CONFIGS: usize = 64;

/// A client configuration that trusts only the certificates of `ca` (the
/// system's roots play no part: the operator named the CA).
fn verifying_config(ca: &CaBundle) -> Result<Arc<ClientConfig>, CheckError> {
    type Cache = Mutex<HashMap<Arc<[u8]>, Arc<ClientConfig>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(c) = cache.lock().ok().and_then(|m| m.get(&ca.pem).cloned()) {
        return Ok(c);
    }
    let bad = |m: String| CheckError::Config(format!("ca_file {}: {m}", ca.path.display()));
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_slice_iter(&ca.pem).filter_map(Result::ok);
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(bad("no usable CA certificate".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // As for unverified checks: each check proves a full handshake.
    cfg.resumption = rustls::client::Resumption::disabled();
    let cfg = Arc::new(cfg);
    if let Ok(mut m) = cache.lock() {
        if m.len() >= MAX_CA_CONFIGS {
            m.clear();
        }
        m.insert(ca.pem.clone(), cfg.clone());
    }
    Ok(cfg)
}

/// The TLS name of a host as written in `virtualhost` or a URL:
/// `name`, `name:port`, an address, `[v6]` or `[v6]:port`. None when it is
/// neither a DNS name nor an address.
pub fn server_name(host: &str) -> Option<ServerName<'static>> {
    let h = host.trim();
    let h = if let Some(r) = h.strip_prefix('[') {
        r.split(']').next()?
    } else if h.matches(':').count() == 1 {
        h.split(':').next()?
    } else {
        h
    };
    ServerName::try_from(h.to_string()).ok()
}

/// TLS handshake of an https check: SNI `name` (a DNS name; an address
/// sends none, as LWP for an IP URL); with `ca`, the certificate must
/// chain to it and be valid for `name`, else the check fails saying why.
pub async fn connect_https<S>(
    tcp: S,
    name: ServerName<'static>,
    ca: Option<&CaBundle>,
) -> Result<TlsStream<S>, CheckError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(ca) = ca else {
        return connect_named(tcp, name).await;
    };
    let shown = name.to_str().into_owned();
    TlsConnector::from(verifying_config(ca)?)
        .connect(name, tcp)
        .await
        .map_err(|e| {
            if let Some(n) = crate::check::limit::is_too_long(&e) {
                return CheckError::TooLong(n);
            }
            match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                Some(rustls::Error::InvalidCertificate(c)) => CheckError::Mismatch(format!(
                    "certificate of {shown} rejected against ca_file {}: {}",
                    ca.path.display(),
                    cert_reason(c)
                )),
                _ => CheckError::Protocol(format!("TLS handshake failed: {e}")),
            }
        })
}

/// A short, stable reason for a rejected certificate.
fn cert_reason(e: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match e {
        C::UnknownIssuer => "not issued by a trusted CA (unknown issuer)".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => "not valid for this name".into(),
        C::Expired | C::ExpiredContext { .. } => "expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "not valid yet".into(),
        C::BadSignature => "bad signature".into(),
        other => format!("{other:?}"),
    }
}

/// TLS handshake over `tcp`; SNI is the real's address (as LWP sends for an IP URL).
pub async fn connect<S>(tcp: S, real: IpAddr) -> Result<TlsStream<S>, CheckError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    connect_named(tcp, ServerName::IpAddress(real.into())).await
}

/// TLS handshake with an explicit server name.
pub async fn connect_named<S>(tcp: S, name: ServerName<'static>) -> Result<TlsStream<S>, CheckError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    TlsConnector::from(client_config())
        .connect(name, tcp)
        .await
        .map_err(|e| match crate::check::limit::is_too_long(&e) {
            Some(n) => CheckError::TooLong(n),
            None => CheckError::Protocol(format!("TLS handshake failed: {e}")),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_from_virtualhost_forms() {
        let dns = |s: &str| ServerName::try_from(s.to_string()).unwrap();
        assert_eq!(server_name("www.example.com"), Some(dns("www.example.com")));
        assert_eq!(
            server_name("www.example.com:8443"),
            Some(dns("www.example.com"))
        );
        assert_eq!(server_name("192.0.2.7"), Some(dns("192.0.2.7")));
        assert!(matches!(
            server_name("[2001:db8::1]:443"),
            Some(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("2001:db8::1"),
            Some(ServerName::IpAddress(_))
        ));
        assert_eq!(server_name("bad name"), None);
        assert_eq!(server_name(""), None);
    }

    #[test]
    fn a_bundle_without_a_usable_certificate_is_a_config_error() {
        let ca = CaBundle {
            path: "/x/ca.pem".into(),
            pem: Arc::from(
                &b"-----BEGIN CERTIFICATE-----\nMAoGCCqGSM49BAMC\n-----END CERTIFICATE-----\n"[..],
            ),
        };
        let e = verifying_config(&ca).unwrap_err().to_string();
        assert_eq!(
            e,
            "configuration: ca_file /x/ca.pem: no usable CA certificate"
        );
    }
}
