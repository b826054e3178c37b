//! The stick image: an MBR (syslinux's boot code, one active FAT32 partition at 1 MiB)
//! and a FAT filesystem holding syslinux, the kernel and the initramfs. BIOS boot with
//! syslinux because it needs no tree of bootloader modules and installs onto an image
//! file through mtools, without a loop device; mkfs.vfat, mcopy and syslinux come from
//! Debian's dosfstools, mtools and syslinux packages.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::RescueError;

const MIB: u64 = 1 << 20;
/// The partition starts here (sector 2048), the usual alignment.
const PART_START: u64 = MIB;
/// FAT32 needs at least 65525 clusters; 64 MiB with 512-byte clusters has room.
const MIN_PART: u64 = 64 * MIB;

/// Where Debian (and others) keep syslinux's MBR boot code.
const MBR_BIN: &[&str] = &[
    "/usr/lib/syslinux/mbr/mbr.bin",
    "/usr/lib/SYSLINUX/mbr.bin",
    "/usr/share/syslinux/mbr.bin",
];

/// The syslinux configuration: a boot prompt (extra kernel words may be typed after
/// `rescue`), consoles on the screen and on the first serial port.
pub fn syslinux_cfg(append: &str) -> String {
    format!(
        "SERIAL 0 115200\n\
         DEFAULT rescue\n\
         PROMPT 1\n\
         TIMEOUT 20\n\
         SAY rrecover rescue stick: Enter boots; `rescue rrecover.auto=1 rrecover.share=DEV rrecover.target=DISK` recovers unattended\n\
         LABEL rescue\n\
         \x20 KERNEL /vmlinuz\n\
         \x20 INITRD /initrd.img\n\
         \x20 APPEND console=tty0 console=ttyS0,115200 {append}\n"
    )
}

/// Writes the stick to `out` (through `out.tmp`, renamed when complete).
pub fn write(out: &Path, kernel: &Path, initrd: &Path, append: &str) -> Result<(), RescueError> {
    let mbr = MBR_BIN
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            RescueError::MissingTools("syslinux's mbr.bin (Debian: syslinux-common)".into())
        })?;
    let payload = len(kernel)? + len(initrd)?;
    let part = (payload + payload / 4 + 8 * MIB)
        .max(MIN_PART)
        .div_ceil(MIB)
        * MIB;
    let tmp = partial(out)?;
    build(tmp.path(), &mbr, part, kernel, initrd, append)?;
    finish(tmp, out)
}

/// A file beside `out` that becomes `out` only when complete (removed on any error).
fn partial(out: &Path) -> Result<tempfile::NamedTempFile, RescueError> {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".rrecover-partial.")
        .tempfile_in(dir)
        .map_err(|e| RescueError::io(dir, e))
}

fn finish(tmp: tempfile::NamedTempFile, out: &Path) -> Result<(), RescueError> {
    tmp.persist(out)
        .map(drop)
        .map_err(|e| RescueError::io(out, e.error))
}

fn build(
    img: &Path,
    mbr: &Path,
    part: u64,
    kernel: &Path,
    initrd: &Path,
    append: &str,
) -> Result<(), RescueError> {
    let mut f = std::fs::File::create(img).map_err(|e| RescueError::io(img, e))?;
    f.set_len(PART_START + part)
        .map_err(|e| RescueError::io(img, e))?;
    let code = std::fs::read(mbr).map_err(|e| RescueError::io(mbr, e))?;
    let sector = mbr_sector(&code, PART_START / 512, part / 512);
    f.seek(SeekFrom::Start(0))
        .and_then(|_| f.write_all(&sector))
        .and_then(|()| f.sync_all())
        .map_err(|e| RescueError::io(img, e))?;
    drop(f);
    let img_s = img.to_string_lossy().into_owned();
    let sectors = (PART_START / 512).to_string();
    let kib = (part / 1024).to_string();
    run(
        "mkfs.vfat",
        &[
            "-F", "32", "-n", "RRESCUE", "-h", &sectors, "--offset", &sectors, &img_s, &kib,
        ],
    )?;
    let fat = format!("{img_s}@@{PART_START}");
    let cfg =
        tempfile::NamedTempFile::new().map_err(|e| RescueError::io(&std::env::temp_dir(), e))?;
    std::fs::write(cfg.path(), syslinux_cfg(append)).map_err(|e| RescueError::io(cfg.path(), e))?;
    let copies = [
        (kernel.to_string_lossy().into_owned(), "::/vmlinuz"),
        (initrd.to_string_lossy().into_owned(), "::/initrd.img"),
        (cfg.path().to_string_lossy().into_owned(), "::/syslinux.cfg"),
    ];
    for (from, to) in &copies {
        run("mcopy", &["-o", "-i", &fat, from, to])?;
    }
    run(
        "syslinux",
        &["--offset", &PART_START.to_string(), "--install", &img_s],
    )
}

