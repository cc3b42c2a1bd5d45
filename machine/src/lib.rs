//! ox86-machine: the PC board (memory map, firmware, small ports, run loop) and the
//! SingleStepTests conformance runner.

pub mod board;
pub mod boot;
pub mod console;
pub mod run;
pub mod sst;

pub use board::{Board, Machine, MachineConfig, MachineError};
pub use console::SharedBuf;
pub use run::{RunEnd, RunReport};
