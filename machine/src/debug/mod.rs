//! The CPU thread's side of a debugger (the gdb stub today): breakpoints and watchpoints
//! on linear addresses, single-stepping, stopping and resuming the guest, and commands
//! run on the machine between slices.
//!
//! A front end (the gdb stub, on its own thread) sends `DebugCmd`s over a channel and
//! wakes the run loop with `HostInput::Wake` on the machine's input channel; the run loop
//! takes commands at slice boundaries and reports stops back as `DebugStop`s. While the
//! guest is stopped the run loop sleeps until a command or host input arrives.
//!
//! Breakpoints and watchpoints are the debugger's own, not the guest's DR0-DR7 (which stay
//! the guest's). While any is set, or while stepping, the guest runs one instruction per
//! slice and the run loop checks after each: the next instruction's linear address
//! (CS.base + EIP) against the breakpoints, the bytes under write watchpoints against
//! their previous values, and the accesses the instruction was predicted to make (from
//! its decoding) against read and access watchpoints. An external interrupt ends the
//! slice as soon as it has been delivered, so a breakpoint on a handler's first
//! instruction is seen. This costs speed (a few million instructions per second) but
//! never runs a whole block past a breakpoint, under the JIT too.

pub mod mem;
mod predict;
mod reverse;
mod trace;

use std::collections::BTreeMap;
use std::time::Duration;

use crossbeam_channel::{Receiver, Select, Sender, TryRecvError};
use ox86_core::cpu::state::{Seg, Segment};

use crate::machine::Machine;
use crate::run::RunEnd;
use predict::Access;
pub(crate) use reverse::Input;
use reverse::{position, History};
pub use trace::{TraceFormat, Tracer};

/// What a watchpoint watches for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchKind {
    /// A store that changes the watched bytes (or, by its decoding, writes them).
    Write,
    /// A load from the watched bytes.
    Read,
    /// Either.
    Access,
}

/// How the debugger asked for a breakpoint (both behave the same in ox86).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakKind {
    Software,
    Hardware,
}

/// A watchpoint on `len` bytes of linear memory at `addr`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watchpoint {
    pub addr: u32,
    pub len: u32,
    pub kind: WatchKind,
    /// The watched bytes after the last instruction (None: not mapped).
    old: Option<Vec<u8>>,
}

impl Watchpoint {
    fn overlaps(&self, a: &Access) -> bool {
        let (s, e) = (self.addr as u64, self.addr as u64 + self.len as u64);
        let (as_, ae) = (a.lin as u64, a.lin as u64 + a.len as u64);
        as_ < e && s < ae
    }
}

/// A replay goes one instruction at a time for the last this many positions.
const REPLAY_NEAR: u64 = 4096;

/// The most bytes one watchpoint may cover.
pub const MAX_WATCH_LEN: u32 = 4096;

/// A request from the debugger front end.
pub enum DebugCmd {
    /// A client connected: stop the guest and answer `DebugStop::Attached`.
    Attach,
    /// Stop the running guest (Ctrl-C) and answer `DebugStop::Interrupted`; ignored when
    /// it is already stopped.
    Interrupt,
    /// Resume until a breakpoint, a watchpoint or an interrupt.
    Continue,
    /// Run exactly one instruction (or deliver one exception or interrupt), then answer
    /// `DebugStop::Step`.
    Step,
    /// The client left: forget breakpoints and watchpoints and let the guest run.
    Detach,
    /// End the run (`RunEnd::Quit`).
    Kill,
    /// Go back one step (to the previous position) and answer `DebugStop::Step`, or
    /// `DebugStop::HistoryStart` when there is no earlier point in the history.
    ReverseStep,
    /// Go back to the last point before this one where a breakpoint or watchpoint hit,
    /// or to the start of the history (`DebugStop::HistoryStart`).
    ReverseContinue,
    /// Run this on the machine (register and memory access, breakpoint changes).
    Exec(Box<dyn FnOnce(&mut Machine) + Send>),
}

/// Why the guest stopped, sent to the front end.
#[derive(Debug)]
pub enum DebugStop {
    Attached,
    Interrupted,
    Step,
    Breakpoint {
        addr: u32,
        kind: BreakKind,
    },
    Watch {
        addr: u32,
        kind: WatchKind,
    },
    /// Running backwards reached the oldest point of the recorded history.
    HistoryStart,
    /// The run ended while the guest was running for the debugger. Dropping `ack` tells
    /// the run loop the news has been passed on.
    Exited {
        end: RunEnd,
        ack: Sender<()>,
    },
}

