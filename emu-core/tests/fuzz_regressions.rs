//! Bugs the no-panic fuzz test (tests/no_panic.rs) found, pinned down as exact checks.

use ox86_core::cpu::flags::CF;
use ox86_core::cpu::state::{attr, Seg, Segment};
use ox86_core::interp::Interpreter;
use ox86_core::{Bus, Cpu, CpuModel, Exit, PhysMemory};

struct TestBus {
    mem: PhysMemory,
    /// Open bus as a board may well model it: all ones, whatever the access size.
    unmasked: bool,
}

impl Bus for TestBus {
    fn mem(&mut self) -> &mut PhysMemory {
        &mut self.mem
    }
    fn mmio_read(&mut self, _: u64, size: u8) -> u32 {
        if self.unmasked {
            u32::MAX
        } else {
            u32::MAX >> (32 - 8 * size as u32)
        }
    }
    fn mmio_write(&mut self, _: u64, _: u8, _: u32) {}
    fn io_read(&mut self, _: u16, size: u8) -> u32 {
        u32::MAX >> (32 - 8 * size as u32)
    }
    fn io_write(&mut self, _: u16, _: u8, _: u32) {}
}

/// Run `code` then HLT in real mode at 1000:0000 with EAX = a, EBX = b; return the CPU.
fn run_real(code: &[u8], a: u32, b: u32) -> Cpu {
    run_real_on(code, [a, 0, 0, b, 0x8000, 0, 0, 0], false, false)
}

/// Run `code` then HLT in real mode at 1000:0000 with `regs`; `unreal` gives DS a 4 GiB
/// limit, `unmasked` makes the bus return all ones on every MMIO read.
fn run_real_on(code: &[u8], regs: [u32; 8], unreal: bool, unmasked: bool) -> Cpu {
    let mut bus = TestBus {
        mem: PhysMemory::new(2 << 20).expect("RAM"),
        unmasked,
    };
    let mut cpu = Cpu::new(CpuModel::P6);
    cpu.s.segs[Seg::Cs as usize] = Segment::real(0x1000);
    cpu.s.segs[Seg::Cs as usize].attr |= attr::CODE;
    cpu.s.eip = 0;
    cpu.s.regs = regs;
    if unreal {
        cpu.s.segs[Seg::Ds as usize].limit = u32::MAX;
    }
    let mut bytes = code.to_vec();
    bytes.push(0xf4);
    bus.mem.write_bytes(0x1_0000, &bytes);
    let exit = Interpreter::new().run(&mut cpu, &mut bus, 100);
    assert_eq!(
        exit,
        Exit::Halted,
        "code {code:02x?} did not reach its HLT (EIP={:#x})",
        cpu.s.eip
    );
    assert_eq!(cpu.stats.exceptions, 0, "code {code:02x?} faulted");
    cpu
}

#[track_caller]
fn check(got: u32, want: u32, what: &str) {
    assert!(
        got == want,
        "{what}: expected {want:#010x}, got {got:#010x}"
    );
}

const A: u32 = 0x1234_5678;
const B: u32 = 0x9abc_def0;

/// SHLD/SHRD with 32-bit operands: the result takes the vacated bits from the source.
/// (Found as "attempt to shift left with overflow" in interp/shift.rs `double_shift`:
/// `a64 << (2 * bits)` shifts a u64 by 64 when the operand size is 32.)
#[test]
fn shld_shrd_32bit() {
    for count in [1u8, 4, 16, 31] {
        let c = count as u32;
        // 66 0F A4 D8 ib: shld eax, ebx, imm8
        let cpu = run_real(&[0x66, 0x0f, 0xa4, 0xd8, count], A, B);
        let want = (A << c) | (B >> (32 - c));
        let want_cf = (A >> (32 - c)) & 1 != 0;
        check(cpu.s.regs[0], want, &format!("shld eax, ebx, {count}: EAX"));
        assert_eq!(
            cpu.s.flags.get() & CF != 0,
            want_cf,
            "shld eax, ebx, {count}: CF"
        );

        // 66 0F AC D8 ib: shrd eax, ebx, imm8
        let cpu = run_real(&[0x66, 0x0f, 0xac, 0xd8, count], A, B);
        let want = (A >> c) | (B << (32 - c));
        let want_cf = (A >> (c - 1)) & 1 != 0;
        check(cpu.s.regs[0], want, &format!("shrd eax, ebx, {count}: EAX"));
        assert_eq!(
            cpu.s.flags.get() & CF != 0,
            want_cf,
            "shrd eax, ebx, {count}: CF"
        );
    }
}

/// The 16-bit forms, for comparison (counts up to 15 are defined).
#[test]
fn shld_shrd_16bit() {
    let (a, b) = (A & 0xffff, B & 0xffff);
    for count in [1u8, 4, 15] {
        let c = count as u32;
        // 0F A4 D8 ib: shld ax, bx, imm8
        let cpu = run_real(&[0x0f, 0xa4, 0xd8, count], A, B);
        let want = ((a << c) | (b >> (16 - c))) & 0xffff;
        check(
            cpu.s.regs[0],
            (A & 0xffff_0000) | want,
            &format!("shld ax, bx, {count}"),
        );
        // 0F AC D8 ib: shrd ax, bx, imm8
        let cpu = run_real(&[0x0f, 0xac, 0xd8, count], A, B);
        let want = ((a >> c) | (b << (16 - c))) & 0xffff;
        check(
            cpu.s.regs[0],
            (A & 0xffff_0000) | want,
            &format!("shrd ax, bx, {count}"),
        );
    }
}

/// A narrow read outside RAM yields only the bytes read, even when the bus hands back a
/// full 32-bit value (the Bus trait does not require `mmio_read` to mask to `size`).
/// (Found as "attempt to add with overflow" in `Cpu::check_io`: a 2-byte read of the TSS
/// I/O map base from MMIO returned 0xffffffff.)
#[test]
fn narrow_reads_outside_ram_are_zero_extended() {
    const OUTSIDE_RAM: u32 = 0x30_0000;
    // 67 66 0F B7 06: movzx eax, word [esi]; 67 66 0F B6 06: movzx eax, byte [esi]
    for (code, want, what) in [
        (
            &[0x67, 0x66, 0x0f, 0xb7, 0x06][..],
            0xffff,
            "movzx eax, word [esi]",
        ),
        (
            &[0x67, 0x66, 0x0f, 0xb6, 0x06][..],
            0xff,
            "movzx eax, byte [esi]",
        ),
    ] {
        let regs = [0, 0, 0, 0, 0x8000, 0, OUTSIDE_RAM, 0];
        // A bus that masks to the access size (as the PC board does).
        let cpu = run_real_on(code, regs, true, false);
        check(
            cpu.s.regs[0],
            want,
            &format!("{what} with ESI={OUTSIDE_RAM:#x} (masking bus)"),
        );
        // A bus that returns all ones whatever the size.
        let cpu = run_real_on(code, regs, true, true);
        check(
            cpu.s.regs[0],
            want,
            &format!("{what} with ESI={OUTSIDE_RAM:#x} (open bus)"),
        );
    }
}
