//! A small certificate authority for the CSMS.
//!
//! OCPP lets a charging station ask the central system to sign a key it generated itself:
//! `SignCertificate` in OCPP 2.0.1 and in the OCPP 1.6 security extension. The CSMS then
//! returns the certificate in `CertificateSigned`. This crate is the signing half of that
//! exchange, with no network I/O: it loads (or creates, for development) a CA, checks that a
//! station's PKCS#10 CSR is well-formed and really signed by the key it carries, and issues a
//! short leaf certificate for that key.
//!
//! ```no_run
//! # fn main() -> Result<(), ocpulse_ca::CaError> {
//! let ca = ocpulse_ca::CertificateAuthority::load_or_generate(std::path::Path::new("ca"))?;
//! # let csr_pem = "";
//! let signed = ca.sign_csr(csr_pem, 365)?;
//! println!("issued {} to {}", signed.serial_hex, signed.subject);
//! # Ok(()) }
//! ```

mod error;
#[doc(hidden)]
pub mod fuzzing;
mod pem;

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::error::X509Error;
use x509_parser::prelude::FromDer as _;
use x509_parser::x509::X509Name;

pub use error::CaError;

/// File name of the CA certificate inside the directory given to
/// [`CertificateAuthority::load_or_generate`].
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key inside the directory given to
/// [`CertificateAuthority::load_or_generate`].
pub const CA_KEY_FILE: &str = "ca.key";

/// How far back a leaf's notBefore is set, so stations whose clock runs a little behind
/// still accept the certificate at once.
const CLOCK_SKEW: Duration = Duration::minutes(5);
/// Validity of a development CA: long enough that nobody has to think about it.
const DEV_CA_VALIDITY: Duration = Duration::days(3650);
/// Common name of the CA that [`CertificateAuthority::load_or_generate`] creates.
const DEV_CA_COMMON_NAME: &str = "ocpulse development CA";

/// PEM labels under which stations send PKCS#10 requests.
const CSR_LABELS: [&str; 2] = ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"];

/// A CA certificate with its private key: what the CSMS needs to answer `SignCertificate`.
///
/// It is `Send + Sync`, so one instance can be shared (e.g. in an `Arc`) by all connections.
pub struct CertificateAuthority {
    /// rcgen's view of the CA: its subject, key identifier and signing key.
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM, exactly one block.
    cert_pem: String,
    /// Certificates above the CA (when it is an intermediate), PEM, appended to chains.
    chain_tail_pem: String,
    /// Human-readable subject of the CA, for logs.
    subject: String,
    /// End of the CA's own validity; leaves never outlive it.
    not_after: OffsetDateTime,
}

impl fmt::Debug for CertificateAuthority {
    // Written by hand so the private key can never end up in a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("subject", &self.subject)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// A certificate issued for a station, in the shapes the OCPP messages need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCertificate {
    /// The leaf certificate alone, PEM.
    pub certificate_pem: String,
    /// The leaf followed by the CA certificate (and the CA's own chain, if it has one), PEM:
    /// what `CertificateSigned.certificateChain` carries.
    pub chain_pem: String,
    /// The leaf's subject as issued, human readable, e.g. `CN=CP0001, O=Example CPO`.
    pub subject: String,
    /// The leaf's serial number, lowercase hex, to find it again in logs or for revocation.
    pub serial_hex: String,
    /// The end of the leaf's validity, RFC 3339 (UTC), so the CSMS can plan renewal.
    pub not_after: String,
}

impl CertificateAuthority {
    /// Loads an existing CA from its PEM certificate and its PKCS#8 PEM private key.
    ///
    /// ECDSA P-256/P-384, Ed25519 and RSA keys are accepted. If `cert_pem` holds several
    /// certificates, the first is the CA and the others are its chain, appended to every
    /// issued chain. The key must belong to the certificate.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Self, CaError> {
        let mut certs = pem::blocks(cert_pem)
            .map_err(CaError::CaCertificate)?
            .into_iter()
            .filter(|b| b.label == "CERTIFICATE");
        let ca_der = certs
            .next()
            .ok_or_else(|| CaError::CaCertificate("no PEM CERTIFICATE block found".into()))?
            .der;
        let chain_tail_pem: String = certs.map(|b| pem::encode("CERTIFICATE", &b.der)).collect();

