//! Network plumbing for podrt pods: a pinned network namespace per pod, a shared host bridge
//! holding the gateway address, a veth pair per pod, an IP lease per pod, hostPort mappings
//! with nftables, and the pod's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`.
//!
//! # State under `NetConfig::root` (default `/run/podrt`)
//! - `net.lock`: taken shared by every [`setup`] and per-pod [`teardown`], exclusive by the
//!   garbage collection at the end of [`teardown`] that removes shared things (bridge, table).
//! - `netns/POD`: the pinned netns (a bind mount of an nsfs file). `netns/` itself is made a
//!   shared mount point, as iproute2 does for `/run/netns`; it is unmounted again when empty.
//! - `ipam/BRIDGE/IP`: one lease file per pod address, holding the pod name.
//!   `ipam/BRIDGE/.bridge-created` and `.route-localnet` record what podrt changed on the host.
//! - `ports/PROTO-PORT`: host port claims, holding the pod name.
//! - `nft/TABLE`: present while podrt may have created the nftables table.
//!
//! # What changes on the host
//! - The bridge (`podrt0` by default) is created if missing, brought up, and given the gateway
//!   (first address of the subnet). It is deleted when its last pod is torn down, if podrt
//!   created it (a bridge the admin made is left alone).
//! - Only for pods with hostPort mappings: `net.ipv4.conf.BRIDGE.route_localnet=1` (needed for
//!   127.0.0.1:PORT to reach a pod) and the nftables table `ip podrt` (prerouting/output DNAT,
//!   postrouting masquerade of 127.0.0.0/8 sources), both removed or restored with the bridge.
//!   The table's `guard` chain drops packets to 127.0.0.0/8 arriving on any interface but `lo`,
//!   which closes the hole `route_localnet` would open (pods reaching host-local services).
//! - `net.ipv4.ip_forward` is never touched: host to pod traffic (including hostPort from the
//!   host itself) is local delivery over the bridge and needs no forwarding. Traffic from other
//!   machines to a hostPort, and pod egress beyond the bridge, need `ip_forward=1` (plus an
//!   egress masquerade rule), which podrt leaves to the admin.
//!
//! # Crashes and concurrency
//! Every step of [`setup`] leaves state that [`teardown`] finds from the pod name alone (pin
//! path, lease and claim files naming the pod, a veth name recomputed from a stable hash), so
//! teardown works after a kill -9 at any point; a failed setup runs that same teardown. Leases
//! and port claims are `O_EXCL` files under `flock`. A lease or claim whose pod is gone (no pin,
//! no veth) is stale: a port claim is taken over at once, a lease only when the subnet is
//! otherwise full (so a crashed pod keeps its address until its teardown, when possible).
//!
//! # Threads
//! rtnetlink runs on a tokio current-thread runtime created and dropped inside each public call,
//! and the namespace switches act on the calling thread: a single-threaded caller is
//! single-threaded again when a call returns.
//!
//! # The one descriptor left open
//! The nftables code keeps one close-on-exec `NETLINK_NETFILTER` socket open between calls,
//! per process and network namespace: closing it right after a change waits out an RCU grace
//! period in the kernel (see `nft/sock.rs`).
#![forbid(unsafe_code)]

mod error;
mod etc;
mod ipam;
mod link;
mod lock;
mod nft;
mod pin;
mod ports;

use std::fmt;
use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

pub use error::Error;
pub use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// Where and how pods are networked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetConfig {
    /// podrt state root, e.g. `/run/podrt`.
    pub root: PathBuf,
    /// Host bridge name (at most 15 bytes), e.g. `podrt0`.
    pub bridge: String,
    /// Pod subnet; its first address is the gateway on the bridge. Prefix at most /30.
    pub subnet: Ipv4Net,
    /// Nameservers written to the pod's resolv.conf (none: a comment saying so).
    pub dns: Vec<Ipv4Addr>,
    /// nftables table (family `ip`) for hostPort mappings.
    pub nft_table: String,
}

