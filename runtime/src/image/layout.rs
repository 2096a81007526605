//! The documents podrt reads from OCI image layouts and `docker save` archives, and the place
//! their blobs come from (a layout directory or an archive file).
//!
//! Hand-written serde structs for the few fields podrt uses, lenient about everything else
//! (docker and OCI spell the same documents slightly differently). `oci-spec`'s `image` module
//! would do this too, at the cost of strictness we do not want here.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::archive::TarIndex;
use super::digest::{Digest, HashingReader};
use super::{ImageConfig, ImageError};

pub const MT_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MT_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Annotation holding a manifest's tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Annotation containerd puts on `index.json` entries: the full image name.
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// JSON documents larger than this are refused (real ones are a few KiB).
const JSON_LIMIT: u64 = 8 << 20;

#[derive(Debug, Clone, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub platform: Option<Platform>,
}

impl Descriptor {
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
}

#[derive(Debug, Deserialize)]
pub struct Index {
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// The image config (OCI `application/vnd.oci.image.config.v1+json`, or docker's).
#[derive(Debug, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub config: Option<ContainerConfig>,
    #[serde(default)]
    pub rootfs: Option<RootFs>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ContainerConfig {
    #[serde(rename = "Entrypoint", default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default)]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "Env", default)]
    pub env: Option<Vec<String>>,
    #[serde(rename = "WorkingDir", default)]
    pub working_dir: Option<String>,
    #[serde(rename = "User", default)]
    pub user: Option<String>,
    #[serde(rename = "StopSignal", default)]
    pub stop_signal: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl ConfigFile {
    /// The parts of the config a container needs; empty strings count as unset.
    pub fn image_config(&self) -> ImageConfig {
        let c = self.config.as_ref();
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        ImageConfig {
            entrypoint: c.and_then(|c| c.entrypoint.clone()),
            cmd: c.and_then(|c| c.cmd.clone()),
            env: c.and_then(|c| c.env.clone()).unwrap_or_default(),
            working_dir: c.and_then(|c| nonempty(&c.working_dir)),
            user: c.and_then(|c| nonempty(&c.user)),
            stop_signal: c.and_then(|c| nonempty(&c.stop_signal)),
        }
    }

    /// The uncompressed layer digests, bottom to top.
    pub fn diff_ids(&self) -> Result<Vec<Digest>, ImageError> {
        self.rootfs
            .as_ref()
            .map_or(&[][..], |r| r.diff_ids.as_slice())
            .iter()
            .map(|d| Digest::parse(d))
            .collect()
    }
}

/// One entry of a docker-save `manifest.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct DockerManifestEntry {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    pub layers: Vec<String>,
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    /// Unknown from the media type: look at the first bytes.
    Sniff,
}

impl Compression {
    /// From a layer media type; `Err` for media types that are not layers.
    pub fn of_media_type(mt: &str) -> Result<Compression, ImageError> {
        let base = mt.split(';').next().unwrap_or(mt).trim();
        Ok(match base {
            "" => Compression::Sniff,
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Compression::None,
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Compression::Gzip,
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Compression::Zstd,
            other => {
                return Err(ImageError::Unsupported {
                    what: format!("layer media type {other}"),
                    hint: "podrt reads tar layers, uncompressed, gzip or zstd".into(),
                })
            }
        })
    }
}

/// Where blobs come from: an OCI layout directory or a tar archive (either kind).
#[derive(Debug)]
pub enum Source {
    Dir(PathBuf),
    Archive(TarIndex),
}

impl Source {
    pub fn location(&self) -> &Path {
        match self {
            Source::Dir(d) => d,
            Source::Archive(a) => a.path(),
        }
    }

