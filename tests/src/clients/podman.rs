//! podman with every store in a temp dir (`--root --runroot --tmpdir`, vfs, cgroupfs, file
//! events, file locks), pointed at the runtime under test with `--runtime PATH`.
//!
//! What podman 4.3 (through conmon for create/exec) asks of the runtime, read off the argv
//! wrapper with `PODRT_TEST_SHOW_ARGV=1`. There is no `--root` (state goes to the runtime's
//! default root), and the global flags use the joined `--log-format=json` form (given only to
//! runtimes whose file name podman knows or `runtime_supports_json` lists). `U` = the
//! container's userdata dir, `RU` = its run dir, `X` = `U/<exec session id>`:
//!
//! ```text
//! --log-format=json --log RU/oci-log create --bundle U --pid-file RU/pidfile [--console-socket /tmp/conmon-term.N] CID
//! start CID
//! --log-format=json --log X/oci-log exec --pid-file X/exec_pid --process X/exec-process-N --detach [--tty --console-socket S] CID
//! kill CID 15      then, after the stop timeout, kill CID 9    (podman stop; rm -f -t 0 sends 9 only)
//! delete --force CID
//! ```

use std::cell::RefCell;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::image::{self, BusyboxImage};
use super::sys::{self, ProcInfo};
use super::{require_bins, run_with_timeout, tail_file, CmdOutput, RuntimeWrapper, TestRuntime};

/// Default bound for one podman call.
pub const PODMAN_TIMEOUT: Duration = Duration::from_secs(90);

/// A private podman store; containers left by a failed test are removed on drop.
#[derive(Debug)]
pub struct Podman {
    dir: tempfile::TempDir,
    /// The runtime under test.
    pub runtime: TestRuntime,
    /// The argv-logging wrapper passed as `--runtime`.
    pub wrapper: RuntimeWrapper,
    /// The loaded busybox image.
    pub image: &'static BusyboxImage,
    cids: RefCell<Vec<String>>,
    pids: RefCell<Vec<i32>>,
}

impl Podman {
    /// Sets up the store and loads the busybox image; `None` (with a recorded skip) when podman,
    /// conmon or the image tools are not installed.
    ///
    /// # Panics
    /// When loading the image fails.
    #[must_use]
    pub fn new(test: &str) -> Option<Podman> {
        require_bins(test, &["podman", "conmon"])?;
        let image = image::busybox(test)?;
        let runtime = TestRuntime::from_env();
        let dir = tempfile::Builder::new()
            .prefix("podrt-podman-")
            .tempdir_in("/tmp")
            .expect("temp dir for podman");
        let d = dir.path();
        for sub in ["root", "runroot", "tmp", "networks"] {
            fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        let wrapper = RuntimeWrapper::new(d, &runtime).expect("runtime wrapper");
        let name = runtime.name();
        let containers_conf = format!(
            r#"[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
log_driver = "k8s-file"

[network]
network_config_dir = "{net}"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{events}"
lock_type = "file"
tmp_dir = "{tmp}"
runtime_supports_json = ["podrt", "runc", "crun", "{name}"]

[engine.runtimes]
podrt = ["{path}"]
"#,
            net = d.join("networks").display(),
            events = d.join("events.log").display(),
            tmp = d.join("tmp").display(),
            path = wrapper.path.display(),
        );
        fs::write(d.join("containers.conf"), containers_conf).expect("containers.conf");
        let storage_conf = format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            d.join("root").display(),
            d.join("runroot").display()
        );
        fs::write(d.join("storage.conf"), storage_conf).expect("storage.conf");
        let p = Podman {
            dir,
            runtime,
            wrapper,
            image,
            cids: RefCell::new(Vec::new()),
            pids: RefCell::new(Vec::new()),
        };
        let tar = p.image.docker_archive.to_string_lossy().into_owned();
        let out = p.podman(&["load", "-i", &tar]);
        p.expect_ok(&out, "podman load");
        Some(p)
    }

