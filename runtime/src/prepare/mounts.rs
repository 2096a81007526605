//! Mount options: the OCI/fstab option words turned into mount(2) flags and data.

use nix::mount::MsFlags;

/// One mount, resolved in the parent: everything the init needs to call mount(2).
#[derive(Debug, Clone)]
pub struct MountPlan {
    /// Destination inside the container (absolute, as written in the spec).
    pub destination: String,
    pub source: Option<String>,
    pub fstype: Option<String>,
    pub flags: MsFlags,
    /// Propagation to apply after mounting (MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE, maybe
    /// with MS_REC).
    pub propagation: MsFlags,
    pub data: String,
    pub bind: bool,
}

/// Errors turning options into flags.
#[derive(Debug, thiserror::Error)]
pub enum MountOptionError {
    #[error("mount {destination}: option {option:?} is not supported by podrt")]
    Unsupported { destination: String, option: String },
    #[error("mount {destination}: destination must be an absolute path")]
    RelativeDestination { destination: String },
}

/// Parse the option list of one spec mount.
pub fn plan_mount(
    destination: &str,
    fstype: Option<&str>,
    source: Option<&str>,
    options: &[String],
) -> Result<MountPlan, MountOptionError> {
    if !destination.starts_with('/') {
        return Err(MountOptionError::RelativeDestination {
            destination: destination.to_string(),
        });
    }
    let mut flags = MsFlags::empty();
    let mut propagation = MsFlags::empty();
    let mut data: Vec<&str> = Vec::new();
    let mut bind = fstype == Some("bind");
    for opt in options {
        let o = opt.as_str();
        let (set, clear) = match o {
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "bind" => {
                bind = true;
                (MsFlags::MS_BIND, MsFlags::empty())
            }
            "rbind" => {
                bind = true;
                (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty())
            }
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                propagation |= propagation_flag(o);
                continue;
            }
            // Labels and copy-up hints that only matter to other runtimes or to SELinux-less
            // hosts: accepted, nothing to do here.
            "tmpcopyup" | "z" | "Z" | "nocopyup" | "copyup" => continue,
            "idmap" | "ridmap" | "rro" | "rrw" | "rnosuid" | "rsuid" | "rnodev" | "rdev"
            | "rnoexec" | "rexec" | "rnoatime" | "ratime" | "rrelatime" | "rnorelatime"
            | "rstrictatime" | "rnostrictatime" | "rnodiratime" | "rdiratime" | "rnosymfollow"
            | "rsymfollow" | "nosymfollow" | "symfollow" => {
                return Err(MountOptionError::Unsupported {
                    destination: destination.to_string(),
                    option: o.to_string(),
                })
            }
            _ => {
                data.push(o);
                continue;
            }
        };
        flags |= set;
        flags &= !clear;
    }
    if fstype == Some("bind") && !flags.contains(MsFlags::MS_BIND) {
        flags |= MsFlags::MS_BIND;
    }
    Ok(MountPlan {
        destination: destination.to_string(),
        source: source.map(str::to_string),
        fstype: fstype.map(str::to_string),
        flags,
        propagation,
        data: data.join(","),
        bind,
    })
}

/// The mount(2) propagation flag for an option word (also used for rootfsPropagation).
pub fn propagation_flag(word: &str) -> MsFlags {
    match word {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => MsFlags::empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn proc_and_tmpfs_options() {
        let p = plan_mount(
            "/dev",
            Some("tmpfs"),
            Some("tmpfs"),
            &opts(&["nosuid", "strictatime", "mode=755", "size=65536k"]),
        )
        .unwrap();
        assert_eq!(p.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(p.data, "mode=755,size=65536k");
        assert!(!p.bind);
    }

    #[test]
    fn bind_ro_and_propagation() {
        let p = plan_mount(
            "/data",
            Some("none"),
            Some("/tmp"),
            &opts(&["rbind", "ro", "rslave"]),
        )
        .unwrap();
        assert!(p.bind);
        assert!(p
            .flags
            .contains(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY));
        assert_eq!(p.propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        let p = plan_mount("/x", Some("bind"), Some("/tmp"), &[]).unwrap();
        assert!(p.bind && p.flags.contains(MsFlags::MS_BIND));
    }

    #[test]
    fn later_words_win() {
        let p = plan_mount("/x", Some("tmpfs"), None, &opts(&["ro", "rw"])).unwrap();
        assert!(!p.flags.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn idmap_is_refused_and_relative_destination_too() {
        assert!(plan_mount("/x", Some("bind"), Some("/y"), &opts(&["idmap"])).is_err());
        assert!(plan_mount("x", Some("tmpfs"), None, &[]).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(words in proptest::collection::vec("[a-z=,0-9]{0,12}", 0..8)) {
            let _ = plan_mount("/m", Some("tmpfs"), None, &words);
        }
    }
}
