//! Pods from the outside: `podrt run pod.yml` (detached or in the foreground), `pod inspect`,
//! `pod stop`, plus the pod leak check.
//!
//! A [`PodEnv`] wraps the test's [`Ctx`] (temp dir, `--root`, `--log`) and gives the test its own
//! bridge and /24 subnet, so pods of concurrent tests (and a real `podrt0`) never meet. Pod names
//! come from [`Ctx::new_id`] (unique per process and test; also covered by the `Ctx` leak check).
//! Dropping the env runs `pod stop --force` for every pod it named, then the pod leak check:
//! pod dir, netns pin, mounts under the root, host veth, the test bridge, IP leases, port claims,
//! nftables rules, the pod cgroup, and processes mentioning the root.

use std::cell::RefCell;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::runtime::{tail, try_run_captured, Out};
use crate::{features, leak, procfs, Ctx};

static NET_COUNTER: AtomicU32 = AtomicU32::new(0);
static FILE_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Time limit of `pod stop` (the supervisor waits up to the grace period, then SIGKILLs).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// Record a counted skip for the current test (`SKIP(feature-missing): pods::TEST: reason`).
pub fn skip(reason: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("unknown")
        .to_string();
    let line = format!("SKIP(feature-missing): pods::{test}: {reason}");
    let _ = writeln!(std::io::stderr(), "\n*** {line} ***\n");
    let path = features::skip_file();
    if let Some(dir) = path.parent() {
        let _ = fs::create_dir_all(dir);
    }
    if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(&path) {
        let _ = writeln!(f, "{line}");
    }
}

/// The image reference of the offline busybox test image (`oci-archive:...`), or `None` after
/// recording a skip when it cannot be built on this machine.
#[must_use]
pub fn busybox_image() -> Option<String> {
    let test = std::thread::current()
        .name()
        .unwrap_or("unknown")
        .to_string();
    crate::clients::image::busybox(&test)
        .map(|img| format!("oci-archive:{}", img.oci_archive.display()))
}

/// The image store the pod tests share (unpacked layers are reused across tests and runs):
/// `PODRT_TEST_POD_STORE`, else `/var/cache/podrt-test/pod-store`.
#[must_use]
pub fn image_store() -> PathBuf {
    std::env::var_os("PODRT_TEST_POD_STORE")
        .filter(|v| !v.is_empty())
        .map_or_else(
            || PathBuf::from("/var/cache/podrt-test/pod-store"),
            PathBuf::from,
        )
}

