//! Remote tapes: a client of the rmt protocol (O, C, R, W, L, S, s, I, i,
//! V) as dump 0.4b47's rmtlib (`dumprmt.c`) speaks it, so that
//! `-f [user@]host:file` works on both tools against Debian's rmt (package
//! dump) and GNU tar's rmt.
//!
//! It lives here, beside the format, because both rdump and rrestore need
//! it and it has no other dependency: a remote tape is just where the
//! records go to or come from.
//!
//! The server is started as dump starts it: `$RSH host -l user $RMT`, with
//! the child's standard input and output as the command and reply channel
//! and its standard error left on ours (ssh's own messages reach the user
//! unchanged). Without `$RSH`, dump uses rcmd(3) (the rsh service on port
//! 514, reserved ports, no encryption); rdump runs `ssh` instead, which is
//! what every site uses today. `$RMT` defaults to `/etc/rmt`.
//!
//! Requests are answered one at a time (`A<n>\n`, or `E<errno>\n<text>\n`),
//! as dump does: an error is known before the next record is sent. Every
//! reply is bounded (lines, read counts, status sizes). A server or remote
//! shell that dies ends the call with an error naming the host: its end of
//! the pipes closes, and the blocking read or write returns. (A server that
//! stays alive but stops answering is waited for, as dump waits: a slow
//! tape drive looks the same.)

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

/// dump's `_PATH_RMT`.
pub const DEFAULT_RMT: &str = "/etc/rmt";
/// The remote shell used when `$RSH` is not set (see the module text).
pub const DEFAULT_RSH: &str = "ssh";

/// Longest reply line accepted: dump reads the code into 30 bytes and the
/// message into BUFSIZ (8 KiB).
const MAX_CODE_LINE: usize = 64;
const MAX_MESSAGE_LINE: usize = 8192;
/// Largest status block (`S`) accepted; Linux's struct mtget is 48 bytes.
const MAX_STATUS: usize = 4096;

/// Linux's open(2) flags by name, in the order of dump's rmtflags table;
/// the symbolic form sent with `O` lets a server on another system (whose
/// numbers differ) open the file with the same meaning.
const OPEN_FLAGS: [(&str, i32); 7] = [
    ("O_CREAT", 0o100),
    ("O_EXCL", 0o200),
    ("O_NOCTTY", 0o400),
    ("O_TRUNC", 0o1000),
    ("O_APPEND", 0o2000),
    ("O_NONBLOCK", 0o4000),
    ("O_SYNC", 0o4010000),
];
/// O_RDONLY, O_WRONLY, O_RDWR.
const O_ACCMODE: i32 = 3;
pub const O_RDONLY: i32 = 0;
pub const O_WRONLY: i32 = 1;
pub const O_CREAT: i32 = 0o100;
pub const O_TRUNC: i32 = 0o1000;

/// Why a remote tape could not be reached or used.
#[derive(Debug, Error)]
pub enum RmtError {
    #[error("invalid user name {0}")]
    BadUser(String),
    #[error("no host name before ':' in \"{0}\"")]
    NoHost(String),
    #[error("invalid characters in tape \"{0}\" (a newline)")]
    BadFile(String),
    #[error("cannot open connection to {host}: cannot run {command}: {source}")]
    Spawn {
        host: String,
        command: String,
        source: io::Error,
    },
    /// An `E` (or `F`) reply: the server's errno and message.
    #[error("{host}: {op}: {message}")]
    Remote {
        host: String,
        op: String,
        errno: i32,
        message: String,
    },
    #[error("Lost connection to remote host {host} during {op}{}", status_text(.status))]
    Lost {
        host: String,
        op: String,
        /// How the remote shell ended, when it has.
        status: Option<String>,
    },
    #[error("Protocol to remote tape server {host} botched during {op} (code \"{code}\")")]
    Botched {
        host: String,
        op: String,
        code: String,
    },
    #[error("{host}: {op}: the server wrote {done} of {asked} bytes")]
    ShortWrite {
        host: String,
        op: String,
        done: u64,
        asked: usize,
    },
}

