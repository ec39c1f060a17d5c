//! Record batches end to end: builder round trips for every codec, header rewrites, batch
//! splitting with torn tails, hostile input, and a differential check against the
//! `kafka-protocol` crate in both directions.

use bytes::Bytes;
use tidelog_protocol::records::{
    compress, decompress, BatchHeader, Compression, Header, Record, RecordBatch, RecordBatchBuilder, RecordBatchMut,
    RecordsError, TimestampType, HEADER_LEN,
};
use tidelog_protocol::varint::{put_varint, put_varlong};

const CAP: usize = 1 << 20;
const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];
const BASE_OFFSET: i64 = 1_000;
const BASE_TIMESTAMP: i64 = 1_700_000_000_000;

fn header(key: &'static str, value: Option<&'static str>) -> Header {
    Header {
        key: Bytes::from_static(key.as_bytes()),
        value: value.map(|v| Bytes::from_static(v.as_bytes())),
    }
}

/// Records covering null and empty keys and values, headers with null values, a
/// timestamp before the first one, and a value spanning several compression blocks.
fn sample_records() -> Vec<Record> {
    let record = |delta: i64, timestamp_delta: i64, key: Option<Bytes>, value: Option<Bytes>| Record {
        offset: BASE_OFFSET + delta,
        timestamp: BASE_TIMESTAMP + timestamp_delta,
        key,
        value,
        headers: Vec::new(),
    };
    let large: Bytes = (0..100_000u32).map(|i| (i * 7 % 253) as u8).collect();
    vec![
        record(0, 0, Some(Bytes::from_static(b"k0")), Some(Bytes::from_static(b"v0"))),
        Record {
            headers: vec![header("trace", Some("abc")), header("empty", None)],
            ..record(1, 5, None, Some(Bytes::from_static(b"value without key")))
        },
        record(2, -3, Some(Bytes::new()), None),
        Record {
            headers: vec![header("", Some(""))],
            ..record(3, 100, Some(large.slice(..3_000)), Some(large))
        },
    ]
}

fn builder(codec: Compression) -> RecordBatchBuilder {
    RecordBatchBuilder::new(BASE_OFFSET)
        .compression(codec)
        .partition_leader_epoch(7)
        .producer(42, 3, 17)
        .transactional(true)
}

fn build(codec: Compression, records: &[Record]) -> RecordBatch {
    let mut builder = builder(codec);
    for r in records {
        builder.append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &r.headers);
    }
    builder.build()
}

fn decode(batch: &RecordBatch) -> Result<Vec<Record>, RecordsError> {
    batch.records(CAP)?.collect()
}

/// Replaces a batch's records section, fixing batchLength, recordCount and the CRC, to
/// make hostile batches whose header is otherwise well-formed.
fn with_body(codec: Compression, record_count: i32, body: &[u8]) -> RecordBatch {
    let mut out = RecordBatchBuilder::new(0).compression(codec).build().as_bytes()[..HEADER_LEN].to_vec();
    out.extend_from_slice(body);
    let batch_length = i32::try_from(out.len() - 12).unwrap();
    out[8..12].copy_from_slice(&batch_length.to_be_bytes());
    out[57..61].copy_from_slice(&record_count.to_be_bytes());
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    RecordBatch::parse(Bytes::from(out)).unwrap()
}

/// A record in wire form from its raw fields, lengths included, for hostile variants.
fn raw_record(length: Option<i32>, build_fields: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut fields = vec![0];
    build_fields(&mut fields);
    let mut out = Vec::new();
    put_varint(&mut out, length.unwrap_or(fields.len() as i32));
    out.extend_from_slice(&fields);
    out
}

/// The fields of a valid record (deltas 0, key "k", value "v", no headers).
fn valid_fields(fields: &mut Vec<u8>) {
    put_varlong(fields, 0);
    put_varint(fields, 0);
    put_varint(fields, 1);
    fields.push(b'k');
    put_varint(fields, 1);
    fields.push(b'v');
    put_varint(fields, 0);
}