/// Host veth name of `pod` under `root`, as podrt's netns crate derives it: `pd` + FNV-1a 32 of
/// the root path, a NUL and the pod name.
#[must_use]
pub fn veth_name(root: &Path, pod: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    let root = root.as_os_str().as_encoded_bytes();
    for b in root.iter().chain(&[0]).chain(pod.as_bytes()) {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("pd{h:08x}")
}

/// Names of the host's network interfaces (`ip -o link`, without the `@peer` part).
#[must_use]
pub fn host_links() -> Vec<String> {
    let out = Command::new("ip")
        .args(["-o", "link", "show"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

fn host_routes() -> String {
    Command::new("ip")
        .args(["-o", "-4", "route", "show", "table", "all"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Poll `f` every 100 ms until it returns `Some`, at most `timeout`.
pub fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A plain HTTP/1.0 GET with timeouts: `(status, body)`.
pub fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(u16, String), String> {
    let mut s =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .and_then(|()| s.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("set timeouts: {e}"))?;
    let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: podrt-tests\r\n\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .map_err(|e| format!("read from {addr}{path}: {e}"))?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("GET {addr}{path}: no HTTP status line in {text:?}"))?;
    Ok((status, body.to_string()))
}

/// A `podrt run pod.yml` in the foreground, started by the test. Dropping it without
/// [`Foreground::wait`] stops it: SIGTERM, then SIGKILL after 20 s (by PID, ours only).
#[derive(Debug)]
pub struct Foreground {
    child: Option<Child>,
    /// The process ID of `podrt run`.
    pub pid: i32,
    /// Its stdout file (the `[name] line` stream).
    pub stdout_path: PathBuf,
    /// Its stderr file.
    pub stderr_path: PathBuf,
}

/// How a foreground run ended.
#[derive(Debug)]
pub struct Ended {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Ended {
    /// Exit code, or 128 + signal.
    #[must_use]
    pub fn code(&self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        self.status
            .code()
            .unwrap_or_else(|| 128 + self.status.signal().unwrap_or(0))
    }
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "  status: {}", self.status)?;
        writeln!(f, "  stdout: {}", tail(&self.stdout, 4000).trim_end())?;
        writeln!(f, "  stderr: {}", tail(&self.stderr, 4000).trim_end())
    }
}

impl Foreground {
    /// Output so far.
    #[must_use]
    pub fn output(&self) -> (String, String) {
        (
            fs::read_to_string(&self.stdout_path).unwrap_or_default(),
            fs::read_to_string(&self.stderr_path).unwrap_or_default(),
        )
    }

    /// True while the process has not exited.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Send `sig` to `podrt run` (our child, by PID).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        if self.child.is_some() && self.pid > 1 {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), sig);
        }
    }

    /// Wait up to `timeout` for the exit; `None` if it is still running.
    pub fn wait(&mut self, timeout: Duration) -> Option<Ended> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    let (stdout, stderr) = self.output();
                    return Some(Ended {
                        status,
                        stdout,
                        stderr,
                    });
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => return None,
            }
        }
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        if self.child.is_none() {
            return;
        }
        self.signal(nix::sys::signal::Signal::SIGTERM);
        if self.wait(Duration::from_secs(20)).is_none() {
            self.signal(nix::sys::signal::Signal::SIGKILL);
            let _ = self.wait(Duration::from_secs(5));
        }
    }
}

/// One pod test's world. See the module docs.
#[derive(Debug)]
pub struct PodEnv {
    /// The underlying test context (temp dir, `--root`, `--log`, runtime).
    pub ctx: Ctx,
    /// The test's bridge (at most 15 bytes).
    pub bridge: String,
    /// The test's /24, e.g. `10.231.7.0/24`.
    pub subnet: String,
    /// The test's subnet's first three octets, e.g. `10.231.7`.
    pub net_prefix: String,
    /// The image store.
    pub store: PathBuf,
    pods: RefCell<Vec<String>>,
}

impl Default for PodEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl PodEnv {
    /// A fresh env named after the current test.
    #[must_use]
    pub fn new() -> PodEnv {
        let ctx = Ctx::new();
        let pid = std::process::id();
        let links = host_links();
        let routes = host_routes();
        let (bridge, net_prefix) = loop {
            let n = NET_COUNTER.fetch_add(1, Ordering::Relaxed);
            assert!(n < 5000, "no free test bridge/subnet found");
            let bridge = format!("pt{}x{n}", pid % 100_000);
            let second = 200 + (pid + n / 256) % 50;
            let third = (pid / 50 + n) % 256;
            let prefix = format!("10.{second}.{third}");
            let used = routes.lines().any(|l| {
                l.starts_with(&format!("{prefix}.")) || l.contains(&format!(" {prefix}."))
            });
            if !used && !links.contains(&bridge) {
                break (bridge, prefix);
            }
        };
        PodEnv {
            ctx,
            subnet: format!("{net_prefix}.0/24"),
            bridge,
            net_prefix,
            store: image_store(),
            pods: RefCell::new(Vec::new()),
        }
    }

    /// The runtime's `--root`.
    #[must_use]
    pub fn root(&self) -> &Path {
        self.ctx.root()
    }

    /// A fresh pod name, registered for cleanup and the leak checks.
    #[must_use]
    pub fn pod_name(&self) -> String {
        let name = self.ctx.new_id();
        self.track(&name);
        name
    }

