//! No-panic property test: random machine code, run from random but well-formed CPU states
//! in real mode, 16- and 32-bit protected mode (ring 0 and ring 3), virtual-8086 mode and
//! with paging on, must always end in a guest-visible outcome (a state, a guest exception,
//! HLT or a triple fault) and never in a host panic or a runaway run.
//!
//! Everything is derived from a fixed seed, so a failure reproduces: set OX86_FUZZ_SEED to
//! try other seeds and OX86_FUZZ_PROGRAMS to change the number of programs per lane.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ox86_core::cpu::flags;
use ox86_core::cpu::state::{
    attr, CpuState, DescTable, Seg, Segment, CR0_AM, CR0_EM, CR0_MP, CR0_NE, CR0_PE, CR0_PG,
    CR0_TS, CR0_WP,
};
use ox86_core::interp::Interpreter;
use ox86_core::mmu::paging::{CR4_PGE, CR4_PSE};
use ox86_core::{Bus, Cpu, CpuModel, Exit, PhysMemory};

const RAM: u64 = 2 << 20;
/// Instructions (and exception deliveries) per program.
const BUDGET: u64 = 64;
/// Random code bytes placed at CS:EIP per program.
const CODE_BYTES: usize = 32;
/// Independent deterministic sequences of programs; spread over the available threads.
const LANES: usize = 4;
const DEFAULT_PROGRAMS_PER_LANE: usize = 25_000;
const DEFAULT_SEED: u64 = 0x0086_f00d_cafe_5eed;

// Fixed layout of the protected-mode structures (rebuilt before every program).
const GDT: u32 = 0x1000;
const GDT_ENTRIES: u32 = 18;
const LDT: u32 = 0x1200;
const LDT_ENTRIES: u32 = 8;
const TSS: u32 = 0x1400;
const TSS_IOMAP: u32 = 104;
const IDT: u32 = 0x4000;
const PAGE_DIR: u32 = 0x5000;
const PAGE_TABLE0: u32 = 0x6000;
/// Interrupt handlers and real-mode vectors point into this area (random bytes).
const HANDLERS: u32 = 0x8000;
const HANDLERS_END: u32 = 0x2_0000;
/// Code and stacks go above the tables.
const FREE: u32 = 0x2_0000;

// Selectors of the GDT built by `build_gdt`.
const SEL_CODE32: u16 = 0x08;
const SEL_DATA32: u16 = 0x10;
const SEL_CODE16: u16 = 0x18;
const SEL_CODE32_R3: u16 = 0x23;
const SEL_DATA32_R3: u16 = 0x2b;
const SEL_LDT: u16 = 0x30;
const SEL_TSS: u16 = 0x38;
const SEL_DATA16: u16 = 0x40;
const SEL_CONFORMING: u16 = 0x48;

/// xorshift64: deterministic, no crates.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so neighbouring seeds give unrelated streams (never 0).
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn u32(&mut self) -> u32 {
        (self.next() >> 32) as u32
    }
    /// Uniform-enough in 0..n.
    fn below(&mut self, n: u32) -> u32 {
        (((self.next() >> 32) * n as u64) >> 32) as u32
    }
    /// True with probability 1/n.
    fn one_in(&mut self, n: u32) -> bool {
        self.below(n) == 0
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0; N];
        self.fill(&mut b);
        b
    }
}

/// RAM, ports and MMIO that read as all ones, writes ignored; optionally one pending
/// external interrupt.
struct TestBus {
    mem: PhysMemory,
    irq: Option<u8>,
}

impl Bus for TestBus {
    fn mem(&mut self) -> &mut PhysMemory {
        &mut self.mem
    }
    fn mmio_read(&mut self, _: u64, _: u8) -> u32 {
        0xffff_ffff
    }
    fn mmio_write(&mut self, _: u64, _: u8, _: u32) {}
    fn io_read(&mut self, _: u16, _: u8) -> u32 {
        0xffff_ffff
    }
    fn io_write(&mut self, _: u16, _: u8, _: u32) {}
    fn interrupt_pending(&mut self) -> bool {
        self.irq.is_some()
    }
    fn acknowledge_interrupt(&mut self) -> Option<u8> {
        self.irq.take()
    }
}

