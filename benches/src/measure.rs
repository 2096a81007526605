//! Running one command and measuring it: wall time from just before spawn to the return of
//! `wait4`, and the rusage `wait4` reports (peak RSS and CPU time of the process and of the
//! descendants it reaped). Plus the process plumbing the lifecycle scenario needs: pidfds,
//! child-subreaper, reaping strays, and a SIGINT flag so an interrupted run still cleans up.

use std::ffi::{CString, OsString};
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

/// What one command cost.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub wall: Duration,
    /// ru_maxrss in KiB: the largest RSS of the process (across its execs) and of the
    /// descendants it waited for.
    pub maxrss_kib: u64,
    /// User + system CPU time of the process and its waited-for descendants.
    pub cpu: Duration,
}

/// Render an argv for error messages and the report.
pub fn show_argv(argv: &[OsString]) -> String {
    argv.iter()
        .map(|a| {
            let s = a.to_string_lossy();
            if s.is_empty() || s.contains(|c: char| c.is_whitespace() || "\"'$;&|".contains(c)) {
                format!("'{}'", s.replace('\'', "'\\''"))
            } else {
                s.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `argv` to completion with stdin from /dev/null and stdout+stderr into `log`
/// (a file, not a pipe: a `create` leaves the container holding its stdio). Fails, with the
/// log's content, unless the command exits 0.
///
/// Spawned with a plain `fork` whose child resets its peak-RSS mark (`clear_refs` 5) before
/// `execve`: `ru_maxrss` keeps the maximum over every image a process ran, so a child of a
/// vfork-style spawn would report at least the harness's own RSS. What remains in the floor is
/// the anonymous memory the fork copied (see the `exec-true` row).
pub fn run_measured(argv: &[OsString], env: &[(&str, &str)], log: &Path) -> Result<Outcome> {
    spawn(argv, env, log)?.wait()
}

/// A command started by [`spawn`] and not yet waited for.
#[derive(Debug)]
pub struct Running {
    pub pid: i32,
    start: Instant,
    argv: Vec<OsString>,
    log: PathBuf,
}

impl Running {
    /// Wait for this command (only this pid) and check that it exited 0.
    pub fn wait(self) -> Result<Outcome> {
        let (status, usage) = wait4(self.pid)?;
        self.finish(status, &usage, self.start.elapsed())
    }

    /// The outcome if the command has ended (reaping it), `None` while it runs.
    pub fn try_wait(&self) -> Result<Option<Outcome>> {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value of this plain C struct.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers refer to live locals of the right types for the whole call.
        let r = unsafe { libc::wait4(self.pid, &mut status, libc::WNOHANG, &mut usage) };
        match r {
            0 => Ok(None),
            r if r == self.pid => self.finish(status, &usage, self.start.elapsed()).map(Some),
            _ => Err(io::Error::last_os_error()).context(format!("wait4 {}", self.pid)),
        }
    }

    fn finish(&self, status: i32, usage: &libc::rusage, wall: Duration) -> Result<Outcome> {
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            let text = fs::read_to_string(&self.log).unwrap_or_default();
            bail!(
                "`{}` failed ({}); its output:\n{}",
                show_argv(&self.argv),
                describe_status(status),
                text.trim_end()
            );
        }
        Ok(Outcome {
            wall,
            maxrss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
            cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
        })
    }
}

/// Start `argv` the way [`run_measured`] does, without waiting: stdin from /dev/null,
/// stdout+stderr into `log`, peak-RSS mark reset before `execve`. The wall clock starts just
/// before `fork`.
pub fn spawn(argv: &[OsString], env: &[(&str, &str)], log: &Path) -> Result<Running> {
    let prog = argv.first().context("empty command")?;
    let path =
        resolve(Path::new(prog)).with_context(|| format!("{} not found", show_argv(&argv[..1])))?;
    // Everything the child touches is built before fork: it only makes raw syscalls.
    let cstr = |s: &std::ffi::OsStr| CString::new(s.as_bytes()).context("NUL in an argument");
    let c_path = cstr(path.as_os_str())?;
    let c_args = argv.iter().map(|a| cstr(a)).collect::<Result<Vec<_>>>()?;
    let mut c_env = Vec::new();
    for (k, v) in std::env::vars_os() {
        if env.iter().any(|(ek, _)| k == *ek) {
            continue;
        }
        let mut kv = k.into_vec();
        kv.push(b'=');
        kv.extend(v.as_bytes());
        c_env.push(CString::new(kv).context("NUL in the environment")?);
    }
    for (k, v) in env {
        c_env.push(CString::new(format!("{k}={v}"))?);
    }
    let ptrs = |v: &[CString]| {
        v.iter()
            .map(|c| c.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect::<Vec<*const libc::c_char>>()
    };
    let (argv_p, envp_p) = (ptrs(&c_args), ptrs(&c_env));
    let out = File::create(log).with_context(|| format!("create {}", log.display()))?;
    let null = File::open("/dev/null")?;
    let (out_fd, null_fd) = (out.as_raw_fd(), null.as_raw_fd());
    let clear_refs = c"/proc/self/clear_refs";

    let start = Instant::now();
    // SAFETY: the harness is single-threaded, so the child may run anything until exec; it only
    // makes async-signal-safe syscalls on memory prepared above and ends in execve or _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: (child) raw syscalls on valid fds and NUL-terminated strings and arrays.
        unsafe {
            libc::dup2(null_fd, 0);
            libc::dup2(out_fd, 1);
            libc::dup2(out_fd, 2);
            let fd = libc::open(clear_refs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd >= 0 {
                libc::write(fd, b"5".as_ptr().cast(), 1);
                libc::close(fd);
            }
            libc::execve(c_path.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr());
            libc::_exit(127);
        }
    }
    if pid < 0 {
        return Err(io::Error::last_os_error()).context(format!("fork for {}", show_argv(argv)));
    }
    Ok(Running {
        pid,
        start,
        argv: argv.to_vec(),
        log: log.to_path_buf(),
    })
}

/// Wait for every command of `all`, in whatever order they end, and check that each exited 0;
/// fails, after every command has ended, with the first failure. See [`wait_each`].
pub fn wait_all(all: &[Running]) -> Result<Vec<Outcome>> {
    wait_each(all)?.into_iter().collect()
}

/// Wait for every command of `all`, in whatever order they end (a pidfd per command, polled
/// together, so no other child is reaped by accident). Returns each command's outcome, its wall
/// time measured from its own spawn to the moment its end was seen.
pub fn wait_each(all: &[Running]) -> Result<Vec<Result<Outcome>>> {
    let fds = all
        .iter()
        .map(|r| PidFd::open(r.pid).with_context(|| format!("pidfd_open {}", r.pid)))
        .collect::<Result<Vec<_>>>()?;
    let mut done: Vec<Option<Result<Outcome>>> = all.iter().map(|_| None).collect();
    while done.iter().any(Option::is_none) {
        let waiting: Vec<usize> = (0..all.len()).filter(|&i| done[i].is_none()).collect();
        let mut pfds: Vec<libc::pollfd> = waiting
            .iter()
            .map(|&i| libc::pollfd {
                fd: fds[i].0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let nfds = libc::nfds_t::try_from(pfds.len()).unwrap_or(libc::nfds_t::MAX);
        // SAFETY: `pfds` is a live array of `nfds` pollfds for the whole call.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), nfds, -1) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e).context("poll the pidfds of the concurrent commands");
        }
        for (pfd, &i) in pfds.iter().zip(&waiting) {
            if pfd.revents == 0 {
                continue;
            }
            let wall = all[i].start.elapsed();
            let (status, usage) = wait4(all[i].pid)?;
            done[i] = Some(all[i].finish(status, &usage, wall));
        }
    }
    Ok(done.into_iter().flatten().collect())
}

/// Absolute path of a program: as given if it contains a slash, else searched on PATH.
pub fn resolve(prog: &Path) -> Option<PathBuf> {
    if prog.as_os_str().as_bytes().contains(&b'/') {
        return Some(prog.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
        + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
}

/// "exit status N" or "killed by signal N".
pub fn describe_status(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exit status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("wait status {status:#x}")
    }
}

/// Wait for one specific child and take its rusage.
fn wait4(pid: i32) -> Result<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers refer to live locals of the right types for the whole call.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return Ok((status, usage));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e).context(format!("wait4 {pid}"));
        }
    }
}

/// Become a child subreaper: container inits whose `create` exited are reparented to us, so
/// we can wait for them by pidfd and see their exit status (pid 1 here may not reap at all).
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes one integer argument and touches no memory of ours.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reap every child that has already exited (orphans reparented to us); returns how many.
pub fn reap_strays() -> usize {
    let mut n = 0;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a live local; WNOHANG never blocks.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r <= 0 {
            return n;
        }
        n += 1;
    }
}

/// A pidfd for a process we may not be the parent of.
#[derive(Debug)]
pub struct PidFd(OwnedFd);

impl PidFd {
    pub fn open(pid: i32) -> io::Result<PidFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = i32::try_from(fd).map_err(|_| io::Error::other("pidfd out of range"))?;
        // SAFETY: the kernel just returned this fd to us and nothing else owns it.
        Ok(PidFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Wait until the process exits (up to `timeout`), then reap it if it is our child.
    /// Returns its wait status, or `None` when someone else is its parent.
    pub fn wait_exit(&self, timeout: Duration) -> Result<Option<i32>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("the container did not exit within {timeout:?}");
            }
            let mut pfd = libc::pollfd {
                fd: self.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
            // SAFETY: one valid pollfd, count 1.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r > 0 {
                break;
            }
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e).context("poll pidfd");
                }
            }
        }
        // SAFETY: an all-zero siginfo_t is a valid value of this plain C struct.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let fd = libc::id_t::try_from(self.0.as_raw_fd()).unwrap_or(0);
        loop {
            // SAFETY: `info` is a live local; P_PIDFD names our own open pidfd.
            let r = unsafe { libc::waitid(libc::P_PIDFD, fd, &mut info, libc::WEXITED) };
            if r == 0 {
                // SAFETY: waitid filled in a SIGCHLD siginfo, whose si_status is valid.
                let code = unsafe { info.si_status() };
                let status = if info.si_code == libc::CLD_EXITED {
                    (code & 0xff) << 8
                } else {
                    code & 0x7f
                };
                return Ok(Some(status));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ECHILD) => return Ok(None),
                _ => return Err(e).context("waitid on pidfd"),
            }
        }
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Turn SIGINT and SIGTERM into a flag checked between runs, so cleanup still happens.
pub fn catch_interrupts() {
    let handler: extern "C" fn(libc::c_int) = on_sigint;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(sig, handler as libc::sighandler_t) };
    }
}