/// Where Debian keeps isolinux (package isolinux) and syslinux's BIOS modules.
const ISOLINUX_BIN: &str = "/usr/lib/ISOLINUX/isolinux.bin";
const ISOHDPFX_BIN: &str = "/usr/lib/ISOLINUX/isohdpfx.bin";
const LDLINUX_C32: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";

/// Writes an ISO 9660 image (isolinux, El Torito, BIOS) with the same boot entry; it is
/// also "hybrid" (isohdpfx.bin MBR), so it can be written to a USB stick as well.
/// xorriso (Debian: xorriso) makes it.
pub fn write_iso(
    out: &Path,
    kernel: &Path,
    initrd: &Path,
    append: &str,
) -> Result<(), RescueError> {
    for f in [ISOLINUX_BIN, ISOHDPFX_BIN, LDLINUX_C32] {
        if !Path::new(f).is_file() {
            return Err(RescueError::MissingTools(format!(
                "{f} (Debian: isolinux, syslinux-common)"
            )));
        }
    }
    let tree = tempfile::Builder::new()
        .prefix("rrecover-iso.")
        .tempdir()
        .map_err(|e| RescueError::io(&std::env::temp_dir(), e))?;
    let t = tree.path();
    let dir = t.join("isolinux");
    std::fs::create_dir(&dir).map_err(|e| RescueError::io(&dir, e))?;
    let copies = [
        (Path::new(ISOLINUX_BIN), dir.join("isolinux.bin")),
        (Path::new(LDLINUX_C32), dir.join("ldlinux.c32")),
        (kernel, t.join("vmlinuz")),
        (initrd, t.join("initrd.img")),
    ];
    for (from, to) in &copies {
        std::fs::copy(from, to).map_err(|e| RescueError::io(from, e))?;
    }
    let cfg = dir.join("isolinux.cfg");
    std::fs::write(&cfg, syslinux_cfg(append)).map_err(|e| RescueError::io(&cfg, e))?;
    let tmp = partial(out)?;
    run(
        "xorriso",
        &[
            "-as",
            "mkisofs",
            "-quiet",
            "-o",
            &tmp.path().to_string_lossy(),
            "-V",
            "RRESCUE",
            "-b",
            "isolinux/isolinux.bin",
            "-c",
            "isolinux/boot.cat",
            "-no-emul-boot",
            "-boot-load-size",
            "4",
            "-boot-info-table",
            "-isohybrid-mbr",
            ISOHDPFX_BIN,
            &t.to_string_lossy(),
        ],
    )?;
    finish(tmp, out)
}

/// Sector 0: boot code, then one active partition of type 0x0c (FAT32, LBA).
pub fn mbr_sector(code: &[u8], start: u64, sectors: u64) -> [u8; 512] {
    let mut s = [0u8; 512];
    let n = code.len().min(440);
    s[..n].copy_from_slice(&code[..n]);
    s[440..444].copy_from_slice(&0x7272_6563u32.to_le_bytes()); // disk identifier "cerr"
    let e = &mut s[446..462];
    e[0] = 0x80;
    e[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]); // CHS unused: LBA only
    e[4] = 0x0c;
    e[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
    e[8..12].copy_from_slice(&(start as u32).to_le_bytes());
    e[12..16].copy_from_slice(&(sectors as u32).to_le_bytes());
    s[510] = 0x55;
    s[511] = 0xaa;
    s
}

fn len(p: &Path) -> Result<u64, RescueError> {
    Ok(std::fs::metadata(p)
        .map_err(|e| RescueError::io(p, e))?
        .len())
}

fn run(tool: &str, args: &[&str]) -> Result<(), RescueError> {
    let out = Command::new(tool)
        .args(args)
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .map_err(|e| RescueError::Tool {
            tool: tool.into(),
            why: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(RescueError::Tool {
            tool: format!("{tool} {}", args.join(" ")),
            why: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbr_has_one_active_fat32_partition() {
        let s = mbr_sector(&[0x33; 446], 2048, 131072);
        assert_eq!(s[439], 0x33);
        assert_eq!(s[440..444], *b"cerr");
        assert_eq!(s[446], 0x80);
        assert_eq!(s[450], 0x0c);
        assert_eq!(u32::from_le_bytes(s[454..458].try_into().unwrap()), 2048);
        assert_eq!(u32::from_le_bytes(s[458..462].try_into().unwrap()), 131072);
        assert_eq!(s[462..510], [0; 48]);
        assert_eq!(s[510..], [0x55, 0xaa]);
    }

    #[test]
    fn the_config_boots_both_consoles_with_the_extra_words() {
        let c = syslinux_cfg("rrecover.auto=1");
        assert!(c.contains("SERIAL 0 115200"));
        assert!(c.contains("APPEND console=tty0 console=ttyS0,115200 rrecover.auto=1\n"));
    }
}
