//! `rrestore -i`: scripted sessions through a pipe and through a
//! pseudo-terminal, over the reference fixture dump. Listings are compared
//! with the reference restore 0.4b47 run on the same script; extracted
//! files are checked against testdata/tree-manifest.txt (contents, mode,
//! owner, mtime, xattrs), and the target is checked to hold nothing that
//! was not asked for.
//!
//! Needs the reference `restore` and `sha256sum`; runs as root (owners,
//! device nodes). Missing tools make the tests fail, never skip.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const RRESTORE: &str = env!("CARGO_BIN_EXE_rrestore");

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(name)
}

fn dump() -> PathBuf {
    testdata("ext4-4k.dump")
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rrestore-i-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "these tests restore owners and device nodes and must run as root"
    );
}

/// Output of one piped session.
struct Session {
    stdout: String,
    stderr: String,
    ok: bool,
}

fn piped(cwd: &Path, extra: &[&str], script: &str) -> Session {
    let mut child = Command::new(RRESTORE)
        .arg("-i")
        .args(extra)
        .arg("-f")
        .arg(dump())
        .current_dir(cwd)
        .env("TZ", "UTC")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rrestore");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Session {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        ok: out.status.success(),
    }
}

/// Both streams of one session in one file, in the order written.
fn piped_merged(cwd: &Path, program: &str, script: &str) -> String {
    let log = cwd.join("merged.log");
    let f = fs::File::create(&log).unwrap();
    let mut child = Command::new(program)
        .args(["-i", "-f"])
        .arg(dump())
        .current_dir(cwd)
        .env("TZ", "UTC")
        .stdin(Stdio::piped())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {program}: {e} (the reference restore 0.4b47 must be installed)")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "{program} failed");
    let text = fs::read_to_string(&log).unwrap();
    fs::remove_file(&log).unwrap();
    text
}

/// One line of testdata/tree-manifest.txt.
#[derive(Debug, Clone)]
struct Expected {
    kind: String,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    extra: String,
    xattrs: String,
    sha256: String,
}

fn manifest() -> BTreeMap<String, Expected> {
    let text = fs::read_to_string(testdata("tree-manifest.txt")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 10, "manifest line {l:?}");
            (
                f[0].to_string(),
                Expected {
                    kind: f[1].into(),
                    mode: u32::from_str_radix(f[2], 8).unwrap(),
                    uid: f[3].parse().unwrap(),
                    gid: f[4].parse().unwrap(),
                    mtime: f[6].parse().unwrap(),
                    extra: f[7].into(),
                    xattrs: f[8].into(),
                    sha256: f[9].into(),
                },
            )
        })
        .collect()
}

/// Every path below `root`, as `./a/b`.
fn tree_of(root: &Path) -> BTreeSet<String> {
    fn walk(dir: &Path, rel: &str, out: &mut BTreeSet<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let path = format!("{rel}/{name}");
            out.insert(path.clone());
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), &path, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, ".", &mut out);
    out
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum (coreutils) must be installed");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

fn xattr_names(path: &Path) -> String {
    let mut buf = vec![0u8; 4096];
    let n = rustix::fs::llistxattr(path, &mut buf).unwrap();
    let mut names: Vec<String> = buf[..n]
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    names.sort();
    if names.is_empty() {
        "-".into()
    } else {
        names.join(",")
    }
}

