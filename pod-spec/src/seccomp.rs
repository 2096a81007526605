//! podrt's RuntimeDefault seccomp profile (`data/seccomp-default.json`) and Localhost profiles.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use oci_spec::runtime::{Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSyscall};
use serde::Deserialize;

/// The profile file: rules for everyone plus rules tied to capabilities.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProfileData {
    #[allow(dead_code)]
    comment: String,
    default_action: LinuxSeccompAction,
    default_errno_ret: Option<u32>,
    syscalls: Vec<LinuxSyscall>,
    /// Added when the container holds the capability (key: `CAP_...`).
    by_capability: BTreeMap<String, Vec<LinuxSyscall>>,
    /// Added when the container does not hold the capability.
    unless_capability: BTreeMap<String, Vec<LinuxSyscall>>,
}

const DATA: &str = include_str!("../data/seccomp-default.json");

fn data() -> &'static ProfileData {
    static DATA_PARSED: OnceLock<ProfileData> = OnceLock::new();
    DATA_PARSED.get_or_init(|| {
        // The file is part of the crate and checked by the tests below.
        serde_json::from_str(DATA).expect("data/seccomp-default.json is a valid profile")
    })
}

/// The architectures the profile applies to: the one podrt was built for. Syscalls from any
/// other ABI (e.g. 32-bit x86 on x86_64) fail the filter's architecture check.
fn native_architectures() -> Vec<Arch> {
    if cfg!(target_arch = "x86_64") {
        vec![Arch::ScmpArchX86_64]
    } else if cfg!(target_arch = "aarch64") {
        vec![Arch::ScmpArchAarch64]
    } else if cfg!(target_arch = "x86") {
        vec![Arch::ScmpArchX86]
    } else if cfg!(target_arch = "arm") {
        vec![Arch::ScmpArchArm]
    } else if cfg!(target_arch = "riscv64") {
        vec![Arch::ScmpArchRiscv64]
    } else if cfg!(target_arch = "s390x") {
        vec![Arch::ScmpArchS390x]
    } else if cfg!(target_arch = "powerpc64") {
        vec![Arch::ScmpArchPpc64le]
    } else {
        Vec::new()
    }
}

/// The capabilities containerd gives a container by default.
pub(crate) const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// podrt's RuntimeDefault profile for a container with the default capabilities: default
/// action `SCMP_ACT_ERRNO` (EPERM), an allow list of the ordinary syscalls, `personality` only
/// for the usual personas, `clone` only without namespace flags, `clone3` → ENOSYS.
///
/// The list names syscalls of several architectures; a compiler must skip names that do not
/// exist on the running one (as runc and crun do).
pub fn runtime_default_seccomp() -> LinuxSeccomp {
    runtime_default_seccomp_for(&DEFAULT_CAPABILITIES)
}

/// The RuntimeDefault profile for a container holding `caps` (its bounding set): holding e.g.
/// CAP_SYS_ADMIN also allows mount, unshare, setns and unrestricted clone/clone3, as Docker's
/// and containerd's profiles do.
pub fn runtime_default_seccomp_for(caps: &[Capability]) -> LinuxSeccomp {
    let d = data();
    let held: Vec<String> = caps.iter().map(|c| format!("CAP_{c}")).collect();
    let mut syscalls = d.syscalls.clone();
    for (cap, rules) in &d.by_capability {
        if held.contains(cap) {
            syscalls.extend(rules.iter().cloned());
        }
    }
    for (cap, rules) in &d.unless_capability {
        if !held.contains(cap) {
            syscalls.extend(rules.iter().cloned());
        }
    }
    let mut profile = LinuxSeccomp::default();
    profile.set_default_action(d.default_action);
    profile.set_default_errno_ret(d.default_errno_ret);
    profile.set_architectures(Some(native_architectures()));
    profile.set_syscalls(Some(syscalls));
    profile
}

