//! The KRaft properties of a node: `process.roles`, `controller.quorum.voters`,
//! `controller.quorum.bootstrap.servers` and `inter.broker.listener.name`, checked as Kafka
//! checks them. Several voters are taken for nodes that are broker and controller both; a
//! node of one role, and a quorum found through bootstrap servers (KIP-853), are refused
//! for now (docs/design/quorum.md).

use super::{invalid, ConfigError, Listener};

/// What a node is (`process.roles`). With no `process.roles` a Tidelog node is both, as
/// `tidelog serve` with no configuration always was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessRoles {
    pub broker: bool,
    pub controller: bool,
}

impl Default for ProcessRoles {
    fn default() -> ProcessRoles {
        ProcessRoles {
            broker: true,
            controller: true,
        }
    }
}

/// A voter of `controller.quorum.voters`: `id@host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Voter {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

/// The node's place in the quorum, as configured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuorumConfig {
    /// `None` when `process.roles` is not set.
    pub roles: Option<ProcessRoles>,
    pub voters: Vec<Voter>,
    /// `controller.quorum.bootstrap.servers` (KIP-853), `host:port` each.
    pub bootstrap_servers: Vec<String>,
    pub inter_broker_listener: Option<String>,
    /// `controller.quorum.election.timeout.ms`, if set (see [`QuorumConfig::election_timeout_ms`]).
    pub election_timeout: Option<u64>,
}

impl QuorumConfig {
    /// The voter entry of `node_id` must name the port its first controller listener
    /// listens on: the other voters reach it there. A node given another node's `node.id`
    /// (a copied file) is refused here rather than take part as that node.
    pub(super) fn check_own_voter(&self, node_id: i32, controllers: &[Listener]) -> Result<(), ConfigError> {
        let own = self.voters.iter().find(|v| v.id == node_id);
        match (own, controllers.first()) {
            (Some(voter), Some(listener)) if voter.port != listener.port => Err(invalid(
                "controller.quorum.voters",
                &voters_text(&self.voters),
                format!(
                    "node.id {node_id} is {}:{} among the voters, but this node's controller listener {} \
                     listens on port {}: is node.id right?",
                    voter.host, voter.port, listener.name, listener.port
                ),
            )),
            _ => Ok(()),
        }
    }

    /// `controller.quorum.election.timeout.ms` (Kafka's default: 1000): how long a voter
    /// waits without hearing from a leader before it stands for election.
    pub fn election_timeout_ms(&self) -> u64 {
        self.election_timeout.unwrap_or(1000)
    }

    /// Whether the voters name a node other than `node_id`.
    pub fn has_other_voters(&self, node_id: i32) -> bool {
        self.voters.iter().any(|v| v.id != node_id)
    }

    /// Takes `key` if it is one of the quorum's properties: `Some` with the outcome, else
    /// `None`.
    pub(super) fn apply(&mut self, key: &str, value: &str) -> Option<Result<(), ConfigError>> {
        let applied = match key {
            "process.roles" => process_roles(key, value).map(|roles| self.roles = Some(roles)),
            "controller.quorum.voters" => voters(key, value).map(|voters| self.voters = voters),
            "controller.quorum.bootstrap.servers" => {
                self.bootstrap_servers = list(value).map(String::from).collect();
                Ok(())
            }
            "controller.quorum.election.timeout.ms" => match value.trim().parse::<u64>() {
                Ok(ms) if ms >= 10 => {
                    self.election_timeout = Some(ms);
                    Ok(())
                }
                _ => Err(invalid(key, value, "must be a number of milliseconds, at least 10")),
            },
            "inter.broker.listener.name" => {
                self.inter_broker_listener = Some(value.trim().to_ascii_uppercase());
                Ok(())
            }
            _ => return None,
        };
        Some(applied)
    }

