//! REP MOVS/STOS/CMPS run a page's worth of elements at a time (`interp::string`'s bulk
//! paths); the same instruction without the prefix in a LOOP/LOOPE/LOOPNE goes one
//! element per instruction. Both must leave the same registers, flags and memory, for
//! every element size, overlapping moves (the destination a few bytes after the source
//! repeats a pattern) and compares that stop anywhere.

use ox86_core::cpu::state::{attr, Seg, Segment};
use ox86_core::interp::Interpreter;
use ox86_core::{Cpu, CpuModel, Exit, RamBus};

const CODE: u64 = 0x1_0000;
/// DS and ES: two pages of data at 0x20000.
const DATA: u64 = 0x2_0000;
const DATA_LEN: usize = 0x3000;

/// Run `code` in real mode with CS at 0x1000, DS = ES = 0x2000, the given SI, DI, CX and
/// AX, over `data`: the CPU and the data after.
fn run(code: &[u8], data: &[u8], si: u16, di: u16, cx: u16) -> (Cpu, Vec<u8>) {
    let mut bus = RamBus::new(1 << 20).expect("RAM");
    bus.mem.write_bytes(CODE, code);
    bus.mem.write_bytes(DATA, data);
    let mut cpu = Cpu::new(CpuModel::P6);
    cpu.s.segs[Seg::Cs as usize] = Segment::real((CODE >> 4) as u16);
    cpu.s.segs[Seg::Cs as usize].attr |= attr::CODE;
    cpu.s.segs[Seg::Ds as usize] = Segment::real((DATA >> 4) as u16);
    cpu.s.segs[Seg::Es as usize] = Segment::real((DATA >> 4) as u16);
    cpu.s.regs[6] = si as u32;
    cpu.s.regs[7] = di as u32;
    cpu.s.regs[1] = cx as u32;
    cpu.s.regs[0] = 0x8badf00d;
    let mut interp = Interpreter::new();
    assert_eq!(interp.run(&mut cpu, &mut bus, 1 << 20), Exit::Halted);
    let mut out = vec![0; DATA_LEN];
    out.copy_from_slice(&bus.mem.ram()[DATA as usize..DATA as usize + DATA_LEN]);
    (cpu, out)
}

struct Lcg(u32);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        self.0 >> 8
    }
}

#[test]
fn rep_strings_match_their_single_steps() {
    let mut g = Lcg(0x5eed);
    let mut cases = 0;
    // (opcode bytes, loop opcode: LOOP, LOOPE or LOOPNE, prefix for the REP form)
    let forms: [(&[u8], u8, u8); 11] = [
        (&[0xa4], 0xe2, 0xf3),       // MOVSB
        (&[0xa5], 0xe2, 0xf3),       // MOVSW
        (&[0x66, 0xa5], 0xe2, 0xf3), // MOVSD
        (&[0xaa], 0xe2, 0xf3),       // STOSB
        (&[0xab], 0xe2, 0xf3),       // STOSW
        (&[0x66, 0xab], 0xe2, 0xf3), // STOSD
        (&[0xa6], 0xe1, 0xf3),       // REPE CMPSB
        (&[0xa7], 0xe1, 0xf3),       // REPE CMPSW
        (&[0x66, 0xa7], 0xe1, 0xf3), // REPE CMPSD
        (&[0xa6], 0xe0, 0xf2),       // REPNE CMPSB
        (&[0x66, 0xa7], 0xe0, 0xf2), // REPNE CMPSD
    ];
    for &(op, looped, prefix) in &forms {
        for case in 0..40 {
            let mut data: Vec<u8> = (0..DATA_LEN).map(|_| g.next() as u8).collect();
            let cx = 1 + (g.next() % 0x900) as u16;
            let si = (g.next() % 0x1000) as u16;
            // Overlapping forward (a few bytes after), backward, or anywhere.
            let di = match case % 3 {
                0 => si + 1 + (g.next() % 9) as u16,
                1 => si.saturating_sub(1 + (g.next() % 9) as u16),
                _ => (g.next() % 0x1000) as u16,
            };
            if prefix == 0xf3 && op.last() != Some(&0xaa) && case % 2 == 0 {
                // Mostly equal, so REPE runs long: one difference somewhere, or none.
                let (s, d) = (si as usize, di as usize);
                let len = 0x1800.min(DATA_LEN - s.max(d));
                let src: Vec<u8> = data[s..s + len].to_vec();
                data[d..d + len].copy_from_slice(&src);
                if case % 4 == 0 {
                    let at = d + (g.next() as usize % len);
                    data[at] ^= 0x40;
                }
            }
            let mut rep = vec![prefix];
            rep.extend(op);
            rep.push(0xf4);
            let mut single = op.to_vec();
            single.extend([looped, (-(op.len() as i8) - 2) as u8, 0xf4]);
            let (a, ram_a) = run(&rep, &data, si, di, cx);
            let (b, ram_b) = run(&single, &data, si, di, cx);
            let what = format!("{op:02x?} prefix {prefix:02x} si {si:#x} di {di:#x} cx {cx:#x}");
            assert_eq!(a.s.regs, b.s.regs, "registers differ: {what}");
            assert_eq!(a.eflags(), b.eflags(), "flags differ: {what}");
            assert!(ram_a == ram_b, "memory differs: {what}");
            cases += 1;
        }
    }
    assert_eq!(cases, 11 * 40);
}
