//! TLS for `wss://` (security profiles 2 and 3): which server certificate to trust and,
//! for profile 3, the station's own client certificate.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Builds the client TLS configuration: trust the CA certificates in `ca_pem` (the CSMS's
/// server certificate or its issuer), and present `client` (certificate chain file, key
/// file) when given.
pub fn client_config(
    ca_pem: &Path,
    client: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_pem)
        .map_err(|e| format!("cannot read {}: {e}", ca_pem.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("cannot parse {}: {e}", ca_pem.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{} is not a usable trust anchor: {e}", ca_pem.display()))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|c| c.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    format!("cannot read the client certificate {}: {e}", cert.display())
                })?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("cannot read the client key {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("the client certificate and key do not fit: {e}"))?
        }
    };
    Ok(Arc::new(config))
}
