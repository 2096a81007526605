//! Real-client integration: containerd (through `ctr`) and podman driving the runtime under test.
//!
//! Self-contained on purpose (it shares no types with the bundle harness): every client runs
//! with all its state in a temp dir, the runtime is reached through a tiny argv-logging wrapper,
//! and each test ends with a leak check (client helper processes, runtime state, cgroups,
//! mounts). A client binary missing from the machine turns the test into a loud, counted
//! `SKIP(feature-missing)`, never a silent pass.
//!
//! ```text
//! PODRT_TEST_RUNTIME=/usr/sbin/runc cargo test -p podrt-tests --test clients -- --test-threads=1
//! ```

pub mod cmd;
pub mod containerd;
pub mod image;
pub mod podman;
pub mod sys;

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use cmd::{run_with_timeout, CmdOutput};

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

/// `name` looked up in `PATH` (plus the sbin dirs root normally has).
#[must_use]
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain([
            "/usr/local/sbin",
            "/usr/sbin",
            "/sbin",
            "/usr/local/bin",
            "/usr/bin",
            "/bin",
        ])
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        });
    found
}

/// Report a skipped test loudly (straight to fd 2, past libtest's capture) and append it to
/// `target/podrt-tests-skipped.txt` so the summary counts it.
pub fn skip(test: &str, reason: &str) {
    let line = format!("SKIP(feature-missing): clients::{test}: {reason}");
    let _ = writeln!(std::io::stderr(), "\n*** {line} ***");
    let target = target_dir();
    let _ = fs::create_dir_all(&target);
    if let Ok(mut f) = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(target.join("podrt-tests-skipped.txt"))
    {
        let _ = writeln!(f, "{line}");
    }
}

/// Print a note for the human running the tests (not captured by libtest).
pub fn note(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// Checks that every client binary in `bins` exists; otherwise records a skip for `test` and
/// returns `None`.
#[must_use]
pub fn require_bins(test: &str, bins: &[&str]) -> Option<()> {
    let missing: Vec<&str> = bins
        .iter()
        .copied()
        .filter(|b| which(b).is_none())
        .collect();
    if missing.is_empty() {
        Some(())
    } else {
        skip(
            test,
            &format!("client binaries not installed: {}", missing.join(", ")),
        );
        None
    }
}

/// The runc-compatible runtime under test.
#[derive(Debug, Clone)]
pub struct TestRuntime {
    /// Absolute path of the binary.
    pub path: PathBuf,
}

impl TestRuntime {
    /// `PODRT_TEST_RUNTIME` (a path, or a bare name looked up in `PATH`), else the workspace's
    /// `target/debug/podrt`. Panics with a hint when the binary does not exist: the runtime is
    /// the thing under test, so it missing is a failure, not a skip.
    #[must_use]
    pub fn from_env() -> TestRuntime {
        let path = match std::env::var("PODRT_TEST_RUNTIME") {
            Ok(p) if !p.is_empty() => {
                if p.contains('/') {
                    PathBuf::from(p)
                } else {
                    which(&p).unwrap_or_else(|| PathBuf::from(p))
                }
            }
            _ => target_dir().join("debug").join("podrt"),
        };
        // Absolute, but not canonical: the file name matters (podman keys JSON-log support on it).
        let path = std::path::absolute(&path).unwrap_or(path);
        assert!(
            path.is_file(),
            "runtime under test {} does not exist: build it (cargo build -p podrt-runtime) or set \
             PODRT_TEST_RUNTIME=/usr/sbin/runc",
            path.display()
        );
        TestRuntime { path }
    }

    /// File name of the binary (`podrt`, `runc`, ...). podman decides from it whether the
    /// runtime takes `--log-format=json`.
    #[must_use]
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map_or_else(|| "runtime".into(), |n| n.to_string_lossy().into_owned())
    }

    /// The state root the runtime uses when the caller passes no `--root` (podman does not):
    /// `PODRT_TEST_RUNTIME_DEFAULT_ROOT`, else `/run/<name>` (`/run/runc`, `/run/crun`,
    /// `/run/podrt`).
    #[must_use]
    pub fn default_root(&self) -> PathBuf {
        if let Ok(root) = std::env::var("PODRT_TEST_RUNTIME_DEFAULT_ROOT") {
            return PathBuf::from(root);
        }
        let name = self.name();
        let name = if name.starts_with("podrt") {
            "podrt".to_string()
        } else {
            name
        };
        Path::new("/run").join(name)
    }
}

