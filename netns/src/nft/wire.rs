//! The nf_tables netlink wire format, by hand: the few messages, attributes and expressions the
//! hostPort rules need, encoded the way nft(8) 1.0 encodes them (so `nft list` prints our rules
//! exactly as if nft had added them), and the decoding of the kernel's answers.
//!
//! Layout reminders (see `linux/netlink.h`, `linux/netfilter/nfnetlink.h`,
//! `linux/netfilter/nf_tables.h`):
//! - a message is a 16-byte `nlmsghdr` (len, type, flags, seq, pid; host byte order), a 4-byte
//!   `nfgenmsg` (family, version, res_id) and attributes;
//! - an attribute is a 4-byte header (len including the header, type; host byte order), its
//!   value, and zero padding to a multiple of 4 that the length does not count; a nest's value
//!   is more attributes, and its type carries `NLA_F_NESTED`;
//! - nf_tables' integer values are big-endian (`nla_put_be32`), while the netlink headers are
//!   host order, and register data (ports, addresses, fib results) is the packet's or the
//!   kernel's own memory layout.

use std::io;
use std::net::Ipv4Addr;

// Netlink (linux/netlink.h).
pub(super) const NLM_F_REQUEST: u16 = 0x1;
pub(super) const NLM_F_ACK: u16 = 0x4;
pub(super) const NLM_F_DUMP_INTR: u16 = 0x10;
pub(super) const NLM_F_DUMP: u16 = 0x300;
pub(super) const NLM_F_CREATE: u16 = 0x400;
pub(super) const NLM_F_APPEND: u16 = 0x800;
pub(super) const NLMSG_ERROR: u16 = 2;
pub(super) const NLMSG_DONE: u16 = 3;
const NLMSG_HDRLEN: usize = 16;
const NLA_HDRLEN: usize = 4;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

// nfnetlink (linux/netfilter/nfnetlink.h).
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFGENMSG_LEN: usize = 4;
const AF_UNSPEC: u8 = 0;
/// `NFPROTO_IPV4`: the `ip` table family.
const NFPROTO_IPV4: u8 = 2;

/// nf_tables message types (`enum nf_tables_msg_types`), sent as `NFNL_SUBSYS_NFTABLES << 8 | t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub(super) enum MsgType {
    NewTable = 0,
    GetTable = 1,
    DelTable = 2,
    NewChain = 3,
    NewRule = 6,
    GetRule = 7,
    DelRule = 8,
}

impl MsgType {
    fn nlmsg_type(self) -> u16 {
        NFNL_SUBSYS_NFTABLES << 8 | self as u16
    }
}

// Attribute types (linux/netfilter/nf_tables.h).
pub(super) const NFTA_TABLE_NAME: u16 = 1;
pub(super) const NFTA_TABLE_FLAGS: u16 = 2;
pub(super) const NFTA_CHAIN_TABLE: u16 = 1;
pub(super) const NFTA_CHAIN_NAME: u16 = 3;
pub(super) const NFTA_CHAIN_HOOK: u16 = 4;
pub(super) const NFTA_CHAIN_POLICY: u16 = 5;
pub(super) const NFTA_CHAIN_TYPE: u16 = 7;
pub(super) const NFTA_HOOK_HOOKNUM: u16 = 1;
pub(super) const NFTA_HOOK_PRIORITY: u16 = 2;
pub(super) const NFTA_RULE_TABLE: u16 = 1;
pub(super) const NFTA_RULE_CHAIN: u16 = 2;
pub(super) const NFTA_RULE_HANDLE: u16 = 3;
pub(super) const NFTA_RULE_EXPRESSIONS: u16 = 4;
pub(super) const NFTA_RULE_USERDATA: u16 = 7;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;

/// Netfilter hooks (`enum nf_inet_hooks`).
pub(super) const NF_INET_PRE_ROUTING: u32 = 0;
pub(super) const NF_INET_LOCAL_OUT: u32 = 3;
pub(super) const NF_INET_POST_ROUTING: u32 = 4;
/// Verdicts (linux/netfilter.h).
pub(super) const NF_DROP: u32 = 0;
pub(super) const NF_ACCEPT: u32 = 1;

/// The rule comment's tag in `NFTA_RULE_USERDATA`, a list of (type: u8, len: u8, value) TLVs
/// that only userspace reads (libnftnl's `NFTNL_UDATA_RULE_COMMENT`); the value is the comment
/// with its NUL.
const UDATA_RULE_COMMENT: u8 = 0;

/// Round `len` up to the netlink alignment of 4.
const fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// Attributes being appended to a message buffer.
#[derive(Debug)]
pub(super) struct Attrs<'a> {
    buf: &'a mut Vec<u8>,
}