#[test]
fn builder_round_trips_every_codec() {
    let records = sample_records();
    for codec in CODECS {
        let batch = RecordBatch::parse(build(codec, &records).as_bytes().clone()).unwrap();
        batch.verify_crc().unwrap();
        assert_eq!(batch.compression(), codec);
        assert_eq!(batch.base_offset(), BASE_OFFSET);
        assert_eq!(batch.batch_length() as usize + 12, batch.size_in_bytes());
        assert_eq!(batch.partition_leader_epoch(), 7);
        assert_eq!(batch.magic(), 2);
        assert_eq!(batch.attributes() & 0x07, codec as i16);
        assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
        assert!(batch.is_transactional());
        assert!(!batch.is_control());
        assert!(!batch.has_delete_horizon());
        assert_eq!(batch.last_offset_delta(), 3);
        assert_eq!(batch.last_offset(), BASE_OFFSET + 3);
        assert_eq!(batch.next_offset(), BASE_OFFSET + 4);
        assert_eq!(batch.base_timestamp(), BASE_TIMESTAMP);
        assert_eq!(batch.max_timestamp(), BASE_TIMESTAMP + 100);
        assert_eq!((batch.producer_id(), batch.producer_epoch()), (42, 3));
        assert_eq!(batch.base_sequence(), 17);
        assert_eq!(batch.record_count(), 4);
        assert_eq!(decode(&batch).unwrap(), records, "{codec:?}");
        batch.validate_records(CAP).unwrap();
    }
}

#[test]
fn uncompressed_records_are_slices_of_the_batch() {
    let batch = build(Compression::None, &sample_records());
    let range = batch.as_bytes().as_ptr_range();
    let value = decode(&batch).unwrap().pop().unwrap().value.unwrap();
    assert!(range.contains(&value.as_ptr()));
}

#[test]
fn control_and_empty_batches() {
    let mut builder = RecordBatchBuilder::new(5)
        .transactional(true)
        .control(true)
        .producer(9, 1, -1);
    builder.append(10, Some(&[0, 0, 0, 1]), Some(&[0, 0, 0, 0, 0, 3]), &[]);
    let marker = builder.build();
    assert!(marker.is_control() && marker.is_transactional());
    assert_eq!(marker.base_sequence(), -1);
    marker.verify_crc().unwrap();
    assert_eq!(decode(&marker).unwrap().len(), 1);

    let empty = RecordBatchBuilder::new(5).build();
    empty.verify_crc().unwrap();
    assert_eq!((empty.record_count(), empty.next_offset()), (0, 5));
    assert_eq!(decode(&empty).unwrap(), vec![]);
    // Clients may not produce empty batches.
    assert_eq!(
        empty.validate_records(CAP),
        Err(RecordsError::InvalidOffsetRange {
            last_offset_delta: -1,
            record_count: 0
        })
    );
}

#[test]
fn crc_covers_attributes_to_the_end() {
    let batch = build(Compression::None, &sample_records()[..2]);
    for at in 21..batch.size_in_bytes() {
        let mut bytes = batch.as_bytes().to_vec();
        bytes[at] ^= 0x01;
        // A flip may also make the header invalid; either way it must not pass.
        let checked = RecordBatch::parse(Bytes::from(bytes)).and_then(|b| b.verify_crc());
        assert!(checked.is_err(), "flip at {at} went unnoticed");
    }
    let mut bytes = batch.as_bytes().to_vec();
    bytes[30] ^= 0x01;
    let expected = batch.crc();
    assert!(matches!(
        RecordBatch::parse(Bytes::from(bytes)).unwrap().verify_crc(),
        Err(RecordsError::CrcMismatch { expected: e, .. }) if e == expected
    ));
}

#[test]
fn base_offset_and_leader_epoch_rewrites_keep_the_crc() {
    let batch = build(Compression::Lz4, &sample_records());
    let mut bytes = batch.as_bytes().to_vec();
    let mut header = RecordBatchMut::new(&mut bytes).unwrap();
    header.set_base_offset(50_000);
    header.set_partition_leader_epoch(12);
    let rewritten = RecordBatch::parse(Bytes::from(bytes)).unwrap();
    rewritten.verify_crc().unwrap();
    assert_eq!(rewritten.crc(), batch.crc());
    assert_eq!((rewritten.base_offset(), rewritten.last_offset()), (50_000, 50_003));
    assert_eq!(rewritten.partition_leader_epoch(), 12);
    let offsets: Vec<i64> = decode(&rewritten).unwrap().iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [50_000, 50_001, 50_002, 50_003]);
}

