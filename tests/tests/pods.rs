//! Pods: `podrt run pod.yml` end to end, driven through the binary like a user would.
//!
//! Every test owns a [`PodEnv`]: its own `--root`, bridge and /24 (so tests never meet each other
//! or a real `podrt0`), pod names unique to the test. Dropping the env runs `pod stop --force`
//! for each pod and the pod leak check (pod dir, netns pin, mounts under the root, host veth, the
//! test bridge, IP leases, port claims, nftables rules, pod cgroup, processes mentioning the
//! root), then the `Ctx` leak check. Small pods use the offline busybox image of the client
//! tests; `nginx_php_pod_end_to_end` builds (or takes from the cache) the example's images.
//!
//! ```text
//! cargo build -p podrt-runtime && cargo test -p podrt-tests --test pods -- --test-threads=2
//! ```
#![allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]

use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use podrt_tests::pods::{self, app, apps, http_get, poll, PodEnv};
use podrt_tests::procfs;

/// A fresh env and the busybox image, or `None` (after a counted skip).
fn setup() -> Option<(PodEnv, String)> {
    let env = PodEnv::new();
    if !env.ctx.rt.is_podrt() {
        pods::skip(&format!(
            "pods are a podrt feature ({} has no `run pod.yml`)",
            env.ctx.rt.name()
        ));
        return None;
    }
    let image = pods::busybox_image()?;
    Some((env, image))
}

/// `podrt exec ID ARGS...` output (must succeed).
#[track_caller]
fn exec_ok(env: &PodEnv, id: &str, args: &[&str]) -> String {
    let mut v = vec!["exec", id];
    v.extend_from_slice(args);
    let out = env.cmd(&v, Duration::from_secs(30));
    out.assert_ok();
    out.stdout
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

fn app_pid(v: &serde_json::Value, name: &str) -> i32 {
    let a = app(v, name);
    a["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("app {name} has no pid: {a}")) as i32
}

fn log_of(v: &serde_json::Value, name: &str) -> PathBuf {
    PathBuf::from(
        app(v, name)["log"]
            .as_str()
            .unwrap_or_else(|| panic!("app {name} has no log path: {v}")),
    )
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// 1. The reference nginx + php-fpm pod.
// ---------------------------------------------------------------------------------------------

/// Messages of an image build that failed because the machine cannot build it (no mirror, no
/// packages), not because of a bug.
const ENVIRONMENTAL: &[&str] = &[
    "Temporary failure resolving",
    "Could not resolve",
    "Failed to fetch",
    "Network is unreachable",
    "Could not connect",
    "Connection timed out",
    "Connection refused",
    "No route to host",
    "Unable to locate package",
    "apt-get install",
    "E: Release file",
    "mmdebstrap failed",
];

/// `examples/nginx-php/build-images --quiet`: the (nginx, php-fpm) references, or `None` after a
/// counted skip when the build fails for an environmental reason.
fn nginx_php_images() -> Option<(String, String)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/nginx-php/build-images");
    let started = Instant::now();
    let out = podrt_tests::clients::run_with_timeout(
        Command::new(&script).arg("--quiet"),
        Duration::from_secs(600),
    );
    if !out.success() {
        let all = format!("{}\n{}", out.stdout, out.stderr);
        if let Some(why) = ENVIRONMENTAL.iter().find(|p| all.contains(**p)) {
            pods::skip(&format!(
                "the nginx-php images cannot be built here ({why:?}): {}",
                podrt_tests::runtime::tail(out.stderr.trim(), 600)
            ));
            return None;
        }
        panic!("building the nginx-php images failed:\n{out}");
    }
    let find = |tag: &str| {
        out.stdout
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("oci:") && l.ends_with(&format!(":{tag}")))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("build-images printed no {tag} reference:\n{out}"))
    };
    eprintln!("nginx-php images ready after {:?}", started.elapsed());
    Some((find("nginx"), find("php-fpm")))
}

/// A TCP port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// GET `path` until the body contains `want` (at most `timeout`).
#[track_caller]
fn wait_page(addr: SocketAddr, path: &str, want: &str, timeout: Duration) -> String {
    let mut last = String::new();
    let got = poll(timeout, || {
        match http_get(addr, path, Duration::from_secs(3)) {
            Ok((200, body)) if body.contains(want) => Some(body),
            Ok((code, body)) => {
                last = format!("HTTP {code}: {body}");
                None
            }
            Err(e) => {
                last = e;
                None
            }
        }
    });
    got.unwrap_or_else(|| {
        panic!("http://{addr}{path} never gave {want:?} within {timeout:?}; last: {last}")
    })
}

