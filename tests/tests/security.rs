//! Security: seccomp profiles proven against the kernel's real behaviour.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use podrt_tests::procfs::Status;
use podrt_tests::{json, Ctx, Value};

fn seccomp(t: &mut Ctx, profile: Value) {
    t.bundle.config_mut()["linux"]["seccomp"] = profile;
}

fn deny_mkdir(extra: Value) -> Value {
    let mut rule = json!({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"});
    if let Some(o) = extra.as_object() {
        for (k, v) in o {
            rule[k] = v.clone();
        }
    }
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [rule]
    })
}

#[test]
fn seccomp_mode_filter() {
    let mut t = Ctx::new();
    seccomp(&mut t, deny_mkdir(json!({})));
    let st = Status::parse(&t.sh_ok("cat /proc/self/status"));
    assert_eq!(st.num("Seccomp"), 2);
}

#[test]
fn no_seccomp_without_profile() {
    let mut t = Ctx::new();
    let st = Status::parse(&t.sh_ok("cat /proc/self/status"));
    assert_eq!(st.num("Seccomp"), 0);
}

#[test]
fn seccomp_denied_syscall_eperm() {
    let mut t = Ctx::new();
    seccomp(&mut t, deny_mkdir(json!({})));
    let out =
        t.sh_ok("mkdir /tmp/d 2>&1; echo rc=$?; echo still-works; touch /tmp/f && echo touch-ok");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(
        out.contains("rc=1") && out.contains("still-works") && out.contains("touch-ok"),
        "{out}"
    );
    assert!(!t.bundle.rootfs().join("tmp/d").exists());
}

#[test]
fn seccomp_errno_ret() {
    let mut t = Ctx::new();
    seccomp(&mut t, deny_mkdir(json!({"errnoRet": 38})));
    let out = t.sh_ok("mkdir /tmp/d 2>&1; echo rc=$?");
    assert!(out.contains("Function not implemented"), "{out}");
}

#[test]
fn seccomp_mixed_errnos() {
    let mut t = Ctx::new();
    let mut p = deny_mkdir(json!({"errnoRet": 38}));
    p["syscalls"].as_array_mut().unwrap().push(json!({
        "names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13
    }));
    seccomp(&mut t, p);
    std::fs::create_dir_all(t.bundle.rootfs().join("tmp/keep")).unwrap();
    let out = t.sh_ok("mkdir /tmp/d 2>&1; rmdir /tmp/keep 2>&1; true");
    assert!(out.contains("Function not implemented"), "{out}");
    assert!(out.contains("Permission denied"), "{out}");
}

#[test]
fn seccomp_kill_action() {
    let mut t = Ctx::new();
    let mut p = deny_mkdir(json!({}));
    p["syscalls"][0]["action"] = json!("SCMP_ACT_KILL");
    seccomp(&mut t, p);
    // The mkdir child dies of SIGSYS (31): the shell reports 128+31.
    let out = t.sh_ok("mkdir /tmp/d; echo rc=$?");
    assert!(out.contains("rc=159"), "{out}");
}

#[test]
fn seccomp_args_condition() {
    // chmod to 0777 is denied, any other mode works.
    let mut t = Ctx::new();
    seccomp(
        &mut t,
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 1, "value": 511, "op": "SCMP_CMP_EQ"}]},
                {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 2, "value": 511, "op": "SCMP_CMP_EQ"}]}
            ]
        }),
    );
    let out = t.sh_ok(
        "touch /tmp/f; chmod 755 /tmp/f && echo 755-ok; chmod 777 /tmp/f 2>&1; \
         stat -c %a /tmp/f",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "755-ok", "{out}");
    assert!(lines[1].contains("Operation not permitted"), "{out}");
    assert_eq!(lines[2], "755", "{out}");
}

#[test]
fn seccomp_masked_eq_condition() {
    // SCMP_CMP_MASKED_EQ: deny open(at) with O_CREAT set in flags, whatever the rest.
    let mut t = Ctx::new();
    seccomp(
        &mut t,
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["open"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 1, "value": 64, "valueTwo": 64, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["openat"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 2, "value": 64, "valueTwo": 64, "op": "SCMP_CMP_MASKED_EQ"}]}
            ]
        }),
    );
    let out = t.sh_ok("grep -q root /etc/passwd && echo read-ok; sh -c ': > /tmp/new' 2>&1; true");
    assert!(out.contains("read-ok"), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(!t.bundle.rootfs().join("tmp/new").exists());
}

