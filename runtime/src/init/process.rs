//! The process side of the init: UTS names, sysctls, console, limits, the executable, the user
//! and its capabilities.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use caps::CapSet;

use super::InitError;
use crate::prepare::{InitPlan, ProcessPlan};

pub fn uts(plan: &InitPlan) -> Result<(), InitError> {
    if let Some(h) = &plan.hostname {
        nix::unistd::sethostname(h).map_err(|e| InitError::Hostname(h.clone(), e))?;
    }
    if let Some(d) = &plan.domainname {
        std::fs::write("/proc/sys/kernel/domainname", d)
            .map_err(|e| InitError::Domainname(d.clone(), e))?;
    }
    Ok(())
}

pub fn sysctls(sysctls: &[(String, String)]) -> Result<(), InitError> {
    for (k, v) in sysctls {
        let path = PathBuf::from("/proc/sys").join(k.replace('.', "/"));
        std::fs::write(&path, v).map_err(|e| InitError::Sysctl {
            key: k.clone(),
            value: v.clone(),
            source: e,
        })?;
    }
    Ok(())
}

pub fn rlimits(p: &ProcessPlan) -> Result<(), InitError> {
    for &(resource, soft, hard) in &p.rlimits {
        nix::sys::resource::setrlimit(resource, soft, hard).map_err(|e| InitError::Rlimit {
            resource,
            soft,
            hard,
            source: e,
        })?;
    }
    Ok(())
}

pub fn oom_score_adj(p: &ProcessPlan) -> Result<(), InitError> {
    if let Some(v) = p.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", v.to_string()).map_err(|e| {
            InitError::OomScoreAdj {
                value: v,
                source: e,
            }
        })?;
    }
    Ok(())
}

/// Open a new pty in the container's devpts, send the master over the console socket and make
/// the slave our controlling terminal and stdio.
pub fn setup_console(socket: Option<&OwnedFd>, size: Option<(u16, u16)>) -> Result<(), InitError> {
    use nix::fcntl::OFlag;
    use nix::pty::{grantpt, posix_openpt, unlockpt};
    let err = |what: &str, e: nix::errno::Errno| InitError::Console(format!("{what}: {e}"));
    let socket = socket.ok_or_else(|| {
        InitError::Console("process.terminal is true but no --console-socket was given".into())
    })?;
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| err("open /dev/ptmx", e))?;
    grantpt(&master).map_err(|e| err("grantpt", e))?;
    unlockpt(&master).map_err(|e| err("unlockpt", e))?;
    let slave_name = nix::pty::ptsname_r(&master).map_err(|e| err("ptsname", e))?;
    let slave = nix::fcntl::open(
        slave_name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| err(&format!("open {slave_name}"), e))?;
    if let Some((rows, cols)) = size {
        // SAFETY-free wrapper in sys.
        let _ = crate::sys::set_winsize(master.as_fd(), rows, cols);
    }
    // Send the master to whoever listens on the console socket.
    let fds = [master.as_raw_fd()];
    let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
    let name = slave_name.as_bytes();
    let iov = [std::io::IoSlice::new(name)];
    nix::sys::socket::sendmsg::<()>(
        socket.as_raw_fd(),
        &iov,
        &cmsg,
        nix::sys::socket::MsgFlags::empty(),
        None,
    )
    .map_err(|e| err("send pty master over the console socket", e))?;
    drop(master);
    nix::unistd::setsid().map_err(|e| err("setsid", e))?;
    for target in 0..3 {
        nix::unistd::dup2(slave, target).map_err(|e| err("dup2 pty slave", e))?;
    }
    // SAFETY-free: set_controlling_tty takes a borrowed fd.
    // SAFETY note is in sys; fd 0 is the slave now.
    let stdin = std::io::stdin();
    crate::sys::set_controlling_tty(stdin.as_fd())
        .map_err(|e| InitError::Console(format!("TIOCSCTTY: {e}")))?;
    if slave > 2 {
        let _ = nix::unistd::close(slave);
    }
    Ok(())
}