        let (_, cert) = X509Certificate::from_der(&ca_der)
            .map_err(|e| CaError::CaCertificate(e.to_string()))?;
        if let Ok(Some(bc)) = cert.basic_constraints()
            && !bc.value.ca
        {
            return Err(CaError::NotACa);
        }

        let key = load_key(key_pem)?;
        if key.public_key_raw() != &*cert.public_key().subject_public_key.data {
            return Err(CaError::KeyMismatch);
        }

        let subject = cert.subject().to_string();
        let not_after = cert.validity().not_after.to_datetime();
        let issuer = Issuer::from_ca_cert_der(&ca_der.as_slice().into(), key)
            .map_err(|e| CaError::CaCertificate(e.to_string()))?;
        Ok(Self {
            issuer,
            cert_pem: pem::encode("CERTIFICATE", &ca_der),
            chain_tail_pem,
            subject,
            not_after,
        })
    }

    /// Creates a self-signed development CA with a fresh ECDSA P-256 key, valid ten years.
    ///
    /// It is a CA (basicConstraints cA=TRUE, pathLen 0: it signs stations, not other CAs)
    /// with key usage keyCertSign and cRLSign. Not for production: the key lives wherever
    /// the caller stores it.
    pub fn generate_dev(common_name: &str) -> Result<Self, CaError> {
        if common_name.trim().is_empty() {
            return Err(CaError::Generate("the CA common name is empty".into()));
        }
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| CaError::Generate(e.to_string()))?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = now - CLOCK_SKEW;
        params.not_after = now + DEV_CA_VALIDITY;
        params.serial_number = Some(random_serial()?);
        let cert = params
            .self_signed(&key)
            .map_err(|e| CaError::Generate(e.to_string()))?;
        // Going through `load` makes a fresh CA behave exactly like one read back from disk.
        Self::load(&cert.pem(), &key.serialize_pem())
    }

    /// Loads `dir/ca.pem` and `dir/ca.key`, or, when neither exists, generates a development
    /// CA and writes both (the key with mode 0600 on Unix) so that restarts keep the same CA
    /// and stations keep trusting it.
    ///
    /// If only one of the two files exists this fails rather than overwrite it.
    pub fn load_or_generate(dir: &Path) -> Result<Self, CaError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let exists = |path: &Path| {
            path.try_exists().map_err(|source| CaError::Io {
                action: "check",
                path: path.to_owned(),
                source,
            })
        };
        match (exists(&cert_path)?, exists(&key_path)?) {
            (true, true) => {
                let read = |path: &Path| {
                    fs::read_to_string(path).map_err(|source| CaError::Io {
                        action: "read",
                        path: path.to_owned(),
                        source,
                    })
                };
                Self::load(&read(&cert_path)?, &read(&key_path)?)
            }
            (true, false) => Err(CaError::IncompleteCaDir {
                present: cert_path,
                missing: key_path,
            }),
            (false, true) => Err(CaError::IncompleteCaDir {
                present: key_path,
                missing: cert_path,
            }),
            (false, false) => {
                fs::create_dir_all(dir).map_err(|source| CaError::Io {
                    action: "create directory",
                    path: dir.to_owned(),
                    source,
                })?;
                let ca = Self::generate_dev(DEV_CA_COMMON_NAME)?;
                // Key first: a crash in between leaves a lone key, which we refuse to
                // overwrite, rather than a certificate whose key is lost.
                write_file(dir, CA_KEY_FILE, &ca.issuer.key().serialize_pem(), true)?;
                write_file(dir, CA_CERT_FILE, &ca.cert_pem, false)?;
                Ok(ca)
            }
        }
    }

    /// The CA certificate, PEM: what stations install as their CSMS root / trust anchor.
    pub fn cert_pem(&self) -> String {
        self.cert_pem.clone()
    }

    /// Checks a station's CSR and issues a leaf certificate for its key, valid
    /// `validity_days` days from now (never beyond the CA's own expiry).
    ///
    /// The CSR may be PEM (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`) or bare
    /// base64 DER. Its self-signature must verify, which proves the station holds the private
    /// key. The certificate gets the CSR's subject and public key, a random serial,
    /// notBefore five minutes ago, basicConstraints cA=FALSE, key usage digitalSignature plus
    /// keyAgreement (keyEncipherment for RSA keys) and extended key usage clientAuth and
    /// serverAuth. Extensions requested in the CSR (e.g. subjectAltName) are not copied.
    pub fn sign_csr(
        &self,
        csr_pem: &str,
        validity_days: u32,
    ) -> Result<SignedCertificate, CaError> {
        self.sign_csr_for(csr_pem, validity_days, None)
    }

    /// Like [`CertificateAuthority::sign_csr`], but only for the subject `rule` names: a
    /// station may get a certificate in its own name only, or it could impersonate another
    /// station at security profile 3.
    pub fn sign_csr_for(
        &self,
        csr_pem: &str,
        validity_days: u32,
        rule: Option<&SubjectRule>,
    ) -> Result<SignedCertificate, CaError> {
        let invalid = |reason: &str| CaError::InvalidValidity {
            days: validity_days,
            reason: reason.to_owned(),
        };
        if validity_days == 0 {
            return Err(invalid("it must be at least one day"));
        }

        let der = csr_der(csr_pem)?;
        let csr = parse_verified_csr(&der)?;
        let info = &csr.certification_request_info;
        if let Some(rule) = rule {
            rule.check(&info.subject)?;
        }
        let distinguished_name = subject_to_dn(&info.subject)?;
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(info.subject_pki.raw)
            .map_err(|e| CaError::UnsupportedPublicKey(e.to_string()))?;
        let is_rsa = info.subject_pki.algorithm.algorithm
            == x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION;

        let now = OffsetDateTime::now_utc();
        if self.not_after <= now {
            return Err(CaError::CaExpired(rfc3339(self.not_after)));
        }
        let not_after = now
            .checked_add(Duration::days(i64::from(validity_days)))
            .ok_or_else(|| invalid("it ends after the year 9999"))?
            .min(self.not_after);

        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name;
        params.serial_number = Some(random_serial()?);
        params.not_before = now - CLOCK_SKEW;
        params.not_after = not_after;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            if is_rsa {
                KeyUsagePurpose::KeyEncipherment
            } else {
                KeyUsagePurpose::KeyAgreement
            },
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ];
        params.use_authority_key_identifier_extension = true;

        let cert = params
            .signed_by(&public_key, &self.issuer)
            .map_err(|e| CaError::Generate(e.to_string()))?;

        // Report what was actually issued, read back from the DER.
        let (_, issued) = X509Certificate::from_der(cert.der())
            .map_err(|e| CaError::Generate(format!("cannot parse the issued certificate: {e}")))?;
        let certificate_pem = pem::encode("CERTIFICATE", cert.der());
        let chain_pem = format!("{certificate_pem}{}{}", self.cert_pem, self.chain_tail_pem);
        Ok(SignedCertificate {
            chain_pem,
            certificate_pem,
            subject: issued.subject().to_string(),
            serial_hex: issued
                .raw_serial()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            not_after: rfc3339(issued.validity().not_after.to_datetime()),
        })
    }
}

