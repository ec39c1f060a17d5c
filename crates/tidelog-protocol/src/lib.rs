//! Kafka's wire protocol, sans I/O.
//!
//! Message types and their codecs are generated at build time from the schemas in
//! `schemas/` (see `schemas/README.md`), and so are the records of KRaft's metadata log
//! ([`metadata`]). Decoding is bounded by the bytes actually
//! present: no input can make it allocate more than the input justifies, panic or abort.
//! Encoding writes into a chunked buffer so large record sets are never copied.

pub mod codec;
pub mod consumer_protocol;
pub mod error;
pub mod error_code;
pub mod frame;
pub mod header;
pub mod messages;
pub mod metadata;
pub mod records;
pub mod request;
#[cfg(feature = "sample")]
pub mod sample;
pub mod uuid;
pub mod varint;

pub use codec::{ApiMessage, Decode, Encode, EncodeBuf, FileRegion, Payload, Reader};
pub use error::{DecodeError, EncodeError};
pub use error_code::ErrorCode;
pub use messages::{ApiKey, RequestBody, ResponseBody};
pub use request::{decode_request, decode_response, encode_request, encode_response, Request};
pub use uuid::Uuid;
