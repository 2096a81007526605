//! The Markdown report (`docs/benchmarks.md`) and a short terminal summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::machine::Machine;
use crate::model::{PeerResult, Sample, ScenarioResult};
use crate::stats;
use crate::CRUN_WRAPPER_SCRIPT;

/// The project's targets for `podrt run` of /bin/true.
pub const TARGET_VS_CRUN: f64 = 0.7;
pub const TARGET_VS_UNSHARE: f64 = 3.0;
/// The nginx+php pod to its first HTTP 200: podrt at most this times `podman kube play` + crun.
pub const TARGET_VS_PODMAN: f64 = 0.25;
/// `scale`: the time per container at N = 100 may be at most this times the one at N = 10 to
/// call the cost flat.
pub const FLAT_LIMIT: f64 = 1.25;

/// Anchors measured by hand on this kind of machine (ENVIRONMENT.md).
const ANCHORS: &str = "runc about 51 ms, crun about 28 ms (runc/crun 1.98x paired); peak RSS \
                       runc 9.7 MiB, crun 3.2 MiB";

/// Everything about a run that is not a sample.
#[derive(Debug, Clone)]
pub struct Context {
    pub machine: Machine,
    pub date: String,
    pub duration_s: f64,
    pub versions: Vec<(String, String)>,
    pub command: String,
    pub runs: u32,
    pub warmup: u32,
    /// crun's `create`/`run` went through the private-mount-namespace wrapper.
    pub crun_wrapped: bool,
    /// Seed of the per-round random order.
    pub seed: u64,
    /// Load averages when the measurements started and ended.
    pub load_before: String,
    pub load_after: String,
    /// Filesystem of the temp dir holding the bundle and the runtime roots.
    pub work_fs: String,
    /// Size of the podrt binary.
    pub podrt_binary_mib: f64,
    pub cleanup_problems: Vec<String>,
    /// (scenario, SVG file name next to the report).
    pub plot_files: Vec<(String, String)>,
}

/// What the podrt phase marks mean (the `--timings` line; marks are cumulative).
const PHASES: [(&str, &str); 29] = [
    (
        "config",
        "canonicalize the bundle, read and parse config.json",
    ),
    (
        "plan",
        "create and lock the state dir, `prepare::plan` (mounts, caps, rlimits, seccomp)",
    ),
    (
        "cgroup",
        "detect the cgroup layout, create the cgroup dirs, write limits, save state.json",
    ),
    (
        "prepare",
        "sync socketpair, exec fifo, console, cgroup dir fd",
    ),
    (
        "clone",
        "clone of the init with every namespace flag (parent side)",
    ),
    (
        "init:go",
        "the runtime releases the init (after writing its id maps, if it has a user namespace)",
    ),
    (
        "init:cgroup",
        "init: joins its cgroup by writing 0 to each v1 hierarchy's tasks file, which moves \
         only the writer and skips the kernel's global migration lock (v2: born in it)",
    ),
    (
        "init:namespaces",
        "init: joins and late unshares (none for a plain bundle)",
    ),
    (
        "init:mounts",
        "init: rootfs bind, /proc, /dev tmpfs and devices, /dev/pts, /dev/shm, mqueue, sysfs, \
         cgroup, the config's mounts",
    ),
    (
        "init:hooks",
        "prestart/createRuntime (in the runtime) and createContainer hooks, when there are any",
    ),
    (
        "init:pivot_root",
        "init: pivot_root into the rootfs and detach the old root",
    ),
    (
        "init:masks",
        "init: hostname, sysctls, masked and read-only paths, read-only root",
    ),
    (
        "init:seccomp",
        "init: seccomp filter installed before the capabilities drop (no noNewPrivileges)",
    ),
    (
        "init:process",
        "init: rlimits, oom_score_adj, resolve the executable, user, groups, capabilities",
    ),
    (
        "ready",
        "the init's report reaches the runtime, which saves state.json",
    ),
    (
        "started",
        "`run`: pid file and state save after ready; `start`: open the fifo, release the init",
    ),
    (
        "exited",
        "the init execs /bin/true, which exits; waitpid returns",
    ),
    (
        "deleted",
        "`run`: delete the stopped container (cgroup rmdir in every hierarchy, its parents when \
         empty, the state dir)",
    ),
    ("images", "pod: resolve each container's image in the store"),
    (
        "net:netns",
        "pod network: create and pin the network namespace",
    ),
    (
        "net:ipam",
        "pod network: lease an IP (O_EXCL file) and claim host ports",
    ),
    (
        "net:bridge",
        "pod network: find or create the host bridge with the gateway address",
    ),
    (
        "net:veth",
        "pod network: veth pair with eth0 created inside the pod netns, host end on the bridge",
    ),
    (
        "net:addresses",
        "pod network: lo and eth0 up, the pod IP, the default route (netlink inside the netns)",
    ),
    (
        "net:hostports",
        "pod network: nftables DNAT rules for hostPorts (only with ports)",
    ),
    ("net:etc", "pod network: /etc/hosts, hostname, resolv.conf"),
    (
        "sandbox",
        "pod: its own mount namespace, the IPC/UTS pins, each container's overlay rootfs, \
         /dev/shm and emptyDir volumes (none of them in the host's mount table)",
    ),
    (
        "pod-cgroup",
        "pod: each container's bundle (config.json), then the pod cgroup",
    ),
    (
        "apps-started",
        "every app container created and started (the marks above are the last one's)",
    ),
];

fn phase_doc(name: &str) -> &'static str {
    // A pod's per-container phases are named APP/phase.
    let name = name.rsplit('/').next().unwrap_or(name);
    PHASES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, d)| *d)
}

/// Per-phase medians of one podrt command: (phase, median end mark, median duration).
fn phase_table(peer: &PeerResult, cmd: &str) -> Vec<(String, f64, f64)> {
    let prefix = format!("{cmd}.");
    // Order phases by their median end mark.
    let mut ends: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for s in &peer.samples {
        for (k, v) in &s.phases {
            if let Some(p) = k.strip_prefix(&prefix) {
                ends.entry(p.to_string()).or_default().push(*v);
            }
        }
    }
    let mut order: Vec<(String, f64)> = ends
        .iter()
        .map(|(k, v)| (k.clone(), stats::median(v)))
        .collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut out = Vec::new();
    for (i, (name, end)) in order.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| order[j].0.clone());
        let deltas: Vec<f64> = peer
            .samples
            .iter()
            .filter_map(|s| {
                let v = s.phases.get(&format!("{prefix}{name}"))?;
                let p = match &prev {
                    Some(p) => *s.phases.get(&format!("{prefix}{p}"))?,
                    None => 0.0,
                };
                Some(v - p)
            })
            .collect();
        out.push((name.clone(), *end, stats::median(&deltas)));
    }
    out
}

