//! The alter-config scenario for the rdkafka crate (librdkafka's AlterConfigs): a value set
//! on a topic is read back with DescribeConfigs; a bad value changes nothing.

use anyhow::{ensure, Context, Result};
use futures::executor::block_on;
use rdkafka::admin::{AdminOptions, AlterConfig, ResourceSpecifier};

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
