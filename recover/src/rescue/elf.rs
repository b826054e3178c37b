//! Shared libraries a binary needs: its ELF interpreter and DT_NEEDED entries, found
//! where the dynamic loader looks (RUNPATH/RPATH, then the system directories), and
//! theirs in turn, so the stick holds everything without running ldd.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::RescueError;

/// Where glibc's loader finds libraries on Debian (multiarch first) when there is no
/// ld.so.cache; the stick has none, so it must find them here too.
const SYSTEM_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
];

/// The dynamic linking facts of one ELF file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Linking {
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    pub search: Vec<String>,
}

/// Reads the interpreter, DT_NEEDED and RUNPATH/RPATH of `path`.
pub fn linking(path: &Path) -> Result<Linking, RescueError> {
    let bytes = std::fs::read(path).map_err(|e| RescueError::io(path, e))?;
    let elf = goblin::elf::Elf::parse(&bytes).map_err(|e| RescueError::Elf {
        path: path.to_owned(),
        why: e.to_string(),
    })?;
    let origin = path.parent().unwrap_or(Path::new("/")).to_string_lossy();
    let search = elf
        .runpaths
        .iter()
        .chain(elf.rpaths.iter())
        .flat_map(|p| p.split(':'))
        .map(|p| p.replace("$ORIGIN", &origin))
        .collect();
    Ok(Linking {
        interpreter: elf.interpreter.map(str::to_owned),
        needed: elf.libraries.iter().map(|s| (*s).to_owned()).collect(),
        search,
    })
}

/// True when the file needs no loader and no library (a static executable).
pub fn is_static(path: &Path) -> Result<bool, RescueError> {
    let l = linking(path)?;
    Ok(l.interpreter.is_none() && l.needed.is_empty())
}

/// Every library (and loader) the binaries need, transitively, as absolute paths.
pub fn closure(binaries: &[PathBuf]) -> Result<BTreeSet<PathBuf>, RescueError> {
    let mut found = BTreeSet::new();
    let mut todo: Vec<PathBuf> = binaries.to_vec();
    while let Some(file) = todo.pop() {
        let l = linking(&file)?;
        let mut wanted = Vec::new();
        if let Some(interp) = &l.interpreter {
            wanted.push(PathBuf::from(interp));
        }
        for lib in &l.needed {
            wanted.push(
                find_library(lib, &l.search).ok_or_else(|| RescueError::Library {
                    binary: file.clone(),
                    library: lib.clone(),
                })?,
            );
        }
        for w in wanted {
            if !w.exists() {
                return Err(RescueError::Library {
                    binary: file.clone(),
                    library: w.display().to_string(),
                });
            }
            if found.insert(w.clone()) {
                todo.push(w);
            }
        }
    }
    Ok(found)
}

fn find_library(name: &str, search: &[String]) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    search
        .iter()
        .map(String::as_str)
        .chain(SYSTEM_DIRS.iter().copied())
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_debian_tool_needs_libc_and_the_loader() {
        let mke2fs = Path::new("/usr/sbin/mke2fs");
        let l = linking(mke2fs).unwrap();
        assert!(l.needed.iter().any(|n| n.starts_with("libc.so")), "{l:?}");
        let libs = closure(&[mke2fs.to_owned()]).unwrap();
        assert!(
            libs.iter().any(|p| p.ends_with("ld-linux-x86-64.so.2")),
            "{libs:?}"
        );
        assert!(
            libs.iter()
                .any(|p| p.to_string_lossy().contains("libext2fs")),
            "{libs:?}"
        );
        assert!(!is_static(mke2fs).unwrap());
    }

    #[test]
    fn busybox_static_is_static_and_text_is_not_elf() {
        assert!(is_static(Path::new("/bin/busybox")).unwrap());
        let e = linking(Path::new("/etc/hostname")).unwrap_err();
        assert!(e.to_string().contains("/etc/hostname"), "{e}");
    }
}
