//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka's `ScramSaslServer` does
//! them: the client's first message names the user and a nonce; the server answers with the
//! nonce extended by its own, the user's salt and iteration count; the client proves it knows
//! the salted password, and the server proves it knows the server key. The broker stores only
//! the salt, the stored key (H(HMAC(salted password, "Client Key"))), the server key
//! (HMAC(salted password, "Server Key")) and the iterations, as Kafka's
//! `UserScramCredentialRecord`: never the password nor the salted password.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::{digest, hmac, pbkdf2, rand::SecureRandom};
use serde::{Deserialize, Serialize};

/// Kafka's `ScramMechanism.minIterations` (RFC 7677's minimum) for both mechanisms.
pub const MIN_ITERATIONS: i32 = 4096;
/// Kafka's `ScramControlManager.MAX_ITERATIONS`.
pub const MAX_ITERATIONS: i32 = 16384;

/// A SCRAM mechanism, numbered as in AlterUserScramCredentials and the metadata records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    /// The mechanism of a type number (1 SCRAM-SHA-256, 2 SCRAM-SHA-512), Kafka's
    /// `ScramMechanism.fromType`; `None` is Kafka's UNKNOWN.
    pub fn from_type(mechanism: i8) -> Option<ScramMechanism> {
        match mechanism {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        ScramMechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn type_number(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    /// The SASL mechanism name.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            ScramMechanism::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            ScramMechanism::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            ScramMechanism::Sha256 => hmac::HMAC_SHA256,
            ScramMechanism::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            ScramMechanism::Sha256 => &digest::SHA256,
            ScramMechanism::Sha512 => &digest::SHA512,
        }
    }

    fn hmac_of(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(self.hmac(), key), data).as_ref().to_vec()
    }

    /// Hi(password, salt, iterations) of RFC 5802: PBKDF2 with the mechanism's HMAC.
    pub fn salted_password(self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0; self.digest().output_len()];
        let iterations = std::num::NonZeroU32::new(iterations.max(1)).expect("at least 1");
        pbkdf2::derive(self.pbkdf2(), iterations, salt, password.as_bytes(), &mut out);
        out
    }

    /// Whether `password` is the one `credential` was made from: its stored key derived
    /// again from the password with the credential's salt and iterations (for HTTP basic
    /// authentication, which sends the password itself).
    pub fn password_matches(self, password: &str, credential: &ScramCredential) -> bool {
        let iterations = u32::try_from(credential.iterations).unwrap_or(1);
        let salted = self.salted_password(password, &credential.salt, iterations);
        let derived = self.credential(&credential.salt, &salted, credential.iterations);
        same_bytes(&derived.stored_key, &credential.stored_key)
    }

    /// The client's proof for `auth_message` (RFC 5802): its client key XOR the signature
    /// made with the stored key.
    fn client_proof(self, salted_password: &[u8], auth_message: &str) -> Vec<u8> {
        let client_key = self.hmac_of(salted_password, b"Client Key");
        let stored_key = digest::digest(self.digest(), &client_key);
        let signature = self.hmac_of(stored_key.as_ref(), auth_message.as_bytes());
        client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect()
    }

    /// The stored credential of a salted password, as Kafka's controller derives it from an
    /// AlterUserScramCredentials upsertion.
    pub fn credential(self, salt: &[u8], salted_password: &[u8], iterations: i32) -> ScramCredential {
        let client_key = self.hmac_of(salted_password, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: digest::digest(self.digest(), &client_key).as_ref().to_vec(),
            server_key: self.hmac_of(salted_password, b"Server Key"),
            iterations,
        }
    }
}

impl fmt::Display for ScramMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the broker keeps of a user's password for one mechanism.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

/// Hidden, as Kafka's `ScramCredentialValue.toString`: a key in a log line is as good as
/// the password to a server impersonator.
impl fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScramCredential([hidden])")
    }
}

/// `n` random bytes from the system's secure generator.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0; n];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random generator works");
    bytes
}

/// Why an exchange failed: for the broker's debug log only; the client is told nothing more
/// than that its credentials are invalid, as Kafka tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramError(pub &'static str);

/// What a step of the exchange answers.
#[derive(Debug, PartialEq, Eq)]
pub enum ScramStep {
    /// The server's first message: the client sends its final one next.
    Challenge(Vec<u8>),
    /// Authenticated as `user`; `server_final` proves the server knew the credential.
    Done { user: String, server_final: Vec<u8> },
}

/// The server side of one SCRAM exchange.
pub struct ScramServer {
    mechanism: ScramMechanism,
    state: State,
}

enum State {
    ReceivingClientFirst,
    ReceivingClientFinal(Box<FirstRound>),
    Over,
}

