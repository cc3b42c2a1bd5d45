//! ox86-core: the guest CPU.
//!
//! Guest code is decoded once per basic block (iced-x86), cached by physical address and
//! mode, and executed by the interpreter's per-instruction handlers. Arithmetic flags are
//! lazy; every memory access goes through the soft TLB.

pub mod bus;
pub mod cpu;
pub mod decode;
pub mod interp;
pub mod mem;
pub mod mmu;

pub use bus::{Bus, RamBus};
pub use cpu::exception::{Exception, Vector};
pub use cpu::state::{CpuState, Reg, Seg, Segment};
pub use cpu::{Cpu, CpuModel, Exit, RunStats};
pub use mem::{MemError, PhysMemory};
