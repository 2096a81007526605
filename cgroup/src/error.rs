//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

/// A failed cgroup operation. Every variant names the operation, the object (a path, a pid, a
/// resource field) and, where there is one, the underlying OS error.
///
/// The OS error is part of the message (`write "1000" to /sys/...: Device or resource busy`) and
/// is therefore *not* also exposed through [`std::error::Error::source`], so error chains do not
/// print it twice. Use [`Error::raw_os_error`] to branch on the errno.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A line of `/proc/self/mountinfo` that does not have the kernel's shape.
    #[error("parse mountinfo line {line}: {reason}")]
    ParseMountinfo {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading a file (a cgroup control file or mountinfo) failed.
    #[error("read {}: {}", path.display(), errno_text(err))]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        err: io::Error,
    },
    /// A cgroup control file holds something this crate cannot parse.
    #[error("parse {}: unexpected content {content:?}", path.display())]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// The offending content (or line).
        content: String,
    },
    /// Writing a value to a cgroup control file failed; for limits this is usually the kernel
    /// refusing the value.
    #[error("write {value:?} to {}: {}", path.display(), errno_text(err))]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// The value that was written.
        value: String,
        /// The OS error.
        err: io::Error,
    },
    /// `mkdir` of a cgroup directory failed.
    #[error("create {}: {}", path.display(), errno_text(err))]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        err: io::Error,
    },
    /// `rmdir` of a cgroup directory failed.
    #[error("remove {}: {}", path.display(), errno_text(err))]
    Remove {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        err: io::Error,
    },
    /// Opening the cgroup directory (for `CLONE_INTO_CGROUP`) failed.
    #[error("open {}: {}", path.display(), errno_text(err))]
    OpenDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        err: io::Error,
    },
    /// Sending a signal to a process of the cgroup failed.
    #[error("send signal {signal} to pid {pid}: {}", err.desc())]
    Signal {
        /// The process.
        pid: i32,
        /// The signal number.
        signal: i32,
        /// The OS error.
        err: nix::errno::Errno,
    },
    /// The cgroup path is not usable (relative, `..`, the root itself).
    #[error("invalid cgroup path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// A resource value that cannot be expressed on this host or is malformed.
    #[error("invalid linux.resources.{field}: {reason}")]
    InvalidResource {
        /// The OCI field, for example `memory.swap`.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The host's cgroup setup cannot do what was asked.
    #[error("{what}")]
    Unsupported {
        /// What is missing, with a hint where one is known.
        what: String,
    },
    /// Freezing or thawing did not reach the requested state in time (a failed freeze is
    /// thawed again before this is returned).
    #[error("{} did not reach {wanted} in time (still {state:?})", path.display())]
    FreezeTimeout {
        /// The file that was polled.
        path: PathBuf,
        /// The state asked for.
        wanted: &'static str,
        /// The state last read.
        state: String,
    },
}

impl Error {
    /// The errno behind this error, if it came from the OS.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::ReadFile { err, .. }
            | Error::WriteFile { err, .. }
            | Error::CreateDir { err, .. }
            | Error::Remove { err, .. }
            | Error::OpenDir { err, .. } => err.raw_os_error(),
            Error::Signal { err, .. } => Some(*err as i32),
            _ => None,
        }
    }
}

/// `Device or resource busy` rather than `Device or resource busy (os error 16)`.
fn errno_text(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_error_message_names_file_and_value() {
        let e = Error::WriteFile {
            path: "/sys/fs/cgroup/memory/podrt/x/memory.limit_in_bytes".into(),
            value: "1000".into(),
            err: io::Error::from_raw_os_error(libc::EBUSY),
        };
        assert_eq!(
            e.to_string(),
            "write \"1000\" to /sys/fs/cgroup/memory/podrt/x/memory.limit_in_bytes: \
             Device or resource busy"
        );
        assert_eq!(e.raw_os_error(), Some(libc::EBUSY));
    }
}
