//! The validated pod: what podrt honours from a Kubernetes v1 Pod, with Kubernetes' defaults
//! applied (restartPolicy Always, grace period 30 s, probe timings, requests defaulted from
//! limits, a volume without a source is an emptyDir) and named probe ports resolved.

use std::collections::BTreeMap;

use crate::yaml::Pos;

/// A pod as read from pod.yml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `spec.hostname`; the sandbox hostname is this or else the pod name.
    pub hostname: Option<String>,
    pub init_containers: Vec<Container>,
    pub containers: Vec<Container>,
    pub volumes: Vec<Volume>,
    pub restart_policy: RestartPolicy,
    pub termination_grace_period_seconds: u64,
    pub security_context: PodSecurityContext,
    /// Where each field came from, so later stages (lowering) can point at the file.
    pub source: SourceMap,
}

impl Default for Pod {
    fn default() -> Self {
        Pod {
            name: String::new(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            hostname: None,
            init_containers: Vec::new(),
            containers: Vec::new(),
            volumes: Vec::new(),
            restart_policy: RestartPolicy::Always,
            termination_grace_period_seconds: 30,
            security_context: PodSecurityContext::default(),
            source: SourceMap::default(),
        }
    }
}

impl Pod {
    /// The hostname every container of the pod sees.
    pub fn effective_hostname(&self) -> &str {
        self.hostname.as_deref().unwrap_or(&self.name)
    }

