//! x86-64 code for a block, emitted with dynasmrt.
//!
//! Generated code is entered from the dispatcher through the runtime (`runtime`, code
//! every block shares at the start of the code cache) as `extern "sysv64" fn(cpu, bus,
//! ram, links, entry) -> u64`, returning a packed exception (or 0). R12 holds the CPU,
//! R13 the soft TLB set of the current privilege (`JitView::tlb`), RBX guest RAM and R14
//! the checked frame's RAM offset; the bus pointer and the chain table are kept in the
//! frame. Blocks add the instructions they complete to the CPU's count themselves and,
//! when one finishes, jump straight into the next translated block (`emit_chain`), in
//! the same stack frame.

use std::mem::size_of;

/// Where the prologue keeps the bus pointer, relative to RSP.
const BUS_SLOT: i32 = 0;
/// The frame's count of chained transitions, added to `Links` on the way out.
const CHAINED_SLOT: i32 = 8;
/// The chain links (`Links`).
const LINKS_SLOT: i32 = 16;
// R14 holds the RAM offset of the checked guest frame's first byte (`Frame::lo`), or -1
// when the check failed or a helper ran since: a frame access adds it to RBX with no
// load on the way.

use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};
use ox86_core::cpu::flags::{self, LazyOp};
use ox86_core::cpu::state::{attr, Seg, CR0_EM, CR0_TS, CR4_TSD};
use ox86_core::decode::block::MAX_BLOCK_INSNS;
use ox86_core::decode::cache::KEY_CS_4G;
use ox86_core::decode::{Block, DecodedInsn};
use ox86_core::interp::x87::direct::MemOp;
use ox86_core::mmu::tlb::ENTRIES;
use ox86_core::{Bus, Cpu};

use crate::chain::{ChainSlot, Links, CHAIN_SLOTS, SLOT_SHIFT};
use crate::helpers::{
    run_handler, run_handler_view, run_slow_path, slow_path_arg, store_flags, x87_kind, x87_mem,
    END_BLOCK,
};
use crate::layout::*;
use crate::translate::{
    self, changes_view, frame_ref, stack_ref, Alu, Branch, Ea, Emitter, Frame, Frames, Inline,
    Insn, MemRef, Operand, Operand8, Rec, Site, Sites, Src, Target, Targets, Translated, Unstored,
    CF_RECORDS, ESP, FLAT_ONCE, RUNTIME_RECORDS, SHADOWS,
};

type Asm = dynasmrt::VecAssembler<dynasmrt::x64::X64Relocation>;

/// Bytes of each of the runtime's exit stubs: `mov edx, k` and a `jmp rel32`.
const EXIT_STUB: usize = 10;

/// Host registers that shadow guest registers in straight-line inline code (RDI,
/// R8-R11, R15, RBP): the generated code stays clear of them otherwise.
const SHADOW_REGS: [u8; SHADOWS] = [7, 8, 9, 10, 11, 15, 5];
const EAX: u8 = 0;
const ECX: u8 = 1;
const EDX: u8 = 2;
const ESI: u8 = 6;

/// The shared shadow bookkeeping, on this backend's registers, and the frame lookups
/// the block's code spares.
#[derive(Default)]
struct RegCache(translate::RegCache, Frames);

impl RegCache {
    fn find(&self, off: i32) -> Option<u8> {
        self.0.find(off).map(|i| SHADOW_REGS[i])
    }

    /// Guest register `off` into host register `dst` (through its shadow).
    fn load(&mut self, a: &mut Asm, off: i32, dst: u8) {
        let h = self.reg(a, off);
        dynasm!(a ; .arch x64 ; mov Rd(dst), Rd(h));
    }

    /// The shadow of guest register `off`, loaded if it had none. Valid only until the
    /// next `reg`/`load`/`store`, which may give the register to another guest register.
    fn reg(&mut self, a: &mut Asm, off: i32) -> u8 {
        if let Some(h) = self.find(off) {
            return h;
        }
        let h = self.take(a, off);
        dynasm!(a ; .arch x64 ; mov Rd(h), [r12 + off]);
        h
    }

    /// Host register `src` into guest register `off` (its shadow, written back later).
    fn store(&mut self, a: &mut Asm, off: i32, src: u8) {
        let h = self.take(a, off);
        dynasm!(a ; .arch x64 ; mov Rd(h), Rd(src));
        self.0.set_dirty(off);
    }

    /// A shadow for guest register `off` (its old value, if dirty, written back).
    fn take(&mut self, a: &mut Asm, off: i32) -> u8 {
        let (i, evicted) = self.0.assign(off);
        let h = SHADOW_REGS[i];
        if let Some(old) = evicted {
            dynasm!(a ; .arch x64 ; mov [r12 + old], Rd(h));
        }
        h
    }

    /// Write back the dirty shadows.
    fn flush(&mut self, a: &mut Asm) {
        write_back(a, &self.0);
        self.0.cleaned();
    }

    fn clear(&mut self, a: &mut Asm) {
        self.flush(a);
        self.0.clear();
    }
}

/// Store the shadows `regs` marks dirty to the CPU state.
fn write_back(a: &mut Asm, regs: &translate::RegCache) {
    for (i, off) in regs.dirty() {
        dynasm!(a ; .arch x64 ; mov [r12 + off], Rd(SHADOW_REGS[i]));
    }
}

/// LEA: the address straight into the shadow of guest register `dst` (computed in 64
/// bits, of which the low 32 are the guest's).
fn emit_lea(a: &mut Asm, rc: &mut RegCache, dst: i32, e: &Ea) {
    let mut held = |a: &mut Asm, r: i32| {
        let h = rc.reg(a, r);
        rc.0.pin(r);
        h
    };
    let b = e.base.map(|r| held(a, r));
    let i = e.index.map(|(r, s)| (held(a, r), s));
    let d = e.disp as i32;
    let h = rc.take(a, dst);
    match (b, i) {
        (None, None) => dynasm!(a ; .arch x64 ; mov Rd(h), d),
        (Some(b), None) => dynasm!(a ; .arch x64 ; lea Rd(h), [Rq(b) + d]),
        (None, Some((i, 0))) => dynasm!(a ; .arch x64 ; lea Rd(h), [Rq(i) + d]),
        (None, Some((i, 1))) => dynasm!(a ; .arch x64 ; lea Rd(h), [Rq(i) * 2 + d]),
        (None, Some((i, 2))) => dynasm!(a ; .arch x64 ; lea Rd(h), [Rq(i) * 4 + d]),
        (None, Some((i, _))) => dynasm!(a ; .arch x64 ; lea Rd(h), [Rq(i) * 8 + d]),
        (Some(b), Some((i, 0))) => dynasm!(a ; .arch x64 ; lea Rd(h), [Rq(b) + Rq(i) + d]),
        (Some(b), Some((i, 1))) => dynasm!(a ; .arch x64 ; lea Rd(h), [Rq(b) + Rq(i) * 2 + d]),
        (Some(b), Some((i, 2))) => dynasm!(a ; .arch x64 ; lea Rd(h), [Rq(b) + Rq(i) * 4 + d]),
        (Some(b), Some((i, _))) => dynasm!(a ; .arch x64 ; lea Rd(h), [Rq(b) + Rq(i) * 8 + d]),
    }
    rc.0.set_dirty(dst);
}

/// The effective address into EAX.
fn emit_ea(a: &mut Asm, e: &Ea, rc: &mut RegCache) {
    match e.base {
        Some(b) => {
            let h = rc.reg(a, b);
            if e.disp == 0 {
                dynasm!(a ; .arch x64 ; mov eax, Rd(h));
            } else {
                dynasm!(a ; .arch x64 ; lea eax, [Rq(h) + e.disp as i32]);
            }
        }
        None => dynasm!(a ; .arch x64 ; mov eax, e.disp as i32),
    }
    if let Some((i, shift)) = e.index {
        let h = rc.reg(a, i);
        match shift {
            0 => dynasm!(a ; .arch x64 ; lea eax, [rax + Rq(h)]),
            1 => dynasm!(a ; .arch x64 ; lea eax, [rax + Rq(h) * 2]),
            2 => dynasm!(a ; .arch x64 ; lea eax, [rax + Rq(h) * 4]),
            _ => dynasm!(a ; .arch x64 ; lea eax, [rax + Rq(h) * 8]),
        }
    }
}