impl Attrs<'_> {
    /// One attribute with `value`, zero-padded to the alignment.
    pub(super) fn bytes(&mut self, ty: u16, value: &[u8]) {
        let len = attr_len(NLA_HDRLEN + value.len());
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.pad();
    }

    /// A NUL-terminated string, as the kernel's `NLA_STRING` policies and `nla_strcmp` expect.
    pub(super) fn string(&mut self, ty: u16, s: &str) {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.bytes(ty, &v);
    }

    pub(super) fn be32(&mut self, ty: u16, v: u32) {
        self.bytes(ty, &v.to_be_bytes());
    }

    /// A signed 32-bit value (a hook priority), big-endian two's complement like `be32`.
    pub(super) fn be32_signed(&mut self, ty: u16, v: i32) {
        self.bytes(ty, &v.to_be_bytes());
    }

    pub(super) fn be64(&mut self, ty: u16, v: u64) {
        self.bytes(ty, &v.to_be_bytes());
    }

    /// A nest: the attributes `f` writes, inside an attribute whose length is patched after.
    pub(super) fn nest(&mut self, ty: u16, f: impl FnOnce(&mut Attrs<'_>)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; NLA_HDRLEN]);
        f(&mut Attrs { buf: self.buf });
        // The nested attributes are each padded already, so the nest needs no padding.
        let len = attr_len(self.buf.len() - start);
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self.buf[start + 2..start + 4].copy_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
    }

    fn pad(&mut self) {
        self.buf.resize(align(self.buf.len()), 0);
    }
}

/// An attribute length as the 16-bit header field. Our attributes are names of at most 128
/// bytes and rules of a dozen expressions, far below the 64 KiB limit.
fn attr_len(len: usize) -> u16 {
    u16::try_from(len).expect("a netlink attribute under 64 KiB")
}

/// Append one message: `nlmsghdr`, `nfgenmsg` and the attributes `f` writes.
fn message(
    buf: &mut Vec<u8>,
    nlmsg_type: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
    f: impl FnOnce(&mut Attrs<'_>),
) {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]); // length, patched below
    buf.extend_from_slice(&nlmsg_type.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: 0, the kernel fills in ours
    buf.push(family);
    buf.push(0); // NFNETLINK_V0
    buf.extend_from_slice(&res_id.to_be_bytes());
    f(&mut Attrs { buf });
    let len = u32::try_from(buf.len() - start).expect("a netlink message under 4 GiB");
    buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

/// A request outside a batch (a get or a dump), for family `ip`.
pub(super) fn request(
    ty: MsgType,
    flags: u16,
    seq: u32,
    f: impl FnOnce(&mut Attrs<'_>),
) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64);
    message(
        &mut buf,
        ty.nlmsg_type(),
        NLM_F_REQUEST | flags,
        seq,
        NFPROTO_IPV4,
        0,
        f,
    );
    buf
}

/// A transaction: `BATCH_BEGIN`, changes to family `ip` objects, `BATCH_END`. The kernel
/// applies all changes or none. Every change asks for an ack, and the batch remembers what
/// each sequence number was about, to name the failed one.
#[derive(Debug)]
pub(super) struct Batch {
    buf: Vec<u8>,
    begin_seq: u32,
    /// What each change does, in sequence order from `begin_seq + 1`.
    changes: Vec<String>,
}

impl Batch {
    pub(super) fn new(begin_seq: u32) -> Batch {
        let mut buf = Vec::with_capacity(4096);
        let res_id = NFNL_SUBSYS_NFTABLES; // which subsystem the batch is for
        message(
            &mut buf,
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            begin_seq,
            AF_UNSPEC,
            res_id,
            |_| {},
        );
        Batch {
            buf,
            begin_seq,
            changes: Vec::new(),
        }
    }

    /// Add one change; `what` names it in errors ("rule in chain output").
    pub(super) fn push(
        &mut self,
        ty: MsgType,
        flags: u16,
        what: String,
        f: impl FnOnce(&mut Attrs<'_>),
    ) {
        self.changes.push(what);
        let seq = self.seq_of(self.changes.len() - 1);
        message(
            &mut self.buf,
            ty.nlmsg_type(),
            NLM_F_REQUEST | NLM_F_ACK | flags,
            seq,
            NFPROTO_IPV4,
            0,
            f,
        );
    }

    fn seq_of(&self, index: usize) -> u32 {
        let index = u32::try_from(index).expect("fewer than 2^32 changes");
        self.begin_seq.wrapping_add(1).wrapping_add(index)
    }

    /// The bytes to send (with `BATCH_END`) and what to expect back.
    pub(super) fn finish(mut self) -> (Vec<u8>, Pending) {
        let end_seq = self.seq_of(self.changes.len());
        message(
            &mut self.buf,
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            end_seq,
            AF_UNSPEC,
            NFNL_SUBSYS_NFTABLES,
            |_| {},
        );
        let pending = Pending {
            begin_seq: self.begin_seq,
            answers: vec![None; self.changes.len()],
            changes: self.changes,
        };
        (self.buf, pending)
    }
}

/// The answers a sent batch is waiting for.
#[derive(Debug)]
pub(super) struct Pending {
    begin_seq: u32,
    changes: Vec<String>,
    /// The errno of each change's ack (0: success), once it came.
    answers: Vec<Option<i32>>,
}

/// What an ack means for a batch.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Answer {
    /// The answer to one change; more may come.
    Change,
    /// An error (errno) about the whole batch (it names the `BATCH_BEGIN` or `BATCH_END`
    /// message): nothing else will come.
    Batch(i32),
    /// Not about this batch.
    Unrelated,
}

