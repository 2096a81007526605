//! The pod supervisor: brings the sandbox up, runs init containers to completion, starts the
//! apps, streams their output with a name prefix (and into per-container log files), runs
//! probes, restarts by restartPolicy with backoff, and on SIGINT/SIGTERM stops every app
//! gracefully and tears the sandbox down.

use std::fs::File;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use podrt_pod_spec::{Pod, Probe, ProbeAction, RestartPolicy};

use super::probe::{self, Outcome};
use super::state::{AppStatus, PodDirs, PodState};
use super::{container_id, io_err, sandbox, PodError, RunPodOptions};
use crate::container::create::{create, CreateOptions};
use crate::container::Context;

/// Restart backoff: 5 s, then doubling up to 5 minutes; reset after 10 minutes of running.
fn backoff(restarts: u32) -> Duration {
    let secs = 5_u64.saturating_mul(1_u64 << restarts.saturating_sub(1).min(6));
    Duration::from_secs(secs.min(300))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Startup,
    Readiness,
    Liveness,
}

#[derive(Debug)]
struct ProbeState {
    kind: Kind,
    probe: Probe,
    next: Instant,
    successes: u32,
    failures: u32,
}

#[derive(Debug)]
struct App {
    name: String,
    id: String,
    init: bool,
    bundle: PathBuf,
    log: File,
    log_path: PathBuf,
    pipe: Option<File>,
    partial: Vec<u8>,
    pid: Option<i32>,
    pidfd: Option<OwnedFd>,
    restarts: u32,
    next_restart: Option<Instant>,
    started: Instant,
    last_exit: Option<i32>,
    probes: Vec<ProbeState>,
    started_ok: bool,
    ready: bool,
    last_probe: Option<String>,
    done: bool,
    /// Exit code collected by the catch-all reaper before `reap` got to it.
    reaped: Option<i32>,
}

/// `--detach`: a monitor process keeps supervising; this process waits until the apps are
/// started (or the start failed) and reports it.
pub fn detach(
    ctx: &Context,
    pod: Pod,
    dirs: PodDirs,
    opts: &RunPodOptions,
) -> Result<i32, PodError> {
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| io_err("pipe")(e.into()))?;
    match crate::sys::fork_process().map_err(io_err("fork the pod monitor"))? {
        crate::sys::Forked::Child => {
            drop(r);
            let _ = nix::unistd::setsid();
            let log = dirs.dir.join("supervisor.log");
            if let Ok(f) = File::options().create(true).append(true).open(&log) {
                let _ = nix::unistd::dup2(f.as_raw_fd(), 1);
                let _ = nix::unistd::dup2(f.as_raw_fd(), 2);
            }
            if let Ok(null) = File::open("/dev/null") {
                let _ = nix::unistd::dup2(null.as_raw_fd(), 0);
            }
            let mut notify = File::from(w);
            let code = match supervise(ctx, pod, dirs, opts, Some(&mut notify)) {
                Ok(c) => c,
                Err(e) => {
                    let _ = writeln!(notify, "error: {e}");
                    eprintln!("podrt: {e}");
                    1
                }
            };
            crate::sys::exit_immediately(code)
        }
        crate::sys::Forked::Parent(pid) => {
            drop(w);
            // One line: "started ..." or "error: ..." (after a "timings ..." line with
            // --timings). The monitor keeps its end open for its whole life, so read the line,
            // not to EOF.
            let mut msg = String::new();
            let mut reader = std::io::BufReader::new(File::from(r));
            let _ = std::io::BufRead::read_line(&mut reader, &mut msg);
            if let Some(marks) = msg.strip_prefix("timings ") {
                if let Ok(marks) = serde_json::from_str(marks) {
                    crate::timings::merge(marks);
                }
                msg.clear();
                let _ = std::io::BufRead::read_line(&mut reader, &mut msg);
            }
            if msg.starts_with("error:") {
                // The monitor exits after an error: the rest (more diagnostics) ends at EOF.
                let _ = reader.read_to_string(&mut msg);
            }
            let msg = msg.trim();
            if msg.starts_with("started") {
                // Ignore a closed stdout: the pod is running either way.
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "{}",
                    msg.trim_start_matches("started").trim()
                );
                Ok(0)
            } else {
                let _ = waitpid(Pid::from_raw(pid), None);
                Err(PodError::Failed(
                    msg.strip_prefix("error: ")
                        .unwrap_or(if msg.is_empty() {
                            "pod monitor exited"
                        } else {
                            msg
                        })
                        .to_string(),
                ))
            }
        }
    }
}

