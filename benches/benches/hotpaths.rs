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

/// The RuntimeDefault profile podrt gives pod containers (pod-spec's data, Docker's shape:
/// default `ERRNO(EPERM)`, a large allow list, argument conditions, `clone3` -> `ENOSYS`).
fn seccomp_profile() -> Value {
    serde_json::to_value(podrt_pod_spec::runtime_default_seccomp()).expect("serialize the profile")
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
    let names: usize = profile
        .syscalls()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|r| r.names().len())
        .sum();
    match seccomp::compile(&profile) {
        Ok(compiled) => {
            let insns: usize = compiled.filters.iter().map(Vec::len).sum();
            println!("seccomp: {names} syscall names in rules -> {insns} BPF instructions");
            c.bench_function("seccomp::compile RuntimeDefault profile", |b| {
                b.iter(|| seccomp::compile(black_box(&profile)).expect("compile"));
            });
        }
        Err(e) => println!("seccomp::compile skipped (the compiler returned an error: {e})"),
    }
}

criterion_group!(benches, config_parsing, plan, state_file, seccomp_compile);
criterion_main!(benches);
