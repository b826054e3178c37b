//! What rdump tells the operator on stderr.
//!
//! Backup systems parse dump's messages ("  DUMP: ..." lines, the estimate,
//! "% done, finished in H:MM", the final block count, "DUMP IS DONE"), so the
//! wording and number formats follow dump 0.4b47 exactly. When stderr is a
//! terminal and `-q` is not given, the periodic "% done" lines are replaced by
//! a progress bar; the other lines are still printed above it.

use std::fmt::Display;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{Local, TimeZone};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// dump prints a progress estimate every five minutes.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(300);
/// dump stays quiet until this many blocks have been written.
const PROGRESS_MIN_BLOCKS: u64 = 500;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// dump's "  DUMP: 12.34% done at 100 kB/s, finished in 0:05" lines.
    Lines,
    /// An indicatif bar (stderr is a terminal and `-q` was not given).
    Bar,
}

/// The single place that writes to stderr. Shared by all pipeline threads.
pub struct Reporter {
    mode: ProgressMode,
    state: Mutex<ProgressState>,
    read_errors: AtomicU64,
    warnings: AtomicU64,
}

struct ProgressState {
    bar: Option<ProgressBar>,
    started: Option<Instant>,
    next_report: Option<Instant>,
    estimate_blocks: u64,
}

impl Reporter {
    pub fn new(mode: ProgressMode) -> Self {
        Reporter {
            mode,
            state: Mutex::new(ProgressState {
                bar: None,
                started: None,
                next_report: None,
                estimate_blocks: 0,
            }),
            read_errors: AtomicU64::new(0),
            warnings: AtomicU64::new(0),
        }
    }

    /// Reports a data block that could not be read (and was dumped as zeros).
    pub fn read_error(&self, text: impl Display) {
        self.read_errors.fetch_add(1, Ordering::Relaxed);
        self.msg(text);
    }

    /// Reports something left out of the dump (unreadable attributes, ...).
    pub fn warning(&self, text: impl Display) {
        self.warnings.fetch_add(1, Ordering::Relaxed);
        self.msg(format_args!("Warning: {text}"));
    }

    /// Data blocks that could not be read so far.
    pub fn read_errors(&self) -> u64 {
        self.read_errors.load(Ordering::Relaxed)
    }

    /// Warnings issued so far.
    pub fn warnings(&self) -> u64 {
        self.warnings.load(Ordering::Relaxed)
    }

    /// Prints `  DUMP: <text>` (dump's msg()); `text` carries no newline.
    pub fn msg(&self, text: impl Display) {
        self.line(format!("  DUMP: {text}"));
    }