/// Everything from sandbox to teardown; returns the pod's exit code.
pub fn supervise(
    ctx: &Context,
    pod: Pod,
    dirs: PodDirs,
    opts: &RunPodOptions,
    mut notify: Option<&mut File>,
) -> Result<i32, PodError> {
    let sigset = crate::signals::block_forwarded().map_err(io_err("block signals"))?;
    crate::sys::set_child_subreaper().map_err(io_err("become child subreaper"))?;
    let mut mounts = None;
    let result = bring_up_and_run(ctx, &pod, &dirs, opts, &sigset, &mut notify, &mut mounts);
    if let Some(m) = mounts {
        if let Err(e) = m.leave(&dirs.dir) {
            // Still in the pod's namespace: the host's netns pin is out of reach. The
            // namespace goes when this process exits; `pod stop --force` finishes the rest.
            eprintln!("podrt: teardown: {e}");
            return result;
        }
    }
    let problems = super::teardown(&ctx.root, &pod.name);
    for p in &problems {
        eprintln!("podrt: teardown: {p}");
    }
    result
}

fn bring_up_and_run(
    ctx: &Context,
    pod: &Pod,
    dirs: &PodDirs,
    opts: &RunPodOptions,
    sigset: &nix::sys::signal::SigSet,
    notify: &mut Option<&mut File>,
    mounts: &mut Option<sandbox::PrivateMounts>,
) -> Result<i32, PodError> {
    let name = pod.name.clone();
    let hostname = pod.hostname.clone().unwrap_or_else(|| name.clone());
    let mut st = PodState {
        name: name.clone(),
        manifest: opts.manifest.clone(),
        created: crate::state::now_rfc3339(),
        phase: "pending".into(),
        supervisor_pid: std::process::id().cast_signed(),
        supervisor_start_time: crate::state::proc_start_time(std::process::id().cast_signed())
            .map(|(s, _)| s)
            .unwrap_or(0),
        bridge: opts.bridge.clone(),
        subnet: opts.subnet.clone(),
        ..Default::default()
    };
    for d in [dirs.etc(), dirs.logs(), dirs.containers(), dirs.volumes()] {
        std::fs::create_dir_all(&d).map_err(io_err(format!("create {}", d.display())))?;
    }
    st.save(dirs).map_err(io_err("save pod state"))?;

    let netcfg = super::net_config(&ctx.root, &opts.bridge, &opts.subnet)?;

    // Images (mounted later, in the pod's own mount namespace).
    let store = crate::image::Store::open(&opts.image_store)?;
    let mut rootfs = std::collections::HashMap::new();
    let mut images = Vec::new();
    for c in pod.init_containers.iter().chain(pod.containers.iter()) {
        let info = store.resolve(&c.image)?;
        let cdir = dirs.containers().join(&c.name);
        std::fs::create_dir_all(&cdir).map_err(io_err(format!("create {}", cdir.display())))?;
        let cfg: podrt_pod_spec::ImageConfig = info.config.clone().into();
        rootfs.insert(c.name.clone(), (crate::image::merged_dir(&cdir), cfg));
        images.push((info, cdir));
    }
    crate::timings::mark("images");
    let shm = dirs.dir.join("shm");
    let paths = podrt_pod_spec::SandboxPaths {
        netns: podrt_netns::netns_path(&netcfg, &name),
        ipcns: dirs.ns().join("ipc"),
        utsns: dirs.ns().join("uts"),
        cgroup_parent: sandbox::pod_cgroup_path(&name),
        etc_hosts: dirs.etc().join("hosts"),
        etc_hostname: dirs.etc().join("hostname"),
        resolv_conf: dirs.etc().join("resolv.conf"),
        volumes_dir: dirs.volumes(),
        dev_shm: Some(shm.clone()),
        seccomp_profile_root: opts.seccomp_profile_root.clone(),
    };
    let lookup = |cname: &str| {
        rootfs
            .get(cname)
            .cloned()
            .expect("every container has a rootfs")
    };
    let plan = podrt_pod_spec::lower(pod, &lookup, &paths).map_err(|diags| {
        PodError::Manifest(
            diags
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;

    // Network, cgroup, volumes.
    let ports: Vec<podrt_netns::PortMapping> = plan
        .sandbox
        .port_mappings
        .iter()
        .map(|p| podrt_netns::PortMapping {
            host_port: p.host_port,
            container_port: p.container_port,
            protocol: match p.protocol {
                podrt_pod_spec::Protocol::Udp => podrt_netns::Protocol::Udp,
                _ => podrt_netns::Protocol::Tcp,
            },
            host_ip: None,
        })
        .collect();
    let net = podrt_netns::setup(&netcfg, &name, &hostname, &ports, &dirs.etc())?;
    for (step, at) in &net.phases {
        crate::timings::mark_at(step, *at);
    }
    st.ip = Some(net.ip.to_string());
    st.netns = Some(net.netns_path.clone());
    st.host_ports = ports
        .iter()
        .map(|p| format!("{}->{}", p.host_port, p.container_port))
        .collect();
    // The pod's own mounts, out of the host's mount table: its own mount namespace, the
    // shared IPC/UTS namespaces (the hostname lives in the UTS one), root filesystems, /dev/shm
    // and volumes.
    *mounts = Some(sandbox::PrivateMounts::enter()?);
    sandbox::pin_ipc_uts(dirs, &hostname)?;
    for (info, cdir) in &images {
        crate::image::mount_rootfs(info, cdir)?;
    }
    sandbox::make_shm(&shm)?;
    sandbox::make_volumes(&plan.sandbox)?;
    crate::timings::mark("sandbox");

    let mut apps = Vec::new();
    for lc in &plan.containers {
        let cdir = dirs.containers().join(&lc.name);
        let bundle = cdir.join("bundle");
        std::fs::create_dir_all(&bundle).map_err(io_err(format!("create {}", bundle.display())))?;
        let mut spec = lc.spec.clone();
        let root = rootfs
            .get(&lc.name)
            .map(|r| r.0.clone())
            .unwrap_or_default();
        sandbox::resolve_user(&root, &lc.user, &mut spec)
            .map_err(|e| PodError::Failed(format!("container {}: {e}", lc.name)))?;
        for sp in &lc.sub_paths {
            sandbox::make_sub_path(sp)?;
        }
        let cfg = serde_json::to_vec_pretty(&spec).map_err(|e| PodError::Failed(e.to_string()))?;
        std::fs::write(bundle.join("config.json"), cfg).map_err(io_err("write config.json"))?;
        let log_path = dirs.logs().join(format!("{}.log", lc.name));
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_err(format!("open {}", log_path.display())))?;
        let mut probes = Vec::new();
        let now = Instant::now();
        for (kind, p) in [
            (Kind::Startup, &lc.probes.startup),
            (Kind::Readiness, &lc.probes.readiness),
            (Kind::Liveness, &lc.probes.liveness),
        ] {
            if let Some(p) = p {
                probes.push(ProbeState {
                    kind,
                    probe: p.clone(),
                    next: now,
                    successes: 0,
                    failures: 0,
                });
            }
        }
        apps.push(App {
            name: lc.name.clone(),
            id: container_id(&name, &lc.name),
            init: lc.init,
            bundle,
            log,
            log_path,
            pipe: None,
            partial: Vec::new(),
            pid: None,
            pidfd: None,
            restarts: 0,
            next_restart: None,
            started: now,
            last_exit: None,
            probes,
            started_ok: false,
            ready: false,
            last_probe: None,
            done: false,
            reaped: None,
        });
    }
    // The pod cgroup: the containers' cgroups go below it.
    let _pod_cgroup = sandbox::make_cgroup(&name)?;
    crate::timings::mark("pod-cgroup");
    let ip: IpAddr = IpAddr::V4(net.ip);
    let sfd = SignalFd::with_flags(sigset, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| io_err("signalfd")(e.into()))?;

    // Init containers, in order, each to completion.
    st.phase = "initializing".into();
    for i in 0..apps.len() {
        if !apps[i].init {
            continue;
        }
        start_app(ctx, &mut apps[i])?;
        save(&mut st, &apps, dirs);
        loop {
            if pump(ctx, &mut apps, &sfd, Some(Duration::from_millis(500)))? {
                return stop_all(
                    ctx,
                    &mut apps,
                    &mut st,
                    dirs,
                    pod.termination_grace_period_seconds,
                    0,
                );
            }
            if apps[i].done {
                break;
            }
        }
        match apps[i].last_exit {
            Some(0) => {}
            code => {
                return Err(PodError::Failed(format!(
                    "init container {} failed with exit code {}{}",
                    apps[i].name,
                    code.unwrap_or(-1),
                    log_tail(&apps[i].log_path)
                )))
            }
        }
    }

    // Apps.
    for app in apps.iter_mut().filter(|a| !a.init) {
        // `--timings`: this container's create/start phases are named APP/phase.
        crate::timings::set_scope(Some(&app.name));
        let r = start_app(ctx, app);
        crate::timings::set_scope(None);
        r?;
    }
    crate::timings::mark("apps-started");
    st.phase = "running".into();
    save(&mut st, &apps, dirs);
    let started_msg = format!(
        "started pod {name}: IP {ip}{}",
        if st.host_ports.is_empty() {
            String::new()
        } else {
            format!(", ports {}", st.host_ports.join(" "))
        }
    );
    eprintln!("podrt: {started_msg}");
    if let Some(n) = notify.take() {
        if crate::timings::enabled() {
            // Before "started": `podrt run --detach --timings` prints the monitor's phases.
            let marks =
                serde_json::to_string(&crate::timings::marks_with_prefix("")).unwrap_or_default();
            let _ = writeln!(n, "timings {marks}");
        }
        let _ = writeln!(n, "started {started_msg}");
    }

    loop {
        let now = Instant::now();
        // Restarts that are due.
        for app in apps
            .iter_mut()
            .filter(|a| !a.init && a.pid.is_none() && !a.done)
        {
            if app.next_restart.is_some_and(|t| t <= now) {
                app.next_restart = None;
                if let Err(e) = start_app(ctx, app) {
                    eprintln!("[{}] restart failed: {e}", app.name);
                    app.restarts += 1;
                    app.next_restart = Some(Instant::now() + backoff(app.restarts));
                }
            }
        }
        // Probes that are due.
        for app in apps.iter_mut().filter(|a| !a.init && a.pid.is_some()) {
            run_probes(ctx, app, ip, now);
        }
        save(&mut st, &apps, dirs);
        let running_or_pending = apps.iter().any(|a| !a.init && (!a.done));
        if !running_or_pending {
            // Every app finished and the policy does not bring any back.
            let code = apps
                .iter()
                .filter(|a| !a.init)
                .filter_map(|a| a.last_exit)
                .find(|c| *c != 0)
                .unwrap_or(0);
            st.phase = if code == 0 {
                "succeeded".into()
            } else {
                "failed".into()
            };
            save(&mut st, &apps, dirs);
            return Ok(code);
        }
        let next = apps
            .iter()
            .flat_map(|a| {
                a.next_restart
                    .into_iter()
                    .chain(a.probes.iter().filter(|_| a.pid.is_some()).map(|p| p.next))
            })
            .min();
        let wait = next.map(|t| {
            t.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(5))
        });
        if pump(ctx, &mut apps, &sfd, wait)? {
            return stop_all(
                ctx,
                &mut apps,
                &mut st,
                dirs,
                pod.termination_grace_period_seconds,
                0,
            );
        }
        // Decide about apps that exited.
        for app in apps
            .iter_mut()
            .filter(|a| !a.init && a.pid.is_none() && !a.done && a.next_restart.is_none())
        {
            let code = app.last_exit.unwrap_or(0);
            let restart = match pod.restart_policy {
                RestartPolicy::Always => true,
                RestartPolicy::OnFailure => code != 0,
                RestartPolicy::Never => false,
            };
            if !restart {
                app.done = true;
                continue;
            }
            if app.started.elapsed() > Duration::from_secs(600) {
                app.restarts = 0;
            }
            app.restarts += 1;
            let delay = backoff(app.restarts);
            if app.restarts >= 3 {
                eprintln!(
                    "[{}] CrashLoopBackOff: exited {} times (last exit code {code}); next restart in {} s",
                    app.name,
                    app.restarts,
                    delay.as_secs()
                );
            } else {
                eprintln!(
                    "[{}] exited with code {code}; restarting in {} s",
                    app.name,
                    delay.as_secs()
                );
            }
            app.next_restart = Some(Instant::now() + delay);
        }
    }
}

/// The last lines of a container's log, for messages (the log goes with the pod's teardown).
fn log_tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(5)..];
    if tail.is_empty() {
        String::new()
    } else {
        format!("; its last output:\n  {}", tail.join("\n  "))
    }
}