    /// The temp dir holding everything of this podman.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `podman <global flags> ARGS...` as a command, environment included.
    #[must_use]
    pub fn command(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut cmd = Command::new("podman");
        cmd.env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", d.join("storage.conf"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"])
            .args(["--events-backend", "file", "--runtime"])
            .arg(&self.wrapper.path)
            .args(args);
        cmd
    }

    /// Runs podman with the default timeout.
    #[must_use]
    pub fn podman(&self, args: &[&str]) -> CmdOutput {
        self.podman_timeout(args, PODMAN_TIMEOUT)
    }

    /// Runs podman with a timeout.
    #[must_use]
    pub fn podman_timeout(&self, args: &[&str], timeout: Duration) -> CmdOutput {
        run_with_timeout(&mut self.command(args), timeout)
    }

    /// A path for `--cidfile` (must not exist yet).
    #[must_use]
    pub fn cidfile(&self) -> PathBuf {
        self.dir
            .path()
            .join(format!("{}.cid", super::unique_id("cid")))
    }

    /// Remember a container ID for leak checks and teardown.
    pub fn track_cid(&self, cid: &str) {
        self.cids.borrow_mut().push(cid.to_string());
    }

    /// Reads a `--cidfile` and tracks the ID in it.
    #[must_use]
    pub fn read_cidfile(&self, path: &Path) -> Option<String> {
        let cid = fs::read_to_string(path).ok()?.trim().to_string();
        (!cid.is_empty()).then(|| {
            self.track_cid(&cid);
            cid
        })
    }

    /// Remember a pid (a container's init) that must be gone at the end.
    pub fn track_pid(&self, pid: i32) {
        self.pids.borrow_mut().push(pid);
    }

    /// `podman inspect --format FORMAT CID`, trimmed.
    #[must_use]
    pub fn inspect(&self, cid: &str, format: &str) -> Option<String> {
        let out = self.podman(&["inspect", "--format", format, cid]);
        out.success().then(|| out.stdout.trim().to_string())
    }

    /// Panics with `out`, `what` and the diagnostics unless `out` succeeded.
    pub fn expect_ok(&self, out: &CmdOutput, what: &str) {
        assert!(
            out.success(),
            "{what} failed:\n{out}\n{}",
            self.diagnostics()
        );
    }

    /// Panics with `msg` and the diagnostics unless `cond`.
    pub fn ensure(&self, cond: bool, msg: impl FnOnce() -> String) {
        assert!(cond, "{}\n{}", msg(), self.diagnostics());
    }

    /// The runtime calls, runtime logs (`oci-log`) and conmon logs still on disk.
    #[must_use]
    pub fn diagnostics(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "===== runtime under test: {}",
            self.runtime.path.display()
        );
        let _ = writeln!(
            s,
            "===== runtime calls ({}):",
            self.wrapper.argv_log.display()
        );
        let _ = writeln!(s, "{}", self.wrapper.log_text().trim_end());
        let mut logs = Vec::new();
        find_files(self.dir.path(), &["oci-log", "ctr.log"], 8, &mut logs);
        for log in logs {
            let _ = writeln!(s, "===== {}:", log.display());
            let _ = writeln!(s, "{}", tail_file(&log, 3000).trim_end());
        }
        s
    }

    /// What the test left behind for container `cid`: conmon or podman helpers, the container's
    /// init, runtime state under the runtime's default root, cgroups, mounts. Waits (bounded)
    /// for what goes asynchronously (conmon's exit command runs `podman container cleanup`).
    ///
    /// # Errors
    /// A description of every leak.
    pub fn leaks(&self, cid: &str) -> Result<(), String> {
        let mut problems = Vec::new();
        let dir = self.dir.path().to_string_lossy().into_owned();
        let helpers = || -> Vec<ProcInfo> {
            sys::procs_matching(&dir)
                .into_iter()
                .filter(|p| p.cmdline.contains(cid))
                .collect()
        };
        if sys::poll(Duration::from_secs(15), || {
            helpers().is_empty().then_some(())
        })
        .is_none()
        {
            for p in helpers() {
                problems.push(format!("process left: pid {} {}", p.pid, p.cmdline));
            }
        }
        for &pid in self.pids.borrow().iter() {
            let gone = sys::poll(Duration::from_secs(5), || match sys::proc_state(pid) {
                None | Some(('Z' | 'X', _)) => Some(()),
                Some(_) => None,
            });
            if gone.is_none() {
                problems.push(format!("container process {pid} still alive"));
            }
        }
        let state = self.runtime.default_root().join(cid);
        if sys::poll(Duration::from_secs(5), || (!state.exists()).then_some(())).is_none() {
            problems.push(format!("runtime state left: {}", state.display()));
        }
        if sys::poll(Duration::from_secs(5), || {
            sys::cgroups_named(cid).is_empty().then_some(())
        })
        .is_none()
        {
            for c in sys::cgroups_named(cid) {
                problems.push(format!("cgroup left: {}", c.display()));
            }
        }
        if sys::poll(Duration::from_secs(5), || {
            sys::mounts_mentioning(cid).is_empty().then_some(())
        })
        .is_none()
        {
            for m in sys::mounts_mentioning(cid) {
                problems.push(format!("mount left: {m}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "leaks after container {cid}:\n  {}",
                problems.join("\n  ")
            ))
        }
    }

    /// Panics (with diagnostics) when [`Podman::leaks`] finds anything.
    pub fn assert_no_leaks(&self, cid: &str) {
        if let Err(e) = self.leaks(cid) {
            panic!("{e}\n{}", self.diagnostics());
        }
    }

    fn teardown(&mut self) {
        let quick = Duration::from_secs(30);
        let _ = self.podman_timeout(&["rm", "--force", "--all", "--time", "0"], quick);
        let dir = self.dir.path().to_path_buf();
        // conmon double-forks away from us; it and podman's cleanup helpers name our dir.
        let _ = sys::kill_matching(&dir.to_string_lossy());
        let cids = self.cids.borrow().clone();
        for &pid in self.pids.borrow().iter() {
            let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            if cids.iter().any(|c| cg.contains(c.as_str())) {
                sys::signal(pid, Signal::SIGKILL);
            }
        }
        let root = self.runtime.default_root();
        for cid in &cids {
            let state = root.join(cid);
            if state.exists() {
                let _ = run_with_timeout(
                    Command::new(&self.runtime.path).args(["delete", "--force", cid]),
                    quick,
                );
            }
            // Last resort when the runtime could not clean up: the ID is ours (random, made by
            // our podman), so its state dir is too.
            if state.exists() {
                let _ = fs::remove_dir_all(&state);
            }
        }
        let _ = sys::unmount_under(&dir);
        // conmon leaves its console socket (/tmp/conmon-term.*) behind when create fails; remove
        // the ones our runtime calls named.
        for call in self.wrapper.calls() {
            let sock = call
                .windows(2)
                .find(|w| w[0] == "--console-socket")
                .map(|w| &w[1]);
            if let Some(sock) = sock.filter(|s| s.starts_with("/tmp/conmon-term.")) {
                let _ = fs::remove_file(sock);
            }
        }
        for cid in &cids {
            for cg in sys::cgroups_named(cid).iter().rev() {
                let _ = fs::remove_dir(cg);
            }
        }
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        self.teardown();
        if std::env::var("PODRT_TEST_KEEP").is_ok_and(|v| v == "1") {
            super::note(&format!("keeping {}", self.dir.path().display()));
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
            let _ = dir.keep();
        }
    }
}

fn find_files(dir: &Path, names: &[&str], depth: u32, out: &mut Vec<PathBuf>) {
    if depth == 0 || out.len() > 20 {
        return;
    }
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let Ok(t) = e.file_type() else { continue };
        let p = e.path();
        if t.is_dir() {
            // Skip image layers: big and irrelevant.
            if e.file_name() != "vfs" {
                find_files(&p, names, depth - 1, out);
            }
        } else if names.iter().any(|n| e.file_name() == *n) {
            out.push(p);
        }
    }
}