impl NetConfig {
    /// Defaults under `root`: bridge `podrt0`, subnet 10.77.0.0/24, table `podrt`, and the
    /// host's non-loopback IPv4 nameservers from `/etc/resolv.conf`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        NetConfig {
            root: root.into(),
            bridge: "podrt0".to_string(),
            subnet: Ipv4Net::new(Ipv4Addr::new(10, 77, 0, 0), 24).expect("valid prefix"),
            dns: host_dns(),
            nft_table: "podrt".to_string(),
        }
    }

    /// The gateway address: the first host address of the subnet.
    pub fn gateway(&self) -> Ipv4Addr {
        ipam::first_host(&self.subnet)
    }

    fn lock_path(&self) -> PathBuf {
        self.root.join("net.lock")
    }
    fn netns_dir(&self) -> PathBuf {
        self.root.join("netns")
    }
    fn leases(&self) -> ipam::LeaseStore {
        ipam::LeaseStore::new(
            self.root.join("ipam").join(&self.bridge),
            self.subnet.trunc(),
        )
    }
    fn claims(&self) -> ports::Claims {
        ports::Claims::new(self.root.join("ports"))
    }
    fn nft_marker(&self) -> PathBuf {
        self.root.join("nft").join(&self.nft_table)
    }

    fn validate(&self) -> Result<(), Error> {
        let bad = |reason: String| Err(Error::InvalidConfig { reason });
        let b = &self.bridge;
        if b.is_empty()
            || b.len() > 15
            || b.contains(['/', ' ', '\n', '\t', '\0'])
            || b == "."
            || b == ".."
        {
            return bad(format!(
                "bridge name {b:?} must be 1-15 bytes without '/' or spaces"
            ));
        }
        if self.subnet.prefix_len() > 30 {
            return bad(format!(
                "subnet {} is too small: a gateway and a pod need at least a /30",
                self.subnet
            ));
        }
        let t = &self.nft_table;
        if t.is_empty()
            || t.len() > 64
            || !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return bad(format!(
                "nft table name {t:?} must be 1-64 of [A-Za-z0-9_-]"
            ));
        }
        Ok(())
    }
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig::new("/run/podrt")
    }
}

/// Whether nf_tables takes hostPort rules the way pods write them (over netlink, no nft(8)):
/// adds a table `ip TABLE` with one pod's rules in the calling thread's network namespace, reads
/// them back and deletes them again. Returns how many rules it read back (3 when it works).
/// Meant for `podrt check`, inside a throwaway network namespace.
pub fn probe_nftables(table: &str) -> Result<usize, Error> {
    nft::probe(table)
}

/// The host's IPv4 nameservers from `/etc/resolv.conf`, without loopback ones (a pod cannot
/// reach the host's 127.0.0.53); empty if the file is missing.
pub fn host_dns() -> Vec<Ipv4Addr> {
    fs::read_to_string("/etc/resolv.conf")
        .map(|text| etc::host_nameservers(&text))
        .unwrap_or_default()
}

/// Transport protocol of a port mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            _ => Err(format!("unknown protocol {s:?} (tcp or udp)")),
        }
    }
}

/// A hostPort mapping: `host_ip:host_port` on the host to `pod_ip:container_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
    /// `None`: every local address of the host (including 127.0.0.1).
    pub host_ip: Option<Ipv4Addr>,
}

/// A pod's network, as [`setup`] built it. The runtime saves it in the pod state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodNet {
    pub name: String,
    /// `ROOT/netns/NAME`: the pinned netns containers join.
    pub netns_path: PathBuf,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    /// Host end of the veth pair (the pod end is `eth0`).
    pub host_veth: String,
    pub ports: Vec<PortMapping>,
    /// When each setup step ended (`net:netns`, `net:ipam`, `net:bridge`, `net:veth`,
    /// `net:addresses`, `net:hostports`, `net:etc`), for the runtime's `--timings`; not saved.
    #[serde(skip)]
    pub phases: Vec<(&'static str, Instant)>,
}

/// The pinned netns path of `pod`.
pub fn netns_path(cfg: &NetConfig, pod: &str) -> PathBuf {
    cfg.netns_dir().join(pod)
}

/// The host veth name of `pod`: `pd` + 8 hex digits of a stable hash (FNV-1a, 32 bit) of the
/// root and the pod name. Recomputable after a crash; stable across podrt versions.
pub fn veth_name(cfg: &NetConfig, pod: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    let root = cfg.root.as_os_str().as_encoded_bytes();
    for b in root.iter().chain(&[0]).chain(pod.as_bytes()) {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("pd{h:08x}")
}

fn validate_pod_name(pod: &str) -> Result<(), Error> {
    let bad = |reason| {
        Err(Error::InvalidName {
            name: pod.to_string(),
            reason,
        })
    };
    if pod.is_empty() || pod.len() > 128 {
        return bad("must be 1-128 bytes (it tags nftables rules, whose comments hold 128)");
    }
    if !pod
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return bad("only [A-Za-z0-9._-] allowed");
    }
    if pod.starts_with(['.', '-']) {
        return bad("must not start with '.' or '-'");
    }
    Ok(())
}

