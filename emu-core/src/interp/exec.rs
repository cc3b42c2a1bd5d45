//! The interpreter's run loop: look up (or decode) the block at CS:EIP, run its handlers,
//! deliver faults precisely, take interrupts and single-step traps at boundaries.

use crate::cpu::exception::{Exception, Result};
use crate::cpu::flags;
use crate::cpu::interrupt::Source;
use crate::cpu::state::Seg;
use crate::cpu::{Cpu, Exit};
use crate::decode::block::decode_block_after;
use crate::decode::cache::block_key;
use crate::decode::{Block, BlockCache};
use crate::Bus;
use std::num::NonZeroU32;

/// What an accelerator made of a block.
pub enum Translation {
    /// Host code, run through `execute` with this handle.
    Code(NonZeroU32),
    /// This block stays interpreted.
    Unsupported,
    /// The code cache is full: flush everything and translate again later.
    Full,
}

/// A translator that runs hot blocks as host code (the JIT). The interpreter stays in
/// charge of everything else: lookups, interrupts, single-stepping, invalidation.
pub trait Accelerator<B> {
    /// Translate `block`, which is about to run on `cpu` (whose state may guide the
    /// translation, never its correctness).
    fn translate(&mut self, block: &Block<B>, cpu: &Cpu) -> Translation;
    /// Run translated `block`: all its instructions, or up to one that faults or ends
    /// the block, and then translated blocks chained after it while `cpu.chain_end`
    /// allows and no interrupt is waiting (as the dispatcher's own loop would run them).
    /// Completed instructions are added to `cpu.stats.instructions`; returns the fault,
    /// if any (EIP then at the faulting instruction, state as before it).
    fn execute(
        &mut self,
        code: NonZeroU32,
        cpu: &mut Cpu,
        bus: &mut B,
        block: &Block<B>,
    ) -> Option<Exception>;
    /// Drop all host code (the block cache is being flushed).
    fn reset(&mut self);
    /// Blocks left the block cache: chain no more into any block not run again through
    /// `execute`.
    fn unchain(&mut self) {}
    /// Named counters for `--stats`.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

pub struct Interpreter<B> {
    pub cache: BlockCache<B>,
    /// The JIT, when one is in use.
    pub accel: Option<Box<dyn Accelerator<B> + Send>>,
    /// Interpreted runs of a block before it is translated.
    pub threshold: u32,
    /// The last block run, if it stored into code: where it began (`Resume`).
    resume: Option<Resume>,
}

/// A block that stored into code (perhaps its own): after the store drops it, the rest
/// of it can run from the same block decoded again, instead of from a new block that
/// begins after the store and is dropped as often (`Interpreter::run_rest`).
#[derive(Clone, Copy)]
struct Resume {
    key: u64,
    /// CS base and EIP of its first instruction.
    cs_base: u32,
    eip: u32,
    size: u32,
}

impl<B: Bus> Default for Interpreter<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: Bus> Interpreter<B> {
    pub fn new() -> Self {
        Interpreter {
            cache: BlockCache::new(),
            accel: None,
            threshold: 50,
            resume: None,
        }
    }

    /// Drop all decoded code (after a reset or a bulk load into RAM).
    pub fn flush(&mut self, bus: &mut B) {
        self.cache.clear();
        bus.mem().reset_code_tracking();
        if let Some(a) = &mut self.accel {
            a.reset();
        }
    }

