//! `startbench`: end-to-end start latency of `podrt` against `runc`, `crun` and kernel floors,
//! on one busybox `/bin/true` bundle, peers interleaved round by round; opt-in scenarios add a
//! two-container pod, N detached starts, a TCG VM boot and the nginx-php example pod. Writes
//! `docs/benchmarks.md` and `docs/start-latency.svg`.
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
use podrt_benches::stats::Rng;
use podrt_benches::{bundle, plot, report};

/// The script crun runs under on a hybrid host: a private mount namespace without the cgroup2
/// mount that makes crun refuse the host (host mounts stay untouched).
const CRUN_WRAPPER: &str = "umount /sys/fs/cgroup/unified; exec \"$@\"";

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
    /// two-container pod vs two containers joining a pinned netns), `scale` (N = 1, 10, 50
    /// detached starts), `vmboot` (qemu TCG boot to a marker), `nginxphp` (the example pod to
    /// its first HTTP 200)
    #[arg(long, value_delimiter = ',', default_value = "run,lifecycle,floors")]
    scenarios: Vec<String>,
    /// Counted rounds of the `scale` scenario (each round starts 61 containers per runtime)
    #[arg(long, default_value_t = 5)]
    scale_runs: u32,
    /// Counted rounds of the `vmboot` scenario (seconds each)
    #[arg(long, default_value_t = 5)]
    vm_runs: u32,
    /// Counted rounds of the `nginxphp` scenario
    #[arg(long, default_value_t = 10)]
    nginx_runs: u32,
    /// Where benchmarks.md and start-latency.svg go
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
    /// `run --detach` (`run -d`) of N `sleep` containers one after another.
    Scale(usize, usize),
    /// qemu (TCG) boot of the 6.1 kernel to the initramfs marker.
    VmBoot,
    /// `podrt run --detach` of examples/nginx-php/pod.yml until /index.php answers 200.
    NginxPhp,
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

