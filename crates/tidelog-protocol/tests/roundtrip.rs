//! Every message and every record of the metadata log round-trips at every version it has:
//! a random value valid at a version encodes, decodes to an equal value and consumes exactly
//! its bytes.

use tidelog_protocol::metadata::{
    KraftControlRecord, KraftControlType, MetadataRecord, MetadataRecordType, VersionedRecord, CONTROL_RECORD_VERSION,
};
use tidelog_protocol::sample::SampleRng;
use tidelog_protocol::{ApiKey, DecodeError, EncodeBuf, EncodeError, Reader, RequestBody, ResponseBody};

const SAMPLES_PER_VERSION: u64 = 200;

/// `value`, written by `encode` and read back by `decode`, is `value` again, and every byte
/// was read. `what` names it in failures.
fn assert_round_trips<B: PartialEq + std::fmt::Debug>(
    what: &str,
    value: &B,
    encode: impl Fn(&B, &mut EncodeBuf) -> Result<(), EncodeError>,
    decode: impl Fn(&mut Reader) -> Result<B, DecodeError>,
) {
    let mut w = EncodeBuf::new();
    encode(value, &mut w).unwrap();
    let mut r = Reader::new(w.to_contiguous());
    assert_eq!(&decode(&mut r).unwrap(), value, "{what}");
    assert_eq!(r.remaining(), 0, "{what}");
}

#[test]
fn every_message_round_trips_at_every_version() {
    for key in ApiKey::ALL {
        for version in key.min_version()..=key.max_version() {
            for seed in 0..SAMPLES_PER_VERSION {
                let mut rng = SampleRng::new(seed);
                assert_round_trips(
                    &format!("{key:?} v{version} request"),
                    &RequestBody::sample(key, &mut rng, version),
                    |request, w| request.encode(w, version),
                    |r| RequestBody::decode(key, r, version),
                );
                assert_round_trips(
                    &format!("{key:?} v{version} response"),
                    &ResponseBody::sample(key, &mut rng, version),
                    |response, w| response.encode(w, version),
                    |r| ResponseBody::decode(key, r, version),
                );
            }
        }
    }
}

#[test]
fn whole_frames_round_trip_with_the_right_header_versions() {
    use bytes::Bytes;
    use tidelog_protocol::header::RequestHeader;
    use tidelog_protocol::{decode_request, decode_response, encode_request, encode_response, Payload};

    let concat = |chunks: Vec<Payload>| -> Bytes {
        let frame = tidelog_protocol::codec::concat(&chunks).unwrap();
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(len, frame.len() - 4, "length prefix");
        frame.slice(4..)
    };
    let mut rng = SampleRng::new(7);
    for key in ApiKey::ALL {
        for version in key.min_version()..=key.max_version() {
            let header = RequestHeader {
                api_key: key as i16,
                api_version: version,
                correlation_id: 42,
                client_id: Some("client".into()),
                ..Default::default()
            };
            let body = RequestBody::sample(key, &mut rng, version);
            let request = decode_request(concat(encode_request(&header, &body).unwrap())).unwrap();
            assert_eq!((request.header, request.body), (header, body));

            let response = ResponseBody::sample(key, &mut rng, version);
            let frame = concat(encode_response(42, version, &response).unwrap());
            let (h, b) = decode_response(frame, key, version).unwrap();
            assert_eq!((h.correlation_id, b), (42, response));
        }
    }
}

#[test]
fn every_metadata_record_round_trips_at_every_version() {
    for kind in MetadataRecordType::ALL {
        for version in kind.min_version()..=kind.max_version() {
            for seed in 0..SAMPLES_PER_VERSION {
                let mut rng = SampleRng::new(seed);
                let record = VersionedRecord {
                    version,
                    record: MetadataRecord::sample(kind, &mut rng, version),
                };
                let value = record.encode().unwrap();
                assert_eq!(VersionedRecord::decode(value).unwrap(), record, "{kind:?} v{version}");
            }
        }
    }
}

#[test]
fn every_kraft_control_record_round_trips() {
    for kind in KraftControlType::ALL {
        for version in kind.min_version()..=kind.max_version() {
            for seed in 0..SAMPLES_PER_VERSION {
                assert_round_trips(
                    &format!("{kind:?} v{version}"),
                    &KraftControlRecord::sample(kind, &mut SampleRng::new(seed), version),
                    |record, w| record.encode(w, version),
                    |r| KraftControlRecord::decode(kind, r, version),
                );
            }
        }
        // As a record of a control batch: the key names the type, the version is Kafka's.
        let record = KraftControlRecord::sample(kind, &mut SampleRng::new(7), CONTROL_RECORD_VERSION);
        let (key, value) = record.encode_record().unwrap();
        assert_eq!(KraftControlRecord::decode_record(Some(&key), value).unwrap(), record);
    }
}

/// `ApiKey::position` is each key's index in `ApiKey::ALL`, so tables indexed by it (the
/// request metrics' per-API series) have one slot per API and no gaps.
#[test]
fn api_key_positions_index_all() {
    for (i, key) in ApiKey::ALL.into_iter().enumerate() {
        assert_eq!(key.position(), i, "{key:?}");
    }
}
