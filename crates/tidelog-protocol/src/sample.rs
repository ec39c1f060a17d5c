//! Sample messages for tests and benchmarks (feature `sample`): random values for the
//! differential and round-trip tests, where every message can produce a random instance
//! valid at a given version, and the record-carrying messages the zero-copy tests and the
//! codec benchmarks share.

use bytes::Bytes;

use crate::codec::{concat, RawTaggedField};
use crate::header::RequestHeader;
use crate::messages::fetch_response::{FetchResponse, FetchableTopicResponse, PartitionData};
use crate::messages::produce_request::{PartitionProduceData, ProduceRequest, TopicProduceData};
use crate::uuid::Uuid;
use crate::{encode_request, RequestBody};

/// A Produce v11 frame, length prefix removed, with one partition carrying `records`.
pub fn produce_frame(records: Bytes) -> Bytes {
    let header = RequestHeader {
        api_key: 0,
        api_version: 11,
        correlation_id: 1,
        client_id: Some("producer".into()),
        ..Default::default()
    };
    let body = RequestBody::Produce(ProduceRequest {
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: "events".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(records),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let frame = encode_request(&header, &body).expect("a valid request");
    concat(&frame).expect("requests are in memory").split_off(4)
}

/// A Fetch response with one partition carrying `records`.
pub fn fetch_response(records: Bytes) -> FetchResponse {
    FetchResponse {
        responses: vec![FetchableTopicResponse {
            topic_id: Uuid::from_u128(7),
            partitions: vec![PartitionData {
                high_watermark: 1000,
                records: Some(records.into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A random value of `Self` that is valid at `version`.
pub trait Sample {
    fn sample(rng: &mut SampleRng, version: i16) -> Self;
}

/// xorshift64*: small, seedable, plenty for test data.
pub struct SampleRng(u64);

impl SampleRng {
    pub fn new(seed: u64) -> SampleRng {
        SampleRng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn one_in(&mut self, n: u64) -> bool {
        self.next() % n == 0
    }

    pub fn bool(&mut self) -> bool {
        self.one_in(2)
    }

    /// A finite float, so values compare equal after a round trip.
    pub fn f64(&mut self) -> f64 {
        (self.next() as i64) as f64 / 1024.0
    }

    /// An array length: small, so nested arrays stay small.
    pub fn array_len(&mut self) -> usize {
        (self.next() % 3) as usize
    }

    pub fn string(&mut self) -> String {
        let len = self.next() % 8;
        (0..len).map(|_| (b'a' + (self.next() % 26) as u8) as char).collect()
    }

    pub fn bytes(&mut self) -> Bytes {
        let len = self.next() % 12;
        (0..len).map(|_| self.next() as u8).collect::<Vec<u8>>().into()
    }

    pub fn uuid(&mut self) -> Uuid {
        Uuid::from_u128(u128::from(self.next()) << 64 | u128::from(self.next()))
    }

    /// A tagged field no schema knows (tags from 1000 up, above every real one).
    pub fn unknown_tagged_field(&mut self) -> RawTaggedField {
        RawTaggedField {
            tag: 1000 + (self.next() % 100) as u32,
            data: self.bytes(),
        }
    }
}
