//! The controller's side of the brokers' lifecycle (docs/design/quorum.md §8.1, S9), as
//! Kafka's controller keeps it: the quorum's leader registers a broker from its heartbeat
//! (fenced, a RegisterBrokerRecord), unfences it once it has applied the metadata up to its
//! registration, and fences it when no heartbeat came for `broker.session.timeout.ms`. A
//! fenced broker gets no new partitions. The sessions live in the leader's memory: a new
//! leader gives every broker a fresh one, as Kafka's does, but for the node of the leader
//! it replaced, whose session runs from when this node last heard from it (leaving it at
//! least a heartbeat interval). That node went silent to a majority of voters for an
//! election timeout: where it dies with its broker (combined nodes), its partitions move
//! that much sooner; where it is only slow, its next heartbeat unfences it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tidelog_protocol::messages::tidelog_broker_heartbeat_request::TidelogBrokerHeartbeatRequest;
use tidelog_protocol::messages::tidelog_broker_heartbeat_response::TidelogBrokerHeartbeatResponse;
use tidelog_protocol::ErrorCode;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::broker::{store_error, ApiError};
use crate::metadata::{BrokerEndpoint, BrokerMeta, MetadataEvent, MetadataStore};

pub struct BrokerSessions {
    cluster_id: String,
    session_timeout: Duration,
    /// How often brokers send heartbeats: the least a replaced leader's node is given to
    /// send this node one.
    heartbeat_interval: Duration,
    /// Each broker's last heartbeat to this node while it leads.
    last_heartbeat: Mutex<HashMap<i32, Instant>>,
}

impl BrokerSessions {
    pub fn new(cluster_id: String, session_timeout: Duration, heartbeat_interval: Duration) -> BrokerSessions {
        BrokerSessions {
            cluster_id,
            session_timeout,
            heartbeat_interval,
            last_heartbeat: Mutex::default(),
        }
    }

    /// The answer to a broker's heartbeat: its registration's epoch and whether it is
    /// fenced, or why this node cannot answer (NOT_CONTROLLER on a node that does not lead).
    pub fn answer(
        &self,
        metadata: &MetadataStore,
        request: TidelogBrokerHeartbeatRequest,
    ) -> TidelogBrokerHeartbeatResponse {
        match self.heartbeat(metadata, request) {
            Ok(broker) => TidelogBrokerHeartbeatResponse {
                broker_epoch: broker.epoch,
                is_fenced: broker.fenced,
                ..Default::default()
            },
            Err(e) => TidelogBrokerHeartbeatResponse {
                error_code: e.code.0,
                error_message: Some(e.message),
                ..Default::default()
            },
        }
    }

    fn heartbeat(
        &self,
        metadata: &MetadataStore,
        request: TidelogBrokerHeartbeatRequest,
    ) -> Result<BrokerMeta, ApiError> {
        if request.cluster_id != self.cluster_id {
            return Err(ApiError::new(
                ErrorCode::INCONSISTENT_CLUSTER_ID,
                format!("this is cluster {}, not {}", self.cluster_id, request.cluster_id),
            ));
        }
        if !metadata.leads() {
            return Err(ApiError::new(
                ErrorCode::NOT_CONTROLLER,
                "this node does not lead the quorum",
            ));
        }
        let offset = request.metadata_offset;
        let shutting_down = request.want_shut_down;
        let wanted = registration_of(request);
        let id = wanted.id;
        self.sessions().insert(id, Instant::now());
        let registered = metadata.image().brokers().get(&id).cloned();
        let broker = match registered {
            Some(known) if same_registration(&known, &wanted) => known,
            _ => {
                let committed = metadata.commit(|_| {
                    // Its epoch is the offset of its record, as Kafka's: the next one.
                    let epoch = metadata.image_offset() + 1;
                    Ok::<_, ApiError>(MetadataEvent::BrokerRegistered(BrokerMeta { epoch, ..wanted }))
                });
                let Ok(Ok(MetadataEvent::BrokerRegistered(broker))) = committed.map_err(store_error) else {
                    return Err(ApiError::new(
                        ErrorCode::NOT_CONTROLLER,
                        "the registration was not committed",
                    ));
                };
                info!(broker = id, epoch = broker.epoch, endpoints = ?broker.endpoints, "broker registered (fenced until caught up)");
                broker
            }
        };
        if shutting_down {
            // Kafka's controlled shutdown: fenced now, so its leaderships move before it
            // stops, and never unfenced again by this incarnation.
            if !broker.fenced {
                self.fence(metadata, &broker, true)?;
                info!(broker = id, "broker fenced: it is shutting down");
            }
            return Ok(BrokerMeta { fenced: true, ..broker });
        }
        if broker.fenced && offset >= broker.epoch {
            self.fence(metadata, &broker, false)?;
            info!(
                broker = id,
                epoch = broker.epoch,
                "broker unfenced: it has caught up with the metadata"
            );
            return Ok(BrokerMeta {
                fenced: false,
                ..broker
            });
        }
        Ok(broker)
    }

