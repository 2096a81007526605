//! Mounts: defaults, binds, propagation, readonly rootfs, masked/readonly paths, devices.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::fs;
use std::time::Duration;

use podrt_tests::ctx::wait_until;
use podrt_tests::procfs::{find_mount, mountinfo, parse_mountinfo};
use podrt_tests::{json, Ctx, HostMount};

#[test]
fn default_mounts_in_mountinfo() {
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    let pid = t.up();
    let mi = mountinfo(pid);
    let get = |p: &str| find_mount(&mi, p).unwrap_or_else(|| panic!("no mount at {p}: {mi:#?}"));
    assert_eq!(get("/proc").fstype, "proc");
    let dev = get("/dev");
    assert_eq!(dev.fstype, "tmpfs");
    assert!(dev.has_opt("nosuid") && dev.has_opt("mode=755"), "{dev:?}");
    assert!(dev.has_opt("size=65536k"), "{dev:?}");
    let pts = get("/dev/pts");
    assert_eq!(pts.fstype, "devpts");
    assert!(pts.has_opt("nosuid") && pts.has_opt("noexec"), "{pts:?}");
    assert!(
        pts.has_opt("ptmxmode=666") && pts.has_opt("mode=620") && pts.has_opt("gid=5"),
        "{pts:?}"
    );
    let shm = get("/dev/shm");
    assert_eq!(shm.fstype, "tmpfs");
    assert!(
        shm.has_opt("nosuid") && shm.has_opt("noexec") && shm.has_opt("nodev"),
        "{shm:?}"
    );
    let mq = get("/dev/mqueue");
    assert_eq!(mq.fstype, "mqueue");
    assert!(mq.has_opt("nodev"), "{mq:?}");
    let sys = get("/sys");
    assert_eq!(sys.fstype, "sysfs");
    assert!(sys.options.split(',').any(|o| o == "ro"), "{sys:?}");
    // /sys/fs/cgroup: cgroup2, or (v1) a tmpfs with one cgroup mount per hierarchy; all ro.
    let cg: Vec<_> = mi
        .iter()
        .filter(|m| m.mount_point.starts_with("/sys/fs/cgroup"))
        .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
        .collect();
    assert!(
        !cg.is_empty(),
        "no cgroup mount under /sys/fs/cgroup: {mi:#?}"
    );
    for m in &cg {
        assert!(
            m.options.split(',').any(|o| o == "ro"),
            "cgroup mount not ro: {m:?}"
        );
    }
    // Nothing of the host's other mounts is visible: every mount is at / or below a config
    // destination.
    let root = get("/");
    assert!(root.root.ends_with("/rootfs"), "root mount {root:?}");
    t.down();
}

#[test]
fn mounts_seen_from_inside() {
    let mut t = Ctx::new();
    let out = t.sh_ok("cat /proc/self/mountinfo");
    let mi = parse_mountinfo(&out);
    for p in [
        "/",
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
    ] {
        assert!(find_mount(&mi, p).is_some(), "no {p} inside: {out}");
    }
}

#[test]
fn bind_mount_rw_and_ro() {
    let mut t = Ctx::new();
    let rw = t.dir().join("rw-src");
    let ro = t.dir().join("ro-src");
    fs::create_dir_all(&rw).unwrap();
    fs::create_dir_all(&ro).unwrap();
    fs::write(rw.join("hello"), "from-host\n").unwrap();
    fs::write(ro.join("hello"), "ro-host\n").unwrap();
    t.bundle
        .mount(json!({"destination": "/data", "type": "bind", "source": rw, "options": ["bind"]}))
        .mount(
            json!({"destination": "/rodata", "type": "none", "source": ro,
            "options": ["bind", "ro"]}),
        );
    let out = t.sh_ok(
        "cat /data/hello; echo written > /data/new; cat /rodata/hello; \
         if touch /rodata/x 2>/dev/null; then echo RO-WRITABLE; else echo ro-ok; fi",
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["from-host", "ro-host", "ro-ok"]
    );
    assert_eq!(fs::read_to_string(rw.join("new")).unwrap(), "written\n");
    assert!(!ro.join("x").exists());
}

#[test]
fn bind_mount_file() {
    let mut t = Ctx::new();
    let f = t.dir().join("file-src");
    fs::write(&f, "single-file\n").unwrap();
    t.bundle.mount(
        json!({"destination": "/etc/bound", "type": "bind", "source": f,
        "options": ["rbind", "ro"]}),
    );
    assert_eq!(t.sh_ok("cat /etc/bound"), "single-file\n");
}

