//! Lowering: a validated [`Pod`] → one OCI runtime `Spec` per container plus the sandbox's
//! plan, following Kubernetes' and containerd's rules (image config overrides, user
//! precedence, default capabilities, masked paths, RuntimeDefault seccomp, resource
//! conversions).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Capability, LinuxSeccomp, Spec};
use serde_json::{json, Value as Json};

use crate::model::*;
use crate::seccomp::{runtime_default_seccomp_for, DEFAULT_CAPABILITIES};
use crate::Diagnostic;

/// What the image store resolved for one container's image (the runtime fills this in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// `KEY=VALUE`.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    /// `uid[:gid]`, or names (`user`, `user:group`, `uid:group`, ...).
    pub user: Option<String>,
}

/// Where the sandbox's shared things are, for lowering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxPaths {
    pub netns: PathBuf,
    pub ipcns: PathBuf,
    pub utsns: PathBuf,
    /// e.g. `/podrt/pods/NAME`; a container's cgroupsPath is `cgroup_parent/CONTAINER`.
    pub cgroup_parent: String,
    pub etc_hosts: PathBuf,
    pub etc_hostname: PathBuf,
    pub resolv_conf: PathBuf,
    /// emptyDir VOLNAME lives at `volumes_dir/VOLNAME` (for medium Memory the runtime mounts a
    /// tmpfs there first; lowering only binds it).
    pub volumes_dir: PathBuf,
    /// The pod's shared /dev/shm directory (bound into every container, as the IPC namespace is
    /// shared); `None`: each container gets its own 64 MiB tmpfs.
    pub dev_shm: Option<PathBuf>,
    /// Where Localhost seccomp profiles live: `localhostProfile: NAME` is read (OCI
    /// `LinuxSeccomp` JSON) from `seccomp_profile_root/NAME` while lowering. `NAME` is checked
    /// to be relative and free of `..` when parsed.
    pub seccomp_profile_root: PathBuf,
}

/// The pod-wide things the runtime sets up before any container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPlan {
    pub name: String,
    /// `spec.hostname`, default the pod name.
    pub hostname: String,
    /// From the app containers' `hostPort`s.
    pub port_mappings: Vec<PortMapping>,
    /// emptyDir volumes to create (medium Memory: mount a tmpfs of `size_limit` bytes).
    pub empty_dirs: Vec<EmptyDirPlan>,
    /// hostPath volumes whose `type` the runtime checks (or creates) before starting.
    pub host_paths: Vec<HostPathPlan>,
    /// Namespaced sysctls of the pod (also in every container spec's linux.sysctl).
    pub sysctls: Vec<(String, String)>,
    pub restart_policy: RestartPolicy,
    pub termination_grace_period_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
    /// The container that declared it.
    pub container: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmptyDirPlan {
    pub name: String,
    pub path: PathBuf,
    pub medium: StorageMedium,
    /// Bytes.
    pub size_limit: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPathPlan {
    pub volume: String,
    pub path: PathBuf,
    pub kind: HostPathType,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probes {
    pub readiness: Option<Probe>,
    pub liveness: Option<Probe>,
    pub startup: Option<Probe>,
}

/// What the runtime must still resolve inside the container's rootfs (its /etc/passwd and
/// /etc/group) before `create`, as containerd does. When nothing is set, `process.user` in the
/// spec is final.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserLookup {
    /// The image's `User` is a name: set `process.user.uid` from its passwd entry (and the gid,
    /// unless `group_name` is set or the image gave a numeric group). The spec holds uid 0
    /// until then. A missing user is an error ("unable to find user NAME").
    pub user_name: Option<String>,
    /// The image's group is a name: set `process.user.gid` from /etc/group.
    pub group_name: Option<String>,
    /// No group was given: replace the spec's gid (0) by the primary group of the uid's passwd
    /// entry, if there is one.
    pub gid_from_passwd: bool,
    /// Add to `additionalGids` the groups /etc/group lists the user in
    /// (`supplementalGroupsPolicy: Merge`, the default).
    pub merge_image_groups: bool,
}

impl UserLookup {
    pub fn is_needed(&self) -> bool {
        self.user_name.is_some()
            || self.group_name.is_some()
            || self.gid_from_passwd
            || self.merge_image_groups
    }
}

/// A volume mount with a subPath: its source `base/sub_path` must exist; the runtime creates
/// it as a directory when missing (as the kubelet does) without following symlinks out of
/// `base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubPathMount {
    pub volume: String,
    pub base: PathBuf,
    pub sub_path: String,
}