    /// Fences the unfenced brokers without a heartbeat for a session; on a node that does
    /// not lead, forgets the sessions (the next leadership starts them afresh).
    pub fn fence_expired(&self, metadata: &MetadataStore) {
        if !metadata.leads() {
            self.sessions().clear();
            return;
        }
        let now = Instant::now();
        let previous_leader = metadata.leader_heard();
        // The replaced leader's session runs from when this node last heard from it, but
        // leaves it a heartbeat interval from now to show it is alive after all.
        let latest = (now + self.heartbeat_interval)
            .checked_sub(self.session_timeout)
            .unwrap_or(now);
        let session_start = |id: i32| match previous_leader {
            Some((leader, heard)) if leader == id => Instant::from_std(heard).max(latest),
            _ => now,
        };
        let expired: Vec<BrokerMeta> = {
            let mut sessions = self.sessions();
            let image = metadata.image();
            image
                .brokers()
                .values()
                .filter(|b| !b.fenced)
                .filter(|b| {
                    let started = *sessions.entry(b.id).or_insert_with(|| session_start(b.id));
                    now.duration_since(started) > self.session_timeout
                })
                .cloned()
                .collect()
        };
        for broker in expired {
            match self.fence(metadata, &broker, true) {
                Ok(()) => {
                    warn!(broker = broker.id, timeout = ?self.session_timeout, "broker fenced: no heartbeat within its session")
                }
                Err(e) => warn!(broker = broker.id, error = %e.message, "cannot fence a broker"),
            }
        }
    }

    /// Fences or unfences `broker`'s registration, if it is still the one registered: a
    /// change naming another epoch than the registration's would not apply.
    fn fence(&self, metadata: &MetadataStore, broker: &BrokerMeta, fenced: bool) -> Result<(), ApiError> {
        let (id, epoch) = (broker.id, broker.epoch);
        let committed = metadata.commit(|image| match image.brokers().get(&id) {
            Some(registered) if registered.epoch == epoch => Ok(MetadataEvent::BrokerFenced { id, epoch, fenced }),
            _ => Err(ApiError::new(
                ErrorCode::STALE_BROKER_EPOCH,
                format!("broker {id} registered again since epoch {epoch}"),
            )),
        });
        committed.map_err(store_error)?.map(drop)
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Instant>> {
        self.last_heartbeat.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The registration a heartbeat asks for (its epoch is given when it is written).
fn registration_of(request: TidelogBrokerHeartbeatRequest) -> BrokerMeta {
    let endpoints = request
        .listeners
        .into_iter()
        .map(|l| BrokerEndpoint {
            listener: l.name,
            host: l.host,
            port: u16::try_from(l.port).unwrap_or(0),
            security_protocol: l.security_protocol,
        })
        .collect();
    BrokerMeta {
        id: request.broker_id,
        epoch: -1,
        incarnation_id: request.incarnation_id,
        endpoints,
        rack: request.rack,
        log_dirs: request.log_dirs,
        fenced: true,
    }
}

/// Whether `known` is the registration `wanted` asks for: the same process (incarnation)
/// with the same endpoints, rack and log dirs. Another one is registered anew, fenced.
fn same_registration(known: &BrokerMeta, wanted: &BrokerMeta) -> bool {
    (&known.incarnation_id, &known.endpoints, &known.rack, &known.log_dirs)
        == (
            &wanted.incarnation_id,
            &wanted.endpoints,
            &wanted.rack,
            &wanted.log_dirs,
        )
}