fn validate_hostname(name: &str) -> Result<(), Error> {
    if name.is_empty()
        || name.len() > 64
        || name.starts_with(['-', '.'])
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
    {
        return Err(Error::InvalidName {
            name: name.to_string(),
            reason: "a hostname must be 1-64 of [A-Za-z0-9.-], not starting with '-' or '.'",
        });
    }
    Ok(())
}

fn validate_ports(ports: &[PortMapping]) -> Result<(), Error> {
    for (i, m) in ports.iter().enumerate() {
        if m.host_port == 0 || m.container_port == 0 {
            return Err(Error::InvalidPorts {
                reason: format!("port 0 in mapping {}:{}", m.host_port, m.container_port),
            });
        }
        if ports[..i]
            .iter()
            .any(|o| o.host_port == m.host_port && o.protocol == m.protocol)
        {
            return Err(Error::InvalidPorts {
                reason: format!("host port {}/{} is mapped twice", m.host_port, m.protocol),
            });
        }
    }
    Ok(())
}

/// Whether `pod` still has a network: its netns is pinned or its host veth exists.
fn pod_alive(cfg: &NetConfig, pod: &str) -> bool {
    pin::is_pinned(&netns_path(cfg, pod))
        || nix::net::if_::if_nametoindex(veth_name(cfg, pod).as_str()).is_ok()
}

/// Test hook (debug builds only): `PODRT_NETNS_CRASH_AT=STEP` kills the process with SIGKILL at
/// that step of [`setup`], to prove [`teardown`] after a crash at any point.
fn crash_point(step: &str) {
    #[cfg(debug_assertions)]
    if std::env::var_os("PODRT_NETNS_CRASH_AT").is_some_and(|v| v == step) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
    #[cfg(not(debug_assertions))]
    let _ = step;
}

fn state_dir(path: &Path) -> Result<(), Error> {
    fs::create_dir_all(path).map_err(|source| Error::StateDir {
        path: path.to_path_buf(),
        source,
    })
}

/// Build the network of `pod`: pinned netns, lease, bridge, veth, addresses, routes, hostPort
/// mappings, and `hosts`, `hostname`, `resolv.conf` in `etc_dir`. On error, everything this
/// call did is undone (a pod that already exists is reported as [`Error::PodExists`] and left
/// alone).
pub fn setup(
    cfg: &NetConfig,
    pod: &str,
    hostname: &str,
    ports: &[PortMapping],
    etc_dir: &Path,
) -> Result<PodNet, Error> {
    cfg.validate()?;
    validate_pod_name(pod)?;
    validate_hostname(hostname)?;
    validate_ports(ports)?;
    let started = Instant::now();
    state_dir(&cfg.root)?;
    let root_lock = lock::shared(&cfg.lock_path())?;
    pin::prepare_dir(&cfg.netns_dir())?;
    let path = netns_path(cfg, pod);
    let res = pin::create(&path, pod).and_then(|()| {
        crash_point("pinned");
        let pinned = Instant::now();
        setup_pinned(cfg, pod, hostname, ports, etc_dir, path).map(|mut net| {
            net.phases.insert(0, ("net:netns", pinned));
            net
        })
    });
    drop(root_lock);
    match res {
        Ok(net) => {
            tracing::debug!(pod, ip = %net.ip, elapsed = ?started.elapsed(), "pod network up");
            Ok(net)
        }
        Err(e @ Error::PodExists { .. }) => Err(e),
        Err(e) => {
            tracing::debug!(pod, error = %e, "pod network setup failed; undoing");
            if let Err(undo) = teardown(cfg, pod) {
                tracing::warn!(pod, error = %undo, "undoing a failed pod network setup failed");
            }
            Err(e)
        }
    }
}

