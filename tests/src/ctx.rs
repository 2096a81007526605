//! One test's world: a temp dir with the runtime's `--root`, `--log`, bundles and container IDs,
//! plus the leak check that runs when it drops.

use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::bundle::Bundle;
use crate::leak::{self, Scope};
use crate::runtime::{run_captured, tail, try_run_captured, Out, Runtime};

/// Default time limit of one runtime command.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);

static ID_COUNTER: AtomicU32 = AtomicU32::new(0);
/// Tests of this process that are currently running (for the `/podrt` parent check).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// One privileged test. Drop runs the leak check and fails the test on a leak.
#[derive(Debug)]
pub struct Ctx {
    /// The test's name (from the test thread).
    pub name: String,
    /// The runtime under test.
    pub rt: Runtime,
    /// The primary container ID.
    pub id: String,
    /// The primary bundle (`<dir>/bundle`).
    pub bundle: Bundle,
    dir: TempDir,
    root: PathBuf,
    log: PathBuf,
    ids: RefCell<Vec<String>>,
    bundles: RefCell<Vec<PathBuf>>,
    podrt_parents_before: Vec<PathBuf>,
}

fn sanitize(name: &str) -> String {
    let s: String = name
        .rsplit("::")
        .next()
        .unwrap_or(name)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.chars().take(32).collect()
}

impl Default for Ctx {
    fn default() -> Self {
        Self::new()
    }
}

impl Ctx {
    /// A context named after the current test thread.
    #[must_use]
    pub fn new() -> Ctx {
        let name = std::thread::current()
            .name()
            .filter(|n| *n != "main")
            .unwrap_or("test")
            .to_string();
        Ctx::named(&name)
    }

    /// A context with an explicit name.
    #[must_use]
    pub fn named(name: &str) -> Ctx {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the podrt-tests suite is privileged: run it as root"
        );
        let rt = Runtime::from_env();
        let dir = tempfile::Builder::new()
            .prefix("podrt-t-")
            .tempdir_in(base_tmp())
            .expect("create test temp dir");
        let root = dir.path().join("state");
        let log = dir.path().join("runtime.log");
        let short = sanitize(name);
        let id = format!(
            "t-{short}-{}-{}",
            std::process::id(),
            ID_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let bdir = dir.path().join("bundle");
        fs::create_dir_all(&bdir).expect("create bundle dir");
        let bundle = Bundle::new(&bdir);
        ACTIVE.fetch_add(1, Ordering::SeqCst);
        Ctx {
            name: short,
            rt,
            ids: RefCell::new(vec![id.clone()]),
            bundles: RefCell::new(vec![bdir]),
            id,
            bundle,
            root,
            log,
            podrt_parents_before: leak::podrt_parents(),
            dir,
        }
    }

    /// The test's temp dir (holds state, log, bundles; free for test files).
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The runtime's `--root`.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The runtime's `--log` file.
    #[must_use]
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The runtime's log so far.
    #[must_use]
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The pid file used by [`Ctx::create`].
    #[must_use]
    pub fn pid_file(&self) -> PathBuf {
        self.dir.path().join(format!("{}.pid", self.id))
    }

