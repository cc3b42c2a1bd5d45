//! JIT against interpreter: random 32-bit code, looped so its blocks get translated (the
//! JIT translates on the first run here), must leave exactly the same CPU state, RAM and
//! instruction count under both engines. Programs mix instructions the JIT inlines
//! (32-bit register MOV/ALU/TEST/LEA/shifts, loads and stores) with everything else, which it runs through the
//! interpreter's handlers, faults included (every vector halts in its handler).
//!
//! Deterministic: OX86_JIT_SEED and OX86_JIT_PROGRAMS explore further.

#![cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]

use ox86_core::cpu::flags::Flags;
use ox86_core::cpu::state::DescTable;
use ox86_core::interp::Interpreter;
use ox86_core::{Cpu, CpuModel, RamBus};
use ox86_jit::Jit;

const RAM: u64 = 1 << 20;
const GDT: u32 = 0x1000;
const IDT: u32 = 0x2000;
const HANDLERS: u32 = 0x3000;
const CODE: u32 = 0x1_0000;
const DATA: u32 = 0x4_0000;
const BUDGET: u64 = 3000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u32) -> u32 {
        (((self.next() >> 32) * n as u64) >> 32) as u32
    }
}

/// Instructions the JIT inlines, in 32-bit register forms (ModRM mod=11).
fn inline_insn(r: &mut Rng, out: &mut Vec<u8>) {
    let modrm = 0xc0 | r.below(64) as u8;
    match r.below(10) {
        // ADD/OR/ADC/SBB/AND/SUB/XOR/CMP r/m32, r32 and r32, r/m32
        0 => out.extend([
            (r.below(8) as u8) << 3 | if r.below(2) == 0 { 1 } else { 3 },
            modrm,
        ]),
        // MOV r/m32, r32 / r32, r/m32
        1 => out.extend([if r.below(2) == 0 { 0x89 } else { 0x8b }, modrm]),
        // group 1 with imm32 / imm8
        2 => {
            out.extend([0x81, modrm]);
            out.extend((r.next() as u32).to_le_bytes());
        }
        3 => out.extend([0x83, modrm, r.next() as u8]),
        // MOV r32, imm32
        4 => {
            out.push(0xb8 | r.below(8) as u8);
            out.extend((r.next() as u32).to_le_bytes());
        }
        // LEA r32, [base + index*s + disp32] (SIB)
        5 => {
            let reg = r.below(8) as u8;
            out.extend([0x8d, 0x84 | reg << 3, r.next() as u8]);
            out.extend((r.next() as u32).to_le_bytes());
        }
        // SHL/SHR/SAR r32 by imm8 (any count, 0 and over 31 included) or by 1
        8 if r.below(4) == 0 => out.extend([
            0xd1,
            0xe0 | [0, 8, 24][r.below(3) as usize] | r.below(8) as u8,
        ]),
        8 => out.extend([
            0xc1,
            0xe0 | [0, 8, 24][r.below(3) as usize] | r.below(8) as u8,
            r.below(40) as u8,
        ]),
        // MOVZX/MOVSX r32, byte/word [reg + disp8]
        9 => {
            out.extend([
                0x0f,
                [0xb6, 0xb7, 0xbe, 0xbf][r.below(4) as usize],
                mem_modrm(r),
            ]);
            out.push(r.next() as u8);
        }
        // MOV r32, [reg + disp8] / MOV [reg + disp8], r32 (no SIB)
        6 => {
            let load = r.below(2) == 0;
            out.extend([if load { 0x8b } else { 0x89 }, mem_modrm(r)]);
            out.push(r.next() as u8);
        }
        // ALU with a memory operand: r/m32, r32 / r32, r/m32 / r/m32, imm8
        _ => {
            let imm = match r.below(3) {
                0 => {
                    out.extend([(r.below(8) as u8) << 3 | 1, mem_modrm(r)]);
                    false
                }
                1 => {
                    out.extend([(r.below(8) as u8) << 3 | 3, mem_modrm(r)]);
                    false
                }
                _ => {
                    out.extend([0x83, mem_modrm(r)]);
                    true
                }
            };
            out.push(r.next() as u8); // disp8
            if imm {
                out.push(r.next() as u8);
            }
        }
    }
}

/// ModRM for [reg + disp8] (mod=01, no SIB) with a random reg field.
fn mem_modrm(r: &mut Rng) -> u8 {
    let rm = [0, 1, 2, 3, 5, 6, 7][r.below(7) as usize];
    0x40 | (r.below(8) as u8) << 3 | rm
}

/// Instructions that go through the handlers: flag readers, memory, stack, branches.
fn helper_insn(r: &mut Rng, out: &mut Vec<u8>) {
    let modrm = 0xc0 | r.below(64) as u8;
    match r.below(10) {
        0 => out.push(0x50 | r.below(16) as u8), // PUSH/POP r32
        // CALL to the next instruction; RET (to wherever the stack says)
        8 => out.extend([0xe8, 0, 0, 0, 0]),
        9 => out.push(0xc3),
        1 => out.push(0x40 | r.below(16) as u8), // INC/DEC r32
        2 => out.extend([0x0f, 0x40 | r.below(16) as u8, modrm]), // CMOVcc
        3 => out.extend([0x0f, 0x90 | r.below(16) as u8, 0xc0 | r.below(8) as u8]), // SETcc
        4 => out.extend([0x70 | r.below(16) as u8, 2, 0x90, 0x90]), // Jcc over two NOPs
        5 => {
            // MOV [disp32], r32 into the data area
            out.extend([0x89, 0x05 | (r.below(8) as u8) << 3]);
            out.extend((DATA + r.below(0x1000)).to_le_bytes());
        }
        6 => out.extend([0x13 | (r.below(2) as u8) << 3, modrm]), // ADC/SBB r32, r/m32
        _ => out.extend((r.next() as u32).to_le_bytes()),         // anything at all
    }
}

