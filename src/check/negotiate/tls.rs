//! TLS for https, pops, imaps and ldaps: like ldirectord's
//! `verify_hostname => 0` intent, any certificate is accepted: the real's
//! certificate names the virtual service, and health is not authentication.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::check::CheckError;

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
