//! In-process hot paths of a container start, timed with criterion: parsing config.json,
//! `prepare::plan`, the state.json write + rename, and compiling a seccomp profile.
//!
//! `cargo bench -p podrt-benches --bench hotpaths`

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use oci_spec::runtime::{LinuxSeccomp, Spec};
use podrt_runtime::prepare::{self, seccomp, PlanOptions};
use podrt_runtime::state::{ContainerState, StateDir, Status};
use serde_json::{json, Value};

/// Syscalls a container workload typically needs on x86_64 (the kernel's table minus the
/// privileged, tracing and namespace ones, the shape of Docker's default allow list).
const ALLOWED: &[&str] = &[
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
    "mkdir",
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
    "statfs",
    "fstatfs",
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
    "prctl",
    "arch_prctl",
    "adjtimex",
    "setrlimit",
    "chroot",
    "sync",
    "sethostname",
    "setdomainname",
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
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "exit_group",
    "epoll_wait",
    "epoll_ctl",
    "tgkill",
    "utimes",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
    "mq_getsetattr",
    "waitid",
    "ioprio_set",
    "ioprio_get",
    "inotify_init",
    "inotify_add_watch",
    "inotify_rm_watch",
    "migrate_pages",
    "openat",
    "mkdirat",
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
    "set_robust_list",
    "get_robust_list",
    "splice",
    "tee",
    "sync_file_range",
    "vmsplice",
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
    "recvmmsg",
    "fanotify_mark",
    "prlimit64",
    "syncfs",
    "sendmmsg",
    "getcpu",
    "sched_setattr",
    "sched_getattr",
    "renameat2",
    "seccomp",
    "getrandom",
    "memfd_create",
    "execveat",
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
    "pidfd_open",
    "close_range",
    "openat2",
    "pidfd_getfd",
    "faccessat2",
    "process_madvise",
    "epoll_pwait2",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "memfd_secret",
    "process_mrelease",
    "futex_waitv",
    "set_mempolicy_home_node",
];

/// A Docker-shaped profile: default `ERRNO(EPERM)`, one large allow list, argument conditions
/// (`personality` values, `clone` without namespace flags through a masked compare) and a rule
/// with its own errno (`clone3` → `ENOSYS`, so libcs fall back to `clone`).
fn seccomp_profile() -> Value {
    const CLONE_NS_FLAGS: u64 = 0x7E02_0000;
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ALLOWED, "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0xffff_ffff_u64, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": CLONE_NS_FLAGS, "valueTwo": 0,
                       "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
        ]
    })
}

/// The config `podrt spec` writes (runc's default shape), running /bin/true.
fn runc_spec() -> Value {
    let mut v = podrt_runtime::cli::spec::default_spec(false);
    v["process"]["args"] = json!(["/bin/true"]);
    v["process"]["terminal"] = json!(false);
    v
}

fn with_seccomp(mut v: Value) -> Value {
    v["linux"]["seccomp"] = seccomp_profile();
    v
}

fn parse(json: &str) -> Spec {
    serde_json::from_str(json).expect("the benchmark config parses")
}

fn config_parsing(c: &mut Criterion) {
    let plain = serde_json::to_string_pretty(&runc_spec()).expect("serialize");
    let seccomp = serde_json::to_string_pretty(&with_seccomp(runc_spec())).expect("serialize");
    let mut g = c.benchmark_group("config.json");
    g.bench_function("parse runc-spec", |b| {
        b.iter(|| parse(black_box(&plain)));
    });
    g.bench_function("parse runc-spec + seccomp profile", |b| {
        b.iter(|| parse(black_box(&seccomp)));
    });
    g.finish();
}

fn plan(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path();
    std::fs::create_dir(bundle.join("rootfs")).expect("mkdir rootfs");
    let spec = parse(&serde_json::to_string(&runc_spec()).expect("serialize"));
    let opts = PlanOptions::default();
    let mut g = c.benchmark_group("prepare::plan");
    g.bench_function("runc-spec", |b| {
        b.iter(|| {
            prepare::plan("bench", black_box(bundle), black_box(&spec), &opts).expect("plan")
        });
    });
    let spec_sc = parse(&serde_json::to_string(&with_seccomp(runc_spec())).expect("serialize"));
    match prepare::plan("bench", bundle, &spec_sc, &opts) {
        Ok(_) => {
            g.bench_function("runc-spec + seccomp profile", |b| {
                b.iter(|| {
                    prepare::plan("bench", black_box(bundle), black_box(&spec_sc), &opts)
                        .expect("plan")
                });
            });
        }
        Err(e) => println!("prepare::plan with seccomp skipped: {e}"),
    }
    g.finish();
}

fn state_file(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    let st = ContainerState {
        id: "bench".into(),
        bundle: dir.path().to_path_buf(),
        rootfs: dir.path().join("rootfs"),
        status: Status::Created,
        pid: Some(4242),
        pid_start_time: Some(123_456),
        created: podrt_runtime::state::now_rfc3339(),
        owner: "root".into(),
        annotations: Default::default(),
        cgroup: None,
        config: parse(&serde_json::to_string(&runc_spec()).expect("serialize")),
        oom_killed: false,
    };
    let mut g = c.benchmark_group("state");
    let sd = StateDir::create(&root, "kept").expect("state dir");
    g.bench_function("save state.json (write + rename)", |b| {
        b.iter(|| sd.save(black_box(&st)).expect("save"));
    });
    drop(sd);
    let mut n = 0u64;
    g.bench_function("create dir + lock, save, remove", |b| {
        b.iter(|| {
            n += 1;
            let sd = StateDir::create(&root, &format!("c{n}")).expect("create");
            sd.save(&st).expect("save");
            sd.remove().expect("remove");
        });
    });
    g.finish();
    tidy(&root);
}

fn tidy(root: &Path) {
    let _ = std::fs::remove_dir_all(root);
}

fn seccomp_compile(c: &mut Criterion) {
    let profile: LinuxSeccomp =
        serde_json::from_value(seccomp_profile()).expect("the profile parses");
    match seccomp::compile(&profile) {
        Ok(compiled) => {
            let insns: usize = compiled.filters.iter().map(Vec::len).sum();
            println!(
                "seccomp: {} allowed names + conditional rules -> {insns} BPF instructions",
                ALLOWED.len()
            );
            c.bench_function("seccomp::compile docker-shaped profile", |b| {
                b.iter(|| seccomp::compile(black_box(&profile)).expect("compile"));
            });
        }
        Err(e) => println!("seccomp::compile skipped (the compiler returned an error: {e})"),
    }
}

criterion_group!(benches, config_parsing, plan, state_file, seccomp_compile);
criterion_main!(benches);
