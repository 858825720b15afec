//! The one error type of the crate, so callers can log a message that says what was wrong
//! with the station's request or with the CA files, and match on the kind when they need to
//! answer `Rejected` rather than fail.

use std::path::PathBuf;

/// Everything that can go wrong while loading the CA or signing a CSR.
///
/// The messages are meant for operators: they name the input that was wrong and why.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// The CSR text is neither a PEM block nor bare base64 DER, so nothing could be decoded.
    #[error("the CSR is not PEM or base64 DER")]
    CsrFormat,

    /// The CSR is PEM, but of another kind (for example a certificate sent by mistake).
    #[error("the CSR is a PEM \"{0}\" block, not a CERTIFICATE REQUEST")]
    CsrPemLabel(String),

    /// The decoded bytes are not a PKCS#10 certification request.
    #[error("the CSR is not a valid PKCS#10 certification request: {0}")]
    CsrParse(String),

    /// The CSR's self-signature does not verify: it was altered, or signed with another key,
    /// or uses an algorithm we cannot check. Such a CSR does not prove possession of the key.
    #[error("the CSR's signature does not verify: {0}")]
    CsrSignature(String),

    /// The CSR's subject cannot be carried into a certificate unchanged.
    #[error("cannot use the CSR's subject: {0}")]
    CsrSubject(String),

    /// The CSR asks for a certificate in another name than the requesting station's
    /// (A00.FR.405: the CN is the station's identity; A00.FR.404: the O is the operator's).
    #[error("the CSR's subject {field}={found:?} must be {expected:?}")]
    SubjectMismatch {
        /// `CN` or `O`.
        field: &'static str,
        /// What the CSR says (empty when absent).
        found: String,
        /// What it must say.
        expected: String,
    },

    /// The CSR's public key is of a kind the CA cannot put into a certificate.
    #[error("the CSR's public key is not supported: {0}")]
    UnsupportedPublicKey(String),

    /// The requested validity cannot be honoured.
    #[error("invalid validity of {days} days: {reason}")]
    InvalidValidity {
        /// The number of days that was asked for.
        days: u32,
        /// Why it was refused.
        reason: String,
    },

    /// The CA certificate has expired, so everything it signed would be rejected anyway.
    #[error("the CA certificate expired at {0}")]
    CaExpired(String),

    /// The CA certificate could not be decoded or parsed.
    #[error("cannot read CA certificate: {0}")]
    CaCertificate(String),

    /// The CA private key could not be decoded or used.
    #[error("cannot read CA key: {0}")]
    CaKey(String),

    /// The CA key is not the key of the CA certificate, so signatures would not verify.
    #[error("the CA key does not match the CA certificate's public key")]
    KeyMismatch,

    /// The CA certificate says it is not a CA (basicConstraints cA=FALSE).
    #[error("the CA certificate is not a CA certificate (basicConstraints cA is false)")]
    NotACa,

    /// Only one of `ca.pem` and `ca.key` exists; generating a new CA would overwrite the
    /// other, so we refuse and let the operator decide.
    #[error(
        "{present} exists but {missing} does not; restore {missing} or remove {present} to \
         generate a new development CA"
    )]
    IncompleteCaDir {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },

    /// A file of the CA directory could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What we were doing ("read", "write", "create directory").
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The system random number generator failed (needed for key and serial generation).
    #[error("the system random number generator failed")]
    Random,

    /// Building or signing a certificate failed.
    #[error("cannot build the certificate: {0}")]
    Generate(String),
}