/// What the first round fixed for the second.
struct FirstRound {
    user: String,
    credential: ScramCredential,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

impl ScramServer {
    pub fn new(mechanism: ScramMechanism) -> ScramServer {
        ScramServer {
            mechanism,
            state: State::ReceivingClientFirst,
        }
    }

    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Takes the client's next message; `lookup` finds a user's credential for this
    /// mechanism. Any error ends the exchange.
    pub fn evaluate(
        &mut self,
        message: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<ScramStep, ScramError> {
        let state = std::mem::replace(&mut self.state, State::Over);
        let message = std::str::from_utf8(message).map_err(|_| ScramError("a message that is not UTF-8"))?;
        match state {
            State::ReceivingClientFirst => {
                let (round, server_first) = self.first(message, lookup, &random_bytes(18))?;
                self.state = State::ReceivingClientFinal(Box::new(round));
                Ok(ScramStep::Challenge(server_first.into_bytes()))
            }
            State::ReceivingClientFinal(round) => self.last(message, &round),
            State::Over => Err(ScramError("the exchange is over")),
        }
    }

    fn first(
        &self,
        message: &str,
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
        nonce_bytes: &[u8],
    ) -> Result<(FirstRound, String), ScramError> {
        // gs2-header: `n,` (no channel binding) and an optional `a=authzid`, then the bare part.
        let rest = message
            .strip_prefix("n,")
            .ok_or(ScramError("a client first message without the n, header"))?;
        let (authzid, bare) = rest
            .split_once(',')
            .ok_or(ScramError("a client first message without a body"))?;
        let authzid = match authzid {
            "" => None,
            a => Some(
                decode_name(a.strip_prefix("a=").ok_or(ScramError("a malformed authorization id"))?)
                    .ok_or(ScramError("a malformed authorization id"))?,
            ),
        };
        let mut fields = bare.split(',');
        let user = fields
            .next()
            .and_then(|f| f.strip_prefix("n="))
            .and_then(decode_name)
            .ok_or(ScramError("a client first message without a user"))?;
        let client_nonce = fields
            .next()
            .and_then(|f| f.strip_prefix("r="))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b)))
            .ok_or(ScramError("a client first message without a nonce"))?;
        // Extensions (`key=value`); Kafka's `tokenauth=true` asks for a delegation token,
        // which this broker does not have.
        for extension in fields {
            match extension.split_once('=') {
                Some(("tokenauth", value)) if value.eq_ignore_ascii_case("true") => {
                    return Err(ScramError("delegation tokens are not supported"))
                }
                Some(_) => {}
                None => return Err(ScramError("a malformed extension")),
            }
        }
        if authzid.as_ref().is_some_and(|a| *a != user) {
            return Err(ScramError("an authorization id other than the user"));
        }
        let credential = lookup(&user).ok_or(ScramError("an unknown user"))?;
        if credential.iterations < MIN_ITERATIONS {
            return Err(ScramError("a credential with fewer iterations than the minimum"));
        }
        let nonce = format!("{client_nonce}{}", STANDARD.encode(nonce_bytes));
        let server_first = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(&credential.salt),
            credential.iterations
        );
        let gs2_header = message[..message.len() - bare.len()].to_string();
        let round = FirstRound {
            user,
            credential,
            gs2_header,
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            nonce,
        };
        Ok((round, server_first))
    }

    fn last(&self, message: &str, round: &FirstRound) -> Result<ScramStep, ScramError> {
        let (without_proof, proof) = message
            .rsplit_once(",p=")
            .ok_or(ScramError("a client final message without a proof"))?;
        let mut fields = without_proof.split(',');
        let channel_binding = fields.next().and_then(|f| f.strip_prefix("c="));
        if channel_binding != Some(STANDARD.encode(&round.gs2_header).as_str()) {
            return Err(ScramError("a channel binding other than the header's"));
        }
        if fields.next().and_then(|f| f.strip_prefix("r=")) != Some(round.nonce.as_str()) {
            return Err(ScramError("Invalid client nonce in the final client message."));
        }
        let proof = STANDARD
            .decode(proof)
            .map_err(|_| ScramError("a proof that is not base64"))?;
        let auth_message = format!("{},{},{without_proof}", round.client_first_bare, round.server_first);
        let credential = &round.credential;
        let client_signature = self.mechanism.hmac_of(&credential.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(ScramError("a proof of the wrong length"));
        }
        let client_key: Vec<u8> = proof.iter().zip(&client_signature).map(|(a, b)| a ^ b).collect();
        let computed = digest::digest(self.mechanism.digest(), &client_key);
        if !same_bytes(computed.as_ref(), &credential.stored_key) {
            return Err(ScramError("Invalid client credentials"));
        }
        let server_signature = self.mechanism.hmac_of(&credential.server_key, auth_message.as_bytes());
        Ok(ScramStep::Done {
            user: round.user.clone(),
            server_final: format!("v={}", STANDARD.encode(server_signature)).into_bytes(),
        })
    }
}

