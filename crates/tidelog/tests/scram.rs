//! SASL/SCRAM-SHA-256 and -512 against the real binary: `tidelog users` sets, lists and
//! deletes credentials over AlterUserScramCredentials and DescribeUserScramCredentials on a
//! PLAINTEXT listener; on a SASL_PLAINTEXT listener offering only SCRAM, a client with the
//! password authenticates (and checks the server's signature) and is served, a wrong
//! password and an unknown user are refused with Kafka's error and message while the broker
//! serves the others, the credentials survive a restart, and no password reaches the log.
//! librdkafka authenticates with SCRAM too.

mod common;

use std::net::SocketAddr;

use common::cli::{tidelog, Run};
use common::raw::RawClient;
use common::Broker;
use tidelog_broker::scram::{ScramClient, ScramMechanism};
use tidelog_protocol::ErrorCode;

const SERVER_PROPERTIES: &str = "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0\n\
    listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512\n";

const ALICE_PASSWORD: &str = "alice-Pa55word";
const BOB_PASSWORD: &str = "bob-Pa55word";

/// Runs `tidelog users ARGS` against the broker's first (PLAINTEXT) listener with `stdin`.
fn users(broker: &Broker, args: &[&str], stdin: &str) -> Run {
    tidelog(broker, &[&["users"], args].concat(), stdin)
}

/// A SCRAM exchange on a new connection to `addr`: the connection if it was accepted (and
/// the server's signature checked), else the refusal's code and message.
fn login(
    addr: SocketAddr,
    mechanism: ScramMechanism,
    user: &str,
    password: &str,
) -> Result<RawClient, (ErrorCode, Option<String>)> {
    let mut raw = RawClient::connect(addr);
    assert_eq!(raw.sasl_handshake(mechanism.name()).0, ErrorCode::NONE);
    let mut client = ScramClient::new(mechanism, user, password);
    let first = raw.sasl_authenticate(&client.first_message());
    if first.error_code != 0 {
        raw.assert_closed();
        return Err((ErrorCode(first.error_code), first.error_message));
    }
    let last = client.final_message(&first.auth_bytes).expect("a server first message");
    let done = raw.sasl_authenticate(&last);
    if done.error_code != 0 {
        raw.assert_closed();
        return Err((ErrorCode(done.error_code), done.error_message));
    }
    assert!(client.server_is_genuine(&done.auth_bytes), "the server's signature");
    Ok(raw)
}

fn refused(mechanism: ScramMechanism) -> Result<(), (ErrorCode, Option<String>)> {
    Err((
        ErrorCode::SASL_AUTHENTICATION_FAILED,
        Some(format!(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"
        )),
    ))
}

