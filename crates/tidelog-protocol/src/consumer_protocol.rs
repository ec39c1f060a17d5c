//! The consumer protocol's bytes that classic groups carry opaquely (JoinGroup's member
//! metadata, SyncGroup's assignments): read where a member's partitions must be shown, by
//! `tidelog groups describe` and the broker's web console.

use bytes::Bytes;

use crate::{DecodeError, Reader};

/// The partitions of a ConsumerProtocolAssignment (a version, then each topic's name and
/// partitions; the user data after them is not read), as (topic, partition). Empty bytes,
/// a member the group has not assigned yet, have none.
pub fn assigned_partitions(assignment: Bytes) -> Result<Vec<(String, i32)>, DecodeError> {
    let mut partitions = Vec::new();
    if assignment.is_empty() {
        return Ok(partitions);
    }
    let mut r = Reader::new(assignment);
    r.i16()?;
    for _ in 0..r.array_len(false, "assigned_partitions")? {
        let topic = r.string(false, "topic")?;
        for _ in 0..r.array_len(false, "partitions")? {
            partitions.push((topic.clone(), r.i32()?));
        }
    }
    Ok(partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assignment_lists_its_partitions_and_truncated_bytes_fail() {
        // Version 0; one topic "t" with partitions 0 and 2; no user data.
        let bytes: &[u8] = &[
            0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff,
        ];
        let assigned = assigned_partitions(Bytes::from_static(bytes)).unwrap();
        assert_eq!(assigned, [("t".to_string(), 0), ("t".to_string(), 2)]);
        assert!(assigned_partitions(Bytes::from_static(&bytes[..10])).is_err());
        assert!(assigned_partitions(Bytes::new()).unwrap().is_empty());
    }
}
