//! The runtime under test and the captured result of one invocation.

use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use std::os::unix::process::ExitStatusExt;

/// The runc-compatible binary the suite drives.
#[derive(Debug, Clone)]
pub struct Runtime {
    path: PathBuf,
    podrt: bool,
}

/// The workspace's target dir (`CARGO_TARGET_DIR` or `<workspace>/target`).
#[must_use]
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
}

impl Runtime {
    /// The runtime named by `PODRT_TEST_RUNTIME` (a path, or a name looked up in `PATH`), or the
    /// workspace's `target/debug/podrt`.
    #[must_use]
    pub fn from_env() -> Runtime {
        let path = match std::env::var_os("PODRT_TEST_RUNTIME") {
            Some(p) if !p.is_empty() => {
                let p = PathBuf::from(p);
                if p.components().count() == 1 {
                    which(&p).unwrap_or(p)
                } else {
                    p
                }
            }
            _ => target_dir().join("debug").join("podrt"),
        };
        assert!(
            path.is_file(),
            "runtime under test {} does not exist: build it (cargo build -p podrt-runtime) or set \
             PODRT_TEST_RUNTIME=runc",
            path.display()
        );
        let podrt = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("podrt"));
        Runtime { path, podrt }
    }

    /// True when the binary under test is podrt (its file name starts with `podrt`).
    #[must_use]
    pub fn is_podrt(&self) -> bool {
        self.podrt
    }

    /// Path of the binary.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Short name for messages (`runc`, `podrt`, ...).
    #[must_use]
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map_or_else(|| "runtime".into(), |n| n.to_string_lossy().into_owned())
    }

    /// A command with the global `--root` and `--log` flags, then `args`.
    #[must_use]
    pub fn command(&self, root: &Path, log: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.arg("--root").arg(root).arg("--log").arg(log).args(args);
        cmd
    }
}

fn which(name: &Path) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The captured result of one runtime invocation.
#[derive(Debug)]
pub struct Out {
    /// The command line, for messages.
    pub cmdline: String,
    /// Exit status of the runtime process.
    pub status: ExitStatus,
    /// Everything written to stdout (by the runtime, and by the container when its stdio is
    /// inherited) until the runtime exited.
    pub stdout: String,
    /// Everything written to stderr until the runtime exited.
    pub stderr: String,
    /// The file that received stdout; a detached container keeps writing here.
    pub stdout_path: PathBuf,
    /// The file that received stderr.
    pub stderr_path: PathBuf,
    /// The runtime's `--log` file, read when the command finished.
    pub log: String,
    /// How long the command took.
    pub elapsed: Duration,
}

impl Out {
    /// The exit code, or `128 + signal` if the runtime was killed by a signal.
    #[must_use]
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| 128 + self.status.signal().unwrap_or(0))
    }

    /// Exit code 0.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    /// Panic with everything known unless the command succeeded.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.ok(), "expected success:\n{self}");
        self
    }

    /// Panic unless the command failed (non-zero exit).
    #[track_caller]
    pub fn assert_fail(&self) -> &Self {
        assert!(!self.ok(), "expected failure:\n{self}");
        self
    }

    /// Panic unless the exit code is `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), code, "unexpected exit code:\n{self}");
        self
    }

    /// Panic unless stderr contains every one of `needles` (case-insensitive).
    #[track_caller]
    pub fn assert_stderr_contains(&self, needles: &[&str]) -> &Self {
        let hay = self.stderr.to_lowercase();
        for n in needles {
            assert!(
                hay.contains(&n.to_lowercase()),
                "stderr does not mention {n:?}:\n{self}"
            );
        }
        self
    }

    /// Panic unless stderr contains at least one of `needles` (case-insensitive).
    #[track_caller]
    pub fn assert_stderr_any(&self, needles: &[&str]) -> &Self {
        let hay = self.stderr.to_lowercase();
        assert!(
            needles.iter().any(|n| hay.contains(&n.to_lowercase())),
            "stderr mentions none of {needles:?}:\n{self}"
        );
        self
    }

    /// stdout as the container left it so far (re-reads the file; useful for detached
    /// containers whose stdio was inherited from `create`).
    #[must_use]
    pub fn reread_stdout(&self) -> String {
        fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// stdout trimmed.
    #[must_use]
    pub fn out(&self) -> &str {
        self.stdout.trim()
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  command: {}", self.cmdline)?;
        writeln!(f, "  status:  {} (after {:?})", self.status, self.elapsed)?;
        writeln!(f, "  stdout:  {}", indent(&self.stdout))?;
        writeln!(f, "  stderr:  {}", indent(&self.stderr))?;
        writeln!(f, "  runtime log (tail): {}", indent(tail(&self.log, 4000)))
    }
}

fn indent(s: &str) -> String {
    if s.is_empty() {
        return "<empty>".into();
    }
    s.trim_end().replace('\n', "\n           ")
}

/// The last `max` bytes of `s` (on a char boundary).
#[must_use]
pub fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Run `cmd` to completion with stdout/stderr captured into files under `io_dir` (files, not
/// pipes: a detached container inherits them and would keep a pipe open forever). The caller
/// sets stdin. Kills the command (which we started) and panics if it runs longer than `timeout`.
pub fn run_captured(cmd: Command, io_dir: &Path, log: &Path, timeout: Duration) -> Out {
    try_run_captured(cmd, io_dir, log, timeout).unwrap_or_else(|e| panic!("{e}"))
}

/// [`run_captured`] that returns an error instead of panicking (for use in `Drop`).
pub fn try_run_captured(
    mut cmd: Command,
    io_dir: &Path,
    log: &Path,
    timeout: Duration,
) -> Result<Out, String> {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    fs::create_dir_all(io_dir).map_err(|e| format!("create io dir: {e}"))?;
    let stdout_path = io_dir.join(format!("{n}.out"));
    let stderr_path = io_dir.join(format!("{n}.err"));
    let stdout = File::create(&stdout_path).map_err(|e| format!("create stdout file: {e}"))?;
    let stderr = File::create(&stderr_path).map_err(|e| format!("create stderr file: {e}"))?;
    cmd.stdout(stdout).stderr(stderr);
    let cmdline = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("spawn {cmdline}: {e}"))?;
    let Some(status) = wait_timeout(&mut child, timeout) else {
        let _ = child.kill();
        let _ = child.wait();
        let log = fs::read_to_string(log).unwrap_or_default();
        return Err(format!(
            "timed out after {timeout:?}: {cmdline}\n  stdout: {}\n  stderr: {}\n  log: {}",
            fs::read_to_string(&stdout_path).unwrap_or_default(),
            fs::read_to_string(&stderr_path).unwrap_or_default(),
            tail(&log, 4000)
        ));
    };
    let elapsed = start.elapsed();
    Ok(Out {
        cmdline,
        status,
        stdout: fs::read_to_string(&stdout_path).unwrap_or_default(),
        stderr: fs::read_to_string(&stderr_path).unwrap_or_default(),
        stdout_path,
        stderr_path,
        log: fs::read_to_string(log).unwrap_or_default(),
        elapsed,
    })
}

/// Wait for `child` up to `timeout`; `None` on timeout.
pub fn wait_timeout(child: &mut std::process::Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(st) = child.try_wait().expect("wait for child") {
            return Some(st);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}
