//! Markdown tables of raw numbers and of ratios (ours / reference).

use std::fmt::Write;

use crate::compare::{Comparison, Outcome, Side, Stats};

const MIB: f64 = 1_048_576.0;

/// The raw numbers of every side, then the ratios and targets.
pub fn section(title: &str, comparisons: &[Comparison]) -> String {
    let mut s = format!("### {title}\n\n");
    s.push_str("| case | tool | wall s, median [runs] | CPU s (user+sys), median | peak RSS MiB | peak anon RSS MiB | output MiB |\n");
    s.push_str("|---|---|---|---|---|---|---|\n");
    for c in comparisons {
        for side in [&c.reference, &c.ours] {
            raw_row(&mut s, &c.name, side);
        }
    }
    s.push_str("\n| case | wall ratio | CPU ratio | RSS ratio | size ratio | target | met? |\n");
    s.push_str("|---|---|---|---|---|---|---|\n");
    for c in comparisons {
        ratio_rows(&mut s, c);
    }
    s.push_str(
        "\nRatios are ours / reference (below 1 means ours is faster, smaller or leaner). \
         Peak RSS is the child's ru_maxrss from wait4 (it includes pages of files the child \
         maps); peak anon RSS is the largest RssAnon of the direct child, sampled every 4 ms.\n\n",
    );
    s.push_str("Commands:\n\n");
    for c in comparisons {
        for side in [&c.reference, &c.ours] {
            let _ = writeln!(s, "- {} / {}: `{}`", c.name, side.tool, side.command);
        }
    }
    s.push('\n');
    s
}

fn raw_row(s: &mut String, case: &str, side: &Side) {
    match &side.outcome {
        Outcome::Measured(st) => {
            let runs: Vec<String> = st.walls.iter().map(|w| format!("{w:.2}")).collect();
            let out = st
                .output_bytes
                .map(|b| format!("{:.1}", b as f64 / MIB))
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(
                s,
                "| {case} | {} | {:.2} [{}] | {:.2} | {:.1} | {:.1} | {out} |",
                side.tool,
                st.wall(),
                runs.join(", "),
                st.cpu(),
                st.rss_mib(),
                st.anon_mib(),
            );
        }
        Outcome::NotRun(why) => {
            let _ = writeln!(
                s,
                "| {case} | {} | not run: {} | | | | |",
                side.tool,
                one_line(why)
            );
        }
    }
}

fn ratio_rows(s: &mut String, c: &Comparison) {
    let (Some(o), Some(r)) = (c.ours.stats(), c.reference.stats()) else {
        let targets: Vec<&str> = c.targets.iter().map(|t| t.text.as_str()).collect();
        let _ = writeln!(
            s,
            "| {} | - | - | - | - | {} | not measured ({} did not run) |",
            c.name,
            targets.join("; "),
            c.ours.tool
        );
        return;
    };
    let size = match (o.output_bytes, r.output_bytes) {
        (Some(a), Some(b)) if b > 0 => format!("{:.3}", a as f64 / b as f64),
        _ => "-".into(),
    };
    let targets: Vec<&str> = c.targets.iter().map(|t| t.text.as_str()).collect();
    let met: Vec<&str> = c
        .targets
        .iter()
        .map(|t| if (t.met)(o, r) { "yes" } else { "**no**" })
        .collect();
    let _ = writeln!(
        s,
        "| {} | {:.2} | {:.2} | {:.2} | {size} | {} | {} |",
        c.name,
        o.wall() / r.wall(),
        o.cpu() / r.cpu(),
        o.rss_mib() / r.rss_mib(),
        if targets.is_empty() {
            "-".into()
        } else {
            targets.join("; ")
        },
        if met.is_empty() {
            "-".into()
        } else {
            met.join("; ")
        },
    );
}

pub fn one_line(text: &str) -> String {
    let flat: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "/");
    if flat.len() > 300 {
        let mut cut = 300;
        while !flat.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}...", &flat[..cut])
    } else {
        flat
    }
}

/// Size ratio helper for targets.
pub fn size_ratio(o: &Stats, r: &Stats) -> Option<f64> {
    match (o.output_bytes, r.output_bytes) {
        (Some(a), Some(b)) if b > 0 => Some(a as f64 / b as f64),
        _ => None,
    }
}
