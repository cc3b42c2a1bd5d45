//! A rewritten immediate made volatile (read from RAM when its instruction runs, so that
//! stores into it drop no code) stops being so when another instruction is decoded over
//! its bytes. Here that instruction crosses into the immediate's page, which paging
//! maps away from the page before: its bytes there must count, or stores into them
//! would leave its decoded immediate stale. Interpreter and JIT must both add what the
//! stores wrote.

mod common;

use common::{map_low_4mib, rel};
use ox86_core::cpu::state::{DescTable, CR0_PG};
use ox86_core::interp::Interpreter;
use ox86_core::{Cpu, CpuModel, Exit, RamBus};
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use ox86_jit::Jit;

const PAGE_DIR: u32 = 0x5000;
const PAGE_TABLE: u32 = 0x6000;
/// The linear page of the rewritten MOV, and the frame behind it (not the one after
/// the page before).
const SECOND: u32 = 0x11000;
const SECOND_MAP: u32 = 0x30000;
/// Passes of the loop that calls the MOV, then of the one that calls the crossing ADD.
const MOV_PASSES: u32 = 6;
const ADD_PASSES: u32 = 5;

/// Where the crossing instruction adds: [ESI - 0x48], its displacement being the MOV's
/// opcode byte.
const SUM: u32 = 0x8000;

/// The program, at linear 0x10000 (each pass stores ECX | 0xC3000000 at 0x11001):
///   0x10000  mov ecx, MOV_PASSES ; xor edx, edx ; mov esi, SUM + 0x48
///   0x1000c  a: mov eax, ecx ; or eax, 0xC3000000 ; mov [0x11001], eax ; call 0x11000
///               dec ecx ; jnz a
///   0x10020  mov ecx, ADD_PASSES
///   0x10025  b: (as a) but call 0x10ffe ; dec ecx ; jnz b ; hlt
///   0x10ffe  add dword [esi - 0x48], imm32: 81 46, then the MOV's opcode and its
///            immediate: it ends where the MOV does
///   0x11000  mov eax, imm32 ; add edx, eax ; ret
fn load(bus: &mut RamBus) {
    let m = &mut bus.mem;
    let call = |at: u32, to: u32| {
        let mut c = vec![0xe8];
        c.extend(rel(at, 5, to));
        c
    };
    let pass = |at: u32, to: u32| {
        let mut p = vec![0x89, 0xc8, 0x0d, 0x00, 0x00, 0x00, 0xc3, 0xa3];
        p.extend((SECOND + 1).to_le_bytes());
        p.extend(call(at + 12, to));
        p.extend([0x49, 0x75, 0xec]);
        p
    };
    let mut code = vec![0xb9];
    code.extend(MOV_PASSES.to_le_bytes());
    code.extend([0x31, 0xd2, 0xbe]);
    code.extend((SUM + 0x48).to_le_bytes());
    code.extend(pass(0x1000c, SECOND));
    code.push(0xb9);
    code.extend(ADD_PASSES.to_le_bytes());
    code.extend(pass(0x10025, SECOND - 2));
    code.push(0xf4);
    m.write_bytes(0x10000, &code);
    m.write_bytes(0x10ffe, &[0x81, 0x46]);
    m.write_bytes(SECOND_MAP as u64, &[0xb8, 0, 0, 0, 0, 0x01, 0xc2, 0xc3]);
    map_low_4mib(bus, PAGE_DIR, PAGE_TABLE, SECOND, SECOND_MAP);
}

fn run(interp: &mut Interpreter<RamBus>) -> (Cpu, u32) {
    let mut bus = RamBus::new(1 << 20).expect("RAM");
    load(&mut bus);
    let mut cpu = Cpu::new(CpuModel::P6);
    cpu.enter_flat32(DescTable::default(), 8, 16, 0x10000);
    cpu.s.regs[4] = 0x9000;
    cpu.s.cr3 = PAGE_DIR;
    cpu.s.cr0 |= CR0_PG;
    interp.threshold = 1;
    assert_eq!(interp.run(&mut cpu, &mut bus, 100_000), Exit::Halted);
    let sum = bus.mem.read_u32(SUM as u64);
    (cpu, sum)
}

/// EDX (every pass adds what it stored) and the dword at SUM (the second loop's passes).
fn expected() -> (u32, u32) {
    let stored = |c: u32| c | 0xc300_0000;
    let total = |n: u32| (1..=n).fold(0u32, |s, c| s.wrapping_add(stored(c)));
    (
        total(MOV_PASSES).wrapping_add(total(ADD_PASSES)),
        total(ADD_PASSES),
    )
}

fn check((cpu, sum): (Cpu, u32)) {
    assert_eq!(cpu.stats.exceptions, 0);
    assert_eq!((cpu.s.regs[2], sum), expected());
}

#[test]
fn interpreter_sees_stores_into_a_crossing_instruction() {
    check(run(&mut Interpreter::new()));
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn jit_sees_stores_into_a_crossing_instruction() {
    let mut interp = Interpreter::new();
    interp.accel = Some(Box::new(Jit::<RamBus>::new(1 << 20).expect("JIT")));
    check(run(&mut interp));
}