    /// Checks the properties together once all are read: `listeners` as given (controller
    /// listeners included), `controller_names` from `controller.listener.names`.
    pub(super) fn check(
        &self,
        node_id: i32,
        listeners: &[Listener],
        controller_names: &[String],
    ) -> Result<(), ConfigError> {
        let roles = self.roles.unwrap_or_default();
        let is_controller_listener = |l: &Listener| controller_names.contains(&l.name);
        let needs_listener = self.roles.is_some() || self.has_other_voters(node_id);
        if needs_listener && roles.controller && !listeners.iter().any(is_controller_listener) {
            return Err(invalid(
                "controller.listener.names",
                &controller_names.join(","),
                "a node with the controller role needs one of these names among its listeners",
            ));
        }
        if roles.controller && !self.voters.is_empty() && !self.voters.iter().any(|v| v.id == node_id) {
            return Err(invalid(
                "controller.quorum.voters",
                &voters_text(&self.voters),
                format!("node.id {node_id} has the controller role but is not one of the voters"),
            ));
        }
        if let Some(name) = &self.inter_broker_listener {
            if !listeners.iter().any(|l| &l.name == name) || controller_names.contains(name) {
                return Err(invalid(
                    "inter.broker.listener.name",
                    name,
                    "must name one of the listeners, and not a controller listener",
                ));
            }
        }
        if !roles.broker || !roles.controller {
            let roles_text = if roles.broker { "broker" } else { "controller" };
            return Err(invalid(
                "process.roles",
                roles_text,
                "a node of one role needs other nodes for the other, and Tidelog runs one node for \
                 now: use process.roles=broker,controller",
            ));
        }
        if self.bootstrap_servers.len() > 1 {
            return Err(invalid(
                "controller.quorum.bootstrap.servers",
                &self.bootstrap_servers.join(","),
                "several controllers: Tidelog's metadata quorum has one voter, this node, for now",
            ));
        }
        Ok(())
    }
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn process_roles(key: &str, value: &str) -> Result<ProcessRoles, ConfigError> {
    let mut roles = ProcessRoles {
        broker: false,
        controller: false,
    };
    for role in list(value) {
        let slot = match role {
            "broker" => &mut roles.broker,
            "controller" => &mut roles.controller,
            other => {
                return Err(invalid(
                    key,
                    value,
                    format!("unknown role `{other}`: broker or controller"),
                ))
            }
        };
        if *slot {
            return Err(invalid(key, value, format!("`{role}` is named twice")));
        }
        *slot = true;
    }
    if !roles.broker && !roles.controller {
        return Err(invalid(key, value, "no role: broker, controller, or both"));
    }
    Ok(roles)
}

fn voters(key: &str, value: &str) -> Result<Vec<Voter>, ConfigError> {
    let mut voters: Vec<Voter> = Vec::new();
    for entry in list(value) {
        let bad = |reason: &str| invalid(key, value, format!("`{entry}`: {reason}"));
        let (id, address) = entry.split_once('@').ok_or_else(|| bad("not id@host:port"))?;
        let id: i32 = id
            .parse()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| bad("the id is not a node id"))?;
        let (host, port) = address.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(|| bad("not a port"))?;
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if voters.iter().any(|v| v.id == id) {
            return Err(bad("the id is named twice"));
        }
        voters.push(Voter {
            id,
            host: host.trim_start_matches('[').trim_end_matches(']').to_string(),
            port,
        });
    }
    Ok(voters)
}

