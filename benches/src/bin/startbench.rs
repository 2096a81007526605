//! `startbench`: end-to-end start latency of `podrt` against `runc`, `crun` and kernel floors,
//! on one busybox `/bin/true` bundle, peers interleaved round by round; opt-in scenarios add a
//! two-container pod, N detached starts (one after another and all at once), N pods side by
//! side, a TCG VM boot and the nginx-php example pod against `podman kube play`. Writes
//! `docs/benchmarks.md` and one `docs/start-latency-SCENARIO.svg` per scenario.
//!
//! ```text
//! cargo run --release -p podrt-benches --bin startbench -- --runs 30
//! ```

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use clap::Parser;
use podrt_benches::machine::{self, CgroupMode, Machine};
use podrt_benches::measure::{self, run_measured, show_argv, PidFd};
use podrt_benches::model::{PeerResult, Sample, ScenarioResult};
use podrt_benches::podman::Podman;
use podrt_benches::procs;
use podrt_benches::stats::{self, Rng};
use podrt_benches::{bundle, http, plot, report, CRUN_WRAPPER_SCRIPT as CRUN_WRAPPER};

/// The container counts of the `scale` scenario.
const SCALE_NS: [usize; 4] = [1, 10, 50, 100];

/// The pod counts of the `pods` scenario.
const PODS_NS: [usize; 3] = [1, 5, 20];

/// What the nginx-php pod must answer on /index.php (php renders it; a static page cannot).
const PHP_BODY: &str = "hello from php";

/// How long a container may take to exit once started.
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Parser)]
#[command(
    name = "startbench",
    about = "Start latency of podrt vs runc, crun and kernel floors (writes docs/benchmarks.md)"
)]
struct Args {
    /// Counted rounds per scenario (at least 20)
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(20..))]
    runs: u32,
    /// Rounds run first and discarded
    #[arg(long, default_value_t = 3)]
    warmup: u32,
    /// Comma-separated: `run` (RUNTIME run), `lifecycle` (create, start, wait, delete),
    /// `floors` (exec of /bin/true, unshare with six namespaces, the crun wrapper alone;
    /// measured inside the `run` rounds when both are selected); opt-in: `pod2` (a
    /// two-container pod vs two containers joining a pinned netns), `scale` (N = 1, 10, 50,
    /// 100 detached starts, one after another and all at once), `pods` (1, 5, 20 podrt pods
    /// side by side), `vmboot` (qemu TCG boot to a marker), `nginxphp` (the example pod to its
    /// first HTTP 200, podrt vs `podman kube play` with crun and with runc)
    #[arg(long, value_delimiter = ',', default_value = "run,lifecycle,floors")]
    scenarios: Vec<String>,
    /// Counted rounds of the `scale` scenario (each round starts 322 containers per runtime)
    #[arg(long, default_value_t = 5)]
    scale_runs: u32,
    /// Counted rounds of the `pods` scenario (each round starts 26 pods)
    #[arg(long, default_value_t = 5)]
    pods_runs: u32,
    /// Counted rounds of the `vmboot` scenario (seconds each)
    #[arg(long, default_value_t = 5)]
    vm_runs: u32,
    /// Counted rounds of the `nginxphp` scenario
    #[arg(long, default_value_t = 10)]
    nginx_runs: u32,
    /// Where benchmarks.md and the plots (start-latency-SCENARIO.svg) go
    #[arg(long)]
    out: Option<PathBuf>,
    /// The podrt binary (default: build the workspace's release binary and use it)
    #[arg(long)]
    podrt: Option<PathBuf>,
    #[arg(long, default_value = "runc")]
    runc: PathBuf,
    #[arg(long, default_value = "crun")]
    crun: PathBuf,
    /// Seed of the per-round random run order
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A static busybox for the rootfs
    #[arg(long, default_value = "/bin/busybox")]
    busybox: PathBuf,
}

/// A runtime under test.
#[derive(Debug)]
struct Runtime {
    name: &'static str,
    bin: PathBuf,
    root: PathBuf,
    /// crun on a hybrid host: `create`/`run` go through the wrapper.
    wrap: bool,
    /// podrt: ask for the `--timings` line.
    timings: bool,
}

impl Runtime {
    fn argv(&self, args: &[&str], wrapped: bool) -> Vec<OsString> {
        let mut v: Vec<OsString> = Vec::new();
        if wrapped && self.wrap {
            v.extend(wrapper_prefix());
        }
        v.push(self.bin.clone().into());
        v.push("--root".into());
        v.push(self.root.clone().into());
        v.extend(args.iter().map(OsString::from));
        v
    }

    fn env(&self) -> Vec<(&'static str, &'static str)> {
        if self.timings {
            vec![("PODRT_TIMINGS", "1")]
        } else {
            Vec::new()
        }
    }

    /// `delete --force` everything left under our root, then remove the root.
    fn clean(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Ok(entries) = fs::read_dir(&self.root) {
            for e in entries.flatten() {
                if !e.path().is_dir() {
                    continue;
                }
                let id = e.file_name().to_string_lossy().into_owned();
                let argv = self.argv(&["delete", "--force", &id], true);
                let ok = Command::new(&argv[0])
                    .args(&argv[1..])
                    .output()
                    .is_ok_and(|o| o.status.success());
                if !ok {
                    problems.push(format!("{}: delete --force {id} failed", self.name));
                }
            }
        }
        measure::reap_strays();
        if self.root.exists() {
            if let Err(e) = fs::remove_dir_all(&self.root) {
                problems.push(format!("remove {}: {e}", self.root.display()));
            }
        }
        problems
    }
}

fn wrapper_prefix() -> Vec<OsString> {
    [
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        CRUN_WRAPPER,
        "sh",
    ]
    .iter()
    .map(OsString::from)
    .collect()
}

/// What a peer executes per round.
#[derive(Debug)]
enum Action {
    Run(usize),
    Lifecycle(usize),
    Exec(Vec<OsString>),
    /// `podrt run --detach pod.yml` of a two-container pod, until its state says running.
    Pod2,
    /// create + start of two `sleep` containers joining the pinned netns.
    Pair(usize),
    /// `run --detach` (`run -d`) of N `sleep` containers, one after another or all at once.
    Scale {
        rt: usize,
        n: usize,
        concurrent: bool,
    },
    /// N two-container podrt pods started one after another, all left running until the last.
    Pods(usize),
    /// qemu (TCG) boot of the 6.1 kernel to the initramfs marker.
    VmBoot,
    /// `podrt run --detach` of examples/nginx-php/pod.yml until /index.php answers 200.
    NginxPhp,
    /// `podman kube play` of the same manifest with this OCI runtime until /index.php answers
    /// 200 (0: crun through the wrapper, 1: runc).
    PodmanPlay(usize),
}

#[derive(Debug)]
struct Peer {
    name: String,
    floor: bool,
    action: Action,
}

struct Bench {
    runtimes: Vec<Runtime>,
    bundle: PathBuf,
    work: PathBuf,
    id_prefix: String,
    /// `pod2`: what the pod and pair peers need (built only when selected).
    pod2: Option<Pod2Setup>,
    /// `scale`: a bundle running `sleep 3600` in its own namespaces.
    sleep_bundle: Option<PathBuf>,
    /// `vmboot`: the qemu command line.
    qemu: Option<Vec<String>>,
    /// `nginxphp`: the manifest template, the image store, bridge and subnet.
    nginx: Option<NginxSetup>,
    /// `pod2` and `pods`: the busybox image in a podrt image store.
    pod_image: Option<PodImage>,
    /// `pods`: root, bridge and subnet of the side-by-side pods.
    pods: Option<PodsSetup>,
    /// `nginxphp`: podman's store with the nginx-php images and its copy of the manifest.
    podman: Option<PodmanSetup>,
    /// `nginxphp`: podman peers that cannot run here, with the reason.
    podman_not_measured: Vec<(String, String)>,
}

/// The busybox image the pod scenarios run, imported into a temp podrt image store.
#[derive(Debug)]
struct PodImage {
    store: PathBuf,
    /// The image reference the manifests use.
    image: String,
}

/// `pods`: N pods side by side on the bench's own bridge and subnet.
#[derive(Debug)]
struct PodsSetup {
    root: PathBuf,
    bridge: String,
    subnet: String,
}

/// `nginxphp`'s podman peers.
#[derive(Debug)]
struct PodmanSetup {
    podman: Podman,
    /// podman's copy of the manifest with `NAME` for the pod's name.
    template: String,
    /// The OCI runtimes podman is pointed at (the ones that passed the setup probe).
    runtimes: Vec<PodmanRuntime>,
}

/// One OCI runtime under podman.
#[derive(Debug)]
struct PodmanRuntime {
    /// Peer name (`podman+crun`).
    name: String,
    /// What `--runtime` gets.
    path: PathBuf,
    /// The runtime's default state root (podman passes no `--root`): a state dir per
    /// container there proves this runtime ran it.
    state_root: PathBuf,
    /// The crun wrapper: count its calls.
    wrapper: bool,
}

#[derive(Debug)]
struct NginxSetup {
    /// examples/nginx-php/pod.yml with `NAME` for the pod's name and a free hostPort.
    template: String,
    store: PathBuf,
    bridge: String,
    subnet: String,
    root: PathBuf,
    host_port: u16,
}

/// Everything `pod2` builds outside the timed region (besides the image).
#[derive(Debug)]
struct Pod2Setup {
    /// A bundle running `sleep 3600` whose network namespace is `netns`.
    bundle: PathBuf,
    /// The pinned network namespace (`ip netns add`).
    netns_name: String,
    bridge: String,
    subnet: String,
    /// podrt's root for pods (separate from the OCI root).
    root: PathBuf,
}

