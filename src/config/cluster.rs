//! [`ClusterConfig`]: who this node is in a cluster — its roles, node id, the quorum's voters,
//! its listeners with their security protocols and advertised addresses, which listeners are
//! the controller's and which one other brokers use — typed and validated once at start-up,
//! with the checks and messages of Kafka's `KafkaConfig.validateValues` (KRaft mode); the
//! address parsing (listeners, voters, bootstrap servers) is in [`super::endpoints`].
//!
//! Zero-config rule: with none of `controller.quorum.voters`, `controller.quorum.bootstrap.servers`
//! and `controller.listener.names` set, and `process.roles` left at (or set to) both roles,
//! the node is *standalone*: broker and controller at once, its own single voter, reached at
//! its first advertised listener, with no CONTROLLER listener and no quorum traffic (what
//! `gregor serve` has always been). Any quorum setting switches Kafka's full validation on.
//!
//! Every protocol may carry every listener, node-to-node ones included (the TLS and SASL
//! settings are checked by `security` when the node builds its listeners and its peer
//! connector). Messages of Kafka's `require(...)` checks are given
//! without Scala's "requirement failed: " prefix. A value; no interior mutability.

use super::endpoints::{
    csv, parse_bootstrap, parse_endpoints, parse_protocol_map, parse_voters, Endpoint,
    SecurityProtocol, Voter,
};
use super::properties::Props;
use super::{BrokerConfig, ReplicationConfig};

/// The roles of `process.roles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub broker: bool,
    pub controller: bool,
}

/// A cluster configuration refused, with Kafka's message where Kafka has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfigError(pub String);

impl std::fmt::Display for ClusterConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClusterConfigError {}

pub(super) type Checked<T> = Result<T, ClusterConfigError>;

pub(super) fn fail<T>(msg: impl Into<String>) -> Checked<T> {
    Err(ClusterConfigError(msg.into()))
}

pub(super) fn require(ok: bool, msg: impl FnOnce() -> String) -> Checked<()> {
    if ok {
        Ok(())
    } else {
        fail(msg())
    }
}

/// The node's place in the cluster (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub node_id: i32,
    pub roles: Roles,
    /// No quorum settings: the zero-config single node (see the module doc).
    pub standalone: bool,
    /// The static quorum; standalone: this node alone at its first advertised listener.
    pub voters: Vec<Voter>,
    pub bootstrap_servers: Vec<(String, u16)>,
    /// Every listener to bind, in `listeners` order.
    pub listeners: Vec<Endpoint>,
    /// What each listener advertises, Kafka's effective advertised listeners: the broker
    /// listeners of `advertised.listeners` (or of `listeners` when it is not set), then the
    /// controller listeners (advertised, else as listened).
    pub advertised: Vec<Endpoint>,
    pub controller_listener_names: Vec<String>,
    pub inter_broker_listener: String,
    /// The security protocol of `inter_broker_listener` (what other brokers are reached with).
    pub inter_broker_protocol: SecurityProtocol,
    /// The security protocol of the first of `controller.listener.names` (what the
    /// controllers are reached with, as Kafka's controller channel); PLAINTEXT standalone.
    pub controller_protocol: SecurityProtocol,
    /// Replication, quorum and lifecycle timings and factors.
    pub replication: ReplicationConfig,
}

/// Scala's rendering of a set of ids (`Set(1, 2)`), which Kafka's messages carry.
fn scala_set(ids: &[i32]) -> String {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let parts: Vec<String> = ids.iter().map(i32::to_string).collect();
    format!("Set({})", parts.join(", "))
}