impl Pending {
    pub(super) fn len(&self) -> usize {
        self.changes.len()
    }

    /// Record an ack (`errno` 0) or error for sequence number `seq`.
    pub(super) fn answer(&mut self, seq: u32, errno: i32) -> Answer {
        let index = seq.wrapping_sub(self.begin_seq.wrapping_add(1));
        let index = usize::try_from(index).ok();
        match index.filter(|&i| i < self.changes.len()) {
            Some(i) => {
                self.answers[i] = Some(errno);
                Answer::Change
            }
            None if (seq == self.begin_seq || index == Some(self.changes.len())) && errno != 0 => {
                Answer::Batch(errno)
            }
            None => Answer::Unrelated,
        }
    }

    /// What each change does, in batch order.
    #[cfg(test)]
    pub(super) fn changes(&self) -> &[String] {
        &self.changes
    }

    pub(super) fn complete(&self) -> bool {
        self.answers.iter().all(Option::is_some)
    }

    /// The first failed change (the others usually fail because of it), as (what, error).
    pub(super) fn first_error(&self) -> Option<(&str, io::Error)> {
        self.changes
            .iter()
            .zip(&self.answers)
            .find_map(|(what, a)| match a {
                Some(errno) if *errno != 0 => {
                    Some((what.as_str(), io::Error::from_raw_os_error(*errno)))
                }
                _ => None,
            })
    }

    /// The first change with no answer, if any.
    pub(super) fn first_unanswered(&self) -> Option<&str> {
        self.changes
            .iter()
            .zip(&self.answers)
            .find(|(_, a)| a.is_none())
            .map(|(what, _)| what.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Expressions.

/// Where a payload load starts (`enum nft_payload_bases`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(super) enum Base {
    Network = 1,
    Transport = 2,
}

/// Meta keys (`enum nft_meta_keys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(super) enum MetaKey {
    IifName = 6,
    L4Proto = 16,
}

/// Comparison operators (`enum nft_cmp_ops`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(super) enum CmpOp {
    Eq = 0,
    Neq = 1,
}

/// The registers nft uses: 0 holds the verdict, 1 and 2 are the first 16-byte data registers
/// (the legacy numbering nft still emits for them).
const REG_VERDICT: u32 = 0;
pub(super) const REG_1: u32 = 1;
pub(super) const REG_2: u32 = 2;

/// One expression of a rule. Loads go to register 1 and comparisons read it; that is all our
/// rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Expr {
    /// `meta load KEY => reg 1`.
    Meta(MetaKey),
    /// `payload load LEN b @ BASE + OFFSET => reg 1`.
    Payload { base: Base, offset: u32, len: u32 },
    /// `cmp OP reg 1 DATA`.
    Cmp(CmpOp, Vec<u8>),
    /// `fib daddr type => reg 1`: the route type of the destination address (`RTN_*`, a u32 in
    /// host byte order).
    FibDaddrType,
    /// `immediate reg REG DATA`.
    Immediate(u32, Vec<u8>),
    /// `immediate reg 0 VERDICT`.
    Verdict(u32),
    /// `nat dnat ip addr_min reg 1 proto_min reg 2`.
    DnatAddrPort,
    /// `masq`.
    Masquerade,
}

