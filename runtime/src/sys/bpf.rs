//! bpf(2) for the cgroup v2 device controller: load a BPF_PROG_TYPE_CGROUP_DEVICE program and
//! attach it to a cgroup directory.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::prepare::devices::BpfInsn;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The prefix of `union bpf_attr` that BPF_PROG_LOAD reads (the kernel accepts a shorter
/// struct; the rest is taken as zero).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// Load `prog` as a cgroup device program.
pub fn load_device_program(prog: &[BpfInsn]) -> io::Result<OwnedFd> {
    const LICENSE: &[u8] = b"Apache-2.0\0";
    let mut log = vec![0_u8; 64 * 1024];
    let attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(prog.len())
            .map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?,
        insns: prog.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        log_level: 1,
        log_size: u32::try_from(log.len()).unwrap_or(0),
        log_buf: log.as_mut_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: `attr` is a valid, initialised bpf_attr prefix of the size passed; the pointers in
    // it (instructions, license, log buffer) stay alive and unaliased for the whole call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoadAttr,
            std::mem::size_of::<ProgLoadAttr>(),
        )
    };
    if ret < 0 {
        let err = io::Error::last_os_error();
        let text = String::from_utf8_lossy(&log[..log.iter().position(|b| *b == 0).unwrap_or(0)])
            .trim()
            .to_string();
        return Err(if text.is_empty() {
            err
        } else {
            io::Error::new(err.kind(), format!("{err}: verifier: {text}"))
        });
    }
    let fd = libc::c_int::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Attach a loaded device program to the cgroup whose directory `cgroup` refers to.
pub fn attach_device_program(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let attr = ProgAttachAttr {
        target_fd: u32::try_from(cgroup.as_raw_fd()).unwrap_or(u32::MAX),
        attach_bpf_fd: u32::try_from(prog.as_raw_fd()).unwrap_or(u32::MAX),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    // SAFETY: `attr` is a valid, initialised bpf_attr prefix of the size passed; both fds are
    // borrowed and open for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const ProgAttachAttr,
            std::mem::size_of::<ProgAttachAttr>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

    /// The cgroup2 mount of this machine (pure v2 or hybrid), if any.
    fn cgroup2_mount() -> Option<std::path::PathBuf> {
        let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        text.lines().find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let point = left.split(' ').nth(4)?;
            right
                .starts_with("cgroup2 ")
                .then(|| std::path::PathBuf::from(point))
        })
    }

    #[test]
    fn device_program_is_enforced_by_the_kernel() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP(feature-missing): device_program: needs root");
            return;
        }
        let Some(mount) = cgroup2_mount() else {
            eprintln!("SKIP(feature-missing): device_program: no cgroup2 mount");
            return;
        };
        let dir = mount.join(format!("podrt-devtest-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let allow = |major, minor| {
            let mut r = LinuxDeviceCgroup::default();
            r.set_allow(true);
            r.set_typ(Some(LinuxDeviceType::C));
            r.set_major(Some(major));
            r.set_minor(Some(minor));
            r.set_access(Some("rwm".into()));
            r
        };
        let mut deny_all = LinuxDeviceCgroup::default();
        deny_all.set_allow(false);
        deny_all.set_access(Some("rwm".into()));
        let prog = crate::prepare::devices::compile(&[deny_all, allow(1, 3)]).unwrap();
        let result = (|| {
            let fd = super::load_device_program(&prog)?;
            let cg = std::fs::File::open(&dir)?;
            super::attach_device_program(cg.as_fd(), fd.as_fd())?;
            // The shell moves itself into the cgroup, then opens /dev/full (c 1:7, not allowed:
            // EPERM; allowed it would be ENOSPC) and /dev/null (c 1:3, allowed).
            let script = format!(
                "echo $$ > {}/cgroup.procs || exit 9; \
                 if (echo x > /dev/full) 2>&1 | grep -q 'not permitted'; then echo FULL-DENIED; \
                 else echo FULL-ALLOWED; fi; \
                 if (echo x > /dev/null); then echo NULL-OK; else echo NULL-DENIED; fi",
                dir.display()
            );
            std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .output()
        })();
        let _ = std::fs::remove_dir(&dir);
        let out = result.expect("load, attach and run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("FULL-DENIED"), "{stdout}");
        assert!(stdout.contains("NULL-OK"), "{stdout}");
    }
}