/// Emit `f`; forms with a slow path jump to `slow` when the fast path does not apply.
/// `before` is what recorded the flags before it, when known, and `live` true when the
/// host's flags are still those of that operation; `keep_flags` false when later code
/// of the block overwrites them unread (nothing can observe them in between).
fn emit_inline(
    a: &mut Asm,
    rc: &mut RegCache,
    f: &Inline,
    slow: DynamicLabel,
    before: Option<Rec>,
    live: bool,
    keep_flags: bool,
) {
    let host_flags = |a: &mut Asm, cc: u8, live: bool| emit_host_cond(a, before, live, cc);
    match *f {
        Inline::Shift { count: 0, .. } => {}
        Inline::Shift {
            dst,
            op,
            count,
            bits: 16,
        } => {
            // The word zero-extended in EAX (the operand the flags record), the result
            // in DX.
            rc.load(a, dst, EAX);
            dynasm!(a ; .arch x64 ; movzx eax, ax);
            if op == LazyOp::Sar {
                dynasm!(a ; .arch x64 ; movsx edx, ax ; sar edx, count as i8);
            } else {
                dynasm!(a ; .arch x64 ; mov edx, eax);
                if op == LazyOp::Shl {
                    dynasm!(a ; .arch x64 ; shl edx, count as i8);
                } else {
                    dynasm!(a ; .arch x64 ; shr edx, count as i8);
                }
            }
            dynasm!(a ; .arch x64 ; movzx edx, dx);
            if keep_flags {
                dynasm!(a ; .arch x64 ; mov ecx, count as i32);
                emit_lazy_op(a, Rop::Imm(op as u8 as u16 | 15 << 8));
            }
            rc.load(a, dst, EAX);
            dynasm!(a ; .arch x64 ; mov ax, dx);
            rc.store(a, dst, EAX);
        }
        Inline::Shift { dst, op, count, .. } => {
            // In place on the shadow; the flags record what `emit_lazy` would.
            let h = rc.reg(a, dst);
            if keep_flags {
                emit_record_operands(a, h, None, count as i32);
            }
            match op {
                LazyOp::Shl => dynasm!(a ; .arch x64 ; shl Rd(h), count as i8),
                LazyOp::Shr => dynasm!(a ; .arch x64 ; shr Rd(h), count as i8),
                _ => dynasm!(a ; .arch x64 ; sar Rd(h), count as i8),
            }
            rc.0.set_dirty(dst);
            if keep_flags {
                emit_record_result(a, h, op);
            }
        }
        Inline::IncDec { ref dst, dec } => {
            // The CF it keeps matters only if its flags do.
            if keep_flags {
                emit_carry_in(a, before, slow);
            }
            if let Operand::Src(Src::Reg(r)) = *dst {
                // In place on the shadow.
                let h = rc.reg(a, r);
                if keep_flags {
                    emit_record_operands(a, h, None, 1);
                }
                let d = if dec { -1 } else { 1 };
                dynasm!(a ; .arch x64 ; lea Rd(h), [Rq(h) + d]);
                rc.0.set_dirty(r);
                if keep_flags {
                    emit_record_result(a, h, if dec { LazyOp::Dec } else { LazyOp::Inc });
                }
                return;
            }
            // A memory operand's RAM offset in RSI.
            let Operand::Mem(m) = dst else {
                unreachable!("inline_form builds no such form")
            };
            let fd = emit_tlb_lookup(a, rc, m, true, slow);
            dynasm!(a ; .arch x64 ; lea rsi, [rcx + fd] ; mov eax, [rbx + rsi] ; mov ecx, 1);
            if dec {
                dynasm!(a ; .arch x64 ; lea edx, [rax - 1]);
            } else {
                dynasm!(a ; .arch x64 ; lea edx, [rax + 1]);
            }
            dynasm!(a ; .arch x64 ; mov [rbx + rsi], edx);
            if keep_flags {
                emit_lazy(a, if dec { LazyOp::Dec } else { LazyOp::Inc });
            }
        }
        Inline::LoadExt { dst, ref m, signed } => {
            let fd = emit_tlb_lookup(a, rc, m, false, slow);
            // Straight into the shadow: nothing jumps to the slow path after this.
            let h = rc.take(a, dst);
            match (m.size, signed) {
                (1, false) => dynasm!(a ; .arch x64 ; movzx Rd(h), BYTE [rbx + rcx + fd]),
                (1, true) => dynasm!(a ; .arch x64 ; movsx Rd(h), BYTE [rbx + rcx + fd]),
                (_, false) => dynasm!(a ; .arch x64 ; movzx Rd(h), WORD [rbx + rcx + fd]),
                (_, true) => dynasm!(a ; .arch x64 ; movsx Rd(h), WORD [rbx + rcx + fd]),
            }
            rc.0.set_dirty(dst);
        }
        Inline::Load { dst, ref m } => {
            let fd = emit_tlb_lookup(a, rc, m, false, slow);
            let h = rc.take(a, dst);
            dynasm!(a ; .arch x64 ; mov Rd(h), [rbx + rcx + fd]);
            rc.0.set_dirty(dst);
        }
        Inline::LoadNarrow {
            dst,
            shift: 0,
            ref m,
        } => {
            let fd = emit_tlb_lookup(a, rc, m, false, slow);
            let h = rc.reg(a, dst);
            if m.size == 1 {
                dynasm!(a ; .arch x64 ; mov Rb(h), BYTE [rbx + rcx + fd]);
            } else {
                dynasm!(a ; .arch x64 ; mov Rw(h), WORD [rbx + rcx + fd]);
            }
            rc.0.set_dirty(dst);
        }
        // AH, CH, DH or BH (only a byte is at bit 8).
        Inline::LoadNarrow { dst, ref m, .. } => {
            let fd = emit_tlb_lookup(a, rc, m, false, slow);
            dynasm!(a ; .arch x64 ; movzx eax, BYTE [rbx + rcx + fd]);
            rc.load(a, dst, EDX);
            dynasm!(a ; .arch x64 ; mov dh, al);
            rc.store(a, dst, EDX);
        }
        Inline::StoreNarrow {
            src,
            shift: 0,
            ref m,
        } => {
            let fd = emit_tlb_lookup(a, rc, m, true, slow);
            let h = rc.reg(a, src);
            if m.size == 1 {
                dynasm!(a ; .arch x64 ; mov [rbx + rcx + fd], Rb(h));
            } else {
                dynasm!(a ; .arch x64 ; mov [rbx + rcx + fd], Rw(h));
            }
        }
        // AH, CH, DH or BH.
        Inline::StoreNarrow { src, ref m, .. } => {
            let fd = emit_tlb_lookup(a, rc, m, true, slow);
            rc.load(a, src, EAX);
            dynasm!(a ; .arch x64 ; mov [rbx + rcx + fd], ah);
        }
        Inline::Push { ref src } => {
            emit_stack_check(a, slow);
            // A memory operand's value in ESI, read first (its address is from ESP
            // before the push).
            if let Operand::Mem(m) = src {
                let fd = emit_tlb_lookup(a, rc, m, false, slow);
                dynasm!(a ; .arch x64 ; mov esi, [rbx + rcx + fd]);
            }
            let m = stack_ref(-4);
            let fd = emit_tlb_lookup(a, rc, &m, true, slow);
            match src {
                Operand::Src(Src::Reg(r)) => {
                    let v = rc.reg(a, *r);
                    dynasm!(a ; .arch x64 ; mov [rbx + rcx + fd], Rd(v));
                }
                Operand::Src(Src::Imm(v)) => {
                    dynasm!(a ; .arch x64 ; mov DWORD [rbx + rcx + fd], *v as i32);
                }
                Operand::Mem(_) => dynasm!(a ; .arch x64 ; mov [rbx + rcx + fd], esi),
            }
            let sp = rc.reg(a, ESP);
            dynasm!(a ; .arch x64 ; sub Rd(sp), 4);
            rc.0.set_dirty(ESP);
        }
        Inline::Leave => {
            emit_stack_check(a, slow);
            let fd = emit_tlb_lookup(a, rc, &frame_ref(), false, slow);
            let bp = rc.reg(a, translate::EBP);
            dynasm!(a ; .arch x64 ; lea edx, [Rq(bp) + 4] ; mov eax, [rbx + rcx + fd]);
            rc.store(a, ESP, EDX);
            rc.store(a, translate::EBP, EAX);
        }
        Inline::Pop { dst } => {
            emit_stack_check(a, slow);
            let m = stack_ref(0);
            let fd = emit_tlb_lookup(a, rc, &m, false, slow);
            let sp = rc.reg(a, ESP);
            if dst == ESP {
                // POP ESP: the value read, not the incremented pointer.
                dynasm!(a ; .arch x64 ; mov Rd(sp), [rbx + rcx + fd]);
            } else {
                rc.0.pin(ESP);
                let h = rc.take(a, dst);
                dynasm!(a ; .arch x64 ; mov Rd(h), [rbx + rcx + fd] ; add Rd(sp), 4);
                rc.0.set_dirty(dst);
            }
            rc.0.set_dirty(ESP);
        }
        Inline::Store { ref src, ref m } => {
            let fd = emit_tlb_lookup(a, rc, m, true, slow);
            match *src {
                Src::Reg(r) => {
                    let h = rc.reg(a, r);
                    dynasm!(a ; .arch x64 ; mov [rbx + rcx + fd], Rd(h));
                }
                Src::Imm(v) => match m.size {
                    1 => dynasm!(a ; .arch x64 ; mov BYTE [rbx + rcx + fd], v as i8),
                    2 => dynasm!(a ; .arch x64 ; mov WORD [rbx + rcx + fd], v as i16),
                    _ => dynasm!(a ; .arch x64 ; mov DWORD [rbx + rcx + fd], v as i32),
                },
            }
        }
        Inline::Ext {
            dst,
            src,
            shift: 0,
            bits,
            signed,
        } => {
            let hs = rc.reg(a, src);
            rc.0.pin(src);
            let hd = rc.take(a, dst);
            match (bits, signed) {
                (8, false) => dynasm!(a ; .arch x64 ; movzx Rd(hd), Rb(hs)),
                (8, true) => dynasm!(a ; .arch x64 ; movsx Rd(hd), Rb(hs)),
                (_, false) => dynasm!(a ; .arch x64 ; movzx Rd(hd), Rw(hs)),
                (_, true) => dynasm!(a ; .arch x64 ; movsx Rd(hd), Rw(hs)),
            }
            rc.0.set_dirty(dst);
        }
        Inline::Ext {
            dst,
            src,
            shift,
            bits,
            signed,
        } => {
            rc.load(a, src, EAX);
            if shift != 0 {
                dynasm!(a ; .arch x64 ; shr eax, shift as i8);
            }
            match (bits, signed) {
                (8, false) => dynasm!(a ; .arch x64 ; movzx eax, al),
                (8, true) => dynasm!(a ; .arch x64 ; movsx eax, al),
                (_, false) => dynasm!(a ; .arch x64 ; movzx eax, ax),
                (_, true) => dynasm!(a ; .arch x64 ; movsx eax, ax),
            }
            rc.store(a, dst, EAX);
        }
        Inline::SetCc { dst, shift, cc } => {
            let Some(cc) = host_flags(a, cc, live) else {
                dynasm!(a ; .arch x64 ; jmp =>slow);
                return;
            };
            emit_host_setcc(a, cc);
            store_dl(a, rc, dst, shift);
        }
        Inline::Cmov { dst, ref src, cc } => {
            if before.is_none() {
                dynasm!(a ; .arch x64 ; jmp =>slow);
                return;
            }
            // (A lookup clobbers the host's flags, but for a checked frame's.)
            let live = live
                && match src {
                    Operand::Src(_) => true,
                    Operand::Mem(m) => rc.1.covering(&rc.0, m, false).is_some(),
                };
            match src {
                Operand::Mem(m) => {
                    let fd = emit_tlb_lookup(a, rc, m, false, slow);
                    dynasm!(a ; .arch x64 ; mov ecx, [rbx + rcx + fd]);
                }
                Operand::Src(s) => load_src(a, rc, s),
            }
            let Some(cc) = host_flags(a, cc, live) else {
                dynasm!(a ; .arch x64 ; jmp =>slow);
                return;
            };
            // Register moves and loads keep the host flags.
            rc.load(a, dst, EDX);
            emit_host_cmov(a, cc);
            rc.store(a, dst, EDX);
        }
        Inline::Imul {
            dst,
            src: Operand::Src(Src::Reg(s)),
            imm,
        } => {
            // In place on the shadows (the host's CF as below).
            let hs = rc.reg(a, s);
            rc.0.pin(s);
            let h = match imm {
                Some(v) => {
                    let h = rc.take(a, dst);
                    dynasm!(a ; .arch x64 ; imul Rd(h), Rd(hs), v as i32);
                    h
                }
                None => {
                    let h = rc.reg(a, dst);
                    dynasm!(a ; .arch x64 ; imul Rd(h), Rd(hs));
                    h
                }
            };
            rc.0.set_dirty(dst);
            if keep_flags {
                // The wide flag (the host's CF) and no second operand, as `Mul` records.
                dynasm!(a ; .arch x64 ; setc al ; movzx eax, al);
                emit_record_operands(a, EAX, None, 0);
                emit_record_result(a, h, LazyOp::Mul);
            }
        }
        Inline::Imul { dst, ref src, imm } => {
            // Factors in EDX and ECX; the host's IMUL sets CF exactly when the product
            // does not fit 32 bits, which is the wide flag the guest's records.
            match src {
                Operand::Mem(m) => {
                    let fd = emit_tlb_lookup(a, rc, m, false, slow);
                    dynasm!(a ; .arch x64 ; mov ecx, [rbx + rcx + fd]);
                }
                Operand::Src(s) => load_src(a, rc, s),
            }
            match imm {
                Some(v) => dynasm!(a ; .arch x64 ; mov edx, v as i32),
                None => rc.load(a, dst, EDX),
            }
            dynasm!(a ; .arch x64 ; imul edx, ecx);
            if keep_flags {
                dynasm!(a
                    ; .arch x64
                    ; setc al
                    ; movzx eax, al
                    ; xor ecx, ecx
                );
                emit_lazy(a, LazyOp::Mul);
            }
            rc.store(a, dst, EDX);
        }
        Inline::Nop => {}
        Inline::StrByte { ref inner, ptr } => {
            let df = ox86_core::cpu::flags::DF as i32;
            dynasm!(a ; .arch x64 ; test DWORD [r12 + FLAGS_BITS], df ; jnz =>slow);
            emit_inline(a, rc, inner, slow, before, false, keep_flags);
            let h = rc.reg(a, ptr);
            dynasm!(a ; .arch x64 ; lea Rd(h), [Rq(h) + 1]);
            rc.0.set_dirty(ptr);
        }
        Inline::Bt { ref src, bit } => {
            match src {
                Operand::Mem(m) => {
                    let fd = emit_tlb_lookup(a, rc, m, false, slow);
                    dynasm!(a ; .arch x64 ; mov ecx, [rbx + rcx + fd]);
                }
                Operand::Src(s) => load_src(a, rc, s),
            }
            emit_definite_flags(a, before, false, slow);
            // The flags but CF as they were, CF the bit.
            dynasm!(a
                ; .arch x64
                ; and edx, !(flags::CF as i32)
                ; bt ecx, bit as i8
                ; adc edx, 0
            );
            emit_store_definite(a);
        }
        Inline::Rdtsc { pos } => {
            // The clock at this instruction plus the guest's offset (`Cpu::tsc_at`).
            dynasm!(a
                ; .arch x64
                ; test DWORD [r12 + CR4], CR4_TSD as i32
                ; jnz =>slow
                ; mov rax, [r12 + INSNS]
                ; add rax, [r12 + IDLE]
                ; add rax, [r12 + TSC_OFFSET]
                ; add rax, pos as i32
                ; mov rdx, rax
                ; shr rdx, 32
            );
            rc.store(a, translate::EAX, EAX);
            rc.store(a, translate::EDX, EDX);
        }
        Inline::Div { ref src } => {
            match src {
                Operand::Mem(m) => {
                    let fd = emit_tlb_lookup(a, rc, m, false, slow);
                    dynasm!(a ; .arch x64 ; mov ecx, [rbx + rcx + fd]);
                }
                Operand::Src(s) => load_src(a, rc, s),
            }
            // The quotient fits 32 bits exactly when EDX is below the divisor.
            dynasm!(a ; .arch x64 ; test ecx, ecx ; jz =>slow);
            rc.load(a, translate::EDX, EDX);
            dynasm!(a ; .arch x64 ; cmp edx, ecx ; jae =>slow);
            rc.load(a, translate::EAX, EAX);
            dynasm!(a ; .arch x64 ; div ecx);
            rc.store(a, translate::EAX, EAX);
            rc.store(a, translate::EDX, EDX);
        }
        Inline::Rotate { dst, left, count } => {
            if keep_flags {
                // The flags before it made definite (EDX), before anything is written.
                emit_definite_flags(a, before, live, slow);
            }
            rc.load(a, dst, EAX);
            if left {
                dynasm!(a ; .arch x64 ; rol eax, count as i8);
            } else {
                dynasm!(a ; .arch x64 ; ror eax, count as i8);
            }
            rc.store(a, dst, EAX);
            if !keep_flags {
                dynasm!(a ; .arch x64 ; mov [r12 + JIT_ROTATED], eax);
                return;
            }
            // CF and OF from the result, as `helpers::store_flags` computes them.
            if left {
                dynasm!(a
                    ; .arch x64
                    ; mov ecx, eax
                    ; and ecx, 1
                    ; mov esi, eax
                    ; shr esi, 31
                );
            } else {
                dynasm!(a
                    ; .arch x64
                    ; mov ecx, eax
                    ; shr ecx, 31
                    ; mov esi, eax
                    ; shr esi, 30
                    ; and esi, 1
                );
            }
            dynasm!(a
                ; .arch x64
                ; xor esi, ecx
                ; shl esi, flags::OF.trailing_zeros() as i8
                ; and edx, !((flags::CF | flags::OF) as i32)
                ; or edx, ecx
                ; or edx, esi
            );
            emit_store_definite(a);
        }
        Inline::Neg { dst } => {
            rc.load(a, dst, ECX);
            dynasm!(a ; .arch x64 ; xor eax, eax ; mov edx, eax ; sub edx, ecx);
            if keep_flags {
                emit_lazy(a, LazyOp::Sub);
            }
            rc.store(a, dst, EDX);
        }
        Inline::ShiftCl { dst, op } => {
            // The count first, then the destination's shadow: both paths below must
            // leave the shadows alike.
            rc.load(a, translate::ECX, ECX);
            rc.reg(a, dst);
            let skip = a.new_dynamic_label();
            dynasm!(a ; .arch x64 ; and ecx, 31 ; jz =>skip);
            rc.load(a, dst, EAX);
            dynasm!(a ; .arch x64 ; mov edx, eax);
            match op {
                LazyOp::Shl => dynasm!(a ; .arch x64 ; shl edx, cl),
                LazyOp::Shr => dynasm!(a ; .arch x64 ; shr edx, cl),
                _ => dynasm!(a ; .arch x64 ; sar edx, cl),
            }
            if keep_flags {
                emit_lazy(a, op);
            }
            rc.store(a, dst, EDX);
            dynasm!(a ; .arch x64 ; =>skip);
        }
        Inline::Mov8 {
            dst,
            shift,
            ref src,
        } => {
            match *src {
                Operand8::Reg { reg, shift: 0 } => rc.load(a, reg, EDX),
                Operand8::Reg { reg, .. } => {
                    rc.load(a, reg, EDX);
                    dynasm!(a ; .arch x64 ; shr edx, 8);
                }
                Operand8::Imm(v) => dynasm!(a ; .arch x64 ; mov edx, v as i32),
                Operand8::Mem(_) => unreachable!("inline_form builds no such form"),
            }
            store_dl(a, rc, dst, shift);
        }
        // A low byte register in place, when nothing needs the flags' record.
        Inline::Alu8 {
            op,
            dst: Operand8::Reg { reg: d, shift: 0 },
            ref src,
        } if !keep_flags && !matches!(op, Alu::Adc | Alu::Sbb) => {
            let src = match *src {
                Operand8::Mem(ref m) => Byte::Mem(emit_tlb_lookup(a, rc, m, false, slow)),
                Operand8::Reg { reg, shift: 0 } => {
                    let h = rc.reg(a, reg);
                    rc.0.pin(reg);
                    Byte::Reg(h)
                }
                Operand8::Reg { reg, .. } => {
                    rc.load(a, reg, ECX);
                    dynasm!(a ; .arch x64 ; shr ecx, 8);
                    Byte::Reg(ECX)
                }
                Operand8::Imm(v) => Byte::Imm(v as i8),
            };
            let h = rc.reg(a, d);
            emit_alu8_in_place(a, op, h, src);
            if !matches!(op, Alu::Cmp | Alu::Test) {
                rc.0.set_dirty(d);
            }
        }
        Inline::Alu8 {
            op,
            ref dst,
            ref src,
        } => {
            let writes = !matches!(op, Alu::Cmp | Alu::Test);
            // A in EAX, B in ECX, zero-extended; a memory operand's RAM offset in RSI.
            if let Operand8::Mem(m) = dst {
                let fd = emit_tlb_lookup(a, rc, m, writes, slow);
                dynasm!(a ; .arch x64 ; lea rsi, [rcx + fd] ; movzx eax, BYTE [rbx + rsi]);
            }
            if let Operand8::Mem(m) = src {
                let fd = emit_tlb_lookup(a, rc, m, false, slow);
                dynasm!(a ; .arch x64 ; movzx ecx, BYTE [rbx + rcx + fd]);
            }
            match *src {
                Operand8::Reg { reg, shift } => {
                    rc.load(a, reg, ECX);
                    if shift != 0 {
                        dynasm!(a ; .arch x64 ; shr ecx, 8);
                    }
                    dynasm!(a ; .arch x64 ; movzx ecx, cl);
                }
                Operand8::Imm(v) => dynasm!(a ; .arch x64 ; mov ecx, v as i32),
                Operand8::Mem(_) => {}
            }
            if let Operand8::Reg { reg, shift } = *dst {
                rc.load(a, reg, EAX);
                if shift != 0 {
                    dynasm!(a ; .arch x64 ; shr eax, 8);
                }
                dynasm!(a ; .arch x64 ; movzx eax, al);
            }
            emit_alu(a, op);
            dynasm!(a ; .arch x64 ; movzx edx, dl);
            if keep_flags {
                let op = f.writes_flags().unwrap_or(LazyOp::Logic);
                emit_lazy_op(a, Rop::Imm(op as u8 as u16 | 7 << 8));
            }
            if writes {
                match *dst {
                    Operand8::Mem(_) => dynasm!(a ; .arch x64 ; mov [rbx + rsi], dl),
                    Operand8::Reg { reg, shift } => store_dl(a, rc, reg, shift),
                    Operand8::Imm(_) => {}
                }
            }
        }
        Inline::Not { dst } => {
            rc.load(a, dst, EAX);
            dynasm!(a ; .arch x64 ; not eax);
            rc.store(a, dst, EAX);
        }
        Inline::Mov { dst, ref src } => {
            match *src {
                Src::Reg(s) => {
                    let hs = rc.reg(a, s);
                    rc.0.pin(s);
                    let hd = rc.take(a, dst);
                    dynasm!(a ; .arch x64 ; mov Rd(hd), Rd(hs));
                }
                Src::Imm(v) => {
                    let hd = rc.take(a, dst);
                    dynasm!(a ; .arch x64 ; mov Rd(hd), v as i32);
                }
            }
            rc.0.set_dirty(dst);
        }
        Inline::MovFromRam { dst, pa } => {
            let hd = rc.take(a, dst);
            dynasm!(a ; .arch x64 ; mov eax, pa as i32 ; mov Rd(hd), [rbx + rax]);
            rc.0.set_dirty(dst);
        }
        Inline::Lea { dst, ref ea } => emit_lea(a, rc, dst, ea),
        Inline::Alu {
            op,
            dst: Operand::Src(Src::Reg(d)),
            src: Operand::Src(ref b),
        } if !matches!(op, Alu::Adc | Alu::Sbb) => {
            let record = keep_flags.then(|| f.writes_flags()).flatten();
            emit_alu_reg(a, rc, op, d, AluB::Src(b), record);
        }
        Inline::Alu {
            op,
            dst: Operand::Src(Src::Reg(d)),
            src: Operand::Mem(ref m),
        } if !matches!(op, Alu::Adc | Alu::Sbb) => {
            let fd = emit_tlb_lookup(a, rc, m, false, slow);
            dynasm!(a ; .arch x64 ; mov ecx, [rbx + rcx + fd]);
            let record = keep_flags.then(|| f.writes_flags()).flatten();
            emit_alu_reg(a, rc, op, d, AluB::Ecx, record);
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
                    let fd = emit_tlb_lookup(a, rc, m, writes, slow);
                    dynasm!(a ; .arch x64 ; lea rsi, [rcx + fd] ; mov eax, [rbx + rsi]);
                    load_src(a, rc, b);
                }
                (Operand::Src(Src::Reg(d)), Operand::Mem(m)) => {
                    let fd = emit_tlb_lookup(a, rc, m, false, slow);
                    dynasm!(a ; .arch x64 ; mov ecx, [rbx + rcx + fd]);
                    rc.load(a, *d, EAX);
                }
                (Operand::Src(Src::Reg(d)), Operand::Src(b)) => {
                    load_src(a, rc, b);
                    rc.load(a, *d, EAX);
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
                    dynasm!(a ; .arch x64 ; add esi, base as i32 | 31 << 8);
                    emit_lazy_op(a, Rop::Reg(6));
                }
                _ if keep_flags => emit_lazy(a, f.writes_flags().unwrap_or(LazyOp::Logic)),
                _ => {}
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

/// The second operand of `emit_alu_reg`.
enum AluB<'a> {
    Src(&'a Src),
    /// A value already in ECX (read from memory).
    Ecx,
}

/// A 32-bit ALU operation (not ADC/SBB) on guest register `d` and `b`, in place on the
/// shadows, recording lazy flags `record` if wanted (with what `emit_lazy` stores).
/// The last instruction that changes the host's flags is the operation itself.
fn emit_alu_reg(a: &mut Asm, rc: &mut RegCache, op: Alu, d: i32, b: AluB, record: Option<LazyOp>) {
    let hd = rc.reg(a, d);
    rc.0.pin(d);
    let (hb, imm) = match b {
        AluB::Src(&Src::Reg(s)) => (Some(rc.reg(a, s)), 0),
        AluB::Src(&Src::Imm(v)) => (None, v as i32),
        AluB::Ecx => (Some(ECX), 0),
    };
    if record.is_some() {
        emit_record_operands(a, hd, hb, imm);
    }
    // The result in place, or in EDX for CMP and TEST.
    let r = match op {
        Alu::Cmp | Alu::Test => {
            dynasm!(a ; .arch x64 ; mov edx, Rd(hd));
            EDX
        }
        _ => {
            rc.0.set_dirty(d);
            hd
        }
    };
    match (op, hb) {
        (Alu::Add, Some(h)) => dynasm!(a ; .arch x64 ; add Rd(r), Rd(h)),
        (Alu::Add, None) => dynasm!(a ; .arch x64 ; add Rd(r), imm),
        (Alu::Sub | Alu::Cmp, Some(h)) => dynasm!(a ; .arch x64 ; sub Rd(r), Rd(h)),
        (Alu::Sub | Alu::Cmp, None) => dynasm!(a ; .arch x64 ; sub Rd(r), imm),
        (Alu::And | Alu::Test, Some(h)) => dynasm!(a ; .arch x64 ; and Rd(r), Rd(h)),
        (Alu::And | Alu::Test, None) => dynasm!(a ; .arch x64 ; and Rd(r), imm),
        (Alu::Or, Some(h)) => dynasm!(a ; .arch x64 ; or Rd(r), Rd(h)),
        (Alu::Or, None) => dynasm!(a ; .arch x64 ; or Rd(r), imm),
        (Alu::Xor, Some(h)) => dynasm!(a ; .arch x64 ; xor Rd(r), Rd(h)),
        (Alu::Xor, None) => dynasm!(a ; .arch x64 ; xor Rd(r), imm),
        (Alu::Adc | Alu::Sbb, _) => unreachable!("ADC and SBB take the general form"),
    }
    if let Some(kind) = record {
        emit_record_result(a, r, kind);
    }
}

/// The operands of a lazy-flags record (as `emit_lazy` stores them) where they are: A
/// in host register `ha`, B in `hb` or, without one, the immediate `b`.
fn emit_record_operands(a: &mut Asm, ha: u8, hb: Option<u8>, b: i32) {
    dynasm!(a ; .arch x64 ; mov [r12 + F_A], Rd(ha));
    match hb {
        Some(h) => dynasm!(a ; .arch x64 ; mov [r12 + F_B], Rd(h)),
        None => dynasm!(a ; .arch x64 ; mov DWORD [r12 + F_B], b),
    }
}

/// The rest of the record: the result in host register `r`, the kind `op` of 32 bits.
fn emit_record_result(a: &mut Asm, r: u8, op: LazyOp) {
    let w = op as u8 as u16 | 31 << 8;
    dynasm!(a
        ; .arch x64
        ; mov [r12 + F_R], Rd(r)
        ; mov WORD [r12 + F_OP], w as i16
    );
}

/// Record lazy flags `op` of a 32-bit operation exactly as the interpreter does:
/// operands in EAX and ECX, result in EDX (for MUL: the wide flag in EAX, ECX zero).
fn emit_lazy(a: &mut Asm, op: LazyOp) {
    emit_lazy_op(a, Rop::Imm(op as u8 as u16 | 31 << 8));
}

/// The kind and width of lazy flags, as the word `op | top << 8`.
enum Rop {
    Imm(u16),
    Reg(u8),
}

/// `emit_lazy` with the kind and width in `op`.
fn emit_lazy_op(a: &mut Asm, op: Rop) {
    match op {
        Rop::Imm(w) => dynasm!(a ; .arch x64 ; mov WORD [r12 + F_OP], w as i16),
        Rop::Reg(r) => dynasm!(a ; .arch x64 ; mov WORD [r12 + F_OP], Rw(r)),
    }
    dynasm!(a
        ; .arch x64
        ; mov [r12 + F_A], eax
        ; mov [r12 + F_B], ecx
        ; mov [r12 + F_R], edx
    );
}

/// INC/DEC keep CF: move it from the lazy flags into `bits`, as `set_lazy` does.
fn emit_carry_in(a: &mut Asm, before: Option<Rec>, slow: DynamicLabel) {
    if matches!(before, Some((LazyOp::Inc | LazyOp::Dec | LazyOp::None, _))) {
        return;
    }
    let cf = ox86_core::cpu::flags::CF as i32;
    emit_cf(a, before, slow);
    dynasm!(a
        ; .arch x64
        ; and DWORD [r12 + FLAGS_BITS], !cf
        ; or [r12 + FLAGS_BITS], esi
    );
}

/// ESI = the guest's CF (0 or 1), from lazy flags recorded by `before` if known, else
/// by whatever the run-time record says: the `CF_RECORDS` and the kinds that keep CF in
/// `bits` inline; anything else (a shift, a word operation) takes `slow`. Touches
/// nothing but ESI and the host flags.
fn emit_cf(a: &mut Asm, before: Option<Rec>, slow: DynamicLabel) {
    const _: () = assert!(F_TOP == F_OP + 1, "op and top are read as one word");
    if let Some((op, top)) = before {
        if !emit_cf_of(a, op, top) {
            dynasm!(a ; .arch x64 ; jmp =>slow);
        }
        return;
    }
    // Whatever recorded the flags is known only at run time.
    let (done, bits) = (a.new_dynamic_label(), a.new_dynamic_label());
    dynasm!(a ; .arch x64 ; movzx esi, WORD [r12 + F_OP]);
    for (op, top) in CF_RECORDS {
        let next = a.new_dynamic_label();
        dynasm!(a ; .arch x64 ; cmp esi, op as i32 | (top as i32) << 8 ; jne =>next);
        emit_cf_of(a, op, top);
        dynasm!(a ; .arch x64 ; jmp =>done ; =>next);
    }
    dynasm!(a
        ; .arch x64
        ; and esi, 0xff
        ; cmp esi, LazyOp::Inc as i32
        ; je =>bits
        ; cmp esi, LazyOp::Dec as i32
        ; je =>bits
        ; cmp esi, LazyOp::None as i32
        ; jne =>slow
        ; =>bits
    );
    emit_cf_of(a, LazyOp::None, 31);
    dynasm!(a ; .arch x64 ; =>done);
}

/// ESI = CF of lazy flags of kind `op` and width `top` (32 bits; bytes too for ADD,
/// SUB and logic); false, with nothing emitted, for a record not done here.
fn emit_cf_of(a: &mut Asm, op: LazyOp, top: u8) -> bool {
    // The sum wrapped below an operand (to or below it with a carry in); the subtrahend
    // exceeded the minuend (or equalled it with a borrow in). Bytes compare as bytes.
    let (x, y, below) = match (op, top) {
        (LazyOp::Add, 31 | 7) => (F_R, F_A, true),
        (LazyOp::Adc, 31) => (F_A, F_R, false),
        (LazyOp::Sub, 31 | 7) => (F_A, F_B, true),
        (LazyOp::Sbb, 31) => (F_B, F_A, false),
        (LazyOp::Mul, 31) => {
            dynasm!(a ; .arch x64 ; cmp DWORD [r12 + F_A], 0 ; setne sil ; movzx esi, sil);
            return true;
        }
        (LazyOp::Logic, 31 | 7) => {
            dynasm!(a ; .arch x64 ; xor esi, esi);
            return true;
        }
        (LazyOp::None | LazyOp::Inc | LazyOp::Dec, _) => {
            dynasm!(a ; .arch x64 ; mov esi, [r12 + FLAGS_BITS] ; and esi, 1);
            return true;
        }
        _ => return false,
    };
    dynasm!(a ; .arch x64 ; mov esi, [r12 + x]);
    if top == 7 {
        dynasm!(a ; .arch x64 ; cmp sil, [r12 + y]);
    } else {
        dynasm!(a ; .arch x64 ; cmp esi, [r12 + y]);
    }
    if below {
        dynasm!(a ; .arch x64 ; setb sil);
    } else {
        dynasm!(a ; .arch x64 ; setae sil);
    }
    dynasm!(a ; .arch x64 ; movzx esi, sil);
    true
}

/// The inline stack forms handle a 32-bit stack (SS.B set) only.
fn emit_stack_check(a: &mut Asm, slow: DynamicLabel) {
    let ss_attr = SEGS + SEG_SIZE * Seg::Ss as i32 + SEG_ATTR;
    dynasm!(a ; .arch x64 ; test WORD [r12 + ss_attr], attr::DB as i16 ; jz =>slow);
}

/// Whether the host's x87 control word is the guest's after FNINIT (every exception
/// masked, 64-bit precision, round to nearest), as a process starts and Rust code keeps
/// it: then `emit_x87` can run guest operations on the host's x87 unchanged.
fn host_x87_default() -> bool {
    static DEFAULT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEFAULT.get_or_init(|| {
        let mut cw: u16 = 0;
        // SAFETY: FNSTCW only stores the control word, into `cw`.
        unsafe { std::arch::asm!("fnstcw [{}]", in(reg) &mut cw, options(nostack)) };
        cw == ox86_core::interp::x87::state::CW_INIT
    })
}

/// An x87 instruction with a direct form (`MemOp`) on the host's x87, in the plain
/// case: no #NM, the guest's control word the FNINIT one (so the host's masked
/// responses are the guest's), the operand normal, ST(0) valid (FLD: ST(7) empty), and
/// for arithmetic and stores PE already set (the host's PE is sticky: FNCLEX costs
/// tens of nanoseconds, so only the slow ways out clear it). A result that is not
/// normal or raised anything but PE goes to `slow` with the guest's state as it was
/// (a store's operand is rewritten there). EIP is at the instruction on entry and past
/// it after.
fn emit_x87(
    a: &mut Asm,
    rc: &mut RegCache,
    d: &DecodedInsn,
    op: MemOp,
    m: &MemRef,
    slow: DynamicLabel,
) {
    use ox86_core::interp::x87::state::*;
    const BAD: i32 = (SW_IE | SW_DE | SW_ZE | SW_OE | SW_UE | SW_SF) as i32;
    let fld = op == MemOp::Fld;
    dynasm!(a
        ; .arch x64
        ; test BYTE [r12 + CR0], (CR0_EM | CR0_TS) as i8
        ; jnz =>slow
        ; cmp WORD [r12 + FPU_CW], CW_INIT as i16
        ; jne =>slow
        ; movzx eax, WORD [r12 + FPU_SW]
        ; and eax, (SW_ES | SW_PE) as i32
        ; movzx esi, BYTE [r12 + FPU_TOP]
    );
    // ESI: the physical register FLD pushes into, or ST(0).
    if fld {
        dynasm!(a ; .arch x64 ; test eax, SW_ES as i32 ; jnz =>slow ; dec esi ; and esi, 7);
    } else {
        dynasm!(a ; .arch x64 ; cmp eax, SW_PE as i32 ; jne =>slow);
    }
    let want = if fld { TAG_EMPTY } else { TAG_VALID };
    dynasm!(a
        ; .arch x64
        ; movzx edx, WORD [r12 + FPU_TW]
        ; lea ecx, [rsi + rsi]
        ; shr edx, cl
        ; and edx, 3
        ; cmp edx, want as i32
        ; jne =>slow
        ; shl esi, 4
    );
    let fd = emit_tlb_lookup(a, rc, m, op.stores(), slow);
    let wide = m.size == 8;
    if !op.stores() {
        // The operand must be normal: its exponent neither all zeros nor all ones.
        if wide {
            dynasm!(a
                ; .arch x64
                ; mov rax, [rbx + rcx + fd]
                ; mov rdx, rax
                ; shr rdx, 52
                ; and edx, 0x7ff
                ; dec edx
                ; cmp edx, 0x7fd
                ; ja =>slow
            );
        } else {
            dynasm!(a
                ; .arch x64
                ; mov eax, [rbx + rcx + fd]
                ; mov edx, eax
                ; shr edx, 23
                ; and edx, 0xff
                ; dec edx
                ; cmp edx, 0xfd
                ; ja =>slow
            );
        }
    }
    match op {
        MemOp::Fld => {
            // Exact: the significand with its integer bit, the exponent rebiased (EDX
            // holds it less one), the sign.
            let (rebias, sig_shift) = if wide {
                (16383 - 1023 + 1, 11)
            } else {
                (16383 - 127 + 1, 40)
            };
            dynasm!(a
                ; .arch x64
                ; add edx, rebias
                ; mov rcx, rax
                ; shr rcx, if wide { 63 } else { 31 }
                ; shl ecx, 15
                ; or edx, ecx
                ; shl rax, sig_shift
                ; bts rax, 63
                ; mov [r12 + rsi + FPU_REGS], rax
                ; mov [r12 + rsi + FPU_REGS + FPU_SE], dx
            );
            // Tagged valid, the new top; C1 cleared.
            emit_tag_mask(a);
            dynasm!(a
                ; .arch x64
                ; not eax
                ; and [r12 + FPU_TW], ax
                ; shr ecx, 1
                ; mov [r12 + FPU_TOP], cl
                ; and WORD [r12 + FPU_SW], !SW_C1 as i16
            );
        }
        MemOp::Fst | MemOp::Fstp => {
            dynasm!(a ; .arch x64 ; fld TWORD [r12 + rsi + FPU_REGS]);
            if wide {
                dynasm!(a ; .arch x64 ; fstp QWORD [rbx + rcx + fd]);
            } else {
                dynasm!(a ; .arch x64 ; fstp DWORD [rbx + rcx + fd]);
            }
            dynasm!(a
                ; .arch x64
                ; fnstsw ax
                ; test eax, BAD
                ; jz >stored
                ; fnclex
                ; jmp =>slow
                ; stored:
            );
            emit_host_c1(a);
            if op == MemOp::Fstp {
                // Tagged empty, popped.
                emit_tag_mask(a);
                dynasm!(a
                    ; .arch x64
                    ; or [r12 + FPU_TW], ax
                    ; shr ecx, 1
                    ; inc ecx
                    ; and ecx, 7
                    ; mov [r12 + FPU_TOP], cl
                );
            }
        }
        _ => {
            // ST(0) twice on the host's stack: the copy below the result puts it back
            // when the result cannot stand.
            dynasm!(a
                ; .arch x64
                ; fld TWORD [r12 + rsi + FPU_REGS]
                ; fld st0
            );
            match (op, wide) {
                (MemOp::Add, true) => dynasm!(a ; .arch x64 ; fadd QWORD [rbx + rcx + fd]),
                (MemOp::Add, false) => dynasm!(a ; .arch x64 ; fadd DWORD [rbx + rcx + fd]),
                (MemOp::Sub, true) => dynasm!(a ; .arch x64 ; fsub QWORD [rbx + rcx + fd]),
                (MemOp::Sub, false) => dynasm!(a ; .arch x64 ; fsub DWORD [rbx + rcx + fd]),
                (MemOp::SubR, true) => dynasm!(a ; .arch x64 ; fsubr QWORD [rbx + rcx + fd]),
                (MemOp::SubR, false) => dynasm!(a ; .arch x64 ; fsubr DWORD [rbx + rcx + fd]),
                (_, true) => dynasm!(a ; .arch x64 ; fmul QWORD [rbx + rcx + fd]),
                (_, false) => dynasm!(a ; .arch x64 ; fmul DWORD [rbx + rcx + fd]),
            }
            // A zero or denormal result (an exact difference) takes another tag.
            dynasm!(a
                ; .arch x64
                ; fnstsw ax
                ; fstp TWORD [r12 + rsi + FPU_REGS]
                ; test eax, BAD
                ; jnz >undo
                ; test WORD [r12 + rsi + FPU_REGS + FPU_SE], 0x7fff
                ; jnz >done
                ; undo:
                ; fstp TWORD [r12 + rsi + FPU_REGS]
                ; fnclex
                ; jmp =>slow
                ; done:
                ; fstp st0
            );
            emit_host_c1(a);
        }
    }
    // What the last x87 instruction leaves (`x87::note_ip`), and EIP past it.
    let code_sel = SEGS + SEG_SIZE * Seg::Cs as i32 + SEG_SELECTOR;
    let data_sel = SEGS + SEG_SIZE * m.seg as i32 + SEG_SELECTOR;
    dynasm!(a
        ; .arch x64
        ; mov eax, [r12 + EIP]
        ; mov [r12 + FPU_FIP], eax
        ; add eax, d.len as i32
        ; mov [r12 + EIP], eax
        ; mov ax, [r12 + code_sel]
        ; mov [r12 + FPU_FCS], ax
        ; mov WORD [r12 + FPU_FOP], d.fop as i16
        ; mov ax, [r12 + data_sel]
        ; mov [r12 + FPU_FDS], ax
    );
    emit_ea(a, &m.ea, rc);
    dynasm!(a ; .arch x64 ; mov [r12 + FPU_FDP], eax);
}

/// EAX = the tag word's mask for the physical register at offset ESI in the register
/// file (3 << 2 * register), ECX = its shift.
fn emit_tag_mask(a: &mut Asm) {
    dynasm!(a
        ; .arch x64
        ; mov ecx, esi
        ; shr ecx, 3
        ; mov eax, 3
        ; shl eax, cl
    );
}

/// The guest's C1 from the host's status word in AX, as the operation there left it.
fn emit_host_c1(a: &mut Asm) {
    use ox86_core::interp::x87::state::SW_C1;
    dynasm!(a
        ; .arch x64
        ; and eax, SW_C1 as i32
        ; and WORD [r12 + FPU_SW], !SW_C1 as i16
        ; or [r12 + FPU_SW], ax
    );
}

/// The interpreter's fast path for an access of `m.size` bytes, for a segment
/// `JitView::flat` admits: no page crossing (hence inside the limit) and a soft-TLB hit
/// (read or write tag) for the current privilege. The tag is compared with the page of
/// the access's last byte, which is the entry's page only when the access stays inside
/// it. The access's RAM offset is RCX plus the returned displacement: a frame access
/// folds its offset in the frame into the access's addressing.
#[must_use]
fn emit_tlb_lookup(
    a: &mut Asm,
    rc: &mut RegCache,
    m: &MemRef,
    write: bool,
    slow: DynamicLabel,
) -> i32 {
    if let Some(f) = rc.1.covering(&rc.0, m, write) {
        // The frame's check stands (a failed one left the block), and the host's flags
        // stay.
        dynasm!(a ; .arch x64 ; mov rcx, r14);
        // Within the frame's span, so small.
        return (translate::disp(m) - f.lo) as i32;
    }
    let seg = SEGS + SEG_SIZE * m.seg as i32;
    let tag = if write { TLB_WRITE_TAG } else { TLB_READ_TAG };
    let last = m.size as i32 - 1;
    emit_ea(a, &m.ea, rc);
    let bit = 1u8 << m.seg as u8;
    if FLAT_ONCE & bit == 0 {
        // FS, GS (often based elsewhere, with a limit) and CS: any plain data segment,
        // the limit checked here (in 64 bits, past any wrap).
        dynasm!(a
            ; .arch x64
            ; test DWORD [r12 + JIT_FLAT], translate::plain_bit(m.seg) as i32
            ; jz =>slow
            ; mov ecx, eax
            ; add rcx, last
            ; mov edx, [r12 + seg + SEG_LIMIT]
            ; cmp rcx, rdx
            ; ja =>slow
        );
    } else if rc.0.flat & bit == 0 {
        let mask = rc.0.flat_mask(bit) as i32;
        dynasm!(a ; .arch x64 ; test DWORD [r12 + JIT_FLAT], mask ; jz =>slow);
        rc.0.flat |= bit;
    }
    if rc.0.zero & bit == 0 {
        dynasm!(a ; .arch x64 ; add eax, [r12 + seg + SEG_BASE]);
    }
    dynasm!(a
        ; .arch x64
        ; lea ecx, [rax + last]
        ; and ecx, 0xffff_f000_u32 as i32
    );
    emit_tlb_entry(a);
    dynasm!(a
        ; .arch x64
        ; cmp ecx, [r13 + rdx + tag]
        ; jne =>slow
        ; mov ecx, [r13 + rdx + TLB_ADDEND]
        ; add ecx, eax
    );
    0
}

/// Check frame `f` for the code that follows: R14 = the RAM offset of [base + f.lo] if
/// all the bytes it spans are in one page that the soft TLB has for the lookups it
/// stands for; else on to `miss`, which leaves the block (`Emitter::frame_miss`). The
/// accesses the frame covers then go straight to R14 plus their offset in it.
fn emit_frame_check(a: &mut Asm, rc: &mut RegCache, f: &Frame, miss: DynamicLabel) {
    let bit = 1u8 << f.seg as u8;
    let span = (f.end - f.lo) as i32;
    let bp = rc.reg(a, f.base);
    dynasm!(a
        ; .arch x64
        ; test DWORD [r12 + JIT_FLAT], rc.0.flat_mask(bit) as i32
        ; jz =>miss
        ; lea eax, [Rq(bp) + f.lo as i32]
    );
    if rc.0.zero & bit == 0 {
        let seg = SEGS + SEG_SIZE * f.seg as i32;
        dynasm!(a ; .arch x64 ; add eax, [r12 + seg + SEG_BASE]);
    }
    // The tags are compared with the page of the last byte, in the entry of the first:
    // they match only where both are in the one page (as in `emit_tlb_lookup`).
    dynasm!(a
        ; .arch x64
        ; lea ecx, [rax + span - 1]
        ; and ecx, 0xffff_f000_u32 as i32
    );
    emit_tlb_entry(a);
    if f.reads {
        dynasm!(a ; .arch x64 ; cmp ecx, [r13 + rdx + TLB_READ_TAG] ; jne =>miss);
    }
    if f.writes {
        dynasm!(a ; .arch x64 ; cmp ecx, [r13 + rdx + TLB_WRITE_TAG] ; jne =>miss);
    }
    dynasm!(a
        ; .arch x64
        ; mov r14d, [r13 + rdx + TLB_ADDEND]
        ; add r14d, eax
    );
}

/// RDX = the offset of the soft-TLB entry for linear address EAX in the set for the
/// current privilege, which R13 points to (the interpreter's `Tlb::index`).
fn emit_tlb_entry(a: &mut Asm) {
    const _: () = assert!(TLB_ENTRY.count_ones() == 1, "entries are indexed by shift");
    // ((EAX >> 12) & (ENTRIES - 1)) * TLB_ENTRY, in one shift and one mask.
    let shift = 12 - TLB_ENTRY.trailing_zeros() as i8;
    dynasm!(a
        ; .arch x64
        ; mov edx, eax
        ; shr edx, shift
        ; and edx, ((ENTRIES - 1) * TLB_ENTRY as usize) as i32
    );
}

/// EDX = EAX `op` ECX (ADC and SBB add or subtract the carry in ESI as well).
fn emit_alu(a: &mut Asm, op: Alu) {
    dynasm!(a ; .arch x64 ; mov edx, eax);
    match op {
        Alu::Add => dynasm!(a ; .arch x64 ; add edx, ecx),
        Alu::Adc => dynasm!(a ; .arch x64 ; add edx, ecx ; add edx, esi),
        Alu::Sbb => dynasm!(a ; .arch x64 ; sub edx, ecx ; sub edx, esi),
        Alu::Sub | Alu::Cmp => dynasm!(a ; .arch x64 ; sub edx, ecx),
        Alu::And | Alu::Test => dynasm!(a ; .arch x64 ; and edx, ecx),
        Alu::Or => dynasm!(a ; .arch x64 ; or edx, ecx),
        Alu::Xor => dynasm!(a ; .arch x64 ; xor edx, ecx),
    }
}

/// The source of `emit_alu8_in_place`: a host byte register, an immediate, or the byte
/// at RBX + RCX + the displacement.
enum Byte {
    Reg(u8),
    Imm(i8),
    Mem(i32),
}

/// `op` (not ADC or SBB) into the low byte of host register `h`.
fn emit_alu8_in_place(a: &mut Asm, op: Alu, h: u8, src: Byte) {
    macro_rules! op8 {
        ($($op:tt)*) => {
            match src {
                Byte::Reg(s) => dynasm!(a ; .arch x64 ; $($op)* Rb(h), Rb(s)),
                Byte::Imm(v) => dynasm!(a ; .arch x64 ; $($op)* Rb(h), v),
                Byte::Mem(fd) => dynasm!(a ; .arch x64 ; $($op)* Rb(h), BYTE [rbx + rcx + fd]),
            }
        };
    }
    match op {
        Alu::Add => op8!(add),
        Alu::Sub => op8!(sub),
        Alu::Cmp => op8!(cmp),
        Alu::And => op8!(and),
        Alu::Test => match src {
            // TEST has no r8, m8 form; it commutes.
            Byte::Mem(fd) => dynasm!(a ; .arch x64 ; test BYTE [rbx + rcx + fd], Rb(h)),
            _ => op8!(test),
        },
        Alu::Or => op8!(or),
        Alu::Xor => op8!(xor),
        Alu::Adc | Alu::Sbb => unreachable!("byte forms are never ADC or SBB"),
    }
}

/// DL into the byte at bit `shift` (0 or 8) of guest register `reg` (clobbers EAX). A
/// low byte goes straight into the shadow's (every shadow has one, with a REX prefix).
fn store_dl(a: &mut Asm, rc: &mut RegCache, reg: i32, shift: u8) {
    if shift == 0 {
        let h = rc.reg(a, reg);
        dynasm!(a ; .arch x64 ; mov Rb(h), dl);
        rc.0.set_dirty(reg);
        return;
    }
    rc.load(a, reg, EAX);
    dynasm!(a ; .arch x64 ; mov ah, dl);
    rc.store(a, reg, EAX);
}

/// The source into ECX.
fn load_src(a: &mut Asm, rc: &mut RegCache, s: &Src) {
    match *s {
        Src::Reg(off) => rc.load(a, off, ECX),
        Src::Imm(v) => dynasm!(a ; .arch x64 ; mov ecx, v as i32),
    }
}

/// Call the interpreter's handler for `insn`; leave for `exit` unless it just completed.
fn emit_helper_call<B: Bus>(a: &mut Asm, rt: &Reach, insn: &Insn<B>, exit: usize) {
    let view = changes_view(&insn.1);
    let stub = if view { rt.at.call_view } else { rt.at.call };
    dynasm!(a ; .arch x64 ; mov rdx, QWORD insn as *const _ as i64);
    rt.call(a, stub);
    if view {
        // CPL may have changed, and with it the TLB set.
        dynasm!(a ; .arch x64 ; mov r13, [r12 + JIT_TLB]);
    }
    dynasm!(a ; .arch x64 ; test eax, eax);
    rt.jnz(a, exit);
}

/// A block-ending Jcc whose flags come from a 32-bit SUB/CMP or logic operation: the
/// host recomputes them (CMP a, b / TEST r, r set CF, ZF, SF, OF and PF as the guest's
/// lazy flags define them), or still has them (`live`), and branches on the same
/// condition. Other flag sources, and a target beyond CS's limit, take the handler. EIP
/// is short of exact by `to.eip_delta` on entry.
#[allow(clippy::too_many_arguments)]
fn emit_jcc<B: Bus>(
    a: &mut Asm,
    rt: &Reach,
    insn: &Insn<B>,
    cc: u8,
    known: Option<Rec>,
    live: bool,
    exit: usize,
    to: Targets,
    head: Option<Head>,
) -> [Option<Site>; 2] {
    const _: () = assert!(F_TOP == F_OP + 1, "op and top are read as one word");
    let d = &insn.1;
    let cs_limit = SEGS + SEG_SIZE * Seg::Cs as i32 + SEG_LIMIT;
    let (taken, not_taken, slow) = (
        a.new_dynamic_label(),
        a.new_dynamic_label(),
        a.new_dynamic_label(),
    );
    match known {
        Some(_) => match emit_host_cond(a, known, live, cc) {
            // On into `not_taken`, just below.
            Some(cc) => emit_host_jcc(a, cc, taken),
            None => dynasm!(a ; .arch x64 ; jmp =>slow),
        },
        None => {
            // Whatever recorded the flags is known only at run time.
            dynasm!(a ; .arch x64 ; movzx ecx, WORD [r12 + F_OP]);
            if definite_mask(cc).is_some() {
                // Definite flags (BT, SAHF or POPF left them): the condition is one flag
                // bit, or CF or ZF, in `bits` (any width).
                let next = a.new_dynamic_label();
                dynasm!(a ; .arch x64 ; cmp cl, LazyOp::None as u8 as i8 ; jne =>next);
                if let Some(host) = emit_definite_test(a, cc) {
                    emit_host_jcc(a, host, taken);
                    dynasm!(a ; .arch x64 ; jmp =>not_taken);
                }
                dynasm!(a ; .arch x64 ; =>next);
            }
            for (op, top) in RUNTIME_RECORDS {
                let next = a.new_dynamic_label();
                dynasm!(a ; .arch x64 ; cmp ecx, op as i32 | (top as i32) << 8 ; jne =>next);
                if emit_host_flags(a, op, top, cc) {
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
    let next = (d.len as u32).wrapping_add(to.eip_delta);
    dynasm!(a
        ; .arch x64
        ; =>not_taken
        ; add DWORD [r12 + EIP], next as i32
    );
    let next_site = emit_go(a, rt, &to, to.next, false, head);
    let target = next.wrapping_add(d.rel) as i32;
    if cs_4g(to.own) {
        // (A branch back to the block's start leaves EIP as it is.)
        dynasm!(a ; .arch x64 ; =>taken);
        if target != 0 {
            dynasm!(a ; .arch x64 ; add DWORD [r12 + EIP], target);
        }
    } else {
        dynasm!(a
            ; .arch x64
            ; =>taken
            ; mov eax, [r12 + EIP]
            ; add eax, target
            ; cmp eax, [r12 + cs_limit]
            ; ja =>slow
            ; mov [r12 + EIP], eax
        );
    }
    let taken_site = emit_go(a, rt, &to, to.taken, true, head);
    dynasm!(a ; .arch x64 ; =>slow);
    emit_eip_delta(a, to.eip_delta);
    emit_helper_call::<B>(a, rt, insn, exit);
    dynasm!(a ; .arch x64 ; jmp ->chain);
    [next_site, taken_site]
}

/// The flag bits whose being set means condition `cc` (even) or its negation (odd)
/// holds, for the conditions that test no more than CF and ZF or one other flag.
fn definite_mask(cc: u8) -> Option<u32> {
    use ox86_core::cpu::flags::{CF, OF, PF, SF, ZF};
    Some(match (cc & 15) >> 1 {
        0 => OF,
        1 => CF,
        2 => ZF,
        3 => CF | ZF,
        4 => SF,
        5 => PF,
        _ => return None,
    })
}

/// Set the host's flags to the guest's for condition `cc`, from lazy flags of kind `op`
/// and width `top`, by redoing the operation: CMP a, b for SUB (8 or 32 bits); ADD a,
/// b; ADC/SBB a, b with the carry in that made them these kinds; CMP r, 0 for logic (8
/// or 32 bits), CF = OF = 0; INC/DEC a with CF loaded from `bits`, which they keep. For
/// a shift or multiplication only ZF, SF and PF come from the result alone. False, with
/// nothing emitted, when `cc` cannot be had this way. Clobbers EAX.
fn emit_host_flags(a: &mut Asm, op: LazyOp, top: u8, cc: u8) -> bool {
    let result_only = matches!(cc & 15, 4 | 5 | 8 | 9 | 10 | 11);
    match (op, top) {
        (LazyOp::Sub, 31) => dynasm!(a ; .arch x64 ; mov eax, [r12 + F_A] ; cmp eax, [r12 + F_B]),
        (LazyOp::Sub, 7) => dynasm!(a ; .arch x64 ; mov eax, [r12 + F_A] ; cmp al, [r12 + F_B]),
        (LazyOp::Add, 31) => dynasm!(a ; .arch x64 ; mov eax, [r12 + F_A] ; add eax, [r12 + F_B]),
        (LazyOp::Adc, 31) => {
            dynasm!(a ; .arch x64 ; mov eax, [r12 + F_A] ; stc ; adc eax, [r12 + F_B])
        }
        (LazyOp::Sbb, 31) => {
            dynasm!(a ; .arch x64 ; mov eax, [r12 + F_A] ; stc ; sbb eax, [r12 + F_B])
        }
        (LazyOp::Logic, 31) => dynasm!(a ; .arch x64 ; cmp DWORD [r12 + F_R], 0),
        (LazyOp::Logic, 7) => dynasm!(a ; .arch x64 ; cmp BYTE [r12 + F_R], 0),
        (LazyOp::Inc | LazyOp::Dec, 31) => {
            dynasm!(a ; .arch x64 ; bt DWORD [r12 + FLAGS_BITS], 0 ; mov eax, [r12 + F_A]);
            if op == LazyOp::Inc {
                dynasm!(a ; .arch x64 ; inc eax);
            } else {
                dynasm!(a ; .arch x64 ; dec eax);
            }
        }
        (LazyOp::Shl | LazyOp::Shr | LazyOp::Sar | LazyOp::Mul, 31) if result_only => {
            dynasm!(a ; .arch x64 ; cmp DWORD [r12 + F_R], 0)
        }
        _ => return false,
    }
    true
}

/// EDX (the arithmetic flags, in their EFLAGS bits) into `bits`, the flags made definite
/// (kind None; the record's operands stay, as `Flags::set` leaves them).
fn emit_store_definite(a: &mut Asm) {
    dynasm!(a
        ; .arch x64
        ; mov eax, [r12 + FLAGS_BITS]
        ; and eax, !(flags::ARITH as i32)
        ; or eax, edx
        ; mov [r12 + FLAGS_BITS], eax
        ; mov BYTE [r12 + F_OP], LazyOp::None as u8 as i8
    );
}

/// The host's flags as the guest's for condition `cc`, with `before` what recorded
/// them: still there (`live`), recomputed, or tested in definite flags. The host
/// condition that then means `cc`; None (nothing emitted) for a record not done here.
fn emit_host_cond(a: &mut Asm, before: Option<Rec>, live: bool, cc: u8) -> Option<u8> {
    let (op, top) = before?;
    match op {
        _ if live => Some(cc),
        LazyOp::None => emit_definite_test(a, cc),
        _ => emit_host_flags(a, op, top, cc).then_some(cc),
    }
}

/// Test condition `cc` in definite flags (`bits`), for the conditions `definite_mask`
/// covers: the host condition (NZ or Z) that then means `cc`.
fn emit_definite_test(a: &mut Asm, cc: u8) -> Option<u8> {
    let mask = definite_mask(cc)?;
    dynasm!(a ; .arch x64 ; test DWORD [r12 + FLAGS_BITS], mask as i32);
    // Even conditions hold when a bit is set (NZ), odd ones when none is (Z).
    Some(if cc & 1 == 0 { 5 } else { 4 })
}

/// EDX = the guest's arithmetic flags (CF, PF, AF, ZF, SF and OF, in their EFLAGS bits)
/// as the lazy flags recorded by `before` define them, or, unknown at translation, by
/// the `RUNTIME_RECORDS` or definite flags found at run time: the host redoes the
/// operation and takes its own flags. Other records take `slow`. Clobbers EAX and ESI,
/// keeps ECX.
fn emit_definite_flags(a: &mut Asm, before: Option<Rec>, live: bool, slow: DynamicLabel) {
    let arith = flags::ARITH as i32;
    let defined = |op| matches!(op, LazyOp::Add | LazyOp::Adc | LazyOp::Sub | LazyOp::Sbb);
    if live && before.is_some_and(|(op, _)| defined(op)) {
        // The host's flags are still those of the operation that recorded them, which
        // defines every one (a logic operation leaves AF undefined).
        dynasm!(a ; .arch x64 ; pushfq ; pop rdx ; and edx, arith);
        return;
    }
    let one = |a: &mut Asm, op: LazyOp, top: u8| {
        if op == LazyOp::None {
            dynasm!(a ; .arch x64 ; mov edx, [r12 + FLAGS_BITS] ; and edx, arith);
            return true;
        }
        // Condition 0 (OF) asks for every flag.
        if !emit_host_flags(a, op, top, 0) {
            return false;
        }
        dynasm!(a ; .arch x64 ; pushfq ; pop rdx ; and edx, arith);
        true
    };
    if let Some((op, top)) = before {
        if !one(a, op, top) {
            dynasm!(a ; .arch x64 ; jmp =>slow);
        }
        return;
    }
    let done = a.new_dynamic_label();
    let next = a.new_dynamic_label();
    dynasm!(a
        ; .arch x64
        ; movzx esi, WORD [r12 + F_OP]
        ; cmp sil, LazyOp::None as u8 as i8
        ; jne =>next
    );
    one(a, LazyOp::None, 31);
    dynasm!(a ; .arch x64 ; jmp =>done ; =>next);
    for (op, top) in RUNTIME_RECORDS {
        let next = a.new_dynamic_label();
        dynasm!(a ; .arch x64 ; cmp esi, op as i32 | (top as i32) << 8 ; jne =>next);
        if one(a, op, top) {
            dynasm!(a ; .arch x64 ; jmp =>done);
        }
        dynasm!(a ; .arch x64 ; =>next);
    }
    dynasm!(a ; .arch x64 ; jmp =>slow ; =>done);
}

/// EIP += `delta` (not folded into a later write of EIP).
fn emit_eip_delta(a: &mut Asm, delta: u32) {
    if delta != 0 {
        dynasm!(a ; .arch x64 ; add DWORD [r12 + EIP], delta as i32);
    }
}

/// JMP and CALL rel32 or r/m32 (CALL on a 32-bit stack) and RET [imm16]: the target
/// checked against CS's limit, memory through the soft TLB; anything else takes the
/// handler. EIP is short of exact by `to.eip_delta` on entry (the paths that write EIP
/// fold it in, the handler's adds it), guest registers are in the CPU state.
#[allow(clippy::too_many_arguments)]
fn emit_branch<B: Bus>(
    a: &mut Asm,
    rt: &Reach,
    regs: &translate::RegCache,
    insn: &Insn<B>,
    b: Branch,
    exit: usize,
    to: Targets,
    head: Option<Head>,
) -> Option<Site> {
    // Lookups with what the block assumes of segment bases (no shadows held here).
    let lookup = || RegCache(regs.clone(), Frames::default());
    let d = &insn.1;
    let next = (d.len as u32).wrapping_add(to.eip_delta) as i32;
    let target = (next as u32).wrapping_add(d.rel) as i32;
    let cs_limit = SEGS + SEG_SIZE * Seg::Cs as i32 + SEG_LIMIT;
    let slow = a.new_dynamic_label();
    // `r` within CS's limit, or the handler (its #GP).
    let check = |a: &mut Asm, r: u8| {
        if !cs_4g(to.own) {
            dynasm!(a ; .arch x64 ; cmp Rd(r), [r12 + cs_limit] ; ja =>slow);
        }
    };
    match b {
        Branch::Jmp => {
            dynasm!(a ; .arch x64 ; mov eax, [r12 + EIP] ; add eax, target);
            check(a, EAX);
            dynasm!(a ; .arch x64 ; mov [r12 + EIP], eax);
        }
        Branch::Call => {
            emit_stack_check(a, slow);
            let fd = emit_tlb_lookup(a, &mut lookup(), &stack_ref(-4), true, slow);
            dynasm!(a
                ; .arch x64
                ; mov eax, [r12 + EIP]
                ; lea edx, [rax + target]
                ; add eax, next
            );
            check(a, EDX);
            dynasm!(a
                ; .arch x64
                ; mov [rbx + rcx + fd], eax
                ; sub DWORD [r12 + ESP], 4
                ; mov [r12 + EIP], edx
                ; mov eax, edx
            );
        }
        Branch::Ret { pop } => {
            emit_stack_check(a, slow);
            let fd = emit_tlb_lookup(a, &mut lookup(), &stack_ref(0), false, slow);
            dynasm!(a
                ; .arch x64
                ; mov eax, [rbx + rcx + fd]
            );
            check(a, EAX);
            dynasm!(a
                ; .arch x64
                ; add DWORD [r12 + ESP], 4 + pop as i32
                ; mov [r12 + EIP], eax
            );
        }
        Branch::JmpInd(ref t) | Branch::CallInd(ref t) => {
            // The target in ESI, read and checked before anything is written.
            match t {
                Target::Reg(off) => dynasm!(a ; .arch x64 ; mov esi, [r12 + *off]),
                Target::Mem(m) => {
                    let fd = emit_tlb_lookup(a, &mut lookup(), m, false, slow);
                    dynasm!(a ; .arch x64 ; mov esi, [rbx + rcx + fd]);
                }
            }
            check(a, ESI);
            if let Branch::CallInd(_) = b {
                emit_stack_check(a, slow);
                let fd = emit_tlb_lookup(a, &mut lookup(), &stack_ref(-4), true, slow);
                dynasm!(a
                    ; .arch x64
                    ; mov eax, [r12 + EIP]
                    ; add eax, next
                    ; mov [rbx + rcx + fd], eax
                    ; sub DWORD [r12 + ESP], 4
                );
            }
            dynasm!(a ; .arch x64 ; mov [r12 + EIP], esi ; mov eax, esi);
        }
    }
    // EAX is the new EIP, within CS's limit.
    let site = match to.taken {
        Some(_) => emit_go(a, rt, &to, to.taken, true, head),
        None => {
            emit_dynamic_chain(a, to.len);
            None
        }
    };
    dynasm!(a ; .arch x64 ; =>slow);
    emit_eip_delta(a, to.eip_delta);
    emit_helper_call::<B>(a, rt, insn, exit);
    dynasm!(a ; .arch x64 ; jmp ->chain);
    site
}

/// Leave a block whose EIP is set (and tested against CS's limit if `checked`): back to
/// its own start (`emit_loop`), into the block with `key` if known
/// (`emit_static_chain`, whose patchable jump it returns), else through the run-time
/// lookup.
fn emit_go(
    a: &mut Asm,
    rt: &Reach,
    to: &Targets,
    key: Option<u64>,
    checked: bool,
    head: Option<Head>,
) -> Option<Site> {
    match key {
        Some(key) if key == to.own => emit_loop(a, to.len, head, rt.at.count_chains),
        Some(key) => return Some(emit_static_chain(a, rt, to.len, key, checked)),
        None => dynasm!(a ; .arch x64 ; jmp ->chain),
    }
    None
}

/// A block of `len` instructions branching to its own start: only the budget and
/// interrupts are checked. The start passed the CS limit on the way in and CS cannot
/// change inside a block with static targets, and this code is still current: a store
/// into it ends the block on its slow path before the branch. With `head`, the frame
/// check the block starts with still stands unless a helper undid it (R14 -1): the
/// loop goes on past it, the base register reloaded into its shadow.
fn emit_loop(a: &mut Asm, len: i32, head: Option<Head>, count: bool) {
    emit_retire(a, EAX, len);
    dynasm!(a
        ; .arch x64
        ; add rax, len
        ; cmp rax, [r12 + CHAIN_END]
        ; ja ->out
    );
    if count {
        dynasm!(a ; .arch x64 ; inc QWORD [rsp + CHAINED_SLOT]);
    }
    if let Some(Head { shadow, base }) = head {
        dynasm!(a
            ; .arch x64
            ; test r14, r14
            ; js ->entry
            ; mov Rd(shadow), [r12 + base]
            ; jmp ->framed
        );
    } else {
        dynasm!(a ; .arch x64 ; jmp ->entry);
    }
}

/// `emit_chain` for a next block known at translation by its key. A `jmp rel32` that
/// `Jit` patches to go straight to that block's chain entry while the block is
/// current (`Sites`); until then it falls through to the slot the key must be in, so
/// only the slot's key and (unless the branch did, `checked`) the CS limit are tested
/// at run time. The chain entry checks the budget.
fn emit_static_chain(a: &mut Asm, rt: &Reach, len: i32, key: u64, checked: bool) -> Site {
    let cs_limit = SEGS + SEG_SIZE * Seg::Cs as i32 + SEG_LIMIT;
    emit_retire(a, ESI, len);
    if !checked && !cs_4g(key) {
        dynasm!(a
            ; .arch x64
            ; mov ecx, [r12 + EIP]
            ; cmp ecx, [r12 + cs_limit]
            ; ja ->out
        );
    }
    let site = (a.offset().0, key);
    // JMP rel32 to the next instruction, until patched.
    dynasm!(a
        ; .arch x64
        ; .u8 0xe9
        ; .u32 0
        ; mov rax, QWORD key as i64
    );
    rt.jmp(a, rt.at.keyed);
    site
}

/// Retire `len` instructions, leaving the count in host register `r` (RAX, or RSI where
/// EAX holds the next EIP). (A waiting interrupt shows as a budget of 0:
/// `helpers::note_interrupt`.)
fn emit_retire(a: &mut Asm, r: u8, len: i32) {
    dynasm!(a
        ; .arch x64
        ; mov Rq(r), [r12 + INSNS]
        ; add Rq(r), len
        ; mov [r12 + INSNS], Rq(r)
    );
}

/// Whether blocks with `key` run only while CS's limit is 4 GiB - 1 (`KEY_CS_4G`), so
/// that no EIP is past it. Only a block's last instruction, through its handler, can
/// load CS; `emit_chain` after it tests the limit.
fn cs_4g(key: u64) -> bool {
    key & KEY_CS_4G != 0
}

/// `setcc dl` on x86 condition code `cc`.
fn emit_host_setcc(a: &mut Asm, cc: u8) {
    match cc & 15 {
        0 => dynasm!(a ; .arch x64 ; seto dl),
        1 => dynasm!(a ; .arch x64 ; setno dl),
        2 => dynasm!(a ; .arch x64 ; setb dl),
        3 => dynasm!(a ; .arch x64 ; setae dl),
        4 => dynasm!(a ; .arch x64 ; sete dl),
        5 => dynasm!(a ; .arch x64 ; setne dl),
        6 => dynasm!(a ; .arch x64 ; setbe dl),
        7 => dynasm!(a ; .arch x64 ; seta dl),
        8 => dynasm!(a ; .arch x64 ; sets dl),
        9 => dynasm!(a ; .arch x64 ; setns dl),
        10 => dynasm!(a ; .arch x64 ; setp dl),
        11 => dynasm!(a ; .arch x64 ; setnp dl),
        12 => dynasm!(a ; .arch x64 ; setl dl),
        13 => dynasm!(a ; .arch x64 ; setge dl),
        14 => dynasm!(a ; .arch x64 ; setle dl),
        _ => dynasm!(a ; .arch x64 ; setg dl),
    }
}

/// `cmovcc edx, ecx` on x86 condition code `cc`.
fn emit_host_cmov(a: &mut Asm, cc: u8) {
    match cc & 15 {
        0 => dynasm!(a ; .arch x64 ; cmovo edx, ecx),
        1 => dynasm!(a ; .arch x64 ; cmovno edx, ecx),
        2 => dynasm!(a ; .arch x64 ; cmovb edx, ecx),
        3 => dynasm!(a ; .arch x64 ; cmovae edx, ecx),
        4 => dynasm!(a ; .arch x64 ; cmove edx, ecx),
        5 => dynasm!(a ; .arch x64 ; cmovne edx, ecx),
        6 => dynasm!(a ; .arch x64 ; cmovbe edx, ecx),
        7 => dynasm!(a ; .arch x64 ; cmova edx, ecx),
        8 => dynasm!(a ; .arch x64 ; cmovs edx, ecx),
        9 => dynasm!(a ; .arch x64 ; cmovns edx, ecx),
        10 => dynasm!(a ; .arch x64 ; cmovp edx, ecx),
        11 => dynasm!(a ; .arch x64 ; cmovnp edx, ecx),
        12 => dynasm!(a ; .arch x64 ; cmovl edx, ecx),
        13 => dynasm!(a ; .arch x64 ; cmovge edx, ecx),
        14 => dynasm!(a ; .arch x64 ; cmovle edx, ecx),
        _ => dynasm!(a ; .arch x64 ; cmovg edx, ecx),
    }
}

/// `jcc target` on x86 condition code `cc`.
fn emit_host_jcc(a: &mut Asm, cc: u8, t: DynamicLabel) {
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

/// The end of a block that ran to completion, EIP exact: retire its `len` instructions,
/// then go on into the translated block at CS:EIP, found as the dispatcher finds it (CS
/// limit, the soft TLB's read entry, the block key) in the chain table, if it is there
/// (its chain entry checks the instruction budget and waiting interrupts, with RSI the
/// count). Otherwise return 0.
fn emit_chain(a: &mut Asm, len: i32, rt: &Reach) {
    let cs_limit = SEGS + SEG_SIZE * Seg::Cs as i32 + SEG_LIMIT;
    emit_retire(a, ESI, len);
    dynasm!(a
        ; .arch x64
        ; mov eax, [r12 + EIP]
        ; cmp eax, [r12 + cs_limit]
        ; ja ->out
        // From `emit_dynamic_chain` too: EAX the EIP, RSI the instructions retired.
        ; ->dynamic:
    );
    rt.jmp(a, rt.at.dynamic);
    dynasm!(a ; .arch x64 ; ->out:);
    rt.jmp(a, rt.at.out);
}

/// The runtime's run-time lookup of the next block, EAX its EIP (within CS's limit)
/// and RSI the instructions retired: its key in RAX, on to `emit_keyed`, or out.
fn emit_lookup(a: &mut Asm) {
    let cs_seg = SEGS + SEG_SIZE * Seg::Cs as i32;
    dynasm!(a ; .arch x64 ; add eax, [r12 + cs_seg + SEG_BASE]);
    emit_tlb_entry(a);
    dynasm!(a
        ; .arch x64
        ; mov ecx, eax
        ; and ecx, 0xffff_f000_u32 as i32
        ; cmp ecx, [r13 + rdx + TLB_READ_TAG]
        ; jne ->out
        ; add eax, [r13 + rdx + TLB_ADDEND]
        ; or rax, [r12 + JIT_KEY_MODE]
    );
}

/// The runtime's way into the block with the key in RAX, through its chain slot.
fn emit_keyed(a: &mut Asm) {
    let slot = size_of::<ChainSlot>() as i32;
    const _: () = assert!(size_of::<ChainSlot>() == 32, "slots are indexed by shift");
    dynasm!(a
        ; .arch x64
        ; mov rdx, rax
        ; shr rdx, SLOT_SHIFT as i8
        ; xor rdx, rax
        ; and edx, (CHAIN_SLOTS - 1) as i32
        ; shl edx, slot.trailing_zeros() as i8
        ; mov r8, [rsp + LINKS_SLOT]
        ; cmp rax, [r8 + rdx + SLOTS + SLOT_KEY]
        ; jne ->out
        ; jmp QWORD [r8 + rdx + SLOTS + SLOT_ENTRY]
    );
}

/// Where the code every block shares lies in the code cache (`runtime`).
#[derive(Clone, Copy)]
pub struct Runtime {
    /// Blocks count their chained entries (`Jit::count_chains`): an add to memory on
    /// every block-to-block transition, a few per cent of the run time.
    count_chains: bool,
    /// `extern "sysv64" fn(cpu, bus, ram, links, entry) -> u64`: the frame set up, on
    /// to a block's entry.
    enter: usize,
    /// Leave, returning 0 (EIP where the next block starts).
    out: usize,
    /// Leave after a helper returned EAX (END_BLOCK or a packed exception) for the
    /// block's instruction k: the stub at `exits + k * EXIT_STUB` (k below
    /// `MAX_BLOCK_INSNS`).
    exits: usize,
    /// The run-time lookup (`emit_lookup`), and its part after the key is made, for
    /// a key in RAX.
    dynamic: usize,
    keyed: usize,
    /// Helper stubs, called with the instruction in RDX (and more arguments for
    /// `slow`): `run_handler`, `run_handler_view` and `run_slow_path`.
    call: usize,
    call_view: usize,
    slow: usize,
}

/// The runtime as a block assembled at `base` reaches it: with rel32 jumps and calls
/// (the code cache is smaller than 2 GiB).
#[derive(Clone, Copy)]
struct Reach {
    at: Runtime,
    base: usize,
}

/// JMP (0xE9) or CALL (0xE8) rel32 to host address `target`, in code assembled at `base`.
fn emit_rel32(a: &mut Asm, base: usize, opcode: u8, target: usize) {
    let next = base + a.offset().0 + 5;
    let rel = target.wrapping_sub(next) as i32;
    dynasm!(a ; .arch x64 ; .u8 opcode ; .u32 rel as u32);
}

impl Reach {
    fn rel32(&self, a: &mut Asm, opcode: u8, target: usize) {
        emit_rel32(a, self.base, opcode, target);
    }

    fn jmp(&self, a: &mut Asm, target: usize) {
        self.rel32(a, 0xe9, target);
    }

    fn call(&self, a: &mut Asm, target: usize) {
        self.rel32(a, 0xe8, target);
    }

    /// JNZ rel32 to `target`.
    fn jnz(&self, a: &mut Asm, target: usize) {
        dynasm!(a ; .arch x64 ; .u8 0x0f);
        self.rel32(a, 0x85, target);
    }
}

/// The code blocks share, for the start of a code cache at `base`: the frame's setup
/// and teardown, the exits, the run-time lookup, and stubs that call helpers with the
/// CPU and bus arguments filled in. Blocks reach it with rel32 jumps and calls.
pub fn runtime<B: Bus>(base: usize, count_chains: bool) -> Option<(Vec<u8>, Runtime)> {
    let mut a = Asm::new(base);
    let here = |a: &Asm| base + a.offset().0;
    let out = here(&a);
    dynasm!(a
        ; .arch x64
        ; ->out:
        ; xor eax, eax
        ; ->leave:
        ; mov rcx, [rsp + CHAINED_SLOT]
        ; mov r8, [rsp + LINKS_SLOT]
        ; add [r8 + CHAINED], rcx
        ; add rsp, 24
        ; pop r15
        ; pop r14
        ; pop r13
        ; pop r12
        ; pop rbx
        ; pop rbp
        ; ret
    );
    let exit = here(&a);
    dynasm!(a
        ; .arch x64
        ; cmp eax, END_BLOCK as i32
        ; jne >fault
        ; lea edx, [rdx + 1]
        ; xor eax, eax
        ; fault:
        ; add [r12 + INSNS], rdx
        ; jmp ->leave
    );
    let exits = here(&a);
    for k in 0..MAX_BLOCK_INSNS {
        dynasm!(a ; .arch x64 ; mov edx, k as i32);
        emit_rel32(&mut a, base, 0xe9, exit);
    }
    if here(&a) - exits != MAX_BLOCK_INSNS * EXIT_STUB {
        return None;
    }
    let dynamic = here(&a);
    emit_lookup(&mut a);
    let keyed = here(&a);
    emit_keyed(&mut a);
    // Six pushes and 24 bytes (the bus pointer at BUS_SLOT, the count at CHAINED_SLOT,
    // the links at LINKS_SLOT) keep RSP 16-byte aligned for helper calls.
    let enter = here(&a);
    dynasm!(a
        ; .arch x64
        ; push rbp
        ; push rbx
        ; push r12
        ; push r13
        ; push r14
        ; push r15
        ; sub rsp, 24
        ; mov QWORD [rsp + CHAINED_SLOT], 0
        ; mov [rsp + BUS_SLOT], rsi
        ; mov r12, rdi
        ; mov rbx, rdx
        ; mov [rsp + LINKS_SLOT], rcx
        ; mov r13, [r12 + JIT_TLB]
        ; jmp r8
    );
    // Called from a block, RSP 8 off the alignment a call wants, which is what a
    // function expects on entry: each stub tail-jumps to its helper, which returns to
    // the block.
    let stub = |a: &mut Asm, helper: *const ()| {
        let at = here(a);
        dynasm!(a
            ; .arch x64
            ; mov rdi, r12
            ; mov rsi, [rsp + 8 + BUS_SLOT]
            ; mov rax, QWORD helper as i64
            ; jmp rax
        );
        at
    };
    let call = stub(&mut a, run_handler::<B> as *const ());
    let call_view = stub(&mut a, run_handler_view::<B> as *const ());
    let slow = stub(&mut a, run_slow_path::<B> as *const ());
    let rt = Runtime {
        count_chains,
        enter,
        out,
        exits,
        dynamic,
        keyed,
        call,
        call_view,
        slow,
    };
    Some((a.finalize().ok()?, rt))
}

/// Leave a block of `len` instructions whose branch set EIP, in EAX too, and tested it
/// against CS's limit: `emit_chain`'s run-time lookup from there on.
fn emit_dynamic_chain(a: &mut Asm, len: i32) {
    emit_retire(a, ESI, len);
    dynasm!(a ; .arch x64 ; jmp ->dynamic);
}

/// The x86-64 emitter.
/// Where a block whose first frame check covers it from its start goes on past that
/// check (label `->framed`): the shadow register the check loaded the base into, and
/// the base's offset in the CPU state.
#[derive(Clone, Copy)]
struct Head {
    shadow: u8,
    base: i32,
}

struct X64 {
    a: Asm,
    rt: Reach,
    /// Exit labels by instruction (`exit_label`): what `exit_to` resolves.
    exits: Vec<(DynamicLabel, i32)>,
    rc: RegCache,
    /// After the block's first frame check (`->framed`), the base's shadow. A loop uses
    /// it only where the translation says the check covers the block from its start
    /// (`Targets::frame_holds`).
    head: Option<Head>,
    framed: bool,
    /// The lazy flags the host's flags equal, as the last inline instruction left them
    /// (None once anything else is emitted that may change them or jump in between).
    live: Option<Rec>,
    sites: Sites,
}

/// What the host's flags equal right after `f`, which ends with the host operation
/// that computes its guest flags (and moves): 32-bit ADD, SUB, CMP and logic on
/// registers and immediates.
fn host_rec(f: &Inline) -> Option<Rec> {
    match f {
        // `emit_alu_reg`'s forms: the operation is the last to set the host's flags (a
        // memory source's slow path sets them again: `restore_host_flags`).
        Inline::Alu {
            op: Alu::Add | Alu::Sub | Alu::Cmp | Alu::And | Alu::Or | Alu::Xor | Alu::Test,
            dst: Operand::Src(Src::Reg(_)),
            src: Operand::Src(_) | Operand::Mem(_),
        } => f.known_after(None),
        _ => None,
    }
}

impl X64 {
    /// The runtime's exit stub for the instruction whose exit label is `l`.
    fn exit_to(&self, l: DynamicLabel) -> usize {
        let k = self.exits.iter().find(|e| e.0 == l).map(|e| e.1);
        debug_assert!(k.is_some(), "exit labels come from exit_label");
        self.rt.at.exits + k.unwrap_or(0) as usize * EXIT_STUB
    }
}

impl<B: Bus> Emitter<B> for X64 {
    fn label(&mut self) -> DynamicLabel {
        self.a.new_dynamic_label()
    }

    fn bind(&mut self, l: DynamicLabel) {
        self.live = None;
        dynasm!(self.a ; .arch x64 ; =>l);
    }

    fn prologue(&mut self, len: i32) -> (usize, usize) {
        // The chain entry, RSI the instructions retired: the dispatcher checked that
        // this block fits the budget, another block's exit did not. The dispatcher
        // comes in past it, through the runtime's `enter`.
        dynasm!(self.a
            ; .arch x64
            ; add rsi, len
            ; cmp rsi, [r12 + CHAIN_END]
            ; ja ->out
        );
        if self.rt.at.count_chains {
            dynasm!(self.a ; .arch x64 ; inc QWORD [rsp + CHAINED_SLOT]);
        }
        dynasm!(self.a ; .arch x64 ; ->entry:);
        (self.a.offset().0, 0)
    }

    fn inline(&mut self, f: &Inline, slow: DynamicLabel, before: Option<Rec>, keep: bool) {
        let live = before.is_some() && self.live == before;
        // An access of a checked frame tests nothing.
        let framed = self.rc.1.covers_access(&self.rc.0, f);
        emit_inline(&mut self.a, &mut self.rc, f, slow, before, live, keep);
        self.rc.0.unpin();
        self.live = match f {
            // Register moves and LEA, and loads and stores in a checked frame: the
            // flags and the host's stay as they were.
            Inline::Mov { .. } | Inline::Lea { .. } if live => self.live,
            Inline::Load { .. } | Inline::LoadExt { .. } | Inline::Store { .. }
                if live && framed =>
            {
                self.live
            }
            _ => host_rec(f),
        };
    }

    fn pin(&mut self, off: i32) {
        // Loads only: the host's flags stay.
        self.rc.reg(&mut self.a, off);
        self.rc.0.pin(off);
    }

    fn frame(&mut self, f: Option<&Frame>, miss: Option<DynamicLabel>) {
        if let Some(f) = f {
            self.live = None;
            let miss = miss.expect("frame checks exit on x86-64");
            emit_frame_check(&mut self.a, &mut self.rc, f, miss);
            if !std::mem::replace(&mut self.framed, true) {
                let shadow = self.rc.0.find(f.base).map(|i| SHADOW_REGS[i]);
                self.head = shadow.map(|shadow| Head {
                    shadow,
                    base: f.base,
                });
                dynasm!(self.a ; .arch x64 ; ->framed:);
            }
            self.rc.1.used = true;
        }
        self.rc.1.active = f.copied();
    }

    fn frame_exits(&self) -> bool {
        true
    }

    fn may_leave(&self, f: &Inline) -> bool {
        let plain = matches!(
            f,
            Inline::Load { .. } | Inline::LoadExt { .. } | Inline::Store { .. }
        );
        !(plain && self.rc.1.covers_access(&self.rc.0, f))
    }

    fn frame_miss(&mut self, k: i32, delta: u32) {
        self.live = None;
        emit_eip_delta(&mut self.a, delta);
        dynasm!(self.a
            ; .arch x64
            ; mov BYTE [r12 + INTERPRET_NEXT], 1
            ; xor eax, eax
        );
        // The exit stub retires the k instructions before it and returns EAX, no fault.
        let stub = self.rt.at.exits + k as usize * EXIT_STUB;
        self.rt.jmp(&mut self.a, stub);
    }

    fn write_back(&mut self, regs: &translate::RegCache) {
        write_back(&mut self.a, regs);
    }

    fn store_flags(&mut self, u: Unstored) {
        self.live = None;
        let (what, imm) = u.pack();
        dynasm!(self.a
            ; .arch x64
            ; mov rdi, r12
            ; mov esi, what as i32
            ; mov edx, imm as i32
            ; mov rax, QWORD store_flags as *const () as i64
            ; call rax
        );
    }

    fn second_page(&mut self, delta: u32, next: u32) {
        let cs_seg = SEGS + SEG_SIZE * Seg::Cs as i32;
        dynasm!(self.a
            ; .arch x64
            ; mov eax, [r12 + EIP]
            ; add eax, [r12 + cs_seg + SEG_BASE]
            ; add eax, delta as i32
        );
        emit_tlb_entry(&mut self.a);
        dynasm!(self.a
            ; .arch x64
            ; cmp eax, [r13 + rdx + TLB_READ_TAG]
            ; jne ->out
            ; add eax, [r13 + rdx + TLB_ADDEND]
            ; cmp eax, next as i32
            ; jne ->out
        );
    }

    fn forget_regs(&mut self) {
        // Stores only: the host's flags stay.
        self.rc.clear(&mut self.a);
    }

    fn shadows(&self) -> translate::RegCache {
        self.rc.0.clone()
    }

    fn reload(&mut self, held: &translate::RegCache) {
        for (i, off) in held.held() {
            dynasm!(self.a ; .arch x64 ; mov Rd(SHADOW_REGS[i]), [r12 + off]);
        }
    }

    fn add_eip(&mut self, delta: u32) {
        self.live = None;
        emit_eip_delta(&mut self.a, delta);
    }

    fn helper_call(&mut self, insn: &Insn<B>, exit: DynamicLabel) {
        self.live = None;
        if self.rc.1.used {
            // A handler may change the mapping the frame check found (a store into a
            // page table, then a soft-TLB refill), as the interpreter would see it.
            dynasm!(self.a ; .arch x64 ; mov r14, -1);
        }
        let exit = self.exit_to(exit);
        emit_helper_call::<B>(&mut self.a, &self.rt, insn, exit);
    }

    fn slow_call(&mut self, insn: &Insn<B>, exit: DynamicLabel, before: u32, mask: u32, end: bool) {
        // `helpers::run_slow_path` does it all, through the runtime's stub.
        self.live = None;
        if self.rc.1.used {
            dynasm!(self.a ; .arch x64 ; mov r14, -1);
        }
        debug_assert!(
            !changes_view(&insn.1),
            "inline forms leave the JIT view alone"
        );
        dynasm!(self.a
            ; .arch x64
            ; mov rdx, QWORD insn as *const _ as i64
            ; mov ecx, slow_path_arg(before, mask, end) as i32
        );
        self.rt.call(&mut self.a, self.rt.at.slow);
        dynasm!(self.a ; .arch x64 ; test eax, eax);
        let exit = self.exit_to(exit);
        self.rt.jnz(&mut self.a, exit);
    }

    fn x87_mem(&mut self, insn: &Insn<B>, op: MemOp, m: &MemRef, exit: DynamicLabel) {
        self.live = None;
        let slow = self.a.new_dynamic_label();
        // The slow path may skip the segment check, and the call clobbers the shadows
        // the address used (none were dirty).
        let flat = self.rc.0.flat;
        if host_x87_default() {
            emit_x87(&mut self.a, &mut self.rc, &insn.1, op, m, slow);
            self.rc.0.flat = flat;
            self.rc.0.clear();
            dynasm!(self.a ; .arch x64 ; jmp >done ; =>slow);
            let exit = self.exit_to(exit);
            emit_helper_call::<B>(&mut self.a, &self.rt, insn, exit);
            dynasm!(self.a ; .arch x64 ; done:);
            return;
        }
        let fd = emit_tlb_lookup(&mut self.a, &mut self.rc, m, op.stores(), slow);
        self.rc.0.flat = flat;
        self.rc.0.clear();
        // ECX, the RAM offset, is the fourth argument.
        dynasm!(self.a
            ; .arch x64
            ; lea ecx, [rcx + fd]
            ; mov rdi, r12
            ; mov rsi, [rsp + BUS_SLOT]
            ; mov rdx, QWORD insn as *const _ as i64
            ; mov r8d, x87_kind(op, m.size) as i32
            ; mov rax, QWORD x87_mem::<B> as *const () as i64
            ; call rax
            ; test eax, eax
            ; jz >done
            ; =>slow
        );
        let exit = self.exit_to(exit);
        emit_helper_call::<B>(&mut self.a, &self.rt, insn, exit);
        dynasm!(self.a ; .arch x64 ; done:);
    }

    fn jcc(&mut self, insn: &Insn<B>, cc: u8, known: Option<Rec>, exit: DynamicLabel, to: Targets) {
        let live = known.is_some() && self.live == known;
        self.live = None;
        let head = self.head.filter(|_| to.frame_holds);
        let exit = self.exit_to(exit);
        let sites = emit_jcc::<B>(&mut self.a, &self.rt, insn, cc, known, live, exit, to, head);
        self.sites.extend(sites.into_iter().flatten());
    }

    fn branch(&mut self, insn: &Insn<B>, b: Branch, exit: DynamicLabel, to: Targets) {
        self.live = None;
        let regs = translate::RegCache::for_zero_bases(self.rc.0.zero);
        let head = self.head.filter(|_| to.frame_holds);
        let exit = self.exit_to(exit);
        let site = emit_branch::<B>(&mut self.a, &self.rt, &regs, insn, b, exit, to, head);
        self.sites.extend(site);
    }

    fn jump(&mut self, l: DynamicLabel) {
        self.live = None;
        dynasm!(self.a ; .arch x64 ; jmp =>l);
    }

    fn rejoin(&mut self, l: DynamicLabel) -> Option<Rec> {
        dynasm!(self.a ; .arch x64 ; =>l);
        self.live
    }

    fn restore_host_flags(&mut self, r: Option<Rec>) {
        if let Some((op, top)) = r {
            // Condition 0 (OF) asks for every flag.
            let done = emit_host_flags(&mut self.a, op, top, 0);
            debug_assert!(done, "host_rec gives only records emit_host_flags redoes");
        }
        self.live = None;
    }

    fn chain(&mut self, len: i32) {
        self.live = None;
        dynasm!(self.a ; .arch x64 ; ->chain:);
        emit_chain(&mut self.a, len, &self.rt);
    }

    fn exit_label(&mut self, k: i32) -> DynamicLabel {
        let l = self.a.new_dynamic_label();
        self.exits.push((l, k));
        l
    }

    fn exit_stub(&mut self, _l: DynamicLabel, _k: i32) {
        // Helpers leave through the runtime's stub for their instruction (`exit_to`).
    }

    fn exit_tail(&mut self) {
        // The runtime has the exits; frame accesses have no out-of-line lookups.
        debug_assert!(self.rc.1.cold.is_empty());
    }

    fn finish(self) -> Option<(Vec<u8>, Sites)> {
        Some((self.a.finalize().ok()?, self.sites))
    }
}

/// Translate `block` for the code cache address `base`, as the CPU state is `now`.
pub fn translate<B: Bus>(
    block: &Block<B>,
    base: usize,
    now: &translate::Now,
    rt: &Runtime,
) -> Option<Translated> {
    // Room for what a block usually needs, so that the buffers and the global labels'
    // map do not grow as it is assembled.
    let n = block.insns.len();
    let a = Asm::new_with_capacity(base, 160 * n + 256, 8, 8, 4 * n + 8, 4 * n + 16, 4 * n + 8);
    let x64 = X64 {
        a,
        rt: Reach { at: *rt, base },
        exits: Vec::with_capacity(n),
        rc: RegCache(
            translate::RegCache::for_zero_bases(now.zero),
            Frames::default(),
        ),
        live: None,
        sites: Vec::new(),
        head: None,
        framed: false,
    };
    translate::translate(block, x64, now)
}

/// Run the code at `entry` on `cpu` and `bus`, chaining through `links`: the packed
/// exception that ended it, or 0.
pub fn call<B: Bus>(
    rt: &Runtime,
    entry: usize,
    cpu: &mut Cpu,
    bus: &mut B,
    links: &mut Links,
) -> u32 {
    let ram = bus.mem().ram_mut().as_mut_ptr();
    // SAFETY: `rt.enter` is the runtime `runtime::<B>` emitted at the start of the
    // executable code cache, and `entry` the entry of code `translate::<B>` emitted
    // after it for a block of this same bus type with that runtime, neither cleared
    // since (the runtime is emitted again and handles are reset with the cache), and
    // `links` holds only chain entries of such code. That code follows the sysv64 ABI,
    // touches only `*cpu` (through the field offsets above), reads `links` and adds to
    // its count, accesses guest RAM at `ram` at the physical offsets of soft-TLB hits
    // (entries exist only for pages inside RAM, accesses never cross a page), and calls
    // the helpers with `cpu` and `bus`.
    let f: extern "sysv64" fn(*mut Cpu, *mut B, *mut u8, *mut Links, usize) -> u64 =
        unsafe { std::mem::transmute(rt.enter) };
    f(cpu, bus, ram, links, entry) as u32
}
