//! An MMIO window inside RAM (`PhysMemory::set_mmio`, as VGA's 0xA0000-0xBFFFF), under
//! the interpreter and the JIT: loads and stores there (the translated loop's inline ones
//! too) miss the soft TLB (the page is never entered) and every one reaches the bus; code
//! in the window is fetched through the bus; the RAM underneath stays untouched.

use ox86_core::cpu::state::DescTable;
use ox86_core::interp::Interpreter;
use ox86_core::{Bus, Cpu, CpuModel, Exit, PhysMemory};
use ox86_jit::Jit;

const WINDOW: u64 = 0xa0000;
const WINDOW_LEN: u64 = 0x20000;

/// RAM with a device behind the window that counts its accesses.
struct WindowBus {
    mem: PhysMemory,
    dev: Vec<u8>,
    reads: u32,
    writes: u32,
}

impl Bus for WindowBus {
    fn mem(&mut self) -> &mut PhysMemory {
        &mut self.mem
    }
    fn mmio_read(&mut self, pa: u64, size: u8) -> u32 {
        assert!((WINDOW..WINDOW + WINDOW_LEN).contains(&pa), "{pa:#x}");
        self.reads += 1;
        let a = (pa - WINDOW) as usize;
        (0..size as usize).fold(0, |v, k| v | (self.dev[a + k] as u32) << (8 * k))
    }
    fn mmio_write(&mut self, pa: u64, size: u8, value: u32) {
        assert!((WINDOW..WINDOW + WINDOW_LEN).contains(&pa), "{pa:#x}");
        self.writes += 1;
        let a = (pa - WINDOW) as usize;
        for k in 0..size as usize {
            self.dev[a + k] = (value >> (8 * k)) as u8;
        }
    }
    fn io_read(&mut self, _: u16, _: u8) -> u32 {
        0xffff_ffff
    }
    fn io_write(&mut self, _: u16, _: u8, _: u32) {}
}

/// 32-bit code at 0x8000:
///   mov ecx, 100
/// L: mov [0xA0000], ecx ; mov eax, [0xA0000] ; add edx, eax ; dec ecx ; jnz L
///   jmp 0xA1000          ; into the window: mov ebx, 0x1234 ; hlt
const CODE: [u8; 26] = [
    0xb9, 0x64, 0x00, 0x00, 0x00, 0x89, 0x0d, 0x00, 0x00, 0x0a, 0x00, 0xa1, 0x00, 0x00, 0x0a, 0x00,
    0x01, 0xc2, 0x49, 0x75, 0xf0, 0xe9, 0xe6, 0x8f, 0x09, 0x00,
];
const IN_WINDOW: [u8; 6] = [0xbb, 0x34, 0x12, 0x00, 0x00, 0xf4];

#[test]
fn interpreted_window_accesses_always_reach_the_bus() {
    window_run(false);
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn translated_window_accesses_always_reach_the_bus() {
    window_run(true);
}

fn window_run(jit: bool) {
    let mut mem = PhysMemory::new(2 << 20).expect("RAM");
    mem.write_bytes(0x8000, &CODE);
    // RAM under the window, hidden once the window is on.
    mem.write_bytes(WINDOW, &[0x55; 16]);
    mem.set_mmio(WINDOW, WINDOW_LEN, true);
    assert!(!mem.is_ram(WINDOW) && !mem.is_ram(WINDOW + WINDOW_LEN - 1));
    assert!(mem.is_ram(WINDOW - 1) && mem.is_ram(WINDOW + WINDOW_LEN));
    let mut dev = vec![0; WINDOW_LEN as usize];
    dev[0x1000..0x1006].copy_from_slice(&IN_WINDOW);
    let mut bus = WindowBus {
        mem,
        dev,
        reads: 0,
        writes: 0,
    };
    let mut cpu = Cpu::new(CpuModel::P6);
    cpu.enter_flat32(DescTable::default(), 8, 16, 0x8000);
    cpu.s.regs[2] = 0; // EDX holds the CPU signature after reset
    let mut interp = Interpreter::new();
    interp.threshold = 1;
    if jit {
        interp.accel = Some(Box::new(Jit::<WindowBus>::new(1 << 20).expect("JIT")));
    }
    assert_eq!(interp.run(&mut cpu, &mut bus, 10_000), Exit::Halted);
    let translated = interp
        .accel
        .as_ref()
        .map(|a| a.counters())
        .unwrap_or_default();
    assert!(
        !jit || translated
            .iter()
            .any(|&(n, v)| n.contains("inlined") && v > 0),
        "{translated:?}"
    );
    assert_eq!(cpu.stats.exceptions, 0);
    // 100 stores and 100 loads, each a bus access; EDX = 100 + 99 + ... + 1.
    assert_eq!(bus.writes, 100);
    assert_eq!(cpu.s.regs[2], 5050);
    // The code in the window was fetched through the bus and ran.
    assert_eq!(cpu.s.regs[3], 0x1234);
    assert!(bus.reads >= 100 + 6, "reads {}", bus.reads);
    assert_eq!(&bus.dev[0..4], &[1, 0, 0, 0]);
    // The RAM underneath was not touched.
    bus.mem.set_mmio(WINDOW, WINDOW_LEN, false);
    assert_eq!(bus.mem.read_u32(WINDOW), 0x5555_5555);
}
