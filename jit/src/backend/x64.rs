//! x86-64 code for a block, emitted with dynasmrt.
//!
//! Generated code is `extern "sysv64" fn(cpu: *mut Cpu, bus: *mut B) -> u64`, returning
//! the instructions completed in the low half and a packed exception (or 0) in the high
//! half. R12 holds the CPU, R13 the bus. EIP is kept exact before every helper call and at
//! every exit; inline instructions only add to a pending delta in between.

use std::mem::{offset_of, size_of};

use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};
use iced_x86::{FlowControl, Mnemonic};
use ox86_core::cpu::flags::LazyOp;
use ox86_core::cpu::state::{attr, Seg, Segment};
use ox86_core::cpu::TLB_SETS_OFFSET;
use ox86_core::decode::{Block, DecodedInsn, Opd};
use ox86_core::mmu::tlb::{TlbEntry, ENTRIES};
use ox86_core::{Bus, Cpu};

use crate::code_cache::CodeCache;
use crate::helpers::{run_handler, END_BLOCK};

type Asm = dynasmrt::VecAssembler<dynasmrt::x64::X64Relocation>;

const REGS: i32 = offset_of!(Cpu, s.regs) as i32;
const EIP: i32 = offset_of!(Cpu, s.eip) as i32;
const F_OP: i32 = offset_of!(Cpu, s.flags.op) as i32;
const F_TOP: i32 = offset_of!(Cpu, s.flags.top) as i32;
const F_A: i32 = offset_of!(Cpu, s.flags.a) as i32;
const F_B: i32 = offset_of!(Cpu, s.flags.b) as i32;
const F_R: i32 = offset_of!(Cpu, s.flags.r) as i32;
const SEGS: i32 = offset_of!(Cpu, s.segs) as i32;
const SEG_SIZE: i32 = size_of::<Segment>() as i32;
const SEG_ATTR: i32 = offset_of!(Segment, attr) as i32;
const SEG_BASE: i32 = offset_of!(Segment, base) as i32;
const SEG_LIMIT: i32 = offset_of!(Segment, limit) as i32;
const CPL: i32 = offset_of!(Cpu, s.cpl) as i32;
const TLB_SETS: i32 = TLB_SETS_OFFSET as i32;
const TLB_ENTRY: i32 = size_of::<TlbEntry>() as i32;
const TLB_READ_TAG: i32 = offset_of!(TlbEntry, read_tag) as i32;
const TLB_WRITE_TAG: i32 = offset_of!(TlbEntry, write_tag) as i32;
const TLB_PHYS: i32 = offset_of!(TlbEntry, phys) as i32;

/// Offset of 32-bit register `slot` (a `reg_slot` code) in the CPU, if it is one.
fn reg32(slot: u8) -> Option<i32> {
    (slot >> 3 == 3).then_some(REGS + 4 * (slot & 7) as i32)
}

/// An ALU operand: a 32-bit register or immediate, or memory.
enum Operand {
    Src(Src),
    Mem(MemRef),
}

/// A 32-bit register or immediate source.
enum Src {
    Reg(i32),
    Imm(u32),
}

fn src32(o: Opd) -> Option<Src> {
    match o {
        Opd::Reg(s) => reg32(s).map(Src::Reg),
        Opd::Imm(v) => Some(Src::Imm(v)),
        _ => None,
    }
}

/// A 32-bit effective address: base and index register offsets in the CPU, index shift,
/// displacement.
struct Ea {
    base: Option<i32>,
    index: Option<(i32, u8)>,
    disp: u32,
}

/// A memory operand: width (1, 2 or 4 bytes), segment and address.
struct MemRef {
    size: u8,
    seg: Seg,
    ea: Ea,
}

/// The register slot's offset, None for no register, Some(None) for one not inlinable.
fn addr_reg(s: u8) -> Option<Option<i32>> {
    (s != ox86_core::decode::NO_REG).then(|| reg32(s))
}

/// The instruction's address, if it uses 32-bit addressing with 32-bit registers.
fn ea(d: &DecodedInsn) -> Option<Ea> {
    if !d.a32 {
        return None;
    }
    Some(Ea {
        base: addr_reg(d.base).map_or(Some(None), |b| b.map(Some))?,
        index: match addr_reg(d.index) {
            None => None,
            Some(i) => Some((i?, d.shift)),
        },
        disp: d.disp,
    })
}