// Expression attributes, per expression (linux/netfilter/nf_tables.h).
const NFTA_META_DREG: u16 = 1;
const NFTA_META_KEY: u16 = 2;
const NFTA_PAYLOAD_DREG: u16 = 1;
const NFTA_PAYLOAD_BASE: u16 = 2;
const NFTA_PAYLOAD_OFFSET: u16 = 3;
const NFTA_PAYLOAD_LEN: u16 = 4;
const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;
const NFTA_FIB_DREG: u16 = 1;
const NFTA_FIB_RESULT: u16 = 2;
const NFTA_FIB_FLAGS: u16 = 3;
const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
const NFTA_FIB_F_DADDR: u32 = 1 << 1;
const NFTA_IMMEDIATE_DREG: u16 = 1;
const NFTA_IMMEDIATE_DATA: u16 = 2;
const NFTA_NAT_TYPE: u16 = 1;
const NFTA_NAT_FAMILY: u16 = 2;
const NFTA_NAT_REG_ADDR_MIN: u16 = 3;
const NFTA_NAT_REG_PROTO_MIN: u16 = 5;
const NFTA_NAT_FLAGS: u16 = 7;
const NFT_NAT_DNAT: u32 = 1;
/// `NF_NAT_RANGE_PROTO_SPECIFIED`: the port register is set.
const NF_NAT_RANGE_PROTO_SPECIFIED: u32 = 1 << 1;

impl Expr {
    /// Encode as one `NFTA_LIST_ELEM` of `NFTA_RULE_EXPRESSIONS`, attributes in nft's order.
    fn encode(&self, a: &mut Attrs<'_>) {
        a.nest(NFTA_LIST_ELEM, |a| {
            a.string(NFTA_EXPR_NAME, self.name());
            a.nest(NFTA_EXPR_DATA, |a| match self {
                Expr::Meta(key) => {
                    a.be32(NFTA_META_KEY, *key as u32);
                    a.be32(NFTA_META_DREG, REG_1);
                }
                Expr::Payload { base, offset, len } => {
                    a.be32(NFTA_PAYLOAD_DREG, REG_1);
                    a.be32(NFTA_PAYLOAD_BASE, *base as u32);
                    a.be32(NFTA_PAYLOAD_OFFSET, *offset);
                    a.be32(NFTA_PAYLOAD_LEN, *len);
                }
                Expr::Cmp(op, data) => {
                    a.be32(NFTA_CMP_SREG, REG_1);
                    a.be32(NFTA_CMP_OP, *op as u32);
                    a.nest(NFTA_CMP_DATA, |a| a.bytes(NFTA_DATA_VALUE, data));
                }
                Expr::FibDaddrType => {
                    a.be32(NFTA_FIB_FLAGS, NFTA_FIB_F_DADDR);
                    a.be32(NFTA_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
                    a.be32(NFTA_FIB_DREG, REG_1);
                }
                Expr::Immediate(reg, data) => {
                    a.be32(NFTA_IMMEDIATE_DREG, *reg);
                    a.nest(NFTA_IMMEDIATE_DATA, |a| a.bytes(NFTA_DATA_VALUE, data));
                }
                Expr::Verdict(code) => {
                    a.be32(NFTA_IMMEDIATE_DREG, REG_VERDICT);
                    a.nest(NFTA_IMMEDIATE_DATA, |a| {
                        a.nest(NFTA_DATA_VERDICT, |a| a.be32(NFTA_VERDICT_CODE, *code));
                    });
                }
                Expr::DnatAddrPort => {
                    a.be32(NFTA_NAT_TYPE, NFT_NAT_DNAT);
                    a.be32(NFTA_NAT_FAMILY, u32::from(NFPROTO_IPV4));
                    a.be32(NFTA_NAT_REG_ADDR_MIN, REG_1);
                    a.be32(NFTA_NAT_REG_PROTO_MIN, REG_2);
                    a.be32(NFTA_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
                }
                Expr::Masquerade => {}
            });
        });
    }

    /// The kernel's name of the expression type (what `nft_expr_type` modules register).
    fn name(&self) -> &'static str {
        match self {
            Expr::Meta(_) => "meta",
            Expr::Payload { .. } => "payload",
            Expr::Cmp(..) => "cmp",
            Expr::FibDaddrType => "fib",
            Expr::Immediate(..) | Expr::Verdict(_) => "immediate",
            Expr::DnatAddrPort => "nat",
            Expr::Masquerade => "masq",
        }
    }
}

/// Write a rule's expressions and its comment (`NFTA_RULE_USERDATA`).
pub(super) fn rule_body(a: &mut Attrs<'_>, exprs: &[Expr], comment: Option<&str>) {
    a.nest(NFTA_RULE_EXPRESSIONS, |a| {
        for e in exprs {
            e.encode(a);
        }
    });
    if let Some(c) = comment {
        a.bytes(NFTA_RULE_USERDATA, &comment_udata(c));
    }
}

/// `NFTA_RULE_USERDATA` holding one comment TLV. Pod names are at most 128 bytes (validated),
/// so the length fits the TLV's u8 and the kernel's 256-byte userdata limit.
fn comment_udata(comment: &str) -> Vec<u8> {
    let len = u8::try_from(comment.len() + 1).expect("comment under 255 bytes");
    let mut v = Vec::with_capacity(comment.len() + 3);
    v.extend_from_slice(&[UDATA_RULE_COMMENT, len]);
    v.extend_from_slice(comment.as_bytes());
    v.push(0);
    v
}

/// The comment in a rule's userdata TLVs, if any.
pub(super) fn comment_of(udata: &[u8]) -> Option<String> {
    let mut rest = udata;
    while let [ty, len, tail @ ..] = rest {
        let value = tail.get(..usize::from(*len))?;
        if *ty == UDATA_RULE_COMMENT {
            return Some(c_string(value));
        }
        rest = &tail[value.len()..];
    }
    None
}

/// `data` up to its first NUL, as a string.
pub(super) fn c_string(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

/// Data comparing equal to an address in a payload load: network byte order, as in the packet.
pub(super) fn addr(ip: Ipv4Addr) -> Vec<u8> {
    ip.octets().to_vec()
}

/// Data comparing equal to a port in a payload load: network byte order, as in the packet.
pub(super) fn port(p: u16) -> Vec<u8> {
    p.to_be_bytes().to_vec()
}

// ---------------------------------------------------------------------------------------------
// Decoding.

/// A rule as a dump shows it: where it is, its handle, its comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rule {
    pub(super) table: String,
    pub(super) chain: String,
    pub(super) handle: u64,
    pub(super) comment: Option<String>,
}

impl Rule {
    /// From an `NFT_MSG_NEWRULE` message; `None` if it lacks its table, chain or handle.
    pub(super) fn parse(msg: &Msg<'_>) -> Option<Rule> {
        let (mut table, mut chain, mut handle, mut comment) = (None, None, None, None);
        for (ty, value) in msg.attrs() {
            match ty {
                NFTA_RULE_TABLE => table = Some(c_string(value)),
                NFTA_RULE_CHAIN => chain = Some(c_string(value)),
                NFTA_RULE_HANDLE => handle = Some(u64::from_be_bytes(value.try_into().ok()?)),
                NFTA_RULE_USERDATA => comment = comment_of(value),
                _ => {}
            }
        }
        Some(Rule {
            table: table?,
            chain: chain?,
            handle: handle?,
            comment,
        })
    }
}

/// One received netlink message.
#[derive(Debug)]
pub(super) struct Msg<'a> {
    pub(super) ty: u16,
    pub(super) flags: u16,
    pub(super) seq: u32,
    pub(super) payload: &'a [u8],
}