/// Why the replay of a reverse command stops where it does.
#[derive(Clone, Copy, Debug)]
enum Hit {
    Step,
    Breakpoint { addr: u32, kind: BreakKind },
    Watch { addr: u32, kind: WatchKind },
    HistoryStart,
}

impl Hit {
    fn stop(self) -> DebugStop {
        match self {
            Hit::Step => DebugStop::Step,
            Hit::Breakpoint { addr, kind } => DebugStop::Breakpoint { addr, kind },
            Hit::Watch { addr, kind } => DebugStop::Watch { addr, kind },
            Hit::HistoryStart => DebugStop::HistoryStart,
        }
    }
}

/// A reverse command under way.
#[derive(Clone, Copy, Debug)]
enum Reverse {
    /// Replaying from checkpoint `from` up to position `to`, noting the last point before
    /// `to` where the command could stop (any, for a step; a hit, for a continue).
    Scan {
        from: usize,
        to: u64,
        cont: bool,
        found: Option<(u64, Hit)>,
    },
    /// Replaying to position `to`, there to stop for `why`.
    RunTo { to: u64, why: Hit },
}

/// The debugger state the run loop consults.
pub struct Debugger {
    cmds: Receiver<DebugCmd>,
    stops: Sender<DebugStop>,
    breakpoints: BTreeMap<u32, BreakKind>,
    /// Breakpoints on physical addresses (wherever the page is mapped).
    phys_breakpoints: std::collections::BTreeSet<u64>,
    watchpoints: Vec<Watchpoint>,
    /// A client is attached.
    attached: bool,
    /// The guest runs (false: stopped for the debugger, or waiting for a client).
    running: bool,
    /// Running for one step.
    stepping: bool,
    /// Progress (instructions, exceptions, interrupts) when the step began.
    step_mark: (u64, u64, u64),
    /// Progress when the current slice began.
    slice_mark: (u64, u64, u64),
    /// The accesses predicted for the instruction the current slice runs.
    predicted: Vec<Access>,
    /// The current slice runs one instruction for the debugger's checks.
    fine_slice: bool,
    /// Checkpoints and input log for going backwards.
    history: History,
    reverse: Option<Reverse>,
}

impl Debugger {
    /// A debugger taking commands from `cmds` and reporting stops on `stops`. With
    /// `wait`, the guest does not start until a client attaches and resumes it.
    pub fn new(cmds: Receiver<DebugCmd>, stops: Sender<DebugStop>, wait: bool) -> Self {
        Debugger {
            cmds,
            stops,
            breakpoints: BTreeMap::new(),
            phys_breakpoints: Default::default(),
            watchpoints: Vec::new(),
            attached: false,
            running: !wait,
            stepping: false,
            step_mark: (0, 0, 0),
            slice_mark: (0, 0, 0),
            predicted: Vec::new(),
            fine_slice: false,
            history: History::new(),
            reverse: None,
        }
    }

    pub fn attached(&self) -> bool {
        self.attached
    }

    pub fn running(&self) -> bool {
        self.running
    }

    /// Breakpoints by linear address.
    pub fn breakpoints(&self) -> &BTreeMap<u32, BreakKind> {
        &self.breakpoints
    }

    pub fn watchpoints(&self) -> &[Watchpoint] {
        &self.watchpoints
    }

    /// Add a breakpoint at linear address `lin` (false if there is one).
    pub fn add_breakpoint(&mut self, lin: u32, kind: BreakKind) -> bool {
        self.breakpoints.insert(lin, kind).is_none()
    }

    /// Add a breakpoint at physical address `pa` (false if there is one).
    pub fn add_phys_breakpoint(&mut self, pa: u64) -> bool {
        self.phys_breakpoints.insert(pa)
    }

    pub fn remove_phys_breakpoint(&mut self, pa: u64) -> bool {
        self.phys_breakpoints.remove(&pa)
    }