#[test]
fn nginx_php_pod_end_to_end() {
    let t0 = Instant::now();
    let env = PodEnv::new();
    if !env.ctx.rt.is_podrt() {
        pods::skip("pods are a podrt feature");
        return;
    }
    let Some((nginx_ref, php_ref)) = nginx_php_images() else {
        return;
    };
    let t_images = t0.elapsed();

    // The example manifest with a unique name, a free host port and the built images.
    let name = env.pod_name();
    let port = free_port();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/nginx-php/pod.yml");
    let text = std::fs::read_to_string(&example).expect("read examples/nginx-php/pod.yml");
    let mut replaced = [false; 4];
    let yaml: String = text
        .lines()
        .map(|l| {
            let t = l.trim_start();
            let indent = &l[..l.len() - t.len()];
            if l == "  name: nginx-php" {
                replaced[0] = true;
                format!("  name: {name}")
            } else if t == "hostPort: 8080" {
                replaced[1] = true;
                format!("{indent}hostPort: {port}")
            } else if t.starts_with("image: ") && t.ends_with(":nginx") {
                replaced[2] = true;
                format!("{indent}image: {nginx_ref}")
            } else if t.starts_with("image: ") && t.ends_with(":php-fpm") {
                replaced[3] = true;
                format!("{indent}image: {php_ref}")
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect();
    assert!(
        replaced.iter().all(|r| *r),
        "examples/nginx-php/pod.yml changed shape (name/hostPort/images not found: {replaced:?}):\n{text}"
    );
    let manifest = env.manifest(&yaml);

    // Up, detached.
    let t_run = Instant::now();
    let out = env.run_detached(&manifest);
    out.assert_ok();
    let started = out.stdout.trim();
    assert!(
        started.starts_with(&format!("started pod {name}: IP "))
            && started.contains(&format!("ports {port}->80")),
        "unexpected `run --detach` output:\n{out}"
    );
    let v = env.wait_ready(&name, Duration::from_secs(90));
    let t_ready = t_run.elapsed();
    let ip: Ipv4Addr = v["ip"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no pod IP in {v}"));
    assert!(
        started.contains(&format!("IP {ip}")),
        "`run` said {started:?}, inspect says ip {ip}"
    );
    assert_eq!(v["host_ports"], serde_json::json!([format!("{port}->80")]));
    assert_eq!(apps(&v).len(), 2, "two apps: {v}");

    // PHP through nginx, at the pod IP and through the host port on loopback.
    let pod_addr = SocketAddr::new(IpAddr::V4(ip), 80);
    let host_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let body = wait_page(
        pod_addr,
        "/index.php",
        "hello from php",
        Duration::from_secs(20),
    );
    assert!(body.contains(" pid "), "index.php body: {body:?}");
    wait_page(
        host_addr,
        "/index.php",
        "hello from php",
        Duration::from_secs(20),
    );
    wait_page(pod_addr, "/fpm-ping", "pong", Duration::from_secs(10));

    // php-fpm frozen: the liveness probe (via nginx's /fpm-ping) fails and restarts it.
    let old_pid = app_pid(&v, "php-fpm");
    let php_id = format!("{name}.php-fpm");
    env.cmd(&["pause", &php_id], Duration::from_secs(30))
        .assert_ok();
    let t_pause = Instant::now();
    let v = env.wait_pod(
        &name,
        "php-fpm restarted by its liveness probe",
        Duration::from_secs(45),
        |v| app(v, "php-fpm")["restarts"].as_u64().unwrap_or(0) >= 1,
    );
    let t_restart = t_pause.elapsed();
    let probe = app(&v, "php-fpm")["last_probe"].to_string();
    assert!(
        probe.contains("liveness"),
        "php-fpm's last probe should be the failed liveness probe: {probe}"
    );
    let v = env.wait_pod(
        &name,
        "php-fpm running again",
        Duration::from_secs(30),
        |v| {
            let a = app(v, "php-fpm");
            a["state"] == "running" && a["pid"].as_i64().is_some_and(|p| p as i32 != old_pid)
        },
    );
    let st = env.cmd(&["state", &php_id], Duration::from_secs(30));
    assert!(
        st.stdout.contains("\"running\""),
        "the restarted php-fpm container is running:\n{st}"
    );
    wait_page(
        pod_addr,
        "/index.php",
        "hello from php",
        Duration::from_secs(30),
    );
    wait_page(
        host_addr,
        "/index.php",
        "hello from php",
        Duration::from_secs(10),
    );
    env.wait_ready(&name, Duration::from_secs(30));
    assert_eq!(
        app(&v, "nginx")["restarts"],
        0,
        "nginx was not restarted: {v}"
    );
    // The whole log: probe traffic can push the line out of the tail shown on failure.
    let full =
        std::fs::read_to_string(env.pod_dir(&name).join("supervisor.log")).unwrap_or_default();
    assert!(
        full.contains("[php-fpm] liveness probe failed"),
        "the supervisor reports the liveness restart:\n{}",
        env.supervisor_log(&name)
    );

    // Graceful stop, nothing left.
    let t_stop = Instant::now();
    env.stop(&name, false).assert_ok();
    let t_stopped = t_stop.elapsed();
    env.assert_clean(&name);
    assert!(
        http_get(host_addr, "/", Duration::from_secs(1)).is_err(),
        "the host port still answers after the pod stopped"
    );
    eprintln!(
        "nginx_php timings: images {t_images:?}, run->ready {t_ready:?}, pause->restart \
         {t_restart:?}, stop {t_stopped:?}, total {:?}",
        t0.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Shared namespaces, separate PID namespaces and cgroups.
// ---------------------------------------------------------------------------------------------

#[test]
fn busybox_pod_shares_net_ipc_uts_not_pid() {
    let Some((env, image)) = setup() else { return };
    let name = env.pod_name();
    let manifest = env.manifest(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  hostname: shared-host
  terminationGracePeriodSeconds: 2
  containers:
    - name: a
      image: {image}
      command: ["sh", "-c", "mkdir -p /www; echo hi-from-a > /www/index.html; exec httpd -f -p 8081 -h /www"]
      resources:
        limits:
          memory: 48Mi
          cpu: 250m
    - name: b
      image: {image}
      command: ["sh", "-c", "trap 'exit 0' TERM; while true; do echo \"got=$(wget -qO- http://127.0.0.1:8081/ 2>&1)\"; sleep 0.2; done"]
      resources:
        limits:
          memory: 32Mi
"#
    ));
    env.run_detached(&manifest).assert_ok();
    let v = env.wait_ready(&name, Duration::from_secs(30));
    let (pa, pb) = (app_pid(&v, "a"), app_pid(&v, "b"));

    // B reached A's httpd over 127.0.0.1: one network namespace.
    let blog = log_of(&v, "b");
    poll(Duration::from_secs(15), || {
        read(&blog).contains("got=hi-from-a").then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "b never fetched a's page over 127.0.0.1; b's log:\n{}\n{}",
            read(&blog),
            env.supervisor_log(&name)
        )
    });

    // Namespaces seen from the host: net, ipc, uts shared (and the pinned ones); pid not.
    for kind in ["net", "ipc", "uts"] {
        assert_eq!(
            procfs::ns_inode(pa, kind),
            procfs::ns_inode(pb, kind),
            "{kind} namespace shared by a and b"
        );
        assert_ne!(
            procfs::ns_inode(pa, kind),
            procfs::ns_inode_path(&format!("/proc/self/ns/{kind}")),
            "{kind} namespace is the pod's, not the host's"
        );
    }
    let pin = env.root().join("netns").join(&name);
    assert_eq!(
        procfs::ns_inode(pa, "net"),
        procfs::ns_inode_path(pin.to_str().expect("utf-8")),
        "the apps are in the pinned netns {}",
        pin.display()
    );
    assert_ne!(
        procfs::ns_inode(pa, "pid"),
        procfs::ns_inode(pb, "pid"),
        "a and b have their own PID namespaces"
    );

    // Same hostname from both (UTS), each sees only its own processes (PID).
    for c in ["a", "b"] {
        let h = exec_ok(&env, &format!("{name}.{c}"), &["hostname"]);
        assert_eq!(h.trim(), "shared-host", "hostname in {c}");
    }
    let ps_a = exec_ok(&env, &format!("{name}.a"), &["ps"]);
    assert!(
        ps_a.contains("httpd") && !ps_a.contains("wget") && !ps_a.contains("sleep"),
        "ps in a shows only a's processes:\n{ps_a}"
    );
    let ps_b = exec_ok(&env, &format!("{name}.b"), &["ps"]);
    assert!(
        !ps_b.contains("httpd") && ps_b.contains("sh -c"),
        "ps in b shows only b's processes:\n{ps_b}"
    );
    let pid1_a = ps_a
        .lines()
        .find(|l| l.split_whitespace().next() == Some("1"))
        .unwrap_or_default()
        .to_string();
    assert!(pid1_a.contains("httpd"), "httpd is pid 1 in a:\n{ps_a}");

    // Each app in its own cgroup under the pod's, with the manifest's limits.
    let want = [("a", pa, 48 << 20, Some(25_000)), ("b", pb, 32 << 20, None)];
    let mut dirs = Vec::new();
    for (c, pid, mem, quota) in want {
        let suffix = format!("/podrt/pods/{name}/{c}");
        if let Some(dir) = procfs::v1_cgroup_dir(pid, "memory") {
            assert!(
                dir.to_string_lossy().ends_with(&suffix),
                "{c}'s memory cgroup {} is under the pod's",
                dir.display()
            );
            let limit = procfs::read_trim(&format!("{}/memory.limit_in_bytes", dir.display()));
            assert_eq!(limit, mem.to_string(), "{c}: memory.limit_in_bytes");
            let cpu = procfs::v1_cgroup_dir(pid, "cpu").expect("v1 cpu cgroup");
            let q = procfs::read_trim(&format!("{}/cpu.cfs_quota_us", cpu.display()));
            match quota {
                Some(q_want) => assert_eq!(q, q_want.to_string(), "{c}: cpu.cfs_quota_us"),
                None => assert_eq!(q, "-1", "{c}: no cpu limit"),
            }
            dirs.push(dir);
        } else {
            let dir = procfs::v2_cgroup_dir(pid).expect("a v1 memory or a v2 cgroup");
            assert!(
                dir.to_string_lossy().ends_with(&suffix),
                "{}",
                dir.display()
            );
            let limit = procfs::read_trim(&format!("{}/memory.max", dir.display()));
            assert_eq!(limit, mem.to_string(), "{c}: memory.max");
            let cpu = procfs::read_trim(&format!("{}/cpu.max", dir.display()));
            match quota {
                Some(q_want) => assert_eq!(cpu, format!("{q_want} 100000"), "{c}: cpu.max"),
                None => assert!(cpu.starts_with("max"), "{c}: cpu.max {cpu}"),
            }
            dirs.push(dir);
        }
    }
    assert_ne!(dirs[0], dirs[1], "a and b have separate cgroups");

    env.stop(&name, false).assert_ok();
    env.assert_clean(&name);
}

// ---------------------------------------------------------------------------------------------
// 3. Init containers.
// ---------------------------------------------------------------------------------------------

#[test]
fn init_containers_run_in_order_then_app() {
    let Some((env, image)) = setup() else { return };
    let name = env.pod_name();
    let manifest = env.manifest(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  volumes:
    - name: work
      emptyDir: {{}}
  initContainers:
    - name: init-one
      image: {image}
      command: ["sh", "-c", "sleep 0.3; echo first > /work/order; echo init-one-done"]
      volumeMounts:
        - name: work
          mountPath: /work
    - name: init-two
      image: {image}
      command: ["sh", "-c", "test \"$(cat /work/order)\" = first && echo second >> /work/order && echo init-two-done"]
      volumeMounts:
        - name: work
          mountPath: /work
  containers:
    - name: app
      image: {image}
      command: ["sh", "-c", "echo app-saw=$(cat /data/order | tr '\\n' ,)"]
      volumeMounts:
        - name: work
          mountPath: /data
          readOnly: true
"#
    ));
    let out = env.run_foreground(&manifest, Duration::from_secs(60));
    out.assert_ok();
    let so = &out.stdout;
    let pos = |s: &str| {
        so.find(s)
            .unwrap_or_else(|| panic!("{s:?} missing from the pod's output:\n{out}"))
    };
    assert!(
        pos("[init-one] init-one-done") < pos("[init-two] init-two-done")
            && pos("[init-two] init-two-done") < pos("[app] app-saw=first,second,"),
        "init containers run in order, to completion, before the app:\n{out}"
    );
    env.assert_clean(&name);
}

#[test]
fn failing_init_container_fails_the_pod() {
    let Some((env, image)) = setup() else { return };
    let name = env.pod_name();
    let manifest = env.manifest(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 2
  initContainers:
    - name: setup-db
      image: {image}
      command: ["sh", "-c", "echo cannot-set-up; exit 3"]
    - name: never-runs
      image: {image}
      command: ["sh", "-c", "echo should-not-run"]
  containers:
    - name: app
      image: {image}
      command: ["sh", "-c", "echo app-should-not-run; sleep 100"]
"#
    ));
    // Detached: the error comes back from the monitor.
    let out = env.run_detached(&manifest);
    out.assert_fail();
    out.assert_stderr_contains(&["init container setup-db", "exit code 3"]);
    env.assert_clean(&name);
    // Foreground: same message, the app never starts.
    let out = env.run_foreground(&manifest, Duration::from_secs(60));
    out.assert_fail();
    out.assert_stderr_contains(&["init container setup-db", "exit code 3"]);
    assert!(
        out.stdout.contains("[setup-db] cannot-set-up")
            && !out.stdout.contains("should-not-run")
            && !out.stdout.contains("app-should-not-run"),
        "only the failing init container ran:\n{out}"
    );
    env.assert_clean(&name);
}

// ---------------------------------------------------------------------------------------------
// 4. restartPolicy.
// ---------------------------------------------------------------------------------------------

#[test]
fn restart_policy_never_ends_the_pod_with_the_app_code() {
    let Some((env, image)) = setup() else { return };
    let name = env.pod_name();
    let manifest = env.manifest(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: Never
  containers:
    - name: crasher
      image: {image}
      command: ["sh", "-c", "echo about-to-fail; exit 1"]
"#
    ));
    // The pod's exit code is the app's. A run takes ~0.1 s; repeating it catches a supervisor
    // that loses the app's exit status to a race (its catch-all waitpid(-1) reaping the app
    // before the app's own reap, which then reports 255), seen in about one run in ten.
    for run in 0..15 {
        let out = env.run_foreground(&manifest, Duration::from_secs(60));
        assert_eq!(
            out.code(),
            1,
            "run {run}: the pod exits with the app's code:\n{out}"
        );
        out.assert_stderr_contains(&["[crasher] exited with code 1"]);
        assert!(out.stdout.contains("[crasher] about-to-fail"), "{out}");
        assert!(
            !out.stderr.contains("restarting"),
            "Never does not restart:\n{out}"
        );
        env.assert_clean(&name);
    }
}

#[test]
fn restart_policy_on_failure_and_always_restart_with_backoff() {
    let Some((env, image)) = setup() else { return };
    let mut pods = Vec::new();
    for (policy, code) in [("OnFailure", 1), ("Always", 0)] {
        let name = env.pod_name();
        let manifest = env.manifest(&format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: {policy}
  terminationGracePeriodSeconds: 2
  containers:
    - name: quitter
      image: {image}
      command: ["sh", "-c", "echo attempt; exit {code}"]
"#
        ));
        env.run_detached(&manifest).assert_ok();
        pods.push((name, policy, code));
    }
    let t0 = Instant::now();
    for (name, policy, code) in &pods {
        // The first exit is recorded at once, the restart comes after the 5 s backoff.
        let v = env.wait_pod(name, "one restart", Duration::from_secs(12), |v| {
            let a = app(v, "quitter");
            a["restarts"].as_u64().unwrap_or(0) >= 1
                && count(&read(Path::new(a["log"].as_str().unwrap_or(""))), "attempt") >= 2
        });
        let a = app(&v, "quitter");
        assert_eq!(a["last_exit_code"], *code, "{policy}: {a}");
        assert_eq!(
            v["phase"], "running",
            "{policy}: the pod keeps running: {v}"
        );
        let log = env.supervisor_log(name);
        assert!(
            log.contains(&format!(
                "[quitter] exited with code {code}; restarting in 5 s"
            )),
            "{policy}: the supervisor reports the restart and its backoff:\n{log}"
        );
    }
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(4),
        "the restart came after a backoff, not at once ({waited:?})"
    );
    for (name, _, _) in &pods {
        env.stop(name, false).assert_ok();
        env.assert_clean(name);
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Bad input.
// ---------------------------------------------------------------------------------------------

#[test]
fn invalid_manifest_reports_every_error_with_lines() {
    let Some((env, image)) = setup() else { return };
    let name = env.pod_name();
    let manifest = env.manifest(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: Sometimes
  containers:
    - name: app
      image: {image}
      imagee: typo
      ports:
        - containerPort: 99999
    - name: Bad_Name
      image: {image}
"#
    ));
    let file = manifest.file_name().unwrap().to_string_lossy().into_owned();
    for detach in [false, true] {
        let out = if detach {
            env.run_detached(&manifest)
        } else {
            env.run_foreground(&manifest, Duration::from_secs(30))
        };
        out.assert_fail();
        for (line, what) in [
            (6, "spec.restartPolicy"),
            (10, "spec.containers[0].imagee"),
            (12, "spec.containers[0].ports[0].containerPort"),
            (13, "spec.containers[1].name"),
        ] {
            let found = out
                .stderr
                .lines()
                .any(|l| l.contains(&format!("{file}:{line}:")) && l.contains(what));
            assert!(found, "no error for line {line} ({what}):\n{out}");
        }
        assert!(
            out.stderr.contains("did you mean \"image\""),
            "a hint for the typo:\n{out}"
        );
        assert!(
            !env.pod_dir(&name).exists(),
            "nothing created for an invalid manifest"
        );
    }
    env.assert_clean(&name);
}

