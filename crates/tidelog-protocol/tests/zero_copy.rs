//! Record bytes are never copied: decoding a Produce request slices them out of the frame,
//! and encoding a Fetch response hands the caller's buffer, or file region, on as a frame
//! chunk of its own.

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use tidelog_protocol::sample::{fetch_response, produce_frame};
use tidelog_protocol::{
    decode_request, decode_response, encode_response, ApiKey, Encode, EncodeBuf, FileRegion, Payload, RequestBody,
    ResponseBody,
};

const ONE_MIB: usize = 1 << 20;

/// `chunks` holds `records` itself, not a copy of it.
fn holds_uncopied(chunks: &[Payload], records: &Bytes) -> bool {
    chunks.iter().any(|chunk| match chunk {
        Payload::Memory(chunk) => chunk.as_ptr() == records.as_ptr() && chunk.len() == records.len(),
        Payload::File(_) => false,
    })
}

/// The frame's length prefix says how long the rest of it is.
fn assert_prefixed(frame: &[Payload]) {
    let frame_len = frame.iter().map(Payload::len).sum::<usize>();
    let prefix = frame[0].to_bytes().unwrap();
    assert_eq!(prefix.as_ref(), ((frame_len - 4) as u32).to_be_bytes());
}

#[test]
fn fetch_records_become_a_chunk_of_the_response() {
    let records = Bytes::from(vec![0x5a; ONE_MIB]);
    let body = fetch_response(records.clone());

    let mut w = EncodeBuf::new();
    body.encode(&mut w, 16).unwrap();
    assert!(
        holds_uncopied(&w.into_chunks(), &records),
        "EncodeBuf copied the records"
    );

    let frame = encode_response(1, 16, &ResponseBody::Fetch(body)).unwrap();
    assert!(holds_uncopied(&frame, &records), "the frame copied the records");
    assert_prefixed(&frame);
}

#[test]
fn fetch_records_in_a_file_stay_a_file_region_of_the_frame() {
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&[0x11; 100]).unwrap();
    file.write_all(&[0x5a; ONE_MIB]).unwrap();
    let region = FileRegion::new(Arc::new(file), 100, ONE_MIB, Arc::new(()));
    let mut body = fetch_response(Bytes::new());
    body.responses[0].partitions[0].records = Some(Payload::File(region.clone()));

    let frame = encode_response(1, 16, &ResponseBody::Fetch(body.clone())).unwrap();
    assert!(
        frame.contains(&Payload::File(region)),
        "the region was not handed on: {frame:?}"
    );
    assert_prefixed(&frame);

    // What a client reads is the same response with the file's bytes in place.
    let mut bytes = Vec::new();
    for chunk in &frame {
        bytes.extend_from_slice(&chunk.to_bytes().unwrap());
    }
    let (_, decoded) = decode_response(Bytes::from(bytes).split_off(4), ApiKey::Fetch, 16).unwrap();
    body.responses[0].partitions[0].records = Some(Bytes::from(vec![0x5a; ONE_MIB]).into());
    assert_eq!(decoded, ResponseBody::Fetch(body));
}

#[test]
fn produce_records_are_slices_of_the_frame() {
    let records = Bytes::from(vec![0xa5; ONE_MIB]);
    let frame = produce_frame(records.clone());

    let RequestBody::Produce(decoded) = decode_request(frame.clone()).unwrap().body else {
        panic!("not a Produce request");
    };
    let sliced = decoded.topic_data[0].partition_data[0].records.clone().unwrap();
    assert_eq!(sliced, records);
    let frame_range = frame.as_ptr_range();
    assert!(
        frame_range.start <= sliced.as_ptr() && sliced.as_ptr_range().end <= frame_range.end,
        "the records were copied out of the frame"
    );
}
