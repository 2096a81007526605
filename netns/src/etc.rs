//! The pod's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`.

use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::Error;

pub(crate) fn hosts(ip: Ipv4Addr, hostname: &str) -> String {
    format!(
        "127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         {ip}\t{hostname}\n"
    )
}

pub(crate) fn resolv_conf(dns: &[Ipv4Addr]) -> String {
    if dns.is_empty() {
        return "# podrt: no nameservers configured (the host has none that a pod can reach)\n"
            .to_string();
    }
    dns.iter().map(|ip| format!("nameserver {ip}\n")).collect()
}

/// The host's IPv4 nameservers from resolv.conf text, minus loopback ones (a resolver on the
/// host's 127.0.0.53 is not reachable from a pod).
pub(crate) fn host_nameservers(resolv_conf: &str) -> Vec<Ipv4Addr> {
    resolv_conf
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next())?
        })
        .filter_map(|w| w.parse::<Ipv4Addr>().ok())
        .filter(|ip| !ip.is_loopback())
        .collect()
}

/// Write the three files into `dir` (created if missing).
pub(crate) fn write(
    dir: &Path,
    ip: Ipv4Addr,
    hostname: &str,
    dns: &[Ipv4Addr],
) -> Result<(), Error> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source: io::Error| Error::WriteEtc { path, source }
    };
    fs::create_dir_all(dir).map_err(err(dir))?;
    for (name, text) in [
        ("hosts", hosts(ip, hostname)),
        ("hostname", format!("{hostname}\n")),
        ("resolv.conf", resolv_conf(dns)),
    ] {
        let path = dir.join(name);
        fs::write(&path, text).map_err(err(&path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_skip_loopback_and_ipv6() {
        let text = "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n\
                    nameserver ::1\nnameserver  1.1.1.1 \nsearch example\n";
        assert_eq!(
            host_nameservers(text),
            [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(1, 1, 1, 1)]
        );
        assert!(host_nameservers("nameserver 127.0.0.53\n").is_empty());
    }

    #[test]
    fn files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("etc");
        write(&dir, Ipv4Addr::new(10, 77, 0, 2), "web", &[]).unwrap();
        assert_eq!(
            fs::read_to_string(dir.join("hosts")).unwrap(),
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.77.0.2\tweb\n"
        );
        assert_eq!(fs::read_to_string(dir.join("hostname")).unwrap(), "web\n");
        assert!(fs::read_to_string(dir.join("resolv.conf"))
            .unwrap()
            .starts_with('#'));
        assert_eq!(
            resolv_conf(&[Ipv4Addr::new(1, 1, 1, 1)]),
            "nameserver 1.1.1.1\n"
        );
    }
}