/// What the subject of a station's CSR must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRule {
    /// The CN: the requesting station's identity (A00.FR.405).
    pub common_name: String,
    /// The O, when the operator configured one (A00.FR.404).
    pub organization: Option<String>,
}

impl SubjectRule {
    fn check(&self, subject: &X509Name<'_>) -> Result<(), CaError> {
        fn first<'a, 'b: 'a>(
            mut it: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'b>>,
        ) -> String {
            it.next()
                .and_then(|a| a.as_str().ok())
                .unwrap_or_default()
                .to_owned()
        }
        let cn = first(subject.iter_common_name());
        if cn != self.common_name {
            return Err(CaError::SubjectMismatch {
                field: "CN",
                found: cn,
                expected: self.common_name.clone(),
            });
        }
        if let Some(org) = &self.organization {
            let o = first(subject.iter_organization());
            if &o != org {
                return Err(CaError::SubjectMismatch {
                    field: "O",
                    found: o,
                    expected: org.clone(),
                });
            }
        }
        Ok(())
    }
}

/// The common name of a DER certificate (the first CN of its subject), how a verified
/// client certificate names its station.
pub fn certificate_common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_owned();
    Some(cn)
}

/// The subject of a CSR, human readable (e.g. `CN=CP0001, O=Example CPO`), so an operator
/// can see who is asking before anything is signed.
///
/// Only the format is checked, not the signature; [`CertificateAuthority::sign_csr`]
/// checks both.
pub fn csr_subject(csr_pem: &str) -> Result<String, CaError> {
    let der = csr_der(csr_pem)?;
    let (_, csr) =
        X509CertificationRequest::from_der(&der).map_err(|e| CaError::CsrParse(e.to_string()))?;
    Ok(csr.certification_request_info.subject.to_string())
}

