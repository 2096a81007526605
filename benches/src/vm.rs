//! The `vmboot` scenario's pieces: a minimal initramfs (static busybox and an `/init` script
//! that prints a marker and powers off), written as a `newc` cpio archive without any tool, and
//! one timed boot of qemu (TCG) until the marker shows on its serial console.

use std::fs::File;
use std::io::{self, Read as _, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

/// What the guest's init prints once userspace runs.
pub const MARKER: &str = "PODRT-BOOT-MARKER";

/// The guest's `/init`.
pub const INIT: &str = "#!/bin/busybox sh\n\
/bin/busybox mount -t proc proc /proc\n\
/bin/busybox echo PODRT-BOOT-MARKER\n\
/bin/busybox echo o > /proc/sysrq-trigger\n\
/bin/busybox sleep 30\n";

/// A `newc` cpio writer.
struct Cpio<W: Write> {
    out: W,
    ino: u32,
    written: usize,
}

impl<W: Write> Cpio<W> {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) -> io::Result<()> {
        self.ino += 1;
        let namesize = name.len() + 1;
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            namesize,
            0
        );
        self.write(header.as_bytes())?;
        self.write(name.as_bytes())?;
        self.write(&[0])?;
        self.pad()?;
        self.write(data)?;
        self.pad()
    }

    fn write(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)?;
        self.written += b.len();
        Ok(())
    }

    fn pad(&mut self) -> io::Result<()> {
        let n = (4 - self.written % 4) % 4;
        self.write(&[0u8; 3][..n])
    }
}

/// Write `DIR/initramfs.cpio`: /bin/busybox, /bin/sh → busybox, /dev/console, /proc, /init.
pub fn build_initramfs(dir: &Path, busybox: &Path) -> Result<PathBuf> {
    let path = dir.join("initramfs.cpio");
    let bb = std::fs::read(busybox).with_context(|| format!("read {}", busybox.display()))?;
    let f = File::create(&path).with_context(|| format!("create {}", path.display()))?;
    let mut c = Cpio {
        out: io::BufWriter::new(f),
        ino: 0,
        written: 0,
    };
    const DIR: u32 = 0o040_755;
    const FILE: u32 = 0o100_755;
    c.entry("bin", DIR, (0, 0), &[])?;
    c.entry("dev", DIR, (0, 0), &[])?;
    c.entry("proc", DIR, (0, 0), &[])?;
    c.entry("bin/busybox", FILE, (0, 0), &bb)?;
    c.entry("bin/sh", 0o120_777, (0, 0), b"busybox")?;
    c.entry("dev/console", 0o020_600, (5, 1), &[])?;
    c.entry("init", FILE, (0, 0), INIT.as_bytes())?;
    c.entry("TRAILER!!!", 0, (0, 0), &[])?;
    c.out.flush()?;
    Ok(path)
}

/// The newest Debian 6.1 kernel in /boot.
pub fn find_kernel() -> Result<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("/boot")?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-6.1."))
        })
        .collect();
    v.sort();
    v.pop().context("no /boot/vmlinuz-6.1.* kernel")
}

/// The qemu command line.
pub fn qemu_argv(kernel: &Path, initrd: &Path) -> Vec<String> {
    [
        "qemu-system-x86_64",
        "-M",
        "q35,accel=tcg",
        "-cpu",
        "max",
        "-m",
        "512M",
        "-smp",
        "1",
        "-nographic",
        "-no-reboot",
        "-nic",
        "none",
        "-kernel",
        &kernel.to_string_lossy(),
        "-initrd",
        &initrd.to_string_lossy(),
        "-append",
        "console=ttyS0 quiet panic=-1",
    ]
    .iter()
    .map(ToString::to_string)
    .collect()
}

/// Boot once: time from spawn until the marker appears on qemu's stdout; then wait up to 10 s
/// for the guest's power-off and kill qemu by PID if it is still there.
pub fn boot_once(argv: &[String], timeout: Duration) -> Result<Duration> {
    let start = Instant::now();
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("spawn {}", argv[0]))?;
    let mut out = child.stdout.take().context("qemu stdout")?;
    let fd = out.as_raw_fd();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let found = loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            break None;
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd, count 1.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r <= 0 {
            continue;
        }
        let n = out.read(&mut buf)?;
        if n == 0 {
            break None;
        }
        seen.extend_from_slice(&buf[..n]);
        if seen.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()) {
            break Some(start.elapsed());
        }
    };
    // Let the guest power off; kill qemu (our child, by PID) if it does not.
    let t = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if t.elapsed() > Duration::from_secs(10) || found.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        // Drain the console so qemu never blocks on a full pipe.
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, count 1.
        if unsafe { libc::poll(&mut pfd, 1, 50) } > 0 && out.read(&mut buf)? == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    match found {
        Some(d) => Ok(d),
        None => {
            let tail = String::from_utf8_lossy(&seen[seen.len().saturating_sub(2000)..]);
            bail!(
                "no {MARKER} within {timeout:?}; console tail:\n{}",
                tail.trim_end()
            )
        }
    }
}
