//! Random access to the members of an (uncompressed) tar archive, as `oci-archive` and
//! `docker-archive` files are: one pass over the headers (seeking past the data) records where
//! each member's bytes are, then members are read straight from the file with no extraction.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::ImageError;

#[derive(Debug, Clone)]
enum Member {
    File {
        offset: u64,
        size: u64,
    },
    /// Symlink target, already resolved against the link's directory.
    Symlink(String),
    /// Hard link target (a member name).
    Hardlink(String),
}

/// The member table of one tar file.
#[derive(Debug)]
pub struct TarIndex {
    file: PathBuf,
    members: HashMap<String, Member>,
}

/// `./a//b/` → `a/b`; `..` pops (never above the top). Archive member names, not host paths.
fn normalize(name: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

impl TarIndex {
    /// Reads the headers of `file`. Fails when it is not a tar archive.
    pub fn open(file: &Path) -> Result<TarIndex, ImageError> {
        let read_err = |source| ImageError::Read {
            path: file.to_path_buf(),
            source,
        };
        let f = File::open(file).map_err(read_err)?;
        let mut archive = tar::Archive::new(f);
        let mut members = HashMap::new();
        for entry in archive.entries_with_seek().map_err(read_err)? {
            let entry = entry.map_err(|e| ImageError::InvalidArchive {
                path: file.to_path_buf(),
                reason: format!("not a readable tar archive: {e}"),
            })?;
            let name = normalize(&String::from_utf8_lossy(&entry.path_bytes()));
            let kind = entry.header().entry_type();
            let member = if kind.is_file() || kind.is_contiguous() {
                Member::File {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                }
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                if kind.is_symlink() {
                    let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                    Member::Symlink(normalize(&format!("{dir}/{target}")))
                } else {
                    Member::Hardlink(normalize(&target))
                }
            } else {
                continue;
            };
            members.insert(name, member);
        }
        Ok(TarIndex {
            file: file.to_path_buf(),
            members,
        })
    }

    /// The archive file.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Whether a member of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.members.contains_key(&normalize(name))
    }

    /// Opens a member (following links inside the archive): a reader limited to its bytes and
    /// its size. `None` when there is no such member.
    pub fn open_member(&self, name: &str) -> Result<Option<(impl Read, u64)>, ImageError> {
        let mut name = normalize(name);
        for _ in 0..16 {
            match self.members.get(&name) {
                None => return Ok(None),
                Some(Member::Symlink(t) | Member::Hardlink(t)) => name.clone_from(t),
                Some(&Member::File { offset, size }) => {
                    let read_err = |source| ImageError::Read {
                        path: self.file.join(&name),
                        source,
                    };
                    let mut f = File::open(&self.file).map_err(read_err)?;
                    f.seek(SeekFrom::Start(offset)).map_err(read_err)?;
                    return Ok(Some((f.take(size), size)));
                }
            }
        }
        Err(ImageError::InvalidArchive {
            path: self.file.clone(),
            reason: format!("member {name}: too many levels of links"),
        })
    }

    /// Reads a whole small member (JSON documents), refusing more than `limit` bytes.
    pub fn read_member(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, ImageError> {
        let Some((mut r, size)) = self.open_member(name)? else {
            return Ok(None);
        };
        if size > limit {
            return Err(ImageError::InvalidArchive {
                path: self.file.clone(),
                reason: format!("member {name} is {size} bytes, more than the {limit} allowed"),
            });
        }
        let mut buf = Vec::new();
        r.read_to_end(&mut buf).map_err(|source| ImageError::Read {
            path: self.file.join(name),
            source,
        })?;
        Ok(Some(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_member_names() {
        assert_eq!(normalize("./blobs//sha256/ab/"), "blobs/sha256/ab");
        assert_eq!(normalize("a/../../b"), "b");
        assert_eq!(normalize("/index.json"), "index.json");
    }

    #[test]
    fn reads_members_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        let mut b = tar::Builder::new(File::create(&path).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "./dir/file", &b"hello"[..]).unwrap();
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(tar::EntryType::Symlink);
        l.set_size(0);
        b.append_link(&mut l, "top", "dir/file").unwrap();
        b.into_inner().unwrap();

        let idx = TarIndex::open(&path).unwrap();
        assert!(idx.contains("dir/file"));
        assert_eq!(idx.read_member("top", 100).unwrap().unwrap(), b"hello");
        assert!(idx.read_member("missing", 100).unwrap().is_none());
        assert!(idx.read_member("dir/file", 2).is_err());
    }
}