    /// Register a pod name for cleanup and the leak checks.
    pub fn track(&self, name: &str) {
        let mut pods = self.pods.borrow_mut();
        if !pods.iter().any(|p| p == name) {
            pods.push(name.to_string());
        }
    }

    /// Write `yaml` as a new `.yml` file in the test dir; returns its path.
    #[must_use]
    pub fn manifest(&self, yaml: &str) -> PathBuf {
        let n = FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = self.ctx.dir().join(format!("manifest-{n}.yml"));
        fs::write(&path, yaml).expect("write manifest");
        path
    }

    /// `run` arguments for `manifest` with this env's bridge, `subnet` and store.
    /// `run [--detach] --bridge B --subnet S --image-store D MANIFEST`.
    #[must_use]
    pub fn run_args(&self, manifest: &Path, detach: bool, subnet: &str) -> Vec<String> {
        let mut v = vec!["run".to_string()];
        if detach {
            v.push("--detach".into());
        }
        v.extend([
            "--bridge".into(),
            self.bridge.clone(),
            "--subnet".into(),
            subnet.to_string(),
            "--image-store".into(),
            self.store.display().to_string(),
            manifest.display().to_string(),
        ]);
        v
    }

    /// A captured runtime command (`--root`, `--log` prepended).
    pub fn cmd(&self, args: &[&str], timeout: Duration) -> Out {
        self.ctx.run_command(self.ctx.command(args), timeout)
    }

    /// `run --detach` on the env's subnet.
    pub fn run_detached(&self, manifest: &Path) -> Out {
        self.run_detached_on(manifest, &self.subnet.clone())
    }

    /// `run --detach` on a given subnet (same bridge).
    pub fn run_detached_on(&self, manifest: &Path, subnet: &str) -> Out {
        let args = self.run_args(manifest, true, subnet);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.cmd(&args, Duration::from_secs(120))
    }

    /// `run` in the foreground until it exits (at most `timeout`, then the test fails).
    pub fn run_foreground(&self, manifest: &Path, timeout: Duration) -> Out {
        let args = self.run_args(manifest, false, &self.subnet);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.cmd(&args, timeout)
    }

    /// Start `run` in the foreground and return at once.
    #[must_use]
    pub fn spawn_foreground(&self, manifest: &Path) -> Foreground {
        let n = FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let stdout_path = self.ctx.dir().join(format!("fg-{n}.out"));
        let stderr_path = self.ctx.dir().join(format!("fg-{n}.err"));
        let args = self.run_args(manifest, false, &self.subnet);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = self.ctx.command(&args);
        cmd.stdout(fs::File::create(&stdout_path).expect("create stdout file"))
            .stderr(fs::File::create(&stderr_path).expect("create stderr file"));
        let child = cmd.spawn().expect("spawn podrt run");
        Foreground {
            pid: child.id() as i32,
            child: Some(child),
            stdout_path,
            stderr_path,
        }
    }

    /// `pod inspect NAME` parsed, or `None` when it fails.
    #[must_use]
    pub fn inspect(&self, name: &str) -> Option<Value> {
        let out = self.cmd(&["pod", "inspect", name], Duration::from_secs(30));
        if !out.ok() {
            return None;
        }
        serde_json::from_str(&out.stdout).ok()
    }