/// Checks `root` holds exactly `paths`, each with the attributes and
/// contents the manifest gives.
fn check_restored(root: &Path, paths: &[&str]) {
    let m = manifest();
    let want: BTreeSet<String> = paths.iter().map(|p| p.to_string()).collect();
    assert_eq!(tree_of(root), want, "what was written");
    for p in paths {
        let e = m.get(*p).unwrap_or_else(|| panic!("{p} not in manifest"));
        let path = root.join(p);
        let md = fs::symlink_metadata(&path).unwrap();
        let kind = match md.mode() & 0o170000 {
            0o040000 => "d",
            0o100000 => "f",
            0o120000 => "l",
            0o020000 => "c",
            0o060000 => "b",
            0o010000 => "p",
            _ => "?",
        };
        assert_eq!(kind, e.kind, "{p}: type");
        if kind != "l" {
            assert_eq!(md.mode() & 0o7777, e.mode, "{p}: mode");
        }
        assert_eq!((md.uid(), md.gid()), (e.uid, e.gid), "{p}: owner");
        assert_eq!(md.mtime(), e.mtime, "{p}: mtime");
        match kind {
            "f" => {
                assert_eq!(sha256(&path), e.sha256, "{p}: contents");
                // Only the names asked for are linked: a file with three
                // names on the dump has as many here as were restored.
                let wanted_links = if e.extra == "nlink=1" {
                    1
                } else {
                    paths
                        .iter()
                        .filter(|q| m[**q].sha256 == e.sha256 && m[**q].extra == e.extra)
                        .count() as u64
                };
                assert_eq!(md.nlink(), wanted_links, "{p}: link count");
            }
            "l" => assert_eq!(
                fs::read_link(&path).unwrap().to_str().unwrap(),
                e.extra,
                "{p}: target"
            ),
            "c" | "b" => {
                let rdev = md.rdev();
                let got = format!("{},{}", rustix::fs::major(rdev), rustix::fs::minor(rdev));
                assert_eq!(got, e.extra, "{p}: device");
            }
            _ => {}
        }
        assert_eq!(xattr_names(&path), e.xattrs, "{p}: xattrs");
    }
}