#[test]
fn scram_users_set_with_the_cli_authenticate_and_others_are_refused() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("server.properties");
    std::fs::write(&file, SERVER_PROPERTIES).expect("write the file");
    let mut broker = Broker::start_from_file(&file);
    let sasl = broker.listener_addr("SASL_PLAINTEXT");

    for (args, password) in [
        (&["set", "alice", "--iterations", "8192"][..], ALICE_PASSWORD),
        (&["set", "alice", "--mechanism", "SCRAM-SHA-512"], ALICE_PASSWORD),
        (&["set", "bob", "--mechanism", "SCRAM-SHA-512"], BOB_PASSWORD),
    ] {
        let run = users(&broker, args, &format!("{password}\n"));
        assert!(run.success, "{}", run.stderr);
    }
    // The broker's refusals, with Kafka's messages.
    let run = users(&broker, &["set", "carol", "--iterations", "100000"], "x\n");
    let many = "Too many iterations (UNACCEPTABLE_CREDENTIAL)";
    assert!(!run.success && run.stderr.contains(many), "{}", run.stderr);
    let run = users(&broker, &["delete", "carol"], "");
    let missing = "Attempt to delete a user credential that does not exist (RESOURCE_NOT_FOUND)";
    assert!(!run.success && run.stderr.contains(missing), "{}", run.stderr);
    let listed = "alice\tSCRAM-SHA-256\titerations=8192\n\
        alice\tSCRAM-SHA-512\titerations=4096\n\
        bob\tSCRAM-SHA-512\titerations=4096\n";
    assert_eq!(users(&broker, &["list"], "").stdout, listed);

    // The listener offers what it enables, and only that.
    let mut raw = RawClient::connect(sasl);
    assert_eq!(
        raw.sasl_handshake("PLAIN"),
        (
            ErrorCode::UNSUPPORTED_SASL_MECHANISM,
            vec!["SCRAM-SHA-256".to_string(), "SCRAM-SHA-512".to_string()]
        )
    );
    raw.assert_closed();

    let mut alice = login(sasl, ScramMechanism::Sha256, "alice", ALICE_PASSWORD).expect("alice is accepted");
    let mut bob = login(sasl, ScramMechanism::Sha512, "bob", BOB_PASSWORD).expect("bob is accepted");
    // Refused: a wrong password, a mechanism the user has no credential for, an unknown user.
    let sha256 = ScramMechanism::Sha256;
    assert_eq!(login(sasl, sha256, "alice", "guess").map(drop), refused(sha256));
    assert_eq!(login(sasl, sha256, "bob", BOB_PASSWORD).map(drop), refused(sha256));
    assert_eq!(login(sasl, sha256, "mallory", "guess").map(drop), refused(sha256));
    // The ones in are still served.
    assert_eq!(alice.metadata(None, false).brokers.len(), 1);
    assert_eq!(bob.metadata(None, false).brokers.len(), 1);

    // A deleted credential no longer authenticates; the user's other one does.
    assert!(users(&broker, &["delete", "alice"], "").success);
    assert_eq!(login(sasl, sha256, "alice", ALICE_PASSWORD).map(drop), refused(sha256));
    login(sasl, ScramMechanism::Sha512, "alice", ALICE_PASSWORD).expect("alice's SCRAM-SHA-512");

    // After a restart, from the metadata log.
    drop((alice, bob));
    broker.restart();
    let sasl = broker.listener_addr("SASL_PLAINTEXT");
    let listed = "alice\tSCRAM-SHA-512\titerations=4096\nbob\tSCRAM-SHA-512\titerations=4096\n";
    assert_eq!(users(&broker, &["list"], "").stdout, listed);
    login(sasl, ScramMechanism::Sha512, "bob", BOB_PASSWORD).expect("bob after the restart");
    assert_eq!(
        login(sasl, ScramMechanism::Sha512, "bob", ALICE_PASSWORD).map(drop),
        refused(ScramMechanism::Sha512)
    );

    broker.stop();
    let log = broker.log();
    for secret in [ALICE_PASSWORD, BOB_PASSWORD, "guess"] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    assert!(log.contains("SASL authentication refused"), "{log}");
}

/// librdkafka's own SCRAM (it needs OpenSSL, which the `rdkafka` build here now has):
/// with the password it fetches metadata through the SASL_PLAINTEXT listener; with a wrong
/// one it cannot.
#[test]
fn librdkafka_authenticates_with_scram() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("server.properties");
    std::fs::write(&file, SERVER_PROPERTIES).expect("write the file");
    let broker = Broker::start_from_file(&file);
    let run = users(
        &broker,
        &["set", "alice", "--mechanism", "SCRAM-SHA-512"],
        &format!("{ALICE_PASSWORD}\n"),
    );
    assert!(run.success, "{}", run.stderr);
    let sasl = broker.listener_addr("SASL_PLAINTEXT").to_string();
    let metadata = |password: &str| {
        let mut config = broker.client_config();
        config
            .set("bootstrap.servers", &sasl)
            .set("security.protocol", "SASL_PLAINTEXT")
            .set("sasl.mechanisms", "SCRAM-SHA-512")
            .set("sasl.username", "alice")
            .set("sasl.password", password);
        let producer: rdkafka::producer::BaseProducer = config.create().expect("librdkafka takes SCRAM");
        rdkafka::producer::Producer::client(&producer)
            .fetch_metadata(None, std::time::Duration::from_secs(5))
            .map(|m| m.brokers().len())
    };
    assert_eq!(metadata(ALICE_PASSWORD).expect("authenticated"), 1);
    assert!(metadata("wrong").is_err());
    assert!(!broker.log().contains(ALICE_PASSWORD));
}