    /// Prints a line as is (dump's plain fprintf(stderr) messages).
    pub fn line(&self, text: String) {
        let state = self.lock();
        match &state.bar {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => {
                // A failing stderr must not stop the dump; dump ignores it too.
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    /// Starts progress reporting for a dump of about `estimate_blocks` blocks.
    pub fn start_progress(&self, estimate_blocks: u64) {
        let mut state = self.lock();
        let now = Instant::now();
        state.started = Some(now);
        state.next_report = Some(now + PROGRESS_INTERVAL);
        state.estimate_blocks = estimate_blocks;
        if self.mode == ProgressMode::Bar {
            let bar = ProgressBar::with_draw_target(
                Some(estimate_blocks.saturating_mul(1024)),
                ProgressDrawTarget::stderr(),
            );
            if let Ok(style) = ProgressStyle::with_template(
                "  DUMP: [{bar:40}] {percent:>3}% {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            state.bar = Some(bar);
        }
    }

    /// Called by the writer after each record; `blocks` is the number of
    /// 1 KiB tape blocks written so far.
    pub fn progress(&self, blocks: u64) {
        let mut state = self.lock();
        if let Some(bar) = &state.bar {
            if blocks > state.estimate_blocks {
                bar.set_length(blocks * 1024);
            }
            bar.set_position(blocks * 1024);
            return;
        }
        let (Some(started), Some(next)) = (state.started, state.next_report) else {
            return;
        };
        let now = Instant::now();
        if now < next {
            return;
        }
        state.next_report = Some(now + PROGRESS_INTERVAL);
        if blocks < PROGRESS_MIN_BLOCKS {
            return;
        }
        if blocks > state.estimate_blocks {
            state.estimate_blocks = blocks;
        }
        let line = progress_line(blocks, state.estimate_blocks, now - started);
        drop(state);
        self.msg(line);
    }

    /// Removes the progress bar (before the closing messages).
    pub fn finish_progress(&self) {
        let mut state = self.lock();
        if let Some(bar) = state.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        // A panic while holding the lock cannot leave the state inconsistent
        // in a way that matters for printing; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// dump's mktimeest() line, without the "  DUMP: " prefix.
pub fn progress_line(blocks: u64, estimate: u64, elapsed: Duration) -> String {
    let estimate = estimate.max(blocks).max(1);
    let secs = elapsed.as_secs();
    let percent = blocks as f64 * 100.0 / estimate as f64;
    // Seconds left: elapsed / done * total - elapsed (dump's deltat).
    let total = (secs as f64 / blocks.max(1) as f64 * estimate as f64) as u64;
    let left = total.saturating_sub(secs);
    let (h, m) = (left / 3600, (left % 3600) / 60);
    match blocks.checked_div(secs) {
        Some(rate) => format!("{percent:3.2}% done at {rate} kB/s, finished in {h}:{m:02}"),
        None => format!("{percent:3.2}% done, finished in {h}:{m:02}"),
    }
}

/// ctime(3) in local time without the newline, as dump prints dates.
pub fn ctime(secs: i64) -> String {
    match Local.timestamp_opt(secs, 0).single() {
        Some(t) => t.format("%a %b %e %H:%M:%S %Y").to_string(),
        None => format!("{secs} seconds after the epoch"),
    }
}

/// dump's "Date of this level 0 dump" value: "the epoch" for date 0.
pub fn dump_date(secs: i64) -> String {
    if secs == 0 {
        "the epoch".to_string()
    } else {
        ctime(secs)
    }
}

/// "%.2fMB" of a number of 1 KiB blocks.
pub fn megabytes(blocks: u64) -> String {
    format!("{:.2}MB", blocks as f64 * 1024.0 / 1_048_576.0)
}

/// dump's compression ratio: `.0005 + uncompressed / compressed`, "%1.3f:1".
pub fn compression_ratio(uncompressed_kb: u64, compressed_kb: u64) -> String {
    let rate = 0.0005 + uncompressed_kb as f64 / compressed_kb.max(1) as f64;
    format!("{rate:1.3}:1")
}

/// "H:MM:SS" of a duration (dump's "Volume 1 took" line).
pub fn hms(secs: u64) -> String {
    format!("{}:{:02}:{:02}", secs / 3600, (secs % 3600) / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_like_dump() {
        assert_eq!(
            progress_line(1000, 4000, Duration::from_secs(300)),
            "25.00% done at 3 kB/s, finished in 0:15"
        );
        assert_eq!(
            progress_line(1000, 4000, Duration::from_secs(0)),
            "25.00% done, finished in 0:00"
        );
        // More written than estimated: the estimate grows (dump does the same).
        assert_eq!(
            progress_line(5000, 4000, Duration::from_secs(7200)),
            "100.00% done at 0 kB/s, finished in 0:00"
        );
        assert_eq!(
            progress_line(100, 10000, Duration::from_secs(3600)),
            "1.00% done at 0 kB/s, finished in 99:00"
        );
    }

    #[test]
    fn number_formats() {
        assert_eq!(megabytes(320), "0.31MB");
        assert_eq!(megabytes(0), "0.00MB");
        assert_eq!(compression_ratio(320, 311), "1.029:1");
        assert_eq!(hms(3725), "1:02:05");
    }

    #[test]
    fn ctime_shape() {
        // Whatever the local zone, the shape is ctime's.
        let s = ctime(1_000_000_000);
        assert_eq!(s.len(), 24, "{s}");
        assert_eq!(dump_date(0), "the epoch");
    }
}