/// Parse a Localhost profile (OCI `LinuxSeccomp` JSON).
pub fn parse_seccomp_profile(json: &str) -> Result<LinuxSeccomp, serde_json::Error> {
    serde_json::from_str(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxSeccompOperator;

    fn allowed_unconditionally(p: &LinuxSeccomp, name: &str) -> bool {
        p.syscalls().as_ref().unwrap().iter().any(|s| {
            s.action() == LinuxSeccompAction::ScmpActAllow
                && s.args().as_ref().is_none_or(|a| a.is_empty())
                && s.names().iter().any(|n| n == name)
        })
    }

    fn rules<'a>(p: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        p.syscalls()
            .as_ref()
            .unwrap()
            .iter()
            .filter(|s| s.names().iter().any(|n| n == name))
            .collect()
    }

    #[test]
    fn parses_and_has_the_essentials() {
        let p = runtime_default_seccomp();
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
        assert!(!p.architectures().as_ref().unwrap().is_empty());
        for name in [
            "read",
            "write",
            "openat",
            "close",
            "mmap",
            "mprotect",
            "munmap",
            "brk",
            "execve",
            "execveat",
            "exit_group",
            "futex",
            "epoll_wait",
            "epoll_pwait",
            "poll",
            "ppoll",
            "select",
            "pselect6",
            "socket",
            "connect",
            "accept4",
            "bind",
            "listen",
            "sendto",
            "recvfrom",
            "fork",
            "vfork",
            "wait4",
            "rt_sigaction",
            "rt_sigreturn",
            "nanosleep",
            "clock_gettime",
            "getrandom",
            "prctl",
            "statx",
            "newfstatat",
            "getdents64",
            "pipe2",
            "dup3",
            "fcntl",
            "ioctl",
            "rseq",
            "set_robust_list",
            "prlimit64",
            "chroot",
        ] {
            assert!(
                allowed_unconditionally(&p, name),
                "{name} should be allowed"
            );
        }
        for name in [
            "mount",
            "umount2",
            "pivot_root",
            "unshare",
            "setns",
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "bpf",
            "perf_event_open",
            "add_key",
            "request_key",
            "keyctl",
            "reboot",
            "swapon",
            "swapoff",
            "acct",
            "settimeofday",
            "clock_settime",
            "open_by_handle_at",
            "userfaultfd",
            "iopl",
            "ioperm",
            "syslog",
            "quotactl",
        ] {
            assert!(rules(&p, name).is_empty(), "{name} must not be allowed");
        }
    }

    #[test]
    fn conditioned_rules() {
        let p = runtime_default_seccomp();
        let personas: Vec<u64> = rules(&p, "personality")
            .iter()
            .map(|r| {
                let a = &r.args().as_ref().unwrap()[0];
                assert_eq!(a.op(), LinuxSeccompOperator::ScmpCmpEq);
                assert_eq!(a.index(), 0);
                a.value()
            })
            .collect();
        assert_eq!(personas, vec![0, 8, 0x20000, 0x20008, 0xffff_ffff]);
        let clone = rules(&p, "clone");
        assert_eq!(clone.len(), 1);
        let a = &clone[0].args().as_ref().unwrap()[0];
        assert_eq!(
            (a.index(), a.value(), a.value_two(), a.op()),
            (
                0,
                0x7E02_0000,
                Some(0),
                LinuxSeccompOperator::ScmpCmpMaskedEq
            )
        );
        let clone3 = rules(&p, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3[0].errno_ret(), Some(38));
    }

    #[test]
    fn capabilities_widen_the_profile() {
        let mut caps = DEFAULT_CAPABILITIES.to_vec();
        caps.push(Capability::SysAdmin);
        caps.push(Capability::SysPtrace);
        let p = runtime_default_seccomp_for(&caps);
        for name in [
            "mount", "umount2", "unshare", "setns", "clone", "clone3", "kcmp",
        ] {
            assert!(allowed_unconditionally(&p, name), "{name}");
        }
        assert_eq!(rules(&p, "clone").len(), 1);
        let p = runtime_default_seccomp_for(&[]);
        assert!(rules(&p, "chroot").is_empty());
    }

    #[test]
    fn serde_roundtrip_and_localhost_parse() {
        let p = runtime_default_seccomp();
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(parse_seccomp_profile(&text).unwrap(), p);
        assert!(parse_seccomp_profile("{").is_err());
    }
}
