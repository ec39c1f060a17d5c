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
    /// Reads a header whose version follows from the API key and version it carries (v1,
    /// or v2 for flexible versions). An unknown key is an error (the caller answers it from
    /// [`RequestPrefix`]).
    pub fn decode(r: &mut Reader) -> Result<RequestHeader, DecodeError> {
        let prefix = RequestPrefix {
            api_key: r.i16()?,
            api_version: r.i16()?,
            correlation_id: r.i32()?,
        };
        let key = ApiKey::from_i16(prefix.api_key).ok_or(DecodeError::UnknownApiKey(prefix.api_key))?;
        RequestHeader::decode_rest(r, prefix, key.request_header_version(prefix.api_version))
    }

    /// Reads a header of an explicit version: v0 (no client id; only ControlledShutdown v0
    /// used it, an API removed in Kafka 4.0), v1 or v2.
    pub fn decode_versioned(r: &mut Reader, header_version: i16) -> Result<RequestHeader, DecodeError> {
        let prefix = RequestPrefix {
            api_key: r.i16()?,
            api_version: r.i16()?,
            correlation_id: r.i32()?,
        };
        RequestHeader::decode_rest(r, prefix, header_version)
    }

    fn decode_rest(r: &mut Reader, prefix: RequestPrefix, header_version: i16) -> Result<RequestHeader, DecodeError> {
        let client_id = if header_version >= 1 {
            r.nullable_string(false)?
        } else {
            None
        };
        let unknown_tagged_fields = if header_version >= 2 {
            decode_unknown_tagged(r)?
        } else {
            Vec::new()
        };
        Ok(RequestHeader {
            api_key: prefix.api_key,
            api_version: prefix.api_version,
            correlation_id: prefix.correlation_id,
            client_id,
            unknown_tagged_fields,
        })
    }

    /// Writes the header in the version its API key and version call for.
    pub fn encode(&self, w: &mut EncodeBuf) -> Result<(), EncodeError> {
        let version = ApiKey::from_i16(self.api_key).map_or(1, |k| k.request_header_version(self.api_version));
        self.encode_versioned(w, version)
    }

    pub fn encode_versioned(&self, w: &mut EncodeBuf, header_version: i16) -> Result<(), EncodeError> {
        w.put_i16(self.api_key);
        w.put_i16(self.api_version);
        w.put_i32(self.correlation_id);
        if header_version >= 1 {
            w.put_nullable_string(false, self.client_id.as_deref(), "client_id")?;
        }
        if header_version >= 2 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::RawTaggedField;

    #[test]
    fn every_request_header_version_round_trips() {
        for version in 0..=2 {
            let header = RequestHeader {
                api_key: 7,
                api_version: 0,
                correlation_id: 9,
                client_id: (version >= 1).then(|| "c".to_string()),
                unknown_tagged_fields: if version >= 2 {
                    vec![RawTaggedField {
                        tag: 3,
                        data: bytes::Bytes::from_static(b"x"),
                    }]
                } else {
                    Vec::new()
                },
            };
            let mut w = EncodeBuf::new();
            header.encode_versioned(&mut w, version).unwrap();
            let mut r = Reader::new(w.to_contiguous());
            assert_eq!(
                RequestHeader::decode_versioned(&mut r, version).unwrap(),
                header,
                "v{version}"
            );
            assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn response_header_versions_round_trip() {
        for version in 0..=1 {
            let header = ResponseHeader {
                correlation_id: -5,
                ..Default::default()
            };
            let mut w = EncodeBuf::new();
            header.encode(&mut w, version);
            assert_eq!(w.len(), if version == 0 { 4 } else { 5 });
            let mut r = Reader::new(w.to_contiguous());
            assert_eq!(ResponseHeader::decode(&mut r, version).unwrap(), header);
        }
    }
}
