//! Local images: OCI image layouts and archives, `docker save` archives and rootfs directories,
//! resolved into a content-addressed layer store ([`Store`]) and stacked with overlayfs under a
//! per-container writable layer ([`mount_rootfs`]). podrt never pulls from a registry.
//!
//! - `reference`: what an image reference names (`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
//!   `docker-archive:FILE[:REF]`, `dir:PATH`, a stored name or digest).
//! - `archive`: random access to the members of a tar archive.
//! - `layout`: the OCI and docker JSON documents, and where blobs come from.
//! - `digest`: `sha256:` digests and hashing readers.
//! - `unpack`: one layer tar into a directory, safely, with OCI whiteouts as overlayfs ones.
//! - `store`: the store on disk: import, resolve, list, remove, gc.
//! - `overlay`: a container's rootfs mount and its teardown.

mod archive;
pub mod digest;
mod layout;
mod overlay;
pub mod reference;
mod store;
#[cfg(test)]
mod testutil;
pub mod unpack;

use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use digest::Digest;
pub use overlay::{merged_dir, mount_rootfs, unmount_rootfs};
pub use reference::{normalize_name, Reference};
pub use store::{default_store_root, GcStats, ImportStats, Store, DEFAULT_STORE_ROOT};

/// The part of an image's config a container needs. Kubernetes' override rules (command
/// replaces `entrypoint` and drops `cmd`, args replace `cmd`) are applied by the pod-spec crate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `Cmd`.
    pub cmd: Option<Vec<String>>,
    /// `Env` (`KEY=VALUE`).
    pub env: Vec<String>,
    /// `WorkingDir` (unset when empty).
    pub working_dir: Option<String>,
    /// `User` (`uid`, `uid:gid`, `name`, ...; unset when empty).
    pub user: Option<String>,
    /// `StopSignal` (`SIGQUIT`, ...), for a graceful stop.
    #[serde(default)]
    pub stop_signal: Option<String>,
}

/// An image ready to be mounted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// The first of its names (the reference it was first imported as), or its digest.
    pub name: String,
    /// Every name the image answers to.
    pub names: Vec<String>,
    /// The OCI manifest digest (`sha256:...`); for a `docker save` archive the config digest
    /// (docker's image ID); empty for a `dir:` rootfs.
    pub digest: String,
    /// Unpacked layer directories, bottom to top (a `dir:` image: the directory itself).
    pub layers: Vec<PathBuf>,
    pub config: ImageConfig,
    /// When it was imported (RFC 3339); `None` for a `dir:` rootfs.
    pub imported: Option<String>,
}

/// Everything that can go wrong with images.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image reference {reference:?}: {reason}")]
    Reference { reference: String, reason: String },
    #[error("image {reference} not found: {hint}")]
    NotFound { reference: String, hint: String },
    #[error("image reference {reference} is ambiguous: it matches {}; name one", candidates.join(", "))]
    Ambiguous {
        reference: String,
        candidates: Vec<String>,
    },
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest { digest: String, reason: String },
    #[error("read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}: {reason}", path.display())]
    InvalidArchive { path: PathBuf, reason: String },
    #[error("parse {what} in {}: {source}", location.display())]
    Parse {
        what: String,
        location: PathBuf,
        source: serde_json::Error,
    },
    #[error("blob {blob} is missing from {}", location.display())]
    MissingBlob { blob: String, location: PathBuf },
    #[error(
        "digest mismatch for {blob}: the content hashes to {actual} (corrupt or tampered blob)"
    )]
    DigestMismatch { blob: String, actual: String },
    #[error(
        "size mismatch for {blob}: the descriptor says {expected} bytes, the blob has {actual}"
    )]
    SizeMismatch {
        blob: String,
        expected: u64,
        actual: u64,
    },
    #[error("unsupported {what}: {hint}")]
    Unsupported { what: String, hint: String },
    #[error("{layer}: refusing entry {entry:?}: {reason}")]
    UnsafeEntry {
        layer: String,
        entry: String,
        reason: String,
    },
    #[error("{layer}: unpack {entry:?}: {source}")]
    Unpack {
        layer: String,
        entry: String,
        source: io::Error,
    },
    #[error("image store {}: {source}", path.display())]
    Store { path: PathBuf, source: io::Error },
    #[error("image {image} is damaged: {reason}")]
    Corrupt { image: String, reason: String },
    #[error("mount rootfs at {}: {reason}: {source}", target.display())]
    Mount {
        target: PathBuf,
        reason: String,
        source: nix::Error,
    },
    #[error("unmount rootfs at {}: {source}", target.display())]
    Unmount { target: PathBuf, source: nix::Error },
}

/// The pod-spec crate's copy of the five fields Kubernetes' override rules use.
impl From<ImageConfig> for podrt_pod_spec::ImageConfig {
    fn from(c: ImageConfig) -> Self {
        podrt_pod_spec::ImageConfig {
            entrypoint: c.entrypoint,
            cmd: c.cmd,
            env: c.env,
            working_dir: c.working_dir,
            user: c.user,
        }
    }
}