/// Errors found only when lowering the pod against its images and the host (here: two missing
/// Localhost seccomp profiles) are all reported too, detached as well as in the foreground.
#[test]
fn lowering_errors_are_all_reported_detached_too() {
    let Some((env, image)) = setup() else { return };
    let name = env.pod_name();
    let profiles = env.ctx.dir().join("no-profiles");
    let container = |c: &str| {
        format!(
            r#"    - name: {c}
      image: {image}
      command: ["sleep", "100"]
      securityContext:
        seccompProfile:
          type: Localhost
          localhostProfile: missing-{c}.json
"#
        )
    };
    let manifest = env.manifest(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n{}{}",
        container("one"),
        container("two")
    ));
    let file = manifest.file_name().unwrap().to_string_lossy().into_owned();
    for detach in [false, true] {
        let mut args: Vec<String> = vec!["run".into()];
        if detach {
            args.push("--detach".into());
        }
        args.extend(
            [
                "--bridge",
                &env.bridge,
                "--subnet",
                &env.subnet,
                "--image-store",
                &env.store.display().to_string(),
                "--seccomp-profiles",
                &profiles.display().to_string(),
                &manifest.display().to_string(),
            ]
            .map(str::to_string),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = env.cmd(&args, Duration::from_secs(60));
        out.assert_fail();
        for (line, c) in [(13, "one"), (20, "two")] {
            assert!(
                out.stderr
                    .lines()
                    .any(|l| l.contains(&format!("{file}:{line}:"))
                        && l.contains(&format!("missing-{c}.json"))),
                "detach={detach}: no error for container {c} at line {line}:\n{out}"
            );
        }
        env.assert_clean(&name);
    }
}