fn save(st: &mut PodState, apps: &[App], dirs: &PodDirs) {
    st.apps = apps
        .iter()
        .map(|a| AppStatus {
            name: a.name.clone(),
            id: a.id.clone(),
            init: a.init,
            state: if a.pid.is_some() {
                "running".into()
            } else if a.next_restart.is_some() {
                if a.restarts >= 3 {
                    "crash-loop-backoff".into()
                } else {
                    "waiting".into()
                }
            } else if a.done || a.last_exit.is_some() {
                "exited".into()
            } else {
                "waiting".into()
            },
            pid: a.pid,
            restarts: a.restarts,
            ready: a.ready,
            last_exit_code: a.last_exit,
            last_probe: a.last_probe.clone(),
            log: a.log_path.clone(),
        })
        .collect();
    let _ = st.save(dirs);
}

/// Create and start one container with its output going into a pipe we read.
fn start_app(ctx: &Context, app: &mut App) -> Result<(), PodError> {
    // A previous run of this container may still have state: remove it.
    let _ = crate::container::lifecycle::delete(ctx, &app.id, true);
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| io_err("pipe")(e.into()))?;
    let null = File::open("/dev/null").map_err(io_err("open /dev/null"))?;
    let created = create(
        ctx,
        &CreateOptions {
            id: app.id.clone(),
            bundle: app.bundle.clone(),
            use_fifo: false,
            stdio: Some([null.as_raw_fd(), w.as_raw_fd(), w.as_raw_fd()]),
            ..Default::default()
        },
    )
    .map_err(|e| PodError::Container {
        name: app.name.clone(),
        source: e,
    })?;
    drop(w);
    crate::container::lifecycle::run_poststart(&created.state, created.pid);
    app.pidfd = crate::sys::pidfd_open(created.pid).ok();
    app.pid = Some(created.pid);
    app.pipe = Some(File::from(r));
    app.started = Instant::now();
    app.started_ok = !app.probes.iter().any(|p| p.kind == Kind::Startup);
    app.ready = !app.probes.iter().any(|p| p.kind == Kind::Readiness);
    let now = Instant::now();
    for p in &mut app.probes {
        p.next = now + Duration::from_secs(u64::from(p.probe.initial_delay_seconds));
        p.successes = 0;
        p.failures = 0;
    }
    Ok(())
}