    /// A small file (index.json, manifest.json) by its name in the layout or archive.
    pub fn read_file(&self, name: &str) -> Result<Option<Vec<u8>>, ImageError> {
        match self {
            Source::Archive(a) => a.read_member(name, JSON_LIMIT),
            Source::Dir(d) => {
                let path = d.join(name);
                match File::open(&path) {
                    Ok(f) => {
                        let mut buf = Vec::new();
                        f.take(JSON_LIMIT + 1)
                            .read_to_end(&mut buf)
                            .map_err(|source| ImageError::Read {
                                path: path.clone(),
                                source,
                            })?;
                        if buf.len() as u64 > JSON_LIMIT {
                            return Err(ImageError::InvalidArchive {
                                path,
                                reason: format!("more than {JSON_LIMIT} bytes"),
                            });
                        }
                        Ok(Some(buf))
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(source) => Err(ImageError::Read { path, source }),
                }
            }
        }
    }

    /// Opens a member by path (docker-save archives name layers by path).
    pub fn open_path(&self, name: &str) -> Result<(Box<dyn Read>, u64), ImageError> {
        let missing = || ImageError::MissingBlob {
            blob: name.to_string(),
            location: self.location().to_path_buf(),
        };
        match self {
            Source::Archive(a) => {
                let (r, size) = a.open_member(name)?.ok_or_else(missing)?;
                Ok((Box::new(r), size))
            }
            Source::Dir(d) => {
                let path = d.join(name);
                let f = File::open(&path).map_err(|e| {
                    if e.kind() == io::ErrorKind::NotFound {
                        missing()
                    } else {
                        ImageError::Read {
                            path: path.clone(),
                            source: e,
                        }
                    }
                })?;
                let size = f
                    .metadata()
                    .map_err(|source| ImageError::Read { path, source })?
                    .len();
                Ok((Box::new(f), size))
            }
        }
    }

    /// Opens the blob `digest` (`blobs/sha256/<hex>`).
    pub fn open_blob(&self, digest: &Digest) -> Result<(Box<dyn Read>, u64), ImageError> {
        self.open_path(&format!("blobs/sha256/{}", digest.hex()))
    }

    /// Reads a small blob whole and checks its digest (and size when known).
    pub fn read_blob(&self, what: &str, desc: &Descriptor) -> Result<Vec<u8>, ImageError> {
        let digest = Digest::parse(&desc.digest)?;
        let (r, size) = self.open_blob(&digest)?;
        if size > JSON_LIMIT {
            return Err(ImageError::InvalidArchive {
                path: self.location().to_path_buf(),
                reason: format!(
                    "{what} {digest} is {size} bytes, more than the {JSON_LIMIT} allowed"
                ),
            });
        }
        let mut buf = Vec::new();
        let mut hr = HashingReader::new(r);
        hr.read_to_end(&mut buf)
            .map_err(|source| ImageError::Read {
                path: self
                    .location()
                    .join(format!("blobs/sha256/{}", digest.hex())),
                source,
            })?;
        let (actual, n, _) = hr.finish().map_err(|source| ImageError::Read {
            path: self.location().to_path_buf(),
            source,
        })?;
        verify(what, &digest, &actual, desc.size, n)?;
        Ok(buf)
    }
}

/// Checks a blob's digest and (when the descriptor gives one) size.
pub fn verify(
    what: &str,
    expected: &Digest,
    actual: &Digest,
    size: u64,
    n: u64,
) -> Result<(), ImageError> {
    if actual != expected {
        return Err(ImageError::DigestMismatch {
            blob: format!("{what} {expected}"),
            actual: actual.to_string(),
        });
    }
    if size != 0 && size != n {
        return Err(ImageError::SizeMismatch {
            blob: format!("{what} {expected}"),
            expected: size,
            actual: n,
        });
    }
    Ok(())
}

pub fn parse_json<'a, T: Deserialize<'a>>(
    what: &str,
    location: &Path,
    bytes: &'a [u8],
) -> Result<T, ImageError> {
    serde_json::from_slice(bytes).map_err(|source| ImageError::Parse {
        what: what.to_string(),
        location: location.to_path_buf(),
        source,
    })
}

/// The GOARCH name of this machine, as image platforms spell it.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// Picks the manifest `tag` names in an OCI `index.json` (the only one when `tag` is `None`),
/// descending into a nested image index by platform. Returns the `index.json` entry (which
/// carries the annotations) and the image manifest's descriptor.
pub fn select_manifest(
    src: &Source,
    index: &Index,
    tag: Option<&str>,
) -> Result<(Descriptor, Descriptor), ImageError> {
    let tags: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|d| d.annotation(REF_NAME).map(str::to_string))
        .collect();
    let mut chosen: Vec<&Descriptor> = match tag {
        Some(t) => index
            .manifests
            .iter()
            .filter(|d| {
                d.annotation(REF_NAME) == Some(t) || d.annotation(CONTAINERD_NAME) == Some(t)
            })
            .collect(),
        None => index.manifests.iter().collect(),
    };
    if chosen.is_empty() {
        return Err(ImageError::NotFound {
            reference: format!("{}:{}", src.location().display(), tag.unwrap_or("")),
            hint: if tags.is_empty() {
                "the layout holds no tagged manifests".to_string()
            } else {
                format!("tags in this layout: {}", tags.join(", "))
            },
        });
    }
    if chosen.len() > 1 {
        // Several manifests under one name: keep those for this platform.
        chosen.retain(|d| for_this_platform(d));
    }
    if chosen.len() != 1 {
        return Err(ImageError::Ambiguous {
            reference: src.location().display().to_string(),
            candidates: tags,
        });
    }
    let top = chosen[0].clone();
    let mut desc = top.clone();
    // An image index (multi-platform): one level down, by platform.
    for _ in 0..4 {
        if desc.media_type != MT_OCI_INDEX && desc.media_type != MT_DOCKER_LIST {
            return Ok((top, desc));
        }
        let nested: Index = parse_json(
            "image index",
            src.location(),
            &src.read_blob("image index", &desc)?,
        )?;
        let found = nested
            .manifests
            .iter()
            .find(|d| for_this_platform(d))
            .cloned();
        desc = found.ok_or_else(|| ImageError::NotFound {
            reference: format!("{} ({})", src.location().display(), desc.digest),
            hint: format!(
                "no manifest for linux/{} in the image index",
                host_architecture()
            ),
        })?;
    }
    Err(ImageError::InvalidArchive {
        path: src.location().to_path_buf(),
        reason: "image indexes nested too deep".into(),
    })
}

/// Whether a manifest is for this machine (no platform given counts as yes).
fn for_this_platform(d: &Descriptor) -> bool {
    match &d.platform {
        Some(p) => platform_matches(p),
        None => true,
    }
}

fn platform_matches(p: &Platform) -> bool {
    (p.os.is_empty() || p.os == "linux")
        && (p.architecture.is_empty() || p.architecture == host_architecture())
}

/// Picks the entry of a docker-save `manifest.json` that `reference` names: `NAME:TAG` (one of
/// its RepoTags), `@N` (the N-th entry) or nothing (the only one).
pub fn select_docker_entry(
    location: &Path,
    entries: &[DockerManifestEntry],
    reference: Option<&str>,
) -> Result<DockerManifestEntry, ImageError> {
    let all_tags: Vec<String> = entries
        .iter()
        .flat_map(|e| e.repo_tags.clone().unwrap_or_default())
        .collect();
    let found = match reference {
        None if entries.len() == 1 => Some(&entries[0]),
        None => {
            return Err(ImageError::Ambiguous {
                reference: location.display().to_string(),
                candidates: all_tags,
            })
        }
        Some(r) => {
            if let Some(n) = r.strip_prefix('@').and_then(|n| n.parse::<usize>().ok()) {
                entries.get(n)
            } else {
                let want = super::reference::normalize_name(r);
                entries.iter().find(|e| {
                    e.repo_tags
                        .iter()
                        .flatten()
                        .any(|t| super::reference::normalize_name(t) == want)
                })
            }
        }
    };
    found.cloned().ok_or_else(|| ImageError::NotFound {
        reference: format!("{}:{}", location.display(), reference.unwrap_or("")),
        hint: format!("images in this archive: {}", all_tags.join(", ")),
    })
}
