//! A block translated while DS is based at 0 takes that base for granted, and tests it
//! at its first DS access only. Run later with DS flat but based elsewhere, that test
//! fails and the access takes its slow path: the block must end there, or the accesses
//! after it, which skip the test, would go on adding no base
//! (`helpers::run_slow_path`'s check of the flat mask's zero-base bits).

mod common;

use common::rel;
use ox86_core::cpu::state::DescTable;
use ox86_core::interp::Interpreter;
use ox86_core::{Cpu, CpuModel, Exit, RamBus};
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use ox86_jit::Jit;

const GDT: u32 = 0x1000;
/// Flat data selectors: based at 0, and at `BASE` (page-aligned, limit 4 GiB).
const DATA0: u16 = 16;
const DATA_BASED: u16 = 24;
const BASE: u32 = 0x2_0000;
/// Where `f` adds two dwords and stores the sum, as DS offsets.
const X: u32 = 0x3000;
/// Calls of `f` with DS based at 0 before the switch.
const PASSES: u32 = 8;
const F: u32 = 0x10100;

/// The program, at 0x10000:
///   mov ecx, PASSES ; a: call f ; dec ecx ; jnz a
///   mov ax, DATA_BASED ; mov ds, ax ; call f ; hlt
/// and f: mov eax, [X] ; add eax, [X + 4] ; mov [X + 8], eax ; ret
fn load(bus: &mut RamBus) {
    let m = &mut bus.mem;
    m.write_bytes(GDT as u64 + 8, &0x00cf_9a00_0000_ffffu64.to_le_bytes());
    m.write_bytes(GDT as u64 + 16, &0x00cf_9200_0000_ffffu64.to_le_bytes());
    m.write_bytes(GDT as u64 + 24, &0x00cf_9202_0000_ffffu64.to_le_bytes());
    let mut code = vec![0xb9];
    code.extend(PASSES.to_le_bytes());
    code.push(0xe8);
    code.extend(rel(0x10005, 5, F));
    code.extend([0x49, 0x75, 0xf8]);
    code.extend([0x66, 0xb8]);
    code.extend(DATA_BASED.to_le_bytes());
    code.extend([0x8e, 0xd8, 0xe8]);
    code.extend(rel(0x10013, 5, F));
    code.push(0xf4);
    m.write_bytes(0x10000, &code);
    let mut f = vec![0xa1];
    f.extend(X.to_le_bytes());
    f.extend([0x03, 0x05]);
    f.extend((X + 4).to_le_bytes());
    f.push(0xa3);
    f.extend((X + 8).to_le_bytes());
    f.push(0xc3);
    m.write_bytes(F as u64, &f);
    for (base, a, b) in [(0, 1u32, 2u32), (BASE, 10, 20)] {
        m.write_bytes((base + X) as u64, &a.to_le_bytes());
        m.write_bytes((base + X + 4) as u64, &b.to_le_bytes());
    }
}

/// The sums `f` stored with DS based at 0 and at `BASE`.
fn run(interp: &mut Interpreter<RamBus>) -> (u32, u32) {
    let mut bus = RamBus::new(1 << 20).expect("RAM");
    load(&mut bus);
    let mut cpu = Cpu::new(CpuModel::P6);
    let gdt = DescTable {
        base: GDT,
        limit: 31,
    };
    cpu.enter_flat32(gdt, 8, DATA0, 0x10000);
    cpu.s.regs[4] = 0x9000;
    interp.threshold = 1;
    assert_eq!(interp.run(&mut cpu, &mut bus, 100_000), Exit::Halted);
    assert_eq!(cpu.stats.exceptions, 0);
    let sum = |base: u32| bus.mem.read_u32((base + X + 8) as u64);
    (sum(0), sum(BASE))
}

#[test]
fn interpreter_adds_the_new_base() {
    assert_eq!(run(&mut Interpreter::new()), (3, 30));
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn jit_ends_the_block_where_the_zero_base_went() {
    let mut interp = Interpreter::new();
    interp.accel = Some(Box::new(Jit::<RamBus>::new(1 << 20).expect("JIT")));
    assert_eq!(run(&mut interp), (3, 30));
}