    /// A fresh container ID, registered for the leak check.
    #[must_use]
    pub fn new_id(&self) -> String {
        let id = format!(
            "t-{}-{}-{}",
            self.name,
            std::process::id(),
            ID_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// A fresh bundle at `<dir>/<name>`, registered for the leak check.
    #[must_use]
    pub fn new_bundle(&self, name: &str) -> Bundle {
        let d = self.dir.path().join(name);
        fs::create_dir_all(&d).expect("create bundle dir");
        self.bundles.borrow_mut().push(d.clone());
        Bundle::new(&d)
    }

    /// A runtime command with the global flags, stdin `/dev/null`, not yet run.
    #[must_use]
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = self.rt.command(&self.root, &self.log, args);
        c.stdin(Stdio::null());
        c
    }

    /// Run a command built by [`Ctx::command`] (or any command) with captured output.
    pub fn run_command(&self, cmd: Command, timeout: Duration) -> Out {
        run_captured(cmd, &self.dir.path().join("io"), &self.log, timeout)
    }

    /// Run `runtime --root R --log L <args>`.
    pub fn cmd(&self, args: &[&str]) -> Out {
        self.run_command(self.command(args), CMD_TIMEOUT)
    }

    /// `create --bundle B --pid-file P ID` (writes config.json first).
    pub fn create(&self) -> Out {
        self.bundle.write();
        let pid_file = self.pid_file();
        self.cmd(&[
            "create",
            "--bundle",
            self.bundle.path_str(),
            "--pid-file",
            pid_file.to_str().expect("utf-8"),
            &self.id,
        ])
    }

    /// [`Ctx::create`] that must succeed; returns the init pid from `state`.
    #[track_caller]
    pub fn create_ok(&self) -> i32 {
        let out = self.create();
        out.assert_ok();
        let st = self.state();
        match st["pid"].as_i64() {
            Some(p) if p > 0 && st["status"] == "created" => p as i32,
            _ => panic!(
                "after a successful create, state is {st}\n{out}  container output since: {}\n  \
                 container stderr since: {}",
                out.reread_stdout(),
                fs::read_to_string(&out.stderr_path).unwrap_or_default()
            ),
        }
    }

    /// `start ID`.
    pub fn start(&self) -> Out {
        self.cmd(&["start", &self.id])
    }

    /// `create` + `start` of the primary container; returns the init pid once `running`.
    #[track_caller]
    pub fn up(&self) -> i32 {
        let pid = self.create_ok();
        self.start().assert_ok();
        assert_eq!(self.status(), "running", "state after start");
        pid
    }

    /// `state ID` parsed; panics if the command fails.
    #[track_caller]
    pub fn state_of(&self, id: &str) -> Value {
        let out = self.cmd(&["state", id]);
        out.assert_ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state output is not JSON ({e}):\n{out}"))
    }

    /// `state` of the primary container.
    #[track_caller]
    pub fn state(&self) -> Value {
        self.state_of(&self.id)
    }

    /// `status` from `state ID`.
    #[track_caller]
    pub fn status_of(&self, id: &str) -> String {
        self.state_of(id)["status"]
            .as_str()
            .expect("status string")
            .to_string()
    }

    /// `status` of the primary container.
    #[track_caller]
    pub fn status(&self) -> String {
        self.status_of(&self.id)
    }

    /// Init pid from `state` of the primary container.
    #[track_caller]
    pub fn pid(&self) -> i32 {
        let st = self.state();
        let pid = st["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("no pid in state: {st}"));
        assert!(pid > 0, "state pid must be positive: {st}");
        pid as i32
    }

    /// Poll `state ID` until its status is `want` (or panic after `timeout`).
    #[track_caller]
    pub fn wait_status_of(&self, id: &str, want: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let st = self.status_of(id);
            if st == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "container {id} still {st:?}, wanted {want:?} after {timeout:?}\nlog: {}",
                tail(&self.log(), 4000)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// [`Ctx::wait_status_of`] for the primary container.
    #[track_caller]
    pub fn wait_status(&self, want: &str) {
        self.wait_status_of(&self.id, want, Duration::from_secs(10));
    }

    /// `kill ID SIG`.
    pub fn kill(&self, sig: &str) -> Out {
        self.cmd(&["kill", &self.id, sig])
    }

    /// `delete ID`.
    pub fn delete(&self) -> Out {
        self.cmd(&["delete", &self.id])
    }

    /// Stop and delete the primary container the way containerd does: `kill ID 9`, wait for
    /// `stopped`, `delete ID`; all must succeed.
    #[track_caller]
    pub fn down(&self) {
        self.down_id(&self.id);
    }

    /// [`Ctx::down`] for any ID.
    #[track_caller]
    pub fn down_id(&self, id: &str) {
        if self.status_of(id) != "stopped" {
            self.cmd(&["kill", id, "9"]).assert_ok();
            self.wait_status_of(id, "stopped", Duration::from_secs(10));
        }
        self.cmd(&["delete", id]).assert_ok();
    }

    /// `run --bundle B ID` in the foreground (writes config.json first); the container's stdio
    /// is the captured files.
    pub fn run(&self) -> Out {
        self.bundle.write();
        self.run_command(
            self.command(&["run", "--bundle", self.bundle.path_str(), &self.id]),
            Duration::from_secs(60),
        )
    }

    /// [`Ctx::run`] that must exit 0; returns the container's stdout.
    #[track_caller]
    pub fn run_ok(&self) -> String {
        let out = self.run();
        out.assert_ok();
        out.stdout
    }

    /// Run `script` with `/bin/sh -c` in a fresh container (foreground `run`) and return its
    /// stdout; the container must exit 0.
    #[track_caller]
    pub fn sh_ok(&mut self, script: &str) -> String {
        self.bundle.sh(script);
        self.run_ok()
    }

    fn scope_data(&self) -> (Vec<String>, Vec<PathBuf>) {
        (self.ids.borrow().clone(), self.bundles.borrow().clone())
    }

    fn force_delete_all(&self, ids: &[String]) {
        for id in ids {
            let cmd = self.command(&["delete", "--force", id]);
            let _ = try_run_captured(cmd, &self.dir.path().join("io"), &self.log, CMD_TIMEOUT);
        }
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let (ids, bundles) = self.scope_data();
        let scope = Scope {
            root: &self.root,
            ids: &ids,
            bundles: &bundles,
        };
        let grace = Duration::from_millis(1000);
        let others_running = ACTIVE.fetch_sub(1, Ordering::SeqCst) > 1;
        if std::thread::panicking() {
            // Failure path: clean up with the runtime first so the next tests are not polluted,
            // then report what even `delete --force` left behind.
            eprintln!(
                "--- {} runtime log ({}) ---\n{}\n--- end of log ---",
                self.name,
                self.log.display(),
                tail(&self.log(), 8000)
            );
            self.force_delete_all(&ids);
            let leaks = leak::find_leaks_with_grace(&scope, grace);
            if !leaks.is_empty() {
                eprintln!(
                    "LEAKS after a failed test, even after `delete --force`:\n  {}",
                    leaks.join("\n  ")
                );
                leak::cleanup(&scope);
            }
            return;
        }
        let mut leaks = leak::find_leaks_with_grace(&scope, grace);
        if self.rt.is_podrt() && !others_running {
            for p in leak::empty_podrt_parents() {
                if !self.podrt_parents_before.contains(&p) {
                    leaks.push(format!(
                        "empty podrt parent cgroup left (created during this test): {}",
                        p.display()
                    ));
                }
            }
        }
        if !leaks.is_empty() {
            self.force_delete_all(&ids);
            leak::cleanup(&scope);
            panic!(
                "LEAK CHECK FAILED for {} ({}):\n  {}\nruntime log:\n{}",
                self.name,
                self.rt.name(),
                leaks.join("\n  "),
                tail(&self.log(), 8000)
            );
        }
    }
}

/// Where test dirs and the busybox cache live: `PODRT_TEST_TMPDIR`, else `/dev/shm` when it is
/// a writable, exec-allowed tmpfs (creating a bundle's ~270 applet symlinks costs ~1 ms there
/// and 100+ ms on this host's ext4 `/tmp`), else the system temp dir.
#[must_use]
pub fn base_tmp() -> PathBuf {
    static BASE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        if let Some(d) = std::env::var_os("PODRT_TEST_TMPDIR") {
            return PathBuf::from(d);
        }
        let shm = Path::new("/dev/shm");
        let tmpfs = nix::sys::statfs::statfs(shm)
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC);
        let flags_ok = nix::sys::statvfs::statvfs(shm).is_ok_and(|s| {
            let f = s.flags();
            !f.contains(nix::sys::statvfs::FsFlags::ST_NOEXEC)
                && !f.contains(nix::sys::statvfs::FsFlags::ST_RDONLY)
                && !f.contains(nix::sys::statvfs::FsFlags::ST_NOSUID)
                && !f.contains(nix::sys::statvfs::FsFlags::ST_NODEV)
        });
        if tmpfs && flags_ok {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        }
    })
    .clone()
}

/// Poll `cond` every 10 ms until it is true; false after `timeout`.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
