//! Test helpers: layer tars (including ones `tar::Builder` would refuse to write) and OCI
//! layouts / docker-save archives built by hand.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use serde_json::json;

use super::digest::Digest;

/// Whether the tests that need root (owners, device nodes, trusted xattrs, mounts) can run.
pub fn root() -> bool {
    let is_root = nix::unistd::geteuid().is_root();
    if !is_root {
        eprintln!("skipping: needs root");
    }
    is_root
}

/// A layer tar built entry by entry. Names go into the header verbatim (so `../x` and `/x`
/// can be written).
pub struct LayerTar {
    b: tar::Builder<Vec<u8>>,
}

impl LayerTar {
    pub fn new() -> LayerTar {
        LayerTar {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn header(name: &str, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_size(size);
        let name = name.as_bytes();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h
    }

    pub fn file(mut self, name: &str, body: &[u8]) -> Self {
        let mut h = Self::header(name, tar::EntryType::Regular, 0o644, body.len() as u64);
        h.set_cksum();
        self.b.append(&h, body).unwrap();
        self
    }

    pub fn file_with(mut self, name: &str, body: &[u8], mode: u32, uid: u64, gid: u64) -> Self {
        let mut h = Self::header(name, tar::EntryType::Regular, mode, body.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_cksum();
        self.b.append(&h, body).unwrap();
        self
    }

    /// A regular file with PAX xattr records.
    pub fn file_xattr(mut self, name: &str, body: &[u8], xattrs: &[(&str, &[u8])]) -> Self {
        let pax: Vec<(String, &[u8])> = xattrs
            .iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), *v))
            .collect();
        self.b
            .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), *v)))
            .unwrap();
        self.file(name, body)
    }

    pub fn dir(mut self, name: &str, mode: u32) -> Self {
        let mut h = Self::header(name, tar::EntryType::Directory, mode, 0);
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }

    fn link(mut self, kind: tar::EntryType, name: &str, target: &str) -> Self {
        let mut h = Self::header(name, kind, 0o777, 0);
        let t = target.as_bytes();
        h.as_old_mut().linkname[..t.len()].copy_from_slice(t);
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }

    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.link(tar::EntryType::Symlink, name, target)
    }

    pub fn hardlink(self, name: &str, target: &str) -> Self {
        self.link(tar::EntryType::Link, name, target)
    }

    pub fn device(mut self, name: &str, major: u32, minor: u32) -> Self {
        let mut h = Self::header(name, tar::EntryType::Char, 0o666, 0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }

    pub fn build(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// How a test layer is stored in a layout.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Comp {
    Plain,
    Gzip,
    Zstd,
}

fn write_blob(layout: &Path, bytes: &[u8]) -> Digest {
    let d = Digest::of(bytes);
    let dir = layout.join("blobs/sha256");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(d.hex()), bytes).unwrap();
    d
}

/// One layer as stored: blob bytes, media type, and the diff ID the config claims.
pub struct Blob {
    pub bytes: Vec<u8>,
    pub media_type: &'static str,
    pub diff_id: Digest,
}

/// A layer tar stored with `comp`.
pub fn blob(tar: &[u8], comp: Comp) -> Blob {
    let (bytes, media_type) = match comp {
        Comp::Plain => (tar.to_vec(), "application/vnd.oci.image.layer.v1.tar"),
        Comp::Gzip => (gzip(tar), "application/vnd.oci.image.layer.v1.tar+gzip"),
        Comp::Zstd => (
            zstd::stream::encode_all(tar, 3).unwrap(),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
    };
    Blob {
        bytes,
        media_type,
        diff_id: Digest::of(tar),
    }
}

/// Writes (or adds a tag to) an OCI layout at `layout` with these layer tars; returns the
/// manifest digest.
pub fn write_layout(layout: &Path, tag: &str, layers: &[(Vec<u8>, Comp)], cmd: &[&str]) -> Digest {
    let blobs: Vec<Blob> = layers.iter().map(|(t, c)| blob(t, *c)).collect();
    write_layout_blobs(layout, tag, &blobs, cmd)
}

/// [`write_layout`] from stored blobs (which may lie about their diff IDs).
pub fn write_layout_blobs(layout: &Path, tag: &str, layers: &[Blob], cmd: &[&str]) -> Digest {
    fs::create_dir_all(layout).unwrap();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for b in layers {
        diff_ids.push(b.diff_id.to_string());
        let d = write_blob(layout, &b.bytes);
        descs.push(
            json!({"mediaType": b.media_type, "digest": d.to_string(), "size": b.bytes.len()}),
        );
    }
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": cmd, "Env": ["PATH=/bin", "A=1"], "WorkingDir": "/w", "User": "1:2"},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let cd = write_blob(layout, &config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": cd.to_string(), "size": config.len()},
        "layers": descs,
    }))
    .unwrap();
    let md = write_blob(layout, &manifest);
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value = fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| json!({"schemaVersion": 2, "manifests": []}));
    let manifests = index["manifests"].as_array_mut().unwrap();
    manifests.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != tag);
    manifests.push(json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": md.to_string(), "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }));
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    md
}

/// Packs a directory tree (a layout) into a tar file.
pub fn tar_dir(dir: &Path, out: &Path) {
    let mut b = tar::Builder::new(fs::File::create(out).unwrap());
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap();
}

/// A docker-save archive holding one image with these (uncompressed) layers.
pub fn write_docker_archive(
    out: &Path,
    repo_tag: &str,
    layers: &[Vec<u8>],
    cmd: &[&str],
) -> Digest {
    let diff_ids: Vec<String> = layers.iter().map(|l| Digest::of(l).to_string()).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": cmd, "Entrypoint": null, "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let cd = Digest::of(&config);
    let mut b = tar::Builder::new(fs::File::create(out).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    let mut paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let p = format!("{i:064x}/layer.tar");
        add(&p, l);
        paths.push(p);
    }
    add(&format!("{}.json", cd.hex()), &config);
    let manifest = serde_json::to_vec(&json!([
        {"Config": format!("{}.json", cd.hex()), "RepoTags": [repo_tag], "Layers": paths}
    ]))
    .unwrap();
    add("manifest.json", &manifest);
    b.into_inner().unwrap();
    cd
}