/// x86_64 syscalls 0..=334 and 424..=448 except mkdir/mkdirat: an allow list under a default
/// of ERRNO.
const ALLOW: &[&str] = &[
    "read",
    "write",
    "open",
    "close",
    "stat",
    "fstat",
    "lstat",
    "poll",
    "lseek",
    "mmap",
    "mprotect",
    "munmap",
    "brk",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "ioctl",
    "pread64",
    "pwrite64",
    "readv",
    "writev",
    "access",
    "pipe",
    "select",
    "sched_yield",
    "mremap",
    "msync",
    "mincore",
    "madvise",
    "shmget",
    "shmat",
    "shmctl",
    "dup",
    "dup2",
    "pause",
    "nanosleep",
    "getitimer",
    "alarm",
    "setitimer",
    "getpid",
    "sendfile",
    "socket",
    "connect",
    "accept",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "shutdown",
    "bind",
    "listen",
    "getsockname",
    "getpeername",
    "socketpair",
    "setsockopt",
    "getsockopt",
    "clone",
    "fork",
    "vfork",
    "execve",
    "exit",
    "wait4",
    "kill",
    "uname",
    "semget",
    "semop",
    "semctl",
    "shmdt",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "fcntl",
    "flock",
    "fsync",
    "fdatasync",
    "truncate",
    "ftruncate",
    "getdents",
    "getcwd",
    "chdir",
    "fchdir",
    "rename",
    "rmdir",
    "creat",
    "link",
    "unlink",
    "symlink",
    "readlink",
    "chmod",
    "fchmod",
    "chown",
    "fchown",
    "lchown",
    "umask",
    "gettimeofday",
    "getrlimit",
    "getrusage",
    "sysinfo",
    "times",
    "ptrace",
    "getuid",
    "syslog",
    "getgid",
    "setuid",
    "setgid",
    "geteuid",
    "getegid",
    "setpgid",
    "getppid",
    "getpgrp",
    "setsid",
    "setreuid",
    "setregid",
    "getgroups",
    "setgroups",
    "setresuid",
    "getresuid",
    "setresgid",
    "getresgid",
    "getpgid",
    "setfsuid",
    "setfsgid",
    "getsid",
    "capget",
    "capset",
    "rt_sigpending",
    "rt_sigtimedwait",
    "rt_sigqueueinfo",
    "rt_sigsuspend",
    "sigaltstack",
    "utime",
    "mknod",
    "uselib",
    "personality",
    "ustat",
    "statfs",
    "fstatfs",
    "sysfs",
    "getpriority",
    "setpriority",
    "sched_setparam",
    "sched_getparam",
    "sched_setscheduler",
    "sched_getscheduler",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_rr_get_interval",
    "mlock",
    "munlock",
    "mlockall",
    "munlockall",
    "vhangup",
    "modify_ldt",
    "pivot_root",
    "_sysctl",
    "prctl",
    "arch_prctl",
    "adjtimex",
    "setrlimit",
    "chroot",
    "sync",
    "acct",
    "settimeofday",
    "mount",
    "umount2",
    "swapon",
    "swapoff",
    "reboot",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "create_module",
    "init_module",
    "delete_module",
    "get_kernel_syms",
    "query_module",
    "quotactl",
    "nfsservctl",
    "getpmsg",
    "putpmsg",
    "afs_syscall",
    "tuxcall",
    "security",
    "gettid",
    "readahead",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "tkill",
    "time",
    "futex",
    "sched_setaffinity",
    "sched_getaffinity",
    "set_thread_area",
    "io_setup",
    "io_destroy",
    "io_getevents",
    "io_submit",
    "io_cancel",
    "get_thread_area",
    "lookup_dcookie",
    "epoll_create",
    "epoll_ctl_old",
    "epoll_wait_old",
    "remap_file_pages",
    "getdents64",
    "set_tid_address",
    "restart_syscall",
    "semtimedop",
    "fadvise64",
    "timer_create",
    "timer_settime",
    "timer_gettime",
    "timer_getoverrun",
    "timer_delete",
    "clock_settime",
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "exit_group",
    "epoll_wait",
    "epoll_ctl",
    "tgkill",
    "utimes",
    "vserver",
    "mbind",
    "set_mempolicy",
    "get_mempolicy",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
    "mq_getsetattr",
    "kexec_load",
    "waitid",
    "add_key",
    "request_key",
    "keyctl",
    "ioprio_set",
    "ioprio_get",
    "inotify_init",
    "inotify_add_watch",
    "inotify_rm_watch",
    "migrate_pages",
    "openat",
    "mknodat",
    "fchownat",
    "futimesat",
    "newfstatat",
    "unlinkat",
    "renameat",
    "linkat",
    "symlinkat",
    "readlinkat",
    "fchmodat",
    "faccessat",
    "pselect6",
    "ppoll",
    "unshare",
    "set_robust_list",
    "get_robust_list",
    "splice",
    "tee",
    "sync_file_range",
    "vmsplice",
    "move_pages",
    "utimensat",
    "epoll_pwait",
    "signalfd",
    "timerfd_create",
    "eventfd",
    "fallocate",
    "timerfd_settime",
    "timerfd_gettime",
    "accept4",
    "signalfd4",
    "eventfd2",
    "epoll_create1",
    "dup3",
    "pipe2",
    "inotify_init1",
    "preadv",
    "pwritev",
    "rt_tgsigqueueinfo",
    "perf_event_open",
    "recvmmsg",
    "fanotify_init",
    "fanotify_mark",
    "prlimit64",
    "name_to_handle_at",
    "open_by_handle_at",
    "clock_adjtime",
    "syncfs",
    "sendmmsg",
    "setns",
    "getcpu",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "finit_module",
    "sched_setattr",
    "sched_getattr",
    "renameat2",
    "seccomp",
    "getrandom",
    "memfd_create",
    "kexec_file_load",
    "bpf",
    "execveat",
    "userfaultfd",
    "membarrier",
    "mlock2",
    "copy_file_range",
    "preadv2",
    "pwritev2",
    "pkey_mprotect",
    "pkey_alloc",
    "pkey_free",
    "statx",
    "io_pgetevents",
    "rseq",
    "pidfd_send_signal",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "pidfd_open",
    "clone3",
    "close_range",
    "openat2",
    "pidfd_getfd",
    "faccessat2",
    "process_madvise",
    "epoll_pwait2",
    "mount_setattr",
    "quotactl_fd",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "memfd_secret",
    "process_mrelease",
];

