//! Reverse execution: while a debugger is attached, checkpoints of the whole machine are
//! taken now and then, and the serial input the guest received is logged with the point
//! at which it arrived. Going back means restoring the last checkpoint before the target
//! and replaying forward on the deterministic clock, one instruction per slice, to it.
//!
//! A point in the run is its *position* (instructions retired + exceptions and interrupts
//! delivered: every debugger step advances it) and the virtual clock, which also moves
//! while the CPU idles in HLT. The furthest point reached live is the *frontier*; behind it
//! the machine replays: input comes from the log, host input waits, and guest output that
//! was already shown is not shown again (see `board::Output`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ox86_core::cpu::CpuCheckpoint;
use ox86_core::mem::PAGE_SIZE;

use crate::board::BoardState;
use crate::machine::Machine;

/// A point in the run: (position, virtual clock).
pub(crate) type Point = (u64, u64);

/// A byte of host input as the guest received it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Input {
    /// Into COM1's receiver.
    Serial(u8),
    /// Into the keyboard controller's output buffer (as translated then).
    Key(u8),
}

/// Most checkpoints kept; beyond it every other old one is dropped (history stays as long,
/// with coarser steps).
const MAX_CHECKPOINTS: usize = 48;
/// Most host memory the checkpoints' RAM pages may take; beyond it old checkpoints are
/// dropped as for `MAX_CHECKPOINTS` (the newest is always kept).
const MAX_BYTES: usize = 1 << 30;
/// Fewest instructions between two periodic checkpoints.
const MIN_INTERVAL: u64 = 1 << 20;
/// A periodic checkpoint may take at most 1/N of the run's time.
const COST_SHARE: u32 = 10;

type Page = Arc<[u8]>;

pub(crate) struct Checkpoint {
    pub(crate) at: Point,
    cpu: CpuCheckpoint,
    /// RAM by page; pages equal to the previous checkpoint's are shared with it.
    ram: Vec<Page>,
    readonly: Vec<bool>,
    a20: bool,
    board: BoardState,
    /// How much of the input log had been delivered.
    inputs: usize,
}

/// The recorded history of a debugging session.
pub(crate) struct History {
    pub(crate) checkpoints: Vec<Checkpoint>,
    /// Input the guest received, and when.
    inputs: Vec<(Point, Input)>,
    /// The next logged input to deliver while replaying.
    next_input: usize,
    frontier: Point,
    zero: Page,
    /// When the last checkpoint was taken and how long it took.
    last: Option<(Instant, Duration)>,
    /// Host memory the checkpoints' pages take, at most (see `thin`).
    est_bytes: usize,
}

impl History {
    pub(crate) fn new() -> Self {
        History {
            checkpoints: Vec::new(),
            inputs: Vec::new(),
            next_input: 0,
            frontier: (0, 0),
            zero: vec![0; PAGE_SIZE].into(),
            last: None,
            est_bytes: 0,
        }
    }

    /// The last checkpoint strictly before position `pos`.
    pub(crate) fn before(&self, pos: u64) -> Option<usize> {
        self.checkpoints.iter().rposition(|c| c.at.0 < pos)
    }

    /// Host memory held by the checkpoints' distinct RAM pages.
    fn bytes(&self) -> usize {
        let mut seen = std::collections::HashSet::new();
        for c in &self.checkpoints {
            for p in &c.ram {
                seen.insert(Arc::as_ptr(p) as *const u8 as usize);
            }
        }
        seen.len() * PAGE_SIZE
    }

    /// Keep to `MAX_CHECKPOINTS` and `MAX_BYTES` (counted exactly only when the running
    /// estimate says the budget may be exceeded).
    fn thin(&mut self, fresh_bytes: usize) {
        self.est_bytes += fresh_bytes;
        if self.est_bytes > MAX_BYTES {
            self.est_bytes = self.bytes();
            while self.checkpoints.len() > 2 && self.est_bytes > MAX_BYTES {
                self.drop_every_other(self.checkpoints.len());
                self.est_bytes = self.bytes();
            }
        }
        if self.checkpoints.len() > MAX_CHECKPOINTS {
            // The newer half keeps its spacing.
            self.drop_every_other(self.checkpoints.len() / 2);
        }
    }

    /// Drop every other checkpoint among the first `upto` (never the first or the last).
    fn drop_every_other(&mut self, upto: usize) {
        let len = self.checkpoints.len();
        let mut i = 0;
        self.checkpoints.retain(|_| {
            i += 1;
            i == 1 || i == len || i > upto.max(2) || i % 2 == 1
        });
    }
}

/// The position of a machine: every debugger step advances it by at least one.
pub(crate) fn position(m: &Machine) -> u64 {
    let s = &m.cpu.stats;
    s.instructions + s.exceptions + s.interrupts
}

pub(crate) fn point(m: &Machine) -> Point {
    (position(m), m.cpu.clock())
}

