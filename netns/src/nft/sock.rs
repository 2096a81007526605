//! The `NETLINK_NETFILTER` socket: commit a batch and collect its acks, dump a table's rules,
//! ask whether a table exists.
//!
//! The kernel handles a batch synchronously inside our `sendmsg` (module autoloading included:
//! nf_tables drops its lock, loads the module, and replays the whole batch), queueing one
//! answer per change on our socket; the receive timeout only guards against a kernel that
//! never answers.
//!
//! # One socket per process, kept open
//! Closing a netfilter netlink socket is what is slow, not the transaction: on release the
//! kernel (`nft_rcv_nl_event`) flushes nf_tables' deferred destruction of the objects that
//! recent transactions deleted or replaced, and that work waits out an RCU grace period
//! (4-16 ms measured). Every `add_pod` on an existing table replaces chains and the guard
//! rule, and every removal deletes rules, so a socket per call would pay that wait on each
//! pod's start. [`Socket::with`] therefore keeps the socket for the next call, and the process
//! pays at most once, at exit. The socket is close-on-exec and belongs to the process and the
//! network namespace it was opened in (a forked child, or a call from another netns, opens a
//! socket of its own), and it is dropped after any failure, so a later call never reads the
//! leftovers of an exchange that went wrong.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::sync::{Mutex, PoisonError};

use nix::errno::Errno;
use nix::sys::socket::{self, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType};
use nix::sys::time::{TimeVal, TimeValLike};

use super::wire::{self, Answer, Batch, MsgType, Rule};

/// How long to wait for an answer the kernel owes us.
const ANSWER_TIMEOUT_SECS: i64 = 10;
/// Receive buffer: one datagram. The kernel caps dump datagrams at 32 KiB.
const RECV_BUF: usize = 64 * 1024;
/// A dump restarted this many times because the ruleset kept changing is an error.
const DUMP_TRIES: usize = 8;
/// Batches up to this size fit the default socket buffers (212992 bytes on Debian; an ack
/// costs about 1 KiB of receive buffer).
const SMALL_BATCH_BYTES: usize = 64 * 1024;
const SMALL_BATCH_CHANGES: usize = 64;

/// A failed exchange: what failed (the change the kernel refused, or the step) and why.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) what: String,
    pub(super) source: io::Error,
}

fn fail(what: impl Into<String>) -> impl FnOnce(io::Error) -> Failure {
    let what = what.into();
    move |source| Failure { what, source }
}

/// The kept socket; see the module doc.
static KEPT: Mutex<Option<Socket>> = Mutex::new(None);

/// Who may use a kept socket: this process (pid), in this network namespace (the device and
/// inode of the thread's nsfs file).
type Owner = (u32, u64, u64);

fn current_owner() -> Option<Owner> {
    let meta = std::fs::metadata("/proc/thread-self/ns/net").ok()?;
    Some((std::process::id(), meta.dev(), meta.ino()))
}

#[derive(Debug)]
pub(super) struct Socket {
    fd: OwnedFd,
    /// Who opened it (`None`: unknown, so never kept).
    owner: Option<Owner>,
    /// The next sequence number. A fresh socket sees no answers to older requests, so any
    /// start will do.
    seq: u32,
    buf: Vec<u8>,
}

impl Socket {
    /// Run `f` on this process's socket for the calling thread's netns, opening it if needed
    /// and keeping it afterwards unless `f` failed. Calls from several threads take turns.
    pub(super) fn with<T>(f: impl FnOnce(&mut Socket) -> Result<T, Failure>) -> Result<T, Failure> {
        let owner = current_owner();
        let mut kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
        let mut sock = match kept.take() {
            Some(s) if owner.is_some() && s.owner == owner => s,
            // Not ours to use (or none kept): open one, which replaces the kept one if it works.
            other => {
                *kept = other;
                Socket::open(owner)?
            }
        };
        let res = f(&mut sock);
        if res.is_ok() && sock.owner.is_some() {
            *kept = Some(sock);
        }
        res
    }