/// The client side of an exchange, for the project's own tools and tests (Kafka's clients
/// have theirs): the first message, the final one from the server's first, and the check
/// of the server's signature.
pub struct ScramClient {
    mechanism: ScramMechanism,
    password: String,
    client_first_bare: String,
    nonce: String,
    /// The auth message and salted password once the final message is made.
    sent: Option<(String, Vec<u8>)>,
}

impl ScramClient {
    pub fn new(mechanism: ScramMechanism, user: &str, password: &str) -> ScramClient {
        let nonce = STANDARD.encode(random_bytes(18));
        let user = user.replace('=', "=3D").replace(',', "=2C");
        ScramClient {
            mechanism,
            password: password.to_string(),
            client_first_bare: format!("n={user},r={nonce}"),
            nonce,
            sent: None,
        }
    }

    pub fn first_message(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// The final message answering the server's first; `Err` if it is malformed or its nonce
    /// does not extend ours.
    pub fn final_message(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramError> {
        let server_first = std::str::from_utf8(server_first).map_err(|_| ScramError("not UTF-8"))?;
        let mut fields = server_first.split(',');
        let mut field = |prefix: &str| fields.next().and_then(|f| f.strip_prefix(prefix).map(str::to_string));
        let (nonce, salt, iterations) = (field("r="), field("s="), field("i="));
        let nonce = nonce
            .filter(|n| n.starts_with(&self.nonce) && n.len() > self.nonce.len())
            .ok_or(ScramError("a server nonce that does not extend the client's"))?;
        let salt = salt
            .and_then(|s| STANDARD.decode(s).ok())
            .ok_or(ScramError("a malformed salt"))?;
        let iterations: u32 = iterations
            .and_then(|i| i.parse().ok())
            .ok_or(ScramError("malformed iterations"))?;
        let salted = self.mechanism.salted_password(&self.password, &salt, iterations);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let proof = self.mechanism.client_proof(&salted, &auth_message);
        self.sent = Some((auth_message, salted));
        Ok(format!("{without_proof},p={}", STANDARD.encode(proof)).into_bytes())
    }

    /// Whether the server's final message proves it knows the user's server key.
    pub fn server_is_genuine(&self, server_final: &[u8]) -> bool {
        let Some((auth_message, salted)) = &self.sent else {
            return false;
        };
        let server_key = self.mechanism.hmac_of(salted, b"Server Key");
        let expected = self.mechanism.hmac_of(&server_key, auth_message.as_bytes());
        server_final == format!("v={}", STANDARD.encode(expected)).as_bytes()
    }
}

/// A `saslname`: `=2C` for `,` and `=3D` for `=`, any other `=` malformed.
fn decode_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3)?;
        out.push(match escape {
            "=2C" => ',',
            "=3D" => '=',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// Compares every byte whatever differs, so the time taken tells nothing of how much of a
/// guess was right.
pub fn same_bytes(expected: &[u8], guess: &[u8]) -> bool {
    let length_differs = u8::from(expected.len() != guess.len());
    guess.iter().enumerate().fold(length_differs, |diff, (i, byte)| {
        diff | (expected.get(i).copied().unwrap_or(0) ^ byte)
    }) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole exchange with RFC 7677's user ("user", password "pencil"), the client's
    /// proof the one the RFC's own example checks below, and what the server refuses in the final message.
    #[test]
    fn an_exchange_authenticates_only_with_the_right_proof() {
        let mechanism = ScramMechanism::Sha256;
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let salted = mechanism.salted_password("pencil", &salt, 4096);
        let credential = mechanism.credential(&salt, &salted, 4096);
        let server = ScramServer::new(mechanism);
        let client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
        let (round, server_first) = server
            .first(client_first, |_| Some(credential.clone()), b"fixed")
            .unwrap();
        assert!(server_first.starts_with("r=rOprNGfwEbeRWgbNEkqOZml4ZWQ=,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
        let without_proof = format!("c=biws,r={}", round.nonce);
        let auth = format!("{},{},{without_proof}", round.client_first_bare, server_first);
        let proof = mechanism.client_proof(&salted, &auth);
        let final_message = format!("{without_proof},p={}", STANDARD.encode(&proof));
        let ScramStep::Done { user, server_final } = server.last(&final_message, &round).unwrap() else {
            panic!("not done");
        };
        assert_eq!(user, "user");
        let expected = mechanism.hmac_of(&credential.server_key, auth.as_bytes());
        assert_eq!(server_final, format!("v={}", STANDARD.encode(expected)).into_bytes());
        // One flipped bit of the proof is refused.
        let mut bad = proof.clone();
        bad[0] ^= 1;
        let bad_final = format!("{without_proof},p={}", STANDARD.encode(&bad));
        assert_eq!(
            server.last(&bad_final, &round),
            Err(ScramError("Invalid client credentials"))
        );
        // As is another nonce, or another channel binding.
        let other_nonce = format!("c=biws,r=x,p={}", STANDARD.encode(&proof));
        assert!(server.last(&other_nonce, &round).is_err());
        let other_binding = format!("c=eSws,r={},p={}", round.nonce, STANDARD.encode(&proof));
        assert!(server.last(&other_binding, &round).is_err());
    }

    #[test]
    fn a_password_matches_only_its_own_credential() {
        let mechanism = ScramMechanism::Sha512;
        let salted = mechanism.salted_password("pencil", b"salt", 4096);
        let credential = mechanism.credential(b"salt", &salted, 4096);
        assert!(mechanism.password_matches("pencil", &credential));
        assert!(!mechanism.password_matches("pencil ", &credential));
        assert!(!ScramMechanism::Sha256.password_matches("pencil", &credential));
    }

    /// RFC 7677's example: the client's proof and the server's signature for the RFC's own
    /// messages, which fixes PBKDF2, HMAC and the auth message's shape.
    #[test]
    fn the_rfc_7677_proof_and_signature_match() {
        let mechanism = ScramMechanism::Sha256;
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let salted = mechanism.salted_password("pencil", &salt, 4096);
        let credential = mechanism.credential(&salt, &salted, 4096);
        let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,\
            r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,\
            c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let proof = mechanism.client_proof(&salted, auth);
        assert_eq!(STANDARD.encode(proof), "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        let server_signature = mechanism.hmac_of(&credential.server_key, auth.as_bytes());
        assert_eq!(
            STANDARD.encode(server_signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn first_messages_are_checked() {
        let mechanism = ScramMechanism::Sha512;
        let credential = mechanism.credential(b"salt", &mechanism.salted_password("pw", b"salt", 4096), 4096);
        let known = |user: &str| (user == "a,b=c").then(|| credential.clone());
        let server = ScramServer::new(mechanism);
        assert!(server.first("n,,n=a=2Cb=3Dc,r=abc", known, b"n").is_ok());
        for refused in [
            "y,,n=a=2Cb=3Dc,r=abc",
            "n,,n=a,b=c,r=abc",
            "n,,n=a=2Cb=3Dc",
            "n,,n=a=2Cb=3Dc,r=",
            "n,a=other,n=a=2Cb=3Dc,r=abc",
            "n,,n=a=2Cb=3Dc,r=abc,tokenauth=true",
            "n,,n=nobody,r=abc",
            "n,,n=a=2Xb,r=abc",
            "",
        ] {
            assert!(server.first(refused, known, b"n").is_err(), "{refused}");
        }
        let few = mechanism.credential(b"salt", b"x", 4095);
        assert!(server.first("n,,n=u,r=abc", |_| Some(few), b"n").is_err());
    }

    #[test]
    fn the_tools_client_and_the_server_agree_and_a_wrong_password_is_refused() {
        for mechanism in ScramMechanism::ALL {
            let salt = random_bytes(16);
            let credential = mechanism.credential(&salt, &mechanism.salted_password("pw", &salt, 4096), 4096);
            for (password, accepted) in [("pw", true), ("pW", false)] {
                let mut client = ScramClient::new(mechanism, "u=,", password);
                let mut server = ScramServer::new(mechanism);
                let lookup = |user: &str| (user == "u=,").then(|| credential.clone());
                let Ok(ScramStep::Challenge(first)) = server.evaluate(&client.first_message(), lookup) else {
                    panic!("no challenge");
                };
                let last = client.final_message(&first).unwrap();
                match server.evaluate(&last, |_| None) {
                    Ok(ScramStep::Done { user, server_final }) => {
                        assert!(accepted && user == "u=," && client.server_is_genuine(&server_final));
                    }
                    Ok(ScramStep::Challenge(_)) => panic!("a third round"),
                    Err(e) => assert!(!accepted, "{e:?}"),
                }
                // The exchange is over either way.
                assert!(server.evaluate(&last, |_| None).is_err());
            }
        }
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        let credential = ScramMechanism::Sha256.credential(b"salt", b"salted", 4096);
        assert_eq!(format!("{credential:?}"), "ScramCredential([hidden])");
    }
}
