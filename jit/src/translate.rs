//! The translator every backend shares: which instructions of a block are emitted
//! inline and in what form, where their flags are dead, and the walk over the block that
//! drives a backend's `Emitter`. Backends differ only in the code they emit.

use dynasmrt::DynamicLabel;
use iced_x86::{FlowControl, Mnemonic};
use ox86_core::cpu::flags::LazyOp;
use ox86_core::cpu::state::Seg;
use ox86_core::decode::{Block, DecodedInsn, Handler, Opd};
use ox86_core::interp::x87::direct::MemOp;
use ox86_core::Bus;

use crate::layout::REGS;

/// What recorded the lazy flags: the kind and `top` (the operand width in bits minus
/// one).
pub(crate) type Rec = (LazyOp, u8);

/// A block's instruction as the block cache holds it.
pub(crate) type Insn<B> = (Handler<B>, DecodedInsn);

/// Offset of 32-bit register `slot` (a `reg_slot` code) in the CPU, if it is one.
pub(crate) fn reg32(slot: u8) -> Option<i32> {
    (slot >> 3 == 3).then_some(REGS + 4 * (slot & 7) as i32)
}

/// An ALU operand: a 32-bit register or immediate, or memory.
pub(crate) enum Operand {
    Src(Src),
    Mem(MemRef),
}

/// A byte operand: a byte register (the bits from `shift` of the 32-bit register at
/// offset `reg`), an immediate or memory.
pub(crate) enum Operand8 {
    Reg { reg: i32, shift: u8 },
    Imm(u8),
    Mem(MemRef),
}

/// A 32-bit register or immediate source.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Src {
    Reg(i32),
    Imm(u32),
}

pub(crate) fn src32(o: Opd) -> Option<Src> {
    match o {
        Opd::Reg(s) => reg32(s).map(Src::Reg),
        Opd::Imm(v) => Some(Src::Imm(v)),
        _ => None,
    }
}

/// A 32-bit effective address: base and index register offsets in the CPU, index shift,
/// displacement.
#[derive(Clone)]
pub(crate) struct Ea {
    pub base: Option<i32>,
    pub index: Option<(i32, u8)>,
    pub disp: u32,
}

/// A memory operand: width (1, 2 or 4 bytes; 8 for x87's m64), segment and address.
#[derive(Clone)]
pub(crate) struct MemRef {
    pub size: u8,
    pub seg: Seg,
    pub ea: Ea,
}

/// The register slot's offset, None for no register, Some(None) for one not inlinable.
pub(crate) fn addr_reg(s: u8) -> Option<Option<i32>> {
    (s != ox86_core::decode::NO_REG).then(|| reg32(s))
}

