//! hostPort mappings with nftables, spoken directly over netlink (`NETLINK_NETFILTER`): each
//! change is one atomic batch, and a rule dump finds a pod's rules again. No `nft` binary: each
//! run of it cost 3-16 ms on a pod's start, mostly the kernel's wait when its netlink socket
//! closes, which is why one socket is kept per process (see `nft/sock.rs`).
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
//!
//! The rules are encoded expression for expression as nft 1.0 encodes their text form (see
//! `pod_ruleset` in `tests/pod_net.rs`, whose oracle test checks that `nft list` prints a table
//! built here exactly like one nft built from that text), and comments are stored as nft stores
//! them, so admins and `nft` read and edit our rules as usual. Expression modules (`nft_nat`,
//! `nft_fib_ipv4`, `nft_masq`, ...) are loaded by the kernel while it handles the batch.

mod sock;
mod wire;

use std::net::Ipv4Addr;

use sock::{Failure, Socket};
use wire::{Base, Batch, CmpOp, Expr, MetaKey, MsgType, NLM_F_APPEND, NLM_F_CREATE};

use crate::{Error, PortMapping, Protocol};

/// The base chains, in the order nft creates them from our declaration (it is the order
/// `nft list` shows): name, type, hook, priority.
const CHAINS: [(&str, &str, u32, i32); 4] = [
    ("prerouting", "nat", wire::NF_INET_PRE_ROUTING, -100), // dstnat
    ("output", "nat", wire::NF_INET_LOCAL_OUT, -100),
    ("postrouting", "nat", wire::NF_INET_POST_ROUTING, 100), // srcnat
    ("guard", "filter", wire::NF_INET_PRE_ROUTING, -150),
];
const GUARD: &str = "guard";

/// IPv4 header offsets of the source and destination addresses.
const IP_SADDR: u32 = 12;
const IP_DADDR: u32 = 16;
/// Transport header offset of the destination port (the same for TCP and UDP).
const L4_DPORT: u32 = 2;
/// `RTN_LOCAL`: what `fib daddr type` yields for an address of this host.
const RTN_LOCAL: u32 = 2;
/// `IFNAMSIZ`: nft compares interface names over the whole buffer, NUL-padded.
const IFNAMSIZ: usize = 16;

fn nft_error(action: String) -> impl FnOnce(Failure) -> Error {
    move |f| Error::Nftables {
        action,
        what: f.what,
        source: f.source,
    }
}

/// `ip saddr|daddr 127.0.0.0/8`: nft compares the first byte only, a /8 being byte-aligned.
fn ip_in_loopback_net(offset: u32) -> [Expr; 2] {
    [
        Expr::Payload {
            base: Base::Network,
            offset,
            len: 1,
        },
        Expr::Cmp(CmpOp::Eq, vec![127]),
    ]
}

/// `ip daddr IP`.
fn ip_daddr_is(ip: Ipv4Addr) -> [Expr; 2] {
    [
        Expr::Payload {
            base: Base::Network,
            offset: IP_DADDR,
            len: 4,
        },
        Expr::Cmp(CmpOp::Eq, wire::addr(ip)),
    ]
}

/// `iifname != "lo" ip daddr 127.0.0.0/8 drop`.
fn guard_rule() -> Vec<Expr> {
    let mut lo = b"lo".to_vec();
    lo.resize(IFNAMSIZ, 0);
    let mut e = vec![Expr::Meta(MetaKey::IifName), Expr::Cmp(CmpOp::Neq, lo)];
    e.extend(ip_in_loopback_net(IP_DADDR));
    e.push(Expr::Verdict(wire::NF_DROP));
    e
}

/// `fib daddr type local` (or `ip daddr HOST_IP`) `PROTO dport HOST_PORT dnat to
/// POD_IP:CONTAINER_PORT`.
fn dnat_rule(pod_ip: Ipv4Addr, m: &PortMapping) -> Vec<Expr> {
    let mut e = match m.host_ip {
        Some(ip) => ip_daddr_is(ip).to_vec(),
        None => vec![
            Expr::FibDaddrType,
            Expr::Cmp(CmpOp::Eq, RTN_LOCAL.to_ne_bytes().to_vec()),
        ],
    };
    let proto = match m.protocol {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
    };
    e.extend([
        // nft's dependency for `tcp dport` in an `ip` table: the layer 4 protocol.
        Expr::Meta(MetaKey::L4Proto),
        Expr::Cmp(CmpOp::Eq, vec![proto]),
        Expr::Payload {
            base: Base::Transport,
            offset: L4_DPORT,
            len: 2,
        },
        Expr::Cmp(CmpOp::Eq, wire::port(m.host_port)),
        Expr::Immediate(wire::REG_1, wire::addr(pod_ip)),
        Expr::Immediate(wire::REG_2, wire::port(m.container_port)),
        Expr::DnatAddrPort,
    ]);
    e
}

