//! AArch64 code for a block, emitted with dynasmrt (`.arch aarch64` forced, so a
//! cross-build emits ARM code whatever the build machine).
//!
//! The same contract as the x86-64 backend: a block's code is entered from the
//! dispatcher as `extern "C" fn(cpu, bus, ram, links) -> u64`, returning a packed
//! exception (or 0). X19 holds the CPU, X20 the bus, X21 guest RAM and X22 the chain
//! table; X23-X28 and X9 shadow guest registers, X10 holds a checked guest frame's RAM
//! offset (`emit_frame_check`). W0-W5 and X16 are scratch. Guest flags stay
//! the interpreter's lazy flags: ARM's NZCV is only used to branch or select, after
//! redoing the operation that recorded them, and only for conditions whose meaning
//! carries over (ARM's carry after a subtraction is the inverse of x86's borrow, and ARM
//! has no PF).

// dynasm's AArch64 encoder shifts and masks register numbers inline; with register 0
// those expressions are constant zero, which clippy flags inside the macro expansion.
#![allow(clippy::erasing_op)]

use std::mem::size_of;

use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};
use ox86_core::cpu::flags::{LazyOp, CF, DF};
use ox86_core::cpu::state::{attr, Seg, CR4_TSD};
use ox86_core::decode::Block;
use ox86_core::interp::x87::direct::MemOp;
use ox86_core::mmu::tlb::ENTRIES;
use ox86_core::{Bus, Cpu};

use crate::chain::{slot, ChainSlot, Links, CHAIN_SLOTS, SLOT_SHIFT};
use crate::helpers::{
    run_handler, run_handler_view, run_slow_path, slow_path_arg, store_flags, x87_kind, x87_mem,
    END_BLOCK,
};
use crate::layout::*;
use crate::translate::{
    self, changes_view, frame_ref, stack_ref, Alu, Branch, Ea, Emitter, Frame, Frames, Inline,
    Insn, MemRef, Operand, Operand8, Rec, Src, Target, Targets, Translated, Unstored, CF_RECORDS,
    ESP, FLAT_ONCE, RUNTIME_RECORDS, SHADOWS,
};

type Asm = dynasmrt::VecAssembler<dynasmrt::aarch64::Aarch64Relocation>;

/// Fixed registers.
const CPU: u32 = 19;
const RAM: u32 = 21;
const LINKS: u32 = 22;
/// Scratch for out-of-range offsets and call targets.
const IP0: u32 = 16;
/// The RAM offset of the checked guest frame's first byte (`Frame::lo`), or -1 when the
/// check failed or a helper ran since.
const FRAME: u32 = 10;
/// Host registers that shadow guest registers in straight-line inline code (X9 is
/// otherwise unused; helper calls are taken with the shadows written back, and the
/// ones still needed loaded again after).
const SHADOW_REGS: [u32; SHADOWS] = [23, 24, 25, 26, 27, 28, 9];

/// The loads and stores generated code makes: width and direction.
#[derive(Clone, Copy)]
enum Mem {
    Ldrh,
    Ldr32,
    Ldr64,
    Strh,
    Str32,
    Str64,
}

impl Mem {
    fn scale(self) -> u32 {
        match self {
            Mem::Ldrh | Mem::Strh => 1,
            Mem::Ldr32 | Mem::Str32 => 2,
            Mem::Ldr64 | Mem::Str64 => 3,
        }
    }
}