    pub fn phys_breakpoints(&self) -> impl Iterator<Item = u64> + '_ {
        self.phys_breakpoints.iter().copied()
    }

    pub fn remove_breakpoint(&mut self, lin: u32) -> bool {
        self.breakpoints.remove(&lin).is_some()
    }

    /// Add a watchpoint (false if `len` is 0 or more than `MAX_WATCH_LEN`).
    pub fn add_watchpoint(&mut self, addr: u32, len: u32, kind: WatchKind) -> bool {
        if len == 0 || len > MAX_WATCH_LEN {
            return false;
        }
        self.watchpoints.push(Watchpoint {
            addr,
            len,
            kind,
            old: None,
        });
        true
    }

    pub fn remove_watchpoint(&mut self, addr: u32, len: u32, kind: WatchKind) -> bool {
        match self
            .watchpoints
            .iter()
            .position(|w| w.addr == addr && w.len == len && w.kind == kind)
        {
            Some(i) => {
                self.watchpoints.remove(i);
                true
            }
            None => false,
        }
    }

    /// Must the guest run one instruction at a time (at position `pos`)? Breakpoints
    /// alone do not need it: the CPU stops at them, see `Cpu::debug_breaks`. A replay
    /// runs at full speed until it is close to its target.
    fn fine_grained(&self, pos: u64) -> bool {
        if !(self.attached && self.running) {
            return false;
        }
        let near = |to: u64| to.saturating_sub(pos) <= REPLAY_NEAR;
        match self.reverse {
            None => self.stepping || !self.watchpoints.is_empty(),
            Some(Reverse::Scan { to, cont, .. }) => {
                near(to) || (cont && !self.watchpoints.is_empty())
            }
            Some(Reverse::RunTo { to, .. }) => near(to),
        }
    }

    /// Does the CPU stop at the breakpoints in this state (else they are passed)?
    fn cpu_stops_at_breakpoints(&self) -> bool {
        matches!(self.reverse, None | Some(Reverse::Scan { cont: true, .. }))
    }

    /// Where the replay under way ends.
    fn replay_target(&self) -> Option<u64> {
        match self.reverse? {
            Reverse::Scan { to, .. } | Reverse::RunTo { to, .. } => Some(to),
        }
    }

    fn stop(&mut self, why: DebugStop) {
        self.running = false;
        self.stepping = false;
        self.reverse = None;
        let _ = self.stops.send(why);
    }
}

fn progress(m: &Machine) -> (u64, u64, u64) {
    let s = &m.cpu.stats;
    (s.instructions, s.exceptions, s.interrupts)
}

impl Machine {
    /// Read linear guest memory as a debugger does (through the page tables, without side
    /// effects). Returns the bytes read: fewer than asked where a page is not mapped.
    pub fn debug_read(&mut self, lin: u32, buf: &mut [u8]) -> usize {
        mem::read_linear(&self.cpu.s, &mut self.board, lin, buf)
    }

    /// Write linear guest memory as a debugger does (ignoring page protection; decoded
    /// code there is dropped). Returns the bytes written.
    pub fn debug_write(&mut self, lin: u32, data: &[u8]) -> usize {
        self.debug_diverge();
        mem::write_linear(&self.cpu.s, &mut self.board, lin, data)
    }

    /// The page walk of a linear address, without side effects.
    pub fn debug_walk(&mut self, lin: u32) -> mem::Walk {
        mem::walk(&self.cpu.s, &mut self.board, lin)
    }

    /// Load segment register `seg` with `selector` for a debugger: in real and
    /// virtual-8086 mode base = selector * 16; in protected mode the descriptor comes
    /// from the GDT or LDT, unchecked (a null selector leaves a data segment unusable).
    /// False when the descriptor cannot be read.
    pub fn debug_load_segment(&mut self, seg: Seg, selector: u16) -> bool {
        let s = &self.cpu.s;
        let cur = *s.seg(seg);
        if cur.selector == selector {
            return true;
        }
        let new = if !s.protected_mode() || s.v86() {
            Segment {
                selector,
                base: (selector as u32) << 4,
                ..cur
            }
        } else if selector & !3 == 0 && seg != Seg::Cs {
            Segment {
                selector,
                ..Segment::default()
            }
        } else {
            match mem::read_descriptor(s, &mut self.board, selector) {
                Some(d) => mem::descriptor_to_segment(selector, d),
                None => return false,
            }
        };
        self.cpu.s.segs[seg as usize] = new;
        if seg == Seg::Cs && self.cpu.s.protected_mode() && !self.cpu.s.v86() {
            self.cpu.s.cpl = (selector & 3) as u8;
        }
        true
    }

