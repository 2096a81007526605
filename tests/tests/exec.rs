//! exec: args, --process, --env, --cwd, --user, --detach --pid-file, --tty; namespaces and
//! cgroups of the exec'd process equal the init's.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::fs;
use std::time::Duration;

use podrt_tests::procfs::{self, cgroups, ns_inode, Status};
use podrt_tests::{json, ConsoleReceiver, Ctx};

fn running(t: &mut Ctx) -> i32 {
    t.bundle.args(&["sleep", "1000"]);
    t.up()
}

#[test]
fn exec_args_and_exit_code() {
    let mut t = Ctx::new();
    running(&mut t);
    let out = t.cmd(&["exec", &t.id, "echo", "hello", "world"]);
    out.assert_ok();
    assert_eq!(out.stdout, "hello world\n");
    t.cmd(&["exec", &t.id, "sh", "-c", "exit 5"]).assert_code(5);
    t.cmd(&["exec", &t.id, "false"]).assert_code(1);
    t.down();
}

#[test]
fn exec_sees_container_view() {
    let mut t = Ctx::new();
    t.bundle.config_mut()["hostname"] = json!("exec-host");
    running(&mut t);
    let out = t.cmd(&[
        "exec",
        &t.id,
        "sh",
        "-c",
        "hostname; cat /proc/1/cmdline | tr '\\0' ' '",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout, "exec-host\nsleep 1000 ");
    t.down();
}

#[test]
fn exec_process_json() {
    let mut t = Ctx::new();
    running(&mut t);
    let pj = t.dir().join("process.json");
    fs::write(
        &pj,
        serde_json::to_string(&json!({
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh", "-c", "echo $XVAR; pwd"],
            "env": ["PATH=/bin", "XVAR=from-process-json"],
            "cwd": "/tmp"
        }))
        .unwrap(),
    )
    .unwrap();
    let out = t.cmd(&["exec", "--process", pj.to_str().unwrap(), &t.id]);
    out.assert_ok();
    assert_eq!(out.stdout, "from-process-json\n/tmp\n");
    t.down();
}

#[test]
fn exec_env_cwd_user() {
    let mut t = Ctx::new();
    running(&mut t);
    let out = t.cmd(&[
        "exec",
        "--env",
        "E1=one",
        "--env",
        "E2=two",
        "--cwd",
        "/tmp",
        "--user",
        "1000:1000",
        &t.id,
        "sh",
        "-c",
        "echo $E1 $E2; pwd; id -u; id -g",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout, "one two\n/tmp\n1000\n1000\n");
    let out = t.cmd(&["exec", "-u", "1000", &t.id, "cat", "/proc/self/status"]);
    out.assert_ok();
    let st = Status::parse(&out.stdout);
    assert_eq!(st.ids("Uid")[0], 1000);
    t.down();
}

#[test]
fn exec_detach_pid_file_same_namespaces_and_cgroups() {
    let mut t = Ctx::new();
    let init = running(&mut t);
    let pf = t.dir().join("exec.pid");
    let out = t.cmd(&[
        "exec",
        "--detach",
        "--pid-file",
        pf.to_str().unwrap(),
        &t.id,
        "sleep",
        "999",
    ]);
    out.assert_ok();
    let pid: i32 = fs::read_to_string(&pf).unwrap().trim().parse().unwrap();
    assert!(procfs::alive(pid));
    assert_ne!(pid, init);
    assert!(podrt_tests::ctx::wait_until(
        Duration::from_secs(5),
        || procfs::cmdline(pid) == "sleep 999"
    ));
    for ns in ["pid", "mnt", "uts", "ipc", "net", "cgroup", "user"] {
        assert_eq!(
            ns_inode(pid, ns),
            ns_inode(init, ns),
            "{ns} namespace differs"
        );
    }
    assert_eq!(cgroups(pid), cgroups(init));
    // The runtime's ps sees both.
    let ps = t.cmd(&["ps", "--format", "json", &t.id]);
    ps.assert_ok();
    let v: Vec<i64> = serde_json::from_str(&ps.stdout).unwrap();
    assert!(
        v.contains(&i64::from(pid)) && v.contains(&i64::from(init)),
        "{v:?}"
    );
    t.down();
    assert!(!procfs::alive(pid), "exec'd process survived the container");
}

#[test]
fn exec_inherits_container_security() {
    // Caps, no_new_privs and seccomp of the container apply to exec'd processes.
    let caps = ["CAP_KILL", "CAP_CHOWN"];
    let mut t = Ctx::new();
    let c = t.bundle.config_mut();
    c["process"]["noNewPrivileges"] = json!(true);
    c["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]});
    running(&mut t);
    let out = t.cmd(&[
        "exec",
        &t.id,
        "sh",
        "-c",
        "cat /proc/self/status; mkdir /tmp/x 2>&1; true",
    ]);
    out.assert_ok();
    let st = Status::parse(&out.stdout);
    assert_eq!(st.num("NoNewPrivs"), 1);
    assert_eq!(st.num("Seccomp"), 2);
    assert_eq!(st.cap("CapBnd"), procfs::cap_mask(&caps));
    assert!(out.stdout.contains("Operation not permitted"), "{out}");
    t.down();
}

#[test]
fn exec_tty_console_socket() {
    let mut t = Ctx::new();
    running(&mut t);
    let sock = ConsoleReceiver::bind(&t.dir().join("exec-console.sock"));
    let pf = t.dir().join("exec.pid");
    let out = t.cmd(&[
        "exec",
        "--tty",
        "--detach",
        "--console-socket",
        sock.path_str(),
        "--pid-file",
        pf.to_str().unwrap(),
        &t.id,
        "sh",
        "-c",
        "tty; echo tty-exec-ok",
    ]);
    out.assert_ok();
    let master = sock.receive(Duration::from_secs(10));
    let text = master.read_to_end(Duration::from_secs(10));
    assert!(
        text.lines()
            .next()
            .is_some_and(|l| l.starts_with("/dev/pts/")),
        "{text:?}"
    );
    assert!(text.contains("tty-exec-ok"), "{text:?}");
    t.down();
}

#[test]
fn exec_missing_binary_fails() {
    let mut t = Ctx::new();
    running(&mut t);
    let out = t.cmd(&["exec", &t.id, "/nonexistent"]);
    out.assert_fail();
    out.assert_stderr_contains(&["/nonexistent"]);
    assert_eq!(t.status(), "running");
    t.down();
}

#[test]
fn exec_in_stopped_container_fails() {
    let mut t = Ctx::new();
    t.bundle.sh("exit 0");
    t.create_ok();
    t.start().assert_ok();
    t.wait_status("stopped");
    let out = t.cmd(&["exec", &t.id, "true"]);
    out.assert_fail();
    // runc: cannot exec in a stopped container
    out.assert_stderr_any(&["stopped", "not running"]);
    t.delete().assert_ok();
}

#[test]
fn exec_in_created_container() {
    // runc allows exec before start; the exec'd process runs while init still waits.
    let t = Ctx::new();
    t.create_ok();
    let out = t.cmd(&["exec", &t.id, "echo", "early"]);
    out.assert_ok();
    assert_eq!(out.stdout, "early\n");
    assert_eq!(t.status(), "created");
    t.cmd(&["delete", "--force", &t.id]).assert_ok();
}
