//! Kafka's wire protocol, sans I/O.
//!
//! Message types and their codecs are generated at build time from the schemas in
//! `schemas/` (see `schemas/README.md`). Decoding is bounded by the bytes actually
//! present: no input can make it allocate more than the input justifies, panic or abort.

pub mod records;
pub mod varint;
