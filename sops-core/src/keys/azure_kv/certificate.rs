//! The client assertion of a certificate credential
//! (`AZURE_CLIENT_CERTIFICATE_PATH`): a JWT signed with the certificate's
//! private key, which Entra ID checks against the certificate registered
//! for the application (named by its SHA-256 thumbprint, `x5t#S256`).
//!
//! The file is PEM with the certificate and an unencrypted private key
//! (PKCS#8, PKCS#1 RSA or SEC1 EC), as `az ad sp create-for-rbac
//! --create-cert` writes it. PKCS#12 files and encrypted keys are refused
//! with a message that says so. Signing goes through rustls' ring provider,
//! which this build already has.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::SignatureScheme;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::b64url;
use crate::keys::read_secret_file;

/// A signed client assertion for `client_id` at the token endpoint `audience`.
pub(super) fn assertion(
    path: &Path,
    password: Option<&str>,
    client_id: &str,
    audience: &str,
) -> Result<Zeroizing<String>, String> {
    let shown = path.display();
    let pem = read_secret_file(path).map_err(|e| format!("could not read {shown}: {e}"))?;
    let cert = CertificateDer::pem_slice_iter(&pem)
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| {
            format!(
                "{shown} holds no PEM certificate (PKCS#12 files are not supported; convert \
                 with `openssl pkcs12 -nodes`)"
            )
        })?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
        let encrypted = pem.windows(9).any(|w| w == b"ENCRYPTED");
        if encrypted || password.is_some() {
            format!("{shown}: encrypted private keys are not supported")
        } else {
            format!("{shown} holds no PEM private key")
        }
    })?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("{shown}: unusable private key: {e}"))?;
    let (alg, scheme) = match signing.algorithm() {
        rustls::SignatureAlgorithm::RSA => ("PS256", SignatureScheme::RSA_PSS_SHA256),
        rustls::SignatureAlgorithm::ECDSA => ("ES256", SignatureScheme::ECDSA_NISTP256_SHA256),
        other => return Err(format!("{shown}: unsupported key type {other:?}")),
    };
    let signer = signing
        .choose_scheme(&[scheme])
        .ok_or_else(|| format!("{shown}: the key cannot sign with {alg}"))?;
    let thumbprint = b64url(&Sha256::digest(cert.as_ref()));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let header = serde_json::json!({"alg": alg, "typ": "JWT", "x5t#S256": thumbprint});
    let claims = serde_json::json!({
        "aud": audience,
        "iss": client_id,
        "sub": client_id,
        "jti": hex::encode(rand::random::<[u8; 16]>()),
        "nbf": now,
        "iat": now,
        "exp": now + 600,
    });
    let signed = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let signature = signer
        .sign(signed.as_bytes())
        .map_err(|e| format!("{shown}: signing failed: {e}"))?;
    let signature = if alg == "ES256" {
        der_to_jose(&signature).ok_or_else(|| format!("{shown}: odd ECDSA signature"))?
    } else {
        signature
    };
    Ok(Zeroizing::new(format!("{signed}.{}", b64url(&signature))))
}

/// An ECDSA P-256 signature from DER (`SEQUENCE { r, s }`) to JOSE's
/// fixed 64 bytes.
fn der_to_jose(der: &[u8]) -> Option<Vec<u8>> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (&len, mut rest) = rest.split_first()?;
    if usize::from(len) != rest.len() {
        return None;
    }
    let mut out = Vec::with_capacity(64);
    for _ in 0..2 {
        let (&tag, r) = rest.split_first()?;
        let (&len, r) = r.split_first()?;
        if tag != 0x02 || r.len() < usize::from(len) {
            return None;
        }
        let (int, r) = r.split_at(usize::from(len));
        let int = int.strip_prefix(&[0]).unwrap_or(int);
        if int.len() > 32 {
            return None;
        }
        out.extend(std::iter::repeat_n(0, 32 - int.len()));
        out.extend_from_slice(int);
        rest = r;
    }
    rest.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_without_a_certificate_or_key_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let none = dir.path().join("none.pem");
        std::fs::write(&none, "not pem").unwrap();
        let err = assertion(&none, None, "c", "https://a/t/oauth2/v2.0/token").unwrap_err();
        assert!(err.contains("holds no PEM certificate"), "{err}");
        let missing = dir.path().join("missing.pem");
        assert!(assertion(&missing, None, "c", "a").unwrap_err().contains("could not read"));
    }

    #[test]
    fn der_signatures_become_fixed_width() {
        let der = [0x30, 0x08, 0x02, 0x02, 0x00, 0x80, 0x02, 0x02, 0x01, 0x02];
        let jose = der_to_jose(&der).unwrap();
        assert_eq!(jose.len(), 64);
        assert_eq!(jose[31], 0x80);
        assert_eq!(&jose[62..], &[1, 2]);
        assert!(der_to_jose(&[0x31, 0]).is_none());
    }
}