#[test]
fn missing_image_fails_cleanly() {
    let Some((env, image)) = setup() else { return };
    let name = env.pod_name();
    let missing = env.ctx.dir().join("no-such-image.tar");
    let manifest = env.manifest(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
    - name: fine
      image: {image}
      command: ["sleep", "100"]
    - name: broken
      image: oci-archive:{}
"#,
        missing.display()
    ));
    let out = env.run_foreground(&manifest, Duration::from_secs(60));
    out.assert_fail();
    out.assert_stderr_contains(&["no-such-image.tar"]);
    env.assert_clean(&name);
    let out = env.run_detached(&manifest);
    out.assert_fail();
    out.assert_stderr_contains(&["no-such-image.tar"]);
    env.assert_clean(&name);
}

#[test]
fn host_port_already_taken_fails_cleanly() {
    let Some((env, image)) = setup() else { return };
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = holder.local_addr().expect("local addr").port();
    let name = env.pod_name();
    let manifest = env.manifest(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: web
      image: {image}
      command: ["httpd", "-f", "-p", "8081", "-h", "/"]
      ports:
        - containerPort: 8081
          hostPort: {port}
"#
    ));
    let out = env.run_detached(&manifest);
    out.assert_fail();
    out.assert_stderr_contains(&[&format!("host port {port}"), "in use"]);
    env.assert_clean(&name);
    drop(holder);
}

