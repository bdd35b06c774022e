//! Unit tests of [`super::ClusterConfig`]: one per validation rule, with Kafka's messages.

use super::*;
use crate::config::endpoints::set_listener;

fn cfg(pairs: &[(&str, &str)]) -> Checked<ClusterConfig> {
    let mut c = BrokerConfig::default();
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    c.apply_properties(&pairs, &mut Vec::new())
        .map_err(|e| ClusterConfigError(e.to_string()))?;
    ClusterConfig::from_config(&c)
}

fn err(pairs: &[(&str, &str)]) -> String {
    match cfg(pairs) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e.0,
    }
}

const COMBINED: &[(&str, &str)] = &[
    ("node.id", "1"),
    ("process.roles", "broker,controller"),
    (
        "listeners",
        "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
    ),
    ("controller.listener.names", "CONTROLLER"),
    (
        "controller.quorum.voters",
        "1@127.0.0.1:9093,2@127.0.0.1:9193,3@127.0.0.1:9293",
    ),
];

fn with(
    base: &[(&'static str, &'static str)],
    extra: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    let mut v: Vec<_> = base
        .iter()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .copied()
        .collect();
    v.extend_from_slice(extra);
    v
}

#[test]
fn zero_config_is_a_standalone_single_voter() {
    let c = cfg(&[]).expect("valid");
    assert!(c.standalone && c.roles.broker && c.roles.controller);
    assert_eq!(c.node_id, 1);
    assert_eq!(c.listeners.len(), 1);
    let l = &c.listeners[0];
    assert_eq!(
        (l.name.as_str(), l.host.as_str(), l.port),
        ("PLAINTEXT", "127.0.0.1", 9092)
    );
    assert_eq!(l.protocol, SecurityProtocol::Plaintext);
    assert_eq!(
        c.voters,
        vec![Voter {
            id: 1,
            host: "127.0.0.1".into(),
            port: 9092
        }]
    );
    assert!(c.controller_listener_names.is_empty());
    assert_eq!(c.inter_broker_listener, "PLAINTEXT");
    assert_eq!(c.broker_endpoints().count(), 1);
    // A wildcard listen address advertises 127.0.0.1, as before.
    let c = cfg(&[("listeners", "PLAINTEXT://:9093")]).expect("valid");
    assert_eq!(c.listeners[0].bind_address(), "0.0.0.0:9093");
    assert_eq!(c.advertised[0].host, "127.0.0.1");
    // Explicit both roles and nothing else is still standalone.
    assert!(
        cfg(&[("process.roles", "controller,broker")])
            .expect("valid")
            .standalone
    );
}

#[test]
fn combined_node_parses_everything() {
    let c = cfg(COMBINED).expect("valid");
    assert!(!c.standalone);
    assert_eq!(c.voters.len(), 3);
    assert_eq!(
        c.voters[1],
        Voter {
            id: 2,
            host: "127.0.0.1".into(),
            port: 9193
        }
    );
    assert!(c.is_controller_listener("CONTROLLER"));
    let names: Vec<&str> = c.advertised.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["PLAINTEXT", "CONTROLLER"]);
    let broker: Vec<&str> = c.broker_endpoints().map(|e| e.name.as_str()).collect();
    assert_eq!(broker, ["PLAINTEXT"]);
    // CONTROLLER mapped to PLAINTEXT implicitly (no explicit protocol map).
    assert_eq!(c.listeners[1].protocol, SecurityProtocol::Plaintext);
}

#[test]
fn advertised_listeners_per_name_and_bound_ports() {
    let c = cfg(&[
        ("listeners", "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0"),
        (
            "advertised.listeners",
            "INTERNAL://internal.example:0,EXTERNAL://external.example:1234",
        ),
        (
            "listener.security.protocol.map",
            "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
        ),
        ("inter.broker.listener.name", "internal"),
    ])
    .expect("valid");
    assert_eq!(c.inter_broker_listener, "INTERNAL");
    let c = c.with_bound_ports(&[("INTERNAL".into(), 4000), ("EXTERNAL".into(), 4001)]);
    assert_eq!(c.listeners[1].port, 4001);
    let i = c.advertised_for("INTERNAL").expect("internal");
    assert_eq!((i.host.as_str(), i.port), ("internal.example", 4000));
    let e = c.advertised_for("EXTERNAL").expect("external");
    assert_eq!((e.host.as_str(), e.port), ("external.example", 1234));
    assert_eq!(
        c.voters[0].port, 4000,
        "standalone voter follows the bound port"
    );
}