fn setup_pinned(
    cfg: &NetConfig,
    pod: &str,
    hostname: &str,
    ports: &[PortMapping],
    etc_dir: &Path,
    netns_path: PathBuf,
) -> Result<PodNet, Error> {
    let alive = |p: &str| pod_alive(cfg, p);
    let leases = cfg.leases();
    let mut phases = Vec::with_capacity(7);
    let ip = leases.allocate(pod, alive)?;
    crash_point("leased");
    cfg.claims().claim(pod, ports, alive)?;
    crash_point("claimed");
    phases.push(("net:ipam", Instant::now()));

    let gateway = cfg.gateway();
    let prefix = cfg.subnet.prefix_len();
    let host_veth = veth_name(cfg, pod);
    let bridge_marker = leases.dir().join(".bridge-created");
    let (bridge_at, veth_at) = link::block_on(async {
        let host = link::connect()?;
        let (bridge, created) = link::ensure_bridge(&host, &cfg.bridge, gateway, prefix).await?;
        if created {
            fs::write(&bridge_marker, b"").map_err(|source| Error::Lease {
                path: bridge_marker.clone(),
                source,
            })?;
        }
        crash_point("bridge");
        let bridge_at = Instant::now();
        link::forget_neighbour(&host, &cfg.bridge, bridge, ip).await?;
        link::create_veth(&host, &host_veth, bridge, &netns_path).await?;
        crash_point("veth");
        let veth_at = Instant::now();
        let inside = link::connect_in(&netns_path)?;
        link::configure_pod(&inside, ip, prefix, gateway).await?;
        Ok::<_, Error>((bridge_at, veth_at))
    })?;
    crash_point("configured");
    phases.push(("net:bridge", bridge_at));
    phases.push(("net:veth", veth_at));
    phases.push(("net:addresses", Instant::now()));

    if !ports.is_empty() {
        enable_route_localnet(cfg)?;
        let marker = cfg.nft_marker();
        state_dir(marker.parent().expect("marker has a parent"))?;
        fs::write(&marker, b"").map_err(|source| Error::StateDir {
            path: marker.clone(),
            source,
        })?;
        nft::add_pod(&cfg.nft_table, pod, ip, ports)?;
        crash_point("nft");
        phases.push(("net:hostports", Instant::now()));
    }
    etc::write(etc_dir, ip, hostname, &cfg.dns)?;
    phases.push(("net:etc", Instant::now()));
    Ok(PodNet {
        name: pod.to_string(),
        netns_path,
        ip,
        prefix,
        gateway,
        host_veth,
        ports: ports.to_vec(),
        phases,
    })
}

fn route_localnet_path(bridge: &str) -> PathBuf {
    PathBuf::from(format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"))
}

/// `route_localnet=1` on the bridge: lets 127.0.0.1 → pod connections (DNATed in `output`)
/// leave through the bridge and their replies come back. On a bridge podrt did not create, a
/// marker records that it must be reset to 0 when the bridge's last pod goes.
fn enable_route_localnet(cfg: &NetConfig) -> Result<(), Error> {
    let path = route_localnet_path(&cfg.bridge);
    let err = |source| Error::Sysctl {
        path: path.clone(),
        source,
    };
    if fs::read_to_string(&path).map_err(err)?.trim() == "1" {
        return Ok(());
    }
    let dir = cfg.leases().dir().to_path_buf();
    if !dir.join(".bridge-created").exists() {
        fs::write(dir.join(".route-localnet"), b"").map_err(err)?;
    }
    fs::write(&path, b"1").map_err(err)
}

/// Remove the network of `pod`: its nftables rules, veth pair, port claims, lease and pinned
/// netns. Needs only the config and the pod name (works after a crash at any point of
/// [`setup`]); tearing down a pod that has nothing left is a no-op.
///
/// When the bridge's last pod is gone, the shared pieces go too: the bridge (if podrt created
/// it), the nftables table (if no pod rules are left in it), `route_localnet` (restored) and the
/// `netns/` mount point.
pub fn teardown(cfg: &NetConfig, pod: &str) -> Result<(), Error> {
    cfg.validate()?;
    validate_pod_name(pod)?;
    if !cfg.root.exists() {
        return Ok(());
    }
    let started = Instant::now();
    {
        let _shared = lock::shared(&cfg.lock_path())?;
        teardown_pod(cfg, pod)?;
    }
    let _exclusive = lock::exclusive(&cfg.lock_path())?;
    collect_garbage(cfg)?;
    tracing::debug!(pod, elapsed = ?started.elapsed(), "pod network down");
    Ok(())
}

fn teardown_pod(cfg: &NetConfig, pod: &str) -> Result<(), Error> {
    let claims = cfg.claims();
    // Rules exist only while the pod holds claims: setup claims before adding rules, and this
    // removes rules before releasing claims.
    if !claims.held_by(pod)?.is_empty() {
        nft::remove_pod(&cfg.nft_table, pod)?;
    }
    let veth = veth_name(cfg, pod);
    link::block_on(async {
        let host = link::connect()?;
        link::delete(&host, &veth).await
    })?;
    claims.release(pod)?;
    cfg.leases().release(pod)?;
    pin::remove(&netns_path(cfg, pod))
}

/// With the root lock held exclusively: remove shared pieces nobody uses anymore.
fn collect_garbage(cfg: &NetConfig) -> Result<(), Error> {
    let leases = cfg.leases();
    if !leases.list()?.is_empty() {
        return Ok(());
    }
    let dir = leases.dir().to_path_buf();
    let marker = cfg.nft_marker();
    if marker.exists() && nft::remove_table_if_unused(&cfg.nft_table)? {
        let _ = fs::remove_file(&marker);
        let _ = fs::remove_dir(cfg.root.join("nft"));
    }
    let localnet = dir.join(".route-localnet");
    if localnet.exists() {
        let path = route_localnet_path(&cfg.bridge);
        match fs::write(&path, b"0") {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Sysctl { path, source }),
        }
        let _ = fs::remove_file(&localnet);
    }
    let created = dir.join(".bridge-created");
    if created.exists() {
        link::block_on(async {
            let host = link::connect()?;
            link::delete(&host, &cfg.bridge).await
        })?;
        let _ = fs::remove_file(&created);
    }
    // Nobody waits on these locks: every user holds the root lock, which we hold exclusively.
    let _ = fs::remove_file(dir.join(".lock"));
    let _ = fs::remove_dir(&dir);
    let _ = fs::remove_dir(cfg.root.join("ipam"));
    cfg.claims().remove_dir_if_empty();
    pin::release_dir(&cfg.netns_dir())
}