impl Bench {
    /// The command a peer runs, as Markdown, with the temp dir shown as `$WORK`.
    fn describe(&self, p: &Peer) -> String {
        let b = self.bundle.to_string_lossy().into_owned();
        let text = match &p.action {
            Action::Run(i) => {
                let rt = &self.runtimes[*i];
                format!(
                    "`{}`",
                    show_argv(&rt.argv(&["run", "--bundle", &b, "ID"], true))
                )
            }
            Action::Lifecycle(i) => {
                let rt = &self.runtimes[*i];
                format!(
                    "`{}`; `{}`; wait for the init's exit (pidfd); `{}`",
                    show_argv(&rt.argv(&["create", "--bundle", &b, "--pid-file", "P", "ID"], true)),
                    show_argv(&rt.argv(&["start", "ID"], false)),
                    show_argv(&rt.argv(&["delete", "ID"], false)),
                )
            }
            Action::Exec(argv) => format!("`{}`", show_argv(argv)),
            Action::Pod2 => {
                let p2 = self.pod2.as_ref().expect("pod2 setup");
                format!(
                    "`{}` (pod.yml: two busybox containers running `sleep 3600`, \
                     terminationGracePeriodSeconds 0), timed until the pod's `pod.json` says \
                     `running` with both apps running; `{}` after the timed region",
                    show_argv(&self.pod_run_argv(&p2.root, &p2.bridge, &p2.subnet, "pod.yml")),
                    show_argv(&[
                        self.runtimes[0].bin.clone().into(),
                        "--root".into(),
                        p2.root.clone().into(),
                        "pod".into(),
                        "stop".into(),
                        "NAME".into(),
                    ])
                )
            }
            Action::NginxPhp => {
                let n = self.nginx.as_ref().expect("nginxphp setup");
                format!(
                    "`{} --root $WORK/run/nginx-pods run --detach --bridge {} --subnet {} \
                     --image-store $WORK/nginx/store POD.yml` (POD.yml: \
                     examples/nginx-php/pod.yml with its own name and hostPort {}; both images \
                     imported into the temp store before the rounds), timed until `GET \
                     /index.php` at the pod IP port 80 answers 200 with php's `{PHP_BODY}` in \
                     the body (the IP read from the pod's `pod.json`; one try every 2 ms); `pod \
                     stop NAME` after the timed region",
                    self.runtimes[0].bin.display(),
                    n.bridge,
                    n.subnet,
                    n.host_port
                )
            }
            Action::VmBoot => {
                let argv = self.qemu.as_ref().expect("vmboot setup");
                format!(
                    "`{}`, timed from spawn until `{}` appears on qemu's stdout (a pipe); \
                     the guest then powers off (qemu is killed by PID if it has not exited \
                     10 s later). initramfs (`newc`, written by the harness): static busybox, \
                     `/dev/console`, and `/init` = `{}`",
                    argv.iter()
                        .map(|a| show_argv(&[a.into()]))
                        .collect::<Vec<_>>()
                        .join(" "),
                    podrt_benches::vm::MARKER,
                    podrt_benches::vm::INIT
                        .lines()
                        .skip(1)
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            }
            Action::Scale { rt, n, concurrent } => {
                let rt = &self.runtimes[*rt];
                let b = self
                    .sleep_bundle
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                format!(
                    "{n} × `{}` {} (bundle args `sleep 3600`); then, untimed, `kill ID 9` and \
                     `delete --force ID` for each",
                    show_argv(&Self::scale_argv(rt, &b, "ID")),
                    if *concurrent {
                        "launched together"
                    } else {
                        "one after another"
                    }
                )
            }
            Action::Pods(n) => {
                let ps = self.pods.as_ref().expect("pods setup");
                format!(
                    "{n} × `{}` one after another (POD.yml: two busybox containers running \
                     `sleep 3600`, terminationGracePeriodSeconds 0, a fresh name each), each \
                     timed until its `pod.json` says running with both apps running and its \
                     `run --detach` has returned before the next starts; then, untimed, `{} \
                     --root $WORK/run/pods pod stop NAME` for each",
                    show_argv(&self.pod_run_argv(&ps.root, &ps.bridge, &ps.subnet, "POD.yml")),
                    self.runtimes[0].bin.display()
                )
            }
            Action::PodmanPlay(i) => {
                let pm = self.podman.as_ref().expect("podman setup");
                let runtime = &pm.runtimes[*i].path;
                format!(
                    "`CONTAINERS_CONF=$WORK/podman/containers.conf \
                     CONTAINERS_STORAGE_CONF=$WORK/podman/storage.conf {}` (POD.yml: podman's \
                     copy of the manifest, see above), timed until `GET /index.php` on \
                     127.0.0.1:80 inside the pod's network namespace answers 200 with `{PHP_BODY}` \
                     in the body; `podman pod rm --force --time 0 NAME` after the timed region",
                    show_argv(
                        &pm.podman
                            .argv(runtime, &["kube", "play", "--network", "none", "POD.yml"])
                    )
                )
            }
            Action::Pair(i) => {
                let rt = &self.runtimes[*i];
                let p2 = self.pod2.as_ref().expect("pod2 setup");
                let b = p2.bundle.to_string_lossy().into_owned();
                format!(
                    "`{}`; `{}`; the same for ID-b (the bundle's network namespace is \
                     `/run/netns/{}`, pinned with `ip netns add` before the rounds); then, \
                     untimed, `kill ID 9` and `delete --force` for both",
                    show_argv(&rt.argv(&["create", "--bundle", &b, "ID-a"], true)),
                    show_argv(&rt.argv(&["start", "ID-a"], false)),
                    p2.netns_name
                )
            }
        };
        text.replace(self.work.to_string_lossy().as_ref(), "$WORK")
    }

    fn once(&self, p: &Peer, id: &str) -> Result<Sample> {
        let log = self.work.join("out.log");
        let bundle = self.bundle.to_string_lossy().into_owned();
        match &p.action {
            Action::Exec(argv) => {
                let o = run_measured(argv, &[], &log)?;
                Ok(Sample {
                    total_ms: ms(o.wall),
                    cpu_ms: ms(o.cpu),
                    maxrss_kib: o.maxrss_kib,
                    ..Sample::default()
                })
            }
            Action::Run(i) => {
                let rt = &self.runtimes[*i];
                let o = run_measured(
                    &rt.argv(&["run", "--bundle", &bundle, id], true),
                    &rt.env(),
                    &log,
                )?;
                let mut phases = BTreeMap::new();
                if rt.timings {
                    read_timings(&log, "run", &mut phases)?;
                }
                Ok(Sample {
                    total_ms: ms(o.wall),
                    cpu_ms: ms(o.cpu),
                    maxrss_kib: o.maxrss_kib,
                    phases,
                    ..Sample::default()
                })
            }
            Action::Lifecycle(i) => self.lifecycle(&self.runtimes[*i], id, &bundle, &log),
            Action::Pod2 => self.pod2_once(id, &log),
            Action::Pair(i) => self.pair_once(&self.runtimes[*i], id, &log),
            Action::Scale { rt, n, concurrent } => {
                self.scale_once(&self.runtimes[*rt], *n, *concurrent, id)
            }
            Action::Pods(n) => self.pods_once(*n, id),
            Action::NginxPhp => self.nginx_once(id, &log),
            Action::PodmanPlay(i) => {
                let pm = self.podman.as_ref().expect("podman setup");
                podman_play(pm, *i, id, &self.work, &log)
            }
            Action::VmBoot => {
                let argv = self.qemu.as_ref().expect("vmboot setup");
                let wall = podrt_benches::vm::boot_once(argv, Duration::from_secs(120))?;
                Ok(Sample {
                    total_ms: ms(wall),
                    ..Sample::default()
                })
            }
        }
    }

    fn scale_argv(rt: &Runtime, bundle: &str, id: &str) -> Vec<OsString> {
        let detach = if rt.name == "podrt" { "--detach" } else { "-d" };
        rt.argv(&["run", detach, "--bundle", bundle, id], true)
    }

    /// N detached runs, one after another or all launched at once; the sample is the mean time
    /// per container (first spawn to the last exit of a runtime process, over N). While all N
    /// run: the memory of every process the runtime left behind (PSS and RSS) and the drop of
    /// the host's MemAvailable. Then, untimed, kill and delete all N and check nothing is left.
    #[allow(clippy::cast_precision_loss)]
    fn scale_once(&self, rt: &Runtime, n: usize, concurrent: bool, id: &str) -> Result<Sample> {
        let b = self
            .sleep_bundle
            .as_ref()
            .expect("scale bundle")
            .to_string_lossy()
            .into_owned();
        let logs = self.work.join("scale-logs");
        fs::create_dir_all(&logs)?;
        let log_of = |k: usize| logs.join(format!("{k}.log"));
        let ids: Vec<String> = (0..n).map(|k| format!("{id}-{k}")).collect();
        let argvs: Vec<Vec<OsString>> = ids
            .iter()
            .map(|cid| Self::scale_argv(rt, &b, cid))
            .collect();
        measure::reap_strays();
        let avail_before = procs::mem_available_kib();
        let start = Instant::now();
        let outcomes: Result<Vec<measure::Outcome>> = if concurrent {
            let mut running = Vec::with_capacity(n);
            let mut spawn_err = None;
            for (k, argv) in argvs.iter().enumerate() {
                match measure::spawn(argv, &[], &log_of(k)) {
                    Ok(r) => running.push(r),
                    Err(e) => {
                        spawn_err = Some(e);
                        break;
                    }
                }
            }
            // Wait for every one that started, even after a failure to spawn.
            let waited = measure::wait_all(&running);
            match spawn_err {
                Some(e) => Err(e),
                None => waited,
            }
        } else {
            let mut v = Vec::with_capacity(n);
            let mut err = None;
            for (k, argv) in argvs.iter().enumerate() {
                match run_measured(argv, &[], &log_of(k)) {
                    Ok(o) => v.push(o),
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
            }
            err.map_or(Ok(v), Err)
        };
        let total = start.elapsed();
        let mut mem = procs::Memory::default();
        let mut avail_drop = 0.0;
        if outcomes.is_ok() {
            // `run -d` returns once the init was told to exec: give the last ones a moment to
            // become `sleep`, so a runtime's init image is not counted as what it leaves.
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(2)
                && procs::own_descendants().iter().any(|p| p.comm != "sleep")
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            avail_drop = avail_before as f64 - procs::mem_available_kib() as f64;
            mem = procs::memory_of(procs::own_descendants().iter().map(|p| p.pid));
        }
        let teardown = scale_teardown(rt, &ids, &logs);
        let outcomes = outcomes?;
        teardown?;
        let walls: Vec<f64> = outcomes.iter().map(|o| ms(o.wall)).collect();
        let nf = n as f64;
        let mut extra = vec![
            ("pss_kib_per".to_string(), mem.pss_kib as f64 / nf),
            ("rss_kib_per".to_string(), mem.rss_kib as f64 / nf),
            ("procs_per".to_string(), mem.procs as f64 / nf),
            ("avail_drop_kib_per".to_string(), avail_drop / nf),
        ];
        let steps = if concurrent {
            vec![
                (
                    "fastest".into(),
                    walls.iter().copied().fold(f64::INFINITY, f64::min),
                ),
                ("slowest".into(), walls.iter().copied().fold(0.0, f64::max)),
                ("total".into(), ms(total)),
            ]
        } else {
            if n >= 20 {
                let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
                extra.push(("first10_mean".into(), mean(&walls[..10])));
                extra.push(("last10_mean".into(), mean(&walls[n - 10..])));
            }
            vec![
                ("first".into(), walls[0]),
                ("last".into(), walls[walls.len() - 1]),
                ("total".into(), ms(total)),
            ]
        };
        Ok(Sample {
            total_ms: ms(total) / nf,
            cpu_ms: ms(outcomes.iter().map(|o| o.cpu).sum()),
            maxrss_kib: outcomes.iter().map(|o| o.maxrss_kib).max().unwrap_or(0),
            steps,
            extra,
            ..Sample::default()
        })
    }

    /// The nginx-php pod, timed from spawn to the first 200 of /index.php through nginx.
    fn nginx_once(&self, id: &str, log: &Path) -> Result<Sample> {
        let n = self.nginx.as_ref().expect("nginxphp setup");
        let name = id.to_ascii_lowercase();
        let manifest = self.work.join(format!("{name}.yml"));
        fs::write(&manifest, n.template.replace("NAME", &name))?;
        let state = n.root.join("pods").join(&name).join("pod.json");
        let argv: Vec<OsString> = vec![
            self.runtimes[0].bin.clone().into(),
            "--root".into(),
            n.root.clone().into(),
            "run".into(),
            "--detach".into(),
            "--bridge".into(),
            n.bridge.clone().into(),
            "--subnet".into(),
            n.subnet.clone().into(),
            "--image-store".into(),
            n.store.clone().into(),
            manifest.clone().into(),
        ];
        let out = fs::File::create(log)?;
        let start = Instant::now();
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .env("PODRT_TIMINGS", "1")
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("spawn {}", show_argv(&argv)))?;
        let deadline = start + Duration::from_secs(60);
        let mut ip: Option<String> = None;
        let mut returned: Option<Duration> = None;
        let result = loop {
            if ip.is_none() {
                ip = fs::read(&state)
                    .ok()
                    .and_then(|t| serde_json::from_slice::<serde_json::Value>(&t).ok())
                    .and_then(|v| v.get("ip")?.as_str().map(str::to_string));
            }
            if let Some(addr) = ip
                .as_deref()
                .and_then(|ip| format!("{ip}:80").parse::<std::net::SocketAddr>().ok())
            {
                if http::status(None, addr, "/index.php", PHP_BODY) == Some(200) {
                    break Ok(start.elapsed());
                }
            }
            if returned.is_none() {
                if let Some(st) = child.try_wait()? {
                    if !st.success() {
                        break Err(anyhow::anyhow!(
                            "`{}` failed ({st}); its output:\n{}",
                            show_argv(&argv),
                            fs::read_to_string(log).unwrap_or_default()
                        ));
                    }
                    returned = Some(start.elapsed());
                }
            }
            if Instant::now() > deadline {
                break Err(anyhow::anyhow!(
                    "pod {name}: no 200 from /index.php in 60 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let _ = Command::new(&self.runtimes[0].bin)
            .arg("--root")
            .arg(&n.root)
            .args(["pod", "stop", &name])
            .output();
        let t = Instant::now();
        while child.try_wait()?.is_none() {
            if t.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = fs::remove_file(&manifest);
        let total = result?;
        // Where the time went: the monitor's phase marks (printed once `run --detach` returned)
        // and when it returned; what follows is nginx and php-fpm starting up.
        let mut phases = BTreeMap::new();
        let _ = read_timings(log, "pod", &mut phases);
        let mut steps = Vec::new();
        if let Some(r) = returned.filter(|r| *r <= total) {
            steps.push(("run --detach returned".to_string(), ms(r)));
            steps.push(("then the first 200".to_string(), ms(total - r)));
        }
        Ok(Sample {
            total_ms: ms(total),
            steps,
            phases,
            ..Sample::default()
        })
    }

    /// `podrt --root ROOT run --detach --bridge B --subnet S --image-store STORE MANIFEST`.
    fn pod_run_argv(
        &self,
        root: &Path,
        bridge: &str,
        subnet: &str,
        manifest: &str,
    ) -> Vec<OsString> {
        let img = self.pod_image.as_ref().expect("pod image setup");
        let mut v: Vec<OsString> = vec![self.runtimes[0].bin.clone().into(), "--root".into()];
        v.push(root.into());
        for a in [
            "run",
            "--detach",
            "--bridge",
            bridge,
            "--subnet",
            subnet,
            "--image-store",
        ] {
            v.push(a.into());
        }
        v.push(img.store.clone().into());
        v.push(manifest.into());
        v
    }

    /// N pods one after another while the earlier ones keep running. Each is timed from spawning
    /// `podrt run --detach` until its `pod.json` says the pod and both apps are running; the next
    /// starts once that `run --detach` has returned. With all N up: the memory of every process
    /// they hold (PSS, RSS) and the drop of MemAvailable. Then, untimed, `pod stop` for each and
    /// a check that nothing is left (processes, pod dirs, veths on the bridge, pinned netns).
    #[allow(clippy::cast_precision_loss)]
    fn pods_once(&self, n: usize, id: &str) -> Result<Sample> {
        let ps = self.pods.as_ref().expect("pods setup");
        let img = self.pod_image.as_ref().expect("pod image setup");
        let logs = self.work.join("pods-logs");
        fs::create_dir_all(&logs)?;
        let names: Vec<String> = (0..n)
            .map(|k| format!("{id}-{k}").to_ascii_lowercase())
            .collect();
        measure::reap_strays();
        let avail_before = procs::mem_available_kib();
        let mut walls = Vec::with_capacity(n);
        let mut returns = Vec::with_capacity(n);
        let mut lingering: Vec<measure::Running> = Vec::new();
        let mut started = Vec::with_capacity(n);
        let mut result = Ok(());
        for (k, name) in names.iter().enumerate() {
            let manifest = logs.join(format!("{name}.yml"));
            fs::write(&manifest, busybox_pod_manifest(name, &img.image))?;
            let argv = self.pod_run_argv(
                &ps.root,
                &ps.bridge,
                &ps.subnet,
                &manifest.to_string_lossy(),
            );
            let state = ps.root.join("pods").join(name).join("pod.json");
            started.push(name.clone());
            match start_pod(&argv, &state, &logs.join(format!("{k}.log"))) {
                Ok(p) => {
                    walls.push(ms(p.wall));
                    match p.returned {
                        Some(r) => returns.push(ms(r)),
                        None => lingering.extend(p.parent),
                    }
                }
                Err(e) => {
                    result = Err(e.context(format!("pod {} of {n}", k + 1)));
                    break;
                }
            }
        }
        // Each pod's phase marks (`pod K.PHASE`), to see which phase grows with K.
        let mut phases = BTreeMap::new();
        for k in 0..walls.len() {
            let _ = read_timings(
                &logs.join(format!("{k}.log")),
                &format!("pod {}", k + 1),
                &mut phases,
            );
        }
        let mut mem = procs::Memory::default();
        let mut avail_drop = 0.0;
        if result.is_ok() {
            avail_drop = avail_before as f64 - procs::mem_available_kib() as f64;
            let parents: Vec<i32> = lingering.iter().map(|r| r.pid).collect();
            mem = procs::memory_of(
                procs::own_descendants()
                    .iter()
                    .map(|p| p.pid)
                    .filter(|p| !parents.contains(p)),
            );
        }
        let teardown = pods_teardown(
            &self.runtimes[0].bin,
            &ps.root,
            &ps.bridge,
            &started,
            lingering,
        );
        result?;
        teardown?;
        let nf = n as f64;
        Ok(Sample {
            total_ms: walls.iter().sum::<f64>() / nf,
            steps: walls
                .iter()
                .enumerate()
                .map(|(k, w)| (format!("pod {}", k + 1), *w))
                .collect(),
            phases,
            extra: vec![
                ("pss_kib_per".into(), mem.pss_kib as f64 / nf),
                ("rss_kib_per".into(), mem.rss_kib as f64 / nf),
                ("procs_per".into(), mem.procs as f64 / nf),
                ("avail_drop_kib_per".into(), avail_drop / nf),
                ("detach_returned".into(), returns.len() as f64 / nf),
                ("detach_return_ms".into(), stats::median(&returns)),
            ],
            ..Sample::default()
        })
    }

    /// One pod: write its manifest, spawn `podrt run --detach`, poll `pod.json` until the pod
    /// and both apps are running, stop the clock; then `pod stop` and reap.
    fn pod2_once(&self, id: &str, log: &Path) -> Result<Sample> {
        let p2 = self.pod2.as_ref().expect("pod2 setup");
        let name = id.to_ascii_lowercase();
        let manifest = self.work.join(format!("{name}.yml"));
        let image = &self.pod_image.as_ref().expect("pod image setup").image;
        fs::write(&manifest, busybox_pod_manifest(&name, image))?;
        let state = p2.root.join("pods").join(&name).join("pod.json");
        let argv = self.pod_run_argv(
            &p2.root,
            &p2.bridge,
            &p2.subnet,
            &manifest.to_string_lossy(),
        );
        let started = start_pod(&argv, &state, log)?;
        let returned = started.returned;
        pods_teardown(
            &self.runtimes[0].bin,
            &p2.root,
            &p2.bridge,
            &[name],
            started.parent.into_iter().collect(),
        )?;
        let _ = fs::remove_file(&manifest);
        // `podrt run --detach` prints the monitor's phases when it returns (not when the
        // harness had to kill it).
        let mut phases = BTreeMap::new();
        if returned.is_some() {
            let _ = read_timings(log, "pod", &mut phases);
        }
        let mut extra = vec![(
            "detach_returned".into(),
            f64::from(u8::from(returned.is_some())),
        )];
        if let Some(r) = returned {
            extra.push(("detach_return_ms".into(), ms(r)));
        }
        Ok(Sample {
            total_ms: ms(started.wall),
            extra,
            phases,
            ..Sample::default()
        })
    }

    /// create + start of two containers that join the pinned netns; timed to the second
    /// `start`'s return (both running); kill and delete untimed.
    fn pair_once(&self, rt: &Runtime, id: &str, log: &Path) -> Result<Sample> {
        let p2 = self.pod2.as_ref().expect("pod2 setup");
        let b = p2.bundle.to_string_lossy().into_owned();
        let ids = [format!("{id}-a"), format!("{id}-b")];
        let start = Instant::now();
        let mut cpu = Duration::ZERO;
        let mut rss = 0;
        let mut steps = Vec::new();
        for cid in &ids {
            let c = run_measured(&rt.argv(&["create", "--bundle", &b, cid], true), &[], log)?;
            let s = run_measured(&rt.argv(&["start", cid], false), &[], log)?;
            cpu += c.cpu + s.cpu;
            rss = rss.max(c.maxrss_kib).max(s.maxrss_kib);
            steps.push((format!("create {}", &cid[cid.len() - 1..]), ms(c.wall)));
            steps.push((format!("start {}", &cid[cid.len() - 1..]), ms(s.wall)));
        }
        let wall = start.elapsed();
        for cid in &ids {
            let argv = rt.argv(&["kill", cid, "9"], false);
            let _ = Command::new(&argv[0]).args(&argv[1..]).output();
            let argv = rt.argv(&["delete", "--force", cid], false);
            let o = Command::new(&argv[0]).args(&argv[1..]).output()?;
            if !o.status.success() {
                bail!(
                    "{} delete --force {cid}: {}",
                    rt.name,
                    String::from_utf8_lossy(&o.stderr).trim_end()
                );
            }
        }
        measure::reap_strays();
        Ok(Sample {
            total_ms: ms(wall),
            cpu_ms: ms(cpu),
            maxrss_kib: rss,
            steps,
            ..Sample::default()
        })
    }

    fn lifecycle(&self, rt: &Runtime, id: &str, bundle: &str, log: &Path) -> Result<Sample> {
        let pid_file = self.work.join(format!("{id}.pid"));
        let pid_file_s = pid_file.to_string_lossy().into_owned();
        let env = rt.env();
        let mut phases = BTreeMap::new();
        let start = Instant::now();

        let create = run_measured(
            &rt.argv(
                &["create", "--bundle", bundle, "--pid-file", &pid_file_s, id],
                true,
            ),
            &env,
            log,
        )?;
        if rt.timings {
            read_timings(log, "create", &mut phases)?;
        }
        let t_created = Instant::now();
        let pid: i32 = fs::read_to_string(&pid_file)
            .with_context(|| format!("{}: read {}", rt.name, pid_file.display()))?
            .trim()
            .parse()
            .with_context(|| format!("{}: parse {}", rt.name, pid_file.display()))?;
        let pidfd = PidFd::open(pid).with_context(|| format!("{}: pidfd_open {pid}", rt.name))?;

        let t_start = Instant::now();
        let startc = run_measured(&rt.argv(&["start", id], false), &env, log)?;
        if rt.timings {
            read_timings(log, "start", &mut phases)?;
        }
        let t_started = Instant::now();
        if let Some(status) = pidfd.wait_exit(EXIT_TIMEOUT)? {
            if status != 0 {
                bail!(
                    "{}: the container's /bin/true ended with {}",
                    rt.name,
                    measure::describe_status(status)
                );
            }
        }
        let t_exited = Instant::now();
        let delete = run_measured(&rt.argv(&["delete", id], false), &env, log)?;
        let total = start.elapsed();
        let _ = fs::remove_file(&pid_file);
        Ok(Sample {
            total_ms: ms(total),
            cpu_ms: ms(create.cpu + startc.cpu + delete.cpu),
            maxrss_kib: create
                .maxrss_kib
                .max(startc.maxrss_kib)
                .max(delete.maxrss_kib),
            steps: vec![
                ("create".into(), ms(create.wall)),
                ("pid file + pidfd".into(), ms(t_start - t_created)),
                ("start".into(), ms(startc.wall)),
                ("wait".into(), ms(t_exited - t_started)),
                ("delete".into(), ms(delete.wall)),
            ],
            phases,
            ..Sample::default()
        })
    }
}

/// A two-container busybox pod (`sleep 3600` in both, no grace period on stop).
fn busybox_pod_manifest(name: &str, image: &str) -> String {
    let c = |n: &str| {
        format!("    - name: {n}\n      image: {image}\n      command: [\"sleep\", \"3600\"]\n")
    };
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  \
         terminationGracePeriodSeconds: 0\n  containers:\n{}{}",
        c("a"),
        c("b")
    )
}

/// One pod start of the `pods` scenario.
#[derive(Debug)]
struct PodStart {
    /// Spawn until `pod.json` said running.
    wall: Duration,
    /// Spawn until `run --detach` exited 0, if it did within a few seconds of the pod running.
    returned: Option<Duration>,
    /// The `run --detach` process when it had not returned (older podrt: it stayed until the pod
    /// ended); the caller ends it after `pod stop`.
    parent: Option<measure::Running>,
}

/// Spawn `podrt run --detach` and poll `pod.json` every 0.2 ms until the pod and both apps are
/// running (the clock stops there); then give `run --detach` up to 5 s to return.
fn start_pod(argv: &[OsString], state: &Path, log: &Path) -> Result<PodStart> {
    let start = Instant::now();
    // The phase marks come back on stderr once `run --detach` returns.
    let parent = measure::spawn(argv, &[("PODRT_TIMINGS", "1")], log)?;
    let deadline = start + Duration::from_secs(30);
    let mut returned = None;
    let wall = loop {
        if pod_running(state) {
            break start.elapsed();
        }
        if returned.is_none() && parent.try_wait()?.is_some() {
            returned = Some(start.elapsed());
        }
        if Instant::now() > deadline {
            if returned.is_none() {
                kill_pid(parent.pid);
                let _ = parent.wait();
            }
            bail!("pod not running 30 s after `{}`", show_argv(argv));
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    if returned.is_some() {
        return Ok(PodStart {
            wall,
            returned,
            parent: None,
        });
    }
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        if parent.try_wait()?.is_some() {
            return Ok(PodStart {
                wall,
                returned: Some(start.elapsed()),
                parent: None,
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(PodStart {
        wall,
        returned: None,
        parent: Some(parent),
    })
}

/// SIGKILL to one process the harness started (by its PID, never by name).
fn kill_pid(pid: i32) {
    // SAFETY: kill takes a pid and a signal number and touches no memory of ours.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// `pod stop` every pod of a `pods` run, end `run --detach` parents that never returned, and
/// check that nothing is left: no process below the harness, no pod dir, no veth on the
/// bridge, no pinned netns under the root.
fn pods_teardown(
    podrt: &Path,
    root: &Path,
    bridge: &str,
    names: &[String],
    lingering: Vec<measure::Running>,
) -> Result<()> {
    let mut problems = Vec::new();
    for name in names {
        if !root.join("pods").join(name).exists() {
            continue;
        }
        let argv: Vec<OsString> = vec![
            podrt.into(),
            "--root".into(),
            root.into(),
            "pod".into(),
            "stop".into(),
            name.into(),
        ];
        if let Err(e) = run_quiet(&argv) {
            problems.push(format!("{e:#}"));
        }
    }
    for parent in lingering {
        let t = Instant::now();
        loop {
            match parent.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if t.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => {
                    problems.push(format!(
                        "`run --detach` (pid {}) still running 10 s after `pod stop`",
                        parent.pid
                    ));
                    kill_pid(parent.pid);
                    let _ = parent.wait();
                    break;
                }
                Err(e) => {
                    problems.push(format!("{e:#}"));
                    break;
                }
            }
        }
    }
    for p in procs::wait_until_gone(Duration::from_secs(20), |_| false) {
        problems.push(format!(
            "process {} ({}) left after pod stop",
            p.pid, p.comm
        ));
    }
    for name in names {
        if root.join("pods").join(name).exists() {
            problems.push(format!("pod dir {name} left under the root"));
        }
    }
    if let Ok(rd) = fs::read_dir(root.join("netns")) {
        for e in rd.flatten() {
            problems.push(format!(
                "pinned netns {} left under the root",
                e.file_name().to_string_lossy()
            ));
        }
    }
    let ports = Command::new("ip")
        .args(["-o", "link", "show", "master", bridge])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for line in ports.lines() {
        problems.push(format!("link left on bridge {bridge}: {line}"));
    }
    if !problems.is_empty() {
        bail!("pods teardown: {}", problems.join("; "));
    }
    Ok(())
}

/// `podman kube play --network none` of podman's copy of the nginx-php manifest with one OCI
/// runtime, timed from spawn until `GET /index.php` on 127.0.0.1:80 inside the pod's network
/// namespace answers 200 with php's page. The namespace is found through the pid file the
/// runtime writes into podman's runroot (in the temp dir): the first container that has one
/// (the infra container, which holds the pod's namespaces) gives `/proc/PID/ns/net`. Then,
/// untimed: which runtime ran the containers (their state dirs), `podman pod rm --force`, and
/// the leak checks of [`podman_teardown`].
fn podman_play(pm: &PodmanSetup, i: usize, id: &str, work: &Path, log: &Path) -> Result<Sample> {
    let rt = &pm.runtimes[i];
    let name = id.to_ascii_lowercase();
    let manifest = work.join(format!("{name}.podman.yml"));
    fs::write(&manifest, pm.template.replace("NAME", &name))?;
    let left = pm.podman.container_ids();
    if !left.is_empty() {
        bail!("podman's store still holds containers before the run: {left:?}");
    }
    let home = http::Netns::open(Path::new("/proc/self/ns/net"))?.inode()?;
    let netns_before = pinned_netns();
    let forward_before = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
    let calls_before = pm.podman.crun_calls();
    let manifest_s = manifest.to_string_lossy().into_owned();
    let argv = pm.podman.argv(
        &rt.path,
        &["kube", "play", "--network", "none", &manifest_s],
    );
    let env = pm.podman.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let addr: std::net::SocketAddr = "127.0.0.1:80".parse()?;
    let start = Instant::now();
    let play = measure::spawn(&argv, &env, log)?;
    let deadline = start + Duration::from_secs(120);
    let mut netns: Option<http::Netns> = None;
    let mut play_ended = false;
    let result: Result<Duration> = loop {
        if netns.is_none() {
            if let Some(pid) = pm.podman.any_container_pid() {
                if let Ok(ns) = http::Netns::open(Path::new(&format!("/proc/{pid}/ns/net"))) {
                    // Never probe the host's namespace.
                    if ns.inode().is_ok_and(|ino| ino != home) {
                        netns = Some(ns);
                    }
                }
            }
        }
        if let Some(ns) = &netns {
            if http::status(Some(ns), addr, "/index.php", PHP_BODY) == Some(200) {
                break Ok(start.elapsed());
            }
        }
        if !play_ended {
            match play.try_wait() {
                Ok(Some(_)) => play_ended = true,
                Ok(None) => {}
                Err(e) => {
                    play_ended = true;
                    break Err(e);
                }
            }
        }
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!(
                "{}: no 200 from /index.php within 120 s (network namespace {})",
                rt.name,
                if netns.is_some() {
                    "found"
                } else {
                    "not found"
                }
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let calls = pm.podman.crun_calls().saturating_sub(calls_before);
    drop(netns);
    if !play_ended {
        // `kube play` returns once the pod is started; it normally has by the first 200.
        let t = Instant::now();
        loop {
            match play.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if t.elapsed() < Duration::from_secs(60) => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => {
                    kill_pid(play.pid);
                    let _ = play.wait();
                    break;
                }
                Err(e) => {
                    eprintln!("startbench: {e:#}");
                    break;
                }
            }
        }
    }
    let ids = pm.podman.container_ids();
    let ran = ids
        .iter()
        .filter(|c| rt.state_root.join(c).exists())
        .count();
    let pod_id = fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .skip_while(|l| l.trim() != "Pod:")
        .nth(1)
        .map(|l| l.trim().to_string());
    let teardown = podman_teardown(pm, rt, &name, &ids, pod_id.as_deref(), &netns_before);
    let wall = result?;
    let removed = teardown?;
    if ids.len() < 3 || ran != ids.len() {
        bail!(
            "{}: {} of the pod's {} containers have state under {} (expected all: is podman \
             running another runtime?)",
            rt.name,
            ran,
            ids.len(),
            rt.state_root.display()
        );
    }
    if rt.wrapper && calls == 0 {
        bail!("{}: podman never called the crun wrapper", rt.name);
    }
    let forward_after = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
    if forward_after != forward_before {
        bail!(
            "{}: net.ipv4.ip_forward changed from {} to {} during the run",
            rt.name,
            forward_before.trim(),
            forward_after.trim()
        );
    }
    #[allow(clippy::cast_precision_loss)]
    Ok(Sample {
        total_ms: ms(wall),
        extra: vec![
            ("wrapper_calls".into(), calls as f64),
            ("containers".into(), ids.len() as f64),
            ("cgroups_removed".into(), removed as f64),
        ],
        ..Sample::default()
    })
}

/// The names under /run/netns.
fn pinned_netns() -> Vec<String> {
    fs::read_dir("/run/netns")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Cgroup directories (any hierarchy, a few levels deep) whose name contains one of `needles`,
/// deepest first.
fn cgroup_dirs_named(needles: &[&str]) -> Vec<PathBuf> {
    fn walk(dir: &Path, needles: &[&str], depth: u32, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if needles.iter().any(|n| name.contains(n)) {
                out.push(p.clone());
            }
            if depth > 0 {
                walk(&p, needles, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    if !needles.is_empty() {
        walk(Path::new("/sys/fs/cgroup"), needles, 5, &mut out);
    }
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out
}

/// `podman pod rm --force --time 0 NAME`, then check that nothing of the pod is left: no
/// process below the harness (conmon and podman's cleanup helpers end up there), no container
/// in podman's store, no runtime state, no mount under podman's dir, no cgroup named after a
/// container. podman (4.3, cgroupfs, this hybrid host) leaves the pod's own cgroup dir, empty,
/// in `name=systemd` (and in the cgroup2 mount with runc): those are removed here and counted.
fn podman_teardown(
    pm: &PodmanSetup,
    rt: &PodmanRuntime,
    name: &str,
    ids: &[String],
    pod_id: Option<&str>,
    netns_before: &[String],
) -> Result<usize> {
    let mut problems = Vec::new();
    if let Err(e) = pm
        .podman
        .run(&rt.path, &["pod", "rm", "--force", "--time", "0", name])
    {
        problems.push(format!("{e:#}"));
    }
    for p in procs::wait_until_gone(Duration::from_secs(30), |_| false) {
        problems.push(format!("process {} ({}) left after pod rm", p.pid, p.comm));
    }
    let left = pm.podman.container_ids();
    if !left.is_empty() {
        problems.push(format!("containers left in podman's store: {left:?}"));
    }
    for c in ids {
        if rt.state_root.join(c).exists() {
            problems.push(format!(
                "runtime state left: {}",
                rt.state_root.join(c).display()
            ));
        }
    }
    let dir = pm.podman.dir.to_string_lossy().into_owned();
    for line in fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
    {
        if line.contains(&dir) || ids.iter().any(|c| line.contains(c.as_str())) {
            problems.push(format!("mount left: {line}"));
        }
    }
    // With `--network none` podman pins no namespace; one named like podman's would be a leak.
    for ns in pinned_netns() {
        if ns.starts_with("netns-") && !netns_before.contains(&ns) {
            problems.push(format!("pinned netns left: /run/netns/{ns}"));
        }
    }
    let needles: Vec<&str> = ids.iter().map(String::as_str).collect();
    for cg in cgroup_dirs_named(&needles) {
        problems.push(format!("cgroup left: {}", cg.display()));
    }
    let mut removed = 0;
    if let Some(pod) = pod_id {
        for cg in cgroup_dirs_named(&[pod]) {
            match fs::remove_dir(&cg) {
                Ok(()) => removed += 1,
                Err(e) => problems.push(format!("pod cgroup left: {}: {e}", cg.display())),
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} teardown of pod {name}: {}",
            rt.name,
            problems.join("; ")
        );
    }
    Ok(removed)
}

/// podman's store, images and manifest for `nginxphp`, then one untimed probe run per runtime
/// (it also builds podman's pause image): a runtime whose probe fails is left out and returned
/// with the reason, to be reported as not measured.
fn podman_setup(
    work: &Path,
    run: &Path,
    nginx: &NginxSetup,
    crun: &Path,
    runc: &Path,
    hybrid: bool,
    prefix: &str,
) -> Result<(PodmanSetup, Vec<(String, String)>)> {
    let (template, images) = podrt_benches::podman::podman_manifest(&nginx.template);
    let podman = Podman::setup(
        &work.join("podman"),
        &run.join("podman"),
        crun,
        runc,
        hybrid,
        &images,
    )?;
    let all = vec![
        PodmanRuntime {
            name: "podman+crun".into(),
            path: podman.crun_wrapper.clone(),
            state_root: PathBuf::from("/run/crun"),
            wrapper: true,
        },
        PodmanRuntime {
            name: "podman+runc".into(),
            path: runc.to_path_buf(),
            state_root: PathBuf::from("/run/runc"),
            wrapper: false,
        },
    ];
    let mut setup = PodmanSetup {
        podman,
        template,
        runtimes: Vec::new(),
    };
    let mut failed = Vec::new();
    for rt in all {
        setup.runtimes.push(rt);
        let i = setup.runtimes.len() - 1;
        let id = format!("{prefix}-probe-{i}");
        let log = work.join("podman-probe.log");
        if let Err(e) = podman_play(&setup, i, &id, work, &log) {
            let rt = setup.runtimes.pop().expect("just pushed");
            eprintln!("startbench: {} cannot run here: {e:#}", rt.name);
            failed.push((rt.name, format!("{e:#}")));
        }
    }
    Ok((setup, failed))
}

/// Run a runtime command outside any timed region; the error carries its stderr.
fn run_quiet(argv: &[OsString]) -> Result<()> {
    let o = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("run {}", show_argv(argv)))?;
    if !o.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            show_argv(argv),
            o.status,
            String::from_utf8_lossy(&o.stderr).trim_end()
        );
    }
    Ok(())
}

/// Run untimed commands, `parallel` at a time (output of each into its own file under
/// `logs`); one result per command, in order.
fn run_batch(argvs: &[Vec<OsString>], logs: &Path, parallel: usize) -> Vec<Result<()>> {
    let mut out = Vec::with_capacity(argvs.len());
    for (c, chunk) in argvs.chunks(parallel.max(1)).enumerate() {
        let mut running = Vec::new();
        let mut results: Vec<Option<Result<()>>> = Vec::new();
        for (k, argv) in chunk.iter().enumerate() {
            match measure::spawn(argv, &[], &logs.join(format!("batch-{c}-{k}.log"))) {
                Ok(r) => {
                    running.push(r);
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let mut waited = match measure::wait_each(&running) {
            Ok(v) => v.into_iter().map(|r| r.map(|_| ())).collect::<Vec<_>>(),
            Err(e) => running
                .iter()
                .map(|_| Err(anyhow::anyhow!("{e:#}")))
                .collect(),
        }
        .into_iter();
        for r in results {
            out.push(r.unwrap_or_else(|| waited.next().unwrap_or(Ok(()))));
        }
    }
    out
}

/// Stop and delete every container of a `scale` run, then check that none is left: no process
/// below the harness, no state dir under the runtime's root. `kill ID 9` goes first for all of
/// them (a running container makes `runc delete --force` sleep 100 ms after its SIGKILL), the
/// dead inits are reaped (they are the harness's children), then `delete --force` each; both
/// eight at a time, outside the timed region.
fn scale_teardown(rt: &Runtime, ids: &[String], logs: &Path) -> Result<()> {
    let present: Vec<&String> = ids.iter().filter(|c| rt.root.join(c).exists()).collect();
    let kills: Vec<Vec<OsString>> = present
        .iter()
        .map(|c| rt.argv(&["kill", c, "9"], false))
        .collect();
    // A failed kill shows up below as a process or a state dir left behind.
    let _ = run_batch(&kills, logs, 8);
    let alive = procs::wait_until_gone(Duration::from_secs(20), |_| false);
    let mut problems: Vec<String> = alive
        .iter()
        .map(|p| format!("process {} ({}) still running after kill 9", p.pid, p.comm))
        .collect();
    let deletes: Vec<Vec<OsString>> = present
        .iter()
        .map(|c| rt.argv(&["delete", "--force", c], false))
        .collect();
    for r in run_batch(&deletes, logs, 8) {
        if let Err(e) = r {
            problems.push(format!("{e:#}"));
        }
    }
    measure::reap_strays();
    for cid in ids {
        if rt.root.join(cid).exists() {
            problems.push(format!("{}: state of {cid} left under --root", rt.name));
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} teardown of {} containers: {}",
            rt.name,
            ids.len(),
            problems.join("; ")
        );
    }
    Ok(())
}

/// A TCP port nobody listens on right now (bind port 0, read it, close).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Import the nginx-php images into a temp store and prepare the manifest template.
fn nginx_setup(work: &Path, run: &Path, podrt: &Path, ws: &Path) -> Result<NginxSetup> {
    let dir = work.join("nginx");
    fs::create_dir_all(&dir)?;
    let store = dir.join("store");
    let text = fs::read_to_string(ws.join("examples/nginx-php/pod.yml"))
        .context("read examples/nginx-php/pod.yml")?;
    for line in text.lines() {
        if let Some(img) = line.trim().strip_prefix("image: ") {
            let o = Command::new(podrt)
                .arg("image")
                .arg("--image-store")
                .arg(&store)
                .args(["import", img])
                .output()?;
            if !o.status.success() {
                bail!(
                    "import {img}: {}",
                    String::from_utf8_lossy(&o.stderr).trim_end()
                );
            }
        }
    }
    let host_port = free_port()?;
    let template = text
        .replace("name: nginx-php\n  labels", "name: NAME\n  labels")
        .replace("hostPort: 8080", &format!("hostPort: {host_port}"));
    if !template.contains("name: NAME") {
        bail!("examples/nginx-php/pod.yml: could not set the pod name");
    }
    let n = std::process::id() % 250;
    Ok(NginxSetup {
        template,
        store,
        bridge: format!("pn{}", std::process::id()),
        subnet: format!("10.251.{n}.0/24"),
        root: run.join("nginx-pods"),
        host_port,
    })
}

/// Whether a pod's `pod.json` says the pod and every app are running.
fn pod_running(state: &Path) -> bool {
    let Ok(text) = fs::read(state) else {
        return false;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return false;
    };
    if v.get("phase").and_then(|p| p.as_str()) != Some("running") {
        return false;
    }
    v.get("apps")
        .and_then(|a| a.as_array())
        .is_some_and(|apps| {
            apps.len() == 2
                && apps
                    .iter()
                    .all(|a| a.get("state").and_then(|s| s.as_str()) == Some("running"))
        })
}

/// Run a setup command; fail with its stderr unless it exits 0.
fn setup_step(argv: &[&str]) -> Result<()> {
    let o = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .with_context(|| format!("run {}", argv.join(" ")))?;
    if !o.status.success() {
        bail!(
            "`{}` failed: {}",
            argv.join(" "),
            String::from_utf8_lossy(&o.stderr).trim_end()
        );
    }
    Ok(())
}

/// The busybox image of the pod scenarios, outside every timed region: a umoci layout with the
/// same rootfs as the bundles, imported into a temp podrt image store.
fn pod_image_setup(work: &Path, busybox: &Path, podrt: &Path) -> Result<PodImage> {
    let dir = work.join("podimage");
    fs::create_dir_all(&dir)?;
    let bundle = bundle::build_busybox_bundle(&dir, busybox, podrt, &["sleep", "3600"])?;
    let layout = dir.join("layout");
    let tagged = format!("{}:busybox", layout.display());
    let unpacked = dir.join("unpacked");
    let (tagged_s, unpacked_s) = (tagged.as_str(), unpacked.to_string_lossy().into_owned());
    setup_step(&["umoci", "init", "--layout", &layout.to_string_lossy()])?;
    setup_step(&["umoci", "new", "--image", tagged_s])?;
    setup_step(&["umoci", "unpack", "--image", tagged_s, &unpacked_s])?;
    let o = Command::new("cp")
        .arg("-a")
        .arg(bundle.join("rootfs/."))
        .arg(unpacked.join("rootfs"))
        .status()?;
    if !o.success() {
        bail!("copy the rootfs into the umoci bundle failed");
    }
    setup_step(&["umoci", "repack", "--image", tagged_s, &unpacked_s])?;
    setup_step(&[
        "umoci",
        "config",
        "--image",
        tagged_s,
        "--config.cmd",
        "/bin/sh",
        "--config.env",
        "PATH=/bin",
    ])?;
    fs::remove_dir_all(&unpacked)?;
    let store = dir.join("store");
    let image = format!("oci:{tagged}");
    setup_step(&[
        &podrt.to_string_lossy(),
        "image",
        "--image-store",
        &store.to_string_lossy(),
        "import",
        &image,
    ])?;
    Ok(PodImage { store, image })
}

/// Build what `pod2` needs besides the image, outside every timed region: a `sleep 3600` bundle
/// for the OCI peers and the pinned netns they join.
fn pod2_setup(
    work: &Path,
    run: &Path,
    busybox: &Path,
    podrt: &Path,
    prefix: &str,
) -> Result<Pod2Setup> {
    let dir = work.join("pod2");
    fs::create_dir_all(&dir)?;
    let bundle = bundle::build_busybox_bundle(&dir, busybox, podrt, &["sleep", "3600"])?;
    // The pinned netns the OCI peers join.
    let netns_name = format!("{prefix}-pod2");
    setup_step(&["ip", "netns", "add", &netns_name])?;
    let path = bundle.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&fs::read(&path)?)?;
    let nss = config
        .pointer_mut("/linux/namespaces")
        .and_then(|n| n.as_array_mut())
        .context("config.json has no linux.namespaces")?;
    for ns in nss.iter_mut() {
        if ns.get("type").and_then(|t| t.as_str()) == Some("network") {
            ns["path"] = serde_json::json!(format!("/run/netns/{netns_name}"));
        }
    }
    fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
    let n = std::process::id() % 250;
    Ok(Pod2Setup {
        bundle,
        netns_name,
        bridge: format!("pb{}", std::process::id()),
        subnet: format!("10.250.{n}.0/24"),
        root: run.join("pod2-pods"),
    })
}

/// Stop any pod of `pods` left behind and check the bridge is gone.
fn pods_clean(bench: &Bench) -> Vec<String> {
    let Some(ps) = &bench.pods else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    stop_leftover_pods(&bench.runtimes[0].bin, &ps.root, &mut problems);
    if link_exists(&ps.bridge) {
        problems.push(format!("bridge {} left behind", ps.bridge));
    }
    problems
}

/// Remove every pod podman still holds; report leftovers.
fn podman_clean(bench: &Bench) -> Vec<String> {
    let Some(pm) = &bench.podman else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    // The harness never creates a podman network; a network config (netavark `.json`, CNI
    // `.conflist`) in podman's config dir would be a leak (podman keeps a `cni.lock` there).
    if let Ok(rd) = fs::read_dir(pm.podman.dir.join("networks")) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") || name.ends_with(".conflist") {
                problems.push(format!("podman network config left: {name}"));
            }
        }
    }
    let ids = pm.podman.container_ids();
    if !ids.is_empty() {
        problems.push(format!(
            "podman containers still there; removing them: {ids:?}"
        ));
        let runtime = pm
            .runtimes
            .first()
            .map_or_else(|| PathBuf::from("runc"), |r| r.path.clone());
        if let Err(e) = pm
            .podman
            .run(&runtime, &["pod", "rm", "--all", "--force", "--time", "0"])
        {
            problems.push(format!("{e:#}"));
        }
    }
    problems
}

/// What the benchmarks must leave as they found it: IP forwarding and the nftables ruleset
/// (iptables is the nf_tables flavour here, so its rules show up too).
fn host_net_state() -> String {
    let mut s = String::new();
    for f in [
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/net/ipv6/conf/all/forwarding",
    ] {
        s.push_str(&format!(
            "{f} = {}\n",
            fs::read_to_string(f).unwrap_or_default().trim()
        ));
    }
    let nft = Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    s.push_str(&nft);
    s
}

/// Stops every pod still recorded under `root` (each one is a problem to report).
fn stop_leftover_pods(podrt: &Path, root: &Path, problems: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(root.join("pods")) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        problems.push(format!("pod {name} still there; stopping it"));
        let _ = Command::new(podrt)
            .arg("--root")
            .arg(root)
            .args(["pod", "stop", &name])
            .output();
    }
}

/// Whether a network interface of that name exists on the host.
fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Stop any nginx pod left and check its bridge is gone.
fn nginx_clean(bench: &Bench) -> Vec<String> {
    let Some(n) = &bench.nginx else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    stop_leftover_pods(&bench.runtimes[0].bin, &n.root, &mut problems);
    let links = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if links.contains(&format!(" {}:", n.bridge)) {
        problems.push(format!("bridge {} left behind", n.bridge));
    }
    problems
}

/// Remove the pinned netns and anything pods left; report leaks of the bridge and netns.
fn pod2_clean(bench: &Bench) -> Vec<String> {
    let Some(p2) = &bench.pod2 else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    stop_leftover_pods(&bench.runtimes[0].bin, &p2.root, &mut problems);
    let ok = Command::new("ip")
        .args(["netns", "del", &p2.netns_name])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        problems.push(format!("ip netns del {} failed", p2.netns_name));
    }
    let links = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if links.contains(&format!(" {}:", p2.bridge)) || links.contains(&format!(" {}@", p2.bridge)) {
        problems.push(format!("bridge {} left behind", p2.bridge));
    }
    if Path::new("/run/netns").join(&p2.netns_name).exists() {
        problems.push(format!("netns {} left behind", p2.netns_name));
    }
    problems
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Parse podrt's `{"timings_us":{...}}` line from a log into `cmd.phase` → ms.
fn read_timings(log: &Path, cmd: &str, into: &mut BTreeMap<String, f64>) -> Result<()> {
    let text = fs::read_to_string(log)?;
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with("{\"timings_us\""))
        .with_context(|| format!("podrt {cmd} printed no timings line; output:\n{text}"))?;
    let v: serde_json::Value = serde_json::from_str(line).context("parse the timings line")?;
    if let Some(map) = v.get("timings_us").and_then(|m| m.as_object()) {
        for (phase, us) in map {
            let us = us.as_u64().context("timings value is not an integer")?;
            into.insert(format!("{cmd}.{phase}"), ms(Duration::from_micros(us)));
        }
    }
    Ok(())
}

/// How a timed run is preceded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prime {
    /// By whatever ran before it in the round.
    No,
    /// By an untimed run of the same peer, right before: each peer finds its own files in the
    /// page cache (see `nginx_description` for why this machine needs it).
    SamePeer,
}

/// Run every peer once per round, in a fresh random order each round (so no peer always follows
/// the same one: namespace and cgroup teardown left behind by one run slows the next), and keep
/// the counted rounds.
#[allow(clippy::too_many_arguments)]
fn run_scenario(
    bench: &Bench,
    rng: &mut Rng,
    name: &str,
    description: &str,
    peers: &[Peer],
    warmup: u32,
    runs: u32,
    prime: Prime,
) -> Result<ScenarioResult> {
    let mut results: Vec<PeerResult> = peers
        .iter()
        .map(|p| PeerResult {
            name: p.name.clone(),
            command: bench.describe(p),
            floor: p.floor,
            samples: Vec::new(),
        })
        .collect();
    let rounds = warmup + runs;
    let t0 = Instant::now();
    let mut prev: Option<usize> = None;
    for round in 0..rounds {
        let counted = round >= warmup;
        for idx in rng.permutation(peers.len()) {
            if measure::interrupted() {
                bail!("interrupted");
            }
            let p = &peers[idx];
            let tag = if counted {
                format!("{}", round - warmup)
            } else {
                format!("w{round}")
            };
            let peer_id: String = p
                .name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let id = format!("{}-{}-{}-{}", bench.id_prefix, name, peer_id, tag);
            if prime == Prime::SamePeer {
                bench
                    .once(p, &format!("{id}-p"))
                    .with_context(|| format!("scenario {name}, peer {}, priming {tag}", p.name))?;
                prev = Some(idx);
            }
            let mut sample = bench
                .once(p, &id)
                .with_context(|| format!("scenario {name}, peer {}, round {tag}", p.name))?;
            sample.after = prev.map(|i| peers[i].name.clone());
            prev = Some(idx);
            if counted {
                results[idx].samples.push(sample);
            }
        }
        measure::reap_strays();
        eprint!(
            "\r{name}: round {}/{rounds} ({:.0} s)   ",
            round + 1,
            t0.elapsed().as_secs_f64()
        );
    }
    eprintln!();
    Ok(ScenarioResult {
        name: name.to_string(),
        description: description.to_string(),
        peers: results,
        not_measured: Vec::new(),
    })
}

/// Absolute path of a program (as given if it has a slash, else found on PATH).
fn which(prog: &Path) -> Result<PathBuf> {
    let p = measure::resolve(prog).with_context(|| format!("{} not found", prog.display()))?;
    p.canonicalize()
        .with_context(|| format!("{} not found", p.display()))
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or(manifest.clone(), Path::to_path_buf)
}

/// The podrt binary: the given one, or a fresh release build of the workspace's.
fn podrt_binary(args: &Args, ws: &Path) -> Result<PathBuf> {
    if let Some(p) = &args.podrt {
        return which(p);
    }
    // The binary podrt ships: static musl, non-PIE, fat LTO (see the script).
    eprintln!("building podrt (scripts/build-release)...");
    let out = Command::new(ws.join("scripts/build-release"))
        .current_dir(ws)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("run scripts/build-release")?;
    if !out.status.success() {
        bail!("building podrt failed (pass --podrt PATH to use an existing binary)");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let bin = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    if !bin.is_file() {
        bail!(
            "scripts/build-release printed {:?}, not a binary",
            stdout.trim()
        );
    }
    Ok(bin)
}

/// Cgroup directories and mounts our containers left behind.
fn leak_check(prefix: &str, work: &Path) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, depth: u32, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if e.file_name().to_string_lossy().contains(prefix) {
                out.push(format!("cgroup left behind: {}", p.display()));
            } else if depth > 0 {
                walk(&p, prefix, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), prefix, 5, &mut out);
    let work = work.to_string_lossy();
    for line in fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
    {
        if line.contains(work.as_ref()) {
            out.push(format!("mount left behind: {line}"));
        }
    }
    out
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("startbench: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let args = Args::parse();
    const SCENARIOS: [&str; 8] = [
        "run",
        "lifecycle",
        "floors",
        "pod2",
        "scale",
        "pods",
        "vmboot",
        "nginxphp",
    ];
    for s in &args.scenarios {
        if !SCENARIOS.contains(&s.as_str()) {
            bail!("unknown scenario {s:?}: use {}", SCENARIOS.join(", "));
        }
    }
    let want = |s: &str| args.scenarios.iter().any(|x| x == s);
    if !is_root() {
        bail!("startbench needs root (the runtimes create cgroups and namespaces)");
    }
    let ws = workspace_root();
    let out_dir = args.out.clone().unwrap_or_else(|| ws.join("docs"));
    let podrt = podrt_binary(&args, &ws)?;
    let runc = which(&args.runc)?;
    let crun = which(&args.crun)?;
    let busybox = args
        .busybox
        .canonicalize()
        .with_context(|| format!("{} not found", args.busybox.display()))?;
    let machine = Machine::detect();
    let hybrid = machine.cgroup == CgroupMode::Hybrid;

    measure::set_child_subreaper().context("become child subreaper")?;
    measure::catch_interrupts();
    let tmp = tempfile::Builder::new()
        .prefix("startbench.")
        .tempdir()
        .context("create the temp dir")?;
    let work = tmp.path().to_path_buf();
    // The runtimes keep their state on a tmpfs, as under `/run` on most hosts (see
    // report::write_method for why it matters on this machine's ext4).
    let run_fs = machine::Tmpfs::mount(&work.join("run"), "4g")?;
    let run = run_fs.path().to_path_buf();
    let bundle = bundle::build_busybox_bundle(&work, &busybox, &podrt, &["/bin/true"])?;
    let id_prefix = format!("sb{}", std::process::id());
    let runtimes = vec![
        Runtime {
            name: "podrt",
            bin: podrt.clone(),
            root: run.join("root-podrt"),
            wrap: false,
            timings: true,
        },
        Runtime {
            name: "crun",
            bin: crun.clone(),
            root: run.join("root-crun"),
            wrap: hybrid,
            timings: false,
        },
        Runtime {
            name: "runc",
            bin: runc.clone(),
            root: run.join("root-runc"),
            wrap: false,
            timings: false,
        },
    ];
    let mut bench = Bench {
        runtimes,
        bundle,
        work: work.clone(),
        id_prefix: id_prefix.clone(),
        pod2: None,
        sleep_bundle: None,
        qemu: None,
        nginx: None,
        pod_image: None,
        pods: None,
        podman: None,
        podman_not_measured: Vec::new(),
    };
    let net_before = host_net_state();
    let cgroup_inodes_before = machine::cgroup_tmpfs_inodes();
    if want("vmboot") {
        let kernel = podrt_benches::vm::find_kernel()?;
        let initrd = podrt_benches::vm::build_initramfs(&work, &busybox)?;
        bench.qemu = Some(podrt_benches::vm::qemu_argv(&kernel, &initrd));
    }
    if want("scale") {
        bench.sleep_bundle = Some(bundle::build_busybox_bundle(
            &work.join("scale"),
            &busybox,
            &podrt,
            &["sleep", "3600"],
        )?);
    }
    let setup = (|| -> Result<()> {
        if want("pod2") || want("pods") {
            bench.pod_image =
                Some(pod_image_setup(&work, &busybox, &podrt).context("pod image setup")?);
        }
        if want("pod2") {
            bench.pod2 =
                Some(pod2_setup(&work, &run, &busybox, &podrt, &id_prefix).context("pod2 setup")?);
        }
        if want("pods") {
            let n = std::process::id() % 250;
            bench.pods = Some(PodsSetup {
                root: run.join("pods"),
                bridge: format!("pq{}", std::process::id()),
                subnet: format!("10.252.{n}.0/24"),
            });
        }
        if want("nginxphp") {
            let n = nginx_setup(&work, &run, &podrt, &ws).context("nginxphp setup")?;
            eprintln!("setting up podman (images, then one probe run per runtime)...");
            match podman_setup(&work, &run, &n, &crun, &runc, hybrid, &id_prefix) {
                Ok((pm, failed)) => {
                    bench.podman_not_measured = failed;
                    bench.podman = Some(pm);
                }
                Err(e) => {
                    let why = format!("podman setup failed: {e:#}");
                    eprintln!("startbench: {why}");
                    bench.podman_not_measured = vec![
                        ("podman+crun".into(), why.clone()),
                        ("podman+runc".into(), why),
                    ];
                }
            }
            bench.nginx = Some(n);
        }
        Ok(())
    })();

    let started = std::time::SystemTime::now();
    let load_before = machine::loadavg();
    let result = match setup {
        Err(e) => Err(e),
        Ok(()) => run_all(&bench, &args, hybrid, want),
    };
    let load_after = machine::loadavg();
    let work_fs = machine::fs_type(&work);
    // Clean up whatever happened.
    let mut problems = pod2_clean(&bench);
    problems.extend(pods_clean(&bench));
    problems.extend(nginx_clean(&bench));
    problems.extend(podman_clean(&bench));
    for rt in &bench.runtimes {
        problems.extend(rt.clean());
    }
    if let Err(e) = run_fs.unmount() {
        problems.push(format!("unmount the state tmpfs {}: {e}", run.display()));
    }
    problems.extend(leak_check(&id_prefix, &work));
    if let (Some(before), Some(after)) = (cgroup_inodes_before, machine::cgroup_tmpfs_inodes()) {
        if after > before {
            problems.push(format!(
                "{} files or directories were left in the /sys/fs/cgroup tmpfs, hidden under \
                 its mount points ({before} inodes in use before the run, {after} after)",
                after - before
            ));
        }
    }
    let net_after = host_net_state();
    if net_after != net_before {
        problems.push(format!(
            "the host's network settings changed during the run:\nbefore:\n{net_before}\nafter:\n{net_after}"
        ));
    }
    for p in procs::wait_until_gone(Duration::from_secs(10), |_| false) {
        problems.push(format!("process left: {} ({})", p.pid, p.comm));
    }
    let strays = measure::reap_strays();
    if let Err(e) = tmp.close() {
        problems.push(format!("remove {}: {e}", work.display()));
    }
    for p in &problems {
        eprintln!("startbench: cleanup: {p}");
    }
    let scenarios = result?;
    if strays > 0 {
        eprintln!("startbench: reaped {strays} stray processes at the end");
    }

    fs::create_dir_all(&out_dir).with_context(|| format!("create {}", out_dir.display()))?;
    let plot_files = plot::write_scenario_svgs(&out_dir, &scenarios).context("write the plots")?;
    let mut cmdline = String::from("cargo run --release -p podrt-benches --bin startbench --");
    for a in std::env::args_os().skip(1) {
        cmdline.push(' ');
        cmdline.push_str(&show_argv(&[a]));
    }
    let ctx = report::Context {
        machine,
        date: humantime::format_rfc3339_seconds(started).to_string(),
        duration_s: started.elapsed().map_or(0.0, |d| d.as_secs_f64()),
        versions: vec![
            (
                "podrt".into(),
                format!(
                    "{} (workspace {}; {})",
                    machine::version_line(&podrt, &["--version"]),
                    machine::git_describe(&ws),
                    podrt.display()
                ),
            ),
            (
                "runc".into(),
                format!(
                    "{} ({})",
                    machine::version_line(&runc, &["--version"]),
                    runc.display()
                ),
            ),
            (
                "crun".into(),
                format!(
                    "{} ({})",
                    machine::version_line(&crun, &["--version"]),
                    crun.display()
                ),
            ),
            (
                "unshare".into(),
                machine::version_line(Path::new("unshare"), &["--version"]),
            ),
            ("busybox".into(), machine::version_line(&busybox, &[])),
        ],
        command: cmdline,
        runs: args.runs,
        warmup: args.warmup,
        crun_wrapped: hybrid,
        seed: args.seed,
        load_before,
        load_after,
        work_fs,
        podrt_binary_mib: fs::metadata(&podrt)
            .map_or(f64::NAN, |m| machine::kib_to_mib(m.len() / 1024)),
        cleanup_problems: problems,
        plot_files: plot_files.clone(),
    };
    let md = report::markdown(&ctx, &scenarios);
    let md_path = out_dir.join("benchmarks.md");
    fs::write(&md_path, md).with_context(|| format!("write {}", md_path.display()))?;
    eprint!("{}", report::terminal_summary(&scenarios));
    eprintln!(
        "wrote {} and {}",
        md_path.display(),
        plot_files
            .iter()
            .map(|(_, f)| out_dir.join(f).display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The floors: the crun wrapper alone (hybrid hosts), the podrt binary doing nothing,
/// `unshare` with the bundle's six namespaces, and a bare exec.
fn floor_peers(bench: &Bench, hybrid: bool, with_podrt: bool) -> Vec<Peer> {
    let exec = |name: &str, argv: Vec<OsString>| Peer {
        name: name.into(),
        floor: true,
        action: Action::Exec(argv),
    };
    let mut v = Vec::new();
    if hybrid {
        let mut argv = wrapper_prefix();
        argv.push("/bin/true".into());
        v.push(exec("crun-wrapper", argv));
    }
    if with_podrt {
        v.push(exec(
            "podrt --version",
            vec![bench.runtimes[0].bin.clone().into(), "--version".into()],
        ));
    }
    v.push(exec(
        "unshare",
        [
            "unshare",
            "--fork",
            "--pid",
            "--mount",
            "--uts",
            "--ipc",
            "--net",
            "--cgroup",
            "/bin/true",
        ]
        .iter()
        .map(OsString::from)
        .collect(),
    ));
    v.push(exec("exec-true", vec!["/bin/true".into()]));
    v
}

/// `podrt seq N=10`: the name of a `scale` peer (also what the report looks up).
fn scale_peer_name(runtime: &str, concurrent: bool, n: usize) -> String {
    format!(
        "{runtime} {} N={n}",
        if concurrent { "conc" } else { "seq" }
    )
}

/// What `podrt run --detach` did in `pod2`: returned once the pod was up, or stayed.
fn detach_note(sc: &ScenarioResult) -> String {
    let Some(p) = sc.peer("podrt") else {
        return String::new();
    };
    let returned = p.extras("detach_returned");
    let all = !returned.is_empty() && returned.iter().all(|&r| r > 0.5);
    if all {
        let at = p.extra_median("detach_return_ms").unwrap_or(f64::NAN);
        format!(
            " `podrt run --detach` itself returned in every run, {at:.2} ms after spawn \
             (median), once its monitor had reported the pod started; the clock still stops \
             at `pod.json`, which the monitor saves just before that report."
        )
    } else {
        format!(
            "\n\n**`run --detach` did not return** in {} of {} runs within 5 s of the pod \
             running (an older podrt kept its parent until the pod ended); the harness ends such \
             a parent by its PID after `pod stop`.",
            returned.iter().filter(|&&r| r < 0.5).count(),
            returned.len()
        )
    }
}

/// The `nginxphp` method text, podman's part included when podman was set up.
fn nginx_description(bench: &Bench) -> String {
    let mut d = String::from(
        "The reference pod (examples/nginx-php/pod.yml: php-fpm + nginx from a Debian \
         bookworm image, probes, resource limits, a hostPort), timed from spawning the command \
         to the first HTTP 200 of `/index.php` whose body carries php's page (nginx → php-fpm \
         over 127.0.0.1:9000 inside the pod). The HTTP client is the harness's own (plain \
         `TcpStream`, HTTP/1.0, one try every 2 ms). Every timed run of every peer (the \
         floor too) comes right after an untimed run of the same peer, started and torn down \
         the same way: this machine runs a DAMON `pageout` scheme (kdamond, set up outside this \
         project) that evicts page-cache pages no process maps once they look idle for about \
         30 s (its region-level sampling is coarse: files the harness reads every few seconds \
         were evicted too; unprimed, podrt's median here was 41–46 ms, primed 21 ms). By hand, a \
         podrt run 40 s after the previous one re-read about 16,500 pages (65 MiB, \
         `workingset_refault_file` in /proc/vmstat) and reached its 200 in 67–75 ms; right \
         after one, none and 22–23 ms. Without the untimed run, how much of each peer's \
         binaries and image files had been evicted since its last run decided the result.\n\n\
         - **podrt**: `podrt run --detach`, fetched from the pod IP over podrt's bridge (from \
         the host, the IP read from `pod.json`).\n",
    );
    let Some(pm) = &bench.podman else {
        d.push_str("- **podman**: not measured on this machine (see below).\n");
        return d;
    };
    d.push_str(&format!(
        "- **podman+crun, podman+runc**: `podman kube play --network none` ({}, conmon, overlay \
         storage, cgroupfs, every store in the temp dir) of a copy of the same manifest with two \
         changes: the image references name the same two images, copied from the same OCI \
         layout into podman's store with `skopeo copy` (`localhost/podrt-bench/nginx:bench`, \
         `localhost/podrt-bench/php-fpm:bench`), and the `ports:` lists are gone. The probe \
         connects to 127.0.0.1:80 *inside the pod's network namespace*: the harness joins it \
         with `setns` just for the `connect`, having found it as `/proc/PID/ns/net` of the \
         first container whose pid file the runtime has written into podman's runroot (the \
         infra container, which holds the pod's namespaces). Why this network setup:\n\
         \x20 - podman 4.3 publishes ports only on a bridge (or slirp4netns) network; with \
         `--network none` it refuses every `containerPort`, `hostPort` or not (\"PortMappings \
         can only be used with Bridge or slirp4netns networking\"), hence the removed `ports:` \
         lists (the probes' named port `http` is then unresolved; podman runs no probe here, \
         see below).\n\
         \x20 - a bridge network, even one made with `podman network create --internal`, \
         makes netavark 1.4 set `net.ipv4.ip_forward=1` (seen in a throwaway network \
         namespace), a host-wide change this shared machine does not allow; its internal \
         bridge also got no host address, so the host could not have reached the pod IP.\n\
         \x20 - `--network ns:/run/netns/NAME` (a namespace the harness would pin) is refused \
         for pods by podman 4.3 (\"pods presently do not support network mode path\").\n\
         \x20 - the net effect: podman's pod gets a namespace with only loopback, while \
         podrt's run builds a netns, a veth into its bridge, an IP and the hostPort mapping; \
         the comparison favours podman.\n\
         - podman turns the manifest's liveness probes into healthchecks driven by systemd \
         timers; without systemd on this host it logs an error and runs none, while podrt runs \
         its probes.\n\
         - crun: podman's `--runtime` is `$WORK/podman/bin/crun`, a wrapper *named* `crun` \
         (podman hands JSON-log flags only to runtimes whose name it knows) that appends its \
         arguments to a log and execs the real crun through the same private-mount-namespace \
         wrapper as everywhere else. Every run checks that podman called it and that each of \
         the pod's containers had its state under `/run/crun` (`/run/runc` for runc). Each \
         call costs about one `crun-wrapper` floor: the `podman+crun − wrapper calls` row \
         subtracts (calls made before the first 200) × (the same round's floor).\n\
         - Teardown, untimed: `podman pod rm --force --time 0 NAME`, then checks that no \
         process is left below the harness (conmon and podman's cleanup helpers end up \
         there), no container in podman's store, no runtime state, no mount, no new pinned \
         `netns-*` namespace, no cgroup named after a container. podman leaves the pod's own \
         cgroup dir, empty, in `name=systemd` (and in the cgroup2 mount with runc); the \
         harness removes those and counts them below. No podman network is created (its \
         config dir is checked empty at the end). `net.ipv4.ip_forward` is compared before \
         and after every podman run, IP forwarding and the nftables ruleset before and after \
         the whole benchmark.\n\
         - Before the rounds, one untimed run per podman runtime (it also builds podman's \
         pause image); a runtime that fails it is reported as not measured, with the reason. \
         A failure after that aborts the benchmark like any other.\n",
        pm.podman.version
    ));
    d
}

fn run_all(
    bench: &Bench,
    args: &Args,
    hybrid: bool,
    want: impl Fn(&str) -> bool,
) -> Result<Vec<ScenarioResult>> {
    let runtimes = || 0..bench.runtimes.len();
    let mut rng = Rng::new(args.seed);
    let rng = &mut rng;
    let mut out = Vec::new();
    if want("run") {
        let mut peers: Vec<Peer> = runtimes()
            .map(|i| Peer {
                name: bench.runtimes[i].name.into(),
                floor: false,
                action: Action::Run(i),
            })
            .collect();
        if want("floors") {
            peers.extend(floor_peers(bench, hybrid, true));
        } else if hybrid {
            // The wrapper is part of crun's number: always measure it beside.
            peers.extend(floor_peers(bench, hybrid, false).into_iter().take(1));
        }
        out.push(run_scenario(
            bench,
            rng,
            "run",
            "`RUNTIME run ID`, timed from fork to exit: create, start, wait for /bin/true, \
             delete, all inside one runtime process.",
            &peers,
            args.warmup,
            args.runs,
            Prime::No,
        )?);
    } else if want("floors") {
        out.push(run_scenario(
            bench,
            rng,
            "floors",
            "Kernel, binary and wrapper floors alone.",
            &floor_peers(bench, hybrid, true),
            args.warmup,
            args.runs,
            Prime::No,
        )?);
    }
    if want("lifecycle") {
        let mut peers: Vec<Peer> = runtimes()
            .map(|i| Peer {
                name: bench.runtimes[i].name.into(),
                floor: false,
                action: Action::Lifecycle(i),
            })
            .collect();
        if hybrid {
            // crun's `create` runs under the wrapper: measure it in the same rounds.
            peers.extend(floor_peers(bench, hybrid, false).into_iter().take(1));
        }
        out.push(run_scenario(
            bench,
            rng,
            "lifecycle",
            "`create` → `start` → wait for the init to exit (pidfd from `--pid-file`) → \
             `delete`, timed as one unit: three runtime processes, the way containerd's shim \
             drives a runtime.",
            &peers,
            args.warmup,
            args.runs,
            Prime::No,
        )?);
    }
    if want("pod2") {
        let mut peers = vec![Peer {
            name: "podrt".into(),
            floor: false,
            action: Action::Pod2,
        }];
        peers.extend(runtimes().map(|i| Peer {
            name: format!("{} ×2", bench.runtimes[i].name),
            floor: false,
            action: Action::Pair(i),
        }));
        if hybrid {
            peers.extend(floor_peers(bench, hybrid, false).into_iter().take(1));
        }
        let mut sc = run_scenario(
            bench,
            rng,
            "pod2",
            "Two busybox containers running `sleep 3600` that share one network namespace, \
             timed from spawn until both run. `podrt` (the pod): `podrt run --detach pod.yml` builds \
             the whole pod (pinned ipc/uts namespaces, its own netns, veth into a bridge, an IP, \
             two overlay rootfs from the image store, two apps) and is timed until its \
             `pod.json` says the pod and both apps are `running` (polled every 0.2 ms). \
             `RUNTIME ×2`: `create` + `start` of container a, then of container b, both joining \
             a network namespace pinned before the rounds (no interfaces, no IP, no image: a \
             plain bundle directory), timed until the second `start` returns. Teardown (`pod \
             stop`; `kill` + `delete --force`) is outside the timed region. crun's two \
             `create`s go through the wrapper, so the `crun ×2 − 2 × wrapper` row subtracts it \
             twice. podrt's CPU and RSS are not shown: the pod's monitor is not a process the \
             harness waits for.",
            &peers,
            args.warmup,
            args.runs,
            Prime::No,
        )?;
        sc.description.push_str(&detach_note(&sc));
        out.push(sc);
    }
    if want("scale") {
        let mut peers = Vec::new();
        for concurrent in [false, true] {
            for n in SCALE_NS {
                for i in runtimes() {
                    peers.push(Peer {
                        name: scale_peer_name(bench.runtimes[i].name, concurrent, n),
                        floor: false,
                        action: Action::Scale {
                            rt: i,
                            n,
                            concurrent,
                        },
                    });
                }
            }
        }
        out.push(run_scenario(
            bench,
            rng,
            "scale",
            &format!(
                "N = {} containers running `sleep 3600` (own namespaces) with `podrt run \
                 --detach` / `runc run -d` / `crun run -d` (crun through its wrapper), in two \
                 modes: **seq** starts them one after another, **conc** launches all N runtime \
                 processes at once (N forks back to back, then wait for every one). The clock \
                 runs from the first fork until the last runtime process has exited 0 (each \
                 container running); the number is the **mean time per container** (total / \
                 N). CPU is the sum and peak RSS the largest `ru_maxrss` of the N runtime \
                 processes. With all N running, the harness (a child subreaper, so every \
                 process a runtime leaves behind is reparented below it) reads the PSS and RSS \
                 of every process below it from `/proc/PID/smaps_rollup`, and the host's \
                 `MemAvailable` before the first start and with all N up. Then, untimed, `kill \
                 ID 9` for all, reap, `delete --force` for all, and a check that no process \
                 and no state dir is left (a leak aborts the benchmark). Every (runtime, mode, \
                 N) triple is one peer, interleaved and shuffled like the rest.",
                SCALE_NS.map(|n| n.to_string()).join(", ")
            ),
            &peers,
            args.warmup.min(1),
            args.scale_runs,
            Prime::No,
        )?);
    }
    if want("pods") {
        let peers: Vec<Peer> = PODS_NS
            .iter()
            .map(|&n| Peer {
                name: format!("podrt N={n}"),
                floor: false,
                action: Action::Pods(n),
            })
            .collect();
        let ps = bench.pods.as_ref().expect("pods setup");
        out.push(run_scenario(
            bench,
            rng,
            "pods",
            &format!(
                "N = {} podrt pods (the two-container busybox pod of `pod2`, each with its own \
                 netns, veth, IP from {} on the bench's bridge, two overlay rootfs) started one \
                 after another while the earlier ones keep running. Each pod is timed from \
                 spawning `podrt run --detach` until its `pod.json` says the pod and both apps \
                 are running; the next starts once that `run --detach` has returned. The \
                 number is the **mean time per pod**; the table below gives each pod's time by \
                 its index. With all N up: PSS and RSS of every process the pods hold (their \
                 monitors and containers, all below the subreaper harness) and the drop of \
                 `MemAvailable`, per pod. Then, untimed, `pod stop` for each and a check that \
                 no process, pod dir, pinned netns or veth on the bridge is left (a leak aborts \
                 the benchmark).",
                PODS_NS.map(|n| n.to_string()).join(", "),
                ps.subnet
            ),
            &peers,
            args.warmup.min(1),
            args.pods_runs,
            Prime::No,
        )?);
    }
    if want("vmboot") {
        let mut peers = vec![Peer {
            name: "VM boot (TCG)".into(),
            floor: false,
            action: Action::VmBoot,
        }];
        peers.extend(runtimes().take(2).map(|i| Peer {
            name: bench.runtimes[i].name.into(),
            floor: false,
            action: Action::Run(i),
        }));
        out.push(run_scenario(
            bench,
            rng,
            "vmboot",
            "A VM boot to a userspace marker: qemu, q35 machine, TCG (software emulation), 1 \
             vCPU, 512 MiB, Debian's stock 6.1 kernel (bzImage) and a 2 MiB initramfs whose \
             `/init` prints a marker and powers off. KVM cannot boot a stock kernel on this host \
             (`/dev/kvm` is a nested software module: `-cpu host` aborts on MSR 0x10a, other \
             models hang), so this is the TCG number, not what a microVM costs on real \
             hardware (Firecracker promises guest init within 125 ms under KVM). `podrt` and \
             `crun` run the `/bin/true` bundle (`RUNTIME run ID`, as in scenario `run`) in the \
             same rounds, for scale.",
            &peers,
            0,
            args.vm_runs,
            Prime::No,
        )?);
    }
    if want("nginxphp") {
        let mut peers = vec![Peer {
            name: "podrt".into(),
            floor: false,
            action: Action::NginxPhp,
        }];
        if let Some(pm) = &bench.podman {
            peers.extend(pm.runtimes.iter().enumerate().map(|(i, r)| Peer {
                name: r.name.clone(),
                floor: false,
                action: Action::PodmanPlay(i),
            }));
            if hybrid && pm.runtimes.iter().any(|r| r.wrapper) {
                peers.extend(floor_peers(bench, hybrid, false).into_iter().take(1));
            }
        }
        let mut sc = run_scenario(
            bench,
            rng,
            "nginxphp",
            &nginx_description(bench),
            &peers,
            1,
            args.nginx_runs,
            Prime::SamePeer,
        )?;
        sc.not_measured.clone_from(&bench.podman_not_measured);
        out.push(sc);
    }
    Ok(out)
}