    /// Run until `budget` nanoseconds of virtual time have passed: at most `budget`
    /// instructions, fewer where PAUSE takes longer (`PAUSE_NS`).
    pub fn run(&mut self, cpu: &mut Cpu, bus: &mut B, budget: u64) -> Exit {
        let deadline = cpu.clock().saturating_add(budget);
        // The retired count at which the clock reaches the deadline, as PAUSE moves it.
        let end = |cpu: &Cpu| deadline.saturating_sub(cpu.stats.idle);
        let exc0 = cpu.stats.exceptions;
        loop {
            if cpu.shutdown {
                return Exit::TripleFault;
            }
            if cpu.debug_break_hit.is_some() {
                return Exit::Breakpoint;
            }
            if bus.stop_requested() {
                return Exit::Stopped;
            }
            // Exception deliveries count too: a handler that faults at once must not spin.
            if cpu.stats.instructions + cpu.stats.exceptions - exc0 >= end(cpu) {
                return Exit::InstructionLimit;
            }
            let shadow = cpu.irq_inhibit;
            if cpu.irq_inhibit {
                cpu.irq_inhibit = false;
            } else if cpu.s.flags.bits & flags::IF != 0 && bus.interrupt_pending() {
                if let Some(v) = bus.acknowledge_interrupt() {
                    cpu.deliver_external(bus, v);
                    continue;
                }
            }
            if cpu.s.halted {
                return Exit::Halted;
            }
            self.sync(cpu, bus);
            cpu.end_block = false;
            if shadow && cpu.s.flags.bits & flags::IF != 0 && bus.interrupt_pending() {
                // The instruction after STI (or MOV SS) runs alone; the interrupt that
                // waits is taken right after it.
                if let Err(e) = self.step_block(cpu, bus, 1, false) {
                    cpu.deliver_exception(bus, e);
                }
                continue;
            }
            if cpu.s.flags.bits & flags::TF != 0 || cpu.breakpoints_armed() {
                if let Err(e) = self.step_block(cpu, bus, 1, true) {
                    cpu.deliver_exception(bus, e);
                }
                continue;
            }
            // Chain blocks until one of them asks for the checks above (mode change,
            // exception, store into code, HLT, I/O...) or an interrupt is waiting.
            // Translated blocks chain among themselves under the same conditions.
            let chain = !cpu.debug_breaks_armed();
            loop {
                let limit = end(cpu);
                let Some(max) = limit.checked_sub(cpu.stats.instructions).filter(|&m| m > 0) else {
                    break;
                };
                cpu.chain_end = if chain { limit } else { 0 };
                let r = self.step_block(cpu, bus, max, false);
                cpu.chain_end = 0;
                if let Err(e) = r {
                    cpu.deliver_exception(bus, e);
                    break;
                }
                if cpu.end_block
                    || cpu.debug_break_hit.is_some()
                    || cpu.stats.instructions >= end(cpu)
                    || (cpu.s.flags.bits & flags::IF != 0 && bus.interrupt_pending())
                {
                    break;
                }
            }
        }
    }

    /// Apply stores that hit decoded code, and keep the TLB's writable entries coherent.
    #[inline]
    fn sync(&mut self, cpu: &mut Cpu, bus: &mut B) {
        if cpu.code_dirty || bus.mem().has_invalidated() {
            cpu.code_dirty = false;
            let mut dropped = 0;
            for page in bus.mem().take_invalidated() {
                dropped += self.cache.invalidate_page(page) as u64;
            }
            cpu.stats.blocks_invalidated += dropped;
            if dropped != 0 {
                if let Some(a) = &mut self.accel {
                    a.unchain();
                }
            }
        }
        cpu.sync_tlb(bus);
    }

