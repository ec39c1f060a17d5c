//! Kafka's key and trust stores, read into what rustls takes: PEM (a file, or text in the
//! properties), whose private key may be encrypted PKCS#8 opened with `ssl.key.password`,
//! and PKCS12 files, whose password checks their integrity and opens them. Errors name the
//! store and what is wrong with it, never a password.

use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
use pkcs8::der::asn1::{Any, OctetStringRef};
use pkcs8::der::{Decode, Encode, Tag, TagNumber, Tagged};
use pkcs8::{EncryptedPrivateKeyInfoRef, ObjectIdentifier, PrivateKeyInfoRef, SubjectPublicKeyInfoRef};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::config::{Password, Store};

/// The server's certificate chain and private key.
pub type KeyAndChain = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The chain and key of the keystore `store` (`ssl.keystore.*`).
pub fn key_and_chain(store: &Store, key_password: Option<&Password>) -> Result<KeyAndChain, String> {
    const NAME: &str = "ssl.keystore";
    let (chain, key) = match store {
        Store::Pkcs12File(..) => {
            let keystore = pkcs12(store, NAME, Pkcs12ImportPolicy::Strict)?;
            let (_, chain) = keystore.private_key_chain().ok_or(format!(
                "{NAME}: no private key with its certificate chain in the PKCS12 file"
            ))?;
            let certificates = chain.certs().iter().map(|c| CertificateDer::from(c.as_der().to_vec()));
            let key = PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec());
            (certificates.collect::<Vec<_>>(), key.into())
        }
        Store::PemFile(_) | Store::PemInline(_) => {
            let pem = read(store, NAME)?;
            (certificates(&pem, NAME)?, private_key(&pem, key_password)?)
        }
    };
    let key = match (key, chain.first()) {
        (PrivateKeyDer::Pkcs8(pkcs8), Some(certificate)) => {
            match ec_key_with_public_key(pkcs8.secret_pkcs8_der(), certificate) {
                Some(completed) => PrivatePkcs8KeyDer::from(completed).into(),
                None => pkcs8.into(),
            }
        }
        (key, _) => key,
    };
    Ok((chain, key))
}

/// id-ecPublicKey (RFC 5480): the PKCS#8 algorithm of every EC private key.
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// ECPrivateKey's optional `[1] publicKey` (RFC 5915).
const EC_PUBLIC_KEY_FIELD: Tag = Tag::ContextSpecific {
    constructed: true,
    number: TagNumber(1),
};

/// Java (keytool, JSSE) writes an EC private key's PKCS#8 without the optional public key,
/// which ring requires: such a key gets the public key of `certificate`, the first of its
/// chain, and rustls then checks that the two are one pair, as for any key. None: the key
/// is not such a key (or does not go with the certificate), and stays as it is.
fn ec_key_with_public_key(pkcs8: &[u8], certificate: &CertificateDer<'_>) -> Option<Vec<u8>> {
    let info = PrivateKeyInfoRef::from_der(pkcs8).ok()?;
    if info.algorithm.oid != EC_PUBLIC_KEY {
        return None;
    }
    let mut fields = Vec::<Any>::from_der(info.private_key.as_bytes()).ok()?;
    if fields.iter().any(|field| field.tag() == EC_PUBLIC_KEY_FIELD) {
        return None;
    }
    let certificate = webpki::EndEntityCert::try_from(certificate).ok()?;
    let spki_der = certificate.subject_public_key_info();
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der.as_ref()).ok()?;
    if spki.algorithm != info.algorithm {
        return None;
    }
    fields.push(Any::new(EC_PUBLIC_KEY_FIELD, spki.subject_public_key.to_der().ok()?).ok()?);
    let completed = fields.to_der().ok()?;
    let info = PrivateKeyInfoRef {
        algorithm: info.algorithm,
        private_key: OctetStringRef::new(&completed).ok()?,
        public_key: None,
    };
    info.to_der().ok()
}

/// The certificates of the truststore `store` (`ssl.truststore.*`): every certificate in a
/// PEM text, every certificate entry of a PKCS12 file (trusted as Java marks them or not,
/// as OpenSSL writes them).
pub fn trusted(store: &Store) -> Result<Vec<CertificateDer<'static>>, String> {
    const NAME: &str = "ssl.truststore";
    match store {
        Store::Pkcs12File(..) => {
            let truststore = pkcs12(store, NAME, Pkcs12ImportPolicy::Relaxed)?;
            let certificates: Vec<_> = truststore
                .entries()
                .flat_map(|(_, entry)| match entry {
                    KeyStoreEntry::Certificate(certificate) => vec![certificate.as_der().to_vec()],
                    KeyStoreEntry::PrivateKeyChain(chain) => {
                        chain.certs().iter().map(|c| c.as_der().to_vec()).collect()
                    }
                    KeyStoreEntry::Secret(_) => Vec::new(),
                })
                .map(CertificateDer::from)
                .collect();
            match certificates.is_empty() {
                true => Err(format!("{NAME}: no certificate in the PKCS12 file")),
                false => Ok(certificates),
            }
        }
        Store::PemFile(_) | Store::PemInline(_) => certificates(&read(store, NAME)?, NAME),
    }
}

/// The PKCS12 file of `store`, opened with its password.
fn pkcs12(store: &Store, name: &str, policy: Pkcs12ImportPolicy) -> Result<KeyStore, String> {
    let Store::Pkcs12File(_, password) = store else {
        unreachable!("called for PKCS12 stores only")
    };
    KeyStore::from_pkcs12(&read(store, name)?, password.expose(), policy).map_err(|e| {
        format!("{name}: the PKCS12 file cannot be read with {name}.password (wrong password or not PKCS12): {e}")
    })
}

