//! An offline busybox image for the clients, built with umoci and skopeo from the host's
//! busybox-static and cached by its inputs.
//!
//! The cache entry `<cache>/busybox-<key>/` (cache: `PODRT_TEST_IMAGE_CACHE`, else
//! `/var/cache/podrt-test/images`) holds `oci.tar` (an `oci-archive`) and `docker.tar` (a
//! `docker-archive`), both tagged [`IMAGE_REF`]. It is built in a temp dir beside it and renamed
//! into place, so concurrent test processes either see a whole entry or build their own and lose
//! the rename race harmlessly.

use std::fs;
use std::io::Read as _;
use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::{require_bins, run_with_timeout, which};

/// Reference both archives carry; `ctr images import` and `podman load` name the image after it.
pub const IMAGE_REF: &str = "localhost/podrt-test/busybox:latest";

/// Bump when the recipe below changes: it is part of the cache key.
const BUILDER_VERSION: &str = "busybox-image-v1";

/// A built (or cached) busybox image.
#[derive(Debug, Clone)]
pub struct BusyboxImage {
    /// `oci-archive` tarball.
    pub oci_archive: PathBuf,
    /// `docker-archive` tarball (`docker save` format).
    pub docker_archive: PathBuf,
    /// The image's name once imported.
    pub reference: String,
}

/// The busybox image, built once per process (or taken from the cache). Records a skip for `test`
/// and returns `None` when umoci, skopeo or busybox is missing; panics when the build fails.
#[must_use]
pub fn busybox(test: &str) -> Option<&'static BusyboxImage> {
    static IMAGE: OnceLock<Result<BusyboxImage, String>> = OnceLock::new();
    require_bins(test, &["umoci", "skopeo"])?;
    if find_busybox().is_none() {
        super::skip(
            test,
            "no static busybox on the host (apt-get install busybox-static)",
        );
        return None;
    }
    match IMAGE.get_or_init(build_or_get) {
        Ok(img) => Some(img),
        Err(e) => panic!("building the busybox test image failed:\n{e}"),
    }
}

/// The static busybox binary to put into the image.
fn find_busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| which("busybox"))
}

fn cache_root() -> PathBuf {
    if let Ok(dir) = std::env::var("PODRT_TEST_IMAGE_CACHE") {
        return PathBuf::from(dir);
    }
    let sys = PathBuf::from("/var/cache/podrt-test/images");
    if fs::create_dir_all(&sys).is_ok() {
        sys
    } else {
        super::target_dir().join("podrt-test-images")
    }
}

/// FNV-1a, 64 bit: stable across Rust versions (unlike `DefaultHasher`), enough for a cache key.
fn fnv1a(state: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(state, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn cache_key(busybox: &Path) -> Result<String, String> {
    let mut h = 0xcbf2_9ce4_8422_2325_u64;
    h = fnv1a(h, BUILDER_VERSION.as_bytes());
    h = fnv1a(h, IMAGE_REF.as_bytes());
    let mut f = fs::File::open(busybox).map_err(|e| format!("open {}: {e}", busybox.display()))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("read {}: {e}", busybox.display()))?;
        if n == 0 {
            break;
        }
        h = fnv1a(h, &buf[..n]);
    }
    Ok(format!("{h:016x}"))
}

