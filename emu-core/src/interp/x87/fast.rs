//! Fast paths for the common case: normal operands whose result is normal. Add, subtract
//! and multiply are done exactly in integers (a 128-bit significand plus a sticky bit)
//! and rounded once, which is what the x87 does, so results, PE and C1 are identical to
//! the general `rustc_apfloat` path. Anything else (zeros, denormals, infinities, NaNs,
//! an exact zero sum, a result that overflows or is tiny) returns `None` and takes the
//! general path. The tests compare both paths on random operands.

use super::state::*;

/// Precision bits for the precision-control field (PC=01 is reserved; it rounds as 53).
fn precision(pc: u8) -> u32 {
    match pc & 3 {
        0 => 24,
        3 => 64,
        _ => 53,
    }
}

/// Round `m` (bit 127 set) with `sticky` (nonzero bits below it) to `p` bits under `rc`.
/// `e` is the biased exponent of `m`'s top bit. Returns the significand left-aligned in
/// 64 bits, the exponent after a carry, and flags (PE when inexact, C1 when rounded up).
fn round(sign: bool, e: i32, m: u128, sticky: bool, p: u32, rc: u8) -> (u64, i32, Flags) {
    let keep = m >> (128 - p);
    let rem = m & ((1u128 << (128 - p)) - 1);
    let half = 1u128 << (127 - p);
    let inexact = rem != 0 || sticky;
    let up = inexact
        && match rc & 3 {
            0 => rem > half || (rem == half && (sticky || keep & 1 != 0)),
            1 => sign,
            2 => !sign,
            _ => false,
        };
    let (mut keep, mut e) = (keep, e);
    if up {
        keep += 1;
        if keep >> p != 0 {
            keep >>= 1;
            e += 1;
        }
    }
    let mut f = 0;
    if inexact {
        f |= SW_PE;
    }
    if up {
        f |= SW_C1;
    }
    ((keep << (64 - p)) as u64, e, f)
}

/// Round an exact result to the register format; `None` unless it stays normal. The
/// top binade is left to the general path too: there a value above the largest finite
/// one signals OE even when the rounding mode gives the largest finite value.
fn finish(sign: bool, e: i32, m: u128, sticky: bool, cw: u16) -> Option<(F80, Flags)> {
    if !(1..0x7ffe).contains(&e) {
        return None;
    }
    let pc = ((cw >> 8) & 3) as u8;
    let rc = ((cw >> 10) & 3) as u8;
    let (sig, e, f) = round(sign, e, m, sticky, precision(pc), rc);
    let se = (sign as u16) << 15 | e as u16;
    Some((F80 { sig, se }, f))
}

fn normal(v: F80) -> bool {
    v.class() == Class::Normal
}

/// a + b (or a - b when `sub`) for normal operands.
pub fn add(a: F80, b: F80, sub: bool, cw: u16) -> Option<(F80, Flags)> {
    if !normal(a) || !normal(b) {
        return None;
    }
    let bsign = b.sign() ^ sub;
    // Order by magnitude so the difference, if any, is non-negative.
    let (x, xs, y, ys) = if (a.exp(), a.sig) >= (b.exp(), b.sig) {
        (a, a.sign(), b, bsign)
    } else {
        (b, bsign, a, a.sign())
    };
    let d = (x.exp() - y.exp()) as u32;
    // 62 bits of headroom below each significand: no bits are lost for d <= 62, and a
    // larger shift leaves plenty of guard bits above the sticky one.
    let big = (x.sig as u128) << 62;
    let wide = (y.sig as u128) << 62;
    let (small, sticky) = if d >= 128 {
        (0, true)
    } else {
        (wide >> d, wide & ((1u128 << d) - 1) != 0)
    };
    let r = if xs == ys {
        big + small
    } else if sticky {
        // The true difference lies strictly between big - small - 1 and big - small.
        big - small - 1
    } else {
        big - small
    };
    if r == 0 {
        return None;
    }
    let t = 127 - r.leading_zeros() as i32;
    let m = r << (127 - t);
    finish(xs, x.exp() as i32 + t - 125, m, sticky, cw)
}

/// a * b for normal operands.
pub fn mul(a: F80, b: F80, cw: u16) -> Option<(F80, Flags)> {
    if !normal(a) || !normal(b) {
        return None;
    }
    let p = a.sig as u128 * b.sig as u128;
    let t = 127 - p.leading_zeros() as i32;
    let e = a.exp() as i32 + b.exp() as i32 - 16383 + t - 126;
    finish(a.sign() ^ b.sign(), e, p << (127 - t), false, cw)
}