fn voters_text(voters: &[Voter]) -> String {
    voters
        .iter()
        .map(|v| format!("{}@{}:{}", v.id, v.host, v.port))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::super::{BrokerConfig, ConfigError, Listener};
    use super::{ProcessRoles, Voter};

    const COMBINED: &str = "process.roles=broker,controller\nnode.id=1\n\
        listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n\
        listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n";

    fn parse(text: &str) -> Result<BrokerConfig, ConfigError> {
        let props: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BrokerConfig::from_properties(&props).map(|(c, _)| c)
    }

    #[test]
    fn a_combined_node_that_is_its_own_only_voter_starts() {
        let c = parse(&format!(
            "{COMBINED}controller.quorum.voters=1@localhost:9093\ninter.broker.listener.name=plaintext"
        ))
        .unwrap();
        assert_eq!(c.quorum.roles, Some(ProcessRoles::default()));
        assert_eq!(
            c.quorum.voters,
            [Voter {
                id: 1,
                host: "localhost".into(),
                port: 9093
            }]
        );
        assert_eq!(c.quorum.inter_broker_listener.as_deref(), Some("PLAINTEXT"));
        let ipv6 = parse(&format!("{COMBINED}controller.quorum.voters=1@[::1]:9093")).unwrap();
        assert_eq!(ipv6.quorum.voters[0].host, "::1");
        let unset = parse("").unwrap();
        assert_eq!((unset.quorum.roles, unset.quorum.voters.len()), (None, 0));
    }

    /// A combined node among several voters serves its controller listener, which clients
    /// are not told of.
    #[test]
    fn a_combined_node_among_several_voters_serves_its_controller_listener() {
        let c = parse(&format!(
            "{COMBINED}controller.quorum.voters=1@localhost:9093,2@localhost:9193,3@localhost:9293"
        ))
        .unwrap();
        assert_eq!(c.quorum.voters.len(), 3);
        let names = |ls: &[Listener]| ls.iter().map(|l| l.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&c.controller_listeners), ["CONTROLLER"]);
        assert_eq!(names(&c.listeners), ["PLAINTEXT"]);
        assert_eq!(names(&c.advertised_listeners), ["PLAINTEXT"]);
        let alone = parse(&format!("{COMBINED}controller.quorum.voters=1@localhost:9093")).unwrap();
        assert!(alone.controller_listeners.is_empty(), "a quorum of one serves none");
    }

    #[test]
    fn bad_or_multi_node_quorum_properties_are_refused_with_the_property_named() {
        for (extra, property, says) in [
            ("process.roles=broker,leader", "process.roles", "unknown role `leader`"),
            ("process.roles=broker,broker", "process.roles", "named twice"),
            ("process.roles= ", "process.roles", "no role"),
            (
                "controller.quorum.voters=1@localhost",
                "controller.quorum.voters",
                "no port",
            ),
            (
                "controller.quorum.voters=x@localhost:9093",
                "controller.quorum.voters",
                "not a node id",
            ),
            (
                "controller.quorum.voters=1@localhost:9093,1@h:1",
                "controller.quorum.voters",
                "named twice",
            ),
            (
                "controller.quorum.voters=2@localhost:9093",
                "controller.quorum.voters",
                "not one of the voters",
            ),
            (
                "controller.quorum.voters=1@a:9093,2@b:9093,3@c:9093\n\
                 listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SSL",
                "listener.security.protocol.map",
                "PLAINTEXT for now",
            ),
            (
                "controller.quorum.bootstrap.servers=a:9093,b:9093",
                "controller.quorum.bootstrap.servers",
                "several controllers",
            ),
            (
                "controller.quorum.voters=1@localhost:9193,2@localhost:9093",
                "controller.quorum.voters",
                "is node.id right?",
            ),
            (
                "inter.broker.listener.name=CONTROLLER",
                "inter.broker.listener.name",
                "not a controller",
            ),
            (
                "inter.broker.listener.name=OTHER",
                "inter.broker.listener.name",
                "one of the listeners",
            ),
            ("process.roles=broker", "process.roles", "Tidelog runs one node"),
            (
                "controller.listener.names=NONE",
                "controller.listener.names",
                "among its listeners",
            ),
        ] {
            let err = parse(&format!("{COMBINED}{extra}")).unwrap_err();
            let ConfigError::Invalid { key, reason, .. } = &err else {
                panic!("{extra}: {err}");
            };
            assert_eq!(key, property, "{extra}: {err}");
            assert!(reason.contains(says), "{extra}: {err}");
        }
    }
}
