//! Hostile input: every decoder returns an error (the exact variant where the input
//! determines it), never panics or aborts, and never holds more than `64 × input + 64 KiB`
//! of heap. A counting global allocator measures the heap per thread, so the tests can run
//! in parallel.
//!
//! `records` fields are opaque bytes here; hostile record batches are tested with the
//! record batch code. The records of KRaft's metadata log are record values and keys, tested
//! the same way at the end.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{BufMut, Bytes, BytesMut};
use tidelog_protocol::frame::{frame_len, FrameError, DEFAULT_MAX_FRAME_LEN};
use tidelog_protocol::header::{RequestHeader, RequestPrefix};
use tidelog_protocol::metadata::{
    KraftControlRecord, KraftControlType, MetadataError, MetadataLogRecord, MetadataRecord, MetadataRecordType,
    VersionedRecord, CONTROL_RECORD_VERSION,
};
use tidelog_protocol::records::{Record, RecordsError};
use tidelog_protocol::sample::SampleRng;
use tidelog_protocol::varint::{put_uvarint, VarintError};
use tidelog_protocol::{
    decode_request, decode_response, encode_request, encode_response, ApiKey, DecodeError, EncodeBuf, Reader,
    RequestBody, ResponseBody,
};

// --- Heap metering -------------------------------------------------------------------

/// The system allocator, counting the bytes each thread holds.
struct Metered;

thread_local! {
    /// Bytes this thread allocated and has not freed.
    static HELD: Cell<isize> = const { Cell::new(0) };
    /// The most `HELD` reached since the last reset.
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    let held = HELD.get() + delta;
    HELD.set(held);
    PEAK.set(PEAK.get().max(held));
}

unsafe impl GlobalAlloc for Metered {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            note(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize));
    }

    /// Counted as if the block moved: the new one is held before the old one is freed.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            note(new_size as isize);
            note(-(layout.size() as isize));
        }
        new
    }
}

#[global_allocator]
static METERED: Metered = Metered;

/// Runs `f`, returning its result and the most heap this thread held meanwhile (the
/// result included).
fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = HELD.get();
    PEAK.set(start);
    let out = f();
    (out, (PEAK.get() - start) as usize)
}

/// The heap a decoder may hold for `input_len` hostile bytes.
fn budget(input_len: usize) -> usize {
    64 * input_len + 64 * 1024
}

/// Runs `decode` over `input_len` hostile bytes: it must not panic and must stay within
/// the heap budget. `what` names the case in failure messages.
fn hostile<T>(what: impl Fn() -> String, input_len: usize, decode: impl FnOnce() -> T) -> T {
    let (outcome, peak) = peak_heap(|| catch_unwind(AssertUnwindSafe(decode)));
    let out = outcome.unwrap_or_else(|_| panic!("{}: the decoder panicked", what()));
    assert!(
        peak <= budget(input_len),
        "{}: held {peak} heap bytes for {input_len} input bytes (budget {})",
        what(),
        budget(input_len)
    );
    out
}

#[test]
fn the_meter_sees_allocations() {
    let (buf, peak) = peak_heap(|| vec![1u8; 100_000]);
    assert!(peak >= buf.len(), "peak {peak}");
}

// --- Inputs --------------------------------------------------------------------------

const CORRELATION_ID: i32 = 0x0C0F_FEE0;

/// Hand-written wire bytes.
#[derive(Default)]
struct Wire(BytesMut);

impl Wire {
    /// A request header for `key` at `version`: correlation id [`CORRELATION_ID`], null
    /// client id, and an empty tagged-field section when the header version has one.
    fn header(key: ApiKey, version: i16) -> Wire {
        let wire = Wire::prefix(key as i16, version).i16(-1);
        if key.request_header_version(version) >= 2 {
            wire.uvarint(0)
        } else {
            wire
        }
    }

    /// The fixed eight bytes every request starts with.
    fn prefix(key: i16, version: i16) -> Wire {
        Wire::default().i16(key).i16(version).i32(CORRELATION_ID)
    }

    fn i8(mut self, v: i8) -> Wire {
        self.0.put_i8(v);
        self
    }

    fn i16(mut self, v: i16) -> Wire {
        self.0.put_i16(v);
        self
    }

    fn i32(mut self, v: i32) -> Wire {
        self.0.put_i32(v);
        self
    }