fn ratio_cell(r: Option<Vec<f64>>) -> String {
    match r {
        Some(r) if !r.is_empty() => {
            let s = stats::summarize(&r);
            if s.median < 0.05 {
                format!("{:.4}x ({:.4}–{:.4})", s.median, s.p25, s.p75)
            } else {
                format!("{:.2}x ({:.2}–{:.2})", s.median, s.p25, s.p75)
            }
        }
        _ => "–".into(),
    }
}

fn mib(kib: f64) -> f64 {
    kib / 1024.0
}

/// What a missed ratio target means in milliseconds, worded for both cases: the medians alone
/// may already meet it while the per-round ratios (the verdict) do not.
fn shortfall(podrt_ms: f64, peer: &str, peer_ms: f64, limit: f64) -> String {
    let allowed = limit * peer_ms;
    let need = podrt_ms - allowed;
    if need > 0.0 {
        format!(
            "podrt's median would have to drop by about {need:.1} ms, from {podrt_ms:.2} to \
             {allowed:.2} ms ({limit}x the {peer} median of {peer_ms:.2} ms)"
        )
    } else {
        format!(
            "the medians alone are within the limit (podrt {podrt_ms:.2} ms ≤ {limit}x the \
             {peer} median of {peer_ms:.2} ms = {allowed:.2} ms); the per-round ratios, which \
             the verdict uses, are not"
        )
    }
}

/// A target verdict: "met"/"missed" with the margin.
fn verdict(measured: f64, limit: f64) -> String {
    let pct = (measured / limit - 1.0) * 100.0;
    if measured <= limit {
        format!("**met** ({:.0}% under the limit)", -pct)
    } else {
        format!("**missed** ({pct:.0}% over the limit)")
    }
}

/// The whole report.
pub fn markdown(ctx: &Context, scenarios: &[ScenarioResult]) -> String {
    let mut md = String::new();
    let m = &ctx.machine;
    let _ = writeln!(md, "# Start latency\n");
    let _ = writeln!(
        md,
        "Generated by `startbench` (benches/src/bin/startbench.rs) on {} in {:.0} s. \
         Do not edit by hand: rerun the command below.\n",
        ctx.date, ctx.duration_s
    );
    let _ = writeln!(
        md,
        "This is one noisy 2-core machine shared with other work: absolute times drift by \
         tens of percent between runs, so read the **paired ratios** (computed per round, \
         then the median), not the absolute milliseconds.\n"
    );
    let _ = writeln!(md, "## Reproduce\n");
    let _ = writeln!(md, "As root, from the workspace root:\n");
    let _ = writeln!(md, "```sh\n{}\n```\n", ctx.command);
    let _ = writeln!(
        md,
        "It builds `podrt` with `scripts/build-release` first (the shipped binary: static musl, \
         non-PIE, fat LTO; or takes `--podrt PATH`), then runs everything in \
         a temp dir it removes at the end. `cargo bench -p podrt-benches` runs the in-process \
         criterion benches (config parsing, `prepare::plan`, state.json, seccomp compile).\n"
    );

    let _ = writeln!(md, "## Machine\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| CPU | {} × {} |", m.nproc, m.cpu_model);
    let _ = writeln!(md, "| memory | {} |", m.mem_total);
    let _ = writeln!(md, "| kernel | {} |", m.kernel);
    let _ = writeln!(md, "| OS | {} |", m.os);
    let _ = writeln!(md, "| cgroups | {} |", m.cgroup.describe());
    let _ = writeln!(
        md,
        "| load average (1 5 15 min) | {} at the start, {} at the end |",
        ctx.load_before, ctx.load_after
    );
    let _ = writeln!(
        md,
        "| bundles, image stores, podman's image store | a temp dir on {} |",
        ctx.work_fs
    );
    let _ = writeln!(
        md,
        "| runtime state (`--root` of podrt, runc and crun; pods' writable layers; podman's \
         runroot) | a tmpfs the harness mounts in that temp dir (`/run` is {} here) |",
        crate::machine::fs_type(std::path::Path::new("/run"))
    );
    for (k, v) in &ctx.versions {
        let _ = writeln!(md, "| {k} | {} |", v.replace('|', "\\|"));
    }
    let _ = writeln!(md);

    write_method(&mut md, ctx);
    write_targets(&mut md, ctx, scenarios);
    for sc in scenarios {
        write_scenario(&mut md, ctx, sc);
    }
    write_phases(&mut md, scenarios);
    write_startup_note(&mut md, ctx, scenarios);
    write_host_notes(&mut md, ctx);

    let _ = writeln!(md, "## Cleanup\n");
    if ctx.cleanup_problems.is_empty() {
        let _ = writeln!(
            md,
            "Every container and pod was deleted, the runtime roots and the temp dir were \
             removed, no cgroup or mount with this run's ID prefix and no process below the \
             harness was left behind, and IP forwarding and the nftables ruleset were the same \
             at the end as at the start.\n"
        );
    } else {
        let _ = writeln!(md, "Cleanup found problems:\n");
        for p in &ctx.cleanup_problems {
            let _ = writeln!(md, "- {p}");
        }
        let _ = writeln!(md);
    }
    md
}

