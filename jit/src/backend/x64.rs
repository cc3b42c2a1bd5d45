//! x86-64 code for a block, emitted with dynasmrt.
//!
//! A block's code is entered from the dispatcher as `extern "sysv64" fn(cpu, bus, ram,
//! links) -> u64`, returning a packed exception (or 0). R12 holds the CPU, R13 the bus,
//! RBX guest RAM and R14 the chain table. Blocks add the instructions they complete to
//! the CPU's count themselves and, when one finishes, jump straight into the next
//! translated block (`emit_chain`), in the same stack frame. EIP is kept exact before
//! every helper call and at every exit; inline instructions only add to a pending delta
//! in between.

use std::mem::{offset_of, size_of};

use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};
use iced_x86::{FlowControl, Mnemonic};
use ox86_core::cpu::flags::LazyOp;
use ox86_core::cpu::state::{attr, Seg, Segment};
use ox86_core::cpu::TLB_SETS_OFFSET;
use ox86_core::decode::{Block, DecodedInsn, Opd};
use ox86_core::mmu::tlb::{TlbEntry, ENTRIES};
use ox86_core::{Bus, Cpu};

use crate::chain::{ChainSlot, Links, CHAIN_SLOTS};
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
const FLAGS_BITS: i32 = offset_of!(Cpu, s.flags.bits) as i32;
const INSNS: i32 = offset_of!(Cpu, stats.instructions) as i32;
const CHAIN_END: i32 = offset_of!(Cpu, chain_end) as i32;
const INTR_SEEN: i32 = offset_of!(Cpu, intr_seen) as i32;
const CHAINED: i32 = offset_of!(Links, chained) as i32;
const SLOTS: i32 = offset_of!(Links, slots) as i32;
const SLOT_KEY: i32 = offset_of!(ChainSlot, key) as i32;
const SLOT_ENTRY: i32 = offset_of!(ChainSlot, entry) as i32;
const SLOT_LEN: i32 = offset_of!(ChainSlot, len) as i32;
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

/// Host registers that shadow guest registers in straight-line inline code (RDI,
/// R8-R11, R15): the generated code stays clear of them otherwise.
const SHADOW_REGS: [u8; 6] = [7, 8, 9, 10, 11, 15];
const EAX: u8 = 0;
const ECX: u8 = 1;
const EDX: u8 = 2;

/// Which guest registers a host register holds, in straight-line inline code. Guest
/// registers are written through to the CPU state at once, so memory is always
/// current; the copies only spare later instructions the reload (the store-to-load
/// latency would chain dependent instructions). Forgotten wherever code can leave the
/// inline path (helpers, slow paths), since a handler may change any register.
#[derive(Default)]
struct RegCache {
    /// Guest register offset held by each of `SHADOW_REGS`.
    held: [Option<i32>; 6],
    next: usize,
}

impl RegCache {
    fn find(&self, off: i32) -> Option<u8> {
        let i = self.held.iter().position(|&h| h == Some(off))?;
        Some(SHADOW_REGS[i])
    }

    /// Guest register `off` into host register `dst`.
    fn load(&self, a: &mut Asm, off: i32, dst: u8) {
        match self.find(off) {
            Some(h) => dynasm!(a ; .arch x64 ; mov Rd(dst), Rd(h)),
            None => dynasm!(a ; .arch x64 ; mov Rd(dst), [r12 + off]),
        }
    }

    /// Host register `src` into guest register `off` (and its shadow).
    fn store(&mut self, a: &mut Asm, off: i32, src: u8) {
        dynasm!(a ; .arch x64 ; mov [r12 + off], Rd(src));
        let i = match self.held.iter().position(|&h| h == Some(off)) {
            Some(i) => i,
            None => {
                let i = self.next;
                self.next = (i + 1) % SHADOW_REGS.len();
                self.held[i] = Some(off);
                i
            }
        };
        let h = SHADOW_REGS[i];
        dynasm!(a ; .arch x64 ; mov Rd(h), Rd(src));
    }

    /// Guest register `off` was changed in memory.
    fn forget(&mut self, off: i32) {
        for h in &mut self.held {
            if *h == Some(off) {
                *h = None;
            }
        }
    }