/// Extracts the DER of a CSR from PEM (either label) or bare base64.
fn csr_der(text: &str) -> Result<Vec<u8>, CaError> {
    let blocks = pem::blocks(text).map_err(|_| CaError::CsrFormat)?;
    match blocks.into_iter().next() {
        Some(block) if CSR_LABELS.contains(&block.label.as_str()) => Ok(block.der),
        Some(block) => Err(CaError::CsrPemLabel(block.label)),
        None => pem::decode_bare(text).ok_or(CaError::CsrFormat),
    }
}

/// Parses a PKCS#10 request and verifies its self-signature; only a request that passes
/// both is returned.
fn parse_verified_csr(der: &[u8]) -> Result<X509CertificationRequest<'_>, CaError> {
    let (_, csr) =
        X509CertificationRequest::from_der(der).map_err(|e| CaError::CsrParse(e.to_string()))?;
    csr.verify_signature().map_err(|e| {
        CaError::CsrSignature(match e {
            X509Error::SignatureVerificationError => "it does not match the request's contents \
                 and public key (the request was altered or signed with another key)"
                .to_owned(),
            X509Error::SignatureUnsupportedAlgorithm => format!(
                "its algorithm {} is not supported",
                csr.signature_algorithm.algorithm
            ),
            other => other.to_string(),
        })
    })?;
    Ok(csr)
}

/// Copies a CSR subject into rcgen's form, keeping order and string types.
///
/// rcgen keeps one value per attribute type and one attribute per RDN, so subjects that
/// repeat a type or use multi-valued RDNs are refused rather than silently changed.
fn subject_to_dn(name: &X509Name<'_>) -> Result<DistinguishedName, CaError> {
    let err = |msg: String| CaError::CsrSubject(msg);
    let mut dn = DistinguishedName::new();
    let mut seen: Vec<DnType> = Vec::new();
    for rdn in name.iter() {
        let mut attrs = rdn.iter();
        let (Some(attr), None) = (attrs.next(), attrs.next()) else {
            return Err(err("multi-valued or empty RDNs are not supported".into()));
        };
        let oid = attr.attr_type();
        let components: Vec<u64> = oid
            .iter()
            .ok_or_else(|| err(format!("attribute type {oid} is too large")))?
            .collect();
        let ty = DnType::from_oid(&components);
        if seen.contains(&ty) {
            return Err(err(format!("attribute {oid} appears more than once")));
        }
        let value = attr.attr_value();
        let data = value.data;
        let text = || {
            std::str::from_utf8(data)
                .map_err(|_| err(format!("the value of {oid} is not valid text")))
        };
        let bad = |e: rcgen::Error| err(format!("the value of {oid} is invalid: {e}"));
        let dn_value = match value.header.tag() {
            Tag::Utf8String => DnValue::Utf8String(text()?.to_owned()),
            Tag::PrintableString => DnValue::PrintableString(text()?.try_into().map_err(bad)?),
            Tag::Ia5String => DnValue::Ia5String(text()?.try_into().map_err(bad)?),
            Tag::T61String => DnValue::TeletexString(text()?.try_into().map_err(bad)?),
            Tag::BmpString => DnValue::BmpString(
                rcgen::string::BmpString::from_utf16be(data.to_vec()).map_err(bad)?,
            ),
            Tag::UniversalString => DnValue::UniversalString(
                rcgen::string::UniversalString::from_utf32be(data.to_vec()).map_err(bad)?,
            ),
            other => {
                return Err(err(format!(
                    "the value of {oid} has unsupported ASN.1 type {other}"
                )));
            }
        };
        dn.push(ty.clone(), dn_value);
        seen.push(ty);
    }
    if seen.is_empty() {
        return Err(err("the subject is empty".into()));
    }
    Ok(dn)
}

