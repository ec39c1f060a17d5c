//! Kafka's key and trust stores, read into what rustls takes: PEM (a file, or text in the
//! properties), whose private key may be encrypted PKCS#8 opened with `ssl.key.password`,
//! and PKCS12 files, whose password checks their integrity and opens them. Errors name the
//! store and what is wrong with it, never a password.

use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
use pkcs8::EncryptedPrivateKeyInfoRef;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::config::{Password, Store};

/// The server's certificate chain and private key.
pub type KeyAndChain = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The chain and key of the keystore `store` (`ssl.keystore.*`).
pub fn key_and_chain(store: &Store, key_password: Option<&Password>) -> Result<KeyAndChain, String> {
    const NAME: &str = "ssl.keystore";
    match store {
        Store::Pkcs12File(..) => {
            let keystore = pkcs12(store, NAME, Pkcs12ImportPolicy::Strict)?;
            let (_, chain) = keystore.private_key_chain().ok_or(format!(
                "{NAME}: no private key with its certificate chain in the PKCS12 file"
            ))?;
            let certificates = chain.certs().iter().map(|c| CertificateDer::from(c.as_der().to_vec()));
            let key = PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec());
            Ok((certificates.collect(), key.into()))
        }
        Store::PemFile(_) | Store::PemInline(_) => {
            let pem = read(store, NAME)?;
            let chain = certificates(&pem, NAME)?;
            Ok((chain, private_key(&pem, key_password)?))
        }
    }
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
