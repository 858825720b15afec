//! The listener's TLS configuration (security profiles 2 and 3): rustls with TLS 1.2 and
//! 1.3 only (A00.FR.312; rustls has no TLS compression, A00.FR.320), the operator's server
//! certificate, and optional client certificates verified against the CA that signs
//! station CSRs plus any extra client CAs. A client certificate is optional at the TLS
//! layer (profile-2 stations send none); whether a station needed one is the handshake's
//! decision (`ocpulse_core::admission`).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;

/// Builds the acceptor. `ca_pem` is the certificate of the CA that signs station CSRs
/// (absent with `--no-ca`): stations it issued certificates to can use them at profile 3.
pub fn acceptor(files: &TlsFiles, ca_pem: Option<&str>) -> anyhow::Result<TlsAcceptor> {
    let chain = read_certs(&files.cert, "server certificate")?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("cannot read the TLS key {}", files.key.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots
                .add(cert.context("cannot read the station CA certificate")?)
                .context("the station CA certificate is not a usable trust anchor")?;
        }
    }
    if let Some(path) = &files.client_ca {
        for cert in read_certs(path, "client CA")? {
            roots
                .add(cert)
                .with_context(|| format!("{} is not a usable trust anchor", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS 1.2/1.3 with the ring provider")?;
    let builder = if roots.is_empty() {
        tracing::warn!(
            "no CA for station client certificates (--no-ca and no --tls-client-ca): security profile 3 is unavailable"
        );
        builder.with_no_client_auth()
    } else {
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .allow_unauthenticated()
            .build()
            .context("cannot build the client certificate verifier")?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .context("the TLS certificate and key do not form a usable pair")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_certs(path: &Path, what: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read the {what} {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot parse the {what} {}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("the {what} file {} holds no certificate", path.display());
    }
    Ok(certs)
}