/// Kafka's `GroupCoordinatorConfig` requires on the KIP-848 session timeout and heartbeat
/// interval: each within its `min`/`max` keys, and the interval below the timeout.
fn consumer_group_bounds(p: &Props) -> Checked<()> {
    let key = |k: &str| format!("group.consumer.{k}");
    let int = |k: &str| p.int(&key(k));
    for (value, min, max) in [
        (
            "heartbeat.interval.ms",
            "min.heartbeat.interval.ms",
            "max.heartbeat.interval.ms",
        ),
        (
            "session.timeout.ms",
            "min.session.timeout.ms",
            "max.session.timeout.ms",
        ),
    ] {
        require(int(max) >= int(min), || {
            format!("{} must be greater than or equal to {}", key(max), key(min))
        })?;
        require(int(value) >= int(min), || {
            format!(
                "{} must be greater than or equal to {}",
                key(value),
                key(min)
            )
        })?;
        require(int(value) <= int(max), || {
            format!("{} must be less than or equal to {}", key(value), key(max))
        })?;
    }
    let (interval, session) = ("heartbeat.interval.ms", "session.timeout.ms");
    require(int(interval) < int(session), || {
        format!("{} must be less than {}", key(interval), key(session))
    })
}

impl ClusterConfig {
    /// Reads and validates the cluster keys of a broker configuration (see the module doc).
    pub fn from_config(config: &BrokerConfig) -> Checked<ClusterConfig> {
        let p = Props(&config.properties);
        let node_id = config.node_id;
        let roles_text = p.string("process.roles");
        let mut role_names: Vec<&str> = csv(&roles_text);
        let listed = role_names.len();
        role_names.sort_unstable();
        role_names.dedup();
        require(role_names.len() == listed, || {
            format!("Duplicate role names found in `process.roles`: {roles_text}")
        })?;
        let roles = Roles {
            broker: role_names.contains(&"broker"),
            controller: role_names.contains(&"controller"),
        };
        let voters = parse_voters(&p.string("controller.quorum.voters"))?;
        let bootstrap_servers = parse_bootstrap(&p.string("controller.quorum.bootstrap.servers"))?;
        let controller_listener_names: Vec<String> = csv(&p.string("controller.listener.names"))
            .into_iter()
            .map(str::to_ascii_uppercase)
            .collect();
        let standalone = voters.is_empty()
            && bootstrap_servers.is_empty()
            && controller_listener_names.is_empty()
            && roles.broker
            && roles.controller;
        if role_names.is_empty() {
            return fail(
                "process.roles must name broker, controller or both (gregor has no ZooKeeper mode)",
            );
        }
        if let (Some(node), Some(broker)) = (p.set("node.id"), p.set("broker.id")) {
            require(node == broker, || {
                "You must set `node.id` to the same value as `broker.id`.".to_string()
            })?;
        }
        require(node_id >= 0, || {
            "Missing configuration `node.id` which is required when `process.roles` is defined (i.e. when running in KRaft mode).".to_string()
        })?;

        // The protocol map: without an explicit one, Kafka maps the controller listener names
        // to PLAINTEXT too, unless SSL or SASL is in use.
        let mut map = parse_protocol_map(&p.string("listener.security.protocol.map"))?;
        let listeners_text = p.string("listeners");
        if !config.is_set("listener.security.protocol.map") {
            let secure = |n: &str| matches!(n, "SSL" | "SASL_SSL" | "SASL_PLAINTEXT");
            let listener_names = csv(&listeners_text)
                .into_iter()
                .map(|l| l.split(':').next().unwrap_or("").to_ascii_uppercase());
            let any_secure = controller_listener_names.iter().any(|n| secure(n))
                || listener_names.clone().any(|n| secure(&n));
            if !any_secure {
                for n in &controller_listener_names {
                    map.entry(n.clone()).or_insert(SecurityProtocol::Plaintext);
                }
            }
        }
        let listeners = parse_endpoints(&listeners_text, &map, true)?;
        let is_controller_name = |n: &str| controller_listener_names.iter().any(|c| c == n);
        let advertised_all = match p.set("advertised.listeners") {
            Some(v) => {
                let eps = parse_endpoints(v, &map, false)?;
                require(!eps.iter().any(|e| e.host == "0.0.0.0"), || {
                    "advertised.listeners cannot use the nonroutable meta-address 0.0.0.0. Use a routable IP address.".to_string()
                })?;
                eps
            }
            None => listeners.clone(),
        };
        let routable = |mut e: Endpoint| {
            if matches!(e.host.as_str(), "" | "0.0.0.0" | "::") {
                e.host = "127.0.0.1".to_string();
            }
            e
        };
        let broker_advertised: Vec<Endpoint> = advertised_all
            .iter()
            .filter(|e| !is_controller_name(&e.name))
            .cloned()
            .map(routable)
            .collect();
        let controller_advertised: Vec<Endpoint> = controller_listener_names
            .iter()
            .filter_map(|n| {
                advertised_all
                    .iter()
                    .find(|e| &e.name == n)
                    .or_else(|| listeners.iter().find(|e| &e.name == n))
            })
            .cloned()
            .map(routable)
            .collect();
        let listener_in = |n: &str| listeners.iter().any(|e| e.name == n);
        let voter_ids: Vec<i32> = voters.iter().map(|v| v.id).collect();

        if !standalone {
            require(!voters.is_empty() || !bootstrap_servers.is_empty(), || {
                "If using process.roles, either controller.quorum.bootstrap.servers must contain the set of bootstrap controllers or controller.quorum.voters must contain a parseable set of controllers.".to_string()
            })?;
            if !roles.controller {
                require(!voter_ids.contains(&node_id), || {
                    format!(
                    "If process.roles contains just the 'broker' role, the node id {node_id} must not be included in the set of voters controller.quorum.voters={}",
                    scala_set(&voter_ids)
                )
                })?;
                require(!controller_listener_names.is_empty(), || {
                    "controller.listener.names must contain at least one value when running KRaft with just the broker role".to_string()
                })?;
                require(
                    !controller_listener_names.iter().any(|n| listener_in(n)),
                    || {
                        "controller.listener.names must not contain a value appearing in the 'listeners' configuration when running KRaft with just the broker role".to_string()
                    },
                )?;
                if let Some(n) = controller_listener_names
                    .iter()
                    .find(|n| !map.contains_key(*n))
                {
                    return fail(format!(
                        "Controller listener with name {n} defined in controller.listener.names not found in listener.security.protocol.map  (an explicit security mapping for each controller listener is required if listener.security.protocol.map is non-empty, or if there are security protocols other than PLAINTEXT in use)"
                    ));
                }
            } else {
                if !roles.broker {
                    require(controller_advertised.len() == listeners.len(), || {
                        "The listeners config must only contain KRaft controller listeners from controller.listener.names when process.roles=controller".to_string()
                    })?;
                }
                require(voter_ids.is_empty() || voter_ids.contains(&node_id), || {
                    format!(
                    "If process.roles contains the 'controller' role, the node id {node_id} must be included in the set of voters controller.quorum.voters={}",
                    scala_set(&voter_ids)
                )
                })?;
                require(!controller_advertised.is_empty(), || {
                    "controller.listener.names must contain at least one value appearing in the 'listeners' configuration when running the KRaft controller role".to_string()
                })?;
                require(
                    controller_listener_names.iter().all(|n| listener_in(n)),
                    || {
                        "controller.listener.names must only contain values appearing in the 'listeners' configuration when running the KRaft controller role".to_string()
                    },
                )?;
            }
        }

        if p.set("inter.broker.listener.name").is_some()
            && p.set("security.inter.broker.protocol").is_some()
        {
            return fail(
                "Only one of inter.broker.listener.name and security.inter.broker.protocol should be set.",
            );
        }
        let inter_broker_listener = match p.set("inter.broker.listener.name") {
            Some(n) => {
                let n = n.to_ascii_uppercase();
                require(map.contains_key(&n), || {
                    format!(
                    "Listener with name {n} defined in inter.broker.listener.name not found in listener.security.protocol.map."
                )
                })?;
                n
            }
            // Kafka: the listener named after `security.inter.broker.protocol`.
            None => match p.set("security.inter.broker.protocol") {
                Some(v) => {
                    let v = v.trim().to_ascii_uppercase();
                    let protocol = SecurityProtocol::parse(&v).ok_or_else(|| {
                        ClusterConfigError(format!(
                            "Invalid value {v} for configuration security.inter.broker.protocol: String must be one of: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
                        ))
                    })?;
                    protocol.name().to_string()
                }
                None => SecurityProtocol::Plaintext.name().to_string(),
            },
        };
        let inter_broker_protocol = map
            .get(&inter_broker_listener)
            .copied()
            .unwrap_or(SecurityProtocol::Plaintext);
        let controller_protocol = controller_listener_names
            .first()
            .and_then(|n| map.get(n).copied())
            .unwrap_or(SecurityProtocol::Plaintext);
        if roles.broker {
            let names: Vec<&str> = broker_advertised.iter().map(|e| e.name.as_str()).collect();
            require(!names.is_empty(), || {
                "There must be at least one broker advertised listener. Perhaps all listeners appear in controller.listener.names?".to_string()
            })?;
            require(names.contains(&inter_broker_listener.as_str()), || {
                format!(
                "inter.broker.listener.name must be a listener name defined in advertised.listeners. The valid options based on currently configured listeners are {}",
                names.join(",")
            )
            })?;
            require(names.iter().all(|n| listener_in(n)), || {
                format!(
                "advertised.listeners listener names must be equal to or a subset of the ones defined in listeners. Found {}. The valid options based on the current configuration are {}",
                names.join(","),
                listeners.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(",")
            )
            })?;
        }
        let wait = p.int("replica.fetch.wait.max.ms") as i64;
        require(wait <= p.int("replica.socket.timeout.ms") as i64, || {
            "replica.socket.timeout.ms should always be at least replica.fetch.wait.max.ms to prevent unnecessary socket timeouts".to_string()
        })?;
        require(wait <= p.long("replica.lag.time.max.ms"), || {
            "replica.fetch.wait.max.ms should always be less than or equal to replica.lag.time.max.ms to prevent frequent changes in ISR".to_string()
        })?;
        consumer_group_bounds(&p)?;
        let mut advertised = broker_advertised;
        if roles.controller {
            advertised.extend(controller_advertised);
        }
        let voters = if standalone {
            let first = advertised.first().or(listeners.first());
            first
                .map(|e| Voter {
                    id: node_id,
                    host: e.host.clone(),
                    port: e.port,
                })
                .into_iter()
                .collect()
        } else {
            voters
        };
        Ok(ClusterConfig {
            node_id,
            roles,
            standalone,
            voters,
            bootstrap_servers,
            listeners,
            advertised,
            controller_listener_names,
            inter_broker_listener,
            inter_broker_protocol,
            controller_protocol,
            replication: ReplicationConfig::from_config(config),
        })
    }

    /// Whether this listener name is one of the controller's.
    pub fn is_controller_listener(&self, name: &str) -> bool {
        self.controller_listener_names.iter().any(|n| n == name)
    }

    /// The advertised broker (non-controller) listeners: what the broker registers.
    pub fn broker_endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.advertised
            .iter()
            .filter(|e| !self.is_controller_listener(&e.name))
    }

    /// The address advertised for a listener name.
    pub fn advertised_for(&self, name: &str) -> Option<&Endpoint> {
        self.advertised.iter().find(|e| e.name == name)
    }

    /// This configuration once every listener is bound: a port 0 (listened or advertised)
    /// becomes the port the listener of that name got.
    pub fn with_bound_ports(mut self, bound: &[(String, u16)]) -> ClusterConfig {
        let port_of = |name: &str| bound.iter().find(|(n, _)| n == name).map(|(_, p)| *p);
        for e in self.listeners.iter_mut().chain(self.advertised.iter_mut()) {
            if e.port == 0 {
                e.port = port_of(&e.name).unwrap_or(0);
            }
        }
        if self.standalone {
            if let (Some(v), Some(e)) = (self.voters.first_mut(), self.advertised.first()) {
                v.port = e.port;
            }
        }
        self
    }
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