fn write_method(md: &mut String, ctx: &Context) {
    let _ = writeln!(md, "## Method\n");
    let _ = writeln!(
        md,
        "- One bundle for every peer, built once: a rootfs of static busybox with its applet \
         symlinks, `config.json` from `podrt spec` (the runc default: pid, net, ipc, uts, \
         mount and cgroup namespaces, read-only root, no seccomp) with `args` = `[\"/bin/true\"]` \
         and `terminal` = false. Each runtime has its own `--root` in the temp dir and every \
         run a fresh container ID. No `cgroupsPath`: each runtime picks its default cgroup."
    );
    let _ = writeln!(
        md,
        "- Peers run interleaved, one run each per round, in a new random order every round \
         (seed {}). A run leaves kernel work behind (namespace teardown, RCU callbacks) that \
         can slow whatever starts next, so no peer may always follow the same neighbour. (An \
         earlier version of this harness rotated a fixed order, which put podrt after the \
         `unshare` floor in every round; by hand, podrt's `ready` phase took 8–16 ms right \
         after that floor and 1–2 ms right after crun.) The table of predecessors under each \
         scenario shows what this run saw. {} warm-up rounds are discarded, {} rounds \
         counted. A failed run (non-zero exit of a runtime or of the container) aborts the \
         benchmark with the runtime's output: failures are never averaged.",
        ctx.seed, ctx.warmup, ctx.runs
    );
    let _ = writeln!(
        md,
        "- Time is wall clock from just before `fork` to the return of `wait4`, so creating the \
         runtime's process is included (the `exec-true` floor shows that part). CPU is user + \
         system from `wait4`'s rusage. Peak RSS is `ru_maxrss` from the same rusage: the \
         largest RSS of the runtime process across its execs and of the descendants it reaped \
         (for `run`, the container init too: a clone of the runtime in podrt and crun, `runc \
         init` in runc). The forked child resets its peak-RSS mark (`/proc/self/clear_refs` \
         5) before `execve`, so the harness's own memory does not leak into the number; what \
         remains of it is in the `exec-true` row, and a value near that row means \"at most \
         this\". In `lifecycle`, CPU is the sum and RSS the maximum over create, start and \
         delete."
    );
    let _ = writeln!(
        md,
        "- podrt runs with `PODRT_TIMINGS=1` (one JSON line of phase marks on stderr; a few \
         `Instant::now()` calls and one write, microseconds)."
    );
    let _ = writeln!(
        md,
        "- Every runtime keeps its state on a tmpfs the harness mounts, as it would under `/run` \
         on most hosts. On this machine `/run` and the temp dir are on an ext4 without a \
         journal, and there ext4 allocates an inode only after checking the free ones that were \
         deleted in the last minutes (`find_inode_bit` → `recently_deleted`, one inode-table \
         lookup each). After the `scale` scenario's thousands of deleted state files every \
         `mkdir` or `create` paid for that scan, and the cost grew as pods were started and \
         stopped: by hand, 20 pods after a `scale` run went from 9.0 to 16.5 ms each with their \
         root on that ext4 and stayed at 7.7–7.8 ms with it on a tmpfs, in the same minute."
    );
    if ctx.crun_wrapped {
        let _ = writeln!(
            md,
            "- crun 1.8.1 refuses this hybrid cgroup layout, so crun's `run` and `create` run \
             as `unshare -m --propagation private sh -c '{CRUN_WRAPPER_SCRIPT}' sh crun ...` \
             (a private mount namespace in which a small tmpfs of its own replaces the cgroup2 \
             mount: crun writes a `cgroup.procs` there for the cgroup2 line of /proc/self/cgroup, \
             and it goes away with the namespace; host mounts untouched). `start` and `delete` \
             work without it and run directly. The \
             wrapper's own cost is the `crun-wrapper` row (the same wrapper exec'ing \
             /bin/true), measured in the same rounds; the target uses crun *minus* the \
             wrapper of the same round, the stricter comparison for podrt."
        );
    }
    let _ = writeln!(
        md,
        "- Ratio columns: for each round, podrt's time divided by the peer's, then the median \
         over rounds (p25–p75 in parentheses). Percentiles interpolate between closest \
         ranks."
    );
    let _ = writeln!(
        md,
        "- Plots: one SVG per scenario, under its tables, on that scenario's own log-scale \
         millisecond axis: box = p25–p75, bar = median, whiskers = min–max, dots = runs. \
         `scale` and `pods` add a panel of how the cost grows with N or with the pod's \
         index.\n"
    );
}

/// `pod2`: podrt's whole pod against crun starting two containers into a pinned netns.
fn write_pod2_target(md: &mut String, ctx: &Context, scenarios: &[ScenarioResult]) {
    let Some(sc) = scenarios.iter().find(|s| s.name == "pod2") else {
        return;
    };
    let (Some(p), Some(c)) = (sc.peer("podrt"), sc.peer("crun ×2")) else {
        return;
    };
    let raw = stats::median(&stats::paired_ratios(&p.totals(), &c.totals()));
    let mut measured = format!(
        "podrt pod {:.2} ms, crun ×2 {:.2} ms (medians); {raw:.2}x paired median of podrt / \
         crun ×2",
        p.summary().median,
        c.summary().median
    );
    let mut strict = raw;
    if let (true, Some(w)) = (ctx.crun_wrapped, sc.peer("crun-wrapper")) {
        let netv: Vec<f64> = c
            .totals()
            .iter()
            .zip(w.totals())
            .map(|(x, y)| x - 2.0 * y)
            .collect();
        strict = stats::median(&stats::paired_ratios(&p.totals(), &netv));
        let _ = write!(
            measured,
            "; {strict:.2}x against crun ×2 minus its two wrappers (the verdict uses this)"
        );
    }
    let _ = writeln!(md, "## Target (`pod2`)\n");
    let _ = writeln!(md, "| target | measured | verdict |\n|---|---|---|");
    let _ = writeln!(
        md,
        "| a whole podrt pod (own netns, veth, bridge, IP, two image rootfs) no slower than \
         crun creating + starting two containers that merely join a netns | {measured} | {} |\n",
        verdict(strict, 1.0)
    );
}

/// `nginxphp`: podrt's pod to its first 200 against `podman kube play` with crun.
fn write_nginx_target(md: &mut String, scenarios: &[ScenarioResult]) {
    let Some(sc) = scenarios.iter().find(|s| s.name == "nginxphp") else {
        return;
    };
    let Some(p) = sc.peer("podrt") else {
        return;
    };
    let (measured, verdict_cell) = if let Some(c) = sc.peer("podman+crun") {
        let raw = stats::median(&stats::paired_ratios(&p.totals(), &c.totals()));
        let mut measured = format!(
            "podrt {:.1} ms, podman+crun {:.1} ms (medians); {raw:.3}x paired median of podrt / \
             podman+crun",
            p.summary().median,
            c.summary().median
        );
        let mut strict = raw;
        let mut peer_ms = c.summary().median;
        let mut peer_label = "podman+crun";
        if let Some(netv) = podman_crun_net(sc) {
            strict = stats::median(&stats::paired_ratios(&p.totals(), &netv));
            peer_ms = stats::median(&netv);
            peer_label = "podman+crun − wrapper calls";
            let _ = write!(
                measured,
                "; {strict:.3}x against podman+crun minus its wrapper calls (the verdict uses \
                 this)"
            );
        }
        if let Some(r) = sc.peer("podman+runc") {
            let x = stats::median(&stats::paired_ratios(&p.totals(), &r.totals()));
            let _ = write!(
                measured,
                "; podman+runc {:.1} ms, {x:.3}x",
                r.summary().median
            );
        }
        if strict > TARGET_VS_PODMAN {
            let _ = write!(
                measured,
                "; {}",
                shortfall(p.summary().median, peer_label, peer_ms, TARGET_VS_PODMAN)
            );
        }
        (measured, verdict(strict, TARGET_VS_PODMAN))
    } else {
        let why = sc
            .not_measured
            .iter()
            .find(|(n, _)| n == "podman+crun")
            .map_or_else(
                || "it was not run".to_string(),
                |(_, w)| w.replace('\n', " "),
            );
        (
            format!(
                "podrt {:.1} ms (median); podman+crun: {why}",
                p.summary().median
            ),
            "**not measured**".to_string(),
        )
    };
    let _ = writeln!(md, "## Target (`nginxphp`)\n");
    let _ = writeln!(md, "| target | measured | verdict |\n|---|---|---|");
    let _ = writeln!(
        md,
        "| the nginx+php pod to its first HTTP 200 through nginx in at most {TARGET_VS_PODMAN}x \
         the time of `podman kube play` of the same manifest and images with crun | {measured} \
         | {verdict_cell} |\n"
    );
}

