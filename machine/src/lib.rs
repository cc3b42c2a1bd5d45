//! ox86-machine: the PC board (memory map, devices, run loop, boot loaders) and the
//! conformance runner.

pub mod sst;