/// Wait for output, exits and signals for up to `timeout`; returns true when asked to stop.
fn pump(
    ctx: &Context,
    apps: &mut [App],
    sfd: &SignalFd,
    timeout: Option<Duration>,
) -> Result<bool, PodError> {
    let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
    let mut map = Vec::new();
    for (i, a) in apps.iter().enumerate() {
        if let Some(p) = &a.pipe {
            fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
            map.push((i, true));
        }
        if let Some(p) = &a.pidfd {
            fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
            map.push((i, false));
        }
    }
    let t = match timeout {
        None => PollTimeout::NONE,
        Some(d) => PollTimeout::from(u16::try_from(d.as_millis().min(60_000)).unwrap_or(60_000)),
    };
    match poll(&mut fds, t) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => {}
        Err(e) => return Err(io_err("poll")(e.into())),
    }
    let ready: Vec<bool> = fds
        .iter()
        .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
        .collect();
    drop(fds);
    let mut stop = false;
    if ready[0] {
        while let Ok(Some(info)) = sfd.read_signal() {
            let sig = i32::try_from(info.ssi_signo).unwrap_or(0);
            if sig == libc::SIGINT
                || sig == libc::SIGTERM
                || sig == libc::SIGHUP
                || sig == libc::SIGQUIT
            {
                stop = true;
            }
        }
    }
    for (k, (i, is_pipe)) in map.into_iter().enumerate() {
        if !ready[k + 1] {
            continue;
        }
        if is_pipe {
            drain_output(&mut apps[i], false);
        } else {
            reap(ctx, &mut apps[i]);
        }
    }
    // Reap anything else re-parented to us (exec probes' intermediates and the like), keeping
    // the status when it is one of our apps (its pidfd may not have been seen yet).
    while let Ok(ws) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
        let (pid, code) = match ws {
            WaitStatus::Exited(p, c) => (p.as_raw(), c),
            WaitStatus::Signaled(p, sig, _) => (p.as_raw(), 128 + sig as i32),
            WaitStatus::StillAlive => break,
            _ => continue,
        };
        if let Some(app) = apps.iter_mut().find(|a| a.pid == Some(pid)) {
            app.reaped = Some(code);
            reap(ctx, app);
        }
    }
    Ok(stop)
}