fn status_text(status: &Option<String>) -> String {
    match status {
        Some(s) => format!(" (remote shell {s})"),
        None => String::new(),
    }
}

impl RmtError {
    /// As an io::Error, keeping the whole message (for Read/Write users).
    pub fn into_io(self) -> io::Error {
        io::Error::other(self)
    }
}

/// `[user@]host:file`, split as dump splits `-f`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteName {
    pub user: Option<String>,
    pub host: String,
    pub file: String,
}

impl RemoteName {
    /// dump's rule: a name is remote when it has a ':' and no '/' before
    /// it (`/mnt/a:b` and `./a:b` are local files). The host part is not
    /// looked up here; the user, when given, must be a plain login name.
    pub fn parse(arg: &str) -> Result<Option<RemoteName>, RmtError> {
        let Some(colon) = arg.find(':') else {
            return Ok(None);
        };
        let (peer, file) = (&arg[..colon], &arg[colon + 1..]);
        if peer.contains('/') {
            return Ok(None);
        }
        if file.contains('\n') {
            return Err(RmtError::BadFile(file.to_string()));
        }
        let (user, host) = match peer.split_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, peer),
        };
        if host.is_empty() {
            return Err(RmtError::NoHost(arg.to_string()));
        }
        if let Some(u) = user {
            // dump's okname(): letters, digits, '_' and '-' only (a name
            // is passed to the remote shell as an argument).
            let ok = !u.is_empty()
                && u.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
            if !ok {
                return Err(RmtError::BadUser(u.to_string()));
            }
        }
        Ok(Some(RemoteName {
            user: user.map(str::to_string),
            host: host.to_string(),
            file: file.to_string(),
        }))
    }

    /// `host:file`, for messages.
    pub fn display(&self) -> String {
        format!("{}:{}", self.host, self.file)
    }
}

/// `O`'s second line: the access mode in decimal, then the flags by name
/// (`1 O_WRONLY|O_CREAT|O_TRUNC`), byte for byte as dump sends it.
pub fn open_flags_text(flags: i32) -> String {
    let mut text = format!(
        "{} {}",
        flags & O_ACCMODE,
        match flags & O_ACCMODE {
            0 => "O_RDONLY",
            1 => "O_WRONLY",
            2 => "O_RDWR",
            _ => "ERROR",
        }
    );
    for (name, value) in OPEN_FLAGS {
        if flags & value == value {
            text.push('|');
            text.push_str(name);
        }
    }
    text
}

/// The remote shell and rmt paths, from `$RSH` and `$RMT` as dump reads them.
#[derive(Debug, Clone)]
pub struct Launcher {
    pub rsh: OsString,
    pub rmt: OsString,
}

impl Launcher {
    pub fn from_env() -> Launcher {
        let get = |name: &str, default: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.into())
        };
        Launcher {
            rsh: get("RSH", DEFAULT_RSH),
            rmt: get("RMT", DEFAULT_RMT),
        }
    }
}

/// A running rmt server and its two pipes.
pub struct Connection {
    child: Child,
    to: Option<ChildStdin>,
    /// None only while dropping (closed so that a server blocked writing
    /// to us gets EPIPE and exits).
    from: Option<BufReader<ChildStdout>>,
    host: String,
    open: bool,
}

