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
