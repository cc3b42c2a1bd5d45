//! The interpreter: one handler per instruction family. A handler is the definition of
//! its instructions (the JIT calls it for anything it does not inline).
//!
//! Handlers see EIP already advanced to the next instruction; on `Err` the run loop puts
//! EIP back and delivers the fault, so a handler must not change guest state before its
//! last fallible step.

pub mod alu;
pub mod bcd;
pub mod control;
pub mod exec;
pub mod muldiv;
pub mod operand;
pub mod shift;
pub mod stack;
pub mod string;
pub mod system;
pub mod x87;

use crate::cpu::exception::{Exception, Result};
use crate::cpu::CpuModel;
use crate::decode::{DecodedInsn, Handler};
use crate::{Bus, Cpu};

pub use exec::Interpreter;

/// Invalid or unsupported encoding: #UD.
pub fn invalid<B: Bus>(_: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    Err(Exception::ud())
}

/// An 80286 instruction longer than 10 bytes: #GP(0).
pub fn too_long<B: Bus>(_: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    Err(Exception::gp0())
}

/// An instruction whose immediate code rewrites (`DecodedInsn::volatile_imm`): run as
/// decoded with the immediate in RAM now.
pub fn fresh_imm<B: Bus>(cpu: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let Some((pa, n, size)) = d.volatile_imm() else {
        return Err(Exception::ud());
    };
    let raw = cpu.phys_read(bus, pa as u64, size);
    let d = d.with_imm(n, raw);
    crate::decode::block::select_handler::<B>(&d, cpu.model)(cpu, bus, &d)
}

/// Choose the handler for a decoded instruction (once, at decode time).
pub fn handler_for<B: Bus>(d: &DecodedInsn, model: CpuModel) -> Handler<B> {
    let i = &d.i;
    let m = i.mnemonic();
    if let Some(h) = alu::handler::<B>(m, d) {
        return h;
    }
    if let Some(h) = shift::handler::<B>(m, d) {
        return h;
    }
    if let Some(h) = muldiv::handler::<B>(m) {
        return h;
    }
    if let Some(h) = bcd::handler::<B>(m) {
        return h;
    }
    if let Some(h) = string::handler::<B>(m) {
        return h;
    }
    if let Some(h) = control::handler::<B>(m, d) {
        return h;
    }
    if let Some(h) = stack::handler::<B>(m, d) {
        return h;
    }
    if let Some(h) = system::handler::<B>(m, d, model) {
        return h;
    }
    invalid::<B>
}

/// Mask for an operand width in bytes.
#[inline]
pub fn size_mask(size: u8) -> u32 {
    u32::MAX >> (32 - 8 * size.clamp(1, 4) as u32)
}

/// Sign bit for an operand width in bytes.
#[inline]
pub fn sign_bit(size: u8) -> u32 {
    1 << (size as u32 * 8 - 1)
}

/// Sign-extend a value of `size` bytes to 32 bits.
#[inline]
pub fn sext(v: u32, size: u8) -> u32 {
    match size {
        1 => v as u8 as i8 as i32 as u32,
        2 => v as u16 as i16 as i32 as u32,
        _ => v,
    }
}

/// Does the instruction have a (ModRM) memory operand?
#[inline]
pub fn has_mem(d: &DecodedInsn) -> bool {
    d.ops.contains(&crate::decode::Opd::Mem)
}