    /// Init containers then app containers, each with its field path prefix
    /// (`spec.initContainers[0]`, `spec.containers[1]`, ...).
    pub fn all_containers(&self) -> impl Iterator<Item = (String, bool, &Container)> {
        let init = self
            .init_containers
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("spec.initContainers[{i}]"), true, c));
        let app = self
            .containers
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("spec.containers[{i}]"), false, c));
        init.chain(app)
    }

    pub fn volume(&self, name: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.name == name)
    }

    /// The `localhostProfile` names of every Localhost seccomp profile the pod uses.
    pub fn localhost_seccomp_profiles(&self) -> Vec<String> {
        let mut out: Vec<String> = std::iter::once(&self.security_context.seccomp_profile)
            .chain(
                self.all_containers()
                    .map(|(_, _, c)| &c.security_context.seccomp_profile),
            )
            .filter_map(|p| match p {
                Some(SeccompProfile::Localhost(name)) => Some(name.clone()),
                _ => None,
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Field path → position in the file (the value's position).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMap {
    pub file: String,
    pub(crate) positions: BTreeMap<String, Pos>,
}

impl SourceMap {
    /// The position of `path`, or of its nearest recorded ancestor, or 0:0.
    pub fn pos(&self, path: &str) -> (usize, usize) {
        let mut p = path;
        loop {
            if let Some(pos) = self.positions.get(p) {
                return (pos.line, pos.column);
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return (0, 0),
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    #[default]
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::Always => "Always",
            RestartPolicy::OnFailure => "OnFailure",
            RestartPolicy::Never => "Never",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Container {
    pub name: String,
    /// Opaque image reference, resolved by the runtime's image store.
    pub image: String,
    /// `None` when absent or empty (Kubernetes treats both alike).
    pub command: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
    /// In file order; `$(VAR)` references are kept as written and expanded when lowering.
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub ports: Vec<Port>,
    pub resources: Resources,
    pub readiness_probe: Option<Probe>,
    pub liveness_probe: Option<Probe>,
    pub startup_probe: Option<Probe>,
    pub security_context: SecurityContext,
    pub volume_mounts: Vec<VolumeMount>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: Option<String>,
    pub container_port: u16,
    pub host_port: Option<u16>,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// Parsed resources. Requests default to limits (Kubernetes' defaulting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    pub cpu_limit_millis: Option<u64>,
    pub cpu_request_millis: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub memory_request_bytes: Option<u64>,
}

/// A probe with Kubernetes' defaults applied and named ports resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub action: ProbeAction,
    /// Default 0.
    pub initial_delay_seconds: u32,
    /// Default 10.
    pub period_seconds: u32,
    /// Default 1.
    pub timeout_seconds: u32,
    /// Default 1 (always 1 for liveness and startup probes).
    pub success_threshold: u32,
    /// Default 3.
    pub failure_threshold: u32,
}

impl Probe {
    /// A probe with Kubernetes' default timings.
    pub fn new(action: ProbeAction) -> Probe {
        Probe {
            action,
            initial_delay_seconds: 0,
            period_seconds: 10,
            timeout_seconds: 1,
            success_threshold: 1,
            failure_threshold: 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAction {
    /// HTTP (never HTTPS) GET; `path` starts with `/` (default `/`); `host` defaults to the
    /// pod's IP (the runtime decides).
    HttpGet {
        path: String,
        port: u16,
        host: Option<String>,
        headers: Vec<(String, String)>,
    },
    TcpSocket {
        port: u16,
        host: Option<String>,
    },
    /// Run in the container (like `podrt exec`).
    Exec {
        command: Vec<String>,
    },
}

/// Capability names are normalised to upper case without `CAP_` (`NET_ADMIN`), or `ALL`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CapabilityChanges {
    pub add: Vec<String>,
    pub drop: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeccompProfile {
    RuntimeDefault,
    Unconfined,
    /// `localhostProfile`: a relative path under the runtime's profile root.
    Localhost(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityContext {
    pub capabilities: CapabilityChanges,
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    pub run_as_non_root: Option<bool>,
    pub read_only_root_filesystem: bool,
    pub privileged: bool,
    /// `None`: unset (Kubernetes' default, which means allowed).
    pub allow_privilege_escalation: Option<bool>,
    /// `None`: inherit the pod's, and RuntimeDefault if neither is set.
    pub seccomp_profile: Option<SeccompProfile>,
    /// `procMount: Unmasked`: no masked or read-only /proc paths.
    pub proc_mount_unmasked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodSecurityContext {
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    pub run_as_non_root: Option<bool>,
    pub supplemental_groups: Vec<u32>,
    /// `supplementalGroupsPolicy: Strict`: do not add the groups the image's /etc/group gives
    /// the user (the default, Merge, adds them).
    pub supplemental_groups_strict: bool,
    pub seccomp_profile: Option<SeccompProfile>,
    /// Namespaced sysctls only (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*).
    pub sysctls: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MountPropagation {
    /// Kubernetes' default: private.
    #[default]
    None,
    /// rslave.
    HostToContainer,
    /// rshared (needs privileged).
    Bidirectional,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    pub name: String,
    pub mount_path: String,
    pub read_only: bool,
    /// Relative, without `..` components (checked).
    pub sub_path: Option<String>,
    pub propagation: MountPropagation,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub source: VolumeSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    EmptyDir {
        medium: StorageMedium,
        /// `sizeLimit`, in bytes.
        size_limit: Option<u64>,
    },
    HostPath {
        path: String,
        kind: HostPathType,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StorageMedium {
    /// The node's disk (`medium: ""`).
    #[default]
    Default,
    /// tmpfs (`medium: Memory`).
    Memory,
}

/// `hostPath.type`: the check (or creation) the runtime performs before mounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostPathType {
    /// `""`: no check.
    #[default]
    Unset,
    DirectoryOrCreate,
    Directory,
    FileOrCreate,
    File,
    Socket,
    CharDevice,
    BlockDevice,
}

impl HostPathType {
    pub fn as_str(self) -> &'static str {
        match self {
            HostPathType::Unset => "",
            HostPathType::DirectoryOrCreate => "DirectoryOrCreate",
            HostPathType::Directory => "Directory",
            HostPathType::FileOrCreate => "FileOrCreate",
            HostPathType::File => "File",
            HostPathType::Socket => "Socket",
            HostPathType::CharDevice => "CharDevice",
            HostPathType::BlockDevice => "BlockDevice",
        }
    }
}
