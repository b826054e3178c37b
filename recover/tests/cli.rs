//! rrecover's --help and its man page (recover/rrecover.8) describe the same
//! options: every long option each subcommand's --help prints must be in the
//! man page, so a new option cannot ship undocumented.

use std::path::Path;
use std::process::Command;

fn help(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_rrecover"))
        .args(args)
        .output()
        .expect("run rrecover");
    assert!(o.status.success(), "rrecover {args:?} failed");
    String::from_utf8(o.stdout).expect("--help is UTF-8")
}

/// The `--long` options of a clap help text, from its option lines.
fn long_options(help: &str) -> Vec<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("--")))
        .map(|w| {
            w.trim_end_matches(',')
                .split(['=', '['])
                .next()
                .unwrap_or(w)
                .to_string()
        })
        .collect()
}

#[test]
fn man_page_describes_every_option_of_every_subcommand() {
    let man = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("rrecover.8"))
        .expect("recover/rrecover.8 exists");
    for sub in ["backup", "apply", "mkrescue"] {
        let opts = long_options(&help(&[sub, "--help"]));
        assert!(
            opts.len() >= 3,
            "no options parsed from `{sub} --help`: {opts:?}"
        );
        assert!(
            man.contains(&format!(".B rrecover {sub}")),
            "rrecover.8 has no synopsis for {sub}"
        );
        for opt in opts.iter().filter(|o| *o != "--help") {
            let roff = opt.replace('-', "\\-");
            assert!(
                man.contains(&roff),
                "rrecover.8 does not mention {sub} {opt}"
            );
        }
    }
    let top = help(&["--help"]);
    for sub in ["backup", "apply", "mkrescue"] {
        assert!(top.contains(sub), "rrecover --help does not list {sub}");
    }
    let v = help(&["--version"]);
    assert!(v.starts_with("rrecover "), "unexpected --version: {v}");
}