fn write_targets(md: &mut String, ctx: &Context, scenarios: &[ScenarioResult]) {
    write_nginx_target(md, scenarios);
    write_pod2_target(md, ctx, scenarios);
    let Some(run) = scenarios.iter().find(|s| s.name == "run") else {
        return;
    };
    let _ = writeln!(md, "## Targets (`podrt run` of /bin/true)\n");
    let _ = writeln!(md, "| target | measured | verdict |\n|---|---|---|");
    let podrt = run.peer("podrt");
    let wrapper = if ctx.crun_wrapped && run.peer("crun-wrapper").is_some() {
        Some("crun-wrapper")
    } else {
        None
    };
    if let (Some(podrt), Some(r)) = (podrt, run.paired("podrt", "crun", wrapper)) {
        let r = stats::median(&r);
        let raw = run.paired("podrt", "crun", None).map(|v| stats::median(&v));
        // The same number as the `crun − wrapper (same round)` row: median of per-round nets.
        let crun_net = run.peer("crun").map(|c| match wrapper {
            Some(w) => stats::median(&net(run, "crun", w)),
            None => c.summary().median,
        });
        let mut measured = format!(
            "{r:.2}x paired median of podrt / (crun − wrapper){}",
            raw.map(|x| format!("; {x:.2}x against crun with its wrapper"))
                .unwrap_or_default()
        );
        if let (Some(c), true) = (crun_net, r > TARGET_VS_CRUN) {
            let _ = write!(
                measured,
                "; {}",
                shortfall(podrt.summary().median, "crun − wrapper", c, TARGET_VS_CRUN)
            );
        }
        let _ = writeln!(
            md,
            "| at most {TARGET_VS_CRUN}x crun's time | {measured} | {} |",
            verdict(r, TARGET_VS_CRUN)
        );
    }
    if let Some(r) = run.paired("podrt", "unshare", None) {
        let r = stats::median(&r);
        let _ = writeln!(
            md,
            "| at most {TARGET_VS_UNSHARE}x the unshare floor | {r:.2}x paired median of podrt / \
             `unshare --fork` with six namespaces | {} |",
            verdict(r, TARGET_VS_UNSHARE)
        );
    }
    if let (Some(p), Some(c)) = (podrt, run.peer("crun")) {
        let (pr, cr) = (p.rss_median_kib(), c.rss_median_kib());
        let alone = run
            .peer("podrt --version")
            .map(|v| {
                format!(
                    "; `podrt --version` alone {:.2} MiB",
                    mib(v.rss_median_kib())
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "| peak RSS at most crun's (anchor 3.2 MiB) | podrt {:.2} MiB, crun {:.2} MiB \
             (medians of `ru_maxrss`){alone} | {} |",
            mib(pr),
            mib(cr),
            verdict(pr, cr)
        );
    }
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "Anchors measured earlier by hand on this machine: {ANCHORS}.\n"
    );
}

fn write_scenario(md: &mut String, ctx: &Context, sc: &ScenarioResult) {
    let _ = writeln!(md, "## Scenario `{}`\n", sc.name);
    let _ = writeln!(md, "{}\n", sc.description);
    let has_podrt = sc.peer("podrt").is_some();
    let _ = write!(
        md,
        "| peer | median ms | p90 | min | max | CPU ms | peak RSS MiB |"
    );
    if has_podrt {
        let _ = write!(md, " podrt / peer |");
    }
    let _ = writeln!(md);
    let _ = write!(md, "|---|---:|---:|---:|---:|---:|---:|");
    if has_podrt {
        let _ = write!(md, "---:|");
    }
    let _ = writeln!(md);
    for p in &sc.peers {
        let s = p.summary();
        let name = if p.floor {
            format!("{} (floor)", p.name)
        } else {
            format!("**{}**", p.name)
        };
        // Peers without rusage (the detached pod) show no CPU or RSS.
        let (cpu, rss) = if p.samples.iter().all(|x| x.maxrss_kib == 0) {
            ("–".to_string(), "–".to_string())
        } else {
            (
                format!("{:.2}", p.cpu_median()),
                format!("{:.2}", mib(p.rss_median_kib())),
            )
        };
        let _ = write!(
            md,
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {cpu} | {rss} |",
            s.median, s.p90, s.min, s.max,
        );
        if has_podrt {
            let cell = if p.name == "podrt" {
                "–".to_string()
            } else {
                ratio_cell(sc.paired("podrt", &p.name, None))
            };
            let _ = write!(md, " {cell} |");
        }
        let _ = writeln!(md);
    }
    if has_podrt
        && ctx.crun_wrapped
        && sc.peer("crun-wrapper").is_some()
        && sc.peer("crun ×2").is_some()
    {
        // Two wrapped `create`s per round: subtract the wrapper twice.
        let (c, w) = (
            sc.peer("crun ×2")
                .map(PeerResult::totals)
                .unwrap_or_default(),
            sc.peer("crun-wrapper")
                .map(PeerResult::totals)
                .unwrap_or_default(),
        );
        let netv: Vec<f64> = c.iter().zip(&w).map(|(x, y)| x - 2.0 * y).collect();
        let podrt = sc.peer("podrt").map(PeerResult::totals).unwrap_or_default();
        let _ = writeln!(
            md,
            "| crun ×2 − 2 × wrapper (same round) | {:.2} | | | | | | {} |",
            stats::median(&netv),
            ratio_cell(Some(stats::paired_ratios(&podrt, &netv)))
        );
    }
    if has_podrt
        && ctx.crun_wrapped
        && sc.peer("crun-wrapper").is_some()
        && sc.peer("crun").is_some()
    {
        let _ = writeln!(
            md,
            "| crun − wrapper (same round) | {:.2} | | | | | | {} |",
            stats::median(&net(sc, "crun", "crun-wrapper")),
            ratio_cell(sc.paired("podrt", "crun", Some("crun-wrapper")))
        );
    }
    if let Some(netv) = podman_crun_net(sc) {
        let podrt = sc.peer("podrt").map(PeerResult::totals).unwrap_or_default();
        let _ = writeln!(
            md,
            "| podman+crun − wrapper calls (same round) | {:.2} | | | | | | {} |",
            stats::median(&netv),
            ratio_cell(Some(stats::paired_ratios(&podrt, &netv)))
        );
    }
    let _ = writeln!(md);
    if !sc.not_measured.is_empty() {
        let _ = writeln!(md, "**Not measured on this machine:**\n");
        for (peer, why) in &sc.not_measured {
            let _ = writeln!(md, "- **{peer}**: {}", why.replace('\n', " "));
        }
        let _ = writeln!(md);
    }
    let custom = matches!(sc.name.as_str(), "scale" | "pods");
    if !custom
        && sc
            .peers
            .iter()
            .any(|p| p.samples.iter().any(|s| !s.steps.is_empty()))
    {
        let steps: Vec<String> = sc
            .peers
            .iter()
            .flat_map(|p| p.samples.first())
            .find(|s| !s.steps.is_empty())
            .map(|s| s.steps.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default();
        let _ = writeln!(md, "Wall time of each step, median (max), ms:\n");
        let _ = writeln!(md, "| peer | {} |", steps.join(" | "));
        let _ = writeln!(md, "|---|{}", "---:|".repeat(steps.len()));
        for p in sc
            .peers
            .iter()
            .filter(|p| !p.floor && p.samples.iter().any(|s| !s.steps.is_empty()))
        {
            let cells: Vec<String> = steps
                .iter()
                .map(|st| {
                    p.step_summary(st)
                        .map_or("–".into(), |s| format!("{:.2} ({:.1})", s.median, s.max))
                })
                .collect();
            let _ = writeln!(md, "| {} | {} |", p.name, cells.join(" | "));
        }
        let _ = writeln!(md);
    }
    match sc.name.as_str() {
        "scale" => write_scale(md, sc),
        "pods" => write_pods(md, sc),
        _ => write_predecessors(md, sc),
    }
    if sc.name == "nginxphp" {
        write_podman_checks(md, sc);
    }
    if let Some((_, file)) = ctx.plot_files.iter().find(|(n, _)| *n == sc.name) {
        let _ = writeln!(
            md,
            "![scenario {}: box = p25–p75, bar = median, whiskers = min–max, dots = runs; log \
             scale]({file})\n",
            sc.name
        );
    }
    let _ = writeln!(
        md,
        "Commands (`$WORK` is the temp dir, ID is fresh per run):\n"
    );
    // `scale` has one peer per (runtime, mode, N): show the largest N, the rest differ only in N.
    let largest = format!(
        "N={}",
        sc.peers
            .iter()
            .filter_map(|p| p.name.rsplit_once("N=")?.1.parse::<usize>().ok())
            .max()
            .unwrap_or(0)
    );
    for p in &sc.peers {
        if sc.name == "scale" && !p.name.ends_with(&largest) {
            continue;
        }
        let _ = writeln!(md, "- {}: {}", p.name, p.command);
    }
    if sc.name == "scale" {
        let _ = writeln!(md, "- the smaller N: the same with fewer containers");
    }
    let _ = writeln!(md);
}

/// `podman+crun` minus (wrapper calls before the first 200 × the same round's wrapper floor),
/// per round; `None` unless both peers are there.
fn podman_crun_net(sc: &ScenarioResult) -> Option<Vec<f64>> {
    let (p, w) = (sc.peer("podman+crun")?, sc.peer("crun-wrapper")?);
    Some(
        p.samples
            .iter()
            .zip(&w.samples)
            .map(|(s, f)| s.total_ms - s.extra("wrapper_calls").unwrap_or(0.0) * f.total_ms)
            .collect(),
    )
}

/// What the podman runs were checked for, with the counts this run saw.
fn write_podman_checks(md: &mut String, sc: &ScenarioResult) {
    let rows: Vec<&PeerResult> = sc
        .peers
        .iter()
        .filter(|p| p.name.starts_with("podman+"))
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "Per podman run (medians): runtime calls through the crun wrapper before the first 200, \
         containers of the pod (infra + 2), all of them with state under the runtime's root \
         (checked every run), and empty pod cgroup dirs podman left that the harness removed:\n"
    );
    let _ = writeln!(
        md,
        "| peer | wrapper calls | containers | leftover pod cgroups removed |\n|---|---:|---:|---:|"
    );
    for p in rows {
        let m = |k: &str| p.extra_median(k).map_or("–".into(), |v| format!("{v:.0}"));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            p.name,
            if p.name == "podman+crun" {
                m("wrapper_calls")
            } else {
                "–".into()
            },
            m("containers"),
            m("cgroups_removed")
        );
    }
    let _ = writeln!(md);
}

