//! Links, addresses and routes over rtnetlink.
//!
//! rtnetlink is async. Each public call of this crate builds a tokio current-thread runtime,
//! runs its netlink requests on the calling thread and drops the runtime before returning, so
//! the process is single-threaded again (the runtime clones container inits afterwards).

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoVeth};
use rtnetlink::packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::error::nl_io;
use crate::pin::Entered;
use crate::Error;

const ENODEV: i32 = nix::errno::Errno::ENODEV as i32;
const EEXIST: i32 = nix::errno::Errno::EEXIST as i32;
const ENOENT: i32 = nix::errno::Errno::ENOENT as i32;

/// Run `fut` on a fresh current-thread runtime that is dropped before this returns.
pub(crate) fn block_on<T>(fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(Error::Runtime)?;
    let out = rt.block_on(fut);
    drop(rt);
    out
}

/// Open a netlink connection bound to the calling thread's current netns. Must run inside
/// [`block_on`] (the socket registers with the runtime's reactor).
pub(crate) fn connect() -> Result<Handle, Error> {
    let (conn, handle, _) = rtnetlink::new_connection().map_err(Error::Netlink)?;
    tokio::spawn(conn);
    Ok(handle)
}

/// Open a netlink connection bound to the netns pinned at `netns` (the socket keeps that
/// netns for its lifetime; the thread returns to its own netns before this returns).
pub(crate) fn connect_in(netns: &Path) -> Result<Handle, Error> {
    let _inside = Entered::enter(netns)?;
    connect()
}

/// The index of link `name`, or `None` if there is none.
pub(crate) async fn index_of(h: &Handle, name: &str) -> Result<Option<u32>, Error> {
    let mut links = h.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(Some(msg.header.index)),
        Ok(None) => Ok(None),
        Err(e) => {
            let e = nl_io(e);
            if e.raw_os_error() == Some(ENODEV) {
                Ok(None)
            } else {
                Err(Error::GetLink {
                    link: name.to_string(),
                    source: e,
                })
            }
        }
    }
}

/// Make sure bridge `name` exists and is up with `gateway/prefix` on it. Returns its index and
/// whether this call created it.
pub(crate) async fn ensure_bridge(
    h: &Handle,
    name: &str,
    gateway: Ipv4Addr,
    prefix: u8,
) -> Result<(u32, bool), Error> {
    let mut created = false;
    let index = match index_of(h, name).await? {
        Some(i) => i,
        None => {
            match h.link().add(LinkBridge::new(name).build()).execute().await {
                Ok(()) => created = true,
                // A concurrent setup created it first.
                Err(e) if nl_io(e.clone()).raw_os_error() == Some(EEXIST) => {}
                Err(e) => {
                    return Err(Error::CreateBridge {
                        bridge: name.to_string(),
                        source: nl_io(e),
                    })
                }
            }
            index_of(h, name)
                .await?
                .ok_or_else(|| Error::CreateBridge {
                    bridge: name.to_string(),
                    source: io::Error::other("bridge vanished right after creation"),
                })?
        }
    };
    if !created {
        set_up(h, name).await?;
    }
    h.address()
        .add(index, IpAddr::V4(gateway), prefix)
        .replace()
        .execute()
        .await
        .map_err(|e| Error::AddAddress {
            address: format!("{gateway}/{prefix}"),
            link: name.to_string(),
            source: nl_io(e),
        })?;
    Ok((index, created))
}

/// `ip link set NAME up`.
pub(crate) async fn set_up(h: &Handle, name: &str) -> Result<(), Error> {
    h.link()
        .set(LinkUnspec::new_with_name(name).up().build())
        .execute()
        .await
        .map_err(|e| Error::LinkUp {
            link: name.to_string(),
            source: nl_io(e),
        })
}

/// Create the veth pair: `host` on the bridge and up in this netns; its peer born as `eth0`
/// directly inside the netns pinned at `netns`, so no temporary name is ever visible on
/// the host and no separate move is needed.
pub(crate) async fn create_veth(
    h: &Handle,
    host: &str,
    bridge_index: u32,
    netns: &Path,
) -> Result<(), Error> {
    let err = |source| Error::CreateVeth {
        veth: host.to_string(),
        netns: netns.to_path_buf(),
        source,
    };
    let ns = std::fs::File::open(netns).map_err(err)?;
    // The peer is brought up later, from inside the netns: asking for IFF_UP on a peer born in
    // another netns fails with ENOTCONN on kernel 6.18 (`ip link add ... peer ... netns P up`
    // fails the same way).
    let peer = LinkUnspec::new_with_name("eth0")
        .setns_by_fd(ns.as_raw_fd())
        .build();
    let msg = LinkVeth::new(host, "eth0")
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .controller(bridge_index)
        .up()
        .build();
    let res = h.link().add(msg).execute().await;
    drop(ns);
    res.map_err(|e| err(nl_io(e)))
}

/// Inside the pod netns: `lo` up, `eth0` with `ip/prefix` and up, default route via `gateway`.
pub(crate) async fn configure_pod(
    h: &Handle,
    ip: Ipv4Addr,
    prefix: u8,
    gateway: Ipv4Addr,
) -> Result<(), Error> {
    set_up(h, "lo").await?;
    let eth0 = index_of(h, "eth0").await?.ok_or_else(|| Error::GetLink {
        link: "eth0".to_string(),
        source: io::Error::from_raw_os_error(ENODEV),
    })?;
    h.address()
        .add(eth0, IpAddr::V4(ip), prefix)
        .replace()
        .execute()
        .await
        .map_err(|e| Error::AddAddress {
            address: format!("{ip}/{prefix}"),
            link: "eth0".to_string(),
            source: nl_io(e),
        })?;
    set_up(h, "eth0").await?;
    let route = RouteMessageBuilder::<Ipv4Addr>::new()
        .gateway(gateway)
        .output_interface(eth0)
        .build();
    h.route()
        .add(route)
        .execute()
        .await
        .map_err(|e| Error::AddRoute {
            gateway,
            source: nl_io(e),
        })
}

/// Forget the host's ARP entry for `ip` on the bridge. A pod address is reused with a new MAC
/// as soon as its lease is released; a cached entry would send the host's packets to the old
/// MAC for up to the neighbour reachable time (seconds). No entry is fine.
pub(crate) async fn forget_neighbour(
    h: &Handle,
    bridge: &str,
    bridge_index: u32,
    ip: Ipv4Addr,
) -> Result<(), Error> {
    let mut msg = NeighbourMessage::default();
    msg.header.family = AddressFamily::Inet;
    msg.header.ifindex = bridge_index;
    msg.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)));
    match h.neighbours().del(msg).execute().await {
        Ok(()) => Ok(()),
        Err(e) => {
            let e = nl_io(e);
            if e.raw_os_error() == Some(ENOENT) {
                Ok(())
            } else {
                Err(Error::DeleteNeighbour {
                    ip,
                    link: bridge.to_string(),
                    source: e,
                })
            }
        }
    }
}

/// Delete link `name`; a missing link is fine. Returns whether it existed.
pub(crate) async fn delete(h: &Handle, name: &str) -> Result<bool, Error> {
    let Some(index) = index_of(h, name).await? else {
        return Ok(false);
    };
    match h.link().del(index).execute().await {
        Ok(()) => Ok(true),
        Err(e) => {
            let e = nl_io(e);
            if e.raw_os_error() == Some(ENODEV) {
                Ok(false)
            } else {
                Err(Error::DeleteLink {
                    link: name.to_string(),
                    source: e,
                })
            }
        }
    }
}
