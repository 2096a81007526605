//! hostPort mappings with nftables, by driving the `nft` binary: a text ruleset on stdin to
//! change things (one transaction per call) and `nft -j -a list` to read handles back.
//!
//! The table `ip TABLE` (default `podrt`) holds:
//! - `prerouting` (nat, dstnat): DNAT of traffic arriving for a host port;
//! - `output` (nat, -100): DNAT of the host's own connections, including to 127.0.0.1;
//! - `postrouting` (nat, srcnat): masquerade of 127.0.0.0/8 sources towards a pod, so a
//!   connection to 127.0.0.1:PORT leaves the bridge with the gateway address as source;
//! - `guard` (filter, prerouting, -150): drops packets to 127.0.0.0/8 arriving on any interface
//!   but `lo`. The bridge needs `route_localnet=1` for the loopback path, which would otherwise
//!   let a pod reach the host's 127.0.0.1-only services (the kube-proxy CVE-2020-8558 class).
//!
//! Each pod's rules carry `comment "POD"`; teardown deletes exactly the rules with that comment,
//! by handle.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Error, PortMapping};

/// Find the `nft` binary: `PATH` first, then the sbin directories a non-root `PATH` may lack.
pub(crate) fn binary() -> Result<PathBuf, Error> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    find(
        std::env::split_paths(&path)
            .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from)),
    )
}

fn find(dirs: impl IntoIterator<Item = PathBuf>) -> Result<PathBuf, Error> {
    dirs.into_iter()
        .map(|d| d.join("nft"))
        .find(|p| p.is_file())
        .ok_or(Error::NftMissing)
}

