//! Process: uts names, sysctls, rlimits, oom score, user/groups/umask, env/cwd/args,
//! capabilities, no_new_privs, preserved fds.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use podrt_tests::procfs::{self, cap_mask, Status};
use podrt_tests::{json, Ctx};

#[test]
fn hostname_and_domainname() {
    let mut t = Ctx::new();
    t.bundle.config_mut()["hostname"] = json!("box-one");
    t.bundle.config_mut()["domainname"] = json!("example.test");
    let out = t.sh_ok("hostname; cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname");
    if t.rt.is_podrt() {
        assert_eq!(out, "box-one\nbox-one\nexample.test\n");
    } else {
        // runc 1.1.5 ignores `domainname` (added in runc 1.2): the UTS domain stays "(none)".
        assert!(out.starts_with("box-one\nbox-one\n"), "{out}");
    }
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_ne!(host.trim(), "box-one");
}

#[test]
fn sysctls_in_own_namespaces() {
    let mut t = Ctx::new();
    t.bundle.config_mut()["linux"]["sysctl"] = json!({
        "kernel.shmmax": "65536",
        "net.ipv4.ip_unprivileged_port_start": "81",
        "kernel.msgmax": "4096"
    });
    let host_shmmax = fs::read_to_string("/proc/sys/kernel/shmmax").unwrap();
    let host_port = fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    let out = t.sh_ok(
        "cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_unprivileged_port_start \
         /proc/sys/kernel/msgmax",
    );
    assert_eq!(out, "65536\n81\n4096\n");
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/shmmax").unwrap(),
        host_shmmax
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap(),
        host_port
    );
}

#[test]
fn sysctl_of_host_namespace_refused() {
    // kernel.hostname lives in the UTS namespace; without one the runtime must refuse it
    // rather than change the host.
    let mut t = Ctx::new();
    t.bundle.remove_namespace("uts");
    t.bundle
        .config_mut()
        .as_object_mut()
        .unwrap()
        .remove("hostname");
    t.bundle.config_mut()["linux"]["sysctl"] = json!({"kernel.hostname": "pwned"});
    let before = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = t.run();
    out.assert_fail();
    out.assert_stderr_contains(&["kernel.hostname"]);
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        before
    );
}

#[test]
fn rlimits() {
    let mut t = Ctx::new();
    t.bundle.config_mut()["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_NPROC", "soft": 500, "hard": 600}
    ]);
    t.bundle
        .sh("ulimit -n; ulimit -Hn; ulimit -c; ulimit -u; sleep 1000");
    let out = t.create();
    out.assert_ok();
    let pid = t.pid();
    t.start().assert_ok();
    assert!(podrt_tests::ctx::wait_until(Duration::from_secs(5), || {
        out.reread_stdout().lines().count() == 4
    }));
    assert_eq!(out.reread_stdout(), "1024\n4096\n0\n500\n");
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&f[3..5], ["1024", "4096"], "{line}");
    t.down();
}

#[test]
fn rlimit_above_hard_limit_fails() {
    // Root here lacks CAP_SYS_RESOURCE (hard NOFILE 20000 on this host): raising the hard
    // limit above ours must fail with a message naming the limit.
    let ours = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let caps = Status::of(std::process::id() as i32).cap("CapEff");
    if caps & cap_mask(&["CAP_SYS_RESOURCE"]) != 0 || ours.1 == u64::MAX {
        eprintln!("note: CAP_SYS_RESOURCE present, nothing to check");
        return;
    }
    let mut t = Ctx::new();
    t.bundle.config_mut()["process"]["rlimits"] =
        json!([{"type": "RLIMIT_NOFILE", "soft": ours.1 + 1, "hard": ours.1 + 1}]);
    t.bundle.args(&["true"]);
    let out = t.run();
    out.assert_fail();
    out.assert_stderr_any(&["rlimit", "nofile", "operation not permitted"]);
}

#[test]
fn oom_score_adj() {
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    t.bundle.config_mut()["process"]["oomScoreAdj"] = json!(500);
    let pid = t.up();
    assert_eq!(procfs::oom_score_adj(pid), 500);
    t.down();
}

#[test]
fn user_groups_umask() {
    let mut t = Ctx::new();
    t.bundle.config_mut()["process"]["user"] =
        json!({"uid": 1000, "gid": 1000, "additionalGids": [3000, 4000], "umask": 23});
    let out = t.sh_ok("cat /proc/self/status; echo; id -u; id -g");
    let st = Status::parse(&out);
    assert_eq!(st.ids("Uid"), [1000, 1000, 1000, 1000]);
    assert_eq!(st.ids("Gid"), [1000, 1000, 1000, 1000]);
    let mut groups = st.ids("Groups");
    groups.sort_unstable();
    assert_eq!(groups, [3000, 4000], "Groups: {}", st.get("Groups"));
    assert_eq!(st.get("Umask"), "0027");
}