impl Msg<'_> {
    /// For `NLMSG_ERROR`: the (positive) errno, 0 for an ack, and the sequence number of the
    /// request it answers.
    pub(super) fn error(&self) -> Option<(i32, u32)> {
        if self.ty != NLMSG_ERROR {
            return None;
        }
        let errno = i32::from_ne_bytes(self.payload.get(..4)?.try_into().ok()?);
        // The request's header follows; its seq is ours (the ack's own seq is the same).
        let seq = u32::from_ne_bytes(self.payload.get(12..16)?.try_into().ok()?);
        Some((errno.checked_neg()?, seq))
    }

    /// For `NLMSG_DONE`: the dump's final status (a negative errno on failure).
    pub(super) fn done_status(&self) -> i32 {
        self.payload
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, i32::from_ne_bytes)
    }

    /// The attributes of an nf_tables message (after its `nfgenmsg`).
    pub(super) fn attrs(&self) -> AttrIter<'_> {
        AttrIter(self.payload.get(NFGENMSG_LEN..).unwrap_or_default())
    }

    /// Whether this is an nf_tables message of type `t`.
    pub(super) fn is(&self, t: MsgType) -> bool {
        self.ty == t.nlmsg_type()
    }
}

/// The messages in one datagram. A truncated or malformed message is an error rather than a
/// silent end, so a reader never waits for answers that were in fact mangled.
pub(super) fn messages(mut buf: &[u8]) -> impl Iterator<Item = io::Result<Msg<'_>>> {
    std::iter::from_fn(move || {
        if buf.is_empty() {
            return None;
        }
        let res = split_message(buf);
        buf = match &res {
            Ok((_, rest)) => rest,
            Err(_) => &[],
        };
        Some(res.map(|(msg, _)| msg))
    })
}

/// The first message of `buf` and the rest after it.
fn split_message(buf: &[u8]) -> io::Result<(Msg<'_>, &[u8])> {
    let field = |at: usize, n: usize| &buf[at..at + n];
    let len = buf
        .get(..4)
        .map(|b| u32::from_ne_bytes(b.try_into().expect("4 bytes")))
        .and_then(|len| usize::try_from(len).ok())
        .filter(|&len| len >= NLMSG_HDRLEN && len <= buf.len())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed netlink message"))?;
    let msg = Msg {
        ty: u16::from_ne_bytes(field(4, 2).try_into().expect("2 bytes")),
        flags: u16::from_ne_bytes(field(6, 2).try_into().expect("2 bytes")),
        seq: u32::from_ne_bytes(field(8, 4).try_into().expect("4 bytes")),
        payload: &buf[NLMSG_HDRLEN..len],
    };
    Ok((msg, &buf[align(len).min(buf.len())..]))
}