fn drain_output(app: &mut App, to_eof: bool) {
    let Some(pipe) = app.pipe.as_mut() else {
        return;
    };
    let mut buf = [0_u8; 16 * 1024];
    // One read when woken by poll; until EOF when the container is gone.
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => {
                app.pipe = None;
                break;
            }
            Ok(n) => {
                let _ = app.log.write_all(&buf[..n]);
                app.partial.extend_from_slice(&buf[..n]);
                while let Some(pos) = app.partial.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = app.partial.drain(..=pos).collect();
                    let mut out = std::io::stdout().lock();
                    let _ = write!(out, "[{}] {}", app.name, String::from_utf8_lossy(&line));
                }
                if !to_eof {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => {
                app.pipe = None;
                break;
            }
        }
    }
    if app.pipe.is_none() && !app.partial.is_empty() {
        let rest = std::mem::take(&mut app.partial);
        // A closed stdout must not take the supervisor down: the log file has the line.
        let _ = writeln!(
            std::io::stdout().lock(),
            "[{}] {}",
            app.name,
            String::from_utf8_lossy(&rest)
        );
    }
}

/// The app's init exited: collect its status, its last output, and delete the container.
fn reap(ctx: &Context, app: &mut App) {
    let Some(pid) = app.pid else { return };
    let code = match app.reaped.take() {
        Some(c) => c,
        None => match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, c)) => c,
            Ok(WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
            Ok(_) => return,
            Err(_) => 255,
        },
    };
    // Other processes of the container may hold the pipe: deleting kills them.
    let oom = crate::container::Context::open(ctx, &app.id)
        .ok()
        .and_then(|(_, st)| {
            st.cgroup
                .as_ref()
                .and_then(crate::container::events::oom_message)
        });
    let _ = crate::container::lifecycle::delete(ctx, &app.id, true);
    drain_output(app, true);
    app.pid = None;
    app.pidfd = None;
    app.pipe = None;
    app.last_exit = Some(code);
    app.ready = false;
    match oom {
        Some(m) => eprintln!("[{}] killed: {m}", app.name),
        None => eprintln!("[{}] exited with code {code}", app.name),
    }
    if app.init {
        app.done = true;
    }
}