    /// Find or decode the block at CS:EIP and run it.
    fn step_block(&mut self, cpu: &mut Cpu, bus: &mut B, mut max: u64, step: bool) -> Result<()> {
        // Only for the lookup right after the block that stored into code.
        let resume = self.resume.take();
        let cs = cpu.s.segs[Seg::Cs as usize];
        let eip = cpu.s.eip;
        if eip > cs.limit {
            return Err(Exception::gp0());
        }
        let lin = cs.base.wrapping_add(eip);
        let user = cpu.s.cpl == 3;
        let phys = match cpu.tlb.read_hit(user, lin) {
            Some(p) => p as u64,
            // Filled as for a data read, so the next fetch here (and host code chaining
            // here) hits.
            None => cpu.translate_fill(bus, lin, false, user)?,
        };
        let key = block_key(phys, &cs, cpu.is_286());
        let found = self.cache.find(key);
        // A page-crossing block holds only while its second page is mapped where it was.
        let found = found.filter(|&i| match self.cache.block(i).next_page {
            None => true,
            Some(next) => {
                let lin2 = (lin & !0xfff).wrapping_add(0x1000);
                // Filled as the first page is, for host code's check on entry.
                let now = match cpu.tlb.read_hit(user, lin2) {
                    Some(p) => Some(p as u64),
                    None => cpu.translate_fill(bus, lin2, false, user).ok(),
                };
                now.map(|p| p & !0xfff) == Some(next)
            }
        });
        let index = match found {
            Some(i) => {
                cpu.stats.block_hits += 1;
                i
            }
            None => {
                if let Some(r) = resume {
                    if !step && self.run_rest(cpu, bus, r, max) {
                        return Ok(());
                    }
                }
                let prior = self.cache.take_stale(key);
                let b = decode_block_after(cpu, bus, prior.as_ref().map(|p| (p, &self.cache)))?;
                cpu.stats.blocks_decoded += 1;
                if !(b.cacheable && b.phys == phys) {
                    if cpu.debug_breaks_armed() {
                        max = match Self::break_limit(cpu, lin, phys, &b, max) {
                            Some(m) => m,
                            None => return Ok(()),
                        };
                    }
                    Self::run_block(cpu, bus, &b, max, step, None, 0);
                    return Ok(());
                }
                self.insert(cpu, bus, key, b)
            }
        };
        if cpu.debug_breaks_armed() {
            max = match Self::break_limit(cpu, lin, phys, self.cache.block(index), max) {
                Some(m) => m,
                None => return Ok(()),
            };
        }
        let accel = self.accel.as_mut();
        let full = Self::run_block(
            cpu,
            bus,
            self.cache.block(index),
            max,
            step,
            accel,
            self.threshold,
        );
        if full {
            self.flush(bus);
        }
        if cpu.code_dirty && !full {
            self.resume = Some(Resume {
                key,
                cs_base: lin.wrapping_sub(eip),
                eip,
                size: self.cache.block(index).size,
            });
        }
        Ok(())
    }

    /// Put decoded block `b` in the cache under `key`, its code tracked: its index.
    fn insert(&mut self, cpu: &mut Cpu, bus: &mut B, key: u64, b: Block<B>) -> u32 {
        for (start, len) in b.code_ranges() {
            if len != 0 {
                bus.mem().mark_code(start, len);
            }
        }
        cpu.sync_tlb(bus);
        let before = self.cache.len();
        let i = self.cache.insert(key, b);
        if self.cache.len() == before {
            // It replaced a block: host code may no longer chain into that one.
            if let Some(a) = &mut self.accel {
                a.unchain();
            }
        }
        i
    }

