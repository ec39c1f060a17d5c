//! The message types, generated from `schemas/` by the build script.
//!
//! Each API has two modules, `<api>_request` and `<api>_response`, holding the message
//! type and its nested structs. `ApiKey` lists every API with its covered versions;
//! `RequestBody` and `ResponseBody` decode and encode any of them by key.

// Generated code: single-version APIs never read `version`, and clippy is not run on
// its mechanical style.
#![allow(unused_variables, clippy::all)]

use crate::codec::prelude::*;

include!(concat!(env!("OUT_DIR"), "/messages.rs"));

/// Tidelog's own APIs (the metadata quorum's RPCs between controllers) have keys from here
/// on, far above any Kafka assigns; they are never advertised to clients.
pub const TIDELOG_API_KEYS_FROM: i16 = 10_000;

impl ApiKey {
    /// Whether the API is Tidelog's own, not Kafka's (see [`TIDELOG_API_KEYS_FROM`]).
    pub const fn is_tidelogs(self) -> bool {
        self as i16 >= TIDELOG_API_KEYS_FROM
    }

    /// Whether this crate decodes and encodes `version` of the API.
    pub const fn supports(self, version: i16) -> bool {
        version >= self.min_version() && version <= self.max_version()
    }

    /// Whether `version` uses compact encodings and tagged fields. Versions above the
    /// covered range count as flexible when the API is, so the header of a too-new request
    /// can still be read to answer it.
    pub const fn is_flexible(self, version: i16) -> bool {
        match self.flexible_from() {
            Some(from) => version >= from,
            None => false,
        }
    }

    /// Request header version: 2 for flexible versions, 1 otherwise.
    pub const fn request_header_version(self, version: i16) -> i16 {
        if self.is_flexible(version) {
            2
        } else {
            1
        }
    }

    /// Response header version: 1 for flexible versions, 0 otherwise. ApiVersions always
    /// answers with header v0, so a client can read it whatever version it asked for.
    pub const fn response_header_version(self, version: i16) -> i16 {
        if self.is_flexible(version) && !matches!(self, ApiKey::ApiVersions) {
            1
        } else {
            0
        }
    }
}
