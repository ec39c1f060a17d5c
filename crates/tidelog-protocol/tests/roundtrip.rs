//! Every message round-trips at every version it has: a random value valid at a version
//! encodes, decodes to an equal value and consumes exactly its bytes.

use tidelog_protocol::sample::SampleRng;
use tidelog_protocol::{ApiKey, EncodeBuf, Reader, RequestBody, ResponseBody};

const SAMPLES_PER_VERSION: u64 = 200;

#[test]
fn every_message_round_trips_at_every_version() {
    for key in ApiKey::ALL {
        for version in key.min_version()..=key.max_version() {
            for seed in 0..SAMPLES_PER_VERSION {
                let mut rng = SampleRng::new(seed);
                let request = RequestBody::sample(key, &mut rng, version);
                let mut w = EncodeBuf::new();
                request.encode(&mut w, version).unwrap();
                let mut r = Reader::new(w.to_contiguous());
                assert_eq!(
                    RequestBody::decode(key, &mut r, version).unwrap(),
                    request,
                    "{key:?} v{version} request"
                );
                assert_eq!(r.remaining(), 0);

                let response = ResponseBody::sample(key, &mut rng, version);
                let mut w = EncodeBuf::new();
                response.encode(&mut w, version).unwrap();
                let mut r = Reader::new(w.to_contiguous());
                assert_eq!(
                    ResponseBody::decode(key, &mut r, version).unwrap(),
                    response,
                    "{key:?} v{version} response"
                );
                assert_eq!(r.remaining(), 0);
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
