//! KRaft's control records: a control record's key names the type (`version i16 (0) |
//! type i16`, [`crate::records::control_type`]), its value is the message.

use bytes::Bytes;

use super::{KraftControlRecord, KraftControlType, MetadataError};
use crate::codec::{EncodeBuf, Reader};
use crate::error::EncodeError;
use crate::records::{control_key, control_type};

/// The version Kafka 4.0 and 4.1 read and write every KRaft control record at (the
/// `*_CURRENT_VERSION` constants of its `ControlRecordUtils`): the value does not say. Each
/// message starts with a `version` field of its own, which is data.
pub const CONTROL_RECORD_VERSION: i16 = 0;

impl KraftControlRecord {
    /// Decodes a control record from its key and value, refusing bytes after the message.
    pub fn decode_record(key: Option<&[u8]>, value: Bytes) -> Result<KraftControlRecord, MetadataError> {
        let type_id = control_type(key)?;
        let kind = KraftControlType::from_i16(type_id).ok_or(MetadataError::UnknownControlType(type_id))?;
        let mut r = Reader::new(value);
        let record = KraftControlRecord::decode(kind, &mut r, CONTROL_RECORD_VERSION)?;
        r.finish()?;
        Ok(record)
    }

    /// The key and value of the control record.
    pub fn encode_record(&self) -> Result<([u8; 4], Bytes), EncodeError> {
        let mut w = EncodeBuf::new();
        self.encode(&mut w, CONTROL_RECORD_VERSION)?;
        Ok((control_key(self.control_type() as i16), w.to_contiguous()))
    }
}
