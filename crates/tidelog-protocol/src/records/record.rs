//! Records inside a v2 batch, decoded only where semantics need them (compaction,
//! transaction markers, validation), never on the produce/fetch hot path.
//!
//! Wire form: `length varint | attributes i8 | timestampDelta varlong | offsetDelta varint |
//! keyLength varint (-1 = null) | key | valueLength varint (-1 = null) | value |
//! headerCount varint | headers`, each header `keyLength varint | key | valueLength varint
//! (-1 = null) | value`.

use super::{RecordBatch, RecordsError, TimestampType};
use crate::varint::{put_varint, put_varlong, read_varint, read_varlong};
use bytes::Bytes;

/// One record, with its offset and timestamp made absolute. Key, value and headers are
/// slices of the batch (or of its decompressed body), not copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    /// The producer's timestamp, or the broker's append time for LogAppendTime batches.
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

/// A record header. The key is UTF-8 by contract but kept as bytes: Kafka does not reject
/// invalid UTF-8, so neither do we.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: Bytes,
    pub value: Option<Bytes>,
}

/// Iterator over the records of one batch.
///
/// Yields exactly `recordCount` records, then fails if bytes remain; fails if the bytes
/// end first. Nothing is allocated up front from a declared count, so a hostile count
/// costs only the bytes actually present. Iteration stops after the first error.
#[derive(Debug, Clone)]
pub struct Records {
    body: Bytes,
    position: usize,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    declared: i32,
    decoded: i32,
    done: bool,
}

impl Records {
    /// `body` is the batch's records section, already decompressed.
    pub(super) fn new(batch: &RecordBatch, body: Bytes) -> Self {
        let log_append_time = match batch.timestamp_type() {
            TimestampType::LogAppendTime => Some(batch.max_timestamp()),
            TimestampType::CreateTime => None,
        };
        Self {
            body,
            position: 0,
            base_offset: batch.base_offset(),
            base_timestamp: batch.base_timestamp(),
            log_append_time,
            declared: batch.record_count(),
            decoded: 0,
            done: false,
        }
    }

    fn decode_next(&mut self) -> Result<Record, RecordsError> {
        let mut cursor = &self.body[self.position..];
        let length = read_length(&mut cursor, "record")?;
        let mut fields = take(&mut cursor, length)?;
        self.position = self.body.len() - cursor.len();

        take(&mut fields, 1)?; // attributes: unused since v2
        let timestamp_delta = read_varlong(&mut fields)?;
        let offset_delta = read_varint(&mut fields)?;
        let key = read_nullable(&self.body, &mut fields, "key")?;
        let value = read_nullable(&self.body, &mut fields, "value")?;
        let header_count = read_length(&mut fields, "header count")?;
        // Each header takes at least two bytes, so this loop is bounded by the input.
        let mut headers = Vec::new();
        for _ in 0..header_count {
            let key = read_bytes(&self.body, &mut fields, "header key")?;
            let value = read_nullable(&self.body, &mut fields, "header value")?;
            headers.push(Header { key, value });
        }
        if !fields.is_empty() {
            return Err(RecordsError::TrailingBytes(fields.len()));
        }

        Ok(Record {
            offset: self.base_offset.wrapping_add(i64::from(offset_delta)),
            timestamp: self
                .log_append_time
                .unwrap_or(self.base_timestamp.wrapping_add(timestamp_delta)),
            key,
            value,
            headers,
        })
    }
}

impl Iterator for Records {
    type Item = Result<Record, RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let remaining = self.body.len() - self.position;
        let result = if self.decoded == self.declared {
            self.done = true;
            if remaining == 0 {
                return None;
            }
            Err(RecordsError::TrailingBytes(remaining))
        } else if remaining == 0 {
            Err(RecordsError::RecordCountMismatch {
                declared: self.declared,
                actual: self.decoded,
            })
        } else {
            self.decode_next()
        };
        match &result {
            Ok(_) => self.decoded += 1,
            Err(_) => self.done = true,
        }
        Some(result)
    }
}

/// Appends one record in wire form; the builder's half of the format above.
pub(super) fn encode_record(
    out: &mut Vec<u8>,
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) {
    let mut fields = vec![0]; // attributes
    put_varlong(&mut fields, timestamp_delta);
    put_varint(&mut fields, offset_delta);
    put_nullable(&mut fields, key);
    put_nullable(&mut fields, value);
    put_varint(&mut fields, wire_len(headers.len()));
    for header in headers {
        put_nullable(&mut fields, Some(&header.key));
        put_nullable(&mut fields, header.value.as_deref());
    }
    put_varint(out, wire_len(fields.len()));
    out.extend_from_slice(&fields);
}

fn put_nullable(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varint(out, -1),
        Some(bytes) => {
            put_varint(out, wire_len(bytes.len()));
            out.extend_from_slice(bytes);
        }
    }
}

fn wire_len(len: usize) -> i32 {
    i32::try_from(len).expect("record fields are limited to i32::MAX bytes by the format")
}

/// A length or count that may not be negative.
fn read_length(cursor: &mut &[u8], field: &'static str) -> Result<usize, RecordsError> {
    non_negative(read_varint(cursor)?, field)
}

fn non_negative(length: i32, field: &'static str) -> Result<usize, RecordsError> {
    usize::try_from(length).map_err(|_| RecordsError::InvalidLength { field, length })
}

fn read_bytes(body: &Bytes, cursor: &mut &[u8], field: &'static str) -> Result<Bytes, RecordsError> {
    let length = read_length(cursor, field)?;
    Ok(body.slice_ref(take(cursor, length)?))
}

/// Bytes whose length -1 means null.
fn read_nullable(body: &Bytes, cursor: &mut &[u8], field: &'static str) -> Result<Option<Bytes>, RecordsError> {
    match read_varint(cursor)? {
        -1 => Ok(None),
        length => Ok(Some(body.slice_ref(take(cursor, non_negative(length, field)?)?))),
    }
}

fn take<'a>(cursor: &mut &'a [u8], len: usize) -> Result<&'a [u8], RecordsError> {
    if cursor.len() < len {
        return Err(RecordsError::Truncated {
            needed: len,
            available: cursor.len(),
        });
    }
    let (taken, rest) = cursor.split_at(len);
    *cursor = rest;
    Ok(taken)
}
