//! `PEERBOX_*` environment variables: which set configuration keys, which are typos of one
//! (refused, naming the variable and the nearest real key), and which merely share the prefix
//! (a shell's unrelated `PEERBOX_HOME`, say: ignored, and reported so the daemon can log it).

use figment::error::Kind;
use figment::providers::Serialized;
use figment::Figment;

use super::{Config, ConfigError};

pub const PREFIX: &str = "PEERBOX_";

/// The `PEERBOX_*` variables of one environment, sorted out.
#[derive(Debug, Default)]
pub struct EnvVars {
    /// Dotted keys (`server.listen`) that variables set.
    pub keys: Vec<String>,
    /// Variables that look like no configuration key; not applied.
    pub ignored: Vec<String>,
}

/// Sorts `vars` against the configuration's keys; a likely typo of a real key is an error.
pub fn classify(vars: impl IntoIterator<Item = (String, String)>) -> Result<EnvVars, ConfigError> {
    let mut out = EnvVars::default();
    let mut typos = Vec::new();
    for (name, value) in vars {
        let Some(rest) = strip_prefix(&name) else {
            continue;
        };
        let key = rest.to_ascii_lowercase();
        let dotted = key.split("__").collect::<Vec<_>>().join(".");
        match unknown_field(&dotted, &value) {
            None => out.keys.push(dotted),
            Some(expected) => match nearest(&dotted, &expected) {
                Some(near) => typos.push(format!(
                    "environment variable {name}: unknown key `{dotted}`; did you mean `{near}` \
                     ({PREFIX}{})?",
                    near.replace('.', "__").to_ascii_uppercase()
                )),
                None => out.ignored.push(name),
            },
        }
    }
    if typos.is_empty() {
        Ok(out)
    } else {
        Err(ConfigError::Invalid(typos.join("; ")))
    }
}

fn strip_prefix(name: &str) -> Option<&str> {
    let head = name.get(..PREFIX.len())?;
    let rest = &name[PREFIX.len()..];
    (head.eq_ignore_ascii_case(PREFIX) && !rest.is_empty()).then_some(rest)
}

/// `None` when `dotted` is a configuration key (its value may still be invalid: that is
/// reported by the real load); otherwise the keys that would have been valid there, spelled in
/// full, plus every key of the configuration.
fn unknown_field(dotted: &str, value: &str) -> Option<Vec<String>> {
    let probe = Figment::from(Serialized::defaults(Config::default()))
        .merge(Serialized::default(dotted, value));
    let err = probe.extract::<Config>().err()?;
    let mut expected = all_keys();
    let mut unknown = false;
    for e in err {
        if let Kind::UnknownField(field, valid) = &e.kind {
            unknown = true;
            let mut path = e.path.clone();
            if path.last() == Some(field) {
                path.pop();
            }
            for v in valid.iter() {
                let mut full = path.clone();
                full.push((*v).to_owned());
                expected.push(full.join("."));
            }
        }
    }
    unknown.then_some(expected)
}

/// Every key that has a value in the defaults (optional keys come from the error's list).
fn all_keys() -> Vec<String> {
    let mut map = std::collections::BTreeMap::new();
    if let Ok(v) = toml::Value::try_from(Config::default()) {
        crate::reload::flatten("", &v, &mut map);
    }
    map.into_keys().collect()
}

/// The real key `dotted` is most likely a misspelling of: the same words joined differently
/// (`server_listen` for `server.listen`), or a few letters off; `None` when nothing is close,
/// which means the variable is not about peerbox's configuration at all.
fn nearest(dotted: &str, keys: &[String]) -> Option<String> {
    let flat = |s: &str| s.replace(['.', '_'], "");
    let want = flat(dotted);
    let mut best: Option<(usize, &String)> = None;
    for k in keys {
        let d = strsim::levenshtein(&want, &flat(k));
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    let (d, k) = best?;
    // One edit per five letters, at least one: `servr.listen`, `watch.setle_ms`.
    (d <= (want.len() / 5).max(1)).then(|| k.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(vars: &[(&str, &str)]) -> Result<EnvVars, ConfigError> {
        classify(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn real_keys_are_kept_and_unrelated_variables_ignored() {
        let out = run(&[
            ("PEERBOX_SERVER__LISTEN", "127.0.0.1:1"),
            ("peerbox_log__level", "debug"),
            ("PEERBOX_SERVER__TLS__CERT_FILE", "/x"),
            ("PEERBOX_SERVER__SHUTDOWN_GRACE_SECS", "not a number"),
            ("PEERBOX_HOME", "/home/me"),
            ("PEERBOX_TEST_ARTIFACTS", "/tmp"),
            ("HOME", "/root"),
            ("PEERBOX_", "x"),
        ])
        .unwrap();
        assert_eq!(
            out.keys,
            [
                "server.listen",
                "log.level",
                "server.tls.cert_file",
                "server.shutdown_grace_secs"
            ]
        );
        assert_eq!(out.ignored, ["PEERBOX_HOME", "PEERBOX_TEST_ARTIFACTS"]);
    }

    #[test]
    fn typos_of_real_keys_are_refused_with_the_nearest_key() {
        for (var, near) in [
            ("PEERBOX_SERVR__LISTEN", "server.listen"),
            ("PEERBOX_SERVER_LISTEN", "server.listen"),
            ("PEERBOX_SERVER__LISTN", "server.listen"),
            ("PEERBOX_WATCH__SETLE_MS", "watch.settle_ms"),
            ("PEERBOX_SERVER__TLS__CERTFILE", "server.tls.cert_file"),
        ] {
            let err = run(&[(var, "1")]).unwrap_err().to_string();
            assert!(
                err.contains(&format!("environment variable {var}")),
                "{err}"
            );
            assert!(err.contains(&format!("did you mean `{near}`")), "{err}");
        }
    }
}