#[test]
fn exhausted_subnet_rejects_the_second_pod() {
    let Some((env, image)) = setup() else { return };
    // A /30 holds the gateway and one pod.
    let subnet = format!("{}.0/30", env.net_prefix);
    let yaml = |name: &str| {
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: idle
      image: {image}
      command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
"#
        )
    };
    let (first, second) = (env.pod_name(), env.pod_name());
    env.run_detached_on(&env.manifest(&yaml(&first)), &subnet)
        .assert_ok();
    let before = env.wait_ready(&first, Duration::from_secs(30));
    let out = env.run_detached_on(&env.manifest(&yaml(&second)), &subnet);
    out.assert_fail();
    out.assert_stderr_contains(&["exhausted", &subnet]);
    env.assert_clean(&second);
    // The first pod is untouched.
    let after = env.inspect_ok(&first);
    assert_eq!(after["phase"], "running", "{after}");
    assert_eq!(after["ip"], before["ip"]);
    assert_eq!(app_pid(&after, "idle"), app_pid(&before, "idle"));
    assert!(procfs::alive(app_pid(&after, "idle")));
    env.stop(&first, false).assert_ok();
    env.assert_clean(&first);
}

#[test]
fn duplicate_pod_name_is_rejected() {
    let Some((env, image)) = setup() else { return };
    let name = env.pod_name();
    let manifest = env.manifest(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: idle
      image: {image}
      command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
"#
    ));
    env.run_detached(&manifest).assert_ok();
    let before = env.wait_ready(&name, Duration::from_secs(30));
    for detach in [true, false] {
        let out = if detach {
            env.run_detached(&manifest)
        } else {
            env.run_foreground(&manifest, Duration::from_secs(30))
        };
        out.assert_fail();
        out.assert_stderr_contains(&[&name, "already exists"]);
    }
    let after = env.inspect_ok(&name);
    assert_eq!(after["phase"], "running", "{after}");
    assert_eq!(after["supervisor_pid"], before["supervisor_pid"]);
    assert_eq!(after["ip"], before["ip"]);
    assert_eq!(app_pid(&after, "idle"), app_pid(&before, "idle"));
    assert!(procfs::alive(app_pid(&after, "idle")));
    env.stop(&name, false).assert_ok();
    env.assert_clean(&name);
}

