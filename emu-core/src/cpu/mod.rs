//! The guest CPU: architectural state, soft TLB, and the non-instruction machinery
//! (exception delivery, segment loading, privilege checks).

pub mod debug;
pub mod exception;
pub mod flags;
pub mod interrupt;
pub mod protected;
pub mod stack;
pub mod state;
pub mod task;

use crate::mmu::tlb::Tlb;
use exception::Exception;
use state::CpuState;

/// Which CPU the model behaves as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum CpuModel {
    /// 80286 compatibility (for the 286 SingleStepTests): 286 instruction set only, FLAGS
    /// bits 12-15 read as zero in real mode, 10-byte instruction limit, no coprocessor.
    I286,
    /// Pentium Pro-class i686 (the default).
    #[default]
    P6,
}

/// Why `run` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The instruction budget is used up.
    InstructionLimit,
    /// HLT with nothing to wake the CPU (the board decides what happens next).
    Halted,
    /// The bus asked the CPU to stop (exit port, device request).
    Stopped,
    /// A fault while delivering a double fault: the CPU shuts down.
    TripleFault,
    /// At a debugger breakpoint (`Cpu::debug_break_hit`).
    Breakpoint,
}

/// Counters for `--stats`.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct RunStats {
    pub instructions: u64,
    pub blocks_decoded: u64,
    pub block_hits: u64,
    pub blocks_invalidated: u64,
    pub exceptions: u64,
    pub interrupts: u64,
    /// Virtual nanoseconds that passed without instructions retiring: skipped while
    /// halted (HLT waiting for a timer), and PAUSE's latency beyond its own nanosecond
    /// (`PAUSE_NS`).
    pub idle: u64,
}

/// Virtual nanoseconds a PAUSE takes: about its latency on recent cores (around 140
/// cycles), where a guest spins on it waiting for time to pass (Linux's `udelay`), so
/// that such a wait runs a loop per 140 ns and more rather than per 20 ns or so.
pub const PAUSE_NS: u64 = 140;

/// What `Cpu::checkpoint` keeps: the architectural state (x87 included) and the
/// counters that make up the virtual clock. Serializable, for snapshots.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CpuCheckpoint {
    s: CpuState,
    stats: RunStats,
    irq_inhibit: bool,
    shutdown: bool,
}

impl CpuCheckpoint {
    pub fn stats(&self) -> &RunStats {
        &self.stats
    }
}

pub struct Cpu {
    pub s: CpuState,
    pub model: CpuModel,
    pub(crate) tlb: Tlb,
    pub stats: RunStats,
    /// A store hit decoded code: the current block must end after this instruction.
    pub(crate) code_dirty: bool,
    /// Do not take interrupts before the next instruction (after STI, MOV SS, POP SS).
    pub(crate) irq_inhibit: bool,
    /// Set when the current instruction must end its block (mode change and the like).
    pub(crate) end_block: bool,
    /// A triple fault happened; the board resets or stops.
    pub(crate) shutdown: bool,
    /// Data breakpoints (DR0-DR3) hit by the current instruction.
    pub(crate) db_hits: u8,
    /// A debugger's breakpoints on linear addresses (apart from the guest's DR0-DR3): a
    /// block runs only up to the first of them, and execution stops there.
    pub debug_breaks: Vec<u32>,
    /// The same on physical addresses.
    pub debug_phys_breaks: Vec<u64>,
    /// The breakpoint execution resumes from: its instruction runs once.
    pub debug_break_skip: Option<u32>,
    /// The breakpoint execution stopped at.
    pub debug_break_hit: Option<u32>,
    /// For generated code: chained blocks may run while the retired-instruction count
    /// stays at or below this (0: every block returns to the dispatcher, as after an
    /// interrupt request the guest takes now).
    pub chain_end: u64,
    /// Set by generated code that left its block before an instruction it could not
    /// run there (a frame of accesses whose check failed): the next block
    /// runs interpreted, so that it makes progress and fills the soft TLB.
    pub interpret_next: bool,
    /// For generated code: what it would otherwise recompute at every access.
    pub jit: JitView,
}