/// `scale`: time per container by N and mode, whether it stays flat, and memory per container.
#[allow(clippy::cast_precision_loss)]
fn write_scale(md: &mut String, sc: &ScenarioResult) {
    let ns: Vec<usize> = {
        let mut v: Vec<usize> = sc
            .peers
            .iter()
            .filter_map(|p| p.name.rsplit_once("N=")?.1.parse().ok())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let name = |rt: &str, mode: &str, n: usize| format!("{rt} {mode} N={n}");
    let (Some(&lo), Some(&hi)) = (ns.iter().find(|&&n| n >= 10), ns.last()) else {
        return;
    };
    let _ = writeln!(
        md,
        "**Time per container** (median ms) as N grows; `N={hi} / N={lo}` is the per-round \
         ratio of the two (median, p25–p75); the cost counts as flat when that ratio is at most \
         {FLAT_LIMIT} (N=1 pays a start after a quiet gap, see the host notes, so N={lo} is the \
         base). `conc / seq` compares the two modes at N={hi}.\n"
    );
    let _ = writeln!(
        md,
        "| runtime | mode | {} | N={hi} / N={lo} | flat? | conc / seq (N={hi}) |",
        ns.iter()
            .map(|n| format!("N={n}"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(md, "|---|---|{}---:|---|---:|", "---:|".repeat(ns.len()));
    for rt in ["podrt", "crun", "runc"] {
        for mode in ["seq", "conc"] {
            if sc.peer(&name(rt, mode, hi)).is_none() {
                continue;
            }
            let cells: Vec<String> = ns
                .iter()
                .map(|&n| {
                    sc.peer(&name(rt, mode, n))
                        .map_or("–".into(), |p| format!("{:.2}", p.summary().median))
                })
                .collect();
            let r = sc.paired(&name(rt, mode, hi), &name(rt, mode, lo), None);
            let flat = r.as_ref().map_or("–".to_string(), |r| {
                let m = stats::median(r);
                if m < 1.0 / FLAT_LIMIT {
                    "**flat** (cheaper per container at the larger N)".into()
                } else if m <= FLAT_LIMIT {
                    "**flat**".into()
                } else {
                    format!("**grows** ({:.0}% more per container)", (m - 1.0) * 100.0)
                }
            });
            let modes = if mode == "conc" {
                ratio_cell(sc.paired(&name(rt, "conc", hi), &name(rt, "seq", hi), None))
            } else {
                String::new()
            };
            let _ = writeln!(
                md,
                "| {rt} | {mode} | {} | {} | {flat} | {modes} |",
                cells.join(" | "),
                ratio_cell(r)
            );
        }
    }
    let _ = writeln!(md);

    let _ = writeln!(
        md,
        "**One after another:** wall time of single starts within a round, median (max), ms; \
         `last 10 / first 10` is the per-round ratio of the mean of the last ten starts to the \
         mean of the first ten (median over rounds):\n"
    );
    let _ = writeln!(
        md,
        "| peer | first | last | total | last 10 / first 10 |\n|---|---:|---:|---:|---:|"
    );
    for p in sc.peers.iter().filter(|p| p.name.contains(" seq ")) {
        let step = |st: &str| {
            p.step_summary(st)
                .map_or("–".into(), |s| format!("{:.2} ({:.1})", s.median, s.max))
        };
        let r: Vec<f64> = p
            .samples
            .iter()
            .filter_map(|s| Some(s.extra("last10_mean")? / s.extra("first10_mean")?))
            .collect();
        let r = if r.is_empty() {
            "–".into()
        } else {
            format!("{:.2}x", stats::median(&r))
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {r} |",
            p.name,
            step("first"),
            step("last"),
            step("total")
        );
    }
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "**All at once:** the fastest and the slowest runtime process of a round (each timed \
         from its own fork), and the whole batch, median (max), ms:\n"
    );
    let _ = writeln!(
        md,
        "| peer | fastest | slowest | total |\n|---|---:|---:|---:|"
    );
    for p in sc.peers.iter().filter(|p| p.name.contains(" conc ")) {
        let step = |st: &str| {
            p.step_summary(st)
                .map_or("–".into(), |s| format!("{:.2} ({:.1})", s.median, s.max))
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            p.name,
            step("fastest"),
            step("slowest"),
            step("total")
        );
    }
    let _ = writeln!(md);
    write_memory(
        md,
        "container",
        sc.peers.iter().filter(|p| {
            p.name.ends_with(&format!("N={lo}")) || p.name.ends_with(&format!("N={hi}"))
        }),
        "every process below the harness once all N run (here: the containers' `sleep`; none of \
         the three runtimes leaves a helper process for `run -d`)",
    );
}

/// The memory table of `scale` and `pods`, per container or pod.
fn write_memory<'a>(
    md: &mut String,
    unit: &str,
    peers: impl Iterator<Item = &'a PeerResult>,
    what: &str,
) {
    let _ = writeln!(
        md,
        "**Memory per {unit}** while all N run (medians over rounds). Processes, PSS and RSS: \
         {what}, read from `/proc/PID/smaps_rollup`. PSS splits each shared page (the same \
         binary's text) between the processes mapping it, so it adds up to what they really \
         hold; RSS counts a shared page once per process. Neither includes kernel memory \
         (namespaces, mounts, cgroups, the overlay and page tables). `MemAvailable` drop: the \
         host's `MemAvailable` before the first start minus with all N up, over N: it includes \
         the kernel's part, but it is host-wide and other work on this machine moves it by \
         more than a few containers do, so read it as an order of magnitude (a negative value \
         means the noise won).\n"
    );
    let _ = writeln!(
        md,
        "| peer | processes | PSS KiB | RSS KiB | MemAvailable drop KiB |\n|---|---:|---:|---:|---:|"
    );
    for p in peers {
        let m = |k: &str| p.extra_median(k).map_or("–".into(), |v| format!("{v:.0}"));
        let procs = p
            .extra_median("procs_per")
            .map_or("–".into(), |v| format!("{v:.1}"));
        let _ = writeln!(
            md,
            "| {} | {procs} | {} | {} | {} |",
            p.name,
            m("pss_kib_per"),
            m("rss_kib_per"),
            m("avail_drop_kib_per")
        );
    }
    let _ = writeln!(md);
}

/// `pods`: each pod's time by its index while the earlier ones run, and memory per pod.
#[allow(clippy::cast_precision_loss)]
/// Which of podrt's phases grow with the number of pods already running: per phase, its
/// duration (mark minus the previous mark of the same pod) averaged over the first and over the
/// last `base_k` pods of a round, then the median over rounds.
fn write_pod_phases(md: &mut String, big: &PeerResult, n: usize, base_k: usize) {
    // Durations of one pod's phases, in mark order.
    let durations = |s: &Sample, k: usize| -> Vec<(String, f64)> {
        let prefix = format!("pod {k}.");
        let mut marks: Vec<(&str, f64)> = s
            .phases
            .iter()
            .filter_map(|(name, v)| Some((name.strip_prefix(&prefix)?, *v)))
            .collect();
        marks.sort_by(|a, b| a.1.total_cmp(&b.1));
        let mut last = 0.0;
        marks
            .into_iter()
            .map(|(name, v)| {
                let d = v - last;
                last = v;
                (name.to_string(), d)
            })
            .collect()
    };
    let Some(first) = big.samples.first() else {
        return;
    };
    let order: Vec<String> = durations(first, 1).into_iter().map(|(n, _)| n).collect();
    if order.is_empty() {
        return;
    }
    let mean_over = |s: &Sample, ks: std::ops::RangeInclusive<usize>, phase: &str| -> Option<f64> {
        let v: Vec<f64> = ks
            .filter_map(|k| {
                durations(s, k)
                    .into_iter()
                    .find(|(n, _)| n == phase)
                    .map(|(_, d)| d)
            })
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let _ = writeln!(
        md,
        "**Which phases grow**: podrt's `--timings` marks of each pod, as durations (a mark \
         minus the one before it), averaged over pods 1–{base_k} and over pods {}–{n} of the \
         same round, median over rounds, ms:\n",
        n + 1 - base_k
    );
    let _ = writeln!(
        md,
        "| phase | pods 1–{base_k} | pods {}–{n} | difference |",
        n + 1 - base_k
    );
    let _ = writeln!(md, "|---|---:|---:|---:|");
    let (mut sum_a, mut sum_b) = (0.0, 0.0);
    for phase in &order {
        let a: Vec<f64> = big
            .samples
            .iter()
            .filter_map(|s| mean_over(s, 1..=base_k, phase))
            .collect();
        let b: Vec<f64> = big
            .samples
            .iter()
            .filter_map(|s| mean_over(s, n + 1 - base_k..=n, phase))
            .collect();
        if a.is_empty() || b.is_empty() {
            continue;
        }
        let (a, b) = (stats::median(&a), stats::median(&b));
        sum_a += a;
        sum_b += b;
        let _ = writeln!(md, "| {phase} | {a:.2} | {b:.2} | {:+.2} |", b - a);
    }
    let _ = writeln!(
        md,
        "| (sum of the medians) | {sum_a:.2} | {sum_b:.2} | {:+.2} |\n",
        sum_b - sum_a
    );
}

fn write_pods(md: &mut String, sc: &ScenarioResult) {
    let Some(big) = sc
        .peers
        .iter()
        .max_by_key(|p| p.samples.first().map_or(0, |s| s.steps.len()))
    else {
        return;
    };
    let n = big.samples.first().map_or(0, |s| s.steps.len());
    if n == 0 {
        return;
    }
    let base_k = n.min(5);
    // Per round: pod k / mean of pods 1..=base_k of the same round.
    let rel = |k: usize| -> Vec<f64> {
        big.samples
            .iter()
            .filter_map(|s| {
                let base: f64 =
                    s.steps.iter().take(base_k).map(|x| x.1).sum::<f64>() / base_k as f64;
                Some(s.steps.get(k - 1)?.1 / base)
            })
            .collect()
    };
    let others: Vec<&PeerResult> = sc.peers.iter().filter(|p| !std::ptr::eq(*p, big)).collect();
    let _ = writeln!(
        md,
        "**Time of the k-th pod** while the k − 1 before it keep running, ms (median, p25–p75 \
         over rounds), and relative to the mean of pods 1–{base_k} of the same round (median of \
         the per-round ratio; pod 1 is often slower, it starts after a quiet gap):\n"
    );
    let _ = write!(
        md,
        "| k | {} | p25–p75 | k-th / mean of 1–{base_k} |",
        big.name
    );
    for o in &others {
        let _ = write!(md, " {} |", o.name);
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "|---:|---:|---:|---:|{}", "---:|".repeat(others.len()));
    let mut worst = (0usize, 0.0f64);
    for k in 1..=n {
        let Some(s) = big.step_summary(&format!("pod {k}")) else {
            continue;
        };
        let r = stats::median(&rel(k));
        if k > base_k && r > worst.1 {
            worst = (k, r);
        }
        let _ = write!(
            md,
            "| {k} | {:.2} | {:.2}–{:.2} | {r:.2}x |",
            s.median, s.p25, s.p75
        );
        for o in &others {
            let cell = o
                .step_median(&format!("pod {k}"))
                .map_or("".into(), |m| format!("{m:.2}"));
            let _ = write!(md, " {cell} |");
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md);
    let tail: Vec<f64> = big
        .samples
        .iter()
        .filter_map(|s| {
            let first = s.steps.iter().take(base_k).map(|x| x.1).sum::<f64>() / base_k as f64;
            let last = s.steps.iter().rev().take(base_k).map(|x| x.1).sum::<f64>() / base_k as f64;
            (first > 0.0).then_some(last / first)
        })
        .collect();
    let tail = stats::median(&tail);
    if n > base_k {
        // Least-squares slope of the per-index medians: ms more per pod already running.
        let pts: Vec<(f64, f64)> = (1..=n)
            .filter_map(|k| Some((k as f64, big.step_median(&format!("pod {k}"))?)))
            .collect();
        let mx = pts.iter().map(|p| p.0).sum::<f64>() / pts.len() as f64;
        let my = pts.iter().map(|p| p.1).sum::<f64>() / pts.len() as f64;
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let slope = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx;
        let verdict = if tail <= FLAT_LIMIT {
            format!(
                "**no step**: the last {base_k} pods cost at most {FLAT_LIMIT}x the first {base_k}"
            )
        } else {
            format!(
                "**step**: the last {base_k} pods cost more than {FLAT_LIMIT}x the first \
                 {base_k}"
            )
        };
        let last_first: Vec<f64> = big
            .samples
            .iter()
            .filter_map(|s| Some(s.steps.get(n - 1)?.1 / s.steps.first()?.1))
            .collect();
        let _ = writeln!(
            md,
            "Pod {n} over pod 1 of the same round: {:.2}x (median over rounds). Mean of the \
             last {base_k} pods over the mean of the first {base_k}, same round: {tail:.2}x; \
             least-squares slope of the medians: {slope:+.2} ms per pod already running; the \
             highest single ratio above is pod {} at {:.2}x. {verdict}.\n",
            stats::median(&last_first),
            worst.0,
            worst.1
        );
    }
    if n > base_k {
        // What ran just before each round's series: the teardown it left behind overlaps it.
        let rounds: Vec<String> = big
            .samples
            .iter()
            .filter_map(|s| {
                let first = s.steps.iter().take(base_k).map(|x| x.1).sum::<f64>() / base_k as f64;
                let last =
                    s.steps.iter().rev().take(base_k).map(|x| x.1).sum::<f64>() / base_k as f64;
                (first > 0.0).then(|| {
                    format!(
                        "after {}: {:.2}x",
                        s.after.as_deref().unwrap_or("nothing"),
                        last / first
                    )
                })
            })
            .collect();
        let _ = writeln!(
            md,
            "Last {base_k} over first {base_k} of {} by round, with the run just before it: {}.\n",
            big.name,
            rounds.join("; ")
        );
        write_pod_phases(md, big, n, base_k);
    }
    write_memory(
        md,
        "pod",
        sc.peers.iter(),
        "every process below the harness once all N pods run (each pod's monitor and its two \
         `sleep` containers; a `run --detach` parent still waiting would be left out)",
    );
    let returned: Vec<f64> = sc
        .peers
        .iter()
        .flat_map(|p| p.extras("detach_returned"))
        .collect();
    if !returned.is_empty() {
        let ms: Vec<f64> = sc
            .peers
            .iter()
            .flat_map(|p| p.extras("detach_return_ms"))
            .filter(|v| v.is_finite())
            .collect();
        let all = returned.iter().all(|&r| r > 0.999);
        let _ = writeln!(
            md,
            "`podrt run --detach` {} (median {:.2} ms after spawn).\n",
            if all {
                "returned for every pod before the next one started"
            } else {
                "did not return for some pods within 5 s of the pod running; those parents were \
                 ended by PID after `pod stop` and their memory left out"
            },
            stats::median(&ms)
        );
    }
}

/// Median of each runtime by the peer that ran just before it (diagnostic: few runs per cell).
fn write_predecessors(md: &mut String, sc: &ScenarioResult) {
    let names: Vec<&str> = sc.peers.iter().map(|p| p.name.as_str()).collect();
    let runtimes: Vec<&PeerResult> = sc.peers.iter().filter(|p| !p.floor).collect();
    if runtimes.is_empty() || names.len() < 2 {
        return;
    }
    // Primed scenarios: every run followed an untimed run of its own peer.
    if sc.peers.iter().all(|p| {
        p.samples
            .iter()
            .all(|s| s.after.as_deref() == Some(&p.name))
    }) {
        return;
    }
    let _ = writeln!(
        md,
        "Median ms by the peer that ran just before (number of runs in parentheses; few runs \
         per cell, read as a hint):\n"
    );
    let _ = writeln!(md, "| runtime \\ after | {} |", names.join(" | "));
    let _ = writeln!(md, "|---|{}", "---:|".repeat(names.len()));
    for p in runtimes {
        let cells: Vec<String> = names
            .iter()
            .map(|before| {
                let v: Vec<f64> = p
                    .samples
                    .iter()
                    .filter(|s| s.after.as_deref() == Some(*before))
                    .map(|s| s.total_ms)
                    .collect();
                if v.is_empty() {
                    "–".into()
                } else {
                    format!("{:.1} ({})", stats::median(&v), v.len())
                }
            })
            .collect();
        let _ = writeln!(md, "| {} | {} |", p.name, cells.join(" | "));
    }
    let _ = writeln!(md);
}

/// Per-round `a - b`.
fn net(sc: &ScenarioResult, a: &str, b: &str) -> Vec<f64> {
    match (sc.peer(a), sc.peer(b)) {
        (Some(a), Some(b)) => a
            .totals()
            .iter()
            .zip(b.totals())
            .map(|(x, y)| x - y)
            .collect(),
        _ => Vec::new(),
    }
}

fn write_phases(md: &mut String, scenarios: &[ScenarioResult]) {
    if !scenarios.iter().any(|s| {
        matches!(s.name.as_str(), "run" | "lifecycle" | "pod2" | "nginxphp")
            && s.peer("podrt").is_some()
    }) {
        return;
    }
    let _ = writeln!(md, "## Where podrt's time goes\n");
    let _ = writeln!(
        md,
        "From podrt's `--timings` marks: each mark is the time since the command started \
         recording (after argument parsing and logging setup); the duration is the median of \
         per-run differences between consecutive marks.\n"
    );
    for sc in scenarios {
        let Some(p) = sc.peer("podrt") else { continue };
        let cmds: Vec<&str> = match sc.name.as_str() {
            "run" => vec!["run"],
            "lifecycle" => vec!["create", "start"],
            "pod2" | "nginxphp" => vec!["pod"],
            _ => continue,
        };
        for cmd in cmds {
            let rows = phase_table(p, cmd);
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(md, "`podrt {cmd}` (scenario `{}`):\n", sc.name);
            let _ = writeln!(
                md,
                "| phase | mark at (median ms) | duration (median ms) | share | what happens |"
            );
            let _ = writeln!(md, "|---|---:|---:|---:|---|");
            let total = if cmd == "run" || cmd == "pod" {
                p.summary().median
            } else {
                p.step_median(cmd).unwrap_or(f64::NAN)
            };
            let mut last = 0.0;
            for (name, end, dur) in &rows {
                let _ = writeln!(
                    md,
                    "| {name} | {end:.2} | {dur:.2} | {:.0}% | {} |",
                    dur / total * 100.0,
                    phase_doc(name)
                );
                last = *end;
            }
            let outside = total - last;
            let what = if cmd == "run" {
                "not covered by marks: exec of podrt, its start-up, argument parsing before the \
                 first mark; report and exit after the last"
            } else if sc.name == "nginxphp" {
                "not covered by marks: exec and parsing before the first mark; after the last, \
                 the monitor saves pod.json and `run --detach` returns, nginx and php-fpm start \
                 in the pod and the harness's first `GET /index.php` gets its 200"
            } else if cmd == "pod" {
                "not covered by marks: exec and parsing before the first mark; the manifest and \
                 the monitor's fork happen before `images`; after the last mark the monitor \
                 saves pod.json as running, which the harness polls for"
            } else {
                "not covered by marks: exec, loading and parsing before the first mark; exit \
                 after the last"
            };
            let _ = writeln!(
                md,
                "| (outside marks) | | {outside:.2} | {:.0}% | {what} |",
                outside / total * 100.0
            );
            let _ = writeln!(md, "| **total** (median wall) | | {total:.2} | 100% | |\n");
        }
    }
}

fn write_startup_note(md: &mut String, ctx: &Context, scenarios: &[ScenarioResult]) {
    let Some(run) = scenarios
        .iter()
        .find(|s| s.name == "run" || s.name == "floors")
    else {
        return;
    };
    let (Some(v), Some(t)) = (run.peer("podrt --version"), run.peer("exec-true")) else {
        return;
    };
    let (v, t) = (v.summary().median, t.summary().median);
    let _ = writeln!(
        md,
        "Every podrt command also pays its process start-up, which no mark covers: `podrt \
         --version` takes {v:.2} ms against {t:.2} ms for `/bin/true` (exec and page faults of a \
         {:.1} MiB static binary, libc start-up, argument parsing), so about {:.2} ms per podrt process \
         on top of a bare exec; `run` pays it once, the lifecycle three times.\n",
        ctx.podrt_binary_mib,
        v - t
    );
}

fn write_host_notes(md: &mut String, ctx: &Context) {
    use crate::machine::CgroupMode;
    if !matches!(ctx.machine.cgroup, CgroupMode::Hybrid | CgroupMode::Legacy) {
        return;
    }
    let _ = writeln!(md, "## Notes on this host\n");
    let _ = writeln!(
        md,
        "- **Moving a process into a v1 cgroup.** Writing a pid to a v1 `cgroup.procs` or \
         `tasks` file takes the kernel's global `cgroup_threadgroup_rwsem` for writing, a \
         per-CPU rwsem whose writer waits for a full RCU grace period unless another writer \
         went through moments before: 4–20 ms here after a quiet gap (traced with `perf trace` \
         and `strace -f -T`), microseconds when warm, which is what spreads crun's and runc's \
         distributions (crun pays it in name=systemd). podrt's init moves itself instead, by \
         writing `0` to each hierarchy's `tasks` file: a thread moving only itself skips that \
         lock, and a single-threaded process is its one thread. This changes what crun and \
         runc measure here: in rounds interleaved with podrt they used to find the lock warmed \
         by podrt's moves, and now pay the grace period more often, so their medians in this \
         file rose against earlier versions of it while nothing changed in them. Elsewhere: on \
         cgroup v2, `clone3(CLONE_INTO_CGROUP)` takes the lock only for reading.\n"
    );
}

/// A few lines for the terminal.
pub fn terminal_summary(scenarios: &[ScenarioResult]) -> String {
    let mut out = String::new();
    for sc in scenarios {
        let _ = writeln!(out, "scenario {}:", sc.name);
        for p in &sc.peers {
            let s = p.summary();
            let ratio = if p.name == "podrt" || sc.peer("podrt").is_none() {
                String::new()
            } else {
                sc.paired("podrt", &p.name, None)
                    .map(|r| format!("  podrt/{} {:.2}x", p.name, stats::median(&r)))
                    .unwrap_or_default()
            };
            let _ = writeln!(
                out,
                "  {:<13} median {:>7.2} ms  p90 {:>7.2}  min {:>7.2}  max {:>7.2}  rss {:>5.2} MiB{ratio}",
                p.name,
                s.median,
                s.p90,
                s.min,
                s.max,
                mib(p.rss_median_kib())
            );
        }
        if sc.peer("crun-wrapper").is_some() && sc.peer("podrt").is_some() {
            if let Some(r) = sc.paired("podrt", "crun", Some("crun-wrapper")) {
                let _ = writeln!(out, "  podrt/(crun - wrapper) {:.2}x", stats::median(&r));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortfall_wording() {
        let missed = shortfall(10.0, "crun", 10.0, 0.7);
        assert!(missed.contains("drop by about 3.0 ms"), "{missed}");
        let medians_ok = shortfall(5.65, "crun − wrapper", 10.0, 0.7);
        assert!(
            medians_ok.contains("medians alone are within the limit")
                && !medians_ok.contains("drop by"),
            "{medians_ok}"
        );
    }
}