#[test]
fn root_user_groups_default() {
    let mut t = Ctx::new();
    let out = t.sh_ok("cat /proc/self/status");
    let st = Status::parse(&out);
    assert_eq!(st.ids("Uid"), [0, 0, 0, 0]);
    assert_eq!(st.ids("Gid"), [0, 0, 0, 0]);
    assert_eq!(st.ids("Groups"), Vec::<u32>::new(), "{}", st.get("Groups"));
    // runc's default umask when the config has none: 0022
    assert_eq!(st.get("Umask"), "0022");
}

#[test]
fn env_cwd_args() {
    let mut t = Ctx::new();
    t.bundle.env("FOO=bar baz").env("EMPTY=");
    t.bundle.config_mut()["process"]["cwd"] = json!("/tmp");
    t.bundle.args(&[
        "/bin/sh",
        "-c",
        "echo \"[$FOO][$EMPTY]\"; pwd; echo \"$0|$1|$2\"",
        "zero",
        "one two",
        "",
    ]);
    let out = t.run_ok();
    assert_eq!(out, "[bar baz][]\n/tmp\nzero|one two|\n");
}

#[test]
fn env_is_exactly_the_config_plus_home() {
    let mut t = Ctx::new();
    t.bundle.config_mut()["process"]["env"] = json!(["PATH=/bin", "A=1"]);
    let out = t.sh_ok("env | sort");
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL="))
        .collect();
    // runc adds HOME from /etc/passwd when the config does not set it.
    assert_eq!(lines, ["A=1", "HOME=/root", "PATH=/bin"], "{out}");
}

#[test]
fn cwd_is_created() {
    let mut t = Ctx::new();
    t.bundle.config_mut()["process"]["cwd"] = json!("/does/not/exist/yet");
    assert_eq!(t.sh_ok("pwd"), "/does/not/exist/yet\n");
}

#[test]
fn capabilities_non_root_exact_sets() {
    let bnd = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETUID",
        "CAP_NET_RAW",
    ];
    let set = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    let c = t.bundle.config_mut();
    c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    c["process"]["capabilities"] = json!({
        "bounding": bnd, "effective": set, "permitted": set, "inheritable": set, "ambient": set
    });
    let pid = t.up();
    let st = Status::of(pid);
    assert_eq!(st.cap("CapBnd"), cap_mask(&bnd), "CapBnd");
    assert_eq!(st.cap("CapEff"), cap_mask(&set), "CapEff");
    assert_eq!(st.cap("CapPrm"), cap_mask(&set), "CapPrm");
    assert_eq!(st.cap("CapInh"), cap_mask(&set), "CapInh");
    assert_eq!(st.cap("CapAmb"), cap_mask(&set), "CapAmb");
    t.down();
}

#[test]
fn capabilities_root_exact_sets() {
    let set = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"];
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    t.bundle.config_mut()["process"]["capabilities"] =
        json!({"bounding": set, "effective": set, "permitted": set});
    let pid = t.up();
    let st = Status::of(pid);
    for k in ["CapBnd", "CapEff", "CapPrm"] {
        assert_eq!(st.cap(k), cap_mask(&set), "{k}");
    }
    assert_eq!(st.cap("CapInh"), 0);
    assert_eq!(st.cap("CapAmb"), 0);
    t.down();
}

#[test]
fn capabilities_none() {
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    t.bundle.config_mut()["process"]["capabilities"] = json!({});
    let pid = t.up();
    let st = Status::of(pid);
    for k in ["CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"] {
        assert_eq!(st.cap(k), 0, "{k}");
    }
    t.down();
}

#[test]
fn dropped_capability_is_enforced() {
    let caps = ["CAP_KILL", "CAP_SETUID", "CAP_SETGID"];
    let mut t = Ctx::new();
    t.bundle.config_mut()["process"]["capabilities"] =
        json!({"bounding": caps, "effective": caps, "permitted": caps});
    fs::write(t.bundle.rootfs().join("tmp/f"), "x").unwrap();
    let out = t.sh_ok("chown 1000 /tmp/f 2>&1; echo rc=$?; mknod /tmp/n c 1 3 2>&1; echo rc=$?");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert_eq!(out.matches("rc=1").count(), 2, "{out}");
}

