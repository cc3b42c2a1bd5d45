//! Global pages (CR4.PGE) survive a CR3 reload in the soft TLB; INVLPG drops them; pages
//! without G are dropped by the reload. (QEMU flushes globals on CR3 writes too, so this
//! is checked here rather than in a QEMU-recorded ROM.)

use ox86_core::cpu::state::{DescTable, CR0_PG};
use ox86_core::interp::Interpreter;
use ox86_core::{Cpu, CpuModel, Exit, RamBus};

/// 32-bit code at 0x8000:
///   mov eax,[0x5000]                  ; fills the TLB for page 0x5000
///   mov dword [0x2014], 0x6000|G|RW|P ; remap page 0x5000 to frame 0x6000
///   mov ecx,cr3 / mov cr3,ecx         ; flush non-global entries
///   mov ebx,[0x5000]                  ; old frame if the entry was global
///   invlpg [0x5000]
///   mov edx,[0x5000]                  ; new frame
///   hlt
const CODE: [u8; 41] = [
    0xa1, 0x00, 0x50, 0x00, 0x00, 0xc7, 0x05, 0x14, 0x20, 0x00, 0x00, 0x03, 0x61, 0x00, 0x00, 0x0f,
    0x20, 0xd9, 0x0f, 0x22, 0xd9, 0x8b, 0x1d, 0x00, 0x50, 0x00, 0x00, 0x0f, 0x01, 0x3d, 0x00, 0x50,
    0x00, 0x00, 0x8b, 0x15, 0x00, 0x50, 0x00, 0x00, 0xf4,
];

const OLD: u32 = 0xaaaa_aaaa;
const NEW: u32 = 0xbbbb_bbbb;

/// Run CODE with page 0x5000 mapped global (or not); returns (EAX, EBX, EDX).
fn run(global: bool) -> (u32, u32, u32) {
    let mut bus = RamBus::new(2 << 20).expect("RAM");
    let m = &mut bus.mem;
    // Page directory at 0x1000 -> page table at 0x2000 identity-mapping the first 4 MiB.
    m.write_bytes(0x1000, &(0x2000u32 | 3).to_le_bytes());
    for i in 0..1024u32 {
        let g = if global && i == 5 { 0x100 } else { 0 };
        m.write_bytes(0x2000 + 4 * i as u64, &(i << 12 | 3 | g).to_le_bytes());
    }
    m.write_bytes(0x5000, &OLD.to_le_bytes());
    m.write_bytes(0x6000, &NEW.to_le_bytes());
    m.write_bytes(0x8000, &CODE);
    let mut cpu = Cpu::new(CpuModel::P6);
    cpu.enter_flat32(DescTable::default(), 8, 16, 0x8000);
    cpu.s.cr3 = 0x1000;
    cpu.s.cr4 = 1 << 7; // PGE
    cpu.s.cr0 |= CR0_PG;
    assert_eq!(
        Interpreter::new().run(&mut cpu, &mut bus, 100),
        Exit::Halted
    );
    assert_eq!(cpu.stats.exceptions, 0);
    (cpu.s.regs[0], cpu.s.regs[3], cpu.s.regs[2])
}

#[test]
fn global_entry_survives_cr3_reload_until_invlpg() {
    assert_eq!(run(true), (OLD, OLD, NEW));
}

#[test]
fn non_global_entry_is_dropped_by_cr3_reload() {
    assert_eq!(run(false), (OLD, NEW, NEW));
}