fn mem_ref(d: &DecodedInsn) -> Option<MemRef> {
    if !matches!(d.msize, 1 | 2 | 4) {
        return None;
    }
    Some(MemRef {
        size: d.msize,
        seg: d.seg,
        ea: ea(d)?,
    })
}

/// The effective address into EAX.
fn emit_ea(a: &mut Asm, e: &Ea) {
    dynasm!(a ; .arch x64 ; mov eax, e.disp as i32);
    if let Some(b) = e.base {
        dynasm!(a ; .arch x64 ; add eax, [r12 + b]);
    }
    if let Some((i, shift)) = e.index {
        dynasm!(a ; .arch x64 ; mov ecx, [r12 + i] ; shl ecx, shift as i8 ; add eax, ecx);
    }
}

/// The inline forms: 32-bit register/immediate MOV, ALU and TEST, LEA, and 32-bit loads
/// and stores through the soft TLB (misses take the handler).
enum Inline {
    Mov {
        dst: i32,
        src: Src,
    },
    Load {
        dst: i32,
        m: MemRef,
    },
    /// MOVZX/MOVSX r32, m8/m16.
    LoadExt {
        dst: i32,
        m: MemRef,
        signed: bool,
    },
    /// PUSH/POP r32 on a 32-bit stack.
    Push {
        src: i32,
    },
    Pop {
        dst: i32,
    },
    Store {
        src: i32,
        m: MemRef,
    },
    /// At most one of `dst` and `src` is memory.
    Alu {
        op: Alu,
        dst: Operand,
        src: Operand,
    },
    Lea {
        dst: i32,
        ea: Ea,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Alu {
    Add,
    Sub,
    And,
    Or,
    Xor,
    Cmp,
    Test,
}

fn inline_form(d: &DecodedInsn) -> Option<Inline> {
    if !d.o32 || d.osz != 4 {
        return None;
    }
    let op = match d.i.mnemonic() {
        Mnemonic::Mov => {
            return match (d.ops[0], d.ops[1]) {
                (Opd::Reg(r), Opd::Mem) => Some(Inline::Load {
                    dst: reg32(r)?,
                    m: mem_ref(d)?,
                }),
                (Opd::Mem, Opd::Reg(r)) => Some(Inline::Store {
                    src: reg32(r)?,
                    m: mem_ref(d)?,
                }),
                (Opd::Reg(r), src) => Some(Inline::Mov {
                    dst: reg32(r)?,
                    src: src32(src)?,
                }),
                _ => None,
            };
        }
        Mnemonic::Lea => {
            let Opd::Reg(r) = d.ops[0] else { return None };
            return Some(Inline::Lea {
                dst: reg32(r)?,
                ea: ea(d)?,
            });
        }
        Mnemonic::Movzx | Mnemonic::Movsx => {
            let (Opd::Reg(r), Opd::Mem) = (d.ops[0], d.ops[1]) else {
                return None;
            };
            let m = mem_ref(d).filter(|m| m.size < 4)?;
            return Some(Inline::LoadExt {
                dst: reg32(r)?,
                m,
                signed: d.i.mnemonic() == Mnemonic::Movsx,
            });
        }
        Mnemonic::Push | Mnemonic::Pop => {
            let Opd::Reg(r) = d.ops[0] else { return None };
            let r = reg32(r)?;
            return Some(if d.i.mnemonic() == Mnemonic::Push {
                Inline::Push { src: r }
            } else {
                Inline::Pop { dst: r }
            });
        }
        Mnemonic::Add => Alu::Add,
        Mnemonic::Sub => Alu::Sub,
        Mnemonic::And => Alu::And,
        Mnemonic::Or => Alu::Or,
        Mnemonic::Xor => Alu::Xor,
        Mnemonic::Cmp => Alu::Cmp,
        Mnemonic::Test => Alu::Test,
        _ => return None,
    };
    let operand = |o: Opd| match o {
        Opd::Mem => mem_ref(d).map(Operand::Mem),
        o => src32(o).map(Operand::Src),
    };
    let (dst, src) = (operand(d.ops[0])?, operand(d.ops[1])?);
    match (&dst, &src) {
        (Operand::Src(Src::Reg(_)), _) | (Operand::Mem(_), Operand::Src(_)) => {
            Some(Inline::Alu { op, dst, src })
        }
        _ => None,
    }
}

impl Inline {
    fn touches_memory(&self) -> bool {
        match self {
            Inline::Load { .. } | Inline::LoadExt { .. } | Inline::Store { .. } => true,
            Inline::Push { .. } | Inline::Pop { .. } => true,
            Inline::Alu { dst, src, .. } => {
                matches!(dst, Operand::Mem(_)) || matches!(src, Operand::Mem(_))
            }
            _ => false,
        }
    }
}

/// Emit `f`; memory forms jump to `slow` when the fast path does not apply.
fn emit_inline(a: &mut Asm, f: &Inline, slow: dynasmrt::DynamicLabel) {
    match *f {
        Inline::LoadExt { dst, ref m, signed } => {
            emit_tlb_lookup(a, m, false, slow);
            match (m.size, signed) {
                (1, false) => dynasm!(a ; .arch x64 ; movzx eax, BYTE [rbx + rcx]),
                (1, true) => dynasm!(a ; .arch x64 ; movsx eax, BYTE [rbx + rcx]),
                (_, false) => dynasm!(a ; .arch x64 ; movzx eax, WORD [rbx + rcx]),
                (_, true) => dynasm!(a ; .arch x64 ; movsx eax, WORD [rbx + rcx]),
            }
            dynasm!(a ; .arch x64 ; mov [r12 + dst], eax);
        }
        Inline::Load { dst, ref m } => {
            emit_tlb_lookup(a, m, false, slow);
            dynasm!(a ; .arch x64 ; mov eax, [rbx + rcx] ; mov [r12 + dst], eax);
        }
        Inline::Push { src } => {
            emit_stack_check(a, slow);
            let m = stack_ref(-4);
            emit_tlb_lookup(a, &m, true, slow);
            dynasm!(a
                ; .arch x64
                ; mov eax, [r12 + src]
                ; mov [rbx + rcx], eax
                ; sub DWORD [r12 + ESP], 4
            );
        }
        Inline::Pop { dst } => {
            emit_stack_check(a, slow);
            let m = stack_ref(0);
            emit_tlb_lookup(a, &m, false, slow);
            dynasm!(a
                ; .arch x64
                ; mov eax, [rbx + rcx]
                ; add DWORD [r12 + ESP], 4
                ; mov [r12 + dst], eax
            );
        }
        Inline::Store { src, ref m } => {
            emit_tlb_lookup(a, m, true, slow);
            dynasm!(a ; .arch x64 ; mov eax, [r12 + src] ; mov [rbx + rcx], eax);
        }
        Inline::Mov { dst, ref src } => {
            load_src(a, src);
            dynasm!(a ; .arch x64 ; mov [r12 + dst], ecx);
        }
        Inline::Lea { dst, ref ea } => {
            emit_ea(a, ea);
            dynasm!(a ; .arch x64 ; mov [r12 + dst], eax);
        }
        Inline::Alu {
            op,
            ref dst,
            ref src,
        } => {
            let writes = !matches!(op, Alu::Cmp | Alu::Test);
            // A in EAX, B in ECX; a memory destination's RAM offset in RSI.
            match (dst, src) {
                (Operand::Mem(m), Operand::Src(b)) => {
                    emit_tlb_lookup(a, m, writes, slow);
                    dynasm!(a ; .arch x64 ; mov rsi, rcx ; mov eax, [rbx + rsi]);
                    load_src(a, b);
                }
                (Operand::Src(Src::Reg(d)), Operand::Mem(m)) => {
                    emit_tlb_lookup(a, m, false, slow);
                    dynasm!(a ; .arch x64 ; mov ecx, [rbx + rcx] ; mov eax, [r12 + *d]);
                }
                (Operand::Src(Src::Reg(d)), Operand::Src(b)) => {
                    load_src(a, b);
                    dynasm!(a ; .arch x64 ; mov eax, [r12 + *d]);
                }
                _ => unreachable!("inline_form only builds the forms above"),
            }
            dynasm!(a ; .arch x64 ; mov edx, eax);
            match op {
                Alu::Add => dynasm!(a ; .arch x64 ; add edx, ecx),
                Alu::Sub | Alu::Cmp => dynasm!(a ; .arch x64 ; sub edx, ecx),
                Alu::And | Alu::Test => dynasm!(a ; .arch x64 ; and edx, ecx),
                Alu::Or => dynasm!(a ; .arch x64 ; or edx, ecx),
                Alu::Xor => dynasm!(a ; .arch x64 ; xor edx, ecx),
            }
            // The lazy flags exactly as the interpreter records them.
            let lazy = match op {
                Alu::Add => LazyOp::Add,
                Alu::Sub | Alu::Cmp => LazyOp::Sub,
                _ => LazyOp::Logic,
            } as u8 as i8;
            dynasm!(a
                ; .arch x64
                ; mov BYTE [r12 + F_OP], lazy
                ; mov BYTE [r12 + F_TOP], 31
                ; mov [r12 + F_A], eax
                ; mov [r12 + F_B], ecx
                ; mov [r12 + F_R], edx
            );
            if writes {
                match dst {
                    Operand::Mem(_) => dynasm!(a ; .arch x64 ; mov [rbx + rsi], edx),
                    Operand::Src(Src::Reg(d)) => dynasm!(a ; .arch x64 ; mov [r12 + *d], edx),
                    Operand::Src(Src::Imm(_)) => {}
                }
            }
        }
    }
}

const ESP: i32 = REGS + 4 * 4;

/// SS:[ESP + disp].
fn stack_ref(disp: i32) -> MemRef {
    MemRef {
        size: 4,
        seg: Seg::Ss,
        ea: Ea {
            base: Some(ESP),
            index: None,
            disp: disp as u32,
        },
    }
}

/// The inline stack forms handle a 32-bit stack (SS.B set) only.
fn emit_stack_check(a: &mut Asm, slow: dynasmrt::DynamicLabel) {
    let ss_attr = SEGS + SEG_SIZE * Seg::Ss as i32 + SEG_ATTR;
    dynasm!(a ; .arch x64 ; test WORD [r12 + ss_attr], attr::DB as i16 ; jz =>slow);
}

/// The interpreter's fast path for an access of `m.size` bytes, leaving the RAM offset in RCX: a
/// present, writable, expand-up data segment with the access inside its limit, no page
/// crossing, and a soft-TLB hit (read or write tag) for the current privilege.
fn emit_tlb_lookup(a: &mut Asm, m: &MemRef, write: bool, slow: dynasmrt::DynamicLabel) {
    let seg = SEGS + SEG_SIZE * m.seg as i32;
    let plain_mask = (attr::PRESENT | attr::CODE | attr::DC | attr::RW) as i32;
    let plain = (attr::PRESENT | attr::RW) as i32;
    let tag = if write { TLB_WRITE_TAG } else { TLB_READ_TAG };
    let last = m.size as i32 - 1;
    emit_ea(a, &m.ea);
    dynasm!(a
        ; .arch x64
        ; movzx ecx, WORD [r12 + seg + SEG_ATTR]
        ; and ecx, plain_mask
        ; cmp ecx, plain
        ; jne =>slow
        ; mov ecx, [r12 + seg + SEG_LIMIT]
        ; lea rdx, [rax + last]
        ; cmp rdx, rcx
        ; ja =>slow
        ; add eax, [r12 + seg + SEG_BASE]
        ; mov ecx, eax
        ; and ecx, 0xfff
        ; cmp ecx, 0x1000 - m.size as i32
        ; ja =>slow
        ; mov ecx, eax
        ; shr ecx, 12
        ; and ecx, (ENTRIES - 1) as i32
        ; imul ecx, ecx, TLB_ENTRY
        ; cmp BYTE [r12 + CPL], 3
        ; jne >supervisor
        ; add ecx, ENTRIES as i32 * TLB_ENTRY
        ; supervisor:
        ; mov rdx, [r12 + TLB_SETS]
        ; add rdx, rcx
        ; mov ecx, eax
        ; and ecx, 0xffff_f000_u32 as i32
        ; cmp ecx, [rdx + tag]
        ; jne =>slow
        ; mov ecx, [rdx + TLB_PHYS]
        ; and eax, 0xfff
        ; or ecx, eax
    );
}

/// The source into ECX.
fn load_src(a: &mut Asm, s: &Src) {
    match *s {
        Src::Reg(off) => dynasm!(a ; .arch x64 ; mov ecx, [r12 + off]),
        Src::Imm(v) => dynasm!(a ; .arch x64 ; mov ecx, v as i32),
    }
}

fn flush_eip(a: &mut Asm, delta: &mut u32) {
    if *delta != 0 {
        dynasm!(a ; .arch x64 ; add DWORD [r12 + EIP], *delta as i32);
        *delta = 0;
    }
}

/// Call the interpreter's handler for `insn`; leave for `exit` unless it just completed.
fn emit_helper_call<B: Bus>(
    a: &mut Asm,
    insn: &(ox86_core::decode::Handler<B>, DecodedInsn),
    exit: dynasmrt::DynamicLabel,
) {
    dynasm!(a
        ; .arch x64
        ; mov rdi, r12
        ; mov rsi, r13
        ; mov rdx, QWORD insn as *const _ as i64
        ; mov rax, QWORD run_handler::<B> as *const () as i64
        ; call rax
        ; test eax, eax
        ; jnz =>exit
    );
}

/// Jcc rel8/rel32 (not LOOP/JECXZ): its x86 condition code.
fn host_cc(d: &DecodedInsn) -> Option<u8> {
    use iced_x86::OpKind;
    let jcc = matches!(d.i.op0_kind(), OpKind::NearBranch32)
        && !matches!(
            d.i.mnemonic(),
            Mnemonic::Loop | Mnemonic::Loope | Mnemonic::Loopne | Mnemonic::Jecxz | Mnemonic::Jcxz
        );
    jcc.then_some(d.cc)
}

/// A block-ending Jcc whose flags come from a 32-bit SUB/CMP or logic operation: the
/// host recomputes them (CMP a, b / TEST r, r set CF, ZF, SF, OF and PF as the guest's
/// lazy flags define them) and branches on the same condition. Other flag sources, and a
/// target beyond CS's limit, take the handler. EIP is exact on entry.
fn emit_jcc<B: Bus>(
    a: &mut Asm,
    insn: &(ox86_core::decode::Handler<B>, DecodedInsn),
    cc: u8,
    exit: dynasmrt::DynamicLabel,
    done: i32,
) {
    const _: () = assert!(F_TOP == F_OP + 1, "op and top are read as one word");
    let d = &insn.1;
    let sub = LazyOp::Sub as i32 | 31 << 8;
    let logic = LazyOp::Logic as i32 | 31 << 8;
    let cs_limit = SEGS + SEG_SIZE * Seg::Cs as i32 + SEG_LIMIT;
    let (taken, slow) = (a.new_dynamic_label(), a.new_dynamic_label());
    dynasm!(a
        ; .arch x64
        ; movzx eax, WORD [r12 + F_OP]
        ; cmp eax, sub
        ; jne >logic
        ; mov eax, [r12 + F_A]
        ; cmp eax, [r12 + F_B]
    );
    emit_host_jcc(a, cc, taken);
    dynasm!(a
        ; .arch x64
        ; jmp >not_taken
        ; logic:
        ; cmp eax, logic
        ; jne =>slow
        ; mov eax, [r12 + F_R]
        ; test eax, eax
    );
    emit_host_jcc(a, cc, taken);
    dynasm!(a
        ; .arch x64
        ; not_taken:
        ; add DWORD [r12 + EIP], d.len as i32
        ; mov eax, done
        ; jmp ->ret
        ; =>taken
        ; mov eax, [r12 + EIP]
        ; add eax, (d.len as u32).wrapping_add(d.rel) as i32
        ; cmp eax, [r12 + cs_limit]
        ; ja =>slow
        ; mov [r12 + EIP], eax
        ; mov eax, done
        ; jmp ->ret
        ; =>slow
    );
    emit_helper_call::<B>(a, insn, exit);
    dynasm!(a ; .arch x64 ; mov eax, done ; jmp ->ret);
}

/// Unconditional near branches that end a block.
#[derive(Clone, Copy)]
enum Branch {
    Jmp,
    Call,
    Ret,
}

fn branch_form(d: &DecodedInsn) -> Option<Branch> {
    use iced_x86::OpKind;
    let rel = d.i.op_count() == 1 && d.i.op0_kind() == OpKind::NearBranch32;
    match d.i.mnemonic() {
        Mnemonic::Jmp if rel => Some(Branch::Jmp),
        Mnemonic::Call if rel => Some(Branch::Call),
        Mnemonic::Ret if d.i.op_count() == 0 => Some(Branch::Ret),
        _ => None,
    }
}

/// JMP rel32, CALL rel32 (on a 32-bit stack) and RET: the target checked against CS's
/// limit, the stack through the soft TLB; anything else takes the handler. EIP is exact
/// on entry.
fn emit_branch<B: Bus>(
    a: &mut Asm,
    insn: &(ox86_core::decode::Handler<B>, DecodedInsn),
    b: Branch,
    exit: dynasmrt::DynamicLabel,
    done: i32,
) {
    let d = &insn.1;
    let next = d.len as i32;
    let target = (d.len as u32).wrapping_add(d.rel) as i32;
    let cs_limit = SEGS + SEG_SIZE * Seg::Cs as i32 + SEG_LIMIT;
    let slow = a.new_dynamic_label();
    match b {
        Branch::Jmp => dynasm!(a
            ; .arch x64
            ; mov eax, [r12 + EIP]
            ; add eax, target
            ; cmp eax, [r12 + cs_limit]
            ; ja =>slow
            ; mov [r12 + EIP], eax
        ),
        Branch::Call => {
            emit_stack_check(a, slow);
            emit_tlb_lookup(a, &stack_ref(-4), true, slow);
            dynasm!(a
                ; .arch x64
                ; mov eax, [r12 + EIP]
                ; lea edx, [rax + target]
                ; add eax, next
                ; cmp edx, [r12 + cs_limit]
                ; ja =>slow
                ; mov [rbx + rcx], eax
                ; sub DWORD [r12 + ESP], 4
                ; mov [r12 + EIP], edx
            );
        }
        Branch::Ret => {
            emit_stack_check(a, slow);
            emit_tlb_lookup(a, &stack_ref(0), false, slow);
            dynasm!(a
                ; .arch x64
                ; mov eax, [rbx + rcx]
                ; cmp eax, [r12 + cs_limit]
                ; ja =>slow
                ; add DWORD [r12 + ESP], 4
                ; mov [r12 + EIP], eax
            );
        }
    }
    dynasm!(a ; .arch x64 ; mov eax, done ; jmp ->ret ; =>slow);
    emit_helper_call::<B>(a, insn, exit);
    dynasm!(a ; .arch x64 ; mov eax, done ; jmp ->ret);
}

/// `jcc target` on x86 condition code `cc`.
fn emit_host_jcc(a: &mut Asm, cc: u8, t: dynasmrt::DynamicLabel) {
    match cc & 15 {
        0 => dynasm!(a ; .arch x64 ; jo =>t),
        1 => dynasm!(a ; .arch x64 ; jno =>t),
        2 => dynasm!(a ; .arch x64 ; jb =>t),
        3 => dynasm!(a ; .arch x64 ; jae =>t),
        4 => dynasm!(a ; .arch x64 ; je =>t),
        5 => dynasm!(a ; .arch x64 ; jne =>t),
        6 => dynasm!(a ; .arch x64 ; jbe =>t),
        7 => dynasm!(a ; .arch x64 ; ja =>t),
        8 => dynasm!(a ; .arch x64 ; js =>t),
        9 => dynasm!(a ; .arch x64 ; jns =>t),
        10 => dynasm!(a ; .arch x64 ; jp =>t),
        11 => dynasm!(a ; .arch x64 ; jnp =>t),
        12 => dynasm!(a ; .arch x64 ; jl =>t),
        13 => dynasm!(a ; .arch x64 ; jge =>t),
        14 => dynasm!(a ; .arch x64 ; jle =>t),
        _ => dynasm!(a ; .arch x64 ; jg =>t),
    }
}

/// Translate `block` for the code cache address `base`. The code and the number of
/// instructions inlined; None if the block cannot be translated.
pub fn translate<B: Bus>(block: &Block<B>, base: usize) -> Option<(Vec<u8>, usize)> {
    let code32 = block.key >> 40 & 1 != 0;
    let mut a = Asm::new(base);
    dynasm!(a
        ; .arch x64
        ; push r12
        ; push r13
        ; push rbx
        ; mov r12, rdi
        ; mov r13, rsi
        ; mov rbx, rdx
    );
    let mut exits = Vec::new();
    // Slow paths of inline memory accesses: (label, back label, insn, EIP delta before).
    let mut slow_paths = Vec::new();
    let mut delta = 0u32;
    let mut inlined = 0;
    for (k, insn) in block.insns.iter().enumerate() {
        let d = &insn.1;
        // Inline only in 32-bit code, where EIP needs no 16-bit wrap.
        if let Some(f) = inline_form(d).filter(|_| code32) {
            let slow = a.new_dynamic_label();
            emit_inline(&mut a, &f, slow);
            if f.touches_memory() {
                let back = a.new_dynamic_label();
                dynasm!(a ; .arch x64 ; =>back);
                let exit = a.new_dynamic_label();
                exits.push((exit, k as i32));
                slow_paths.push((slow, back, exit, insn, delta));
            }
            delta = delta.wrapping_add(d.len as u32);
            inlined += 1;
            continue;
        }
        flush_eip(&mut a, &mut delta);
        let exit = a.new_dynamic_label();
        exits.push((exit, k as i32));
        let last = k + 1 == block.insns.len();
        if last && code32 && d.o32 {
            let done = block.insns.len() as i32;
            if d.i.flow_control() == FlowControl::ConditionalBranch {
                if let Some(cc) = host_cc(d) {
                    emit_jcc::<B>(&mut a, insn, cc, exit, done);
                    inlined += 1;
                    continue;
                }
            }
            if let Some(b) = branch_form(d) {
                emit_branch::<B>(&mut a, insn, b, exit, done);
                inlined += 1;
                continue;
            }
        }
        emit_helper_call::<B>(&mut a, insn, exit);
    }
    flush_eip(&mut a, &mut delta);
    dynasm!(a
        ; .arch x64
        ; mov eax, block.insns.len() as i32
        ; ->ret:
        ; pop rbx
        ; pop r13
        ; pop r12
        ; ret
    );
    // A memory access off the fast path runs the handler with EIP made exact, then puts
    // EIP back where the inline path leaves it (the delta stays pending).
    for (slow, back, exit, insn, before) in slow_paths {
        let after = before.wrapping_add(insn.1.len as u32);
        dynasm!(a ; .arch x64 ; =>slow);
        if before != 0 {
            dynasm!(a ; .arch x64 ; add DWORD [r12 + EIP], before as i32);
        }
        emit_helper_call::<B>(&mut a, insn, exit);
        dynasm!(a ; .arch x64 ; sub DWORD [r12 + EIP], after as i32 ; jmp =>back);
    }
    // Helper exits: EAX is END_BLOCK (instruction k done) or a packed exception
    // (instruction k faulted, not done).
    for (label, k) in exits {
        dynasm!(a ; .arch x64 ; =>label ; mov edx, k ; jmp ->exit);
    }
    dynasm!(a
        ; .arch x64
        ; ->exit:
        ; cmp eax, END_BLOCK as i32
        ; jne >fault
        ; lea edx, [rdx + 1]
        ; xor eax, eax
        ; fault:
        ; shl rax, 32
        ; or rax, rdx
        ; jmp ->ret
    );
    let code = a.finalize().ok()?;
    Some((code, inlined))
}

/// Run the code at `offset` on `cpu` and `bus`.
pub fn call<B: Bus>(cache: &CodeCache, offset: usize, cpu: &mut Cpu, bus: &mut B) -> u64 {
    let addr = cache.addr(offset);
    let ram = bus.mem().ram_mut().as_mut_ptr();
    // SAFETY: `addr` is the entry of code `translate::<B>` emitted into the executable
    // code cache for a block of this same bus type, not cleared since (handles are reset
    // with the cache). That code follows the sysv64 ABI, touches only `*cpu` (through
    // the field offsets above), guest RAM at `ram` at the physical offsets of soft-TLB
    // hits (entries exist only for pages inside RAM, accesses never cross a page), and
    // calls `run_handler::<B>` with `cpu` and `bus`.
    let f: extern "sysv64" fn(*mut Cpu, *mut B, *mut u8) -> u64 =
        unsafe { std::mem::transmute(addr) };
    f(cpu, bus, ram)
}