impl Connection {
    /// Starts `$RSH host -l user $RMT`; the user is the one given, else
    /// the login name of our uid (dump passes `-l` always).
    pub fn connect(name: &RemoteName, launcher: &Launcher) -> Result<Connection, RmtError> {
        let user = name.user.clone().unwrap_or_else(current_user);
        let mut cmd = Command::new(&launcher.rsh);
        cmd.arg(&name.host)
            .arg("-l")
            .arg(&user)
            .arg(&launcher.rmt)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| RmtError::Spawn {
            host: name.host.clone(),
            command: launcher.rsh.to_string_lossy().into_owned(),
            source,
        })?;
        let (Some(to), Some(from)) = (child.stdin.take(), child.stdout.take()) else {
            unreachable!("both pipes were requested");
        };
        Ok(Connection {
            child,
            to: Some(to),
            from: Some(BufReader::new(from)),
            host: name.host.clone(),
            open: false,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// `O`: opens `file` on the server with open(2) `flags`.
    pub fn open(&mut self, file: &str, flags: i32) -> Result<i64, RmtError> {
        if file.contains('\n') {
            return Err(RmtError::BadFile(file.to_string()));
        }
        let request = format!("O{file}\n{}\n", open_flags_text(flags));
        let n = self.call(&format!("open {file}"), request.as_bytes())?;
        self.open = true;
        Ok(n)
    }

    /// `C`: closes the open file (a tape drive writes its file mark then).
    pub fn close(&mut self) -> Result<(), RmtError> {
        self.open = false;
        self.call("close", b"C\n").map(drop)
    }

    /// `R`: reads at most `buf.len()` bytes; 0 is the end of the file.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, RmtError> {
        let n = self.call("read", format!("R{}\n", buf.len()).as_bytes())?;
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= buf.len())
            .ok_or_else(|| self.botched("read", format!("A{n}")))?;
        if let Err(e) = self.replies().read_exact(&mut buf[..n]) {
            return Err(self.lost("read", e));
        }
        Ok(n)
    }

    /// `W`: writes all of `buf` as one write(2) on the server (one tape
    /// block on a tape drive).
    pub fn write(&mut self, buf: &[u8]) -> Result<(), RmtError> {
        let mut request = Vec::with_capacity(buf.len() + 16);
        request.extend_from_slice(format!("W{}\n", buf.len()).as_bytes());
        request.extend_from_slice(buf);
        let n = self.call("write", &request)?;
        if n != buf.len() as i64 {
            return Err(RmtError::ShortWrite {
                host: self.host.clone(),
                op: "write".into(),
                done: n.max(0) as u64,
                asked: buf.len(),
            });
        }
        Ok(())
    }

    /// `L`: lseek(2). The offset goes first, then whence, as dump's
    /// rmtseek() sends them and Debian's rmt reads them. (GNU tar's rmt
    /// reads whence first: with it only `seek(0, 0)` means the same.)
    pub fn seek(&mut self, offset: i64, whence: i32) -> Result<i64, RmtError> {
        self.call("seek", format!("L{offset}\n{whence}\n").as_bytes())
    }

    /// `I`: a MTIOCTOP operation (mt_op, mt_count); `I-1\n0\n` announces
    /// version 1 of the protocol to Debian's rmt.
    pub fn ioctl(&mut self, op: i32, count: i32) -> Result<i64, RmtError> {
        self.call("ioctl", format!("I{op}\n{count}\n").as_bytes())
    }

    /// `i`: one of Debian rmt's extended tape operations (MTCACHE, ...).
    pub fn ioctl_extended(&mut self, op: i32, count: i32) -> Result<i64, RmtError> {
        self.call("ioctl", format!("i{op}\n{count}\n").as_bytes())
    }