/// A shell script that appends its argv to a log, then `exec`s the real runtime, so a test can
/// show (and assert) exactly what a client asked of the runtime. It keeps the runtime's file
/// name, because podman picks flags by that name.
#[derive(Debug)]
pub struct RuntimeWrapper {
    /// Path of the wrapper script (`<dir>/wrap/<runtime name>`).
    pub path: PathBuf,
    /// One line per call: `<pid> <argv...>`.
    pub argv_log: PathBuf,
}

impl RuntimeWrapper {
    /// Writes the wrapper under `dir`. With `PODRT_TEST_NO_WRAP=1` the real binary is used and
    /// the argv log stays empty.
    ///
    /// # Errors
    /// When the script cannot be written.
    pub fn new(dir: &Path, runtime: &TestRuntime) -> std::io::Result<RuntimeWrapper> {
        let argv_log = dir.join("runtime-argv.log");
        fs::write(&argv_log, "")?;
        if std::env::var("PODRT_TEST_NO_WRAP").is_ok_and(|v| v == "1") {
            return Ok(RuntimeWrapper {
                path: runtime.path.clone(),
                argv_log,
            });
        }
        let wrap_dir = dir.join("wrap");
        fs::create_dir_all(&wrap_dir)?;
        let path = wrap_dir.join(runtime.name());
        let script = format!(
            "#!/bin/sh\necho \"$$ $*\" >> {log}\nexec {rt} \"$@\"\n",
            log = sh_quote(&argv_log.to_string_lossy()),
            rt = sh_quote(&runtime.path.to_string_lossy()),
        );
        fs::write(&path, script)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
        Ok(RuntimeWrapper { path, argv_log })
    }

    /// The calls logged so far, one `Vec` of words per call (pid dropped).
    #[must_use]
    pub fn calls(&self) -> Vec<Vec<String>> {
        fs::read_to_string(&self.argv_log)
            .unwrap_or_default()
            .lines()
            .map(|l| l.split_whitespace().skip(1).map(str::to_string).collect())
            .collect()
    }

    /// The raw argv log.
    #[must_use]
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.argv_log).unwrap_or_default()
    }
}

/// Single-quote `s` for `/bin/sh`.
#[must_use]
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The last `max` bytes of a file (lossy), for failure messages.
#[must_use]
pub fn tail_file(path: &Path, max: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let start = bytes.len().saturating_sub(max);
            let mut s = String::from_utf8_lossy(&bytes[start..]).into_owned();
            if start > 0 {
                s.insert_str(0, "[...]");
            }
            s
        }
        Err(e) => format!("<{}: {e}>", path.display()),
    }
}

/// A name unique to this process and call, usable as a container ID.
#[must_use]
pub fn unique_id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `cmd` on a fresh pty through `script -qec CMDLINE /dev/null` (for clients that insist
/// on a terminal, like `ctr run -t`): same program, args and environment overrides. `script -e`
/// exits with the command's status. Output has `\r\n` line ends.
#[must_use]
pub fn run_under_pty(cmd: &Command, timeout: std::time::Duration) -> CmdOutput {
    let mut line = sh_quote(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&sh_quote(&a.to_string_lossy()));
    }
    let mut script = Command::new("script");
    script.args(["-q", "-e", "-c", &line, "/dev/null"]);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    run_with_timeout(&mut script, timeout)
}

/// Prints the runtime calls a test made when `PODRT_TEST_SHOW_ARGV=1` (a debugging aid: this is
/// how the client protocols in `containerd.rs` and `podman.rs` were read off).
pub fn show_calls(test: &str, wrapper: &RuntimeWrapper) {
    if std::env::var("PODRT_TEST_SHOW_ARGV").is_ok_and(|v| v == "1") {
        note(&format!(
            "----- runtime calls of {test}:\n{}",
            wrapper.log_text().trim_end()
        ));
    }
}
