//! Self-tests of the harness: the leak check must catch leaks, bundles must be cheap.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::time::{Duration, Instant};

use podrt_tests::procfs::{self, Status};
use podrt_tests::{leak, Bundle, Ctx};

#[test]
#[should_panic(expected = "LEAK CHECK FAILED")]
fn leak_check_catches_a_running_container() {
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    let pid = t.up();
    // The check must see the process, its cgroups and its state dir.
    let (ids, bundles) = (vec![t.id.clone()], vec![t.bundle.path().to_path_buf()]);
    let scope = leak::Scope {
        root: t.root(),
        ids: &ids,
        bundles: &bundles,
    };
    let leaks = leak::find_leaks(&scope);
    assert!(
        leaks.iter().any(|l| l.contains(&format!("pid {pid}"))),
        "{leaks:?}"
    );
    assert!(
        leaks.iter().any(|l| l.starts_with("state entry")),
        "{leaks:?}"
    );
    assert!(
        leaks.iter().any(|l| l.starts_with("cgroup dir")),
        "{leaks:?}"
    );
    // Dropping `t` now must fail the test (and clean up).
}

#[test]
fn leak_check_cleans_up_after_failure() {
    let id;
    let pid;
    {
        let r = std::panic::catch_unwind(|| {
            let mut t = Ctx::new();
            t.bundle.args(&["sleep", "1000"]);
            let p = t.up();
            (t.id.clone(), p, t)
        });
        let (i, p, t) = r.unwrap();
        id = i;
        pid = p;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(t)));
        assert!(
            r.is_err(),
            "drop of a ctx with a running container must panic"
        );
    }
    assert!(
        !procfs::alive(pid),
        "cleanup must kill the leaked container"
    );
    assert!(leak::cgroup_dirs_with(&[id]).is_empty());
}

#[test]
fn bundle_is_fast() {
    let t = Ctx::new();
    let _warm = t.new_bundle("warm");
    let start = Instant::now();
    for i in 0..5 {
        let _ = t.new_bundle(&format!("b{i}"));
    }
    let per = start.elapsed() / 5;
    assert!(per < Duration::from_millis(50), "bundle takes {per:?}");
    let b: Bundle = t.new_bundle("check");
    assert!(b.rootfs().join("bin/sh").exists());
    assert!(b.rootfs().join("etc/passwd").exists());
}

#[test]
fn status_parser_reads_self() {
    let st = Status::of(std::process::id() as i32);
    assert_eq!(st.ids("Uid")[0], 0);
    assert!(st.cap("CapEff") != 0);
    assert_eq!(procfs::cap_mask(&["CAP_CHOWN", "CAP_KILL"]), 0b10_0001);
}
