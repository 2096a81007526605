//! `startbench`: end-to-end start latency of `podrt` against `runc`, `crun` and kernel floors,
//! on one busybox `/bin/true` bundle, peers interleaved round by round. Writes
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
    /// measured inside the `run` rounds when both are selected)
    #[arg(long, value_delimiter = ',', default_value = "run,lifecycle,floors")]
    scenarios: Vec<String>,
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
        }
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
            let id = format!("{}-{}-{}-{}", bench.id_prefix, name, p.name, tag);
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
        if !["run", "lifecycle", "floors"].contains(&s.as_str()) {
            bail!("unknown scenario {s:?}: use run, lifecycle, floors");
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
    let bench = Bench {
        runtimes,
        bundle,
        work: work.clone(),
        id_prefix: id_prefix.clone(),
    };

    let started = std::time::SystemTime::now();
    let load_before = machine::loadavg();
    let result = run_all(&bench, &args, hybrid, want);
    let load_after = machine::loadavg();
    let work_fs = machine::fs_type(&work);
    // Clean up whatever happened.
    let mut problems = Vec::new();
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
    Ok(out)
}
