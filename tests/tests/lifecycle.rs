//! Lifecycle: create, start, state, kill, delete, run, list, ps, pause/resume, spec, CLI forms.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::fs;
use std::time::Duration;

use podrt_tests::procfs::{self, Status};
use podrt_tests::{json, require, Ctx, Feature, Value};

#[test]
fn create_state_start_kill_delete() {
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    let pid = t.create_ok();
    let st = t.state();
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(st["id"], t.id.as_str());
    assert_eq!(
        st["ociVersion"].as_str().map(|s| !s.is_empty()),
        Some(true),
        "{st}"
    );
    let bundle = fs::canonicalize(t.bundle.path()).unwrap();
    assert_eq!(st["bundle"], bundle.to_str().unwrap(), "{st}");
    // pid file holds the same pid
    let pf = fs::read_to_string(t.pid_file()).expect("pid file written by create");
    assert_eq!(pf.trim().parse::<i32>().unwrap(), pid);
    // the init has not exec'd the user program yet
    assert!(procfs::alive(pid));
    assert_ne!(procfs::cmdline(pid), "sleep 1000");
    assert!(
        !procfs::exe(pid).ends_with("/busybox"),
        "exe {}",
        procfs::exe(pid)
    );

    t.start().assert_ok();
    assert_eq!(t.status(), "running");
    assert!(podrt_tests::ctx::wait_until(
        Duration::from_secs(5),
        || procfs::cmdline(pid) == "sleep 1000"
    ));
    assert!(
        procfs::exe(pid).ends_with("/busybox"),
        "exe {}",
        procfs::exe(pid)
    );

    t.kill("KILL").assert_ok();
    t.wait_status("stopped");
    assert!(!procfs::alive(pid));
    t.delete().assert_ok();
    t.cmd(&["state", &t.id]).assert_fail();
}

/// pid 1 of a pid namespace only gets signals it has a handler for (SIGKILL excepted), so
/// the init traps TERM. A loop, not `sleep & wait`: busybox ash may defer a trap that fires just
/// before `wait` until the child exits.
const TRAP_TERM: &str = "trap 'exit 0' TERM; while :; do sleep 0.1; done";

/// Start a container whose init traps TERM, once the trap is installed (pid 1 drops signals it
/// has no handler for, so signalling earlier would be lost).
fn up_trapping_term(t: &mut Ctx) -> i32 {
    t.bundle.sh(TRAP_TERM);
    let pid = t.up();
    let trapped = podrt_tests::ctx::wait_until(Duration::from_secs(5), || {
        u64::from_str_radix(Status::of(pid).get("SigCgt"), 16).unwrap_or(0) & (1 << 14) != 0
    });
    assert!(trapped, "the init never installed its TERM trap");
    pid
}

#[test]
fn kill_signal_forms() {
    for sig in ["TERM", "SIGTERM", "15", "KILL", "9", "SIGKILL"] {
        let mut t = Ctx::new();
        let pid = up_trapping_term(&mut t);
        t.kill(sig).assert_ok();
        let stopped =
            podrt_tests::ctx::wait_until(Duration::from_secs(10), || t.status() == "stopped");
        assert!(
            stopped,
            "signal {sig} did not stop the container: {:?}",
            Status::of(pid)
        );
        t.delete().assert_ok();
    }
}

#[test]
fn kill_default_signal_is_term() {
    let mut t = Ctx::new();
    up_trapping_term(&mut t);
    t.cmd(&["kill", &t.id]).assert_ok();
    t.wait_status("stopped");
    t.delete().assert_ok();
}

#[test]
fn kill_ignored_signal_leaves_it_running() {
    // sleep as pid 1 has no TERM handler: the kernel drops the signal.
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    let pid = t.up();
    t.kill("TERM").assert_ok();
    std::thread::sleep(Duration::from_millis(200));
    assert!(procfs::alive(pid));
    assert_eq!(t.status(), "running");
    t.down();
}

#[test]
fn delete_running_without_force_fails() {
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    let pid = t.up();
    t.delete().assert_fail();
    assert!(
        procfs::alive(pid),
        "a failed delete must not kill the container"
    );
    assert_eq!(t.status(), "running");
    t.down();
}

#[test]
fn delete_force_running() {
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    let pid = t.up();
    t.cmd(&["delete", "--force", &t.id]).assert_ok();
    assert!(!procfs::alive(pid));
    t.cmd(&["state", &t.id]).assert_fail();
}