/// The attributes in a buffer, as (type without flags, value); stops at a malformed one.
#[derive(Debug)]
pub(super) struct AttrIter<'a>(&'a [u8]);

impl<'a> Iterator for AttrIter<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let buf = self.0;
        let len = usize::from(u16::from_ne_bytes(buf.get(0..2)?.try_into().ok()?));
        let ty = u16::from_ne_bytes(buf.get(2..4)?.try_into().ok()?) & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > buf.len() {
            self.0 = &[];
            return None;
        }
        self.0 = &buf[align(len).min(buf.len())..];
        Some((ty, &buf[NLA_HDRLEN..len]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes from a readable hex string (whitespace and `|` ignored).
    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s
            .bytes()
            .filter(u8::is_ascii_hexdigit)
            .map(|c| u8::try_from(char::from(c).to_digit(16).unwrap()).unwrap())
            .collect();
        digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
    }

    fn attrs(f: impl FnOnce(&mut Attrs<'_>)) -> Vec<u8> {
        let mut buf = Vec::new();
        f(&mut Attrs { buf: &mut buf });
        buf
    }

    // These tests spell out host-order headers as little-endian bytes.
    #[cfg(target_endian = "little")]
    #[test]
    fn attributes_are_padded_and_lengths_exclude_the_padding() {
        assert_eq!(
            attrs(|a| a.string(NFTA_TABLE_NAME, "dbgx")),
            hex("0900 0100 | 64626778 00 | 000000"),
            "len 9 = header + name + NUL, then 3 zero bytes to 12"
        );
        assert_eq!(attrs(|a| a.bytes(7, b"abcd")), hex("0800 0700 61626364"));
        assert_eq!(attrs(|a| a.bytes(1, &[0x7f])), hex("0500 0100 7f 000000"));
        assert_eq!(
            attrs(|a| a.string(1, "")),
            hex("0500 0100 00 000000"),
            "an empty string still has its NUL"
        );
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn values_are_big_endian_and_nests_carry_the_nested_flag() {
        assert_eq!(
            attrs(|a| {
                a.nest(NFTA_CHAIN_HOOK, |a| {
                    a.be32(NFTA_HOOK_HOOKNUM, NF_INET_LOCAL_OUT);
                    a.be32_signed(NFTA_HOOK_PRIORITY, -100);
                });
            }),
            hex("1400 0480 | 0800 0100 00000003 | 0800 0200 ffffff9c")
        );
        assert_eq!(
            attrs(|a| a.be64(NFTA_RULE_HANDLE, 0x0102_0304_0506_0708)),
            hex("0c00 0300 0102030405060708")
        );
        // A nest around an odd-sized value: the inner attribute is padded, the outer length
        // counts that padding.
        assert_eq!(
            attrs(|a| a.nest(NFTA_CMP_DATA, |a| a.bytes(NFTA_DATA_VALUE, &port(8080)))),
            hex("0c00 0380 | 0600 0100 1f90 0000")
        );
        assert_eq!(attrs(|a| a.nest(9, |_| {})), hex("0400 0980"), "empty nest");
    }

    #[test]
    fn ports_and_addresses_are_in_network_order() {
        assert_eq!(port(8080), [0x1f, 0x90]);
        assert_eq!(port(53), [0x00, 0x35]);
        assert_eq!(addr(Ipv4Addr::new(10, 77, 0, 2)), [10, 77, 0, 2]);
    }

    #[test]
    fn comment_userdata_round_trips() {
        assert_eq!(comment_udata("web"), b"\x00\x04web\x00");
        assert_eq!(comment_of(b"\x00\x04web\x00").as_deref(), Some("web"));
        // Another TLV first (type 1: an ebtables policy), then the comment.
        assert_eq!(
            comment_of(b"\x01\x04\x00\x00\x00\x01\x00\x03ab\x00").as_deref(),
            Some("ab")
        );
        assert_eq!(comment_of(b"\x01\x04\x00\x00\x00\x01"), None);
        assert_eq!(comment_of(b"\x00\x09ab"), None, "truncated TLV");
        let long = "p".repeat(128);
        assert_eq!(comment_of(&comment_udata(&long)), Some(long));
    }

    /// The postrouting rule of pod `web` at 10.77.0.2 in table `dbgx`, as nft 1.0.6 sent it for
    /// `add rule ip dbgx postrouting ip saddr 127.0.0.0/8 ip daddr 10.77.0.2 masquerade comment
    /// "web"` (captured with strace; nft asks for no ack, we do: flags 0xc01 vs 0xc05).
    #[cfg(target_endian = "little")]
    #[test]
    fn a_rule_message_is_byte_for_byte_what_nft_sends() {
        let nft = hex("14010000 060a 010c 01000000 00000000 | 02 00 0000
             0900 0100 6462677800 000000
             1000 0200 706f7374726f7574696e6700
             d800 0480
               3400 0180 0c00 0100 7061796c6f616400 2400 0280 0800 0100 00000001
                 0800 0200 00000001 0800 0300 0000000c 0800 0400 00000001
               2c00 0180 0800 0100 636d7000 2000 0280 0800 0100 00000001
                 0800 0200 00000000 0c00 0380 0500 0100 7f000000
               3400 0180 0c00 0100 7061796c6f616400 2400 0280 0800 0100 00000001
                 0800 0200 00000001 0800 0300 00000010 0800 0400 00000004
               2c00 0180 0800 0100 636d7000 2000 0280 0800 0100 00000001
                 0800 0200 00000000 0c00 0380 0800 0100 0a4d0002
               1400 0180 0900 0100 6d61737100 000000 0400 0280
             0a00 0700 0004776562 00 0000");
        let mut batch = Batch::new(0);
        batch.push(
            MsgType::NewRule,
            NLM_F_CREATE | NLM_F_APPEND,
            "rule".into(),
            |a| {
                a.string(NFTA_RULE_TABLE, "dbgx");
                a.string(NFTA_RULE_CHAIN, "postrouting");
                let pod = Ipv4Addr::new(10, 77, 0, 2);
                let exprs = [
                    Expr::Payload {
                        base: Base::Network,
                        offset: 12,
                        len: 1,
                    },
                    Expr::Cmp(CmpOp::Eq, vec![127]),
                    Expr::Payload {
                        base: Base::Network,
                        offset: 16,
                        len: 4,
                    },
                    Expr::Cmp(CmpOp::Eq, addr(pod)),
                    Expr::Masquerade,
                ];
                rule_body(a, &exprs, Some("web"));
            },
        );
        let (bytes, pending) = batch.finish();
        assert_eq!(pending.len(), 1);
        let msgs: Vec<Msg<'_>> = messages(&bytes).map(Result::unwrap).collect();
        assert_eq!(msgs.len(), 3, "begin, rule, end");
        let begin = hex("14000000 1000 0100 00000000 00000000 | 00 00 000a");
        assert_eq!(&bytes[..20], &begin[..]);
        let rule = &bytes[20..20 + nft.len()];
        assert_eq!(rule[6..8], [0x05, 0x0c], "REQUEST|ACK|CREATE|APPEND");
        let mut expected = nft.clone();
        expected[6] = 0x05;
        assert_eq!(rule, &expected[..]);
        let end = hex("14000000 1100 0100 02000000 00000000 | 00 00 000a");
        assert_eq!(&bytes[20 + nft.len()..], &end[..]);
    }

    /// The expressions of `fib daddr type local tcp dport 8080 dnat to 10.77.0.2:80`, as nft
    /// 1.0.6 sent them (strace), one list element per line: fib, cmp (RTN_LOCAL in host order),
    /// meta l4proto, cmp, payload, cmp (port in network order), immediate x2, nat.
    #[cfg(target_endian = "little")]
    #[test]
    fn dnat_expressions_are_byte_for_byte_what_nft_sends() {
        let nft = hex(
            "9801 0480
             2800018008000100666962001c000280080003000000000208000200000000030800010000000001
             2c00018008000100636d700020000280080001000000000108000200000000000c0003800800010002000000
             24000180090001006d657461000000001400028008000200000000100800010000000001
             2c00018008000100636d700020000280080001000000000108000200000000000c0003800500010006000000
             340001800c0001007061796c6f616400240002800800010000000001080002000000000208000300000000020800040000000002
             2c00018008000100636d700020000280080001000000000108000200000000000c000380060001001f900000
             2c0001800e000100696d6d6564696174650000001800028008000100000000010c000280080001000a4d0002
             2c0001800e000100696d6d6564696174650000001800028008000100000000020c0002800600010000500000
             38000180080001006e6174002c00028008000100000000010800020000000002080003000000000108000500000000020800070000000002",
        );
        let exprs = [
            Expr::FibDaddrType,
            Expr::Cmp(CmpOp::Eq, 2u32.to_ne_bytes().to_vec()),
            Expr::Meta(MetaKey::L4Proto),
            Expr::Cmp(CmpOp::Eq, vec![6]),
            Expr::Payload {
                base: Base::Transport,
                offset: 2,
                len: 2,
            },
            Expr::Cmp(CmpOp::Eq, port(8080)),
            Expr::Immediate(REG_1, addr(Ipv4Addr::new(10, 77, 0, 2))),
            Expr::Immediate(REG_2, port(80)),
            Expr::DnatAddrPort,
        ];
        assert_eq!(attrs(|a| rule_body(a, &exprs, None)), nft);
    }

    /// `iifname != "lo" ip daddr 127.0.0.0/8 drop`: the name compared over all 16 bytes, the
    /// /8 as a one-byte load, the verdict nested twice.
    #[cfg(target_endian = "little")]
    #[test]
    fn guard_expressions_encode_names_prefixes_and_verdicts() {
        let mut lo = b"lo".to_vec();
        lo.resize(16, 0);
        let got = attrs(|a| {
            rule_body(
                a,
                &[
                    Expr::Meta(MetaKey::IifName),
                    Expr::Cmp(CmpOp::Neq, lo),
                    Expr::Verdict(NF_DROP),
                ],
                None,
            );
        });
        let want = hex("9000 0480
             2400 0180 0900 0100 6d65746100 000000 1400 0280 0800 0200 00000006 0800 0100 00000001
             3800 0180 0800 0100 636d7000 2c00 0280 0800 0100 00000001 0800 0200 00000001
               1800 0380 1400 0100 6c6f0000 00000000 00000000 00000000
             3000 0180 0e00 0100 696d6d65646961746500 0000 1c00 0280 0800 0100 00000000
               1000 0280 0c00 0280 0800 0100 00000000");
        assert_eq!(got, want);
    }

    #[test]
    fn decoding_splits_messages_and_attributes() {
        let mut batch = Batch::new(7);
        batch.push(MsgType::DelRule, 0, "rule".into(), |a| {
            a.string(NFTA_RULE_TABLE, "t");
            a.string(NFTA_RULE_CHAIN, "output");
            a.be64(NFTA_RULE_HANDLE, 42);
        });
        let (bytes, _) = batch.finish();
        let msgs: Vec<Msg<'_>> = messages(&bytes).map(Result::unwrap).collect();
        assert_eq!(
            msgs.iter().map(|m| m.seq).collect::<Vec<_>>(),
            [7, 8, 9],
            "begin, change, end numbered in order"
        );
        assert!(msgs[1].is(MsgType::DelRule));
        assert_eq!(msgs[1].flags, NLM_F_REQUEST | NLM_F_ACK);
        let attrs: Vec<(u16, &[u8])> = msgs[1].attrs().collect();
        assert_eq!(
            attrs,
            [
                (NFTA_RULE_TABLE, &b"t\0"[..]),
                (NFTA_RULE_CHAIN, &b"output\0"[..]),
                (NFTA_RULE_HANDLE, &42u64.to_be_bytes()[..]),
            ]
        );
        // A message claiming more bytes than there are is an error, not a silent end.
        let mut cut = bytes.clone();
        cut.truncate(bytes.len() - 4);
        let res: Vec<_> = messages(&cut).collect();
        assert!(res.last().unwrap().is_err());
    }

    #[test]
    fn acks_are_matched_to_changes() {
        let mut batch = Batch::new(100);
        for what in ["table", "chain", "rule"] {
            batch.push(MsgType::NewRule, 0, what.into(), |_| {});
        }
        let (_, mut pending) = batch.finish();
        assert_eq!(pending.answer(101, 0), Answer::Change);
        assert!(!pending.complete());
        assert_eq!(pending.first_unanswered(), Some("chain"));
        assert_eq!(pending.answer(103, 2), Answer::Change); // ENOENT
        assert_eq!(pending.answer(102, 95), Answer::Change);
        assert!(pending.complete());
        let (what, err) = pending.first_error().unwrap();
        assert_eq!(what, "chain", "the first failure in batch order");
        assert_eq!(err.raw_os_error(), Some(95));
        assert_eq!(pending.answer(7, 1), Answer::Unrelated);
        assert_eq!(pending.answer(100, 1), Answer::Batch(1), "batch begin");
        assert_eq!(pending.answer(104, 22), Answer::Batch(22), "batch end");
        assert_eq!(pending.answer(104, 0), Answer::Unrelated);
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn error_messages_decode() {
        // nlmsgerr: error -95, then the failed request's header (len, type, flags, seq 5, pid).
        let mut buf = hex("24000000 0200 0001 05000000 00000000 | a1ffffff");
        buf.extend(hex("14000000 060a 0500 05000000 00000000"));
        let msg = messages(&buf).next().unwrap().unwrap();
        assert_eq!(msg.error(), Some((95, 5)));
        let done = hex("14000000 0300 0200 05000000 00000000 | feffffff");
        let msg = messages(&done).next().unwrap().unwrap();
        assert_eq!(msg.ty, NLMSG_DONE);
        assert_eq!(msg.done_status(), -2);
    }
}
