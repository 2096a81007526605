//! The content-addressed image store.
//!
//! ```text
//! <root>/                      default /var/lib/podrt/images (PODRT_IMAGE_STORE, --image-store)
//!   layers/<hex>/              one unpacked layer, named by its diff ID (sha256 of the
//!                              uncompressed tar), never modified once renamed into place
//!   layers/.tmp-<hex>-<pid>-<n>/   a layer being unpacked (removed on failure or by gc)
//!   images/<hex>.json          one image: its digest (OCI manifest digest, or the config digest
//!                              for docker-save archives), names, config and layer diff IDs
//!   gc.lock                    flock: shared while importing, exclusive while removing
//!   records.lock               flock: exclusive while image records change
//! ```
//!
//! A layer is unpacked once, whichever image or archive brings it: before reading a blob the
//! store looks up the diff ID the (verified) config promises. Blob digests and diff IDs are
//! verified while streaming; on any mismatch or error the temp dir goes and nothing is recorded.
//! Two imports of the same layer race harmlessly: each unpacks into its own temp dir and the
//! loser of the rename drops its copy.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::archive::TarIndex;
use super::digest::{Digest, HashingReader};
use super::layout::{
    self, Compression, ConfigFile, Descriptor, DockerManifestEntry, Index, Manifest, Source,
};
use super::reference::{normalize_name, Reference};
use super::unpack::{temp_dir_for, unpack_layer};
use super::{ImageConfig, ImageError, ImageInfo};

/// The store root when neither `--image-store` nor `PODRT_IMAGE_STORE` names one.
pub const DEFAULT_STORE_ROOT: &str = "/var/lib/podrt/images";

/// `PODRT_IMAGE_STORE`, else [`DEFAULT_STORE_ROOT`].
#[must_use]
pub fn default_store_root() -> PathBuf {
    std::env::var_os("PODRT_IMAGE_STORE")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_STORE_ROOT), PathBuf::from)
}

/// An image store rooted at a directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportStats {
    /// Layers unpacked by this import.
    pub unpacked: usize,
    /// Layers already in the store.
    pub reused: usize,
    /// True when the image was already recorded (nothing was read but its index).
    pub present: bool,
    /// Entries left out of the unpacked layers (device nodes), `layer: entry (reason)`.
    pub skipped: Vec<String>,
}

/// What a garbage collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcStats {
    /// Unused layers removed.
    pub layers_removed: usize,
    /// Unused layers kept because an overlay mount still uses them.
    pub layers_in_use: usize,
    /// Leftover temp dirs of interrupted imports removed.
    pub temp_removed: usize,
}

/// One image as stored in `images/<hex>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    digest: String,
    names: Vec<String>,
    config_digest: String,
    /// Diff IDs, bottom to top.
    layers: Vec<String>,
    config: ImageConfig,
    source: String,
    imported: String,
}

/// Where one layer's bytes are and what they must hash to.
struct LayerSource {
    /// OCI: the blob's digest, size and media type; docker-save: `None` (a path, checked
    /// through its diff ID only).
    blob: Option<(Digest, u64)>,
    path: String,
    compression: Compression,
    diff_id: Digest,
}

/// A resolved reference before anything heavy is read.
struct Plan {
    digest: Digest,
    names: Vec<String>,
    source: Source,
    kind: PlanKind,
}

enum PlanKind {
    Oci(Descriptor),
    Docker {
        entry: DockerManifestEntry,
        config: Vec<u8>,
    },
}

fn store_err(path: &Path) -> impl FnOnce(io::Error) -> ImageError + '_ {
    move |source| ImageError::Store {
        path: path.to_path_buf(),
        source,
    }
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