/// The store's bytes: its file's, or the PEM text of the properties.
fn read(store: &Store, name: &str) -> Result<Vec<u8>, String> {
    match store {
        Store::PemFile(path) | Store::Pkcs12File(path, _) => {
            std::fs::read(path).map_err(|e| format!("{name}.location {}: {e}", path.display()))
        }
        Store::PemInline(text) => Ok(text.expose().as_bytes().to_vec()),
    }
}

fn certificates(pem: &[u8], name: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{name}: unreadable PEM: {e}"))?;
    match certificates.is_empty() {
        true => Err(format!("{name}: no certificate in the PEM text")),
        false => Ok(certificates),
    }
}

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// The PEM text's private key: an `ENCRYPTED PRIVATE KEY` (PKCS#8 with PBES2, as OpenSSL
/// and Java write them) decrypted with `ssl.key.password`, else a plain one.
fn private_key(pem: &[u8], key_password: Option<&Password>) -> Result<PrivateKeyDer<'static>, String> {
    let text = String::from_utf8_lossy(pem);
    let Some(begin) = text.find(ENCRYPTED_BEGIN) else {
        return PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| format!("ssl.keystore: no private key in the PEM text: {e}"));
    };
    let end = text[begin..]
        .find(ENCRYPTED_END)
        .map(|at| begin + at + ENCRYPTED_END.len())
        .ok_or("ssl.keystore: an encrypted private key without its END line")?;
    let password = key_password.ok_or("ssl.keystore: the private key is encrypted: set ssl.key.password")?;
    let (_, der) = pkcs8::der::pem::decode_vec(text[begin..end].as_bytes())
        .map_err(|e| format!("ssl.keystore: unreadable encrypted private key: {e}"))?;
    let encrypted = EncryptedPrivateKeyInfoRef::try_from(der.as_slice())
        .map_err(|e| format!("ssl.keystore: unreadable encrypted private key: {e}"))?;
    let key = encrypted
        .decrypt(password.expose())
        .map_err(|e| format!("ssl.keystore: the private key cannot be decrypted with ssl.key.password: {e}"))?;
    Ok(PrivatePkcs8KeyDer::from(key.as_bytes().to_vec()).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair, SignatureAlgorithm};
    use rustls::crypto::ring::sign::any_supported_type;

    /// A key of `algorithm` and a certificate for it.
    fn key_and_certificate(algorithm: &'static SignatureAlgorithm) -> (Vec<u8>, CertificateDer<'static>) {
        let key = KeyPair::generate_for(algorithm).expect("a key");
        let params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        let certificate = params.self_signed(&key).expect("a certificate");
        (key.serialize_der(), certificate.der().clone())
    }

    /// `pkcs8` as Java writes an EC key: its ECPrivateKey without `[1] publicKey`.
    fn as_java_writes_it(pkcs8: &[u8]) -> Vec<u8> {
        let info = PrivateKeyInfoRef::from_der(pkcs8).expect("PKCS#8");
        let mut fields = Vec::<Any>::from_der(info.private_key.as_bytes()).expect("an ECPrivateKey");
        fields.retain(|field| field.tag() != EC_PUBLIC_KEY_FIELD);
        let inner = fields.to_der().expect("encoded");
        let private_key = OctetStringRef::new(&inner).expect("an octet string");
        PrivateKeyInfoRef {
            algorithm: info.algorithm,
            private_key,
            public_key: None,
        }
        .to_der()
        .expect("encoded")
    }

    fn ring_takes(pkcs8: Vec<u8>) -> bool {
        any_supported_type(&PrivatePkcs8KeyDer::from(pkcs8).into()).is_ok()
    }

    #[test]
    fn a_java_ec_key_gets_its_certificates_public_key() {
        for algorithm in [&rcgen::PKCS_ECDSA_P256_SHA256, &rcgen::PKCS_ECDSA_P384_SHA384] {
            let (pkcs8, certificate) = key_and_certificate(algorithm);
            let java = as_java_writes_it(&pkcs8);
            assert!(!ring_takes(java.clone()), "ring needs the public key");
            let completed = ec_key_with_public_key(&java, &certificate).expect("completed");
            assert_eq!(completed, pkcs8);
            assert!(ring_takes(completed));
        }
    }

    #[test]
    fn other_keys_stay_as_they_are() {
        let (p256, p256_certificate) = key_and_certificate(&rcgen::PKCS_ECDSA_P256_SHA256);
        let (p384, _) = key_and_certificate(&rcgen::PKCS_ECDSA_P384_SHA384);
        let (ed25519, ed25519_certificate) = key_and_certificate(&rcgen::PKCS_ED25519);
        // With its public key already, of another curve than the certificate's, not EC.
        assert_eq!(ec_key_with_public_key(&p256, &p256_certificate), None);
        assert_eq!(
            ec_key_with_public_key(&as_java_writes_it(&p384), &p256_certificate),
            None
        );
        assert_eq!(ec_key_with_public_key(&ed25519, &ed25519_certificate), None);
        // Of the same curve as another key's certificate: ring finds that they are no pair.
        let (other, _) = key_and_certificate(&rcgen::PKCS_ECDSA_P256_SHA256);
        let mismatched = ec_key_with_public_key(&as_java_writes_it(&other), &p256_certificate).expect("completed");
        assert!(!ring_takes(mismatched));
    }
}