    fn uvarint(mut self, v: u32) -> Wire {
        put_uvarint(&mut self.0, v);
        self
    }

    fn raw(mut self, v: &[u8]) -> Wire {
        self.0.put_slice(v);
        self
    }

    fn zeros(mut self, n: usize) -> Wire {
        self.0.put_bytes(0, n);
        self
    }

    fn bytes(self) -> Bytes {
        self.0.freeze()
    }
}

/// Decodes a request frame (after its length prefix) as hostile input.
fn decode_frame(frame: Bytes) -> Result<RequestBody, DecodeError> {
    let shown = frame.clone();
    hostile(
        || format!("frame {shown:02x?}"),
        frame.len(),
        || decode_request(frame).map(|r| r.body),
    )
}

/// Every API at every version this crate covers.
fn every_version() -> impl Iterator<Item = (ApiKey, i16)> {
    ApiKey::ALL
        .into_iter()
        .flat_map(|key| (key.min_version()..=key.max_version()).map(move |version| (key, version)))
}

/// Requests and responses, as bodies and as whole frames.
#[derive(Debug, Clone, Copy)]
enum Side {
    Request,
    Response,
}

impl Side {
    const BOTH: [Side; 2] = [Side::Request, Side::Response];

    /// A random body valid at `version`, encoded.
    fn sample_body(self, key: ApiKey, version: i16, rng: &mut SampleRng) -> Bytes {
        let mut w = EncodeBuf::new();
        match self {
            Side::Request => RequestBody::sample(key, rng, version).encode(&mut w, version),
            Side::Response => ResponseBody::sample(key, rng, version).encode(&mut w, version),
        }
        .unwrap();
        w.to_contiguous()
    }

    /// A random frame valid at `version`, header included, length prefix removed.
    fn sample_frame(self, key: ApiKey, version: i16, rng: &mut SampleRng) -> Bytes {
        let chunks = match self {
            Side::Request => {
                let header = RequestHeader {
                    api_key: key as i16,
                    api_version: version,
                    correlation_id: CORRELATION_ID,
                    client_id: Some("adversary".into()),
                    ..Default::default()
                };
                encode_request(&header, &RequestBody::sample(key, rng, version))
            }
            Side::Response => encode_response(CORRELATION_ID, version, &ResponseBody::sample(key, rng, version)),
        }
        .unwrap();
        let mut frame = tidelog_protocol::codec::concat(&chunks).unwrap();
        frame.split_off(4)
    }

    fn decode_body(self, key: ApiKey, version: i16, body: Bytes) -> Result<(), DecodeError> {
        let mut r = Reader::new(body);
        match self {
            Side::Request => RequestBody::decode(key, &mut r, version).map(drop),
            Side::Response => ResponseBody::decode(key, &mut r, version).map(drop),
        }
    }

    fn decode_frame(self, key: ApiKey, version: i16, frame: Bytes) -> Result<(), DecodeError> {
        match self {
            Side::Request => decode_request(frame).map(drop),
            Side::Response => decode_response(frame, key, version).map(drop),
        }
    }
}

// --- (a) Lengths larger than the input, or negative ----------------------------------

#[test]
fn a_compact_topic_count_of_u32_max_in_a_30_byte_produce_is_refused() {
    // The request that makes the kafka-protocol crate reserve 2^32 elements and abort.
    let frame = Wire::header(ApiKey::Produce, 9)
        .uvarint(0) // transactional_id: null
        .i16(-1) // acks
        .i32(30_000) // timeout_ms
        .uvarint(u32::MAX) // topic_data: 0xfffffffe topics
        .zeros(7)
        .bytes();
    assert_eq!(frame.len(), 30);
    assert_eq!(
        decode_frame(frame),
        Err(DecodeError::LengthExceedsInput {
            claimed: 0xffff_fffe,
            remaining: 7
        })
    );
}