impl Store {
    /// Opens (creating when missing, mode 0700) the store at `root`.
    pub fn open(root: &Path) -> Result<Store, ImageError> {
        let root = std::path::absolute(root).map_err(store_err(root))?;
        for dir in [root.clone(), root.join("layers"), root.join("images")] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(store_err(&dir))?;
        }
        Ok(Store { root })
    }

    /// The store's root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the layer with this diff ID is (or would be) unpacked.
    #[must_use]
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    fn record_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("images")
            .join(format!("{}.json", digest.hex()))
    }

    fn lock(&self, name: &str, arg: FlockArg) -> Result<Flock<File>, ImageError> {
        let path = self.root.join(name);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(store_err(&path))?;
        Flock::lock(f, arg).map_err(|(_, e)| ImageError::Store {
            path,
            source: e.into(),
        })
    }

    /// Imports `reference` (see [`Reference`]): verifies it, unpacks the layers the store lacks
    /// and records the image under its canonical reference and the names it carries.
    pub fn import(&self, reference: &str) -> Result<ImageInfo, ImageError> {
        self.import_with_names(reference, &[]).map(|(info, _)| info)
    }

    /// [`Store::import`], also recording `extra_names` (each name belongs to one image: it moves
    /// here from any other), and saying what was unpacked.
    pub fn import_with_names(
        &self,
        reference: &str,
        extra_names: &[String],
    ) -> Result<(ImageInfo, ImportStats), ImageError> {
        let r = Reference::parse(reference)?;
        match r {
            Reference::Rootfs { dir } => Err(ImageError::Unsupported {
                what: format!("importing dir:{}", dir.display()),
                hint: "a rootfs directory is used in place: give it as the image (dir:PATH)".into(),
            }),
            Reference::Stored(name) => {
                let _gc = self.lock("gc.lock", FlockArg::LockShared)?;
                let rec = self.find(&name)?;
                if !extra_names.is_empty() {
                    self.add_names(&rec, extra_names)?;
                }
                let rec = self.find(&name)?;
                let stats = ImportStats {
                    present: true,
                    reused: rec.layers.len(),
                    ..Default::default()
                };
                Ok((self.info(&rec)?, stats))
            }
            r => {
                let _gc = self.lock("gc.lock", FlockArg::LockShared)?;
                self.import_locked(&r, extra_names)
            }
        }
    }

    /// The image `reference` names, importing it first when the store lacks it. Cheap when it
    /// is present: an OCI layout costs a read of `index.json`, an archive a scan of its headers.
    pub fn resolve(&self, reference: &str) -> Result<ImageInfo, ImageError> {
        match Reference::parse(reference)? {
            Reference::Rootfs { dir } => {
                if !dir.is_dir() {
                    return Err(ImageError::NotFound {
                        reference: reference.to_string(),
                        hint: format!("{} is not a directory", dir.display()),
                    });
                }
                Ok(ImageInfo {
                    name: format!("dir:{}", dir.display()),
                    names: Vec::new(),
                    digest: String::new(),
                    layers: vec![dir],
                    config: ImageConfig::default(),
                    imported: None,
                })
            }
            Reference::Stored(name) => {
                let _gc = self.lock("gc.lock", FlockArg::LockShared)?;
                self.info(&self.find(&name)?)
            }
            r => {
                let _gc = self.lock("gc.lock", FlockArg::LockShared)?;
                self.import_locked(&r, &[]).map(|(info, _)| info)
            }
        }
    }

    fn import_locked(
        &self,
        r: &Reference,
        extra_names: &[String],
    ) -> Result<(ImageInfo, ImportStats), ImageError> {
        let mut plan = self.plan(r)?;
        plan.names.extend(extra_names.iter().cloned());
        let mut stats = ImportStats::default();

        if let Some(rec) = self.read_record(&plan.digest)? {
            if self.layers_present(&rec) {
                if plan.names.iter().any(|n| !rec.names.contains(n)) {
                    self.add_names(&rec, &plan.names)?;
                }
                let rec = self.read_record(&plan.digest)?.unwrap_or(rec);
                stats.present = true;
                stats.reused = rec.layers.len();
                return Ok((self.info(&rec)?, stats));
            }
        }

        let loc = plan.source.location().to_path_buf();
        let (config_digest, config_bytes, layers) = match &plan.kind {
            PlanKind::Oci(desc) => {
                let manifest: Manifest = layout::parse_json(
                    "image manifest",
                    &loc,
                    &plan.source.read_blob("manifest", desc)?,
                )?;
                let config_bytes = plan.source.read_blob("config", &manifest.config)?;
                let config: ConfigFile = layout::parse_json("image config", &loc, &config_bytes)?;
                let diff_ids = config.diff_ids()?;
                if diff_ids.len() != manifest.layers.len() {
                    return Err(ImageError::InvalidArchive {
                        path: loc,
                        reason: format!(
                            "the manifest lists {} layers, the config {} diff IDs",
                            manifest.layers.len(),
                            diff_ids.len()
                        ),
                    });
                }
                let mut layers = Vec::new();
                for (d, diff_id) in manifest.layers.iter().zip(diff_ids) {
                    let digest = Digest::parse(&d.digest)?;
                    layers.push(LayerSource {
                        path: format!("blobs/sha256/{}", digest.hex()),
                        blob: Some((digest, d.size)),
                        compression: Compression::of_media_type(&d.media_type)?,
                        diff_id,
                    });
                }
                (
                    Digest::parse(&manifest.config.digest)?,
                    config_bytes,
                    layers,
                )
            }
            PlanKind::Docker { entry, config } => {
                let parsed: ConfigFile = layout::parse_json("image config", &loc, config)?;
                let diff_ids = parsed.diff_ids()?;
                if diff_ids.len() != entry.layers.len() {
                    return Err(ImageError::InvalidArchive {
                        path: loc,
                        reason: format!(
                            "manifest.json lists {} layers, the config {} diff IDs",
                            entry.layers.len(),
                            diff_ids.len()
                        ),
                    });
                }
                let layers = entry
                    .layers
                    .iter()
                    .zip(diff_ids)
                    .map(|(p, diff_id)| LayerSource {
                        blob: None,
                        path: p.clone(),
                        compression: Compression::Sniff,
                        diff_id,
                    })
                    .collect();
                (plan.digest.clone(), config.clone(), layers)
            }
        };
        let config: ConfigFile = layout::parse_json("image config", &loc, &config_bytes)?;

        for layer in &layers {
            if self.ensure_layer(&plan.source, layer, &mut stats.skipped)? {
                stats.unpacked += 1;
            } else {
                stats.reused += 1;
            }
        }

        let rec = Record {
            digest: plan.digest.to_string(),
            names: Vec::new(),
            config_digest: config_digest.to_string(),
            layers: layers.iter().map(|l| l.diff_id.to_string()).collect(),
            config: config.image_config(),
            source: r.canonical(),
            imported: now(),
        };
        let _records = self.lock("records.lock", FlockArg::LockExclusive)?;
        self.write_record(&rec)?;
        self.claim_names(&rec, &plan.names)?;
        let rec = self.read_record(&plan.digest)?.unwrap_or(rec);
        tracing::debug!(image = %rec.digest, unpacked = stats.unpacked, reused = stats.reused, "image imported");
        Ok((self.info(&rec)?, stats))
    }

    /// Reads just enough to know the image's digest and names.
    fn plan(&self, r: &Reference) -> Result<Plan, ImageError> {
        let canonical = r.canonical();
        match r {
            Reference::OciDir { dir, tag } => {
                let source = Source::Dir(dir.clone());
                self.plan_oci(source, tag.as_deref(), canonical)
            }
            Reference::OciArchive { file, tag } => {
                let source = Source::Archive(TarIndex::open(file)?);
                self.plan_oci(source, tag.as_deref(), canonical)
            }
            Reference::DockerArchive { file, reference } => {
                let source = Source::Archive(TarIndex::open(file)?);
                let bytes = source.read_file("manifest.json")?.ok_or_else(|| {
                    ImageError::InvalidArchive {
                        path: file.clone(),
                        reason: "no manifest.json: not a docker-save archive".into(),
                    }
                })?;
                let entries: Vec<DockerManifestEntry> =
                    layout::parse_json("manifest.json", file, &bytes)?;
                let entry = layout::select_docker_entry(file, &entries, reference.as_deref())?;
                let config =
                    source
                        .read_file(&entry.config)?
                        .ok_or_else(|| ImageError::MissingBlob {
                            blob: entry.config.clone(),
                            location: file.clone(),
                        })?;
                let digest = Digest::of(&config);
                // The config's file name is its digest (`<hex>.json` or `blobs/sha256/<hex>`).
                let stem = entry.config.rsplit('/').next().unwrap_or(&entry.config);
                if let Some(named) = Digest::from_hex(stem.trim_end_matches(".json")) {
                    layout::verify("config", &named, &digest, 0, 0)?;
                }
                let mut names = vec![canonical];
                names.extend(entry.repo_tags.clone().unwrap_or_default());
                Ok(Plan {
                    digest,
                    names,
                    source,
                    kind: PlanKind::Docker { entry, config },
                })
            }
            Reference::Rootfs { .. } | Reference::Stored(_) => {
                unreachable!("plan() is only called for layouts and archives")
            }
        }
    }

    fn plan_oci(
        &self,
        source: Source,
        tag: Option<&str>,
        canonical: String,
    ) -> Result<Plan, ImageError> {
        let loc = source.location().to_path_buf();
        let bytes = source
            .read_file("index.json")?
            .ok_or_else(|| ImageError::InvalidArchive {
                path: loc.clone(),
                reason: "no index.json: not an OCI image layout".into(),
            })?;
        let index: Index = layout::parse_json("index.json", &loc, &bytes)?;
        let (top, desc) = layout::select_manifest(&source, &index, tag)?;
        let digest = Digest::parse(&desc.digest)?;
        let mut names = vec![canonical];
        // Names the layout carries (skopeo writes `NAME:TAG` as the ref name, containerd its
        // own annotation); a bare tag like `latest` names nothing on its own.
        for key in [layout::REF_NAME, layout::CONTAINERD_NAME] {
            if let Some(n) = top.annotation(key) {
                if n.contains('/') || n.contains(':') {
                    names.push(n.to_string());
                }
            }
        }
        names.dedup();
        Ok(Plan {
            digest,
            names,
            source,
            kind: PlanKind::Oci(desc),
        })
    }

    /// Makes sure `layers/<diff id>` exists; true when this call unpacked it.
    fn ensure_layer(
        &self,
        source: &Source,
        layer: &LayerSource,
        skipped: &mut Vec<String>,
    ) -> Result<bool, ImageError> {
        let dir = self.layer_dir(&layer.diff_id);
        if dir.is_dir() {
            return Ok(false);
        }
        let what = format!(
            "layer {}",
            layer.blob.as_ref().map_or(&layer.diff_id, |b| &b.0)
        );
        let tmp = temp_dir_for(&dir);
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&tmp)
            .map_err(store_err(&tmp))?;
        let result = self.unpack_into(source, layer, &what, &tmp);
        match result {
            Ok(stats) => {
                skipped.extend(stats.skipped.iter().map(|s| format!("{what}: {s}")));
                match fs::rename(&tmp, &dir) {
                    Ok(()) => Ok(true),
                    // Another import won the race: its copy is as good as ours.
                    Err(_) if dir.is_dir() => {
                        let _ = fs::remove_dir_all(&tmp);
                        Ok(false)
                    }
                    Err(e) => {
                        let _ = fs::remove_dir_all(&tmp);
                        Err(store_err(&dir)(e))
                    }
                }
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                Err(e)
            }
        }
    }

    /// Streams one layer blob through decompression into `tmp`, verifying the blob digest and
    /// size (OCI) and the diff ID. A digest mismatch wins over the unpack error it may cause.
    fn unpack_into(
        &self,
        source: &Source,
        layer: &LayerSource,
        what: &str,
        tmp: &Path,
    ) -> Result<super::unpack::UnpackStats, ImageError> {
        let (reader, _) = source.open_path(&layer.path)?;
        let location = source.location().join(&layer.path);
        let rerr = |e: io::Error| ImageError::Read {
            path: location.clone(),
            source: e,
        };
        let mut raw = HashingReader::new(reader);
        let outcome = {
            let mut buffered = BufReader::with_capacity(1 << 18, &mut raw);
            let compression = match layer.compression {
                Compression::Sniff => sniff(buffered.fill_buf().map_err(rerr)?),
                c => c,
            };
            let decoded: Box<dyn Read + '_> = match compression {
                Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(&mut buffered)),
                Compression::Zstd => {
                    Box::new(zstd::stream::read::Decoder::with_buffer(&mut buffered).map_err(rerr)?)
                }
                Compression::None | Compression::Sniff => Box::new(&mut buffered),
            };
            let mut diff = HashingReader::new(decoded);
            let unpacked = unpack_layer(&mut diff, tmp, what);
            match unpacked {
                Ok(stats) => match diff.finish() {
                    Ok((d, _, _)) => Ok((stats, Some(d))),
                    Err(e) => Err(rerr(e)),
                },
                Err(e) => Err(e),
            }
        };
        // Hash whatever the decoder left unread, then judge the blob first.
        let raw_result = raw.finish();
        if let (Some((expected, size)), Ok((actual, n, _))) = (&layer.blob, &raw_result) {
            layout::verify("layer", expected, actual, *size, *n)?;
        }
        let (stats, diff) = outcome?;
        raw_result.map_err(rerr)?;
        if let Some(actual) = diff {
            if actual != layer.diff_id {
                return Err(ImageError::DigestMismatch {
                    blob: format!("{what} (uncompressed, diff ID {})", layer.diff_id),
                    actual: actual.to_string(),
                });
            }
        }
        Ok(stats)
    }

    fn read_record(&self, digest: &Digest) -> Result<Option<Record>, ImageError> {
        let path = self.record_path(digest);
        match fs::read(&path) {
            Ok(bytes) => layout::parse_json("image record", &path, &bytes).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(store_err(&path)(e)),
        }
    }

    fn write_record(&self, rec: &Record) -> Result<(), ImageError> {
        let digest = Digest::parse(&rec.digest)?;
        let path = self.record_path(&digest);
        let tmp = temp_dir_for(&path);
        let json = serde_json::to_vec_pretty(rec).map_err(|e| ImageError::Store {
            path: path.clone(),
            source: io::Error::other(e),
        })?;
        fs::write(&tmp, json).map_err(store_err(&tmp))?;
        fs::rename(&tmp, &path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            store_err(&path)(e)
        })
    }

    fn records(&self) -> Result<Vec<Record>, ImageError> {
        let dir = self.root.join("images");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(store_err(&dir))? {
            let e = e.map_err(store_err(&dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(hex) = name.strip_suffix(".json") else {
                continue;
            };
            if let Some(d) = Digest::from_hex(hex) {
                if let Some(r) = self.read_record(&d)? {
                    out.push(r);
                }
            }
        }
        out.sort_by(|a, b| a.imported.cmp(&b.imported).then(a.digest.cmp(&b.digest)));
        Ok(out)
    }

    /// Gives `names` to `rec`, taking each away from any other image (records lock held).
    fn claim_names(&self, rec: &Record, names: &[String]) -> Result<(), ImageError> {
        for mut other in self.records()? {
            if other.digest == rec.digest {
                let before = other.names.len();
                for n in names {
                    if !other.names.contains(n) {
                        other.names.push(n.clone());
                    }
                }
                if other.names.len() != before {
                    self.write_record(&other)?;
                }
            } else if other.names.iter().any(|n| names.contains(n)) {
                other.names.retain(|n| !names.contains(n));
                self.write_record(&other)?;
            }
        }
        Ok(())
    }

    fn add_names(&self, rec: &Record, names: &[String]) -> Result<(), ImageError> {
        let _records = self.lock("records.lock", FlockArg::LockExclusive)?;
        self.claim_names(rec, names)
    }

    fn layers_present(&self, rec: &Record) -> bool {
        rec.layers
            .iter()
            .all(|l| Digest::parse(l).is_ok_and(|d| self.layer_dir(&d).is_dir()))
    }

    fn info(&self, rec: &Record) -> Result<ImageInfo, ImageError> {
        let layers = rec
            .layers
            .iter()
            .map(|l| Digest::parse(l).map(|d| self.layer_dir(&d)))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(missing) = layers.iter().find(|l| !l.is_dir()) {
            return Err(ImageError::Corrupt {
                image: rec.digest.clone(),
                reason: format!(
                    "layer {} is missing: import the image again",
                    missing.display()
                ),
            });
        }
        Ok(ImageInfo {
            name: rec
                .names
                .first()
                .cloned()
                .unwrap_or_else(|| rec.digest.clone()),
            names: rec.names.clone(),
            digest: rec.digest.clone(),
            layers,
            config: rec.config.clone(),
            imported: Some(rec.imported.clone()),
        })
    }

    /// The record `name` names: a full digest, a unique hex prefix (6+ digits), a canonical
    /// reference it was imported as, or an image name (`nginx` = `docker.io/library/nginx:latest`).
    fn find(&self, name: &str) -> Result<Record, ImageError> {
        let records = self.records()?;
        if let Some(r) = records.iter().find(|r| r.names.iter().any(|n| n == name)) {
            return Ok(r.clone());
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if hex.len() >= 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<&Record> = records
                .iter()
                .filter(|r| r.digest.trim_start_matches("sha256:").starts_with(hex))
                .collect();
            match hits.len() {
                1 => return Ok(hits[0].clone()),
                0 => {}
                _ => {
                    return Err(ImageError::Ambiguous {
                        reference: name.to_string(),
                        candidates: hits.iter().map(|r| r.digest.clone()).collect(),
                    })
                }
            }
        }
        if !name.contains(':') || !name.starts_with("oci") && !name.starts_with("docker-archive") {
            let want = normalize_name(name);
            if let Some(r) = records
                .iter()
                .find(|r| r.names.iter().any(|n| normalize_name(n) == want))
            {
                return Ok(r.clone());
            }
        }
        Err(ImageError::NotFound {
            reference: name.to_string(),
            hint: "podrt never pulls: import it first (podrt image import oci:DIR:TAG, \
                   oci-archive:FILE, docker-archive:FILE)"
                .into(),
        })
    }

    /// Every image in the store, oldest import first.
    pub fn list(&self) -> Result<Vec<ImageInfo>, ImageError> {
        self.records()?
            .iter()
            .map(|r| match self.info(r) {
                Err(ImageError::Corrupt { .. }) => Ok(ImageInfo {
                    name: r.names.first().cloned().unwrap_or_else(|| r.digest.clone()),
                    names: r.names.clone(),
                    digest: r.digest.clone(),
                    layers: Vec::new(),
                    config: r.config.clone(),
                    imported: Some(r.imported.clone()),
                }),
                other => other,
            })
            .collect()
    }

    /// Removes the image `name_or_digest` names (with all its names), then the layers no image
    /// uses any more ([`Store::gc`]).
    pub fn remove(&self, name_or_digest: &str) -> Result<(), ImageError> {
        self.remove_and_gc(name_or_digest).map(drop)
    }

    /// [`Store::remove`], saying what the collection did.
    pub fn remove_and_gc(&self, name_or_digest: &str) -> Result<GcStats, ImageError> {
        let gc = self.lock("gc.lock", FlockArg::LockExclusive)?;
        {
            let _records = self.lock("records.lock", FlockArg::LockExclusive)?;
            let rec = self.find(name_or_digest)?;
            let path = self.record_path(&Digest::parse(&rec.digest)?);
            fs::remove_file(&path).map_err(store_err(&path))?;
        }
        self.gc_locked(&gc)
    }

    /// Removes layers no image uses (unless an overlay mount still stacks them) and leftovers of
    /// interrupted imports.
    pub fn gc(&self) -> Result<GcStats, ImageError> {
        let gc = self.lock("gc.lock", FlockArg::LockExclusive)?;
        self.gc_locked(&gc)
    }

    fn gc_locked(&self, _exclusive: &Flock<File>) -> Result<GcStats, ImageError> {
        let used: BTreeSet<String> = self
            .records()?
            .into_iter()
            .flat_map(|r| r.layers)
            .filter_map(|l| Digest::parse(&l).ok().map(|d| d.hex().to_string()))
            .collect();
        let mounted = mounted_lowerdirs();
        let layers = self.root.join("layers");
        let mut stats = GcStats::default();
        for e in fs::read_dir(&layers).map_err(store_err(&layers))? {
            let e = e.map_err(store_err(&layers))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if name.starts_with(".tmp-") || name.starts_with(".gc-") {
                // No import runs while we hold the exclusive lock: these are leftovers.
                fs::remove_dir_all(&path).map_err(store_err(&path))?;
                stats.temp_removed += 1;
                continue;
            }
            if Digest::from_hex(&name).is_none() || used.contains(&name) {
                continue;
            }
            if mounted.contains(&path) {
                stats.layers_in_use += 1;
                continue;
            }
            // Rename first, so the layer disappears at once and a crash leaves only a `.gc-`.
            let doomed = layers.join(format!(".gc-{name}"));
            fs::rename(&path, &doomed).map_err(store_err(&path))?;
            fs::remove_dir_all(&doomed).map_err(store_err(&doomed))?;
            stats.layers_removed += 1;
        }
        Ok(stats)
    }
}

/// Every lowerdir of every overlay mount on the machine: in our mount namespace and in every
/// other one some process is in. A pod mounts its containers' rootfs in its own namespace, and
/// a running container's rootfs is the `/` of its namespace, so our own mountinfo is not enough.
fn mounted_lowerdirs() -> BTreeSet<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let mut namespaces = BTreeSet::new();
    let mut out = BTreeSet::new();
    let mut scan = |pid: &str| {
        // A process that exits meanwhile is skipped: its namespace ends with it or lives on
        // in another process.
        let Ok(ns) = fs::metadata(format!("/proc/{pid}/ns/mnt")) else {
            return;
        };
        if !namespaces.insert((ns.dev(), ns.ino())) {
            return;
        }
        if let Ok(text) = fs::read_to_string(format!("/proc/{pid}/mountinfo")) {
            overlay_lowerdirs(&text, &mut out);
        }
    };
    scan("self");
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let name = e.file_name();
            if let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            {
                scan(pid);
            }
        }
    }
    out
}

