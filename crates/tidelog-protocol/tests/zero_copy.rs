//! Record bytes are never copied: decoding a Produce request slices them out of the frame,
//! and encoding a Fetch response hands the caller's buffer on as a frame chunk of its own.

use bytes::Bytes;
use tidelog_protocol::sample::{fetch_response, produce_frame};
use tidelog_protocol::{decode_request, encode_response, Encode, EncodeBuf, RequestBody, ResponseBody};

const ONE_MIB: usize = 1 << 20;

/// `chunks` holds `records` itself, not a copy of it.
fn holds_uncopied(chunks: &[Bytes], records: &Bytes) -> bool {
    chunks
        .iter()
        .any(|chunk| chunk.as_ptr() == records.as_ptr() && chunk.len() == records.len())
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
    let frame_len = frame.iter().map(Bytes::len).sum::<usize>();
    assert_eq!(frame[0].as_ref(), ((frame_len - 4) as u32).to_be_bytes());
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