    fn open(owner: Option<Owner>) -> Result<Socket, Failure> {
        let fd = socket::socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkNetFilter,
        )
        .map_err(|e| fail("open netlink socket")(e.into()))?;
        socket::setsockopt(
            &fd,
            sockopt::ReceiveTimeout,
            &TimeVal::seconds(ANSWER_TIMEOUT_SECS),
        )
        .map_err(|e| fail("set netlink socket timeout")(e.into()))?;
        Ok(Socket {
            fd,
            owner,
            seq: 1,
            buf: vec![0; RECV_BUF],
        })
    }

    /// A new batch, numbered from this socket's sequence.
    pub(super) fn batch(&self) -> Batch {
        Batch::new(self.seq)
    }

    /// Send `batch` and read the kernel's answer to each change. On failure the kernel applied
    /// nothing; the error names the first change it refused.
    pub(super) fn commit(&mut self, batch: Batch) -> Result<(), Failure> {
        let (bytes, mut pending) = batch.finish();
        let count = u32::try_from(pending.len()).expect("fewer than 2^32 changes");
        self.seq = self.seq.wrapping_add(count).wrapping_add(2);
        if bytes.len() > SMALL_BATCH_BYTES || pending.len() > SMALL_BATCH_CHANGES {
            self.grow_buffers(bytes.len(), pending.len());
        }
        self.send(&bytes).map_err(fail("send batch"))?;
        while !pending.complete() {
            let n = self.recv().map_err(|e| {
                let what = match pending.first_unanswered() {
                    // The kernel could not queue all answers: they are lost, and whether the
                    // batch was applied is unknown.
                    _ if e.raw_os_error() == Some(Errno::ENOBUFS as i32) => {
                        "read answers (some were dropped; the batch may have been applied)"
                            .to_string()
                    }
                    Some(what) => format!("wait for the answer to {what}"),
                    None => "read answers".to_string(),
                };
                fail(what)(e)
            })?;
            for msg in wire::messages(&self.buf[..n]) {
                let msg = msg.map_err(fail("read answers"))?;
                let Some((errno, seq)) = msg.error() else {
                    continue;
                };
                // E.g. EPERM, or a failed final validation of the whole ruleset.
                if let Answer::Batch(errno) = pending.answer(seq, errno) {
                    return Err(fail("transaction")(io::Error::from_raw_os_error(errno)));
                }
            }
        }
        match pending.first_error() {
            Some((what, source)) => Err(Failure {
                what: what.to_string(),
                source,
            }),
            None => Ok(()),
        }
    }

    /// The rules of table `ip TABLE`: empty if the table has none or does not exist (a dump
    /// filtered by table does not fail for a missing table; see [`Socket::table_exists`]).
    pub(super) fn rules(&mut self, table: &str) -> Result<Vec<Rule>, Failure> {
        for _ in 0..DUMP_TRIES {
            if let Some(rules) = self.dump_rules(table)? {
                return Ok(rules);
            }
            tracing::debug!(
                table,
                "nftables changed during the rule dump; dumping again"
            );
        }
        Err(Failure {
            what: "dump rules".to_string(),
            source: io::Error::other(format!(
                "the ruleset changed during each of {DUMP_TRIES} dumps"
            )),
        })
    }

    /// One dump; `None` if the kernel flagged it inconsistent (the ruleset changed between
    /// two of its datagrams).
    fn dump_rules(&mut self, table: &str) -> Result<Option<Vec<Rule>>, Failure> {
        let seq = self.next_seq();
        let req = wire::request(MsgType::GetRule, wire::NLM_F_DUMP, seq, |a| {
            a.string(wire::NFTA_RULE_TABLE, table);
        });
        let what = "dump rules";
        self.send(&req).map_err(fail(what))?;
        let mut rules = Vec::new();
        let mut consistent = true;
        loop {
            let n = self.recv().map_err(fail(what))?;
            for msg in wire::messages(&self.buf[..n]) {
                let msg = msg.map_err(fail(what))?;
                if msg.seq != seq {
                    continue;
                }
                consistent &= msg.flags & wire::NLM_F_DUMP_INTR == 0;
                if msg.ty == wire::NLMSG_DONE {
                    let status = msg.done_status();
                    if status < 0 {
                        return Err(fail(what)(io::Error::from_raw_os_error(-status)));
                    }
                    return Ok(consistent.then_some(rules));
                }
                if let Some((errno, _)) = msg.error() {
                    if errno != 0 {
                        return Err(fail(what)(io::Error::from_raw_os_error(errno)));
                    }
                } else if msg.is(MsgType::NewRule) {
                    // The kernel filters by table; checking again costs nothing.
                    rules.extend(Rule::parse(&msg).filter(|r| r.table == table));
                }
            }
        }
    }

    /// Whether table `ip TABLE` exists.
    pub(super) fn table_exists(&mut self, table: &str) -> Result<bool, Failure> {
        let seq = self.next_seq();
        let req = wire::request(MsgType::GetTable, wire::NLM_F_ACK, seq, |a| {
            a.string(wire::NFTA_TABLE_NAME, table);
        });
        let what = "look up the table";
        self.send(&req).map_err(fail(what))?;
        loop {
            let n = self.recv().map_err(fail(what))?;
            for msg in wire::messages(&self.buf[..n]) {
                let msg = msg.map_err(fail(what))?;
                // The table itself comes first (ignored), then the ack.
                match msg.error() {
                    Some((0, s)) if s == seq => return Ok(true),
                    Some((errno, s)) if s == seq && errno == Errno::ENOENT as i32 => {
                        return Ok(false)
                    }
                    Some((errno, s)) if s == seq => {
                        return Err(fail(what)(io::Error::from_raw_os_error(errno)))
                    }
                    _ => {}
                }
            }
        }
    }

    fn next_seq(&mut self) -> u32 {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        seq
    }

    /// Make room for a big batch: the send buffer must hold the whole batch (netlink sends it
    /// as one datagram), and the receive buffer every ack, queued before we read any. Forcing
    /// needs CAP_NET_ADMIN, which changing nftables needs anyway; if it fails, sending reports
    /// `EMSGSIZE` or reading `ENOBUFS`.
    fn grow_buffers(&self, bytes: usize, changes: usize) {
        let snd = bytes + 4096;
        let rcv = changes * 2048 + RECV_BUF;
        if let Err(e) = socket::setsockopt(&self.fd, sockopt::SndBufForce, &snd) {
            tracing::debug!(error = %e, "SO_SNDBUFFORCE");
        }
        if let Err(e) = socket::setsockopt(&self.fd, sockopt::RcvBufForce, &rcv) {
            tracing::debug!(error = %e, "SO_RCVBUFFORCE");
        }
    }

    fn send(&self, bytes: &[u8]) -> io::Result<()> {
        let sent = socket::send(self.fd.as_raw_fd(), bytes, MsgFlags::empty())?;
        if sent != bytes.len() {
            return Err(io::Error::other(format!(
                "sent {sent} of {} bytes",
                bytes.len()
            )));
        }
        Ok(())
    }

    /// One datagram into `self.buf`; its length.
    fn recv(&mut self) -> io::Result<usize> {
        loop {
            // MSG_TRUNC: the real length even if the datagram did not fit, to detect that.
            match socket::recv(self.fd.as_raw_fd(), &mut self.buf, MsgFlags::MSG_TRUNC) {
                Ok(n) if n > self.buf.len() => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("answer of {n} bytes truncated to {}", self.buf.len()),
                    ))
                }
                Ok(n) => return Ok(n),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no answer from the kernel in {ANSWER_TIMEOUT_SECS} s"),
                    ))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