/// `rt` to or from `[base + off]`: the scaled immediate form where it fits, else the
/// offset goes through IP0.
fn mem(a: &mut Asm, m: Mem, rt: u32, base: u32, off: i32) {
    let s = m.scale();
    let off_u = off as u32;
    if off >= 0 && off_u.trailing_zeros() >= s && off_u >> s < 4096 {
        match m {
            Mem::Ldrh => dynasm!(a ; .arch aarch64 ; ldrh W(rt), [X(base), #off_u]),
            Mem::Ldr32 => dynasm!(a ; .arch aarch64 ; ldr W(rt), [X(base), #off_u]),
            Mem::Ldr64 => dynasm!(a ; .arch aarch64 ; ldr X(rt), [X(base), #off_u]),
            Mem::Strh => dynasm!(a ; .arch aarch64 ; strh W(rt), [X(base), #off_u]),
            Mem::Str32 => dynasm!(a ; .arch aarch64 ; str W(rt), [X(base), #off_u]),
            Mem::Str64 => dynasm!(a ; .arch aarch64 ; str X(rt), [X(base), #off_u]),
        }
        return;
    }
    mov_imm64(a, IP0, off as i64 as u64);
    match m {
        Mem::Ldrh => dynasm!(a ; .arch aarch64 ; ldrh W(rt), [X(base), X(IP0)]),
        Mem::Ldr32 => dynasm!(a ; .arch aarch64 ; ldr W(rt), [X(base), X(IP0)]),
        Mem::Ldr64 => dynasm!(a ; .arch aarch64 ; ldr X(rt), [X(base), X(IP0)]),
        Mem::Strh => dynasm!(a ; .arch aarch64 ; strh W(rt), [X(base), X(IP0)]),
        Mem::Str32 => dynasm!(a ; .arch aarch64 ; str W(rt), [X(base), X(IP0)]),
        Mem::Str64 => dynasm!(a ; .arch aarch64 ; str X(rt), [X(base), X(IP0)]),
    }
}

/// A field of the CPU state.
fn cpu(a: &mut Asm, m: Mem, rt: u32, off: i32) {
    mem(a, m, rt, CPU, off);
}

/// W(rd) = v.
fn mov_imm32(a: &mut Asm, rd: u32, v: u32) {
    let (lo, hi) = (v & 0xffff, v >> 16);
    if hi == 0 {
        dynasm!(a ; .arch aarch64 ; movz W(rd), #lo);
    } else if lo == 0 {
        dynasm!(a ; .arch aarch64 ; movz W(rd), #hi, lsl #16);
    } else if v >> 16 == 0xffff {
        dynasm!(a ; .arch aarch64 ; movn W(rd), #!v & 0xffff);
    } else {
        dynasm!(a ; .arch aarch64 ; movz W(rd), #lo ; movk W(rd), #hi, lsl #16);
    }
}

/// X(rd) = v.
fn mov_imm64(a: &mut Asm, rd: u32, v: u64) {
    if v >> 32 == 0 {
        return mov_imm32(a, rd, v as u32);
    }
    dynasm!(a ; .arch aarch64 ; movz X(rd), #(v & 0xffff) as u32);
    for shift in [16u32, 32, 48] {
        let part = (v >> shift & 0xffff) as u32;
        if part != 0 {
            match shift {
                16 => dynasm!(a ; .arch aarch64 ; movk X(rd), #part, lsl #16),
                32 => dynasm!(a ; .arch aarch64 ; movk X(rd), #part, lsl #32),
                _ => dynasm!(a ; .arch aarch64 ; movk X(rd), #part, lsl #48),
            }
        }
    }
}

/// W(rd) = W(rn) + v (32-bit, wrapping). Uses W5 for a large `v`.
fn add_imm32(a: &mut Asm, rd: u32, rn: u32, v: u32) {
    if v < 4096 {
        dynasm!(a ; .arch aarch64 ; add WSP(rd), WSP(rn), #v);
    } else if v.wrapping_neg() < 4096 {
        dynasm!(a ; .arch aarch64 ; sub WSP(rd), WSP(rn), #v.wrapping_neg());
    } else {
        mov_imm32(a, 5, v);
        dynasm!(a ; .arch aarch64 ; add W(rd), W(rn), W(5));
    }
}

/// W(r) == v sets the flags (W5 for a large `v`).
fn cmp_imm32(a: &mut Asm, r: u32, v: u32) {
    if v < 4096 {
        dynasm!(a ; .arch aarch64 ; cmp WSP(r), #v);
    } else {
        mov_imm32(a, 5, v);
        dynasm!(a ; .arch aarch64 ; cmp W(r), W(5));
    }
}

/// The shared shadow bookkeeping, on this backend's registers, and the frame lookups
/// the block's code spares.
#[derive(Default)]
struct RegCache(translate::RegCache, Frames);

impl RegCache {
    fn find(&self, off: i32) -> Option<u32> {
        self.0.find(off).map(|i| SHADOW_REGS[i])
    }

    /// Guest register `off` into host register `dst` (through its shadow).
    fn load(&mut self, a: &mut Asm, off: i32, dst: u32) {
        let h = self.reg(a, off);
        dynasm!(a ; .arch aarch64 ; mov W(dst), W(h));
    }

    /// The shadow of guest register `off`, loaded if it had none. Valid only until the
    /// next `reg`/`load`/`store`, which may give the register to another guest register.
    fn reg(&mut self, a: &mut Asm, off: i32) -> u32 {
        if let Some(h) = self.find(off) {
            return h;
        }
        let h = self.take(a, off);
        cpu(a, Mem::Ldr32, h, off);
        h
    }

    /// Host register `src` into guest register `off` (its shadow, written back later).
    fn store(&mut self, a: &mut Asm, off: i32, src: u32) {
        let h = self.take(a, off);
        dynasm!(a ; .arch aarch64 ; mov W(h), W(src));
        self.0.set_dirty(off);
    }

    /// A shadow for guest register `off` (its old value, if dirty, written back).
    fn take(&mut self, a: &mut Asm, off: i32) -> u32 {
        let (i, evicted) = self.0.assign(off);
        let h = SHADOW_REGS[i];
        if let Some(old) = evicted {
            cpu(a, Mem::Str32, h, old);
        }
        h
    }

    fn clear(&mut self, a: &mut Asm) {
        write_back(a, &self.0);
        self.0.cleaned();
        self.0.clear();
    }
}

/// Store the shadows `regs` marks dirty to the CPU state.
fn write_back(a: &mut Asm, regs: &translate::RegCache) {
    for (i, off) in regs.dirty() {
        cpu(a, Mem::Str32, SHADOW_REGS[i], off);
    }
}

/// The effective address into W0 (clobbers W1, W5).
fn emit_ea(a: &mut Asm, e: &Ea, rc: &mut RegCache) {
    match e.base {
        Some(b) => {
            let r = rc.reg(a, b);
            add_imm32(a, 0, r, e.disp);
        }
        None => mov_imm32(a, 0, e.disp),
    }
    if let Some((i, shift)) = e.index {
        let r = rc.reg(a, i);
        dynasm!(a ; .arch aarch64 ; add W(0), W(0), W(r), lsl #shift as u32);
    }
}

/// Emit inline form `f` (see `Emitter::inline`). A in W0, B in W1, the result in W2, as
/// the lazy flags record them.
fn emit_inline(
    a: &mut Asm,
    rc: &mut RegCache,
    f: &Inline,
    slow: DynamicLabel,
    before: Option<Rec>,
    keep_flags: bool,
) {
    match *f {
        Inline::Shift { count: 0, .. } => {}
        Inline::Shift {
            dst,
            op,
            count,
            bits: 16,
        } => {
            // The word zero-extended in W0 (the operand the flags record), the result
            // in W2.
            let r = rc.reg(a, dst);
            let n = count as u32;
            dynasm!(a ; .arch aarch64 ; ubfx W(0), W(r), #0, #16);
            match op {
                LazyOp::Shl => dynasm!(a ; .arch aarch64 ; lsl W(2), W(0), #n),
                LazyOp::Shr => dynasm!(a ; .arch aarch64 ; lsr W(2), W(0), #n),
                _ => dynasm!(a ; .arch aarch64 ; sxth W(2), W(0) ; asr W(2), W(2), #n),
            }
            dynasm!(a ; .arch aarch64 ; and WSP(2), W(2), #0xffff);
            if keep_flags {
                dynasm!(a ; .arch aarch64 ; movz W(1), #n);
                mov_imm32(a, 3, op as u32 | 15 << 8);
                emit_lazy_op(a);
            }
            let r = rc.reg(a, dst);
            dynasm!(a
                ; .arch aarch64
                ; mov W(3), W(r)
                ; bfi W(3), W(2), #0, #16
            );
            rc.store(a, dst, 3);
        }
        Inline::Shift { dst, op, count, .. } => {
            rc.load(a, dst, 0);
            let n = count as u32;
            match op {
                LazyOp::Shl => dynasm!(a ; .arch aarch64 ; lsl W(2), W(0), #n),
                LazyOp::Shr => dynasm!(a ; .arch aarch64 ; lsr W(2), W(0), #n),
                _ => dynasm!(a ; .arch aarch64 ; asr W(2), W(0), #n),
            }
            rc.store(a, dst, 2);
            if keep_flags {
                dynasm!(a ; .arch aarch64 ; movz W(1), #n);
                emit_lazy(a, op);
            }
        }
        Inline::IncDec { ref dst, dec } => {
            // The CF it keeps matters only if its flags do.
            if keep_flags {
                emit_carry_in(a, before, slow);
            }
            // A memory operand's RAM offset in X4.
            match dst {
                Operand::Mem(m) => {
                    emit_tlb_lookup(a, rc, m, true, slow);
                    dynasm!(a ; .arch aarch64 ; mov X(4), X(1) ; ldr W(0), [X(RAM), X(4)]);
                }
                Operand::Src(Src::Reg(r)) => rc.load(a, *r, 0),
                Operand::Src(Src::Imm(_)) => unreachable!("inline_form builds no such form"),
            }
            dynasm!(a ; .arch aarch64 ; movz W(1), #1);
            if dec {
                dynasm!(a ; .arch aarch64 ; sub WSP(2), WSP(0), #1);
            } else {
                dynasm!(a ; .arch aarch64 ; add WSP(2), WSP(0), #1);
            }
            match dst {
                Operand::Mem(_) => dynasm!(a ; .arch aarch64 ; str W(2), [X(RAM), X(4)]),
                Operand::Src(Src::Reg(r)) => rc.store(a, *r, 2),
                Operand::Src(Src::Imm(_)) => {}
            }
            if keep_flags {
                emit_lazy(a, if dec { LazyOp::Dec } else { LazyOp::Inc });
            }
        }
        Inline::LoadExt { dst, ref m, signed } => {
            emit_tlb_lookup(a, rc, m, false, slow);
            match (m.size, signed) {
                (1, false) => dynasm!(a ; .arch aarch64 ; ldrb W(0), [X(RAM), X(1)]),
                (1, true) => dynasm!(a ; .arch aarch64 ; ldrsb W(0), [X(RAM), X(1)]),
                (_, false) => dynasm!(a ; .arch aarch64 ; ldrh W(0), [X(RAM), X(1)]),
                (_, true) => dynasm!(a ; .arch aarch64 ; ldrsh W(0), [X(RAM), X(1)]),
            }
            rc.store(a, dst, 0);
        }
        Inline::Load { dst, ref m } => {
            emit_tlb_lookup(a, rc, m, false, slow);
            dynasm!(a ; .arch aarch64 ; ldr W(0), [X(RAM), X(1)]);
            rc.store(a, dst, 0);
        }
        Inline::LoadNarrow { dst, shift, ref m } => {
            emit_tlb_lookup(a, rc, m, false, slow);
            if m.size == 1 {
                dynasm!(a ; .arch aarch64 ; ldrb W(0), [X(RAM), X(1)]);
            } else {
                dynasm!(a ; .arch aarch64 ; ldrh W(0), [X(RAM), X(1)]);
            }
            let r = rc.reg(a, dst);
            let (lsb, width) = (shift as u32, m.size as u32 * 8);
            dynasm!(a
                ; .arch aarch64
                ; mov W(3), W(r)
                ; bfi W(3), W(0), #lsb, #width
            );
            rc.store(a, dst, 3);
        }
        Inline::StoreNarrow { src, shift, ref m } => {
            emit_tlb_lookup(a, rc, m, true, slow);
            let mut r = rc.reg(a, src);
            if shift != 0 {
                dynasm!(a ; .arch aarch64 ; lsr W(0), W(r), #shift as u32);
                r = 0;
            }
            if m.size == 1 {
                dynasm!(a ; .arch aarch64 ; strb W(r), [X(RAM), X(1)]);
            } else {
                dynasm!(a ; .arch aarch64 ; strh W(r), [X(RAM), X(1)]);
            }
        }
        Inline::Push { ref src } => {
            emit_stack_check(a, slow);
            // A memory operand's value in W4, read first (its address is from ESP
            // before the push).
            if let Operand::Mem(m) = src {
                emit_tlb_lookup(a, rc, m, false, slow);
                dynasm!(a ; .arch aarch64 ; ldr W(4), [X(RAM), X(1)]);
            }
            emit_tlb_lookup(a, rc, &stack_ref(-4), true, slow);
            let r = match src {
                Operand::Src(Src::Reg(r)) => rc.reg(a, *r),
                Operand::Src(Src::Imm(v)) => {
                    mov_imm32(a, 4, *v);
                    4
                }
                Operand::Mem(_) => 4,
            };
            dynasm!(a ; .arch aarch64 ; str W(r), [X(RAM), X(1)]);
            let sp = rc.reg(a, ESP);
            dynasm!(a ; .arch aarch64 ; sub WSP(sp), WSP(sp), #4);
            rc.0.set_dirty(ESP);
        }
        Inline::Leave => {
            emit_stack_check(a, slow);
            emit_tlb_lookup(a, rc, &frame_ref(), false, slow);
            dynasm!(a ; .arch aarch64 ; ldr W(0), [X(RAM), X(1)]);
            let bp = rc.reg(a, translate::EBP);
            dynasm!(a ; .arch aarch64 ; add WSP(2), WSP(bp), #4);
            rc.store(a, ESP, 2);
            rc.store(a, translate::EBP, 0);
        }
        Inline::Pop { dst } => {
            emit_stack_check(a, slow);
            emit_tlb_lookup(a, rc, &stack_ref(0), false, slow);
            dynasm!(a ; .arch aarch64 ; ldr W(0), [X(RAM), X(1)]);
            let sp = rc.reg(a, ESP);
            dynasm!(a ; .arch aarch64 ; add WSP(sp), WSP(sp), #4);
            rc.0.set_dirty(ESP);
            rc.store(a, dst, 0);
        }
        Inline::Store { ref src, ref m } => {
            emit_tlb_lookup(a, rc, m, true, slow);
            let r = match *src {
                Src::Reg(off) => rc.reg(a, off),
                Src::Imm(v) => {
                    mov_imm32(a, 0, v);
                    0
                }
            };
            match m.size {
                1 => dynasm!(a ; .arch aarch64 ; strb W(r), [X(RAM), X(1)]),
                2 => dynasm!(a ; .arch aarch64 ; strh W(r), [X(RAM), X(1)]),
                _ => dynasm!(a ; .arch aarch64 ; str W(r), [X(RAM), X(1)]),
            }
        }
        Inline::Ext {
            dst,
            src,
            shift,
            bits,
            signed,
        } => {
            let r = rc.reg(a, src);
            let (lsb, width) = (shift as u32, bits as u32);
            if signed {
                dynasm!(a ; .arch aarch64 ; sbfx W(0), W(r), #lsb, #width);
            } else {
                dynasm!(a ; .arch aarch64 ; ubfx W(0), W(r), #lsb, #width);
            }
            rc.store(a, dst, 0);
        }
        Inline::SetCc { dst, shift, cc } => {
            let Some(cond) = before.and_then(|(op, top)| host_cond(a, op, top, cc)) else {
                dynasm!(a ; .arch aarch64 ; b =>slow);
                return;
            };
            // W2 = 1 or 0 (CSINC from the zero register, as CSET does).
            dynasm!(a ; .arch aarch64 ; movz W(3), #1 ; movz W(4), #0);
            emit_csel(a, 3, 4, cond);
            store_w2_byte(a, rc, dst, shift);
        }
        Inline::Bt { ref src, bit } => {
            // Only after definite flags (kind None at run time): CF becomes the bit.
            // Making other records definite takes the handler here.
            const _: () = assert!(LazyOp::None as u8 == 0);
            cpu(a, Mem::Ldrh, 3, F_OP);
            dynasm!(a ; .arch aarch64 ; tst W(3), #0xff ; b.ne =>slow);
            load_w4(a, rc, src, slow);
            cpu(a, Mem::Ldr32, 3, FLAGS_BITS);
            dynasm!(a
                ; .arch aarch64
                ; lsr W(4), W(4), #bit as u32
                ; bfi W(3), W(4), #0, #1
            );
            cpu(a, Mem::Str32, 3, FLAGS_BITS);
        }
        Inline::Cmov { dst, ref src, cc } => {
            if before.is_none() {
                dynasm!(a ; .arch aarch64 ; b =>slow);
                return;
            }
            // The source into W4 first: the lookup clobbers NZCV.
            load_w4(a, rc, src, slow);
            let Some(cond) = before.and_then(|(op, top)| host_cond(a, op, top, cc)) else {
                dynasm!(a ; .arch aarch64 ; b =>slow);
                return;
            };
            // Loads and moves keep NZCV. The source was copied out before the
            // destination's shadow is found, which may take the source's register.
            let d = rc.reg(a, dst);
            emit_csel(a, 4, d, cond);
            rc.store(a, dst, 2);
        }
        Inline::Imul { dst, ref src, imm } => {
            // The 64-bit product in X2; wide when it differs from its low half
            // sign-extended.
            match src {
                Operand::Mem(m) => {
                    emit_tlb_lookup(a, rc, m, false, slow);
                    dynasm!(a ; .arch aarch64 ; ldr W(1), [X(RAM), X(1)]);
                }
                Operand::Src(s) => load_src(a, rc, s),
            }
            match imm {
                Some(v) => mov_imm32(a, 0, v),
                None => rc.load(a, dst, 0),
            }
            dynasm!(a ; .arch aarch64 ; smull X(2), W(0), W(1));
            if keep_flags {
                dynasm!(a
                    ; .arch aarch64
                    ; cmp XSP(2), W(2), sxtw
                    ; cset W(0), ne
                    ; movz W(1), #0
                );
                emit_lazy(a, LazyOp::Mul);
            }
            rc.store(a, dst, 2);
        }
        Inline::Nop => {}
        Inline::StrByte { ref inner, ptr } => {
            cpu(a, Mem::Ldr32, 3, FLAGS_BITS);
            dynasm!(a ; .arch aarch64 ; tbnz W(3), #DF.trailing_zeros(), =>slow);
            emit_inline(a, rc, inner, slow, before, keep_flags);
            let h = rc.reg(a, ptr);
            dynasm!(a ; .arch aarch64 ; add WSP(h), WSP(h), #1);
            rc.0.set_dirty(ptr);
        }
        Inline::Rdtsc { pos } => {
            // The clock at this instruction plus the guest's offset (`Cpu::tsc_at`).
            cpu(a, Mem::Ldr32, 0, CR4);
            dynasm!(a ; .arch aarch64 ; tst W(0), #CR4_TSD ; b.ne =>slow);
            cpu(a, Mem::Ldr64, 0, INSNS);
            cpu(a, Mem::Ldr64, 1, IDLE);
            dynasm!(a ; .arch aarch64 ; add X(0), X(0), X(1));
            cpu(a, Mem::Ldr64, 1, TSC_OFFSET);
            dynasm!(a
                ; .arch aarch64
                ; add X(0), X(0), X(1)
                ; add XSP(0), XSP(0), #pos as u32
                ; lsr X(2), X(0), #32
            );
            rc.store(a, translate::EAX, 0);
            rc.store(a, translate::EDX, 2);
        }
        Inline::Div { ref src } => {
            match src {
                Operand::Mem(m) => {
                    emit_tlb_lookup(a, rc, m, false, slow);
                    dynasm!(a ; .arch aarch64 ; ldr W(1), [X(RAM), X(1)]);
                }
                Operand::Src(s) => load_src(a, rc, s),
            }
            // The quotient fits 32 bits exactly when EDX is below the divisor.
            dynasm!(a ; .arch aarch64 ; cbz W(1), =>slow);
            rc.load(a, translate::EDX, 2);
            dynasm!(a ; .arch aarch64 ; cmp W(2), W(1) ; b.hs =>slow);
            rc.load(a, translate::EAX, 0);
            dynasm!(a
                ; .arch aarch64
                ; orr X(0), X(0), X(2), lsl #32
                ; udiv X(3), X(0), X(1)
                ; msub X(4), X(3), X(1), X(0)
            );
            rc.store(a, translate::EAX, 3);
            rc.store(a, translate::EDX, 4);
        }
        Inline::Rotate { dst, left, count } => {
            if keep_flags {
                dynasm!(a ; .arch aarch64 ; b =>slow);
                return;
            }
            rc.load(a, dst, 0);
            let right = if left {
                32 - count as u32
            } else {
                count as u32
            };
            dynasm!(a ; .arch aarch64 ; ror W(0), W(0), #right);
            rc.store(a, dst, 0);
            cpu(a, Mem::Str32, 0, JIT_ROTATED);
        }
        Inline::Neg { dst } => {
            rc.load(a, dst, 1);
            dynasm!(a ; .arch aarch64 ; movz W(0), #0 ; sub W(2), W(0), W(1));
            if keep_flags {
                emit_lazy(a, LazyOp::Sub);
            }
            rc.store(a, dst, 2);
        }
        Inline::ShiftCl { dst, op } => {
            // The count first, then the destination's shadow: both paths below must
            // leave the shadows alike.
            rc.load(a, translate::ECX, 1);
            rc.reg(a, dst);
            let skip = a.new_dynamic_label();
            dynasm!(a ; .arch aarch64 ; ands W(1), W(1), #31 ; b.eq =>skip);
            rc.load(a, dst, 0);
            match op {
                LazyOp::Shl => dynasm!(a ; .arch aarch64 ; lsl W(2), W(0), W(1)),
                LazyOp::Shr => dynasm!(a ; .arch aarch64 ; lsr W(2), W(0), W(1)),
                _ => dynasm!(a ; .arch aarch64 ; asr W(2), W(0), W(1)),
            }
            if keep_flags {
                emit_lazy(a, op);
            }
            rc.store(a, dst, 2);
            dynasm!(a ; .arch aarch64 ; =>skip);
        }
        Inline::Mov8 {
            dst,
            shift,
            ref src,
        } => {
            match *src {
                Operand8::Reg { reg, shift } => {
                    let r = rc.reg(a, reg);
                    dynasm!(a ; .arch aarch64 ; ubfx W(2), W(r), #shift as u32, #8);
                }
                Operand8::Imm(v) => mov_imm32(a, 2, v as u32),
                Operand8::Mem(_) => unreachable!("inline_form builds no such form"),
            }
            store_w2_byte(a, rc, dst, shift);
        }
        Inline::Alu8 {
            op,
            ref dst,
            ref src,
        } => {
            let writes = !matches!(op, Alu::Cmp | Alu::Test);
            // A in W0, B in W1, zero-extended; a memory operand's RAM offset in X4.
            if let Operand8::Mem(m) = dst {
                emit_tlb_lookup(a, rc, m, writes, slow);
                dynasm!(a ; .arch aarch64 ; mov X(4), X(1) ; ldrb W(0), [X(RAM), X(4)]);
            }
            if let Operand8::Mem(m) = src {
                emit_tlb_lookup(a, rc, m, false, slow);
                dynasm!(a ; .arch aarch64 ; ldrb W(1), [X(RAM), X(1)]);
            }
            match *src {
                Operand8::Reg { reg, shift } => {
                    let r = rc.reg(a, reg);
                    dynasm!(a ; .arch aarch64 ; ubfx W(1), W(r), #shift as u32, #8);
                }
                Operand8::Imm(v) => mov_imm32(a, 1, v as u32),
                Operand8::Mem(_) => {}
            }
            if let Operand8::Reg { reg, shift } = *dst {
                let r = rc.reg(a, reg);
                dynasm!(a ; .arch aarch64 ; ubfx W(0), W(r), #shift as u32, #8);
            }
            emit_alu(a, op);
            dynasm!(a ; .arch aarch64 ; and WSP(2), W(2), #0xff);
            if keep_flags {
                let op = f.writes_flags().unwrap_or(LazyOp::Logic);
                mov_imm32(a, 3, op as u32 | 7 << 8);
                emit_lazy_op(a);
            }
            if writes {
                match *dst {
                    Operand8::Mem(_) => dynasm!(a ; .arch aarch64 ; strb W(2), [X(RAM), X(4)]),
                    Operand8::Reg { reg, shift } => store_w2_byte(a, rc, reg, shift),
                    Operand8::Imm(_) => {}
                }
            }
        }
        Inline::Not { dst } => {
            let r = rc.reg(a, dst);
            dynasm!(a ; .arch aarch64 ; mvn W(0), W(r));
            rc.store(a, dst, 0);
        }
        Inline::Mov { dst, ref src } => {
            load_src(a, rc, src);
            rc.store(a, dst, 1);
        }
        Inline::MovFromRam { dst, pa } => {
            mov_imm32(a, 1, pa);
            dynasm!(a ; .arch aarch64 ; ldr W(0), [X(RAM), X(1)]);
            rc.store(a, dst, 0);
        }
        Inline::Lea { dst, ref ea } => {
            emit_ea(a, ea, rc);
            rc.store(a, dst, 0);
        }
        Inline::Alu {
            op,
            ref dst,
            ref src,
        } => {
            let writes = !matches!(op, Alu::Cmp | Alu::Test);
            // A memory destination's RAM offset stays in X4.
            match (dst, src) {
                (Operand::Mem(m), Operand::Src(b)) => {
                    emit_tlb_lookup(a, rc, m, writes, slow);
                    dynasm!(a
                        ; .arch aarch64
                        ; mov X(4), X(1)
                        ; ldr W(0), [X(RAM), X(4)]
                    );
                    load_src(a, rc, b);
                }
                (Operand::Src(Src::Reg(d)), Operand::Mem(m)) => {
                    emit_tlb_lookup(a, rc, m, false, slow);
                    dynasm!(a ; .arch aarch64 ; ldr W(1), [X(RAM), X(1)]);
                    rc.load(a, *d, 0);
                }
                (Operand::Src(Src::Reg(d)), Operand::Src(b)) => {
                    load_src(a, rc, b);
                    rc.load(a, *d, 0);
                }
                _ => unreachable!("inline_form only builds the forms above"),
            }
            if matches!(op, Alu::Adc | Alu::Sbb) {
                emit_cf(a, before, slow);
            }
            emit_alu(a, op);
            match op {
                // Adc (Sbb) with a carry in, else Add (Sub): the next kind up.
                Alu::Adc | Alu::Sbb if keep_flags => {
                    const _: () = assert!(LazyOp::Adc as u8 == LazyOp::Add as u8 + 1);
                    const _: () = assert!(LazyOp::Sbb as u8 == LazyOp::Sub as u8 + 1);
                    let base = if op == Alu::Adc {
                        LazyOp::Add
                    } else {
                        LazyOp::Sub
                    };
                    mov_imm32(a, 3, base as u32 | 31 << 8);
                    dynasm!(a ; .arch aarch64 ; add W(3), W(3), W(4));
                    emit_lazy_op(a);
                }
                _ if keep_flags => emit_lazy(a, f.writes_flags().unwrap_or(LazyOp::Logic)),
                _ => {}
            }
            if writes {
                match dst {
                    Operand::Mem(_) => dynasm!(a ; .arch aarch64 ; str W(2), [X(RAM), X(4)]),
                    Operand::Src(Src::Reg(d)) => rc.store(a, *d, 2),
                    Operand::Src(Src::Imm(_)) => {}
                }
            }
        }
    }
}

/// W2 = W0 `op` W1 (ADC and SBB add or subtract the carry in W4 as well).
fn emit_alu(a: &mut Asm, op: Alu) {
    match op {
        Alu::Add => dynasm!(a ; .arch aarch64 ; add W(2), W(0), W(1)),
        Alu::Adc => dynasm!(a ; .arch aarch64 ; add W(2), W(0), W(1) ; add W(2), W(2), W(4)),
        Alu::Sbb => dynasm!(a ; .arch aarch64 ; sub W(2), W(0), W(1) ; sub W(2), W(2), W(4)),
        Alu::Sub | Alu::Cmp => dynasm!(a ; .arch aarch64 ; sub W(2), W(0), W(1)),
        Alu::And | Alu::Test => dynasm!(a ; .arch aarch64 ; and W(2), W(0), W(1)),
        Alu::Or => dynasm!(a ; .arch aarch64 ; orr W(2), W(0), W(1)),
        Alu::Xor => dynasm!(a ; .arch aarch64 ; eor W(2), W(0), W(1)),
    }
}

/// The low byte of W2 into the byte at bit `shift` (0 or 8) of guest register `reg`
/// (clobbers W3).
fn store_w2_byte(a: &mut Asm, rc: &mut RegCache, reg: i32, shift: u8) {
    let r = rc.reg(a, reg);
    dynasm!(a
        ; .arch aarch64
        ; mov W(3), W(r)
        ; bfi W(3), W(2), #shift as u32, #8
    );
    rc.store(a, reg, 3);
}

/// Record lazy flags `op` of a 32-bit operation exactly as the interpreter does:
/// operands in W0 and W1, result in W2 (for MUL: the wide flag in W0, W1 zero).
fn emit_lazy(a: &mut Asm, op: LazyOp) {
    const _: () = assert!(F_TOP == F_OP + 1, "op and top are written as one halfword");
    mov_imm32(a, 3, op as u32 | 31 << 8);
    emit_lazy_op(a);
}

/// `emit_lazy` with the kind and width in W3, as the halfword `op | top << 8`.
fn emit_lazy_op(a: &mut Asm) {
    cpu(a, Mem::Strh, 3, F_OP);
    cpu(a, Mem::Str32, 0, F_A);
    cpu(a, Mem::Str32, 1, F_B);
    cpu(a, Mem::Str32, 2, F_R);
}

/// INC/DEC keep CF: move it from the lazy flags into `bits`, as `set_lazy` does.
fn emit_carry_in(a: &mut Asm, before: Option<Rec>, slow: DynamicLabel) {
    if matches!(before, Some((LazyOp::Inc | LazyOp::Dec | LazyOp::None, _))) {
        return;
    }
    const _: () = assert!(CF == 1, "CF is bit 0");
    emit_cf(a, before, slow);
    cpu(a, Mem::Ldr32, 3, FLAGS_BITS);
    dynasm!(a ; .arch aarch64 ; bfi W(3), W(4), #0, #1);
    cpu(a, Mem::Str32, 3, FLAGS_BITS);
}

/// A CALL's push: EIP + `next` to the stack slot at RAM offset X1, ESP down by 4
/// (clobbers W0, W3, W5).
fn emit_push_return(a: &mut Asm, next: u32) {
    cpu(a, Mem::Ldr32, 0, EIP);
    add_imm32(a, 0, 0, next);
    dynasm!(a ; .arch aarch64 ; str W(0), [X(RAM), X(1)]);
    cpu(a, Mem::Ldr32, 3, ESP);
    dynasm!(a ; .arch aarch64 ; sub WSP(3), WSP(3), #4);
    cpu(a, Mem::Str32, 3, ESP);
}

/// W4 = the guest's CF (0 or 1), from lazy flags recorded by `before` if known, else
/// by whatever the run-time record says: the `CF_RECORDS` and the kinds that keep CF in
/// `bits` inline; anything else (a shift, a word operation) takes `slow`. Touches
/// nothing but W3-W5 and NZCV.
fn emit_cf(a: &mut Asm, before: Option<Rec>, slow: DynamicLabel) {
    const _: () = assert!(F_TOP == F_OP + 1, "op and top are read as one halfword");
    if let Some((op, top)) = before {
        if !emit_cf_of(a, op, top) {
            dynasm!(a ; .arch aarch64 ; b =>slow);
        }
        return;
    }
    // Whatever recorded the flags is known only at run time.
    let (done, bits) = (a.new_dynamic_label(), a.new_dynamic_label());
    cpu(a, Mem::Ldrh, 4, F_OP);
    for (op, top) in CF_RECORDS {
        let next = a.new_dynamic_label();
        cmp_imm32(a, 4, op as u32 | (top as u32) << 8);
        dynasm!(a ; .arch aarch64 ; b.ne =>next);
        emit_cf_of(a, op, top);
        dynasm!(a ; .arch aarch64 ; b =>done ; =>next);
    }
    dynasm!(a
        ; .arch aarch64
        ; and WSP(4), W(4), #0xff
        ; cmp WSP(4), #LazyOp::Inc as u32
        ; b.eq =>bits
        ; cmp WSP(4), #LazyOp::Dec as u32
        ; b.eq =>bits
        ; cmp WSP(4), #LazyOp::None as u32
        ; b.ne =>slow
        ; =>bits
    );
    emit_cf_of(a, LazyOp::None, 31);
    dynasm!(a ; .arch aarch64 ; =>done);
}

/// W4 = CF of lazy flags of kind `op` and width `top` (32 bits; bytes too for ADD, SUB
/// and logic; clobbers W3); false, with nothing emitted, for a record not done here.
fn emit_cf_of(a: &mut Asm, op: LazyOp, top: u8) -> bool {
    // The sum wrapped below an operand (to or below it with a carry in); the subtrahend
    // exceeded the minuend (or equalled it with a borrow in). Bytes compare as bytes.
    let (x, y, below) = match (op, top) {
        (LazyOp::Add, 31 | 7) => (F_R, F_A, true),
        (LazyOp::Adc, 31) => (F_A, F_R, false),
        (LazyOp::Sub, 31 | 7) => (F_A, F_B, true),
        (LazyOp::Sbb, 31) => (F_B, F_A, false),
        (LazyOp::Mul, 31) => {
            cpu(a, Mem::Ldr32, 4, F_A);
            dynasm!(a ; .arch aarch64 ; cmp WSP(4), #0 ; cset W(4), ne);
            return true;
        }
        (LazyOp::Logic, 31 | 7) => {
            dynasm!(a ; .arch aarch64 ; movz W(4), #0);
            return true;
        }
        (LazyOp::None | LazyOp::Inc | LazyOp::Dec, _) => {
            cpu(a, Mem::Ldr32, 4, FLAGS_BITS);
            dynasm!(a ; .arch aarch64 ; and WSP(4), W(4), #1);
            return true;
        }
        _ => return false,
    };
    cpu(a, Mem::Ldr32, 4, x);
    cpu(a, Mem::Ldr32, 3, y);
    if top == 7 {
        dynasm!(a ; .arch aarch64 ; and WSP(4), W(4), #0xff ; and WSP(3), W(3), #0xff);
    }
    dynasm!(a ; .arch aarch64 ; cmp W(4), W(3));
    if below {
        dynasm!(a ; .arch aarch64 ; cset W(4), lo);
    } else {
        dynasm!(a ; .arch aarch64 ; cset W(4), hs);
    }
    true
}

/// The inline stack forms handle a 32-bit stack (SS.B set) only.
fn emit_stack_check(a: &mut Asm, slow: DynamicLabel) {
    let ss_attr = SEGS + SEG_SIZE * Seg::Ss as i32 + SEG_ATTR;
    cpu(a, Mem::Ldrh, 3, ss_attr);
    dynasm!(a ; .arch aarch64 ; tst W(3), #attr::DB as u32 ; b.eq =>slow);
}

/// The interpreter's fast path for an access of `m.size` bytes, leaving the RAM offset
/// in X1, for a segment `JitView::flat` admits: no page crossing (hence inside the
/// limit) and a soft-TLB hit (read or write tag) for the current privilege. The tag is
/// compared with the page of the access's last byte, which is the entry's page only
/// when the access stays inside it. Clobbers W0-W3, W5.
fn emit_tlb_lookup(a: &mut Asm, rc: &mut RegCache, m: &MemRef, write: bool, slow: DynamicLabel) {
    if let Some(f) = rc.1.covering(&rc.0, m, write) {
        let (at, back) = (a.new_dynamic_label(), a.new_dynamic_label());
        dynasm!(a ; .arch aarch64 ; tbnz X(FRAME), #63, =>at);
        add_imm32(a, 1, FRAME, (translate::disp(m) - f.lo) as u32);
        dynasm!(a ; .arch aarch64 ; =>back);
        rc.1.defer((at, back), &rc.0, m, write, slow);
        return;
    }
    let seg = SEGS + SEG_SIZE * m.seg as i32;
    let tag = if write { TLB_WRITE_TAG } else { TLB_READ_TAG };
    let last = m.size as u32 - 1;
    emit_ea(a, &m.ea, rc);
    let bit = 1u8 << m.seg as u8;
    if FLAT_ONCE & bit == 0 {
        // FS, GS (often based elsewhere, with a limit) and CS: any plain data segment,
        // the limit checked here (in 64 bits, past any wrap).
        cpu(a, Mem::Ldr32, 3, JIT_FLAT);
        dynasm!(a ; .arch aarch64 ; tst W(3), #translate::plain_bit(m.seg) ; b.eq =>slow);
        cpu(a, Mem::Ldr32, 3, seg + SEG_LIMIT);
        dynasm!(a
            ; .arch aarch64
            ; add XSP(1), XSP(0), #last
            ; cmp X(1), X(3)
            ; b.hi =>slow
        );
    } else if rc.0.flat & bit == 0 {
        cpu(a, Mem::Ldr32, 3, JIT_FLAT);
        dynasm!(a ; .arch aarch64 ; tst W(3), #rc.0.flat_mask(bit) ; b.eq =>slow);
        rc.0.flat |= bit;
    }
    if rc.0.zero & bit == 0 {
        cpu(a, Mem::Ldr32, 3, seg + SEG_BASE);
        dynasm!(a ; .arch aarch64 ; add W(0), W(0), W(3));
    }
    dynasm!(a
        ; .arch aarch64
        ; add WSP(1), WSP(0), #last
        ; and WSP(1), W(1), #0xffff_f000
    );
    emit_tlb_entry(a);
    mem(a, Mem::Ldr32, 3, 2, tag);
    dynasm!(a ; .arch aarch64 ; cmp W(1), W(3) ; b.ne =>slow);
    mem(a, Mem::Ldr32, 1, 2, TLB_ADDEND);
    dynasm!(a ; .arch aarch64 ; add W(1), W(0), W(1));
}

/// Check frame `f` for the code that follows: X10 = the RAM offset of [base + f.lo] if
/// all the bytes it spans are in one page that the soft TLB has for the lookups it
/// stands for, else -1.
fn emit_frame_check(a: &mut Asm, rc: &mut RegCache, f: &Frame) {
    let bit = 1u8 << f.seg as u8;
    let span = (f.end - f.lo) as u32;
    let bp = rc.reg(a, f.base);
    dynasm!(a ; .arch aarch64 ; movn X(FRAME), #0);
    cpu(a, Mem::Ldr32, 3, JIT_FLAT);
    dynasm!(a ; .arch aarch64 ; tst W(3), #rc.0.flat_mask(bit) ; b.eq >skip);
    add_imm32(a, 0, bp, f.lo as i32 as u32);
    if rc.0.zero & bit == 0 {
        cpu(a, Mem::Ldr32, 3, SEGS + SEG_SIZE * f.seg as i32 + SEG_BASE);
        dynasm!(a ; .arch aarch64 ; add W(0), W(0), W(3));
    }
    dynasm!(a
        ; .arch aarch64
        ; and WSP(1), W(0), #0xfff
        ; cmp WSP(1), #0x1000 - span
        ; b.hi >skip
        ; and WSP(1), W(0), #0xffff_f000
    );
    emit_tlb_entry(a);
    if f.reads {
        mem(a, Mem::Ldr32, 3, 2, TLB_READ_TAG);
        dynasm!(a ; .arch aarch64 ; cmp W(1), W(3) ; b.ne >skip);
    }
    if f.writes {
        mem(a, Mem::Ldr32, 3, 2, TLB_WRITE_TAG);
        dynasm!(a ; .arch aarch64 ; cmp W(1), W(3) ; b.ne >skip);
    }
    mem(a, Mem::Ldr32, 1, 2, TLB_ADDEND);
    dynasm!(a ; .arch aarch64 ; add W(FRAME), W(0), W(1) ; skip:);
}

/// X2 = the soft-TLB entry for linear address W0 at the current privilege (the
/// interpreter's `Tlb::index` in the set `JitView::tlb` points to). Clobbers W3.
fn emit_tlb_entry(a: &mut Asm) {
    const _: () = assert!(ENTRIES.is_power_of_two());
    const _: () = assert!(TLB_ENTRY == 16, "entries are indexed by shift");
    let bits = ENTRIES.trailing_zeros();
    dynasm!(a ; .arch aarch64 ; ubfx W(3), W(0), #12, #bits);
    cpu(a, Mem::Ldr64, 2, JIT_TLB);
    dynasm!(a ; .arch aarch64 ; add X(2), X(2), X(3), lsl #4);
}

/// A register or memory source (read through the TLB, `slow` on a miss) into W4.
fn load_w4(a: &mut Asm, rc: &mut RegCache, src: &Operand, slow: DynamicLabel) {
    match src {
        Operand::Mem(m) => {
            emit_tlb_lookup(a, rc, m, false, slow);
            dynasm!(a ; .arch aarch64 ; ldr W(4), [X(RAM), X(1)]);
        }
        Operand::Src(Src::Reg(r)) => rc.load(a, *r, 4),
        Operand::Src(Src::Imm(_)) => unreachable!("inline_form builds no such form"),
    }
}

/// The source into W1.
fn load_src(a: &mut Asm, rc: &mut RegCache, s: &Src) {
    match *s {
        Src::Reg(off) => rc.load(a, off, 1),
        Src::Imm(v) => mov_imm32(a, 1, v),
    }
}

/// EIP += delta.
fn emit_add_eip(a: &mut Asm, delta: u32) {
    cpu(a, Mem::Ldr32, 3, EIP);
    add_imm32(a, 3, 3, delta);
    cpu(a, Mem::Str32, 3, EIP);
}

/// Call the interpreter's handler for `insn`; leave for `exit` unless it just completed.
fn emit_helper_call<B: Bus>(a: &mut Asm, insn: &Insn<B>, exit: DynamicLabel) {
    dynasm!(a
        ; .arch aarch64
        ; mov X(0), X(CPU)
        ; mov X(1), x20
    );
    mov_imm64(a, 2, insn as *const _ as u64);
    let helper = if changes_view(&insn.1) {
        run_handler_view::<B> as *const ()
    } else {
        run_handler::<B> as *const ()
    };
    mov_imm64(a, IP0, helper as u64);
    dynasm!(a
        ; .arch aarch64
        ; blr X(IP0)
        ; cbnz W(0), =>exit
    );
}

/// W0 = EIP + `delta`, checked against CS's limit (`slow` beyond it).
fn emit_target(a: &mut Asm, delta: u32, slow: DynamicLabel) {
    let cs_limit = SEGS + SEG_SIZE * Seg::Cs as i32 + SEG_LIMIT;
    cpu(a, Mem::Ldr32, 0, EIP);
    add_imm32(a, 0, 0, delta);
    cpu(a, Mem::Ldr32, 3, cs_limit);
    dynasm!(a ; .arch aarch64 ; cmp W(0), W(3) ; b.hi =>slow);
}

/// A block-ending Jcc whose flags come from a 32-bit SUB/CMP, ADD, logic, INC/DEC or
/// shift: the host redoes the operation and branches on the ARM condition that means
/// the same; other flag sources and conditions, and a target beyond CS's limit, take
/// the handler. EIP is exact on entry.
fn emit_jcc<B: Bus>(
    a: &mut Asm,
    insn: &Insn<B>,
    cc: u8,
    known: Option<Rec>,
    exit: DynamicLabel,
    to: Targets,
) {
    const _: () = assert!(F_TOP == F_OP + 1, "op and top are read as one halfword");
    let d = &insn.1;
    let (taken, not_taken, slow) = (
        a.new_dynamic_label(),
        a.new_dynamic_label(),
        a.new_dynamic_label(),
    );
    match known {
        Some((op, top)) => {
            if emit_host_flags(a, op, top, cc, taken) {
                dynasm!(a ; .arch aarch64 ; b =>not_taken);
            } else {
                dynasm!(a ; .arch aarch64 ; b =>slow);
            }
        }
        None => {
            // Whatever recorded the flags is known only at run time.
            cpu(a, Mem::Ldrh, 4, F_OP);
            for (op, top) in RUNTIME_RECORDS {
                let next = a.new_dynamic_label();
                cmp_imm32(a, 4, op as u32 | (top as u32) << 8);
                dynasm!(a ; .arch aarch64 ; b.ne =>next);
                if emit_host_flags(a, op, top, cc, taken) {
                    dynasm!(a ; .arch aarch64 ; b =>not_taken);
                } else {
                    dynasm!(a ; .arch aarch64 ; b =>slow);
                }
                dynasm!(a ; .arch aarch64 ; =>next);
            }
            dynasm!(a ; .arch aarch64 ; b =>slow);
        }
    }
    dynasm!(a ; .arch aarch64 ; =>not_taken);
    emit_add_eip(a, d.len as u32);
    emit_go(a, &to, to.next, false);
    dynasm!(a ; .arch aarch64 ; =>taken);
    emit_target(a, (d.len as u32).wrapping_add(d.rel), slow);
    cpu(a, Mem::Str32, 0, EIP);
    emit_go(a, &to, to.taken, true);
    dynasm!(a ; .arch aarch64 ; =>slow);
    emit_helper_call::<B>(a, insn, exit);
    dynasm!(a ; .arch aarch64 ; b ->chain);
}

/// ARM conditions, as dynasm spells them in `b.cond`.
#[derive(Clone, Copy)]
enum Cond {
    Eq,
    Ne,
    Hs,
    Lo,
    Mi,
    Pl,
    Vs,
    Vc,
    Hi,
    Ls,
    Ge,
    Lt,
    Gt,
    Le,
}

/// Branch to `taken` if the guest's condition `cc` holds, from lazy flags of kind `op`
/// and width `top`, by redoing the operation: CMP a, b for SUB (ARM's C is x86's CF
/// inverted; 8-bit operands shifted to the top); CMN a, b for ADD (C is CF); ADCS/SBCS
/// a, b with the carry in that made ADC and SBB these kinds; CMP r, 0 for logic (CF =
/// OF = 0, read as after a SUB); ADDS/SUBS a, 1 for INC/DEC (NZV only; CF is theirs to
/// keep, not the host's); the result alone for a shift's or a multiplication's ZF and
/// SF. PF is never had. False, with nothing emitted, when `cc` cannot be had this way.
fn emit_host_flags(a: &mut Asm, op: LazyOp, top: u8, cc: u8, taken: DynamicLabel) -> bool {
    let Some(cond) = host_cond(a, op, top, cc) else {
        return false;
    };
    emit_bcond(a, cond, taken);
    true
}

/// The compare of `emit_host_flags` (clobbering W0, W1): the ARM condition that then
/// means the guest's `cc`, or None, with nothing emitted.
fn host_cond(a: &mut Asm, op: LazyOp, top: u8, cc: u8) -> Option<Cond> {
    use Cond::*;
    // x86 condition codes in order: O NO B AE E NE BE A S NS P NP L GE LE G.
    let after_sub = [
        Some(Vs),
        Some(Vc),
        Some(Lo),
        Some(Hs),
        Some(Eq),
        Some(Ne),
        Some(Ls),
        Some(Hi),
        Some(Mi),
        Some(Pl),
        None,
        None,
        Some(Lt),
        Some(Ge),
        Some(Le),
        Some(Gt),
    ];
    let cc = (cc & 15) as usize;
    let uses_cf = matches!(cc, 2 | 3 | 6 | 7);
    let after_add = match cc {
        2 => Some(Hs),
        3 => Some(Lo),
        6 | 7 => None,
        _ => after_sub[cc],
    };
    let cond = match (op, top) {
        (LazyOp::Sub | LazyOp::Logic, 31 | 7) | (LazyOp::Sbb, 31) => after_sub[cc],
        (LazyOp::Add | LazyOp::Adc, 31) => after_add,
        (LazyOp::Inc | LazyOp::Dec, 31) if !uses_cf => after_sub[cc],
        (LazyOp::Shl | LazyOp::Shr | LazyOp::Sar | LazyOp::Mul, 31)
            if matches!(cc, 4 | 5 | 8 | 9) =>
        {
            after_sub[cc]
        }
        _ => None,
    };
    let cond = cond?;
    let shift = 31 - top as u32;
    match op {
        LazyOp::Sub | LazyOp::Add | LazyOp::Adc | LazyOp::Sbb => {
            cpu(a, Mem::Ldr32, 0, F_A);
            cpu(a, Mem::Ldr32, 1, F_B);
            if shift != 0 {
                dynasm!(a ; .arch aarch64 ; lsl W(0), W(0), #shift ; lsl W(1), W(1), #shift);
            }
            match op {
                LazyOp::Sub => dynasm!(a ; .arch aarch64 ; cmp W(0), W(1)),
                LazyOp::Add => dynasm!(a ; .arch aarch64 ; cmn W(0), W(1)),
                // C set (no borrow) for the carry in; C clear for the borrow in.
                LazyOp::Adc => dynasm!(a ; .arch aarch64 ; cmp W(0), W(0) ; adcs W(0), W(0), W(1)),
                _ => dynasm!(a ; .arch aarch64 ; cmn WSP(0), #0 ; sbcs W(0), W(0), W(1)),
            }
        }
        LazyOp::Inc => {
            cpu(a, Mem::Ldr32, 0, F_A);
            dynasm!(a ; .arch aarch64 ; adds W(0), WSP(0), #1);
        }
        LazyOp::Dec => {
            cpu(a, Mem::Ldr32, 0, F_A);
            dynasm!(a ; .arch aarch64 ; subs W(0), WSP(0), #1);
        }
        _ => {
            cpu(a, Mem::Ldr32, 0, F_R);
            if shift != 0 {
                dynasm!(a ; .arch aarch64 ; lsl W(0), W(0), #shift);
            }
            dynasm!(a ; .arch aarch64 ; cmp WSP(0), #0);
        }
    }
    Some(cond)
}

/// `b.cond taken`.
fn emit_bcond(a: &mut Asm, cond: Cond, taken: DynamicLabel) {
    use Cond::*;
    match cond {
        Eq => dynasm!(a ; .arch aarch64 ; b.eq =>taken),
        Ne => dynasm!(a ; .arch aarch64 ; b.ne =>taken),
        Hs => dynasm!(a ; .arch aarch64 ; b.hs =>taken),
        Lo => dynasm!(a ; .arch aarch64 ; b.lo =>taken),
        Mi => dynasm!(a ; .arch aarch64 ; b.mi =>taken),
        Pl => dynasm!(a ; .arch aarch64 ; b.pl =>taken),
        Vs => dynasm!(a ; .arch aarch64 ; b.vs =>taken),
        Vc => dynasm!(a ; .arch aarch64 ; b.vc =>taken),
        Hi => dynasm!(a ; .arch aarch64 ; b.hi =>taken),
        Ls => dynasm!(a ; .arch aarch64 ; b.ls =>taken),
        Ge => dynasm!(a ; .arch aarch64 ; b.ge =>taken),
        Lt => dynasm!(a ; .arch aarch64 ; b.lt =>taken),
        Gt => dynasm!(a ; .arch aarch64 ; b.gt =>taken),
        Le => dynasm!(a ; .arch aarch64 ; b.le =>taken),
    }
}

/// W2 = `n` if `cond` holds, else `m` (CSEL).
fn emit_csel(a: &mut Asm, n: u32, m: u32, cond: Cond) {
    use Cond::*;
    match cond {
        Eq => dynasm!(a ; .arch aarch64 ; csel W(2), W(n), W(m), eq),
        Ne => dynasm!(a ; .arch aarch64 ; csel W(2), W(n), W(m), ne),
        Hs => dynasm!(a ; .arch aarch64 ; csel W(2), W(n), W(m), hs),
        Lo => dynasm!(a ; .arch aarch64 ; csel W(2), W(n), W(m), lo),
        Mi => dynasm!(a ; .arch aarch64 ; csel W(2), W(n), W(m), mi),
        Pl => dynasm!(a ; .arch aarch64 ; csel W(2), W(n), W(m), pl),
        Vs => dynasm!(a ; .arch aarch64 ; csel W(2), W(n), W(m), vs),
        Vc => dynasm!(a ; .arch aarch64 ; csel W(2), W(n), W(m), vc),
        Hi => dynasm!(a ; .arch aarch64 ; csel W(2), W(n), W(m), hi),
        Ls => dynasm!(a ; .arch aarch64 ; csel W(2), W(n), W(m), ls),
        Ge => dynasm!(a ; .arch aarch64 ; csel W(2), W(n), W(m), ge),
        Lt => dynasm!(a ; .arch aarch64 ; csel W(2), W(n), W(m), lt),
        Gt => dynasm!(a ; .arch aarch64 ; csel W(2), W(n), W(m), gt),
        Le => dynasm!(a ; .arch aarch64 ; csel W(2), W(n), W(m), le),
    }
}

/// JMP and CALL rel32 or r/m32 (CALL on a 32-bit stack) and RET [imm16]: the target
/// checked against CS's limit, memory through the soft TLB; anything else takes the
/// handler. EIP is exact on entry, guest registers are in the CPU state.
fn emit_branch<B: Bus>(
    a: &mut Asm,
    regs: &translate::RegCache,
    insn: &Insn<B>,
    b: Branch,
    exit: DynamicLabel,
    to: Targets,
) {
    let d = &insn.1;
    let next = d.len as u32;
    let target = (d.len as u32).wrapping_add(d.rel);
    let cs_limit = SEGS + SEG_SIZE * Seg::Cs as i32 + SEG_LIMIT;
    let slow = a.new_dynamic_label();
    // Lookups with what the block assumes of segment bases (no shadows held here).
    let mut rc = RegCache(regs.clone(), Frames::default());
    match b {
        Branch::Jmp => {
            emit_target(a, target, slow);
            cpu(a, Mem::Str32, 0, EIP);
        }
        Branch::Call => {
            emit_stack_check(a, slow);
            emit_tlb_lookup(a, &mut rc, &stack_ref(-4), true, slow);
            dynasm!(a ; .arch aarch64 ; mov X(4), X(1));
            emit_target(a, target, slow);
            dynasm!(a ; .arch aarch64 ; mov W(2), W(0) ; mov X(1), X(4));
            emit_push_return(a, next);
            cpu(a, Mem::Str32, 2, EIP);
            dynasm!(a ; .arch aarch64 ; mov W(0), W(2));
        }
        Branch::Ret { pop } => {
            emit_stack_check(a, slow);
            emit_tlb_lookup(a, &mut rc, &stack_ref(0), false, slow);
            dynasm!(a ; .arch aarch64 ; ldr W(0), [X(RAM), X(1)]);
            cpu(a, Mem::Ldr32, 3, cs_limit);
            dynasm!(a ; .arch aarch64 ; cmp W(0), W(3) ; b.hi =>slow);
            cpu(a, Mem::Ldr32, 3, ESP);
            add_imm32(a, 3, 3, 4 + pop as u32);
            cpu(a, Mem::Str32, 3, ESP);
            cpu(a, Mem::Str32, 0, EIP);
        }
        Branch::JmpInd(ref t) | Branch::CallInd(ref t) => {
            // The target in W4, read and checked before anything is written.
            match t {
                Target::Reg(off) => cpu(a, Mem::Ldr32, 4, *off),
                Target::Mem(m) => {
                    emit_tlb_lookup(a, &mut rc, m, false, slow);
                    dynasm!(a ; .arch aarch64 ; ldr W(4), [X(RAM), X(1)]);
                }
            }
            cpu(a, Mem::Ldr32, 3, cs_limit);
            dynasm!(a ; .arch aarch64 ; cmp W(4), W(3) ; b.hi =>slow);
            if let Branch::CallInd(_) = b {
                emit_stack_check(a, slow);
                let mut rc = RegCache(regs.clone(), Frames::default());
                emit_tlb_lookup(a, &mut rc, &stack_ref(-4), true, slow);
                emit_push_return(a, next);
            }
            cpu(a, Mem::Str32, 4, EIP);
            dynasm!(a ; .arch aarch64 ; mov W(0), W(4));
        }
    }
    // W0 is the new EIP, within CS's limit.
    match to.taken {
        Some(_) => emit_go(a, &to, to.taken, true),
        None => emit_dynamic_chain(a, to.len as u32),
    }
    dynasm!(a ; .arch aarch64 ; =>slow);
    emit_helper_call::<B>(a, insn, exit);
    dynasm!(a ; .arch aarch64 ; b ->chain);
}

/// Leave a block whose EIP is set (and tested against CS's limit if `checked`): back to
/// its own start (`emit_loop`), into the block with `key` if known
/// (`emit_static_chain`), else through the run-time lookup.
fn emit_go(a: &mut Asm, to: &Targets, key: Option<u64>, checked: bool) {
    match key {
        Some(key) if key == to.own => emit_loop(a, to.len as u32),
        Some(key) => emit_static_chain(a, to.len as u32, key, checked),
        None => dynasm!(a ; .arch aarch64 ; b ->chain),
    }
}

/// A block of `len` instructions branching to its own start: only the budget and
/// interrupts are checked (see the x86-64 backend's `emit_loop` for why that is enough).
fn emit_loop(a: &mut Asm, len: u32) {
    emit_retire(a, len);
    emit_add_x0(a, len);
    cpu(a, Mem::Ldr64, 3, CHAIN_END);
    dynasm!(a ; .arch aarch64 ; cmp X(0), X(3) ; b.hi ->out);
    mem(a, Mem::Ldr64, 3, LINKS, CHAINED);
    dynasm!(a ; .arch aarch64 ; add XSP(3), XSP(3), #1);
    mem(a, Mem::Str64, 3, LINKS, CHAINED);
    dynasm!(a ; .arch aarch64 ; b ->entry);
}

/// Retire `len` instructions (X0 holds the new count, X1 clobbered).
fn emit_retire(a: &mut Asm, len: u32) {
    cpu(a, Mem::Ldr64, 0, INSNS);
    emit_add_x0(a, len);
    cpu(a, Mem::Str64, 0, INSNS);
}

/// X0 += `len` (X1 clobbered when it does not fit an immediate).
fn emit_add_x0(a: &mut Asm, len: u32) {
    if len < 4096 {
        dynasm!(a ; .arch aarch64 ; add XSP(0), XSP(0), #len);
    } else {
        mov_imm32(a, 1, len);
        dynasm!(a ; .arch aarch64 ; add X(0), X(0), X(1));
    }
}

/// `emit_chain` for a next block known at translation by its key: the slot it must be
/// in is known too, so only the slot's key, the budget, interrupts and (unless the
/// branch did, `checked`) the CS limit are tested at run time.
fn emit_static_chain(a: &mut Asm, len: u32, key: u64, checked: bool) {
    let cs_limit = SEGS + SEG_SIZE * Seg::Cs as i32 + SEG_LIMIT;
    emit_retire(a, len);
    if !checked {
        cpu(a, Mem::Ldr32, 0, EIP);
        cpu(a, Mem::Ldr32, 3, cs_limit);
        dynasm!(a ; .arch aarch64 ; cmp W(0), W(3) ; b.hi ->out);
    }
    mov_imm64(
        a,
        2,
        (SLOTS as usize + slot(key) * size_of::<ChainSlot>()) as u64,
    );
    mov_imm64(a, 0, key);
    dynasm!(a ; .arch aarch64 ; add X(2), X(LINKS), X(2));
    emit_slot_enter(a);
}

/// Go on into the block of the chain slot at X2 if the slot's key is X0 and the block
/// fits the budget; else return to the dispatcher.
fn emit_slot_enter(a: &mut Asm) {
    mem(a, Mem::Ldr64, 3, 2, SLOT_KEY);
    dynasm!(a ; .arch aarch64 ; cmp X(0), X(3) ; b.ne ->out);
    cpu(a, Mem::Ldr64, 0, INSNS);
    mem(a, Mem::Ldr64, 3, 2, SLOT_LEN);
    dynasm!(a ; .arch aarch64 ; add X(0), X(0), X(3));
    cpu(a, Mem::Ldr64, 3, CHAIN_END);
    dynasm!(a ; .arch aarch64 ; cmp X(0), X(3) ; b.hi ->out);
    mem(a, Mem::Ldr64, 3, LINKS, CHAINED);
    dynasm!(a ; .arch aarch64 ; add XSP(3), XSP(3), #1);
    mem(a, Mem::Str64, 3, LINKS, CHAINED);
    mem(a, Mem::Ldr64, 3, 2, SLOT_ENTRY);
    dynasm!(a ; .arch aarch64 ; br X(3));
}

/// The end of a block that ran to completion, EIP exact: retire its `len` instructions,
/// then go on into the translated block at CS:EIP, found as the dispatcher finds it (CS
/// limit, the soft TLB's read entry, the block key) in the chain table, if it is there,
/// fits the instruction budget, and no interrupt is waiting. Otherwise return 0.
fn emit_chain(a: &mut Asm, len: u32) {
    const _: () = assert!(size_of::<ChainSlot>() == 32, "slots are indexed by shift");
    let cs_seg = SEGS + SEG_SIZE * Seg::Cs as i32;
    emit_retire(a, len);
    cpu(a, Mem::Ldr32, 0, EIP);
    cpu(a, Mem::Ldr32, 3, cs_seg + SEG_LIMIT);
    dynasm!(a ; .arch aarch64 ; cmp W(0), W(3) ; b.hi ->out);
    // From `emit_dynamic_chain` too: W0 the EIP.
    dynasm!(a ; .arch aarch64 ; ->dynamic:);
    cpu(a, Mem::Ldr32, 3, cs_seg + SEG_BASE);
    dynasm!(a ; .arch aarch64 ; add W(0), W(0), W(3));
    emit_tlb_entry(a);
    mem(a, Mem::Ldr32, 3, 2, TLB_READ_TAG);
    dynasm!(a
        ; .arch aarch64
        ; and WSP(1), W(0), #0xffff_f000
        ; cmp W(1), W(3)
        ; b.ne ->out
    );
    mem(a, Mem::Ldr32, 3, 2, TLB_ADDEND);
    dynasm!(a ; .arch aarch64 ; add W(0), W(0), W(3));
    cpu(a, Mem::Ldr64, 3, JIT_KEY_MODE);
    dynasm!(a
        ; .arch aarch64
        ; orr X(0), X(0), X(3)
        ; eor X(2), X(0), X(0), lsr #SLOT_SHIFT
        ; and XSP(2), X(2), #(CHAIN_SLOTS - 1) as u64
        ; add X(2), X(LINKS), X(2), lsl #5
        ; add XSP(2), XSP(2), #SLOTS as u32
    );
    emit_slot_enter(a);
    dynasm!(a
        ; .arch aarch64
        ; ->out:
        ; movz X(0), #0
        ; ->leave:
        ; ldp x27, x28, [sp, #80]
        ; ldp x25, x26, [sp, #64]
        ; ldp x23, x24, [sp, #48]
        ; ldp x21, x22, [sp, #32]
        ; ldp x19, x20, [sp, #16]
        ; ldp x29, x30, [sp], #96
        ; ret
    );
}

/// Leave a block of `len` instructions whose branch set EIP, in W0 too, and tested it
/// against CS's limit: `emit_chain`'s run-time lookup from there on.
fn emit_dynamic_chain(a: &mut Asm, len: u32) {
    dynasm!(a ; .arch aarch64 ; mov W(5), W(0));
    emit_retire(a, len);
    dynasm!(a ; .arch aarch64 ; mov W(0), W(5) ; b ->dynamic);
}

/// The AArch64 emitter.
struct A64 {
    a: Asm,
    rc: RegCache,
}

impl<B: Bus> Emitter<B> for A64 {
    fn label(&mut self) -> DynamicLabel {
        self.a.new_dynamic_label()
    }

    fn bind(&mut self, l: DynamicLabel) {
        dynasm!(self.a ; .arch aarch64 ; =>l);
    }

    fn prologue(&mut self, _len: i32) -> (usize, usize) {
        // Chained blocks jump past this, into the same frame (the slot's length is the
        // budget check).
        dynasm!(self.a
            ; .arch aarch64
            ; stp x29, x30, [sp, #-96]!
            ; mov x29, sp
            ; stp x19, x20, [sp, #16]
            ; stp x21, x22, [sp, #32]
            ; stp x23, x24, [sp, #48]
            ; stp x25, x26, [sp, #64]
            ; stp x27, x28, [sp, #80]
            ; mov x19, x0
            ; mov x20, x1
            ; mov x21, x2
            ; mov x22, x3
            ; ->entry:
        );
        (0, self.a.offset().0)
    }

    fn inline(&mut self, f: &Inline, slow: DynamicLabel, before: Option<Rec>, keep: bool) {
        emit_inline(&mut self.a, &mut self.rc, f, slow, before, keep);
        self.rc.0.unpin();
    }

    fn pin(&mut self, off: i32) {
        self.rc.reg(&mut self.a, off);
        self.rc.0.pin(off);
    }

    fn frame(&mut self, f: Option<&Frame>, _miss: Option<DynamicLabel>) {
        if let Some(f) = f {
            emit_frame_check(&mut self.a, &mut self.rc, f);
            self.rc.1.used = true;
        }
        self.rc.1.active = f.copied();
    }

    fn write_back(&mut self, regs: &translate::RegCache) {
        write_back(&mut self.a, regs);
    }

    fn store_flags(&mut self, u: Unstored) {
        let a = &mut self.a;
        let (what, imm) = u.pack();
        dynasm!(a ; .arch aarch64 ; mov X(0), X(CPU));
        mov_imm32(a, 1, what);
        mov_imm32(a, 2, imm);
        mov_imm64(a, IP0, store_flags as *const () as u64);
        dynasm!(a ; .arch aarch64 ; blr X(IP0));
    }

    fn second_page(&mut self, delta: u32, next: u32) {
        let a = &mut self.a;
        let cs_seg = SEGS + SEG_SIZE * Seg::Cs as i32;
        cpu(a, Mem::Ldr32, 0, EIP);
        cpu(a, Mem::Ldr32, 3, cs_seg + SEG_BASE);
        dynasm!(a ; .arch aarch64 ; add W(0), W(0), W(3));
        add_imm32(a, 0, 0, delta);
        emit_tlb_entry(a);
        mem(a, Mem::Ldr32, 3, 2, TLB_READ_TAG);
        dynasm!(a ; .arch aarch64 ; cmp W(0), W(3) ; b.ne ->out);
        mem(a, Mem::Ldr32, 3, 2, TLB_ADDEND);
        dynasm!(a ; .arch aarch64 ; add W(0), W(0), W(3));
        mov_imm32(a, 3, next);
        dynasm!(a ; .arch aarch64 ; cmp W(0), W(3) ; b.ne ->out);
    }

    fn forget_regs(&mut self) {
        self.rc.clear(&mut self.a);
    }

    fn shadows(&self) -> translate::RegCache {
        self.rc.0.clone()
    }

    fn reload(&mut self, held: &translate::RegCache) {
        for (i, off) in held.held() {
            cpu(&mut self.a, Mem::Ldr32, SHADOW_REGS[i], off);
        }
    }

    fn add_eip(&mut self, delta: u32) {
        emit_add_eip(&mut self.a, delta);
    }

    fn helper_call(&mut self, insn: &Insn<B>, exit: DynamicLabel) {
        emit_helper_call::<B>(&mut self.a, insn, exit);
        if self.rc.1.used {
            // The call clobbered X10, and a handler may change the mapping the frame
            // check found (a store into a page table, then a soft-TLB refill).
            dynasm!(self.a ; .arch aarch64 ; movn X(FRAME), #0);
        }
    }

    fn slow_call(&mut self, insn: &Insn<B>, exit: DynamicLabel, before: u32, mask: u32, end: bool) {
        // `helpers::run_slow_path` does it all.
        debug_assert!(
            !changes_view(&insn.1),
            "inline forms leave the JIT view alone"
        );
        dynasm!(self.a
            ; .arch aarch64
            ; mov X(0), X(CPU)
            ; mov X(1), x20
        );
        mov_imm64(&mut self.a, 2, insn as *const _ as u64);
        mov_imm32(&mut self.a, 3, slow_path_arg(before, mask, end));
        mov_imm64(&mut self.a, IP0, run_slow_path::<B> as *const () as u64);
        dynasm!(self.a
            ; .arch aarch64
            ; blr X(IP0)
            ; cbnz W(0), =>exit
        );
        if self.rc.1.used {
            dynasm!(self.a ; .arch aarch64 ; movn X(FRAME), #0);
        }
    }

    fn x87_mem(&mut self, insn: &Insn<B>, op: MemOp, m: &MemRef, exit: DynamicLabel) {
        let slow = self.a.new_dynamic_label();
        let done = self.a.new_dynamic_label();
        // The slow path may skip the segment check, and the call clobbers the shadows
        // the address used (none were dirty).
        let flat = self.rc.0.flat;
        emit_tlb_lookup(&mut self.a, &mut self.rc, m, op.stores(), slow);
        self.rc.0.flat = flat;
        self.rc.0.clear();
        let a = &mut self.a;
        dynasm!(a
            ; .arch aarch64
            ; mov W(3), W(1)
            ; mov X(0), X(CPU)
            ; mov X(1), x20
        );
        mov_imm64(a, 2, insn as *const _ as u64);
        mov_imm32(a, 4, x87_kind(op, m.size));
        mov_imm64(a, IP0, x87_mem::<B> as *const () as u64);
        dynasm!(a
            ; .arch aarch64
            ; blr X(IP0)
            ; cbz W(0), =>done
            ; =>slow
        );
        emit_helper_call::<B>(a, insn, exit);
        dynasm!(a ; .arch aarch64 ; =>done);
    }

    fn jcc(&mut self, insn: &Insn<B>, cc: u8, known: Option<Rec>, exit: DynamicLabel, to: Targets) {
        if to.eip_delta != 0 {
            emit_add_eip(&mut self.a, to.eip_delta);
        }
        emit_jcc::<B>(&mut self.a, insn, cc, known, exit, to);
    }

    fn branch(&mut self, insn: &Insn<B>, b: Branch, exit: DynamicLabel, to: Targets) {
        if to.eip_delta != 0 {
            emit_add_eip(&mut self.a, to.eip_delta);
        }
        let regs = translate::RegCache::for_zero_bases(self.rc.0.zero);
        emit_branch::<B>(&mut self.a, &regs, insn, b, exit, to);
    }

    fn jump(&mut self, l: DynamicLabel) {
        dynasm!(self.a ; .arch aarch64 ; b =>l);
    }

    fn rejoin(&mut self, l: DynamicLabel) -> Option<Rec> {
        dynasm!(self.a ; .arch aarch64 ; =>l);
        // NZCV stands for no record here.
        None
    }

    fn restore_host_flags(&mut self, _: Option<Rec>) {}

    fn chain(&mut self, len: i32) {
        dynasm!(self.a ; .arch aarch64 ; ->chain:);
        emit_chain(&mut self.a, len as u32);
    }

    fn exit_stub(&mut self, l: DynamicLabel, k: i32) {
        dynasm!(self.a ; .arch aarch64 ; =>l);
        mov_imm32(&mut self.a, 2, k as u32);
        dynasm!(self.a ; .arch aarch64 ; b ->exit);
    }

    fn exit_tail(&mut self) {
        for c in std::mem::take(&mut self.rc.1.cold) {
            dynasm!(self.a ; .arch aarch64 ; =>c.at);
            let mut rc = RegCache(c.regs, Frames::default());
            emit_tlb_lookup(&mut self.a, &mut rc, &c.m, c.write, c.slow);
            dynasm!(self.a ; .arch aarch64 ; b =>c.back);
        }
        // W0 is END_BLOCK (instruction W2 done) or a packed exception (not done).
        let a = &mut self.a;
        dynasm!(a
            ; .arch aarch64
            ; ->exit:
            ; cmp WSP(0), #END_BLOCK
            ; b.ne >fault
            ; add WSP(2), WSP(2), #1
            ; movz W(0), #0
            ; fault:
        );
        cpu(a, Mem::Ldr64, 3, INSNS);
        dynasm!(a ; .arch aarch64 ; add X(3), X(3), X(2));
        cpu(a, Mem::Str64, 3, INSNS);
        dynasm!(a ; .arch aarch64 ; b ->leave);
    }

    fn finish(self) -> Option<(Vec<u8>, translate::Sites)> {
        // Static exits go through their slot: nothing to patch.
        Some((self.a.finalize().ok()?, Vec::new()))
    }
}

/// Code blocks share, at the start of the code cache: none here, every block has its
/// own prologue and exits.
pub struct Runtime;

/// The shared code for a code cache at `base`, and where its parts are.
// The x86-64 backend's signature: its stubs call helpers for bus type `B`.
#[allow(clippy::extra_unused_type_parameters)]
pub fn runtime<B: Bus>(_base: usize, _count_chains: bool) -> Option<(Vec<u8>, Runtime)> {
    Some((Vec::new(), Runtime))
}

/// Translate `block` for the code cache address `base`, as the CPU state is `now`.
pub fn translate<B: Bus>(
    block: &Block<B>,
    base: usize,
    now: &translate::Now,
    _rt: &Runtime,
) -> Option<Translated> {
    // Room for what a block usually needs, as on x86-64.
    let n = block.insns.len();
    let a = Asm::new_with_capacity(base, 192 * n + 256, 8, 8, 4 * n + 8, 4 * n + 16, 4 * n + 8);
    let a64 = A64 {
        a,
        rc: RegCache(
            translate::RegCache::for_zero_bases(now.zero),
            Frames::default(),
        ),
    };
    translate::translate(block, a64, now)
}

/// Run the code at `entry` on `cpu` and `bus`, chaining through `links`: the packed
/// exception that ended it, or 0.
pub fn call<B: Bus>(
    _rt: &Runtime,
    entry: usize,
    cpu: &mut Cpu,
    bus: &mut B,
    links: &mut Links,
) -> u32 {
    let ram = bus.mem().ram_mut().as_mut_ptr();
    // SAFETY: `entry` is the entry of code `translate::<B>` emitted into the executable
    // code cache for a block of this same bus type, not cleared since (handles are reset
    // with the cache), with the instruction cache synchronised after it was written, and
    // `links` holds only chain entries of such code. That code follows the AAPCS64 (it
    // saves what it uses of X19-X30), touches only `*cpu` (through the field offsets in
    // `layout`), reads and counts in `links`, accesses guest RAM at `ram` at the physical
    // offsets of soft-TLB hits (entries exist only for pages inside RAM, accesses never
    // cross a page), and calls `run_handler::<B>` with `cpu` and `bus`.
    let f: extern "C" fn(*mut Cpu, *mut B, *mut u8, *mut Links) -> u64 =
        unsafe { std::mem::transmute(entry) };
    f(cpu, bus, ram, links) as u32
}
