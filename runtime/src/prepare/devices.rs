//! cgroup v2 device rules: OCI `linux.resources.devices` compiled into a
//! BPF_PROG_TYPE_CGROUP_DEVICE program (v2 has no devices.allow/deny files). Rules are
//! evaluated as the v1 files would apply them: the last matching rule decides; no match denies.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct BpfInsn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high nibble.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
    BpfInsn {
        code,
        regs: (dst & 0xf) | (src << 4),
        off,
        imm,
    }
}

/// `bpf_cgroup_dev_ctx.access_type`: device type in the low 16 bits...
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
/// ...and the access in the high 16 bits.
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

/// Errors in device rules.
#[derive(Debug, thiserror::Error)]
pub enum DeviceRuleError {
    #[error("linux.resources.devices[{index}]: access {access:?} may only contain r, w and m")]
    Access { index: usize, access: String },
    #[error("linux.resources.devices[{index}]: {what} {value} is out of range")]
    Number {
        index: usize,
        what: &'static str,
        value: i64,
    },
}

/// Compile the rules (in spec order) into a program.
pub fn compile(rules: &[LinuxDeviceCgroup]) -> Result<Vec<BpfInsn>, DeviceRuleError> {
    // r2 = type, r3 = access, r4 = major, r5 = minor (r1 is the context, then scratch).
    let mut prog = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    // The last matching rule wins: emit rules last-to-first, each returning on a match.
    for (index, r) in rules.iter().enumerate().rev() {
        let mut checks: Vec<BpfInsn> = Vec::new();
        let mut jumps: Vec<usize> = Vec::new(); // indices in `checks` of jumps to "next rule"
        match r.typ() {
            None | Some(LinuxDeviceType::A) => {}
            Some(LinuxDeviceType::B) => {
                jumps.push(checks.len());
                checks.push(insn(JNE_K, 2, 0, 0, DEV_BLOCK));
            }
            Some(_) => {
                jumps.push(checks.len());
                checks.push(insn(JNE_K, 2, 0, 0, DEV_CHAR));
            }
        }
        let access = r.access().clone().unwrap_or_else(|| "rwm".to_string());
        let mut bits = 0;
        for c in access.chars() {
            bits |= match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                _ => {
                    return Err(DeviceRuleError::Access {
                        index,
                        access: access.clone(),
                    })
                }
            };
        }
        if bits != ACC_READ | ACC_WRITE | ACC_MKNOD {
            // The requested access must be within the rule's: (r3 & bits) == r3.
            checks.push(insn(MOV_X, 1, 3, 0, 0));
            checks.push(insn(AND_K, 1, 0, 0, bits));
            jumps.push(checks.len());
            checks.push(insn(JNE_X, 1, 3, 0, 0));
        }
        for (what, value, reg) in [("major", r.major(), 4_u8), ("minor", r.minor(), 5)] {
            match value {
                None | Some(-1) => {}
                Some(v) => {
                    let imm = i32::try_from(v).ok().filter(|x| *x >= 0).ok_or(
                        DeviceRuleError::Number {
                            index,
                            what,
                            value: v,
                        },
                    )?;
                    jumps.push(checks.len());
                    checks.push(insn(JNE_K, reg, 0, 0, imm));
                }
            }
        }
        checks.push(insn(MOV_K, 0, 0, 0, i32::from(r.allow())));
        checks.push(insn(EXIT, 0, 0, 0, 0));
        let len = checks.len();
        let unconditional = jumps.is_empty();
        for j in jumps {
            // Skip to the first instruction after this rule's block.
            checks[j].off = i16::try_from(len - j - 1).unwrap_or(i16::MAX);
        }
        prog.extend(checks);
        if unconditional {
            // It matches every device: earlier rules could never be reached (and the kernel's
            // verifier refuses unreachable instructions).
            return Ok(prog);
        }
    }
    prog.push(insn(MOV_K, 0, 0, 0, 0));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    Ok(prog)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        allow: bool,
        typ: Option<LinuxDeviceType>,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> LinuxDeviceCgroup {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow);
        r.set_typ(typ);
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    }

    /// A small interpreter of exactly the instructions `compile` emits.
    fn run(prog: &[BpfInsn], typ: i32, access: i32, major: u32, minor: u32) -> u64 {
        let ctx = [
            (u32::try_from(access).unwrap() << 16) | u32::try_from(typ).unwrap(),
            major,
            minor,
        ];
        let mut r = [0_u64; 11];
        let mut pc = 0;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => r[dst] = u64::from(ctx[usize::try_from(i.off).unwrap() / 4]),
                AND_K => r[dst] &= u64::from(u32::try_from(i.imm).unwrap()),
                RSH_K => r[dst] >>= i.imm,
                MOV_K => r[dst] = u64::try_from(i.imm).unwrap(),
                MOV_X => r[dst] = r[src],
                JNE_K => {
                    if r[dst] != u64::try_from(i.imm).unwrap() {
                        pc += usize::try_from(i.off).unwrap();
                    }
                }
                JNE_X => {
                    if r[dst] != r[src] {
                        pc += usize::try_from(i.off).unwrap();
                    }
                }
                EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn deny_all_then_allow_list() {
        let rules = vec![
            rule(false, None, None, None, "rwm"),
            rule(true, Some(LinuxDeviceType::C), None, None, "m"),
            rule(true, Some(LinuxDeviceType::C), Some(1), Some(3), "rwm"),
            rule(true, Some(LinuxDeviceType::C), Some(136), None, "rw"),
        ];
        let p = compile(&rules).unwrap();
        assert_eq!(
            run(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 3),
            1,
            "/dev/null rw"
        );
        assert_eq!(run(&p, DEV_CHAR, ACC_WRITE, 1, 11), 0, "/dev/kmsg w");
        assert_eq!(
            run(&p, DEV_CHAR, ACC_MKNOD, 1, 11),
            1,
            "mknod of any char device"
        );
        assert_eq!(
            run(&p, DEV_BLOCK, ACC_MKNOD, 8, 0),
            0,
            "mknod of a block device"
        );
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 136, 7), 1, "a pts");
        assert_eq!(
            run(&p, DEV_CHAR, ACC_MKNOD, 136, 7),
            1,
            "mknod allowed by the c *:* m rule"
        );
        assert_eq!(
            run(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 5, 0),
            0,
            "/dev/tty not listed"
        );
    }

    #[test]
    fn later_rules_override_earlier_ones() {
        let rules = vec![
            rule(true, None, None, None, "rwm"),
            rule(false, Some(LinuxDeviceType::C), Some(1), Some(11), "w"),
        ];
        let p = compile(&rules).unwrap();
        assert_eq!(run(&p, DEV_CHAR, ACC_WRITE, 1, 11), 0);
        assert_eq!(
            run(&p, DEV_CHAR, ACC_READ, 1, 11),
            1,
            "read is still allowed"
        );
        assert_eq!(run(&p, DEV_BLOCK, ACC_READ, 8, 0), 1);
    }

    #[test]
    fn empty_rules_deny_everything_and_bad_access_is_refused() {
        let p = compile(&[]).unwrap();
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 3), 0);
        assert!(compile(&[rule(true, None, None, None, "rwx")]).is_err());
        assert!(compile(&[rule(true, None, Some(-5), None, "r")]).is_err());
    }
}
