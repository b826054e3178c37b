//! A test helper shared by the rmt tests of dump-format and rdump (included
//! with `#[path]`).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Writes an executable script through a child process. Written from this
/// process, the file would be open for writing while another test's thread
/// forks, and that child would hold it open until its exec: running the
/// script then fails with "Text file busy" (ETXTBSY).
pub fn write_script(path: &Path, text: impl AsRef<[u8]>) {
    let mut child = Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .expect("sh");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(text.as_ref()).expect("writing the script");
    drop(stdin);
    assert!(
        child.wait().unwrap().success(),
        "writing {}",
        path.display()
    );
}