#[test]
fn controller_role_needs_its_id_among_the_voters() {
    let e = err(&with(
        COMBINED,
        &[("controller.quorum.voters", "2@h:1,3@h:2")],
    ));
    assert_eq!(e, "If process.roles contains the 'controller' role, the node id 1 must be included in the set of voters controller.quorum.voters=Set(2, 3)");
}

#[test]
fn controller_role_needs_controller_listener_names() {
    // Without controller listener names, CONTROLLER needs an explicit protocol.
    let e = err(&with(COMBINED, &[("controller.listener.names", "")]));
    assert_eq!(e, "Error creating broker listeners from 'PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093': No security protocol defined for listener CONTROLLER");
    let e = err(&with(
        COMBINED,
        &[
            ("controller.listener.names", ""),
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            ),
        ],
    ));
    assert_eq!(e, "controller.listener.names must contain at least one value appearing in the 'listeners' configuration when running the KRaft controller role");
    let e = err(&with(
        COMBINED,
        &[
            ("controller.listener.names", "CONTROLLER,OTHER"),
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,OTHER:PLAINTEXT",
            ),
        ],
    ));
    assert_eq!(e, "controller.listener.names must only contain values appearing in the 'listeners' configuration when running the KRaft controller role");
}

#[test]
fn voters_or_bootstrap_servers_are_required() {
    let e = err(&[
        ("process.roles", "broker"),
        ("controller.listener.names", "CONTROLLER"),
    ]);
    assert_eq!(e, "If using process.roles, either controller.quorum.bootstrap.servers must contain the set of bootstrap controllers or controller.quorum.voters must contain a parseable set of controllers.");
}

#[test]
fn broker_only_rules() {
    let base: &[(&str, &str)] = &[
        ("node.id", "4"),
        ("process.roles", "broker"),
        ("controller.listener.names", "CONTROLLER"),
        ("controller.quorum.voters", "1@127.0.0.1:9093"),
    ];
    let c = cfg(base).expect("valid");
    assert!(c.roles.broker && !c.roles.controller);
    assert_eq!(
        c.advertised.len(),
        1,
        "a broker advertises no controller listener"
    );
    let e = err(&with(base, &[("node.id", "1")]));
    assert_eq!(e, "If process.roles contains just the 'broker' role, the node id 1 must not be included in the set of voters controller.quorum.voters=Set(1)");
    let e = err(&with(base, &[("controller.listener.names", "")]));
    assert_eq!(e, "controller.listener.names must contain at least one value when running KRaft with just the broker role");
    let e = err(&with(
        base,
        &[(
            "listeners",
            "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
        )],
    ));
    assert_eq!(e, "controller.listener.names must not contain a value appearing in the 'listeners' configuration when running KRaft with just the broker role");
    let e = err(&with(
        base,
        &[("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT")],
    ));
    assert_eq!(e, "Controller listener with name CONTROLLER defined in controller.listener.names not found in listener.security.protocol.map  (an explicit security mapping for each controller listener is required if listener.security.protocol.map is non-empty, or if there are security protocols other than PLAINTEXT in use)");
}

#[test]
fn controller_only_has_only_controller_listeners() {
    let base: &[(&str, &str)] = &[
        ("node.id", "1"),
        ("process.roles", "controller"),
        ("listeners", "CONTROLLER://127.0.0.1:9093"),
        ("controller.listener.names", "CONTROLLER"),
        ("controller.quorum.voters", "1@127.0.0.1:9093"),
    ];
    let c = cfg(base).expect("valid");
    assert_eq!(c.broker_endpoints().count(), 0);
    let e = err(&with(
        base,
        &[(
            "listeners",
            "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
        )],
    ));
    assert_eq!(e, "The listeners config must only contain KRaft controller listeners from controller.listener.names when process.roles=controller");
}

