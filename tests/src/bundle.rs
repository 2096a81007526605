//! OCI bundles built from the host's static busybox.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{json, Value};

/// The host's static busybox.
pub const BUSYBOX: &str = "/bin/busybox";

/// Capabilities given by default (Docker's default set).
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

struct Cache {
    busybox: PathBuf,
    applets: Vec<String>,
}

/// Copy busybox once per test process into a cache dir on the same filesystem as the temp dirs,
/// so that each bundle only hardlinks it.
fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| {
        let dir = crate::ctx::base_tmp().join(format!("podrt-tests-cache-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("create busybox cache dir");
        let busybox = dir.join("busybox");
        if !busybox.exists() {
            fs::copy(BUSYBOX, &busybox)
                .expect("copy /bin/busybox (apt-get install busybox-static)");
        }
        let out = std::process::Command::new(BUSYBOX)
            .arg("--list")
            .output()
            .expect("busybox --list");
        let applets = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != "busybox")
            .map(String::from)
            .collect();
        // Remove the cache dir when the process exits; it is tiny, but do not litter /tmp.
        extern "C" fn cleanup() {
            let dir =
                crate::ctx::base_tmp().join(format!("podrt-tests-cache-{}", std::process::id()));
            let _ = fs::remove_dir_all(dir);
        }
        // SAFETY: registering a plain extern "C" fn with no captured state.
        unsafe {
            libc::atexit(cleanup);
        }
        Cache { busybox, applets }
    })
}

/// A bundle directory: `rootfs/` plus a `config.json` kept in memory until [`Bundle::write`].
#[derive(Debug)]
pub struct Bundle {
    dir: PathBuf,
    config: Value,
}

impl Bundle {
    /// Build a busybox rootfs in `dir/rootfs` and a default config (not yet written).
    #[must_use]
    pub fn new(dir: &Path) -> Bundle {
        let c = cache();
        let rootfs = dir.join("rootfs");
        for d in [
            "bin", "proc", "sys", "dev", "etc", "tmp", "root", "home", "mnt", "run", "var",
        ] {
            fs::create_dir_all(rootfs.join(d)).expect("create rootfs dir");
        }
        fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))
            .expect("chmod tmp");
        let bb = rootfs.join("bin/busybox");
        if fs::hard_link(&c.busybox, &bb).is_err() {
            fs::copy(&c.busybox, &bb).expect("copy busybox into rootfs");
        }
        for applet in &c.applets {
            let _ = symlink("busybox", rootfs.join("bin").join(applet));
        }
        // Some callers expect /usr/bin and /sbin to exist.
        let _ = symlink("bin", rootfs.join("sbin"));
        fs::create_dir_all(rootfs.join("usr")).expect("create usr");
        let _ = symlink("../bin", rootfs.join("usr/bin"));
        fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home:/bin/sh\n\
             nobody:x:65534:65534:nobody:/:/bin/false\n",
        )
        .expect("write passwd");
        fs::write(
            rootfs.join("etc/group"),
            "root:x:0:\ntty:x:5:\nuser:x:1000:\nextra:x:2000:user\nnogroup:x:65534:\n",
        )
        .expect("write group");
        fs::write(rootfs.join("etc/hosts"), "127.0.0.1 localhost\n").expect("write hosts");
        Bundle {
            dir: dir.to_path_buf(),
            config: default_config(),
        }
    }

    /// The bundle directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The bundle directory as a `&str` (for command lines).
    #[must_use]
    pub fn path_str(&self) -> &str {
        self.dir.to_str().expect("utf-8 bundle path")
    }

    /// The rootfs directory.
    #[must_use]
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// The in-memory config.
    #[must_use]
    pub fn config(&self) -> &Value {
        &self.config
    }

    /// Mutable access to the in-memory config; call [`Bundle::write`] afterwards (the `Ctx`
    /// helpers that create containers write it for you).
    pub fn config_mut(&mut self) -> &mut Value {
        &mut self.config
    }

    /// Write `config.json`.
    pub fn write(&self) {
        let text = serde_json::to_string_pretty(&self.config).expect("serialize config");
        fs::write(self.dir.join("config.json"), text).expect("write config.json");
    }

    /// Set `process.args`.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = json!(args);
        self
    }

    /// Run `script` with `/bin/sh -c`.
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.args(&["/bin/sh", "-c", script])
    }

    /// Append `KEY=VALUE` to `process.env`.
    pub fn env(&mut self, kv: &str) -> &mut Self {
        self.config["process"]["env"]
            .as_array_mut()
            .expect("process.env array")
            .push(json!(kv));
        self
    }

    /// Append a mount.
    pub fn mount(&mut self, m: Value) -> &mut Self {
        self.config["mounts"]
            .as_array_mut()
            .expect("mounts array")
            .push(m);
        self
    }

    /// Remove the namespace of `kind` from `linux.namespaces`.
    pub fn remove_namespace(&mut self, kind: &str) -> &mut Self {
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces array")
            .retain(|n| n["type"] != kind);
        self
    }

    /// Set (or add) the namespace of `kind`, with `path` to join an existing one.
    pub fn namespace(&mut self, kind: &str, path: Option<&str>) -> &mut Self {
        self.remove_namespace(kind);
        let mut ns = json!({ "type": kind });
        if let Some(p) = path {
            ns["path"] = json!(p);
        }
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces array")
            .push(ns);
        self
    }

    /// Add a hook of `kind` (`prestart`, `createRuntime`, ...).
    pub fn hook(&mut self, kind: &str, hook: Value) -> &mut Self {
        if !self.config["hooks"].is_object() {
            self.config["hooks"] = json!({});
        }
        let hooks = &mut self.config["hooks"];
        if !hooks[kind].is_array() {
            hooks[kind] = json!([]);
        }
        hooks[kind].as_array_mut().expect("hook array").push(hook);
        self
    }
}

/// A config resembling `runc spec`, adjusted for tests: no terminal, writable rootfs, a larger
/// default capability set, no `noNewPrivileges`, and a cgroup namespace.
#[must_use]
pub fn default_config() -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sleep", "1000"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS,
                "effective": DEFAULT_CAPS,
                "permitted": DEFAULT_CAPS
            },
            "rlimits": [
                { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }
            ],
            "noNewPrivileges": false
        },
        "root": { "path": "rootfs", "readonly": false },
        "hostname": "podrt-test",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
              "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }
        ],
        "linux": {
            "resources": {
                "devices": [ { "allow": false, "access": "rwm" } ]
            },
            "namespaces": [
                { "type": "pid" },
                { "type": "network" },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" },
                { "type": "cgroup" }
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}
