//! Image references: where an image comes from (podrt never pulls; everything is local).
//!
//! | form | meaning |
//! |---|---|
//! | `oci:DIR[:TAG]` | an OCI image layout directory, the manifest tagged TAG (or its only one) |
//! | `oci-archive:FILE[:TAG]` | the same as a tar file |
//! | `docker-archive:FILE[:REF]` | a `docker save` archive; REF is `NAME:TAG` or `@N` |
//! | `dir:PATH` | a root filesystem directory, used in place |
//! | `/ABS/PATH` | a layout dir (it has `index.json`), a rootfs dir, or an archive file |
//! | anything else | a name or digest already in the store |
//!
//! As in skopeo, the path ends at the first `:` after the transport (tags may contain `:`).

use std::path::{Path, PathBuf};

use super::archive::TarIndex;
use super::ImageError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    OciDir {
        dir: PathBuf,
        tag: Option<String>,
    },
    OciArchive {
        file: PathBuf,
        tag: Option<String>,
    },
    DockerArchive {
        file: PathBuf,
        reference: Option<String>,
    },
    Rootfs {
        dir: PathBuf,
    },
    /// A name (`nginx`, `localhost/x:1`) or digest (`sha256:...`, or a hex prefix) in the store.
    Stored(String),
}

fn split_tag(rest: &str) -> (PathBuf, Option<String>) {
    match rest.split_once(':') {
        Some((p, t)) if !t.is_empty() => (PathBuf::from(p), Some(t.to_string())),
        Some((p, _)) => (PathBuf::from(p), None),
        None => (PathBuf::from(rest), None),
    }
}

fn absolute(reference: &str, p: PathBuf) -> Result<PathBuf, ImageError> {
    if p.as_os_str().is_empty() {
        return Err(ImageError::Reference {
            reference: reference.to_string(),
            reason: "the path is empty".into(),
        });
    }
    std::path::absolute(&p).map_err(|e| ImageError::Reference {
        reference: reference.to_string(),
        reason: e.to_string(),
    })
}

impl Reference {
    /// Parses `s`. A bare absolute path is looked at (dir with or without `index.json`, or an
    /// archive file, whose kind is read from its members).
    pub fn parse(s: &str) -> Result<Reference, ImageError> {
        if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, tag) = split_tag(rest);
            return Ok(Reference::OciDir {
                dir: absolute(s, dir)?,
                tag,
            });
        }
        if let Some(rest) = s.strip_prefix("oci-archive:") {
            let (file, tag) = split_tag(rest);
            return Ok(Reference::OciArchive {
                file: absolute(s, file)?,
                tag,
            });
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            let (file, reference) = split_tag(rest);
            return Ok(Reference::DockerArchive {
                file: absolute(s, file)?,
                reference,
            });
        }
        if let Some(rest) = s.strip_prefix("dir:") {
            return Ok(Reference::Rootfs {
                dir: absolute(s, PathBuf::from(rest))?,
            });
        }
        if s.starts_with('/') {
            let p = Path::new(s);
            if p.is_dir() {
                return Ok(if p.join("index.json").is_file() {
                    Reference::OciDir {
                        dir: p.to_path_buf(),
                        tag: None,
                    }
                } else {
                    Reference::Rootfs {
                        dir: p.to_path_buf(),
                    }
                });
            }
            if p.is_file() {
                let idx = TarIndex::open(p)?;
                if idx.contains("index.json") {
                    return Ok(Reference::OciArchive {
                        file: p.to_path_buf(),
                        tag: None,
                    });
                }
                if idx.contains("manifest.json") {
                    return Ok(Reference::DockerArchive {
                        file: p.to_path_buf(),
                        reference: None,
                    });
                }
                return Err(ImageError::Reference {
                    reference: s.to_string(),
                    reason: "an archive with neither index.json nor manifest.json".into(),
                });
            }
            return Err(ImageError::Reference {
                reference: s.to_string(),
                reason: "no such file or directory".into(),
            });
        }
        if s.is_empty() {
            return Err(ImageError::Reference {
                reference: String::new(),
                reason: "empty image reference".into(),
            });
        }
        Ok(Reference::Stored(s.to_string()))
    }

    /// The canonical spelling (absolute paths), used as the image's name in the store.
    #[must_use]
    pub fn canonical(&self) -> String {
        let with = |kind: &str, p: &Path, t: &Option<String>| match t {
            Some(t) => format!("{kind}:{}:{t}", p.display()),
            None => format!("{kind}:{}", p.display()),
        };
        match self {
            Reference::OciDir { dir, tag } => with("oci", dir, tag),
            Reference::OciArchive { file, tag } => with("oci-archive", file, tag),
            Reference::DockerArchive { file, reference } => with("docker-archive", file, reference),
            Reference::Rootfs { dir } => format!("dir:{}", dir.display()),
            Reference::Stored(s) => s.clone(),
        }
    }
}

/// An image name in the form Kubernetes and docker compare them: `nginx` and
/// `docker.io/library/nginx:latest` are the same name; a missing tag is `latest`.
#[must_use]
pub fn normalize_name(name: &str) -> String {
    let (repo, suffix) = match name.split_once('@') {
        Some((r, d)) => (r, format!("@{d}")),
        None => {
            // A `:` after the last `/` starts the tag (a `:` before it is a registry port).
            let last = name.rsplit('/').next().unwrap_or(name);
            if last.contains(':') {
                let at = name.len() - last.len() + last.find(':').unwrap_or(0);
                (&name[..at], name[at..].to_string())
            } else {
                (name, ":latest".to_string())
            }
        }
    };
    let first = repo.split('/').next().unwrap_or(repo);
    let has_registry =
        repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let repo = if has_registry {
        repo.to_string()
    } else if repo.contains('/') {
        format!("docker.io/{repo}")
    } else {
        format!("docker.io/library/{repo}")
    };
    format!("{repo}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_transports() {
        assert_eq!(
            Reference::parse("oci:/x/layout:v1").unwrap(),
            Reference::OciDir {
                dir: "/x/layout".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            Reference::parse("oci-archive:/a.tar:localhost/busybox:latest").unwrap(),
            Reference::OciArchive {
                file: "/a.tar".into(),
                tag: Some("localhost/busybox:latest".into())
            }
        );
        assert_eq!(
            Reference::parse("docker-archive:/d.tar").unwrap(),
            Reference::DockerArchive {
                file: "/d.tar".into(),
                reference: None
            }
        );
        assert_eq!(
            Reference::parse("dir:/srv/root").unwrap(),
            Reference::Rootfs {
                dir: "/srv/root".into()
            }
        );
        assert_eq!(
            Reference::parse("nginx:1.25").unwrap(),
            Reference::Stored("nginx:1.25".into())
        );
        assert!(Reference::parse("oci:").is_err());
        assert!(Reference::parse("/does/not/exist").is_err());
        let r = Reference::parse("oci:rel/dir").unwrap();
        assert!(r.canonical().starts_with("oci:/"), "{}", r.canonical());
    }

    #[test]
    fn normalizes_names() {
        assert_eq!(normalize_name("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(
            normalize_name("docker.io/library/nginx:latest"),
            "docker.io/library/nginx:latest"
        );
        assert_eq!(normalize_name("user/app:1"), "docker.io/user/app:1");
        assert_eq!(
            normalize_name("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(
            normalize_name("localhost/podrt-test/busybox:latest"),
            "localhost/podrt-test/busybox:latest"
        );
        assert_eq!(
            normalize_name("x@sha256:ab"),
            "docker.io/library/x@sha256:ab"
        );
    }
}
