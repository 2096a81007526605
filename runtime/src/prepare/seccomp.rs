//! Compile an OCI seccomp profile (`linux.seccomp`) into one classic BPF program, in the parent.
//!
//! The container init only installs the ready instructions (`sys::seccomp::install`) as its last
//! step before `execve`; everything that can fail on a bad profile fails here, before any clone.
//!
//! # Semantics (runc with libseccomp)
//!
//! - Actions: `SCMP_ACT_KILL` and `SCMP_ACT_KILL_THREAD` kill the thread, `SCMP_ACT_KILL_PROCESS`
//!   the process, `SCMP_ACT_TRAP` sends `SIGSYS`, `SCMP_ACT_ERRNO` fails with `errnoRet` (default
//!   `EPERM`), `SCMP_ACT_TRACE` hands `errnoRet` (default `EPERM`) to a ptrace tracer (without a
//!   tracer the kernel fails the call with `ENOSYS`), `SCMP_ACT_LOG` allows and logs,
//!   `SCMP_ACT_ALLOW` allows. `defaultErrnoRet` applies to the default action the same way.
//!   `SCMP_ACT_NOTIFY` and `listenerPath` are refused: podrt has no seccomp agent support.
//! - A rule whose action (with its errno) equals the default action is dropped, as runc does.
//! - Syscall names unknown on this architecture are skipped with a debug event, as runc does:
//!   profiles list names for many architectures at once.
//! - Argument conditions of one rule are ANDed; rules for the same syscall are ORed. Values are
//!   compared as full 64-bit unsigned numbers, as libseccomp does on 64-bit architectures.
//!   `SCMP_CMP_MASKED_EQ` matches when `arg & value == valueTwo & value` (`value` is the mask).
//!   When one rule names the same argument index twice, every condition of that rule becomes a
//!   rule of its own (so they are ORed), which is what runc does for libseccomp's sake.
//! - For one syscall, an unconditional rule wins over conditional ones (the first unconditional
//!   rule if there are several), as in libseccomp; among conditional rules with different
//!   actions, the first one in profile order that matches wins.
//! - Like runc's `-ENOSYS` stub: unless the default action is permissive (`ALLOW`, `LOG`,
//!   `TRACE`) or already `ERRNO(ENOSYS)`, syscall numbers above the highest one the profile names
//!   fail with `ENOSYS`, so that libcs fall back from syscalls newer than the profile (runc only
//!   does this for architectures listed in `architectures`; podrt does it for the native one
//!   always).
//! - Architectures: the program covers the native architecture only (x86_64 or aarch64), whatever
//!   `architectures` lists. Syscalls made through another ABI (i386 `int 0x80`, x32 on x86_64,
//!   arm32 compat on aarch64) kill the process, as seccompiler's own arch check does; under runc
//!   they would be filtered by the per-arch rules of the profile instead.
//! - Flags: `SECCOMP_FILTER_FLAG_LOG` and `SECCOMP_FILTER_FLAG_SPEC_ALLOW` are passed to the
//!   kernel; `SECCOMP_FILTER_FLAG_TSYNC` is accepted and dropped (the init is single-threaded, and
//!   runc drops it too). oci-spec cannot represent any other flag: a config naming one fails to
//!   parse, like an unknown action or operator.
//! - No rule left and default `ALLOW`: no filter at all.
//!
//! # Filter layout
//!
//! seccompiler builds one program per (match action, mismatch action) pair, while a profile
//! mixes many actions (several errnos, kill, log...). Stacking one filter per action would make
//! the kernel run every filter on every syscall, and equal-precedence results (two `ERRNO`s)
//! would depend on install order. So podrt builds a single program and uses seccompiler only for
//! what it is good at, the argument comparisons of one rule (`SeccompRule` to BPF):
//!
//! ```text
//! A = arch;  A != native          -> KILL_PROCESS
//! A = nr;    x86_64 only: A >= 0x4000_0000 (x32 bit) and A != -1 -> KILL_PROCESS
//! binary search on A over intervals of the syscall-number space (JGE only, ~log2(n) steps);
//! each interval ends in its own code:
//!     gap between named syscalls   ret default
//!     above the highest named one  ret ERRNO(ENOSYS) (stub, see above) or ret default
//!     a named syscall              [seccompiler rule; ret rule action]* ret fallback
//! ```
//!
//! Adjacent syscalls with identical code share an interval, so a long allow list becomes a few
//! dozen intervals. Docker's default profile on x86_64 compiles to 171 instructions, of which
//! at most 17 (11 on average) run per syscall, in about 0.1 ms: on a par with the binary tree
//! that runc asks libseccomp for, and far from a linear walk through 350 `JEQ`s.

// Other architectures have no syscall table: `compile` refuses them and the rest is unused.
#![cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use seccompiler::{
    sock_filter as Insn, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp,
    SeccompCondition, SeccompRule,
};

/// Why a seccomp profile cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The profile JSON does not parse (an unknown action, operator, architecture or flag ends
    /// up here, named by serde).
    #[error("parse seccomp profile")]
    ParseProfile(#[source] serde_json::Error),

    /// `SCMP_ACT_NOTIFY` needs a seccomp agent, which podrt does not support.
    #[error("seccomp action SCMP_ACT_NOTIFY is not supported by podrt (used by {location})")]
    NotifyUnsupported { location: String },

    /// `listenerPath` is only meaningful with `SCMP_ACT_NOTIFY`.
    #[error(
        "seccomp listenerPath {} is not supported by podrt (it serves SCMP_ACT_NOTIFY only)",
        path.display()
    )]
    ListenerPathUnsupported { path: PathBuf },

    /// A rule with an empty `names` list (the runtime spec requires at least one).
    #[error("seccomp {location} names no syscall (at least one name is required)")]
    EmptyNames { location: String },

    /// A rule listing `""` as a syscall name.
    #[error("seccomp {location} contains an empty syscall name")]
    EmptySyscallName { location: String },

    /// An argument condition on an index past the sixth argument.
    #[error(
        "seccomp argument index {index} in {location} is out of range \
         (syscalls have arguments 0 to 5)"
    )]
    ArgIndexOutOfRange { location: String, index: usize },

    /// An `errnoRet`/`defaultErrnoRet` the kernel cannot carry for that action.
    #[error("seccomp {field} {value} for {action} in {location} is out of range (0 to {max})")]
    ErrnoRetOutOfRange {
        location: String,
        field: &'static str,
        action: LinuxSeccompAction,
        value: u32,
        max: u32,
    },

    /// seccompiler refused the argument conditions of a rule.
    #[error("compile seccomp argument conditions for syscall {syscall}")]
    CompileRule {
        syscall: String,
        #[source]
        source: seccompiler::BackendError,
    },

    /// The program is longer than the kernel accepts for one filter.
    #[error(
        "seccomp profile compiles to {len} bpf instructions, over the kernel limit of {max}; \
         hint: fewer argument conditions make a shorter program"
    )]
    FilterTooLarge { len: usize, max: usize },

    /// podrt has no syscall table for this architecture.
    #[error("seccomp is not supported by podrt on {arch} (only x86_64 and aarch64)")]
    UnsupportedArch { arch: &'static str },
}

/// A profile compiled for the native architecture, ready for `sys::seccomp::install`.
#[derive(Debug, Clone)]
pub struct CompiledSeccomp {
    /// BPF programs in install order: none (nothing to filter) or one.
    pub filters: Vec<Vec<libc::sock_filter>>,
    /// `SECCOMP_FILTER_FLAG_*` bits passed with every filter.
    pub flags: u32,
}

impl CompiledSeccomp {
    /// True when there is nothing to install.
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }
}

/// Parses a profile in the OCI `linux.seccomp` JSON form (for profiles that come from a file
/// rather than from config.json).
pub fn parse_profile(json: &[u8]) -> Result<LinuxSeccomp, SeccompError> {
    serde_json::from_slice(json).map_err(SeccompError::ParseProfile)
}

/// Compiles `profile` into BPF for the native architecture (see the module docs for the exact
/// semantics and the program layout).
///
/// Only the native architecture is covered, whatever `architectures` lists: a syscall made
/// through another ABI (x86 `int 0x80` or x32 on x86_64, arm32 compat on aarch64) kills the
/// process, as seccompiler's own arch check does.
pub fn compile(profile: &LinuxSeccomp) -> Result<CompiledSeccomp, SeccompError> {
    let native = NATIVE.ok_or(SeccompError::UnsupportedArch {
        arch: std::env::consts::ARCH,
    })?;
    if let Some(path) = profile.listener_path() {
        return Err(SeccompError::ListenerPathUnsupported { path: path.clone() });
    }
    let default = resolve_action(
        profile.default_action(),
        profile.default_errno_ret(),
        "defaultErrnoRet",
        &|| "the default action".to_owned(),
    )?;
    let flags = filter_flags(profile.flags().as_deref().unwrap_or_default());
    if let Some(arches) = profile.architectures() {
        tracing::debug!(
            ?arches,
            native = native.name,
            "seccomp filter covers the native architecture only"
        );
    }

    let mut syscalls: BTreeMap<u32, SyscallRules<'_>> = BTreeMap::new();
    let mut highest_named: Option<u32> = None;
    for (index, rule) in profile.syscalls().iter().flatten().enumerate() {
        let location = || describe_rule(index, rule.names());
        if rule.names().is_empty() {
            return Err(SeccompError::EmptyNames {
                location: format!("syscalls[{index}]"),
            });
        }
        let action = resolve_action(rule.action(), rule.errno_ret(), "errnoRet", &location)?;
        let matcher = matcher(rule.args().as_deref().unwrap_or_default(), &location)?;
        for name in rule.names() {
            if name.is_empty() {
                return Err(SeccompError::EmptySyscallName {
                    location: location(),
                });
            }
            let Some(nr) = native.syscall_number(name) else {
                tracing::debug!(syscall = %name, "unknown seccomp syscall ignored");
                continue;
            };
            highest_named = highest_named.max(Some(nr));
            if action == default {
                continue;
            }
            syscalls
                .entry(nr)
                .or_insert_with(|| SyscallRules::new(name))
                .add(&action, &matcher);
        }
    }

    if syscalls.is_empty() && default == SeccompAction::Allow {
        tracing::debug!("seccomp profile allows everything: no filter");
        return Ok(CompiledSeccomp {
            filters: Vec::new(),
            flags,
        });
    }

    let permissive = matches!(
        default,
        SeccompAction::Allow | SeccompAction::Log | SeccompAction::Trace(_)
    );
    let enosys_above = highest_named.filter(|_| !permissive && default != errno(libc::ENOSYS));

    let mut blocks = BTreeMap::new();
    for (nr, rules) in syscalls {
        blocks.insert(nr, rules.into_bpf(&default)?);
    }
    let mut program = native.prelude();
    program.extend(search(&intervals(blocks, &default, enosys_above)));
    if program.len() > BPF_MAX_LEN {
        return Err(SeccompError::FilterTooLarge {
            len: program.len(),
            max: BPF_MAX_LEN,
        });
    }
    tracing::debug!(
        instructions = program.len(),
        flags,
        "seccomp profile compiled"
    );
    let program = program
        .into_iter()
        .map(|insn| libc::sock_filter {
            code: insn.code,
            jt: insn.jt,
            jf: insn.jf,
            k: insn.k,
        })
        .collect();
    Ok(CompiledSeccomp {
        filters: vec![program],
        flags,
    })
}

/// Largest errno the kernel returns (`MAX_ERRNO`); bigger `SECCOMP_RET_ERRNO` data is clamped.
const MAX_ERRNO: u32 = 4095;
/// Width of `SECCOMP_RET_DATA`, the trace message.
const MAX_RET_DATA: u32 = 0xffff;
/// Syscalls have arguments 0 to 5.
const MAX_ARG_INDEX: u8 = 5;
/// `BPF_MAXINSNS`: the longest program the kernel accepts for one filter.
const BPF_MAX_LEN: usize = 4096;

/// `SECCOMP_FILTER_FLAG_LOG`.
const FILTER_FLAG_LOG: u32 = 1 << 1;
/// `SECCOMP_FILTER_FLAG_SPEC_ALLOW`.
const FILTER_FLAG_SPEC_ALLOW: u32 = 1 << 2;

/// Offsets in `struct seccomp_data { int nr; __u32 arch; __u64 ip; __u64 args[6]; }`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

/// Classic BPF opcodes (linux/bpf_common.h) used outside seccompiler's rules.
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JA: u16 = 0x05;
const BPF_JMP_JEQ_K: u16 = 0x15;
const BPF_JMP_JGE_K: u16 = 0x35;
const BPF_RET_K: u16 = 0x06;

fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code, jt, jf, k }
}

fn ret(action: &SeccompAction) -> Insn {
    stmt(BPF_RET_K, u32::from(action.clone()))
}

fn errno(errno: i32) -> SeccompAction {
    SeccompAction::Errno(errno.unsigned_abs())
}

/// The native architecture as the filter sees it.
#[derive(Debug, Clone, Copy)]
struct NativeArch {
    name: &'static str,
    /// `AUDIT_ARCH_*` value of `seccomp_data.arch`.
    audit_arch: u32,
    /// `__X32_SYSCALL_BIT` on x86_64: x32 syscalls share the x86_64 audit arch.
    x32_bit: Option<u32>,
    /// Syscall names and numbers, sorted by name.
    syscalls: &'static [(&'static str, u32)],
}

impl NativeArch {
    fn syscall_number(&self, name: &str) -> Option<u32> {
        self.syscalls
            .binary_search_by(|(candidate, _)| (*candidate).cmp(name))
            .ok()
            .map(|at| self.syscalls[at].1)
    }