#[test]
fn classic_lengths_beyond_the_input_are_refused() {
    let produce_v8 = || Wire::header(ApiKey::Produce, 8).i16(-1).i16(1).i32(30_000);
    let cases = [
        // An i32 array length of i32::MAX.
        (produce_v8().i32(i32::MAX).zeros(8), i32::MAX as usize, 8),
        // A 0x7fff-byte client id with 3 bytes present.
        (
            Wire::prefix(ApiKey::Metadata as i16, 1).i16(0x7fff).raw(b"abc"),
            0x7fff,
            3,
        ),
        // A 0x7fff-byte topic name with 3 bytes present.
        (produce_v8().i32(1).i16(0x7fff).raw(b"abc"), 0x7fff, 3),
        // Records of i32::MAX bytes.
        (
            produce_v8()
                .i32(1)
                .i16(1)
                .raw(b"t")
                .i32(1)
                .i32(0)
                .i32(i32::MAX)
                .zeros(2),
            i32::MAX as usize,
            2,
        ),
    ];
    for (wire, claimed, remaining) in cases {
        assert_eq!(
            decode_frame(wire.bytes()),
            Err(DecodeError::LengthExceedsInput { claimed, remaining })
        );
    }
}

#[test]
fn negative_classic_lengths_are_refused() {
    let produce_v8 = || Wire::header(ApiKey::Produce, 8);
    let body = |w: Wire| w.i16(1).i32(30_000);
    let cases = [
        // Bytes of length -2.
        (
            Wire::header(ApiKey::SaslAuthenticate, 1).i32(-2),
            DecodeError::InvalidLength(-2),
        ),
        // Records of length -2.
        (
            body(produce_v8().i16(-1)).i32(1).i16(1).raw(b"t").i32(1).i32(0).i32(-2),
            DecodeError::InvalidLength(-2),
        ),
        // Strings of length -2 and i16::MIN.
        (body(produce_v8().i16(-2)), DecodeError::InvalidLength(-2)),
        (
            Wire::prefix(ApiKey::Metadata as i16, 1).i16(i16::MIN),
            DecodeError::InvalidLength(i16::MIN.into()),
        ),
        // Arrays of length -2 and i32::MIN.
        (body(produce_v8().i16(-1)).i32(-2), DecodeError::InvalidLength(-2)),
        (
            body(produce_v8().i16(-1)).i32(i32::MIN),
            DecodeError::InvalidLength(i32::MIN.into()),
        ),
        // Null (-1) where the schema does not allow it.
        (
            body(produce_v8().i16(-1)).i32(-1),
            DecodeError::UnexpectedNull("topic_data"),
        ),
        (
            body(produce_v8().i16(-1)).i32(1).i16(-1),
            DecodeError::UnexpectedNull("name"),
        ),
    ];
    for (wire, error) in cases {
        assert_eq!(decode_frame(wire.bytes()), Err(error));
    }
}

#[test]
fn compact_lengths_beyond_the_input_are_refused() {
    let api_versions_v3 = || Wire::header(ApiKey::ApiVersions, 3);
    let past_end = |claimed: u32, remaining| DecodeError::LengthExceedsInput {
        claimed: claimed as usize,
        remaining,
    };
    let cases = [
        // A string, bytes and records of 0xfffffffe bytes.
        (
            Wire::header(ApiKey::Produce, 9).uvarint(u32::MAX).zeros(3),
            past_end(u32::MAX - 1, 3),
        ),
        (
            Wire::header(ApiKey::SaslAuthenticate, 2).uvarint(u32::MAX).zeros(3),
            past_end(u32::MAX - 1, 3),
        ),
        (
            Wire::header(ApiKey::Produce, 9)
                .uvarint(0)
                .i16(1)
                .i32(30_000)
                .uvarint(2)
                .uvarint(2)
                .raw(b"t")
                .uvarint(2)
                .i32(0)
                .uvarint(u32::MAX)
                .zeros(3),
            past_end(u32::MAX - 1, 3),
        ),
        // u32::MAX tagged fields, in the header and in the body.
        (
            Wire::prefix(ApiKey::ApiVersions as i16, 3)
                .i16(-1)
                .uvarint(u32::MAX)
                .zeros(3),
            past_end(u32::MAX, 3),
        ),
        (
            api_versions_v3().uvarint(1).uvarint(1).uvarint(u32::MAX).zeros(3),
            past_end(u32::MAX, 3),
        ),
        // A tagged field of u32::MAX bytes.
        (
            api_versions_v3()
                .uvarint(1)
                .uvarint(1)
                .uvarint(1)
                .uvarint(0)
                .uvarint(u32::MAX)
                .zeros(3),
            past_end(u32::MAX, 3),
        ),
        // Varints that are too long or cut short.
        (
            api_versions_v3().raw(&[0xff; 6]),
            DecodeError::Varint(VarintError::TooLong),
        ),
        (
            api_versions_v3().raw(&[0x80]),
            DecodeError::Varint(VarintError::Truncated),
        ),
        // Compact null (0) where the schema does not allow it.
        (
            api_versions_v3().uvarint(0),
            DecodeError::UnexpectedNull("client_software_name"),
        ),
        (
            Wire::header(ApiKey::Produce, 9)
                .uvarint(0)
                .i16(1)
                .i32(30_000)
                .uvarint(0),
            DecodeError::UnexpectedNull("topic_data"),
        ),
    ];
    for (wire, error) in cases {
        assert_eq!(decode_frame(wire.bytes()), Err(error));
    }
}