    fn clear(&mut self) {
        self.held = [None; 6];
    }
}

/// The effective address into EAX.
fn emit_ea(a: &mut Asm, e: &Ea, rc: &RegCache) {
    dynasm!(a ; .arch x64 ; mov eax, e.disp as i32);
    if let Some(b) = e.base {
        match rc.find(b) {
            Some(h) => dynasm!(a ; .arch x64 ; add eax, Rd(h)),
            None => dynasm!(a ; .arch x64 ; add eax, [r12 + b]),
        }
    }
    if let Some((i, shift)) = e.index {
        rc.load(a, i, ECX);
        dynasm!(a ; .arch x64 ; shl ecx, shift as i8 ; add eax, ecx);
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
    /// SHL/SHR/SAR r32 by a constant (0: no effect at all).
    Shift {
        dst: i32,
        op: LazyOp,
        count: u8,
    },
    /// INC/DEC r32: CF carries over from the flags before.
    IncDec {
        dst: i32,
        dec: bool,
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
        Mnemonic::Shl | Mnemonic::Sal | Mnemonic::Shr | Mnemonic::Sar => {
            // The interpreter's register-by-constant form (`shift_reg`).
            let Opd::Reg(r) = d.ops[0] else { return None };
            let constant = d.i.op_count() == 1
                || matches!(d.ops[1], Opd::Imm(_))
                || d.i.op1_kind() == iced_x86::OpKind::Immediate8;
            if !constant {
                return None;
            }
            let count = match d.ops[1] {
                Opd::Imm(n) => (n & 0x1f) as u8,
                _ => 1,
            };
            let op = match d.i.mnemonic() {
                Mnemonic::Shr => LazyOp::Shr,
                Mnemonic::Sar => LazyOp::Sar,
                _ => LazyOp::Shl,
            };
            return Some(Inline::Shift {
                dst: reg32(r)?,
                op,
                count,
            });
        }
        Mnemonic::Inc | Mnemonic::Dec => {
            let Opd::Reg(r) = d.ops[0] else { return None };
            return Some(Inline::IncDec {
                dst: reg32(r)?,
                dec: d.i.mnemonic() == Mnemonic::Dec,
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
    /// The lazy flags it records (all of them, top 31), if any.
    fn writes_flags(&self) -> Option<LazyOp> {
        match *self {
            Inline::Alu { op, .. } => Some(match op {
                Alu::Add => LazyOp::Add,
                Alu::Sub | Alu::Cmp => LazyOp::Sub,
                _ => LazyOp::Logic,
            }),
            Inline::Shift { op, count, .. } => (count != 0).then_some(op),
            Inline::IncDec { dec, .. } => Some(if dec { LazyOp::Dec } else { LazyOp::Inc }),
            _ => None,
        }
    }

    /// Reads the flags before it (INC/DEC keep CF).
    fn reads_flags(&self) -> bool {
        matches!(self, Inline::IncDec { .. })
    }

    /// May leave the inline path (for the handler, which may fault).
    fn has_slow_path(&self) -> bool {
        self.touches_memory() || self.reads_flags()
    }

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

/// Emit `f`; forms with a slow path jump to `slow` when the fast path does not apply.
/// `before` is what recorded the flags before it, when known; `keep_flags` false when
/// later code of the block overwrites them unread (nothing can observe them in between).
fn emit_inline(
    a: &mut Asm,
    rc: &mut RegCache,
    f: &Inline,
    slow: dynasmrt::DynamicLabel,
    before: Option<LazyOp>,
    keep_flags: bool,
) {
    match *f {
        Inline::Shift { count: 0, .. } => {}
        Inline::Shift { dst, op, count } => {
            rc.load(a, dst, EAX);
            dynasm!(a ; .arch x64 ; mov edx, eax);
            match op {
                LazyOp::Shl => dynasm!(a ; .arch x64 ; shl edx, count as i8),
                LazyOp::Shr => dynasm!(a ; .arch x64 ; shr edx, count as i8),
                _ => dynasm!(a ; .arch x64 ; sar edx, count as i8),
            }
            rc.store(a, dst, EDX);
            if keep_flags {
                dynasm!(a ; .arch x64 ; mov ecx, count as i32);
                emit_lazy(a, op);
            }
        }
        Inline::IncDec { dst, dec } => {
            emit_carry_in(a, before, slow);
            rc.load(a, dst, EAX);
            dynasm!(a ; .arch x64 ; mov ecx, 1);
            if dec {
                dynasm!(a ; .arch x64 ; lea edx, [rax - 1]);
            } else {
                dynasm!(a ; .arch x64 ; lea edx, [rax + 1]);
            }
            rc.store(a, dst, EDX);
            if keep_flags {
                emit_lazy(a, if dec { LazyOp::Dec } else { LazyOp::Inc });
            }
        }
        Inline::LoadExt { dst, ref m, signed } => {
            emit_tlb_lookup(a, rc, m, false, slow);
            match (m.size, signed) {
                (1, false) => dynasm!(a ; .arch x64 ; movzx eax, BYTE [rbx + rcx]),
                (1, true) => dynasm!(a ; .arch x64 ; movsx eax, BYTE [rbx + rcx]),
                (_, false) => dynasm!(a ; .arch x64 ; movzx eax, WORD [rbx + rcx]),
                (_, true) => dynasm!(a ; .arch x64 ; movsx eax, WORD [rbx + rcx]),
            }
            rc.store(a, dst, EAX);
        }
        Inline::Load { dst, ref m } => {
            emit_tlb_lookup(a, rc, m, false, slow);
            dynasm!(a ; .arch x64 ; mov eax, [rbx + rcx]);
            rc.store(a, dst, EAX);
        }
        Inline::Push { src } => {
            emit_stack_check(a, slow);
            let m = stack_ref(-4);
            emit_tlb_lookup(a, rc, &m, true, slow);
            rc.load(a, src, EAX);
            dynasm!(a
                ; .arch x64
                ; mov [rbx + rcx], eax
                ; sub DWORD [r12 + ESP], 4
            );
            rc.forget(ESP);
        }
        Inline::Pop { dst } => {
            emit_stack_check(a, slow);
            let m = stack_ref(0);
            emit_tlb_lookup(a, rc, &m, false, slow);
            dynasm!(a
                ; .arch x64
                ; mov eax, [rbx + rcx]
                ; add DWORD [r12 + ESP], 4
            );
            rc.forget(ESP);
            rc.store(a, dst, EAX);
        }
        Inline::Store { src, ref m } => {
            emit_tlb_lookup(a, rc, m, true, slow);
            rc.load(a, src, EAX);
            dynasm!(a ; .arch x64 ; mov [rbx + rcx], eax);
        }
        Inline::Mov { dst, ref src } => {
            load_src(a, rc, src);
            rc.store(a, dst, ECX);
        }
        Inline::Lea { dst, ref ea } => {
            emit_ea(a, ea, rc);
            rc.store(a, dst, EAX);
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
                    emit_tlb_lookup(a, rc, m, writes, slow);
                    dynasm!(a ; .arch x64 ; mov rsi, rcx ; mov eax, [rbx + rsi]);
                    load_src(a, rc, b);
                }
                (Operand::Src(Src::Reg(d)), Operand::Mem(m)) => {
                    emit_tlb_lookup(a, rc, m, false, slow);
                    dynasm!(a ; .arch x64 ; mov ecx, [rbx + rcx]);
                    rc.load(a, *d, EAX);
                }
                (Operand::Src(Src::Reg(d)), Operand::Src(b)) => {
                    load_src(a, rc, b);
                    rc.load(a, *d, EAX);
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
            if keep_flags {
                emit_lazy(a, f.writes_flags().unwrap_or(LazyOp::Logic));
            }
            if writes {
                match dst {
                    Operand::Mem(_) => dynasm!(a ; .arch x64 ; mov [rbx + rsi], edx),
                    Operand::Src(Src::Reg(d)) => rc.store(a, *d, EDX),
                    Operand::Src(Src::Imm(_)) => {}
                }
            }
        }
    }
}

/// Record lazy flags `op` of a 32-bit operation exactly as the interpreter does:
/// operands in EAX and ECX, result in EDX.
fn emit_lazy(a: &mut Asm, op: LazyOp) {
    let op_top = (op as u8 as u16 | 31 << 8) as i16;
    dynasm!(a
        ; .arch x64
        ; mov WORD [r12 + F_OP], op_top
        ; mov [r12 + F_A], eax
        ; mov [r12 + F_B], ecx
        ; mov [r12 + F_R], edx
    );
}

/// INC/DEC keep CF: move it from the lazy flags into `bits`, as `set_lazy` does. Known
/// 32-bit ADD/SUB/logic sources inline, anything else (a shift, ADC...) takes `slow`.
fn emit_carry_in(a: &mut Asm, before: Option<LazyOp>, slow: dynasmrt::DynamicLabel) {
    const _: () = assert!(F_TOP == F_OP + 1, "op and top are read as one word");
    let cf = ox86_core::cpu::flags::CF as i32;
    let set = a.new_dynamic_label();
    let done = a.new_dynamic_label();
    match before {
        Some(LazyOp::Inc | LazyOp::Dec | LazyOp::None) => return,
        Some(op) => {
            if !emit_carry(a, op) {
                dynasm!(a ; .arch x64 ; jmp =>slow);
                return;
            }
        }
        None => {
            // Whatever recorded the flags is known only at run time.
            dynasm!(a
                ; .arch x64
                ; movzx eax, WORD [r12 + F_OP]
                ; cmp al, LazyOp::Inc as i8
                ; je =>done
                ; cmp al, LazyOp::Dec as i8
                ; je =>done
                ; cmp al, LazyOp::None as i8
                ; je =>done
            );
            for op in [LazyOp::Add, LazyOp::Sub, LazyOp::Logic] {
                let next = a.new_dynamic_label();
                dynasm!(a ; .arch x64 ; cmp eax, op as i32 | 31 << 8 ; jne =>next);
                emit_carry(a, op);
                dynasm!(a ; .arch x64 ; jmp =>set ; =>next);
            }
            dynasm!(a ; .arch x64 ; jmp =>slow);
        }
    }
    dynasm!(a
        ; .arch x64
        ; =>set
        ; movzx edx, dl
        ; and DWORD [r12 + FLAGS_BITS], !cf
        ; or [r12 + FLAGS_BITS], edx
        ; =>done
    );
}

/// DL = CF of 32-bit lazy flags of kind `op` (clobbers EAX); false for a kind not done
/// here.
fn emit_carry(a: &mut Asm, op: LazyOp) -> bool {
    match op {
        LazyOp::Add => {
            dynasm!(a ; .arch x64 ; mov eax, [r12 + F_R] ; cmp eax, [r12 + F_A] ; setb dl)
        }
        LazyOp::Sub => {
            dynasm!(a ; .arch x64 ; mov eax, [r12 + F_A] ; cmp eax, [r12 + F_B] ; setb dl)
        }
        LazyOp::Logic => dynasm!(a ; .arch x64 ; xor edx, edx),
        _ => return false,
    }
    true
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
fn emit_tlb_lookup(
    a: &mut Asm,
    rc: &RegCache,
    m: &MemRef,
    write: bool,
    slow: dynasmrt::DynamicLabel,
) {
    let seg = SEGS + SEG_SIZE * m.seg as i32;
    let plain_mask = (attr::PRESENT | attr::CODE | attr::DC | attr::RW) as i32;
    let plain = (attr::PRESENT | attr::RW) as i32;
    let tag = if write { TLB_WRITE_TAG } else { TLB_READ_TAG };
    let last = m.size as i32 - 1;
    emit_ea(a, &m.ea, rc);
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
    );
    emit_tlb_entry(a);
    dynasm!(a
        ; .arch x64
        ; mov ecx, eax
        ; and ecx, 0xffff_f000_u32 as i32
        ; cmp ecx, [rdx + tag]
        ; jne =>slow
        ; mov ecx, [rdx + TLB_PHYS]
        ; and eax, 0xfff
        ; or ecx, eax
    );
}

/// RDX = the soft-TLB entry for linear address EAX at the current privilege (the
/// interpreter's `Tlb::index` in the supervisor or user set). Clobbers ECX.
fn emit_tlb_entry(a: &mut Asm) {
    dynasm!(a
        ; .arch x64
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
    );
}

/// The source into ECX.
fn load_src(a: &mut Asm, rc: &RegCache, s: &Src) {
    match *s {
        Src::Reg(off) => rc.load(a, off, ECX),
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
    known: Option<LazyOp>,
    exit: dynasmrt::DynamicLabel,
) {
    const _: () = assert!(F_TOP == F_OP + 1, "op and top are read as one word");
    let d = &insn.1;
    let cs_limit = SEGS + SEG_SIZE * Seg::Cs as i32 + SEG_LIMIT;
    let (taken, not_taken, slow) = (
        a.new_dynamic_label(),
        a.new_dynamic_label(),
        a.new_dynamic_label(),
    );
    match known {
        Some(op) => {
            if emit_host_flags(a, op, cc) {
                emit_host_jcc(a, cc, taken);
                dynasm!(a ; .arch x64 ; jmp =>not_taken);
            } else {
                dynasm!(a ; .arch x64 ; jmp =>slow);
            }
        }
        None => {
            // Whatever recorded the flags is known only at run time.
            dynasm!(a ; .arch x64 ; movzx eax, WORD [r12 + F_OP]);
            for op in [
                LazyOp::Sub,
                LazyOp::Logic,
                LazyOp::Add,
                LazyOp::Inc,
                LazyOp::Dec,
            ] {
                let next = a.new_dynamic_label();
                dynasm!(a ; .arch x64 ; cmp eax, op as i32 | 31 << 8 ; jne =>next);
                if emit_host_flags(a, op, cc) {
                    emit_host_jcc(a, cc, taken);
                    dynasm!(a ; .arch x64 ; jmp =>not_taken);
                } else {
                    dynasm!(a ; .arch x64 ; jmp =>slow);
                }
                dynasm!(a ; .arch x64 ; =>next);
            }
            dynasm!(a ; .arch x64 ; jmp =>slow);
        }
    }
    dynasm!(a
        ; .arch x64
        ; =>not_taken
        ; add DWORD [r12 + EIP], d.len as i32
        ; jmp ->chain
        ; =>taken
        ; mov eax, [r12 + EIP]
        ; add eax, (d.len as u32).wrapping_add(d.rel) as i32
        ; cmp eax, [r12 + cs_limit]
        ; ja =>slow
        ; mov [r12 + EIP], eax
        ; jmp ->chain
        ; =>slow
    );
    emit_helper_call::<B>(a, insn, exit);
    dynasm!(a ; .arch x64 ; jmp ->chain);
}

/// Set the host's flags to the guest's for condition `cc`, from 32-bit lazy flags of
/// kind `op`, by redoing the operation (CMP a, b for SUB; ADD a, b; CMP r, 0 for logic,
/// CF = OF = 0; INC/DEC a with CF loaded from `bits`, which they keep). For a shift only
/// ZF, SF and PF come from the result alone. False when `cc` cannot be had this way.
fn emit_host_flags(a: &mut Asm, op: LazyOp, cc: u8) -> bool {
    let result_only = matches!(cc & 15, 4 | 5 | 8 | 9 | 10 | 11);
    match op {
        LazyOp::Sub => dynasm!(a ; .arch x64 ; mov eax, [r12 + F_A] ; cmp eax, [r12 + F_B]),
        LazyOp::Add => dynasm!(a ; .arch x64 ; mov eax, [r12 + F_A] ; add eax, [r12 + F_B]),
        LazyOp::Logic => dynasm!(a ; .arch x64 ; cmp DWORD [r12 + F_R], 0),
        LazyOp::Inc | LazyOp::Dec => {
            dynasm!(a ; .arch x64 ; bt DWORD [r12 + FLAGS_BITS], 0 ; mov eax, [r12 + F_A]);
            if op == LazyOp::Inc {
                dynasm!(a ; .arch x64 ; inc eax);
            } else {
                dynasm!(a ; .arch x64 ; dec eax);
            }
        }
        LazyOp::Shl | LazyOp::Shr | LazyOp::Sar if result_only => {
            dynasm!(a ; .arch x64 ; cmp DWORD [r12 + F_R], 0)
        }
        _ => return false,
    }
    true
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
            emit_tlb_lookup(a, &RegCache::default(), &stack_ref(-4), true, slow);
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
            emit_tlb_lookup(a, &RegCache::default(), &stack_ref(0), false, slow);
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
    dynasm!(a ; .arch x64 ; jmp ->chain ; =>slow);
    emit_helper_call::<B>(a, insn, exit);
    dynasm!(a ; .arch x64 ; jmp ->chain);
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

/// Whether the flags instruction `k` records may be read: false only when a later
/// inline instruction of the block records all of them again with nothing in between
/// that reads them or can leave the inline path (a helper, a fault, the block's end).
fn flags_read_after(forms: &[Option<Inline>], k: usize) -> bool {
    for f in &forms[k + 1..] {
        let Some(f) = f else { return true };
        if f.reads_flags() || f.has_slow_path() {
            return true;
        }
        if f.writes_flags().is_some() {
            return false;
        }
    }
    true
}

/// Translate `block` for the code cache address `base`: the code, the offset of its
/// chain entry (where other blocks jump in, past the prologue) and the number of
/// instructions inlined; None if the block cannot be translated.
pub fn translate<B: Bus>(block: &Block<B>, base: usize) -> Option<Translated> {
    let code32 = block.key >> 40 & 1 != 0;
    let is_286 = block.key >> 41 & 1 != 0;
    let mut a = Asm::new(base);
    // The dispatcher enters here; chained blocks jump past this, into the same frame.
    // Five pushes keep RSP 16-byte aligned for helper calls.
    dynasm!(a
        ; .arch x64
        ; push rbx
        ; push r12
        ; push r13
        ; push r14
        ; push r15
        ; mov r12, rdi
        ; mov r13, rsi
        ; mov rbx, rdx
        ; mov r14, rcx
    );
    let chain_entry = a.offset().0;
    let mut exits = Vec::new();
    // Slow paths of inline memory accesses: (label, back label, insn, EIP delta before).
    let mut slow_paths = Vec::new();
    let mut delta = 0u32;
    let mut inlined = 0;
    // Inline only in 32-bit code, where EIP needs no 16-bit wrap.
    let forms: Vec<Option<Inline>> = block
        .insns
        .iter()
        .map(|(_, d)| inline_form(d).filter(|_| code32))
        .collect();
    // What recorded the flags, as far as this block's own code tells.
    let mut known: Option<LazyOp> = None;
    let mut rc = RegCache::default();
    for (k, insn) in block.insns.iter().enumerate() {
        let d = &insn.1;
        if let Some(f) = &forms[k] {
            let slow = a.new_dynamic_label();
            let keep = f.writes_flags().is_none() || flags_read_after(&forms, k);
            emit_inline(&mut a, &mut rc, f, slow, known, keep);
            if f.has_slow_path() {
                let back = a.new_dynamic_label();
                dynasm!(a ; .arch x64 ; =>back);
                // The slow path's handler may have changed any register.
                rc.clear();
                let exit = a.new_dynamic_label();
                exits.push((exit, k as i32));
                slow_paths.push((slow, back, exit, insn, delta));
            }
            // The handler on the slow path records the same kind of flags.
            known = f.writes_flags().or(known);
            delta = delta.wrapping_add(d.len as u32);
            inlined += 1;
            continue;
        }
        flush_eip(&mut a, &mut delta);
        rc.clear();
        let exit = a.new_dynamic_label();
        exits.push((exit, k as i32));
        let last = k + 1 == block.insns.len();
        if last && code32 && d.o32 {
            if d.i.flow_control() == FlowControl::ConditionalBranch {
                if let Some(cc) = host_cc(d) {
                    emit_jcc::<B>(&mut a, insn, cc, known, exit);
                    inlined += 1;
                    continue;
                }
            }
            if let Some(b) = branch_form(d) {
                emit_branch::<B>(&mut a, insn, b, exit);
                inlined += 1;
                continue;
            }
        }
        known = None;
        emit_helper_call::<B>(&mut a, insn, exit);
    }
    flush_eip(&mut a, &mut delta);
    dynasm!(a ; .arch x64 ; ->chain:);
    emit_chain(&mut a, block.insns.len() as i32, is_286);
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
    // (instruction k faulted, not done). Either way the dispatcher takes over.
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
        ; add [r12 + INSNS], rdx
        ; jmp ->leave
    );
    let code = a.finalize().ok()?;
    Some(Translated {
        code,
        chain_entry,
        inlined,
    })
}

/// What `translate` made of a block.
pub struct Translated {
    pub code: Vec<u8>,
    pub chain_entry: usize,
    pub inlined: usize,
}

/// The end of a block that ran to completion, EIP exact: retire its `len` instructions,
/// then go on into the translated block at CS:EIP, found as the dispatcher finds it (CS
/// limit, the soft TLB's read entry, the block key) in the chain table, if it is there,
/// fits the instruction budget, and no interrupt is waiting. Otherwise return 0.
fn emit_chain(a: &mut Asm, len: i32, is_286: bool) {
    let cs_seg = SEGS + SEG_SIZE * Seg::Cs as i32;
    let slot = size_of::<ChainSlot>() as i32;
    const _: () = assert!(size_of::<ChainSlot>() == 32, "slots are indexed by shift");
    dynasm!(a
        ; .arch x64
        ; add QWORD [r12 + INSNS], len
        ; cmp BYTE [r12 + INTR_SEEN], 0
        ; jne >irq
        ; lookup:
        ; mov eax, [r12 + EIP]
        ; cmp eax, [r12 + cs_seg + SEG_LIMIT]
        ; ja >out
        ; add eax, [r12 + cs_seg + SEG_BASE]
    );
    emit_tlb_entry(a);
    dynasm!(a
        ; .arch x64
        ; mov ecx, eax
        ; and ecx, 0xffff_f000_u32 as i32
        ; cmp ecx, [rdx + TLB_READ_TAG]
        ; jne >out
        ; and eax, 0xfff
        ; or eax, [rdx + TLB_PHYS]
        ; test WORD [r12 + cs_seg + SEG_ATTR], attr::DB as i16
        ; jz >code16
        ; bts rax, 40
        ; code16:
    );
    if is_286 {
        dynasm!(a ; .arch x64 ; bts rax, 41);
    }
    dynasm!(a
        ; .arch x64
        ; mov rdx, rax
        ; shr rdx, 12
        ; xor rdx, rax
        ; and edx, (CHAIN_SLOTS - 1) as i32
        ; shl edx, slot.trailing_zeros() as i8
        ; cmp rax, [r14 + rdx + SLOTS + SLOT_KEY]
        ; jne >out
        ; mov rax, [r12 + INSNS]
        ; add rax, [r14 + rdx + SLOTS + SLOT_LEN]
        ; cmp rax, [r12 + CHAIN_END]
        ; ja >out
        ; inc QWORD [r14 + CHAINED]
        ; jmp QWORD [r14 + rdx + SLOTS + SLOT_ENTRY]
        ; irq:
        ; test DWORD [r12 + FLAGS_BITS], ox86_core::cpu::flags::IF as i32
        ; jz <lookup
        ; out:
        ; xor eax, eax
        ; ->leave:
        ; pop r15
        ; pop r14
        ; pop r13
        ; pop r12
        ; pop rbx
        ; ret
    );
}

/// Run the code at `entry` on `cpu` and `bus`, chaining through `links`: the packed
/// exception that ended it, or 0.
pub fn call<B: Bus>(entry: usize, cpu: &mut Cpu, bus: &mut B, links: &Links) -> u32 {
    let ram = bus.mem().ram_mut().as_mut_ptr();
    // SAFETY: `entry` is the entry of code `translate::<B>` emitted into the executable
    // code cache for a block of this same bus type, not cleared since (handles are reset
    // with the cache), and `links` holds only chain entries of such code. That code
    // follows the sysv64 ABI, touches only `*cpu` (through the field offsets above),
    // reads `links`, accesses guest RAM at `ram` at the physical offsets of soft-TLB hits
    // (entries exist only for pages inside RAM, accesses never cross a page), and calls
    // `run_handler::<B>` with `cpu` and `bus`.
    let f: extern "sysv64" fn(*mut Cpu, *mut B, *mut u8, *const Links) -> u64 =
        unsafe { std::mem::transmute(entry) };
    f(cpu, bus, ram, links) as u32
}