/// Everything `pod2` builds outside the timed region.
#[derive(Debug)]
struct Pod2Setup {
    /// A bundle running `sleep 3600` whose network namespace is `netns`.
    bundle: PathBuf,
    /// The pinned network namespace (`ip netns add`).
    netns_name: String,
    /// podrt's image store holding the imported busybox image.
    store: PathBuf,
    /// The image reference the manifest uses.
    image: String,
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
                    show_argv(&self.pod_run_argv("pod.yml")),
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
                    "`{} --root $WORK/nginx/root run --detach --bridge {} --subnet {} \
                     --image-store $WORK/nginx/store POD.yml` (POD.yml: \
                     examples/nginx-php/pod.yml with its own name and hostPort {}; both images \
                     imported into the temp store before the rounds), timed until `GET \
                     /index.php` at the pod IP port 80 answers 200 with php's `hello from php` in the body (the IP read from the pod's \
                     `pod.json`; one try every 2 ms); `pod stop NAME` after the timed region",
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
            Action::Scale(i, n) => {
                let rt = &self.runtimes[*i];
                let b = self
                    .sleep_bundle
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                format!(
                    "{n} × `{}` one after another (bundle args `sleep 3600`); then, untimed, \
                     `delete --force ID` for each",
                    show_argv(&Self::scale_argv(rt, &b, "ID"))
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
            Action::Scale(i, n) => self.scale_once(&self.runtimes[*i], *n, id, &log),
            Action::NginxPhp => self.nginx_once(id, &log),
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

    /// N detached runs one after another; the sample is the mean time per container, the steps
    /// the first and the last container's time and the total. Kill and delete untimed.
    fn scale_once(&self, rt: &Runtime, n: usize, id: &str, log: &Path) -> Result<Sample> {
        let b = self
            .sleep_bundle
            .as_ref()
            .expect("scale bundle")
            .to_string_lossy()
            .into_owned();
        let ids: Vec<String> = (0..n).map(|k| format!("{id}-{k}")).collect();
        let mut cpu = Duration::ZERO;
        let mut rss = 0;
        let mut walls = Vec::new();
        let start = Instant::now();
        let mut result = Ok(());
        for cid in &ids {
            match run_measured(&Self::scale_argv(rt, &b, cid), &[], log) {
                Ok(o) => {
                    cpu += o.cpu;
                    rss = rss.max(o.maxrss_kib);
                    walls.push(ms(o.wall));
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let total = start.elapsed();
        for cid in &ids[..walls.len().min(ids.len())] {
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
        result?;
        #[allow(clippy::cast_precision_loss)]
        let per = ms(total) / n as f64;
        Ok(Sample {
            total_ms: per,
            cpu_ms: ms(cpu),
            maxrss_kib: rss,
            steps: vec![
                ("first".into(), walls[0]),
                ("last".into(), walls[walls.len() - 1]),
                ("total".into(), ms(total)),
            ],
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
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("spawn {}", show_argv(&argv)))?;
        let deadline = start + Duration::from_secs(60);
        let mut ip: Option<String> = None;
        let result = loop {
            if ip.is_none() {
                ip = fs::read(&state)
                    .ok()
                    .and_then(|t| serde_json::from_slice::<serde_json::Value>(&t).ok())
                    .and_then(|v| v.get("ip")?.as_str().map(str::to_string));
            }
            if let Some(ip) = &ip {
                if http_status(ip, 80, "/index.php", "hello from php") == Some(200) {
                    break Ok(start.elapsed());
                }
            }
            if let Some(st) = child.try_wait()? {
                if !st.success() {
                    break Err(anyhow::anyhow!(
                        "`{}` failed ({st}); its output:\n{}",
                        show_argv(&argv),
                        fs::read_to_string(log).unwrap_or_default()
                    ));
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
        Ok(Sample {
            total_ms: ms(result?),
            ..Sample::default()
        })
    }

    fn pod_run_argv(&self, manifest: &str) -> Vec<OsString> {
        let p2 = self.pod2.as_ref().expect("pod2 setup");
        let mut v: Vec<OsString> = vec![self.runtimes[0].bin.clone().into(), "--root".into()];
        v.push(p2.root.clone().into());
        for a in [
            "run",
            "--detach",
            "--bridge",
            &p2.bridge,
            "--subnet",
            &p2.subnet,
            "--image-store",
        ] {
            v.push(a.into());
        }
        v.push(p2.store.clone().into());
        v.push(manifest.into());
        v
    }

    /// One pod: write its manifest, spawn `podrt run --detach`, poll `pod.json` until the pod
    /// and both apps are running, stop the clock; then `pod stop` and reap.
    fn pod2_once(&self, id: &str, log: &Path) -> Result<Sample> {
        let p2 = self.pod2.as_ref().expect("pod2 setup");
        let name = id.to_ascii_lowercase();
        let manifest = self.work.join(format!("{name}.yml"));
        let c = |n: &str| {
            format!(
                "    - name: {n}\n      image: {}\n      command: [\"sleep\", \"3600\"]\n",
                p2.image
            )
        };
        fs::write(
            &manifest,
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  \
                 terminationGracePeriodSeconds: 0\n  containers:\n{}{}",
                c("a"),
                c("b")
            ),
        )?;
        let state = p2.root.join("pods").join(&name).join("pod.json");
        let argv = self.pod_run_argv(&manifest.to_string_lossy());
        let out = fs::File::create(log)?;
        let start = Instant::now();
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("spawn {}", show_argv(&argv)))?;
        let deadline = start + Duration::from_secs(30);
        let wall = loop {
            if pod_running(&state) {
                break start.elapsed();
            }
            if let Some(st) = child.try_wait()? {
                if !st.success() {
                    bail!(
                        "`{}` failed ({st}); its output:\n{}",
                        show_argv(&argv),
                        fs::read_to_string(log).unwrap_or_default()
                    );
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("pod {name} not running after 30 s");
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        let stop = Command::new(&self.runtimes[0].bin)
            .arg("--root")
            .arg(&p2.root)
            .args(["pod", "stop", &name])
            .output()?;
        if !stop.status.success() {
            bail!(
                "pod stop {name}: {}",
                String::from_utf8_lossy(&stop.stderr).trim_end()
            );
        }
        // The `run --detach` parent returns once the monitor has gone; give it a moment, then
        // end it by its PID (it is our child).
        let t = Instant::now();
        while child.try_wait()?.is_none() {
            if t.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = fs::remove_file(&manifest);
        Ok(Sample {
            total_ms: ms(wall),
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
            after: None,
        })
    }
}

/// Status code of `GET path` on ip:port (HTTP/1.0), or None on any failure.
fn http_status(ip: &str, port: u16, path: &str, body_must: &str) -> Option<u16> {
    use std::io::{Read as _, Write as _};
    let addr: std::net::SocketAddr = format!("{ip}:{port}").parse().ok()?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n").as_bytes())
        .ok()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).ok()?;
    let text = String::from_utf8_lossy(&resp);
    let code: u16 = text.split_whitespace().nth(1)?.parse().ok()?;
    // A 200 must carry the page php renders, so a static fallback cannot pass.
    (code != 200 || text.contains(body_must)).then_some(code)
}

/// A TCP port nobody listens on right now (bind port 0, read it, close).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Import the nginx-php images into a temp store and prepare the manifest template.
fn nginx_setup(work: &Path, podrt: &Path, ws: &Path) -> Result<NginxSetup> {
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
        root: dir.join("root-pods"),
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

/// Build what `pod2` needs, outside every timed region: a busybox OCI layout (umoci) imported
/// into a temp podrt image store, a `sleep 3600` bundle for the OCI peers, and a pinned netns.
fn pod2_setup(work: &Path, busybox: &Path, podrt: &Path, prefix: &str) -> Result<Pod2Setup> {
    let dir = work.join("pod2");
    fs::create_dir_all(&dir)?;
    let step = |argv: &[&str]| -> Result<()> {
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
    };
    // The image: umoci layout with the same rootfs as the bundle.
    let bundle = bundle::build_busybox_bundle(&dir, busybox, podrt, &["sleep", "3600"])?;
    let layout = dir.join("layout");
    let tagged = format!("{}:busybox", layout.display());
    let unpacked = dir.join("unpacked");
    let (tagged_s, unpacked_s) = (tagged.as_str(), unpacked.to_string_lossy().into_owned());
    step(&["umoci", "init", "--layout", &layout.to_string_lossy()])?;
    step(&["umoci", "new", "--image", tagged_s])?;
    step(&["umoci", "unpack", "--image", tagged_s, &unpacked_s])?;
    let o = Command::new("cp")
        .arg("-a")
        .arg(bundle.join("rootfs/."))
        .arg(unpacked.join("rootfs"))
        .status()?;
    if !o.success() {
        bail!("copy the rootfs into the umoci bundle failed");
    }
    step(&["umoci", "repack", "--image", tagged_s, &unpacked_s])?;
    step(&[
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
    step(&[
        &podrt.to_string_lossy(),
        "image",
        "--image-store",
        &store.to_string_lossy(),
        "import",
        &image,
    ])?;
    // The pinned netns the OCI peers join.
    let netns_name = format!("{prefix}-pod2");
    step(&["ip", "netns", "add", &netns_name])?;
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
        store,
        image,
        bridge: format!("pb{}", std::process::id()),
        subnet: format!("10.250.{n}.0/24"),
        root: dir.join("root-pods"),
    })
}

/// Stop any nginx pod left and check its bridge is gone.
fn nginx_clean(bench: &Bench) -> Vec<String> {
    let Some(n) = &bench.nginx else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    if let Ok(entries) = fs::read_dir(n.root.join("pods")) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            problems.push(format!("pod {name} still there; stopping it"));
            let _ = Command::new(&bench.runtimes[0].bin)
                .arg("--root")
                .arg(&n.root)
                .args(["pod", "stop", &name])
                .output();
        }
    }
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
    if let Ok(entries) = fs::read_dir(p2.root.join("pods")) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            problems.push(format!("pod {name} still there; stopping it"));
            let _ = Command::new(&bench.runtimes[0].bin)
                .arg("--root")
                .arg(&p2.root)
                .args(["pod", "stop", &name])
                .output();
        }
    }
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

/// Run every peer once per round, in a fresh random order each round (so no peer always follows
/// the same one: namespace and cgroup teardown left behind by one run slows the next), and keep
/// the counted rounds.
fn run_scenario(
    bench: &Bench,
    rng: &mut Rng,
    name: &str,
    description: &str,
    peers: &[Peer],
    warmup: u32,
    runs: u32,
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
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("building podrt (cargo build --release -p podrt-runtime --bin podrt)...");
    let status = Command::new(cargo)
        .current_dir(ws)
        .args([
            "build",
            "--release",
            "-p",
            "podrt-runtime",
            "--bin",
            "podrt",
        ])
        .status()
        .context("run cargo build")?;
    if !status.success() {
        bail!("building podrt failed (pass --podrt PATH to use an existing binary)");
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| ws.join("target"), PathBuf::from);
    let bin = target.join("release/podrt");
    if !bin.is_file() {
        bail!("{} missing after the build", bin.display());
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
    for s in &args.scenarios {
        if ![
            "run",
            "lifecycle",
            "floors",
            "pod2",
            "scale",
            "vmboot",
            "nginxphp",
        ]
        .contains(&s.as_str())
        {
            bail!(
                "unknown scenario {s:?}: use run, lifecycle, floors, pod2, scale, vmboot, nginxphp"
            );
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
    let bundle = bundle::build_busybox_bundle(&work, &busybox, &podrt, &["/bin/true"])?;
    let id_prefix = format!("sb{}", std::process::id());
    let runtimes = vec![
        Runtime {
            name: "podrt",
            bin: podrt.clone(),
            root: work.join("root-podrt"),
            wrap: false,
            timings: true,
        },
        Runtime {
            name: "crun",
            bin: crun.clone(),
            root: work.join("root-crun"),
            wrap: hybrid,
            timings: false,
        },
        Runtime {
            name: "runc",
            bin: runc.clone(),
            root: work.join("root-runc"),
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
    };
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
    let mut setup_problem = None;
    if want("pod2") {
        match pod2_setup(&work, &busybox, &podrt, &id_prefix) {
            Ok(p) => bench.pod2 = Some(p),
            Err(e) => setup_problem = Some(e),
        }
    }
    if want("nginxphp") && setup_problem.is_none() {
        match nginx_setup(&work, &podrt, &ws) {
            Ok(n) => bench.nginx = Some(n),
            Err(e) => setup_problem = Some(e),
        }
    }

    let started = std::time::SystemTime::now();
    let load_before = machine::loadavg();
    let result = match setup_problem {
        Some(e) => Err(e.context("pod2 setup")),
        None => run_all(&bench, &args, hybrid, want),
    };
    let load_after = machine::loadavg();
    let work_fs = machine::fs_type(&work);
    // Clean up whatever happened.
    let mut problems = pod2_clean(&bench);
    problems.extend(nginx_clean(&bench));
    for rt in &bench.runtimes {
        problems.extend(rt.clean());
    }
    problems.extend(leak_check(&id_prefix, &work));
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
    let svg = out_dir.join("start-latency.svg");
    plot::write_svg(&svg, &scenarios).context("write the plot")?;
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
        plot_file: "start-latency.svg".into(),
    };
    let md = report::markdown(&ctx, &scenarios);
    let md_path = out_dir.join("benchmarks.md");
    fs::write(&md_path, md).with_context(|| format!("write {}", md_path.display()))?;
    eprint!("{}", report::terminal_summary(&scenarios));
    eprintln!("wrote {} and {}", md_path.display(), svg.display());
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
        out.push(run_scenario(
            bench,
            rng,
            "pod2",
            "Two busybox containers running `sleep 3600` that share one network namespace, \
             timed from spawn until both run. `podrt` (the pod): `podrt run --detach pod.yml` builds \
             the whole pod (pinned ipc/uts namespaces, its own netns, veth into a bridge, an IP, \
             two overlay rootfs from the image store, two apps) and is timed until its \
             `pod.json` says the pod and both apps are `running` (polled every 0.2 ms; see the \
             note below on why not until `run --detach` returns). `RUNTIME ×2`: `create` + \
             `start` of container a, then of container b, both joining a network namespace \
             pinned before the rounds (no interfaces, no IP, no image: a plain bundle \
             directory), timed until the second `start` returns. Teardown (`pod stop`; `kill` \
             + `delete --force`) is outside the timed region. crun's two `create`s go through \
             the wrapper, so the `crun ×2 − 2 × wrapper` row subtracts it twice.\n\n\
             **Why not until `run --detach` returns:** with this podrt, `podrt run --detach \
             pod.yml` does not return while the pod runs. Its parent reads the monitor's notify \
             pipe to EOF, and the monitor, after writing `started ...`, keeps the write end \
             open for the pod's lifetime (runtime/src/pod/supervisor.rs, `detach`: the parent \
             should stop at the first line, or the monitor drop the pipe after writing). The \
             pod itself is fully up at that point; the harness therefore stops the clock when \
             `pod.json` (saved right after the `started` message is written) shows the pod and \
             both apps `running`, and ends the parent by PID after `pod stop` if it has not \
             exited. podrt's CPU and RSS are not shown: the detached monitor is not our \
             child.",
            &peers,
            args.warmup,
            args.runs,
        )?);
    }
    if want("scale") {
        let mut peers = Vec::new();
        for n in [1, 10, 50] {
            for i in runtimes() {
                peers.push(Peer {
                    name: format!("{} N={n}", bench.runtimes[i].name),
                    floor: false,
                    action: Action::Scale(i, n),
                });
            }
        }
        out.push(run_scenario(
            bench,
            rng,
            "scale",
            "N = 1, 10, 50 containers running `sleep 3600` (own namespaces), started one after \
             another with `podrt run --detach` / `runc run -d` / `crun run -d` (crun through its \
             wrapper), all left running until the N-th is up; the number is the **mean time per \
             container** (total / N). CPU is the sum, peak RSS the largest `ru_maxrss` of the N \
             runtime processes. Then all N are deleted (`delete --force`, untimed). Every \
             (runtime, N) pair is one peer, interleaved and shuffled like the rest.",
            &peers,
            args.warmup.min(1),
            args.scale_runs,
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
        )?);
    }
    if want("nginxphp") {
        let peers = vec![Peer {
            name: "podrt".into(),
            floor: false,
            action: Action::NginxPhp,
        }];
        out.push(run_scenario(
            bench,
            rng,
            "nginxphp",
            "The reference pod (examples/nginx-php/pod.yml: php-fpm + nginx from a Debian \
             bookworm image, probes, resource limits, a hostPort), timed from spawning \
             `podrt run --detach` to the first HTTP 200 of `/index.php` fetched from the pod IP \
             (nginx → php-fpm over 127.0.0.1:9000 inside the pod). The HTTP client is the \
             harness's own (plain `TcpStream`, HTTP/1.0, one try every 2 ms, from the host to \
             the pod IP over podrt's bridge). **podrt alone:** the podman peers (`podman kube \
             play` of the same manifest with crun and runc) are not measured: podman 4.3 \
             publishes a hostPort only on a netavark bridge network, which adds iptables NAT \
             chains and turns on IP forwarding host-wide; on this shared machine that is not \
             ours to change, and `--network none` would leave no pod IP to fetch from. Same \
             `pod.json` caveat as in `pod2`: the clock does not wait for `run --detach` to \
             return.",
            &peers,
            1,
            args.nginx_runs,
        )?);
    }
    Ok(out)
}
