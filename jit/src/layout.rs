//! Where generated code finds things: field offsets in the CPU state, the chain table
//! and the soft TLB, the same for every backend.

use std::mem::{offset_of, size_of};

use ox86_core::cpu::state::Segment;
use ox86_core::mmu::tlb::TlbEntry;
use ox86_core::Cpu;

use crate::chain::{ChainSlot, Links};

pub(crate) const REGS: i32 = offset_of!(Cpu, s.regs) as i32;
pub(crate) const EIP: i32 = offset_of!(Cpu, s.eip) as i32;
/// Set by x86-64 blocks whose frame check failed (`Emitter::frame_miss`).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) const INTERPRET_NEXT: i32 = offset_of!(Cpu, interpret_next) as i32;
pub(crate) const F_OP: i32 = offset_of!(Cpu, s.flags.op) as i32;
pub(crate) const F_TOP: i32 = offset_of!(Cpu, s.flags.top) as i32;
pub(crate) const F_A: i32 = offset_of!(Cpu, s.flags.a) as i32;
pub(crate) const F_B: i32 = offset_of!(Cpu, s.flags.b) as i32;
pub(crate) const F_R: i32 = offset_of!(Cpu, s.flags.r) as i32;
pub(crate) const SEGS: i32 = offset_of!(Cpu, s.segs) as i32;
pub(crate) const SEG_SIZE: i32 = size_of::<Segment>() as i32;
pub(crate) const SEG_ATTR: i32 = offset_of!(Segment, attr) as i32;
pub(crate) const SEG_BASE: i32 = offset_of!(Segment, base) as i32;
pub(crate) const SEG_LIMIT: i32 = offset_of!(Segment, limit) as i32;
pub(crate) const FLAGS_BITS: i32 = offset_of!(Cpu, s.flags.bits) as i32;
pub(crate) const INSNS: i32 = offset_of!(Cpu, stats.instructions) as i32;
pub(crate) const CHAIN_END: i32 = offset_of!(Cpu, chain_end) as i32;
pub(crate) const CR4: i32 = offset_of!(Cpu, s.cr4) as i32;
pub(crate) const IDLE: i32 = offset_of!(Cpu, stats.idle) as i32;
pub(crate) const TSC_OFFSET: i32 = offset_of!(Cpu, s.tsc_offset) as i32;
pub(crate) const CHAINED: i32 = offset_of!(Links, chained) as i32;
pub(crate) const SLOTS: i32 = offset_of!(Links, slots) as i32;
pub(crate) const SLOT_KEY: i32 = offset_of!(ChainSlot, key) as i32;
pub(crate) const SLOT_ENTRY: i32 = offset_of!(ChainSlot, entry) as i32;
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
pub(crate) const SLOT_LEN: i32 = offset_of!(ChainSlot, len) as i32;
pub(crate) const JIT_TLB: i32 = offset_of!(Cpu, jit.tlb) as i32;
pub(crate) const JIT_FLAT: i32 = offset_of!(Cpu, jit.flat) as i32;
pub(crate) const JIT_KEY_MODE: i32 = offset_of!(Cpu, jit.key_mode) as i32;
pub(crate) const JIT_ROTATED: i32 = offset_of!(Cpu, jit.rotated) as i32;
pub(crate) const TLB_ENTRY: i32 = size_of::<TlbEntry>() as i32;
pub(crate) const TLB_READ_TAG: i32 = offset_of!(TlbEntry, read_tag) as i32;
pub(crate) const TLB_WRITE_TAG: i32 = offset_of!(TlbEntry, write_tag) as i32;
pub(crate) const TLB_ADDEND: i32 = offset_of!(TlbEntry, addend) as i32;

// For the x86-64 backend's inline x87 forms: CR0, the x87 state and the selectors
// `x87::note_ip` records.
#[cfg(target_arch = "x86_64")]
mod fpu {
    use super::*;
    use ox86_core::interp::x87::state::F80;
    pub(crate) const CR0: i32 = offset_of!(Cpu, s.cr0) as i32;
    pub(crate) const SEG_SELECTOR: i32 = offset_of!(Segment, selector) as i32;
    pub(crate) const FPU_REGS: i32 = offset_of!(Cpu, s.fpu.regs) as i32;
    pub(crate) const FPU_SE: i32 = offset_of!(F80, se) as i32;
    pub(crate) const FPU_TOP: i32 = offset_of!(Cpu, s.fpu.top) as i32;
    pub(crate) const FPU_CW: i32 = offset_of!(Cpu, s.fpu.cw) as i32;
    pub(crate) const FPU_SW: i32 = offset_of!(Cpu, s.fpu.sw) as i32;
    pub(crate) const FPU_TW: i32 = offset_of!(Cpu, s.fpu.tw) as i32;
    pub(crate) const FPU_FIP: i32 = offset_of!(Cpu, s.fpu.fip) as i32;
    pub(crate) const FPU_FCS: i32 = offset_of!(Cpu, s.fpu.fcs) as i32;
    pub(crate) const FPU_FOP: i32 = offset_of!(Cpu, s.fpu.fop) as i32;
    pub(crate) const FPU_FDP: i32 = offset_of!(Cpu, s.fpu.fdp) as i32;
    pub(crate) const FPU_FDS: i32 = offset_of!(Cpu, s.fpu.fds) as i32;
    const _: () = assert!(size_of::<F80>() == 16 && offset_of!(F80, sig) == 0);
}
#[cfg(target_arch = "x86_64")]
pub(crate) use fpu::*;