fn run_probes(ctx: &Context, app: &mut App, ip: IpAddr, now: Instant) {
    let mut kill_reason = None;
    let started_ok = app.started_ok;
    for p in app.probes.iter_mut() {
        if p.next > now {
            continue;
        }
        if p.kind != Kind::Startup && !started_ok {
            continue;
        }
        if p.kind == Kind::Startup && started_ok {
            continue;
        }
        let timeout = Duration::from_secs(u64::from(p.probe.timeout_seconds.max(1)));
        let outcome = match &p.probe.action {
            ProbeAction::HttpGet {
                path, port, host, ..
            } => {
                let target = host.as_deref().and_then(|h| h.parse().ok()).unwrap_or(ip);
                probe::http_get(target, *port, path, None, timeout)
            }
            ProbeAction::TcpSocket { port, host } => {
                let target = host.as_deref().and_then(|h| h.parse().ok()).unwrap_or(ip);
                probe::tcp(target, *port, timeout)
            }
            ProbeAction::Exec { command } => probe::exec(&ctx.root, &app.id, command, timeout),
        };
        p.next = now + Duration::from_secs(u64::from(p.probe.period_seconds.max(1)));
        let label = match p.kind {
            Kind::Startup => "startup",
            Kind::Readiness => "readiness",
            Kind::Liveness => "liveness",
        };
        match outcome {
            Outcome::Success(msg) => {
                p.failures = 0;
                p.successes += 1;
                app.last_probe = Some(format!("{label}: ok: {msg}"));
                if p.successes >= p.probe.success_threshold.max(1) {
                    match p.kind {
                        Kind::Startup => app.started_ok = true,
                        Kind::Readiness => {
                            if !app.ready {
                                eprintln!("[{}] ready ({msg})", app.name);
                            }
                            app.ready = true;
                        }
                        Kind::Liveness => {}
                    }
                }
            }
            Outcome::Failure(msg) => {
                p.successes = 0;
                p.failures += 1;
                app.last_probe = Some(format!("{label}: failed ({}x): {msg}", p.failures));
                if p.failures >= p.probe.failure_threshold.max(1) {
                    match p.kind {
                        Kind::Readiness => app.ready = false,
                        Kind::Startup | Kind::Liveness => {
                            kill_reason =
                                Some(format!("{label} probe failed {} times: {msg}", p.failures));
                        }
                    }
                }
            }
        }
    }
    if let Some(reason) = kill_reason {
        eprintln!("[{}] {reason}; restarting", app.name);
        let _ = crate::container::lifecycle::kill(ctx, &app.id, libc::SIGKILL, true);
    }
}