#[test]
fn log_append_time_rewrite_recomputes_the_crc() {
    let batch = build(Compression::Zstd, &sample_records());
    let mut bytes = batch.as_bytes().to_vec();
    RecordBatchMut::new(&mut bytes)
        .unwrap()
        .set_log_append_time(BASE_TIMESTAMP + 9_999);
    let stamped = RecordBatch::parse(Bytes::from(bytes)).unwrap();
    stamped.verify_crc().unwrap();
    assert_ne!(stamped.crc(), batch.crc());
    assert_eq!(stamped.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(stamped.compression(), Compression::Zstd);
    assert_eq!(stamped.base_timestamp(), BASE_TIMESTAMP);
    assert_eq!(stamped.max_timestamp(), BASE_TIMESTAMP + 9_999);
    assert!(decode(&stamped)
        .unwrap()
        .iter()
        .all(|r| r.timestamp == BASE_TIMESTAMP + 9_999));

    let built = builder(Compression::None).log_append_time(77).build();
    assert_eq!(
        (built.timestamp_type(), built.max_timestamp()),
        (TimestampType::LogAppendTime, 77)
    );
}

#[test]
fn rewrites_refuse_what_parse_refuses() {
    let mut bytes = build(Compression::None, &sample_records()[..1]).as_bytes().to_vec();
    let mut short = bytes[..HEADER_LEN].to_vec();
    assert!(matches!(
        RecordBatchMut::new(&mut short),
        Err(RecordsError::Truncated { .. })
    ));
    bytes[16] = 1;
    assert_eq!(
        RecordBatchMut::new(&mut bytes).unwrap_err(),
        RecordsError::InvalidMagic(1)
    );
}

/// Small batches of every codec, back to back, as in a segment or a fetch response.
fn concatenated() -> (Vec<RecordBatch>, Bytes) {
    let records = &sample_records()[..3];
    let batches: Vec<RecordBatch> = CODECS.iter().map(|&codec| build(codec, records)).collect();
    let all: Vec<u8> = batches.iter().flat_map(|b| b.as_bytes().to_vec()).collect();
    (batches, Bytes::from(all))
}

#[test]
fn iter_batches_splits_concatenated_batches() {
    let (batches, all) = concatenated();
    let mut iter = RecordBatch::iter_batches(all.clone());
    for expected in &batches {
        let batch = iter.next().unwrap().unwrap();
        assert_eq!(&batch, expected);
        batch.verify_crc().unwrap();
    }
    assert!(iter.next().is_none());
    assert_eq!(iter.position(), all.len());
    assert!(RecordBatch::iter_batches(Bytes::new()).next().is_none());
}

#[test]
fn iter_batches_reports_a_torn_tail_at_every_cut() {
    let (batches, all) = concatenated();
    let ends: Vec<usize> = batches
        .iter()
        .scan(0, |end, b| {
            *end += b.size_in_bytes();
            Some(*end)
        })
        .collect();
    for cut in 0..=all.len() {
        let complete = ends.iter().take_while(|&&end| end <= cut).count();
        let prefix = if complete == 0 { 0 } else { ends[complete - 1] };
        let mut iter = RecordBatch::iter_batches(all.slice(..cut));
        for expected in &batches[..complete] {
            assert_eq!(&iter.next().unwrap().unwrap(), expected);
        }
        if cut != prefix {
            assert!(
                matches!(iter.next(), Some(Err(RecordsError::Truncated { .. }))),
                "cut {cut}"
            );
        }
        assert!(iter.next().is_none());
        assert_eq!(iter.position(), prefix, "cut {cut}");
    }
}

#[test]
fn iter_batches_stops_at_a_malformed_batch() {
    let (batches, all) = concatenated();
    let first = batches[0].size_in_bytes();
    for (at, value, error) in [
        (16, 1, RecordsError::InvalidMagic(1)),
        (
            8,
            0xff,
            RecordsError::InvalidBatchLength(i32::from_be_bytes([0xff, 0, 0, 0]) | batches[1].batch_length()),
        ),
    ] {
        let mut bytes = all.to_vec();
        bytes[first + at] = value;
        let mut iter = RecordBatch::iter_batches(Bytes::from(bytes));
        assert_eq!(iter.next().unwrap().unwrap(), batches[0]);
        assert_eq!(iter.next().unwrap().unwrap_err(), error);
        assert!(iter.next().is_none());
        assert_eq!(iter.position(), first);
    }
}

#[test]
fn parse_rejects_malformed_headers() {
    let valid = build(Compression::None, &sample_records()[..1]).as_bytes().to_vec();
    let patched = |at: usize, value: &[u8]| {
        let mut bytes = valid.clone();
        bytes[at..at + value.len()].copy_from_slice(value);
        RecordBatch::parse(Bytes::from(bytes)).unwrap_err()
    };
    let truncated = |len: usize| RecordBatch::parse(Bytes::copy_from_slice(&valid[..len])).unwrap_err();
    assert!(matches!(
        truncated(0),
        RecordsError::Truncated {
            needed: 12,
            available: 0
        }
    ));
    assert!(matches!(truncated(1), RecordsError::Truncated { .. }));
    assert!(matches!(truncated(HEADER_LEN - 1), RecordsError::Truncated { .. }));
    assert!(matches!(truncated(valid.len() - 1), RecordsError::Truncated { .. }));
    assert_eq!(patched(8, &(-1i32).to_be_bytes()), RecordsError::InvalidBatchLength(-1));
    assert_eq!(patched(8, &48i32.to_be_bytes()), RecordsError::InvalidBatchLength(48));
    assert_eq!(patched(16, &[0]), RecordsError::InvalidMagic(0));
    assert_eq!(patched(22, &[0x07]), RecordsError::UnknownCompression(7));
    assert_eq!(
        patched(57, &(-1i32).to_be_bytes()),
        RecordsError::InvalidRecordCount(-1)
    );

    let mut longer = valid.clone();
    longer.push(0);
    assert_eq!(
        RecordBatch::parse(Bytes::from(longer)).unwrap_err(),
        RecordsError::TrailingBytes(1)
    );
}

#[test]
fn huge_record_count_with_a_tiny_body_fails_without_allocating() {
    for codec in CODECS {
        let body = compress(codec, &raw_record(None, valid_fields));
        let batch = with_body(codec, i32::MAX, &body);
        let mut records = batch.records(CAP).unwrap();
        assert!(records.next().unwrap().is_ok());
        assert_eq!(
            records.next().unwrap().unwrap_err(),
            RecordsError::RecordCountMismatch {
                declared: i32::MAX,
                actual: 1
            }
        );
        assert!(records.next().is_none());
    }
}

#[test]
fn record_decoding_checks_every_length() {
    let cases: Vec<(Vec<u8>, RecordsError)> = vec![
        (
            raw_record(Some(-5), valid_fields),
            RecordsError::InvalidLength {
                field: "record",
                length: -5,
            },
        ),
        (
            raw_record(Some(i32::MAX), valid_fields),
            RecordsError::Truncated {
                needed: i32::MAX as usize,
                available: 8,
            },
        ),
        (
            raw_record(Some(20), valid_fields),
            RecordsError::Truncated {
                needed: 20,
                available: 8,
            },
        ),
        (
            raw_record(None, |f| {
                valid_fields(f);
                f.push(0);
            }),
            RecordsError::TrailingBytes(1),
        ),
        (
            raw_record(Some(0), |_| {}),
            RecordsError::Truncated {
                needed: 1,
                available: 0,
            },
        ),
        (
            raw_record(None, |f| {
                put_varlong(f, 0);
                put_varint(f, 0);
                put_varint(f, -2);
            }),
            RecordsError::InvalidLength {
                field: "key",
                length: -2,
            },
        ),
        (
            raw_record(None, |f| {
                put_varlong(f, 0);
                put_varint(f, 0);
                put_varint(f, -1);
                put_varint(f, i32::MAX);
            }),
            RecordsError::Truncated {
                needed: i32::MAX as usize,
                available: 0,
            },
        ),
        (
            raw_record(None, |f| {
                put_varlong(f, 0);
                put_varint(f, 0);
                put_varint(f, -1);
                put_varint(f, -1);
                put_varint(f, -1);
            }),
            RecordsError::InvalidLength {
                field: "header count",
                length: -1,
            },
        ),
        (
            raw_record(None, |f| {
                put_varlong(f, 0);
                put_varint(f, 0);
                put_varint(f, -1);
                put_varint(f, -1);
                put_varint(f, i32::MAX);
            }),
            RecordsError::Varint(tidelog_protocol::varint::VarintError::Truncated),
        ),
        (
            raw_record(None, |f| {
                put_varlong(f, 0);
                put_varint(f, 0);
                put_varint(f, -1);
                put_varint(f, -1);
                put_varint(f, 1);
                put_varint(f, -1);
            }),
            RecordsError::InvalidLength {
                field: "header key",
                length: -1,
            },
        ),
        (
            raw_record(None, |f| f.extend_from_slice(&[0xff; 11])),
            RecordsError::Varint(tidelog_protocol::varint::VarintError::TooLong),
        ),
    ];
    for (body, error) in cases {
        let batch = with_body(Compression::None, 1, &body);
        assert_eq!(decode(&batch).unwrap_err(), error, "{body:02x?}");
    }

    let two = [raw_record(None, valid_fields), raw_record(None, valid_fields)].concat();
    let batch = with_body(Compression::None, 1, &two);
    assert_eq!(decode(&batch).unwrap_err(), RecordsError::TrailingBytes(two.len() / 2));
}

#[test]
fn validate_records_applies_kafkas_produce_rules() {
    let record = raw_record(None, valid_fields);
    let second = raw_record(None, |f| {
        put_varlong(f, 0);
        put_varint(f, 2); // offset delta 2 at index 1
        put_varint(f, -1);
        put_varint(f, -1);
        put_varint(f, 0);
    });
    let body = [record.clone(), second].concat();
    let mut batch = with_body(Compression::None, 2, &body).as_bytes().to_vec();
    batch[23..27].copy_from_slice(&1i32.to_be_bytes());
    let batch = RecordBatch::parse(Bytes::from(batch)).unwrap();
    assert_eq!(
        batch.validate_records(CAP),
        Err(RecordsError::InvalidOffsetDelta {
            index: 1,
            offset_delta: 2
        })
    );

    // with_body leaves lastOffsetDelta at the empty template's -1.
    let batch = with_body(Compression::None, 1, &record);
    assert_eq!(
        batch.validate_records(CAP),
        Err(RecordsError::InvalidOffsetRange {
            last_offset_delta: -1,
            record_count: 1
        })
    );
}

/// `copies` back-to-back copies of `unit`, after `prefix`.
fn repeated(prefix: &[u8], unit: &[u8], copies: usize) -> Vec<u8> {
    let mut out = prefix.to_vec();
    for _ in 0..copies {
        out.extend_from_slice(unit);
    }
    out
}

/// A stream that decompresses to 1 GiB of zeros: concatenated gzip members or zstd
/// frames of 1 MiB, or one LZ4 frame repeating a 64 KiB block. Snappy cannot compress
/// better than about 21:1, so its bomb is a snappy-java stream of 64 MiB.
fn bomb(codec: Compression) -> Vec<u8> {
    match codec {
        Compression::Snappy => {
            let one_block = compress(codec, &vec![0; 32 * 1024]);
            let (header, block) = one_block.split_at(16);
            repeated(header, block, 2 * 1024)
        }
        Compression::Lz4 => {
            // A 7-byte frame header (no content size), then [u32 LE size][block]...
            let frame = compress(codec, &vec![0; 64 * 1024]);
            let size = u32::from_le_bytes(frame[7..11].try_into().unwrap()) as usize;
            let mut bomb = repeated(&frame[..7], &frame[7..11 + size], 16 * 1024);
            bomb.extend_from_slice(&[0; 4]); // end mark
            bomb
        }
        codec => repeated(&[], &compress(codec, &vec![0; 1 << 20]), 1024),
    }
}

#[test]
fn decompression_bombs_stop_at_the_cap() {
    let too_large = RecordsError::DecompressedTooLarge { limit: CAP };
    for codec in &CODECS[1..] {
        let bomb = bomb(*codec);
        let decompressed = decompress(*codec, &bomb, CAP).map(|out| out.len());
        assert_eq!(decompressed, Err(too_large.clone()), "{codec:?}");
        let batch = with_body(*codec, 1, &bomb);
        assert_eq!(batch.records(CAP).err(), Some(too_large.clone()), "{codec:?}");
    }
    // A raw snappy block declaring 1 GiB is refused before anything is allocated.
    let mut raw = Vec::new();
    tidelog_protocol::varint::put_uvarint(&mut raw, 1 << 30);
    raw.extend_from_slice(&[0; 16]);
    let decompressed = decompress(Compression::Snappy, &raw, CAP).map(|out| out.len());
    assert_eq!(decompressed, Err(too_large));
}

/// Marsaglia's xorshift64: reproducible noise without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Runs every reader over `bytes`; the only requirement is that none panics.
fn exercise(bytes: Vec<u8>) {
    for batch in RecordBatch::iter_batches(Bytes::from(bytes.clone())).flatten() {
        let _ = batch.verify_crc();
        if let Ok(records) = batch.records(CAP) {
            records.for_each(drop);
        }
        let _ = batch.validate_records(CAP);
    }
    let mut bytes = bytes;
    if let Ok(mut header) = RecordBatchMut::new(&mut bytes) {
        header.set_log_append_time(1);
    }
}

#[test]
fn random_garbage_never_panics() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2_000 {
        let len = rng.below(300);
        exercise(rng.bytes(len));
    }
    for codec in CODECS {
        for _ in 0..500 {
            let len = rng.below(200);
            let noise = rng.bytes(len);
            let _ = decompress(codec, &noise, CAP);
            let count = [0, 1, 3, i32::MAX][rng.below(4)];
            exercise(with_body(codec, count, &noise).as_bytes().to_vec());
        }
    }
}