/// `ip saddr 127.0.0.0/8 ip daddr POD_IP masquerade`.
fn masquerade_rule(pod_ip: Ipv4Addr) -> Vec<Expr> {
    let mut e = ip_in_loopback_net(IP_SADDR).to_vec();
    e.extend(ip_daddr_is(pod_ip));
    e.push(Expr::Masquerade);
    e
}

/// Append a rule at the end of `chain`.
fn add_rule(batch: &mut Batch, table: &str, chain: &str, exprs: &[Expr], comment: Option<&str>) {
    batch.push(
        MsgType::NewRule,
        NLM_F_CREATE | NLM_F_APPEND,
        format!("rule in chain {chain}"),
        |a| {
            a.string(wire::NFTA_RULE_TABLE, table);
            a.string(wire::NFTA_RULE_CHAIN, chain);
            wire::rule_body(a, exprs, comment);
        },
    );
}

/// The table and its chains, created if missing (no `NLM_F_EXCL`: an existing one is kept, as
/// an `nft -f` declaration does); the guard chain is flushed and refilled so it always holds
/// exactly one rule.
fn declare_table(batch: &mut Batch, table: &str) {
    batch.push(
        MsgType::NewTable,
        NLM_F_CREATE,
        format!("table ip {table}"),
        |a| {
            a.string(wire::NFTA_TABLE_NAME, table);
            a.be32(wire::NFTA_TABLE_FLAGS, 0);
        },
    );
    for (name, kind, hook, priority) in CHAINS {
        batch.push(
            MsgType::NewChain,
            NLM_F_CREATE,
            format!("chain {name}"),
            |a| {
                a.string(wire::NFTA_CHAIN_TABLE, table);
                a.string(wire::NFTA_CHAIN_NAME, name);
                a.string(wire::NFTA_CHAIN_TYPE, kind);
                a.be32(wire::NFTA_CHAIN_POLICY, wire::NF_ACCEPT);
                a.nest(wire::NFTA_CHAIN_HOOK, |a| {
                    a.be32(wire::NFTA_HOOK_HOOKNUM, hook);
                    a.be32_signed(wire::NFTA_HOOK_PRIORITY, priority);
                });
            },
        );
    }
    // A rule delete naming a chain but no handle flushes the chain.
    batch.push(
        MsgType::DelRule,
        0,
        format!("flush of chain {GUARD}"),
        |a| {
            a.string(wire::NFTA_RULE_TABLE, table);
            a.string(wire::NFTA_RULE_CHAIN, GUARD);
        },
    );
    add_rule(batch, table, GUARD, &guard_rule(), None);
}

/// The batch adding one pod's mappings (and the table if missing).
fn pod_batch(batch: &mut Batch, table: &str, pod: &str, pod_ip: Ipv4Addr, ports: &[PortMapping]) {
    declare_table(batch, table);
    for m in ports {
        let rule = dnat_rule(pod_ip, m);
        add_rule(batch, table, "prerouting", &rule, Some(pod));
        add_rule(batch, table, "output", &rule, Some(pod));
    }
    if !ports.is_empty() {
        add_rule(
            batch,
            table,
            "postrouting",
            &masquerade_rule(pod_ip),
            Some(pod),
        );
    }
}

/// Add a pod's mappings, in one transaction.
pub(crate) fn add_pod(
    table: &str,
    pod: &str,
    pod_ip: Ipv4Addr,
    ports: &[PortMapping],
) -> Result<(), Error> {
    tracing::debug!(table, pod, ports = ports.len(), "nftables: add pod rules");
    Socket::with(|sock| {
        let mut batch = sock.batch();
        pod_batch(&mut batch, table, pod, pod_ip, ports);
        sock.commit(batch)
    })
    .map_err(nft_error(format!("add rules of pod {pod}")))
}

