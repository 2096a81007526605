//! Running client commands with a deadline and capturing what they said.

use std::fmt;
use std::io::Read as _;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What one client command did.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// The command line, for messages.
    pub cmdline: String,
    /// Exit code; `None` when killed by a signal or by the timeout.
    pub code: Option<i32>,
    /// Signal that ended it, if any.
    pub signal: Option<i32>,
    /// The deadline passed and the command's process group was killed.
    pub timed_out: bool,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

impl CmdOutput {
    /// Exited with status 0 in time.
    #[must_use]
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }
}

impl fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.cmdline)?;
        writeln!(
            f,
            "exit code {:?}, signal {:?}, timed out {}, {:?}",
            self.code, self.signal, self.timed_out, self.elapsed
        )?;
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}

/// Runs `cmd` (stdin from /dev/null, stdout and stderr captured) in its own process group; past
/// `timeout` the whole group gets SIGKILL. Daemons the command double-forks into another session
/// (conmon, shims) are not touched here: the fixtures' teardown finds those.
#[must_use]
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> CmdOutput {
    let cmdline = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let start = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return CmdOutput {
                cmdline,
                code: None,
                signal: None,
                timed_out: false,
                stdout: String::new(),
                stderr: format!("spawn failed: {e}"),
                elapsed: start.elapsed(),
            }
        }
    };
    let pgid = child.id();
    let mut out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(p) = out_pipe.as_mut() {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(p) = err_pipe.as_mut() {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    });
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) => {}
            Err(_) => break None,
        }
        if start.elapsed() > timeout {
            timed_out = true;
            super::sys::kill_group(pgid);
            break child.wait().ok();
        }
        thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    // A grandchild that kept the pipes open (a daemon that did not close its stdio) would block
    // the readers forever: give them a bound, then kill the group and stop waiting.
    let read_deadline = Instant::now() + Duration::from_secs(5);
    while !(out_reader.is_finished() && err_reader.is_finished()) {
        if Instant::now() > read_deadline {
            super::sys::kill_group(pgid);
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let join = |h: thread::JoinHandle<Vec<u8>>| {
        if h.is_finished() {
            String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
        } else {
            "<output pipe still held open by a descendant>".to_string()
        }
    };
    let stdout = join(out_reader);
    let stderr = join(err_reader);
    CmdOutput {
        cmdline,
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        timed_out,
        stdout,
        stderr,
        elapsed,
    }
}
