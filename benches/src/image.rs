//! `image`: a deterministic ext4 image of "real-looking" files.
//!
//! A tree is written to a scratch directory next to the output (same disk),
//! then `mke2fs -t ext4 -d TREE IMG SIZE` builds the image without root.
//! Names, contents, sizes, modes, owners and mtimes depend only on the seed;
//! inode ctimes (which mke2fs copies from the scratch tree) are the
//! generation time, so image bytes are not identical between generations.

use std::fs::{self, File, FileTimes};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::content::{self, Style, Vocabulary};
use crate::error::{Error, IoContext};
use crate::measure::{self, Invocation};
use crate::prng::Prng;

pub const DEFAULT_SEED: u64 = 0x005E_EDD0_0B47;

/// Fraction of the image size filled with file data (the rest holds the
/// journal, inode tables, directories and some free space).
const FILL_PERCENT: u64 = 70;

#[derive(Debug, Default)]
pub struct Summary {
    pub dirs: u64,
    pub files: u64,
    pub empty_files: u64,
    pub symlinks: u64,
    pub hard_links: u64,
    pub sparse_files: u64,
    pub text_bytes: u64,
    pub records_bytes: u64,
    pub random_bytes: u64,
}

impl Summary {
    pub fn data_bytes(&self) -> u64 {
        self.text_bytes + self.records_bytes + self.random_bytes
    }

    pub fn markdown(&self, size_mb: u64, seed: u64) -> String {
        let mb = |b: u64| b as f64 / 1_048_576.0;
        format!(
            "Generated image: {size_mb} MiB ext4, seed {seed:#x}: {} directories, {} regular files \
             ({} empty, {} sparse), {} symlinks, {} extra hard links; {:.0} MiB of file data \
             ({:.0} MiB text, {:.0} MiB binary records, {:.0} MiB random/incompressible).\n",
            self.dirs,
            self.files,
            self.empty_files,
            self.sparse_files,
            self.symlinks,
            self.hard_links,
            mb(self.data_bytes()),
            mb(self.text_bytes),
            mb(self.records_bytes),
            mb(self.random_bytes),
        )
    }

    fn count(&mut self, style: Style, bytes: u64) {
        match style {
            Style::Random => self.random_bytes += bytes,
            Style::Records => self.records_bytes += bytes,
            _ => self.text_bytes += bytes,
        }
    }
}