    /// Arch check, then `A = nr` (and the x32 check on x86_64).
    fn prelude(&self) -> Vec<Insn> {
        let kill = ret(&SeccompAction::KillProcess);
        let mut code = vec![
            stmt(BPF_LD_W_ABS, DATA_ARCH),
            jump(BPF_JMP_JEQ_K, self.audit_arch, 1, 0),
            kill.clone(),
            stmt(BPF_LD_W_ABS, DATA_NR),
        ];
        if let Some(x32_bit) = self.x32_bit {
            // From the x32 bit up: x32 calls or no syscall at all. Except nr -1, which a
            // tracer sets to skip a syscall: it goes on to the search like any other number.
            code.extend([
                jump(BPF_JMP_JGE_K, x32_bit, 0, 2),
                jump(BPF_JMP_JEQ_K, u32::MAX, 1, 0),
                kill,
            ]);
        }
        code
    }
}

#[cfg(target_arch = "x86_64")]
const NATIVE: Option<NativeArch> = Some(NativeArch {
    name: "x86_64",
    audit_arch: 0xc000_003e,
    x32_bit: Some(0x4000_0000),
    syscalls: syscall_table::X86_64,
});

#[cfg(target_arch = "aarch64")]
const NATIVE: Option<NativeArch> = Some(NativeArch {
    name: "aarch64",
    audit_arch: 0xc000_00b7,
    x32_bit: None,
    syscalls: syscall_table::AARCH64,
});

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const NATIVE: Option<NativeArch> = None;

/// "syscalls[3]: mkdir, mkdirat" (long lists shortened) for error messages.
fn describe_rule(index: usize, names: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = format!("syscalls[{index}]: ");
    text.push_str(&names[..names.len().min(SHOWN)].join(", "));
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

fn resolve_action(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: &'static str,
    location: &dyn Fn() -> String,
) -> Result<SeccompAction, SeccompError> {
    let data = |max: u32| {
        let value = errno_ret.unwrap_or(libc::EPERM.unsigned_abs());
        if value > max {
            return Err(SeccompError::ErrnoRetOutOfRange {
                location: location(),
                field,
                action,
                value,
                max,
            });
        }
        Ok(value)
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            SeccompAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActErrno => SeccompAction::Errno(data(MAX_ERRNO)?),
        LinuxSeccompAction::ScmpActTrace => SeccompAction::Trace(data(MAX_RET_DATA)?),
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(SeccompError::NotifyUnsupported {
                location: location(),
            })
        }
    })
}

fn filter_flags(flags: &[LinuxSeccompFilterFlag]) -> u32 {
    flags.iter().fold(0, |bits, flag| {
        bits | match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FILTER_FLAG_SPEC_ALLOW,
            // One thread calls seccomp() in the init: nothing to synchronise.
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 0,
        }
    })
}

/// One argument comparison, validated.
#[derive(Debug, Clone, PartialEq)]
struct Condition {
    index: u8,
    op: SeccompCmpOp,
    value: u64,
}

/// When a rule applies to its syscalls.
#[derive(Debug, Clone)]
enum Matcher {
    Always,
    /// Any of these AND-lists of conditions (each list non-empty).
    AnyOf(Vec<Vec<Condition>>),
}

fn matcher(
    args: &[LinuxSeccompArg],
    location: &dyn Fn() -> String,
) -> Result<Matcher, SeccompError> {
    if args.is_empty() {
        return Ok(Matcher::Always);
    }
    let mut seen = [false; 6];
    let mut repeated = false;
    let mut conditions = Vec::with_capacity(args.len());
    for arg in args {
        let index = u8::try_from(arg.index())
            .ok()
            .filter(|index| *index <= MAX_ARG_INDEX)
            .ok_or_else(|| SeccompError::ArgIndexOutOfRange {
                location: location(),
                index: arg.index(),
            })?;
        repeated |= std::mem::replace(&mut seen[usize::from(index)], true);
        let (op, value) = match arg.op() {
            LinuxSeccompOperator::ScmpCmpNe => (SeccompCmpOp::Ne, arg.value()),
            LinuxSeccompOperator::ScmpCmpLt => (SeccompCmpOp::Lt, arg.value()),
            LinuxSeccompOperator::ScmpCmpLe => (SeccompCmpOp::Le, arg.value()),
            LinuxSeccompOperator::ScmpCmpEq => (SeccompCmpOp::Eq, arg.value()),
            LinuxSeccompOperator::ScmpCmpGe => (SeccompCmpOp::Ge, arg.value()),
            LinuxSeccompOperator::ScmpCmpGt => (SeccompCmpOp::Gt, arg.value()),
            // libseccomp: datum_a is the mask, datum_b the value compared after masking.
            LinuxSeccompOperator::ScmpCmpMaskedEq => (
                SeccompCmpOp::MaskedEq(arg.value()),
                arg.value_two().unwrap_or(0),
            ),
        };
        conditions.push(Condition { index, op, value });
    }
    Ok(if repeated {
        // runc's fallback for libseccomp, which refuses two conditions on one argument.
        Matcher::AnyOf(conditions.into_iter().map(|c| vec![c]).collect())
    } else {
        Matcher::AnyOf(vec![conditions])
    })
}

/// Everything the profile says about one syscall number.
#[derive(Debug)]
struct SyscallRules<'a> {
    /// First name seen for this number, for error messages.
    name: &'a str,
    /// Action of the first unconditional rule: overrides all conditional rules.
    unconditional: Option<SeccompAction>,
    /// Conditional rules in profile order; the first that matches wins.
    conditional: Vec<(Vec<Condition>, SeccompAction)>,
}

impl<'a> SyscallRules<'a> {
    fn new(name: &'a str) -> Self {
        Self {
            name,
            unconditional: None,
            conditional: Vec::new(),
        }
    }

    fn add(&mut self, action: &SeccompAction, matcher: &Matcher) {
        match matcher {
            Matcher::Always => {
                self.unconditional.get_or_insert_with(|| action.clone());
            }
            Matcher::AnyOf(alternatives) => {
                for conditions in alternatives {
                    // A later rule with the same conditions could never be reached.
                    if !self.conditional.iter().any(|(seen, _)| seen == conditions) {
                        self.conditional.push((conditions.clone(), action.clone()));
                    }
                }
            }
        }
    }

