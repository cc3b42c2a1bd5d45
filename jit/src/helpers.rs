//! Rust functions generated code calls. They never unwind into it: handlers return
//! `Result`, and nothing here panics on guest behaviour.

use ox86_core::cpu::flags::{self, LazyOp};
use ox86_core::decode::block::MAX_BLOCK_INSNS;
use ox86_core::decode::{DecodedInsn, Handler};
use ox86_core::interp::x87::direct::{self, MemOp};
use ox86_core::{Bus, Cpu};

use crate::layout::REGS;
use crate::translate::{Src, Unstored};

/// What `run_handler` returns besides an exception's packed bits.
pub const CONTINUE: u32 = 0;
/// The instruction completed and asked to end the block (`Cpu::end_block`).
pub const END_BLOCK: u32 = 1;

/// What `x87_mem` returns when it did nothing and the handler must run.
pub const NOT_DONE: u32 = 1;

/// `run_slow_path`'s last argument: `before`, the EIP delta inside a block (at most
/// `MAX_BLOCK_INSNS` instructions of at most 15 bytes), in the low 16 bits, `flat`, a
/// `RegCache::flat_mask` (bits 0-13), in bits 16-29, and `END_AFTER` if the block must
/// end after the instruction in any case.
pub fn slow_path_arg(before: u32, flat: u32, end: bool) -> u32 {
    const _: () = assert!(MAX_BLOCK_INSNS * 15 < 1 << 16, "the delta fits 16 bits");
    debug_assert!(before < 1 << 16 && flat < 1 << 14);
    before | flat << 16 | if end { END_AFTER } else { 0 }
}

/// `slow_path_arg`'s bit for a slow path after which the block ends: one inside a
/// checked frame on x86-64, whose accesses after it would take the check for granted
/// although the handler may have refilled the soft TLB.
const END_AFTER: u32 = 1 << 31;

/// `x87_mem`'s `kind` for a direct form and its operand size (4 or 8 bytes).
pub fn x87_kind(op: MemOp, size: u8) -> u32 {
    (op as u32) << 8 | size as u32
}

