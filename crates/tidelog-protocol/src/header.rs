//! Request and response headers.
//!
//! Request header v1 is key, version, correlation id and client id (a classic nullable
//! string even in v2); v2 adds tagged fields. Response header v0 is the correlation id;
//! v1 adds tagged fields.

use crate::codec::{EncodeBuf, RawTaggedField, Reader, TaggedFields, TaggedWriter};
use crate::error::{DecodeError, EncodeError};
use crate::messages::ApiKey;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestHeader {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
    pub unknown_tagged_fields: TaggedFields,
}

/// The first eight bytes of every request, readable even when the rest is not: enough to
/// answer an unknown key or unsupported version with the right correlation id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPrefix {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

impl RequestPrefix {
    pub fn peek(frame: &[u8]) -> Option<RequestPrefix> {
        let b = frame.get(..8)?;
        Some(RequestPrefix {
            api_key: i16::from_be_bytes([b[0], b[1]]),
            api_version: i16::from_be_bytes([b[2], b[3]]),
            correlation_id: i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        })
    }
}

impl RequestHeader {
    /// Reads a header; its version follows from the API key and version it carries.
    /// An unknown key is an error (the caller answers it from [`RequestPrefix`]).
    pub fn decode(r: &mut Reader) -> Result<RequestHeader, DecodeError> {
        let api_key = r.i16()?;
        let api_version = r.i16()?;
        let correlation_id = r.i32()?;
        let key = ApiKey::from_i16(api_key).ok_or(DecodeError::UnknownApiKey(api_key))?;
        let client_id = r.nullable_string(false)?;
        let mut header = RequestHeader {
            api_key,
            api_version,
            correlation_id,
            client_id,
            ..Default::default()
        };
        if key.request_header_version(api_version) >= 2 {
            header.unknown_tagged_fields = decode_unknown_tagged(r)?;
        }
        Ok(header)
    }

    pub fn encode(&self, w: &mut EncodeBuf) -> Result<(), EncodeError> {
        w.put_i16(self.api_key);
        w.put_i16(self.api_version);
        w.put_i32(self.correlation_id);
        w.put_nullable_string(false, self.client_id.as_deref(), "client_id")?;
        let flexible = ApiKey::from_i16(self.api_key).is_some_and(|k| k.request_header_version(self.api_version) >= 2);
        if flexible {
            TaggedWriter::new().finish(w, &self.unknown_tagged_fields);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResponseHeader {
    pub correlation_id: i32,
    pub unknown_tagged_fields: TaggedFields,
}

impl ResponseHeader {
    pub fn decode(r: &mut Reader, header_version: i16) -> Result<ResponseHeader, DecodeError> {
        let correlation_id = r.i32()?;
        let unknown_tagged_fields = if header_version >= 1 {
            decode_unknown_tagged(r)?
        } else {
            Vec::new()
        };
        Ok(ResponseHeader {
            correlation_id,
            unknown_tagged_fields,
        })
    }

    pub fn encode(&self, w: &mut EncodeBuf, header_version: i16) {
        w.put_i32(self.correlation_id);
        if header_version >= 1 {
            TaggedWriter::new().finish(w, &self.unknown_tagged_fields);
        }
    }
}

/// Headers define no tagged fields of their own: every one read is kept as unknown.
fn decode_unknown_tagged(r: &mut Reader) -> Result<TaggedFields, DecodeError> {
    let count = r.tagged_field_count()?;
    let mut fields = Vec::with_capacity(count.min(16));
    for _ in 0..count {
        let tag = r.uvarint()?;
        let size = r.uvarint()? as usize;
        fields.push(RawTaggedField {
            tag,
            data: r.take(size)?,
        });
    }
    Ok(fields)
}