/// The reference restore echoes each command after its prompt; drop
/// those lines to compare answers only.
fn without_echo(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("restore > ") && !l.starts_with("/usr/sbin/restore > "))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn listings_match_reference_restore() {
    let dir = scratch("listings");
    // Avoids `add` (restore creates directories as soon as they are added)
    // and ./names (restore mangles its 255-byte name).
    let script = "ls\npwd\ncd links\nls\npwd\nverbose\nls\nls /\ncd /\nls dev\nls small.txt\n\
                  ls links/hl-a\ncd links\nls /small.txt\nls ../*.txt\nls /modes/s*\ncd /\nls /e*\n\
                  verbose\nls /attrs\ncd nope\ncd /small.txt\ndelete /small.txt\nwhat\nfrobnicate\nquit\n";
    let ours = piped_merged(&dir, RRESTORE, script);
    let reference = without_echo(&piped_merged(&dir, "/usr/sbin/restore", script));
    assert_eq!(ours, reference);
    assert!(ours.contains("attrs/         empty-dir/     hl-c-at-top    modes/         sparse \n"));
    assert_eq!(tree_of(&dir), BTreeSet::new(), "nothing written");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn marks_and_verbose_listing() {
    let dir = scratch("marks");
    let s = piped(
        &dir,
        &[],
        "cd links\nadd hl-a\nverbose\nls\ncd /\nls /dev\nadd /dev\ndelete /dev/fifo\nverbose\nls /dev\nls links\n",
    );
    assert!(s.ok, "{}", s.stderr);
    assert_eq!(
        s.stdout,
        "verbose mode on\n\
         ./links:\n18  ./     2  ../   19 *hl-a  19  hl-b \n\n\
         ./dev:\n22 ./         26 big-char#  24 null-like#\n 2 ../        23 fifo=      25 sda1-like#\n\n\
         verbose mode off\n\
         ./dev:\n*big-char#   fifo=      *null-like# *sda1-like#\n\n\
         ./links:\n*hl-a  hl-b\n\n"
    );
    assert_eq!(s.stderr, "");
    assert_eq!(tree_of(&dir), BTreeSet::new(), "add writes nothing");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn piped_extract_writes_only_what_was_asked() {
    require_root();
    let dir = scratch("extract");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let s = piped(
        &dir,
        &[],
        "cd links\nadd hl-a\nadd ../small.txt\nadd /attrs\ndelete /attrs/acl-file\n\
         add /dev /fast-symlink /modes/set*\ndelete /modes/setgid-dir\nextract\nquit\n",
    );
    assert!(s.ok, "{}", s.stderr);
    assert_eq!(s.stdout, "");
    assert_eq!(s.stderr, "", "no question, no prompt, no warning");
    check_restored(
        &dir,
        &[
            "./links",
            "./links/hl-a",
            "./small.txt",
            "./attrs",
            "./attrs/acl-dir",
            "./attrs/xattr-file",
            "./dev",
            "./dev/big-char",
            "./dev/fifo",
            "./dev/null-like",
            "./dev/sda1-like",
            "./fast-symlink",
            "./modes",
            "./modes/setgid",
            "./modes/setuid",
        ],
    );
    // Not a terminal: '.' keeps its own owner and mode (restore's answer
    // at end of input), and the commands were not eaten as answers.
    assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o7777, 0o700);
    fs::remove_dir_all(&dir).unwrap();
}

use std::os::unix::fs::PermissionsExt;

#[test]
fn second_extract_rereads_the_dump_and_o_sets_dot() {
    require_root();
    let dir = scratch("twice");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let s = piped(
        &dir,
        &["-o"],
        "add links/hl-b\nextract\nadd exact-1k\nadd /links/hl-?\nextract\nxit\n",
    );
    assert!(s.ok, "{}", s.stderr);
    check_restored(
        &dir,
        &["./links", "./links/hl-a", "./links/hl-b", "./exact-1k"],
    );
    // -o: '.' gets the dump root's mode and times.
    let md = fs::metadata(&dir).unwrap();
    assert_eq!((md.mode() & 0o7777, md.mtime()), (0o755, 1672531200));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn h_adds_a_directory_without_its_contents_and_setmodes() {
    require_root();
    let dir = scratch("noh");
    let s = piped(&dir, &["-h"], "add deep/d1\nadd modes\nextract\n");
    assert!(s.ok, "{}", s.stderr);
    check_restored(&dir, &["./deep", "./deep/d1", "./modes"]);
    // setmodes puts back the dumped attributes of the selected directories.
    fs::set_permissions(dir.join("modes"), fs::Permissions::from_mode(0o700)).unwrap();
    let s = piped(&dir, &["-h"], "add modes\nsetmodes\nquit\n");
    assert!(s.ok, "{}", s.stderr);
    check_restored(&dir, &["./deep", "./deep/d1", "./modes"]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn commands_help_errors_and_abbreviations() {
    let dir = scratch("cmds");
    let s = piped(
        &dir,
        &[],
        "help\n?\nfoo\n  \nl /lin*\nc links\np\nprompt\nprompt\nD\nD\nv\nv\nadd nope\nadd 'with\ndelete /links\nls \"/names/with space\"\nextract\nquit\nls\n",
    );
    assert!(s.ok);
    let help = "Available commands are:\n\
        \tls [arg] - list directory\n\
        \tcd arg - change directory\n\
        \tpwd - print current directory\n\
        \tadd [arg] - add `arg' to list of files to be extracted\n\
        \tdelete [arg] - delete `arg' from list of files to be extracted\n\
        \textract - extract requested files\n\
        \tsetmodes - set modes of requested directories\n\
        \tquit - immediately exit program\n\
        \twhat - list dump header information\n\
        \tverbose - toggle verbose flag (useful with ``ls'')\n\
        \tprompt - toggle the prompt display\n\
        \thelp or `?' - print this list\n\
        If no `arg' is supplied, the current directory is used\n";
    assert_eq!(
        s.stdout,
        format!(
            "{help}{help}./links:\nhl-a hl-b\n\n/links\nprompt mode on\nprompt mode off\n\
             debugging mode on\ndebugging mode off\nverbose mode on\nverbose mode off\n\
             with space\n"
        )
    );
    assert_eq!(
        s.stderr,
        "foo: unknown command; type ? for help\n\
         ./links/nope is not on the tape\n\
         missing '\n\
         ./links/with is not on the tape\n\
         ./links: not on extraction list\n\
         no files are marked for extraction (use add)\n"
    );
    // End of input quits too.
    let s = piped(&dir, &[], "pwd\n");
    assert!(s.ok);
    assert_eq!(s.stdout, "/\n");
    fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------
// Pseudo-terminal sessions.
// ---------------------------------------------------------------------

/// A child on a pseudo-terminal and everything it wrote so far. A reader
/// thread collects the output and answers rustyline's cursor-position
/// queries as a terminal would.
struct Pty {
    master: fs::File,
    seen: Arc<(Mutex<Vec<u8>>, Condvar)>,
    pos: usize,
    child: std::process::Child,
}

const PROMPT: &str = "rrestore > ";

/// A generous bound so that a broken shell fails the test instead of
/// hanging it; nothing depends on how fast the shell is.
const PATIENCE: Duration = Duration::from_secs(60);

impl Pty {
    /// `rrestore -i -f DUMP` with the terminal as standard input and output.
    fn spawn(cwd: &Path) -> Pty {
        let mut cmd = Command::new(RRESTORE);
        cmd.args(["-i", "-f"]).arg(dump());
        Pty::spawn_command(cwd, cmd)
    }

    /// `rrestore -i -f -` reading the dump from standard input, with the
    /// terminal as its controlling terminal (made so by setsid(1) --ctty,
    /// before the shell redirects standard input from the dump): commands
    /// come from /dev/tty.
    fn spawn_dump_on_stdin(cwd: &Path) -> Pty {
        let mut cmd = Command::new("setsid");
        cmd.args([
            "--ctty",
            "sh",
            "-c",
            r#"exec "$0" -i -f - < "$1""#,
            RRESTORE,
        ])
        .arg(dump());
        Pty::spawn_command(cwd, cmd)
    }

    fn spawn_command(cwd: &Path, mut cmd: Command) -> Pty {
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        let master: OwnedFd =
            openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let slave: OwnedFd = rustix::fs::open(
            name.as_c_str(),
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        let slave = fs::File::from(slave);
        let child = cmd
            .current_dir(cwd)
            .env("TERM", "xterm")
            .env("TZ", "UTC")
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave)
            .spawn()
            .unwrap();
        let master = fs::File::from(master);
        let seen = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let (mut rd, mut answer, seen2) = (
            master.try_clone().unwrap(),
            master.try_clone().unwrap(),
            Arc::clone(&seen),
        );
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                // EIO once the child has exited and the slave is closed.
                let n = match rd.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let (lock, cv) = &*seen2;
                let mut all = lock.lock().unwrap();
                let before = all.len().saturating_sub(3);
                all.extend_from_slice(&buf[..n]);
                let queries = all[before..].windows(4).filter(|w| w == b"\x1b[6n").count();
                for _ in 0..queries {
                    let _ = answer.write_all(b"\x1b[1;1R");
                }
                cv.notify_all();
            }
        });
        Pty {
            master,
            seen,
            pos: 0,
            child,
        }
    }

    /// Waits until `text` appears in the output after what was already
    /// matched; returns the output up to and including it.
    fn expect(&mut self, text: &str) -> String {
        let (lock, cv) = &*self.seen;
        let deadline = Instant::now() + PATIENCE;
        let mut all = lock.lock().unwrap();
        loop {
            if let Some(i) = find(&all[self.pos..], text.as_bytes()) {
                let got =
                    String::from_utf8_lossy(&all[self.pos..self.pos + i + text.len()]).into_owned();
                self.pos += i + text.len();
                return got;
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "pty: {text:?} never came; output so far:\n{}",
                String::from_utf8_lossy(&all[self.pos..])
            );
            all = cv.wait_timeout(all, deadline - now).unwrap().0;
        }
    }

    /// Finishes the line being typed with `rest` and Enter, and waits for
    /// the next prompt; returns what was printed in between. (rustyline
    /// redraws the prompt with every key, so only a prompt after the
    /// accepted line's newline is a new one; keys sent before it would
    /// reach the terminal before line editing is back on.)
    fn line(&mut self, rest: &str) -> String {
        self.send(rest);
        self.send("\r");
        self.expect("\r\n");
        self.expect(PROMPT)
    }

    fn send(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).unwrap();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn terminal_session_with_completion() {
    require_root();
    let dir = scratch("pty");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let mut t = Pty::spawn(&dir);
    t.expect(PROMPT);
    let listing = t.line("ls");
    assert!(listing.contains("hundred-k.txt"), "{listing}");
    assert!(listing.contains("links/"), "{listing}");

    // A unique completion: the directory name with its '/'.
    t.send("cd lin\t");
    t.expect("links/");
    t.line("");
    assert!(t.line("pwd").contains("/links\r\n"));

    // Two candidates: a second TAB lists them.
    t.send("add hl-\t\t");
    let shown = t.expect("hl-b");
    assert!(shown.contains("hl-a"), "{shown}");
    // The line is drawn again under the list.
    t.expect("rrestore > add hl-");
    t.line("a");
    // A command name, then a path from the root with its space escaped.
    t.send("ad\t");
    t.expect("add ");
    t.send("/names/wi\t");
    t.expect("/names/with\\ space ");
    t.line("");
    assert!(t.line("ls").contains("*hl-a"));

    t.send("extract\r");
    t.expect("Specify next volume # (none if no more volumes): ");
    t.send("1\r");
    t.expect("set owner/mode for '.'? [yn] ");
    t.send("n\r");
    t.expect(PROMPT);
    // History: Up brings back the last line; Ctrl-U clears it.
    t.send("\x1b[A");
    t.expect("extract");
    t.send("\x15quit\r");
    let status = t.child.wait().unwrap();
    assert!(status.success());
    check_restored(
        &dir,
        &["./links", "./links/hl-a", "./names", "./names/with space"],
    );
    assert_eq!(
        fs::metadata(&dir).unwrap().mode() & 0o7777,
        0o700,
        "answered n"
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// The dump on standard input (`-f -`): the commands come from the
/// controlling terminal, questions take their defaults, and only what was
/// added is extracted.
#[test]
fn dump_on_stdin_takes_commands_from_the_terminal() {
    require_root();
    let dir = scratch("stdin-tty");
    let mut t = Pty::spawn_dump_on_stdin(&dir);
    t.expect(PROMPT);
    t.send("ls links\r");
    let listing = t.expect(PROMPT);
    assert!(listing.contains("hl-a"), "{listing}");
    t.send("add links/hl-a\r");
    t.expect(PROMPT);
    t.send("extract\r");
    t.expect(PROMPT);
    t.send("quit\r");
    let status = t.child.wait().unwrap();
    assert!(status.success(), "{status}");
    check_restored(&dir, &["./links", "./links/hl-a"]);
    fs::remove_dir_all(&dir).unwrap();
}

/// With the dump on standard input and no terminal to read commands from,
/// the shell says so and fails instead of reading commands from the dump.
#[test]
fn dump_on_stdin_without_a_terminal_is_refused() {
    let dir = scratch("stdin-notty");
    // setsid(1) without --ctty: a new session with no controlling terminal.
    let out = Command::new("setsid")
        .args(["sh", "-c", r#"exec "$0" -i -f - < "$1""#, RRESTORE])
        .arg(dump())
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("no terminal to read commands from"), "{err}");
    assert!(tree_of(&dir).is_empty(), "nothing written");
    fs::remove_dir_all(&dir).unwrap();
}