#[test]
fn delete_force_created() {
    let t = Ctx::new();
    let pid = t.create_ok();
    t.cmd(&["delete", "-f", &t.id]).assert_ok();
    assert!(!procfs::alive(pid));
    t.cmd(&["state", &t.id]).assert_fail();
}

#[test]
fn delete_created_container() {
    // containerd deletes containers that never started: plain delete of "created" works.
    let t = Ctx::new();
    let pid = t.create_ok();
    t.delete().assert_ok();
    assert!(!procfs::alive(pid));
}

#[test]
fn run_returns_exit_code() {
    let mut t = Ctx::new();
    t.bundle.sh("echo hello; exit 3");
    let out = t.run();
    out.assert_code(3);
    assert_eq!(out.out(), "hello");
    t.cmd(&["state", &t.id]).assert_fail();
}

#[test]
fn run_zero_and_stdout_stderr() {
    let mut t = Ctx::new();
    t.bundle.sh("echo out; echo err >&2");
    let out = t.run();
    out.assert_ok();
    assert_eq!(out.out(), "out");
    assert!(out.stderr.contains("err"), "{out}");
}

#[test]
fn run_signal_exit_code() {
    // `run` in the foreground, container killed from outside: exit code 128 + 9.
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    t.bundle.write();
    let mut cmd = t.command(&["run", "--bundle", t.bundle.path_str(), &t.id]);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let started = podrt_tests::ctx::wait_until(Duration::from_secs(10), || {
        let o = t.cmd(&["state", &t.id]);
        o.ok() && o.stdout.contains("\"running\"")
    });
    if !started {
        let _ = child.kill();
        let _ = child.wait();
        panic!("run never reached running");
    }
    t.kill("KILL").assert_ok();
    let st = podrt_tests::runtime::wait_timeout(&mut child, Duration::from_secs(10));
    let Some(st) = st else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("run did not return after its container was killed");
    };
    assert_eq!(st.code(), Some(137), "{st:?}");
}

#[test]
fn run_exit_code_from_signal_inside() {
    // pid 1 cannot be killed by a signal from inside, so a child shell dies of SIGUSR1 and the
    // init propagates the shell-style code 128+10 as its own exit code.
    let mut t = Ctx::new();
    t.bundle.sh("sh -c 'kill -USR1 $$'; exit $?");
    t.run().assert_code(128 + 10);
}

#[test]
fn run_detach() {
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    t.bundle.write();
    let pid_file = t.dir().join("run.pid");
    let out = t.cmd(&[
        "run",
        "--detach",
        "--bundle",
        t.bundle.path_str(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &t.id,
    ]);
    out.assert_ok();
    assert_eq!(t.status(), "running");
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, t.pid());
    assert_eq!(procfs::cmdline(pid), "sleep 1000");
    t.down();
}

#[test]
fn run_detach_short_flag() {
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    t.bundle.write();
    t.cmd(&["run", "-d", "-b", t.bundle.path_str(), &t.id])
        .assert_ok();
    assert_eq!(t.status(), "running");
    t.down();
}

#[test]
fn container_exit_makes_stopped() {
    let mut t = Ctx::new();
    t.bundle.sh("exit 0");
    t.create_ok();
    t.start().assert_ok();
    t.wait_status("stopped");
    let st = t.state();
    assert_eq!(st["status"], "stopped");
    t.delete().assert_ok();
}

#[test]
fn list_json_and_table() {
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    let pid = t.up();
    let out = t.cmd(&["list", "--format", "json"]);
    out.assert_ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"));
    let arr = v.as_array().expect("list json is an array");
    let me = arr
        .iter()
        .find(|c| c["id"] == t.id.as_str())
        .expect("listed");
    assert_eq!(me["status"], "running");
    assert_eq!(me["pid"], pid);
    let out = t.cmd(&["list"]);
    out.assert_ok();
    let header = out.stdout.lines().next().unwrap_or_default();
    for col in ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"] {
        assert!(header.contains(col), "table header lacks {col}: {out}");
    }
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&t.id))
        .expect("row");
    assert!(
        row.contains("running") && row.contains(&pid.to_string()),
        "{row}"
    );
    let out = t.cmd(&["list", "-q"]);
    out.assert_ok();
    assert_eq!(out.out(), t.id);
    t.down();
    let out = t.cmd(&["list", "--format=json"]);
    out.assert_ok();
    let v: Value = serde_json::from_str(out.out()).unwrap_or(json!([]));
    assert!(
        v.as_array()
            .is_none_or(|a| a.iter().all(|c| c["id"] != t.id.as_str())),
        "{out}"
    );
}