/// Facts generated code reads instead of deriving them from the segment registers,
/// the privilege level and the TLB at every access. `Cpu::refresh_jit_view` sets them;
/// the JIT calls it on entering generated code and after every helper, the only places
/// inside a run where segments, CPL or the TLB's storage can change.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct JitView {
    /// Address of the soft-TLB set for the current privilege.
    pub tlb: usize,
    /// The mode bits of a block key at the current CS (`block_key` of address 0).
    pub key_mode: u64,
    /// Bit `Seg as u32` set for each segment an inline access may use as it is: present,
    /// writable, expand-up data with a 4 GiB limit and a page-aligned base, so that an
    /// access stays inside the limit exactly when its linear bytes stay inside a page.
    /// Bit `8 + Seg as u32` set when such a segment's base is also 0 (code translated
    /// for a zero base skips adding it). Bit `16 + Seg as u32` set for any present,
    /// writable, expand-up data segment, whatever its base and limit (inline code then
    /// checks the limit itself).
    pub flat: u32,
    /// The result of the last inline ROL/ROR whose flags generated code has not stored:
    /// they follow from it (`helpers::rotate_flags`) where a slow path needs them.
    pub rotated: u32,
}

impl Cpu {
    pub fn new(model: CpuModel) -> Self {
        Cpu {
            s: CpuState::reset(),
            model,
            tlb: Tlb::new(),
            stats: RunStats::default(),
            code_dirty: false,
            irq_inhibit: false,
            end_block: false,
            shutdown: false,
            db_hits: 0,
            debug_breaks: Vec::new(),
            debug_phys_breaks: Vec::new(),
            debug_break_skip: None,
            debug_break_hit: None,
            chain_end: 0,
            interpret_next: false,
            jit: JitView::default(),
        }
    }

    /// RESET: architectural state as at power-on; caches flushed.
    pub fn reset(&mut self) {
        self.s = CpuState::reset();
        self.tlb.flush_all();
        self.code_dirty = false;
        self.irq_inhibit = false;
        self.end_block = false;
        self.shutdown = false;
    }

    /// The architectural state and counters, for a debugger's checkpoint (caches are
    /// rebuilt on restore).
    pub fn checkpoint(&self) -> CpuCheckpoint {
        CpuCheckpoint {
            s: self.s.clone(),
            stats: self.stats,
            irq_inhibit: self.irq_inhibit,
            shutdown: self.shutdown,
        }
    }

    /// The soft TLB's valid entries, for a debugger: (user set, linear page, physical
    /// page, writable through the fast path, global).
    pub fn tlb_entries(&self) -> Vec<(bool, u32, u32, bool, bool)> {
        let mut out = Vec::new();
        for (user, set) in self.tlb.sets.iter().enumerate() {
            for e in set.iter() {
                if e.read_tag != crate::mmu::tlb::INVALID {
                    out.push((
                        user == 1,
                        e.read_tag,
                        e.read_tag.wrapping_add(e.addend),
                        e.write_tag == e.read_tag,
                        e.global,
                    ));
                }
            }
        }
        out
    }

    /// Return to a checkpoint: the TLB is dropped and the current block ends.
    pub fn restore(&mut self, c: &CpuCheckpoint) {
        self.s = c.s.clone();
        self.stats = c.stats;
        self.irq_inhibit = c.irq_inhibit;
        self.shutdown = c.shutdown;
        self.tlb.flush_all();
        self.code_dirty = false;
        self.end_block = true;
        self.db_hits = 0;
    }

