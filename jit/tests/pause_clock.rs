//! PAUSE lets `PAUSE_NS` of virtual time pass, interpreted and translated alike: a
//! guest spinning on the TSC until some time has passed (Linux's `udelay`) gets there
//! in about one loop per PAUSE_NS, and a run given a budget of virtual time stops
//! when it has passed, not after as many instructions.

mod common;

use common::engine;
use ox86_core::cpu::state::DescTable;
use ox86_core::cpu::PAUSE_NS;
use ox86_core::{Cpu, CpuModel, Exit, RamBus};

/// TSC ticks (virtual ns) the program waits for.
const WAIT: u32 = 20_000;
/// Instructions in one loop of the program, PAUSE included.
const LOOP: u64 = 6;

/// The program, at 0x10000, in flat 32-bit code:
///   rdtsc ; mov esi, eax ; xor ecx, ecx
///   a: inc ecx ; pause ; rdtsc ; sub eax, esi ; cmp eax, WAIT ; jb a
///   hlt
/// ECX is left with the number of loops, EAX with the ticks that passed.
fn machine() -> (Cpu, RamBus) {
    let mut bus = RamBus::new(1 << 20).expect("RAM");
    let m = &mut bus.mem;
    m.write_bytes(0x1008, &0x00cf_9a00_0000_ffffu64.to_le_bytes());
    m.write_bytes(0x1010, &0x00cf_9200_0000_ffffu64.to_le_bytes());
    let mut code = vec![0x0f, 0x31, 0x89, 0xc6, 0x31, 0xc9];
    code.extend([0x41, 0xf3, 0x90, 0x0f, 0x31, 0x29, 0xf0, 0x3d]);
    code.extend(WAIT.to_le_bytes());
    code.extend([0x72, 0xf2, 0xf4]);
    m.write_bytes(0x10000, &code);
    let mut cpu = Cpu::new(CpuModel::P6);
    let gdt = DescTable {
        base: 0x1000,
        limit: 23,
    };
    cpu.enter_flat32(gdt, 8, 16, 0x10000);
    (cpu, bus)
}

/// Run the program to its HLT: (loops, ticks it saw pass, instructions retired).
fn wait(jit: bool) -> (u32, u32, u64) {
    let (mut cpu, mut bus) = machine();
    let mut interp = engine(jit);
    assert_eq!(interp.run(&mut cpu, &mut bus, 1_000_000), Exit::Halted);
    assert_eq!(cpu.stats.exceptions, 0);
    let loops = cpu.s.regs[1];
    // Every loop but the last paused: the clock is the instructions and the pauses.
    assert_eq!(
        cpu.clock(),
        cpu.stats.instructions + loops as u64 * (PAUSE_NS - 1)
    );
    (loops, cpu.s.regs[0], cpu.stats.instructions)
}

fn check_wait(jit: bool) {
    let (loops, ticks, insns) = wait(jit);
    // The RDTSC of loop n reads 5 + (n - 1) * LOOP instructions and n pauses.
    let per_loop = PAUSE_NS + LOOP - 1;
    assert_eq!(loops as u64, (WAIT as u64 + 1).div_ceil(per_loop));
    assert_eq!(ticks as u64, loops as u64 * per_loop - 1);
    assert_eq!(insns, 3 + loops as u64 * LOOP + 1);
}

#[test]
fn interpreted_pause_takes_its_time() {
    check_wait(false);
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn translated_pause_takes_its_time() {
    check_wait(true);
    assert_eq!(wait(true), wait(false));
}

/// Budgets of virtual time: each run stops within a loop of its deadline.
fn check_budget(jit: bool) {
    let (mut cpu, mut bus) = machine();
    let mut interp = engine(jit);
    let budget = 1000;
    for _ in 0..10 {
        let start = cpu.clock();
        assert_eq!(
            interp.run(&mut cpu, &mut bus, budget),
            Exit::InstructionLimit
        );
        let ran = cpu.clock() - start;
        assert!(
            ran >= budget && ran < budget + PAUSE_NS + LOOP,
            "a run of {budget} ns took {ran}"
        );
    }
}

#[test]
fn interpreted_run_stops_at_its_deadline() {
    check_budget(false);
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn translated_run_stops_at_its_deadline() {
    check_budget(true);
}
