//! A response's error codes, as the broker's metrics count them by API and error.

use tidelog_protocol::ResponseBody;

/// `error_codes` visits every error code of a response: the top level's, each topic's and
/// each partition's, and none of the structs without one.
#[test]
fn error_codes_visits_top_level_and_nested_codes() {
    use tidelog_protocol::messages::metadata_response::*;
    let partition = |error_code| MetadataResponsePartition {
        error_code,
        ..Default::default()
    };
    let body = ResponseBody::Metadata(MetadataResponse {
        error_code: 7,
        brokers: vec![MetadataResponseBroker::default()],
        topics: vec![
            MetadataResponseTopic {
                error_code: 3,
                partitions: vec![partition(0), partition(5)],
                ..Default::default()
            },
            MetadataResponseTopic {
                partitions: vec![partition(6)],
                ..Default::default()
            },
        ],
        ..Default::default()
    });
    let mut codes = Vec::new();
    body.error_codes(&mut |code| codes.push(code));
    codes.sort();
    assert_eq!(codes, [0, 0, 3, 5, 6, 7]);
}