    /// Bring `self.jit` up to date (see `JitView`).
    pub fn refresh_jit_view(&mut self) {
        let flat = self.jit_flat();
        let user = self.s.cpl == 3;
        self.jit = JitView {
            tlb: self.tlb.sets[user as usize].as_ptr() as usize,
            key_mode: crate::decode::cache::block_key(
                0,
                &self.s.segs[crate::cpu::state::Seg::Cs as usize],
                self.is_286(),
            ),
            flat,
            rotated: self.jit.rotated,
        };
    }

    /// `JitView::flat` for the segments as they are now.
    pub fn jit_flat(&self) -> u32 {
        use state::attr;
        let plain_mask = attr::PRESENT | attr::CODE | attr::DC | attr::RW;
        let mut flat = 0;
        for (i, seg) in self.s.segs.iter().enumerate() {
            let plain = seg.attr & plain_mask == attr::PRESENT | attr::RW;
            if plain {
                flat |= 1 << (16 + i);
            }
            if plain && seg.limit == u32::MAX && seg.base & 0xfff == 0 {
                flat |= 1 << i;
                if seg.base == 0 {
                    flat |= 1 << (8 + i);
                }
            }
        }
        flat
    }

    pub fn is_286(&self) -> bool {
        self.model == CpuModel::I286
    }

    /// EFLAGS as the guest reads it.
    pub fn eflags(&self) -> u32 {
        let f = self.s.flags.get();
        if self.is_286() && !self.s.protected_mode() {
            f & 0x0fff
        } else {
            f
        }
    }

    /// Drop every soft-TLB entry (CR3/CR0/CR4 writes, A20 changes, memory map changes).
    pub fn flush_tlb(&mut self) {
        self.tlb.flush_all();
    }

    /// The virtual clock in nanoseconds: one per retired instruction plus the time spent
    /// halted. It depends on nothing but the guest's execution, so runs are deterministic.
    pub fn clock(&self) -> u64 {
        self.stats.instructions + self.stats.idle
    }

    /// The clock as seen by instruction `d` of the running block (the retired count is
    /// only brought up to date at block ends).
    #[inline]
    pub fn clock_at(&self, d: &crate::decode::DecodedInsn) -> u64 {
        self.clock() + d.pos as u64
    }

    /// Time-stamp counter at instruction `d`: the virtual clock plus the guest's offset.
    pub fn tsc_at(&self, d: &crate::decode::DecodedInsn) -> u64 {
        self.clock_at(d).wrapping_add(self.s.tsc_offset)
    }

    /// Raise an exception from outside an instruction (the board, tests).
    pub fn raise<B: crate::Bus>(&mut self, bus: &mut B, e: Exception) {
        self.deliver_exception(bus, e);
    }

    /// Flat 32-bit protected mode without paging, as boot loaders hand over to kernels:
    /// CS = `code` and every data segment = `data`, each base 0 and limit 4 GiB, CPL 0,
    /// the GDT at `gdt` (the caller writes the matching descriptors), interrupts off,
    /// EIP = `entry`. General registers are left to the caller.
    pub fn enter_flat32(&mut self, gdt: state::DescTable, code: u16, data: u16, entry: u32) {
        use state::{attr, Seg, Segment};
        let s = &mut self.s;
        s.cr0 = state::CR0_ET | state::CR0_PE;
        s.gdtr = gdt;
        let flat = |selector, kind| Segment {
            selector,
            base: 0,
            limit: u32::MAX,
            attr: attr::PRESENT | attr::S | attr::ACCESSED | attr::RW | attr::DB | attr::G | kind,
        };
        for seg in Seg::ALL {
            s.segs[seg as usize] = flat(data, 0);
        }
        s.segs[Seg::Cs as usize] = flat(code, attr::CODE);
        s.cpl = 0;
        s.eip = entry;
        s.flags = flags::Flags::new(0);
        self.flush_tlb();
    }

    /// The instruction just run asked to end its block (mode change, I/O, store into
    /// code, HLT...): translated code must return to the run loop too.
    pub fn block_ending(&self) -> bool {
        self.end_block
    }

    pub fn is_shutdown(&self) -> bool {
        self.shutdown
    }
}
