//! The run loop: run guest code in slices that end at the next device timer event, fire
//! the events, feed host input, skip (or sleep through) idle time, and say why a run
//! ended.

use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, TryRecvError};
use ox86_core::cpu::flags;
use ox86_core::{Exit, RunStats};

use crate::board::Request;
use crate::debug::Input;
use crate::machine::{HostInput, Machine};

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// The guest wrote this value to the exit port.
    ExitPort(u32),
    /// `--max-insns` reached.
    InstructionLimit,
    /// HLT with nothing that could wake the CPU (interrupts disabled, or no timer or
    /// input that could raise one).
    Halted { interrupts_enabled: bool },
    /// Triple fault with rebooting disabled.
    TripleFault,
    /// The guest powered the machine off (ACPI S5).
    PowerOff,
    /// The guest reset the machine and rebooting is disabled.
    Reset,
    /// The user quit (Ctrl-A x), or a debugger killed the guest.
    Quit,
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

/// Most instructions per trip round the loop (how often host input is looked at).
const SLICE: u64 = 1 << 20;

impl Machine {
    /// Run until the guest exits, powers off, halts for good, triple-faults or resets
    /// (without reboot), the user quits, or `max_insns` instructions have retired.
    pub fn run(&mut self, max_insns: Option<u64>) -> RunReport {
        let start = Instant::now();
        let first = self.cpu.stats.instructions;
        let mut resets = 0;
        let end = loop {
            if let Some(end) = self.debug_poll() {
                break end;
            }
            self.history_tick();
            if let Some(end) = self.poll_input(None) {
                break end;
            }
            self.display_tick(false);
            let now = self.cpu.clock();
            self.board.advance(now);
            let done = self.cpu.stats.instructions - first;
            let mut budget = match max_insns {
                Some(m) if done >= m => break RunEnd::InstructionLimit,
                Some(m) => (m - done).min(SLICE),
                None => SLICE,
            };
            if let Some(t) = self.board.next_event() {
                budget = budget.min(t.saturating_sub(now).max(1));
            }
            let mut budget = self.debug_budget(budget);
            if self.trace.is_some() {
                // One instruction per slice, and an interrupt ends one, so each is seen.
                budget = 1;
                self.board.stop_after_interrupt = true;
                self.trace_before();
            }
            let exit = self.interp.run(&mut self.cpu, &mut self.board, budget);
            self.board.flush_output();
            self.trace_after();
            self.debug_check();
            match exit {
                Exit::InstructionLimit | Exit::Breakpoint => {}
                Exit::Stopped => {
                    self.board.clear_attention();
                    if let Some(v) = self.board.exit_value {
                        break RunEnd::ExitPort(v);
                    }
                    match self.board.request.take() {
                        Some(Request::PowerOff) => break RunEnd::PowerOff,
                        Some(Request::Reset) if !self.reboot => break RunEnd::Reset,
                        Some(Request::Reset) => {
                            resets += 1;
                            self.reset();
                        }
                        None => {}
                    }
                }
                Exit::Halted => {
                    if self.debug_stopped() {
                        continue;
                    }
                    if let Some(end) = self.idle() {
                        if !self.debug_hold_halt() {
                            break end;
                        }
                    }
                }
                Exit::TripleFault => {
                    if !self.reboot {
                        break RunEnd::TripleFault;
                    }
                    resets += 1;
                    self.reset();
                }
            }
        };
        self.board.flush_output();
        self.display_tick(true);
        self.trace_flush();
        self.board.flush_disks();
        self.debug_finish(end);
        RunReport {
            end,
            stats: self.cpu.stats,
            elapsed: start.elapsed(),
            resets,
        }
    }

    /// The CPU is halted with nothing pending: let virtual time pass to the next timer
    /// event (at once, or at the host clock's pace in real-time mode), or wait for host
    /// input when no timer is armed.
    fn idle(&mut self) -> Option<RunEnd> {
        let ie = self.cpu.s.flags.bits & flags::IF != 0;
        let next = self.board.next_event();
        if !ie || (next.is_none() && self.input.is_none()) {
            return Some(RunEnd::Halted {
                interrupts_enabled: ie,
            });
        }
        let now = self.cpu.clock();
        let gap = next.map(|t| t.saturating_sub(now));
        // A debugger's recorded history runs on virtual time alone, so that it replays.
        let recording = self.recording();
        if recording && gap.is_none() && self.replaying() {
            return None; // the logged input that woke the guest comes next
        }
        let realtime = self.realtime && !recording;
        if realtime || gap.is_none() {
            self.display_before_wait(gap);
            let t0 = Instant::now();
            let wait = gap.map(Duration::from_nanos);
            if let Some(end) = self.poll_input(Some(wait)) {
                return Some(end);
            }
            let slept = t0.elapsed().as_nanos() as u64;
            if !recording {
                self.cpu.stats.idle += gap.map_or(slept, |g| slept.min(g));
            }
            if !realtime {
                return None;
            }
        }
        if let Some(g) = gap {
            if !realtime {
                self.cpu.stats.idle += g;
            }
        }
        None
    }

    /// Move host input to the guest. With `wait`, block for input first (`Some(None)`:
    /// until some arrives). Returns the end of the run if the user quit.
    pub(crate) fn poll_input(&mut self, wait: Option<Option<Duration>>) -> Option<RunEnd> {
        if let Some(rx) = &self.input {
            // Err(true): the sending side is gone (end of input).
            let mut msg = match wait {
                None => rx.try_recv().map_err(|e| e == TryRecvError::Disconnected),
                Some(None) => rx.recv().map_err(|_| true),
                Some(Some(d)) => rx
                    .recv_timeout(d)
                    .map_err(|e| e == RecvTimeoutError::Disconnected),
            };
            loop {
                match msg {
                    Ok(HostInput::Quit) => return Some(RunEnd::Quit),
                    Ok(HostInput::Serial(bytes)) => self.pending_input.extend(bytes),
                    Ok(HostInput::Keys(keys)) => {
                        let bytes = self.board.dev.kbc.key_form(&keys);
                        self.pending_keys.extend(bytes);
                    }
                    Ok(HostInput::Wake) => {}
                    Err(gone) => {
                        if gone {
                            self.input = None;
                        }
                        break;
                    }
                }
                msg = rx.try_recv().map_err(|e| e == TryRecvError::Disconnected);
            }
        }
        // Logged input due here is delivered again (also at the frontier itself); host
        // input waits for the end of a replay.
        self.replay_input();
        if self.replaying() {
            return None;
        }
        if let Some(&b) = self.pending_keys.front() {
            if self.board.dev.kbc.output_empty() {
                self.board.key_input(b);
                self.pending_keys.pop_front();
                self.log_input(Input::Key(b));
            }
        }
        while let Some(&b) = self.pending_input.front() {
            if !self.board.serial_input(b) {
                break;
            }
            self.pending_input.pop_front();
            self.log_input(Input::Serial(b));
        }
        None
    }
}