/// Find the executable the way execvp would, in the container's filesystem, so a missing
/// binary is reported by `create`.
pub fn resolve_exec(p: &ProcessPlan) -> Result<CString, InitError> {
    let arg0 = p.args[0].to_string_lossy().into_owned();
    if arg0.contains('/') {
        let path = if arg0.starts_with('/') {
            PathBuf::from(&arg0)
        } else {
            p.cwd.join(&arg0)
        };
        check_exec(&path)
            .map_err(|e| InitError::Exec(format!("{arg0:?}: stat {}: {e}", path.display())))?;
        return CString::new(path.as_os_str().as_bytes()).map_err(|_| InitError::Exec(arg0));
    }
    let path_var = p
        .env
        .iter()
        .find_map(|e| {
            e.to_bytes()
                .strip_prefix(b"PATH=")
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    for dir in path_var.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(&arg0);
        if check_exec(&candidate).is_ok() {
            return CString::new(candidate.as_os_str().as_bytes())
                .map_err(|_| InitError::Exec(arg0));
        }
    }
    Err(InitError::Exec(format!(
        "{arg0:?}: executable file not found in $PATH"
    )))
}

fn check_exec(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let md = std::fs::metadata(path)?;
    if md.is_dir() {
        return Err(std::io::Error::from_raw_os_error(libc::EISDIR));
    }
    if md.permissions().mode() & 0o111 == 0 {
        return Err(std::io::Error::from_raw_os_error(libc::EACCES));
    }
    Ok(())
}

/// Switch to the container user and its capability sets, umask and cwd (runc's order: bounding
/// set, keep caps, groups/gid/uid, then effective/permitted/inheritable/ambient).
pub fn finalize(p: &ProcessPlan) -> Result<(), InitError> {
    // A missing cwd is created (owned by root), as runc does, before we give up root.
    if !p.cwd.exists() {
        let _ = std::fs::create_dir_all(&p.cwd);
    }
    let caperr =
        |what: &str, e: caps::errors::CapsError| InitError::Capabilities(format!("{what}: {e}"));
    if let Some(c) = &p.caps {
        for cap in caps::all() {
            if !c.bounding.contains(&cap)
                && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false)
            {
                caps::drop(None, CapSet::Bounding, cap).map_err(|e| caperr("bounding", e))?;
            }
        }
    }
    crate::sys::set_keep_caps(true)
        .map_err(|e| InitError::Capabilities(format!("keepcaps: {e}")))?;
    let gid = nix::unistd::Gid::from_raw(p.gid);
    let uid = nix::unistd::Uid::from_raw(p.uid);
    let groups: Vec<nix::unistd::Gid> = p
        .additional_gids
        .iter()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    match nix::unistd::setgroups(&groups) {
        Ok(()) => {}
        // In a user namespace with setgroups denied, an empty list is the only option.
        Err(nix::errno::Errno::EPERM) if groups.is_empty() => {}
        Err(e) => {
            return Err(InitError::User {
                what: format!("additional gids {:?}", p.additional_gids),
                source: e,
            })
        }
    }
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| InitError::User {
        what: format!("gid {}", p.gid),
        source: e,
    })?;
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| InitError::User {
        what: format!("uid {}", p.uid),
        source: e,
    })?;
    crate::sys::set_keep_caps(false)
        .map_err(|e| InitError::Capabilities(format!("keepcaps: {e}")))?;
    if let Some(c) = &p.caps {
        // Effective first (each capset must keep effective within permitted), then permitted,
        // inheritable, ambient.
        caps::set(None, CapSet::Effective, &c.effective).map_err(|e| caperr("effective", e))?;
        caps::set(None, CapSet::Permitted, &c.permitted).map_err(|e| caperr("permitted", e))?;
        caps::set(None, CapSet::Inheritable, &c.inheritable)
            .map_err(|e| caperr("inheritable", e))?;
        caps::clear(None, CapSet::Ambient).map_err(|e| caperr("ambient", e))?;
        for cap in &c.ambient {
            // The kernel refuses ambient caps that are not permitted and inheritable: runc
            // ignores those too.
            if c.permitted.contains(cap) && c.inheritable.contains(cap) {
                caps::raise(None, CapSet::Ambient, *cap).map_err(|e| caperr("ambient", e))?;
            }
        }
    }
    if let Some(m) = p.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m & 0o777));
    }
    nix::unistd::chdir(&p.cwd).map_err(|e| InitError::Cwd {
        cwd: p.cwd.display().to_string(),
        source: e,
    })?;
    Ok(())
}

/// The environment to exec with: the spec's, plus HOME from the container's /etc/passwd (or
/// "/") when the spec does not set it, as runc does.
pub fn exec_env(p: &ProcessPlan) -> std::borrow::Cow<'_, [CString]> {
    if p.env.iter().any(|e| e.to_bytes().starts_with(b"HOME=")) {
        return std::borrow::Cow::Borrowed(&p.env);
    }
    let home = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(p.uid)).then(|| f[5].to_string())
            })
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".to_string());
    let mut env = p.env.clone();
    if let Ok(c) = CString::new(format!("HOME={home}")) {
        env.push(c);
    }
    std::borrow::Cow::Owned(env)
}