impl TestBus {
    /// Store with code tracking, so blocks decoded from the old bytes are dropped.
    fn put(&mut self, addr: u32, bytes: &[u8]) {
        self.mem.write_bytes(addr as u64, bytes);
    }
    fn put_random(&mut self, rng: &mut Rng, addr: u32, len: usize) {
        let mut buf = vec![0; len];
        rng.fill(&mut buf);
        self.put(addr, &buf);
    }
}

/// A code/data/system descriptor. `access` is the access byte, `fl` the flags nibble
/// (G, D/B, L, AVL), `limit` the raw 20-bit limit.
fn desc(base: u32, limit: u32, access: u8, fl: u8) -> [u8; 8] {
    let lo = (limit & 0xffff) | (base << 16);
    let hi = ((base >> 16) & 0xff)
        | (access as u32) << 8
        | (limit & 0xf_0000)
        | ((fl as u32 & 0xf) << 20)
        | (base & 0xff00_0000);
    let mut d = [0; 8];
    d[..4].copy_from_slice(&lo.to_le_bytes());
    d[4..].copy_from_slice(&hi.to_le_bytes());
    d
}

/// A gate descriptor: `access` has P, DPL and the type.
fn gate(sel: u16, off: u32, access: u8, params: u8) -> [u8; 8] {
    let lo = (off & 0xffff) | (sel as u32) << 16;
    let hi = (off & 0xffff_0000) | (access as u32) << 8 | (params as u32 & 0x1f);
    let mut d = [0; 8];
    d[..4].copy_from_slice(&lo.to_le_bytes());
    d[4..].copy_from_slice(&hi.to_le_bytes());
    d
}

/// The descriptor cache a segment register holds after loading `desc(base, .., access, fl)`.
fn seg(selector: u16, base: u32, limit: u32, access: u8, fl: u8) -> Segment {
    Segment {
        selector,
        base,
        limit,
        attr: access as u16 | (fl as u16) << 12,
    }
}

fn flat(selector: u16, access: u8) -> Segment {
    seg(selector, 0, u32::MAX, access, 0xc)
}

/// How a program starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Real,
    Pm32Ring0,
    Pm16Ring0,
    Pm32Ring3,
    V86,
}

const MODES: [Mode; 5] = [
    Mode::Real,
    Mode::Pm32Ring0,
    Mode::Pm16Ring0,
    Mode::Pm32Ring3,
    Mode::V86,
];

/// Per-mode-and-paging outcome counters.
#[derive(Clone, Copy, Default)]
struct Tally {
    programs: u64,
    /// InstructionLimit, Halted, Stopped, TripleFault.
    exits: [u64; 5],
    instructions: u64,
    exceptions: u64,
    interrupts: u64,
    code_bytes: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.programs += o.programs;
        for (a, b) in self.exits.iter_mut().zip(o.exits) {
            *a += b;
        }
        self.instructions += o.instructions;
        self.exceptions += o.exceptions;
        self.interrupts += o.interrupts;
        self.code_bytes += o.code_bytes;
    }
}

fn exit_index(e: Exit) -> usize {
    match e {
        Exit::InstructionLimit => 0,
        Exit::Halted => 1,
        Exit::Stopped => 2,
        Exit::TripleFault => 3,
        Exit::Breakpoint => 4,
    }
}

/// What to show when a program misbehaves.
struct Failure {
    lane: usize,
    program: usize,
    what: String,
    mode: Mode,
    paging: bool,
    model: CpuModel,
    code: [u8; CODE_BYTES],
    before: CpuState,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.before;
        let cs = s.segs[Seg::Cs as usize];
        let code: String = self.code.iter().map(|b| format!("{b:02x}")).collect();
        write!(
            f,
            "lane {} program {}: {}\n  {:?}{} {:?}, CS={:04x} (base {:08x} limit {:08x} attr {:04x}) EIP={:08x} \
             CPL={} EFLAGS={:08x} CR0={:08x} CR3={:08x} CR4={:08x}\n  regs {:08x?}\n  code at CS:EIP: {code}",
            self.lane,
            self.program,
            self.what,
            self.mode,
            if self.paging { " + paging" } else { "" },
            self.model,
            cs.selector,
            cs.base,
            cs.limit,
            cs.attr,
            s.eip,
            s.cpl,
            s.flags.get(),
            s.cr0,
            s.cr3,
            s.cr4,
            s.regs,
        )
    }
}