#[test]
fn seccomp_default_errno_allow_list() {
    let mut t = Ctx::new();
    seccomp(
        &mut t,
        json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ALLOW, "action": "SCMP_ACT_ALLOW"}]
        }),
    );
    let out = t.sh_ok("mkdir /tmp/d 2>&1; echo rc=$?; echo fine");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("rc=1") && out.contains("fine"), "{out}");
}

#[test]
fn seccomp_default_errno_ret() {
    let mut t = Ctx::new();
    seccomp(
        &mut t,
        json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "syscalls": [{"names": ALLOW, "action": "SCMP_ACT_ALLOW"}]
        }),
    );
    let out = t.sh_ok("mkdir /tmp/d 2>&1; echo rc=$?");
    assert!(out.contains("Function not implemented"), "{out}");
}

#[test]
fn seccomp_with_no_new_privileges_false() {
    // Without no_new_privs the filter still applies (needs CAP_SYS_ADMIN at install time,
    // which the runtime has before dropping capabilities).
    let mut t = Ctx::new();
    t.bundle.config_mut()["process"]["noNewPrivileges"] = json!(false);
    seccomp(&mut t, deny_mkdir(json!({})));
    let out = t.sh_ok("mkdir /tmp/d 2>&1; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(
        out.contains("NoNewPrivs:\t0") && out.contains("Seccomp:\t2"),
        "{out}"
    );
}

#[test]
fn seccomp_unknown_action_fails() {
    let mut t = Ctx::new();
    let mut p = deny_mkdir(json!({}));
    p["syscalls"][0]["action"] = json!("SCMP_ACT_BOGUS");
    seccomp(&mut t, p);
    let out = t.create();
    out.assert_fail();
    out.assert_stderr_contains(&["SCMP_ACT_BOGUS"]);
}

#[test]
fn seccomp_notify_refused() {
    // podrt-only: podrt does not implement seccomp user notification and must say so at
    // create. (runc 1.1.5 requires listenerPath for it and fails differently.)
    let mut t = Ctx::new();
    let mut p = deny_mkdir(json!({}));
    p["syscalls"][0]["action"] = json!("SCMP_ACT_NOTIFY");
    seccomp(&mut t, p);
    let out = t.create();
    out.assert_fail();
    if t.rt.is_podrt() {
        out.assert_stderr_contains(&["SCMP_ACT_NOTIFY"]);
    }
}
