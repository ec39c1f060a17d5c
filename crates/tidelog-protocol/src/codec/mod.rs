//! What the generated codecs are made of: the reader, the chunked output buffer, tagged
//! fields and the traits every message implements.

mod encode_buf;
mod payload;
mod reader;

pub use encode_buf::EncodeBuf;
pub use payload::{concat, FileRegion, Payload};
pub use reader::Reader;

use bytes::Bytes;

use crate::error::{DecodeError, EncodeError};
use crate::messages::ApiKey;

/// Reads a value at a given API version.
pub trait Decode: Sized {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError>;
}

/// Writes a value at a given API version.
pub trait Encode {
    fn encode(&self, w: &mut EncodeBuf, version: i16) -> Result<(), EncodeError>;
}

/// A request or response body of one API.
pub trait ApiMessage: Decode + Encode + Default {
    const API_KEY: ApiKey;
    const IS_REQUEST: bool;

    /// Decodes a whole body from `bytes`, refusing trailing bytes.
    fn decode_body(bytes: Bytes, version: i16) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let message = Self::decode(&mut r, version)?;
        r.finish()?;
        Ok(message)
    }

    /// Encodes the body into one contiguous buffer.
    fn encode_body(&self, version: i16) -> Result<Bytes, EncodeError> {
        let mut w = EncodeBuf::new();
        self.encode(&mut w, version)?;
        Ok(w.to_contiguous())
    }
}

/// A tagged field this version does not know: its tag and raw body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTaggedField {
    pub tag: u32,
    pub data: Bytes,
}

/// Unknown tagged fields, in the order read (ascending tags on a well-formed input).
pub type TaggedFields = Vec<RawTaggedField>;

/// Collects the known tagged fields of a struct, then writes them merged with the unknown
/// ones in ascending tag order, as the protocol requires.
#[derive(Default)]
pub struct TaggedWriter {
    fields: Vec<(u32, EncodeBuf)>,
}

impl TaggedWriter {
    pub fn new() -> TaggedWriter {
        TaggedWriter::default()
    }

    /// A buffer for the body of tagged field `tag`; call in ascending tag order.
    pub fn field(&mut self, tag: u32) -> &mut EncodeBuf {
        self.fields.push((tag, EncodeBuf::new()));
        &mut self.fields.last_mut().expect("just pushed").1
    }

    pub fn finish(self, w: &mut EncodeBuf, unknown: &[RawTaggedField]) {
        w.put_uvarint((self.fields.len() + unknown.len()) as u32);
        let mut known = self.fields.into_iter().peekable();
        let mut unknown = unknown.iter().peekable();
        loop {
            let take_known = match (known.peek(), unknown.peek()) {
                (Some((k, _)), Some(u)) => *k <= u.tag,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if take_known {
                let (tag, body) = known.next().expect("peeked");
                w.put_uvarint(tag);
                w.put_uvarint(body.len() as u32);
                w.append(body);
            } else {
                let field = unknown.next().expect("peeked");
                w.put_uvarint(field.tag);
                w.put_uvarint(field.data.len() as u32);
                w.put_shared(&field.data);
            }
        }
    }
}

/// Refuses a version outside the range this crate covers for `api_key`.
pub fn check_version(api_key: ApiKey, version: i16) -> Result<(), DecodeError> {
    if api_key.supports(version) {
        Ok(())
    } else {
        Err(DecodeError::UnsupportedVersion {
            api_key: api_key as i16,
            version,
        })
    }
}

pub fn check_encode_version(api_key: ApiKey, version: i16) -> Result<(), EncodeError> {
    if api_key.supports(version) {
        Ok(())
    } else {
        Err(EncodeError::UnsupportedVersion {
            api_key: api_key as i16,
            version,
        })
    }
}

/// Everything the generated modules use.
pub mod prelude {
    pub use super::{
        check_encode_version, check_version, ApiMessage, Decode, Encode, EncodeBuf, Payload, RawTaggedField, Reader,
        TaggedFields, TaggedWriter,
    };
    pub use crate::error::{DecodeError, EncodeError};
    pub use crate::messages::ApiKey;
    pub use crate::uuid::Uuid;
    pub use bytes::Bytes;
}