/// One lane: its own RAM, CPU and interpreter, `programs` random programs.
struct Lane {
    id: usize,
    rng: Rng,
    bus: TestBus,
    cpu: Cpu,
    interp: Interpreter<TestBus>,
    /// Indexed by [mode][paging].
    tally: [[Tally; 2]; 5],
    failures: Vec<Failure>,
}

impl Lane {
    fn new(id: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ (id as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
        let mut mem = PhysMemory::new(RAM).expect("2 MiB of RAM");
        rng.fill(mem.ram_mut());
        Lane {
            id,
            rng,
            bus: TestBus { mem, irq: None },
            cpu: Cpu::new(CpuModel::P6),
            interp: Interpreter::new(),
            tally: [[Tally::default(); 2]; 5],
            failures: Vec::new(),
        }
    }

    fn run(&mut self, programs: usize) {
        for p in 0..programs {
            // Now and then start from an empty block cache (and exercise the flush).
            if p % 5000 == 0 {
                self.interp.flush(&mut self.bus);
            }
            self.program(p);
        }
    }

    /// Random flags: arithmetic flags, DF, IF, sometimes TF, AC, NT and an IOPL.
    fn random_flags(&mut self) -> u32 {
        let mut f = self.rng.u32() & (flags::ARITH | flags::DF | flags::IF);
        if self.rng.one_in(8) {
            f |= flags::TF;
        }
        if self.rng.one_in(8) {
            f |= flags::AC;
        }
        if self.rng.one_in(16) {
            f |= flags::NT;
        }
        f | (self.rng.below(4) << 12)
    }

    /// Fill `len` bytes at `addr` with random data (clipped to RAM).
    fn scribble(&mut self, addr: u32, len: usize) {
        let addr = addr.min(RAM as u32);
        let len = len.min((RAM as u32 - addr) as usize);
        self.bus.put_random(&mut self.rng, addr, len);
    }

    /// A place for a random handler: refreshes some random bytes there.
    fn handler(&mut self) -> u32 {
        let a = HANDLERS + self.rng.below(HANDLERS_END - HANDLERS - 64);
        self.scribble(a, 48);
        a
    }

    /// A stack pointer in free RAM (sometimes anywhere), with random bytes around it.
    fn stack(&mut self, mask: u32) -> u32 {
        let sp = if self.rng.one_in(16) {
            self.rng.u32() & mask
        } else {
            (FREE + self.rng.below(RAM as u32 - FREE)) & mask & !(self.rng.below(4))
        };
        self.scribble(sp.saturating_sub(64), 128);
        sp
    }

    fn program(&mut self, p: usize) {
        let mode = MODES[match self.rng.below(20) {
            0..=7 => 0,
            8..=11 => 1,
            12..=13 => 2,
            14..=17 => 3,
            _ => 4,
        }];
        let model = match mode {
            Mode::Real if self.rng.one_in(4) => CpuModel::I286,
            Mode::Pm16Ring0 if self.rng.one_in(2) => CpuModel::I286,
            _ => CpuModel::P6,
        };
        // The 286 has no paging.
        let paging = mode != Mode::Real && model == CpuModel::P6 && self.rng.one_in(3);

        self.cpu.model = model;
        self.cpu.reset();
        self.bus.mem.set_a20(true);
        self.bus.irq = self.rng.one_in(4).then(|| self.rng.below(256) as u8);
        let mut code = [0u8; CODE_BYTES];
        self.rng.fill(&mut code);

        if mode == Mode::Real {
            self.setup_real();
        } else {
            self.setup_protected(mode, paging);
        }
        let cs = self.cpu.s.segs[Seg::Cs as usize];
        let code_at = cs.base.wrapping_add(self.cpu.s.eip);
        // With paging the linear address may map anywhere; write where it is identity-mapped.
        if (code_at as u64) + CODE_BYTES as u64 <= RAM {
            self.bus.put(code_at, &code);
        }
        self.cpu.flush_tlb();

        let before = self.cpu.s.clone();
        let (insn0, exc0, int0) = (
            self.cpu.stats.instructions,
            self.cpu.stats.exceptions,
            self.cpu.stats.interrupts,
        );
        let (cpu, bus, interp) = (&mut self.cpu, &mut self.bus, &mut self.interp);
        let result = catch_unwind(AssertUnwindSafe(|| interp.run(cpu, bus, BUDGET)));
        let fail = |what: String, before: CpuState| Failure {
            lane: self.id,
            program: p,
            what,
            mode,
            paging,
            model,
            code,
            before,
        };
        let exit = match result {
            Ok(e) => e,
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "non-string panic".into());
                let f = fail(format!("PANIC: {msg}"), before);
                self.failures.push(f);
                // The CPU may be half-updated: start over with fresh ones.
                self.cpu = Cpu::new(model);
                self.interp = Interpreter::new();
                self.interp.flush(&mut self.bus);
                return;
            }
        };
        let retired = self.cpu.stats.instructions - insn0;
        let problem = match exit {
            _ if retired > BUDGET => Some(format!(
                "retired {retired} instructions with a budget of {BUDGET}"
            )),
            Exit::Halted if !self.cpu.s.halted => {
                Some("Exit::Halted but the CPU is not halted".into())
            }
            Exit::TripleFault if !self.cpu.is_shutdown() => {
                Some("Exit::TripleFault without shutdown".into())
            }
            Exit::Stopped => Some("Exit::Stopped although the bus never asks to stop".into()),
            _ => None,
        };
        if let Some(what) = problem {
            let f = fail(what, before);
            self.failures.push(f);
        }
        let t = &mut self.tally[mode as usize][paging as usize];
        t.programs += 1;
        t.exits[exit_index(exit)] += 1;
        t.instructions += retired;
        t.exceptions += self.cpu.stats.exceptions - exc0;
        t.interrupts += self.cpu.stats.interrupts - int0;
        t.code_bytes += CODE_BYTES as u64;
    }

    fn setup_real(&mut self) {
        // IVT: half the vectors point at fresh random handlers, the rest are random.
        let handlers: Vec<u32> = (0..8).map(|_| self.handler()).collect();
        let mut ivt = [0u8; 1024];
        self.rng.fill(&mut ivt);
        for v in 0..256 {
            if self.rng.one_in(2) {
                let h = handlers[self.rng.below(8) as usize];
                let seg = (h >> 4) - self.rng.below(0x100).min(h >> 4);
                let off = h - (seg << 4);
                ivt[v * 4..v * 4 + 2].copy_from_slice(&(off as u16).to_le_bytes());
                ivt[v * 4 + 2..v * 4 + 4].copy_from_slice(&(seg as u16).to_le_bytes());
            }
        }
        self.bus.put(0, &ivt);
        let s = &mut self.cpu.s;
        if self.rng.one_in(16) {
            // A relocated or truncated IVT.
            s.idtr = DescTable {
                base: self.rng.below(0x1000),
                limit: self.rng.below(0x400) as u16,
            };
        }
        // Code anywhere in the first MiB (wrapping offsets included).
        let code_at = 0x500 + self.rng.below(0x10_0000 - 0x500 - CODE_BYTES as u32);
        let lowest = code_at.saturating_sub(0xffff - CODE_BYTES as u32) >> 4;
        let cs = lowest + self.rng.below((code_at >> 4) - lowest + 1);
        s.segs[Seg::Cs as usize] = Segment::real(cs as u16);
        s.segs[Seg::Cs as usize].attr |= attr::CODE;
        s.eip = code_at - (cs << 4);
        for r in s.regs.iter_mut() {
            *r = (self.rng.next() >> 32) as u32;
        }
        for sg in [Seg::Ds, Seg::Es, Seg::Fs, Seg::Gs, Seg::Ss] {
            let sel = self.rng.u32() as u16;
            let s = &mut self.cpu.s;
            s.segs[sg as usize] = Segment::real(sel);
            // Unreal mode: a 4 GiB limit left over from protected mode.
            if self.rng.one_in(8) {
                s.segs[sg as usize].limit = u32::MAX;
            }
        }
        let sp = self.rng.u32() & 0xffff;
        self.cpu.s.regs[4] = (self.cpu.s.regs[4] & 0xffff_0000) | sp;
        let ss_base = self.cpu.s.segs[Seg::Ss as usize].base;
        self.scribble((ss_base + sp).saturating_sub(64), 128);
        let f = self.random_flags();
        self.cpu.s.flags.set(f);
        if self.rng.one_in(8) {
            self.bus.mem.set_a20(false);
        }
    }

    fn build_gdt(&mut self, code16_base: u32, tss_limit: u32) {
        let mut gdt = [0u8; GDT_ENTRIES as usize * 8];
        let h1 = self.handler();
        let h2 = self.handler();
        let h2_off16 = h2.wrapping_sub(code16_base) & 0xffff;
        let entries: [[u8; 8]; GDT_ENTRIES as usize] = [
            [0; 8],
            desc(0, 0xfffff, 0x9b, 0xc),             // 0x08 code32 DPL0
            desc(0, 0xfffff, 0x93, 0xc),             // 0x10 data32 DPL0
            desc(code16_base, 0xffff, 0x9b, 0),      // 0x18 code16 DPL0
            desc(0, 0xfffff, 0xfb, 0xc),             // 0x20 code32 DPL3
            desc(0, 0xfffff, 0xf3, 0xc),             // 0x28 data32 DPL3
            desc(LDT, LDT_ENTRIES * 8 - 1, 0x82, 0), // 0x30 LDT
            desc(TSS, tss_limit, 0x8b, 0),           // 0x38 busy 32-bit TSS
            desc(0, 0xffff, 0x93, 0),                // 0x40 data16 DPL0
            desc(0, 0xfffff, 0x9f, 0xc),             // 0x48 conforming code32 DPL0
            gate(SEL_CODE32, h1, 0xec, self.rng.below(4) as u8), // 0x50 call gate32 DPL3
            desc(0, 0xfffff, 0x13, 0xc),             // 0x58 data, not present
            desc(0, 0xffff, 0x97, 0x4),              // 0x60 expand-down data32
            gate(SEL_CODE16, h2_off16, 0xe4, 1),     // 0x68 call gate16 DPL3
            desc(0, 0xfffff, 0xb3, 0xc),             // 0x70 data32 DPL1
            desc(0x1_0000, 0xf, 0x93, 0x0),          // 0x78 tiny data segment
            self.rng.bytes(),                        // 0x80 garbage
            self.rng.bytes(),                        // 0x88 garbage
        ];
        for (i, e) in entries.iter().enumerate() {
            gdt[i * 8..i * 8 + 8].copy_from_slice(e);
        }
        self.bus.put(GDT, &gdt);

        let mut ldt = [0u8; LDT_ENTRIES as usize * 8];
        let l: [[u8; 8]; LDT_ENTRIES as usize] = [
            self.rng.bytes(),
            desc(0, 0xfffff, 0xfb, 0xc), // 0x0c/0x0f code32 DPL3
            desc(0, 0xfffff, 0xf3, 0xc), // 0x14/0x17 data32 DPL3
            desc(0, 0xfffff, 0x93, 0xc), // 0x1c data32 DPL0
            desc(code16_base, 0xffff, 0x9b, 0),
            self.rng.bytes(),
            self.rng.bytes(),
            self.rng.bytes(),
        ];
        for (i, e) in l.iter().enumerate() {
            ldt[i * 8..i * 8 + 8].copy_from_slice(e);
        }
        self.bus.put(LDT, &ldt);
    }

    fn build_tss(&mut self) {
        let mut tss = [0u8; TSS_IOMAP as usize];
        self.rng.fill(&mut tss);
        let esp0 = FREE + self.rng.below(RAM as u32 - FREE);
        self.scribble(esp0.saturating_sub(64), 64);
        tss[4..8].copy_from_slice(&esp0.to_le_bytes());
        let ss0 = if self.rng.one_in(8) {
            self.rng.u32() as u16
        } else {
            SEL_DATA32
        };
        tss[8..10].copy_from_slice(&ss0.to_le_bytes());
        tss[102..104].copy_from_slice(&(TSS_IOMAP as u16).to_le_bytes());
        self.bus.put(TSS, &tss);
        // The I/O permission bitmap: mostly random, sometimes all allowed.
        if self.rng.one_in(4) {
            self.bus.put(TSS + TSS_IOMAP, &[0; 8192]);
        } else if self.rng.one_in(8) {
            self.scribble(TSS + TSS_IOMAP, 8192);
        }
        self.bus.put(TSS + TSS_IOMAP + 8192, &[0xff]);
    }

    fn build_idt(&mut self, code16_base: u32) {
        let handlers: Vec<u32> = (0..8).map(|_| self.handler()).collect();
        let mut idt = [0u8; 256 * 8];
        for v in 0..256 {
            let h = handlers[self.rng.below(8) as usize];
            let dpl = if self.rng.one_in(2) { 0x60 } else { 0 };
            let r = self.rng.below(16);
            let e = match r {
                0..=6 => {
                    let sel = match self.rng.below(12) {
                        0 => SEL_CONFORMING,
                        1 => SEL_CODE32_R3,
                        2 => 0x0c, // LDT code, DPL 3: #GP below ring 3
                        3 => SEL_DATA32,
                        _ => SEL_CODE32,
                    };
                    let ty = if self.rng.one_in(2) { 0x8e } else { 0x8f };
                    gate(sel, h, ty | dpl, 0)
                }
                7..=8 => {
                    let (sel, off) = if self.rng.one_in(2) {
                        (SEL_CODE16, h.wrapping_sub(code16_base) & 0xffff)
                    } else {
                        (SEL_CODE32, h & 0xffff)
                    };
                    let ty = if self.rng.one_in(2) { 0x86 } else { 0x87 };
                    gate(sel, off, ty | dpl, 0)
                }
                9..=10 => gate(SEL_CODE32, h, 0x0e | dpl, 0), // not present
                11 => gate(SEL_TSS, 0, 0x85 | dpl, 0),        // task gate
                _ => self.rng.bytes(),
            };
            idt[v * 8..v * 8 + 8].copy_from_slice(&e);
        }
        self.bus.put(IDT, &idt);
    }

    /// A page directory of random-ish entries, the first 4 MiB mostly identity-mapped.
    fn build_paging(&mut self) {
        let mut pt = [0u8; 4096];
        for i in 0..1024u32 {
            let e = if i < (RAM >> 12) as u32 {
                let fl = if self.rng.one_in(16) {
                    self.rng.u32() & 0x1ff
                } else {
                    0x7 | (self.rng.u32() & 0x160)
                };
                let frame = if self.rng.one_in(32) {
                    self.rng.u32() & !0xfff
                } else {
                    i << 12
                };
                frame | fl
            } else {
                self.rng.u32()
            };
            pt[i as usize * 4..i as usize * 4 + 4].copy_from_slice(&e.to_le_bytes());
        }
        self.bus.put(PAGE_TABLE0, &pt);
        let mut pd = [0u8; 4096];
        for i in 0..1024u32 {
            let e = if i == 0 {
                PAGE_TABLE0
                    | if self.rng.one_in(16) {
                        self.rng.u32() & 0x1ff
                    } else {
                        0x7 | (self.rng.u32() & 0x60)
                    }
            } else {
                match self.rng.below(8) {
                    0 | 1 => 0,
                    2 => self.rng.u32(),
                    // A page table made of whatever RAM holds.
                    3 | 4 => (self.rng.below(RAM as u32) & !0xfff) | 0x7,
                    // A page table outside RAM (reads as all ones).
                    5 => (0x8000_0000 | self.rng.u32()) & !0xfff | 0x7,
                    // A 4 MiB page (with CR4.PSE) anywhere.
                    _ => (self.rng.u32() & 0xffc0_0000) | 0x87 | (self.rng.u32() & 0x160),
                }
            };
            pd[i as usize * 4..i as usize * 4 + 4].copy_from_slice(&e.to_le_bytes());
        }
        self.bus.put(PAGE_DIR, &pd);
    }

    fn setup_protected(&mut self, mode: Mode, paging: bool) {
        let code16_base = (2 + self.rng.below(((RAM as u32) >> 16) - 3)) << 16;
        let tss_limit = if self.rng.one_in(4) {
            TSS_IOMAP - 1
        } else {
            TSS_IOMAP + 8192
        };
        self.build_gdt(code16_base, tss_limit);
        self.build_tss();
        self.build_idt(code16_base);
        if paging {
            self.build_paging();
        }

        let mut cr0 = self.cpu.s.cr0 | CR0_PE;
        for (bit, n) in [
            (CR0_MP, 4),
            (CR0_EM, 16),
            (CR0_TS, 16),
            (CR0_NE, 2),
            (CR0_WP, 2),
            (CR0_AM, 4),
        ] {
            // The 286 MSW has only PE, MP, EM and TS.
            let on_286 = matches!(bit, CR0_MP | CR0_EM | CR0_TS);
            if self.rng.one_in(n) && (on_286 || !self.cpu.is_286()) {
                cr0 |= bit;
            }
        }
        let mut cr4 = 0;
        if paging {
            cr0 |= CR0_PG;
            cr4 = self.rng.u32() & (CR4_PSE | CR4_PGE);
            self.cpu.s.cr3 = PAGE_DIR | (self.rng.u32() & 0x18);
        }
        let s = &mut self.cpu.s;
        s.cr0 = cr0;
        s.cr4 = cr4;
        s.gdtr = DescTable {
            base: GDT,
            limit: (GDT_ENTRIES * 8 - 1) as u16,
        };
        s.idtr = DescTable {
            base: IDT,
            limit: 256 * 8 - 1,
        };
        s.ldtr = seg(SEL_LDT, LDT, LDT_ENTRIES * 8 - 1, 0x82, 0);
        s.tr = seg(SEL_TSS, TSS, tss_limit, 0x8b, 0);
        if self.rng.one_in(16) {
            s.idtr.limit = self.rng.below(256 * 8) as u16;
        }
        if self.rng.one_in(32) {
            s.gdtr.limit = self.rng.below(GDT_ENTRIES * 8) as u16;
        }
        let mut f = self.random_flags();

        let eip = match mode {
            Mode::Pm32Ring0 | Mode::Pm32Ring3 => {
                let ring3 = mode == Mode::Pm32Ring3;
                let (cs, ds) = if ring3 {
                    (flat(SEL_CODE32_R3, 0xfb), flat(SEL_DATA32_R3, 0xf3))
                } else {
                    (flat(SEL_CODE32, 0x9b), flat(SEL_DATA32, 0x93))
                };
                let s = &mut self.cpu.s;
                s.segs = [ds, cs, ds, ds, ds, ds];
                s.cpl = if ring3 { 3 } else { 0 };
                for sg in [Seg::Fs, Seg::Gs] {
                    if self.rng.one_in(4) {
                        self.cpu.s.segs[sg as usize] = Segment::default(); // null
                    }
                }
                // Sometimes code in the higher, randomly mapped part of the address space.
                if paging && self.rng.one_in(8) {
                    self.rng.u32()
                } else {
                    FREE + self.rng.below(RAM as u32 - FREE - CODE_BYTES as u32)
                }
            }
            Mode::Pm16Ring0 => {
                let s = &mut self.cpu.s;
                let cs = seg(SEL_CODE16, code16_base, 0xffff, 0x9b, 0);
                let ss = seg(SEL_DATA16, 0, 0xffff, 0x93, 0);
                let ds = flat(SEL_DATA32, 0x93);
                s.segs = [ds, cs, ss, ds, ds, ds];
                s.cpl = 0;
                self.rng.below(0x1_0000 - CODE_BYTES as u32)
            }
            Mode::V86 => {
                f |= flags::VM;
                let at = 0x500 + self.rng.below(0x10_0000 - 0x500 - CODE_BYTES as u32);
                let lowest = at.saturating_sub(0xffff - CODE_BYTES as u32) >> 4;
                let cs_sel = lowest + self.rng.below((at >> 4) - lowest + 1);
                let v86 = |sel: u16| {
                    let mut s = Segment::real(sel);
                    s.attr |= 3 << attr::DPL_SHIFT;
                    s
                };
                let mut cs = v86(cs_sel as u16);
                cs.attr |= attr::CODE;
                let mut segs = [cs; 6];
                for sg in [Seg::Es, Seg::Ss, Seg::Ds, Seg::Fs, Seg::Gs] {
                    segs[sg as usize] = v86(self.rng.u32() as u16);
                }
                let s = &mut self.cpu.s;
                s.segs = segs;
                s.cpl = 3;
                at - (cs_sel << 4)
            }
            Mode::Real => unreachable!(),
        };
        for r in self.cpu.s.regs.iter_mut() {
            *r = (self.rng.next() >> 32) as u32;
        }
        let ss = self.cpu.s.segs[Seg::Ss as usize];
        let sp_mask = if ss.is_32() { u32::MAX } else { 0xffff };
        let sp = if mode == Mode::V86 {
            let sp = self.rng.u32() & 0xffff;
            self.scribble((ss.base + sp).saturating_sub(64), 128);
            sp
        } else {
            self.stack(sp_mask)
        };
        self.cpu.s.regs[4] = sp;
        self.cpu.s.eip = eip;
        self.cpu.s.flags.set(f);
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

#[test]
fn random_code_never_panics() {
    let seed = env_u64("OX86_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let per_lane = env_u64("OX86_FUZZ_PROGRAMS")
        .map(|n| n as usize)
        .unwrap_or(DEFAULT_PROGRAMS_PER_LANE);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(LANES);

    // Lanes are independent and deterministic; threads only share out the lanes.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let lanes: std::sync::Mutex<Vec<Lane>> = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|sc| {
        for _ in 0..threads {
            sc.spawn(|| loop {
                let id = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if id >= LANES {
                    break;
                }
                let mut lane = Lane::new(id, seed);
                lane.run(per_lane);
                lanes.lock().unwrap_or_else(|p| p.into_inner()).push(lane);
            });
        }
    });
    let mut lanes = lanes.into_inner().unwrap_or_else(|p| p.into_inner());
    lanes.sort_by_key(|l| l.id);

    let mut by_mode = [[Tally::default(); 2]; 5];
    let mut total = Tally::default();
    let mut failures = Vec::new();
    for lane in &mut lanes {
        for (m, row) in lane.tally.iter().enumerate() {
            for (pg, t) in row.iter().enumerate() {
                by_mode[m][pg].add(t);
                total.add(t);
            }
        }
        failures.append(&mut lane.failures);
    }

    eprintln!(
        "no-panic fuzz: seed {seed:#x}, {LANES} lanes x {per_lane} programs, budget {BUDGET}"
    );
    eprintln!(
        "{:<22} {:>8} {:>11} {:>10} {:>9} {:>8} {:>7} {:>7} {:>6}",
        "mode", "programs", "code bytes", "insns", "except.", "ints", "limit", "halted", "triple"
    );
    let row = |name: &str, t: &Tally| {
        eprintln!(
            "{:<22} {:>8} {:>11} {:>10} {:>9} {:>8} {:>7} {:>7} {:>6}",
            name,
            t.programs,
            t.code_bytes,
            t.instructions,
            t.exceptions,
            t.interrupts,
            t.exits[0],
            t.exits[1],
            t.exits[3]
        );
    };
    for (mode, tallies) in MODES.iter().zip(&by_mode) {
        for (pg, t) in tallies.iter().enumerate() {
            if t.programs > 0 {
                row(
                    &format!("{mode:?}{}", if pg == 1 { "+paging" } else { "" }),
                    t,
                );
            }
        }
    }
    row("total", &total);
    eprintln!(
        "exits: InstructionLimit {}, Halted {}, Stopped {}, TripleFault {}",
        total.exits[0], total.exits[1], total.exits[2], total.exits[3]
    );

    if !failures.is_empty() {
        for f in failures.iter().take(10) {
            eprintln!("{f}");
        }
        panic!(
            "{} of {} random programs misbehaved (first shown above; rerun with OX86_FUZZ_SEED={seed:#x})",
            failures.len(),
            total.programs
        );
    }

    // The test must actually have exercised the CPU: lots of code, lots of faults, in
    // every mode.
    assert_eq!(total.programs, (LANES * per_lane) as u64);
    let full_size = per_lane >= DEFAULT_PROGRAMS_PER_LANE;
    if full_size {
        assert!(
            total.code_bytes >= 2_000_000,
            "only {} random code bytes",
            total.code_bytes
        );
        assert!(
            total.instructions >= 1_000_000,
            "only {} instructions retired",
            total.instructions
        );
    }
    assert!(total.exceptions > 0, "no guest exception was delivered");
    for (m, mode) in MODES.iter().enumerate() {
        let t = by_mode[m][0].programs + by_mode[m][1].programs;
        let e = by_mode[m][0].exceptions + by_mode[m][1].exceptions;
        let i = by_mode[m][0].instructions + by_mode[m][1].instructions;
        if full_size {
            assert!(
                t > 0 && e > 0 && i > 0,
                "{mode:?}: {t} programs, {i} instructions, {e} exceptions"
            );
        }
    }
    if full_size {
        let paged: u64 = (1..5).map(|m| by_mode[m][1].exceptions).sum();
        assert!(paged > 0, "no exception with paging on");
        assert!(total.exits[3] > 0, "no run ended in a triple fault");
        assert!(total.exits[1] > 0, "no run ended in HLT");
    }
}
