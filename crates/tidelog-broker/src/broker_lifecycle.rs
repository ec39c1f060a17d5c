//! A node's broker in a cluster keeps its registration with the metadata quorum's leader,
//! as Kafka's `BrokerLifecycleManager` does: a heartbeat every `broker.heartbeat.interval.ms`
//! (more often while fenced, so that it is unfenced soon after it has caught up) with its
//! client endpoints, log dirs and how far it has applied the metadata. The leader registers
//! it, unfences and fences it ([`crate::broker_sessions`]).

use std::sync::Arc;
use std::time::Duration;

use tidelog_protocol::messages::tidelog_broker_heartbeat_request::{BrokerListener, TidelogBrokerHeartbeatRequest};
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody, Uuid};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::broker::Broker;
use crate::config::{Listener, SASL_PLAINTEXT, SASL_SSL, SSL};
use crate::ids::random_uuid;

/// How soon a fenced broker (or one without an answer) tries again.
const FENCED_RETRY: Duration = Duration::from_millis(200);

/// Heartbeats until `stop` turns true.
pub async fn run(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let node_id = broker.config.node_id;
    let incarnation_id = random_uuid();
    let interval = Duration::from_millis(broker.config.broker_heartbeat_interval_ms as u64);
    let mut fenced: Option<bool> = None;
    loop {
        let sending = broker.clone();
        let sent = tokio::task::spawn_blocking(move || heartbeat(&sending, incarnation_id, interval)).await;
        let next = match sent.unwrap_or_else(|e| Err(e.to_string())) {
            Ok(now_fenced) => {
                if fenced != Some(now_fenced) {
                    info!(
                        node_id,
                        fenced = now_fenced,
                        "registered with the metadata quorum's leader"
                    );
                    fenced = Some(now_fenced);
                }
                let shutting_down = broker.shutting_down.load(std::sync::atomic::Ordering::Acquire);
                if now_fenced || shutting_down {
                    FENCED_RETRY
                } else {
                    interval
                }
            }
            Err(reason) => {
                debug!(node_id, %reason, "no answer to a broker heartbeat");
                FENCED_RETRY
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(next) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

/// Sends one heartbeat to the quorum's leader (blocking): whether the broker is fenced, or
/// why there was no answer.
fn heartbeat(broker: &Broker, incarnation_id: Uuid, ttl: Duration) -> Result<bool, String> {
    let request = TidelogBrokerHeartbeatRequest {
        cluster_id: broker.cluster_id.clone(),
        broker_id: broker.config.node_id,
        incarnation_id,
        listeners: broker.config.advertised_listeners.iter().map(listener).collect(),
        rack: broker.config.broker_rack.clone(),
        log_dirs: broker.log_dir_ids.clone(),
        metadata_offset: broker.metadata.image_offset(),
        want_shut_down: broker.shutting_down.load(std::sync::atomic::Ordering::Acquire),
        ..Default::default()
    };
    let answer = broker
        .metadata
        .ask_leader(RequestBody::TidelogBrokerHeartbeat(request), ttl)?;
    let ResponseBody::TidelogBrokerHeartbeat(answer) = answer else {
        return Err("an answer of another kind".into());
    };
    match ErrorCode(answer.error_code) {
        ErrorCode::NONE => Ok(answer.is_fenced),
        ErrorCode::NOT_CONTROLLER => Err("the node asked does not lead (any more)".into()),
        code => {
            let message = answer.error_message.unwrap_or_default();
            warn!(
                ?code,
                message, "the metadata quorum's leader refused a broker heartbeat"
            );
            Err(message)
        }
    }
}

/// A client listener as a registration carries it, with Kafka's security protocol codes.
fn listener(listener: &Listener) -> BrokerListener {
    let security_protocol = match listener.protocol.as_str() {
        SSL => 1,
        SASL_PLAINTEXT => 2,
        SASL_SSL => 3,
        _ => 0,
    };
    BrokerListener {
        name: listener.name.clone(),
        host: listener.host.clone(),
        port: i32::from(listener.port),
        security_protocol,
        ..Default::default()
    }
}
