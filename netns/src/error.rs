//! The one error type of this crate: one variant per failed operation, carrying the object.

use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;

use crate::Protocol;

/// What went wrong while building or tearing down a pod network.
///
/// Netlink and syscall failures are carried as [`io::Error`] so callers can match on
/// `raw_os_error()` (a netlink NACK becomes the errno the kernel sent).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("invalid pod name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("invalid network config: {reason}")]
    InvalidConfig { reason: String },
    #[error("invalid port mappings: {reason}")]
    InvalidPorts { reason: String },
    #[error("network for pod {pod:?} already exists at {path}; tear it down first")]
    PodExists { pod: String, path: PathBuf },

    #[error("create state dir {path}")]
    StateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("lock {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("pin network namespace at {path}")]
    PinNetns {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("unpin network namespace at {path}")]
    UnpinNetns {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("enter network namespace {path}")]
    EnterNetns {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("lease store {path}")]
    Lease {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("subnet {subnet} is exhausted ({leases} leases)")]
    SubnetExhausted { subnet: Ipv4Net, leases: usize },

    #[error("host port {port}/{protocol} is already in use by {by}")]
    PortInUse {
        port: u16,
        protocol: Protocol,
        by: String,
    },
    #[error("check host port {port}/{protocol} on {ip}")]
    PortCheck {
        port: u16,
        protocol: Protocol,
        ip: Ipv4Addr,
        #[source]
        source: io::Error,
    },
    #[error("port claim {path}")]
    PortClaim {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("start netlink runtime")]
    Runtime(#[source] io::Error),
    #[error("open netlink socket")]
    Netlink(#[source] io::Error),
    #[error("look up link {link}")]
    GetLink {
        link: String,
        #[source]
        source: io::Error,
    },
    #[error("create bridge {bridge}")]
    CreateBridge {
        bridge: String,
        #[source]
        source: io::Error,
    },
    #[error("create veth pair {veth} <-> eth0 in {netns}")]
    CreateVeth {
        veth: String,
        netns: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("set link {link} up")]
    LinkUp {
        link: String,
        #[source]
        source: io::Error,
    },
    #[error("add address {address} to {link}")]
    AddAddress {
        address: String,
        link: String,
        #[source]
        source: io::Error,
    },
    #[error("add default route via {gateway}")]
    AddRoute {
        gateway: Ipv4Addr,
        #[source]
        source: io::Error,
    },
    #[error("delete neighbour entry {ip} on {link}")]
    DeleteNeighbour {
        ip: Ipv4Addr,
        link: String,
        #[source]
        source: io::Error,
    },
    #[error("delete link {link}")]
    DeleteLink {
        link: String,
        #[source]
        source: io::Error,
    },
    #[error("sysctl {path}")]
    Sysctl {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// An nftables change or query the kernel refused or did not answer: `what` names the
    /// refused part of the transaction ("rule in chain prerouting") or the failed step.
    #[error("{action}: {what}")]
    Nftables {
        action: String,
        what: String,
        #[source]
        source: io::Error,
    },

    #[error("write {path}")]
    WriteEtc {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Turn an rtnetlink error into the errno the kernel sent (or an `Other` error).
pub(crate) fn nl_io(e: rtnetlink::Error) -> io::Error {
    match e {
        rtnetlink::Error::NetlinkError(msg) => msg.to_io(),
        other => io::Error::other(other.to_string()),
    }
}
