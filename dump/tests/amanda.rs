//! Amanda 3.5 (Debian's amanda-server and amanda-client) backs up and
//! recovers an ext4 loop device with rdump and rrestore as its dump and
//! restore: levels 0, 1 and 2, client and server compression, the three
//! estimate methods, a failing dump, amrecover and amfetchdump.
//!
//! Amanda runs the programs compiled into it (/sbin/dump, /sbin/restore)
//! and keeps its configuration in /etc/amanda, /etc/amandahosts and
//! /etc/dumpdates. So the whole scenario runs in a private mount namespace
//! (held by an `unshare` process, entered with `nsenter`) where rdump and
//! rrestore are bind-mounted over /sbin/dump and /sbin/restore and
//! an overlay catches every write to /etc: nothing outside changes, even if
//! the test dies (the namespace goes with its holder). A watcher checks
//! that every Amanda process it sees runs inside the namespace and that
//! every `dump`/`restore` there is rdump/rrestore.
//!
//! Needs root and the Debian packages amanda-server, amanda-client,
//! e2fsprogs, util-linux; a missing tool fails the test.

mod common;

use common::{differences_after_rebuild, rdump_bin, require_root, tool, ImageSpec};
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The Amanda configuration's name.
const CONF: &str = "T";
/// Longest an Amanda command may take before the test calls it hung.
const HANG_LIMIT_SECS: &str = "300";
/// Names of the programs Amanda runs for a backup or a recovery.
const AMANDA_PROGRAMS: &[&str] = &[
    "amdump",
    "driver",
    "planner",
    "dumper",
    "taper",
    "chunker",
    "amandad",
    "sendbackup",
    "sendsize",
    "calcsize",
    "amindexd",
    "amidxtaped",
    "amrecover",
    "amfetchdump",
];

/// A loop device over an image, detached when dropped.
struct Loop(String, Node);

/// The owner group and mode of a device node, to put back: the node
/// outlives the device.
struct Node {
    gid: u32,
    mode: u32,
}

impl Loop {
    fn new(image: &Path) -> Loop {
        let out = run_ok(
            Command::new(tool("losetup"))
                .args(["-f", "--show"])
                .arg(image),
        );
        let dev = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let m = fs::metadata(&dev).unwrap();
        let node = Node {
            gid: m.gid(),
            mode: m.mode() & 0o7777,
        };
        // Amanda's client runs dump as the `backup` user, of group disk.
        run_ok(Command::new("chgrp").args(["disk", &dev]));
        run_ok(Command::new("chmod").args(["0660", &dev]));
        Loop(dev, node)
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = std::os::unix::fs::chown(&self.0, None, Some(self.1.gid));
        let _ = fs::set_permissions(&self.0, fs::Permissions::from_mode(self.1.mode));
        let _ = Command::new(tool("losetup")).args(["-d", &self.0]).status();
    }
}

/// The process holding the private mount namespace; it exits (and the
/// namespace with it) when its standard input closes or it is killed.
struct Namespace {
    holder: Child,
    /// /proc/PID/ns/mnt of the holder, as readlink shows it.
    id: PathBuf,
}