/// The lowerdirs of the overlay mounts in one mountinfo text.
fn overlay_lowerdirs(mountinfo: &str, out: &mut BTreeSet<PathBuf>) {
    for line in mountinfo.lines() {
        let Some((_, after)) = line.split_once(" - ") else {
            continue;
        };
        let mut f = after.split(' ');
        if f.next() != Some("overlay") {
            continue;
        }
        let super_opts = f.nth(1).unwrap_or_default();
        for opt in super_opts.split(',') {
            if let Some(dirs) = opt.strip_prefix("lowerdir=") {
                out.extend(
                    dirs.split(':')
                        .map(|d| PathBuf::from(unescape_mountinfo(d))),
                );
            }
        }
    }
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let oct = std::str::from_utf8(&b[i + 1..i + 4]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(oct, 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The compression of a layer from its first bytes.
fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt as _;

    use super::super::testutil::{
        blob, root, tar_dir, write_docker_archive, write_layout, write_layout_blobs, Comp, LayerTar,
    };
    use super::*;

    fn base_layer() -> Vec<u8> {
        LayerTar::new()
            .dir("./", 0o755)
            .file("etc/keep", b"keep")
            .file("etc/gone", b"gone")
            .file("data/old/a", b"a")
            .build()
    }

    fn top_layer() -> Vec<u8> {
        LayerTar::new()
            .file("etc/.wh.gone", b"")
            .file("data/old/.wh..wh..opq", b"")
            .file("data/old/new", b"new")
            .build()
    }

    fn layer_files(store: &Store) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(store.root().join("layers"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn imports_each_format_and_reuses_layers() {
        if !root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(&t.path().join("store")).unwrap();
        let layout = t.path().join("layout");
        let md = write_layout(
            &layout,
            "v1",
            &[(base_layer(), Comp::Gzip), (top_layer(), Comp::Zstd)],
            &["/bin/sh"],
        );
        let reference = format!("oci:{}:v1", layout.display());
        let (info, stats) = store.import_with_names(&reference, &[]).unwrap();
        assert_eq!(info.digest, md.to_string());
        assert_eq!(info.name, reference);
        assert_eq!((stats.unpacked, stats.reused, stats.present), (2, 0, false));
        assert_eq!(info.layers.len(), 2);
        assert_eq!(fs::read(info.layers[0].join("etc/keep")).unwrap(), b"keep");
        assert_eq!(info.config.cmd, Some(vec!["/bin/sh".to_string()]));
        assert_eq!(info.config.env, vec!["PATH=/bin", "A=1"]);
        assert_eq!(info.config.working_dir.as_deref(), Some("/w"));
        assert_eq!(info.config.user.as_deref(), Some("1:2"));
        assert_eq!(info.config.entrypoint, None);
        let ino = fs::metadata(&info.layers[0]).unwrap().ino();

        // Again: nothing is read but index.json.
        let (again, stats) = store.import_with_names(&reference, &[]).unwrap();
        assert!(stats.present);
        assert_eq!(again, info);
        // The same image as an oci-archive: a new name for the same digest, no unpack.
        let archive = t.path().join("image.tar");
        tar_dir(&layout, &archive);
        let (a, stats) = store
            .import_with_names(&format!("oci-archive:{}:v1", archive.display()), &[])
            .unwrap();
        assert_eq!(a.digest, info.digest);
        assert!(stats.present, "{stats:?}");
        // A bare path works too.
        assert_eq!(
            store
                .resolve(&archive.display().to_string())
                .unwrap()
                .digest,
            info.digest
        );
        assert_eq!(fs::metadata(&info.layers[0]).unwrap().ino(), ino);

        // Another image sharing the base layer (uncompressed this time): one layer reused.
        write_layout(
            &layout,
            "v2",
            &[(base_layer(), Comp::Plain)],
            &["/bin/true"],
        );
        let (v2, stats) = store
            .import_with_names(
                &format!("oci:{}:v2", layout.display()),
                &["my/app:2".into()],
            )
            .unwrap();
        assert_eq!((stats.unpacked, stats.reused), (0, 1));
        assert_eq!(v2.layers[0], info.layers[0]);
        assert_eq!(fs::metadata(&info.layers[0]).unwrap().ino(), ino);
        assert_eq!(store.resolve("my/app:2").unwrap().digest, v2.digest);
        assert_eq!(store.resolve(&v2.digest[7..19]).unwrap().digest, v2.digest);

        // A docker-save archive of the same base layer.
        let docker = t.path().join("docker.tar");
        let cd = write_docker_archive(&docker, "example.com/x:1", &[base_layer()], &["echo"]);
        let (d, stats) = store
            .import_with_names(&format!("docker-archive:{}", docker.display()), &[])
            .unwrap();
        assert_eq!(d.digest, cd.to_string());
        assert_eq!((stats.unpacked, stats.reused), (0, 1));
        assert_eq!(store.resolve("example.com/x:1").unwrap().digest, d.digest);
        assert_eq!(d.config.cmd, Some(vec!["echo".to_string()]));

        assert_eq!(store.list().unwrap().len(), 3);
        assert_eq!(layer_files(&store).len(), 2);

        // Removing: the shared base layer stays until its last image goes.
        store.remove(&info.digest).unwrap();
        assert_eq!(layer_files(&store).len(), 1);
        store.remove("my/app:2").unwrap();
        assert_eq!(layer_files(&store).len(), 1);
        store.remove("example.com/x:1").unwrap();
        assert!(layer_files(&store).is_empty());
        assert!(store.list().unwrap().is_empty());
        assert!(matches!(
            store.resolve("my/app:2"),
            Err(ImageError::NotFound { .. })
        ));
    }

    #[test]
    fn corrupt_blobs_are_refused_and_leave_nothing() {
        if !root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(&t.path().join("store")).unwrap();
        let layout = t.path().join("layout");
        write_layout(&layout, "latest", &[(base_layer(), Comp::Gzip)], &["sh"]);
        let blobs = layout.join("blobs/sha256");
        // The biggest blob is the layer.
        let layer = fs::read_dir(&blobs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .max_by_key(|p| fs::metadata(p).unwrap().len())
            .unwrap();
        let mut bytes = fs::read(&layer).unwrap();
        let n = bytes.len();
        bytes[n - 12] ^= 0xff; // inside the gzip body/trailer
        fs::write(&layer, &bytes).unwrap();
        let err = store
            .import(&format!("oci:{}", layout.display()))
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{msg}");
        let hex = layer.file_name().unwrap().to_string_lossy().into_owned();
        assert!(msg.contains(&hex), "{msg}");
        assert!(layer_files(&store).is_empty(), "{:?}", layer_files(&store));
        assert!(store.list().unwrap().is_empty());

        // A layer whose content is not what the config's diff ID says.
        let layout2 = t.path().join("layout2");
        let mut lying = blob(&base_layer(), Comp::Gzip);
        lying.diff_id = Digest::of(b"something else");
        write_layout_blobs(&layout2, "latest", &[lying], &["sh"]);
        let err = store
            .import(&format!("oci:{}", layout2.display()))
            .unwrap_err();
        assert!(
            matches!(err, ImageError::DigestMismatch { ref blob, .. } if blob.contains("diff ID")),
            "{err}"
        );
        assert!(layer_files(&store).is_empty());
    }

    #[test]
    fn malicious_layer_is_refused() {
        if !root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(&t.path().join("store")).unwrap();
        let layout = t.path().join("layout");
        let target = t.path().join("outside");
        fs::create_dir(&target).unwrap();
        let evil = LayerTar::new()
            .file("ok", b"fine")
            .symlink("evil", &target.display().to_string())
            .file("evil/x", b"escaped")
            .build();
        write_layout(&layout, "latest", &[(evil, Comp::Gzip)], &["sh"]);
        let err = store
            .import(&format!("oci:{}", layout.display()))
            .unwrap_err();
        assert!(matches!(err, ImageError::UnsafeEntry { .. }), "{err}");
        assert!(!target.join("x").exists());
        assert!(layer_files(&store).is_empty());
    }

    #[test]
    fn concurrent_imports_of_the_same_layers_are_safe() {
        if !root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let store_root = t.path().join("store");
        let layout = t.path().join("layout");
        let big = (0..200).fold(LayerTar::new(), |l, i| {
            l.file(&format!("d{}/f{i}", i % 7), &vec![b'x'; 4096])
        });
        let big = big.build();
        write_layout(&layout, "a", &[(big.clone(), Comp::Gzip)], &["a"]);
        write_layout(
            &layout,
            "b",
            &[(big, Comp::Gzip), (top_layer(), Comp::Plain)],
            &["b"],
        );
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let (root, layout) = (store_root.clone(), layout.clone());
                std::thread::spawn(move || {
                    let store = Store::open(&root).unwrap();
                    let tag = if i % 2 == 0 { "a" } else { "b" };
                    store
                        .import_with_names(&format!("oci:{}:{tag}", layout.display()), &[])
                        .unwrap()
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let store = Store::open(&store_root).unwrap();
        assert_eq!(layer_files(&store).len(), 2, "{:?}", layer_files(&store));
        assert_eq!(store.list().unwrap().len(), 2);
        let unpacked: usize = results.iter().map(|(_, s)| s.unpacked).sum();
        assert!((2..=6).contains(&unpacked), "{unpacked}");
        for (info, _) in &results {
            assert_eq!(fs::read_dir(&info.layers[0]).unwrap().count(), 7);
        }
    }

    #[test]
    fn gc_removes_leftovers() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(&t.path().join("store")).unwrap();
        let junk = store.root().join("layers/.tmp-abc-1-0");
        fs::create_dir_all(junk.join("x")).unwrap();
        let orphan = store.root().join("layers").join("a".repeat(64));
        fs::create_dir_all(&orphan).unwrap();
        let gc = store.gc().unwrap();
        assert_eq!((gc.temp_removed, gc.layers_removed), (1, 1));
        assert!(layer_files(&store).is_empty());
    }

    #[test]
    fn mountinfo_unescape() {
        assert_eq!(unescape_mountinfo(r"/a\040b"), "/a b");
        assert_eq!(unescape_mountinfo(r"/a\\"), r"/a\\");
    }
}
