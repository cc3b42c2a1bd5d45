//! The run loop: run guest code until something ends the run, and say why.

use std::time::{Duration, Instant};

use ox86_core::cpu::flags;
use ox86_core::{Exit, RunStats};

use crate::board::Machine;

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// The guest wrote this value to the exit port.
    ExitPort(u32),
    /// `--max-insns` reached.
    InstructionLimit,
    /// HLT with nothing that could wake the CPU (interrupts disabled, or no interrupt
    /// sources on this board).
    Halted { interrupts_enabled: bool },
    /// Triple fault with rebooting disabled.
    TripleFault,
}

#[derive(Clone, Copy, Debug)]
pub struct RunReport {
    pub end: RunEnd,
    pub stats: RunStats,
    pub elapsed: Duration,
    pub resets: u32,
}

impl RunReport {
    pub fn mips(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.stats.instructions as f64 / s / 1e6
        } else {
            0.0
        }
    }
}

/// Instructions per trip round the loop (how often host-side events are looked at).
const SLICE: u64 = 1 << 20;

impl Machine {
    /// Run until the guest exits, halts for good, triple-faults (without reboot) or
    /// `max_insns` instructions have retired.
    pub fn run(&mut self, max_insns: Option<u64>) -> RunReport {
        let start = Instant::now();
        let first = self.cpu.stats.instructions;
        let mut resets = 0;
        let end = loop {
            let done = self.cpu.stats.instructions - first;
            let budget = match max_insns {
                Some(m) if done >= m => break RunEnd::InstructionLimit,
                Some(m) => (m - done).min(SLICE),
                None => SLICE,
            };
            match self.interp.run(&mut self.cpu, &mut self.board, budget) {
                Exit::InstructionLimit => {}
                Exit::Stopped => {
                    if let Some(v) = self.board.exit_value {
                        break RunEnd::ExitPort(v);
                    }
                }
                Exit::Halted => {
                    let ie = self.cpu.s.flags.bits & flags::IF != 0;
                    // No device can raise an interrupt yet, so a halted CPU stays halted.
                    break RunEnd::Halted {
                        interrupts_enabled: ie,
                    };
                }
                Exit::TripleFault => {
                    if !self.reboot_on_triple_fault {
                        break RunEnd::TripleFault;
                    }
                    resets += 1;
                    self.cpu.reset();
                    self.interp.flush(&mut self.board);
                }
            }
        };
        self.board.flush_console();
        RunReport {
            end,
            stats: self.cpu.stats,
            elapsed: start.elapsed(),
            resets,
        }
    }
}