#[test]
fn inter_broker_listener_must_be_an_advertised_broker_listener() {
    let e = err(&with(
        COMBINED,
        &[("inter.broker.listener.name", "CONTROLLER")],
    ));
    assert_eq!(e, "inter.broker.listener.name must be a listener name defined in advertised.listeners. The valid options based on currently configured listeners are PLAINTEXT");
    let e = err(&with(COMBINED, &[("inter.broker.listener.name", "NOPE")]));
    assert_eq!(e, "Listener with name NOPE defined in inter.broker.listener.name not found in listener.security.protocol.map.");
    // Two listeners, neither called PLAINTEXT: the default does not fit.
    let e = err(&[
        ("listeners", "INTERNAL://127.0.0.1:1,EXTERNAL://127.0.0.1:2"),
        (
            "listener.security.protocol.map",
            "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
        ),
    ]);
    assert_eq!(e, "inter.broker.listener.name must be a listener name defined in advertised.listeners. The valid options based on currently configured listeners are INTERNAL,EXTERNAL");
}

#[test]
fn at_least_one_broker_listener() {
    let e = err(&with(
        COMBINED,
        &[("listeners", "CONTROLLER://127.0.0.1:9093")],
    ));
    assert_eq!(e, "There must be at least one broker advertised listener. Perhaps all listeners appear in controller.listener.names?");
}

#[test]
fn advertised_names_must_be_listeners() {
    let e = err(&[
        ("advertised.listeners", "PLAINTEXT://h:1,OTHER://h:2"),
        (
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT",
        ),
    ]);
    assert_eq!(e, "advertised.listeners listener names must be equal to or a subset of the ones defined in listeners. Found PLAINTEXT,OTHER. The valid options based on the current configuration are PLAINTEXT");
    let e = err(&[("advertised.listeners", "PLAINTEXT://0.0.0.0:9092")]);
    assert_eq!(e, "advertised.listeners cannot use the nonroutable meta-address 0.0.0.0. Use a routable IP address.");
}

#[test]
fn listener_names_and_ports_are_unique() {
    let v = "PLAINTEXT://127.0.0.1:1,PLAINTEXT://127.0.0.1:2";
    assert_eq!(
        err(&[("listeners", v)]),
        format!("Each listener must have a different name, listeners: {v}")
    );
    let v = "PLAINTEXT://a.example:1,CONTROLLER://b.example:1";
    let e = err(&with(COMBINED, &[("listeners", v)]));
    assert_eq!(
        e,
        format!("Each listener must have a different port, listeners: {v}")
    );
    let v = "PLAINTEXT://127.0.0.1:1,CONTROLLER://127.0.0.2:1";
    let e = err(&with(COMBINED, &[("listeners", v)]));
    assert_eq!(e, format!("If you have two listeners on the same port then one needs to be IPv4 and the other IPv6, listeners: {v}, port: 1"));
    // Port 0 twice is fine (tests), and so is one IPv4 and one IPv6 on one port.
    cfg(&with(
        COMBINED,
        &[(
            "listeners",
            "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
        )],
    ))
    .expect("port 0 twice");
    cfg(&with(
        COMBINED,
        &[("listeners", "PLAINTEXT://127.0.0.1:5,CONTROLLER://[::1]:5")],
    ))
    .expect("v4 and v6");
}

#[test]
fn listeners_parse_with_kafkas_messages() {
    let e = err(&[("listeners", "PLAINTEXT:/x")]);
    assert_eq!(e, "Error creating broker listeners from 'PLAINTEXT:/x': Unable to parse PLAINTEXT:/x to a broker endpoint");
    let e = err(&[("listeners", "FOO://127.0.0.1:1")]);
    assert_eq!(e, "Error creating broker listeners from 'FOO://127.0.0.1:1': No security protocol defined for listener FOO");
    let e = err(&[("listener.security.protocol.map", "PLAINTEXT:TLS")]);
    assert_eq!(
        e,
        "Invalid security protocol `TLS` defined in listener.security.protocol.map"
    );
}

