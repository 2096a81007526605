//! Small file helpers that attach the path (and value) to every error.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::Error;

/// Write `value` to an existing control file in one `write(2)`.
///
/// `O_TRUNC` is harmless on cgroupfs and makes tempdir fixtures behave like the kernel (the file
/// then holds the last value written). Never `O_CREAT`: a missing control file means a missing
/// controller or feature and must surface as an error.
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<(), Error> {
    let path = dir.join(file);
    write_path(&path, value)
}

pub(crate) fn write_path(path: &Path, value: &str) -> Result<(), Error> {
    let res = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    res.map_err(|err| Error::WriteFile {
        path: path.to_path_buf(),
        value: value.to_string(),
        err,
    })
}

/// Like [`write`], but a missing file is reported as `Ok(false)` instead of an error.
pub(crate) fn write_if_exists(dir: &Path, file: &str, value: &str) -> Result<bool, Error> {
    match write(dir, file, value) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) fn read(dir: &Path, file: &str) -> Result<String, Error> {
    read_path(&dir.join(file))
}

pub(crate) fn read_path(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|err| Error::ReadFile {
        path: path.to_path_buf(),
        err,
    })
}

/// Read a file holding one number, or `max` (returned as `None`).
pub(crate) fn read_u64_or_max(dir: &Path, file: &str) -> Result<Option<u64>, Error> {
    let text = read(dir, file)?;
    let t = text.trim();
    if t == "max" {
        return Ok(None);
    }
    t.parse::<u64>()
        .map(Some)
        .map_err(|_| parse_err(dir, file, t))
}

pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64, Error> {
    read_u64_or_max(dir, file)?.ok_or_else(|| parse_err(dir, file, "max"))
}

/// Look up `key` in a flat-keyed file (`key value` per line, as `cpu.stat`, `memory.events`).
pub(crate) fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        if k == key {
            v.trim().parse().ok()
        } else {
            None
        }
    })
}

pub(crate) fn parse_err(dir: &Path, file: &str, content: &str) -> Error {
    Error::ParseFile {
        path: dir.join(file),
        content: content.to_string(),
    }
}

/// `mkdir`; `Ok(true)` if this call created it, `Ok(false)` if it already existed.
pub(crate) fn mkdir(path: &Path) -> io::Result<bool> {
    match fs::create_dir(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) fn create_err(path: &Path, err: io::Error) -> Error {
    Error::CreateDir {
        path: path.to_path_buf(),
        err,
    }
}

pub(crate) fn remove_err(path: PathBuf, err: io::Error) -> Error {
    Error::Remove { path, err }
}
