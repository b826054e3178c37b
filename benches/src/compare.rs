//! Side-by-side runs: a warm-up of each tool, then N interleaved runs
//! (reference, ours, reference, ours, ...) so that both see the same noise
//! of a shared machine, and ratios rather than absolute times are reported.

use crate::error::Error;
use crate::measure::Sample;

/// One checked run: what it cost, how big its output was, and any extra
/// numbers the tool reported about itself.
pub struct Measured {
    pub sample: Sample,
    pub output_bytes: Option<u64>,
    pub extra: Vec<(&'static str, f64)>,
}

impl Measured {
    pub fn new(sample: Sample, output_bytes: Option<u64>) -> Measured {
        Measured {
            sample,
            output_bytes,
            extra: Vec::new(),
        }
    }
}

/// A tool to run: setup, the measured command, sanity checks and cleanup
/// all happen inside `run`; only a fully checked run returns `Ok`.
pub struct Case<'a> {
    pub tool: String,
    pub command: String,
    pub run: Box<dyn FnMut() -> Result<Measured, Error> + 'a>,
}

impl<'a> Case<'a> {
    pub fn new(
        tool: impl Into<String>,
        command: impl Into<String>,
        run: impl FnMut() -> Result<Measured, Error> + 'a,
    ) -> Case<'a> {
        Case {
            tool: tool.into(),
            command: command.into(),
            run: Box::new(run),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub walls: Vec<f64>,
    pub cpus: Vec<f64>,
    pub max_rss_kib: u64,
    pub max_anon_kib: u64,
    pub output_bytes: Option<u64>,
    pub extra: Vec<(&'static str, Vec<f64>)>,
}

impl Stats {
    fn add(&mut self, m: &Measured) {
        self.walls.push(m.sample.wall.as_secs_f64());
        self.cpus.push(m.sample.cpu().as_secs_f64());
        self.max_rss_kib = self.max_rss_kib.max(m.sample.max_rss_kib);
        self.max_anon_kib = self.max_anon_kib.max(m.sample.peak_anon_kib);
        self.output_bytes = m.output_bytes;
        for (k, v) in &m.extra {
            match self.extra.iter_mut().find(|(name, _)| name == k) {
                Some((_, vs)) => vs.push(*v),
                None => self.extra.push((k, vec![*v])),
            }
        }
    }

    pub fn wall(&self) -> f64 {
        median(&self.walls)
    }

    pub fn cpu(&self) -> f64 {
        median(&self.cpus)
    }

    pub fn rss_mib(&self) -> f64 {
        self.max_rss_kib as f64 / 1024.0
    }

    pub fn anon_mib(&self) -> f64 {
        self.max_anon_kib as f64 / 1024.0
    }

    pub fn extra(&self, key: &str) -> Option<f64> {
        self.extra
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| median(v))
    }
}

pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

pub enum Outcome {
    Measured(Stats),
    NotRun(String),
}

pub struct Side {
    pub tool: String,
    pub command: String,
    pub outcome: Outcome,
}

impl Side {
    pub fn stats(&self) -> Option<&Stats> {
        match &self.outcome {
            Outcome::Measured(s) => Some(s),
            Outcome::NotRun(_) => None,
        }
    }
}

/// Judges (ours, reference).
pub type Judge = Box<dyn Fn(&Stats, &Stats) -> bool>;

/// A target from the issues, judged on (ours, reference).
pub struct Target {
    pub text: String,
    pub met: Judge,
}

impl Target {
    pub fn new(text: impl Into<String>, met: impl Fn(&Stats, &Stats) -> bool + 'static) -> Target {
        Target {
            text: text.into(),
            met: Box::new(met),
        }
    }
}

pub struct Comparison {
    pub name: String,
    pub reference: Side,
    pub ours: Side,
    pub targets: Vec<Target>,
}

/// Warm up both, then `runs` interleaved measured runs. A failing
/// reference tool is an error (the harness or machine is broken); a
/// failing tool of ours is recorded as not run, with the reason.
pub fn compare(
    name: &str,
    mut reference: Case<'_>,
    mut ours: Case<'_>,
    runs: usize,
    targets: Vec<Target>,
) -> Result<Comparison, Error> {
    eprintln!("[{name}] warm-up: {}", reference.tool);
    (reference.run)()?;
    eprintln!("[{name}] warm-up: {}", ours.tool);
    let mut ours_failed = (ours.run)()
        .err()
        .map(|e| format!("warm-up run failed: {e}"));
    if let Some(why) = &ours_failed {
        eprintln!("[{name}] {} not measured: {why}", ours.tool);
    }
    let mut ref_stats = Stats::default();
    let mut our_stats = Stats::default();
    for i in 0..runs {
        let m = (reference.run)()?;
        eprintln!(
            "[{name}] run {}/{runs} {}: {:.2} s",
            i + 1,
            reference.tool,
            m.sample.wall.as_secs_f64()
        );
        ref_stats.add(&m);
        if ours_failed.is_none() {
            match (ours.run)() {
                Ok(m) => {
                    eprintln!(
                        "[{name}] run {}/{runs} {}: {:.2} s",
                        i + 1,
                        ours.tool,
                        m.sample.wall.as_secs_f64()
                    );
                    our_stats.add(&m);
                }
                Err(e) => {
                    eprintln!("[{name}] {} failed on run {}: {e}", ours.tool, i + 1);
                    ours_failed = Some(format!("run {} failed: {e}", i + 1));
                }
            }
        }
    }
    Ok(Comparison {
        name: name.into(),
        reference: Side {
            tool: reference.tool,
            command: reference.command,
            outcome: Outcome::Measured(ref_stats),
        },
        ours: Side {
            tool: ours.tool,
            command: ours.command,
            outcome: match ours_failed {
                Some(why) => Outcome::NotRun(why),
                None => Outcome::Measured(our_stats),
            },
        },
        targets,
    })
}