#[test]
fn bind_creates_nested_destination() {
    let mut t = Ctx::new();
    let src = t.dir().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("f"), "deep\n").unwrap();
    t.bundle.mount(
        json!({"destination": "/a/b/c", "type": "bind", "source": src,
        "options": ["bind"]}),
    );
    assert_eq!(t.sh_ok("cat /a/b/c/f"), "deep\n");
}

#[test]
fn rbind_includes_submounts_bind_does_not() {
    let mut t = Ctx::new();
    let src = t.dir().join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    t.bundle
        .mount(json!({"destination": "/r", "type": "bind", "source": src, "options": ["rbind"]}))
        .mount(json!({"destination": "/nr", "type": "bind", "source": src, "options": ["bind"]}));
    let sub = HostMount::tmpfs(&src.join("sub"));
    fs::write(sub.target().join("marker"), "in-submount\n").unwrap();
    let out = t.sh_ok("cat /r/sub/marker; ls /nr/sub | wc -l");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["in-submount", "0"]);
    drop(sub);
}

#[test]
fn tmpfs_mount_options() {
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    t.bundle.mount(
        json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=700"]}),
    );
    let pid = t.up();
    let mi = mountinfo(pid);
    let m = find_mount(&mi, "/scratch").expect("tmpfs mounted");
    assert_eq!(m.fstype, "tmpfs");
    for o in ["nosuid", "nodev", "noexec", "size=1024k", "mode=700"] {
        assert!(m.has_opt(o), "{o} missing: {m:?}");
    }
    t.down();
}

/// Bind a shared host mount into the container under `rootfsPropagation: mode`; return the
/// optional fields of the container's view of it and whether a mount made on the host below it
/// after start shows up inside, plus the optional fields of the container's `/`.
fn propagation(mode: &str) -> (String, bool, String) {
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    t.bundle.config_mut()["linux"]["rootfsPropagation"] = json!(mode);
    let src = t.dir().join("shared-src");
    let shared = HostMount::tmpfs(&src);
    shared.make_shared();
    fs::create_dir_all(src.join("sub")).unwrap();
    t.bundle
        .mount(json!({"destination": "/vol", "type": "bind", "source": src,
        "options": ["rbind"]}));
    let pid = t.up();
    let mi = mountinfo(pid);
    let vol = find_mount(&mi, "/vol").expect("/vol mounted");
    let optional = vol.optional.join(" ");
    let root_optional = find_mount(&mi, "/").expect("root mount").optional.join(" ");
    // A mount made on the host after start: visible inside only with slave/shared.
    let late = HostMount::tmpfs(&src.join("sub"));
    let seen = wait_until(Duration::from_millis(300), || {
        mountinfo(pid).iter().any(|m| m.mount_point == "/vol/sub")
    });
    drop(late);
    t.down();
    drop(shared);
    (optional, seen, root_optional)
}

#[test]
fn rootfs_propagation_private() {
    // Non-recursive: only the container's / is made private (runc 1.1.5 leaves the bind of a
    // shared host mount shared).
    let (_, _, root) = propagation("private");
    assert!(root.is_empty(), "root optional fields: {root:?}");
}

#[test]
fn rootfs_propagation_rprivate() {
    let (optional, seen, _) = propagation("rprivate");
    assert!(
        !optional.contains("shared:") && !optional.contains("master:"),
        "{optional}"
    );
    assert!(!seen, "host mount propagated into a private container");
}

#[test]
fn rootfs_propagation_slave() {
    let (optional, seen, _) = propagation("rslave");
    assert!(
        optional.contains("master:"),
        "optional fields: {optional:?}"
    );
    assert!(
        !optional.contains("shared:"),
        "optional fields: {optional:?}"
    );
    assert!(seen, "host mount did not propagate into a slave container");
}

#[test]
fn rootfs_propagation_shared() {
    let (optional, seen, _) = propagation("rshared");
    assert!(
        optional.contains("shared:"),
        "optional fields: {optional:?}"
    );
    assert!(seen, "host mount did not propagate into a shared container");
}

#[test]
fn rootfs_root_mount_is_private() {
    // Whatever the propagation, the container's / itself is private (pivot_root needs it).
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    let pid = t.up();
    let mi = mountinfo(pid);
    let root = find_mount(&mi, "/").unwrap();
    assert!(root.optional.is_empty(), "{root:?}");
    t.down();
}