/// A normal register value to IEEE single (`mbits` 23) or double (52) bits under `rc`,
/// when the result is normal in that format.
pub fn to_ieee(v: F80, rc: u8, mbits: u32) -> Option<(u64, Flags)> {
    if !normal(v) {
        return None;
    }
    let ebits = if mbits == 23 { 8 } else { 11 };
    let bias = (1i32 << (ebits - 1)) - 1;
    let e = v.exp() as i32 - 16383 + bias;
    // Tiny values round at a lower precision, and the top binade may overflow: leave
    // both to the general path.
    if !(1..(1 << ebits) - 2).contains(&e) {
        return None;
    }
    let (sig, e, f) = round(v.sign(), e, (v.sig as u128) << 64, false, mbits + 1, rc);
    let frac = (sig << 1) >> (64 - mbits);
    Some((
        (v.sign() as u64) << (mbits + ebits) | (e as u64) << mbits | frac,
        f,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::float::{binop_general, Op};
    use super::*;

    /// xorshift64*: deterministic operands.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        /// A normal value near exponent `e0`, with significands that often have long
        /// runs of equal bits (close operands, exact halves, carries).
        fn value(&mut self, e0: i32) -> F80 {
            let r = self.next();
            let sig = match r % 4 {
                0 => self.next(),
                1 => !0 << (self.next() % 64),
                2 => self.next() & !0 << (self.next() % 64),
                _ => (1 << 63) | (1 << (self.next() % 63)),
            } | 1 << 63;
            let e = (e0 + (self.next() % 140) as i32 - 70).clamp(1, 0x7ffe);
            F80 {
                sig,
                se: ((r >> 8) as u16 & 0x8000) | e as u16,
            }
        }
    }

    /// Compare the paths; true when the fast one applied.
    fn check(op: Op, a: F80, b: F80, cw: u16) -> bool {
        let fast = match op {
            Op::Add => add(a, b, false, cw),
            Op::Sub => add(a, b, true, cw),
            _ => mul(a, b, cw),
        };
        if let Some(r) = fast {
            let slow = binop_general(op, a, b, cw);
            assert_eq!(r, slow, "{a:x?} {b:x?} cw {cw:#x}");
        }
        fast.is_some()
    }

    #[test]
    fn add_sub_mul_match_the_general_path() {
        let mut g = Rng(0x9E37_79B9_7F4A_7C15);
        let mut fast = 0;
        for i in 0..400_000 {
            let cw = 0x037f & !0x0300 | ((i % 4) << 8) as u16 | (((i / 4) % 4) << 10) as u16;
            let e0 = match i % 3 {
                0 => 16383,
                1 => 3,
                _ => 0x7ffe - 3,
            };
            let a = g.value(e0);
            let b = g.value(a.exp() as i32);
            // Near-cancellation: b within a few ulps of a.
            let c = F80 {
                sig: a.sig.wrapping_add(g.next() % 5).max(1 << 63),
                se: a.se ^ 0x8000,
            };
            for op in [Op::Add, Op::Sub, Op::Mul] {
                fast += check(op, a, b, cw) as u32 + check(op, a, c, cw) as u32;
            }
        }
        // Most cases must have taken the fast path, or this compares nothing.
        assert!(fast > 1_200_000, "fast path taken {fast} times");
    }

    #[test]
    fn to_double_and_single_match_the_general_path() {
        use super::super::loadstore::to_ieee_general;
        use rustc_apfloat::ieee::{Double, Single};
        let mut g = Rng(0x1234_5678_9ABC_DEF1);
        let mut fast = 0;
        for i in 0..200_000 {
            let rc = (i % 4) as u8;
            let e0 = [16383, 16383 - 1022, 16383 + 1023, 16383 - 126, 16383 + 127][i % 5];
            let v = g.value(e0);
            for mbits in [23, 52] {
                if let Some(r) = to_ieee(v, rc, mbits) {
                    let slow = if mbits == 23 {
                        to_ieee_general::<Single>(v, rc, 32, 23)
                    } else {
                        to_ieee_general::<Double>(v, rc, 64, 52)
                    };
                    assert_eq!(r, slow, "{v:x?} rc {rc}");
                    fast += 1;
                }
            }
        }
        assert!(fast > 150_000, "fast path taken {fast} times");
    }
}