/// Build the image at `out`, replacing any file there.
pub fn generate(size_mb: u64, seed: u64, out: &Path) -> Result<Summary, Error> {
    if size_mb < 16 {
        return Err(Error::Usage("--size-mb must be at least 16".into()));
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).ctx(|| format!("creating {}", parent.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix("bench-tree-")
        .tempdir_in(parent)
        .ctx(|| format!("creating a scratch directory in {}", parent.display()))?;
    let root = scratch.path().join("root");
    fs::create_dir(&root).ctx(|| format!("creating {}", root.display()))?;

    let mut builder = TreeBuilder::new(&root, seed, size_mb);
    builder.build()?;
    let summary = std::mem::take(&mut builder.summary);

    let _ = fs::remove_file(out);
    let inodes_needed = (summary.dirs + summary.files + summary.symlinks) * 13 / 10 + 1024;
    let default_inodes = size_mb * 1024 / 16;
    let mut args: Vec<String> = vec![
        "-q".into(),
        "-F".into(),
        "-t".into(),
        "ext4".into(),
        // What mke2fs picks for filesystems of 512 MiB and more; fixed so
        // small quick-check images have the same geometry.
        "-b".into(),
        "4096".into(),
        "-I".into(),
        "256".into(),
        "-L".into(),
        "benchimg".into(),
        "-U".into(),
        format!(
            "{:08x}-0b47-4d00-8000-{:012x}",
            seed as u32,
            seed & 0xFFFF_FFFF_FFFF
        ),
        "-E".into(),
        format!(
            "hash_seed=6f6b4d2a-0b47-4d00-8000-{:012x},root_owner=0:0",
            seed & 0xFFFF_FFFF_FFFF
        ),
    ];
    if inodes_needed > default_inodes {
        args.push("-N".into());
        args.push(inodes_needed.to_string());
    }
    args.push("-d".into());
    args.push(root.display().to_string());
    args.push(out.display().to_string());
    args.push(format!("{size_mb}M"));
    // Fixed superblock times; file times come from the tree.
    measure::run_quiet(&Invocation::new("mke2fs", args).env("E2FSPROGS_FAKE_TIME", "1700000000"))?;
    // The image must be a clean filesystem before anything is timed on it.
    measure::run_quiet(&Invocation::new(
        "e2fsck",
        ["-fn".to_string(), out.display().to_string()],
    ))?;
    Ok(summary)
}

/// 2023-01-01T00:00:00Z: base of the generated mtimes.
const BASE_TIME: u64 = 1_672_531_200;

struct TreeBuilder<'a> {
    root: &'a Path,
    prng: Prng,
    vocab: Vocabulary,
    size_mb: u64,
    /// Directories relative to the root, parents before children.
    dirs: Vec<PathBuf>,
    /// Regular files made so far (relative), for links.
    files: Vec<PathBuf>,
    summary: Summary,
}

const TOP_DIRS: &[&str] = &[
    "usr/share/doc",
    "usr/lib/python3/dist-packages",
    "usr/src/linux-headers",
    "home/alice/projects",
    "home/alice/Pictures",
    "home/bob/Documents",
    "var/log",
    "var/lib/postgresql",
    "srv/www/htdocs",
    "opt/data",
];

const SMALL_TEXT_EXT: &[(&str, Style)] = &[
    ("txt", Style::Prose),
    ("md", Style::Prose),
    ("html", Style::Prose),
    ("rs", Style::Code),
    ("py", Style::Code),
    ("c", Style::Code),
    ("h", Style::Code),
    ("js", Style::Code),
    ("conf", Style::Log),
    ("log", Style::Log),
    ("csv", Style::Csv),
];

impl<'a> TreeBuilder<'a> {
    fn new(root: &'a Path, seed: u64, size_mb: u64) -> TreeBuilder<'a> {
        let mut prng = Prng::new(seed);
        let vocab = Vocabulary::new(&mut prng);
        TreeBuilder {
            root,
            prng,
            vocab,
            size_mb,
            dirs: Vec::new(),
            files: Vec::new(),
            summary: Summary::default(),
        }
    }

    fn build(&mut self) -> Result<(), Error> {
        let budget = self.size_mb * 1_048_576 * FILL_PERCENT / 100;
        let small_budget = budget * 15 / 100;
        let medium_budget = budget * 35 / 100;
        let large_budget = budget - small_budget - medium_budget;
        // Mean small file is ~3.7 KiB (log-uniform 40 B .. 24 KiB).
        let small_count = (small_budget / 3800).max(50);
        self.make_dirs(small_count / 12 + 10)?;
        self.small_files(small_budget)?;
        self.medium_files(medium_budget)?;
        self.large_files(large_budget)?;
        self.links(small_count)?;
        self.empty_dirs()?;
        self.fix_dir_times()
    }

    fn abs(&self, rel: &Path) -> PathBuf {
        self.root.join(rel)
    }

    fn make_dirs(&mut self, count: u64) -> Result<(), Error> {
        for top in TOP_DIRS {
            self.dirs.push(PathBuf::from(top));
        }
        while (self.dirs.len() as u64) < count {
            let parent = self.prng.pick(&self.dirs).clone();
            if parent.components().count() >= 7 {
                continue;
            }
            let name = format!(
                "{}{}",
                self.vocab.ident(&mut self.prng),
                self.prng.below(100)
            );
            let dir = parent.join(name);
            if !self.dirs.contains(&dir) {
                self.dirs.push(dir);
            }
        }
        for d in &self.dirs {
            let path = self.root.join(d);
            fs::create_dir_all(&path).ctx(|| format!("creating {}", path.display()))?;
        }
        // Parents made implicitly by create_dir_all (usr, home/alice, ...).
        let mut all: Vec<PathBuf> = Vec::new();
        for d in &self.dirs {
            for a in d.ancestors() {
                if !a.as_os_str().is_empty() && !all.iter().any(|x| x == a) {
                    all.push(a.to_path_buf());
                }
            }
        }
        all.sort_by_key(|p| p.components().count());
        for d in &all {
            let private = self.prng.chance(5);
            let mode = if private { 0o700 } else { 0o755 };
            set_mode(&self.root.join(d), mode)?;
            self.chown_for(d)?;
        }
        self.summary.dirs = all.len() as u64;
        Ok(())
    }

    /// A couple of empty directories, as every real tree has (made after
    /// the files so none land in them).
    fn empty_dirs(&mut self) -> Result<(), Error> {
        for i in 0..3 {
            let d = self.prng.pick(&self.dirs).join(format!("empty{i}"));
            fs::create_dir(self.abs(&d)).ctx(|| format!("creating {}", d.display()))?;
            self.summary.dirs += 1;
            self.dirs.push(d);
        }
        Ok(())
    }

    fn new_name(&mut self, ext: &str) -> PathBuf {
        loop {
            let dir = self.prng.pick(&self.dirs).clone();
            let name = format!(
                "{}-{}.{ext}",
                self.vocab.ident(&mut self.prng),
                self.prng.below(1000)
            );
            let rel = dir.join(name);
            if !self.abs(&rel).exists() {
                return rel;
            }
        }
    }

    fn small_files(&mut self, budget: u64) -> Result<(), Error> {
        let mut spent = 0;
        while spent < budget {
            let (ext, style) = if self.prng.chance(88) {
                *self.prng.pick(SMALL_TEXT_EXT)
            } else if self.prng.chance(50) {
                ("png", Style::Random)
            } else {
                ("o", Style::Records)
            };
            let size = if self.prng.chance(1) {
                0
            } else {
                self.prng.log_size(40, 24 * 1024)
            };
            let rel = self.new_name(ext);
            self.write_file(&rel, style, size)?;
            spent += size.max(1);
        }
        Ok(())
    }

    fn medium_files(&mut self, budget: u64) -> Result<(), Error> {
        const KINDS: &[(&str, Style)] = &[
            ("log", Style::Log),
            ("csv", Style::Csv),
            ("html", Style::Prose),
            ("jpg", Style::Random),
            ("jpg", Style::Random),
            ("gz", Style::Random),
            ("sqlite", Style::Records),
            ("pdf", Style::Records),
        ];
        let mut spent = 0;
        while spent < budget {
            let (ext, style) = *self.prng.pick(KINDS);
            let size = self
                .prng
                .log_size(32 * 1024, 3 * 1024 * 1024)
                .min(budget - spent);
            let rel = self.new_name(ext);
            self.write_file(&rel, style, size)?;
            spent += size.max(1);
        }
        Ok(())
    }

    fn large_files(&mut self, budget: u64) -> Result<(), Error> {
        const KINDS: &[(&str, Style)] = &[
            ("mp4", Style::Random),
            ("log", Style::Log),
            ("sparse-vm.img", Style::Records),
            ("tar", Style::Records),
            ("csv", Style::Csv),
            ("mkv", Style::Random),
        ];
        let mut spent = 0;
        let mut i = 0;
        while spent < budget {
            let (ext, style) = KINDS[i % KINDS.len()];
            i += 1;
            let size = self.prng.log_size(8 << 20, 64 << 20).min(budget - spent);
            let rel = self.new_name(ext);
            if ext.starts_with("sparse") {
                spent += self.write_sparse(&rel, style, size)?;
            } else {
                self.write_file(&rel, style, size)?;
                spent += size;
            }
        }
        Ok(())
    }

    fn write_file(&mut self, rel: &Path, style: Style, size: u64) -> Result<(), Error> {
        let path = self.abs(rel);
        let mut file = File::create(&path).ctx(|| format!("creating {}", path.display()))?;
        let mut prng = self.prng.fork();
        let mut buf = Vec::with_capacity(1 << 20);
        let mut left = size;
        while left > 0 {
            buf.clear();
            let n = left.min(1 << 20) as usize;
            content::generate(style, &self.vocab, &mut prng, n, &mut buf);
            file.write_all(&buf)
                .ctx(|| format!("writing {}", path.display()))?;
            left -= n as u64;
        }
        let executable = style.is_text() && self.prng.chance(8);
        self.finish_file(rel, &file, executable)?;
        self.summary.count(style, size);
        self.summary.files += 1;
        if size == 0 {
            self.summary.empty_files += 1;
        }
        Ok(())
    }

    /// A VM-disk-like file: scattered 1 MiB extents of data, holes between.
    /// Returns the bytes actually written.
    fn write_sparse(&mut self, rel: &Path, style: Style, size: u64) -> Result<u64, Error> {
        const CHUNK: u64 = 1 << 20;
        let path = self.abs(rel);
        let mut file = File::create(&path).ctx(|| format!("creating {}", path.display()))?;
        let apparent = size * 3;
        file.set_len(apparent)
            .ctx(|| format!("sizing {}", path.display()))?;
        let mut prng = self.prng.fork();
        let mut written = 0;
        let mut buf = Vec::with_capacity(CHUNK as usize);
        for chunk in 0..apparent / CHUNK {
            if !prng.chance(33) {
                continue;
            }
            buf.clear();
            content::generate(style, &self.vocab, &mut prng, CHUNK as usize, &mut buf);
            file.seek(SeekFrom::Start(chunk * CHUNK))
                .and_then(|_| file.write_all(&buf))
                .ctx(|| format!("writing {}", path.display()))?;
            written += CHUNK;
        }
        self.finish_file(rel, &file, false)?;
        self.summary.count(style, written);
        self.summary.files += 1;
        self.summary.sparse_files += 1;
        Ok(written)
    }

    fn finish_file(&mut self, rel: &Path, file: &File, executable: bool) -> Result<(), Error> {
        let path = self.abs(rel);
        let mode = if executable {
            0o755
        } else if self.prng.chance(5) {
            0o600
        } else {
            0o644
        };
        file.set_permissions(fs::Permissions::from_mode(mode))
            .ctx(|| format!("chmod {}", path.display()))?;
        let mtime =
            SystemTime::UNIX_EPOCH + Duration::from_secs(BASE_TIME + self.prng.below(365 * 86400));
        file.set_times(FileTimes::new().set_modified(mtime).set_accessed(mtime))
            .ctx(|| format!("setting times of {}", path.display()))?;
        self.chown_for(rel)?;
        self.files.push(rel.to_path_buf());
        Ok(())
    }

    /// Files under home/alice belong to uid 1000, home/bob to 1001,
    /// postgres data to 105; everything else to root.
    fn chown_for(&self, rel: &Path) -> Result<(), Error> {
        let owner = if rel.starts_with("home/alice") {
            Some(1000)
        } else if rel.starts_with("home/bob") {
            Some(1001)
        } else if rel.starts_with("var/lib/postgresql") {
            Some(105)
        } else {
            None
        };
        if let Some(id) = owner {
            let path = self.abs(rel);
            std::os::unix::fs::lchown(&path, Some(id), Some(id))
                .ctx(|| format!("chown {}", path.display()))?;
        }
        Ok(())
    }

    fn links(&mut self, small_count: u64) -> Result<(), Error> {
        for _ in 0..(small_count / 40).max(5) {
            let target = self.prng.pick(&self.files).clone();
            let rel = self.new_name("lnk");
            let link_dir = rel.parent().unwrap_or(Path::new(""));
            let text = if self.prng.chance(5) {
                PathBuf::from(format!("missing/{}", self.vocab.ident(&mut self.prng)))
            } else if target.parent() == Some(link_dir) || self.prng.chance(30) {
                // Short target: a fast symlink kept in the inode.
                PathBuf::from(target.file_name().unwrap_or_default())
            } else {
                // Relative path up to the root and down again: often longer
                // than 60 bytes, a slow symlink with a data block.
                let ups = link_dir.components().count();
                let mut p = PathBuf::new();
                for _ in 0..ups {
                    p.push("..");
                }
                p.join(&target)
            };
            let path = self.abs(&rel);
            std::os::unix::fs::symlink(&text, &path)
                .ctx(|| format!("symlink {}", path.display()))?;
            self.chown_for(&rel)?;
            self.summary.symlinks += 1;
        }
        for _ in 0..(small_count / 80).max(3) {
            let target = self.prng.pick(&self.files).clone();
            let ext = target
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("bin")
                .to_string();
            let rel = self.new_name(&ext);
            fs::hard_link(self.abs(&target), self.abs(&rel))
                .ctx(|| format!("hard link {} -> {}", rel.display(), target.display()))?;
            self.summary.hard_links += 1;
        }
        Ok(())
    }

    /// Directory mtimes last, as writing into a directory changes its mtime.
    fn fix_dir_times(&mut self) -> Result<(), Error> {
        let mut all: Vec<PathBuf> = self.dirs.clone();
        for d in &self.dirs {
            all.extend(
                d.ancestors()
                    .filter(|a| !a.as_os_str().is_empty())
                    .map(Path::to_path_buf),
            );
        }
        all.sort();
        all.dedup();
        for d in all {
            let path = self.abs(&d);
            let mtime = SystemTime::UNIX_EPOCH
                + Duration::from_secs(BASE_TIME + self.prng.below(365 * 86400));
            let dir = File::open(&path).ctx(|| format!("opening {}", path.display()))?;
            dir.set_times(FileTimes::new().set_modified(mtime).set_accessed(mtime))
                .ctx(|| format!("setting times of {}", path.display()))?;
        }
        Ok(())
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .ctx(|| format!("chmod {}", path.display()))
}
