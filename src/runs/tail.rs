//! Incremental reader of an `events.jsonl` that another process is still writing.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::event::{Record, SCHEMA_VERSION};

/// A problem with one line or with the file; the tailer reports it and carries on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TailError {
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{}:{line}: malformed event: {message}", path.display())]
    Malformed {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "{}:{line}: event schema version {found} is not supported (this histoboard reads version {supported}; upgrade it)",
        path.display()
    )]
    Version {
        path: PathBuf,
        line: usize,
        found: u64,
        supported: u32,
    },
}

/// Longest line read as an event. Real events are a few kilobytes (an epoch with its ROC
/// points); anything longer is damage, reported and skipped without holding it in memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Follows a growing file: each [`Tail::poll`] reads only the bytes appended since the last one.
///
/// An unterminated last line is not consumed: the next poll reads it again from the file. So a
/// writer that truncates a torn last line (a resumed run after a kill mid-write) and appends is
/// read correctly, and the tailer never joins two writers' bytes into one line.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    /// Bytes consumed so far: complete lines, and over-long lines skipped.
    offset: u64,
    /// File length at the last poll (for [`Tail::is_idle`]).
    seen_len: u64,
    /// Inside an over-long line already reported: skip up to its newline.
    skipping: bool,
    /// Number of complete lines seen, for `file:line` in errors.
    line: usize,
    /// Inode of the file being followed, to notice it being replaced.
    inode: Option<u64>,
}

impl Tail {
    pub fn new(path: impl Into<PathBuf>) -> Tail {
        Tail {
            path: path.into(),
            offset: 0,
            seen_len: 0,
            skipping: false,
            line: 0,
            inode: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of the file consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// True when the file's size and identity match what was already read, i.e. a poll would
    /// read nothing new. Costs one `stat`.
    pub fn is_idle(&self) -> bool {
        match std::fs::metadata(&self.path) {
            Ok(meta) => meta.len() == self.seen_len && inode(&meta) == self.inode,
            Err(_) => self.offset == 0,
        }
    }

    /// New complete records (and errors for bad lines) since the last poll. A missing file reads
    /// as empty; a file that shrank or was replaced is read again from the start (the caller
    /// should then rebuild whatever it folded from the old content: see [`Tail::poll_detect_restart`]).
    pub fn poll(&mut self) -> Vec<Result<Record, TailError>> {
        self.poll_inner().0
    }

    /// Like [`Tail::poll`], also telling whether the file was truncated or replaced, so earlier
    /// records no longer describe it.
    pub fn poll_detect_restart(&mut self) -> (Vec<Result<Record, TailError>>, bool) {
        self.poll_inner()
    }

    fn poll_inner(&mut self) -> (Vec<Result<Record, TailError>>, bool) {
        let meta = match std::fs::metadata(&self.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Gone (or not written yet): when it reappears it is a new file.
                let restarted = self.offset > 0;
                self.reset();
                return (Vec::new(), restarted);
            }
            Err(e) => return (vec![Err(self.io_error("reading metadata of", &e))], false),
        };
        let ino = inode(&meta);
        let mut restarted = false;
        if meta.len() < self.offset || (self.inode.is_some() && ino != self.inode) {
            restarted = self.offset > 0;
            self.reset();
        }
        self.inode = ino;
        if meta.len() == self.seen_len && !restarted {
            return (Vec::new(), restarted);
        }
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) => return (vec![Err(self.io_error("opening", &e))], restarted),
        };
        let mut buf = Vec::new();
        let read = file
            .seek(SeekFrom::Start(self.offset))
            .and_then(|_| file.read_to_end(&mut buf));
        if let Err(e) = read {
            return (vec![Err(self.io_error("reading", &e))], restarted);
        }
        self.seen_len = self.offset + buf.len() as u64;
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let line = &buf[start..start + nl];
            start += nl + 1;
            self.line += 1;
            if std::mem::take(&mut self.skipping) {
                continue;
            }
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if line.len() > MAX_LINE_BYTES {
                out.push(Err(self.too_long(self.line, line.len())));
                continue;
            }
            out.push(self.parse(line));
        }
        let rest = buf.len() - start;
        if rest > MAX_LINE_BYTES || (self.skipping && rest > 0) {
            // An over-long line still being written (or never ended): report it once and skip
            // it as it grows, rather than buffer it.
            if !self.skipping {
                out.push(Err(self.too_long(self.line + 1, rest)));
                self.skipping = true;
            }
            start = buf.len();
        }
        self.offset += start as u64;
        (out, restarted)
    }

    fn parse(&self, line: &[u8]) -> Result<Record, TailError> {
        match serde_json::from_slice::<Record>(line) {
            Ok(rec) if rec.v == SCHEMA_VERSION => Ok(rec),
            Ok(rec) => Err(self.version_error(u64::from(rec.v))),
            Err(e) => {
                // A newer writer may have changed the shape: say so rather than "malformed".
                let version = serde_json::from_slice::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v.get("v").and_then(serde_json::Value::as_u64));
                match version {
                    Some(found) if found != u64::from(SCHEMA_VERSION) => {
                        Err(self.version_error(found))
                    }
                    _ => Err(TailError::Malformed {
                        path: self.path.clone(),
                        line: self.line,
                        message: e.to_string(),
                    }),
                }
            }
        }
    }

    fn version_error(&self, found: u64) -> TailError {
        TailError::Version {
            path: self.path.clone(),
            line: self.line,
            found,
            supported: SCHEMA_VERSION,
        }
    }

    fn io_error(&self, doing: &str, e: &std::io::Error) -> TailError {
        TailError::Io {
            path: self.path.clone(),
            message: format!("{doing} the file: {e}"),
        }
    }

    fn too_long(&self, line: usize, len: usize) -> TailError {
        TailError::Malformed {
            path: self.path.clone(),
            line,
            message: format!(
                "a line of {len} bytes, over the {} MiB an event may take; skipped",
                MAX_LINE_BYTES >> 20
            ),
        }
    }

    fn reset(&mut self) {
        self.offset = 0;
        self.seen_len = 0;
        self.skipping = false;
        self.line = 0;
        self.inode = None;
    }
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    Some(meta.ino())
}

#[cfg(not(unix))]
fn inode(_meta: &std::fs::Metadata) -> Option<u64> {
    None
}