// ---------------------------------------------------------------------------------------------
// 6. Readiness.
// ---------------------------------------------------------------------------------------------

#[test]
fn readiness_probe_that_never_passes_keeps_the_pod_unready() {
    let Some((env, image)) = setup() else { return };
    let name = env.pod_name();
    let manifest = env.manifest(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: web
      image: {image}
      command: ["httpd", "-f", "-p", "8081", "-h", "/"]
      readinessProbe:
        httpGet:
          path: /
          port: 8082
        periodSeconds: 1
    - name: flag
      image: {image}
      command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
      readinessProbe:
        exec:
          command: ["test", "-f", "/tmp/ready"]
        periodSeconds: 1
"#
    ));
    env.run_detached(&manifest).assert_ok();
    let both_failed = |v: &serde_json::Value| {
        ["web", "flag"].iter().all(|c| {
            app(v, c)["last_probe"]
                .as_str()
                .is_some_and(|p| p.contains("readiness") && p.contains("failed"))
        })
    };
    env.wait_pod(
        &name,
        "both readiness probes failing",
        Duration::from_secs(15),
        both_failed,
    );
    std::thread::sleep(Duration::from_secs(3));
    let v = env.inspect_ok(&name);
    assert_eq!(v["phase"], "running", "{v}");
    for c in ["web", "flag"] {
        let a = app(&v, c);
        assert_eq!(a["state"], "running", "{c}: {a}");
        assert_eq!(a["ready"], false, "{c}: {a}");
        assert_eq!(a["restarts"], 0, "readiness never restarts: {a}");
    }
    let list = env.cmd(&["pod", "list"], Duration::from_secs(30));
    list.assert_ok();
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with(&name) && l.contains(" 0/2 ")),
        "pod list shows 0/2 ready:\n{list}"
    );
    // The exec probe starts passing: only that app turns ready.
    exec_ok(&env, &format!("{name}.flag"), &["touch", "/tmp/ready"]);
    let v = env.wait_pod(&name, "flag ready", Duration::from_secs(10), |v| {
        app(v, "flag")["ready"] == true
    });
    assert_eq!(app(&v, "web")["ready"], false, "{v}");
    env.stop(&name, false).assert_ok();
    env.assert_clean(&name);
}

// ---------------------------------------------------------------------------------------------
// 7, 8. Foreground `podrt run`: SIGKILL and SIGTERM.
// ---------------------------------------------------------------------------------------------

fn sleeper(name: &str, image: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 5
  containers:
    - name: app
      image: {image}
      command: ["sh", "-c", "trap 'echo got-term; exit 0' TERM; echo armed; while true; do sleep 0.1; done"]
"#
    )
}

