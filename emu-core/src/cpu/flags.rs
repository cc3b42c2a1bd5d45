//! EFLAGS with lazy arithmetic flags: ALU operations record operands, result and kind;
//! CF/PF/AF/ZF/SF/OF are computed only when read.

pub const CF: u32 = 1 << 0;
pub const PF: u32 = 1 << 2;
pub const AF: u32 = 1 << 4;
pub const ZF: u32 = 1 << 6;
pub const SF: u32 = 1 << 7;
pub const TF: u32 = 1 << 8;
pub const IF: u32 = 1 << 9;
pub const DF: u32 = 1 << 10;
pub const OF: u32 = 1 << 11;
pub const IOPL: u32 = 3 << 12;
pub const NT: u32 = 1 << 14;
pub const RF: u32 = 1 << 16;
pub const VM: u32 = 1 << 17;
pub const AC: u32 = 1 << 18;
pub const VIF: u32 = 1 << 19;
pub const VIP: u32 = 1 << 20;
pub const ID: u32 = 1 << 21;
pub const ARITH: u32 = CF | PF | AF | ZF | SF | OF;

/// What produced the lazy flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum LazyOp {
    /// Arithmetic flags are in `bits`.
    #[default]
    None,
    Add,
    /// ADC with carry in set (ADC with carry clear is recorded as Add).
    Adc,
    Sub,
    /// SBB with borrow in set.
    Sbb,
    /// AND/OR/XOR/TEST: CF=OF=0, AF=0.
    Logic,
    /// INC/DEC: like Add/Sub of 1, CF kept in `bits`.
    Inc,
    Dec,
    /// SHL/SHR/SAR: `a` the operand, `b` the count (1-31), `r` the result. AF=0.
    Shl,
    Shr,
    Sar,
    /// MUL/IMUL: SF/ZF/PF from `r` (the low half of the product), AF=0, CF=OF=`a`
    /// (1 when the product does not fit the low half).
    Mul,
}

#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
#[repr(C)]
pub struct Flags {
    /// All flags; the arithmetic ones are valid only where `op` is None (CF also for Inc/Dec).
    pub bits: u32,
    pub op: LazyOp,
    /// Operand width in bits minus one (7, 15, 31).
    pub top: u8,
    pub a: u32,
    pub b: u32,
    pub r: u32,
}

#[inline]
fn parity(v: u32) -> bool {
    (v as u8).count_ones().is_multiple_of(2)
}

impl Flags {
    pub fn new(bits: u32) -> Self {
        Self {
            bits: bits | 2,
            ..Default::default()
        }
    }

    #[inline]
    pub fn set_lazy(&mut self, op: LazyOp, size: u8, a: u32, b: u32, r: u32) {
        if matches!(op, LazyOp::Inc | LazyOp::Dec) {
            let cf = self.cf();
            self.bits = (self.bits & !CF) | cf as u32;
        }
        self.op = op;
        self.top = size * 8 - 1;
        self.a = a;
        self.b = b;
        self.r = r;
    }

    #[inline]
    fn mask(&self) -> u32 {
        u32::MAX >> (31 - self.top)
    }

    #[inline]
    fn sign(&self, v: u32) -> bool {
        (v >> self.top) & 1 != 0
    }

    /// The operand sign-extended from its width.
    #[inline]
    fn sext(&self, v: u32) -> i32 {
        ((v << (31 - self.top)) as i32) >> (31 - self.top)
    }

    #[inline]
    pub fn cf(&self) -> bool {
        let m = self.mask();
        let bits = self.top as u32 + 1;
        match self.op {
            LazyOp::Shl => self.b <= bits && (self.a >> (bits - self.b)) & 1 != 0,
            LazyOp::Shr => self.b <= bits && (self.a >> (self.b - 1)) & 1 != 0,
            LazyOp::Sar => (self.sext(self.a) >> (self.b - 1).min(31)) & 1 != 0,
            LazyOp::None | LazyOp::Inc | LazyOp::Dec => self.bits & CF != 0,
            LazyOp::Add => self.r & m < self.a & m,
            LazyOp::Adc => self.r & m <= self.a & m,
            LazyOp::Sub => self.a & m < self.b & m,
            LazyOp::Sbb => self.a & m <= self.b & m,
            LazyOp::Logic => false,
            LazyOp::Mul => self.a != 0,
        }
    }

    #[inline]
    pub fn zf(&self) -> bool {
        match self.op {
            LazyOp::None => self.bits & ZF != 0,
            _ => self.r & self.mask() == 0,
        }
    }

