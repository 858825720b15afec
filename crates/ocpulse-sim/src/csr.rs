//! Certificate signing requests for the Sign*Certificate triggers: a fresh key pair and a
//! real PKCS#10 CSR whose CN is the station's serial/identity (A00.FR.405) and O its CPO.

/// A PEM CSR for a new ECDSA P-256 key; the key itself stays in the station.
pub fn generate(
    common_name: &str,
    organization: &str,
) -> Result<(String, rcgen::KeyPair), rcgen::Error> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, organization);
    let csr = params.serialize_request(&key)?;
    Ok((csr.pem()?, key))
}

#[cfg(test)]
mod tests {
    #[test]
    fn csr_is_pem_and_fits_the_5500_character_field() {
        let (pem, _) = super::generate("SIM0001", "ocpulse-sim").expect("csr");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        assert!(pem.len() < 5500);
    }
}
