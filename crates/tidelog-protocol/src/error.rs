//! Typed decode and encode errors: hostile input ends in one of these, never in a panic.

use thiserror::Error;

use crate::varint::VarintError;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("input ended: needed {needed} more bytes, {remaining} left")]
    Truncated { needed: usize, remaining: usize },
    #[error("invalid length {0}")]
    InvalidLength(i64),
    #[error("length {claimed} exceeds the {remaining} bytes left")]
    LengthExceedsInput { claimed: usize, remaining: usize },
    #[error("null in non-nullable field `{0}`")]
    UnexpectedNull(&'static str),
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    #[error(transparent)]
    Varint(#[from] VarintError),
    #[error("tagged field {tag} has {left} unread bytes")]
    TaggedFieldTrailingBytes { tag: u32, left: usize },
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("API key {api_key} does not support version {version}")]
    UnsupportedVersion { api_key: i16, version: i16 },
    #[error("{record} does not support version {version}")]
    UnsupportedRecordVersion { record: &'static str, version: i16 },
    #[error("{0} bytes left after the message")]
    TrailingBytes(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("null in field `{field}`, which is not nullable in version {version}")]
    NullNotAllowed { field: &'static str, version: i16 },
    #[error("field `{field}` is {len} long, more than the wire format allows")]
    TooLong { field: &'static str, len: usize },
    #[error("API key {api_key} does not support version {version}")]
    UnsupportedVersion { api_key: i16, version: i16 },
    #[error("{record} does not support version {version}")]
    UnsupportedRecordVersion { record: &'static str, version: i16 },
}