    #[inline]
    pub fn sf(&self) -> bool {
        match self.op {
            LazyOp::None => self.bits & SF != 0,
            _ => self.sign(self.r),
        }
    }

    #[inline]
    pub fn pf(&self) -> bool {
        match self.op {
            LazyOp::None => self.bits & PF != 0,
            _ => parity(self.r),
        }
    }

    #[inline]
    pub fn of(&self) -> bool {
        let (a, b, r) = (self.a, self.b, self.r);
        match self.op {
            LazyOp::None => self.bits & OF != 0,
            LazyOp::Add | LazyOp::Adc | LazyOp::Inc => self.sign((a ^ r) & (b ^ r)),
            LazyOp::Sub | LazyOp::Sbb | LazyOp::Dec => self.sign((a ^ b) & (a ^ r)),
            LazyOp::Logic | LazyOp::Sar => false,
            LazyOp::Mul => a != 0,
            LazyOp::Shl => self.sign(r) != self.cf(),
            LazyOp::Shr => self.b == 1 && self.sign(a),
        }
    }

    #[inline]
    pub fn af(&self) -> bool {
        match self.op {
            LazyOp::None => self.bits & AF != 0,
            LazyOp::Logic | LazyOp::Shl | LazyOp::Shr | LazyOp::Sar | LazyOp::Mul => false,
            _ => (self.a ^ self.b ^ self.r) & 0x10 != 0,
        }
    }

    #[inline]
    pub fn df(&self) -> bool {
        self.bits & DF != 0
    }

    /// The full EFLAGS value.
    pub fn get(&self) -> u32 {
        if self.op == LazyOp::None {
            return self.bits;
        }
        let mut f = self.bits & !ARITH;
        f |= self.cf() as u32 * CF;
        f |= self.pf() as u32 * PF;
        f |= self.af() as u32 * AF;
        f |= self.zf() as u32 * ZF;
        f |= self.sf() as u32 * SF;
        f |= self.of() as u32 * OF;
        f
    }

    /// Replace EFLAGS (bit 1 always reads 1; bits 3, 5, 15 always 0).
    #[inline]
    pub fn set(&mut self, v: u32) {
        self.bits = (v | 2) & !(1 << 3 | 1 << 5 | 1 << 15);
        self.op = LazyOp::None;
    }

    /// Replace only the bits in `mask`.
    #[inline]
    pub fn set_masked(&mut self, v: u32, mask: u32) {
        let cur = self.get();
        self.set((cur & !mask) | (v & mask));
    }

    #[inline]
    pub fn set_bit(&mut self, bit: u32, on: bool) {
        if bit & ARITH != 0 {
            let cur = self.get();
            self.set(cur);
        }
        if on {
            self.bits |= bit;
        } else {
            self.bits &= !bit;
        }
    }

    /// Evaluate condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc opcodes).
    #[inline]
    pub fn cond(&self, cc: u8) -> bool {
        // CMP/SUB results decide every condition from the operands directly.
        if self.op == LazyOp::Sub {
            let sh = 31 - self.top as u32;
            let (a, b) = (self.a, self.b);
            let (sa, sb) = (((a << sh) as i32) >> sh, ((b << sh) as i32) >> sh);
            let r = match cc >> 1 {
                1 => a < b,
                2 => a == b,
                3 => a <= b,
                6 => sa < sb,
                7 => sa <= sb,
                0 => self.of(),
                4 => self.sf(),
                _ => self.pf(),
            };
            return r != (cc & 1 != 0);
        }
        let r = match cc >> 1 {
            0 => self.of(),
            1 => self.cf(),
            2 => self.zf(),
            3 => self.cf() || self.zf(),
            4 => self.sf(),
            5 => self.pf(),
            6 => self.sf() != self.of(),
            _ => self.zf() || (self.sf() != self.of()),
        };
        r != (cc & 1 != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_borrow_and_overflow() {
        let mut f = Flags::new(0);
        f.set_lazy(LazyOp::Sub, 1, 0x80, 0x01, 0x7f);
        assert!(!f.cf());
        assert!(f.of());
        assert!(f.af());
        f.set_lazy(LazyOp::Sub, 2, 1, 2, 0xffff);
        assert!(f.cf() && f.sf() && !f.zf());
    }

    #[test]
    fn inc_keeps_carry() {
        let mut f = Flags::new(CF);
        f.set_lazy(LazyOp::Inc, 4, 0x7fff_ffff, 1, 0x8000_0000);
        assert!(f.cf() && f.of() && f.sf());
        assert_eq!(f.get() & CF, CF);
    }
}
