//! The record types of KRaft's metadata log, generated from `schemas/metadata/` by the
//! build script.
//!
//! Each record has a module (`topic_record`, `leader_change_message`, ...) holding its type
//! and nested structs. `MetadataRecordType` and `KraftControlType` list the records with
//! their covered versions; `MetadataRecord` and `KraftControlRecord` decode and encode any
//! of them by type.

// Generated code: single-version records never read `version`, and clippy is not run on
// its mechanical style.
#![allow(unused_variables, clippy::all)]

use crate::codec::prelude::*;

include!(concat!(env!("OUT_DIR"), "/metadata_records.rs"));
