//! A private containerd (own root, state, socket; CRI disabled) driven with `ctr`, whose runc
//! shim calls the runtime under test through `ctr run --runc-binary`.
//!
//! What the `io.containerd.runc.v2` shim of containerd 1.6 asks of the runtime (read off the
//! argv wrapper with `PODRT_TEST_SHOW_ARGV=1`; `R` = `<--runc-root>/<namespace>`, `B` = the task's
//! bundle dir in containerd's state dir). Global flags always come first, as separate words:
//!
//! ```text
//! --root R --log B/log.json --log-format json create --bundle B --pid-file B/init.pid [--console-socket /tmp/ptyN/pty.sock] ID
//! --root R --log B/log.json --log-format json start ID
//! --root R --log B/log.json --log-format json exec --process /tmp/runc-processN [--console-socket S] --detach --pid-file B/EXECID.pid ID
//! --root R --log B/log.json --log-format json ps --format json ID
//! --root R --log B/log.json --log-format json pause ID
//! --root R --log B/log.json --log-format json resume ID
//! --root R --log B/log.json --log-format json kill [--all] ID 9
//! --root R --log B/log.json --log-format json delete ID            (ctr task delete)
//! --root R --log B/log.json --log-format json delete --force ID    (shim cleanup, right after)
//! ```
//!
//! Nothing is called when the task exits on its own (the shim reaps it); a failed `create` is
//! followed directly by `delete --force ID`, and the error is read from `B/log.json`.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

use super::image::{self, BusyboxImage};
use super::sys::{self, ProcInfo};
use super::{require_bins, run_with_timeout, tail_file, CmdOutput, RuntimeWrapper, TestRuntime};

/// containerd namespace the tests use (the shim appends it to `--runc-root`, and containerd
/// derives the default `cgroupsPath` `/<namespace>/<id>` from it).
pub const NAMESPACE: &str = "podrt-test";

/// Default bound for one `ctr` call.
pub const CTR_TIMEOUT: Duration = Duration::from_secs(60);

/// A containerd of our own, stopped (with its shims) on drop.
#[derive(Debug)]
pub struct Containerd {
    dir: tempfile::TempDir,
    /// containerd's gRPC socket.
    pub sock: PathBuf,
    /// The runtime under test.
    pub runtime: TestRuntime,
    /// The argv-logging wrapper handed to the shim as `--runc-binary`.
    pub wrapper: RuntimeWrapper,
    /// `--runc-root` (the shim uses `<runc_root>/<namespace>` as the runtime's `--root`).
    pub runc_root: PathBuf,
    /// `--fifo-dir`.
    pub fifo_dir: PathBuf,
    /// The imported busybox image.
    pub image: &'static BusyboxImage,
    child: Option<Child>,
    ids: RefCell<Vec<String>>,
    pids: RefCell<Vec<i32>>,
}

impl Containerd {
    /// Starts containerd and imports the busybox image; `None` (with a recorded skip) when
    /// containerd, ctr, the runc shim or the image tools are not installed.
    ///
    /// # Panics
    /// When containerd does not come up or the import fails.
    #[must_use]
    pub fn start(test: &str) -> Option<Containerd> {
        require_bins(test, &["containerd", "ctr", "containerd-shim-runc-v2"])?;
        let image = image::busybox(test)?;
        let runtime = TestRuntime::from_env();
        let dir = tempfile::Builder::new()
            .prefix("podrt-ctrd-")
            .tempdir_in("/tmp")
            .expect("temp dir for containerd");
        let d = dir.path();
        let sock = d.join("c.sock");
        let runc_root = d.join("runtime-root");
        let fifo_dir = d.join("fifo");
        for p in [&runc_root, &fifo_dir] {
            fs::create_dir_all(p).expect("mkdir");
        }
        let config = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
oom_score = 0

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[debug]
  level = "info"

[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"
"#,
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = sock.display(),
            opt = d.join("opt").display(),
        );
        fs::write(d.join("config.toml"), config).expect("write config.toml");
        let wrapper = RuntimeWrapper::new(d, &runtime).expect("runtime wrapper");
        let log = fs::File::create(d.join("containerd.log")).expect("containerd.log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn containerd");
        let mut c = Containerd {
            dir,
            sock,
            runtime,
            wrapper,
            runc_root,
            fifo_dir,
            image,
            child: Some(child),
            ids: RefCell::new(Vec::new()),
            pids: RefCell::new(Vec::new()),
        };
        c.wait_ready();
        let tar = c.image.oci_archive.to_string_lossy().into_owned();
        let out = c.ctr(&["images", "import", &tar]);
        c.expect_ok(&out, "import the busybox image");
        Some(c)
    }