#[test]
fn kill_9_of_foreground_run_then_stop_force() {
    let Some((env, image)) = setup() else { return };
    let name = env.pod_name();
    let manifest = env.manifest(&sleeper(&name, &image));
    let mut fg = env.spawn_foreground(&manifest);
    let v = env.wait_ready(&name, Duration::from_secs(30));
    assert_eq!(
        v["supervisor_pid"], fg.pid,
        "the foreground run supervises: {v}"
    );
    let app_pid = app_pid(&v, "app");
    fg.signal(Signal::SIGKILL);
    let ended = fg
        .wait(Duration::from_secs(10))
        .expect("podrt run dies on SIGKILL");
    assert_eq!(ended.code(), 128 + 9, "{ended}");

    let v = env.inspect_ok(&name);
    let phase = v["phase"].as_str().unwrap_or_default();
    assert!(
        phase.contains("supervisor gone") && phase.contains("--force"),
        "pod inspect reports the dead supervisor: {v}"
    );
    let list = env.cmd(
        &["pod", "list", "--format", "json"],
        Duration::from_secs(30),
    );
    list.assert_ok();
    assert!(list.stdout.contains("supervisor gone"), "{list}");
    assert!(procfs::alive(app_pid), "the app outlives its supervisor");

    let out = env.stop(&name, false);
    out.assert_fail();
    out.assert_stderr_contains(&["supervisor is gone", "--force"]);
    assert!(
        env.pod_dir(&name).exists(),
        "a refused stop changes nothing"
    );

    env.stop(&name, true).assert_ok();
    env.assert_clean(&name);
    assert!(!procfs::alive(app_pid), "stop --force killed the app");
}

#[test]
fn sigterm_to_foreground_run_stops_gracefully() {
    let Some((env, image)) = setup() else { return };
    let name = env.pod_name();
    let manifest = env.manifest(&sleeper(&name, &image));
    let mut fg = env.spawn_foreground(&manifest);
    let v = env.wait_ready(&name, Duration::from_secs(30));
    let log = log_of(&v, "app");
    poll(Duration::from_secs(10), || {
        read(&log).contains("armed").then_some(())
    })
    .expect("the app armed its TERM trap");
    let t = Instant::now();
    fg.signal(Signal::SIGTERM);
    let ended = fg
        .wait(Duration::from_secs(20))
        .expect("podrt run exits after SIGTERM");
    let took = t.elapsed();
    assert_eq!(ended.code(), 0, "graceful stop exits 0:\n{ended}");
    assert!(
        ended.stdout.contains("[app] got-term"),
        "the app got SIGTERM and its output was streamed:\n{ended}"
    );
    assert!(
        took < Duration::from_secs(5),
        "the app exited on SIGTERM; no grace-period SIGKILL needed ({took:?}):\n{ended}"
    );
    env.assert_clean(&name);
}

/// Children of `pid` as (pid, comm), from /proc.
fn children_of(pid: i32) -> Vec<(i32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            let (head, rest) = stat.rsplit_once(") ")?;
            let ppid: i32 = rest.split(' ').nth(1)?.parse().ok()?;
            let comm = head.split_once(" (")?.1.to_string();
            (ppid == pid).then_some((p, comm))
        })
        .collect()
}

/// While an init container and then the app run, the supervisor's only children are the
/// containers' own processes: no forked podrt helper is left running beside them.
#[test]
fn supervisor_children_are_the_containers_only() {
    let Some((env, image)) = setup() else { return };
    let name = env.pod_name();
    let manifest = env.manifest(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 2
  initContainers:
    - name: slow-init
      image: {image}
      command: ["sh", "-c", "echo init-running; sleep 2"]
  containers:
    - name: app
      image: {image}
      command: ["sh", "-c", "echo app-running; sleep 100"]
"#
    ));
    let mut fg = env.spawn_foreground(&manifest);
    let supervisor = fg.pid;
    for line in ["[slow-init] init-running", "[app] app-running"] {
        poll(Duration::from_secs(30), || {
            fg.output().0.contains(line).then_some(())
        })
        .unwrap_or_else(|| panic!("{line:?} never printed: {:?}", fg.output()));
        // Every child of the supervisor is a container's process by now (exec'd: sh, sleep);
        // a forked podrt among them is a helper left running.
        let kids = children_of(supervisor);
        assert!(
            !kids.iter().any(|(_, comm)| comm.starts_with("podrt")),
            "after {line:?} the supervisor still has a podrt child: {kids:?}"
        );
    }
    fg.signal(Signal::SIGTERM);
    let ended = fg
        .wait(Duration::from_secs(20))
        .expect("podrt run exits after SIGTERM");
    assert_eq!(ended.code(), 0, "graceful stop exits 0:\n{ended}");
    env.assert_clean(&name);
}

/// `podrt --timings run --detach pod.yml` prints the detached monitor's phases: image
/// resolution, every pod network step (netns, IPAM, bridge, veth, addresses, /etc files), the
/// sandbox, and each container's start phases (named APP/phase) down to the init's own.
#[test]
fn detached_run_reports_pod_phase_timings() {
    let Some((env, image)) = setup() else { return };
    let name = env.pod_name();
    let manifest = env.manifest(&sleeper(&name, &image));
    let mut args = vec!["--timings".to_string()];
    args.extend(env.run_args(&manifest, true, &env.subnet));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = env.cmd(&args, Duration::from_secs(120));
    out.assert_ok();
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("{\"timings_us\""))
        .unwrap_or_else(|| panic!("no timings line: {}", out.stderr));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    let marks = v["timings_us"].as_object().unwrap();
    for want in [
        "images",
        "net:netns",
        "net:ipam",
        "net:bridge",
        "net:veth",
        "net:addresses",
        "net:etc",
        "sandbox",
        "app/clone",
        "app/init:mounts",
        "app/ready",
        "apps-started",
    ] {
        assert!(marks.contains_key(want), "{want} missing: {line}");
    }
    let us: Vec<u64> = marks.values().map(|v| v.as_u64().unwrap()).collect();
    assert!(
        us.windows(2).all(|w| w[0] <= w[1]),
        "not in time order: {line}"
    );
    env.stop(&name, false).assert_ok();
    env.assert_clean(&name);
}