#[test]
fn every_protocol_is_served_node_to_node_listeners_included() {
    let ok = cfg(&[
        ("listeners", "SSL://127.0.0.1:9093"),
        ("inter.broker.listener.name", "SSL"),
    ]);
    assert!(ok.is_ok(), "{ok:?}");
    let ok = cfg(&[
        ("listeners", "PLAINTEXT://127.0.0.1:1,SECURE://127.0.0.1:2"),
        (
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,SECURE:SASL_SSL",
        ),
        ("sasl.enabled.mechanisms", "PLAIN"),
    ]);
    assert!(ok.is_ok(), "{ok:?}");
    let c = cfg(&[
        ("listeners", "SASL_PLAINTEXT://127.0.0.1:9093"),
        ("inter.broker.listener.name", "SASL_PLAINTEXT"),
    ])
    .expect("SASL between brokers");
    assert_eq!(c.inter_broker_protocol, SecurityProtocol::SaslPlaintext);
    // A secured cluster: SSL between brokers, SASL_SSL to the controllers.
    let c = cfg(&[
        ("process.roles", "broker,controller"),
        ("listeners", "SSL://127.0.0.1:1,CONTROLLER://127.0.0.1:2"),
        (
            "listener.security.protocol.map",
            "SSL:SSL,CONTROLLER:SASL_SSL",
        ),
        ("controller.listener.names", "CONTROLLER"),
        ("controller.quorum.voters", "1@127.0.0.1:2"),
        ("inter.broker.listener.name", "SSL"),
    ])
    .expect("secured node-to-node listeners");
    assert_eq!(
        (c.inter_broker_protocol, c.controller_protocol),
        (SecurityProtocol::Ssl, SecurityProtocol::SaslSsl)
    );
}

#[test]
fn security_inter_broker_protocol_names_the_listener() {
    let c = cfg(&[
        ("listeners", "PLAINTEXT://127.0.0.1:1,SSL://127.0.0.1:2"),
        ("security.inter.broker.protocol", "ssl"),
    ])
    .expect("valid");
    assert_eq!(c.inter_broker_listener, "SSL");
    assert_eq!(c.inter_broker_protocol, SecurityProtocol::Ssl);
    let e = err(&[
        ("listeners", "SSL://127.0.0.1:2"),
        ("security.inter.broker.protocol", "SSL"),
        ("inter.broker.listener.name", "SSL"),
    ]);
    assert_eq!(
        e,
        "Only one of inter.broker.listener.name and security.inter.broker.protocol should be set."
    );
    let e = err(&[("security.inter.broker.protocol", "TLS")]);
    assert!(
        e.starts_with("Invalid value TLS for configuration security.inter.broker.protocol"),
        "{e}"
    );
}

#[test]
fn voters_and_bootstrap_servers_parse_with_kafkas_messages() {
    let v = |s: &'static str| err(&with(COMBINED, &[("controller.quorum.voters", s)]));
    assert_eq!(v("1-127.0.0.1:9093"), "Invalid configuration value for controller.quorum.voters. Each entry should be in the form `{id}@{host}:{port}`.");
    assert_eq!(
        v("x@127.0.0.1:9093"),
        "Failed to parse voter ID as an integer from x"
    );
    assert_eq!(v("1@127.0.0.1"), "Failed to parse host name from entry 1@127.0.0.1 for the configuration controller.quorum.voters. Each entry should be in the form `{id}@{host}:{port}`.");
    assert_eq!(v("1@127.0.0.1:99999"), "Failed to parse host port from entry 1@127.0.0.1:99999 for the configuration controller.quorum.voters. Each entry should be in the form `{id}@{host}:{port}`.");
    let e = err(&with(
        COMBINED,
        &[("controller.quorum.bootstrap.servers", "h:x")],
    ));
    assert_eq!(e, "Failed to parse host name from h:x for the configuration controller.quorum.bootstrap.servers. Each entry should be in the form \"{host}:{port}\"");
    let c = cfg(&[
        ("node.id", "5"),
        ("process.roles", "broker"),
        ("controller.listener.names", "CONTROLLER"),
        (
            "controller.quorum.bootstrap.servers",
            "127.0.0.1:9093,[::1]:9094",
        ),
    ])
    .expect("valid");
    assert_eq!(
        c.bootstrap_servers,
        vec![("127.0.0.1".to_string(), 9093), ("::1".to_string(), 9094)]
    );
}