#[test]
fn ps_json_lists_init() {
    let mut t = Ctx::new();
    t.bundle.sh("sleep 1000 & exec sleep 999");
    let pid = t.up();
    assert!(podrt_tests::ctx::wait_until(Duration::from_secs(5), || {
        let o = t.cmd(&["ps", "--format", "json", &t.id]);
        let v: Value = serde_json::from_str(&o.stdout).unwrap_or(json!([]));
        v.as_array().is_some_and(|a| a.len() == 2)
    }));
    let out = t.cmd(&["ps", "--format", "json", &t.id]);
    out.assert_ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let pids: Vec<i64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_i64().unwrap())
        .collect();
    assert!(pids.contains(&i64::from(pid)), "{pids:?} lacks {pid}");
    t.down();
}

#[test]
fn pause_resume() {
    require!(Feature::Freezer);
    let mut t = Ctx::new();
    // The init appends a tick every 20 ms to a file the host can see.
    t.bundle
        .sh("while :; do echo x >> /tmp/ticks; usleep 20000; done");
    let ticks = t.bundle.rootfs().join("tmp/ticks");
    let size = || fs::metadata(&ticks).map(|m| m.len()).unwrap_or(0);
    let pid = t.up();
    assert!(podrt_tests::ctx::wait_until(
        Duration::from_secs(5),
        || size() > 0
    ));
    t.cmd(&["pause", &t.id]).assert_ok();
    assert_eq!(t.status(), "paused");
    let frozen = podrt_tests::ctx::wait_until(Duration::from_secs(5), || {
        let fz = procfs::v1_cgroup_dir(pid, "freezer")
            .and_then(|d| fs::read_to_string(d.join("freezer.state")).ok())
            .is_some_and(|s| s.trim() == "FROZEN");
        let v2 = procfs::v2_cgroup_dir(pid)
            .and_then(|d| fs::read_to_string(d.join("cgroup.events")).ok())
            .is_some_and(|s| s.lines().any(|l| l == "frozen 1"));
        fz || v2
    });
    assert!(frozen, "freezer does not report FROZEN");
    // Frozen tasks make no progress.
    let before = size();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(size(), before, "the container kept running while paused");
    t.cmd(&["resume", &t.id]).assert_ok();
    assert_eq!(t.status(), "running");
    if let Some(d) = procfs::v1_cgroup_dir(pid, "freezer") {
        assert_eq!(
            fs::read_to_string(d.join("freezer.state")).unwrap().trim(),
            "THAWED"
        );
    }
    assert!(podrt_tests::ctx::wait_until(
        Duration::from_secs(5),
        || size() > before
    ));
    // A paused container can be killed and deleted (containerd does this).
    t.cmd(&["pause", &t.id]).assert_ok();
    t.cmd(&["delete", "--force", &t.id]).assert_ok();
    assert!(!procfs::alive(pid));
}

#[test]
fn features_json() {
    let t = Ctx::new();
    let out = t.cmd(&["features"]);
    out.assert_ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(
        v["ociVersionMin"].is_string() && v["ociVersionMax"].is_string(),
        "{v}"
    );
    let strs = |x: &Value| -> Vec<String> {
        x.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let hooks = strs(&v["hooks"]);
    for h in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        assert!(hooks.iter().any(|x| x == h), "hooks lack {h}: {hooks:?}");
    }
    let opts = strs(&v["mountOptions"]);
    for o in [
        "bind", "rbind", "ro", "nosuid", "nodev", "noexec", "rprivate", "rslave",
    ] {
        assert!(opts.iter().any(|x| x == o), "mountOptions lack {o}");
    }
    let ns = strs(&v["linux"]["namespaces"]);
    for n in ["cgroup", "ipc", "mount", "network", "pid", "uts"] {
        assert!(ns.iter().any(|x| x == n), "namespaces lack {n}: {ns:?}");
    }
    let caps = strs(&v["linux"]["capabilities"]);
    assert!(caps.iter().any(|c| c == "CAP_SYS_ADMIN"), "{caps:?}");
    assert_eq!(v["linux"]["seccomp"]["enabled"], true, "{v}");
    let actions = strs(&v["linux"]["seccomp"]["actions"]);
    for a in ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL"] {
        assert!(
            actions.iter().any(|x| x == a),
            "seccomp actions lack {a}: {actions:?}"
        );
    }
    if t.rt.is_podrt() {
        // podrt refuses SCMP_ACT_NOTIFY at create, so it must not claim it.
        assert!(
            !actions.iter().any(|x| x == "SCMP_ACT_NOTIFY"),
            "{actions:?}"
        );
    }
}