/// The rules of table `ip TABLE`, or `None` if the table does not exist.
fn list(sock: &mut Socket, table: &str) -> Result<Option<Vec<wire::Rule>>, Failure> {
    let rules = match sock.rules(table) {
        // Kernels answer a dump of a missing table with nothing; should one say ENOENT, that
        // means the same.
        Err(f) if f.source.raw_os_error() == Some(nix::libc::ENOENT) => return Ok(None),
        res => res?,
    };
    // Our tables always hold the guard rule, so an empty dump is rare: only then ask whether
    // the table is there at all.
    if rules.is_empty() && !sock.table_exists(table)? {
        return Ok(None);
    }
    Ok(Some(rules))
}

/// Delete every rule tagged with `pod`. Returns the number of pod rules left in the table
/// afterwards (rules of other pods), or `None` if the table does not exist.
pub(crate) fn remove_pod(table: &str, pod: &str) -> Result<Option<usize>, Error> {
    Socket::with(|sock| {
        let Some(rules) = list(sock, table)? else {
            return Ok(None);
        };
        let (mine, others): (Vec<&wire::Rule>, Vec<&wire::Rule>) = rules
            .iter()
            .filter(|r| r.comment.is_some())
            .partition(|r| r.comment.as_deref() == Some(pod));
        if !mine.is_empty() {
            tracing::debug!(table, pod, rules = mine.len(), "nftables: delete pod rules");
            let mut batch = sock.batch();
            for r in &mine {
                batch.push(
                    MsgType::DelRule,
                    0,
                    format!("rule {} in chain {}", r.handle, r.chain),
                    |a| {
                        a.string(wire::NFTA_RULE_TABLE, table);
                        a.string(wire::NFTA_RULE_CHAIN, &r.chain);
                        a.be64(wire::NFTA_RULE_HANDLE, r.handle);
                    },
                );
            }
            sock.commit(batch)?;
        }
        Ok(Some(others.len()))
    })
    .map_err(nft_error(format!("delete rules of pod {pod}")))
}

/// Delete the table if no pod rule is left in it. Returns whether it is gone.
pub(crate) fn remove_table_if_unused(table: &str) -> Result<bool, Error> {
    Socket::with(|sock| {
        let Some(rules) = list(sock, table)? else {
            return Ok(true);
        };
        if rules.iter().any(|r| r.comment.is_some()) {
            return Ok(false);
        }
        tracing::debug!(table, "nftables: delete table");
        let mut batch = sock.batch();
        batch.push(MsgType::DelTable, 0, format!("table ip {table}"), |a| {
            a.string(wire::NFTA_TABLE_NAME, table);
        });
        match sock.commit(batch) {
            // Deleted by someone else meanwhile: gone all the same.
            Err(f) if f.source.raw_os_error() == Some(nix::libc::ENOENT) => Ok(true),
            res => res.map(|()| true),
        }
    })
    .map_err(nft_error(format!("delete table ip {table}")))
}

