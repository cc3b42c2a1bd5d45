//! Self-modifying code: a store into decoded code (the running block included, and
//! through a second mapping of the same bytes) must take effect before the modified
//! instruction runs again.

use ox86_core::cpu::state::{attr, Seg, Segment};
use ox86_core::interp::Interpreter;
use ox86_core::{Cpu, CpuModel, Exit, RamBus};

fn real_mode_cpu(cs: u16) -> Cpu {
    let mut cpu = Cpu::new(CpuModel::P6);
    cpu.s.segs[Seg::Cs as usize] = Segment::real(cs);
    cpu.s.segs[Seg::Cs as usize].attr |= attr::CODE;
    cpu.s.segs[Seg::Ds as usize] = Segment::real(cs);
    cpu.s.eip = 0;
    cpu
}

/// The store patches the immediate of the very next instruction in the same block.
#[test]
fn store_into_running_block() {
    // 0000: mov byte [0x0006], 0x42   (C6 06 06 00 42)
    // 0005: mov al, 0x00              (B0 00; the immediate is at 0x0006)
    // 0007: hlt
    let code = [0xc6, 0x06, 0x06, 0x00, 0x42, 0xb0, 0x00, 0xf4];
    let mut bus = RamBus::new(2 << 20).expect("RAM");
    bus.mem.write_bytes(0x1_0000, &code);
    let mut cpu = real_mode_cpu(0x1000);
    let mut interp = Interpreter::new();
    assert_eq!(interp.run(&mut cpu, &mut bus, 100), Exit::Halted);
    assert_eq!(
        cpu.s.regs[0] & 0xff,
        0x42,
        "the patched immediate was not seen"
    );
}

/// A loop runs its block many times (so it is cached), then patches it and runs again.
#[test]
fn store_into_cached_block_from_outside() {
    // 0000: mov cx, 3                  B9 03 00
    // 0003: add ax, 1                  05 01 00   (immediate at 0x0004)
    // 0006: loop 0x0003                E2 FB
    // 0008: cmp bx, 0                  83 FB 00
    // 000B: jne 0x0016                 75 09
    // 000D: inc bx                     43
    // 000E: mov word [0x0004], 0x0010  C7 06 04 00 10 00
    // 0014: jmp 0x0000                 EB EA
    // 0016: hlt                        F4
    let code = [
        0xb9, 0x03, 0x00, 0x05, 0x01, 0x00, 0xe2, 0xfb, 0x83, 0xfb, 0x00, 0x75, 0x09, 0x43, 0xc7,
        0x06, 0x04, 0x00, 0x10, 0x00, 0xeb, 0xea, 0xf4,
    ];
    let mut bus = RamBus::new(2 << 20).expect("RAM");
    bus.mem.write_bytes(0x1_0000, &code);
    let mut cpu = real_mode_cpu(0x1000);
    let mut interp = Interpreter::new();
    assert_eq!(interp.run(&mut cpu, &mut bus, 1000), Exit::Halted);
    // First pass adds 1 three times, second pass 0x10 three times.
    assert_eq!(cpu.s.regs[0] & 0xffff, 3 + 0x30);
    assert!(cpu.stats.blocks_invalidated > 0, "no block was invalidated");
}
