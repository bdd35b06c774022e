//! Reading broker settings: Kafka's `.properties` format, `key=value` pairs checked against the
//! key table (unknown keys warned about and ignored, bad values refused with Kafka's wording),
//! and [`Props`], the typed view of the set values over the rows' defaults from which
//! [`BrokerConfig`] is built.

use std::collections::BTreeMap;
use std::path::Path;

use super::keys::{broker_key, listener_key, ConfigError, ConfigKey};
use super::BrokerConfig;

/// Parses Kafka's `.properties` format: `key=value` or `key: value`, `#`/`!` comments.
pub fn parse_properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let i = l.find(['=', ':'])?;
            Some((l[..i].trim().to_string(), l[i + 1..].trim().to_string()))
        })
        .collect()
}

/// Typed getters over the set broker keys, falling back to each row's default (Kafka's
/// `AbstractConfig.getInt` & co.). Values were validated when they were set, so a parse
/// failure can only come from a default and yields the type's zero.
pub(super) struct Props<'a>(pub &'a BTreeMap<String, String>);

impl Props<'_> {
    fn row(key: &str) -> Option<&'static ConfigKey> {
        let row = broker_key(key);
        debug_assert!(row.is_some(), "{key} has no row in config::keys::KEYS");
        row
    }

    /// The value set for `key`, if any.
    pub fn set(&self, key: &str) -> Option<&str> {
        Self::row(key)?;
        self.0.get(key).map(|v| v.trim())
    }

    /// The value set for `key`, else its default (`None` for a `null` default).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.set(key).or_else(|| Self::row(key)?.default)
    }

    pub fn string(&self, key: &str) -> String {
        self.get(key).unwrap_or_default().to_string()
    }

    pub fn long(&self, key: &str) -> i64 {
        self.get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or_default()
    }

    pub fn int(&self, key: &str) -> i32 {
        self.get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or_default()
    }

    pub fn double(&self, key: &str) -> f64 {
        self.get(key)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_default()
    }

    pub fn boolean(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

impl BrokerConfig {
    /// Reads a `server.properties` file over the defaults. Unknown keys are warned about; a bad
    /// value is an error naming the key.
    pub fn from_properties_file(path: &Path) -> std::io::Result<BrokerConfig> {
        let text = std::fs::read_to_string(path)?;
        let mut cfg = BrokerConfig::default();
        let mut warnings = Vec::new();
        cfg.apply_properties(&parse_properties(&text), &mut warnings)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        for w in warnings {
            tracing::warn!("{}: {w}", path.display());
        }
        Ok(cfg)
    }

    /// Sets `key=value` pairs (later ones win) and rebuilds every field from the set keys.
    /// Unknown keys are pushed to `warnings` and ignored; the first bad value is returned as an
    /// error and nothing is changed.
    ///
    /// Fields are derived from [`BrokerConfig::properties`]: a field assigned directly is
    /// replaced here, so assign fields after the last call.
    pub fn apply_properties(
        &mut self,
        pairs: &[(String, String)],
        warnings: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        let mut properties = self.properties.clone();
        for (k, v) in pairs {
            match broker_key(k).or_else(|| listener_key(k)) {
                Some(row) => {
                    row.validate(v)?;
                    properties.insert(k.clone(), v.trim().to_string());
                }
                None => warnings.push(format!("unknown configuration key {k} (ignored)")),
            }
        }
        *self = BrokerConfig::from_properties(properties);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_the_key_and_change_nothing() {
        let mut cfg = BrokerConfig::default();
        let mut w = Vec::new();
        let pairs = [
            ("num.partitions".to_string(), "3".to_string()),
            ("num.partitions".to_string(), "0".to_string()),
        ];
        let err = cfg.apply_properties(&pairs, &mut w).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid value 0 for configuration num.partitions: Value must be at least 1"
        );
        assert_eq!(cfg.num_partitions, 1);
        let pairs = [("auto.create.topics.enable".to_string(), "maybe".to_string())];
        let err = cfg.apply_properties(&pairs, &mut w).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid value maybe for configuration auto.create.topics.enable: Expected value to be either true or false"
        );
        let pairs = [("node.id".to_string(), "x".to_string())];
        let err = cfg.apply_properties(&pairs, &mut w).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid value x for configuration node.id: Not a number of type INT"
        );
        assert!(w.is_empty());
    }
}