/// Reads a PKCS#8 PEM private key, explaining the common wrong formats.
fn load_key(key_pem: &str) -> Result<KeyPair, CaError> {
    let blocks = pem::blocks(key_pem).map_err(CaError::CaKey)?;
    let block = blocks
        .into_iter()
        .next()
        .ok_or_else(|| CaError::CaKey("no PEM block found".into()))?;
    match block.label.as_str() {
        "PRIVATE KEY" => {}
        "EC PRIVATE KEY" | "RSA PRIVATE KEY" => {
            return Err(CaError::CaKey(format!(
                "the key is a \"{}\" block; convert it to PKCS#8 with \
                 `openssl pkcs8 -topk8 -nocrypt -in ca.key -out ca-pkcs8.key`",
                block.label
            )));
        }
        "ENCRYPTED PRIVATE KEY" => {
            return Err(CaError::CaKey(
                "encrypted keys are not supported; decrypt it with \
                 `openssl pkcs8 -in ca.key -out ca-plain.key`"
                    .into(),
            ));
        }
        other => {
            return Err(CaError::CaKey(format!(
                "expected a PEM \"PRIVATE KEY\" block, found \"{other}\""
            )));
        }
    }
    KeyPair::try_from(block.der.as_slice()).map_err(|e| CaError::CaKey(e.to_string()))
}

/// A random positive 128-bit serial (RFC 5280 asks for unpredictable serials; the top bit is
/// cleared so the DER integer is positive and the second-highest set so the length is fixed).
fn random_serial() -> Result<SerialNumber, CaError> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CaError::Random)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

/// Formats a UTC time as RFC 3339.
fn rfc3339(t: OffsetDateTime) -> String {
    // Formatting a valid UTC time as RFC 3339 only fails for years outside 0..=9999, which
    // X.509 cannot express either; fall back to the Debug form rather than panic.
    t.format(&Rfc3339).unwrap_or_else(|_| format!("{t:?}"))
}

/// Writes `contents` to `dir/name` through a temporary file and a rename, so a crash never
/// leaves a half-written file; `private` files are created with mode 0600 on Unix.
fn write_file(dir: &Path, name: &str, contents: &str, private: bool) -> Result<(), CaError> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let io_err = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| CaError::Io {
            action,
            path,
            source,
        }
    };
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("remove", &tmp)(e)),
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&tmp).map_err(io_err("create", &tmp))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_err("write", &tmp))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(io_err("write", &path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_authority_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CertificateAuthority>();
    }

    #[test]
    fn random_serials_are_positive_fixed_length_and_distinct() {
        let a = random_serial().expect("serial").to_bytes();
        let b = random_serial().expect("serial").to_bytes();
        assert_eq!(a.len(), 16);
        assert_eq!(a[0] & 0xc0, 0x40);
        assert_ne!(a, b);
    }

    #[test]
    fn debug_does_not_print_the_key() {
        let ca = CertificateAuthority::generate_dev("Debug CA").expect("ca");
        let key_pem = ca.issuer.key().serialize_pem();
        let body = key_pem.lines().nth(1).expect("a base64 line");
        let debug = format!("{ca:?}");
        assert!(debug.contains("Debug CA"));
        assert!(!debug.contains(body));
    }
}
