//! Install compiled seccomp filters: the container init's last step before `execve`.
//!
//! The BPF comes ready from the parent (`prepare::seccomp::compile`); this is the only seccomp
//! code with `unsafe`, and it runs in the child after clone, so it allocates nothing.

use crate::prepare::seccomp as prepare;

use std::io;

/// Installs the filters of `compiled` in order with `seccomp(SECCOMP_SET_MODE_FILTER, flags)`.
///
/// Allocation-free and async-signal-safe: it only makes the syscalls, so it may run in a child
/// cloned from a multi-threaded process. Nothing to install is not an error.
///
/// The kernel only accepts a filter from a task with `no_new_privs` set or with `CAP_SYS_ADMIN`
/// in its user namespace (`EACCES` otherwise): when `process.noNewPrivileges` is false, install
/// before dropping capabilities, as runc does. The filter applies at once, to the rest of the
/// init too, so install as late as possible, right before `execve` (which the profile must
/// allow, as with runc).
pub fn install(compiled: &prepare::CompiledSeccomp) -> io::Result<()> {
    let flags = libc::c_ulong::from(compiled.flags);
    for filter in &compiled.filters {
        let len =
            u16::try_from(filter.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let program = libc::sock_fprog {
            len,
            filter: filter.as_ptr().cast_mut(),
        };
        // SAFETY: `program` points at `len` instructions of `filter`, which outlives the call;
        // the kernel only reads them (it copies the program) and keeps no pointer to our memory.
        // The mode and flags are plain integers.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                std::ptr::addr_of!(program),
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        if ret > 0 {
            // Only with SECCOMP_FILTER_FLAG_TSYNC, which compile never sets: the id of a thread
            // that could not be synchronised.
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
    }
    Ok(())
}

/// These tests run filters in the real kernel: each one forks a child that installs a filter
/// and reports what its syscalls returned through its exit code.
#[cfg(test)]
mod tests {
    use super::prepare::tests::{arg, errno_ret, profile, rule, Act, Op, DOCKER_LIKE_PROFILE};
    use super::prepare::{compile, parse_profile, CompiledSeccomp};
    use super::*;

    use std::mem::MaybeUninit;
    use std::os::fd::AsRawFd;

    use libc::c_long;
    use nix::errno::Errno;
    use nix::sys::prctl::set_no_new_privs;
    use nix::sys::resource::{setrlimit, Resource};
    use nix::sys::signal::Signal;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};

    #[derive(Debug, PartialEq, Eq)]
    enum Outcome {
        /// 0: every check passed; 1-99: the number of the check that failed; 120-122: setup.
        Exited(i32),
        Killed(Signal),
    }

    /// Runs `body` in a forked child under `compiled`.
    ///
    /// The child may only make raw syscalls: cargo runs tests on several threads, and a child
    /// forked from a multi-threaded process must not allocate or take locks.
    fn confined(compiled: &CompiledSeccomp, body: impl Fn() -> Result<(), i32>) -> Outcome {
        // SAFETY: the child only makes syscalls (nix's setrlimit and prctl wrappers, `install`,
        // `raw` in `body`) and leaves through `_exit`: it never allocates, locks or unwinds, so
        // it never sees the state other threads left half-way at fork time.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code = match in_child(compiled, &body) {
                    Ok(()) => 0,
                    Err(check) => check,
                };
                // SAFETY: ends the child without running the parent's exit handlers.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
                WaitStatus::Exited(_, code) => Outcome::Exited(code),
                WaitStatus::Signaled(_, signal, _) => Outcome::Killed(signal),
                status => panic!("unexpected wait status {status:?}"),
            },
        }
    }

    fn in_child(compiled: &CompiledSeccomp, body: &dyn Fn() -> Result<(), i32>) -> Result<(), i32> {
        // A filter that kills must not leave core files behind.
        setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(|_| 120)?;
        set_no_new_privs().map_err(|_| 121)?;
        install(compiled).map_err(|_| 122)?;
        body()
    }

    fn compiled(profile: &oci_spec::runtime::LinuxSeccomp) -> CompiledSeccomp {
        compile(profile).expect("profile compiles")
    }

    /// A raw syscall: `Ok(return value)` or `Err(errno)`.
    ///
    /// # Safety
    ///
    /// As for `libc::syscall`: pointer arguments must be valid for what syscall `nr` does.
    unsafe fn raw(nr: c_long, args: &[c_long]) -> Result<c_long, i32> {
        let mut all: [c_long; 6] = [0; 6];
        all[..args.len()].copy_from_slice(args);
        // SAFETY: the caller vouches for the arguments.
        let ret = unsafe { libc::syscall(nr, all[0], all[1], all[2], all[3], all[4], all[5]) };
        if ret == -1 {
            Err(Errno::last_raw())
        } else {
            Ok(ret)
        }
    }

    /// Check number `check`: the call failed with `errno`.
    fn fails_with(check: i32, result: Result<c_long, i32>, errno: i32) -> Result<(), i32> {
        if result == Err(errno) {
            Ok(())
        } else {
            Err(check)
        }
    }

    /// Check number `check`: the call succeeded.
    fn succeeds(check: i32, result: Result<c_long, i32>) -> Result<c_long, i32> {
        result.map_err(|_| check)
    }

    fn long(value: i32) -> c_long {
        c_long::from(value)
    }

    const HIGH_WORD: c_long = 1 << 32;

    #[test]
    fn nothing_to_install_leaves_seccomp_off() {
        let compiled = compiled(&profile(Act::ScmpActAllow, None, vec![]));
        assert!(compiled.is_empty());
        let outcome = confined(&compiled, || {
            // SAFETY: prctl(PR_GET_SECCOMP) takes no pointer.
            let mode = unsafe { raw(libc::SYS_prctl, &[long(libc::PR_GET_SECCOMP)]) };
            (mode == Ok(0)).then_some(()).ok_or(1)
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn default_allow_with_deny_list() {
        let rules = vec![rule(
            &["getpid", "mkdirat"],
            Act::ScmpActErrno,
            None,
            vec![],
        )];
        let compiled = compiled(&profile(Act::ScmpActAllow, None, rules));
        let outcome = confined(&compiled, || {
            let path = c"/nonexistent-podrt-seccomp-test/dir";
            // SAFETY: prctl(PR_GET_SECCOMP), getpid and getppid take no pointer; mkdirat gets a
            // NUL-terminated static path.
            unsafe {
                let mode = raw(libc::SYS_prctl, &[long(libc::PR_GET_SECCOMP)]);
                (mode == Ok(c_long::from(libc::SECCOMP_MODE_FILTER)))
                    .then_some(())
                    .ok_or(1)?;
                fails_with(2, raw(libc::SYS_getpid, &[]), libc::EPERM)?;
                let mkdirat = [long(libc::AT_FDCWD), path.as_ptr() as c_long, 0o700];
                // Allowed, it would fail with ENOENT.
                fails_with(3, raw(libc::SYS_mkdirat, &mkdirat), libc::EPERM)?;
                succeeds(4, raw(libc::SYS_getppid, &[]))?;
            }
            Ok(())
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn default_errno_with_allow_list() {
        let allowed = ["exit", "exit_group", "getppid", "uname", "prctl"];
        let rules = vec![rule(&allowed, Act::ScmpActAllow, None, vec![])];
        let compiled = compiled(&profile(Act::ScmpActErrno, errno_ret(libc::EACCES), rules));
        let outcome = confined(&compiled, || {
            let mut uts = MaybeUninit::<libc::utsname>::uninit();
            let mut random = [0u8; 8];
            // SAFETY: uname writes one utsname into `uts`; getrandom gets a live buffer and
            // its length; the other calls take no pointer.
            unsafe {
                succeeds(1, raw(libc::SYS_getppid, &[]))?;
                succeeds(2, raw(libc::SYS_uname, &[uts.as_mut_ptr() as c_long]))?;
                // Not listed, numbered below the profile's highest syscall: the default errno.
                fails_with(3, raw(libc::SYS_getpid, &[]), libc::EACCES)?;
                // Above the profile's highest syscall: ENOSYS, so that libcs fall back.
                let buffer = [random.as_mut_ptr() as c_long, 8, 0];
                fails_with(4, raw(libc::SYS_getrandom, &buffer), libc::ENOSYS)?;
                fails_with(5, raw(1000, &[]), libc::ENOSYS)?;
            }
            Ok(())
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    /// One syscall per operator, on file descriptors that are not open: when the filter lets
    /// the call through, the kernel answers EBADF; when the filter matches, EACCES.
    #[test]
    fn argument_conditions_for_every_operator() {
        let deny =
            |name: &str, args| rule(&[name], Act::ScmpActErrno, errno_ret(libc::EACCES), args);
        let rules = vec![
            deny("fsync", vec![arg(0, Op::ScmpCmpEq, 1000, None)]),
            deny("fdatasync", vec![arg(0, Op::ScmpCmpNe, 1000, None)]),
            deny("fchdir", vec![arg(0, Op::ScmpCmpLt, 1000, None)]),
            deny("syncfs", vec![arg(0, Op::ScmpCmpLe, 1000, None)]),
            deny("dup", vec![arg(0, Op::ScmpCmpGe, 1000, None)]),
            deny("close", vec![arg(0, Op::ScmpCmpGt, 1000, None)]),
            deny(
                "fchmod",
                vec![arg(1, Op::ScmpCmpMaskedEq, 0o7000, Some(0o4000))],
            ),
            // Two arguments: AND.
            deny(
                "fchown",
                vec![
                    arg(1, Op::ScmpCmpEq, 7, None),
                    arg(2, Op::ScmpCmpEq, 8, None),
                ],
            ),
            // The same argument twice: OR, as runc does.
            deny(
                "flock",
                vec![
                    arg(1, Op::ScmpCmpEq, 1, None),
                    arg(1, Op::ScmpCmpEq, 2, None),
                ],
            ),
        ];
        let compiled = compiled(&profile(Act::ScmpActAllow, None, rules));
        let outcome = confined(&compiled, || {
            let (denied, allowed) = (libc::EACCES, libc::EBADF);
            // SAFETY: all these take integers only, and the descriptors are not open.
            unsafe {
                use libc::{SYS_close, SYS_dup, SYS_fchdir, SYS_fchmod, SYS_fchown};
                use libc::{SYS_fdatasync, SYS_flock, SYS_fsync, SYS_syncfs};
                fails_with(1, raw(SYS_fsync, &[1000]), denied)?;
                fails_with(2, raw(SYS_fsync, &[1001]), allowed)?;
                // The kernel reads an int; the filter compares all 64 bits.
                fails_with(3, raw(SYS_fsync, &[1000 + HIGH_WORD]), allowed)?;
                fails_with(4, raw(SYS_fdatasync, &[1000]), allowed)?;
                fails_with(5, raw(SYS_fdatasync, &[1001]), denied)?;
                fails_with(6, raw(SYS_fdatasync, &[1000 + HIGH_WORD]), denied)?;
                fails_with(7, raw(SYS_fchdir, &[999]), denied)?;
                fails_with(8, raw(SYS_fchdir, &[1000]), allowed)?;
                fails_with(9, raw(SYS_syncfs, &[1000]), denied)?;
                fails_with(10, raw(SYS_syncfs, &[1001]), allowed)?;
                fails_with(11, raw(SYS_dup, &[1000]), denied)?;
                fails_with(12, raw(SYS_dup, &[999]), allowed)?;
                fails_with(13, raw(SYS_close, &[1001]), denied)?;
                fails_with(14, raw(SYS_close, &[1000]), allowed)?;
                fails_with(15, raw(SYS_fchmod, &[1000, 0o4755]), denied)?;
                fails_with(16, raw(SYS_fchmod, &[1000, 0o6755]), allowed)?;
                fails_with(17, raw(SYS_fchmod, &[1000, 0o755]), allowed)?;
                fails_with(18, raw(SYS_fchown, &[1000, 7, 8]), denied)?;
                fails_with(19, raw(SYS_fchown, &[1000, 7, 9]), allowed)?;
                fails_with(20, raw(SYS_fchown, &[1000, 6, 8]), allowed)?;
                fails_with(21, raw(SYS_flock, &[1000, 1]), denied)?;
                fails_with(22, raw(SYS_flock, &[1000, 2]), denied)?;
                fails_with(23, raw(SYS_flock, &[1000, 8]), allowed)?;
            }
            Ok(())
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    /// The examples of the design notes: `personality` only to query, `kill` only to probe.
    #[test]
    fn personality_query_and_kill_probe_only() {
        let rules = vec![
            rule(
                &["exit", "exit_group", "getpid"],
                Act::ScmpActAllow,
                None,
                vec![],
            ),
            rule(
                &["personality"],
                Act::ScmpActAllow,
                None,
                vec![arg(0, Op::ScmpCmpEq, 0xffff_ffff, None)],
            ),
            rule(
                &["kill"],
                Act::ScmpActAllow,
                None,
                vec![arg(1, Op::ScmpCmpEq, 0, None)],
            ),
        ];
        let compiled = compiled(&profile(Act::ScmpActErrno, None, rules));
        let outcome = confined(&compiled, || {
            // SAFETY: all these take integers only; kill targets this very child.
            unsafe {
                succeeds(1, raw(libc::SYS_personality, &[0xffff_ffff]))?;
                let no_randomize = long(libc::ADDR_NO_RANDOMIZE);
                fails_with(2, raw(libc::SYS_personality, &[no_randomize]), libc::EPERM)?;
                let pid = succeeds(3, raw(libc::SYS_getpid, &[]))?;
                succeeds(4, raw(libc::SYS_kill, &[pid, 0]))?;
                // Were this allowed, the child would die of SIGKILL.
                fails_with(
                    5,
                    raw(libc::SYS_kill, &[pid, long(libc::SIGKILL)]),
                    libc::EPERM,
                )?;
            }
            Ok(())
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn mixed_errnos_each_return_their_own() {
        let on_fd = |fd: u64, errno: i32| {
            rule(
                &["fsync"],
                Act::ScmpActErrno,
                errno_ret(errno),
                vec![arg(0, Op::ScmpCmpEq, fd, None)],
            )
        };
        let rules = vec![
            rule(&["getpid"], Act::ScmpActErrno, None, vec![]),
            rule(
                &["getppid"],
                Act::ScmpActErrno,
                errno_ret(libc::ENOSYS),
                vec![],
            ),
            rule(
                &["mkdirat"],
                Act::ScmpActErrno,
                errno_ret(libc::EACCES),
                vec![],
            ),
            on_fd(1000, libc::ENOTTY),
            on_fd(1001, libc::EXDEV),
            // errnoRet 0: the call "succeeds" without running.
            rule(&["gettid"], Act::ScmpActErrno, Some(0), vec![]),
        ];
        let compiled = compiled(&profile(Act::ScmpActAllow, None, rules));
        let outcome = confined(&compiled, || {
            let path = c"/nonexistent-podrt-seccomp-test/dir";
            // SAFETY: integers only, except mkdirat's NUL-terminated static path.
            unsafe {
                fails_with(1, raw(libc::SYS_getpid, &[]), libc::EPERM)?;
                fails_with(2, raw(libc::SYS_getppid, &[]), libc::ENOSYS)?;
                let mkdirat = [long(libc::AT_FDCWD), path.as_ptr() as c_long, 0o700];
                fails_with(3, raw(libc::SYS_mkdirat, &mkdirat), libc::EACCES)?;
                fails_with(4, raw(libc::SYS_fsync, &[1000]), libc::ENOTTY)?;
                fails_with(5, raw(libc::SYS_fsync, &[1001]), libc::EXDEV)?;
                fails_with(6, raw(libc::SYS_fsync, &[1002]), libc::EBADF)?;
                (raw(libc::SYS_gettid, &[]) == Ok(0))
                    .then_some(())
                    .ok_or(7)?;
            }
            Ok(())
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn kill_actions_kill_with_sigsys() {
        for action in [
            Act::ScmpActKillProcess,
            Act::ScmpActKillThread,
            Act::ScmpActKill,
        ] {
            let rules = vec![rule(&["getppid"], action, None, vec![])];
            let compiled = compiled(&profile(Act::ScmpActAllow, None, rules));
            let outcome = confined(&compiled, || {
                // SAFETY: getpid and getppid take no argument.
                unsafe {
                    succeeds(1, raw(libc::SYS_getpid, &[]))?;
                    let _ = raw(libc::SYS_getppid, &[]);
                }
                Err(2)
            });
            assert_eq!(outcome, Outcome::Killed(Signal::SIGSYS), "{action}");
        }
    }

    #[test]
    fn trap_raises_sigsys() {
        let rules = vec![rule(&["getppid"], Act::ScmpActTrap, None, vec![])];
        let compiled = compiled(&profile(Act::ScmpActAllow, None, rules));
        let outcome = confined(&compiled, || {
            // SAFETY: getppid takes no argument.
            let _ = unsafe { raw(libc::SYS_getppid, &[]) };
            Err(1)
        });
        assert_eq!(outcome, Outcome::Killed(Signal::SIGSYS));
    }

    #[test]
    fn log_behaves_as_allow() {
        let rules = vec![rule(&["getppid"], Act::ScmpActLog, None, vec![])];
        let as_rule = compiled(&profile(Act::ScmpActAllow, None, rules));
        let rules = vec![rule(&["getpid"], Act::ScmpActErrno, None, vec![])];
        let as_default = compiled(&profile(Act::ScmpActLog, None, rules));
        for compiled in [as_rule, as_default] {
            let outcome = confined(&compiled, || {
                // SAFETY: getppid takes no argument.
                unsafe { succeeds(1, raw(libc::SYS_getppid, &[])) }.map(drop)
            });
            assert_eq!(outcome, Outcome::Exited(0));
        }
    }

    #[test]
    fn trace_without_a_tracer_fails_with_enosys() {
        let rules = vec![rule(&["getppid"], Act::ScmpActTrace, None, vec![])];
        let compiled = compiled(&profile(Act::ScmpActAllow, None, rules));
        let outcome = confined(&compiled, || {
            // SAFETY: getppid takes no argument.
            fails_with(1, unsafe { raw(libc::SYS_getppid, &[]) }, libc::ENOSYS)
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn flags_are_accepted_by_the_kernel() {
        let rules = vec![rule(&["getpid"], Act::ScmpActErrno, None, vec![])];
        let mut with_flags = profile(Act::ScmpActAllow, None, rules);
        with_flags.set_flags(Some(vec![
            oci_spec::runtime::LinuxSeccompFilterFlag::SeccompFilterFlagLog,
            oci_spec::runtime::LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
            oci_spec::runtime::LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
        ]));
        let compiled = compiled(&with_flags);
        assert_ne!(compiled.flags, 0);
        let outcome = confined(&compiled, || {
            // SAFETY: getpid takes no argument.
            fails_with(1, unsafe { raw(libc::SYS_getpid, &[]) }, libc::EPERM)
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn filters_stack_with_the_most_restrictive_result() {
        // Not a layout podrt produces, but `install` takes a list: check the kernel's rule.
        let first = compiled(&profile(
            Act::ScmpActAllow,
            None,
            vec![rule(
                &["getpid", "getppid"],
                Act::ScmpActErrno,
                errno_ret(libc::EACCES),
                vec![],
            )],
        ));
        let second = compiled(&profile(
            Act::ScmpActAllow,
            None,
            vec![rule(&["getppid"], Act::ScmpActKillProcess, None, vec![])],
        ));
        let stacked = CompiledSeccomp {
            filters: [first.filters, second.filters].concat(),
            flags: 0,
        };
        let outcome = confined(&stacked, || {
            // SAFETY: getpid and getppid take no argument.
            unsafe {
                fails_with(1, raw(libc::SYS_getpid, &[]), libc::EACCES)?;
                let _ = raw(libc::SYS_getppid, &[]);
            }
            Err(2)
        });
        assert_eq!(outcome, Outcome::Killed(Signal::SIGSYS));
    }

    /// A Docker-shaped profile: a shell-like child still gets its basic syscalls.
    #[test]
    fn docker_like_profile() {
        let compiled = compiled(&parse_profile(DOCKER_LIKE_PROFILE.as_bytes()).unwrap());
        let (read_end, write_end) = nix::unistd::pipe().expect("pipe");
        let pipe = c_long::from(write_end.as_raw_fd());
        let outcome = confined(&compiled, || {
            let byte = b'x';
            let mut status: libc::c_int = 0;
            let mut uts = MaybeUninit::<libc::utsname>::uninit();
            let (sigchld, newuser) = (long(libc::SIGCHLD), long(libc::CLONE_NEWUSER));
            // SAFETY: write reads one live byte; uname fills `uts`; wait4 writes `status`;
            // clone without CLONE_VM gives the new process its own copy of memory, and that
            // process leaves at once through `_exit`; the rest takes integers only.
            unsafe {
                succeeds(1, raw(libc::SYS_getpid, &[]))?;
                let write = [pipe, std::ptr::addr_of!(byte) as c_long, 1];
                (raw(libc::SYS_write, &write) == Ok(1))
                    .then_some(())
                    .ok_or(2)?;
                succeeds(3, raw(libc::SYS_uname, &[uts.as_mut_ptr() as c_long]))?;
                let newns = long(libc::CLONE_NEWNS);
                fails_with(4, raw(libc::SYS_unshare, &[newns]), libc::EPERM)?;
                fails_with(5, raw(libc::SYS_mount, &[0, 0, 0, 0, 0]), libc::EPERM)?;
                // clone: allowed without namespace flags only (SCMP_CMP_MASKED_EQ).
                match raw(libc::SYS_clone, &[sigchld | newuser, 0, 0, 0, 0]) {
                    Err(libc::EPERM) => {}
                    Ok(0) => libc::_exit(0),
                    _ => return Err(6),
                }
                let child = match raw(libc::SYS_clone, &[sigchld, 0, 0, 0, 0]) {
                    Ok(0) => libc::_exit(0),
                    Ok(child) => child,
                    Err(_) => return Err(7),
                };
                let wait = [child, std::ptr::addr_of_mut!(status) as c_long, 0, 0];
                (raw(libc::SYS_wait4, &wait) == Ok(child))
                    .then_some(())
                    .ok_or(8)?;
                (libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0)
                    .then_some(())
                    .ok_or(9)?;
                // clone3 gets ENOSYS so that libcs fall back to clone.
                fails_with(10, raw(libc::SYS_clone3, &[0, 0]), libc::ENOSYS)?;
                succeeds(11, raw(libc::SYS_personality, &[0xffff_ffff]))?;
                let no_randomize = long(libc::ADDR_NO_RANDOMIZE);
                fails_with(12, raw(libc::SYS_personality, &[no_randomize]), libc::EPERM)?;
                fails_with(13, raw(libc::SYS_getpgid, &[0]), libc::EPERM)?;
                fails_with(14, raw(1000, &[]), libc::ENOSYS)?;
            }
            Ok(())
        });
        assert_eq!(outcome, Outcome::Exited(0));
        let mut buffer = [0u8; 1];
        assert_eq!(nix::unistd::read(read_end.as_raw_fd(), &mut buffer), Ok(1));
        assert_eq!(&buffer, b"x");
    }

    /// Syscalls made through another ABI than the filter's are killed (x86_64: x32 numbers and
    /// i386 `int 0x80`), but syscall -1 is not.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn foreign_abis_are_killed() {
        const X32_SYSCALL_BIT: c_long = 0x4000_0000;
        let rules = vec![rule(&["mkdirat"], Act::ScmpActErrno, None, vec![])];
        let compiled = compiled(&profile(Act::ScmpActAllow, None, rules));

        let x32 = confined(&compiled, || {
            // SAFETY: x32 getppid takes no argument.
            let _ = unsafe { raw(X32_SYSCALL_BIT | libc::SYS_getppid, &[]) };
            Err(1)
        });
        assert_eq!(x32, Outcome::Killed(Signal::SIGSYS));

        let minus_one = confined(&compiled, || {
            // SAFETY: syscall -1 does not exist.
            fails_with(1, unsafe { raw(-1, &[]) }, libc::ENOSYS)
        });
        assert_eq!(minus_one, Outcome::Exited(0));

        /// i386 getpid (20) through `int 0x80`.
        fn i386_getpid() -> c_long {
            let ret: c_long;
            // SAFETY: getpid takes no argument and touches no memory; the kernel zeroes r8-r15
            // on the compat entry path, so they are declared clobbered.
            unsafe {
                std::arch::asm!(
                    "int 0x80",
                    inlateout("rax") 20 as c_long => ret,
                    out("r8") _, out("r9") _, out("r10") _, out("r11") _,
                    out("r12") _, out("r13") _, out("r14") _, out("r15") _,
                    options(nostack),
                );
            }
            ret
        }
        let unfiltered = CompiledSeccomp {
            filters: Vec::new(),
            flags: 0,
        };
        let i386_works = confined(&unfiltered, || (i386_getpid() > 0).then_some(()).ok_or(1));
        if i386_works != Outcome::Exited(0) {
            eprintln!("no i386 emulation in this kernel ({i386_works:?}): int 0x80 not tested");
            return;
        }
        let i386 = confined(&compiled, || {
            let _ = i386_getpid();
            Err(1)
        });
        assert_eq!(i386, Outcome::Killed(Signal::SIGSYS));
    }
}