    /// After block `r` stored into code and was dropped, EIP inside it: decode it again
    /// from its start and run it, interpreted, from the instruction at EIP (the rest of
    /// a loop that rewrites itself then needs no block of its own). False, with nothing
    /// run, when that does not apply: another CS, no instruction boundary at EIP, a
    /// fault decoding from the start (which would belong to another instruction).
    fn run_rest(&mut self, cpu: &mut Cpu, bus: &mut B, r: Resume, max: u64) -> bool {
        let eip = cpu.s.eip;
        let cs = &cpu.s.segs[Seg::Cs as usize];
        let off = eip.wrapping_sub(r.eip);
        if cs.base != r.cs_base || off == 0 || off >= r.size || cpu.debug_breaks_armed() {
            return false;
        }
        let prior = self.cache.take_stale(r.key);
        cpu.s.eip = r.eip;
        let decoded = decode_block_after(cpu, bus, prior.as_ref().map(|p| (p, &self.cache)));
        cpu.s.eip = eip;
        let Ok(b) = decoded else { return false };
        if !b.cacheable || b.key != r.key || b.next_page.is_some() {
            return false;
        }
        cpu.stats.blocks_decoded += 1;
        let mut at = 0u32;
        let k = b.insns.iter().position(|(_, d)| {
            let here = at == off;
            at += d.len as u32;
            here
        });
        let index = self.insert(cpu, bus, r.key, b);
        let Some(k) = k else { return false };
        let block = self.cache.block(index);
        let rest = &block.insns[k..];
        let n = rest.len().min(max as usize);
        // The clock an instruction sees (`Cpu::clock_at`) adds its position in the block
        // to the instructions retired, which here already count the `k` before it.
        cpu.stats.instructions = cpu.stats.instructions.wrapping_sub(k as u64);
        Self::exec_insns(cpu, bus, &rest[..n]);
        cpu.stats.instructions = cpu.stats.instructions.wrapping_add(k as u64);
        true
    }

    /// How much of a block at linear `lin` may run before a debugger breakpoint: `None`
    /// when its first instruction has one (execution stops there).
    fn break_limit(cpu: &mut Cpu, lin: u32, phys: u64, block: &Block<B>, max: u64) -> Option<u64> {
        let size = block.size;
        // Physical breakpoints are matched on the block's first page.
        let page_left = 4096 - (lin & 0xfff);
        let near = cpu.debug_breaks.iter().any(|&b| b.wrapping_sub(lin) < size)
            || cpu
                .debug_phys_breaks
                .iter()
                .any(|&b| b.wrapping_sub(phys) < size.min(page_left) as u64);
        if !near {
            cpu.debug_break_skip = None;
            return Some(max);
        }
        let mut a = lin;
        for (k, (_, d)) in block.insns.iter().enumerate().take(max as usize) {
            let off = a.wrapping_sub(lin);
            let at_break = cpu.debug_breaks.contains(&a)
                || (off < page_left && cpu.debug_phys_breaks.contains(&(phys + off as u64)));
            if at_break && !(k == 0 && cpu.debug_break_skip == Some(a)) {
                if k == 0 {
                    cpu.debug_break_hit = Some(a);
                    cpu.end_block = true;
                    return None;
                }
                cpu.debug_break_skip = None;
                return Some(k as u64);
            }
            a = a.wrapping_add(d.len as u32);
        }
        cpu.debug_break_skip = None;
        Some(max)
    }

    /// Run a block: single-stepped, as host code once hot, or interpreted. True when the
    /// accelerator's code cache is full.
    #[inline]
    fn run_block(
        cpu: &mut Cpu,
        bus: &mut B,
        block: &Block<B>,
        max: u64,
        step: bool,
        accel: Option<&mut Box<dyn Accelerator<B> + Send>>,
        threshold: u32,
    ) -> bool {
        if step {
            Self::single_step(cpu, bus, block);
            return false;
        }
        let fits = block.insns.len() as u64 <= max && Self::second_page_hits(cpu, block);
        let interpret = std::mem::take(&mut cpu.interpret_next);
        if let Some(acc) = accel.filter(|_| fits && !interpret) {
            let code = match block.code.get() {
                Some(c) => Some(c),
                None => {
                    let runs = block.runs.get() + 1;
                    block.runs.set(runs);
                    // Threshold 0 translates on the first run, as 1 does.
                    if runs != threshold.max(1) {
                        None
                    } else {
                        match acc.translate(block, cpu) {
                            Translation::Code(c) => {
                                block.code.set(Some(c));
                                Some(c)
                            }
                            Translation::Unsupported => None,
                            Translation::Full => return true,
                        }
                    }
                }
            };
            if let Some(c) = code {
                if let Some(e) = acc.execute(c, cpu, bus, block) {
                    cpu.deliver_exception(bus, e);
                }
                return false;
            }
        }
        Self::exec_block(cpu, bus, block, max);
        false
    }

