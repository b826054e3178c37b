//! What the VM tests share: the Debian kernel (downloaded once with apt-get, cached in
//! the target directory), the static binaries, and qemu runs with a hard time limit
//! whose serial console is read back. Every missing tool fails the test loudly.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Runs a command, panicking with its output when it fails.
pub fn sh(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is it installed? see .ci/run)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub struct Kernel {
    pub vmlinuz: PathBuf,
    pub modules: PathBuf,
    pub version: String,
}

static KERNEL: Mutex<Option<(PathBuf, PathBuf, String)>> = Mutex::new(None);

/// Debian's current amd64 kernel: `apt-get download` of the package linux-image-amd64
/// depends on, `dpkg -x`, and depmod for the modules.dep the package leaves out.
pub fn debian_kernel() -> Kernel {
    let mut k = KERNEL.lock().unwrap_or_else(|p| p.into_inner());
    if k.is_none() {
        *k = Some(fetch_kernel());
    }
    let (vmlinuz, modules, version) = k.clone().unwrap();
    Kernel {
        vmlinuz,
        modules,
        version,
    }
}

fn fetch_kernel() -> (PathBuf, PathBuf, String) {
    let deps = sh(Command::new("apt-cache").args(["depends", "linux-image-amd64"]));
    let pkg = deps
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|p| p.starts_with("linux-image-") && p.ends_with("-amd64"))
        .unwrap_or_else(|| panic!("no linux-image-*-amd64 in apt-cache depends:\n{deps}"))
        .to_owned();
    let version = pkg.strip_prefix("linux-image-").unwrap().to_owned();
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("kernel-{version}"));
    let root = cache.join("root");
    let modules = root.join("lib/modules").join(&version);
    let vmlinuz = root.join("boot").join(format!("vmlinuz-{version}"));
    if !cache.join("ready").exists() {
        let _ = std::fs::remove_dir_all(&cache);
        std::fs::create_dir_all(&cache).unwrap();
        sh(Command::new("apt-get")
            .args(["download", "-q", &pkg])
            .current_dir(&cache));
        let deb = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "deb"))
            .expect("apt-get download left no .deb");
        sh(Command::new("dpkg").arg("-x").arg(&deb).arg(&root));
        sh(Command::new("depmod").arg("-b").arg(&root).arg(&version));
        std::fs::remove_file(&deb).unwrap();
        std::fs::write(cache.join("ready"), "").unwrap();
    }
    (vmlinuz, modules, version)
}

/// The static musl rdump, rrestore and rrecover (.ci/run builds them before the tests).
pub fn static_bin_dir() -> PathBuf {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/x86_64-unknown-linux-musl/release");
    for b in ["rdump", "rrestore", "rrecover"] {
        assert!(
            dir.join(b).is_file(),
            "{} is missing: build the static binaries first with \
             CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release \
             --target x86_64-unknown-linux-musl -p rdump -p rrestore -p rrecover",
            dir.join(b).display()
        );
    }
    dir
}

/// Kills qemu if the test ends early (a panic): no VM outlives its test.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Boots qemu (TCG, no display, serial console into a file, no reboot) with these
/// extra arguments; returns the serial output once the VM powered off. Past `limit`
/// the VM is killed and the test fails with what the console showed.
pub fn qemu(name: &str, args: &[String], limit: Duration) -> String {
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.serial.log"));
    let _ = std::fs::remove_file(&log);
    let started = Instant::now();
    let child = Command::new("qemu-system-x86_64")
        .args([
            "-machine",
            "pc",
            "-accel",
            "tcg",
            "-m",
            "512",
            "-nodefaults",
        ])
        .args(["-display", "none", "-monitor", "none", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", log.display()))
        .args(args)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start qemu-system-x86_64: {e} (Debian: qemu-system-x86)")
        });
    let mut vm = Reap(child);
    let status = loop {
        if let Some(s) = vm.0.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > limit {
            let _ = vm.0.kill();
            let out = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("{name}: the VM did not power off within {limit:?}; its console:\n{out}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{name}: qemu {status}; console:\n{out}");
    eprintln!("phase {name}: {:.1} s", started.elapsed().as_secs_f64());
    out
}

/// The qemu arguments that attach a raw image as a USB stick on an EHCI controller,
/// booted first (SeaBIOS boots USB storage).
pub fn usb_stick(img: &Path) -> Vec<String> {
    vec![
        "-device".into(),
        "usb-ehci,id=ehci".into(),
        "-drive".into(),
        format!("if=none,id=stick,format=raw,file={}", img.display()),
        "-device".into(),
        "usb-storage,bus=ehci.0,drive=stick,bootindex=0".into(),
    ]
}

/// A raw image as a virtio disk (it is /dev/vda, vdb... in attach order).
pub fn virtio_disk(img: &Path) -> Vec<String> {
    vec![
        "-drive".into(),
        format!("if=virtio,format=raw,file={}", img.display()),
    ]
}

/// Lines of the console after `prefix`, without it.
pub fn tagged(console: &str, prefix: &str) -> Vec<String> {
    console
        .lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix(prefix))
        .map(str::to_owned)
        .collect()
}