#[test]
fn nested_element_counts_reserve_little() {
    // Regression: three nested arrays, each claiming 2000 elements of a 2 KiB input, made
    // the decoder reserve 1024 elements per level up front: 312 KiB of structs.
    let claim = |w: Wire| w.uvarint(2001);
    let wire = claim(Wire::default().i32(0)); // throttle_time_ms, results
    let wire = claim(wire.i16(0).uvarint(0).i8(2).uvarint(1)); // error, message, type, name, configs
    let wire = claim(wire.uvarint(1).uvarint(0).i8(0).i8(0).i8(0)); // name, value, flags, synonyms
    let body = wire.zeros(2000).bytes(); // the first synonym's name is null
    let (result, peak) = peak_heap(|| Side::Response.decode_body(ApiKey::DescribeConfigs, 4, body));
    assert_eq!(result, Err(DecodeError::UnexpectedNull("name")));
    assert!(peak < 16 * 1024, "held {peak} heap bytes");
}

// --- (b) Every strict prefix of every message ----------------------------------------

const SEEDS: u64 = 3;

/// The errors of an input that stops early.
fn ran_out(result: &Result<(), DecodeError>) -> bool {
    matches!(
        result,
        Err(DecodeError::Truncated { .. }
            | DecodeError::LengthExceedsInput { .. }
            | DecodeError::Varint(VarintError::Truncated))
    )
}

#[test]
fn every_truncated_message_is_refused() {
    for (key, version) in every_version() {
        for side in Side::BOTH {
            for seed in 0..SEEDS {
                let mut rng = SampleRng::new(seed);
                let body = side.sample_body(key, version, &mut rng);
                let frame = side.sample_frame(key, version, &mut rng);
                for cut in 0..body.len() {
                    let what = || format!("{side:?} {key:?} v{version} seed {seed}: body cut at {cut}");
                    let result = hostile(what, cut, || side.decode_body(key, version, body.slice(..cut)));
                    assert!(ran_out(&result), "{}: {result:?}", what());
                }
                for cut in 0..frame.len() {
                    let what = || format!("{side:?} {key:?} v{version} seed {seed}: frame cut at {cut}");
                    let result = hostile(what, cut, || side.decode_frame(key, version, frame.slice(..cut)));
                    assert!(ran_out(&result), "{}: {result:?}", what());
                }
            }
        }
    }
}

// --- (c) Corrupted messages and garbage ----------------------------------------------

/// Flips one to four random bytes (at least one bit each).
fn corrupt(input: &Bytes, rng: &mut SampleRng) -> Bytes {
    let mut out = BytesMut::from(input.as_ref());
    if !out.is_empty() {
        for _ in 0..=rng.next() % 4 {
            let at = (rng.next() % out.len() as u64) as usize;
            out[at] ^= (rng.next() % 255 + 1) as u8;
        }
    }
    out.freeze()
}

/// Random bytes: uniform, or mostly the small and extreme values lengths are made of.
fn garbage(len: usize, rng: &mut SampleRng) -> Bytes {
    const EDGES: [u8; 8] = [0x00, 0x01, 0x02, 0x03, 0x7f, 0x80, 0xfe, 0xff];
    let uniform = rng.bool();
    (0..len)
        .map(|_| {
            let byte = rng.next();
            if uniform {
                byte as u8
            } else {
                EDGES[(byte % 8) as usize]
            }
        })
        .collect::<Vec<u8>>()
        .into()
}

