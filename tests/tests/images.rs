//! `podrt image`: the local image store, driven through the binary on images built offline with
//! umoci (layouts, whiteouts, hand-crafted layers) and skopeo (oci-archive, docker-archive).
//!
//! Every test has its own temp dir holding the store (`--image-store`), the layouts and the
//! container dirs it mounts; dropping the [`World`] unmounts whatever is still mounted under it
//! and fails the test if anything was. Needs root, umoci and skopeo; only meaningful for podrt
//! (other runtimes have no image store), so it skips under `PODRT_TEST_RUNTIME=runc`.
//!
//! The nginx + php-fpm images of `examples/nginx-php/build-images` take a couple of minutes to
//! build the first time: `cargo test -p podrt-tests --test images -- --ignored`.
#![allow(clippy::cast_possible_truncation, clippy::cast_lossless)]

use std::ffi::OsStr;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use podrt_tests::runtime::run_captured;
use podrt_tests::{Out, Runtime, Value};

/// Records a loud, counted skip (the suite's `SKIP(feature-missing)` format).
fn skip(reason: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("unknown")
        .to_string();
    let line = format!("SKIP(feature-missing): images::{test}: {reason}");
    let _ = writeln!(std::io::stderr(), "\n*** {line} ***\n");
    let path = podrt_tests::features::skip_file();
    if let Some(dir) = path.parent() {
        let _ = fs::create_dir_all(dir);
    }
    if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(&path) {
        let _ = writeln!(f, "{line}");
    }
}

fn have(bin: &str) -> bool {
    Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Mount points at or below `dir` in our mount namespace.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(m.replace("\\040", " ")))
        .filter(|m| m.starts_with(dir))
        .collect()
}

/// One test's temp dir, store and podrt.
struct World {
    dir: tempfile::TempDir,
    rt: Runtime,
}