    /// `[rule; ret action]* ret fallback`. A seccompiler rule falls through to the next
    /// instruction when all its conditions hold and jumps just past that instruction otherwise.
    fn into_bpf(self, default: &SeccompAction) -> Result<Vec<Insn>, SeccompError> {
        if let Some(action) = &self.unconditional {
            return Ok(vec![ret(action)]);
        }
        let compile_error = |source| SeccompError::CompileRule {
            syscall: self.name.to_owned(),
            source,
        };
        let mut code = Vec::new();
        for (conditions, action) in &self.conditional {
            let conditions = conditions
                .iter()
                .map(|c| {
                    SeccompCondition::new(c.index, SeccompCmpArgLen::Qword, c.op.clone(), c.value)
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(compile_error)?;
            let rule = SeccompRule::new(conditions).map_err(compile_error)?;
            code.extend(rule_body(BpfProgram::from(rule)));
            code.push(ret(action));
        }
        code.push(ret(default));
        Ok(code)
    }
}

/// seccompiler starts every rule with `ja +1; ja <past the rule's action>`: the second jump is
/// how its own filters skip a syscall's whole chain, which this layout never does, so both go
/// (the conditions only jump forward, relative to themselves). The golden tests pin this shape.
fn rule_body(rule: BpfProgram) -> BpfProgram {
    match rule.as_slice() {
        [enter, _skip, ..] if enter.code == BPF_JMP_JA && enter.k == 1 => rule[2..].to_vec(),
        _ => rule,
    }
}

/// A run of syscall numbers, from `start` to the next interval's start, sharing `code`.
#[derive(Debug)]
struct Interval {
    start: u32,
    code: Vec<Insn>,
}

/// Covers the whole `u32` range of syscall numbers, merging neighbours with the same code.
fn intervals(
    blocks: BTreeMap<u32, Vec<Insn>>,
    default: &SeccompAction,
    enosys_above: Option<u32>,
) -> Vec<Interval> {
    let gap = vec![ret(default)];
    let mut out: Vec<Interval> = Vec::new();
    let mut push = |start: u32, code: Vec<Insn>| {
        if out.last().is_none_or(|last| last.code != code) {
            out.push(Interval { start, code });
        }
    };
    // Syscall numbers are far below u32::MAX, so `nr + 1` cannot overflow.
    let mut next = 0;
    for (nr, code) in blocks {
        if nr > next {
            push(next, gap.clone());
        }
        push(nr, code);
        next = nr.saturating_add(1);
    }
    match enosys_above {
        Some(highest) => {
            let first_unnamed = highest.saturating_add(1);
            if first_unnamed > next {
                push(next, gap.clone());
            }
            push(first_unnamed.max(next), vec![ret(&errno(libc::ENOSYS))]);
        }
        None => push(next, gap),
    }
    out
}

/// Binary search over `intervals` with `A = nr`: each node is `JGE start_of_right_half`, with
/// the left half right behind it; leaves are the intervals' own code (which always returns).
fn search(intervals: &[Interval]) -> Vec<Insn> {
    let [first, ..] = intervals else {
        return Vec::new();
    };
    if intervals.len() == 1 {
        return first.code.clone();
    }
    let (left, right) = intervals.split_at(intervals.len() / 2);
    let left = search(left);
    let mut code = Vec::with_capacity(left.len() + 2);
    match u8::try_from(left.len()) {
        Ok(skip) => code.push(jump(BPF_JMP_JGE_K, right[0].start, skip, 0)),
        Err(_) => {
            // Too far for a conditional jump: JGE falls into an unconditional long jump.
            let skip = u32::try_from(left.len()).unwrap_or(u32::MAX);
            code.push(jump(BPF_JMP_JGE_K, right[0].start, 0, 1));
            code.push(stmt(BPF_JMP_JA, skip));
        }
    }
    code.extend(left);
    code.extend(search(right));
    code
}

/// Syscall numbers by name for each supported architecture, sorted by name.
///
/// Numbers are kernel ABI and never change. Generated from seccompiler 0.5's tables (Linux 6.12,
/// themselves generated from the kernel headers) plus the syscalls added up to Linux 6.18
/// (`setxattrat`..`file_setattr`, 463-469, and x86_64 `uprobe`, 336); the tests check them
/// against every `libc::SYS_*` constant the libc crate has.
mod syscall_table {
    #[cfg(target_arch = "x86_64")]
    #[rustfmt::skip]
    pub(super) const X86_64: &[(&str, u32)] = &[
        ("_sysctl", 156), ("accept", 43), ("accept4", 288), ("access", 21), ("acct", 163),
        ("add_key", 248), ("adjtimex", 159), ("afs_syscall", 183), ("alarm", 37),
        ("arch_prctl", 158), ("bind", 49), ("bpf", 321), ("brk", 12), ("cachestat", 451),
        ("capget", 125), ("capset", 126), ("chdir", 80), ("chmod", 90), ("chown", 92),
        ("chroot", 161), ("clock_adjtime", 305), ("clock_getres", 229), ("clock_gettime", 228),
        ("clock_nanosleep", 230), ("clock_settime", 227), ("clone", 56), ("clone3", 435),
        ("close", 3), ("close_range", 436), ("connect", 42), ("copy_file_range", 326),
        ("creat", 85), ("create_module", 174), ("delete_module", 176), ("dup", 32), ("dup2", 33),
        ("dup3", 292), ("epoll_create", 213), ("epoll_create1", 291), ("epoll_ctl", 233),
        ("epoll_ctl_old", 214), ("epoll_pwait", 281), ("epoll_pwait2", 441), ("epoll_wait", 232),
        ("epoll_wait_old", 215), ("eventfd", 284), ("eventfd2", 290), ("execve", 59),
        ("execveat", 322), ("exit", 60), ("exit_group", 231), ("faccessat", 269),
        ("faccessat2", 439), ("fadvise64", 221), ("fallocate", 285), ("fanotify_init", 300),
        ("fanotify_mark", 301), ("fchdir", 81), ("fchmod", 91), ("fchmodat", 268),
        ("fchmodat2", 452), ("fchown", 93), ("fchownat", 260), ("fcntl", 72), ("fdatasync", 75),
        ("fgetxattr", 193), ("file_getattr", 468), ("file_setattr", 469), ("finit_module", 313),
        ("flistxattr", 196), ("flock", 73), ("fork", 57), ("fremovexattr", 199), ("fsconfig", 431),
        ("fsetxattr", 190), ("fsmount", 432), ("fsopen", 430), ("fspick", 433), ("fstat", 5),
        ("fstatfs", 138), ("fsync", 74), ("ftruncate", 77), ("futex", 202), ("futex_requeue", 456),
        ("futex_wait", 455), ("futex_waitv", 449), ("futex_wake", 454), ("futimesat", 261),
        ("get_kernel_syms", 177), ("get_mempolicy", 239), ("get_robust_list", 274),
        ("get_thread_area", 211), ("getcpu", 309), ("getcwd", 79), ("getdents", 78),
        ("getdents64", 217), ("getegid", 108), ("geteuid", 107), ("getgid", 104),
        ("getgroups", 115), ("getitimer", 36), ("getpeername", 52), ("getpgid", 121),
        ("getpgrp", 111), ("getpid", 39), ("getpmsg", 181), ("getppid", 110), ("getpriority", 140),
        ("getrandom", 318), ("getresgid", 120), ("getresuid", 118), ("getrlimit", 97),
        ("getrusage", 98), ("getsid", 124), ("getsockname", 51), ("getsockopt", 55),
        ("gettid", 186), ("gettimeofday", 96), ("getuid", 102), ("getxattr", 191),
        ("getxattrat", 464), ("init_module", 175), ("inotify_add_watch", 254),
        ("inotify_init", 253), ("inotify_init1", 294), ("inotify_rm_watch", 255),
        ("io_cancel", 210), ("io_destroy", 207), ("io_getevents", 208), ("io_pgetevents", 333),
        ("io_setup", 206), ("io_submit", 209), ("io_uring_enter", 426), ("io_uring_register", 427),
        ("io_uring_setup", 425), ("ioctl", 16), ("ioperm", 173), ("iopl", 172), ("ioprio_get", 252),
        ("ioprio_set", 251), ("kcmp", 312), ("kexec_file_load", 320), ("kexec_load", 246),
        ("keyctl", 250), ("kill", 62), ("landlock_add_rule", 445), ("landlock_create_ruleset", 444),
        ("landlock_restrict_self", 446), ("lchown", 94), ("lgetxattr", 192), ("link", 86),
        ("linkat", 265), ("listen", 50), ("listmount", 458), ("listxattr", 194),
        ("listxattrat", 465), ("llistxattr", 195), ("lookup_dcookie", 212), ("lremovexattr", 198),
        ("lseek", 8), ("lsetxattr", 189), ("lsm_get_self_attr", 459), ("lsm_list_modules", 461),
        ("lsm_set_self_attr", 460), ("lstat", 6), ("madvise", 28), ("map_shadow_stack", 453),
        ("mbind", 237), ("membarrier", 324), ("memfd_create", 319), ("memfd_secret", 447),
        ("migrate_pages", 256), ("mincore", 27), ("mkdir", 83), ("mkdirat", 258), ("mknod", 133),
        ("mknodat", 259), ("mlock", 149), ("mlock2", 325), ("mlockall", 151), ("mmap", 9),
        ("modify_ldt", 154), ("mount", 165), ("mount_setattr", 442), ("move_mount", 429),
        ("move_pages", 279), ("mprotect", 10), ("mq_getsetattr", 245), ("mq_notify", 244),
        ("mq_open", 240), ("mq_timedreceive", 243), ("mq_timedsend", 242), ("mq_unlink", 241),
        ("mremap", 25), ("mseal", 462), ("msgctl", 71), ("msgget", 68), ("msgrcv", 70),
        ("msgsnd", 69), ("msync", 26), ("munlock", 150), ("munlockall", 152), ("munmap", 11),
        ("name_to_handle_at", 303), ("nanosleep", 35), ("newfstatat", 262), ("nfsservctl", 180),
        ("open", 2), ("open_by_handle_at", 304), ("open_tree", 428), ("open_tree_attr", 467),
        ("openat", 257), ("openat2", 437), ("pause", 34), ("perf_event_open", 298),
        ("personality", 135), ("pidfd_getfd", 438), ("pidfd_open", 434), ("pidfd_send_signal", 424),
        ("pipe", 22), ("pipe2", 293), ("pivot_root", 155), ("pkey_alloc", 330), ("pkey_free", 331),
        ("pkey_mprotect", 329), ("poll", 7), ("ppoll", 271), ("prctl", 157), ("pread64", 17),
        ("preadv", 295), ("preadv2", 327), ("prlimit64", 302), ("process_madvise", 440),
        ("process_mrelease", 448), ("process_vm_readv", 310), ("process_vm_writev", 311),
        ("pselect6", 270), ("ptrace", 101), ("putpmsg", 182), ("pwrite64", 18), ("pwritev", 296),
        ("pwritev2", 328), ("query_module", 178), ("quotactl", 179), ("quotactl_fd", 443),
        ("read", 0), ("readahead", 187), ("readlink", 89), ("readlinkat", 267), ("readv", 19),
        ("reboot", 169), ("recvfrom", 45), ("recvmmsg", 299), ("recvmsg", 47),
        ("remap_file_pages", 216), ("removexattr", 197), ("removexattrat", 466), ("rename", 82),
        ("renameat", 264), ("renameat2", 316), ("request_key", 249), ("restart_syscall", 219),
        ("rmdir", 84), ("rseq", 334), ("rt_sigaction", 13), ("rt_sigpending", 127),
        ("rt_sigprocmask", 14), ("rt_sigqueueinfo", 129), ("rt_sigreturn", 15),
        ("rt_sigsuspend", 130), ("rt_sigtimedwait", 128), ("rt_tgsigqueueinfo", 297),
        ("sched_get_priority_max", 146), ("sched_get_priority_min", 147),
        ("sched_getaffinity", 204), ("sched_getattr", 315), ("sched_getparam", 143),
        ("sched_getscheduler", 145), ("sched_rr_get_interval", 148), ("sched_setaffinity", 203),
        ("sched_setattr", 314), ("sched_setparam", 142), ("sched_setscheduler", 144),
        ("sched_yield", 24), ("seccomp", 317), ("security", 185), ("select", 23), ("semctl", 66),
        ("semget", 64), ("semop", 65), ("semtimedop", 220), ("sendfile", 40), ("sendmmsg", 307),
        ("sendmsg", 46), ("sendto", 44), ("set_mempolicy", 238), ("set_mempolicy_home_node", 450),
        ("set_robust_list", 273), ("set_thread_area", 205), ("set_tid_address", 218),
        ("setdomainname", 171), ("setfsgid", 123), ("setfsuid", 122), ("setgid", 106),
        ("setgroups", 116), ("sethostname", 170), ("setitimer", 38), ("setns", 308),
        ("setpgid", 109), ("setpriority", 141), ("setregid", 114), ("setresgid", 119),
        ("setresuid", 117), ("setreuid", 113), ("setrlimit", 160), ("setsid", 112),
        ("setsockopt", 54), ("settimeofday", 164), ("setuid", 105), ("setxattr", 188),
        ("setxattrat", 463), ("shmat", 30), ("shmctl", 31), ("shmdt", 67), ("shmget", 29),
        ("shutdown", 48), ("sigaltstack", 131), ("signalfd", 282), ("signalfd4", 289),
        ("socket", 41), ("socketpair", 53), ("splice", 275), ("stat", 4), ("statfs", 137),
        ("statmount", 457), ("statx", 332), ("swapoff", 168), ("swapon", 167), ("symlink", 88),
        ("symlinkat", 266), ("sync", 162), ("sync_file_range", 277), ("syncfs", 306),
        ("sysfs", 139), ("sysinfo", 99), ("syslog", 103), ("tee", 276), ("tgkill", 234),
        ("time", 201), ("timer_create", 222), ("timer_delete", 226), ("timer_getoverrun", 225),
        ("timer_gettime", 224), ("timer_settime", 223), ("timerfd_create", 283),
        ("timerfd_gettime", 287), ("timerfd_settime", 286), ("times", 100), ("tkill", 200),
        ("truncate", 76), ("tuxcall", 184), ("umask", 95), ("umount2", 166), ("uname", 63),
        ("unlink", 87), ("unlinkat", 263), ("unshare", 272), ("uprobe", 336), ("uretprobe", 335),
        ("uselib", 134), ("userfaultfd", 323), ("ustat", 136), ("utime", 132), ("utimensat", 280),
        ("utimes", 235), ("vfork", 58), ("vhangup", 153), ("vmsplice", 278), ("vserver", 236),
        ("wait4", 61), ("waitid", 247), ("write", 1), ("writev", 20),
    ];

    #[cfg(target_arch = "aarch64")]
    #[rustfmt::skip]
    pub(super) const AARCH64: &[(&str, u32)] = &[
        ("accept", 202), ("accept4", 242), ("acct", 89), ("add_key", 217), ("adjtimex", 171),
        ("bind", 200), ("bpf", 280), ("brk", 214), ("cachestat", 451), ("capget", 90),
        ("capset", 91), ("chdir", 49), ("chroot", 51), ("clock_adjtime", 266),
        ("clock_getres", 114), ("clock_gettime", 113), ("clock_nanosleep", 115),
        ("clock_settime", 112), ("clone", 220), ("clone3", 435), ("close", 57),
        ("close_range", 436), ("connect", 203), ("copy_file_range", 285), ("delete_module", 106),
        ("dup", 23), ("dup3", 24), ("epoll_create1", 20), ("epoll_ctl", 21), ("epoll_pwait", 22),
        ("epoll_pwait2", 441), ("eventfd2", 19), ("execve", 221), ("execveat", 281), ("exit", 93),
        ("exit_group", 94), ("faccessat", 48), ("faccessat2", 439), ("fadvise64", 223),
        ("fallocate", 47), ("fanotify_init", 262), ("fanotify_mark", 263), ("fchdir", 50),
        ("fchmod", 52), ("fchmodat", 53), ("fchmodat2", 452), ("fchown", 55), ("fchownat", 54),
        ("fcntl", 25), ("fdatasync", 83), ("fgetxattr", 10), ("file_getattr", 468),
        ("file_setattr", 469), ("finit_module", 273), ("flistxattr", 13), ("flock", 32),
        ("fremovexattr", 16), ("fsconfig", 431), ("fsetxattr", 7), ("fsmount", 432),
        ("fsopen", 430), ("fspick", 433), ("fstat", 80), ("fstatfs", 44), ("fsync", 82),
        ("ftruncate", 46), ("futex", 98), ("futex_requeue", 456), ("futex_wait", 455),
        ("futex_waitv", 449), ("futex_wake", 454), ("get_mempolicy", 236), ("get_robust_list", 100),
        ("getcpu", 168), ("getcwd", 17), ("getdents64", 61), ("getegid", 177), ("geteuid", 175),
        ("getgid", 176), ("getgroups", 158), ("getitimer", 102), ("getpeername", 205),
        ("getpgid", 155), ("getpid", 172), ("getppid", 173), ("getpriority", 141),
        ("getrandom", 278), ("getresgid", 150), ("getresuid", 148), ("getrlimit", 163),
        ("getrusage", 165), ("getsid", 156), ("getsockname", 204), ("getsockopt", 209),
        ("gettid", 178), ("gettimeofday", 169), ("getuid", 174), ("getxattr", 8),
        ("getxattrat", 464), ("init_module", 105), ("inotify_add_watch", 27), ("inotify_init1", 26),
        ("inotify_rm_watch", 28), ("io_cancel", 3), ("io_destroy", 1), ("io_getevents", 4),
        ("io_pgetevents", 292), ("io_setup", 0), ("io_submit", 2), ("io_uring_enter", 426),
        ("io_uring_register", 427), ("io_uring_setup", 425), ("ioctl", 29), ("ioprio_get", 31),
        ("ioprio_set", 30), ("kcmp", 272), ("kexec_file_load", 294), ("kexec_load", 104),
        ("keyctl", 219), ("kill", 129), ("landlock_add_rule", 445),
        ("landlock_create_ruleset", 444), ("landlock_restrict_self", 446), ("lgetxattr", 9),
        ("linkat", 37), ("listen", 201), ("listmount", 458), ("listxattr", 11),
        ("listxattrat", 465), ("llistxattr", 12), ("lookup_dcookie", 18), ("lremovexattr", 15),
        ("lseek", 62), ("lsetxattr", 6), ("lsm_get_self_attr", 459), ("lsm_list_modules", 461),
        ("lsm_set_self_attr", 460), ("madvise", 233), ("map_shadow_stack", 453), ("mbind", 235),
        ("membarrier", 283), ("memfd_create", 279), ("memfd_secret", 447), ("migrate_pages", 238),
        ("mincore", 232), ("mkdirat", 34), ("mknodat", 33), ("mlock", 228), ("mlock2", 284),
        ("mlockall", 230), ("mmap", 222), ("mount", 40), ("mount_setattr", 442),
        ("move_mount", 429), ("move_pages", 239), ("mprotect", 226), ("mq_getsetattr", 185),
        ("mq_notify", 184), ("mq_open", 180), ("mq_timedreceive", 183), ("mq_timedsend", 182),
        ("mq_unlink", 181), ("mremap", 216), ("mseal", 462), ("msgctl", 187), ("msgget", 186),
        ("msgrcv", 188), ("msgsnd", 189), ("msync", 227), ("munlock", 229), ("munlockall", 231),
        ("munmap", 215), ("name_to_handle_at", 264), ("nanosleep", 101), ("newfstatat", 79),
        ("nfsservctl", 42), ("open_by_handle_at", 265), ("open_tree", 428), ("open_tree_attr", 467),
        ("openat", 56), ("openat2", 437), ("perf_event_open", 241), ("personality", 92),
        ("pidfd_getfd", 438), ("pidfd_open", 434), ("pidfd_send_signal", 424), ("pipe2", 59),
        ("pivot_root", 41), ("pkey_alloc", 289), ("pkey_free", 290), ("pkey_mprotect", 288),
        ("ppoll", 73), ("prctl", 167), ("pread64", 67), ("preadv", 69), ("preadv2", 286),
        ("prlimit64", 261), ("process_madvise", 440), ("process_mrelease", 448),
        ("process_vm_readv", 270), ("process_vm_writev", 271), ("pselect6", 72), ("ptrace", 117),
        ("pwrite64", 68), ("pwritev", 70), ("pwritev2", 287), ("quotactl", 60),
        ("quotactl_fd", 443), ("read", 63), ("readahead", 213), ("readlinkat", 78), ("readv", 65),
        ("reboot", 142), ("recvfrom", 207), ("recvmmsg", 243), ("recvmsg", 212),
        ("remap_file_pages", 234), ("removexattr", 14), ("removexattrat", 466), ("renameat", 38),
        ("renameat2", 276), ("request_key", 218), ("restart_syscall", 128), ("rseq", 293),
        ("rt_sigaction", 134), ("rt_sigpending", 136), ("rt_sigprocmask", 135),
        ("rt_sigqueueinfo", 138), ("rt_sigreturn", 139), ("rt_sigsuspend", 133),
        ("rt_sigtimedwait", 137), ("rt_tgsigqueueinfo", 240), ("sched_get_priority_max", 125),
        ("sched_get_priority_min", 126), ("sched_getaffinity", 123), ("sched_getattr", 275),
        ("sched_getparam", 121), ("sched_getscheduler", 120), ("sched_rr_get_interval", 127),
        ("sched_setaffinity", 122), ("sched_setattr", 274), ("sched_setparam", 118),
        ("sched_setscheduler", 119), ("sched_yield", 124), ("seccomp", 277), ("semctl", 191),
        ("semget", 190), ("semop", 193), ("semtimedop", 192), ("sendfile", 71), ("sendmmsg", 269),
        ("sendmsg", 211), ("sendto", 206), ("set_mempolicy", 237), ("set_mempolicy_home_node", 450),
        ("set_robust_list", 99), ("set_tid_address", 96), ("setdomainname", 162), ("setfsgid", 152),
        ("setfsuid", 151), ("setgid", 144), ("setgroups", 159), ("sethostname", 161),
        ("setitimer", 103), ("setns", 268), ("setpgid", 154), ("setpriority", 140),
        ("setregid", 143), ("setresgid", 149), ("setresuid", 147), ("setreuid", 145),
        ("setrlimit", 164), ("setsid", 157), ("setsockopt", 208), ("settimeofday", 170),
        ("setuid", 146), ("setxattr", 5), ("setxattrat", 463), ("shmat", 196), ("shmctl", 195),
        ("shmdt", 197), ("shmget", 194), ("shutdown", 210), ("sigaltstack", 132), ("signalfd4", 74),
        ("socket", 198), ("socketpair", 199), ("splice", 76), ("statfs", 43), ("statmount", 457),
        ("statx", 291), ("swapoff", 225), ("swapon", 224), ("symlinkat", 36), ("sync", 81),
        ("sync_file_range", 84), ("syncfs", 267), ("sysinfo", 179), ("syslog", 116), ("tee", 77),
        ("tgkill", 131), ("timer_create", 107), ("timer_delete", 111), ("timer_getoverrun", 109),
        ("timer_gettime", 108), ("timer_settime", 110), ("timerfd_create", 85),
        ("timerfd_gettime", 87), ("timerfd_settime", 86), ("times", 153), ("tkill", 130),
        ("truncate", 45), ("umask", 166), ("umount2", 39), ("uname", 160), ("unlinkat", 35),
        ("unshare", 97), ("userfaultfd", 282), ("utimensat", 88), ("vhangup", 58), ("vmsplice", 75),
        ("wait4", 260), ("waitid", 95), ("write", 64), ("writev", 66),
    ];
}

/// The `linux.seccomp` part of `podrt features`: what `compile` accepts.
pub fn features() -> serde_json::Value {
    serde_json::json!({
        "enabled": true,
        "actions": available_actions(),
        "operators": [
            "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
            "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
        ],
        "archs": [native_arch_name()],
        "knownFlags": [
            "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
        ],
        "supportedFlags": [
            "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
        ]
    })
}

/// The actions `compile` accepts that this kernel offers (/proc/sys/kernel/seccomp/actions_avail,
/// as `podrt check` reads it); all of them when the file is missing (kernels before 4.14 lack
/// the file, not the basic actions).
fn available_actions() -> Vec<&'static str> {
    const ACTIONS: [(&str, &str); 8] = [
        ("SCMP_ACT_ALLOW", "allow"),
        ("SCMP_ACT_ERRNO", "errno"),
        ("SCMP_ACT_KILL", "kill_thread"),
        ("SCMP_ACT_KILL_PROCESS", "kill_process"),
        ("SCMP_ACT_KILL_THREAD", "kill_thread"),
        ("SCMP_ACT_LOG", "log"),
        ("SCMP_ACT_TRACE", "trace"),
        ("SCMP_ACT_TRAP", "trap"),
    ];
    let avail = std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail").ok();
    ACTIONS
        .iter()
        .filter(|(_, k)| {
            avail
                .as_deref()
                .is_none_or(|a| a.split_whitespace().any(|w| w == *k))
        })
        .map(|(o, _)| *o)
        .collect()
}

fn native_arch_name() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "SCMP_ARCH_AARCH64"
    } else {
        "SCMP_ARCH_X86_64"
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    use oci_spec::runtime::{LinuxSeccompArgBuilder, LinuxSyscall, LinuxSyscallBuilder};
    use proptest::prelude::*;

    pub(crate) use oci_spec::runtime::LinuxSeccompAction as Act;
    pub(crate) use oci_spec::runtime::LinuxSeccompOperator as Op;

    // ---- profile builders, shared with the kernel tests in sys_seccomp ----

    pub(crate) fn profile(
        default: Act,
        default_errno: Option<u32>,
        rules: Vec<LinuxSyscall>,
    ) -> LinuxSeccomp {
        let mut profile = LinuxSeccomp::default();
        profile.set_default_action(default);
        profile.set_default_errno_ret(default_errno);
        profile.set_syscalls(Some(rules));
        profile
    }

    pub(crate) fn rule(
        names: &[&str],
        action: Act,
        errno_ret: Option<u32>,
        args: Vec<LinuxSeccompArg>,
    ) -> LinuxSyscall {
        let mut rule = LinuxSyscallBuilder::default()
            .names(
                names
                    .iter()
                    .map(|name| (*name).to_owned())
                    .collect::<Vec<_>>(),
            )
            .action(action)
            .build()
            .expect("valid syscall rule");
        rule.set_errno_ret(errno_ret);
        rule.set_args((!args.is_empty()).then_some(args));
        rule
    }

    pub(crate) fn arg(index: usize, op: Op, value: u64, value_two: Option<u64>) -> LinuxSeccompArg {
        let builder = LinuxSeccompArgBuilder::default()
            .index(index)
            .op(op)
            .value(value);
        match value_two {
            Some(value_two) => builder.value_two(value_two),
            None => builder,
        }
        .build()
        .expect("valid argument condition")
    }

    pub(crate) fn errno_ret(errno: i32) -> Option<u32> {
        Some(errno.unsigned_abs())
    }

    /// A hand-written subset of the profile Docker and containerd put in config.json: default
    /// `ERRNO(EPERM)`, an allow list, `personality` and `clone` allowed only for some
    /// arguments, `clone3` failing with `ENOSYS` so that libcs fall back to `clone`.
    /// `dup2` and `socketcall` do not exist on aarch64 (`socketcall` not on x86_64 either).
    pub(crate) const DOCKER_LIKE_PROFILE: &str = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {
                "names": [
                    "access", "arch_prctl", "brk", "capget", "chdir", "clock_gettime", "close",
                    "dup", "dup2", "dup3", "execve", "exit", "exit_group", "fcntl", "fstat",
                    "futex", "getcwd", "getdents64", "getpid", "getppid", "getrandom", "getuid",
                    "ioctl", "lseek", "mmap", "mprotect", "munmap", "nanosleep", "newfstatat",
                    "openat", "pipe2", "prlimit64", "read", "rt_sigaction", "rt_sigprocmask",
                    "rt_sigreturn", "set_robust_list", "set_tid_address", "sigaltstack",
                    "socketcall", "uname", "wait4", "write"
                ],
                "action": "SCMP_ACT_ALLOW"
            },
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]
            },
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]
            },
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 131072, "op": "SCMP_CMP_EQ"}]
            },
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 131080, "op": "SCMP_CMP_EQ"}]
            },
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ"}]
            },
            {
                "names": ["clone"],
                "action": "SCMP_ACT_ALLOW",
                "args": [
                    {"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}
                ]
            },
            {
                "names": ["clone3"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 38
            }
        ]
    }"#;

    // ---- a classic BPF interpreter, to test programs without the kernel ----

    fn native() -> NativeArch {
        NATIVE.expect("tests run on a supported architecture")
    }

    pub(crate) fn nr(name: &str) -> u32 {
        native()
            .syscall_number(name)
            .unwrap_or_else(|| panic!("{name} is in the table"))
    }

    /// `struct seccomp_data` as the filter sees it.
    #[derive(Debug, Clone)]
    pub(crate) struct Data {
        pub nr: u32,
        pub arch: u32,
        pub args: [u64; 6],
    }

    impl Data {
        pub(crate) fn call(name: &str, args: &[u64]) -> Self {
            Self::raw(nr(name), args)
        }

        pub(crate) fn raw(nr: u32, args: &[u64]) -> Self {
            let mut all = [0; 6];
            all[..args.len()].copy_from_slice(args);
            Self {
                nr,
                arch: native().audit_arch,
                args: all,
            }
        }

        fn bytes(&self) -> [u8; 64] {
            let mut bytes = [0; 64];
            bytes[0..4].copy_from_slice(&self.nr.to_ne_bytes());
            bytes[4..8].copy_from_slice(&self.arch.to_ne_bytes());
            for (i, arg) in self.args.iter().enumerate() {
                bytes[16 + 8 * i..24 + 8 * i].copy_from_slice(&arg.to_ne_bytes());
            }
            bytes
        }
    }

    /// What the kernel's classic BPF checker insists on, for the instructions we emit.
    pub(crate) fn check_like_kernel(program: &[libc::sock_filter]) {
        assert!(!program.is_empty() && program.len() <= BPF_MAX_LEN);
        for (pc, insn) in program.iter().enumerate() {
            let target = |offset: u32| pc + 1 + usize::try_from(offset).unwrap();
            match insn.code {
                0x20 => assert!(insn.k % 4 == 0 && insn.k < 64, "ld out of seccomp_data"),
                0x54 | 0x06 => {}
                0x05 => assert!(target(insn.k) < program.len(), "ja past the end at {pc}"),
                0x15 | 0x25 | 0x35 | 0x45 => {
                    let far = u32::from(insn.jt.max(insn.jf));
                    assert!(target(far) < program.len(), "jump past the end at {pc}");
                }
                code => panic!("opcode {code:#x} at {pc}"),
            }
        }
        assert_eq!(
            program.last().unwrap().code,
            0x06,
            "last instruction is a ret"
        );
    }

    /// Runs a seccomp program on `data` and returns the `SECCOMP_RET_*` value.
    pub(crate) fn run(program: &[libc::sock_filter], data: &Data) -> u32 {
        execute(program, data).0
    }

    /// The `SECCOMP_RET_*` value and the number of instructions run to get it.
    fn execute(program: &[libc::sock_filter], data: &Data) -> (u32, usize) {
        let bytes = data.bytes();
        let (mut pc, mut a, mut steps) = (0usize, 0u32, 0usize);
        loop {
            let insn = program[pc];
            steps += 1;
            let k = insn.k;
            let branch = |taken: bool| 1 + usize::from(if taken { insn.jt } else { insn.jf });
            pc += match insn.code {
                0x20 => {
                    let at = usize::try_from(k).unwrap();
                    a = u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
                    1
                }
                0x54 => {
                    a &= k;
                    1
                }
                0x05 => 1 + usize::try_from(k).unwrap(),
                0x15 => branch(a == k),
                0x25 => branch(a > k),
                0x35 => branch(a >= k),
                0x45 => branch(a & k != 0),
                0x06 => return (k, steps),
                code => panic!("opcode {code:#x}"),
            };
        }
    }

    /// Compiles `profile` into exactly one filter, checked like the kernel would.
    pub(crate) fn one_filter(profile: &LinuxSeccomp) -> Vec<libc::sock_filter> {
        let compiled = compile(profile).expect("profile compiles");
        assert_eq!(compiled.filters.len(), 1, "one filter");
        check_like_kernel(&compiled.filters[0]);
        compiled.filters[0].clone()
    }

    const KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;
    const KILL_THREAD: u32 = libc::SECCOMP_RET_KILL_THREAD;
    const TRAP: u32 = libc::SECCOMP_RET_TRAP;
    const LOG: u32 = libc::SECCOMP_RET_LOG;
    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;

    fn ret_errno(errno: i32) -> u32 {
        libc::SECCOMP_RET_ERRNO | errno.unsigned_abs()
    }

    fn ret_trace(data: u32) -> u32 {
        libc::SECCOMP_RET_TRACE | data
    }

    /// A readable listing, for golden tests.
    #[cfg(target_arch = "x86_64")]
    fn listing(program: &[libc::sock_filter]) -> String {
        let mut text = String::new();
        for insn in program {
            let (k, jt, jf) = (insn.k, insn.jt, insn.jf);
            let line = match insn.code {
                0x20 => format!("ld [{k}]"),
                0x54 => format!("and #{k:#x}"),
                0x05 => format!("ja +{k}"),
                0x15 => format!("jeq #{k:#x} +{jt} +{jf}"),
                0x25 => format!("jgt #{k:#x} +{jt} +{jf}"),
                0x35 => format!("jge #{k:#x} +{jt} +{jf}"),
                0x06 => format!("ret #{k:#x}"),
                code => format!("{code:#x} {jt} {jf} {k:#x}"),
            };
            text.push_str(&line);
            text.push('\n');
        }
        text
    }

    // ---- the reference semantics, written from the profile alone ----

    fn model_action(action: Act, errno_ret: Option<u32>) -> u32 {
        let data = errno_ret.unwrap_or(1);
        match action {
            Act::ScmpActKill | Act::ScmpActKillThread => KILL_THREAD,
            Act::ScmpActKillProcess => KILL_PROCESS,
            Act::ScmpActTrap => TRAP,
            Act::ScmpActErrno => libc::SECCOMP_RET_ERRNO | data,
            Act::ScmpActTrace => libc::SECCOMP_RET_TRACE | data,
            Act::ScmpActLog => LOG,
            Act::ScmpActAllow => ALLOW,
            Act::ScmpActNotify => unreachable!("refused by compile"),
        }
    }

    fn model_arg_matches(arg: &LinuxSeccompArg, data: &Data) -> bool {
        let (actual, value) = (data.args[arg.index()], arg.value());
        match arg.op() {
            Op::ScmpCmpNe => actual != value,
            Op::ScmpCmpLt => actual < value,
            Op::ScmpCmpLe => actual <= value,
            Op::ScmpCmpEq => actual == value,
            Op::ScmpCmpGe => actual >= value,
            Op::ScmpCmpGt => actual > value,
            Op::ScmpCmpMaskedEq => actual & value == arg.value_two().unwrap_or(0) & value,
        }
    }

    /// What runc + libseccomp would return for `data`, for a profile `compile` accepted.
    fn model(profile: &LinuxSeccomp, data: &Data) -> u32 {
        let native = native();
        if data.arch != native.audit_arch {
            return KILL_PROCESS;
        }
        if let Some(bit) = native.x32_bit {
            if data.nr >= bit && data.nr != u32::MAX {
                return KILL_PROCESS;
            }
        }
        let default = model_action(profile.default_action(), profile.default_errno_ret());
        let rules = profile.syscalls().clone().unwrap_or_default();
        let known = |rule: &LinuxSyscall| {
            rule.names()
                .iter()
                .filter_map(|name| native.syscall_number(name))
                .collect::<Vec<_>>()
        };
        let highest = rules.iter().flat_map(known).max();
        let mut unconditional = None;
        let mut conditional = Vec::new();
        for rule in &rules {
            let action = model_action(rule.action(), rule.errno_ret());
            if action == default || !known(rule).contains(&data.nr) {
                continue;
            }
            match rule.args().clone().unwrap_or_default() {
                args if args.is_empty() => {
                    unconditional.get_or_insert(action);
                }
                args => conditional.push((args, action)),
            }
        }
        if let Some(action) = unconditional {
            return action;
        }
        for (args, action) in conditional {
            let mut indexes: Vec<_> = args.iter().map(|arg| arg.index()).collect();
            indexes.sort_unstable();
            let repeated = indexes.windows(2).any(|pair| pair[0] == pair[1]);
            let hit = |arg: &LinuxSeccompArg| model_arg_matches(arg, data);
            if (repeated && args.iter().any(hit)) || (!repeated && args.iter().all(hit)) {
                return action;
            }
        }
        let permissive = matches!(
            profile.default_action(),
            Act::ScmpActAllow | Act::ScmpActLog | Act::ScmpActTrace
        );
        match highest {
            Some(highest)
                if !permissive && default != ret_errno(libc::ENOSYS) && data.nr > highest =>
            {
                ret_errno(libc::ENOSYS)
            }
            _ => default,
        }
    }

    // ---- syscall table ----

    #[test]
    fn syscall_table_is_sorted_and_unique() {
        let table = native().syscalls;
        assert!(table.windows(2).all(|pair| pair[0].0 < pair[1].0));
        let mut numbers: Vec<_> = table.iter().map(|(_, nr)| *nr).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), table.len(), "no two names share a number");
        assert_eq!(native().syscall_number("getpid"), Some(nr("getpid")));
        assert_eq!(native().syscall_number("socketcall"), None);
        assert_eq!(native().syscall_number(""), None);
        assert_eq!(native().syscall_number("file_setattr"), Some(469));
    }

    /// Every `libc::SYS_*` constant of this target has the same number in our table.
    #[test]
    fn syscall_table_matches_libc() {
        macro_rules! check {
            ($($constant:ident,)*) => {$(
                let name = stringify!($constant).trim_start_matches("SYS_");
                assert_eq!(
                    native().syscall_number(name).map(i64::from),
                    Some(i64::from(libc::$constant)),
                    "{name}",
                );
            )*};
        }
        #[cfg(target_arch = "x86_64")]
        #[rustfmt::skip]
        check!(
            SYS__sysctl, SYS_accept, SYS_accept4, SYS_access, SYS_acct, SYS_add_key, SYS_adjtimex,
            SYS_afs_syscall, SYS_alarm, SYS_arch_prctl, SYS_bind, SYS_bpf, SYS_brk, SYS_capget,
            SYS_capset, SYS_chdir, SYS_chmod, SYS_chown, SYS_chroot, SYS_clock_adjtime,
            SYS_clock_getres, SYS_clock_gettime, SYS_clock_nanosleep, SYS_clock_settime, SYS_clone,
            SYS_clone3, SYS_close, SYS_close_range, SYS_connect, SYS_copy_file_range, SYS_creat,
            SYS_delete_module, SYS_dup, SYS_dup2, SYS_dup3, SYS_epoll_create, SYS_epoll_create1,
            SYS_epoll_ctl, SYS_epoll_ctl_old, SYS_epoll_pwait, SYS_epoll_pwait2, SYS_epoll_wait,
            SYS_epoll_wait_old, SYS_eventfd, SYS_eventfd2, SYS_execve, SYS_execveat, SYS_exit,
            SYS_exit_group, SYS_faccessat, SYS_faccessat2, SYS_fadvise64, SYS_fallocate,
            SYS_fanotify_init, SYS_fanotify_mark, SYS_fchdir, SYS_fchmod, SYS_fchmodat,
            SYS_fchmodat2, SYS_fchown, SYS_fchownat, SYS_fcntl, SYS_fdatasync, SYS_fgetxattr,
            SYS_finit_module, SYS_flistxattr, SYS_flock, SYS_fork, SYS_fremovexattr, SYS_fsconfig,
            SYS_fsetxattr, SYS_fsmount, SYS_fsopen, SYS_fspick, SYS_fstat, SYS_fstatfs, SYS_fsync,
            SYS_ftruncate, SYS_futex, SYS_futex_waitv, SYS_futimesat, SYS_get_mempolicy,
            SYS_get_robust_list, SYS_get_thread_area, SYS_getcpu, SYS_getcwd, SYS_getdents,
            SYS_getdents64, SYS_getegid, SYS_geteuid, SYS_getgid, SYS_getgroups, SYS_getitimer,
            SYS_getpeername, SYS_getpgid, SYS_getpgrp, SYS_getpid, SYS_getpmsg, SYS_getppid,
            SYS_getpriority, SYS_getrandom, SYS_getresgid, SYS_getresuid, SYS_getrlimit,
            SYS_getrusage, SYS_getsid, SYS_getsockname, SYS_getsockopt, SYS_gettid,
            SYS_gettimeofday, SYS_getuid, SYS_getxattr, SYS_init_module, SYS_inotify_add_watch,
            SYS_inotify_init, SYS_inotify_init1, SYS_inotify_rm_watch, SYS_io_cancel,
            SYS_io_destroy, SYS_io_getevents, SYS_io_setup, SYS_io_submit, SYS_io_uring_enter,
            SYS_io_uring_register, SYS_io_uring_setup, SYS_ioctl, SYS_ioperm, SYS_iopl,
            SYS_ioprio_get, SYS_ioprio_set, SYS_kcmp, SYS_kexec_file_load, SYS_kexec_load,
            SYS_keyctl, SYS_kill, SYS_landlock_add_rule, SYS_landlock_create_ruleset,
            SYS_landlock_restrict_self, SYS_lchown, SYS_lgetxattr, SYS_link, SYS_linkat, SYS_listen,
            SYS_listxattr, SYS_llistxattr, SYS_lookup_dcookie, SYS_lremovexattr, SYS_lseek,
            SYS_lsetxattr, SYS_lstat, SYS_madvise, SYS_mbind, SYS_membarrier, SYS_memfd_create,
            SYS_memfd_secret, SYS_migrate_pages, SYS_mincore, SYS_mkdir, SYS_mkdirat, SYS_mknod,
            SYS_mknodat, SYS_mlock, SYS_mlock2, SYS_mlockall, SYS_mmap, SYS_modify_ldt, SYS_mount,
            SYS_mount_setattr, SYS_move_mount, SYS_move_pages, SYS_mprotect, SYS_mq_getsetattr,
            SYS_mq_notify, SYS_mq_open, SYS_mq_timedreceive, SYS_mq_timedsend, SYS_mq_unlink,
            SYS_mremap, SYS_mseal, SYS_msgctl, SYS_msgget, SYS_msgrcv, SYS_msgsnd, SYS_msync,
            SYS_munlock, SYS_munlockall, SYS_munmap, SYS_name_to_handle_at, SYS_nanosleep,
            SYS_newfstatat, SYS_nfsservctl, SYS_open, SYS_open_by_handle_at, SYS_open_tree,
            SYS_openat, SYS_openat2, SYS_pause, SYS_perf_event_open, SYS_personality,
            SYS_pidfd_getfd, SYS_pidfd_open, SYS_pidfd_send_signal, SYS_pipe, SYS_pipe2,
            SYS_pivot_root, SYS_pkey_alloc, SYS_pkey_free, SYS_pkey_mprotect, SYS_poll, SYS_ppoll,
            SYS_prctl, SYS_pread64, SYS_preadv, SYS_preadv2, SYS_prlimit64, SYS_process_madvise,
            SYS_process_mrelease, SYS_process_vm_readv, SYS_process_vm_writev, SYS_pselect6,
            SYS_ptrace, SYS_putpmsg, SYS_pwrite64, SYS_pwritev, SYS_pwritev2, SYS_quotactl,
            SYS_quotactl_fd, SYS_read, SYS_readahead, SYS_readlink, SYS_readlinkat, SYS_readv,
            SYS_reboot, SYS_recvfrom, SYS_recvmmsg, SYS_recvmsg, SYS_remap_file_pages,
            SYS_removexattr, SYS_rename, SYS_renameat, SYS_renameat2, SYS_request_key,
            SYS_restart_syscall, SYS_rmdir, SYS_rseq, SYS_rt_sigaction, SYS_rt_sigpending,
            SYS_rt_sigprocmask, SYS_rt_sigqueueinfo, SYS_rt_sigreturn, SYS_rt_sigsuspend,
            SYS_rt_sigtimedwait, SYS_rt_tgsigqueueinfo, SYS_sched_get_priority_max,
            SYS_sched_get_priority_min, SYS_sched_getaffinity, SYS_sched_getattr,
            SYS_sched_getparam, SYS_sched_getscheduler, SYS_sched_rr_get_interval,
            SYS_sched_setaffinity, SYS_sched_setattr, SYS_sched_setparam, SYS_sched_setscheduler,
            SYS_sched_yield, SYS_seccomp, SYS_security, SYS_select, SYS_semctl, SYS_semget,
            SYS_semop, SYS_semtimedop, SYS_sendfile, SYS_sendmmsg, SYS_sendmsg, SYS_sendto,
            SYS_set_mempolicy, SYS_set_mempolicy_home_node, SYS_set_robust_list,
            SYS_set_thread_area, SYS_set_tid_address, SYS_setdomainname, SYS_setfsgid, SYS_setfsuid,
            SYS_setgid, SYS_setgroups, SYS_sethostname, SYS_setitimer, SYS_setns, SYS_setpgid,
            SYS_setpriority, SYS_setregid, SYS_setresgid, SYS_setresuid, SYS_setreuid,
            SYS_setrlimit, SYS_setsid, SYS_setsockopt, SYS_settimeofday, SYS_setuid, SYS_setxattr,
            SYS_shmat, SYS_shmctl, SYS_shmdt, SYS_shmget, SYS_shutdown, SYS_sigaltstack,
            SYS_signalfd, SYS_signalfd4, SYS_socket, SYS_socketpair, SYS_splice, SYS_stat,
            SYS_statfs, SYS_statx, SYS_swapoff, SYS_swapon, SYS_symlink, SYS_symlinkat, SYS_sync,
            SYS_sync_file_range, SYS_syncfs, SYS_sysfs, SYS_sysinfo, SYS_syslog, SYS_tee,
            SYS_tgkill, SYS_time, SYS_timer_create, SYS_timer_delete, SYS_timer_getoverrun,
            SYS_timer_gettime, SYS_timer_settime, SYS_timerfd_create, SYS_timerfd_gettime,
            SYS_timerfd_settime, SYS_times, SYS_tkill, SYS_truncate, SYS_tuxcall, SYS_umask,
            SYS_umount2, SYS_uname, SYS_unlink, SYS_unlinkat, SYS_unshare, SYS_uselib,
            SYS_userfaultfd, SYS_ustat, SYS_utime, SYS_utimensat, SYS_utimes, SYS_vfork,
            SYS_vhangup, SYS_vmsplice, SYS_vserver, SYS_wait4, SYS_waitid, SYS_write, SYS_writev,
        );
        #[cfg(target_arch = "aarch64")]
        #[rustfmt::skip]
        check!(
            SYS_accept, SYS_accept4, SYS_acct, SYS_add_key, SYS_adjtimex, SYS_bind, SYS_bpf,
            SYS_brk, SYS_capget, SYS_capset, SYS_chdir, SYS_chroot, SYS_clock_adjtime,
            SYS_clock_getres, SYS_clock_gettime, SYS_clock_nanosleep, SYS_clock_settime, SYS_clone,
            SYS_clone3, SYS_close, SYS_close_range, SYS_connect, SYS_copy_file_range,
            SYS_delete_module, SYS_dup, SYS_dup3, SYS_epoll_create1, SYS_epoll_ctl, SYS_epoll_pwait,
            SYS_epoll_pwait2, SYS_eventfd2, SYS_execve, SYS_execveat, SYS_exit, SYS_exit_group,
            SYS_faccessat, SYS_faccessat2, SYS_fadvise64, SYS_fallocate, SYS_fanotify_init,
            SYS_fanotify_mark, SYS_fchdir, SYS_fchmod, SYS_fchmodat, SYS_fchown, SYS_fchownat,
            SYS_fcntl, SYS_fdatasync, SYS_fgetxattr, SYS_finit_module, SYS_flistxattr, SYS_flock,
            SYS_fremovexattr, SYS_fsconfig, SYS_fsetxattr, SYS_fsmount, SYS_fsopen, SYS_fspick,
            SYS_fstat, SYS_fstatfs, SYS_fsync, SYS_ftruncate, SYS_futex, SYS_futex_waitv,
            SYS_get_mempolicy, SYS_get_robust_list, SYS_getcpu, SYS_getcwd, SYS_getdents64,
            SYS_getegid, SYS_geteuid, SYS_getgid, SYS_getgroups, SYS_getitimer, SYS_getpeername,
            SYS_getpgid, SYS_getpid, SYS_getppid, SYS_getpriority, SYS_getrandom, SYS_getresgid,
            SYS_getresuid, SYS_getrusage, SYS_getsid, SYS_getsockname, SYS_getsockopt, SYS_gettid,
            SYS_gettimeofday, SYS_getuid, SYS_getxattr, SYS_init_module, SYS_inotify_add_watch,
            SYS_inotify_init1, SYS_inotify_rm_watch, SYS_io_cancel, SYS_io_destroy,
            SYS_io_getevents, SYS_io_setup, SYS_io_submit, SYS_io_uring_enter,
            SYS_io_uring_register, SYS_io_uring_setup, SYS_ioctl, SYS_ioprio_get, SYS_ioprio_set,
            SYS_kcmp, SYS_kexec_file_load, SYS_kexec_load, SYS_keyctl, SYS_kill,
            SYS_landlock_add_rule, SYS_landlock_create_ruleset, SYS_landlock_restrict_self,
            SYS_lgetxattr, SYS_linkat, SYS_listen, SYS_listxattr, SYS_llistxattr,
            SYS_lookup_dcookie, SYS_lremovexattr, SYS_lseek, SYS_lsetxattr, SYS_madvise, SYS_mbind,
            SYS_membarrier, SYS_memfd_create, SYS_memfd_secret, SYS_migrate_pages, SYS_mincore,
            SYS_mkdirat, SYS_mknodat, SYS_mlock, SYS_mlock2, SYS_mlockall, SYS_mmap, SYS_mount,
            SYS_mount_setattr, SYS_move_mount, SYS_move_pages, SYS_mprotect, SYS_mq_getsetattr,
            SYS_mq_notify, SYS_mq_open, SYS_mq_timedreceive, SYS_mq_timedsend, SYS_mq_unlink,
            SYS_mremap, SYS_mseal, SYS_msgctl, SYS_msgget, SYS_msgrcv, SYS_msgsnd, SYS_msync,
            SYS_munlock, SYS_munlockall, SYS_munmap, SYS_name_to_handle_at, SYS_nanosleep,
            SYS_newfstatat, SYS_nfsservctl, SYS_open_by_handle_at, SYS_open_tree, SYS_openat,
            SYS_openat2, SYS_perf_event_open, SYS_personality, SYS_pidfd_getfd, SYS_pidfd_open,
            SYS_pidfd_send_signal, SYS_pipe2, SYS_pivot_root, SYS_pkey_alloc, SYS_pkey_free,
            SYS_pkey_mprotect, SYS_ppoll, SYS_prctl, SYS_pread64, SYS_preadv, SYS_preadv2,
            SYS_prlimit64, SYS_process_madvise, SYS_process_mrelease, SYS_process_vm_readv,
            SYS_process_vm_writev, SYS_pselect6, SYS_ptrace, SYS_pwrite64, SYS_pwritev,
            SYS_pwritev2, SYS_quotactl, SYS_quotactl_fd, SYS_read, SYS_readahead, SYS_readlinkat,
            SYS_readv, SYS_reboot, SYS_recvfrom, SYS_recvmmsg, SYS_recvmsg, SYS_remap_file_pages,
            SYS_removexattr, SYS_renameat2, SYS_request_key, SYS_restart_syscall, SYS_rseq,
            SYS_rt_sigaction, SYS_rt_sigpending, SYS_rt_sigprocmask, SYS_rt_sigqueueinfo,
            SYS_rt_sigreturn, SYS_rt_sigsuspend, SYS_rt_sigtimedwait, SYS_rt_tgsigqueueinfo,
            SYS_sched_get_priority_max, SYS_sched_get_priority_min, SYS_sched_getaffinity,
            SYS_sched_getattr, SYS_sched_getparam, SYS_sched_getscheduler,
            SYS_sched_rr_get_interval, SYS_sched_setaffinity, SYS_sched_setattr, SYS_sched_setparam,
            SYS_sched_setscheduler, SYS_sched_yield, SYS_seccomp, SYS_semctl, SYS_semget, SYS_semop,
            SYS_semtimedop, SYS_sendfile, SYS_sendmmsg, SYS_sendmsg, SYS_sendto, SYS_set_mempolicy,
            SYS_set_mempolicy_home_node, SYS_set_robust_list, SYS_set_tid_address,
            SYS_setdomainname, SYS_setfsgid, SYS_setfsuid, SYS_setgid, SYS_setgroups,
            SYS_sethostname, SYS_setitimer, SYS_setns, SYS_setpgid, SYS_setpriority, SYS_setregid,
            SYS_setresgid, SYS_setresuid, SYS_setreuid, SYS_setsid, SYS_setsockopt,
            SYS_settimeofday, SYS_setuid, SYS_setxattr, SYS_shmat, SYS_shmctl, SYS_shmdt,
            SYS_shmget, SYS_shutdown, SYS_sigaltstack, SYS_signalfd4, SYS_socket, SYS_socketpair,
            SYS_splice, SYS_statfs, SYS_statx, SYS_swapoff, SYS_swapon, SYS_symlinkat, SYS_sync,
            SYS_syncfs, SYS_sysinfo, SYS_syslog, SYS_tee, SYS_tgkill, SYS_timer_create,
            SYS_timer_delete, SYS_timer_getoverrun, SYS_timer_gettime, SYS_timer_settime,
            SYS_timerfd_create, SYS_timerfd_gettime, SYS_timerfd_settime, SYS_times, SYS_tkill,
            SYS_truncate, SYS_umask, SYS_umount2, SYS_uname, SYS_unlinkat, SYS_unshare,
            SYS_userfaultfd, SYS_utimensat, SYS_vhangup, SYS_vmsplice, SYS_wait4, SYS_waitid,
            SYS_write, SYS_writev,
        );
    }

    // ---- errors ----

    fn error_of(profile: &LinuxSeccomp) -> SeccompError {
        compile(profile).expect_err("profile is refused")
    }

    fn assert_message_style(error: &SeccompError) {
        let text = error.to_string();
        assert!(text.starts_with(|c: char| c.is_lowercase()), "{text}");
        assert!(!text.ends_with('.'), "{text}");
    }

    #[test]
    fn notify_is_refused() {
        let error = error_of(&profile(Act::ScmpActNotify, None, vec![]));
        assert_eq!(
            error.to_string(),
            "seccomp action SCMP_ACT_NOTIFY is not supported by podrt (used by the default action)"
        );
        let rules = vec![
            rule(&["getpid"], Act::ScmpActAllow, None, vec![]),
            rule(&["read", "write"], Act::ScmpActNotify, None, vec![]),
        ];
        let error = error_of(&profile(Act::ScmpActErrno, None, rules));
        assert!(matches!(error, SeccompError::NotifyUnsupported { .. }));
        assert_eq!(
            error.to_string(),
            "seccomp action SCMP_ACT_NOTIFY is not supported by podrt \
             (used by syscalls[1]: read, write)"
        );
        // Even for syscalls unknown here: the profile is wrong for podrt everywhere.
        let rules = vec![rule(&["socketcall"], Act::ScmpActNotify, None, vec![])];
        let error = error_of(&profile(Act::ScmpActAllow, None, rules));
        assert!(matches!(error, SeccompError::NotifyUnsupported { .. }));
        assert_message_style(&error);
    }

    #[test]
    fn listener_path_is_refused() {
        let mut with_listener = profile(Act::ScmpActAllow, None, vec![]);
        with_listener.set_listener_path(Some("/run/agent.sock".into()));
        let error = error_of(&with_listener);
        assert!(matches!(
            error,
            SeccompError::ListenerPathUnsupported { .. }
        ));
        assert!(error.to_string().contains("/run/agent.sock"));
        assert_message_style(&error);
    }

    #[test]
    fn bad_argument_index_is_refused() {
        for index in [6, 255, 256, usize::MAX] {
            let rules = vec![rule(
                &["kill"],
                Act::ScmpActAllow,
                None,
                vec![
                    arg(0, Op::ScmpCmpEq, 0, None),
                    arg(index, Op::ScmpCmpEq, 0, None),
                ],
            )];
            let error = error_of(&profile(Act::ScmpActErrno, None, rules));
            assert!(
                matches!(error, SeccompError::ArgIndexOutOfRange { index: i, .. } if i == index)
            );
            assert_eq!(
                error.to_string(),
                format!(
                    "seccomp argument index {index} in syscalls[0]: kill is out of range \
                     (syscalls have arguments 0 to 5)"
                )
            );
        }
        let rules = vec![rule(
            &["kill"],
            Act::ScmpActAllow,
            None,
            vec![arg(5, Op::ScmpCmpEq, 0, None)],
        )];
        assert!(compile(&profile(Act::ScmpActErrno, None, rules)).is_ok());
    }

    #[test]
    fn empty_names_are_refused() {
        let rules = vec![rule(&[], Act::ScmpActAllow, None, vec![])];
        let error = error_of(&profile(Act::ScmpActErrno, None, rules));
        assert!(matches!(error, SeccompError::EmptyNames { .. }));
        assert_message_style(&error);
        let rules = vec![rule(&["read", ""], Act::ScmpActAllow, None, vec![])];
        let error = error_of(&profile(Act::ScmpActErrno, None, rules));
        assert!(matches!(error, SeccompError::EmptySyscallName { .. }));
        assert_message_style(&error);
    }

    #[test]
    fn errno_ret_out_of_range_is_refused() {
        let error = error_of(&profile(Act::ScmpActErrno, Some(4096), vec![]));
        assert_eq!(
            error.to_string(),
            "seccomp defaultErrnoRet 4096 for SCMP_ACT_ERRNO in the default action \
             is out of range (0 to 4095)"
        );
        let rules = vec![rule(&["mkdir"], Act::ScmpActErrno, Some(70_000), vec![])];
        let error = error_of(&profile(Act::ScmpActAllow, None, rules));
        assert!(error.to_string().contains("errnoRet 70000"), "{error}");
        assert!(error.to_string().contains("syscalls[0]: mkdir"), "{error}");
        // Trace data is 16 bits; errnoRet is ignored for actions without data.
        let rules = vec![
            rule(&["mkdir"], Act::ScmpActTrace, Some(0xffff), vec![]),
            rule(&["rmdir"], Act::ScmpActKillProcess, Some(70_000), vec![]),
        ];
        assert!(compile(&profile(Act::ScmpActAllow, Some(70_000), rules)).is_ok());
        let rules = vec![rule(&["mkdir"], Act::ScmpActTrace, Some(0x10000), vec![])];
        assert_message_style(&error_of(&profile(Act::ScmpActAllow, None, rules)));
    }

    #[test]
    fn unknown_action_operator_flag_and_arch_fail_to_parse() {
        let cases = [
            (r#"{"defaultAction": "SCMP_ACT_FOO"}"#, "SCMP_ACT_FOO"),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["kill"],
                    "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 0,
                    "op": "SCMP_CMP_ALMOST"}]}]}"#,
                "SCMP_CMP_ALMOST",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW",
                    "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#,
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}"#,
                "SCMP_ARCH_Z80",
            ),
        ];
        for (json, culprit) in cases {
            let error = parse_profile(json.as_bytes()).expect_err(culprit);
            assert!(matches!(error, SeccompError::ParseProfile(_)));
            assert_message_style(&error);
            let source = std::error::Error::source(&error).unwrap().to_string();
            assert!(source.contains(culprit), "{source}");
        }
        let parsed = parse_profile(br#"{"defaultAction": "SCMP_ACT_KILL_PROCESS"}"#).unwrap();
        assert_eq!(parsed.default_action(), Act::ScmpActKillProcess);
    }

    // ---- shapes, flags, layout ----

    #[test]
    fn number_of_filters_per_shape() {
        let count = |profile: LinuxSeccomp| compile(&profile).unwrap().filters.len();
        let deny = |names: &[&str]| rule(names, Act::ScmpActErrno, None, vec![]);
        let allow = |names: &[&str]| rule(names, Act::ScmpActAllow, None, vec![]);

        // Nothing to filter.
        assert_eq!(count(profile(Act::ScmpActAllow, None, vec![])), 0);
        assert_eq!(count(LinuxSeccomp::default()), 0);
        assert_eq!(
            count(profile(Act::ScmpActAllow, None, vec![allow(&["read"])])),
            0
        );
        assert_eq!(
            count(profile(
                Act::ScmpActAllow,
                None,
                vec![deny(&["socketcall"])]
            )),
            0
        );
        // Default allow + deny list; default errno + allow list; arguments; mixed errnos.
        assert_eq!(
            count(profile(Act::ScmpActAllow, None, vec![deny(&["mkdir"])])),
            1
        );
        assert_eq!(
            count(profile(Act::ScmpActErrno, None, vec![allow(&["read"])])),
            1
        );
        assert_eq!(count(profile(Act::ScmpActErrno, None, vec![])), 1);
        let args = vec![arg(0, Op::ScmpCmpEq, 0xffff_ffff, None)];
        let personality = rule(&["personality"], Act::ScmpActAllow, None, args);
        assert_eq!(
            count(profile(Act::ScmpActErrno, None, vec![personality])),
            1
        );
        let mixed = vec![
            deny(&["getpid"]),
            rule(
                &["getppid"],
                Act::ScmpActErrno,
                errno_ret(libc::ENOSYS),
                vec![],
            ),
            rule(
                &["mkdirat"],
                Act::ScmpActErrno,
                errno_ret(libc::EACCES),
                vec![],
            ),
            rule(&["uname"], Act::ScmpActKillProcess, None, vec![]),
            rule(&["gettid"], Act::ScmpActLog, None, vec![]),
        ];
        assert_eq!(count(profile(Act::ScmpActAllow, None, mixed)), 1);
        // Docker's shape.
        let docker = parse_profile(DOCKER_LIKE_PROFILE.as_bytes()).unwrap();
        assert_eq!(count(docker), 1);
    }

    #[test]
    fn flags_map_to_kernel_bits() {
        let mut with_flags = profile(Act::ScmpActErrno, None, vec![]);
        with_flags.set_flags(Some(vec![
            LinuxSeccompFilterFlag::SeccompFilterFlagLog,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
        ]));
        let expected = libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW;
        assert_eq!(u64::from(compile(&with_flags).unwrap().flags), expected);
        with_flags.set_flags(Some(vec![LinuxSeccompFilterFlag::SeccompFilterFlagTsync]));
        assert_eq!(compile(&with_flags).unwrap().flags, 0);
    }

    #[test]
    fn opcodes_match_linux_headers() {
        let code = |value: u32| u16::try_from(value).unwrap();
        assert_eq!(
            BPF_LD_W_ABS,
            code(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS)
        );
        assert_eq!(BPF_JMP_JA, code(libc::BPF_JMP | libc::BPF_JA));
        assert_eq!(
            BPF_JMP_JEQ_K,
            code(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K)
        );
        assert_eq!(
            BPF_JMP_JGE_K,
            code(libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K)
        );
        assert_eq!(BPF_RET_K, code(libc::BPF_RET | libc::BPF_K));
        assert_eq!(BPF_MAX_LEN, usize::try_from(libc::BPF_MAXINSNS).unwrap());
        assert_eq!(u64::from(FILTER_FLAG_LOG), libc::SECCOMP_FILTER_FLAG_LOG);
        assert_eq!(
            u64::from(FILTER_FLAG_SPEC_ALLOW),
            libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
        );
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn golden_deny_list() {
        let rules = vec![rule(&["getpid"], Act::ScmpActErrno, None, vec![])];
        let program = one_filter(&profile(Act::ScmpActAllow, None, rules));
        let expected = "\
ld [4]
jeq #0xc000003e +1 +0
ret #0x80000000
ld [0]
jge #0x40000000 +0 +2
jeq #0xffffffff +1 +0
ret #0x80000000
jge #0x27 +1 +0
ret #0x7fff0000
jge #0x28 +1 +0
ret #0x50001
ret #0x7fff0000
";
        assert_eq!(listing(&program), expected);
    }

    /// Pins seccompiler's rule layout: conditions fall through on a match, jump just past the
    /// following `ret` otherwise (64-bit compare, high word first).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn golden_argument_rule() {
        let args = vec![arg(0, Op::ScmpCmpEq, 0xffff_ffff, None)];
        let rules = vec![
            rule(&["exit_group"], Act::ScmpActAllow, None, vec![]),
            rule(&["personality"], Act::ScmpActAllow, None, args),
        ];
        let program = one_filter(&profile(Act::ScmpActErrno, errno_ret(libc::EACCES), rules));
        let expected = "\
ld [4]
jeq #0xc000003e +1 +0
ret #0x80000000
ld [0]
jge #0x40000000 +0 +2
jeq #0xffffffff +1 +0
ret #0x80000000
jge #0x88 +8 +0
jge #0x87 +1 +0
ret #0x5000d
ld [20]
jeq #0x0 +0 +3
ld [16]
jeq #0xffffffff +0 +1
ret #0x7fff0000
ret #0x5000d
jge #0xe7 +1 +0
ret #0x5000d
jge #0xe8 +1 +0
ret #0x7fff0000
ret #0x50026
";
        assert_eq!(listing(&program), expected);
    }

    // ---- behaviour, through the interpreter ----

    #[test]
    fn default_allow_with_deny_list() {
        let rules = vec![rule(
            &["getpid", "mkdirat"],
            Act::ScmpActErrno,
            None,
            vec![],
        )];
        let program = one_filter(&profile(Act::ScmpActAllow, None, rules));
        assert_eq!(
            run(&program, &Data::call("getpid", &[])),
            ret_errno(libc::EPERM)
        );
        assert_eq!(
            run(&program, &Data::call("mkdirat", &[])),
            ret_errno(libc::EPERM)
        );
        assert_eq!(run(&program, &Data::call("getppid", &[])), ALLOW);
        assert_eq!(run(&program, &Data::raw(0, &[])), ALLOW);
        assert_eq!(
            run(&program, &Data::raw(5000, &[])),
            ALLOW,
            "no stub when allowing"
        );
        assert_eq!(run(&program, &Data::raw(u32::MAX, &[])), ALLOW, "nr -1");
    }

    #[test]
    fn default_errno_with_allow_list_and_enosys_stub() {
        let rules = vec![rule(
            &["read", "write", "getppid", "uname", "exit_group"],
            Act::ScmpActAllow,
            None,
            vec![],
        )];
        let program = one_filter(&profile(Act::ScmpActErrno, errno_ret(libc::EACCES), rules));
        for name in ["read", "write", "getppid", "uname", "exit_group"] {
            assert_eq!(run(&program, &Data::call(name, &[])), ALLOW, "{name}");
        }
        assert_eq!(
            run(&program, &Data::call("getpid", &[])),
            ret_errno(libc::EACCES)
        );
        let highest = ["read", "write", "getppid", "uname", "exit_group"]
            .map(nr)
            .into_iter();
        let highest = highest.max().unwrap();
        assert_eq!(
            run(&program, &Data::raw(highest + 1, &[])),
            ret_errno(libc::ENOSYS)
        );
        assert_eq!(
            run(&program, &Data::raw(1000, &[])),
            ret_errno(libc::ENOSYS)
        );
        assert_eq!(
            run(&program, &Data::call("getrandom", &[])),
            ret_errno(libc::ENOSYS)
        );

        // No stub when the default errno already is ENOSYS, or nothing is named.
        let rules = vec![rule(&["read"], Act::ScmpActAllow, None, vec![])];
        let program = one_filter(&profile(Act::ScmpActErrno, errno_ret(libc::ENOSYS), rules));
        assert_eq!(
            run(&program, &Data::raw(1000, &[])),
            ret_errno(libc::ENOSYS)
        );
        let rules = vec![rule(&["socketcall"], Act::ScmpActAllow, None, vec![])];
        let program = one_filter(&profile(Act::ScmpActErrno, None, rules));
        assert_eq!(run(&program, &Data::raw(1000, &[])), ret_errno(libc::EPERM));
        assert_eq!(
            run(&program, &Data::call("read", &[])),
            ret_errno(libc::EPERM)
        );
    }

    #[test]
    fn argument_operators_compare_64_bits() {
        let deny = |name: &str, args| rule(&[name], Act::ScmpActErrno, None, args);
        let rules = vec![
            deny("fsync", vec![arg(0, Op::ScmpCmpEq, 1000, None)]),
            deny("fdatasync", vec![arg(0, Op::ScmpCmpNe, 1000, None)]),
            deny("fchdir", vec![arg(0, Op::ScmpCmpLt, 1000, None)]),
            deny("syncfs", vec![arg(0, Op::ScmpCmpLe, 1000, None)]),
            deny("dup", vec![arg(0, Op::ScmpCmpGe, 1000, None)]),
            deny("close", vec![arg(0, Op::ScmpCmpGt, 1000, None)]),
            deny(
                "fchmod",
                vec![arg(1, Op::ScmpCmpMaskedEq, 0o7000, Some(0o4000))],
            ),
        ];
        let program = one_filter(&profile(Act::ScmpActAllow, None, rules));
        let denied = |name: &str, args: &[u64]| {
            let result = run(&program, &Data::call(name, args));
            assert!(result == ALLOW || result == ret_errno(libc::EPERM));
            result != ALLOW
        };
        let high = 1 << 32;
        assert!(denied("fsync", &[1000]));
        assert!(!denied("fsync", &[1001]));
        assert!(!denied("fsync", &[1000 + high]), "the high word counts");
        assert!(!denied("fdatasync", &[1000]));
        assert!(denied("fdatasync", &[1000 + high]));
        assert!(denied("fchdir", &[999]));
        assert!(!denied("fchdir", &[1000]));
        assert!(!denied("fchdir", &[999 + high]));
        assert!(denied("syncfs", &[1000]));
        assert!(!denied("syncfs", &[1001]));
        assert!(!denied("syncfs", &[u64::MAX]));
        assert!(denied("dup", &[1000]));
        assert!(denied("dup", &[high]));
        assert!(!denied("dup", &[999]));
        assert!(denied("close", &[1001]));
        assert!(denied("close", &[high]));
        assert!(!denied("close", &[1000]));
        assert!(denied("fchmod", &[3, 0o4755]));
        assert!(denied("fchmod", &[3, high | 0o4000]));
        assert!(!denied("fchmod", &[3, 0o6755]));
        assert!(!denied("fchmod", &[3, 0o755]));
    }

    #[test]
    fn masked_eq_ignores_bits_of_value_two_outside_the_mask() {
        let args = vec![arg(0, Op::ScmpCmpMaskedEq, 0xff, Some(0x1234))];
        let rules = vec![rule(&["kill"], Act::ScmpActErrno, None, args)];
        let program = one_filter(&profile(Act::ScmpActAllow, None, rules));
        assert_eq!(
            run(&program, &Data::call("kill", &[0x34])),
            ret_errno(libc::EPERM)
        );
        assert_eq!(
            run(&program, &Data::call("kill", &[0xab34])),
            ret_errno(libc::EPERM)
        );
        assert_eq!(run(&program, &Data::call("kill", &[0x1235])), ALLOW);
    }

    #[test]
    fn conditions_and_within_a_rule_or_across_rules() {
        let rules = vec![
            rule(
                &["fchown"],
                Act::ScmpActErrno,
                None,
                vec![
                    arg(1, Op::ScmpCmpEq, 7, None),
                    arg(2, Op::ScmpCmpEq, 8, None),
                ],
            ),
            rule(
                &["fchown"],
                Act::ScmpActErrno,
                None,
                vec![arg(1, Op::ScmpCmpEq, 100, None)],
            ),
            // The same argument twice: runc turns each condition into a rule of its own.
            rule(
                &["flock"],
                Act::ScmpActErrno,
                None,
                vec![
                    arg(1, Op::ScmpCmpEq, 1, None),
                    arg(1, Op::ScmpCmpEq, 2, None),
                ],
            ),
        ];
        let program = one_filter(&profile(Act::ScmpActAllow, None, rules));
        let eperm = ret_errno(libc::EPERM);
        assert_eq!(run(&program, &Data::call("fchown", &[3, 7, 8])), eperm);
        assert_eq!(run(&program, &Data::call("fchown", &[3, 7, 9])), ALLOW);
        assert_eq!(run(&program, &Data::call("fchown", &[3, 100, 9])), eperm);
        assert_eq!(run(&program, &Data::call("flock", &[3, 1])), eperm);
        assert_eq!(run(&program, &Data::call("flock", &[3, 2])), eperm);
        assert_eq!(run(&program, &Data::call("flock", &[3, 8])), ALLOW);
    }

    #[test]
    fn mixed_actions_keep_their_own_data() {
        let rules = vec![
            rule(&["getpid"], Act::ScmpActErrno, None, vec![]),
            rule(
                &["getppid"],
                Act::ScmpActErrno,
                errno_ret(libc::ENOSYS),
                vec![],
            ),
            rule(
                &["mkdirat"],
                Act::ScmpActErrno,
                errno_ret(libc::EACCES),
                vec![],
            ),
            rule(
                &["fsync"],
                Act::ScmpActErrno,
                errno_ret(libc::ENOTTY),
                vec![arg(0, Op::ScmpCmpEq, 1000, None)],
            ),
            rule(
                &["fsync"],
                Act::ScmpActErrno,
                errno_ret(libc::EXDEV),
                vec![arg(0, Op::ScmpCmpEq, 1001, None)],
            ),
            rule(&["uname"], Act::ScmpActKillProcess, None, vec![]),
            rule(&["gettid"], Act::ScmpActKill, None, vec![]),
            rule(&["getuid"], Act::ScmpActKillThread, None, vec![]),
            rule(&["getgid"], Act::ScmpActTrap, None, vec![]),
            rule(&["geteuid"], Act::ScmpActLog, None, vec![]),
            rule(&["getegid"], Act::ScmpActTrace, None, vec![]),
            rule(&["getsid"], Act::ScmpActTrace, Some(77), vec![]),
        ];
        let program = one_filter(&profile(Act::ScmpActAllow, None, rules));
        let call = |name: &str, args: &[u64]| run(&program, &Data::call(name, args));
        assert_eq!(call("getpid", &[]), ret_errno(libc::EPERM));
        assert_eq!(call("getppid", &[]), ret_errno(libc::ENOSYS));
        assert_eq!(call("mkdirat", &[]), ret_errno(libc::EACCES));
        assert_eq!(call("fsync", &[1000]), ret_errno(libc::ENOTTY));
        assert_eq!(call("fsync", &[1001]), ret_errno(libc::EXDEV));
        assert_eq!(call("fsync", &[1002]), ALLOW);
        assert_eq!(call("uname", &[]), KILL_PROCESS);
        assert_eq!(call("gettid", &[]), KILL_THREAD);
        assert_eq!(call("getuid", &[]), KILL_THREAD);
        assert_eq!(call("getgid", &[]), TRAP);
        assert_eq!(call("geteuid", &[]), LOG);
        assert_eq!(
            call("getegid", &[]),
            ret_trace(1),
            "trace data defaults to EPERM"
        );
        assert_eq!(call("getsid", &[]), ret_trace(77));
    }

    #[test]
    fn unconditional_rule_beats_conditional_ones() {
        for conditional_first in [true, false] {
            let conditional = rule(
                &["kill"],
                Act::ScmpActErrno,
                errno_ret(libc::EACCES),
                vec![arg(1, Op::ScmpCmpEq, 9, None)],
            );
            let unconditional = rule(&["kill"], Act::ScmpActErrno, None, vec![]);
            let second = rule(&["kill"], Act::ScmpActKillProcess, None, vec![]);
            let rules = if conditional_first {
                vec![conditional, unconditional, second]
            } else {
                vec![unconditional, second, conditional]
            };
            let program = one_filter(&profile(Act::ScmpActAllow, None, rules));
            assert_eq!(
                run(&program, &Data::call("kill", &[1, 9])),
                ret_errno(libc::EPERM)
            );
            assert_eq!(
                run(&program, &Data::call("kill", &[1, 0])),
                ret_errno(libc::EPERM)
            );
        }
    }

    #[test]
    fn first_matching_conditional_rule_wins() {
        let rules = vec![
            rule(
                &["kill"],
                Act::ScmpActErrno,
                errno_ret(libc::EACCES),
                vec![arg(1, Op::ScmpCmpGe, 9, None)],
            ),
            rule(
                &["kill"],
                Act::ScmpActErrno,
                errno_ret(libc::EPERM),
                vec![arg(1, Op::ScmpCmpEq, 9, None)],
            ),
            rule(
                &["kill"],
                Act::ScmpActErrno,
                errno_ret(libc::ESRCH),
                vec![arg(1, Op::ScmpCmpEq, 1, None)],
            ),
        ];
        let program = one_filter(&profile(Act::ScmpActAllow, None, rules));
        assert_eq!(
            run(&program, &Data::call("kill", &[1, 9])),
            ret_errno(libc::EACCES)
        );
        assert_eq!(
            run(&program, &Data::call("kill", &[1, 1])),
            ret_errno(libc::ESRCH)
        );
        assert_eq!(run(&program, &Data::call("kill", &[1, 0])), ALLOW);
    }

    #[test]
    fn rules_equal_to_the_default_are_dropped() {
        // runc drops them before libseccomp sees them, so the ALLOW rule alone decides `kill`.
        let rules = vec![
            rule(
                &["kill"],
                Act::ScmpActErrno,
                Some(1),
                vec![arg(1, Op::ScmpCmpEq, 9, None)],
            ),
            rule(&["kill"], Act::ScmpActAllow, None, vec![]),
            rule(&["getpid"], Act::ScmpActErrno, None, vec![]),
        ];
        let program = one_filter(&profile(Act::ScmpActErrno, None, rules));
        assert_eq!(run(&program, &Data::call("kill", &[1, 9])), ALLOW);
        let rules = vec![rule(
            &["getpid"],
            Act::ScmpActErrno,
            errno_ret(libc::EPERM),
            vec![],
        )];
        let compiled = compile(&profile(Act::ScmpActErrno, None, rules)).unwrap();
        // Only the stub is left: getpid (and everything below it) gets the default errno.
        let program = &compiled.filters[0];
        assert_eq!(
            run(program, &Data::call("getpid", &[])),
            ret_errno(libc::EPERM)
        );
        assert_eq!(
            run(program, &Data::call("read", &[])),
            ret_errno(libc::EPERM)
        );
    }

    #[test]
    fn foreign_abis_are_killed() {
        let rules = vec![rule(&["mkdirat"], Act::ScmpActErrno, None, vec![])];
        let program = one_filter(&profile(Act::ScmpActAllow, None, rules));
        let mut i386 = Data::call("getpid", &[]);
        i386.arch = 0x4000_0003;
        assert_eq!(run(&program, &i386), KILL_PROCESS);
        if let Some(bit) = native().x32_bit {
            let x32 = Data::raw(nr("getpid") | bit, &[]);
            assert_eq!(run(&program, &x32), KILL_PROCESS);
            assert_eq!(run(&program, &Data::raw(u32::MAX, &[])), ALLOW);
        }
    }

    #[test]
    fn long_programs_use_long_jumps() {
        // Every syscall with three argument rules: halves of the search tree grow past the 255
        // instructions a conditional jump can skip.
        let rules: Vec<_> = native()
            .syscalls
            .iter()
            .take(120)
            .map(|(name, _)| {
                rule(
                    &[name],
                    Act::ScmpActErrno,
                    None,
                    vec![
                        arg(0, Op::ScmpCmpEq, 1, None),
                        arg(1, Op::ScmpCmpGt, 2, None),
                        arg(2, Op::ScmpCmpMaskedEq, 4, Some(4)),
                    ],
                )
            })
            .collect();
        let profile = profile(Act::ScmpActAllow, None, rules);
        let program = one_filter(&profile);
        assert!(program.len() > 1000);
        assert!(program
            .iter()
            .any(|insn| insn.code == BPF_JMP_JA && insn.k > 255));
        for (name, _) in native().syscalls.iter().take(130) {
            for args in [[1, 3, 4], [1, 2, 4], [0, 3, 4], [1, 3, 5]] {
                let data = Data::call(name, &args);
                assert_eq!(
                    run(&program, &data),
                    model(&profile, &data),
                    "{name} {args:?}"
                );
            }
        }
    }

    #[test]
    fn too_large_profiles_are_refused() {
        let rules: Vec<_> = native()
            .syscalls
            .iter()
            .map(|(name, nr)| {
                // Different values per syscall, or neighbours would share their code.
                let value = (1 << 40) + u64::from(*nr);
                let args = (0..6).map(|i| arg(i, Op::ScmpCmpGe, value, None)).collect();
                rule(&[name], Act::ScmpActErrno, None, args)
            })
            .collect();
        let error = error_of(&profile(Act::ScmpActAllow, None, rules));
        assert!(matches!(
            error,
            SeccompError::FilterTooLarge { max: 4096, .. }
        ));
        assert_message_style(&error);
    }

    #[test]
    fn docker_like_profile() {
        let docker = parse_profile(DOCKER_LIKE_PROFILE.as_bytes()).unwrap();
        let program = one_filter(&docker);
        assert!(program.len() < 200, "{} instructions", program.len());
        let call = |name: &str, args: &[u64]| run(&program, &Data::call(name, args));
        let eperm = ret_errno(libc::EPERM);
        for name in ["read", "write", "getpid", "exit_group", "wait4", "execve"] {
            assert_eq!(call(name, &[]), ALLOW, "{name}");
        }
        for name in ["unshare", "mount", "setns", "ptrace", "getpgid"] {
            assert_eq!(call(name, &[]), eperm, "{name}");
        }
        assert_eq!(call("clone3", &[]), ret_errno(libc::ENOSYS));
        let sigchld = u64::from(libc::SIGCHLD.unsigned_abs());
        let newuser = u64::from(libc::CLONE_NEWUSER.unsigned_abs());
        assert_eq!(call("clone", &[sigchld]), ALLOW);
        assert_eq!(call("clone", &[sigchld | newuser]), eperm);
        assert_eq!(call("personality", &[0xffff_ffff]), ALLOW);
        assert_eq!(call("personality", &[0x20008]), ALLOW);
        assert_eq!(call("personality", &[0x0040_0000]), eperm);
        for data in [Data::raw(nr("clone3") + 1, &[]), Data::raw(1000, &[])] {
            assert_eq!(
                run(&program, &data),
                ret_errno(libc::ENOSYS),
                "above the profile"
            );
        }
        // The search tree is shallow: few instructions run per syscall.
        for name in ["read", "write", "futex", "getpid", "wait4", "mount"] {
            let (_, steps) = execute(&program, &Data::call(name, &[]));
            assert!(steps <= 16, "{name}: {steps} instructions");
        }
    }

    // ---- properties ----

    const NAMES: [&str; 16] = [
        "read",
        "write",
        "close",
        "getpid",
        "getppid",
        "kill",
        "personality",
        "clone",
        "mkdirat",
        "exit_group",
        "uname",
        "fsync",
        "futex",
        "openat",
        "socketcall",
        "not_a_syscall",
    ];

    const VALUES: [u64; 12] = [
        0,
        1,
        2,
        8,
        0xff,
        1000,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_03e8,
        0x7e02_0000,
        u64::MAX - 1,
        u64::MAX,
    ];

    fn any_action() -> impl Strategy<Value = Act> {
        prop_oneof![
            4 => Just(Act::ScmpActKill),
            4 => Just(Act::ScmpActKillThread),
            4 => Just(Act::ScmpActKillProcess),
            4 => Just(Act::ScmpActTrap),
            16 => Just(Act::ScmpActErrno),
            4 => Just(Act::ScmpActTrace),
            4 => Just(Act::ScmpActLog),
            16 => Just(Act::ScmpActAllow),
            // Refused: rare, or few generated profiles would compile.
            1 => Just(Act::ScmpActNotify),
        ]
    }

    fn any_errno_ret() -> impl Strategy<Value = Option<u32>> {
        prop_oneof![
            20 => Just(None),
            20 => (0u32..64).prop_map(Some),
            1 => Just(Some(4096)),
            1 => any::<u32>().prop_map(Some),
        ]
    }

    fn any_value() -> impl Strategy<Value = u64> {
        prop_oneof![4 => prop::sample::select(VALUES.to_vec()), 1 => any::<u64>()]
    }

    fn any_op() -> impl Strategy<Value = Op> {
        prop::sample::select(vec![
            Op::ScmpCmpNe,
            Op::ScmpCmpLt,
            Op::ScmpCmpLe,
            Op::ScmpCmpEq,
            Op::ScmpCmpGe,
            Op::ScmpCmpGt,
            Op::ScmpCmpMaskedEq,
        ])
    }

    fn any_arg() -> impl Strategy<Value = LinuxSeccompArg> {
        let index = prop_oneof![200 => 0usize..6, 1 => 6usize..8, 1 => any::<usize>()];
        (index, any_op(), any_value(), prop::option::of(any_value()))
            .prop_map(|(index, op, value, value_two)| arg(index, op, value, value_two))
    }

    fn any_rule() -> impl Strategy<Value = LinuxSyscall> {
        // Mostly valid rules: every invalid piece makes the whole profile fail to compile.
        let name = prop_oneof![200 => prop::sample::select(NAMES.to_vec()), 1 => Just("")];
        let names = prop_oneof![
            50 => prop::collection::vec(name, 1..4),
            1 => Just(Vec::new()),
        ];
        (
            names,
            any_action(),
            any_errno_ret(),
            prop::collection::vec(any_arg(), 0..4),
        )
            .prop_map(|(names, action, errno, args)| rule(&names, action, errno, args))
    }

    fn any_profile() -> impl Strategy<Value = LinuxSeccomp> {
        let flags = prop::collection::vec(
            prop::sample::select(vec![
                LinuxSeccompFilterFlag::SeccompFilterFlagLog,
                LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
                LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
            ]),
            0..3,
        );
        (
            any_action(),
            any_errno_ret(),
            prop::collection::vec(any_rule(), 0..10),
            prop::option::of(flags),
            prop::bool::weighted(0.02),
        )
            .prop_map(|(default, errno, rules, flags, listener)| {
                let mut profile = profile(default, errno, rules);
                profile.set_flags(flags);
                if listener {
                    profile.set_listener_path(Some("/run/agent.sock".into()));
                }
                profile
            })
    }

    fn any_data() -> impl Strategy<Value = Data> {
        let numbers: Vec<u32> = NAMES
            .iter()
            .filter_map(|name| native().syscall_number(name))
            .flat_map(|nr| [nr.saturating_sub(1), nr, nr + 1])
            .collect();
        let x32 = native().x32_bit.unwrap_or(0);
        let nr = prop_oneof![
            12 => prop::sample::select(numbers.clone()),
            1 => any::<u32>(),
            1 => Just(u32::MAX),
            1 => prop::sample::select(numbers).prop_map(move |nr| nr | x32),
        ];
        let arch = prop_oneof![12 => Just(native().audit_arch), 1 => Just(0x4000_0003u32)];
        let args = prop::array::uniform6(any_value());
        (nr, arch, args).prop_map(|(nr, arch, args)| Data { nr, arch, args })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn compile_never_panics(profile in any_profile()) {
            let _ = compile(&profile);
        }


        #[test]
        fn compiled_programs_agree_with_the_reference_semantics(
            profile in any_profile(),
            probes in prop::collection::vec(any_data(), 32),
        ) {
            let Ok(compiled) = compile(&profile) else { return Ok(()) };
            for data in &probes {
                let expected = model(&profile, data);
                let native_abi = data.arch == native().audit_arch
                    && native().x32_bit.is_none_or(|bit| data.nr < bit || data.nr == u32::MAX);
                match compiled.filters.as_slice() {
                    // Without a filter, foreign ABIs are not killed either.
                    [] if native_abi => prop_assert_eq!(expected, ALLOW, "{:?}", data),
                    [] => {}
                    [program] => {
                        check_like_kernel(program);
                        prop_assert_eq!(run(program, data), expected, "{:?}", data);
                    }
                    _ => prop_assert!(false, "more than one filter"),
                }
            }
        }
    }
}