    /// `S`: the server's struct mtget, as raw bytes (its layout is the
    /// server's; a plain file answers with an error).
    pub fn status(&mut self) -> Result<Vec<u8>, RmtError> {
        let n = self.call("status", b"S\n")?;
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= MAX_STATUS)
            .ok_or_else(|| self.botched("status", format!("A{n}")))?;
        let mut buf = vec![0; n];
        if let Err(e) = self.replies().read_exact(&mut buf) {
            return Err(self.lost("status", e));
        }
        Ok(buf)
    }

    /// `s`: one field of the tape status, in decimal (Debian's portable
    /// form of `S`): `T` type, `D` drive status, `E` error register
    /// (read it first: reading the status clears it), `R` residual count,
    /// `F` file number, `B` block number, `f` flags, `b` blocking factor.
    /// No newline follows the letter, as Debian's rmt reads it.
    pub fn status_field(&mut self, field: u8) -> Result<i64, RmtError> {
        self.call("status", &[b's', field])
    }

    /// `V`: the protocol version of Debian's rmt (GNU's answers an error).
    pub fn version(&mut self) -> Result<i64, RmtError> {
        self.call("version", b"V\n")
    }

    /// Closes the open file (a failed close on a tape can mean the data
    /// never reached it, so its reply is checked), then ends the server.
    pub fn finish(mut self) -> Result<(), RmtError> {
        if self.open {
            self.close()?;
        }
        // The close was acknowledged: the data is on the server. Dropping
        // ends the server and reaps the remote shell, with a time limit.
        Ok(())
    }

    /// Sends a request and reads its reply line: `A<n>` gives n.
    fn call(&mut self, op: &str, request: &[u8]) -> Result<i64, RmtError> {
        let sent = match self.to.as_mut() {
            Some(to) => to.write_all(request).and_then(|()| to.flush()),
            None => Err(io::ErrorKind::BrokenPipe.into()),
        };
        if let Err(e) = sent {
            return Err(self.lost(op, e));
        }
        self.reply(op)
    }

    fn reply(&mut self, op: &str) -> Result<i64, RmtError> {
        let code = self.line(op, MAX_CODE_LINE)?;
        match code.as_bytes().first() {
            Some(b'A') => code[1..]
                .trim()
                .parse::<i64>()
                .map_err(|_| self.botched(op, code.clone())),
            Some(b'E') | Some(b'F') => {
                let errno = code[1..].trim().parse().unwrap_or(0);
                if code.starts_with('F') {
                    self.open = false;
                }
                let message = self.line(op, MAX_MESSAGE_LINE)?;
                Err(RmtError::Remote {
                    host: self.host.clone(),
                    op: op.to_string(),
                    errno,
                    message,
                })
            }
            _ => Err(self.botched(op, code)),
        }
    }

    /// One reply line without its newline, at most `max` bytes long.
    fn line(&mut self, op: &str, max: usize) -> Result<String, RmtError> {
        let mut bytes = Vec::new();
        let got = self
            .replies()
            .take(max as u64)
            .read_until(b'\n', &mut bytes);
        match got {
            Err(e) => Err(self.lost(op, e)),
            Ok(0) => Err(self.lost(op, io::ErrorKind::UnexpectedEof.into())),
            Ok(_) if bytes.last() != Some(&b'\n') => {
                if bytes.len() < max {
                    return Err(self.lost(op, io::ErrorKind::UnexpectedEof.into()));
                }
                let text = String::from_utf8_lossy(&bytes).into_owned();
                Err(self.botched(op, text))
            }
            Ok(_) => {
                bytes.pop();
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            }
        }
    }

    fn replies(&mut self) -> &mut BufReader<ChildStdout> {
        self.from
            .as_mut()
            .expect("the reply pipe is only closed while dropping")
    }

    fn botched(&self, op: &str, code: String) -> RmtError {
        RmtError::Botched {
            host: self.host.clone(),
            op: op.to_string(),
            code,
        }
    }

    /// The connection broke: says how the remote shell ended, if it did
    /// within a moment (it usually has, or is about to).
    fn lost(&mut self, op: &str, _cause: io::Error) -> RmtError {
        self.to = None;
        let deadline = Instant::now() + Duration::from_secs(2);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break Some(s.to_string()),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => break None,
            }
        };
        RmtError::Lost {
            host: self.host.clone(),
            op: op.to_string(),
            status,
        }
    }
}

