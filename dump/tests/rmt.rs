//! Remote tapes: rdump and rrestore with `-f host:file` through a real
//! OpenSSH server on 127.0.0.1 and the real rmt servers (Debian's from the
//! dump package, GNU tar's), cross-checked with the reference dump and
//! restore 0.4b47 in both directions.
//!
//! Each test starts its own sshd (package openssh-server) on a free port
//! of 127.0.0.1 only, with a host key and a client key made for it in a
//! temporary directory; `$RSH` is a script running `ssh -F` with a config
//! of the test's own, so the machine's ssh configuration is neither read
//! nor changed. sshd is stopped when the test ends, also on failure.
//!
//! Multi-volume dumps (`-M`) over rmt: each volume is a connection of its
//! own, on both sides.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    build_image, compare_trees, differences_after_rebuild, require_root, restore_ok, rrestore_bin,
    run, tool, ImageSpec, LoopDevice, Mount,
};

#[path = "../../dump-format/tests/support/script.rs"]
mod script;
use script::write_script;

const DEBIAN_RMT: &str = "/usr/sbin/rmt-dump";
const GNU_RMT: &str = "/usr/sbin/rmt-tar";
/// The ssh host alias the test's ssh config maps to 127.0.0.1.
const HOST: &str = "rmthost";

fn rmt_server(path: &str) -> &str {
    assert!(
        Path::new(path).is_file(),
        "{path} is missing: install the Debian packages dump and tar (the CI does)"
    );
    path
}

/// An sshd of the test's own on 127.0.0.1, killed when dropped.
struct Sshd {
    child: Child,
    dir: PathBuf,
}