#[test]
fn features_claims_are_accepted_by_create() {
    // Every seccomp action `features` claims (NOTIFY aside: it needs a listener) works at
    // create; every operator too.
    let t = Ctx::new();
    let out = t.cmd(&["features"]);
    out.assert_ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let actions: Vec<String> = v["linux"]["seccomp"]["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let ops: Vec<String> = v["linux"]["seccomp"]["operators"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut n = 0;
    for a in actions.iter().filter(|a| *a != "SCMP_ACT_NOTIFY") {
        let id = t.new_id();
        let mut b = t.new_bundle(&format!("a{n}"));
        n += 1;
        b.config_mut()["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["acct"], "action": a}]});
        b.write();
        let out = t.cmd(&["create", "--bundle", b.path_str(), &id]);
        assert!(
            out.ok(),
            "features claims {a} but create refuses it:\n{out}"
        );
        t.cmd(&["delete", "--force", &id]).assert_ok();
    }
    for op in &ops {
        let id = t.new_id();
        let mut b = t.new_bundle(&format!("o{n}"));
        n += 1;
        b.config_mut()["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 1, "valueTwo": 1, "op": op}]}]});
        b.write();
        let out = t.cmd(&["create", "--bundle", b.path_str(), &id]);
        assert!(
            out.ok(),
            "features claims {op} but create refuses it:\n{out}"
        );
        t.cmd(&["delete", "--force", &id]).assert_ok();
    }
    assert!(n > 3, "features claims almost nothing: {v}");
}

#[test]
fn kill_all() {
    let mut t = Ctx::new();
    t.bundle.sh("sleep 1000 & sleep 1000 & wait");
    let pid = t.up();
    assert!(podrt_tests::ctx::wait_until(Duration::from_secs(5), || {
        fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .is_ok_and(|c| c.split_whitespace().count() == 2)
    }));
    let children: Vec<i32> = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap()
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    t.cmd(&["kill", "--all", &t.id, "KILL"]).assert_ok();
    t.wait_status("stopped");
    assert!(podrt_tests::ctx::wait_until(Duration::from_secs(5), || {
        children.iter().all(|c| !procfs::alive(*c))
    }));
    t.delete().assert_ok();
}

#[test]
fn spec_generates_valid_config() {
    let t = Ctx::new();
    let dir = t.dir().join("spec");
    fs::create_dir_all(&dir).unwrap();
    let out = t.cmd(&["spec", "--bundle", dir.to_str().unwrap()]);
    out.assert_ok();
    let v: Value = serde_json::from_slice(&fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert!(
        v["ociVersion"].as_str().is_some_and(|s| s.starts_with('1')),
        "{v}"
    );
    assert_eq!(v["root"]["path"], "rootfs");
    assert!(v["process"]["args"].is_array());
    let ns: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    for k in ["pid", "network", "ipc", "uts", "mount"] {
        assert!(ns.contains(&k), "{ns:?}");
    }
    // A second spec refuses to overwrite.
    t.cmd(&["spec", "--bundle", dir.to_str().unwrap()])
        .assert_fail();

    let rl = t.dir().join("rootless");
    fs::create_dir_all(&rl).unwrap();
    t.cmd(&["spec", "--rootless", "--bundle", rl.to_str().unwrap()])
        .assert_ok();
    let v: Value = serde_json::from_slice(&fs::read(rl.join("config.json")).unwrap()).unwrap();
    let ns: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(ns.contains(&"user"), "{ns:?}");
    assert!(v["linux"]["uidMappings"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
}

#[test]
fn spec_bundle_works_after_edit() {
    // The generated config runs the busybox rootfs (terminal switched off).
    let mut t = Ctx::new();
    let out = t.cmd(&["spec", "--bundle", t.bundle.path_str()]);
    out.assert_ok();
    let mut v: Value =
        serde_json::from_slice(&fs::read(t.bundle.path().join("config.json")).unwrap()).unwrap();
    v["process"]["terminal"] = json!(false);
    v["process"]["args"] = json!(["sh", "-c", "echo spec-ok"]);
    *t.bundle.config_mut() = v;
    assert_eq!(t.run_ok().trim(), "spec-ok");
}

#[test]
fn options_after_id_and_equals_forms() {
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    t.bundle.write();
    let pf = t.dir().join("x.pid");
    t.cmd(&[
        "create",
        &t.id,
        &format!("--bundle={}", t.bundle.path_str()),
        &format!("--pid-file={}", pf.display()),
    ])
    .assert_ok();
    assert!(pf.exists());
    assert_eq!(t.status(), "created");
    t.cmd(&["start", &t.id]).assert_ok();
    t.cmd(&["kill", &t.id, "KILL"]).assert_ok();
    t.wait_status("stopped");
    t.cmd(&["delete", &t.id, "--force"]).assert_ok();
}

#[test]
fn global_flag_equals_form() {
    let mut t = Ctx::new();
    t.bundle.sh("echo eq");
    t.bundle.write();
    let cmd = {
        let mut c = std::process::Command::new(t.rt.path());
        c.arg(format!("--root={}", t.root().display()))
            .arg(format!("--log={}", t.log_path().display()))
            .args(["run", "-b", t.bundle.path_str(), &t.id])
            .stdin(std::process::Stdio::null());
        c
    };
    let out = t.run_command(cmd, Duration::from_secs(30));
    out.assert_ok();
    assert_eq!(out.out(), "eq");
}

#[test]
fn default_bundle_is_cwd() {
    let mut t = Ctx::new();
    t.bundle.sh("echo cwd-bundle");
    t.bundle.write();
    let mut cmd = t.command(&["run", &t.id]);
    cmd.current_dir(t.bundle.path());
    let out = t.run_command(cmd, Duration::from_secs(30));
    out.assert_ok();
    assert_eq!(out.out(), "cwd-bundle");
}

#[test]
fn relative_bundle_path() {
    let mut t = Ctx::new();
    t.bundle.sh("echo rel");
    t.bundle.write();
    let mut cmd = t.command(&["run", "--bundle", "bundle", &t.id]);
    cmd.current_dir(t.dir());
    let out = t.run_command(cmd, Duration::from_secs(30));
    out.assert_ok();
    assert_eq!(out.out(), "rel");
}

#[test]
fn state_fields_running() {
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    t.bundle.config_mut()["annotations"] = json!({"org.example.key": "value"});
    let pid = t.up();
    let st = t.state();
    assert_eq!(st["pid"], pid);
    assert_eq!(st["status"], "running");
    assert_eq!(st["annotations"]["org.example.key"], "value", "{st}");
    assert!(st["created"].is_string(), "{st}");
    t.down();
}

#[test]
fn start_output_goes_to_create_stdio() {
    let mut t = Ctx::new();
    t.bundle.sh("echo from-container");
    let out = t.create();
    out.assert_ok();
    t.start().assert_ok();
    t.wait_status("stopped");
    assert_eq!(out.reread_stdout().trim(), "from-container");
    t.delete().assert_ok();
}

/// `--timings` prints one JSON line with the runtime's phase marks and the init's own
/// (`init:*`, sent over the sync channel), in time order. podrt-only: runc has no such flag.
#[test]
fn timings_include_the_init_phases() {
    let mut t = Ctx::new();
    if !t.rt.is_podrt() {
        return;
    }
    t.bundle.args(&["/bin/true"]);
    t.bundle.write();
    let out = t.run_command(
        t.command(&["--timings", "run", "--bundle", t.bundle.path_str(), &t.id]),
        Duration::from_secs(60),
    );
    out.assert_ok();
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("{\"timings_us\""))
        .unwrap_or_else(|| panic!("no timings line in stderr: {}", out.stderr));
    let v: Value = serde_json::from_str(line).unwrap();
    let marks = v["timings_us"].as_object().unwrap();
    let names: Vec<&str> = marks.keys().map(String::as_str).collect();
    for want in [
        "config",
        "cgroup",
        "clone",
        "init:go",
        "init:namespaces",
        "init:mounts",
        "init:pivot_root",
        "init:masks",
        "init:process",
        "ready",
        "exited",
        "deleted",
    ] {
        assert!(names.contains(&want), "{want} missing from {line}");
    }
    let us: Vec<u64> = marks.values().map(|v| v.as_u64().unwrap()).collect();
    assert!(
        us.windows(2).all(|w| w[0] <= w[1]),
        "not in time order: {line}"
    );
    let pos = |n: &str| names.iter().position(|k| *k == n).unwrap();
    assert!(
        pos("clone") < pos("init:go") && pos("init:process") < pos("ready"),
        "{line}"
    );
}
