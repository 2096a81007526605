//! podman as a benchmark peer for `podman kube play`, with every store in the harness's temp dir
//! (`--root --runroot --tmpdir`, overlay, cgroupfs, file events and locks, a containers.conf
//! with the ulimits this host allows), the manifest's images copied in from the same OCI layout
//! podrt imports, and the OCI runtime chosen per call (`--runtime`).
//!
//! crun refuses this hybrid cgroup host, so podman+crun gets a wrapper *named* `crun` (podman
//! hands JSON-log flags only to runtimes whose file name it knows) that logs its arguments and
//! runs the real crun in a private mount namespace without the cgroup2 mount.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

/// The local name an image of the manifest gets in podman's store (`TAG` of `oci:DIR:TAG`).
pub fn local_name(tag: &str) -> String {
    format!("localhost/podrt-bench/{tag}:bench")
}

/// `oci:DIR:TAG` → (DIR, TAG).
pub fn split_oci_ref(reference: &str) -> Option<(&str, &str)> {
    let rest = reference.strip_prefix("oci:")?;
    let (dir, tag) = rest.rsplit_once(':')?;
    (!dir.is_empty() && !tag.is_empty()).then_some((dir, tag))
}

/// podman's copy of a pod manifest: every `image: oci:DIR:TAG` replaced by its local name, and
/// every `ports:` list removed (podman 4.3 turns each `containerPort` into a host port mapping,
/// which it refuses without a bridge network). Returns the text and the (oci ref, local name)
/// pairs.
pub fn podman_manifest(text: &str) -> (String, Vec<(String, String)>) {
    let mut images = Vec::new();
    let mut out = String::new();
    let mut skip_deeper_than: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if let Some(limit) = skip_deeper_than {
            // Items of a YAML block list may sit at the key's own indentation.
            let is_item_at_key = indent == limit && trimmed.starts_with("- ");
            if trimmed.is_empty() || indent > limit || is_item_at_key {
                continue;
            }
            skip_deeper_than = None;
        }
        if trimmed == "ports:" {
            skip_deeper_than = Some(indent);
            continue;
        }
        if let Some(reference) = trimmed.strip_prefix("image: ") {
            if let Some((_, tag)) = split_oci_ref(reference) {
                let name = local_name(tag);
                images.push((reference.to_string(), name.clone()));
                out.push_str(&line.replace(reference, &name));
                out.push('\n');
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    (out, images)
}

/// A private podman store with the manifest's images loaded.
#[derive(Debug)]
pub struct Podman {
    pub dir: PathBuf,
    /// Podman's run-time state (`--runroot`, `--tmpdir`): what lives under `/run` by default.
    pub run: PathBuf,
    pub crun_wrapper: PathBuf,
    /// One line per call of the crun wrapper.
    pub crun_calls: PathBuf,
    pub runc: PathBuf,
    pub crun: PathBuf,
    pub version: String,
}

impl Podman {
    /// Write the configuration and the crun wrapper under `dir` and copy `images` (oci ref,
    /// local name) into the store with skopeo. The run-time state goes under `run`.
    pub fn setup(
        dir: &Path,
        run: &Path,
        crun: &Path,
        runc: &Path,
        hybrid: bool,
        images: &[(String, String)],
    ) -> Result<Podman> {
        for sub in ["root", "networks", "bin"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        for sub in ["runroot", "tmp"] {
            fs::create_dir_all(run.join(sub))?;
        }
        let conf = format!(
            "[containers]\n\
             default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
             log_driver = \"k8s-file\"\n\n\
             [network]\n\
             network_config_dir = \"{net}\"\n\n\
             [engine]\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n\
             events_logfile_path = \"{events}\"\n\
             lock_type = \"file\"\n\
             tmp_dir = \"{tmp}\"\n",
            net = dir.join("networks").display(),
            events = dir.join("events.log").display(),
            tmp = run.join("tmp").display(),
        );
        fs::write(dir.join("containers.conf"), conf)?;
        let storage = format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            dir.join("root").display(),
            run.join("runroot").display()
        );
        fs::write(dir.join("storage.conf"), storage)?;
        let crun_calls = dir.join("crun-calls.log");
        let crun_wrapper = dir.join("bin/crun");
        let exec = if hybrid {
            format!(
                "exec unshare -m --propagation private sh -c '{}' sh {} \"$@\"",
                crate::CRUN_WRAPPER_SCRIPT,
                crun.display()
            )
        } else {
            format!("exec {} \"$@\"", crun.display())
        };
        fs::write(
            &crun_wrapper,
            format!(
                "#!/bin/sh\n# podman+crun: log the call, then run the real crun{}\n\
                 echo \"$*\" >> {}\n{exec}\n",
                if hybrid {
                    " in a private mount namespace without the cgroup2 mount"
                } else {
                    ""
                },
                crun_calls.display()
            ),
        )?;
        fs::set_permissions(&crun_wrapper, fs::Permissions::from_mode(0o755))?;
        let version = crate::machine::version_line(Path::new("podman"), &["--version"]);
        let p = Podman {
            dir: dir.to_path_buf(),
            run: run.to_path_buf(),
            crun_wrapper,
            crun_calls,
            runc: runc.to_path_buf(),
            crun: crun.to_path_buf(),
            version,
        };
        for (reference, name) in images {
            let dest = format!(
                "containers-storage:[overlay@{}+{}]{name}",
                dir.join("root").display(),
                run.join("runroot").display()
            );
            let o = Command::new("skopeo")
                .env("CONTAINERS_STORAGE_CONF", dir.join("storage.conf"))
                .args(["copy", "-q", reference, &dest])
                .output()
                .context("run skopeo")?;
            if !o.status.success() {
                bail!(
                    "skopeo copy {reference} {dest}: {}",
                    String::from_utf8_lossy(&o.stderr).trim_end()
                );
            }
        }
        Ok(p)
    }

    /// The environment podman needs (its configuration files).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "CONTAINERS_CONF",
                self.dir
                    .join("containers.conf")
                    .to_string_lossy()
                    .into_owned(),
            ),
            (
                "CONTAINERS_STORAGE_CONF",
                self.dir.join("storage.conf").to_string_lossy().into_owned(),
            ),
        ]
    }

    /// `podman` with the global flags of this store and `runtime`, then `args`.
    pub fn argv(&self, runtime: &Path, args: &[&str]) -> Vec<OsString> {
        let d = &self.dir;
        let mut v: Vec<OsString> = vec!["podman".into(), "--root".into()];
        v.push(d.join("root").into());
        v.push("--runroot".into());
        v.push(self.run.join("runroot").into());
        v.push("--tmpdir".into());
        v.push(self.run.join("tmp").into());
        for a in [
            "--storage-driver",
            "overlay",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
            "--runtime",
        ] {
            v.push(a.into());
        }
        v.push(runtime.into());
        v.extend(args.iter().map(OsString::from));
        v
    }

    /// Run a podman command outside any timed region; its stdout, or the error with stderr.
    pub fn run(&self, runtime: &Path, args: &[&str]) -> Result<String> {
        let argv = self.argv(runtime, args);
        let o = Command::new(&argv[0])
            .args(&argv[1..])
            .envs(self.env())
            .stdin(std::process::Stdio::null())
            .output()
            .with_context(|| format!("run {}", crate::measure::show_argv(&argv)))?;
        if !o.status.success() {
            bail!(
                "`{}` failed ({}): {}",
                crate::measure::show_argv(&argv),
                o.status,
                String::from_utf8_lossy(&o.stderr).trim_end()
            );
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// The IDs of the containers in the store right now (podman's container IDs are the
    /// storage IDs, one directory each under `runroot/overlay-containers`).
    pub fn container_ids(&self) -> Vec<String> {
        fs::read_dir(self.run.join("runroot/overlay-containers"))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The pid of any container of the store whose runtime has written its pid file yet.
    pub fn any_container_pid(&self) -> Option<i32> {
        let rd = fs::read_dir(self.run.join("runroot/overlay-containers")).ok()?;
        rd.flatten().find_map(|e| {
            fs::read_to_string(e.path().join("userdata/pidfile"))
                .ok()?
                .trim()
                .parse()
                .ok()
        })
    }

    /// How many times podman has called the crun wrapper so far.
    pub fn crun_calls(&self) -> usize {
        fs::read_to_string(&self.crun_calls)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_refs() {
        assert_eq!(
            split_oci_ref("oci:/var/cache/x/nginx-php:php-fpm"),
            Some(("/var/cache/x/nginx-php", "php-fpm"))
        );
        assert_eq!(split_oci_ref("docker.io/nginx:1"), None);
    }

    #[test]
    fn manifest_for_podman() {
        let text = "spec:\n  containers:\n    - name: php\n      image: oci:/i/np:php-fpm\n      \
                    ports:\n        - containerPort: 9000\n      resources:\n        limits:\n          \
                    cpu: \"1\"\n    - name: nginx\n      image: oci:/i/np:nginx\n      ports:\n      \
                    - name: http\n        containerPort: 80\n        hostPort: 8080\n      \
                    readinessProbe:\n        httpGet:\n          port: http\n";
        let (out, images) = podman_manifest(text);
        assert_eq!(
            images,
            vec![
                ("oci:/i/np:php-fpm".to_string(), local_name("php-fpm")),
                ("oci:/i/np:nginx".to_string(), local_name("nginx")),
            ]
        );
        assert!(
            !out.contains("ports:") && !out.contains("containerPort"),
            "{out}"
        );
        assert!(!out.contains("hostPort"), "{out}");
        assert!(
            out.contains("image: localhost/podrt-bench/nginx:bench"),
            "{out}"
        );
        assert!(out.contains("      resources:\n        limits:\n"), "{out}");
        assert!(out.contains("      readinessProbe:\n        httpGet:\n          port: http\n"));
    }
}
