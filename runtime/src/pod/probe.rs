//! Probes run by the supervisor: HTTP GET and TCP connect from the host to the pod's IP, and
//! exec inside the container (through `podrt exec`, in a child process with a timeout).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The outcome of one probe run, with a short reason for `pod inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success(String),
    Failure(String),
}

/// HTTP GET http://ip:port/path; 200-399 is success (as the kubelet does).
pub fn http_get(
    ip: IpAddr,
    port: u16,
    path: &str,
    host: Option<&str>,
    timeout: Duration,
) -> Outcome {
    let addr = SocketAddr::new(ip, port);
    let mut s = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => return Outcome::Failure(format!("GET {addr}{path}: {e}")),
    };
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    let host = host.map(str::to_string).unwrap_or_else(|| addr.to_string());
    let req = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: podrt-probe\r\nConnection: close\r\n\r\n");
    if let Err(e) = s.write_all(req.as_bytes()) {
        return Outcome::Failure(format!("GET {addr}{path}: {e}"));
    }
    let mut buf = [0_u8; 256];
    let mut got = Vec::new();
    let deadline = Instant::now() + timeout;
    while !got.contains(&b'\n') && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Outcome::Failure(format!("GET {addr}{path}: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&got);
    let status: Option<u16> = line.split_whitespace().nth(1).and_then(|c| c.parse().ok());
    match status {
        Some(c) if (200..400).contains(&c) => Outcome::Success(format!("GET {path}: {c}")),
        Some(c) => Outcome::Failure(format!("GET {path}: HTTP {c}")),
        None => Outcome::Failure(format!("GET {addr}{path}: no HTTP status line")),
    }
}

/// TCP connect to ip:port.
pub fn tcp(ip: IpAddr, port: u16, timeout: Duration) -> Outcome {
    let addr = SocketAddr::new(ip, port);
    match TcpStream::connect_timeout(&addr, timeout) {
        Ok(_) => Outcome::Success(format!("tcp {addr}: connected")),
        Err(e) => Outcome::Failure(format!("tcp {addr}: {e}")),
    }
}

/// Run a command in the container with `podrt exec`; exit status 0 is success.
pub fn exec(root: &Path, id: &str, command: &[String], timeout: Duration) -> Outcome {
    let exe = std::env::current_exe().unwrap_or_else(|_| "podrt".into());
    let mut child = match Command::new(exe)
        .arg("--root")
        .arg(root)
        .arg("exec")
        .arg(id)
        .args(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Outcome::Failure(format!("exec {command:?}: {e}")),
    };
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => {
                return Outcome::Success(format!("exec {command:?}: exit 0"))
            }
            Ok(Some(st)) => return Outcome::Failure(format!("exec {command:?}: {st}")),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Outcome::Failure(format!("exec {command:?}: timed out after {timeout:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Outcome::Failure(format!("exec {command:?}: {e}")),
        }
    }
}