impl Drop for Connection {
    /// An abandoned connection (an error elsewhere): closing our ends of
    /// the pipes makes rmt exit; a remote shell that does not
    /// follow within a few seconds is killed rather than waited for.
    fn drop(&mut self) {
        self.to = None;
        self.from = None;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                _ => return,
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The login name of our uid, as dump takes it from getpwuid(3): read
/// from /etc/passwd (a dozen lines instead of a users-database crate for
/// one lookup); `$USER` or the number when it is not listed there.
fn current_user() -> String {
    let uid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .ok();
    let from_passwd = uid.and_then(|uid| {
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let id = fields.nth(1)?.parse::<u32>().ok()?;
            (id == uid).then(|| name.to_string())
        })
    });
    from_passwd
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| uid.map(|u| u.to_string()))
        .unwrap_or_else(|| "root".into())
}

/// A remote file opened for reading, as a byte stream.
pub struct RemoteReader {
    conn: Connection,
}

impl RemoteReader {
    /// Connects and opens `name` read-only (`O_RDONLY`, as restore does).
    pub fn open(name: &RemoteName, launcher: &Launcher) -> Result<RemoteReader, RmtError> {
        let mut conn = Connection::connect(name, launcher)?;
        conn.open(&name.file, O_RDONLY)?;
        Ok(RemoteReader { conn })
    }
}

impl Read for RemoteReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.conn.read(buf).map_err(RmtError::into_io)
    }
}

/// A remote file opened for writing; each `write_block` is one write(2)
/// on the server.
pub struct RemoteWriter {
    conn: Connection,
}

impl RemoteWriter {
    /// Connects and opens `name` as dump does (`O_WRONLY|O_CREAT|O_TRUNC`).
    pub fn create(name: &RemoteName, launcher: &Launcher) -> Result<RemoteWriter, RmtError> {
        let mut conn = Connection::connect(name, launcher)?;
        conn.open(&name.file, O_WRONLY | O_CREAT | O_TRUNC)?;
        Ok(RemoteWriter { conn })
    }

    pub fn write_block(&mut self, buf: &[u8]) -> Result<(), RmtError> {
        self.conn.write(buf)
    }

    /// Closes the file on the server; the dump is complete once this
    /// succeeds.
    pub fn finish(self) -> Result<(), RmtError> {
        self.conn.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(user: Option<&str>, host: &str, file: &str) -> Option<RemoteName> {
        Some(RemoteName {
            user: user.map(str::to_string),
            host: host.into(),
            file: file.into(),
        })
    }

    #[test]
    fn names_split_as_dump_splits_them() {
        let p = |s| RemoteName::parse(s).unwrap();
        assert_eq!(
            p("tapehost:/dev/nst0"),
            remote(None, "tapehost", "/dev/nst0")
        );
        assert_eq!(
            p("backup@tapehost:/srv/a:b"),
            remote(Some("backup"), "tapehost", "/srv/a:b")
        );
        assert_eq!(p("h:"), remote(None, "h", ""));
        assert_eq!(p("/mnt/a:b"), None);
        assert_eq!(p("./a:b"), None);
        assert_eq!(p("plain.dump"), None);
        assert_eq!(p("-"), None);
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        let e = RemoteName::parse("a.b@h:/x").unwrap_err().to_string();
        assert_eq!(e, "invalid user name a.b");
        let e = RemoteName::parse(":/x").unwrap_err().to_string();
        assert!(e.contains("no host name"), "{e}");
        let e = RemoteName::parse("u@:/x").unwrap_err().to_string();
        assert!(e.contains("no host name"), "{e}");
        assert!(RemoteName::parse("h:/x\ny").is_err());
    }

    #[test]
    fn open_flags_are_sent_as_dump_sends_them() {
        // The bytes dump 0.4b47 and restore 0.4b47 send (seen with strace).
        assert_eq!(
            open_flags_text(O_WRONLY | O_CREAT | O_TRUNC),
            "1 O_WRONLY|O_CREAT|O_TRUNC"
        );
        assert_eq!(open_flags_text(O_RDONLY), "0 O_RDONLY");
        assert_eq!(open_flags_text(2 | 0o2000), "2 O_RDWR|O_APPEND");
    }
}