#[derive(Debug, Clone)]
pub struct LoweredContainer {
    pub name: String,
    pub init: bool,
    pub spec: Spec,
    pub probes: Probes,
    pub ports: Vec<Port>,
    pub user: UserLookup,
    pub sub_paths: Vec<SubPathMount>,
}

#[derive(Debug, Clone)]
pub struct PodPlan {
    pub sandbox: SandboxPlan,
    /// Init containers first, in order, then app containers.
    pub containers: Vec<LoweredContainer>,
}

/// The OCI version written into the specs (the one podrt's runtime reports).
const OCI_VERSION: &str = "1.0.2";
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// containerd's default masked paths.
const MASKED_PATHS: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Every capability oci-spec knows (privileged containers, `add: [ALL]`); the runtime drops
/// those the kernel lacks.
const ALL_CAPABILITIES: [Capability; 41] = [
    Capability::AuditControl,
    Capability::AuditRead,
    Capability::AuditWrite,
    Capability::BlockSuspend,
    Capability::Bpf,
    Capability::CheckpointRestore,
    Capability::Chown,
    Capability::DacOverride,
    Capability::DacReadSearch,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::IpcLock,
    Capability::IpcOwner,
    Capability::Kill,
    Capability::Lease,
    Capability::LinuxImmutable,
    Capability::MacAdmin,
    Capability::MacOverride,
    Capability::Mknod,
    Capability::NetAdmin,
    Capability::NetBindService,
    Capability::NetBroadcast,
    Capability::NetRaw,
    Capability::Perfmon,
    Capability::Setgid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::Setuid,
    Capability::SysAdmin,
    Capability::SysBoot,
    Capability::SysChroot,
    Capability::SysModule,
    Capability::SysNice,
    Capability::SysPacct,
    Capability::SysPtrace,
    Capability::SysRawio,
    Capability::SysResource,
    Capability::SysTime,
    Capability::SysTtyConfig,
    Capability::Syslog,
    Capability::WakeAlarm,
];

struct Lowering<'a> {
    pod: &'a Pod,
    paths: &'a SandboxPaths,
    errors: Vec<Diagnostic>,
}

impl Lowering<'_> {
    fn err(&mut self, path: String, message: impl Into<String>) {
        let (line, column) = self.pod.source.pos(&path);
        self.errors.push(Diagnostic {
            file: self.pod.source.file.clone(),
            line,
            column,
            path,
            message: message.into(),
        });
    }
}

/// Lower a validated pod. `images(container name)` gives the container's rootfs and image
/// config. Errors (e.g. no command at all, runAsNonRoot with a root image) name the field.
pub fn lower(
    pod: &Pod,
    images: &dyn Fn(&str) -> (PathBuf, ImageConfig),
    paths: &SandboxPaths,
) -> Result<PodPlan, Vec<Diagnostic>> {
    let mut l = Lowering {
        pod,
        paths,
        errors: Vec::new(),
    };
    let mut containers = Vec::new();
    for (cpath, init, c) in pod.all_containers() {
        let (rootfs, image) = images(&c.name);
        if let Some(lc) = container(&mut l, &cpath, init, c, &rootfs, &image) {
            containers.push(lc);
        }
    }
    let sandbox = SandboxPlan {
        name: pod.name.clone(),
        hostname: pod.effective_hostname().to_string(),
        port_mappings: pod
            .containers
            .iter()
            .flat_map(|c| {
                c.ports.iter().filter_map(|p| {
                    p.host_port.map(|host_port| PortMapping {
                        host_port,
                        container_port: p.container_port,
                        protocol: p.protocol,
                        container: c.name.clone(),
                    })
                })
            })
            .collect(),
        empty_dirs: pod
            .volumes
            .iter()
            .filter_map(|v| match &v.source {
                VolumeSource::EmptyDir { medium, size_limit } => Some(EmptyDirPlan {
                    name: v.name.clone(),
                    path: paths.volumes_dir.join(&v.name),
                    medium: *medium,
                    size_limit: *size_limit,
                }),
                VolumeSource::HostPath { .. } => None,
            })
            .collect(),
        host_paths: pod
            .volumes
            .iter()
            .filter_map(|v| match &v.source {
                VolumeSource::HostPath { path, kind } => Some(HostPathPlan {
                    volume: v.name.clone(),
                    path: PathBuf::from(path),
                    kind: *kind,
                }),
                VolumeSource::EmptyDir { .. } => None,
            })
            .collect(),
        sysctls: pod.security_context.sysctls.clone(),
        restart_policy: pod.restart_policy,
        termination_grace_period_seconds: pod.termination_grace_period_seconds,
    };
    if l.errors.is_empty() {
        Ok(PodPlan {
            sandbox,
            containers,
        })
    } else {
        Err(l.errors)
    }
}