#[test]
fn roles_and_node_id() {
    let e = err(&[
        ("process.roles", "broker,broker"),
        ("controller.quorum.voters", "1@h:1"),
    ]);
    assert_eq!(
        e,
        "Duplicate role names found in `process.roles`: broker,broker"
    );
    let e = err(&[("process.roles", "observer")]);
    assert_eq!(e, "Invalid value observer for configuration process.roles: String must be one of: broker, controller");
    let e = err(&with(COMBINED, &[("broker.id", "2")]));
    assert_eq!(
        e,
        "You must set `node.id` to the same value as `broker.id`."
    );
    let e = err(&with(COMBINED, &[("node.id", "-1")]));
    assert_eq!(e, "Missing configuration `node.id` which is required when `process.roles` is defined (i.e. when running in KRaft mode).");
}

#[test]
fn replica_fetch_wait_bounds() {
    let e = err(&[("replica.fetch.wait.max.ms", "40000")]);
    assert_eq!(e, "replica.socket.timeout.ms should always be at least replica.fetch.wait.max.ms to prevent unnecessary socket timeouts");
    let e = err(&[
        ("replica.fetch.wait.max.ms", "3000"),
        ("replica.lag.time.max.ms", "2000"),
    ]);
    assert_eq!(e, "replica.fetch.wait.max.ms should always be less than or equal to replica.lag.time.max.ms to prevent frequent changes in ISR");
}

#[test]
fn flags_replace_one_listener() {
    assert_eq!(
        set_listener("PLAINTEXT://127.0.0.1:9092", "PLAINTEXT", "h:1"),
        "PLAINTEXT://h:1"
    );
    assert_eq!(
        set_listener("PLAINTEXT://a:1, CONTROLLER://a:2", "PLAINTEXT", "b:3"),
        "PLAINTEXT://b:3,CONTROLLER://a:2"
    );
    assert_eq!(set_listener("", "PLAINTEXT", "b:3"), "PLAINTEXT://b:3");
    assert_eq!(
        set_listener("CONTROLLER://a:2", "PLAINTEXT", "b:3"),
        "PLAINTEXT://b:3,CONTROLLER://a:2"
    );
}

#[test]
fn consumer_group_session_and_heartbeat_bounds() {
    cfg(&[]).expect("Kafka's defaults pass");
    let e = |pairs: &[(&str, &str)]| err(pairs);
    assert_eq!(
        e(&[("group.consumer.session.timeout.ms", "30000")]),
        "group.consumer.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms"
    );
    assert_eq!(
        e(&[("group.consumer.session.timeout.ms", "90000")]),
        "group.consumer.session.timeout.ms must be less than or equal to group.consumer.max.session.timeout.ms"
    );
    assert_eq!(
        e(&[("group.consumer.max.session.timeout.ms", "40000")]),
        "group.consumer.max.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms"
    );
    assert_eq!(
        e(&[("group.consumer.heartbeat.interval.ms", "1000")]),
        "group.consumer.heartbeat.interval.ms must be greater than or equal to group.consumer.min.heartbeat.interval.ms"
    );
    assert_eq!(
        e(&[("group.consumer.heartbeat.interval.ms", "20000")]),
        "group.consumer.heartbeat.interval.ms must be less than or equal to group.consumer.max.heartbeat.interval.ms"
    );
    assert_eq!(
        e(&[("group.consumer.min.heartbeat.interval.ms", "20000")]),
        "group.consumer.max.heartbeat.interval.ms must be greater than or equal to group.consumer.min.heartbeat.interval.ms"
    );
    assert_eq!(
        e(&[
            ("group.consumer.min.session.timeout.ms", "1000"),
            ("group.consumer.session.timeout.ms", "4000"),
        ]),
        "group.consumer.heartbeat.interval.ms must be less than group.consumer.session.timeout.ms"
    );
    // Short timings for tests stay possible, with the bounds moved along.
    cfg(&[
        ("group.consumer.min.session.timeout.ms", "1000"),
        ("group.consumer.session.timeout.ms", "6000"),
        ("group.consumer.min.heartbeat.interval.ms", "100"),
        ("group.consumer.heartbeat.interval.ms", "500"),
    ])
    .expect("within the moved bounds");
}