    /// Take the debugger's commands; while the guest is stopped for it, sleep until a
    /// command or host input arrives. Returns the end of the run (kill, or the user quit).
    pub(crate) fn debug_poll(&mut self) -> Option<RunEnd> {
        self.debug.as_ref()?;
        loop {
            loop {
                let d = self.debug.as_ref()?;
                match d.cmds.try_recv() {
                    Ok(cmd) => {
                        if let Some(end) = self.debug_command(cmd) {
                            return Some(end);
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        // The front end is gone: run on without a debugger.
                        self.debug = None;
                        self.board.stop_after_interrupt = false;
                        return None;
                    }
                }
            }
            if self.debug.as_ref()?.running {
                return None;
            }
            if let Some(end) = self.poll_input(None) {
                return Some(end);
            }
            self.display_before_wait(None);
            self.debug_sleep();
        }
    }

    /// Sleep until a debugger command or host input is waiting.
    fn debug_sleep(&self) {
        let Some(d) = &self.debug else {
            return;
        };
        let mut sel = Select::new();
        sel.recv(&d.cmds);
        if let Some(rx) = &self.input {
            sel.recv(rx);
        }
        sel.ready();
    }

    fn debug_command(&mut self, cmd: DebugCmd) -> Option<RunEnd> {
        let now = progress(self);
        let d = self.debug.as_mut()?;
        match cmd {
            DebugCmd::Attach => {
                d.attached = true;
                d.stop(DebugStop::Attached);
                self.take_checkpoint();
            }
            DebugCmd::Interrupt => {
                if d.attached && d.running {
                    d.stop(DebugStop::Interrupted);
                }
            }
            DebugCmd::Continue | DebugCmd::Step if d.attached => {
                d.running = true;
                d.stepping = matches!(cmd, DebugCmd::Step);
                d.step_mark = now;
                // Resuming at a breakpoint runs its instruction.
                let lin = self.cpu.s.seg(Seg::Cs).base.wrapping_add(self.cpu.s.eip);
                self.cpu.debug_break_skip = Some(lin);
                if !d.stepping && !self.replaying() {
                    self.take_checkpoint();
                }
                self.debug_refresh_watch();
            }
            DebugCmd::ReverseStep | DebugCmd::ReverseContinue if d.attached => {
                let cont = matches!(cmd, DebugCmd::ReverseContinue);
                self.reverse_from(position(self), cont);
            }
            DebugCmd::ReverseStep | DebugCmd::ReverseContinue => {}
            DebugCmd::Continue | DebugCmd::Step => {}
            DebugCmd::Detach => {
                d.attached = false;
                d.running = true;
                d.stepping = false;
                d.breakpoints.clear();
                d.phys_breakpoints.clear();
                d.watchpoints.clear();
                d.reverse = None;
                self.forget_history();
            }
            DebugCmd::Kill => {
                d.attached = false;
                return Some(RunEnd::Quit);
            }
            DebugCmd::Exec(f) => f(self),
        }
        None
    }

    /// Record the watched bytes as they are now.
    fn debug_refresh_watch(&mut self) {
        let Some(d) = &mut self.debug else {
            return;
        };
        let mut watch = std::mem::take(&mut d.watchpoints);
        for w in &mut watch {
            w.old = self.read_watched(w.addr, w.len);
        }
        if let Some(d) = &mut self.debug {
            d.watchpoints = watch;
        }
    }

    fn read_watched(&mut self, addr: u32, len: u32) -> Option<Vec<u8>> {
        let mut buf = vec![0; len as usize];
        (self.debug_read(addr, &mut buf) == buf.len()).then_some(buf)
    }

    /// The budget of the coming slice: one instruction while the debugger must see each
    /// (stepping, watchpoints, the end of a replay), with the instruction's accesses
    /// predicted for the watchpoints; otherwise the CPU runs at full speed and stops at
    /// breakpoints itself (`Cpu::debug_breaks`).
    pub(crate) fn debug_budget(&mut self, budget: u64) -> u64 {
        let pos = position(self);
        let mark = progress(self);
        let Some(d) = &mut self.debug else {
            return budget;
        };
        let fine = d.fine_grained(pos);
        d.fine_slice = fine;
        self.board.stop_after_interrupt = fine;
        let armed = d.attached && d.running && !fine && d.cpu_stops_at_breakpoints();
        let want = armed.then_some(&d.breakpoints);
        let want = want.into_iter().flat_map(|b| b.keys().copied());
        if !want.clone().eq(self.cpu.debug_breaks.iter().copied()) {
            self.cpu.debug_breaks = want.collect();
        }
        let want = armed.then_some(&d.phys_breakpoints).into_iter().flatten();
        if !want
            .clone()
            .copied()
            .eq(self.cpu.debug_phys_breaks.iter().copied())
        {
            self.cpu.debug_phys_breaks = want.copied().collect();
        }
        if !fine {
            // A replay stops short of its target at full speed, then goes one by one.
            return match d.replay_target() {
                Some(to) => budget.min((to.saturating_sub(pos) / 2).max(1)),
                None => budget,
            };
        }
        let reads = !d.watchpoints.is_empty();
        let predicted = if reads {
            predict::next_accesses(&self.cpu.s, &mut self.board)
        } else {
            Vec::new()
        };
        if let Some(d) = &mut self.debug {
            d.slice_mark = mark;
            d.predicted = predicted;
        }
        budget.min(1)
    }

    /// After a slice: report a watchpoint hit, the end of a step, or a breakpoint at the
    /// next instruction; or take the next step of a reverse command.
    pub(crate) fn debug_check(&mut self) {
        let pos = position(self);
        if let Some(addr) = self.cpu.debug_break_hit.take() {
            // Execution goes on past this point unless the stop is reported.
            self.cpu.debug_break_skip = Some(addr);
            let Some(Hit::Breakpoint { kind, .. }) = self.breakpoint_here() else {
                return;
            };
            let Some(d) = &mut self.debug else {
                return;
            };
            match &mut d.reverse {
                None => {
                    d.stop(DebugStop::Breakpoint { addr, kind });
                    return;
                }
                Some(r) => {
                    if let Reverse::Scan { to, found, .. } = r {
                        if pos < *to {
                            *found = Some((pos, Hit::Breakpoint { addr, kind }));
                        }
                    }
                    self.cpu.debug_break_skip = Some(addr);
                }
            }
        }
        let Some(d) = &self.debug else {
            return;
        };
        let fine = d.fine_slice && d.attached;
        let (hit, bp) = if fine {
            (self.watch_hit(), self.breakpoint_here())
        } else {
            (None, None)
        };
        let now = progress(self);
        let Some(d) = &mut self.debug else {
            return;
        };
        match d.reverse {
            None if fine => {
                if let Some(h) = hit {
                    d.stop(h.stop());
                } else if d.stepping && now != d.step_mark {
                    d.stop(DebugStop::Step);
                } else if let Some(h) = bp {
                    d.stop(h.stop());
                }
            }
            None => {}
            Some(Reverse::Scan {
                from,
                to,
                cont,
                ref mut found,
            }) => {
                if pos < to {
                    let h = if cont { hit.or(bp) } else { Some(Hit::Step) };
                    if let Some(h) = h.filter(|_| fine) {
                        *found = Some((pos, h));
                    }
                } else {
                    let found = *found;
                    self.finish_scan(from, cont, found);
                }
            }
            Some(Reverse::RunTo { to, why }) if pos >= to => {
                if pos > to {
                    eprintln!("ox86: replay passed its target (position {pos} > {to})");
                }
                d.stop(why.stop());
            }
            Some(Reverse::RunTo { .. }) => {}
        }
    }

    /// The first watchpoint the last instruction hit: it touched the watched bytes (by its
    /// decoding) or they changed.
    fn watch_hit(&mut self) -> Option<Hit> {
        let now = progress(self);
        let d = self.debug.as_mut()?;
        // The predicted accesses happened if the instruction completed and no interrupt
        // came first.
        let retired = now.0 != d.slice_mark.0 && now.2 == d.slice_mark.2;
        let predicted = std::mem::take(&mut d.predicted);
        let mut watch = std::mem::take(&mut d.watchpoints);
        let mut hit = None;
        for w in &mut watch {
            let (reads, writes) = match w.kind {
                WatchKind::Write => (false, true),
                WatchKind::Read => (true, false),
                WatchKind::Access => (true, true),
            };
            let touched = retired
                && predicted
                    .iter()
                    .any(|a| w.overlaps(a) && ((reads && a.read) || (writes && a.write)));
            let mut changed = false;
            if writes {
                let cur = self.read_watched(w.addr, w.len);
                changed = cur != w.old;
                w.old = cur;
            }
            if (touched || changed) && hit.is_none() {
                hit = Some(Hit::Watch {
                    addr: w.addr,
                    kind: w.kind,
                });
            }
        }
        self.debug.as_mut()?.watchpoints = watch;
        hit
    }

    /// The breakpoint at the next instruction, if any.
    fn breakpoint_here(&mut self) -> Option<Hit> {
        let lin = self.cpu.s.seg(Seg::Cs).base.wrapping_add(self.cpu.s.eip);
        let d = self.debug.as_ref()?;
        if let Some(&kind) = d.breakpoints.get(&lin) {
            return Some(Hit::Breakpoint { addr: lin, kind });
        }
        if d.phys_breakpoints.is_empty() {
            return None;
        }
        let pa = mem::translate(&self.cpu.s, &mut self.board, lin)?;
        let d = self.debug.as_ref()?;
        d.phys_breakpoints.contains(&pa).then_some(Hit::Breakpoint {
            addr: lin,
            kind: BreakKind::Hardware,
        })
    }

    /// Start a reverse command at position `to`: replay from the last checkpoint before.
    fn reverse_from(&mut self, to: u64, cont: bool) {
        let Some(d) = &mut self.debug else {
            return;
        };
        match d.history.before(to) {
            Some(i) => self.scan_from(i, to, cont),
            None => d.stop(DebugStop::HistoryStart),
        }
    }

    fn scan_from(&mut self, from: usize, to: u64, cont: bool) {
        self.restore_checkpoint(from);
        let here = position(self);
        let found = if cont {
            self.breakpoint_here().map(|h| (here, h))
        } else {
            Some((here, Hit::Step))
        };
        if let Some(d) = &mut self.debug {
            d.running = true;
            d.stepping = false;
            d.reverse = Some(Reverse::Scan {
                from,
                to,
                cont,
                found,
            });
        }
        self.debug_refresh_watch();
    }

    /// A scan reached its end: replay to what it found, or scan the stretch before.
    fn finish_scan(&mut self, from: usize, cont: bool, found: Option<(u64, Hit)>) {
        match found {
            Some((to, why)) => {
                self.restore_checkpoint(from);
                self.replay_to(to, why);
            }
            None if from > 0 => {
                let to = self.debug.as_ref().unwrap().history.checkpoints[from].at.0;
                self.scan_from(from - 1, to, cont);
            }
            None => {
                self.restore_checkpoint(0);
                self.replay_to(0, Hit::HistoryStart);
            }
        }
    }

    fn replay_to(&mut self, to: u64, why: Hit) {
        let here = position(self);
        let Some(d) = &mut self.debug else {
            return;
        };
        if here >= to {
            d.stop(why.stop());
            return;
        }
        d.running = true;
        d.reverse = Some(Reverse::RunTo { to, why });
        self.debug_refresh_watch();
    }

    /// Is a reverse command replaying?
    pub(crate) fn reversing(&self) -> bool {
        self.debug.as_ref().is_some_and(|d| d.reverse.is_some())
    }

    /// Is the guest stopped for the debugger (no time passes)?
    pub(crate) fn debug_stopped(&self) -> bool {
        self.debug.as_ref().is_some_and(|d| !d.running)
    }

    /// The guest halted for good. With a debugger the machine stays up (as QEMU does with
    /// its gdb stub): sleep until a command or host input, then go round again. False
    /// without a debugger: the run ends.
    pub(crate) fn debug_hold_halt(&mut self) -> bool {
        if self.debug.is_none() {
            return false;
        }
        self.debug_sleep();
        true
    }

    /// The run is ending: tell a client that has the guest running, and give it a moment
    /// to pass that on.
    pub(crate) fn debug_finish(&mut self, end: RunEnd) {
        let Some(d) = &mut self.debug else {
            return;
        };
        if !(d.attached && d.running) {
            return;
        }
        d.attached = false;
        d.running = false;
        let (ack, done) = crossbeam_channel::bounded(1);
        if d.stops.send(DebugStop::Exited { end, ack }).is_ok() {
            let _ = done.recv_timeout(Duration::from_secs(2));
        }
    }
}
