//! Pieces the hand-assembled JIT tests share.

use ox86_core::interp::Interpreter;
use ox86_core::RamBus;

/// A JMP/Jcc/CALL rel32 at `at` (its length `len`) to `to`: the displacement's bytes.
#[allow(dead_code)] // Not every test branches.
pub fn rel(at: u32, len: u32, to: u32) -> [u8; 4] {
    to.wrapping_sub(at + len).to_le_bytes()
}

/// Page tables at `dir` and `table` that map the low 4 MiB to themselves, but for the
/// linear page `page`, mapped to frame `frame`.
#[allow(dead_code)] // Not every test pages.
pub fn map_low_4mib(bus: &mut RamBus, dir: u32, table: u32, page: u32, frame: u32) {
    let m = &mut bus.mem;
    m.write_bytes(dir as u64, &(table | 7).to_le_bytes());
    for p in 0..1024u32 {
        let to = if p << 12 == page { frame } else { p << 12 };
        m.write_bytes((table + 4 * p) as u64, &(to | 7).to_le_bytes());
    }
}

/// The interpreter translating every block from its first run, with the JIT when `jit`
/// (where the host has a backend), else alone.
#[allow(dead_code)] // Not every test compares the two.
pub fn engine(jit: bool) -> Interpreter<RamBus> {
    let mut interp = Interpreter::new();
    interp.threshold = 1;
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    if jit {
        let j = ox86_jit::Jit::<RamBus>::new(1 << 20).expect("JIT");
        interp.accel = Some(Box::new(j));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = jit;
    interp
}