/// ESP moved, then pushes, pops and reads of ESP: the stack pointer as a register
/// operand and as the stack forms' implicit one in one stretch of inline code.
fn stack_insns(r: &mut Rng, out: &mut Vec<u8>) {
    let reg = |r: &mut Rng| [0u8, 1, 2, 3, 5, 6, 7][r.below(7) as usize];
    // ADD ESP, imm8 (a small multiple of 4, either way)
    out.extend([0x83, 0xc4, ((r.below(9) as i8 - 4) * 4) as u8]);
    for _ in 0..1 + r.below(4) {
        match r.below(4) {
            0 => out.push(0x50 | reg(r)),                         // PUSH r32
            1 => out.push(0x58 | reg(r)),                         // POP r32
            2 => out.extend([0x89, 0xe0 | reg(r)]),               // MOV r32, ESP
            _ => out.extend([0x8d, 0x44 | reg(r) << 3, 0x24, 4]), // LEA r32, [ESP + 4]
        }
    }
}

fn program(r: &mut Rng) -> Vec<u8> {
    let mut code = Vec::new();
    let n = 4 + r.below(24);
    for _ in 0..n {
        if r.below(12) == 0 {
            stack_insns(r, &mut code);
        } else if r.below(3) == 0 {
            helper_insn(r, &mut code);
        } else {
            inline_insn(r, &mut code);
        }
    }
    // Loop back to the start so the blocks run again (translated).
    let back = -(code.len() as i32 + 5);
    code.push(0xe9);
    code.extend(back.to_le_bytes());
    code
}

fn machine(r: &mut Rng, code: &[u8]) -> (Cpu, RamBus) {
    let mut bus = RamBus::new(RAM).expect("RAM");
    let m = &mut bus.mem;
    // Flat ring-0 code 0x08 and data 0x10.
    m.write_bytes(GDT as u64 + 8, &0x00cf_9a00_0000_ffffu64.to_le_bytes());
    m.write_bytes(GDT as u64 + 16, &0x00cf_9200_0000_ffffu64.to_le_bytes());
    // Every vector: an interrupt gate to a HLT of its own.
    for v in 0..32u32 {
        let h = HANDLERS + 16 * v;
        let gate = (h & 0xffff) as u64 | 0x08 << 16 | 0x8e00u64 << 32 | ((h >> 16) as u64) << 48;
        m.write_bytes((IDT + 8 * v) as u64, &gate.to_le_bytes());
        m.write_bytes(h as u64, &[0xf4]);
    }
    m.write_bytes(CODE as u64, code);
    let data: Vec<u8> = (0..0x1000).map(|_| r.next() as u8).collect();
    m.write_bytes(DATA as u64, &data);

    let mut cpu = Cpu::new(CpuModel::P6);
    let gdt = DescTable {
        base: GDT,
        limit: 23,
    };
    cpu.enter_flat32(gdt, 0x08, 0x10, CODE);
    let s = &mut cpu.s;
    s.idtr = DescTable {
        base: IDT,
        limit: 32 * 8 - 1,
    };
    // Half the registers point into the data area, so memory operands hit RAM.
    for reg in s.regs.iter_mut() {
        *reg = if r.below(2) == 0 {
            DATA + r.below(0x1000)
        } else {
            r.next() as u32
        };
    }
    s.regs[4] = 0x8_0000; // ESP
    s.flags = Flags::new(r.next() as u32 & 0x8d5);
    (cpu, bus)
}

fn run(cpu: &mut Cpu, bus: &mut RamBus, jit: bool) {
    let mut interp = Interpreter::<RamBus>::new();
    if jit {
        interp.threshold = 1;
        interp.accel = Some(Box::new(Jit::<RamBus>::new(1 << 20).expect("JIT")));
    }
    interp.run(cpu, bus, BUDGET);
}

#[test]
fn jit_matches_interpreter_on_random_code() {
    let seed = std::env::var("OX86_JIT_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0x0086_0a11_7e57_5eed);
    let programs: usize = std::env::var("OX86_JIT_PROGRAMS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let mut r = Rng(seed);
    let mut translated_runs = 0;
    for n in 0..programs {
        let code = program(&mut r);
        let state_seed = r.next() | 1;
        let (mut a, mut abus) = machine(&mut Rng(state_seed), &code);
        let (mut b, mut bbus) = machine(&mut Rng(state_seed), &code);
        run(&mut a, &mut abus, false);
        run(&mut b, &mut bbus, true);
        let same = format!("{:?}", a.s) == format!("{:?}", b.s)
            && a.eflags() == b.eflags()
            && a.stats.instructions == b.stats.instructions
            && abus.mem.ram() == bbus.mem.ram();
        assert!(
            same,
            "program {n} (seed {seed:#x}) differs: {:02x?}\ninterpreter: {:?} after {} instructions\njit:         {:?} after {} instructions",
            code, a.s, a.stats.instructions, b.s, b.stats.instructions
        );
        if a.stats.instructions > 50 {
            translated_runs += 1;
        }
    }
    // Most programs must loop long enough to run translated code, or this proves little.
    assert!(
        translated_runs * 2 > programs,
        "only {translated_runs} of {programs} programs ran past their first pass"
    );
}