#[test]
fn corrupted_messages_never_panic() {
    for (key, version) in every_version() {
        for side in Side::BOTH {
            for seed in 0..SEEDS {
                let mut rng = SampleRng::new(seed);
                let body = corrupt(&side.sample_body(key, version, &mut rng), &mut rng);
                let what = || format!("{side:?} {key:?} v{version} seed {seed}: body {body:02x?}");
                let _ = hostile(what, body.len(), || side.decode_body(key, version, body.clone()));

                let frame = corrupt(&side.sample_frame(key, version, &mut rng), &mut rng);
                let what = || format!("{side:?} {key:?} v{version} seed {seed}: frame {frame:02x?}");
                let _ = hostile(what, frame.len(), || side.decode_frame(key, version, frame.clone()));
            }
        }
    }
}

#[test]
fn garbage_never_panics() {
    const LENGTHS: [usize; 8] = [0, 1, 2, 5, 16, 64, 512, 4096];
    let mut rng = SampleRng::new(0x6a7b);
    for (key, version) in every_version() {
        for side in Side::BOTH {
            for len in LENGTHS {
                let body = garbage(len, &mut rng);
                let what = || format!("{side:?} {key:?} v{version}: body {body:02x?}");
                let _ = hostile(what, len, || side.decode_body(key, version, body.clone()));
            }
        }
        // A well-formed header before the garbage, so the body decoder is reached.
        for len in LENGTHS {
            let frame = Wire::header(key, version).raw(&garbage(len, &mut rng)).bytes();
            let _ = decode_frame(frame);
        }
    }
    for len in LENGTHS {
        let _ = decode_frame(garbage(len, &mut rng));
    }
}

#[test]
fn repeated_patterns_stay_within_the_heap_budget() {
    // Runs of one or two edge bytes: the densest arrays of tiny elements, the most heap
    // per input byte a valid-looking input can ask for.
    const EDGES: [u8; 6] = [0x00, 0x01, 0x02, 0x04, 0x7f, 0xff];
    let patterns = EDGES.iter().flat_map(|&a| EDGES.iter().map(move |&b| [a, b]));
    for pattern in patterns {
        let body: Bytes = pattern.repeat(2048).into();
        for (key, version) in every_version() {
            for side in Side::BOTH {
                let what = || format!("{side:?} {key:?} v{version}: {pattern:02x?} repeated");
                let _ = hostile(what, body.len(), || side.decode_body(key, version, body.clone()));
            }
        }
    }
}

// --- (d) Frames shorter than the fixed prefix ----------------------------------------

#[test]
fn frames_shorter_than_the_prefix_are_refused() {
    let prefix = Wire::prefix(ApiKey::Produce as i16, 9).bytes();
    let cases = [(0, 2, 0), (1, 2, 1), (7, 4, 3)];
    for (len, needed, remaining) in cases {
        let frame = prefix.slice(..len);
        assert_eq!(RequestPrefix::peek(&frame), None, "{len} bytes");
        assert_eq!(decode_frame(frame), Err(DecodeError::Truncated { needed, remaining }));
    }
    assert!(RequestPrefix::peek(&prefix).is_some());
}

// --- (e) Frame length prefixes -------------------------------------------------------

#[test]
fn oversized_and_negative_frame_lengths_are_refused() {
    let len = |prefix: u32| frame_len(prefix.to_be_bytes(), DEFAULT_MAX_FRAME_LEN);
    assert_eq!(len(0xffff_ffff), Err(FrameError::Negative(-1)));
    assert_eq!(len(0x8000_0000), Err(FrameError::Negative(i32::MIN)));
    assert_eq!(
        len(0x7fff_ffff),
        Err(FrameError::TooLarge {
            len: 0x7fff_ffff,
            max: DEFAULT_MAX_FRAME_LEN
        })
    );
    let max = DEFAULT_MAX_FRAME_LEN as u32;
    assert_eq!(
        len(max + 1),
        Err(FrameError::TooLarge {
            len: DEFAULT_MAX_FRAME_LEN + 1,
            max: DEFAULT_MAX_FRAME_LEN
        })
    );
    assert_eq!(len(max), Ok(DEFAULT_MAX_FRAME_LEN));
    assert_eq!(len(0), Ok(0));
}

// --- (f) Unknown keys and unsupported versions ---------------------------------------

/// The prefix of `frame` must still give the correlation id to answer it with.
fn assert_answerable(frame: &Bytes) {
    let prefix = RequestPrefix::peek(frame).expect("eight bytes");
    assert_eq!(prefix.correlation_id, CORRELATION_ID);
}