#[test]
fn mutated_batches_never_panic() {
    let mut rng = XorShift(42);
    let records = &sample_records()[..3];
    for codec in CODECS {
        let valid = build(codec, records).as_bytes().to_vec();
        for _ in 0..1_000 {
            let mut bytes = valid.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next() as u8;
            }
            exercise(bytes);
        }
    }
}

mod kafka_protocol_oracle {
    use super::*;
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records as kp;

    fn codec(codec: Compression) -> kp::Compression {
        match codec {
            Compression::None => kp::Compression::None,
            Compression::Gzip => kp::Compression::Gzip,
            Compression::Snappy => kp::Compression::Snappy,
            Compression::Lz4 => kp::Compression::Lz4,
            Compression::Zstd => kp::Compression::Zstd,
        }
    }

    fn to_oracle(record: &Record) -> kp::Record {
        kp::Record {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 7,
            producer_id: 42,
            producer_epoch: 3,
            timestamp_type: kp::TimestampType::Creation,
            offset: record.offset,
            sequence: 17 + (record.offset - BASE_OFFSET) as i32,
            timestamp: record.timestamp,
            key: record.key.clone(),
            value: record.value.clone(),
            headers: record
                .headers
                .iter()
                .map(|h| (StrBytes::from_utf8(h.key.clone()).unwrap(), h.value.clone()))
                .collect(),
        }
    }