/// Whether SIGINT or SIGTERM arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_and_checks_status() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let ok = run_measured(&["/bin/true".into()], &[], &log).unwrap();
        assert!(ok.maxrss_kib > 0);
        let argv: Vec<OsString> = vec![
            "/bin/sh".into(),
            "-c".into(),
            "echo boom >&2; exit 3".into(),
        ];
        let err = run_measured(&argv, &[], &log).unwrap_err().to_string();
        assert!(
            err.contains("exit status 3") && err.contains("boom"),
            "{err}"
        );
    }

    #[test]
    fn waits_for_concurrent_commands() {
        let dir = tempfile::tempdir().unwrap();
        let sh =
            |script: &str| -> Vec<OsString> { vec!["/bin/sh".into(), "-c".into(), script.into()] };
        let a = spawn(&sh("sleep 0.2"), &[], &dir.path().join("a")).unwrap();
        let b = spawn(&sh("true"), &[], &dir.path().join("b")).unwrap();
        let out = wait_all(&[a, b]).unwrap();
        assert!(
            out[0].wall >= Duration::from_millis(150),
            "{:?}",
            out[0].wall
        );
        assert!(out[1].wall < out[0].wall);
        let c = spawn(&sh("echo bad >&2; exit 4"), &[], &dir.path().join("c")).unwrap();
        let d = spawn(&sh("sleep 0.1"), &[], &dir.path().join("d")).unwrap();
        let err = wait_all(&[c, d]).unwrap_err().to_string();
        assert!(
            err.contains("exit status 4") && err.contains("bad"),
            "{err}"
        );
    }

    #[test]
    fn quoting() {
        let argv: Vec<OsString> = vec!["sh".into(), "-c".into(), "exec \"$@\"".into()];
        assert_eq!(show_argv(&argv), "sh -c 'exec \"$@\"'");
    }
}