#[test]
fn unknown_api_keys_are_typed_errors() {
    // 4 (LeaderAndIsr) and 58 (Envelope) are Kafka APIs without a schema here.
    for key in [-1, 4, 58, 1000, i16::MAX, i16::MIN] {
        assert_eq!(ApiKey::from_i16(key), None);
        for frame in [
            Wire::prefix(key, 0).bytes(),
            Wire::prefix(key, 3).i16(-1).zeros(16).bytes(),
        ] {
            assert_answerable(&frame);
            assert_eq!(decode_frame(frame), Err(DecodeError::UnknownApiKey(key)));
        }
    }
}

#[test]
fn unsupported_versions_are_typed_errors() {
    for key in ApiKey::ALL {
        for version in [key.min_version() - 1, key.max_version() + 1, i16::MAX, i16::MIN] {
            let error = DecodeError::UnsupportedVersion {
                api_key: key as i16,
                version,
            };
            let frame = Wire::header(key, version).zeros(16).bytes();
            assert_answerable(&frame);
            assert_eq!(decode_frame(frame), Err(error.clone()), "{key:?} v{version}");
            for side in Side::BOTH {
                let body = Bytes::from_static(&[0; 16]);
                assert_eq!(side.decode_body(key, version, body), Err(error.clone()));
            }
        }
    }
}

// --- (g) Records of the metadata log -------------------------------------------------

/// A metadata log record to decode: a metadata record's value, or a control record's key and
/// value.
#[derive(Debug, Clone)]
enum LogRecord {
    Metadata(Bytes),
    Control([u8; 4], Bytes),
}

impl LogRecord {
    /// Every metadata record type and control record type at every version Kafka writes it
    /// at, sampled with `seed`.
    fn samples(seed: u64) -> Vec<LogRecord> {
        let mut rng = SampleRng::new(seed);
        let mut out = Vec::new();
        for kind in MetadataRecordType::ALL {
            for version in kind.min_version()..=kind.max_version() {
                let record = MetadataRecord::sample(kind, &mut rng, version);
                out.push(LogRecord::Metadata(
                    VersionedRecord { version, record }.encode().unwrap(),
                ));
            }
        }
        for kind in KraftControlType::ALL {
            let (key, value) = KraftControlRecord::sample(kind, &mut rng, CONTROL_RECORD_VERSION)
                .encode_record()
                .unwrap();
            out.push(LogRecord::Control(key, value));
        }
        out
    }

    fn value(&self) -> &Bytes {
        match self {
            LogRecord::Metadata(value) | LogRecord::Control(_, value) => value,
        }
    }

    /// The same record with another value.
    fn with_value(&self, value: Bytes) -> LogRecord {
        match self {
            LogRecord::Metadata(_) => LogRecord::Metadata(value),
            LogRecord::Control(key, _) => LogRecord::Control(*key, value),
        }
    }

    /// Decodes as hostile input.
    fn decode(&self) -> Result<(), MetadataError> {
        let input_len = self.value().len() + 4;
        hostile(
            || format!("{self:02x?}"),
            input_len,
            || match self {
                LogRecord::Metadata(value) => VersionedRecord::decode(value.clone()).map(drop),
                LogRecord::Control(key, value) => KraftControlRecord::decode_record(Some(key), value.clone()).map(drop),
            },
        )
    }
}

#[test]
fn every_truncated_metadata_log_record_is_refused() {
    for seed in 0..SEEDS {
        for sample in LogRecord::samples(seed) {
            for cut in 0..sample.value().len() {
                let result = sample.with_value(sample.value().slice(..cut)).decode();
                let ran_out = match &result {
                    Err(MetadataError::Decode(e)) => ran_out(&Err(e.clone())),
                    _ => false,
                };
                assert!(ran_out, "{sample:02x?} cut at {cut}: {result:?}");
            }
        }
    }
}

#[test]
fn corrupted_and_garbage_metadata_log_records_never_panic() {
    let mut rng = SampleRng::new(0x3e7a);
    for seed in 0..SEEDS {
        for sample in LogRecord::samples(seed) {
            let _ = sample.with_value(corrupt(sample.value(), &mut rng)).decode();
        }
    }
    for len in [0, 1, 2, 3, 5, 16, 64, 512, 4096] {
        for _ in 0..16 {
            let value = garbage(len, &mut rng);
            let _ = LogRecord::Metadata(value.clone()).decode();
            for control_type in 0..8 {
                let _ = LogRecord::Control([0, 0, 0, control_type], value.clone()).decode();
            }
        }
    }
}