    fn from_oracle(record: &kp::Record) -> Record {
        Record {
            offset: record.offset,
            timestamp: record.timestamp,
            key: record.key.clone(),
            value: record.value.clone(),
            headers: record
                .headers
                .iter()
                .map(|(key, value)| Header {
                    key: Bytes::copy_from_slice(key.as_bytes()),
                    value: value.clone(),
                })
                .collect(),
        }
    }

    #[test]
    fn batches_they_encode_parse_verify_and_iterate_here() {
        let records = sample_records();
        let oracle: Vec<kp::Record> = records.iter().map(to_oracle).collect();
        for ours in CODECS {
            let mut encoded = bytes::BytesMut::new();
            let options = kp::RecordEncodeOptions {
                version: 2,
                compression: codec(ours),
            };
            kp::RecordBatchEncoder::encode(&mut encoded, &oracle, &options).unwrap();

            let mut batches = RecordBatch::iter_batches(encoded.freeze());
            let batch = batches.next().unwrap().unwrap();
            assert!(batches.next().is_none(), "{ours:?}: one batch expected");
            batch.verify_crc().unwrap();
            assert_eq!(batch.compression(), ours);
            assert!(batch.is_transactional());
            assert_eq!(
                (batch.producer_id(), batch.producer_epoch(), batch.base_sequence()),
                (42, 3, 17)
            );
            assert_eq!(batch.max_timestamp(), BASE_TIMESTAMP + 100);
            batch.validate_records(CAP).unwrap();
            assert_eq!(decode(&batch).unwrap(), records, "{ours:?}");
        }
    }