    /// `pod inspect NAME` that must work.
    #[track_caller]
    #[must_use]
    pub fn inspect_ok(&self, name: &str) -> Value {
        let out = self.cmd(&["pod", "inspect", name], Duration::from_secs(30));
        out.assert_ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("pod inspect output is not JSON ({e}):\n{out}"))
    }

    /// Poll `pod inspect NAME` until `cond` holds (at most `timeout`); panics with the last
    /// state and the supervisor's log otherwise.
    #[track_caller]
    pub fn wait_pod(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        cond: impl Fn(&Value) -> bool,
    ) -> Value {
        let mut last = None;
        let got = poll(timeout, || {
            let v = self.inspect(name);
            let ok = v.as_ref().is_some_and(&cond);
            last = v;
            if ok {
                last.clone()
            } else {
                None
            }
        });
        got.unwrap_or_else(|| {
            panic!(
                "pod {name}: {what} not reached after {timeout:?}\nlast pod inspect: {}\n{}",
                last.map_or_else(|| "<failed>".into(), |v| v.to_string()),
                self.supervisor_log(name)
            )
        })
    }

    /// Wait until the pod runs and every app is running and ready.
    #[track_caller]
    pub fn wait_ready(&self, name: &str, timeout: Duration) -> Value {
        self.wait_pod(name, "all apps running and ready", timeout, |v| {
            v["phase"] == "running"
                && apps(v)
                    .iter()
                    .filter(|a| a["init"] != true)
                    .all(|a| a["state"] == "running" && a["ready"] == true)
        })
    }

    /// The detached supervisor's log (`pods/NAME/supervisor.log`), for messages.
    #[must_use]
    pub fn supervisor_log(&self, name: &str) -> String {
        let p = self.pod_dir(name).join("supervisor.log");
        let text = fs::read_to_string(&p).unwrap_or_default();
        format!(
            "supervisor log {} (tail):\n{}",
            p.display(),
            tail(&text, 3000)
        )
    }

    /// `ROOT/pods/NAME`.
    #[must_use]
    pub fn pod_dir(&self, name: &str) -> PathBuf {
        self.root().join("pods").join(name)
    }

    /// `pod stop NAME [--force]`.
    pub fn stop(&self, name: &str, force: bool) -> Out {
        let mut args = vec!["pod", "stop"];
        if force {
            args.push("--force");
        }
        args.push(name);
        self.cmd(&args, STOP_TIMEOUT)
    }

    /// What pod `name` left on the host (its own things only); empty when clean.
    #[must_use]
    pub fn pod_leaks(&self, name: &str) -> Vec<String> {
        let mut leaks = Vec::new();
        let root = self.root();
        let dir = self.pod_dir(name);
        if dir.exists() {
            leaks.push(format!("pod dir left: {}", dir.display()));
        }
        let pin = root.join("netns").join(name);
        if pin.exists() {
            leaks.push(format!("netns pin left: {}", pin.display()));
        }
        for m in procfs::mountinfo_self() {
            let p = Path::new(&m.mount_point);
            if p.starts_with(&dir) || p == pin {
                leaks.push(format!("mount left: {}", m.mount_point));
            }
        }
        let veth = veth_name(root, name);
        if host_links().contains(&veth) {
            leaks.push(format!("host veth left: {veth}"));
        }
        for (what, f, owner) in self.net_files() {
            if owner == name {
                leaks.push(format!("{what} left: {}", f.display()));
            }
        }
        for cg in leak::cgroup_roots() {
            let d = cg.join("podrt").join("pods").join(name);
            if d.exists() {
                leaks.push(format!("pod cgroup left: {}", d.display()));
            }
        }
        for (pid, cmd) in processes_mentioning(name) {
            leaks.push(format!("process left: pid {pid} ({cmd})"));
        }
        if let Ok(o) = Command::new("nft")
            .args(["list", "table", "ip", "podrt"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
        {
            let text = String::from_utf8_lossy(&o.stdout);
            for l in text.lines().filter(|l| l.contains(name)) {
                leaks.push(format!("nftables rule left: {}", l.trim()));
            }
        }
        leaks
    }

    /// Lease and port-claim files under the root: (kind, path, owner pod).
    fn net_files(&self) -> Vec<(&'static str, PathBuf, String)> {
        let mut out = Vec::new();
        for (sub, what) in [("ipam", "IP lease"), ("ports", "port claim")] {
            let mut files = Vec::new();
            collect_files(&self.root().join(sub), &mut files);
            for f in files {
                let dot = f
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'));
                if !dot {
                    let owner = fs::read_to_string(&f)
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    out.push((what, f, owner));
                }
            }
        }
        out
    }

    /// What is left under the test's root once every pod is gone: any mount, the test bridge,
    /// any lease or claim, any process whose command line mentions the root.
    #[must_use]
    pub fn root_leaks(&self) -> Vec<String> {
        let mut leaks = Vec::new();
        let root = self.root();
        for m in procfs::mountinfo_self() {
            if Path::new(&m.mount_point).starts_with(root) {
                leaks.push(format!("mount left under the root: {}", m.mount_point));
            }
        }
        if host_links().contains(&self.bridge) {
            leaks.push(format!("test bridge left: {}", self.bridge));
        }
        for (what, f, owner) in self.net_files() {
            leaks.push(format!("{what} left: {} (pod {owner:?})", f.display()));
        }
        for (pid, cmd) in processes_mentioning(&root.to_string_lossy()) {
            leaks.push(format!("process left: pid {pid} ({cmd})"));
        }
        leaks
    }

    /// Pod `name`'s leaks, plus the root-wide ones when no other pod of the test still has its
    /// dir.
    #[must_use]
    pub fn leaks(&self, name: &str) -> Vec<String> {
        let mut leaks = self.pod_leaks(name);
        let others = self
            .pods
            .borrow()
            .iter()
            .any(|p| p != name && self.pod_dir(p).exists());
        if !others {
            leaks.extend(self.root_leaks());
        }
        leaks
    }

    /// Wait (up to 5 s) for pod `name` to leave nothing behind; panic with the leaks otherwise.
    #[track_caller]
    pub fn assert_clean(&self, name: &str) {
        let mut leaks = Vec::new();
        let clean = poll(Duration::from_secs(5), || {
            leaks = self.leaks(name);
            leaks.is_empty().then_some(())
        });
        assert!(
            clean.is_some(),
            "pod {name} left things behind:\n  {}\nruntime log:\n{}",
            leaks.join("\n  "),
            tail(&self.ctx.log(), 4000)
        );
    }
}

/// Live processes other than us whose command line contains `needle`.
fn processes_mentioning(needle: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|&p| p != me && procfs::alive(p))
        .map(|p| (p, procfs::cmdline(p)))
        .filter(|(_, cmd)| cmd.contains(needle))
        .collect()
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            collect_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// `apps[]` of a `pod inspect` document.
#[must_use]
pub fn apps(v: &Value) -> Vec<Value> {
    v["apps"].as_array().cloned().unwrap_or_default()
}

/// The app called `name` in a `pod inspect` document (panics if absent).
#[track_caller]
#[must_use]
pub fn app(v: &Value, name: &str) -> Value {
    apps(v)
        .into_iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no app {name:?} in {v}"))
}

impl Drop for PodEnv {
    fn drop(&mut self) {
        let pods = self.pods.borrow().clone();
        let mut report = Vec::new();
        for name in &pods {
            // Idempotent: a pod that is already gone is fine.
            let cmd = self.ctx.command(&["pod", "stop", "--force", name]);
            match try_run_captured(
                cmd,
                &self.ctx.dir().join("io"),
                self.ctx.log_path(),
                STOP_TIMEOUT,
            ) {
                Ok(out) if !out.ok() => {
                    report.push(format!("cleanup `pod stop --force {name}` failed:\n{out}"))
                }
                Ok(_) => {}
                Err(e) => report.push(format!("cleanup `pod stop --force {name}`: {e}")),
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let leaks = loop {
            let mut leaks = pods
                .iter()
                .flat_map(|n| self.pod_leaks(n))
                .collect::<Vec<_>>();
            leaks.extend(self.root_leaks());
            if leaks.is_empty() || Instant::now() >= deadline {
                break leaks;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        report.extend(leaks);
        if report.is_empty() {
            return;
        }
        let msg = format!(
            "POD LEAK CHECK FAILED for {}:\n  {}\nruntime log:\n{}",
            self.ctx.name,
            report.join("\n  "),
            tail(&self.ctx.log(), 6000)
        );
        if std::thread::panicking() {
            let _ = writeln!(std::io::stderr(), "{msg}");
        } else {
            panic!("{msg}");
        }
    }
}