/// A pod mounts its IPC/UTS pins, the apps' overlay rootfs and /dev/shm in its own mount
/// namespace: the host's mount table gains only the netns pin (so later starts do not pay for
/// running pods), the apps still get their rootfs and shm, and the image store still sees the
/// layers as in use: removing the image while the pod runs keeps them, and they go once the pod
/// has.
#[test]
fn pod_mounts_stay_out_of_the_host_mount_table() {
    let Some((mut env, image)) = setup() else {
        return;
    };
    // A store of its own: this test removes the image.
    env.store = env.ctx.dir().join("store");
    let name = env.pod_name();
    let dir = env.pod_dir(&name);
    let pin = env.root().join("netns").join(&name);
    let before: Vec<u32> = procfs::mountinfo_self().iter().map(|m| m.id).collect();
    let manifest = env.manifest(&sleeper(&name, &image));
    env.run_detached(&manifest).assert_ok();
    let v = env.inspect_ok(&name);

    let host = procfs::mountinfo_self();
    let under: Vec<&str> = host
        .iter()
        .map(|m| m.mount_point.as_str())
        .filter(|p| Path::new(p).starts_with(&dir))
        .collect();
    assert!(under.is_empty(), "pod mounts on the host: {under:?}");
    assert!(
        host.iter()
            .any(|m| Path::new(&m.mount_point) == pin && m.fstype == "nsfs"),
        "the netns pin {} is on the host",
        pin.display()
    );
    // Under the test's own root (other tests run meanwhile): the pin, and the first pin's
    // shared self-bind of the netns dir (`ip netns` does the same). The image store is mounted
    // nowhere on the host.
    let added: Vec<&str> = host
        .iter()
        .filter(|m| !before.contains(&m.id))
        .map(|m| m.mount_point.as_str())
        .filter(|p| Path::new(p).starts_with(env.root()) || Path::new(p).starts_with(&env.store))
        .filter(|p| Path::new(p) != pin && Path::new(p) != env.root().join("netns"))
        .collect();
    assert!(added.is_empty(), "the pod added host mounts: {added:?}");

    // The app's / is the overlay of the store's layers; its /dev/shm is the pod's tmpfs.
    let pid = app_pid(&v, "app");
    let inside = procfs::mountinfo(pid);
    let root = procfs::find_mount(&inside, "/").expect("app has a /");
    assert_eq!(root.fstype, "overlay", "app's /: {root:?}");
    let layers = env.store.join("layers");
    assert!(
        root.super_options
            .contains(&format!("lowerdir={}", layers.display())),
        "app's / stacks the store's layers: {root:?}"
    );
    let shm = procfs::find_mount(&inside, "/dev/shm").expect("app has /dev/shm");
    assert_eq!(shm.fstype, "tmpfs");
    // The supervisor's namespace holds the rootfs mount.
    let sup = v["supervisor_pid"].as_i64().expect("supervisor pid") as i32;
    let rootfs = dir.join("containers/app/rootfs");
    assert!(
        procfs::mountinfo(sup)
            .iter()
            .any(|m| Path::new(&m.mount_point) == rootfs && m.fstype == "overlay"),
        "the supervisor's namespace has {}",
        rootfs.display()
    );

    // Removing the image keeps its layers while the pod's namespaces stack them.
    let n_layers = || fs::read_dir(&layers).map_or(0, |d| d.flatten().count());
    let held = n_layers();
    assert!(
        held > 0,
        "the pod's image is unpacked in {}",
        layers.display()
    );
    let list = env.cmd(
        &[
            "image",
            "--image-store",
            env.store.to_str().unwrap(),
            "list",
            "--format",
            "json",
        ],
        Duration::from_secs(30),
    );
    list.assert_ok();
    let images: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let digest = images[0]["digest"].as_str().expect("one image").to_string();
    let store = env.store.to_str().unwrap().to_string();
    let rm = env.cmd(
        &["image", "--image-store", &store, "rm", &digest],
        Duration::from_secs(30),
    );
    rm.assert_ok();
    assert!(rm.stdout.contains("still mounted"), "{rm}");
    assert_eq!(n_layers(), held, "layers in use were kept");
    assert_eq!(
        exec_ok(
            &env,
            &format!("{name}.app"),
            &["sh", "-c", "echo from-the-image"]
        )
        .trim(),
        "from-the-image",
        "the image's sh still runs"
    );

    env.stop(&name, false).assert_ok();
    env.assert_clean(&name);
    let gc = env.cmd(
        &["image", "--image-store", &store, "gc"],
        Duration::from_secs(30),
    );
    gc.assert_ok();
    assert_eq!(n_layers(), 0, "layers go once no pod uses them: {gc}");
}