    /// Whether the soft TLB maps a page-crossing block's second page where the block was
    /// decoded from (true for other blocks). Host code chains by the first page alone and
    /// checks this on entry, leaving at once when it fails: such a block runs translated
    /// only while it holds, so that it always makes progress.
    fn second_page_hits(cpu: &Cpu, block: &Block<B>) -> bool {
        let Some(next) = block.next_page else {
            return true;
        };
        let cs = &cpu.s.segs[Seg::Cs as usize];
        let lin = cs
            .base
            .wrapping_add(cpu.s.eip)
            .wrapping_add(0x1000 - (block.phys & 0xfff) as u32);
        cpu.tlb.read_hit(cpu.s.cpl == 3, lin) == Some(next as u32)
    }

    /// Run the block's instructions (at most `max`); a fault is delivered and ends it.
    #[inline]
    fn exec_block(cpu: &mut Cpu, bus: &mut B, block: &Block<B>, max: u64) -> bool {
        Self::exec_insns(
            cpu,
            bus,
            &block.insns[..block.insns.len().min(max as usize)],
        )
    }

    /// Run `insns` in order, EIP at the first; a fault is delivered and ends them, as
    /// does an instruction that ends the block. False after a fault.
    #[inline]
    fn exec_insns(
        cpu: &mut Cpu,
        bus: &mut B,
        insns: &[(crate::decode::Handler<B>, crate::decode::DecodedInsn)],
    ) -> bool {
        let mask = if cpu.s.code32() { u32::MAX } else { 0xffff };
        let mut done = 0;
        for (h, d) in insns {
            let start = cpu.s.eip;
            cpu.s.eip = start.wrapping_add(d.len as u32) & mask;
            if let Err(e) = h(cpu, bus, d) {
                cpu.s.eip = start;
                cpu.stats.instructions += done;
                cpu.deliver_exception(bus, e);
                return false;
            }
            done += 1;
            if cpu.end_block {
                break;
            }
        }
        cpu.stats.instructions += done;
        true
    }

    /// TF set: one instruction, then a single-step trap (#DB) unless it faulted.
    /// Debug stepping (TF set or DR7 breakpoints armed): one instruction, with the
    /// instruction-breakpoint check before it and the single-step / data-breakpoint trap
    /// after it.
    fn single_step(cpu: &mut Cpu, bus: &mut B, block: &Block<B>) {
        if let Some(hit) = cpu.instruction_breakpoint() {
            cpu.s.dr[6] = (cpu.s.dr[6] & !0xf) | hit;
            cpu.end_block = true;
            cpu.deliver_exception(bus, Exception::new(crate::Vector::DB));
            return;
        }
        let tf = cpu.s.flags.bits & flags::TF != 0;
        let before = cpu.stats.interrupts + cpu.stats.exceptions;
        cpu.db_hits = 0;
        // RF suppresses the breakpoint check for this one instruction; an IRET may set it
        // again for the next.
        cpu.s.flags.bits &= !flags::RF;
        let ok = Self::exec_block(cpu, bus, block, 1);
        if !ok {
            return;
        }
        let delivered = cpu.stats.interrupts + cpu.stats.exceptions != before;
        // MOV SS / POP SS hold the single-step trap off until after the next instruction.
        let step = tf && !delivered && !cpu.irq_inhibit;
        if (step || cpu.db_hits != 0) && !cpu.shutdown {
            cpu.s.dr[6] =
                (cpu.s.dr[6] & !0xf) | cpu.db_hits as u32 | if step { 1 << 14 } else { 0 };
            cpu.db_hits = 0;
            cpu.end_block = true;
            let eip = cpu.s.eip;
            if let Err(e) = cpu.deliver(bus, 1, Source::Exception, None, eip) {
                cpu.deliver_exception(bus, e);
            }
        }
    }
}
