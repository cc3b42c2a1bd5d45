//! A block whose instruction crosses into the next page runs translated while that page
//! stays mapped where the block was decoded from: when a page-table write and INVLPG
//! map the second page elsewhere, the next entry into the block (chained from the
//! block before it, not through the dispatcher) must not run the old code. Interpreter
//! and JIT must both add the immediate the current mapping gives.

mod common;

use common::{map_low_4mib, rel};
use ox86_core::cpu::state::{DescTable, CR0_PG};
use ox86_core::interp::Interpreter;
use ox86_core::{Cpu, CpuModel, Exit, RamBus};
use ox86_jit::Jit;

const PAGE_DIR: u32 = 0x5000;
const PAGE_TABLE: u32 = 0x6000;
/// The linear page the crossing instruction ends in, and the two physical pages it is
/// mapped to, before and after the loop's 100th pass.
const SECOND: u32 = 0x11000;
const FIRST_MAP: u32 = 0x20000;
const SECOND_MAP: u32 = 0x30000;
const LOOPS: u32 = 200;

/// The program, at linear 0x10000:
///   0x10000  mov ecx, LOOPS ; xor eax, eax ; jmp loop
///   0x10100  remap: mov dword [PTE of SECOND], SECOND_MAP | 7 ; invlpg [SECOND] ;
///                   mov edx, [SECOND] ; jmp back
///   0x10ff0  loop: cmp ecx, 100 ; je remap
///   0x10ff9  back: nop x4
///   0x10ffd  add eax, imm32      (its last two bytes in the second page)
///   0x11002  dec ecx ; jnz loop ; hlt
fn load(bus: &mut RamBus) {
    let m = &mut bus.mem;
    let mut start = vec![0xb9];
    start.extend(LOOPS.to_le_bytes());
    start.extend([0x31, 0xc0, 0xe9]);
    start.extend(rel(0x10007, 5, 0x10ff0));
    m.write_bytes(0x10000, &start);
    let mut remap = vec![0xc7, 0x05];
    remap.extend((PAGE_TABLE + 4 * (SECOND >> 12)).to_le_bytes());
    remap.extend((SECOND_MAP | 7).to_le_bytes());
    remap.extend([0x0f, 0x01, 0x3d]);
    remap.extend(SECOND.to_le_bytes());
    // A read there fills the soft TLB with the new mapping.
    remap.extend([0x8b, 0x15]);
    remap.extend(SECOND.to_le_bytes());
    remap.push(0xe9);
    remap.extend(rel(0x10117, 5, 0x10ff9));
    m.write_bytes(0x10100, &remap);
    let mut looped = vec![0x83, 0xf9, 0x64, 0x0f, 0x84];
    looped.extend(rel(0x10ff3, 6, 0x10100));
    looped.extend([0x90, 0x90, 0x90, 0x90, 0x05, 0x44, 0x33]);
    m.write_bytes(0x10ff0, &looped);
    // The immediate's top half, then DEC ECX ; JNZ loop ; HLT, in both mappings.
    for (phys, top) in [(FIRST_MAP, 0x1111u16), (SECOND_MAP, 0x2222)] {
        let mut tail = top.to_le_bytes().to_vec();
        tail.extend([0x49, 0x0f, 0x85]);
        tail.extend(rel(SECOND + 3, 6, 0x10ff0));
        tail.push(0xf4);
        m.write_bytes(phys as u64, &tail);
    }
    map_low_4mib(bus, PAGE_DIR, PAGE_TABLE, SECOND, FIRST_MAP);
}

fn run(jit: bool) -> (Cpu, Interpreter<RamBus>) {
    let mut bus = RamBus::new(1 << 20).expect("RAM");
    load(&mut bus);
    let mut cpu = Cpu::new(CpuModel::P6);
    cpu.enter_flat32(DescTable::default(), 8, 16, 0x10000);
    cpu.s.cr3 = PAGE_DIR;
    cpu.s.cr0 |= CR0_PG;
    let mut interp = Interpreter::new();
    interp.threshold = 1;
    if jit {
        let jit = Jit::<RamBus>::new(1 << 20).and_then(|j| j.count_chains(true));
        interp.accel = Some(Box::new(jit.expect("JIT")));
    }
    assert_eq!(interp.run(&mut cpu, &mut bus, 100_000), Exit::Halted);
    (cpu, interp)
}

fn expected_eax() -> u32 {
    let half = LOOPS / 2;
    0x1111_3344u32
        .wrapping_mul(half)
        .wrapping_add(0x2222_3344u32.wrapping_mul(half))
}

#[test]
fn interpreter_follows_the_second_page_mapping() {
    let (cpu, _) = run(false);
    assert_eq!(cpu.stats.exceptions, 0);
    assert_eq!(cpu.s.regs[0], expected_eax());
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn translated_crossing_block_follows_the_second_page_mapping() {
    let (cpu, interp) = run(true);
    assert_eq!(cpu.stats.exceptions, 0);
    assert_eq!(cpu.s.regs[0], expected_eax());
    // The loop ran translated and chained, the crossing block among its blocks.
    let counters = interp.accel.as_ref().expect("JIT").counters();
    let get = |name: &str| counters.iter().find(|(n, _)| *n == name).expect(name).1;
    assert!(get("chained transitions") > 100, "{counters:?}");
    assert!(get("blocks translated") >= 4, "{counters:?}");
}