#[test]
fn readonly_rootfs() {
    let mut t = Ctx::new();
    t.bundle.config_mut()["root"]["readonly"] = json!(true);
    let out = t.sh_ok(
        "touch /newfile 2>&1; echo rc=$?; touch /tmp/x 2>&1; echo tmp=$?; \
         awk '$5==\"/\"' /proc/self/mountinfo",
    );
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
    // /tmp is on the rootfs here too: also read-only.
    assert!(out.contains("tmp=1"), "{out}");
    let root = parse_mountinfo(out.lines().last().unwrap());
    assert!(root[0].options.split(',').any(|o| o == "ro"), "{out}");
    assert!(!t.bundle.rootfs().join("newfile").exists());
}

#[test]
fn readonly_rootfs_keeps_dev_writable() {
    let mut t = Ctx::new();
    t.bundle.config_mut()["root"]["readonly"] = json!(true);
    assert_eq!(t.sh_ok("echo ok > /dev/shm/x && cat /dev/shm/x"), "ok\n");
}

#[test]
fn masked_paths() {
    let mut t = Ctx::new();
    let out = t.sh_ok(
        "echo kcore=$(cat /proc/kcore | wc -c); echo firmware=$(ls -A /sys/firmware | wc -l); \
         echo keys=$(cat /proc/keys 2>/dev/null | wc -c)",
    );
    assert!(out.contains("kcore=0"), "{out}");
    assert!(out.contains("firmware=0"), "{out}");
    assert!(out.contains("keys=0"), "{out}");
}

#[test]
fn masked_custom_file_and_dir() {
    let mut t = Ctx::new();
    fs::write(t.bundle.rootfs().join("etc/secret"), "s3cret\n").unwrap();
    fs::create_dir_all(t.bundle.rootfs().join("secretdir")).unwrap();
    fs::write(t.bundle.rootfs().join("secretdir/f"), "x").unwrap();
    t.bundle.config_mut()["linux"]["maskedPaths"] = json!(["/etc/secret", "/secretdir", "/nope"]);
    let out = t.sh_ok("echo [$(cat /etc/secret)]; ls -A /secretdir | wc -l");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["[]", "0"]);
}

#[test]
fn readonly_paths() {
    let mut t = Ctx::new();
    let out = t.sh_ok(
        "sh -c 'echo x > /proc/sys/kernel/domainname' 2>&1; echo rc=$?; \
         awk '$5==\"/proc/sys\" {print $6}' /proc/self/mountinfo",
    );
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
    assert!(
        out.lines().last().unwrap().split(',').any(|o| o == "ro"),
        "{out}"
    );
}

#[test]
fn default_devices() {
    let mut t = Ctx::new();
    let out = t.sh_ok(
        "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$d; done; \
         for l in fd stdin stdout stderr ptmx; do echo /dev/$l '->' $(readlink /dev/$l); done; \
         echo hi > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c",
    );
    let want = [
        "/dev/null character special file 1:3 666",
        "/dev/zero character special file 1:5 666",
        "/dev/full character special file 1:7 666",
        "/dev/random character special file 1:8 666",
        "/dev/urandom character special file 1:9 666",
        "/dev/tty character special file 5:0 666",
        "/dev/fd -> /proc/self/fd",
        "/dev/stdin -> /proc/self/fd/0",
        "/dev/stdout -> /proc/self/fd/1",
        "/dev/stderr -> /proc/self/fd/2",
        "/dev/ptmx -> pts/ptmx",
        "null-ok",
        "4",
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), want, "{out}");
}

#[test]
fn linux_devices_creates_node() {
    let mut t = Ctx::new();
    let c = t.bundle.config_mut();
    c["linux"]["devices"] = json!([{"path": "/dev/full-alias", "type": "c", "major": 1,
        "minor": 7, "fileMode": 0o640, "uid": 0, "gid": 0}]);
    c["linux"]["resources"]["devices"]
        .as_array_mut()
        .unwrap()
        .push(json!({"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"}));
    let out = t.sh_ok(
        "stat -c '%F %t:%T %a %u:%g' /dev/full-alias; sh -c 'echo x > /dev/full-alias' 2>&1; true",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "character special file 1:7 640 0:0", "{out}");
    assert!(out.contains("No space left on device"), "{out}");
}

#[test]
fn no_pivot() {
    let mut t = Ctx::new();
    t.bundle.sh("echo no-pivot; ls /bin/busybox");
    t.bundle.write();
    let out = t.run_command(
        t.command(&["run", "--no-pivot", "--bundle", t.bundle.path_str(), &t.id]),
        Duration::from_secs(30),
    );
    out.assert_ok();
    assert_eq!(out.stdout, "no-pivot\n/bin/busybox\n");
}
