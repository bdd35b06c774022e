//! The alter-config scenarios for the rdkafka crate (librdkafka's AlterConfigs): a value set
//! on a topic (alter-config) or on this broker (alter-broker-config) is read back with
//! DescribeConfigs; a bad value changes nothing.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use futures::executor::block_on;
use rdkafka::admin::{AdminOptions, AlterConfig, ConfigResource, ConfigSource, ResourceSpecifier};

use super::Ctx;

fn read(c: &Ctx, name: &str) -> Result<Option<String>> {
    let res = block_on(
        c.admin
            .describe_configs([&ResourceSpecifier::Topic(name)], &AdminOptions::new()),
    )?;
    let r = res
        .into_iter()
        .next()
        .context("one result")?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(r.get("retention.ms").and_then(|e| e.value.clone()))
}

fn alter(c: &Ctx, name: &str, value: &str) -> Result<()> {
    let change = AlterConfig::new(ResourceSpecifier::Topic(name)).set("retention.ms", value);
    let res = block_on(c.admin.alter_configs([&change], &AdminOptions::new()))?;
    for r in res {
        r.map_err(|(_, e)| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}

pub fn alter_config(c: &mut Ctx) -> Result<()> {
    let name = format!("rd-alter-{}", c.tag);
    c.create(&name, 1, &[])?;
    alter(c, &name, "12345")?;
    ensure!(read(c, &name)?.as_deref() == Some("12345"), "read back");
    // The crate (0.39) drops per-resource errors of AlterConfigs (its `AlterConfigsFuture`
    // turns every resource into Ok), so the refusal itself is not visible here; that it
    // changed nothing is. The other clients check the INVALID_CONFIG answer.
    alter(c, &name, "not-a-number")?;
    ensure!(
        read(c, &name)?.as_deref() == Some("12345"),
        "a bad value changed the config"
    );
    Ok(())
}

/// Every config of this broker as DescribeConfigs lists it.
fn describe_broker(c: &Ctx, node: i32) -> Result<ConfigResource> {
    let res = block_on(
        c.admin
            .describe_configs([&ResourceSpecifier::Broker(node)], &AdminOptions::new()),
    )?;
    res.into_iter()
        .next()
        .context("one result")?
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// (value, source) of one key of this broker.
fn broker_key(c: &Ctx, node: i32, key: &str) -> Result<(Option<String>, ConfigSource)> {
    let mut r = describe_broker(c, node)?;
    let i = r
        .entries
        .iter()
        .position(|e| e.name == key)
        .with_context(|| format!("{key} listed"))?;
    let e = r.entries.swap_remove(i);
    Ok((e.value, e.source))
}

/// AlterConfigs of this broker: the request replaces its whole dynamic set.
fn alter_broker(c: &Ctx, node: i32, set: &[(String, String)]) -> Result<()> {
    let mut change = AlterConfig::new(ResourceSpecifier::Broker(node));
    for (k, v) in set {
        change = change.set(k, v);
    }
    for r in block_on(c.admin.alter_configs([&change], &AdminOptions::new()))? {
        r.map_err(|(_, e)| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}

/// A dynamic value of this broker (the BROKER resource named by its node id, from the
/// metadata) is read back as DYNAMIC_BROKER_CONFIG; a bad value and a read-only key change
/// nothing; the set without it restores what was there. The crate has no
/// IncrementalAlterConfigs, only AlterConfigs, which replaces the resource's whole dynamic set:
/// the values found are sent along. `ResourceSpecifier::Broker` takes an `i32`, so the
/// cluster default (resource "") cannot be named. As in alter-config, the crate drops
/// per-resource errors, so the INVALID_REQUEST answers are not visible here (the other
/// clients check them); that they changed nothing is.
pub fn alter_broker_config(c: &mut Ctx) -> Result<()> {
    let md = c
        .admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))?;
    let node = md.brokers().first().context("a broker")?.id();
    let key = "log.retention.ms";
    let others: Vec<(String, String)> = describe_broker(c, node)?
        .entries
        .into_iter()
        .filter(|e| e.source == ConfigSource::DynamicBroker && e.name != key)
        .filter_map(|e| Some((e.name, e.value?)))
        .collect();
    let with = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut set = others.clone();
        set.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        set
    };
    let before = broker_key(c, node, key)?;
    let listeners = broker_key(c, node, "listeners")?;
    // Longer than the default: harmless to the other scenarios' topics even for a moment.
    let ours = (Some("691200000".to_string()), ConfigSource::DynamicBroker);
    let checked = (|| -> Result<()> {
        alter_broker(c, node, &with(&[(key, "691200000")]))?;
        ensure!(broker_key(c, node, key)? == ours, "read back");
        alter_broker(c, node, &with(&[(key, "-5")]))?;
        let bad_listener = [(key, "691200000"), ("listeners", "PLAINTEXT://127.0.0.1:1")];
        alter_broker(c, node, &with(&bad_listener))?;
        ensure!(
            broker_key(c, node, key)? == ours,
            "a bad value changed the config"
        );
        ensure!(
            broker_key(c, node, "listeners")? == listeners,
            "a read-only key changed"
        );
        Ok(())
    })();
    let restored = alter_broker(c, node, &others);
    checked?;
    restored?;
    let after = broker_key(c, node, key)?;
    ensure!(after == before, "reverted: {after:?}, was {before:?}");
    Ok(())
}