#[test]
fn unknown_capability_fails() {
    let mut t = Ctx::new();
    t.bundle.config_mut()["process"]["capabilities"]["bounding"] = json!(["CAP_NOPE"]);
    let out = t.create();
    if t.rt.is_podrt() {
        // podrt: a capability it cannot map is an error naming it.
        out.assert_fail();
        out.assert_stderr_contains(&["CAP_NOPE"]);
    } else {
        // runc 1.1.5 silently ignores unknown capabilities (a warning in its log at most).
        out.assert_ok();
        t.cmd(&["delete", "--force", &t.id]).assert_ok();
    }
}

#[test]
fn no_new_privileges() {
    let mut t = Ctx::new();
    t.bundle.config_mut()["process"]["noNewPrivileges"] = json!(true);
    let st = Status::parse(&t.sh_ok("cat /proc/self/status"));
    assert_eq!(st.num("NoNewPrivs"), 1);

    let mut t = Ctx::new();
    let st = Status::parse(&t.sh_ok("cat /proc/self/status"));
    assert_eq!(st.num("NoNewPrivs"), 0);
}

/// `run --preserve-fds 1` with `file` opened as fd 3 of the runtime; returns stdout.
fn run_with_fd3(t: &Ctx, file: &std::path::Path, extra: &[&str]) -> podrt_tests::Out {
    let mut args = vec!["run", "--preserve-fds", "1"];
    args.extend_from_slice(extra);
    spawn_with_fd3(t, file, &args, &[])
}

/// Run the runtime with `args` (plus the bundle and ID), `env` set, and `file` open as fd 3.
fn spawn_with_fd3(
    t: &Ctx,
    file: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> podrt_tests::Out {
    t.bundle.write();
    let f = fs::File::open(file).unwrap();
    let raw = f.as_raw_fd();
    let mut args = args.to_vec();
    args.extend_from_slice(&["--bundle", t.bundle.path_str(), &t.id]);
    let mut cmd = t.command(&args);
    cmd.env_remove("LISTEN_PID");
    for (k, v) in env {
        cmd.env(k, v);
    }
    // SAFETY: dup2 and fcntl are async-signal-safe; the closure only calls them and reads errno.
    unsafe {
        cmd.pre_exec(move || {
            // dup2(3, 3) would keep FD_CLOEXEC: clear it instead.
            let rc = if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = t.run_command(cmd, Duration::from_secs(30));
    drop(f);
    out
}

#[test]
fn preserve_fds() {
    let mut t = Ctx::new();
    let file = t.dir().join("fd3.txt");
    fs::write(&file, "preserved-content\n").unwrap();
    t.bundle
        .sh("cat <&3; ls /proc/self/fd | sort -n | tr '\\n' ' '");
    let out = run_with_fd3(&t, &file, &[]);
    out.assert_ok();
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("preserved-content"));
    // fds 0-2, 3 and the fd ls itself uses to read the dir (4): nothing else leaks in
    assert_eq!(lines.next().map(str::trim), Some("0 1 2 3 4"), "{out}");
}

#[test]
fn no_fds_leak_without_preserve() {
    let mut t = Ctx::new();
    assert_eq!(
        t.sh_ok("ls /proc/self/fd | sort -n | tr '\\n' ' '").trim(),
        "0 1 2 3"
    );
}

#[test]
fn preserve_fds_alone_sets_no_listen_fds() {
    // --preserve-fds passes fds; LISTEN_FDS is only for socket activation (as in runc).
    let mut t = Ctx::new();
    let file = t.dir().join("fd3.txt");
    fs::write(&file, "x").unwrap();
    t.bundle.sh("echo \"fds=$LISTEN_FDS pid=$LISTEN_PID\"");
    let out = run_with_fd3(&t, &file, &[]);
    out.assert_ok();
    assert_eq!(out.out(), "fds= pid=", "{out}");
}

#[test]
fn listen_fds_from_socket_activation() {
    // The runtime itself was socket-activated (LISTEN_FDS=1 in its environment, fd 3 open):
    // the container gets fd 3 and LISTEN_FDS=1, LISTEN_PID=1.
    let mut t = Ctx::new();
    let file = t.dir().join("fd3.txt");
    fs::write(&file, "activated\n").unwrap();
    t.bundle
        .sh("echo \"fds=$LISTEN_FDS pid=$LISTEN_PID\"; cat <&3");
    let out = spawn_with_fd3(&t, &file, &["run"], &[("LISTEN_FDS", "1")]);
    out.assert_ok();
    assert_eq!(out.out(), "fds=1 pid=1\nactivated", "{out}");
}
