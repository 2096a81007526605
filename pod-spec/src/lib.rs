//! pod.yml: a Kubernetes v1 Pod manifest, read with line-accurate diagnostics and lowered to one
//! OCI runtime `Spec` per container plus a [`SandboxPlan`].
//!
//! Pure: nothing here changes the system. Only [`load`] (the manifest) and [`lower`] (Localhost
//! seccomp profiles, from [`SandboxPaths::seccomp_profile_root`]) read files.
//!
//! ```text
//! parse(text, "pod.yml") ── every error at once ──> Err(Vec<Diagnostic>)
//!        └──> Ok((Pod, warnings)) ── lower(pod, images, paths) ──> PodPlan
//! ```
//!
//! Reading: the YAML is parsed by `saphyr-parser` into a positioned tree (module `yaml`) which the
//! decoder walks with a field path, so every finding carries `FILE:LINE:COL: PATH: MESSAGE`.
//! Fields Kubernetes accepts but podrt cannot honour are errors; fields that only matter to a
//! cluster (scheduling, service accounts, image pull policy, ...) are warnings; unknown fields
//! are errors with a "did you mean" hint.
#![forbid(unsafe_code)]

mod decode;
mod lower;
pub mod model;
mod names;
pub mod quantity;
mod seccomp;
mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};

pub use lower::{
    lower, EmptyDirPlan, HostPathPlan, ImageConfig, LoweredContainer, PodPlan, PortMapping, Probes,
    SandboxPaths, SandboxPlan, SubPathMount, UserLookup,
};
pub use model::*;
pub use quantity::{Quantity, QuantityError};
pub use seccomp::{parse_seccomp_profile, runtime_default_seccomp, runtime_default_seccomp_for};

/// One finding, pointing into the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based; 0 when the finding has no place in the file.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// Field path, e.g. `spec.containers[1].ports[0].containerPort` (empty for the document).
    pub path: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `FILE:LINE:COL: PATH: MESSAGE` (the position and path are left out when unknown).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why [`load`] failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", list(.0))]
    Invalid(Vec<Diagnostic>),
}

fn list(d: &[Diagnostic]) -> String {
    d.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn to_diagnostics(file: &str, mut d: Vec<decode::Diag>) -> Vec<Diagnostic> {
    d.sort_by_key(|d| d.pos);
    d.into_iter()
        .map(|d| Diagnostic {
            file: file.to_string(),
            line: d.pos.line,
            column: d.pos.column,
            path: d.path,
            message: d.message,
        })
        .collect()
}

/// Parse and validate a pod manifest. On success: the pod and the warnings (ignored
/// cluster-only fields); on failure: every error in the file, in file order.
pub fn parse(text: &str, file_name: &str) -> Result<(Pod, Vec<Diagnostic>), Vec<Diagnostic>> {
    let doc = yaml::parse(text);
    let mut cx = decode::Cx::default();
    for e in doc.errors {
        cx.err(e.pos, "", e.message);
    }
    let pod = match &doc.root {
        Some(root) => decode::pod(&mut cx, root),
        None if cx.errors.is_empty() => {
            cx.err(
                yaml::Pos { line: 1, column: 1 },
                "",
                "the file holds no Pod manifest",
            );
            None
        }
        None => None,
    };
    match pod {
        Some(mut pod) if cx.errors.is_empty() => {
            pod.source = SourceMap {
                file: file_name.to_string(),
                positions: std::mem::take(&mut cx.positions),
            };
            Ok((pod, to_diagnostics(file_name, cx.warnings)))
        }
        _ => Err(to_diagnostics(file_name, cx.errors)),
    }
}

/// Read and [`parse`] a pod manifest file (diagnostics name it as given).
pub fn load(path: &Path) -> Result<(Pod, Vec<Diagnostic>), LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, &path.display().to_string()).map_err(LoadError::Invalid)
}
