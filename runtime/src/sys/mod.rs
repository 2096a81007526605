//! The only module allowed `unsafe`: raw syscalls that nix does not wrap (clone3, close_range,
//! pidfd_open, seccomp), each behind a small safe function.

pub mod bpf;
pub mod heap;
pub mod seccomp;

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// `CLONE_INTO_CGROUP` (Linux 5.7): the child is born in the cgroup named by `clone_args.cgroup`.
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Mirrors the kernel's `struct clone_args` (CLONE_ARGS_SIZE_VER2, 88 bytes).
#[repr(C)]
#[derive(Debug, Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Which side of a fork-like clone we are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// In the parent; the child's pid as seen from the parent's pid namespace.
    Parent(i32),
    /// In the child.
    Child,
}

/// Fork-like clone with namespace flags, optionally born in the cgroup `cgroup_fd`.
///
/// Uses clone3 and falls back to clone(2) when the kernel lacks clone3 (ENOSYS) or refuses
/// CLONE_INTO_CGROUP (then `born_in_cgroup` is false and the caller must move the child).
///
/// The caller must be single-threaded: the child is a copy of the calling thread only.
pub fn clone_process(flags: u64, cgroup_fd: Option<BorrowedFd<'_>>) -> io::Result<(Forked, bool)> {
    debug_assert!(single_threaded(), "clone from a multi-threaded process");
    let mut args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = u64::try_from(fd.as_raw_fd()).unwrap_or_default();
    }
    // SAFETY: clone3 without CLONE_VM and with a zero stack behaves like fork(2): the child runs
    // on a copy-on-write copy of our address space and stack. `args` is a valid, initialised
    // struct of the size passed. The process is single-threaded, so no lock can be held by a
    // thread that does not exist in the child.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if ret >= 0 {
        return Ok((forked(ret), cgroup_fd.is_some()));
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ENOSYS) | Some(libc::E2BIG) => {}
        // An old kernel without CLONE_INTO_CGROUP support says EINVAL: retry without it.
        Some(libc::EINVAL) if cgroup_fd.is_some() => {
            return clone_process(flags, None).map(|(f, _)| (f, false))
        }
        _ => return Err(err),
    }
    let legacy_flags = flags | libc::SIGCHLD as u64;
    // SAFETY: clone(2) with a null stack is fork-like, as above. The libc `syscall` wrapper passes
    // the arguments unchanged; the unused pointer arguments are null.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            legacy_flags,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0_u64,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((forked(ret), false))
}

fn forked(ret: libc::c_long) -> Forked {
    if ret == 0 {
        Forked::Child
    } else {
        Forked::Parent(i32::try_from(ret).unwrap_or(i32::MAX))
    }
}

/// Plain fork for the cases that need one (joining a pid namespace, exec, hooks).
pub fn fork_process() -> io::Result<Forked> {
    clone_process(0, None).map(|(f, _)| f)
}

/// True when the calling process has exactly one thread.
pub fn single_threaded() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:").map(|v| v.trim() == "1"))
        })
        .unwrap_or(true)
}

/// Mark every fd from `first` upwards close-on-exec (close_range with CLOSE_RANGE_CLOEXEC,
/// falling back to walking /proc/self/fd on kernels before 5.11).
pub fn cloexec_from(first: RawFd) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    let first = libc::c_uint::try_from(first).unwrap_or(3);
    // SAFETY: close_range only changes fd flags of this process; no memory is passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let fd: RawFd = match entry?.file_name().to_str().and_then(|n| n.parse().ok()) {
            Some(fd) => fd,
            None => continue,
        };
        if fd >= i32::try_from(first).unwrap_or(3) {
            // The fd of the read_dir itself may already be gone: ignore errors.
            let _ = nix::fcntl::fcntl(fd, nix::fcntl::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
        }
    }
    Ok(())
}

/// pidfd_open(2): a pollable fd that becomes readable when `pid` exits (any process, not only
/// our children).
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd that we then own.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// pidfd_send_signal(2): signal the process behind `pidfd` without a pid-reuse race.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: a null siginfo is allowed and means "as kill(2) would"; the fd is borrowed valid.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Take ownership of an fd number inherited from the caller (for example a preserved fd or a
/// systemd socket). The caller promises the number is open and owned by nobody else.
pub fn own_inherited_fd(fd: RawFd) -> Option<OwnedFd> {
    if nix::fcntl::fcntl(fd, nix::fcntl::F_GETFD).is_err() {
        return None;
    }
    // SAFETY: fcntl just proved the fd is open; the caller guarantees nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// execve(2) that never returns on success. Arguments are prepared by the caller so nothing is
/// allocated here.
pub fn execve(
    path: &std::ffi::CStr,
    argv: &[std::ffi::CString],
    envp: &[std::ffi::CString],
) -> io::Error {
    match nix::unistd::execve(path, argv, envp) {
        Ok(never) => match never {},
        Err(e) => io::Error::from(e),
    }
}

/// `_exit(2)`: leave the child without running destructors or atexit handlers of the parent's
/// copy of the process.
pub fn exit_immediately(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}

/// Set this process as a child subreaper, so grandchildren are re-parented to us.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// PR_SET_DUMPABLE: a non-dumpable process cannot be ptraced or have its /proc/PID/exe opened by
/// processes in the container (the CVE-2019-5736 class).
pub fn set_dumpable(dumpable: bool) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe {
        libc::prctl(
            libc::PR_SET_DUMPABLE,
            libc::c_ulong::from(dumpable),
            0,
            0,
            0,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// PR_SET_NO_NEW_PRIVS.
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// PR_SET_KEEPCAPS, so permitted capabilities survive the switch to a non-root uid.
pub fn set_keep_caps(keep: bool) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, libc::c_ulong::from(keep), 0, 0, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// PR_SET_PDEATHSIG for the calling process.
pub fn set_parent_death_signal(signal: i32) -> io::Result<()> {
    let sig = libc::c_ulong::try_from(signal).unwrap_or(0);
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig, 0, 0, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Set the controlling terminal of the calling session to `fd` (TIOCSCTTY).
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument; the fd is valid for the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Set a terminal's window size.
pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct that lives for the duration of the call.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TIOCSWINSZ,
            &ws as *const libc::winsize,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Read a terminal's window size (rows, cols).
pub fn get_winsize(fd: BorrowedFd<'_>) -> io::Result<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize struct that lives for the duration of the call.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TIOCGWINSZ,
            &mut ws as *mut libc::winsize,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((ws.ws_row, ws.ws_col))
}
