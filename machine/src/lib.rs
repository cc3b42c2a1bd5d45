//! ox86-machine: the PC (CPU, board, devices, boot loaders, run loop) and the
//! SingleStepTests conformance runner.

pub mod board;
pub mod boot;
pub mod console;
pub mod debug;
pub mod display;
pub mod machine;
pub mod run;
pub mod shadow;
pub mod snapshot;
pub mod sst;

pub use board::Board;
pub use console::SharedBuf;
pub use machine::{Boot, Engine, HostInput, Machine, MachineConfig, MachineError};
pub use run::{RunEnd, RunReport};
pub use snapshot::{HostOptions, SaveReport, SnapshotError};
