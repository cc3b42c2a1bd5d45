//! The x87 FPU (80387-compatible, as in the P6): 80-bit registers with bit-exact
//! soft-float arithmetic (`rustc_apfloat`), control/status/tag words, stack faults and
//! the #MF reporting of unmasked exceptions.
//!
//! Unmasked exceptions: the faulting instruction sets ES/B and leaves the exception
//! pending; the next waiting FPU instruction (or WAIT) raises #MF when CR0.NE=1. With
//! CR0.NE=0 a real PC signals FERR#/IRQ13 through the platform; that path arrives with
//! the platform model, so until then the exception just stays pending in the status word.

pub mod arith;
pub mod compare;
pub mod control;
pub mod direct;
pub mod fast;
pub mod float;
pub mod loadstore;
pub mod state;
pub mod trans;

use iced_x86::{MemorySize, Mnemonic as M, OpKind, Register};

use crate::cpu::exception::{Exception, Result, Vector};
use crate::cpu::state::{CR0_EM, CR0_NE, CR0_TS};
use crate::decode::{DecodedInsn, Handler};
use crate::{Bus, Cpu};

use state::*;
pub use state::{FpuState, F80};

/// The x87 handler for a mnemonic, if ox86 implements it.
pub fn handler<B: Bus>(m: M, d: &DecodedInsn) -> Option<Handler<B>> {
    if let Some(h) = control::handler::<B>(m, d) {
        return Some(h);
    }
    if let Some(h) = loadstore::handler::<B>(m, d) {
        return Some(h);
    }
    if let Some(h) = arith::handler::<B>(m, d) {
        return Some(h);
    }
    if let Some(h) = compare::handler::<B>(m, d) {
        return Some(h);
    }
    trans::handler::<B>(m, d)
}

/// Entry checks of every x87 instruction: #NM for CR0.EM/TS; for waiting instructions,
/// #MF for a pending unmasked exception when CR0.NE=1.
pub fn enter(c: &Cpu, waiting: bool) -> Result<()> {
    if c.s.cr0 & (CR0_EM | CR0_TS) != 0 {
        return Err(Exception::nm());
    }
    if waiting {
        pending_mf(c)?;
    }
    Ok(())
}

/// #MF if an unmasked exception is pending and CR0.NE selects native reporting.
pub fn pending_mf(c: &Cpu) -> Result<()> {
    if c.s.fpu.sw & SW_ES != 0 && c.s.cr0 & CR0_NE != 0 {
        return Err(Exception::new(Vector::MF));
    }
    Ok(())
}

/// Record the instruction (and data) pointers and the 11-bit last opcode (FOP), as
/// non-control instructions do (on the P6 always, not only on unmasked exceptions).
pub fn note_ip(c: &mut Cpu, d: &DecodedInsn, mem: bool) {
    let ea = c.ea(d);
    let fcs = c.s.segs[crate::cpu::state::Seg::Cs as usize].selector;
    let fds = c.s.segs[d.seg as usize].selector;
    let f = &mut c.s.fpu;
    f.fip = c.s.eip.wrapping_sub(d.len as u32);
    f.fcs = fcs;
    f.fop = d.fop;
    if mem {
        f.fdp = ea;
        f.fds = fds;
    }
}

/// Index of ST register operand `n` (None if operand `n` is not an ST register).
pub fn st_op(d: &DecodedInsn, n: u32) -> Option<u8> {
    if n >= d.i.op_count() || d.i.op_kind(n) != OpKind::Register {
        return None;
    }
    let r = d.i.op_register(n) as u32;
    let s0 = Register::ST0 as u32;
    (s0..s0 + 8).contains(&r).then(|| (r - s0) as u8)
}

/// Apply an operation's flags (exception bits, SF and C1); false when an unmasked
/// invalid, denormal or zero-divide exception forbids writing the destination.
pub fn apply(f: &mut FpuState, flags: Flags) -> bool {
    f.sw = (f.sw & !SW_C1) | (flags & (SW_C1 | SW_EXC | SW_SF));
    f.update_es();
    flags & !f.cw & (SW_IE | SW_DE | SW_ZE) == 0
}

/// Stack underflow flags (C1=0) and overflow flags (C1=1).
pub const UNDERFLOW: Flags = SW_IE | SW_SF;
pub const OVERFLOW: Flags = SW_IE | SW_SF | SW_C1;

/// Read `len` (<= 16) bytes of the memory operand, little-endian.
pub fn read_mem<B: Bus>(
    c: &mut Cpu,
    bus: &mut B,
    d: &DecodedInsn,
    off: u32,
    len: u32,
) -> Result<u128> {
    let ea = c.ea(d).wrapping_add(off);
    if d.a32 || ea + len <= 0x10000 {
        if let Some(v) = c.read_seg_wide(bus, d.seg, ea, len) {
            return Ok(v);
        }
    }
    let mut v = 0u128;
    let mut i = 0;
    while i < len {
        let n = (len - i).min(4);
        let n = if n == 3 { 2 } else { n };
        let x = c.mem_read_at(bus, d, off + i, n as u8)?;
        v |= (x as u128) << (8 * i);
        i += n;
    }
    Ok(v)
}

/// Write `len` (<= 16) bytes; the caller probed the whole operand first.
pub fn write_mem<B: Bus>(
    c: &mut Cpu,
    bus: &mut B,
    d: &DecodedInsn,
    off: u32,
    len: u32,
    v: u128,
) -> Result<()> {
    let ea = c.ea(d).wrapping_add(off);
    if (d.a32 || ea + len <= 0x10000) && c.write_seg_wide(bus, d.seg, ea, len, v) {
        return Ok(());
    }
    let mut i = 0;
    while i < len {
        let n = (len - i).min(4);
        let n = if n == 3 { 2 } else { n };
        c.mem_write_at(bus, d, off + i, n as u8, (v >> (8 * i)) as u32)?;
        i += n;
    }
    Ok(())
}

/// Check the whole destination is writable before the first byte is stored.
pub fn probe<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn, len: u32) -> Result<()> {
    let ea = c.ea(d);
    c.probe_write(bus, d.seg, ea, len as u8)?;
    if len > 1 {
        let last = c.ea(d).wrapping_add(len - 1);
        let last = if d.a32 { last } else { last & 0xffff };
        c.probe_write(bus, d.seg, last, 1)?;
    }
    Ok(())
}

/// A memory operand converted to register format: (value, DE flag). SNaNs stay
/// signalling so the operation that consumes them raises IE.
pub fn load_operand<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<(F80, Flags)> {
    Ok(match d.i.memory_size() {
        MemorySize::Float32 => loadstore::from_f32(read_mem(c, bus, d, 0, 4)? as u32),
        MemorySize::Float64 => loadstore::from_f64(read_mem(c, bus, d, 0, 8)? as u64),
        MemorySize::Float80 => (F80::from_bits(read_mem(c, bus, d, 0, 10)?), 0),
        MemorySize::Int16 => (
            loadstore::from_int(read_mem(c, bus, d, 0, 2)? as u16 as i16 as i64),
            0,
        ),
        MemorySize::Int32 => (
            loadstore::from_int(read_mem(c, bus, d, 0, 4)? as u32 as i32 as i64),
            0,
        ),
        _ => (
            loadstore::from_int(read_mem(c, bus, d, 0, 8)? as u64 as i64),
            0,
        ),
    })
}