fn build_or_get() -> Result<BusyboxImage, String> {
    let busybox = find_busybox().ok_or("no busybox")?;
    let root = cache_root();
    fs::create_dir_all(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
    let entry = root.join(format!("busybox-{}", cache_key(&busybox)?));
    let image = BusyboxImage {
        oci_archive: entry.join("oci.tar"),
        docker_archive: entry.join("docker.tar"),
        reference: IMAGE_REF.to_string(),
    };
    if image.oci_archive.is_file() && image.docker_archive.is_file() {
        return Ok(image);
    }
    let tmp = tempfile::Builder::new()
        .prefix(".build-busybox-")
        .tempdir_in(&root)
        .map_err(|e| format!("temp dir in {}: {e}", root.display()))?;
    let out = tmp.path().join("out");
    build(&busybox, tmp.path(), &out)?;
    match fs::rename(&out, &entry) {
        Ok(()) => {}
        // Someone else finished first (ENOTEMPTY/EEXIST): theirs is as good as ours.
        Err(_) if image.oci_archive.is_file() && image.docker_archive.is_file() => {}
        Err(e) => {
            return Err(format!(
                "rename {} -> {}: {e}",
                out.display(),
                entry.display()
            ))
        }
    }
    Ok(image)
}

fn step(cmd: &mut Command) -> Result<(), String> {
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    if out.success() {
        Ok(())
    } else {
        Err(out.to_string())
    }
}

fn build(busybox: &Path, work: &Path, out: &Path) -> Result<(), String> {
    let io = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    let layout = work.join("layout");
    let tagged = format!("{}:latest", layout.display());
    let bundle = work.join("bundle");
    let rootless = !nix::unistd::geteuid().is_root();

    step(
        Command::new("umoci")
            .arg("init")
            .arg("--layout")
            .arg(&layout),
    )?;
    step(Command::new("umoci").args(["new", "--image", &tagged]))?;
    let mut unpack = Command::new("umoci");
    unpack.arg("unpack");
    if rootless {
        unpack.arg("--rootless");
    }
    step(unpack.args(["--image", &tagged]).arg(&bundle))?;

    let rootfs = bundle.join("rootfs");
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp", "proc", "sys", "dev",
    ] {
        let p = rootfs.join(d);
        fs::create_dir_all(&p).map_err(|e| io("mkdir", &p, e))?;
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))
        .map_err(|e| io("chmod", &rootfs.join("tmp"), e))?;
    let bb = rootfs.join("bin/busybox");
    fs::copy(busybox, &bb).map_err(|e| io("copy busybox to", &bb, e))?;
    fs::set_permissions(&bb, fs::Permissions::from_mode(0o755)).map_err(|e| io("chmod", &bb, e))?;

    // The applets at their usual places (what `busybox --install -s` does, without a chroot).
    let list = run_with_timeout(
        Command::new(busybox).arg("--list-full"),
        Duration::from_secs(30),
    );
    if !list.success() {
        return Err(list.to_string());
    }
    for applet in list.stdout.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let link = rootfs.join(applet);
        if applet == "bin/busybox" || link.symlink_metadata().is_ok() {
            continue;
        }
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent).map_err(|e| io("mkdir", parent, e))?;
        }
        symlink("/bin/busybox", &link).map_err(|e| io("symlink", &link, e))?;
    }
    let etc = rootfs.join("etc");
    let files = [
        (
            "passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        ),
        ("group", "root:x:0:\nnogroup:x:65534:\n"),
        ("hostname", "busybox\n"),
    ];
    for (name, text) in files {
        fs::write(etc.join(name), text).map_err(|e| io("write", &etc.join(name), e))?;
    }

    step(
        Command::new("umoci")
            .args(["repack", "--image", &tagged])
            .arg(&bundle),
    )?;
    step(Command::new("umoci").args([
        "config",
        "--image",
        &tagged,
        "--config.cmd",
        "/bin/sh",
        "--config.env",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--config.workingdir",
        "/",
    ]))?;
    step(Command::new("umoci").arg("gc").arg("--layout").arg(&layout))?;

    fs::create_dir_all(out).map_err(|e| io("mkdir", out, e))?;
    let src = format!("oci:{tagged}");
    for (transport, file) in [("oci-archive", "oci.tar"), ("docker-archive", "docker.tar")] {
        let dest = format!("{transport}:{}:{IMAGE_REF}", out.join(file).display());
        step(Command::new("skopeo").args(["--insecure-policy", "copy", "--quiet", &src, &dest]))?;
    }
    Ok(())
}