    #[test]
    fn batches_we_build_decode_there() {
        let records = sample_records();
        for ours in CODECS {
            let batch = build(ours, &records);
            let mut bytes = batch.as_bytes().clone();
            let set = kp::RecordBatchDecoder::decode(&mut bytes).unwrap();
            assert!(bytes.is_empty());
            assert_eq!(set.compression, codec(ours));
            let decoded: Vec<Record> = set.records.iter().map(from_oracle).collect();
            assert_eq!(decoded, records, "{ours:?}");
            for (record, expected) in set.records.iter().zip(&records) {
                assert!(record.transactional && !record.control);
                assert_eq!((record.producer_id, record.producer_epoch), (42, 3));
                assert_eq!(record.partition_leader_epoch, 7);
                assert_eq!(record.sequence, 17 + (expected.offset - BASE_OFFSET) as i32);
            }
        }
    }
}

#[test]
fn batch_header_reads_a_prefix_as_parse_reads_the_batch() {
    let (batches, all) = concatenated();
    let mut position = 0;
    for batch in &batches {
        // From the header alone, and from a buffer holding this batch and the rest.
        for buf in [&all[position..position + HEADER_LEN], &all[position..]] {
            let header = BatchHeader::parse(buf).unwrap();
            assert_eq!(header.base_offset(), batch.base_offset());
            assert_eq!(header.last_offset_delta(), batch.last_offset_delta());
            assert_eq!(header.last_offset(), batch.last_offset());
            assert_eq!(header.max_timestamp(), batch.max_timestamp());
            assert_eq!(header.record_count(), batch.record_count());
            assert_eq!(header.size_in_bytes(), batch.size_in_bytes());
            let placed = header.with_base_offset(1_000);
            assert_eq!(
                (placed.base_offset(), placed.last_offset()),
                (1_000, 1_000 + i64::from(batch.last_offset_delta()))
            );
            assert_eq!(placed.size_in_bytes(), batch.size_in_bytes());
        }
        position += batch.size_in_bytes();
    }
    assert_eq!(
        BatchHeader::parse(&all[..HEADER_LEN - 1]).unwrap_err(),
        RecordsError::Truncated {
            needed: HEADER_LEN,
            available: HEADER_LEN - 1
        }
    );
    let mut bad_magic = all[..HEADER_LEN].to_vec();
    bad_magic[16] = 1;
    assert_eq!(
        BatchHeader::parse(&bad_magic).unwrap_err(),
        RecordsError::InvalidMagic(1)
    );
    let mut bad_length = all[..HEADER_LEN].to_vec();
    bad_length[8..12].copy_from_slice(&48i32.to_be_bytes());
    assert_eq!(
        BatchHeader::parse(&bad_length).unwrap_err(),
        RecordsError::InvalidBatchLength(48)
    );
}
