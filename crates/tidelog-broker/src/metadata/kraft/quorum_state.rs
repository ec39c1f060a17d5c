//! `quorum-state` in `__cluster_metadata-0`: this node's view of the KRaft election (the
//! leader and epoch it knows, its vote), which it must not forget across a restart or it
//! could vote twice in an epoch.
//!
//! One line of JSON, without a newline: Kafka's `QuorumStateData` in its field order, with
//! `data_version` last. Kafka writes version 0 under kraft.version 0 (static voters) and
//! version 1 under kraft.version 1 (KIP-853), which names the voted replica's directory
//! instead of listing the voters.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tidelog_log::{read_text_file, replace_file, LogError};
use tidelog_protocol::Uuid;

use crate::ids::{uuid_base64, uuid_from_base64};

pub const QUORUM_STATE: &str = "quorum-state";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumState {
    /// -1: no leader known.
    pub leader_id: i32,
    pub leader_epoch: i32,
    /// -1: no vote in this epoch.
    pub voted_id: i32,
    pub version: QuorumStateVersion,
}

/// What each `data_version` adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuorumStateVersion {
    /// Kafka 4 writes an empty cluster id, an applied offset of 0 and the voters' ids.
    V0 {
        cluster_id: String,
        applied_offset: i64,
        current_voters: Option<Vec<i32>>,
    },
    /// The directory of the replica voted for; the nil id with no vote.
    V1 { voted_directory_id: Uuid },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V0 {
    cluster_id: String,
    leader_id: i32,
    leader_epoch: i32,
    voted_id: i32,
    applied_offset: i64,
    current_voters: Option<Vec<Voter>>,
    #[serde(rename = "data_version")]
    data_version: i16,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Voter {
    voter_id: i32,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1 {
    leader_id: i32,
    leader_epoch: i32,
    voted_id: i32,
    #[serde(with = "uuid_text")]
    voted_directory_id: Uuid,
    #[serde(rename = "data_version")]
    data_version: i16,
}

impl QuorumState {
    /// The file in `dir`; `None` when there is none, as before the first election.
    pub fn read(dir: &Path) -> Result<Option<QuorumState>, LogError> {
        read_text_file(&dir.join(QUORUM_STATE), |text| parse(text).map_err(|e| e.to_string()))
    }

    /// Replaces the file in `dir` atomically.
    pub fn write(&self, dir: &Path) -> Result<(), LogError> {
        replace_file(&dir.join(QUORUM_STATE), self.to_json().as_bytes())
    }

    fn to_json(&self) -> String {
        let (leader_id, leader_epoch, voted_id) = (self.leader_id, self.leader_epoch, self.voted_id);
        let json = match &self.version {
            QuorumStateVersion::V0 {
                cluster_id,
                applied_offset,
                current_voters,
            } => serde_json::to_string(&V0 {
                cluster_id: cluster_id.clone(),
                leader_id,
                leader_epoch,
                voted_id,
                applied_offset: *applied_offset,
                current_voters: current_voters
                    .as_ref()
                    .map(|ids| ids.iter().map(|&voter_id| Voter { voter_id }).collect()),
                data_version: 0,
            }),
            QuorumStateVersion::V1 { voted_directory_id } => serde_json::to_string(&V1 {
                leader_id,
                leader_epoch,
                voted_id,
                voted_directory_id: *voted_directory_id,
                data_version: 1,
            }),
        };
        json.expect("plain values serialize")
    }
}

/// Kafka reads the first line only.
fn parse(text: &str) -> serde_json::Result<QuorumState> {
    let line = text.lines().next().unwrap_or_default();
    #[derive(Deserialize)]
    struct Version {
        data_version: i16,
    }
    Ok(match serde_json::from_str::<Version>(line)?.data_version {
        0 => {
            let v0: V0 = serde_json::from_str(line)?;
            QuorumState {
                leader_id: v0.leader_id,
                leader_epoch: v0.leader_epoch,
                voted_id: v0.voted_id,
                version: QuorumStateVersion::V0 {
                    cluster_id: v0.cluster_id,
                    applied_offset: v0.applied_offset,
                    current_voters: v0.current_voters.map(|v| v.iter().map(|v| v.voter_id).collect()),
                },
            }
        }
        1 => {
            let v1: V1 = serde_json::from_str(line)?;
            QuorumState {
                leader_id: v1.leader_id,
                leader_epoch: v1.leader_epoch,
                voted_id: v1.voted_id,
                version: QuorumStateVersion::V1 {
                    voted_directory_id: v1.voted_directory_id,
                },
            }
        }
        other => return Err(serde::de::Error::custom(format!("unsupported data_version {other}"))),
    })
}

/// UUIDs in Kafka's textual form.
mod uuid_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use tidelog_protocol::Uuid;

    use super::{uuid_base64, uuid_from_base64};

    pub fn serialize<S: Serializer>(id: &Uuid, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&uuid_base64(*id))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
        let text = String::deserialize(d)?;
        uuid_from_base64(&text).ok_or_else(|| serde::de::Error::custom(format!("malformed id {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::assert_each_corrupt;

    #[test]
    fn both_versions_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(QuorumState::read(dir.path()).unwrap(), None);
        for json in [
            r#"{"leaderId":1,"leaderEpoch":1,"votedId":-1,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1}"#,
            r#"{"leaderId":-1,"leaderEpoch":2,"votedId":1,"votedDirectoryId":"J8aAPcfLQt2bqs1JT_rMgQ","data_version":1}"#,
            r#"{"clusterId":"","leaderId":1,"leaderEpoch":2,"votedId":-1,"appliedOffset":0,"currentVoters":[{"voterId":1},{"voterId":2}],"data_version":0}"#,
            r#"{"clusterId":"","leaderId":1,"leaderEpoch":2,"votedId":-1,"appliedOffset":0,"currentVoters":null,"data_version":0}"#,
        ] {
            std::fs::write(dir.path().join(QUORUM_STATE), json).unwrap();
            let state = QuorumState::read(dir.path()).unwrap().unwrap();
            state.write(dir.path()).unwrap();
            assert_eq!(std::fs::read_to_string(dir.path().join(QUORUM_STATE)).unwrap(), json);
        }
    }

    #[test]
    fn malformed_files_name_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let texts = [
            "",
            "{}",
            r#"{"leaderId":1,"leaderEpoch":1,"votedId":-1,"data_version":1}"#,
            r#"{"leaderId":1,"leaderEpoch":1,"votedId":-1,"votedDirectoryId":"x","data_version":1}"#,
            r#"{"leaderId":1,"leaderEpoch":1,"votedId":-1,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":2}"#,
        ];
        assert_each_corrupt(&dir.path().join(QUORUM_STATE), &texts, || QuorumState::read(dir.path()));
    }
}