/// Kubernetes' `$(VAR)` expansion: `$(NAME)` → its value when defined (else kept as written),
/// `$$` → `$`.
pub(crate) fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('(') {
            match tail.find(')') {
                Some(end) => {
                    let name = &tail[..end];
                    match vars.get(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &tail[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = tail;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Set `KEY=VALUE` in an ordered environment, replacing an earlier KEY in place.
fn set_env(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    match env.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value.to_string(),
        None => env.push((key.to_string(), value.to_string())),
    }
}

fn parse_id(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn capability_set(sc: &SecurityContext) -> Vec<Capability> {
    if sc.privileged {
        return ALL_CAPABILITIES.to_vec();
    }
    let by_name = |n: &str| n.parse::<Capability>().ok();
    let mut set: BTreeSet<usize> = DEFAULT_CAPABILITIES
        .iter()
        .filter_map(|c| ALL_CAPABILITIES.iter().position(|x| x == c))
        .collect();
    let index = |c: Capability| ALL_CAPABILITIES.iter().position(|x| *x == c);
    // containerd's order: add ALL, drop ALL, then the individual adds, then the drops.
    if sc.capabilities.add.iter().any(|c| c == "ALL") {
        set.extend(0..ALL_CAPABILITIES.len());
    }
    if sc.capabilities.drop.iter().any(|c| c == "ALL") {
        set.clear();
    }
    for c in sc.capabilities.add.iter().filter_map(|n| by_name(n)) {
        set.extend(index(c));
    }
    for c in sc.capabilities.drop.iter().filter_map(|n| by_name(n)) {
        if let Some(i) = index(c) {
            set.remove(&i);
        }
    }
    set.into_iter().map(|i| ALL_CAPABILITIES[i]).collect()
}

fn container(
    l: &mut Lowering<'_>,
    cpath: &str,
    init: bool,
    c: &Container,
    rootfs: &Path,
    image: &ImageConfig,
) -> Option<LoweredContainer> {
    let pod = l.pod;
    let psc = &pod.security_context;
    let sc = &c.security_context;
    let errors_before = l.errors.len();

    // Environment: default PATH, HOSTNAME, the image's, then the container's (expanded).
    let mut env: Vec<(String, String)> = Vec::new();
    let (k, v) = DEFAULT_PATH.split_once('=').unwrap_or_default();
    set_env(&mut env, k, v);
    set_env(&mut env, "HOSTNAME", pod.effective_hostname());
    for kv in &image.env {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => set_env(&mut env, k, v),
            _ => {}
        }
    }
    let mut defined: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &c.env {
        let value = expand(v, &defined);
        defined.insert(k.clone(), value.clone());
        set_env(&mut env, k, &value);
    }

    // Process args by Kubernetes' rules: command replaces Entrypoint (and drops Cmd), args
    // replace Cmd.
    let expand_all =
        |v: &Vec<String>| -> Vec<String> { v.iter().map(|s| expand(s, &defined)).collect() };
    let non_empty = |v: &Option<Vec<String>>| v.as_ref().filter(|v| !v.is_empty()).cloned();
    let args: Vec<String> = match (&c.command, &c.args) {
        (Some(cmd), args) => {
            let mut a = expand_all(cmd);
            a.extend(args.as_ref().map(&expand_all).unwrap_or_default());
            a
        }
        (None, Some(args)) => {
            let mut a = non_empty(&image.entrypoint).unwrap_or_default();
            a.extend(expand_all(args));
            a
        }
        (None, None) => {
            let mut a = non_empty(&image.entrypoint).unwrap_or_default();
            a.extend(non_empty(&image.cmd).unwrap_or_default());
            a
        }
    };
    if args.is_empty() || args[0].is_empty() {
        l.err(
            format!("{cpath}.command"),
            format!(
                "container {:?} has nothing to run: its image has no Entrypoint or Cmd; set \
                 command",
                c.name
            ),
        );
    }

    let cwd = match (&c.working_dir, image.working_dir.as_deref()) {
        (Some(w), _) => w.clone(),
        (None, Some(w)) if !w.is_empty() => {
            if w.starts_with('/') {
                w.to_string()
            } else {
                format!("/{w}")
            }
        }
        _ => "/".to_string(),
    };

    // User: runAsUser/runAsGroup (container beats pod), else the image's User, else root.
    let mut lookup = UserLookup {
        merge_image_groups: !psc.supplemental_groups_strict,
        ..Default::default()
    };
    let run_as_user = sc.run_as_user.or(psc.run_as_user);
    let run_as_group = sc.run_as_group.or(psc.run_as_group);
    let image_user = image.user.as_deref().filter(|u| !u.is_empty());
    let (image_u, image_g) = match image_user {
        Some(u) => match u.split_once(':') {
            Some((u, g)) => (Some(u), Some(g).filter(|g| !g.is_empty())),
            None => (Some(u), None),
        },
        None => (None, None),
    };
    let uid: Option<u32> = match (run_as_user, image_u) {
        (Some(u), _) => Some(u),
        (None, Some(u)) => match parse_id(u) {
            Some(id) => Some(id),
            None => {
                lookup.user_name = Some(u.to_string());
                None
            }
        },
        (None, None) => Some(0),
    };
    let gid: u32 = if let Some(g) = run_as_group {
        g
    } else if run_as_user.is_some() {
        // A uid from runAsUser: the image's group does not apply; passwd decides.
        lookup.gid_from_passwd = true;
        0
    } else if let Some(g) = image_g {
        parse_id(g).unwrap_or_else(|| {
            lookup.group_name = Some(g.to_string());
            0
        })
    } else {
        lookup.gid_from_passwd = image_u.is_some();
        0
    };
    let non_root = sc.run_as_non_root.or(psc.run_as_non_root) == Some(true);
    if non_root {
        let path = if sc.run_as_non_root.is_some() {
            format!("{cpath}.securityContext.runAsNonRoot")
        } else {
            "spec.securityContext.runAsNonRoot".to_string()
        };
        match (uid, &lookup.user_name) {
            (Some(0), _) => l.err(
                path,
                format!(
                    "runAsNonRoot is true but container {:?} would run as root (uid 0); set \
                     runAsUser",
                    c.name
                ),
            ),
            (None, Some(name)) => l.err(
                path,
                format!(
                    "runAsNonRoot is true but the image's user {name:?} is not numeric, so it \
                     cannot be verified; set runAsUser"
                ),
            ),
            _ => {}
        }
    }

    let caps = capability_set(sc);
    let cap_names: Vec<Json> = caps.iter().map(|c| json!(format!("CAP_{c}"))).collect();

    let seccomp: Option<LinuxSeccomp> = if sc.privileged {
        None
    } else {
        let (profile, path) = match (&sc.seccomp_profile, &psc.seccomp_profile) {
            (Some(p), _) => (p.clone(), format!("{cpath}.securityContext.seccompProfile")),
            (None, Some(p)) => (p.clone(), "spec.securityContext.seccompProfile".to_string()),
            (None, None) => (SeccompProfile::RuntimeDefault, String::new()),
        };
        match profile {
            SeccompProfile::RuntimeDefault => Some(runtime_default_seccomp_for(&caps)),
            SeccompProfile::Unconfined => None,
            SeccompProfile::Localhost(name) => {
                let file = l.paths.seccomp_profile_root.join(&name);
                let loaded = std::fs::read_to_string(&file)
                    .map_err(|e| format!("cannot read seccomp profile {}: {e}", file.display()))
                    .and_then(|text| {
                        crate::parse_seccomp_profile(&text).map_err(|e| {
                            format!("{} is not an OCI seccomp profile: {e}", file.display())
                        })
                    });
                match loaded {
                    Ok(p) => Some(p),
                    Err(msg) => {
                        l.err(format!("{path}.localhostProfile"), msg);
                        None
                    }
                }
            }
        }
    };

    // Mounts: the default set, the sandbox files, then the volumes (parents before children).
    let privileged = sc.privileged;
    let sys_ro = if privileged { "rw" } else { "ro" };
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", sys_ro]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", sys_ro]}),
    ];
    let user_dests: BTreeSet<&str> = c
        .volume_mounts
        .iter()
        .map(|m| m.mount_path.as_str())
        .collect();
    let mut later: Vec<Json> = Vec::new();
    if !user_dests.contains("/dev/shm") {
        mounts.push(match &l.paths.dev_shm {
            Some(p) => json!({"destination": "/dev/shm", "type": "bind", "source": p,
                              "options": ["rbind", "rprivate", "nosuid", "nodev", "noexec"]}),
            None => json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                           "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        });
    }
    let file_ro = if sc.read_only_root_filesystem {
        "ro"
    } else {
        "rw"
    };
    for (dest, src) in [
        ("/etc/hosts", &l.paths.etc_hosts),
        ("/etc/hostname", &l.paths.etc_hostname),
        ("/etc/resolv.conf", &l.paths.resolv_conf),
    ] {
        if !user_dests.contains(dest) {
            later.push(json!({"destination": dest, "type": "bind", "source": src,
                              "options": ["rbind", "rprivate", file_ro]}));
        }
    }
    let mut sub_paths = Vec::new();
    for (i, m) in c.volume_mounts.iter().enumerate() {
        let Some(volume) = pod.volume(&m.name) else {
            l.err(
                format!("{cpath}.volumeMounts[{i}].name"),
                format!("volume {:?} is not declared in spec.volumes", m.name),
            );
            continue;
        };
        let base = match &volume.source {
            VolumeSource::EmptyDir { .. } => l.paths.volumes_dir.join(&volume.name),
            VolumeSource::HostPath { path, .. } => PathBuf::from(path),
        };
        let source = match &m.sub_path {
            Some(sp) => {
                // Checked relative and free of `..` when parsed; join component-wise anyway.
                let mut s = base.clone();
                for comp in sp
                    .split('/')
                    .filter(|c| !c.is_empty() && *c != "." && *c != "..")
                {
                    s.push(comp);
                }
                sub_paths.push(SubPathMount {
                    volume: volume.name.clone(),
                    base: base.clone(),
                    sub_path: sp.clone(),
                });
                s
            }
            None => base,
        };
        let propagation = match m.propagation {
            MountPropagation::None => "rprivate",
            MountPropagation::HostToContainer => "rslave",
            MountPropagation::Bidirectional => "rshared",
        };
        let ro = if m.read_only { "ro" } else { "rw" };
        later.push(
            json!({"destination": m.mount_path, "type": "bind", "source": source,
                          "options": ["rbind", propagation, ro]}),
        );
    }
    later.sort_by_key(|m| {
        m["destination"]
            .as_str()
            .map_or(0, |d| d.split('/').filter(|c| !c.is_empty()).count())
    });
    mounts.extend(later);

    // Resources.
    let r = &c.resources;
    let mut resources = serde_json::Map::new();
    resources.insert(
        "devices".into(),
        json!([{"allow": privileged, "access": "rwm"}]),
    );
    let mut memory = serde_json::Map::new();
    if let Some(limit) = r.memory_limit_bytes.filter(|v| *v > 0) {
        memory.insert(
            "limit".into(),
            json!(i64::try_from(limit).unwrap_or(i64::MAX)),
        );
    }
    if let Some(req) = r.memory_request_bytes.filter(|v| *v > 0) {
        memory.insert(
            "reservation".into(),
            json!(i64::try_from(req).unwrap_or(i64::MAX)),
        );
    }
    if !memory.is_empty() {
        resources.insert("memory".into(), Json::Object(memory));
    }
    let mut cpu = serde_json::Map::new();
    let request = r.cpu_request_millis.or(r.cpu_limit_millis).unwrap_or(0);
    cpu.insert("shares".into(), json!(cpu_shares(request)));
    if let Some(limit) = r.cpu_limit_millis.filter(|v| *v > 0) {
        cpu.insert("quota".into(), json!(cpu_quota(limit)));
        cpu.insert("period".into(), json!(CPU_PERIOD));
    }
    resources.insert("cpu".into(), Json::Object(cpu));

    let unmasked = privileged || sc.proc_mount_unmasked;
    let (masked, readonly): (Vec<&str>, Vec<&str>) = if unmasked {
        (Vec::new(), Vec::new())
    } else {
        (MASKED_PATHS.to_vec(), READONLY_PATHS.to_vec())
    };
    let sysctl: serde_json::Map<String, Json> = psc
        .sysctls
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();

    let mut linux = json!({
        "namespaces": [
            {"type": "pid"},
            {"type": "network", "path": l.paths.netns},
            {"type": "ipc", "path": l.paths.ipcns},
            {"type": "uts", "path": l.paths.utsns},
            {"type": "mount"},
            {"type": "cgroup"},
        ],
        "cgroupsPath": format!("{}/{}", l.paths.cgroup_parent.trim_end_matches('/'), c.name),
        "resources": resources,
        "maskedPaths": masked,
        "readonlyPaths": readonly,
    });
    if !sysctl.is_empty() {
        linux["sysctl"] = Json::Object(sysctl);
    }
    if let Some(s) = &seccomp {
        linux["seccomp"] = serde_json::to_value(s).unwrap_or(Json::Null);
    }

    let mut user = json!({"uid": uid.unwrap_or(0), "gid": gid});
    if !psc.supplemental_groups.is_empty() {
        user["additionalGids"] = json!(psc.supplemental_groups);
    }
    let spec_json = json!({
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": false,
            "user": user,
            "args": args,
            "env": env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "cwd": cwd,
            "capabilities": {
                "bounding": cap_names,
                "effective": cap_names,
                "permitted": cap_names,
                "inheritable": [],
                "ambient": [],
            },
            "noNewPrivileges": sc.allow_privilege_escalation == Some(false),
        },
        "root": {"path": rootfs, "readonly": sc.read_only_root_filesystem},
        "hostname": pod.effective_hostname(),
        "mounts": mounts,
        "annotations": {
            "io.podrt.pod.name": pod.name,
            "io.podrt.container.name": c.name,
            "io.podrt.container.type": if init { "init" } else { "app" },
        },
        "linux": linux,
    });
    if l.errors.len() > errors_before {
        return None;
    }
    let spec: Spec = match serde_json::from_value(spec_json) {
        Ok(s) => s,
        Err(e) => {
            l.err(
                cpath.to_string(),
                format!("internal error: lowered spec is invalid: {e}"),
            );
            return None;
        }
    };
    Some(LoweredContainer {
        name: c.name.clone(),
        init,
        spec,
        probes: Probes {
            readiness: c.readiness_probe.clone(),
            liveness: c.liveness_probe.clone(),
            startup: c.startup_probe.clone(),
        },
        ports: c.ports.clone(),
        user: lookup,
        sub_paths,
    })
}

pub(crate) const CPU_PERIOD: u64 = 100_000;

/// Kubernetes' milliCPU → cpu.shares: `millis * 1024 / 1000`, clamped to [2, 262144].
pub(crate) fn cpu_shares(millis: u64) -> u64 {
    (millis.saturating_mul(1024) / 1000).clamp(2, 262_144)
}

/// Kubernetes' milliCPU → CFS quota for a 100 ms period, at least 1 ms.
pub(crate) fn cpu_quota(millis: u64) -> i64 {
    i64::try_from(millis.saturating_mul(CPU_PERIOD) / 1000)
        .unwrap_or(i64::MAX)
        .max(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion() {
        let vars: BTreeMap<String, String> = [
            ("A".to_string(), "1".to_string()),
            ("B".to_string(), "x y".to_string()),
        ]
        .into();
        assert_eq!(expand("$(A)-$(B)", &vars), "1-x y");
        assert_eq!(expand("$(C)", &vars), "$(C)");
        assert_eq!(expand("$$(A)", &vars), "$(A)");
        assert_eq!(expand("$A $", &vars), "$A $");
        assert_eq!(expand("$(A", &vars), "$(A");
        assert_eq!(expand("", &vars), "");
    }

    #[test]
    fn conversions() {
        assert_eq!(cpu_shares(0), 2);
        assert_eq!(cpu_shares(1), 2);
        assert_eq!(cpu_shares(100), 102);
        assert_eq!(cpu_shares(500), 512);
        assert_eq!(cpu_shares(1000), 1024);
        assert_eq!(cpu_shares(u64::MAX), 262_144);
        assert_eq!(cpu_quota(500), 50_000);
        assert_eq!(cpu_quota(2000), 200_000);
        assert_eq!(cpu_quota(1), 1000);
    }
}