impl Sshd {
    fn start(dir: &Path) -> Sshd {
        require_root();
        let sshd = tool("sshd");
        let keygen = tool("ssh-keygen");
        tool("ssh");
        // sshd refuses to start without its privilege separation directory
        // (made by the service's start script, which the test bypasses).
        fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        let dir = dir.join("ssh");
        fs::create_dir_all(&dir).unwrap();
        for key in ["host_key", "client_key"] {
            run(Command::new(&keygen)
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.join(key)));
        }
        fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        let port = free_port();
        // Nobody listens there: ssh to "deadhost" is refused.
        let dead = free_port();
        let d = dir.display();
        fs::write(
            dir.join("sshd_config"),
            format!(
                "ListenAddress 127.0.0.1\nPort {port}\nHostKey {d}/host_key\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM yes\nStrictModes no\n\
                 PrintMotd no\nLogLevel ERROR\n"
            ),
        )
        .unwrap();
        fs::write(
            dir.join("ssh_config"),
            format!(
                "Host {HOST}\n  HostName 127.0.0.1\n  Port {port}\n  IdentityFile {d}/client_key\n  \
                 IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  \
                 BatchMode yes\n  LogLevel ERROR\n\
                 Host deadhost\n  HostName 127.0.0.1\n  Port {dead}\n  BatchMode yes\n"
            ),
        )
        .unwrap();
        // The remote shell as dump runs it ($RSH host -l user $RMT); it
        // notes its pid so that a test can kill it mid-transfer.
        write_script(
            &dir.join("rsh"),
            format!("#!/bin/sh\necho $$ > {d}/rsh.pid\nexec ssh -F {d}/ssh_config \"$@\"\n"),
        );
        let log = fs::File::create(dir.join("sshd.log")).unwrap();
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let mut sshd = Sshd { child, dir };
        sshd.wait_ready(port);
        sshd
    }

    fn wait_ready(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            // An sshd that exited (a bad config, the port taken meanwhile)
            // fails the test with its log at once.
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "sshd exited ({status}):\n{}",
                    fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not start:\n{}",
                fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn rsh(&self) -> PathBuf {
        self.dir.join("rsh")
    }

    /// The environment for a tool reaching `rmt` through this server.
    fn env(&self, rmt: &str) -> Vec<(String, String)> {
        vec![
            ("RSH".into(), self.rsh().display().to_string()),
            ("RMT".into(), rmt.into()),
            ("TZ".into(), "UTC".into()),
        ]
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on now (the kernel's pick for an ephemeral bind).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// Runs a command with a time limit: a hang fails the test instead of
/// blocking CI.
fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    wait_within(child, limit, &format!("{cmd:?}"))
}

fn wait_within(mut child: Child, limit: Duration, what: &str) -> Output {
    // Drain the pipes on threads so that a chatty child cannot block.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status: ExitStatus = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} hung: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

const LIMIT: Duration = Duration::from_secs(120);

fn command(program: &Path, args: &[&OsStr], env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed with {}:\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn remote(path: &Path) -> String {
    format!("{HOST}:{}", path.display())
}

/// The small test filesystem without what the reference dump gets wrong.
fn plain_image(work: &Path) -> PathBuf {
    let mut spec = ImageSpec::new("ext4", 4096);
    spec.plain = true;
    build_image(spec, work)
}

/// rdump writes over rmt, to each server and in each compression, the very
/// bytes it writes to a local file; rrestore reads them back over rmt with
/// -t, -r, -x, -C and -i.
#[test]
fn rdump_and_rrestore_over_ssh_with_both_rmt_servers() {
    let work = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(work.path());
    let image = plain_image(work.path());
    let source = Mount::new(&image, &work.path().join("src"), true);
    let epoch = [("SOURCE_DATE_EPOCH".to_string(), "1700000000".to_string())];
    for server in [DEBIAN_RMT, GNU_RMT] {
        let mut env = sshd.env(rmt_server(server));
        env.extend(epoch.iter().cloned());
        for comp in ["", "-z", "-j", "-y", "--zstd"] {
            let tag = format!("{} {comp}", Path::new(server).display());
            let local = work.path().join("local.dump");
            let far = work.path().join("remote.dump");
            let mut args: Vec<&OsStr> = vec![OsStr::new("-0")];
            if !comp.is_empty() {
                args.push(OsStr::new(comp));
            }
            let mut local_args = args.clone();
            local_args.extend([OsStr::new("-f"), local.as_os_str(), image.as_os_str()]);
            ok(
                output_within(&mut command(&common::rdump_bin(), &local_args, &env), LIMIT),
                "rdump to a local file",
            );
            let target = remote(&far);
            args.extend([OsStr::new("-f"), OsStr::new(&target), image.as_os_str()]);
            let out = ok(
                output_within(&mut command(&common::rdump_bin(), &args, &env), LIMIT),
                &format!("rdump over rmt ({tag})"),
            );
            let msgs = String::from_utf8_lossy(&out.stderr);
            // dump's wording for a remote output.
            assert!(
                msgs.contains(&format!("to {} on host {HOST}\n", far.display()))
                    && msgs.contains("  DUMP: Connection to rmthost established.\n")
                    && msgs.contains(&format!("  DUMP: Closing {}\n", far.display())),
                "{tag}: {msgs}"
            );
            assert!(
                fs::read(&far).unwrap() == fs::read(&local).unwrap(),
                "{tag}: the remote dump differs from the local one"
            );
            // rrestore -t over rmt lists what it lists from the local file.
            let list = |f: &str| {
                let args = [OsStr::new("-tf"), OsStr::new(f)];
                let out = ok(
                    output_within(&mut command(&rrestore_bin(), &args, &env), LIMIT),
                    "rrestore -t",
                )
                .stdout;
                String::from_utf8_lossy(&out).into_owned()
            };
            assert_eq!(list(&target), list(&local.display().to_string()), "{tag}");
        }
        // The modes that read file data, over rmt, from the last (zstd) dump.
        let target = remote(&work.path().join("remote.dump"));
        rrestore_modes(&target, &source.dir, work.path(), &env);
    }
}

/// -r, -x, -C and -i of rrestore reading `target` over rmt.
fn rrestore_modes(target: &str, source: &Path, work: &Path, env: &[(String, String)]) {
    let rebuilt = work.join("rebuilt");
    let _ = fs::remove_dir_all(&rebuilt);
    fs::create_dir(&rebuilt).unwrap();
    let args = [OsStr::new("-rf"), OsStr::new(target)];
    ok(
        output_within(
            command(&rrestore_bin(), &args, env).current_dir(&rebuilt),
            LIMIT,
        ),
        "rrestore -r over rmt",
    );
    let diffs = differences_after_rebuild(source, &rebuilt);
    assert!(
        diffs.is_empty(),
        "rrestore -r over rmt:\n{}",
        diffs.join("\n")
    );

    let one = work.join("one");
    let _ = fs::remove_dir_all(&one);
    fs::create_dir(&one).unwrap();
    let args = [OsStr::new("-xf"), OsStr::new(target), OsStr::new("./sub")];
    ok(
        output_within(
            command(&rrestore_bin(), &args, env).current_dir(&one),
            LIMIT,
        ),
        "rrestore -x over rmt",
    );
    let diffs = compare_trees(&source.join("sub"), &one.join("sub"), &[]);
    assert!(
        diffs.is_empty(),
        "rrestore -x over rmt:\n{}",
        diffs.join("\n")
    );

    let args = [
        OsStr::new("-Cf"),
        OsStr::new(target),
        OsStr::new("-D"),
        source.as_os_str(),
    ];
    let out = output_within(&mut command(&rrestore_bin(), &args, env), LIMIT);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success()
            && !text.contains("compare errors")
            && text.contains("Connection to rmthost established.\n"),
        "rrestore -C over rmt: {text}"
    );

    // -i reopens the dump for the extraction: over rmt again.
    let shell = work.join("shell");
    let _ = fs::remove_dir_all(&shell);
    fs::create_dir(&shell).unwrap();
    let mut child = command(
        &rrestore_bin(),
        &[OsStr::new("-if"), OsStr::new(target)],
        env,
    )
    .current_dir(&shell)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"add sub\nextract\ny\nquit\n")
        .unwrap();
    ok(
        wait_within(child, LIMIT, "rrestore -i"),
        "rrestore -i over rmt",
    );
    let diffs = compare_trees(&source.join("sub"), &shell.join("sub"), &[]);
    assert!(
        diffs.is_empty(),
        "rrestore -i over rmt:\n{}",
        diffs.join("\n")
    );
}

/// The reference restore reads over rmt what rdump wrote over rmt, and
/// rrestore reads over rmt what the reference dump wrote over rmt.
#[test]
fn cross_checked_with_the_reference_tools_over_rmt() {
    let work = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(work.path());
    let image = plain_image(work.path());
    let source = Mount::new(&image, &work.path().join("src"), true);
    let env = sshd.env(rmt_server(DEBIAN_RMT));

    // rdump over rmt -> restore -t and -r over rmt.
    let ours = work.path().join("ours.dump");
    let ours_remote = remote(&ours);
    let args = [
        OsStr::new("-0"),
        OsStr::new("-f"),
        OsStr::new(&ours_remote),
        image.as_os_str(),
    ];
    ok(
        output_within(&mut command(&common::rdump_bin(), &args, &env), LIMIT),
        "rdump over rmt",
    );
    let theirs_list = ok(
        output_within(
            &mut command(
                &tool("restore"),
                &[OsStr::new("-tf"), OsStr::new(&remote(&ours))],
                &env,
            ),
            LIMIT,
        ),
        "restore -t over rmt",
    );
    let local_list = ok(
        output_within(
            &mut command(
                &tool("restore"),
                &[OsStr::new("-tf"), ours.as_os_str()],
                &env,
            ),
            LIMIT,
        ),
        "restore -t",
    );
    assert_eq!(
        String::from_utf8_lossy(&theirs_list.stdout),
        String::from_utf8_lossy(&local_list.stdout)
    );
    let rebuilt = work.path().join("ref-rebuilt");
    fs::create_dir(&rebuilt).unwrap();
    ok(
        output_within(
            command(
                &tool("restore"),
                &[OsStr::new("-rf"), OsStr::new(&remote(&ours))],
                &env,
            )
            .env("TMPDIR", work.path())
            .current_dir(&rebuilt),
            LIMIT,
        ),
        "restore -r over rmt",
    );
    let diffs = differences_after_rebuild(&source.dir, &rebuilt);
    assert!(
        diffs.is_empty(),
        "restore -r over rmt:\n{}",
        diffs.join("\n")
    );
    let args = [
        OsStr::new("-Cf"),
        OsStr::new(&ours_remote),
        OsStr::new("-D"),
        source.dir.as_os_str(),
    ];
    let cmp = output_within(&mut command(&tool("restore"), &args, &env), LIMIT);
    let text =
        String::from_utf8_lossy(&cmp.stderr).into_owned() + &String::from_utf8_lossy(&cmp.stdout);
    assert!(
        cmp.status.success() && !text.contains("compare errors"),
        "restore -C over rmt: {text}"
    );

    // A compressed rdump over rmt: the reference restore reads compressed
    // dumps over rmt only from tapes (it takes each rmt read for a whole
    // record), so it reads this one from the file rmt wrote.
    let ours_z = work.path().join("ours-z.dump");
    let ours_z_remote = remote(&ours_z);
    let args = [
        OsStr::new("-0"),
        OsStr::new("-z"),
        OsStr::new("-f"),
        OsStr::new(&ours_z_remote),
        image.as_os_str(),
    ];
    ok(
        output_within(&mut command(&common::rdump_bin(), &args, &env), LIMIT),
        "rdump -z over rmt",
    );
    let rebuilt_z = work.path().join("ref-rebuilt-z");
    fs::create_dir(&rebuilt_z).unwrap();
    restore_ok(&rebuilt_z, &[OsStr::new("-rf"), ours_z.as_os_str()], "");
    let diffs = differences_after_rebuild(&source.dir, &rebuilt_z);
    assert!(
        diffs.is_empty(),
        "restore -r of rdump -z:\n{}",
        diffs.join("\n")
    );

    // The reference dump over rmt -> rrestore over rmt, plain and zlib.
    let lo = LoopDevice::new(&image);
    for comp in [None, Some("-z")] {
        let theirs = work.path().join("theirs.dump");
        let mut args = vec![OsStr::new("-0")];
        args.extend(comp.map(OsStr::new));
        let target = remote(&theirs);
        args.extend([OsStr::new("-f"), OsStr::new(&target), lo.0.as_os_str()]);
        let out = ok(
            output_within(&mut command(&tool("dump"), &args, &env), LIMIT),
            "dump over rmt",
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("DUMP IS DONE"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rebuilt = work
            .path()
            .join(format!("our-rebuilt{}", comp.unwrap_or("")));
        fs::create_dir(&rebuilt).unwrap();
        ok(
            output_within(
                command(
                    &rrestore_bin(),
                    &[OsStr::new("-rf"), OsStr::new(&target)],
                    &env,
                )
                .current_dir(&rebuilt),
                LIMIT,
            ),
            "rrestore -r over rmt of dump's dump",
        );
        let diffs = without_lost_microseconds(differences_after_rebuild(&source.dir, &rebuilt));
        assert!(
            diffs.is_empty(),
            "rrestore -r over rmt of dump {comp:?}:\n{}",
            diffs.join("\n")
        );
    }
}

/// The volumes of a `-M` set at `base` (base001, base002, ...), read.
fn volume_files(base: &Path) -> Vec<Vec<u8>> {
    (1..1000)
        .map(|n| PathBuf::from(format!("{}{n:03}", base.display())))
        .take_while(|p| p.exists())
        .map(|p| fs::read(p).unwrap())
        .collect()
}

/// `-M` over rmt: rdump writes through rmt the very volumes it writes to
/// local files (plain and compressed), rrestore -r reads them back through
/// rmt, and the reference tools read rdump's set and write one rrestore
/// reads, all over rmt.
#[test]
fn volumes_over_rmt() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let sshd = Sshd::start(w);
    let image = plain_image(w);
    let source = Mount::new(&image, &w.join("src"), true);
    let mut env = sshd.env(rmt_server(DEBIAN_RMT));
    env.push(("SOURCE_DATE_EPOCH".to_string(), "1700000000".to_string()));
    for comp in ["", "-z"] {
        let tag = if comp.is_empty() { "plain" } else { "z" };
        let dir = w.join(format!("sets-{tag}"));
        fs::create_dir(&dir).unwrap();
        let (local, far) = (dir.join("local"), dir.join("far"));
        let far_remote = remote(&far);
        for base in [local.display().to_string(), far_remote.clone()] {
            let mut args = vec![OsStr::new("-0")];
            if !comp.is_empty() {
                args.push(OsStr::new(comp));
            }
            args.extend([OsStr::new("-B"), OsStr::new("1000"), OsStr::new("-M")]);
            args.extend([OsStr::new("-f"), OsStr::new(&base), image.as_os_str()]);
            ok(
                output_within(&mut command(&common::rdump_bin(), &args, &env), LIMIT),
                &format!("rdump -M {tag} to {base}"),
            );
        }
        let (ours, theirs) = (volume_files(&local), volume_files(&far));
        assert!(ours.len() >= 3, "{tag}: {} volumes", ours.len());
        assert!(ours == theirs, "{tag}: the volumes written over rmt differ");
        // rrestore -r -M over rmt, and the reference restore -r -M over rmt
        // (compressed: from the files, see above).
        let ours_dir = w.join(format!("ours-rebuilt-{tag}"));
        fs::create_dir(&ours_dir).unwrap();
        let args = [
            OsStr::new("-r"),
            OsStr::new("-M"),
            OsStr::new("-f"),
            OsStr::new(&far_remote),
        ];
        ok(
            output_within(
                command(&rrestore_bin(), &args, &env).current_dir(&ours_dir),
                LIMIT,
            ),
            &format!("rrestore -r -M over rmt ({tag})"),
        );
        let ref_dir = w.join(format!("ref-rebuilt-{tag}"));
        fs::create_dir(&ref_dir).unwrap();
        let from = if comp.is_empty() {
            far_remote.clone()
        } else {
            far.display().to_string()
        };
        let args = [
            OsStr::new("-r"),
            OsStr::new("-M"),
            OsStr::new("-f"),
            OsStr::new(&from),
        ];
        ok(
            output_within(
                command(&tool("restore"), &args, &env)
                    .env("TMPDIR", w)
                    .current_dir(&ref_dir)
                    .stdin(Stdio::null()),
                LIMIT,
            ),
            &format!("restore -r -M ({tag})"),
        );
        for rebuilt in [&ours_dir, &ref_dir] {
            let diffs = differences_after_rebuild(&source.dir, rebuilt);
            assert!(
                diffs.is_empty(),
                "{tag} {}:
{}",
                rebuilt.display(),
                diffs.join("\n")
            );
        }
    }
    // The reference dump -M over rmt -> rrestore -r -M over rmt.
    let lo = LoopDevice::new(&image);
    let theirs = remote(&w.join("dumps-vol"));
    let args = [
        OsStr::new("-0"),
        OsStr::new("-B"),
        OsStr::new("1000"),
        OsStr::new("-M"),
        OsStr::new("-f"),
        OsStr::new(&theirs),
        lo.0.as_os_str(),
    ];
    ok(
        output_within(&mut command(&tool("dump"), &args, &env), LIMIT),
        "dump -M over rmt",
    );
    assert!(volume_files(&w.join("dumps-vol")).len() >= 3);
    let rebuilt = w.join("ours-of-dumps-set");
    fs::create_dir(&rebuilt).unwrap();
    let args = [
        OsStr::new("-r"),
        OsStr::new("-M"),
        OsStr::new("-f"),
        OsStr::new(&theirs),
    ];
    ok(
        output_within(
            command(&rrestore_bin(), &args, &env).current_dir(&rebuilt),
            LIMIT,
        ),
        "rrestore -r -M over rmt of dump's set",
    );
    let diffs = without_lost_microseconds(differences_after_rebuild(&source.dir, &rebuilt));
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// The reference dump writes whole seconds only (a known loss, see
/// tests/stream.rs): an mtime that differs just in its fraction is not a
/// transport error.
fn without_lost_microseconds(diffs: Vec<String>) -> Vec<String> {
    diffs
        .into_iter()
        .filter(|d| {
            let Some((_, times)) = d.split_once("mtime differs: source ") else {
                return true;
            };
            let Some((src, dst)) = times.split_once(", restored ") else {
                return true;
            };
            let secs = |t: &str| t.split('.').next().map(str::to_string);
            !(secs(src) == secs(dst) && dst.ends_with(".000000"))
        })
        .collect()
}

/// An `E` reply ends either tool with the server's message and a non-zero
/// exit: a missing directory on open, a full device on write.
#[test]
fn error_replies_end_with_the_servers_message() {
    let work = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(work.path());
    let image = plain_image(work.path());
    for server in [DEBIAN_RMT, GNU_RMT] {
        let env = sshd.env(rmt_server(server));
        let missing = remote(&work.path().join("no-such-dir/x.dump"));
        let args = [
            OsStr::new("-0"),
            OsStr::new("-f"),
            OsStr::new(&missing),
            image.as_os_str(),
        ];
        let out = output_within(&mut command(&common::rdump_bin(), &args, &env), LIMIT);
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{server}: {text}");
        assert!(
            text.contains("no-such-dir/x.dump: No such file or directory")
                && text.contains("The ENTIRE dump is aborted"),
            "{server}: {text}"
        );

        let args = [OsStr::new("-tf"), OsStr::new(&missing)];
        let out = output_within(&mut command(&rrestore_bin(), &args, &env), LIMIT);
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{server}: {text}");
        assert!(
            text.contains("no-such-dir/x.dump: No such file or directory"),
            "{server}: {text}"
        );

        let full = format!("{HOST}:/dev/full");
        let args = [
            OsStr::new("-0"),
            OsStr::new("-f"),
            OsStr::new(&full),
            image.as_os_str(),
        ];
        let out = output_within(&mut command(&common::rdump_bin(), &args, &env), LIMIT);
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{server}: {text}");
        assert!(
            text.contains("write error on /dev/full after 0 blocks")
                && text.contains("rmthost: write: No space left on device"),
            "{server}: {text}"
        );
    }
}

/// The test image with 8 MiB more data, so that a transfer is still going
/// when the test cuts it.
fn big_image(work: &Path) -> PathBuf {
    let image = plain_image(work);
    let m = Mount::new(&image, &work.join("grow"), false);
    let data: Vec<u8> = (0..8u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    fs::write(m.dir.join("big"), data).unwrap();
    drop(m);
    image
}

fn mkfifo(path: &Path) {
    run(Command::new(tool("mkfifo")).arg(path));
}

fn kill_pid_in(file: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let pid = loop {
        if let Ok(text) = fs::read_to_string(file) {
            if !text.trim().is_empty() {
                break text.trim().to_string();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let pid = rustix::process::Pid::from_raw(pid.parse().expect("a pid")).expect("a positive pid");
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("kill");
}

/// The rmt server killed while rdump writes through it: rdump stops with
/// "Lost connection" and a non-zero exit instead of waiting forever. The
/// remote file is a fifo the test stops reading, so the transfer is
/// surely under way when the server dies.
#[test]
fn rdump_ends_when_the_server_dies_mid_stream() {
    let work = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(work.path());
    let image = big_image(work.path());
    let fifo = work.path().join("tape.fifo");
    mkfifo(&fifo);
    let pidfile = work.path().join("rmt.pid");
    let wrapper = work.path().join("rmt-wrap");
    write_script(
        &wrapper,
        format!(
            "#!/bin/sh\necho $$ > {}\nexec {}\n",
            pidfile.display(),
            rmt_server(DEBIAN_RMT)
        ),
    );
    let env = sshd.env(&wrapper.display().to_string());
    let target = remote(&fifo);
    let args = [
        OsStr::new("-0"),
        OsStr::new("-f"),
        OsStr::new(&target),
        image.as_os_str(),
    ];
    let child = command(&common::rdump_bin(), &args, &env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read the start of the dump, then stop reading (and keep the fifo open).
    let (tx, rx) = std::sync::mpsc::channel();
    let reader_fifo = fifo.clone();
    std::thread::spawn(move || {
        let mut f = fs::File::open(reader_fifo).unwrap();
        let mut start = vec![0u8; 256 * 1024];
        f.read_exact(&mut start).unwrap();
        tx.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(600));
        drop(f);
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the dump never started arriving");
    kill_pid_in(&pidfile);
    let out = wait_within(child, LIMIT, "rdump after its server died");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("Lost connection to remote host rmthost during write")
            && text.contains("The ENTIRE dump is aborted"),
        "{text}"
    );
}

/// The remote shell (ssh) killed while rrestore reads through it: rrestore
/// stops with "Lost connection" and a non-zero exit.
#[test]
fn rrestore_ends_when_ssh_dies_mid_stream() {
    let work = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(work.path());
    let image = big_image(work.path());
    let dump = work.path().join("big.dump");
    common::dump_to(&image, &dump, &[]);
    let fifo = work.path().join("tape.fifo");
    mkfifo(&fifo);
    let env = sshd.env(rmt_server(GNU_RMT));
    let target = remote(&fifo);
    let rebuilt = work.path().join("rebuilt");
    fs::create_dir(&rebuilt).unwrap();
    let child = command(
        &rrestore_bin(),
        &[OsStr::new("-rf"), OsStr::new(&target)],
        &env,
    )
    .current_dir(&rebuilt)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Feed the first MiB of the dump (the directories and a part of the
    // data), then nothing more while keeping the fifo open.
    let (tx, rx) = std::sync::mpsc::channel();
    let writer_fifo = fifo.clone();
    let bytes = fs::read(&dump).unwrap();
    std::thread::spawn(move || {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(writer_fifo)
            .unwrap();
        f.write_all(&bytes[..1 << 20]).unwrap();
        tx.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(600));
        drop(f);
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("rrestore never read the start of the dump");
    std::thread::sleep(Duration::from_millis(300));
    kill_pid_in(&sshd.dir.join("rsh.pid"));
    let out = wait_within(child, LIMIT, "rrestore after ssh died");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("Lost connection to remote host rmthost during read"),
        "{text}"
    );
}

/// Without `$RSH` and `$RMT`, rdump and rrestore run `ssh` from the PATH
/// and `/etc/rmt` on the remote host (here an `ssh` of the test's own,
/// first in the PATH, that adds the test's config).
#[test]
fn defaults_are_ssh_and_etc_rmt() {
    let work = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(work.path());
    assert!(
        Path::new("/etc/rmt").exists(),
        "/etc/rmt is missing: install the Debian packages tar and dump (the CI does)"
    );
    let bin = work.path().join("bin");
    fs::create_dir(&bin).unwrap();
    write_script(
        &bin.join("ssh"),
        format!(
            "#!/bin/sh\necho \"$*\" > {}/ssh-args\nexec {} -F {}/ssh_config \"$@\"\n",
            work.path().display(),
            tool("ssh").display(),
            sshd.dir.display()
        ),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let image = plain_image(work.path());
    let dump = work.path().join("default.dump");
    let target = remote(&dump);
    let run_tool = |program: &Path, args: &[&OsStr]| {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_remove("RSH")
            .env_remove("RMT")
            .env("PATH", &path);
        ok(
            output_within(&mut cmd, LIMIT),
            &format!("{program:?} {args:?}"),
        )
    };
    run_tool(
        &common::rdump_bin(),
        &[
            OsStr::new("-0"),
            OsStr::new("-j"),
            OsStr::new("-f"),
            OsStr::new(&target),
            image.as_os_str(),
        ],
    );
    let args = fs::read_to_string(work.path().join("ssh-args")).unwrap();
    assert_eq!(args.trim(), format!("{HOST} -l root /etc/rmt"));
    let listed = run_tool(&rrestore_bin(), &[OsStr::new("-tf"), OsStr::new(&target)]);
    let local = run_tool(&rrestore_bin(), &[OsStr::new("-tf"), dump.as_os_str()]);
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout),
        String::from_utf8_lossy(&local.stdout)
    );
    assert!(String::from_utf8_lossy(&listed.stdout).contains("./sub/linked2"));

    // $TAPE may name a remote file too (the default for -f on both tools).
    let via_tape = work.path().join("via-tape.dump");
    let mut cmd = Command::new(common::rdump_bin());
    cmd.args([OsStr::new("-0"), image.as_os_str()])
        .env("TAPE", remote(&via_tape))
        .env("RSH", sshd.rsh())
        .env("RMT", DEBIAN_RMT);
    ok(output_within(&mut cmd, LIMIT), "rdump with TAPE=host:file");
    let mut cmd = Command::new(rrestore_bin());
    cmd.arg("-t")
        .env("TAPE", remote(&via_tape))
        .env("RSH", sshd.rsh())
        .env("RMT", GNU_RMT);
    let listed = ok(
        output_within(&mut cmd, LIMIT),
        "rrestore -t with TAPE=host:file",
    );
    let local = run_tool(&rrestore_bin(), &[OsStr::new("-tf"), via_tape.as_os_str()]);
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout),
        String::from_utf8_lossy(&local.stdout)
    );
}

/// A host that cannot be reached: ssh's own message reaches the user and
/// both tools end at once with a non-zero exit.
#[test]
fn an_unreachable_host_is_an_error_not_a_hang() {
    let work = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(work.path());
    let env = sshd.env(rmt_server(DEBIAN_RMT));
    let image = plain_image(work.path());
    let target = "deadhost:/tmp/never.dump";
    let args = [
        OsStr::new("-0"),
        OsStr::new("-f"),
        OsStr::new(target),
        image.as_os_str(),
    ];
    for (program, args) in [
        (common::rdump_bin(), &args[..]),
        (rrestore_bin(), &[OsStr::new("-tf"), OsStr::new(target)][..]),
    ] {
        let out = output_within(&mut command(&program, args, &env), LIMIT);
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{program:?}: {text}");
        assert!(
            text.contains("Connection refused")
                && text.contains("Lost connection to remote host deadhost during open"),
            "{program:?}: {text}"
        );
    }
}
