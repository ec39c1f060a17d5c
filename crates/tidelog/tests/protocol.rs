//! The protocol surface, with raw frames: every API version the broker advertises answers
//! random valid requests (from `tidelog_protocol::sample`) with a response that decodes at
//! that version; every version it does not advertise closes the connection, as Kafka does;
//! and version-specific corners the random requests found.

mod common;

use common::Broker;
use tidelog_protocol::sample::SampleRng;
use tidelog_protocol::{ApiKey, RequestBody};

/// Kafka advertises exactly what it handles and closes the connection on anything else.
/// Versions our codecs know but the broker does not advertise (Produce before it is
/// implemented, old versions of admin APIs) must do the same, not leave the client waiting
/// for an answer that never comes.
#[test]
fn unadvertised_versions_close_the_connection() {
    let broker = Broker::start(&[]);
    let advertised = broker.raw().api_versions().api_keys;
    let is_advertised = |key: ApiKey, version: i16| {
        advertised
            .iter()
            .any(|a| a.api_key == key as i16 && (a.min_version..=a.max_version).contains(&version))
    };
    let mut closed = 0;
    for key in ApiKey::ALL {
        for version in (key.min_version()..=key.max_version()).filter(|v| !is_advertised(key, *v)) {
            let mut rng = SampleRng::new(version as u64);
            let mut client = broker.raw();
            client.send(version, &RequestBody::sample(key, &mut rng, version));
            broker.assert_closed_and_logged(&mut client, &format!("api_key={key:?} version={version}"));
            closed += 1;
        }
    }
    assert!(closed > 0, "every version of every API is advertised: nothing to test");
    assert_eq!(broker.raw().api_versions().error_code, 0);
}