/// Every lease on the configured bridge's subnet: (address, pod name), sorted by address.
pub fn list_leases(cfg: &NetConfig) -> Result<Vec<(Ipv4Addr, String)>, Error> {
    cfg.validate()?;
    cfg.leases().list()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_are_short_stable_and_distinct() {
        let cfg = NetConfig::new("/run/podrt");
        let a = veth_name(&cfg, "web");
        assert_eq!(a.len(), 10);
        assert!(a.starts_with("pd"));
        assert_eq!(a, veth_name(&cfg, "web"));
        assert_ne!(a, veth_name(&cfg, "web2"));
        assert_ne!(a, veth_name(&NetConfig::new("/tmp/x"), "web"));
    }

    #[test]
    fn validation() {
        assert!(validate_pod_name("web-1.a_b").is_ok());
        assert!(validate_pod_name("../x").is_err());
        assert!(validate_pod_name("").is_err());
        assert!(validate_pod_name(&"a".repeat(129)).is_err());
        assert!(validate_hostname("web").is_ok());
        assert!(validate_hostname("we b").is_err());
        let m = |h, p| PortMapping {
            host_port: h,
            container_port: 80,
            protocol: p,
            host_ip: None,
        };
        assert!(validate_ports(&[m(80, Protocol::Tcp), m(80, Protocol::Udp)]).is_ok());
        assert!(validate_ports(&[m(80, Protocol::Tcp), m(80, Protocol::Tcp)]).is_err());
        assert!(validate_ports(&[m(0, Protocol::Tcp)]).is_err());
        let mut cfg = NetConfig::new("/x");
        assert!(cfg.validate().is_ok());
        cfg.subnet = "10.0.0.0/31".parse().unwrap();
        assert!(cfg.validate().is_err());
        cfg.subnet = "10.0.0.0/30".parse().unwrap();
        cfg.bridge = "a-very-long-bridge".into();
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn pod_net_round_trips_through_json() {
        let net = PodNet {
            name: "web".into(),
            netns_path: "/run/podrt/netns/web".into(),
            ip: Ipv4Addr::new(10, 77, 0, 2),
            prefix: 24,
            gateway: Ipv4Addr::new(10, 77, 0, 1),
            host_veth: "pd01234567".into(),
            phases: Vec::new(),
            ports: vec![PortMapping {
                host_port: 8080,
                container_port: 80,
                protocol: Protocol::Tcp,
                host_ip: Some(Ipv4Addr::LOCALHOST),
            }],
        };
        let json = serde_json::to_string(&net).unwrap();
        assert!(json.contains("\"protocol\":\"tcp\""));
        assert_eq!(serde_json::from_str::<PodNet>(&json).unwrap(), net);
    }
}