/// `run_handler` and `run_handler_view` in the calling convention `$abi` of the host's
/// generated code.
macro_rules! entry_points {
    ($abi:literal) => {
        /// Run one instruction through its interpreter handler, exactly as the
        /// interpreter does: EIP advanced past it first, put back if it faults. For
        /// instructions that cannot change what `Cpu::jit` records
        /// (`translate::changes_view` is false).
        pub extern $abi fn run_handler<B: Bus>(
            cpu: &mut Cpu,
            bus: &mut B,
            insn: &(Handler<B>, DecodedInsn),
        ) -> u32 {
            handle(cpu, bus, insn)
        }

        /// `run_handler` for instructions that may load a segment or change CPL: the
        /// JIT view is brought up to date after them.
        pub extern $abi fn run_handler_view<B: Bus>(
            cpu: &mut Cpu,
            bus: &mut B,
            insn: &(Handler<B>, DecodedInsn),
        ) -> u32 {
            let r = handle(cpu, bus, insn);
            cpu.refresh_jit_view();
            r
        }

        /// An inline instruction off its fast path: EIP, `before` short of the
        /// instruction, made exact, the handler run, and EIP put back where the inline
        /// code leaves it unless the block must end: the handler faulted, asked for
        /// it, or left a segment in `flat` (`Cpu::jit`'s mask the inline code assumed)
        /// no longer flat. `arg` packs both (`slow_path_arg`). Inline instructions
        /// are 32-bit code: EIP does not wrap at 64 KiB.
        pub extern $abi fn run_slow_path<B: Bus>(
            cpu: &mut Cpu,
            bus: &mut B,
            insn: &(Handler<B>, DecodedInsn),
            arg: u32,
        ) -> u32 {
            let (before, flat) = (arg & 0xffff, arg >> 16 & 0x3fff);
            cpu.s.eip = cpu.s.eip.wrapping_add(before);
            match handle(cpu, bus, insn) {
                CONTINUE if cpu.jit.flat & flat != flat || arg & END_AFTER != 0 => END_BLOCK,
                CONTINUE => {
                    let after = before.wrapping_add(insn.1.len as u32);
                    cpu.s.eip = cpu.s.eip.wrapping_sub(after);
                    CONTINUE
                }
                r => r,
            }
        }

        /// An x87 instruction with a direct form (`x87_kind`), its m32/m64 operand at
        /// RAM offset `off`, which the soft TLB gave for this access (a write hit for
        /// FST/FSTP, so a page without code): CONTINUE when done, NOT_DONE when nothing
        /// changed and the handler must run. EIP is at the instruction.
        pub extern $abi fn x87_mem<B: Bus>(
            cpu: &mut Cpu,
            bus: &mut B,
            insn: &(Handler<B>, DecodedInsn),
            off: u32,
            kind: u32,
        ) -> u32 {
            let op = MemOp::ALL[(kind >> 8) as usize % MemOp::ALL.len()];
            let size = if kind as u8 == 8 { 8 } else { 4 };
            let off = off as usize;
            let Some(bytes) = bus.mem().ram_mut().get_mut(off..off + size) else {
                return NOT_DONE;
            };
            // Fixed-size copies: a copy of `size` bytes would be a call to memmove.
            let done = if op.stores() {
                direct::store(cpu, &insn.1, op, size as u8)
                    .map(|v| match bytes.len() {
                        8 => bytes.copy_from_slice(&v.to_le_bytes()),
                        _ => bytes.copy_from_slice(&(v as u32).to_le_bytes()),
                    })
                    .is_some()
            } else {
                let bits = match *bytes {
                    [a, b, c, d] => u32::from_le_bytes([a, b, c, d]) as u64,
                    [a, b, c, d, e, f, g, h] => u64::from_le_bytes([a, b, c, d, e, f, g, h]),
                    _ => return NOT_DONE,
                };
                direct::load(cpu, &insn.1, op, bits, size as u8)
            };
            if done {
                CONTINUE
            } else {
                NOT_DONE
            }
        }

        /// Store the flags inline code left unstored (`translate::Unstored`, packed
        /// as `what` and `imm`), for a slow path that is about to run a handler.
        pub extern $abi fn store_flags(cpu: &mut Cpu, what: u32, imm: u32) {
            match Unstored::unpack(what, imm) {
                // The flags as the interpreter leaves them after a ROL or ROR of 32 bits
                // whose result is `JitView::rotated`: those before it with CF and OF
                // from the result.
                Unstored::Rotate { left } => {
                    let r = cpu.jit.rotated;
                    let msb = r >> 31;
                    let (cf, of) = if left {
                        (r & 1, msb ^ (r & 1))
                    } else {
                        (msb, msb ^ (r >> 30 & 1))
                    };
                    let f = cpu.s.flags.get() & !(flags::CF | flags::OF);
                    cpu.s.flags.set(f | cf * flags::CF | of * flags::OF);
                }
                // The operands as the interpreter records them, from the result and the
                // second operand. The record before is the one stored: INC and DEC move
                // its CF into `bits`, as `Flags::set_lazy` does.
                Unstored::Record { op, dst, src } => {
                    let reg = |off: i32| cpu.s.regs[((off - REGS) / 4) as usize];
                    let r = reg(dst);
                    let b = match src {
                        Src::Reg(s) => reg(s),
                        Src::Imm(v) => v,
                    };
                    let (a, b) = match op {
                        LazyOp::Add | LazyOp::Inc => (r.wrapping_sub(b), b),
                        LazyOp::Sub | LazyOp::Dec => (r.wrapping_add(b), b),
                        // No flag depends on a Logic record's operands.
                        _ => (r, r),
                    };
                    let f = &mut cpu.s.flags;
                    if matches!(op, LazyOp::Inc | LazyOp::Dec) {
                        f.bits = f.bits & !flags::CF | f.cf() as u32;
                    }
                    (f.op, f.top, f.a, f.b, f.r) = (op, 31, a, b, r);
                }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
entry_points!("sysv64");
#[cfg(target_arch = "aarch64")]
entry_points!("C");

/// End chaining at the next block boundary if the bus requests an interrupt the guest
/// takes now. Only instructions can raise a request inside a run (device time moves
/// between runs) and only instructions can set IF, so the dispatcher's entry and every
/// helper call are where this can become true; generated code tests just the budget.
#[inline(always)]
pub fn note_interrupt<B: Bus>(cpu: &mut Cpu, bus: &mut B) {
    if cpu.s.flags.bits & flags::IF != 0 && bus.interrupt_pending() {
        cpu.chain_end = 0;
    }
}

#[inline(always)]
fn handle<B: Bus>(cpu: &mut Cpu, bus: &mut B, insn: &(Handler<B>, DecodedInsn)) -> u32 {
    let (h, d) = insn;
    let start = cpu.s.eip;
    let mask = if cpu.s.code32() { u32::MAX } else { 0xffff };
    cpu.s.eip = start.wrapping_add(d.len as u32) & mask;
    let r = h(cpu, bus, d);
    note_interrupt(cpu, bus);
    match r {
        Ok(()) if cpu.block_ending() => END_BLOCK,
        Ok(()) => CONTINUE,
        Err(e) => {
            cpu.s.eip = start;
            e.bits()
        }
    }
}