fn run(nft: &Path, args: &[&str], stdin: Option<&str>, action: &str) -> Result<String, Error> {
    let exec = |source| Error::NftExec {
        action: action.to_string(),
        source,
    };
    let mut child = Command::new(nft)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(exec)?;
    if let Some(text) = stdin {
        // Dropping the pipe after the write closes nft's stdin.
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(text.as_bytes()).map_err(exec)?;
    }
    let out = child.wait_with_output().map_err(exec)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Nft {
            action: action.to_string(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// The table and chains, idempotent (`nft -f` declarations add what is missing); the guard
/// chain is flushed and refilled so it always holds exactly one rule.
fn table_decl(table: &str) -> String {
    format!(
        "table ip {table} {{\n\
         \tchain prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}\n\
         \tchain output {{ type nat hook output priority -100; policy accept; }}\n\
         \tchain postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n\
         \tchain guard {{ type filter hook prerouting priority -150; policy accept; }}\n\
         }}\n\
         flush chain ip {table} guard\n\
         add rule ip {table} guard iifname != \"lo\" ip daddr 127.0.0.0/8 drop\n"
    )
}

/// The ruleset adding one pod's mappings (and the table if missing), as one transaction.
pub(crate) fn pod_ruleset(
    table: &str,
    pod: &str,
    pod_ip: Ipv4Addr,
    ports: &[PortMapping],
) -> String {
    let mut s = table_decl(table);
    for m in ports {
        let daddr = match m.host_ip {
            Some(ip) => format!("ip daddr {ip}"),
            None => "fib daddr type local".to_string(),
        };
        let rule = format!(
            "{daddr} {proto} dport {hp} dnat to {pod_ip}:{cp} comment \"{pod}\"",
            proto = m.protocol,
            hp = m.host_port,
            cp = m.container_port,
        );
        s.push_str(&format!("add rule ip {table} prerouting {rule}\n"));
        s.push_str(&format!("add rule ip {table} output {rule}\n"));
    }
    if !ports.is_empty() {
        s.push_str(&format!(
            "add rule ip {table} postrouting ip saddr 127.0.0.0/8 ip daddr {pod_ip} masquerade comment \"{pod}\"\n"
        ));
    }
    s
}

/// Add a pod's mappings.
pub(crate) fn add_pod(
    table: &str,
    pod: &str,
    pod_ip: Ipv4Addr,
    ports: &[PortMapping],
) -> Result<(), Error> {
    let nft = binary()?;
    let ruleset = pod_ruleset(table, pod, pod_ip, ports);
    tracing::debug!(table, pod, rules = %ruleset, "nft add");
    run(
        &nft,
        &["-f", "-"],
        Some(&ruleset),
        &format!("add rules of pod {pod}"),
    )?;
    Ok(())
}

/// One rule of our table as `nft -j -a list` shows it.
#[derive(Debug)]
struct Rule {
    chain: String,
    handle: u64,
    comment: Option<String>,
}

/// The rules of table `ip TABLE`, or `None` if the table does not exist.
fn list(nft: &Path, table: &str) -> Result<Option<Vec<Rule>>, Error> {
    let action = format!("list table ip {table}");
    let out = match run(
        nft,
        &["-j", "-a", "list", "table", "ip", table],
        None,
        &action,
    ) {
        Ok(out) => out,
        Err(Error::Nft { message, .. }) if message.contains("No such file or directory") => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let bad = |why: String| Error::Nft {
        action: action.clone(),
        message: why,
    };
    let json: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| bad(format!("unparsable json: {e}")))?;
    let items = json["nftables"]
        .as_array()
        .ok_or_else(|| bad("no \"nftables\" array in the json".to_string()))?;
    let rules = items
        .iter()
        .filter_map(|item| item.get("rule"))
        .filter_map(|r| {
            Some(Rule {
                chain: r["chain"].as_str()?.to_string(),
                handle: r["handle"].as_u64()?,
                comment: r["comment"].as_str().map(str::to_string),
            })
        })
        .collect();
    Ok(Some(rules))
}

/// Delete every rule tagged with `pod`. Returns the number of pod rules left in the table
/// afterwards (rules of other pods), or `None` if the table does not exist.
pub(crate) fn remove_pod(table: &str, pod: &str) -> Result<Option<usize>, Error> {
    let nft = binary()?;
    let Some(rules) = list(&nft, table)? else {
        return Ok(None);
    };
    let (mine, others): (Vec<&Rule>, Vec<&Rule>) = rules
        .iter()
        .filter(|r| r.comment.is_some())
        .partition(|r| r.comment.as_deref() == Some(pod));
    if !mine.is_empty() {
        let script: String = mine
            .iter()
            .map(|r| format!("delete rule ip {table} {} handle {}\n", r.chain, r.handle))
            .collect();
        tracing::debug!(table, pod, rules = mine.len(), "nft delete");
        run(
            &nft,
            &["-f", "-"],
            Some(&script),
            &format!("delete rules of pod {pod}"),
        )?;
    }
    Ok(Some(others.len()))
}

/// Delete the table if no pod rule is left in it. Returns whether it is gone.
pub(crate) fn remove_table_if_unused(table: &str) -> Result<bool, Error> {
    let nft = binary()?;
    let Some(rules) = list(&nft, table)? else {
        return Ok(true);
    };
    if rules.iter().any(|r| r.comment.is_some()) {
        return Ok(false);
    }
    match run(
        &nft,
        &["delete", "table", "ip", table],
        None,
        &format!("delete table ip {table}"),
    ) {
        Ok(_) => Ok(true),
        Err(Error::Nft { message, .. }) if message.contains("No such file or directory") => {
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Protocol;

    #[test]
    fn missing_binary_names_the_package() {
        let tmp = tempfile::tempdir().unwrap();
        let err = find([tmp.path().to_path_buf()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "nft binary not found in PATH, /usr/sbin or /sbin: install the nftables package"
        );
        std::fs::write(tmp.path().join("nft"), "").unwrap();
        assert_eq!(
            find([tmp.path().to_path_buf()]).unwrap(),
            tmp.path().join("nft")
        );
    }

    #[test]
    fn ruleset_text() {
        let ports = [
            PortMapping {
                host_port: 8080,
                container_port: 80,
                protocol: Protocol::Tcp,
                host_ip: None,
            },
            PortMapping {
                host_port: 5353,
                container_port: 53,
                protocol: Protocol::Udp,
                host_ip: Some(Ipv4Addr::LOCALHOST),
            },
        ];
        let s = pod_ruleset("podrt", "web", Ipv4Addr::new(10, 77, 0, 2), &ports);
        assert!(s.contains(
            "add rule ip podrt prerouting fib daddr type local tcp dport 8080 dnat to 10.77.0.2:80 comment \"web\"\n"
        ));
        assert!(s.contains(
            "add rule ip podrt output ip daddr 127.0.0.1 udp dport 5353 dnat to 10.77.0.2:53 comment \"web\"\n"
        ));
        assert!(s.contains(
            "add rule ip podrt postrouting ip saddr 127.0.0.0/8 ip daddr 10.77.0.2 masquerade comment \"web\"\n"
        ));
        assert_eq!(s.matches("masquerade").count(), 1);
        assert!(s.contains("flush chain ip podrt guard\n"));
    }
}