impl Machine {
    /// History is recorded while a debugger is attached.
    pub(crate) fn recording(&self) -> bool {
        self.debug.as_ref().is_some_and(|d| d.attached())
    }

    fn history(&mut self) -> Option<&mut History> {
        self.debug.as_mut().map(|d| &mut d.history)
    }

    /// Is the machine replaying (behind the furthest point reached live)?
    pub(crate) fn replaying(&self) -> bool {
        self.recording()
            && self
                .debug
                .as_ref()
                .is_some_and(|d| point(self) < d.history.frontier)
    }

    /// At a slice boundary: move the frontier, and take a periodic checkpoint when enough
    /// has run since the last (and taking it costs little of the run's time).
    pub(crate) fn history_tick(&mut self) {
        if !self.recording() || self.replaying() || self.reversing() {
            return;
        }
        let now = point(self);
        let h = &mut self.debug.as_mut().unwrap().history;
        h.frontier = now;
        let due = match (h.checkpoints.last(), h.last) {
            (Some(c), Some((t, cost))) => {
                now.0 - c.at.0 >= MIN_INTERVAL && t.elapsed() >= cost * COST_SHARE
            }
            _ => true,
        };
        if due {
            self.take_checkpoint();
        }
    }

    /// Take a checkpoint here unless the newest one is here already.
    pub(crate) fn take_checkpoint(&mut self) {
        let at = point(self);
        let t0 = Instant::now();
        let Some(d) = &self.debug else {
            return;
        };
        let h = &d.history;
        if h.checkpoints.last().is_some_and(|c| c.at >= at) {
            return;
        }
        let prev = h.checkpoints.last().map(|c| &c.ram);
        let ram = self.board.mem.ram();
        let mut fresh = 0;
        let pages = ram
            .chunks(PAGE_SIZE)
            .enumerate()
            .map(|(i, page)| match prev.and_then(|p| p.get(i)) {
                Some(old) if **old == *page => old.clone(),
                _ if page.iter().all(|&b| b == 0) => h.zero.clone(),
                _ => {
                    fresh += PAGE_SIZE;
                    Page::from(page)
                }
            })
            .collect();
        let c = Checkpoint {
            at,
            cpu: self.cpu.checkpoint(),
            ram: pages,
            readonly: self.board.mem.readonly_pages().to_vec(),
            a20: self.board.mem.a20_mask() == !0,
            board: self.board.save_state(),
            inputs: h.inputs.len(),
        };
        let h = self.history().unwrap();
        h.frontier = h.frontier.max(at);
        h.checkpoints.push(c);
        h.thin(fresh);
        h.last = Some((Instant::now(), t0.elapsed()));
    }

    /// Go back to checkpoint `i`.
    pub(crate) fn restore_checkpoint(&mut self, i: usize) {
        let Some(d) = &mut self.debug else {
            return;
        };
        let h = &mut d.history;
        let c = &h.checkpoints[i];
        h.next_input = c.inputs;
        let ram = self.board.mem.ram_mut();
        for (dst, page) in ram.chunks_mut(PAGE_SIZE).zip(&c.ram) {
            dst.copy_from_slice(page);
        }
        self.board.mem.set_readonly_pages(&c.readonly);
        self.board.mem.set_a20(c.a20);
        self.board.restore_state(&c.board);
        self.cpu.restore(&c.cpu);
        self.interp.flush(&mut self.board);
    }

    /// A debugger changed the machine: the recorded future no longer happens. History
    /// ends here (later checkpoints and input are dropped; output counts as new).
    pub fn debug_diverge(&mut self) {
        if !self.replaying() {
            return;
        }
        let now = point(self);
        let Some(d) = &mut self.debug else {
            return;
        };
        let h = &mut d.history;
        h.frontier = now;
        h.checkpoints.retain(|c| c.at <= now);
        h.inputs.truncate(h.next_input);
        self.board.forget_output_history();
    }

    /// Input while replaying: the logged bytes due at this point.
    pub(crate) fn replay_input(&mut self) {
        let now = point(self);
        loop {
            let Some(h) = self.history() else {
                return;
            };
            let Some(&(at, input)) = h.inputs.get(h.next_input) else {
                return;
            };
            if at > now {
                return;
            }
            h.next_input += 1;
            match input {
                Input::Serial(b) => {
                    self.board.serial_input(b);
                }
                Input::Key(b) => self.board.key_input(b),
            }
        }
    }

    /// Log input delivered live.
    pub(crate) fn log_input(&mut self, b: Input) {
        if !self.recording() {
            return;
        }
        let now = point(self);
        let h = self.history().unwrap();
        h.inputs.push((now, b));
        h.next_input = h.inputs.len();
    }

    /// Drop the history (the debugger left).
    pub(crate) fn forget_history(&mut self) {
        if let Some(h) = self.history() {
            *h = History::new();
        }
    }
}