/// Add one pod's rules (a TCP mapping) to table `ip TABLE` in the calling thread's network
/// namespace, count them back from a dump, then delete them and the table. The number of rules
/// read back (3: prerouting, output, postrouting) says the kernel took them as pods use them.
pub(crate) fn probe(table: &str) -> Result<usize, Error> {
    let pod = "probe";
    let mapping = PortMapping {
        host_port: 8080,
        container_port: 80,
        protocol: Protocol::Tcp,
        host_ip: None,
    };
    add_pod(table, pod, Ipv4Addr::new(10, 255, 255, 2), &[mapping])?;
    let found = Socket::with(|sock| {
        Ok(list(sock, table)?
            .unwrap_or_default()
            .iter()
            .filter(|r| r.comment.as_deref() == Some(pod))
            .count())
    })
    .map_err(nft_error(format!("list table ip {table}")));
    let removed = remove_pod(table, pod).and_then(|_| remove_table_if_unused(table));
    let found = found?;
    removed?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web_ports() -> [PortMapping; 2] {
        [
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
        ]
    }

    #[test]
    fn dnat_rules_match_nfts_expressions() {
        let pod = Ipv4Addr::new(10, 77, 0, 2);
        let [any, local] = web_ports();
        // nft --debug=netlink for `fib daddr type local tcp dport 8080 dnat to 10.77.0.2:80`:
        //   [ fib daddr type => reg 1 ] [ cmp eq reg 1 0x00000002 ]
        //   [ meta load l4proto => reg 1 ] [ cmp eq reg 1 0x00000006 ]
        //   [ payload load 2b @ transport header + 2 => reg 1 ] [ cmp eq reg 1 0x0000901f ]
        //   [ immediate reg 1 0x02004d0a ] [ immediate reg 2 0x00005000 ]
        //   [ nat dnat ip addr_min reg 1 proto_min reg 2 flags 0x2 ]
        let tail = |proto: u8, hp: [u8; 2], cp: [u8; 2]| {
            vec![
                Expr::Meta(MetaKey::L4Proto),
                Expr::Cmp(CmpOp::Eq, vec![proto]),
                Expr::Payload {
                    base: Base::Transport,
                    offset: 2,
                    len: 2,
                },
                Expr::Cmp(CmpOp::Eq, hp.to_vec()),
                Expr::Immediate(1, vec![10, 77, 0, 2]),
                Expr::Immediate(2, cp.to_vec()),
                Expr::DnatAddrPort,
            ]
        };
        let mut want = vec![
            Expr::FibDaddrType,
            Expr::Cmp(CmpOp::Eq, 2u32.to_ne_bytes().to_vec()),
        ];
        want.extend(tail(6, [0x1f, 0x90], [0, 80]));
        assert_eq!(dnat_rule(pod, &any), want);
        // `ip daddr 127.0.0.1 udp dport 5353 dnat to 10.77.0.2:53`:
        //   [ payload load 4b @ network header + 16 => reg 1 ] [ cmp eq reg 1 0x0100007f ] ...
        let mut want = vec![
            Expr::Payload {
                base: Base::Network,
                offset: 16,
                len: 4,
            },
            Expr::Cmp(CmpOp::Eq, vec![127, 0, 0, 1]),
        ];
        want.extend(tail(17, [0x14, 0xe9], [0, 53]));
        assert_eq!(dnat_rule(pod, &local), want);
    }

    #[test]
    fn guard_and_masquerade_rules_match_nfts_expressions() {
        let mut lo = vec![b'l', b'o'];
        lo.resize(16, 0);
        assert_eq!(
            guard_rule(),
            [
                Expr::Meta(MetaKey::IifName),
                Expr::Cmp(CmpOp::Neq, lo),
                Expr::Payload {
                    base: Base::Network,
                    offset: 16,
                    len: 1
                },
                Expr::Cmp(CmpOp::Eq, vec![0x7f]),
                Expr::Verdict(0),
            ]
        );
        assert_eq!(
            masquerade_rule(Ipv4Addr::new(10, 77, 0, 2)),
            [
                Expr::Payload {
                    base: Base::Network,
                    offset: 12,
                    len: 1
                },
                Expr::Cmp(CmpOp::Eq, vec![0x7f]),
                Expr::Payload {
                    base: Base::Network,
                    offset: 16,
                    len: 4
                },
                Expr::Cmp(CmpOp::Eq, vec![10, 77, 0, 2]),
                Expr::Masquerade,
            ]
        );
    }

    #[test]
    fn one_batch_declares_everything_then_the_pod_rules() {
        let mut batch = Batch::new(1);
        let ip = Ipv4Addr::new(10, 77, 0, 2);
        pod_batch(&mut batch, "podrt", "web", ip, &web_ports());
        let (bytes, pending) = batch.finish();
        assert_eq!(
            pending.changes(),
            [
                "table ip podrt",
                "chain prerouting",
                "chain output",
                "chain postrouting",
                "chain guard",
                "flush of chain guard",
                "rule in chain guard",
                "rule in chain prerouting",
                "rule in chain output",
                "rule in chain prerouting",
                "rule in chain output",
                "rule in chain postrouting",
            ]
        );
        // Every pod rule carries the pod's comment, the guard rule none.
        let comments: Vec<Option<String>> = wire::messages(&bytes)
            .map(Result::unwrap)
            .filter(|m| m.is(MsgType::NewRule))
            .map(|m| {
                m.attrs()
                    .find(|(ty, _)| *ty == wire::NFTA_RULE_USERDATA)
                    .and_then(|(_, v)| wire::comment_of(v))
            })
            .collect();
        let web = Some("web".to_string());
        assert_eq!(
            comments,
            [
                None,
                web.clone(),
                web.clone(),
                web.clone(),
                web.clone(),
                web
            ]
        );

        let mut batch = Batch::new(1);
        pod_batch(&mut batch, "podrt", "web", ip, &[]);
        let (_, pending) = batch.finish();
        assert_eq!(pending.len(), 7, "no masquerade without ports");
    }
}
