//! The indexed authorizer against the linear rule it replaced: the same decision for every
//! action over generated ACL sets (literal, `*`, prefixed, wildcard principals and hosts,
//! deny and allow, unparsable hosts and principals), and the figure of what the index saves.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use uuid::Uuid;

use super::{applies, AclMap, Authorizer};
use crate::security::acl::{
    AclBinding, AclOperation as O, AclPermission, PatternType, ResourceType, WILDCARD_RESOURCE,
};
use crate::security::KafkaPrincipal;

/// The linear rule (before the index): every ACL, principal and host as text.
fn linear(
    a: &Authorizer,
    acls: &AclMap,
    principal: &KafkaPrincipal,
    host: IpAddr,
    op: O,
    rt: ResourceType,
    name: &str,
) -> bool {
    if !a.enabled || a.super_users.contains(principal) {
        return true;
    }
    let who = principal.to_string();
    let host = host.to_string();
    let mut has = false;
    let mut allowed = false;
    for acl in acls.values() {
        let covers = match acl.pattern_type {
            PatternType::Literal => {
                acl.resource_name == name || acl.resource_name == WILDCARD_RESOURCE
            }
            PatternType::Prefixed => name.starts_with(&acl.resource_name),
            _ => false,
        };
        if acl.resource_type != rt || !covers {
            continue;
        }
        has = true;
        match applies(acl, &who, &host, op) {
            Some(AclPermission::Deny) => return false,
            Some(AclPermission::Allow) => allowed = true,
            _ => {}
        }
    }
    allowed || (!has && a.allow_if_no_acl)
}

/// A small deterministic generator (xorshift).
struct Gen(u64);

impl Gen {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next(items.len())]
    }
}

const NAMES: [&str; 8] = [
    "pay", "pay-", "pay-eu", "pay-eu-1", "*", "other", "", "pä-ü",
];
const PRINCIPALS: [&str; 5] = ["User:alice", "User:bob", "User:*", "alice", "Group:x"];
const HOSTS: [&str; 5] = ["*", "10.0.0.1", "10.0.0.2", "010.0.0.1", "::1"];
const OPS: [O; 8] = [
    O::All,
    O::Read,
    O::Write,
    O::Describe,
    O::Alter,
    O::AlterConfigs,
    O::DescribeConfigs,
    O::Create,
];
const TYPES: [ResourceType; 3] = [
    ResourceType::Topic,
    ResourceType::Group,
    ResourceType::Cluster,
];

fn acl(g: &mut Gen) -> AclBinding {
    AclBinding {
        resource_type: *g.pick(&TYPES),
        resource_name: g.pick(&NAMES).to_string(),
        pattern_type: *g.pick(&[
            PatternType::Literal,
            PatternType::Prefixed,
            PatternType::Match,
        ]),
        principal: g.pick(&PRINCIPALS).to_string(),
        host: g.pick(&HOSTS).to_string(),
        operation: *g.pick(&OPS),
        permission: *g.pick(&[
            AclPermission::Allow,
            AclPermission::Allow,
            AclPermission::Deny,
        ]),
    }
}

#[test]
fn the_index_decides_as_the_linear_rule() {
    let who = [
        KafkaPrincipal::user("alice"),
        KafkaPrincipal::user("bob"),
        KafkaPrincipal::parse("Group:x").unwrap(),
    ];
    let hosts: [IpAddr; 3] = [
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        "::1".parse().unwrap(),
    ];
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let mut checked = 0;
    for round in 0..300 {
        let mut acls = AclMap::new();
        let n = 1 + g.next(12);
        for i in 0..n {
            acls.insert(Uuid::from_u128(i as u128 + 1), acl(&mut g));
        }
        // Removing and replacing keeps the index in step with the map.
        if round % 3 == 0 {
            acls.remove(&Uuid::from_u128(1));
            acls.insert(Uuid::from_u128(2), acl(&mut g));
        }
        let a = Authorizer {
            enabled: true,
            super_users: vec![],
            allow_if_no_acl: round % 2 == 0,
        };
        for p in &who {
            for h in hosts {
                for op in OPS.iter().skip(1) {
                    for rt in TYPES {
                        for name in NAMES.iter().chain(["pay-eu-10", "x"].iter()) {
                            let want = linear(&a, &acls, p, h, *op, rt, name);
                            let got = a.authorize(&acls, p, h, *op, rt, name);
                            assert_eq!(got, want, "{p} {h} {op:?} {rt:?} {name:?} {acls:?}");
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 100_000);
}

/// The bench-style figure: checks per second, linear and indexed, over 1,000 ACLs (500
/// literal topics, 400 prefixes, 100 groups) for a principal that has one literal ALLOW.
/// `cargo test --release --lib index_tests::figure -- --nocapture` prints it.
#[test]
fn figure_checks_per_second_linear_and_indexed() {
    let mut acls = AclMap::new();
    let mut id = 0u128;
    let mut add = |rt, name: String, pt, who: &str| {
        id += 1;
        acls.insert(
            Uuid::from_u128(id),
            AclBinding {
                resource_type: rt,
                resource_name: name,
                pattern_type: pt,
                principal: who.to_string(),
                host: "*".into(),
                operation: O::Write,
                permission: AclPermission::Allow,
            },
        );
    };
    for i in 0..500 {
        add(
            ResourceType::Topic,
            format!("topic-{i}"),
            PatternType::Literal,
            "User:svc",
        );
    }
    for i in 0..400 {
        add(
            ResourceType::Topic,
            format!("team-{i}-"),
            PatternType::Prefixed,
            "User:other",
        );
    }
    for i in 0..100 {
        add(
            ResourceType::Group,
            format!("g-{i}"),
            PatternType::Literal,
            "User:svc",
        );
    }
    let a = Authorizer {
        enabled: true,
        ..Default::default()
    };
    let svc = KafkaPrincipal::user("svc");
    let host = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let rounds = 20_000;
    let time = |f: &dyn Fn(&str) -> bool| {
        let started = Instant::now();
        let mut yes = 0;
        for i in 0..rounds {
            let name = if i % 2 == 0 {
                "topic-250"
            } else {
                "team-7-orders"
            };
            yes += f(name) as usize;
        }
        assert_eq!(yes, rounds / 2);
        rounds as f64 / started.elapsed().as_secs_f64()
    };
    let lin = time(&|n| linear(&a, &acls, &svc, host, O::Write, ResourceType::Topic, n));
    let idx = time(&|n| a.authorize(&acls, &svc, host, O::Write, ResourceType::Topic, n));
    println!(
        "authorizer over {} ACLs: linear {:.0} checks/s, indexed {:.0} checks/s ({:.0}x)",
        acls.len(),
        lin,
        idx,
        idx / lin
    );
    assert!(
        idx > lin,
        "the index is slower than a scan: {idx:.0} vs {lin:.0}"
    );
}
