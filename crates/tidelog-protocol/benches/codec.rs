//! Codec benchmarks. Record bytes are sliced on decode and chunked on encode, never
//! copied, so a Produce request or a Fetch response costs the same with 16 KiB of records
//! as with 1 MiB; a small Metadata response gives the scale of an ordinary message.
//!
//! `cargo bench -p tidelog-protocol --bench codec -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use tidelog_protocol::messages::metadata_response::{
    MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use tidelog_protocol::{decode_request, encode_response, sample, EncodeBuf, ResponseBody, Uuid};

const SIZES: [(&str, usize); 2] = [("16 KiB", 16 << 10), ("1 MiB", 1 << 20)];

/// A Produce v11 frame (length prefix removed) with one partition carrying `records_len`
/// bytes of records.
fn produce_frame(records_len: usize) -> Bytes {
    sample::produce_frame(Bytes::from(vec![0xa5; records_len]))
}

/// A Fetch response with one partition carrying `records_len` bytes of records.
fn fetch_response(records_len: usize) -> ResponseBody {
    ResponseBody::Fetch(sample::fetch_response(Bytes::from(vec![0x5a; records_len])))
}

/// A Metadata response for 3 brokers and 4 topics of 3 partitions, replication factor 3.
fn metadata_response() -> ResponseBody {
    let brokers = (0..3)
        .map(|node_id| MetadataResponseBroker {
            node_id,
            host: format!("broker-{node_id}.example.com"),
            port: 9092,
            rack: Some(format!("rack-{node_id}")),
            ..Default::default()
        })
        .collect();
    let topics = (0..4)
        .map(|t| MetadataResponseTopic {
            name: Some(format!("topic-{t}")),
            topic_id: Uuid::from_u128(t + 1),
            partitions: (0..3)
                .map(|partition_index| MetadataResponsePartition {
                    partition_index,
                    leader_id: partition_index,
                    leader_epoch: 5,
                    replica_nodes: vec![0, 1, 2],
                    isr_nodes: vec![0, 1, 2],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    ResponseBody::Metadata(MetadataResponse {
        brokers,
        cluster_id: Some("tidelog-bench".into()),
        controller_id: 0,
        topics,
        ..Default::default()
    })
}

fn encode_into_buf(body: &ResponseBody, version: i16) -> EncodeBuf {
    let mut w = EncodeBuf::new();
    body.encode(&mut w, version).unwrap();
    w
}

fn decode_produce(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode ProduceRequest v11 frame");
    for (label, len) in SIZES {
        let frame = produce_frame(len);
        group.bench_function(format!("{label} records"), |b| {
            b.iter(|| decode_request(black_box(frame.clone())).unwrap())
        });
    }
    group.finish();
}

fn encode_fetch(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode FetchResponse v16");
    for (label, len) in SIZES {
        let body = fetch_response(len);
        group.bench_function(format!("{label} records, into EncodeBuf"), |b| {
            b.iter(|| encode_into_buf(black_box(&body), 16))
        });
        group.bench_function(format!("{label} records, into frame chunks"), |b| {
            b.iter(|| encode_response(1, 16, black_box(&body)).unwrap())
        });
    }
    // What a copying encoder would pay: the same response flattened into one buffer.
    let body = fetch_response(1 << 20);
    group.bench_function("1 MiB records, copied into one buffer (baseline)", |b| {
        b.iter(|| encode_into_buf(black_box(&body), 16).to_contiguous())
    });
    group.finish();
}

fn encode_metadata(c: &mut Criterion) {
    let body = metadata_response();
    c.bench_function("encode MetadataResponse v12, 3 brokers, 12 partitions", |b| {
        b.iter(|| encode_into_buf(black_box(&body), 12))
    });
}

criterion_group!(benches, decode_produce, encode_fetch, encode_metadata);
criterion_main!(benches);