#[test]
fn bad_metadata_record_frames_are_typed_errors() {
    let value = |w: Wire| VersionedRecord::decode(w.bytes());
    // A NoOpRecord, framed as Kafka frames it: 1, type 20, version 0, no tagged fields.
    let no_op = || Wire::default().uvarint(1).uvarint(20).uvarint(0).uvarint(0);
    assert!(matches!(value(no_op()), Ok(r) if r.record == MetadataRecord::NoOpRecord(Default::default())));
    let cases = [
        // Frame version 0 (KRaft's preview in Kafka 2.8) and an unknown one.
        (
            Wire::default().uvarint(0).uvarint(20).uvarint(0).uvarint(0),
            MetadataError::FrameVersion(0),
        ),
        (
            Wire::default().uvarint(2).uvarint(20).uvarint(0).uvarint(0),
            MetadataError::FrameVersion(2),
        ),
        // Types without a record (6 was never released) or beyond an i16.
        (
            Wire::default().uvarint(1).uvarint(6).uvarint(0).uvarint(0),
            MetadataError::UnknownRecordType(6),
        ),
        (
            Wire::default().uvarint(1).uvarint(40_000).uvarint(0).uvarint(0),
            MetadataError::UnknownRecordType(40_000),
        ),
        // Versions beyond what Kafka 4.1 writes, or beyond an i16.
        (
            Wire::default().uvarint(1).uvarint(3).uvarint(3).zeros(40),
            MetadataError::Decode(DecodeError::UnsupportedRecordVersion {
                record: "PartitionRecord",
                version: 3,
            }),
        ),
        (
            Wire::default().uvarint(1).uvarint(20).uvarint(70_000).uvarint(0),
            MetadataError::VersionOutOfRange(70_000),
        ),
        // Bytes after the message.
        (no_op().i8(0), MetadataError::Decode(DecodeError::TrailingBytes(1))),
        // A PartitionRecord claiming u32::MAX - 1 replicas in a few bytes.
        (
            Wire::default()
                .uvarint(1)
                .uvarint(3)
                .uvarint(2)
                .i32(0)
                .zeros(16)
                .uvarint(u32::MAX)
                .zeros(3),
            MetadataError::Decode(DecodeError::LengthExceedsInput {
                claimed: u32::MAX as usize - 1,
                remaining: 3,
            }),
        ),
    ];
    for (wire, error) in cases {
        assert_eq!(value(wire), Err(error));
    }
}

#[test]
fn bad_control_records_are_typed_errors() {
    let footer = Wire::default().i16(0).uvarint(0).bytes();
    let decode = |key: Option<&[u8]>| KraftControlRecord::decode_record(key, footer.clone());
    assert!(decode(Some(&[0, 0, 0, 4])).is_ok());
    // A key of a later version is read as version 0, as Kafka does.
    assert!(decode(Some(&[0, 1, 0, 4, 9])).is_ok());
    let short_key = |length| {
        MetadataError::Records(RecordsError::InvalidLength {
            field: "control record key",
            length,
        })
    };
    assert_eq!(decode(None), Err(short_key(-1)));
    assert_eq!(decode(Some(&[0, 0, 4])), Err(short_key(3)));
    // Transaction markers have no place in the metadata log, nor do unknown types.
    for control_type in [0, 1, 7, -1] {
        let key = [0, 0, (control_type >> 8) as u8, control_type as u8];
        assert_eq!(decode(Some(&key)), Err(MetadataError::UnknownControlType(control_type)));
    }

    let record = |key: Option<Bytes>, value: Option<Bytes>| Record {
        offset: 0,
        timestamp: 0,
        key,
        value,
        headers: Vec::new(),
    };
    let key = Bytes::from_static(&[0, 0, 0, 4]);
    assert!(MetadataLogRecord::decode(true, &record(Some(key.clone()), Some(footer.clone()))).is_ok());
    for (control, key) in [(true, Some(key)), (false, None)] {
        assert_eq!(
            MetadataLogRecord::decode(control, &record(key, None)),
            Err(MetadataError::NullValue)
        );
    }
}