/// SIGTERM every running app, wait up to the grace period, SIGKILL the rest.
fn stop_all(
    ctx: &Context,
    apps: &mut [App],
    st: &mut PodState,
    dirs: &PodDirs,
    grace_secs: u64,
    code: i32,
) -> Result<i32, PodError> {
    st.phase = "stopping".into();
    save(st, apps, dirs);
    eprintln!(
        "podrt: stopping pod {} (grace period {grace_secs} s)",
        st.name
    );
    for app in apps.iter_mut() {
        app.next_restart = None;
        app.done = true;
        if app.pid.is_some() {
            let _ = crate::container::lifecycle::kill(ctx, &app.id, libc::SIGTERM, false);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(grace_secs);
    let dummy = SignalFd::with_flags(
        &nix::sys::signal::SigSet::empty(),
        SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC,
    )
    .map_err(|e| io_err("signalfd")(e.into()))?;
    while apps.iter().any(|a| a.pid.is_some()) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            for app in apps.iter().filter(|a| a.pid.is_some()) {
                eprintln!("[{}] did not stop within {grace_secs} s: SIGKILL", app.name);
                let _ = crate::container::lifecycle::kill(ctx, &app.id, libc::SIGKILL, true);
            }
            let _ = pump(ctx, apps, &dummy, Some(Duration::from_secs(5)))?;
            break;
        }
        let _ = pump(ctx, apps, &dummy, Some(left))?;
    }
    st.phase = "stopped".into();
    save(st, apps, dirs);
    Ok(code)
}
