//! Listener and quorum address parsing for [`super::ClusterConfig`], with Kafka's rules and
//! messages: listener lists (`SocketServerConfigs.listenerListToEndPoints` and
//! `CoreUtils`' name and port checks), the security protocol map, `controller.quorum.voters`
//! and `controller.quorum.bootstrap.servers` (`QuorumConfig`), and the listener rewrite the
//! `--listen`/`--advertised` flags do. Pure functions over strings.

use std::collections::BTreeMap;

use super::cluster::{fail, require, Checked, ClusterConfigError};

/// Kafka's security protocols with their wire ids (`SecurityProtocol.id`, the
/// `security_protocol` of a broker registration's endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext = 0,
    Ssl = 1,
    SaslPlaintext = 2,
    SaslSsl = 3,
}

impl SecurityProtocol {
    /// Kafka's `SecurityProtocol.forName` (case-insensitive).
    pub fn parse(name: &str) -> Option<SecurityProtocol> {
        match name.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn id(self) -> i16 {
        self as i16
    }
}

/// One listener (`NAME://host:port`): a name (upper case, as Kafka normalises it), a host
/// (empty: every interface), a port (0: any free one) and the name's security protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub protocol: SecurityProtocol,
}

impl Endpoint {
    /// `host:port` to bind, the wildcard written out (`0.0.0.0`), IPv6 in brackets.
    pub fn bind_address(&self) -> String {
        let host = if self.host.is_empty() {
            "0.0.0.0"
        } else {
            &self.host
        };
        join_host_port(host, self.port)
    }
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A listener list (`NAME://host:port,...`) with the entry named `name` pointing at
/// `address` instead (added in front when there is none): what `--listen` and `--advertised`
/// do to `listeners` and `advertised.listeners`, so the other listeners stay.
pub fn set_listener(list: &str, name: &str, address: &str) -> String {
    let mut found = false;
    let mut entries: Vec<String> = csv(list)
        .into_iter()
        .map(|e| match e.split_once("://") {
            Some((n, _)) if n.eq_ignore_ascii_case(name) => {
                found = true;
                format!("{name}://{address}")
            }
            _ => e.to_string(),
        })
        .collect();
    if !found {
        entries.insert(0, format!("{name}://{address}"));
    }
    entries.join(",")
}

/// One voter of a static quorum (`controller.quorum.voters`, `id@host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

pub(super) fn csv(v: &str) -> Vec<&str> {
    v.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect()
}

/// `host:port` as Kafka's `Utils.getHost`/`getPort` read it (IPv6 in brackets or bare).
fn host_port(addr: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let valid = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-%._:".contains(c));
    if !valid || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Digits that do not fit a port: Kafka's "Failed to parse host port".
    Some((host.to_string(), port.parse().ok()))
}

pub(super) fn parse_protocol_map(value: &str) -> Checked<BTreeMap<String, SecurityProtocol>> {
    let key = "listener.security.protocol.map";
    let mut map = BTreeMap::new();
    for entry in csv(value) {
        let Some((name, proto)) = entry.split_once(':') else {
            return fail(format!(
                "Error parsing configuration property '{key}': Malformed entry '{entry}' (expected NAME:PROTOCOL)"
            ));
        };
        let Some(p) = SecurityProtocol::parse(proto.trim()) else {
            return fail(format!(
                "Invalid security protocol `{}` defined in {key}",
                proto.trim()
            ));
        };
        map.insert(name.trim().to_ascii_uppercase(), p);
    }
    Ok(map)
}

/// Kafka's `listenerListToEndPoints`: `NAME://host:port,...`, each name with a protocol.
pub(super) fn parse_endpoints(
    value: &str,
    map: &BTreeMap<String, SecurityProtocol>,
    distinct_ports: bool,
) -> Checked<Vec<Endpoint>> {
    let wrap = |e: String| {
        ClusterConfigError(format!(
            "Error creating broker listeners from '{value}': {e}"
        ))
    };
    let mut out: Vec<Endpoint> = Vec::new();
    for entry in csv(value.trim()) {
        let unparsable = || wrap(format!("Unable to parse {entry} to a broker endpoint"));
        let (name, rest) = entry.split_once("://").ok_or_else(unparsable)?;
        let (host, port) = host_port(rest).ok_or_else(unparsable)?;
        let port = port.ok_or_else(unparsable)?;
        let name = name.to_ascii_uppercase();
        let protocol = *map
            .get(&name)
            .ok_or_else(|| wrap(format!("No security protocol defined for listener {name}")))?;
        out.push(Endpoint {
            name,
            host,
            port,
            protocol,
        });
    }
    for (i, e) in out.iter().enumerate() {
        require(!out[..i].iter().any(|o| o.name == e.name), || {
            format!("Each listener must have a different name, listeners: {value}")
        })?;
    }
    if distinct_ports {
        check_ports(&out, value)?;
    }
    Ok(out)
}

/// Kafka's port rule: listeners on one (non-zero) port must be exactly one IPv4 and one IPv6
/// address; hostnames and wildcards never share a port.
fn check_ports(endpoints: &[Endpoint], value: &str) -> Checked<()> {
    let mut ports: Vec<u16> = endpoints
        .iter()
        .map(|e| e.port)
        .filter(|p| *p != 0)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    for port in ports {
        let on_port: Vec<&Endpoint> = endpoints.iter().filter(|e| e.port == port).collect();
        if on_port.len() < 2 {
            continue;
        }
        let ips: Vec<std::net::IpAddr> =
            on_port.iter().filter_map(|e| e.host.parse().ok()).collect();
        let named = on_port.len() - ips.len();
        require(named < 2, || {
            format!("Each listener must have a different port, listeners: {value}")
        })?;
        match ips[..] {
            [] => {}
            [a, b] => require(a.is_ipv4() != b.is_ipv4() && named == 0, || format!(
                "If you have two listeners on the same port then one needs to be IPv4 and the other IPv6, listeners: {value}, port: {port}"
            ))?,
            _ => return fail(format!(
                "Each listener must have a different port unless exactly one listener has an IPv4 address and the other IPv6 address, listeners: {value}, port: {port}"
            )),
        }
    }
    Ok(())
}

pub(super) fn parse_voters(value: &str) -> Checked<Vec<Voter>> {
    let key = "controller.quorum.voters";
    let form = "Each entry should be in the form `{id}@{host}:{port}`.";
    let mut out = Vec::new();
    for entry in csv(value) {
        let parts: Vec<&str> = entry.split('@').collect();
        let [id, addr] = parts[..] else {
            return fail(format!("Invalid configuration value for {key}. {form}"));
        };
        let Ok(id) = id.parse::<i32>() else {
            return fail(format!("Failed to parse voter ID as an integer from {id}"));
        };
        let Some((host, port)) = host_port(addr).filter(|(h, _)| !h.is_empty()) else {
            return fail(format!(
                "Failed to parse host name from entry {entry} for the configuration {key}. {form}"
            ));
        };
        let Some(port) = port else {
            return fail(format!(
                "Failed to parse host port from entry {entry} for the configuration {key}. {form}"
            ));
        };
        out.push(Voter { id, host, port });
    }
    Ok(out)
}

pub(super) fn parse_bootstrap(value: &str) -> Checked<Vec<(String, u16)>> {
    let key = "controller.quorum.bootstrap.servers";
    let form = "Each entry should be in the form \"{host}:{port}\"";
    csv(value)
        .into_iter()
        .map(|entry| match host_port(entry) {
            Some((h, Some(p))) if !h.is_empty() => Ok((h, p)),
            Some((h, None)) if !h.is_empty() => fail(format!(
                "Failed to parse host port from {entry} for the configuration {key}. {form}"
            )),
            _ => fail(format!(
                "Failed to parse host name from {entry} for the configuration {key}. {form}"
            )),
        })
        .collect()
}