impl World {
    /// `None` (after recording a skip) when the machine cannot run image tests.
    fn new() -> Option<World> {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the podrt-tests suite is privileged: run it as root"
        );
        let rt = Runtime::from_env();
        if !rt.is_podrt() {
            skip(&format!("{} has no image store", rt.name()));
            return None;
        }
        for bin in ["umoci", "skopeo"] {
            if !have(bin) {
                skip(&format!(
                    "{bin} not installed (apt-get install umoci skopeo)"
                ));
                return None;
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("podrt-img-")
            .tempdir_in(std::env::temp_dir())
            .expect("temp dir");
        Some(World { dir, rt })
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn store(&self) -> PathBuf {
        self.path("store")
    }

    /// `podrt image --image-store <store> ARGS`.
    fn podrt(&self, args: &[&str]) -> Out {
        let store = self.store();
        let mut full = vec!["image", "--image-store", store.to_str().unwrap()];
        full.extend_from_slice(args);
        let mut cmd = self
            .rt
            .command(&self.path("state"), &self.path("podrt.log"), &full);
        cmd.stdin(Stdio::null());
        run_captured(
            cmd,
            &self.path("io"),
            &self.path("podrt.log"),
            Duration::from_secs(120),
        )
    }

    /// Unpacked layers in the store (names of `layers/*`, temp dirs included).
    fn layer_dirs(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.store().join("layers"))
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    fn list_json(&self) -> Vec<Value> {
        let out = self.podrt(&["list", "--format", "json"]);
        out.assert_ok();
        serde_json::from_str::<Value>(out.out())
            .unwrap_or_else(|e| panic!("list json: {e}\n{out}"))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let left = mounts_under(self.dir.path());
        for m in left.iter().rev() {
            let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
        }
        if !left.is_empty() && !std::thread::panicking() {
            panic!("LEAK: mounts left under the test dir: {left:?}");
        }
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn umoci<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(args: I) -> String {
    run(Command::new("umoci").args(args))
}

/// An OCI layout built step by step with umoci.
struct Layout {
    dir: PathBuf,
    bundle: PathBuf,
}

impl Layout {
    /// `umoci init` + `umoci new` (tag `latest`, no layers) + unpack into a work bundle.
    fn new(w: &World, name: &str) -> Layout {
        let dir = w.path(name);
        let bundle = w.path(&format!("{name}-bundle"));
        umoci([OsStr::new("init"), OsStr::new("--layout"), dir.as_os_str()]);
        let l = Layout { dir, bundle };
        umoci(["new", "--image", &l.image("latest")]);
        umoci([
            OsStr::new("unpack"),
            OsStr::new("--image"),
            OsStr::new(&l.image("latest")),
            l.bundle.as_os_str(),
        ]);
        l
    }

    fn image(&self, tag: &str) -> String {
        format!("{}:{tag}", self.dir.display())
    }

    fn reference(&self, tag: &str) -> String {
        format!("oci:{}", self.image(tag))
    }

    fn rootfs(&self) -> PathBuf {
        self.bundle.join("rootfs")
    }

    fn write(&self, path: &str, body: &str) -> &Self {
        let p = self.rootfs().join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, body).unwrap();
        self
    }

    /// A layer with whatever changed in the bundle's rootfs since the last repack (umoci
    /// writes `.wh.` whiteouts for deletions).
    fn repack(&self) {
        umoci([
            OsStr::new("repack"),
            OsStr::new("--refresh-bundle"),
            OsStr::new("--image"),
            OsStr::new(&self.image("latest")),
            self.bundle.as_os_str(),
        ]);
    }

    /// Appends a tar verbatim as a layer.
    fn add_raw_layer(&self, tar: &Path) {
        umoci([
            OsStr::new("raw"),
            OsStr::new("add-layer"),
            OsStr::new("--image"),
            OsStr::new(&self.image("latest")),
            tar.as_os_str(),
        ]);
    }

    fn config(&self, args: &[&str]) {
        let image = self.image("latest");
        let mut all = vec!["config", "--image", &image];
        all.extend_from_slice(args);
        umoci(all);
    }

    /// The blob file of the image's first layer.
    fn first_layer_blob(&self) -> PathBuf {
        let read =
            |p: PathBuf| -> Value { serde_json::from_slice(&fs::read(&p).unwrap()).unwrap() };
        let blob = |d: &Value| {
            let d = d.as_str().unwrap().trim_start_matches("sha256:");
            self.dir.join("blobs/sha256").join(d)
        };
        let index = read(self.dir.join("index.json"));
        let manifest = read(blob(&index["manifests"][0]["digest"]));
        blob(&manifest["layers"][0]["digest"])
    }
}

/// A two-layer image: `etc/keep`, `etc/gone`, `data/old/{a,b}`, `bin/tool`; then `etc/gone`
/// deleted (umoci whiteout) and `data/old` replaced (opaque whiteout in a hand-made layer).
fn whiteout_image(w: &World) -> Layout {
    let l = Layout::new(w, "layout");
    l.write("etc/keep", "keep\n")
        .write("etc/gone", "gone\n")
        .write("data/old/a", "a\n")
        .write("data/old/b", "b\n")
        .write("bin/tool", "#!/bin/sh\n");
    fs::set_permissions(
        l.rootfs().join("bin/tool"),
        fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    l.repack();
    fs::remove_file(l.rootfs().join("etc/gone")).unwrap();
    l.write("etc/added", "added\n");
    l.repack();
    let opaque = w.path("opaque.tar");
    fs::write(
        &opaque,
        Tar::new()
            .dir("data/old")
            .file("data/old/.wh..wh..opq", "")
            .file("data/old/new", "new\n")
            .finish(),
    )
    .unwrap();
    l.add_raw_layer(&opaque);
    l.config(&[
        "--config.cmd",
        "/bin/tool",
        "--config.env",
        "GREETING=hi",
        "--config.workingdir",
        "/data",
    ]);
    l
}

/// A ustar writer that puts names in verbatim (tar tools refuse to write `../x`).
struct Tar(Vec<u8>);

impl Tar {
    fn new() -> Tar {
        Tar(Vec::new())
    }

    fn octal(field: &mut [u8], v: u64) {
        let s = format!("{v:0w$o}\0", w = field.len() - 1);
        field.copy_from_slice(s.as_bytes());
    }

    fn entry(mut self, name: &str, kind: u8, link: &str, body: &[u8]) -> Tar {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        Self::octal(&mut h[100..108], if kind == b'5' { 0o755 } else { 0o644 });
        Self::octal(&mut h[108..116], 0);
        Self::octal(&mut h[116..124], 0);
        Self::octal(&mut h[124..136], body.len() as u64);
        Self::octal(&mut h[136..148], 1_600_000_000);
        h[148..156].fill(b' ');
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        self.0.extend_from_slice(&h);
        self.0.extend_from_slice(body);
        let pad = (512 - body.len() % 512) % 512;
        self.0.extend_from_slice(&vec![0u8; pad]);
        self
    }

    fn file(self, name: &str, body: &str) -> Tar {
        self.entry(name, b'0', "", body.as_bytes())
    }

    fn dir(self, name: &str) -> Tar {
        self.entry(name, b'5', "", b"")
    }

    fn symlink(self, name: &str, target: &str) -> Tar {
        self.entry(name, b'2', target, b"")
    }

    fn hardlink(self, name: &str, target: &str) -> Tar {
        self.entry(name, b'1', target, b"")
    }

    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0u8; 1024]);
        self.0
    }
}

#[test]
fn import_list_inspect_and_rm() {
    let Some(w) = World::new() else { return };
    let l = whiteout_image(&w);
    let reference = l.reference("latest");
    let out = w.podrt(&["import", &reference]);
    out.assert_ok();
    assert!(out.out().contains("3 layers unpacked, 0 reused"), "{out}");

    let list = w.podrt(&["list"]);
    list.assert_ok();
    assert!(list.out().contains(&reference), "{list}");
    let images = w.list_json();
    assert_eq!(images.len(), 1, "{images:?}");
    let digest = images[0]["digest"].as_str().unwrap().to_string();
    assert!(digest.starts_with("sha256:"));
    assert_eq!(images[0]["layers"].as_array().unwrap().len(), 3);
    assert_eq!(w.layer_dirs().len(), 3);

    let inspect = w.podrt(&["inspect", &digest[7..19]]);
    inspect.assert_ok();
    let info: Value = serde_json::from_str(inspect.out()).unwrap();
    assert_eq!(info["config"]["cmd"], serde_json::json!(["/bin/tool"]));
    assert_eq!(info["config"]["working_dir"], "/data");
    assert!(info["config"]["env"]
        .as_array()
        .unwrap()
        .contains(&"GREETING=hi".into()));

    // Unknown names fail clearly (podrt never pulls).
    w.podrt(&["inspect", "nginx:latest"])
        .assert_fail()
        .assert_stderr_contains(&["not found", "import"]);

    w.podrt(&["rm", &reference]).assert_ok();
    assert!(w.list_json().is_empty());
    assert!(
        w.layer_dirs().is_empty(),
        "layers left: {:?}",
        w.layer_dirs()
    );
    w.podrt(&["rm", &reference]).assert_fail();
}

#[test]
fn whiteouts_and_opaque_dirs_show_in_the_merged_rootfs() {
    let Some(w) = World::new() else { return };
    let l = whiteout_image(&w);
    let c = w.path("container");
    let out = w.podrt(&["mount", &l.reference("latest"), c.to_str().unwrap()]);
    out.assert_ok();
    let merged = PathBuf::from(out.out());
    assert_eq!(merged, c.join("rootfs"));
    assert_eq!(mounts_under(&c), vec![merged.clone()]);

    assert_eq!(
        fs::read_to_string(merged.join("etc/keep")).unwrap(),
        "keep\n"
    );
    assert_eq!(
        fs::read_to_string(merged.join("etc/added")).unwrap(),
        "added\n"
    );
    assert!(
        !merged.join("etc/gone").exists(),
        "the whiteout must hide etc/gone"
    );
    let mut old: Vec<String> = fs::read_dir(merged.join("data/old"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    old.sort();
    assert_eq!(old, ["new"], "the opaque dir must hide the lower a and b");
    assert_eq!(
        fs::metadata(merged.join("bin/tool")).unwrap().mode() & 0o7777,
        0o4755
    );

    // The container writes into its own layer; the store's layers stay as they were.
    fs::write(merged.join("etc/keep"), "mine\n").unwrap();
    let store_copies: Vec<PathBuf> = w
        .layer_dirs()
        .iter()
        .map(|d| w.store().join("layers").join(d).join("etc/keep"))
        .filter(|p| p.exists())
        .collect();
    assert_eq!(store_copies.len(), 1);
    assert_eq!(fs::read_to_string(&store_copies[0]).unwrap(), "keep\n");
    // The whiteout in the store is overlayfs' char 0:0 device.
    let wh = w
        .layer_dirs()
        .iter()
        .map(|d| w.store().join("layers").join(d).join("etc/gone"))
        .find(|p| {
            p.symlink_metadata()
                .is_ok_and(|m| m.file_type().is_char_device())
        });
    assert!(wh.is_some(), "no whiteout device for etc/gone in the store");

    w.podrt(&["unmount", c.to_str().unwrap()]).assert_ok();
    assert!(mounts_under(&c).is_empty());
    assert!(!c.join("upper").exists() && !c.join("rootfs").exists());
    // Idempotent.
    w.podrt(&["unmount", c.to_str().unwrap()]).assert_ok();
}

#[test]
fn oci_archive_and_docker_archive_import_and_share_layers() {
    let Some(w) = World::new() else { return };
    let l = whiteout_image(&w);
    let name = "localhost/podrt-test/images:1";
    let oci_tar = w.path("oci.tar");
    let docker_tar = w.path("docker.tar");
    for (transport, file) in [("oci-archive", &oci_tar), ("docker-archive", &docker_tar)] {
        run(Command::new("skopeo").args([
            "--insecure-policy",
            "copy",
            "--quiet",
            &format!("oci:{}", l.image("latest")),
            &format!("{transport}:{}:{name}", file.display()),
        ]));
    }

    // oci-archive first: everything is unpacked, and the archive's ref name becomes a name.
    let out = w.podrt(&["import", &format!("oci-archive:{}", oci_tar.display())]);
    out.assert_ok();
    assert!(out.out().contains("layers unpacked, 0 reused"), "{out}");
    let layers = w.layer_dirs();
    let inspect = w.podrt(&["inspect", name]);
    inspect.assert_ok();
    let oci_info: Value = serde_json::from_str(inspect.out()).unwrap();
    assert_eq!(oci_info["config"]["cmd"], serde_json::json!(["/bin/tool"]));

    // The docker-save archive holds the same layers (same diff IDs): nothing is unpacked.
    let out = w.podrt(&[
        "import",
        &format!("docker-archive:{}", docker_tar.display()),
    ]);
    out.assert_ok();
    assert!(out.out().contains("0 layers unpacked"), "{out}");
    assert_eq!(w.layer_dirs(), layers);
    // The name moved to the docker image (one name, one image).
    let inspect = w.podrt(&["inspect", name]);
    inspect.assert_ok();
    let docker_info: Value = serde_json::from_str(inspect.out()).unwrap();
    assert_ne!(docker_info["digest"], oci_info["digest"]);
    assert_eq!(docker_info["layers"], oci_info["layers"]);
    assert_eq!(
        docker_info["config"]["cmd"],
        serde_json::json!(["/bin/tool"])
    );

    // A fresh store imports the docker archive on its own, by bare path too.
    fs::remove_dir_all(w.store()).unwrap();
    let out = w.podrt(&["import", docker_tar.to_str().unwrap()]);
    out.assert_ok();
    assert_eq!(w.layer_dirs(), layers);
    // ... and mounts it.
    let c = w.path("c");
    w.podrt(&["mount", name, c.to_str().unwrap()]).assert_ok();
    assert!(!c.join("rootfs/etc/gone").exists());
    assert!(c.join("rootfs/data/old/new").exists());
    w.podrt(&["unmount", c.to_str().unwrap()]).assert_ok();
}

#[test]
fn importing_again_reuses_unpacked_layers() {
    let Some(w) = World::new() else { return };
    let l = whiteout_image(&w);
    let reference = l.reference("latest");
    w.podrt(&["import", &reference]).assert_ok();
    let stamp = |d: &str| {
        let p = w.store().join("layers").join(d);
        let m = fs::metadata(&p).unwrap();
        (m.ino(), m.mtime(), m.mtime_nsec())
    };
    let before: Vec<_> = w.layer_dirs().iter().map(|d| stamp(d)).collect();

    let again = w.podrt(&["import", &reference]);
    again.assert_ok();
    assert!(again.out().contains("already present"), "{again}");
    // Resolving by reference (inspect imports if needed) is cheap and changes nothing.
    w.podrt(&["inspect", &reference]).assert_ok();
    // Another tag over the same layers (only the config differs): nothing unpacked.
    umoci([
        "config",
        "--image",
        &l.image("latest"),
        "--tag",
        "other",
        "--config.cmd",
        "/bin/other",
    ]);
    let other = w.podrt(&["import", &l.reference("other")]);
    other.assert_ok();
    assert!(
        other.out().contains("0 layers unpacked, 3 reused"),
        "{other}"
    );

    let after: Vec<_> = w.layer_dirs().iter().map(|d| stamp(d)).collect();
    assert_eq!(before, after, "layers must not be unpacked again");
    assert_eq!(w.list_json().len(), 2);
    // Removing one image keeps the layers the other uses.
    w.podrt(&["rm", &reference]).assert_ok();
    assert_eq!(w.layer_dirs().len(), 3);
    w.podrt(&["rm", &l.reference("other")]).assert_ok();
    assert!(w.layer_dirs().is_empty());
}

#[test]
fn corrupted_blob_is_refused_and_leaves_nothing() {
    let Some(w) = World::new() else { return };
    let l = whiteout_image(&w);
    // Flip one byte in the middle of a layer blob.
    let blob = l.first_layer_blob();
    let mut bytes = fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    fs::write(&blob, &bytes).unwrap();
    let hex = blob.file_name().unwrap().to_string_lossy().into_owned();

    let out = w.podrt(&["import", &l.reference("latest")]);
    out.assert_fail()
        .assert_stderr_contains(&["digest mismatch", &hex]);
    assert!(
        w.layer_dirs().is_empty(),
        "left in the store: {:?}",
        w.layer_dirs()
    );
    assert!(w.list_json().is_empty());
}

#[test]
fn malicious_layers_are_refused_and_nothing_escapes() {
    let Some(w) = World::new() else { return };
    let outside = w.path("outside");
    fs::create_dir(&outside).unwrap();
    let escape_name = format!("podrt-escape-{}", std::process::id());
    let cases: Vec<(&str, Vec<u8>, PathBuf)> = vec![
        (
            "dot-dot path",
            Tar::new()
                .file("ok", "fine")
                .file(&format!("../{escape_name}"), "x")
                .finish(),
            // `..` from the layer dir (store/layers/<tmp>) lands in store/layers.
            w.store().join(&escape_name),
        ),
        (
            "deep dot-dot path",
            Tar::new()
                .file(&format!("a/../../../../{escape_name}"), "x")
                .finish(),
            w.path(&escape_name),
        ),
        (
            "absolute path",
            Tar::new()
                .file(&format!("{}/abs", outside.display()), "x")
                .finish(),
            outside.join("abs"),
        ),
        (
            "through a symlink",
            Tar::new()
                .symlink("evil", outside.to_str().unwrap())
                .file("evil/x", "x")
                .finish(),
            outside.join("x"),
        ),
        (
            "through a symlink to /tmp",
            Tar::new()
                .symlink("evil", "/tmp")
                .file(&format!("evil/{escape_name}"), "x")
                .finish(),
            Path::new("/tmp").join(&escape_name),
        ),
        (
            "hard link out of the layer",
            Tar::new()
                .hardlink("passwd", "../../../etc/passwd")
                .finish(),
            outside.join("passwd"),
        ),
    ];
    for (i, (what, tar, host_path)) in cases.into_iter().enumerate() {
        let layout = Layout::new(&w, &format!("evil{i}"));
        let file = w.path(&format!("evil{i}.tar"));
        fs::write(&file, tar).unwrap();
        layout.add_raw_layer(&file);
        let out = w.podrt(&["import", &layout.reference("latest")]);
        out.assert_fail()
            .assert_stderr_contains(&["refusing entry"]);
        assert!(
            !host_path.exists(),
            "{what}: {} was created",
            host_path.display()
        );
        assert_eq!(
            fs::read_dir(&outside).unwrap().count(),
            0,
            "{what}: wrote outside"
        );
        assert!(
            w.layer_dirs().is_empty(),
            "{what}: left in the store: {:?}",
            w.layer_dirs()
        );
    }
    assert!(w.list_json().is_empty());
}

#[test]
fn rootfs_dir_gets_a_writable_layer_and_stays_untouched() {
    let Some(w) = World::new() else { return };
    let src = w.path("rootfs-src");
    fs::create_dir_all(src.join("etc")).unwrap();
    fs::write(src.join("etc/hostname"), "orig\n").unwrap();
    let c = w.path("c");
    let out = w.podrt(&[
        "mount",
        &format!("dir:{}", src.display()),
        c.to_str().unwrap(),
    ]);
    out.assert_ok();
    let merged = PathBuf::from(out.out());
    fs::write(merged.join("etc/hostname"), "changed\n").unwrap();
    fs::write(merged.join("new"), "new\n").unwrap();
    assert_eq!(
        fs::read_to_string(src.join("etc/hostname")).unwrap(),
        "orig\n"
    );
    assert!(!src.join("new").exists());
    w.podrt(&["unmount", c.to_str().unwrap()]).assert_ok();
    assert!(mounts_under(w.dir.path()).is_empty());
    // `dir:` images are used in place: there is nothing to import.
    w.podrt(&["import", &format!("dir:{}", src.display())])
        .assert_fail()
        .assert_stderr_contains(&["in place"]);
}

/// The nginx + php-fpm example images: built (or taken from the cache) by the example's script,
/// imported once (the two tags share their layers), and mounted.
#[test]
#[ignore = "builds the nginx/php-fpm images with mmdebstrap (about 2 minutes) unless cached"]
fn nginx_php_example_images_import_and_mount() {
    let Some(w) = World::new() else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/nginx-php/build-images");
    let refs = run(Command::new(&script).arg("--quiet"));
    let refs: Vec<&str> = refs.lines().collect();
    assert_eq!(refs.len(), 2, "{refs:?}");
    let first = w.podrt(&["import", refs[0]]);
    first.assert_ok();
    let second = w.podrt(&["import", refs[1]]);
    second.assert_ok();
    assert!(
        second.out().contains("0 layers unpacked"),
        "the tags share layers: {second}"
    );
    for (r, bin) in [
        (refs[0], "usr/sbin/nginx"),
        (refs[1], "usr/sbin/php-fpm8.2"),
    ] {
        let c = w.path(&format!("c-{}", r.rsplit(':').next().unwrap()));
        let out = w.podrt(&["mount", r, c.to_str().unwrap()]);
        out.assert_ok();
        let merged = PathBuf::from(out.out());
        assert!(merged.join(bin).exists(), "{r}: no {bin}");
        assert!(merged.join("var/www/html/index.php").exists());
        w.podrt(&["unmount", c.to_str().unwrap()]).assert_ok();
    }
}
