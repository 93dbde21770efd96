//! The terminal client's progress line: one line on stderr, redrawn at most ten times a second,
//! only when stderr is a terminal (a script's log gets the final lines only). Hand-written: a
//! progress crate (indicatif and its console/unicode-width tree) costs more binary than these
//! forty lines, and the binary is at its size limit.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    label: String,
    total: u64,
    start: Instant,
    last: Option<Instant>,
    from: u64,
    tty: bool,
}

impl Progress {
    /// A progress line for `label` of `total` bytes, `from` of which were there already.
    pub fn new(label: &str, total: u64, from: u64) -> Self {
        Progress {
            label: label.to_owned(),
            total,
            start: Instant::now(),
            last: None,
            from,
            tty: std::io::stderr().is_terminal(),
        }
    }

    pub fn update(&mut self, done: u64) {
        if !self.tty {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now - t < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        let pct = (done * 100).checked_div(self.total).unwrap_or(100).min(100);
        let secs = self.start.elapsed().as_secs_f64().max(0.001);
        let rate = done.saturating_sub(self.from) as f64 / secs;
        let width = 24usize;
        let filled = (pct as usize * width / 100).min(width);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{} [{}{}] {:>3}% {} of {} {}/s",
            self.label,
            "#".repeat(filled),
            "-".repeat(width - filled),
            pct,
            human_bytes(done),
            human_bytes(self.total),
            human_bytes(rate as u64),
        );
        let _ = err.flush();
    }

    /// Ends the line with `text` (printed on terminals and in logs alike).
    pub fn finish(self, text: &str) {
        let mut err = std::io::stderr().lock();
        if self.tty && self.last.is_some() {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(err, "{text}");
    }
}

/// `1.5 MB`-style sizes (powers of 1000, as the web client shows them).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_bytes() {
        assert_eq!(super::human_bytes(999), "999 B");
        assert_eq!(super::human_bytes(1_500_000), "1.5 MB");
        assert_eq!(super::human_bytes(52_428_800), "52.4 MB");
    }
}
