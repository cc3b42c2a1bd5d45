//! ox86-machine: the PC (CPU, board, devices, boot loaders, run loop) and the
//! SingleStepTests conformance runner.
//!
//! # Embedding ox86
//!
//! A [`Machine`] is an ordinary value: it owns its CPU, RAM, devices and clock, shares
//! nothing with other machines and is `Send`, so a process can run many isolated
//! machines, each on a thread of its own (`tests/partition.rs` runs eight at once and
//! checks that each ends exactly as when run alone). Time is virtual, so a run is
//! deterministic.
//!
//! - Build: [`MachineConfig::new`] with the RAM size and what to boot ([`Boot`]: a
//!   firmware image, a Linux bzImage or a Multiboot kernel); set its fields (disks, CPU
//!   model, engine) and call [`Machine::new`].
//! - Output: `MachineConfig::serial` (COM1) and `MachineConfig::console` (port 0xE9)
//!   take any `Box<dyn Write + Send>`; [`SharedBuf`] collects it in memory.
//! - Input: `MachineConfig::input` takes the receiving end of a `crossbeam_channel`;
//!   send it [`HostInput::Serial`] bytes (or keys) and the run loop delivers them to
//!   the guest.
//! - Run for a budget: [`Machine::run`]`(Some(n))` runs at most `n` more instructions
//!   and returns a [`RunReport`] whose [`RunEnd`] says why it stopped; call it again to
//!   go on.
//! - Snapshot: [`Machine::save_snapshot`] writes the whole machine to a directory;
//!   [`Machine::restore`] builds it again with new host-side settings
//!   ([`HostOptions`]: outputs, input, engine), and it runs on exactly as the original.
//!
//! `examples/embed.rs` does all of this (`cargo run --release -p ox86-machine --example
//! embed`).

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