impl Namespace {
    fn new() -> Namespace {
        let mut holder = Command::new(tool("unshare"))
            .args(["--mount", "--propagation", "private", "--"])
            .args(["sh", "-c", "echo ready; read line"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run unshare");
        let mut line = String::new();
        BufReader::new(holder.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "unshare did not start");
        let id = fs::read_link(format!("/proc/{}/ns/mnt", holder.id())).unwrap();
        let own = fs::read_link("/proc/self/ns/mnt").unwrap();
        assert_ne!(id, own, "unshare did not make a new mount namespace");
        Namespace { holder, id }
    }

    /// nsenter into the namespace, with the environment pinned: Amanda's
    /// programs are found on PATH, and names are UTF-8 for amrecover.
    fn nsenter(&self) -> Command {
        let mut cmd = Command::new(tool("nsenter"));
        cmd.env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL");
        cmd
    }

    /// `sh -c script` inside the namespace, as root.
    fn sh(&self, script: &str) -> Command {
        let mut cmd = self.nsenter();
        cmd.arg("-t").arg(self.holder.id().to_string()).args([
            "-m",
            "--",
            "timeout",
            HANG_LIMIT_SECS,
            "sh",
            "-c",
            script,
        ]);
        cmd
    }

    /// `sh -c script` inside the namespace as Amanda's user `backup`.
    fn backup(&self, script: &str) -> Command {
        let mut cmd = self.nsenter();
        cmd.arg("-t")
            .arg(self.holder.id().to_string())
            .args(["-m", "--", "timeout", HANG_LIMIT_SECS])
            .args(["runuser", "-u", "backup", "--", "sh", "-c", script]);
        cmd
    }

    /// A path inside the namespace, seen from outside it.
    fn path(&self, p: &Path) -> PathBuf {
        Path::new(&format!("/proc/{}/root", self.holder.id())).join(p.strip_prefix("/").unwrap())
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {} (124 means it hung and `timeout` ended it)\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What the process watcher saw: program name -> times seen inside the
/// namespace; and anything that broke the rules.
#[derive(Default)]
struct Sightings {
    inside: BTreeMap<String, u32>,
    problems: Vec<String>,
}

/// Scans /proc while a step runs: every Amanda program must run in the
/// namespace, and every `dump`/`restore` in the namespace must be the
/// rdump/rrestore binary (same inode).
struct Watcher {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Sightings>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    fn start(ns: &Namespace) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Sightings::default()));
        let (s, r) = (stop.clone(), seen.clone());
        let ns_id = ns.id.clone();
        let rdump = fs::metadata(rdump_bin()).unwrap().ino();
        let rrestore = fs::metadata(rdump_bin().with_file_name("rrestore"))
            .unwrap()
            .ino();
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                scan_processes(&ns_id, rdump, rrestore, &r);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        Watcher {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Sightings {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

fn scan_processes(ns_id: &Path, rdump: u64, rrestore: u64, seen: &Mutex<Sightings>) {
    let Ok(dir) = fs::read_dir("/proc") else {
        return;
    };
    for e in dir.flatten() {
        let pid = e.path();
        let Ok(comm) = fs::read_to_string(pid.join("comm")) else {
            continue;
        };
        let comm = comm.trim().to_string();
        let Ok(ns) = fs::read_link(pid.join("ns/mnt")) else {
            continue;
        };
        let inside = ns == ns_id;
        let mut seen = seen.lock().unwrap();
        if AMANDA_PROGRAMS.contains(&comm.as_str()) {
            if inside {
                *seen.inside.entry(comm).or_default() += 1;
            } else {
                seen.problems.push(format!(
                    "{comm} ({}) ran outside the namespace",
                    pid.display()
                ));
            }
        } else if inside && (comm == "dump" || comm == "restore") {
            let want = if comm == "dump" { rdump } else { rrestore };
            match fs::metadata(pid.join("exe")) {
                Ok(m) if m.ino() == want => *seen.inside.entry(comm).or_default() += 1,
                Ok(_) => seen.problems.push(format!(
                    "{comm} ({}) in the namespace is not the binary under test",
                    pid.display()
                )),
                Err(_) => {} // exited meanwhile
            }
        }
    }
}

/// Runs an Amanda step under the watcher; returns its output and what the
/// watcher saw (a rule broken fails the test here).
fn watched(ns: &Namespace, mut cmd: Command) -> (Output, Sightings) {
    let w = Watcher::start(ns);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let seen = w.finish();
    assert!(
        seen.problems.is_empty(),
        "Amanda left the namespace: {:?}",
        seen.problems
    );
    (out, seen)
}

/// The scratch tree, readable by `backup` where Amanda needs it.
struct Work {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Work {
    fn new() -> Work {
        let dir = tempfile::Builder::new()
            .prefix("rdump-amanda-")
            .tempdir_in("/tmp")
            .unwrap();
        let root = dir.path().to_path_buf();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        let uid = id("-u");
        let gid = id("-g");
        for d in [
            "varlib",
            "varlog",
            "tmpam",
            "holding",
            "state",
            "state/log",
            "vtapes",
            "amtmp",
        ] {
            let p = root.join(d);
            fs::create_dir(&p).unwrap();
            std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
        }
        fs::set_permissions(root.join("tmpam"), fs::Permissions::from_mode(0o700)).unwrap();
        // The client's record of its estimates, as the package installs it.
        fs::write(root.join("varlib/amandates"), "").unwrap();
        std::os::unix::fs::chown(root.join("varlib/amandates"), Some(uid), Some(gid)).unwrap();
        for i in 1..=SLOTS {
            let p = root.join(format!("vtapes/slot{i}"));
            fs::create_dir(&p).unwrap();
            std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
        }
        for d in ["etc-up", "etc-work", "mnt", "stage"] {
            fs::create_dir(root.join(d)).unwrap();
        }
        if std::env::var_os("RDUMP_AMANDA_KEEP").is_some() {
            // For a post-mortem: Amanda's debug logs are under varlog/.
            eprintln!("keeping {}", dir.keep().display());
            return Work {
                _dir: tempfile::tempdir().unwrap(),
                root,
            };
        }
        Work { _dir: dir, root }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

/// Virtual tapes: one per amdump run and a few spare.
const SLOTS: u32 = 8;

fn id(flag: &str) -> u32 {
    let out = run_ok(Command::new("id").args([flag, "backup"]));
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// amanda.conf: chg-disk virtual tapes, a holding disk, and one dumptype
/// per combination tested.
fn amanda_conf(w: &Work) -> String {
    let r = w.root.display();
    format!(
        r#"org "{CONF}"
mailto ""
dumpuser "backup"
inparallel 2
dumpcycle 0
runspercycle 1
tapecycle {SLOTS}
runtapes 1
bumpsize 1 kbytes
bumpdays 1
tpchanger "chg-disk:{r}/vtapes"
labelstr "^{CONF}-[0-9][0-9]*$"
tapetype "DISK"
define tapetype DISK {{
  length 100 mbytes
}}
infofile "{r}/state/curinfo"
logdir "{r}/state/log"
indexdir "{r}/state/index"
holdingdisk hd {{
  directory "{r}/holding"
  use 50 mbytes
  chunksize 0
}}
define dumptype base {{
  program "DUMP"
  index yes
  record no
  estimate client
  compress none
  auth "local"
}}
define dumptype plain {{
  base
  record yes
}}
define dumptype client-gzip {{
  base
  compress client fast
  estimate server
}}
define dumptype server-gzip {{
  base
  compress server fast
  estimate calcsize
}}
"#
    )
}

/// Mounts and files of the namespace: /etc under an overlay, Amanda's
/// state directories on scratch ones, rdump and rrestore over dump and
/// restore, the loop device mounted (calcsize walks a mounted tree).
fn set_up_namespace(ns: &Namespace, w: &Work, dev: &str) {
    let r = w.root.display();
    let rdump = rdump_bin();
    let rrestore = rdump_bin().with_file_name("rrestore");
    let script = format!(
        r#"set -e
mount -t overlay overlay -o lowerdir=/etc,upperdir={r}/etc-up,workdir={r}/etc-work /etc
# The package makes these; Amanda makes /tmp/amanda on first use.
mkdir -p /var/lib/amanda /var/log/amanda /tmp/amanda
mount --bind {r}/varlib /var/lib/amanda
mount --bind {r}/varlog /var/log/amanda
mount --bind {r}/tmpam /tmp/amanda
mount --bind {rdump} /sbin/dump
mount --bind {rrestore} /sbin/restore
mount {dev} {r}/mnt
mkdir -p /etc/amanda/{CONF}
cp {r}/stage/amanda.conf {r}/stage/disklist /etc/amanda/{CONF}/
cp {r}/stage/amanda-client.conf /etc/amanda/
chown -R backup:backup /etc/amanda
cp {r}/stage/amandahosts /etc/amandahosts
chown backup:backup /etc/amandahosts
chmod 600 /etc/amandahosts
: > /etc/dumpdates
chown backup:disk /etc/dumpdates
"#,
        rdump = rdump.display(),
        rrestore = rrestore.display()
    );
    run_ok(&mut ns.sh(&script));
    let v = text(&run_ok(
        &mut ns.sh("/sbin/dump --version; /sbin/restore --version"),
    ));
    let rrestore_version = format!("restore {}", env!("CARGO_PKG_VERSION"));
    assert!(
        v.contains("rdump") && v.contains(&rrestore_version),
        "rdump/rrestore are not dump/restore in the namespace: {v}"
    );
    // Outside, the reference tools are untouched.
    let outside = Command::new(tool("dump")).arg("-v").output().unwrap();
    assert!(
        !text(&outside).contains("rdump"),
        "the bind mount leaked out of the namespace"
    );
}

fn stage_config(w: &Work, disklist: &str) {
    fs::write(w.p("stage/amanda.conf"), amanda_conf(w)).unwrap();
    fs::write(w.p("stage/disklist"), disklist).unwrap();
    fs::write(
        w.p("stage/amanda-client.conf"),
        format!(
            "conf \"{CONF}\"\nindex_server \"localhost\"\ntape_server \"localhost\"\nauth \"local\"\n"
        ),
    )
    .unwrap();
    // amdump's dumps come from `backup`; amrecover runs as root.
    fs::write(
        w.p("stage/amandahosts"),
        "localhost backup amdump\nlocalhost root amindexd amidxtaped\n",
    )
    .unwrap();
}

/// One DLE's line of amreport's DUMP SUMMARY.
#[derive(Debug)]
struct SummaryLine {
    level: Option<u32>,
    orig_kb: Option<u64>,
    out_kb: Option<u64>,
    line: String,
}

/// amreport of the last run, as text.
fn report(ns: &Namespace, w: &Work, tag: &str) -> String {
    let file = w.p(&format!("amtmp/report-{tag}.txt"));
    let out = ns
        .backup(&format!("amreport {CONF} --text={}", file.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    // amreport's exit status has bit 4 set when a dump failed.
    assert!(
        matches!(out.status.code(), Some(0 | 4)),
        "amreport failed: {}",
        text(&out)
    );
    fs::read_to_string(&file).unwrap()
}

fn summary(report: &str, disk: &str) -> SummaryLine {
    let section = report
        .split("\nDUMP SUMMARY:")
        .nth(1)
        .unwrap_or_else(|| panic!("no DUMP SUMMARY in the report:\n{report}"));
    let line = section
        .lines()
        .find(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 2 && f[0] == "localhost" && f[1] == disk
        })
        .unwrap_or_else(|| panic!("no line for {disk} in the report:\n{report}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    SummaryLine {
        level: f.get(2).and_then(|v| v.parse().ok()),
        orig_kb: f.get(3).and_then(|v| v.parse().ok()),
        out_kb: f.get(4).and_then(|v| v.parse().ok()),
        line: line.to_string(),
    }
}

/// rdump's closing size line as sendbackup logged it for `disk` at `level`:
/// (blocks, hundredths of MB) of "DUMP: 320 blocks (0.31MB)".
fn dump_size_line(w: &Work, disk: &str, level: u32) -> (u64, u64) {
    let start = format!("sendbackup: start: localhost:{disk} lev {level}");
    let mut found = Vec::new();
    for e in fs::read_dir(w.p(&format!("varlog/client/{CONF}"))).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("sendbackup.") {
            continue;
        }
        let log = String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned();
        if !log.contains(&start) {
            continue;
        }
        for l in log.lines() {
            let Some(rest) = l.split("  DUMP: ").nth(1) else {
                continue;
            };
            let Some((blocks, mb)) = rest.split_once(" blocks (") else {
                continue;
            };
            let (Ok(blocks), Some(mb)) = (blocks.parse::<u64>(), mb.strip_suffix("MB)")) else {
                continue;
            };
            let (int, frac) = mb.split_once('.').unwrap();
            let hundredths = int.parse::<u64>().unwrap() * 100 + frac.parse::<u64>().unwrap();
            found.push((blocks, hundredths));
        }
    }
    assert_eq!(
        found.len(),
        1,
        "want one `DUMP: N blocks (X.XXMB)` line for {disk} level {level} in the sendbackup logs, found {found:?}"
    );
    found[0]
}

/// amreport's sizes come from our DUMP: line: ORIG-KB is its MB figure
/// rounded up (Amanda reads "(0.31MB)", not the block count, from our line
/// as from the reference dump's), OUT-KB the blocks written when nothing
/// compresses.
fn check_sizes(w: &Work, report: &str, disk: &str, level: u32, compressed: bool) {
    let s = summary(report, disk);
    assert_eq!(s.level, Some(level), "{disk}: {}", s.line);
    let (blocks, hundredths) = dump_size_line(w, disk, level);
    let orig = (hundredths * 1024).div_ceil(100);
    assert_eq!(
        s.orig_kb,
        Some(orig),
        "{disk} ORIG-KB vs DUMP: {blocks} blocks: {}",
        s.line
    );
    if !compressed {
        assert_eq!(s.out_kb, Some(blocks), "{disk} OUT-KB: {}", s.line);
    } else {
        assert!(
            s.out_kb.unwrap() < blocks,
            "{disk} was not compressed: {}",
            s.line
        );
    }
}

/// One amdump run of `dles`; amdump must end (not hang) and every
/// Amanda program must stay in the namespace.
fn amdump(ns: &Namespace, dles: &str) -> (Output, Sightings) {
    watched(ns, ns.backup(&format!("amdump {CONF} localhost {dles}")))
}

/// `amadmin find`: (datestamp as YYYYMMDDhhmmss, level, status) per dump
/// of `disk`.
fn find(ns: &Namespace, disk: &str) -> Vec<(String, u32, String)> {
    let out = run_ok(&mut ns.backup(&format!("amadmin {CONF} find localhost {disk}")));
    let mut dumps = Vec::new();
    for l in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 10 || f[3] != disk {
            continue;
        }
        let stamp: String = format!("{}{}", f[0], f[1]).replace(['-', ':'], "");
        dumps.push((stamp, f[4].parse().unwrap(), f[f.len() - 1].to_string()));
    }
    dumps.sort();
    dumps
}

/// `amfetchdump -p` of one dump fed to `rrestore -r -y -f -` in `dir`
/// (through memory, to check the stream for rdump's extension marker too).
fn fetch_and_rebuild(ns: &Namespace, disk: &str, stamp: &str, level: u32, dir: &Path) {
    let mut fetch = ns
        .backup(&format!(
            "amfetchdump -p {CONF} localhost '^{disk}$' {stamp} {level}"
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stream = Vec::new();
    fetch
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stream)
        .unwrap();
    let out = fetch.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "amfetchdump {disk} level {level} failed: {}",
        text(&out)
    );
    // rdump marks every inode header with "RDX1" (docs/FORMAT.md): the
    // dump on the virtual tape is ours, not the reference dump's.
    assert!(
        stream.windows(4).any(|w| w == b"1XDR" || w == b"RDX1"),
        "the dump of {disk} level {level} was not written by rdump"
    );
    same_listing_as_reference(&stream, disk, level);
    let mut rr = Command::new(rdump_bin().with_file_name("rrestore"))
        .args(["-r", "-y", "-f", "-"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    rr.stdin.take().unwrap().write_all(&stream).unwrap();
    let out = rr.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "rrestore -r of {disk} level {level} failed: {}",
        text(&out)
    );
}

/// Amanda's index is `restore -tvf -` of the stream: rrestore lists it
/// byte for byte as the reference restore (outside the namespace) does.
fn same_listing_as_reference(stream: &[u8], disk: &str, level: u32) {
    let list = |program: PathBuf| {
        let mut child = Command::new(&program)
            .args(["-tvf", "-"])
            .env("TZ", "UTC")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // -t reads the directories only and may close the pipe early.
        let _ = stdin.write_all(stream);
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{program:?} -tvf -: {}", text(&out));
        out.stdout
    };
    let ours = list(rdump_bin().with_file_name("rrestore"));
    let reference = list(tool("restore"));
    assert!(
        ours == reference,
        "{disk} level {level}: rrestore -tv differs from restore -tv:\n{}\n---\n{}",
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&reference)
    );
}

fn rebuild_equals(ns: &Namespace, w: &Work, disk: &str, levels: &[(String, u32)], tag: &str) {
    let dir = w.p(tag);
    fs::create_dir(&dir).unwrap();
    for (stamp, level) in levels {
        fetch_and_rebuild(ns, disk, stamp, *level, &dir);
    }
    let diffs = differences_after_rebuild(&ns.path(&w.p("mnt")), &dir);
    assert!(
        diffs.is_empty(),
        "{disk}: rebuilt from amfetchdump of levels {levels:?} differs from the source: {diffs:#?}"
    );
}

/// Names amrecover is asked for: spaces and non-ASCII (UTF-8) bytes.
const UTF8_FILE: &str = "names/café au lait.txt";
const SPACE_DIR: &str = "names/a dir with spaces";
/// Not UTF-8: amrecover cannot add it (Amanda's limitation, see
/// docs/AMANDA.md); amfetchdump | rrestore -r brings it back.
const LATIN1_FILE: &[u8] = b"names/caf\xe9 \xff.txt";

fn add_names(root: &Path) {
    use std::os::unix::ffi::OsStrExt;
    fs::create_dir_all(root.join(SPACE_DIR).join("inner")).unwrap();
    fs::write(root.join(UTF8_FILE), "utf-8 name\n").unwrap();
    fs::write(root.join(SPACE_DIR).join("inner/file one"), "one\n").unwrap();
    fs::write(root.join(SPACE_DIR).join("two"), "two\n").unwrap();
    fs::write(
        root.join(std::ffi::OsStr::from_bytes(LATIN1_FILE)),
        "latin-1\n",
    )
    .unwrap();
    // A time with nanoseconds: rrestore sets them, the reference restore
    // only microseconds, so the recovered file shows who restored it.
    run_ok(
        Command::new("touch")
            .args(["-d", "@1650000000.123456789"])
            .arg(root.join(UTF8_FILE)),
    );
}

/// Makes the changes a level 1 (then a level 2) must carry, and flushes
/// them to the device, whose page cache rdump reads through.
fn change_tree(ns: &Namespace, w: &Work, dev: &str, step: u32) {
    let root = ns.path(&w.p("mnt"));
    fs::write(
        root.join(format!("new-at-{step}")),
        format!("level {step}\n"),
    )
    .unwrap();
    fs::write(root.join("small"), format!("rewritten at {step}\n")).unwrap();
    fs::create_dir(root.join(format!("dir-at-{step}"))).unwrap();
    fs::write(
        root.join(format!("dir-at-{step}/f")),
        vec![step as u8; 70_000],
    )
    .unwrap();
    if step == 1 {
        fs::rename(root.join("k1023"), root.join("k1023-renamed")).unwrap();
        fs::remove_file(root.join("one")).unwrap();
    } else {
        fs::remove_dir_all(root.join("sub/deeper")).unwrap();
    }
    // The previous dump read these blocks through the device's cache; data
    // written through the filesystem bypasses it.
    run_ok(&mut ns.sh(&format!(
        "sync -f {}/mnt && blockdev --flushbufs {dev}",
        w.root.display()
    )));
}

/// amrecover driven through its commands on standard input (it reads them
/// from a pipe as from a terminal), in `dir`, as root.
fn amrecover(ns: &Namespace, dir: &Path, commands: &str) -> String {
    let script = format!(
        "cd '{}' && amrecover {CONF} -s localhost -t localhost -o auth=local",
        dir.display()
    );
    let mut cmd = ns.sh(&script);
    let w = Watcher::start(ns);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(commands.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let seen = w.finish();
    assert!(
        seen.problems.is_empty(),
        "amrecover left the namespace: {:?}",
        seen.problems
    );
    let t = text(&out);
    assert!(
        out.status.success(),
        "amrecover failed ({}):\n{t}",
        out.status
    );
    assert!(
        seen.inside.contains_key("amindexd") || seen.inside.contains_key("amidxtaped"),
        "no amindexd/amidxtaped seen in the namespace: {:?}",
        seen.inside
    );
    t
}

/// Files recovered by amrecover equal the source (contents, mode, owner,
/// mtime to the nanosecond, which only rrestore restores).
fn same_file(src: &Path, got: &Path) {
    let (a, b) = (fs::metadata(src).unwrap(), fs::metadata(got).unwrap());
    assert_eq!(
        fs::read(src).unwrap(),
        fs::read(got).unwrap(),
        "{}",
        got.display()
    );
    assert_eq!(a.mode(), b.mode(), "mode of {}", got.display());
    assert_eq!(
        (a.uid(), a.gid()),
        (b.uid(), b.gid()),
        "owner of {}",
        got.display()
    );
    assert_eq!(
        (a.mtime(), a.mtime_nsec()),
        (b.mtime(), b.mtime_nsec()),
        "mtime of {}",
        got.display()
    );
}

fn require_tools() {
    for t in [
        "amdump",
        "amcheck",
        "amlabel",
        "amadmin",
        "amreport",
        "amrecover",
        "amfetchdump",
        "unshare",
        "nsenter",
        "runuser",
        "timeout",
        "blockdev",
        "mount",
    ] {
        tool(t);
    }
    assert!(
        Path::new("/usr/lib/amanda/sendbackup").is_file(),
        "Amanda's client (Debian package amanda-client) is not installed"
    );
}

/// Everything the Amanda scenario works on. Fields drop in this order:
/// the namespace (its mounts go with it), the loop devices, the scratch tree.
struct Scenario {
    ns: Namespace,
    bad: Loop,
    noperm: Loop,
    dev: Loop,
    w: Work,
}

impl Scenario {
    /// An ext4 loop device with every kind of file (and names for
    /// amrecover), a device holding no filesystem, Amanda configured in the
    /// namespace, the virtual tapes labelled and amcheck clean.
    fn new() -> Scenario {
        let w = Work::new();
        let spec = ImageSpec {
            size_mb: 24,
            ..ImageSpec::new("ext4", 4096)
        };
        let image = common::build_image(spec, &w.root);
        let zeros = w.p("not-a-filesystem.img");
        fs::write(&zeros, vec![0u8; 4 << 20]).unwrap();
        let dev = Loop::new(&image);
        let bad = Loop::new(&zeros);
        // Unreadable for Amanda's user.
        let noperm = Loop::new(&zeros);
        run_ok(Command::new("chmod").args(["0600", &noperm.0]));
        // main: client estimate, no compression, recorded in dumpdates;
        // cgz: client gzip fast, server estimate; sgz: server gzip fast,
        // calcsize (named by its mount point); bad: no filesystem on it;
        // noperm: a device `backup` cannot open.
        let disklist = format!(
            "localhost main {d} plain\nlocalhost cgz {d} client-gzip\n\
             localhost sgz {m} server-gzip\nlocalhost bad {b} client-gzip\n\
             localhost noperm {n} client-gzip\n",
            d = dev.0,
            m = w.p("mnt").display(),
            b = bad.0,
            n = noperm.0
        );
        stage_config(&w, &disklist);
        let ns = Namespace::new();
        set_up_namespace(&ns, &w, &dev.0);
        let sc = Scenario {
            ns,
            bad,
            noperm,
            dev,
            w,
        };
        add_names(&sc.source());
        run_ok(&mut sc.ns.sh(&format!("sync -f {}", sc.w.p("mnt").display())));
        run_ok(&mut sc.ns.backup(&format!(
            "for i in $(seq 1 {SLOTS}); do amlabel {CONF} {CONF}-$i slot $i || exit 1; done"
        )));
        // amcheck finds the unreadable device, and nothing else.
        let out = sc
            .ns
            .backup(&format!("amcheck {CONF}"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let check = text(&out);
        let noperm = format!(
            "ERROR: localhost: Could not access noperm ({}): Permission denied",
            sc.noperm.0
        );
        assert!(
            check.contains("1 problem found") && check.contains(&noperm),
            "amcheck:\n{check}"
        );
        sc
    }

    /// The mounted source tree, seen from outside the namespace.
    fn source(&self) -> PathBuf {
        self.ns.path(&self.w.p("mnt"))
    }

    /// Run 1: level 0 of the three good DLEs, and of the two that fail;
    /// the compressed ones rebuild the tree.
    fn first_run(&self) {
        let (out, seen) = amdump(&self.ns, "main cgz sgz bad noperm");
        let rep = report(&self.ns, &self.w, "1");
        // amdump ends (`timeout` would say 124) with its failure bit (4).
        assert_eq!(
            out.status.code(),
            Some(4),
            "amdump 1: {}\n{rep}",
            text(&out)
        );
        eprintln!(
            "processes seen in the namespace during amdump: {:?}",
            seen.inside
        );
        for p in [
            "planner",
            "driver",
            "dumper",
            "amandad",
            "sendbackup",
            "dump",
        ] {
            assert!(
                seen.inside.contains_key(p),
                "{p} not seen in the namespace: {:?}",
                seen.inside
            );
        }
        self.check_failure(&rep);
        check_sizes(&self.w, &rep, "main", 0, false);
        check_sizes(&self.w, &rep, "cgz", 0, true);
        check_sizes(&self.w, &rep, "sgz", 0, true);
        for disk in ["cgz", "sgz"] {
            let dumps = find(&self.ns, disk);
            assert_eq!(dumps.len(), 1, "{disk}: {dumps:?}");
            assert_eq!(
                (dumps[0].1, dumps[0].2.as_str()),
                (0, "OK"),
                "{disk}: {dumps:?}"
            );
            let levels = [(dumps[0].0.clone(), 0)];
            rebuild_equals(&self.ns, &self.w, disk, &levels, &format!("rebuilt-{disk}"));
        }
    }

    /// amreport says the two bad DLEs FAILED, and only they, with rdump's
    /// errors.
    fn check_failure(&self, rep: &str) {
        let failures = rep
            .split("FAILURE DUMP SUMMARY:")
            .nth(1)
            .unwrap_or_else(|| panic!("no FAILURE DUMP SUMMARY:\n{rep}"));
        let failures = failures.split("STATISTICS:").next().unwrap();
        for bad in ["bad", "noperm"] {
            assert!(
                failures.contains(&format!("localhost {bad} lev 0  FAILED")),
                "{rep}"
            );
            assert!(
                find(&self.ns, bad).iter().all(|d| d.2 != "OK"),
                "the failed dump of {bad} is listed as good"
            );
        }
        for good in ["main", "cgz", "sgz"] {
            assert!(!failures.contains(&format!("localhost {good} ")), "{rep}");
        }
        for error in [
            format!(
                "DUMP: Cannot open filesystem {}: bad superblock: magic 0x0000",
                self.bad.0
            ),
            format!(
                "DUMP: Cannot open filesystem {n}: cannot open {n}: Permission denied",
                n = self.noperm.0
            ),
        ] {
            assert!(
                rep.contains(&error),
                "rdump's error `{error}` is not in the report:\n{rep}"
            );
        }
    }

    /// Run 2: a forced level 1; run 3: bumped to level 2. Returns the
    /// contents of `small` at the level 1 (the level 2 changes it).
    fn incrementals(&self) -> Vec<u8> {
        let mut level1_small = Vec::new();
        for (level, force) in [(1, "force-level-1"), (2, "force-bump")] {
            change_tree(&self.ns, &self.w, &self.dev.0, level);
            if level == 1 {
                level1_small = fs::read(self.source().join("small")).unwrap();
            }
            run_ok(
                &mut self
                    .ns
                    .backup(&format!("amadmin {CONF} {force} localhost main")),
            );
            let (out, _) = amdump(&self.ns, "main");
            let rep = report(&self.ns, &self.w, &format!("level{level}"));
            assert!(
                out.status.success(),
                "amdump of level {level} failed: {}\n{rep}",
                text(&out)
            );
            check_sizes(&self.w, &rep, "main", level, false);
        }
        level1_small
    }

    /// amadmin find lists the three levels, /etc/dumpdates (record yes) has
    /// rdump's lines for them, amadmin info their sizes. Returns the dumps.
    fn check_records(&self) -> Vec<(String, u32, String)> {
        let dumps = find(&self.ns, "main");
        let levels: Vec<u32> = dumps.iter().map(|d| d.1).collect();
        assert_eq!(levels, [0, 1, 2], "amadmin find: {dumps:?}");
        assert!(dumps.iter().all(|d| d.2 == "OK"), "amadmin find: {dumps:?}");
        let dumpdates = fs::read_to_string(self.ns.path(Path::new("/etc/dumpdates"))).unwrap();
        let info = text(&run_ok(
            &mut self
                .ns
                .backup(&format!("amadmin {CONF} info localhost main")),
        ));
        for level in 0..3 {
            assert!(
                dumpdates.contains(&format!("{} {level} ", self.dev.0)),
                "no level {level} in /etc/dumpdates:\n{dumpdates}"
            );
            let (_, hundredths) = dump_size_line(&self.w, "main", level);
            let orig = (hundredths * 1024).div_ceil(100);
            assert!(
                info.lines().any(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    f.len() >= 6 && f[0] == level.to_string() && f[4] == orig.to_string()
                }),
                "amadmin info has no level {level} of {orig} KB:\n{info}"
            );
        }
        dumps
    }

    /// amrecover of a file, a directory with spaces and a UTF-8 name with
    /// spaces, as of today.
    fn recover_today(&self) {
        let rec = self.w.p("recovered");
        fs::create_dir(&rec).unwrap();
        let session = amrecover(
            &self.ns,
            &rec,
            "sethost localhost\nsetdisk main\ncd names\nadd \"café au lait.txt\"\n\
             add a?dir*\ncd /\nadd k4097\nlist\nextract\nY\nY\nquit\n",
        );
        for f in [
            UTF8_FILE,
            "k4097",
            &format!("{SPACE_DIR}/two"),
            &format!("{SPACE_DIR}/inner/file one"),
        ] {
            assert!(
                rec.join(f).exists(),
                "amrecover did not bring back {f}:\n{session}"
            );
            same_file(&self.source().join(f), &rec.join(f));
        }
        assert!(
            !rec.join("small").exists() && !rec.join("sub").exists(),
            "amrecover extracted what was not asked for:\n{session}"
        );
    }

    /// amrecover with setdate: the file as the level 1 (`stamp`) had it.
    fn recover_as_of(&self, stamp: &str, want: Vec<u8>) {
        let d = |r: std::ops::Range<usize>| &stamp[r];
        let date = format!(
            "{}-{}-{}-{}-{}-{}",
            d(0..4),
            d(4..6),
            d(6..8),
            d(8..10),
            d(10..12),
            d(12..14)
        );
        let rec = self.w.p("recovered-level1");
        fs::create_dir(&rec).unwrap();
        let session = amrecover(
            &self.ns,
            &rec,
            &format!(
                "sethost localhost\nsetdisk main\nsetdate {date}\nadd small\nextract\nY\nY\nquit\n"
            ),
        );
        assert_eq!(
            fs::read(rec.join("small")).ok(),
            Some(want),
            "setdate {date}: `small` is not the level 1 one:\n{session}"
        );
    }
}

#[test]
fn amanda_backs_up_and_recovers_with_rdump_and_rrestore() {
    require_root();
    require_tools();
    let sc = Scenario::new();
    sc.first_run();
    let level1_small = sc.incrementals();
    let dumps = sc.check_records();
    // The chain 0, 1, 2 from the virtual tapes rebuilds today's tree.
    let chain: Vec<(String, u32)> = dumps.iter().map(|d| (d.0.clone(), d.1)).collect();
    rebuild_equals(&sc.ns, &sc.w, "main", &chain, "rebuilt-main");
    sc.recover_today();
    sc.recover_as_of(&dumps[1].0, level1_small);
}

/// dump/install-as-dump.sh, run for real in a throwaway mount namespace
/// whose /usr (and so /sbin) and dpkg database are overlays: install makes
/// /sbin/dump and /sbin/restore rdump and rrestore with the reference tools
/// diverted to .distrib, a second install changes nothing, uninstall puts
/// the reference tools back byte for byte; --dry-run and a missing --yes
/// change nothing.
#[test]
fn install_as_dump_script_diverts_and_puts_back() {
    require_root();
    for t in ["dpkg-divert", "unshare", "nsenter", "sha256sum"] {
        tool(t);
    }
    let w = tempfile::tempdir().unwrap();
    for d in ["u-up", "u-work", "d-up", "d-work"] {
        fs::create_dir(w.path().join(d)).unwrap();
    }
    let ns = Namespace::new();
    let r = w.path().display();
    run_ok(&mut ns.sh(&format!(
        "set -e
mount -t overlay overlay -o lowerdir=/usr,upperdir={r}/u-up,workdir={r}/u-work /usr
mount -t overlay overlay -o lowerdir=/var/lib/dpkg,upperdir={r}/d-up,workdir={r}/d-work /var/lib/dpkg"
    )));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("install-as-dump.sh");
    let (rdump, rrestore) = (rdump_bin(), rdump_bin().with_file_name("rrestore"));
    let cmd = |args: &str| {
        format!(
            "{} {args} {} {}",
            script.display(),
            rdump.display(),
            rrestore.display()
        )
    };
    let sums = "sha256sum /sbin/dump /sbin/restore";
    let reference = text(&run_ok(&mut ns.sh(sums)));
    let state = "/sbin/dump --version 2>&1 | head -1; /sbin/restore --version 2>&1 | head -1; dpkg-divert --list '/sbin/*'";

    run_ok(&mut ns.sh(&cmd("--dry-run install")));
    let refused = ns
        .sh(&cmd("install"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "install without --yes or a terminal went ahead"
    );
    assert!(text(&refused).contains("--yes"), "{}", text(&refused));
    assert_eq!(
        text(&run_ok(&mut ns.sh(sums))),
        reference,
        "--dry-run or a refusal changed /sbin"
    );

    run_ok(&mut ns.sh(&cmd("--yes install")));
    let installed = text(&run_ok(&mut ns.sh(state)));
    assert!(installed.contains("rdump "), "{installed}");
    assert!(
        installed.contains(&format!("restore {}", env!("CARGO_PKG_VERSION"))),
        "{installed}"
    );
    assert!(
        installed.contains("local diversion of /sbin/dump to /sbin/dump.distrib"),
        "{installed}"
    );
    let moved = text(&run_ok(
        &mut ns.sh("sha256sum /sbin/dump.distrib /sbin/restore.distrib"),
    ));
    assert_eq!(
        moved.replace(".distrib", ""),
        reference,
        "the reference tools were not kept"
    );
    run_ok(&mut ns.sh(&cmd("--yes install")));
    assert_eq!(
        text(&run_ok(&mut ns.sh(state))),
        installed,
        "a second install changed things"
    );

    run_ok(&mut ns.sh(&format!("{} --yes uninstall", script.display())));
    assert_eq!(
        text(&run_ok(&mut ns.sh(sums))),
        reference,
        "uninstall did not put the reference tools back"
    );
    let after = text(&run_ok(
        &mut ns.sh("dpkg-divert --list '/sbin/*'; ls /sbin/dump.distrib 2>&1; true"),
    ));
    assert!(!after.contains("local diversion"), "{after}");
    assert!(after.contains("No such file"), "{after}");
    // Outside the namespace nothing moved.
    assert!(!Path::new("/sbin/dump.distrib").exists());
}
