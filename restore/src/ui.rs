//! Messages to the user, in restore's words and on restore's streams:
//! progress (`-v`) and the dump description go to standard output,
//! warnings and errors to standard error.

use std::io::{self, IsTerminal, Write};

use dump_format::Header;

use crate::catalog::Notes;

/// Where messages go, and whether `-v` progress is wanted.
pub struct Ui {
    stdout: io::BufWriter<io::Stdout>,
    pub verbose: bool,
    /// -d: report every record read.
    pub debug: bool,
    /// Warnings printed so far (bad records, failed attributes…).
    pub warnings: u64,
}

impl Ui {
    pub fn new(verbose: bool, debug: bool) -> Self {
        Ui {
            stdout: io::BufWriter::with_capacity(64 * 1024, io::stdout()),
            verbose,
            debug,
            warnings: 0,
        }
    }

    /// A line on standard output (listings, -v progress).
    pub fn out(&mut self, line: &str) {
        let _ = writeln!(self.stdout, "{line}");
    }

    /// Raw bytes on standard output (listings of non-UTF-8 names).
    pub fn out_bytes(&mut self, bytes: &[u8]) {
        let _ = self.stdout.write_all(bytes);
    }

    /// Flushes standard output (before exiting or asking).
    pub fn flush(&mut self) {
        let _ = self.stdout.flush();
    }

    /// A line on standard error.
    pub fn err(&mut self, line: &str) {
        // Keep stdout and stderr in order when both go to one place.
        let _ = self.stdout.flush();
        let _ = writeln!(io::stderr().lock(), "{line}");
    }
}

impl Ui {
    /// A warning on standard error, counted.
    pub fn warn(&mut self, msg: &str) {
        self.warnings += 1;
        self.err(msg);
    }

    /// A -v progress line on standard output.
    pub fn verbose(&mut self, msg: &str) {
        if self.verbose {
            self.out(msg);
        }
    }
}

impl Notes for Ui {
    fn warn(&mut self, msg: &str) {
        Ui::warn(self, msg);
    }
    fn verbose(&mut self, msg: &str) {
        Ui::verbose(self, msg);
    }
}

/// Formats a dump date like ctime(3) in the local time zone, without the
/// newline: `Thu Nov 26 11:24:29 2026`.
pub fn ctime(secs: i64) -> String {
    let tz = jiff::tz::TimeZone::system();
    match jiff::Timestamp::from_second(secs) {
        Ok(ts) => ts
            .to_zoned_datetime(tz)
            .strftime("%a %b %e %H:%M:%S %Y")
            .to_string(),
        Err(_) => format!("{secs}"),
    }
}

/// The dump description restore prints for -t, -C and -v (printdumpinfo).
pub fn dump_info(volume: &Header) -> Vec<String> {
    let mut lines = vec![
        format!("Dump   date: {}", ctime(volume.date_secs())),
        if volume.ddate == 0 {
            "Dumped from: the epoch".to_string()
        } else {
            format!("Dumped from: {}", ctime(volume.ddate_secs()))
        },
    ];
    if volume.host[0] != 0 {
        lines.push(format!(
            "Level {} dump of {} on {}:{}",
            volume.level,
            volume.filesys_str(),
            volume.host_str(),
            volume.dev_str()
        ));
        lines.push(format!("Label: {}", volume.label_str()));
    }
    lines
}

/// Whether questions may be asked: only when standard input is a terminal
/// that is not also the dump.
pub fn can_prompt(input_is_stdin: bool) -> bool {
    !input_is_stdin && io::stdin().is_terminal()
}

/// Asks a yes/no question on the terminal (restore's `reply()`).
pub fn ask(question: &str) -> bool {
    loop {
        eprint!("{question}? [yn] ");
        let _ = io::stderr().flush();
        let mut line = String::new();
        match io::stdin().read_line(&mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) => match line.trim() {
                "y" => return true,
                "n" => return false,
                _ => {}
            },
        }
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        self.flush();
    }
}