    fn wait_ready(&mut self) {
        let ready = sys::poll(Duration::from_secs(30), || {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(st)) = child.try_wait() {
                    return Some(Err(format!("containerd exited early: {st}")));
                }
            }
            if !self.sock.exists() {
                return None;
            }
            let out = run_with_timeout(
                Command::new("ctr").arg("-a").arg(&self.sock).arg("version"),
                Duration::from_secs(5),
            );
            out.success().then_some(Ok(()))
        });
        match ready {
            Some(Ok(())) => {}
            Some(Err(e)) => panic!("{e}\n{}", self.diagnostics()),
            None => panic!("containerd not ready within 30 s\n{}", self.diagnostics()),
        }
    }

    /// The temp dir holding everything of this containerd.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A fresh container ID, remembered for teardown and leak checks.
    #[must_use]
    pub fn new_id(&self, prefix: &str) -> String {
        let id = super::unique_id(prefix);
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// Remember a pid (a container's init) that must be gone at the end.
    pub fn track_pid(&self, pid: i32) {
        self.pids.borrow_mut().push(pid);
    }

    /// `ctr -a SOCK -n NAMESPACE ARGS...` with the default timeout.
    #[must_use]
    pub fn ctr(&self, args: &[&str]) -> CmdOutput {
        self.ctr_timeout(args, CTR_TIMEOUT)
    }

    /// `ctr -a SOCK -n NAMESPACE ARGS...` with a timeout.
    #[must_use]
    pub fn ctr_timeout(&self, args: &[&str], timeout: Duration) -> CmdOutput {
        run_with_timeout(&mut self.ctr_command(args), timeout)
    }

    /// The `ctr` command line without running it.
    #[must_use]
    pub fn ctr_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("-a")
            .arg(&self.sock)
            .arg("-n")
            .arg(NAMESPACE)
            .args(args);
        cmd
    }

    /// The flags that route `ctr run` to the runtime under test.
    #[must_use]
    pub fn runtime_flags(&self) -> Vec<String> {
        vec![
            "--runc-binary".into(),
            self.wrapper.path.to_string_lossy().into_owned(),
            "--runc-root".into(),
            self.runc_root.to_string_lossy().into_owned(),
            "--fifo-dir".into(),
            self.fifo_dir.to_string_lossy().into_owned(),
        ]
    }

    /// `ctr run [extra...] <runtime flags> IMAGE ID CMD...`.
    #[must_use]
    pub fn run(&self, extra: &[&str], id: &str, cmd: &[&str]) -> CmdOutput {
        let flags = self.runtime_flags();
        let mut args: Vec<&str> = vec!["run"];
        args.extend_from_slice(extra);
        args.extend(flags.iter().map(String::as_str));
        args.push(&self.image.reference);
        args.push(id);
        args.extend_from_slice(cmd);
        self.ctr(&args)
    }

    /// `(pid, status)` of the task from `ctr task ls`.
    #[must_use]
    pub fn task_status(&self, id: &str) -> Option<(i32, String)> {
        let out = self.ctr(&["task", "ls"]);
        out.stdout.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[0] == id).then(|| (f[1].parse().unwrap_or(0), f[2].to_string()))
        })
    }

    /// Polls `ctr task ls` until the task shows `status`.
    pub fn wait_status(&self, id: &str, status: &str, timeout: Duration) -> bool {
        sys::poll(timeout, || {
            self.task_status(id)
                .filter(|(_, s)| s == status)
                .map(|_| ())
        })
        .is_some()
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

    /// containerd's log tail, the runtime calls, runtime logs still on disk, runtime root.
    #[must_use]
    pub fn diagnostics(&self) -> String {
        let mut s = String::new();
        let d = self.dir.path();
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
        let tasks = d
            .join("state/io.containerd.runtime.v2.task")
            .join(NAMESPACE);
        if let Ok(rd) = fs::read_dir(&tasks) {
            for e in rd.flatten() {
                let log = e.path().join("log.json");
                if log.exists() {
                    let _ = writeln!(s, "===== runtime log {}:", log.display());
                    let _ = writeln!(s, "{}", tail_file(&log, 4000).trim_end());
                }
            }
        }
        let _ = writeln!(s, "===== containerd log (tail, plugin loading omitted):");
        let log = tail_file(&d.join("containerd.log"), 64 * 1024);
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| !l.contains("loading plugin"))
            .collect();
        let _ = writeln!(s, "{}", lines[lines.len().saturating_sub(40)..].join("\n"));
        s
    }

    /// What this test left behind for container `id`, if anything: shims, the container's init,
    /// runtime state, cgroups, mounts. Waits (bounded) for things that go asynchronously.
    ///
    /// # Errors
    /// A description of every leak.
    pub fn leaks(&self, id: &str) -> Result<(), String> {
        let mut problems = Vec::new();
        let sock = self.sock.to_string_lossy().into_owned();
        let shim_needle = format!("-id {id} ");
        let shims = || -> Vec<ProcInfo> {
            sys::procs_matching(&sock)
                .into_iter()
                .filter(|p| p.cmdline.contains(&shim_needle))
                .collect()
        };
        if sys::poll(Duration::from_secs(10), || shims().is_empty().then_some(())).is_none() {
            for p in shims() {
                problems.push(format!("shim still running: pid {} {}", p.pid, p.cmdline));
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
        let state = self.runc_root.join(NAMESPACE).join(id);
        if state.exists() {
            problems.push(format!("runtime state left: {}", state.display()));
        }
        let cgroups = sys::poll(Duration::from_secs(3), || {
            let c = sys::cgroups_named(id);
            c.is_empty().then_some(())
        });
        if cgroups.is_none() {
            for c in sys::cgroups_named(id) {
                problems.push(format!("cgroup left: {}", c.display()));
            }
        }
        for m in sys::mounts_mentioning(id) {
            problems.push(format!("mount left: {m}"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "leaks after container {id}:\n  {}",
                problems.join("\n  ")
            ))
        }
    }

    /// Panics (with diagnostics) when [`Containerd::leaks`] finds anything.
    pub fn assert_no_leaks(&self, id: &str) {
        if let Err(e) = self.leaks(id) {
            panic!("{e}\n{}", self.diagnostics());
        }
    }

    fn teardown(&mut self) {
        let ids = self.ids.borrow().clone();
        let quick = Duration::from_secs(10);
        // Containers a failed test left: the client's own way first.
        for id in &ids {
            if self.task_status(id).is_some() {
                let _ = self.ctr_timeout(&["task", "kill", "-s", "SIGKILL", id], quick);
                let _ = self.wait_status(id, "STOPPED", Duration::from_secs(5));
                let _ = self.ctr_timeout(&["task", "delete", "--force", id], quick);
            }
            let _ = self.ctr_timeout(&["container", "rm", id], quick);
        }
        // Stop containerd: SIGTERM, then SIGKILL after a bound.
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                sys::signal(pid, Signal::SIGTERM);
            }
            let gone = sys::poll(Duration::from_secs(5), || child.try_wait().ok().flatten());
            if gone.is_none() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        // Shims re-parent to init; they carry `-address <our socket>` in their argv.
        let _ = sys::kill_matching(&self.sock.to_string_lossy());
        // Container processes we saw, if still in a cgroup named after one of our IDs.
        for &pid in self.pids.borrow().iter() {
            let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            if ids.iter().any(|id| cg.contains(id.as_str())) {
                sys::signal(pid, Signal::SIGKILL);
            }
        }
        // Runtime state the shim did not delete.
        if let Ok(rd) = fs::read_dir(self.runc_root.join(NAMESPACE)) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = run_with_timeout(
                    Command::new(&self.runtime.path)
                        .arg("--root")
                        .arg(self.runc_root.join(NAMESPACE))
                        .args(["delete", "--force", &id]),
                    quick,
                );
            }
        }
        let _ = sys::unmount_under(self.dir.path());
        for id in &ids {
            for cg in sys::cgroups_named(id).iter().rev() {
                let _ = fs::remove_dir(cg);
            }
        }
        // containerd puts its containers under /NAMESPACE/ID. Whichever runtime made that
        // parent keeps it when another container still used it at its delete (runc never
        // removes parents): remove it once empty. A test still running there keeps it busy.
        if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
            for hierarchy in rd.flatten() {
                let _ = fs::remove_dir(hierarchy.path().join(NAMESPACE));
            }
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.teardown();
        if std::env::var("PODRT_TEST_KEEP").is_ok_and(|v| v == "1") {
            let keep = self.dir.path().to_path_buf();
            super::note(&format!("keeping {}", keep.display()));
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
            let _ = dir.keep();
        }
    }
}
