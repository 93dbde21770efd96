//! SIGHUP: re-read the configuration and apply what can change safely while running.
//!
//! The new configuration is compared key by key with the running one; keys that a running
//! daemon can adopt (log level, and whatever modules declare live-tunable) are applied, the rest
//! are named in the log as needing a restart, and the running value stays in force.

use std::collections::BTreeMap;

use crate::config::Config;

/// Dotted keys that can change without a restart (a trailing `.` is a prefix): the log level,
/// every signaling limit (rooms at once, connection limits for new connections), and the
/// seeder's rooms.
const LIVE_KEYS: &[&str] = &["log.level", "signal.", "seeder.rooms"];

/// What a reload changed, split by whether it took effect.
#[derive(Debug, Default, PartialEq)]
pub struct ReloadPlan {
    pub applied: Vec<String>,
    pub need_restart: Vec<String>,
}

/// Flattens nested tables into dotted keys (`server.listen`).
pub(crate) fn flatten(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, toml::Value>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}

fn as_map(config: &Config) -> BTreeMap<String, toml::Value> {
    let mut out = BTreeMap::new();
    if let Ok(v) = toml::Value::try_from(config) {
        flatten("", &v, &mut out);
    }
    out
}

/// Every dotted key whose value differs between `old` and `new`.
pub fn changed_keys(old: &Config, new: &Config) -> Vec<String> {
    let (a, b) = (as_map(old), as_map(new));
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Splits the changed keys into those applied live and those that need a restart.
pub fn plan(old: &Config, new: &Config, live: &[&str]) -> ReloadPlan {
    let mut plan = ReloadPlan::default();
    for key in changed_keys(old, new) {
        let is_live = LIVE_KEYS
            .iter()
            .chain(live)
            .any(|p| key == *p || (p.ends_with('.') && key.starts_with(p)));
        if is_live {
            plan.applied.push(key);
        } else {
            plan.need_restart.push(key);
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_changes() {
        let old = Config::default();
        let mut new = Config::default();
        new.log.level = "debug".into();
        new.server.listen = "127.0.0.1:1".parse().unwrap();
        let p = plan(&old, &new, &[]);
        assert_eq!(p.applied, vec!["log.level"]);
        assert_eq!(p.need_restart, vec!["server.listen"]);
        assert_eq!(plan(&old, &old, &[]), ReloadPlan::default());
    }
}
