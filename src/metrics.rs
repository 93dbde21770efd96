//! Prometheus text exposition for `/metrics`, shared by every module.
//!
//! A module that has figures implements [`Source`] and is handed the daemon's [`Registry`] when
//! it starts (the module reaches down to this one, never up to `App`). `/metrics` renders every
//! registered source in registration order with the helpers of [`Exposition`], so the format
//! (HELP, TYPE, label escaping) is written in one place.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// Something with figures to export.
pub trait Source: Send + Sync {
    fn render(&self, out: &mut Exposition);
}

/// The sources of one daemon; cheap to share behind an `Arc`.
#[derive(Default)]
pub struct Registry {
    sources: Mutex<Vec<Arc<dyn Source>>>,
}

impl Registry {
    pub fn register(&self, source: Arc<dyn Source>) {
        self.lock().push(source);
    }

    /// Appends every source's figures to `out`.
    pub fn render(&self, out: &mut String) {
        let sources = self.lock().clone();
        let mut exp = Exposition { out };
        for s in sources {
            s.render(&mut exp);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<dyn Source>>> {
        self.sources.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Writes metric families in the Prometheus text format.
pub struct Exposition<'a> {
    out: &'a mut String,
}

impl Exposition<'_> {
    /// One unlabelled gauge.
    pub fn gauge(&mut self, name: &str, help: &str, value: impl Into<f64>) {
        self.header(name, help, "gauge");
        self.sample(name, &[], value);
    }

    /// One unlabelled counter.
    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.header(name, help, "counter");
        self.sample(name, &[], value as f64);
    }

    /// The `# HELP` and `# TYPE` lines of a family; follow with [`Exposition::sample`]s.
    pub fn header(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample line with labels (values escaped as the format requires).
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Into<f64>) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"");
                for c in v.chars() {
                    match c {
                        '\\' => self.out.push_str("\\\\"),
                        '"' => self.out.push_str("\\\""),
                        '\n' => self.out.push_str("\\n"),
                        c => self.out.push(c),
                    }
                }
                self.out.push('"');
            }
            self.out.push('}');
        }
        let v: f64 = value.into();
        if v.fract() == 0.0 && v.abs() < 1e15 {
            let _ = writeln!(self.out, " {}", v as i64);
        } else {
            let _ = writeln!(self.out, " {v}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Two;
    impl Source for Two {
        fn render(&self, out: &mut Exposition) {
            out.gauge("peerbox_test_gauge", "A gauge.", 3u32);
            out.header("peerbox_test_total", "A family.", "counter");
            out.sample("peerbox_test_total", &[("code", "a\"b\\c")], 7u32);
            out.sample("peerbox_test_total", &[("code", "x"), ("dir", "up")], 0.5);
        }
    }

    #[test]
    fn renders_sources_in_the_text_format() {
        let reg = Registry::default();
        reg.register(Arc::new(Two));
        let mut out = String::new();
        reg.render(&mut out);
        assert_eq!(
            out,
            "# HELP peerbox_test_gauge A gauge.\n# TYPE peerbox_test_gauge gauge\n\
             peerbox_test_gauge 3\n\
             # HELP peerbox_test_total A family.\n# TYPE peerbox_test_total counter\n\
             peerbox_test_total{code=\"a\\\"b\\\\c\"} 7\n\
             peerbox_test_total{code=\"x\",dir=\"up\"} 0.5\n"
        );
    }
}
