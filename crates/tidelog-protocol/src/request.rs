//! Whole requests and responses: header plus body, in and out of frames.

use bytes::Bytes;

use crate::codec::{EncodeBuf, Payload, Reader};
use crate::error::{DecodeError, EncodeError};
use crate::frame::into_frame;
use crate::header::{RequestHeader, ResponseHeader};
use crate::messages::{ApiKey, RequestBody, ResponseBody};

/// A decoded request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub header: RequestHeader,
    pub api_key: ApiKey,
    pub body: RequestBody,
}

/// Decodes one request frame (the bytes after the length prefix). `bytes` fields of the
/// body are slices of `frame`.
///
/// Bytes after the body are ignored, as Kafka's broker ignores them: some clients send
/// them (librdkafka 2.x appends a field and a tagged field to Metadata v13).
pub fn decode_request(frame: Bytes) -> Result<Request, DecodeError> {
    let mut r = Reader::new(frame);
    let header = RequestHeader::decode(&mut r)?;
    let api_key = ApiKey::from_i16(header.api_key).ok_or(DecodeError::UnknownApiKey(header.api_key))?;
    let body = RequestBody::decode(api_key, &mut r, header.api_version)?;
    Ok(Request { header, api_key, body })
}

/// Encodes a request frame, length prefix included.
pub fn encode_request(header: &RequestHeader, body: &RequestBody) -> Result<Vec<Payload>, EncodeError> {
    let mut w = EncodeBuf::new();
    header.encode(&mut w)?;
    body.encode(&mut w, header.api_version)?;
    into_frame(w)
}

/// Encodes a response frame, length prefix included, with the header version the API and
/// version call for. Large record sets stay separate chunks: memory for a vectored write,
/// file regions for `sendfile`.
pub fn encode_response(correlation_id: i32, version: i16, body: &ResponseBody) -> Result<Vec<Payload>, EncodeError> {
    let mut w = EncodeBuf::new();
    let header = ResponseHeader {
        correlation_id,
        ..Default::default()
    };
    header.encode(&mut w, body.api_key().response_header_version(version));
    body.encode(&mut w, version)?;
    into_frame(w)
}

/// Decodes a response frame of `api_key` at `version` (clients and tests).
pub fn decode_response(
    frame: Bytes,
    api_key: ApiKey,
    version: i16,
) -> Result<(ResponseHeader, ResponseBody), DecodeError> {
    let mut r = Reader::new(frame);
    let header = ResponseHeader::decode(&mut r, api_key.response_header_version(version))?;
    let body = ResponseBody::decode(api_key, &mut r, version)?;
    r.finish()?;
    Ok((header, body))
}
