//! The frame of a metadata record in a record's value, Kafka's `ApiMessageAndVersion` as
//! its `AbstractApiMessageSerde` writes it: `frame version uvarint (1) | type uvarint |
//! version uvarint | message`, nothing after the message.

use bytes::Bytes;

use super::{MetadataError, MetadataRecord, MetadataRecordType};
use crate::codec::{EncodeBuf, Reader};
use crate::error::EncodeError;

/// The only frame version Kafka writes and reads.
const FRAME_VERSION: u32 = 1;

/// A metadata record with the version it is encoded at: what a record value of the
/// metadata log holds.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionedRecord {
    pub version: i16,
    pub record: MetadataRecord,
}

impl VersionedRecord {
    /// Decodes a record value, refusing bytes after the message.
    pub fn decode(value: Bytes) -> Result<VersionedRecord, MetadataError> {
        let mut r = Reader::new(value);
        let frame_version = r.uvarint()?;
        if frame_version != FRAME_VERSION {
            return Err(MetadataError::FrameVersion(frame_version));
        }
        let type_id = r.uvarint()?;
        let record_type = i16::try_from(type_id)
            .ok()
            .and_then(MetadataRecordType::from_i16)
            .ok_or(MetadataError::UnknownRecordType(type_id))?;
        let version = r.uvarint()?;
        let version = i16::try_from(version).map_err(|_| MetadataError::VersionOutOfRange(version))?;
        let record = MetadataRecord::decode(record_type, &mut r, version)?;
        r.finish()?;
        Ok(VersionedRecord { version, record })
    }

    /// Encodes the record value.
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let mut w = EncodeBuf::new();
        w.put_uvarint(FRAME_VERSION);
        w.put_uvarint(self.record.record_type() as u32);
        // Negative versions are refused by the record's encoder below.
        w.put_uvarint(self.version as u16 as u32);
        self.record.encode(&mut w, self.version)?;
        Ok(w.to_contiguous())
    }
}