/// The instruction's address, if it uses 32-bit addressing with 32-bit registers.
pub(crate) fn ea(d: &DecodedInsn) -> Option<Ea> {
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

/// SHL/SHR/SAR of a 16- or 32-bit register by a constant: the interpreter's
/// `shift_reg`.
fn shift_form(d: &DecodedInsn) -> Option<Inline> {
    let Opd::Reg(r) = d.ops[0] else { return None };
    let constant = d.i.op_count() == 1
        || matches!(d.ops[1], Opd::Imm(_))
        || d.i.op1_kind() == iced_x86::OpKind::Immediate8;
    let op = match d.i.mnemonic() {
        Mnemonic::Shr => LazyOp::Shr,
        Mnemonic::Sar => LazyOp::Sar,
        _ => LazyOp::Shl,
    };
    if !constant {
        let by_cl = d.i.op1_kind() == iced_x86::OpKind::Register
            && d.i.op1_register() == iced_x86::Register::CL;
        return match d.osz {
            4 if by_cl && d.o32 => Some(Inline::ShiftCl { dst: reg32(r)?, op }),
            _ => None,
        };
    }
    let count = match d.ops[1] {
        Opd::Imm(n) => (n & 0x1f) as u8,
        _ => 1,
    };
    let (dst, bits) = match d.osz {
        4 if d.o32 => (reg32(r)?, 32),
        2 => (narrow_reg(r, 2)?.0, 16),
        _ => return None,
    };
    Some(Inline::Shift {
        dst,
        op,
        count,
        bits,
    })
}

/// The inline ALU operation of a mnemonic, ADC and SBB aside.
fn alu_op(m: Mnemonic) -> Option<Alu> {
    Some(match m {
        Mnemonic::Add => Alu::Add,
        Mnemonic::Sub => Alu::Sub,
        Mnemonic::And => Alu::And,
        Mnemonic::Or => Alu::Or,
        Mnemonic::Xor => Alu::Xor,
        Mnemonic::Cmp => Alu::Cmp,
        Mnemonic::Test => Alu::Test,
        _ => return None,
    })
}

/// A byte or word register slot of width `size` as (its 32-bit register's offset, the
/// view's first bit).
fn narrow_reg(slot: u8, size: u8) -> Option<(i32, u8)> {
    let shift = match (slot >> 3, size) {
        (0, 1) => 0,
        (1, 1) => 8,
        (2, 2) => 0,
        _ => return None,
    };
    Some((REGS + 4 * (slot & 7) as i32, shift))
}

/// LODSB, SCASB and STOSB as `Inline::StrByte`.
fn str_byte(d: &DecodedInsn) -> Option<Inline> {
    if !d.a32 || d.i.has_rep_prefix() || d.i.has_repne_prefix() {
        return None;
    }
    let lods = d.i.mnemonic() == Mnemonic::Lodsb;
    let ptr = if lods { ESI } else { EDI };
    // SCASB and STOSB address ES:EDI, which takes no override (`d.seg` is the
    // overridable DS).
    let m = MemRef {
        size: 1,
        seg: if lods { d.seg } else { Seg::Es },
        ea: Ea {
            base: Some(ptr),
            index: None,
            disp: 0,
        },
    };
    let inner = if lods {
        Inline::LoadNarrow {
            dst: EAX,
            shift: 0,
            m,
        }
    } else if d.i.mnemonic() == Mnemonic::Stosb {
        Inline::StoreNarrow {
            src: EAX,
            shift: 0,
            m,
        }
    } else {
        Inline::Alu8 {
            op: Alu::Cmp,
            dst: Operand8::Reg { reg: EAX, shift: 0 },
            src: Operand8::Mem(m),
        }
    };
    Some(Inline::StrByte {
        inner: Box::new(inner),
        ptr,
    })
}

pub(crate) fn mem_ref(d: &DecodedInsn) -> Option<MemRef> {
    if !matches!(d.msize, 1 | 2 | 4) {
        return None;
    }
    Some(MemRef {
        size: d.msize,
        seg: d.seg,
        ea: ea(d)?,
    })
}

/// An x87 instruction with a direct form (`x87::direct`) and its memory operand, for
/// `Emitter::x87_mem`.
pub(crate) fn x87_form(d: &DecodedInsn) -> Option<(MemOp, MemRef)> {
    let (op, size) = MemOp::of(d)?;
    Some((
        op,
        MemRef {
            size,
            seg: d.seg,
            ea: ea(d)?,
        },
    ))
}

/// The inline forms: 32-bit register/immediate MOV, ALU and TEST, LEA, and 32-bit loads
/// and stores through the soft TLB (misses take the handler).
pub(crate) enum Inline {
    Mov {
        dst: i32,
        src: Src,
    },
    /// LODSB, SCASB or STOSB without a repeat prefix and with 32-bit addresses: `inner`
    /// (AL loaded from the byte, CMP AL with it, or AL stored there), then the pointer
    /// register `ptr` (ESI or EDI) up by one. With DF set, the handler.
    StrByte {
        inner: Box<Inline>,
        ptr: i32,
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
    /// LEAVE on a 32-bit stack: ESP = EBP + 4, EBP = SS:[EBP].
    Leave,
    /// PUSH r32/imm/m32 and POP r32 on a 32-bit stack.
    Push {
        src: Operand,
    },
    Pop {
        dst: i32,
    },
    /// MOV m32, r32/imm32; MOV m8/m16, imm (`m.size`).
    Store {
        src: Src,
        m: MemRef,
    },
    /// MOV r32, imm32 whose immediate code rewrites (`DecodedInsn::volatile_imm`): the
    /// immediate read from RAM at its physical address `pa` (in the block's page: only
    /// for a block in RAM).
    MovFromRam {
        dst: i32,
        pa: u32,
    },
    /// NOT r32 (no flags).
    Not {
        dst: i32,
    },
    /// SETcc r8: the condition as 0/1 into the byte at bit `shift` of register `dst`.
    SetCc {
        dst: i32,
        shift: u8,
        cc: u8,
    },
    /// CMOVcc r32, r32 / r32, m32 (the memory read whatever the condition, as the
    /// guest's is).
    Cmov {
        dst: i32,
        src: Operand,
        cc: u8,
    },
    /// MOV r8/r16, m8/m16 (`m.size`): into the bits from `shift` of register `dst`.
    LoadNarrow {
        dst: i32,
        shift: u8,
        m: MemRef,
    },
    /// MOV m8/m16, r8/r16 (`m.size`): the bits from `shift` of register `src`.
    StoreNarrow {
        src: i32,
        shift: u8,
        m: MemRef,
    },
    /// MOVZX/MOVSX r32, r8/r16: `bits` of the 32-bit register `src` from bit `shift`.
    Ext {
        dst: i32,
        src: i32,
        shift: u8,
        bits: u8,
        signed: bool,
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
    /// SHL/SHR/SAR r16/r32 (`bits`) by a constant (0: no effect at all).
    Shift {
        dst: i32,
        op: LazyOp,
        count: u8,
        bits: u8,
    },
    /// INC/DEC r32/m32: CF carries over from the flags before.
    IncDec {
        dst: Operand,
        dec: bool,
    },
    /// ADD/SUB/AND/OR/XOR/CMP/TEST of bytes: at most one operand is memory, the
    /// destination is not an immediate.
    Alu8 {
        op: Alu,
        dst: Operand8,
        src: Operand8,
    },
    /// NOP: nothing at all. (PAUSE moves the clock: its handler.)
    Nop,
    /// BT r/m32, imm8 (`bit` the immediate mod 32): the flags made definite as they were
    /// (as `Flags::set_bit` does), then CF the bit. Backends that cannot make them
    /// definite inline take the handler.
    Bt {
        src: Operand,
        bit: u8,
    },
    /// RDTSC, instruction `pos` of its block: the handler's `Cpu::tsc_at`, unless CR4.TSD
    /// is set (then the handler, which may fault).
    Rdtsc {
        pos: u8,
    },
    /// NEG r32.
    Neg {
        dst: i32,
    },
    /// SHL/SHR/SAR r32 by CL: no effect at all, flags included, when CL & 31 is 0.
    ShiftCl {
        dst: i32,
        op: LazyOp,
    },
    /// MOV r8, r8/imm8: the byte at bit `shift` of register `dst`.
    Mov8 {
        dst: i32,
        shift: u8,
        src: Operand8,
    },
    /// DIV r/m32: EDX:EAX by the source, flags untouched; a zero divisor or a quotient
    /// past 32 bits takes the handler (#DE).
    Div {
        src: Operand,
    },
    /// ROL/ROR r32 by a constant (1-31). Its flags are CF and OF from the result, the
    /// rest made definite: where nothing reads them before a later instruction records
    /// them all, only the result is kept (`JitView::rotated`) for slow paths on the way
    /// (`rotate_flags_dead`); otherwise a backend computes them, as BT's, or takes the
    /// handler.
    Rotate {
        dst: i32,
        left: bool,
        count: u8,
    },
    /// IMUL r32, r/m32 (`imm` None: the destination times the source) and IMUL r32,
    /// r/m32, imm (the source times `imm`). `src` is a register or memory.
    Imul {
        dst: i32,
        src: Operand,
        imm: Option<u32>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alu {
    Add,
    /// ADC/SBB: a register destination only; the carry in comes from the flags before.
    Adc,
    Sbb,
    Sub,
    And,
    Or,
    Xor,
    Cmp,
    Test,
}

pub(crate) fn inline_form(d: &DecodedInsn) -> Option<Inline> {
    // Its immediate is read from RAM when it runs (by its handler, but for MOV r32).
    if let Some((pa, _, size)) = d.volatile_imm() {
        return match (d.i.mnemonic(), d.ops[0]) {
            (Mnemonic::Mov, Opd::Reg(r)) if size == 4 => {
                Some(Inline::MovFromRam { dst: reg32(r)?, pa })
            }
            _ => None,
        };
    }
    if d.i.condition_code() != iced_x86::ConditionCode::None
        && d.i.flow_control() == FlowControl::Next
    {
        return match (d.i.op_count(), d.ops[0], d.ops[1]) {
            // SETcc r8 (views 0 and 1: low and high byte).
            (1, Opd::Reg(r), _) if r >> 3 <= 1 => Some(Inline::SetCc {
                dst: REGS + 4 * (r & 7) as i32,
                shift: if r >> 3 == 1 { 8 } else { 0 },
                cc: d.cc,
            }),
            (2, Opd::Reg(r), Opd::Reg(s)) if d.o32 && d.osz == 4 => Some(Inline::Cmov {
                dst: reg32(r)?,
                src: Operand::Src(Src::Reg(reg32(s)?)),
                cc: d.cc,
            }),
            (2, Opd::Reg(r), Opd::Mem) if d.o32 && d.osz == 4 => Some(Inline::Cmov {
                dst: reg32(r)?,
                src: Operand::Mem(mem_ref(d).filter(|m| m.size == 4)?),
                cc: d.cc,
            }),
            _ => None,
        };
    }
    if d.i.mnemonic() == Mnemonic::Nop {
        return Some(Inline::Nop);
    }
    if matches!(
        d.i.mnemonic(),
        Mnemonic::Lodsb | Mnemonic::Scasb | Mnemonic::Stosb
    ) {
        return str_byte(d);
    }
    if d.i.mnemonic() == Mnemonic::Rdtsc {
        return Some(Inline::Rdtsc { pos: d.pos });
    }
    if d.i.mnemonic() == Mnemonic::Bt && d.osz == 4 {
        let Opd::Imm(n) = d.ops[1] else { return None };
        let src = match d.ops[0] {
            Opd::Mem => Operand::Mem(mem_ref(d).filter(|m| m.size == 4)?),
            o => Operand::Src(Src::Reg(src32(o).and_then(|s| match s {
                Src::Reg(r) => Some(r),
                Src::Imm(_) => None,
            })?)),
        };
        return Some(Inline::Bt {
            src,
            bit: (n & 31) as u8,
        });
    }
    if matches!(
        d.i.mnemonic(),
        Mnemonic::Shl | Mnemonic::Sal | Mnemonic::Shr | Mnemonic::Sar
    ) {
        return shift_form(d);
    }
    if matches!(d.i.mnemonic(), Mnemonic::Rol | Mnemonic::Ror) && d.o32 {
        let Opd::Reg(r) = d.ops[0] else { return None };
        let count = match (d.i.op_count(), d.ops[1]) {
            (1, _) => 1,
            (_, Opd::Imm(n)) => (n & 31) as u8,
            _ => return None,
        };
        // A count of 0 changes nothing, flags included.
        return Some(match count {
            0 => Inline::Nop,
            _ => Inline::Rotate {
                dst: reg32(r)?,
                left: d.i.mnemonic() == Mnemonic::Rol,
                count,
            },
        });
    }
    if d.osz == 1 {
        if let Some(op) = alu_op(d.i.mnemonic()) {
            let operand = |o: Opd| match o {
                Opd::Mem => mem_ref(d).filter(|m| m.size == 1).map(Operand8::Mem),
                Opd::Reg(r) => narrow_reg(r, 1).map(|(reg, shift)| Operand8::Reg { reg, shift }),
                Opd::Imm(v) => Some(Operand8::Imm(v as u8)),
                _ => None,
            };
            let (dst, src) = (operand(d.ops[0])?, operand(d.ops[1])?);
            return match (&dst, &src) {
                (Operand8::Reg { .. }, _)
                | (Operand8::Mem(_), Operand8::Reg { .. } | Operand8::Imm(_)) => {
                    Some(Inline::Alu8 { op, dst, src })
                }
                _ => None,
            };
        }
    }
    if d.i.mnemonic() == Mnemonic::Mov && d.osz == 1 {
        if let (Opd::Reg(r), Opd::Reg(_) | Opd::Imm(_)) = (d.ops[0], d.ops[1]) {
            let (dst, shift) = narrow_reg(r, 1)?;
            let src = match d.ops[1] {
                Opd::Reg(s) => {
                    let (reg, shift) = narrow_reg(s, 1)?;
                    Operand8::Reg { reg, shift }
                }
                Opd::Imm(v) => Operand8::Imm(v as u8),
                _ => return None,
            };
            return Some(Inline::Mov8 { dst, shift, src });
        }
    }
    if d.i.mnemonic() == Mnemonic::Mov && matches!(d.osz, 1 | 2) {
        let m = || mem_ref(d).filter(|m| m.size == d.osz);
        return match (d.ops[0], d.ops[1]) {
            (Opd::Reg(r), Opd::Mem) => {
                let (dst, shift) = narrow_reg(r, d.osz)?;
                Some(Inline::LoadNarrow {
                    dst,
                    shift,
                    m: m()?,
                })
            }
            (Opd::Mem, Opd::Reg(r)) => {
                let (src, shift) = narrow_reg(r, d.osz)?;
                Some(Inline::StoreNarrow {
                    src,
                    shift,
                    m: m()?,
                })
            }
            (Opd::Mem, Opd::Imm(v)) => Some(Inline::Store {
                src: Src::Imm(v),
                m: m()?,
            }),
            _ => None,
        };
    }
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
                (Opd::Mem, src) => Some(Inline::Store {
                    src: src32(src)?,
                    m: mem_ref(d)?,
                }),
                (Opd::Reg(r), src) => Some(Inline::Mov {
                    dst: reg32(r)?,
                    src: src32(src)?,
                }),
                _ => None,
            };
        }
        Mnemonic::Not => {
            let Opd::Reg(r) = d.ops[0] else { return None };
            return Some(Inline::Not { dst: reg32(r)? });
        }
        Mnemonic::Neg => {
            let Opd::Reg(r) = d.ops[0] else { return None };
            return Some(Inline::Neg { dst: reg32(r)? });
        }
        Mnemonic::Lea => {
            let Opd::Reg(r) = d.ops[0] else { return None };
            return Some(Inline::Lea {
                dst: reg32(r)?,
                ea: ea(d)?,
            });
        }
        Mnemonic::Movzx | Mnemonic::Movsx if matches!(d.ops[1], Opd::Reg(_)) => {
            let (Opd::Reg(r), Opd::Reg(s)) = (d.ops[0], d.ops[1]) else {
                return None;
            };
            // The slot's view: 0 low byte, 1 high byte, 2 word.
            let (shift, bits) = match s >> 3 {
                0 => (0, 8),
                1 => (8, 8),
                2 => (0, 16),
                _ => return None,
            };
            return Some(Inline::Ext {
                dst: reg32(r)?,
                src: REGS + 4 * (s & 7) as i32,
                shift,
                bits,
                signed: d.i.mnemonic() == Mnemonic::Movsx,
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
        Mnemonic::Push if d.o32 => {
            let src = match d.ops[0] {
                Opd::Reg(r) => Operand::Src(Src::Reg(reg32(r)?)),
                Opd::Imm(v) => Operand::Src(Src::Imm(v)),
                Opd::Mem => Operand::Mem(mem_ref(d).filter(|m| m.size == 4)?),
                Opd::Other => return None,
            };
            return Some(Inline::Push { src });
        }
        Mnemonic::Pop => {
            let Opd::Reg(r) = d.ops[0] else { return None };
            return Some(Inline::Pop { dst: reg32(r)? });
        }
        Mnemonic::Leave => return Some(Inline::Leave),
        Mnemonic::Inc | Mnemonic::Dec => {
            let dst = match d.ops[0] {
                Opd::Reg(r) => Operand::Src(Src::Reg(reg32(r)?)),
                Opd::Mem => Operand::Mem(mem_ref(d)?),
                _ => return None,
            };
            return Some(Inline::IncDec {
                dst,
                dec: d.i.mnemonic() == Mnemonic::Dec,
            });
        }
        Mnemonic::Div => {
            let src = match d.ops[0] {
                Opd::Mem => Operand::Mem(mem_ref(d).filter(|m| m.size == 4)?),
                Opd::Reg(s) => Operand::Src(Src::Reg(reg32(s)?)),
                _ => return None,
            };
            return Some(Inline::Div { src });
        }
        Mnemonic::Imul if d.i.op_count() >= 2 => {
            let Opd::Reg(r) = d.ops[0] else { return None };
            let src = match d.ops[1] {
                Opd::Mem => Operand::Mem(mem_ref(d)?),
                Opd::Reg(s) => Operand::Src(Src::Reg(reg32(s)?)),
                _ => return None,
            };
            let imm = match (d.i.op_count(), d.ops[2]) {
                (2, _) => None,
                (_, Opd::Imm(v)) => Some(v),
                _ => return None,
            };
            return Some(Inline::Imul {
                dst: reg32(r)?,
                src,
                imm,
            });
        }
        Mnemonic::Adc => Alu::Adc,
        Mnemonic::Sbb => Alu::Sbb,
        m => alu_op(m)?,
    };
    let operand = |o: Opd| match o {
        Opd::Mem => mem_ref(d).map(Operand::Mem),
        o => src32(o).map(Operand::Src),
    };
    let (dst, src) = (operand(d.ops[0])?, operand(d.ops[1])?);
    match (&dst, &src) {
        (Operand::Src(Src::Reg(_)), _) => Some(Inline::Alu { op, dst, src }),
        (Operand::Mem(_), Operand::Src(_)) if !matches!(op, Alu::Adc | Alu::Sbb) => {
            Some(Inline::Alu { op, dst, src })
        }
        _ => None,
    }
}

impl Inline {
    /// The kind of lazy flags it records (all of them, `top` 31 but for bytes and words), if
    /// any. ADC and SBB record Add or Adc (Sub or Sbb) as the carry in was: only known
    /// at run time (`known_after`).
    pub fn writes_flags(&self) -> Option<LazyOp> {
        match *self {
            Inline::StrByte { ref inner, .. } => inner.writes_flags(),
            // Byte forms are never ADC or SBB.
            Inline::Alu { op, .. } | Inline::Alu8 { op, .. } => Some(match op {
                Alu::Add => LazyOp::Add,
                Alu::Adc => LazyOp::Adc,
                Alu::Sbb => LazyOp::Sbb,
                Alu::Sub | Alu::Cmp => LazyOp::Sub,
                _ => LazyOp::Logic,
            }),
            Inline::Shift { op, count, .. } => (count != 0).then_some(op),
            Inline::IncDec { dec, .. } => Some(if dec { LazyOp::Dec } else { LazyOp::Inc }),
            Inline::Imul { .. } => Some(LazyOp::Mul),
            Inline::Neg { .. } => Some(LazyOp::Sub),
            Inline::ShiftCl { op, .. } => Some(op),
            // Definite flags, in `bits`.
            Inline::Bt { .. } => Some(LazyOp::None),
            _ => None,
        }
    }

    /// Its record as `Unstored::Record`, if one can be rebuilt from the registers it
    /// leaves: a 32-bit ADD or SUB of two different registers or a register and an
    /// immediate, AND, OR or XOR into a register (from its result alone), or INC/DEC of
    /// a register.
    fn rebuilt_record(&self) -> Option<Unstored> {
        let (op, dst, src) = match *self {
            Inline::Alu {
                op: Alu::Add | Alu::Sub,
                dst: Operand::Src(Src::Reg(d)),
                src: Operand::Src(s),
            } if s != Src::Reg(d) => (self.writes_flags()?, d, s),
            Inline::Alu {
                op: Alu::And | Alu::Or | Alu::Xor,
                dst: Operand::Src(Src::Reg(d)),
                ..
            } => (LazyOp::Logic, d, Src::Imm(0)),
            Inline::IncDec {
                dst: Operand::Src(Src::Reg(d)),
                dec,
            } => (if dec { LazyOp::Dec } else { LazyOp::Inc }, d, Src::Imm(1)),
            _ => return None,
        };
        Some(Unstored::Record { op, dst, src })
    }

    /// Whether it records all the flags whatever the operands (a shift by CL of 0 does
    /// not).
    pub fn overwrites_flags(&self) -> bool {
        self.writes_flags().is_some() && !matches!(self, Inline::ShiftCl { .. })
    }

    /// What recorded the flags after it, as known at translation: `before` if it
    /// leaves them alone.
    pub fn known_after(&self, before: Option<Rec>) -> Option<Rec> {
        if let Inline::StrByte { inner, .. } = self {
            return inner.known_after(before);
        }
        let top = match *self {
            Inline::Alu8 { .. } => 7,
            Inline::Shift { bits, .. } => bits - 1,
            _ => 31,
        };
        if let Inline::ShiftCl { .. } | Inline::Rotate { .. } = self {
            return None;
        }
        match self.writes_flags() {
            Some(LazyOp::Adc | LazyOp::Sbb) => None,
            Some(op) => Some((op, top)),
            None => before,
        }
    }

    /// Reads the flags before it (INC/DEC keep CF, ADC/SBB add it; SETcc and CMOVcc
    /// test them). Each has a slow path for flags it cannot evaluate inline.
    pub fn reads_flags(&self) -> bool {
        matches!(
            self,
            Inline::IncDec { .. }
                | Inline::SetCc { .. }
                | Inline::Cmov { .. }
                | Inline::Bt { .. }
                | Inline::Alu {
                    op: Alu::Adc | Alu::Sbb,
                    ..
                }
        )
    }

    /// May leave the inline path (for the handler, which may fault).
    pub fn has_slow_path(&self) -> bool {
        self.touches_memory()
            || self.reads_flags()
            || matches!(
                self,
                Inline::Rdtsc { .. } | Inline::Rotate { .. } | Inline::Div { .. }
            )
    }

    /// The guest registers it reads (`Emitter::prepare` pins them): every register it
    /// names except those it only writes.
    pub fn reads(&self) -> Vec<i32> {
        fn ea(v: &mut Vec<i32>, e: &Ea) {
            v.extend(e.base);
            v.extend(e.index.map(|(i, _)| i));
        }
        fn src(v: &mut Vec<i32>, s: &Src) {
            if let Src::Reg(r) = s {
                v.push(*r);
            }
        }
        fn op(v: &mut Vec<i32>, o: &Operand) {
            match o {
                Operand::Src(s) => src(v, s),
                Operand::Mem(m) => ea(v, &m.ea),
            }
        }
        fn op8(v: &mut Vec<i32>, o: &Operand8) {
            match o {
                Operand8::Reg { reg, .. } => v.push(*reg),
                Operand8::Imm(_) => {}
                Operand8::Mem(m) => ea(v, &m.ea),
            }
        }
        let mut v = Vec::new();
        match self {
            Inline::StrByte { inner, ptr } => {
                v.extend(inner.reads());
                v.push(*ptr);
            }
            Inline::Mov { src: s, .. } => src(&mut v, s),
            Inline::Load { m, .. } | Inline::LoadExt { m, .. } => ea(&mut v, &m.ea),
            Inline::Push { src } => {
                v.push(ESP);
                op(&mut v, src);
            }
            Inline::Pop { .. } => v.push(ESP),
            Inline::Leave => v.push(EBP),
            Inline::Store { src: s, m } => {
                ea(&mut v, &m.ea);
                src(&mut v, s);
            }
            Inline::Not { dst } | Inline::Neg { dst } | Inline::SetCc { dst, .. } => v.push(*dst),
            Inline::Shift { dst, .. } | Inline::Rotate { dst, .. } => v.push(*dst),
            Inline::ShiftCl { dst, .. } => v.extend([ECX, *dst]),
            Inline::Cmov { dst, src, .. } => {
                v.push(*dst);
                op(&mut v, src);
            }
            Inline::LoadNarrow { dst, m, .. } => {
                ea(&mut v, &m.ea);
                v.push(*dst);
            }
            Inline::StoreNarrow { src, m, .. } => {
                ea(&mut v, &m.ea);
                v.push(*src);
            }
            Inline::Ext { src, .. } => v.push(*src),
            Inline::Alu { dst, src, .. } => {
                op(&mut v, dst);
                op(&mut v, src);
            }
            Inline::Lea { ea: e, .. } => ea(&mut v, e),
            Inline::IncDec { dst, .. } => op(&mut v, dst),
            Inline::Alu8 { dst, src, .. } => {
                op8(&mut v, dst);
                op8(&mut v, src);
            }
            Inline::Mov8 { dst, src, .. } => {
                v.push(*dst);
                op8(&mut v, src);
            }
            Inline::Imul { dst, src, imm } => {
                if imm.is_none() {
                    v.push(*dst);
                }
                op(&mut v, src);
            }
            Inline::Div { src } => {
                v.extend([EAX, EDX]);
                op(&mut v, src);
            }
            Inline::Bt { src, .. } => op(&mut v, src),
            Inline::Nop | Inline::Rdtsc { .. } | Inline::MovFromRam { .. } => {}
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Its one memory operand through a `MemRef`, if it has one: (operand, read, written),
    /// as the backends look it up (a CMP or TEST destination is only read).
    pub fn mem_access(&self) -> Option<(&MemRef, bool, bool)> {
        let rw = |op: Alu| !matches!(op, Alu::Cmp | Alu::Test);
        match self {
            Inline::Load { m, .. } | Inline::LoadExt { m, .. } | Inline::LoadNarrow { m, .. } => {
                Some((m, true, false))
            }
            Inline::Store { m, .. } | Inline::StoreNarrow { m, .. } => Some((m, false, true)),
            Inline::Cmov {
                src: Operand::Mem(m),
                ..
            }
            | Inline::Bt {
                src: Operand::Mem(m),
                ..
            }
            | Inline::Imul {
                src: Operand::Mem(m),
                ..
            }
            | Inline::Div {
                src: Operand::Mem(m),
            } => Some((m, true, false)),
            Inline::IncDec {
                dst: Operand::Mem(m),
                ..
            } => Some((m, true, true)),
            Inline::Alu {
                op,
                dst: Operand::Mem(m),
                ..
            } => Some((m, true, rw(*op))),
            Inline::Alu {
                src: Operand::Mem(m),
                ..
            } => Some((m, true, false)),
            Inline::Alu8 {
                op,
                dst: Operand8::Mem(m),
                ..
            } => Some((m, true, rw(*op))),
            Inline::Alu8 {
                src: Operand8::Mem(m),
                ..
            } => Some((m, true, false)),
            _ => None,
        }
    }

    /// Whether it may write the 32-bit guest register at offset `r` (or part of it).
    pub fn may_write(&self, r: i32) -> bool {
        match *self {
            Inline::StrByte { ref inner, ptr } => ptr == r || inner.may_write(r),
            Inline::Mov { dst, .. }
            | Inline::MovFromRam { dst, .. }
            | Inline::Load { dst, .. }
            | Inline::LoadExt { dst, .. }
            | Inline::Not { dst }
            | Inline::Neg { dst }
            | Inline::SetCc { dst, .. }
            | Inline::Cmov { dst, .. }
            | Inline::LoadNarrow { dst, .. }
            | Inline::Ext { dst, .. }
            | Inline::Lea { dst, .. }
            | Inline::Shift { dst, .. }
            | Inline::ShiftCl { dst, .. }
            | Inline::Mov8 { dst, .. }
            | Inline::Rotate { dst, .. }
            | Inline::Imul { dst, .. } => dst == r,
            Inline::Pop { dst } => dst == r || r == ESP,
            Inline::Push { .. } => r == ESP,
            Inline::Leave => r == ESP || r == EBP,
            Inline::Alu { ref dst, .. } | Inline::IncDec { ref dst, .. } => {
                matches!(*dst, Operand::Src(Src::Reg(d)) if d == r)
            }
            Inline::Alu8 { ref dst, .. } => matches!(*dst, Operand8::Reg { reg, .. } if reg == r),
            Inline::Div { .. } | Inline::Rdtsc { .. } => r == EAX || r == EDX,
            Inline::Store { .. } | Inline::StoreNarrow { .. } | Inline::Nop | Inline::Bt { .. } => {
                false
            }
        }
    }

    pub fn touches_memory(&self) -> bool {
        match self {
            Inline::Load { .. } | Inline::LoadExt { .. } | Inline::Store { .. } => true,
            Inline::LoadNarrow { .. } | Inline::StoreNarrow { .. } => true,
            Inline::IncDec { dst, .. } => matches!(dst, Operand::Mem(_)),
            Inline::Cmov { src, .. } => matches!(src, Operand::Mem(_)),
            Inline::Alu8 { dst, src, .. } => {
                matches!(dst, Operand8::Mem(_)) || matches!(src, Operand8::Mem(_))
            }
            Inline::Push { .. } | Inline::Pop { .. } | Inline::Leave => true,
            Inline::StrByte { .. } => true,
            Inline::Alu { dst, src, .. } => {
                matches!(dst, Operand::Mem(_)) || matches!(src, Operand::Mem(_))
            }
            Inline::Imul { src, .. } | Inline::Div { src } | Inline::Bt { src, .. } => {
                matches!(src, Operand::Mem(_))
            }
            _ => false,
        }
    }
}

pub(crate) const EAX: i32 = REGS;
pub(crate) const ECX: i32 = REGS + 4;
pub(crate) const EDX: i32 = REGS + 2 * 4;
pub(crate) const ESP: i32 = REGS + 4 * 4;
pub(crate) const EBP: i32 = REGS + 5 * 4;
pub(crate) const ESI: i32 = REGS + 6 * 4;
pub(crate) const EDI: i32 = REGS + 7 * 4;

/// The flag records `emit_cf` finds CF in, inline, when the block's own code does not
/// tell what recorded the flags (besides the kinds that keep CF in `bits`).
pub(crate) const CF_RECORDS: [Rec; 8] = [
    (LazyOp::Sub, 31),
    (LazyOp::Add, 31),
    (LazyOp::Logic, 31),
    (LazyOp::Adc, 31),
    (LazyOp::Sbb, 31),
    (LazyOp::Mul, 31),
    (LazyOp::Sub, 7),
    (LazyOp::Logic, 7),
];

/// The flag records, as (kind, top), a block-ending Jcc looks for at run time when the
/// block's own code does not tell what recorded the flags: the common ones first.
pub(crate) const RUNTIME_RECORDS: [Rec; 9] = [
    (LazyOp::Sub, 31),
    (LazyOp::Logic, 31),
    (LazyOp::Add, 31),
    (LazyOp::Inc, 31),
    (LazyOp::Dec, 31),
    (LazyOp::Sub, 7),
    (LazyOp::Logic, 7),
    (LazyOp::Sbb, 31),
    (LazyOp::Adc, 31),
];

/// SS:[ESP + disp].
pub(crate) fn stack_ref(disp: i32) -> MemRef {
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

/// SS:[EBP], where LEAVE finds the frame pointer to restore.
pub(crate) fn frame_ref() -> MemRef {
    MemRef {
        size: 4,
        seg: Seg::Ss,
        ea: Ea {
            base: Some(EBP),
            index: None,
            disp: 0,
        },
    }
}

/// Jcc rel8/rel32 (not LOOP/JECXZ): its x86 condition code.
pub(crate) fn host_cc(d: &DecodedInsn) -> Option<u8> {
    use iced_x86::OpKind;
    let jcc = matches!(d.i.op0_kind(), OpKind::NearBranch32)
        && !matches!(
            d.i.mnemonic(),
            Mnemonic::Loop | Mnemonic::Loope | Mnemonic::Loopne | Mnemonic::Jecxz | Mnemonic::Jcxz
        );
    jcc.then_some(d.cc)
}

/// Whether the instruction may change what `Cpu::jit` records (a segment register, CPL,
/// CS.D): loads of segment registers, far transfers, interrupts and their returns,
/// fast system calls. Faults leave generated code, and the dispatcher refreshes the view
/// before it enters again.
pub(crate) fn changes_view(d: &DecodedInsn) -> bool {
    use iced_x86::OpKind;
    let i = &d.i;
    let writes_sreg = i.op_count() > 0
        && i.op0_kind() == OpKind::Register
        && i.op0_register().is_segment_register();
    writes_sreg
        || i.is_call_far()
        || i.is_call_far_indirect()
        || i.is_jmp_far()
        || i.is_jmp_far_indirect()
        || matches!(
            i.mnemonic(),
            Mnemonic::Lds
                | Mnemonic::Les
                | Mnemonic::Lfs
                | Mnemonic::Lgs
                | Mnemonic::Lss
                | Mnemonic::Retf
                | Mnemonic::Iret
                | Mnemonic::Iretd
                | Mnemonic::Int
                | Mnemonic::Int1
                | Mnemonic::Int3
                | Mnemonic::Into
                | Mnemonic::Sysenter
                | Mnemonic::Sysexit
                | Mnemonic::Syscall
                | Mnemonic::Sysret
                | Mnemonic::Rsm
                | Mnemonic::Loadall
        )
}

/// Where a block-ending branch of a block of `len` instructions leads, where the
/// translator knows it: the block key of a target in the block's own page. The block
/// runs from that page, found through the soft TLB when it was entered, and nothing in
/// it can have remapped the page (`quiet`), so the target's physical address follows
/// from the block's own; the chain table still decides whether that block is there.
#[derive(Clone, Copy)]
pub(crate) struct Targets {
    pub len: i32,
    /// The branch target.
    pub taken: Option<u64>,
    /// The instruction after the branch.
    pub next: Option<u64>,
    /// The block's own key: a branch back to its start loops inside the host code.
    pub own: u64,
    /// What EIP still lacks to be this instruction's: the bytes of the inline
    /// instructions before it, added on the way out (or before its handler).
    pub eip_delta: u32,
    /// A branch back to the start finds the frame check the block starts with still
    /// standing, unless a helper undid it: the block has that one frame, covering it
    /// from its first instruction; everything before the branch is inline and leaves
    /// the base alone, and the branch is a JMP or Jcc. (The AArch64 backend checks the
    /// frame again.)
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub frame_holds: bool,
}

/// Whether the instruction, run through its handler, leaves the mapping of the code
/// page and the JIT view as they were: no segment or privilege change, no TLB flush
/// (control, debug and test registers, INVLPG, descriptor tables), no port I/O (which
/// can remap memory), no halt.
fn quiet(d: &DecodedInsn) -> bool {
    use iced_x86::OpKind;
    let i = &d.i;
    let system_reg = (0..i.op_count()).any(|n| {
        i.op_kind(n) == OpKind::Register && {
            let r = i.op_register(n);
            r.is_cr() || r.is_dr() || r.is_tr()
        }
    });
    !changes_view(d)
        && !system_reg
        && !matches!(
            i.mnemonic(),
            Mnemonic::In
                | Mnemonic::Insb
                | Mnemonic::Insw
                | Mnemonic::Insd
                | Mnemonic::Out
                | Mnemonic::Outsb
                | Mnemonic::Outsw
                | Mnemonic::Outsd
                | Mnemonic::Invlpg
                | Mnemonic::Lmsw
                | Mnemonic::Clts
                | Mnemonic::Wrmsr
                | Mnemonic::Hlt
                | Mnemonic::Lgdt
                | Mnemonic::Lidt
                | Mnemonic::Lldt
                | Mnemonic::Ltr
                | Mnemonic::Wbinvd
                | Mnemonic::Invd
        )
}

/// Unconditional near branches that end a block.
pub(crate) enum Branch {
    Jmp,
    Call,
    /// RET and RET imm16 (`pop` the bytes of arguments it removes besides).
    Ret {
        pop: u16,
    },
    /// JMP r/m32 and CALL r/m32: the target from a register or memory.
    JmpInd(Target),
    CallInd(Target),
}

/// Where an indirect branch's target is: a 32-bit register's offset, or memory.
pub(crate) enum Target {
    Reg(i32),
    Mem(MemRef),
}

impl Branch {
    /// Where it leads is known only at run time.
    pub fn dynamic(&self) -> bool {
        matches!(
            self,
            Branch::Ret { .. } | Branch::JmpInd(_) | Branch::CallInd(_)
        )
    }
}

pub(crate) fn branch_form(d: &DecodedInsn) -> Option<Branch> {
    use iced_x86::OpKind;
    let rel = d.i.op_count() == 1 && d.i.op0_kind() == OpKind::NearBranch32;
    let target = || match d.ops[0] {
        Opd::Reg(r) => reg32(r).map(Target::Reg),
        Opd::Mem => mem_ref(d).filter(|m| m.size == 4).map(Target::Mem),
        _ => None,
    };
    let indirect = d.i.op_count() == 1 && d.osz == 4;
    match d.i.mnemonic() {
        Mnemonic::Jmp if rel => Some(Branch::Jmp),
        Mnemonic::Call if rel => Some(Branch::Call),
        Mnemonic::Jmp if indirect && d.i.is_jmp_near_indirect() => target().map(Branch::JmpInd),
        Mnemonic::Call if indirect && d.i.is_call_near_indirect() => target().map(Branch::CallInd),
        Mnemonic::Ret if d.i.op_count() == 0 => Some(Branch::Ret { pop: 0 }),
        Mnemonic::Ret if d.i.op_count() == 1 => Some(Branch::Ret {
            pop: d.i.immediate16(),
        }),
        _ => None,
    }
}

/// Whether the flags instruction `k` records may be read: false only when a later
/// inline instruction of the block records all of them again with nothing in between
/// that reads them or can leave the inline path (a helper, a fault, the block's end).
pub(crate) fn flags_read_after(forms: &[Option<Inline>], k: usize) -> bool {
    // After a logic operation, known as such where INC/DEC of a register comes, that
    // one's CF is 0 without the record (`emit_carry_in`), and it has no other way out;
    // but when its own record goes unstored to be rebuilt on later slow paths
    // (`deferred_record`), the rebuild takes CF from the record before it.
    let logic = forms[k].as_ref().and_then(Inline::writes_flags) == Some(LazyOp::Logic);
    for (j, f) in forms.iter().enumerate().skip(k + 1) {
        let Some(f) = f else { return true };
        if logic
            && matches!(
                f,
                Inline::IncDec {
                    dst: Operand::Src(Src::Reg(_)),
                    ..
                }
            )
        {
            return flags_read_after(forms, j) && deferred_record(forms, j).is_some();
        }
        if f.reads_flags() || f.has_slow_path() {
            return true;
        }
        if f.overwrites_flags() {
            return false;
        }
    }
    true
}

/// Whether the flags of ROL/ROR `k` may go unstored: a later inline instruction of the
/// block records them all before anything reads them, with nothing on the way but inline
/// instructions that leave the flags alone (their slow paths make the flags definite
/// first: `Emitter::store_flags`) and other rotates (whose CF and OF replace these).
pub(crate) fn rotate_flags_dead(forms: &[Option<Inline>], k: usize) -> bool {
    for f in &forms[k + 1..] {
        let Some(f) = f else { return false };
        if f.reads_flags() {
            return false;
        }
        if f.overwrites_flags() {
            return true;
        }
        if f.writes_flags().is_some() {
            return false;
        }
    }
    false
}

/// Flags that inline code left unstored, as of some point of a block: the slow paths
/// met there store them before the handler runs (`Emitter::store_flags`, which calls
/// `helpers::store_flags`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unstored {
    /// After an inline ROL (`left`) or ROR: CF and OF from the result kept in
    /// `JitView::rotated`, the rest as before it (`rotate_flags_dead`).
    Rotate { left: bool },
    /// The lazy record of a 32-bit operation `op` (Add, Sub, Logic, Inc or Dec) that left
    /// its result in register `dst`, its second operand register or immediate `src`
    /// (1 for INC and DEC): both are as it left them, so the record can be rebuilt
    /// (`deferred_record`). A Logic record is rebuilt from the result alone (`src`
    /// unused): no flag depends on its operands, which are stored as the result.
    Record { op: LazyOp, dst: i32, src: Src },
}

impl Unstored {
    /// As the two arguments of `helpers::store_flags`: the kind in bits 0-7 (0 for a
    /// rotate, else the `LazyOp`), bit 8 for ROL; for a record the index of `dst` in bits
    /// 8-15 and that of `src` in bits 16-23 (8: the immediate, in the second word).
    pub fn pack(&self) -> (u32, u32) {
        let index = |off: i32| ((off - REGS) / 4) as u32;
        match *self {
            Unstored::Rotate { left } => ((left as u32) << 8, 0),
            Unstored::Record { op, dst, src } => {
                let (s, imm) = match src {
                    Src::Reg(r) => (index(r), 0),
                    Src::Imm(v) => (8, v),
                };
                (op as u8 as u32 | index(dst) << 8 | s << 16, imm)
            }
        }
    }

    /// What `pack` packed (`helpers::store_flags`).
    pub fn unpack(what: u32, imm: u32) -> Self {
        let reg = |i: u32| REGS + 4 * (i & 7) as i32;
        let op = match what as u8 {
            0 => {
                return Unstored::Rotate {
                    left: what >> 8 & 1 != 0,
                }
            }
            x if x == LazyOp::Add as u8 => LazyOp::Add,
            x if x == LazyOp::Sub as u8 => LazyOp::Sub,
            x if x == LazyOp::Inc as u8 => LazyOp::Inc,
            x if x == LazyOp::Dec as u8 => LazyOp::Dec,
            _ => LazyOp::Logic,
        };
        let src = match what >> 16 & 0xff {
            8 => Src::Imm(imm),
            i => Src::Reg(reg(i)),
        };
        Unstored::Record {
            op,
            dst: reg(what >> 8),
            src,
        }
    }
}

/// The record of flag writer `k`, when it may go unstored although inline instructions
/// that can leave the inline path come before a later one records all the flags again:
/// nothing on the way reads or changes the flags, and the slow paths on the way (and
/// the later one's) find the registers the record is rebuilt from as it left them, so
/// they rebuild and store it first. An instruction may write those registers if no slow
/// path comes after it (its own comes before it writes). Where nothing at all can leave
/// the inline path, `flags_read_after` already drops the record.
pub(crate) fn deferred_record(forms: &[Option<Inline>], k: usize) -> Option<Unstored> {
    let rec = forms[k].as_ref()?.rebuilt_record()?;
    let Unstored::Record { dst, src, .. } = rec else {
        return None;
    };
    let mut clobbered = false;
    for f in &forms[k + 1..] {
        let f = f.as_ref()?;
        if f.reads_flags() || (clobbered && f.has_slow_path()) {
            return None;
        }
        if f.overwrites_flags() {
            return Some(rec);
        }
        // A rotate's flags start from these.
        if f.writes_flags().is_some() || matches!(f, Inline::Rotate { .. }) {
            return None;
        }
        clobbered |= f.may_write(dst) || matches!(src, Src::Reg(s) if f.may_write(s));
    }
    None
}

/// Which guest registers the backend's shadow registers hold, in straight-line inline
/// code, and which of them are newer than the CPU state (dirty). Inline code writes a
/// guest register to its shadow only; dirty shadows are written back when one is given
/// to another register and wherever code can leave the inline path (helpers, slow
/// paths, the block's end), since the handlers and the dispatcher read the CPU state.
///
/// A slow path writes back what was dirty when its instruction began (`Emitter::prepare`
/// loads and pins the registers the instruction reads, so that nothing dirty changes
/// hands before its last jump to the slow path; inline forms write registers only after
/// that jump).
///
/// It also tracks which segments the inline code has found flat (`JitView::flat`) since
/// the last helper: only helpers change segments, so later accesses skip the test, and a
/// slow path rejoining the inline code checks them again (`helpers::run_slow_path`).
#[derive(Clone, Default)]
pub(crate) struct RegCache {
    /// Guest register offset held by each shadow register (by index).
    held: [Option<i32>; SHADOWS],
    /// Bit `i`: shadow `i` is newer than the CPU state.
    dirty: u8,
    /// Bit `i`: shadow `i` is not to be given to another register (`Emitter::prepare`).
    pinned: u8,
    next: usize,
    /// Bit `seg` set: segment `seg` was tested flat on the way here.
    pub flat: u8,
    /// Bit `seg` set: the block is translated for segment `seg` based at 0 (its flat
    /// test asks for that too, and accesses skip adding the base).
    pub zero: u8,
}

/// A stretch of a block's inline instructions in which a base register (EBP for a
/// stack frame, ESP, or a pointer to a structure) does not change and at least
/// `FRAME_MIN` of them access one segment `FLAT_ONCE` admits at [base + disp]: one
/// soft-TLB check of the bytes they all span (within a page) can stand for all their
/// lookups (`Emitter::frame`). The lookups it checked: reads, writes or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    /// The base register's offset in the CPU state.
    pub base: i32,
    pub seg: Seg,
    /// The displacements of the first byte accessed and of the byte past the last (the
    /// displacements signed; wide enough that no sum overflows).
    pub lo: i64,
    pub end: i64,
    pub reads: bool,
    pub writes: bool,
}

/// A backend's frame bookkeeping: the frame the code is in, if checked, and the full
/// lookups its accesses take out of line when the check failed (emitted at the end;
/// AArch64; the x86-64 backend's failed checks leave the block instead).
#[derive(Default)]
pub(crate) struct Frames {
    pub active: Option<Frame>,
    /// Some frame was checked: helper calls invalidate the check from there on.
    pub used: bool,
    pub cold: Vec<ColdLookup>,
}

impl Frames {
    /// The checked frame that covers the lookup of `m`, if any, while its base register
    /// is in a shadow (where an out-of-line lookup finds it).
    pub fn covering(&self, regs: &RegCache, m: &MemRef, write: bool) -> Option<Frame> {
        self.active
            .filter(|f| f.covers(m, write) && regs.find(f.base).is_some())
    }

    /// Whether the checked frame covers `f`'s memory access, if it has one (x86-64).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub fn covers_access(&self, regs: &RegCache, f: &Inline) -> bool {
        f.mem_access()
            .is_some_and(|(m, _, w)| self.covering(regs, m, w).is_some())
    }

    /// The full lookup of `m`, to emit at the end at `at` with the shadows `regs`, then
    /// back to `back` with the RAM offset.
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    pub fn defer(
        &mut self,
        (at, back): (DynamicLabel, DynamicLabel),
        regs: &RegCache,
        m: &MemRef,
        write: bool,
        slow: DynamicLabel,
    ) {
        self.cold.push(ColdLookup {
            at,
            back,
            regs: regs.clone(),
            m: m.clone(),
            write,
            slow,
        });
    }
}

/// An access's full soft-TLB lookup, jumped to from `at` and returning to `back`, with
/// the shadows as they were there.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
pub(crate) struct ColdLookup {
    pub at: DynamicLabel,
    pub back: DynamicLabel,
    pub regs: RegCache,
    pub m: MemRef,
    pub write: bool,
    pub slow: DynamicLabel,
}

/// What the CPU state is as a block is translated, about to run: a guide to how to
/// translate it, never a condition of its code's correctness.
pub struct Now {
    /// `RegCache::zero`: the data and stack segments based at 0 now.
    pub zero: u8,
    regs: [u32; 8],
    bases: [u32; 6],
}

impl Now {
    pub fn of(cpu: &ox86_core::Cpu) -> Now {
        Now {
            zero: (cpu.jit_flat() >> 8) as u8 & FLAT_ONCE,
            regs: cpu.s.regs,
            bases: cpu.s.segs.map(|s| s.base),
        }
    }

    /// Leave out the frames whose bytes span two pages now: where a failed check
    /// leaves the block (`Emitter::frame_exits`), a loop in a frame across a page
    /// boundary would leave at every turn. A frame's base is known where the
    /// instructions before it leave it alone or move it by a constant (`moved`).
    fn drop_straddling(
        &self,
        frames: &[Frame],
        within: &mut [Option<usize>],
        forms: &[Option<Inline>],
    ) {
        for (i, f) in frames.iter().enumerate() {
            let Some(first) = within.iter().position(|w| *w == Some(i)) else {
                continue;
            };
            let reg = ((f.base - REGS) / 4) as usize;
            let value = self.regs.get(reg).and_then(|&start| {
                forms[..first]
                    .iter()
                    .try_fold(start, |v, g| moved(g.as_ref()?, f.base, v))
            });
            let Some(value) = value else {
                continue;
            };
            let lo = self.bases[f.seg as usize]
                .wrapping_add(value)
                .wrapping_add(f.lo as u32);
            let last = lo.wrapping_add((f.end - f.lo - 1) as u32);
            if lo >> 12 != last >> 12 {
                for w in within.iter_mut().filter(|w| **w == Some(i)) {
                    *w = None;
                }
            }
        }
    }
}

/// The value of guest register `base` after `f`, from `v` before: the same where `f`
/// leaves it alone, moved where `f` moves it by a constant (PUSH, POP, ADD or SUB of an
/// immediate, LEA from itself), else unknown.
fn moved(f: &Inline, base: i32, v: u32) -> Option<u32> {
    const ESP: i32 = REGS + 16;
    if !f.may_write(base) {
        return Some(v);
    }
    match *f {
        Inline::Push { .. } if base == ESP => Some(v.wrapping_sub(4)),
        Inline::Pop { dst } if base == ESP && dst != ESP => Some(v.wrapping_add(4)),
        Inline::Alu {
            op: op @ (Alu::Add | Alu::Sub),
            dst: Operand::Src(Src::Reg(d)),
            src: Operand::Src(Src::Imm(imm)),
        } if d == base => Some(match op {
            Alu::Add => v.wrapping_add(imm),
            _ => v.wrapping_sub(imm),
        }),
        Inline::Lea { dst, ref ea }
            if dst == base && ea.base == Some(base) && ea.index.is_none() =>
        {
            Some(v.wrapping_add(ea.disp))
        }
        _ => None,
    }
}

/// Accesses a frame must stand for, and the most bytes it may span.
const FRAME_MIN: usize = 3;
const FRAME_SPAN: i64 = 0x200;

impl Frame {
    /// Whether the lookup of `m` (a write if `write`) is one the frame's check covers.
    pub fn covers(&self, m: &MemRef, write: bool) -> bool {
        let at = disp(m);
        m.seg == self.seg
            && m.ea.base == Some(self.base)
            && m.ea.index.is_none()
            && at >= self.lo
            && at + m.size as i64 <= self.end
            && if write { self.writes } else { self.reads }
    }

    /// A frame holding the access of `f` too, if `f` has one that fits.
    fn with(self, f: &Inline) -> Option<Frame> {
        let (m, r, w) = Frame::access(f)?;
        let lo = self.lo.min(disp(m));
        let end = self.end.max(disp(m) + m.size as i64);
        let same = m.seg == self.seg && m.ea.base == Some(self.base);
        (same && end - lo <= FRAME_SPAN).then_some(Frame {
            lo,
            end,
            reads: self.reads || r,
            writes: self.writes || w,
            ..self
        })
    }

    /// `f`'s access at [base + disp] through a segment `FLAT_ONCE` admits, if any.
    fn access(f: &Inline) -> Option<(&MemRef, bool, bool)> {
        f.mem_access().filter(|(m, _, _)| {
            m.ea.base.is_some() && m.ea.index.is_none() && FLAT_ONCE & 1 << m.seg as u8 != 0
        })
    }

    fn of(f: &Inline) -> Option<Frame> {
        let (m, reads, writes) = Frame::access(f)?;
        Some(Frame {
            base: m.ea.base?,
            seg: m.seg,
            lo: disp(m),
            end: disp(m) + m.size as i64,
            reads,
            writes,
        })
    }
}

/// `m`'s displacement, signed.
pub(crate) fn disp(m: &MemRef) -> i64 {
    m.ea.disp as i32 as i64
}

/// The frames of a block (`forms` its inline forms) and, for each instruction, the
/// frame whose stretch (first to last access) it lies in. Each base register's
/// stretches are gathered apart; where those of different bases overlap, the one with
/// the most accesses is kept (a backend checks one frame at a time).
pub(crate) fn frames(forms: &[Option<Inline>]) -> (Vec<Frame>, Vec<Option<usize>>) {
    // (frame, first access, last access, accesses).
    let mut found: Vec<(Frame, usize, usize, usize)> = Vec::new();
    let mut bases: Vec<i32> = forms
        .iter()
        .flatten()
        .filter_map(|f| Frame::of(f).map(|fr| fr.base))
        .collect();
    bases.sort_unstable();
    bases.dedup();
    for base in bases {
        let mut open: Option<(Frame, usize, usize, usize)> = None;
        let mut close = |open: &mut Option<(Frame, usize, usize, usize)>| {
            if let Some(o) = open.take().filter(|o| o.3 >= FRAME_MIN) {
                found.push(o);
            }
        };
        for (k, form) in forms.iter().enumerate() {
            let Some(f) = form else {
                close(&mut open);
                continue;
            };
            if let Some(fr) = Frame::of(f).filter(|fr| fr.base == base) {
                match open.and_then(|(o, first, _, n)| Some((o.with(f)?, first, k, n + 1))) {
                    Some(g) => open = Some(g),
                    None => {
                        close(&mut open);
                        open = Some((fr, k, k, 1));
                    }
                }
            }
            // Its access comes before it writes the base, if it does.
            if f.may_write(base) {
                close(&mut open);
            }
        }
        close(&mut open);
    }
    // Most accesses first; of equals, the earliest.
    found.sort_by_key(|&(_, first, _, n)| (std::cmp::Reverse(n), first));
    let mut kept: Vec<(Frame, usize, usize, usize)> = Vec::new();
    for o in found {
        if kept.iter().all(|k| o.2 < k.1 || o.1 > k.2) {
            kept.push(o);
        }
    }
    kept.sort_by_key(|o| o.1);
    let mut within = vec![None; forms.len()];
    for (i, &(_, first, last, _)) in kept.iter().enumerate() {
        within[first..=last].fill(Some(i));
    }
    (kept.into_iter().map(|o| o.0).collect(), within)
}

/// The segments whose flat tests `RegCache::flat` may spare: the data and stack
/// segments, flat wherever 32-bit code is. A slow path that finds one of them not flat
/// ends the block, which would cost FS and GS (often based elsewhere, with a limit)
/// more than the tests they are spared.
pub(crate) const FLAT_ONCE: u8 = 1 << Seg::Es as u8 | 1 << Seg::Ss as u8 | 1 << Seg::Ds as u8;

/// The `JitView::flat` bit of a plain data segment `seg` (present, writable, expand-up,
/// whatever its base and limit): inline accesses through FS, GS and CS ask for it and
/// check the limit themselves.
pub(crate) fn plain_bit(seg: Seg) -> u32 {
    1 << (16 + seg as u32)
}

/// Shadow registers per backend.
pub(crate) const SHADOWS: usize = 7;

impl RegCache {
    /// A cache for a block translated for the segments in `zero` based at 0.
    pub fn for_zero_bases(zero: u8) -> Self {
        RegCache {
            zero,
            ..Default::default()
        }
    }

    /// The `JitView::flat` bits that admit the segments in `segs`: for each, its
    /// zero-base bit if the block assumes a zero base, else its flat bit.
    pub fn flat_mask(&self, segs: u8) -> u32 {
        (segs & !self.zero) as u32 | ((segs & self.zero) as u32) << 8
    }

    /// The shadow register holding guest register `off`.
    pub fn find(&self, off: i32) -> Option<usize> {
        self.held.iter().position(|&h| h == Some(off))
    }

    /// The shadow register to hold guest register `off` from now on, and the guest
    /// register whose newer value it held before (to be written back first). Clean
    /// shadows are given away before dirty ones, pinned ones never.
    pub fn assign(&mut self, off: i32) -> (usize, Option<i32>) {
        if let Some(i) = self.find(off) {
            return (i, None);
        }
        let (pinned, dirty) = (self.pinned, self.dirty);
        let mut order = (0..SHADOWS)
            .map(|k| (self.next + k) % SHADOWS)
            .filter(|i| pinned & 1 << i == 0);
        let clean = order.clone().find(|&i| dirty & 1 << i == 0);
        let i = clean
            .or_else(|| order.next())
            .expect("an inline form pins fewer registers than there are shadows");
        self.next = (i + 1) % SHADOWS;
        let evicted = if self.dirty & 1 << i != 0 {
            self.held[i]
        } else {
            None
        };
        self.dirty &= !(1 << i);
        self.held[i] = Some(off);
        (i, evicted)
    }

    /// The shadow of guest register `off` (held) now has a value the CPU state does not.
    pub fn set_dirty(&mut self, off: i32) {
        let i = self.find(off).expect("a changed register is held");
        self.dirty |= 1 << i;
    }

    /// Keep the shadow of guest register `off` (held) for it until `unpin`.
    pub fn pin(&mut self, off: i32) {
        let i = self.find(off).expect("a pinned register is held");
        self.pinned |= 1 << i;
    }

    pub fn unpin(&mut self) {
        self.pinned = 0;
    }

    /// (shadow register index, guest register offset) of each dirty shadow.
    pub fn dirty(&self) -> impl Iterator<Item = (usize, i32)> + '_ {
        self.held().filter(|&(i, _)| self.dirty & 1 << i != 0)
    }

    /// The dirty shadows were written back.
    pub fn cleaned(&mut self) {
        self.dirty = 0;
    }

    /// Forget every shadow (all written back: see `cleaned`).
    pub fn clear(&mut self) {
        debug_assert_eq!(self.dirty, 0, "dirty shadows dropped");
        self.held = [None; SHADOWS];
        self.pinned = 0;
        self.flat = 0;
    }

    /// (shadow register index, guest register offset) of each shadow in use.
    pub fn held(&self) -> impl Iterator<Item = (usize, i32)> + '_ {
        self.held
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.map(|off| (i, off)))
    }
}

/// What a backend emits; `translate` decides what and in which order. Labels are
/// dynasmrt's, bound in the backend's assembler.
pub(crate) trait Emitter<B: Bus> {
    fn label(&mut self) -> DynamicLabel;
    fn bind(&mut self, l: DynamicLabel);
    /// The block's start, `len` instructions: the offsets of the dispatcher's entry
    /// (where the host's registers are set up, by code here or shared) and of the chain
    /// entry, where other blocks jump in.
    fn prologue(&mut self, len: i32) -> (usize, usize);
    /// Emit `f`; forms with a slow path jump to `slow` when the fast path does not apply.
    /// `before` is what recorded the flags before it, when known; `keep_flags` false when
    /// later code of the block overwrites them unread.
    fn inline(&mut self, f: &Inline, slow: DynamicLabel, before: Option<Rec>, keep_flags: bool);
    /// Load guest register `off`'s shadow and keep it for `off` until `inline` ends.
    fn pin(&mut self, off: i32);
    /// Before `inline` of a form with a slow path: load and pin the shadows of the
    /// registers it reads (`Inline::reads`); `inline` unpins them.
    fn prepare(&mut self, f: &Inline) {
        for off in f.reads() {
            self.pin(off);
        }
    }
    /// The frame (`Frame`) the next instructions up to the next call are in, before the
    /// first of them; None after the last. A backend may check it once and spare those
    /// lookups, or ignore it. With `frame_exits`, a failed check goes to `miss`.
    fn frame(&mut self, f: Option<&Frame>, miss: Option<DynamicLabel>);
    /// Whether the inline code for `f`, which has a slow path (`Inline::has_slow_path`),
    /// may go there now: not a load or store of a frame whose failed check left the
    /// block (`frame_exits`).
    fn may_leave(&self, _f: &Inline) -> bool {
        true
    }
    /// Whether a failed frame check leaves the block (at `frame_miss`), so that the
    /// accesses the frame covers need no test of their own; else they each test it.
    fn frame_exits(&self) -> bool {
        false
    }
    /// Where a frame check before instruction `k` failed, the CPU state written back
    /// and EIP short of exact by `delta`: leave, `k` instructions done, for the
    /// dispatcher to interpret the next block (`Cpu::interpret_next`), which makes
    /// progress and fills the soft TLB.
    fn frame_miss(&mut self, _k: i32, _delta: u32) {
        unreachable!("only backends whose frame checks exit")
    }
    /// Write the shadows `regs` marks dirty back to the CPU state.
    fn write_back(&mut self, regs: &RegCache);
    /// Store the flags inline code left unstored (`helpers::store_flags`); clobbers what
    /// a helper call does.
    fn store_flags(&mut self, u: Unstored);
    /// On entry to a page-crossing block: leave at once, nothing done, unless the soft
    /// TLB maps the page `delta` bytes past the block's start (at CS:EIP) to physical
    /// page `next`, where the block was decoded from (`Interpreter::second_page_hits`).
    fn second_page(&mut self, delta: u32, next: u32);
    /// Write back the dirty shadows and forget them all (a handler may change any
    /// register, and the dispatcher and other blocks read the CPU state).
    fn forget_regs(&mut self);
    /// Which guest registers the shadows hold now.
    fn shadows(&self) -> RegCache;
    /// Load the shadows `held` describes from the CPU state (after a handler, so that
    /// a slow path rejoins the inline code with the shadows it expects).
    fn reload(&mut self, held: &RegCache);
    /// EIP += delta.
    fn add_eip(&mut self, delta: u32);
    /// Call the interpreter's handler for `insn`; leave for `exit` unless it just completed.
    fn helper_call(&mut self, insn: &Insn<B>, exit: DynamicLabel);
    /// `helper_call` for an x87 instruction with a direct form (`x87_form`): the operand
    /// through the soft TLB and `helpers::x87_mem`, and the handler only when that
    /// misses or declines. Guest registers are all in the CPU state on entry.
    fn x87_mem(&mut self, insn: &Insn<B>, op: MemOp, m: &MemRef, exit: DynamicLabel);
    /// A slow path's call of `insn`'s handler (`helpers::run_slow_path`), EIP short of
    /// exact by `before`; leave for `exit` unless it completed and `JitView::flat` still
    /// has every bit of `mask` (`RegCache::flat_mask`), which the inline code after it
    /// takes for granted, and not `end` (accesses of a checked frame follow, which
    /// backends with `frame_exits` do not test again).
    fn slow_call(&mut self, insn: &Insn<B>, exit: DynamicLabel, before: u32, mask: u32, end: bool);
    /// A block-ending Jcc on condition `cc`, flags from `known` if known; EIP short of
    /// exact by `to.eip_delta`.
    fn jcc(&mut self, insn: &Insn<B>, cc: u8, known: Option<Rec>, exit: DynamicLabel, to: Targets);
    /// A block-ending JMP, CALL or RET (`to.taken` its target); EIP short of exact by
    /// `to.eip_delta`.
    fn branch(&mut self, insn: &Insn<B>, b: Branch, exit: DynamicLabel, to: Targets);
    /// Jump to `l`.
    fn jump(&mut self, l: DynamicLabel);
    /// Bind `l`, where a slow path rejoins the inline code: the lazy flags record the
    /// host's flags stand for there, if any (the slow path makes them so again first:
    /// `restore_host_flags`).
    fn rejoin(&mut self, l: DynamicLabel) -> Option<Rec>;
    /// Make the host's flags those of record `r` again, from the stored record, before a
    /// slow path rejoins the inline code (`rejoin`).
    fn restore_host_flags(&mut self, r: Option<Rec>);
    /// The block's end (EIP exact): retire its `len` instructions and chain on.
    fn chain(&mut self, len: i32);
    /// A new label for the exit of instruction `k`: `exit_stub` binds it, unless the
    /// backend sends its jumps elsewhere itself (x86-64: to the runtime's stubs).
    fn exit_label(&mut self, _k: i32) -> DynamicLabel {
        self.label()
    }
    /// Exit label of instruction `k`: its helper returned END_BLOCK or a fault.
    fn exit_stub(&mut self, l: DynamicLabel, k: i32);
    /// The common tail the exit stubs jump to.
    fn exit_tail(&mut self);
    /// The code, and its static exits for patching.
    fn finish(self) -> Option<(Vec<u8>, Sites)>;
}

/// A static exit: the offset of a `jmp rel32` in the code (patched to go straight into
/// the next block's chain entry while that block is current) and that block's key.
pub(crate) type Site = (usize, u64);
pub(crate) type Sites = Vec<Site>;

/// What `translate` made of a block.
pub struct Translated {
    pub code: Vec<u8>,
    /// Offsets of the dispatcher's entry and the chain entry.
    pub entry: usize,
    pub chain_entry: usize,
    pub inlined: usize,
    pub sites: Sites,
}

/// Translate `block` with emitter `e`: the code, the offset of its chain entry (where
/// other blocks jump in, past the prologue) and the number of instructions inlined; None
/// if the block cannot be translated. EIP is kept exact before every helper call and at
/// every exit; inline instructions only add to a pending delta in between.
pub(crate) fn translate<B: Bus, E: Emitter<B>>(
    block: &Block<B>,
    mut e: E,
    now: &Now,
) -> Option<Translated> {
    let code32 = block.key >> 40 & 1 != 0;
    let (entry, chain_entry) = e.prologue(block.insns.len() as i32);
    if let Some(next) = block.next_page {
        e.second_page((0x1000 - (block.phys & 0xfff)) as u32, next as u32);
    }
    let mut exits = Vec::new();
    // Slow paths of inline instructions: (label, back label, exit, insn, EIP delta before,
    // the shadows as it begins, the shadows the inline code goes on with, the flags it
    // stores first, the record the host's flags stand for where it rejoins).
    let mut slow_paths = Vec::new();
    // Failed frame checks (`Emitter::frame_miss`): (label, instruction, EIP delta before
    // it, the shadows, the flags left unstored).
    let mut misses = Vec::new();
    let mut delta = 0u32;
    let mut inlined = 0;
    // Inline only in 32-bit code, where EIP needs no 16-bit wrap.
    let forms: Vec<Option<Inline>> = block
        .insns
        .iter()
        .map(|(_, d)| inline_form(d).filter(|_| code32))
        // A block fetched outside RAM may be translated when the threshold is 0 or 1.
        .map(|f| f.filter(|f| block.cacheable || !matches!(f, Inline::MovFromRam { .. })))
        .collect();
    // What recorded the flags, as far as this block's own code tells.
    let mut known: Option<Rec> = None;
    // Flags inline code has not stored yet: slow paths store them first.
    let mut unstored: Option<Unstored> = None;
    // Static targets: the key of code `delta` bytes from the block's start, if in its page.
    let statics = block.insns.iter().all(|(_, d)| quiet(d));
    let start = block.key & ((1 << 40) - 1);
    let mode = block.key & !((1 << 40) - 1);
    let key_at = |delta: i64| -> Option<u64> {
        let off = (start & 0xfff) as i64 + delta;
        (statics && (0..0x1000).contains(&off)).then(|| ((start & !0xfff) + off as u64) | mode)
    };
    let (frames, mut within) = frames(&forms);
    if e.frame_exits() {
        now.drop_straddling(&frames, &mut within, &forms);
    }
    let frame_holds = match (&frames[..], block.insns.last()) {
        ([f], Some((_, d))) => {
            let body = &forms[..forms.len() - 1];
            within[0] == Some(0)
                && (d.i.is_jcc_short_or_near() || d.i.is_jmp_short_or_near())
                && body
                    .iter()
                    .all(|g| g.as_ref().is_some_and(|g| !g.may_write(f.base)))
        }
        _ => false,
    };
    let mut frame = None;
    let mut offset = 0i64;
    for (k, insn) in block.insns.iter().enumerate() {
        let d = &insn.1;
        let at = offset;
        offset += d.len as i64;
        if within[k] != frame {
            if frame.is_some() {
                e.frame(None, None);
            }
            frame = within[k];
            if let Some(i) = frame {
                let miss = e.frame_exits().then(|| {
                    let l = e.label();
                    misses.push((l, k as i32, delta, e.shadows(), unstored));
                    l
                });
                e.frame(Some(&frames[i]), miss);
            }
        }
        if let Some(f) = &forms[k] {
            let slow = e.label();
            let (keep, deferred) = match f {
                Inline::Rotate { .. } => (!rotate_flags_dead(&forms, k), None),
                _ if f.writes_flags().is_none() => (true, None),
                _ if !flags_read_after(&forms, k) => (false, None),
                _ => match deferred_record(&forms, k) {
                    Some(u) => (false, Some(u)),
                    None => (true, None),
                },
            };
            // What its slow path writes back: the shadows as the instruction begins.
            let begin = (f.has_slow_path() && e.may_leave(f)).then(|| {
                e.prepare(f);
                e.shadows()
            });
            e.inline(f, slow, known, keep);
            if let Some(begin) = begin {
                let back = e.label();
                let host = e.rejoin(back);
                let exit = e.exit_label(k as i32);
                exits.push((exit, k as i32));
                let fix = unstored;
                // Accesses of the frame after it take its check for granted.
                let end = frame.is_some() && within.get(k + 1) == Some(&frame) && e.frame_exits();
                slow_paths.push((
                    slow,
                    back,
                    exit,
                    insn,
                    delta,
                    begin,
                    e.shadows(),
                    fix,
                    host,
                    end,
                ));
            }
            unstored = match *f {
                Inline::Rotate { left, .. } if !keep => Some(Unstored::Rotate { left }),
                // Its handler (the slow path) leaves the flags definite.
                Inline::Rotate { .. } => None,
                _ if deferred.is_some() => deferred,
                _ if f.overwrites_flags() => None,
                _ => unstored,
            };
            // The handler on the slow path records the same kind of flags.
            known = f.known_after(known);
            delta = delta.wrapping_add(d.len as u32);
            inlined += 1;
            continue;
        }
        debug_assert!(
            unstored.is_none(),
            "rotate_flags_dead and deferred_record stop at helpers"
        );
        e.forget_regs();
        let exit = e.exit_label(k as i32);
        exits.push((exit, k as i32));
        let last = k + 1 == block.insns.len();
        if last && code32 && d.o32 {
            let to = Targets {
                len: block.insns.len() as i32,
                taken: key_at(at + d.len as i64 + d.rel as i32 as i64),
                next: key_at(at + d.len as i64),
                own: block.key,
                eip_delta: delta,
                frame_holds,
            };
            if d.i.flow_control() == FlowControl::ConditionalBranch {
                if let Some(cc) = host_cc(d) {
                    e.jcc(insn, cc, known, exit, to);
                    inlined += 1;
                    delta = 0;
                    continue;
                }
            }
            if let Some(b) = branch_form(d) {
                let to = match b.dynamic() {
                    true => Targets { taken: None, ..to },
                    false => to,
                };
                e.branch(insn, b, exit, to);
                inlined += 1;
                delta = 0;
                continue;
            }
        }
        if delta != 0 {
            e.add_eip(std::mem::take(&mut delta));
        }
        match x87_form(d).filter(|_| code32) {
            // x87 instructions leave EFLAGS alone: what recorded them stays known.
            Some((op, m)) => e.x87_mem(insn, op, &m, exit),
            None => {
                known = None;
                e.helper_call(insn, exit);
            }
        }
    }
    debug_assert!(
        unstored.is_none(),
        "rotate_flags_dead and deferred_record stop at the block's end"
    );
    if frame.is_some() {
        e.frame(None, None);
    }
    if delta != 0 {
        e.add_eip(delta);
    }
    e.forget_regs();
    e.chain(block.insns.len() as i32);
    // An instruction off its fast path runs the handler with EIP made exact, then puts
    // EIP back where the inline path leaves it (the delta stays pending).
    for (slow, back, exit, insn, before, begin, held, fix, host, end) in slow_paths {
        e.bind(slow);
        e.write_back(&begin);
        if let Some(u) = fix {
            e.store_flags(u);
        }
        e.slow_call(insn, exit, before, held.flat_mask(held.flat), end);
        // The handler may have written any register, and the call clobbered some.
        e.reload(&held);
        e.restore_host_flags(host);
        e.jump(back);
    }
    // Failed frame checks: the state as the frame's first instruction begins.
    for (miss, k, delta, regs, fix) in misses {
        e.bind(miss);
        e.write_back(&regs);
        if let Some(u) = fix {
            e.store_flags(u);
        }
        e.frame_miss(k, delta);
    }
    // Helper exits: END_BLOCK (instruction k done) or a packed exception (instruction k
    // faulted, not done). Either way the dispatcher takes over.
    for (label, k) in exits {
        e.exit_stub(label, k);
    }
    e.exit_tail();
    let (code, sites) = e.finish()?;
    Some(Translated {
        code,
        entry,
        chain_entry,
        inlined,
        sites,
    })
}
