//! x87 register file, control/status/tag words, and the stack discipline.

/// An 80-bit register: 64-bit significand (explicit integer bit) plus sign and
/// 15-bit biased exponent, exactly as in memory.
/// (`repr(C)`: the x86-64 JIT loads and stores registers with the host's FLD/FSTP m80.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(C)]
pub struct F80 {
    pub sig: u64,
    pub se: u16,
}

impl F80 {
    pub const ZERO: F80 = F80 { sig: 0, se: 0 };
    /// The QNaN "real indefinite" that masked invalid operations produce.
    pub const INDEFINITE: F80 = F80 {
        sig: 0xC000_0000_0000_0000,
        se: 0xFFFF,
    };
    pub fn exp(self) -> u16 {
        self.se & 0x7fff
    }
    pub fn sign(self) -> bool {
        self.se & 0x8000 != 0
    }
    pub fn bits(self) -> u128 {
        (self.se as u128) << 64 | self.sig as u128
    }
    pub fn from_bits(b: u128) -> F80 {
        F80 {
            sig: b as u64,
            se: (b >> 64) as u16,
        }
    }
    pub fn class(self) -> Class {
        let e = self.exp();
        let int = self.sig >> 63 != 0;
        match e {
            0 if self.sig == 0 => Class::Zero,
            0 => Class::Denormal,
            0x7fff if !int => Class::Unsupported,
            0x7fff if self.sig << 1 == 0 => Class::Inf,
            0x7fff if self.sig & (1 << 62) != 0 => Class::QNan,
            0x7fff => Class::SNan,
            _ if !int => Class::Unsupported,
            _ => Class::Normal,
        }
    }
    pub fn is_nan(self) -> bool {
        matches!(self.class(), Class::QNan | Class::SNan)
    }
    /// Quiet a NaN (set the significand's second-highest bit).
    pub fn quiet(self) -> F80 {
        F80 {
            sig: self.sig | 1 << 62,
            se: self.se,
        }
    }
    /// Tag of a (non-empty) register value.
    pub fn tag(self) -> u16 {
        match self.class() {
            Class::Normal => TAG_VALID,
            Class::Zero => TAG_ZERO,
            _ => TAG_SPECIAL,
        }
    }
}

/// Operand classes as the x87 distinguishes them (P6 treats unnormals, pseudo-NaNs and
/// pseudo-infinities as unsupported: invalid operand).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Zero,
    Denormal,
    Normal,
    Inf,
    QNan,
    SNan,
    Unsupported,
}

pub const TAG_VALID: u16 = 0;
pub const TAG_ZERO: u16 = 1;
pub const TAG_SPECIAL: u16 = 2;
pub const TAG_EMPTY: u16 = 3;

// Status word bits (TOP lives in `FpuState::top`, merged in by `status()`).
pub const SW_IE: u16 = 1 << 0;
pub const SW_DE: u16 = 1 << 1;
pub const SW_ZE: u16 = 1 << 2;
pub const SW_OE: u16 = 1 << 3;
pub const SW_UE: u16 = 1 << 4;
pub const SW_PE: u16 = 1 << 5;
pub const SW_SF: u16 = 1 << 6;
pub const SW_ES: u16 = 1 << 7;
pub const SW_C0: u16 = 1 << 8;
pub const SW_C1: u16 = 1 << 9;
pub const SW_C2: u16 = 1 << 10;
pub const SW_C3: u16 = 1 << 14;
pub const SW_B: u16 = 1 << 15;
pub const SW_CC: u16 = SW_C0 | SW_C1 | SW_C2 | SW_C3;
/// The six exception flags (SF comes with IE).
pub const SW_EXC: u16 = 0x3f;

/// Control word after FNINIT: all exceptions masked, 64-bit precision, round to nearest.
pub const CW_INIT: u16 = 0x037f;

/// The x87 state. `Default` is the FNINIT state, which ox86 also uses at RESET (a real
/// P6 comes out of RESET with CW=0x0040, but every BIOS and OS runs FNINIT before using
/// the FPU, so the difference is not observable in practice).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FpuState {
    /// Physical registers R0..R7 (ST(i) is R[(top + i) & 7]).
    pub regs: [F80; 8],
    pub top: u8,
    pub cw: u16,
    /// Status word without the TOP field.
    pub sw: u16,
    /// Full tag word, 2 bits per physical register.
    pub tw: u16,
    /// Last non-control instruction: offset, selector, 11-bit opcode; last data operand.
    pub fip: u32,
    pub fcs: u16,
    pub fop: u16,
    pub fdp: u32,
    pub fds: u16,
}

impl Default for FpuState {
    fn default() -> Self {
        FpuState {
            regs: [F80::ZERO; 8],
            top: 0,
            cw: CW_INIT,
            sw: 0,
            tw: 0xffff,
            fip: 0,
            fcs: 0,
            fop: 0,
            fdp: 0,
            fds: 0,
        }
    }
}

/// Status flags an operation raised, applied by `FpuState::raise`.
pub type Flags = u16;

impl FpuState {
    /// FNINIT: registers keep their contents but are all tagged empty.
    pub fn init(&mut self) {
        let regs = self.regs;
        *self = FpuState::default();
        self.regs = regs;
    }

    /// Status word as FNSTSW shows it.
    pub fn status(&self) -> u16 {
        (self.sw & !(7 << 11)) | ((self.top as u16 & 7) << 11)
    }

    /// FLDENV/FRSTOR-style status write: TOP comes out of the word; ES/B follow the
    /// unmasked flags.
    pub fn set_status(&mut self, v: u16) {
        self.top = ((v >> 11) & 7) as u8;
        self.sw = v & !(7 << 11);
        self.update_es();
    }

    /// Recompute ES and B (B mirrors ES on the 387 and later).
    pub fn update_es(&mut self) {
        if self.sw & !self.cw & SW_EXC != 0 {
            self.sw |= SW_ES | SW_B;
        } else {
            self.sw &= !(SW_ES | SW_B);
        }
    }

    pub fn set_cw(&mut self, v: u16) {
        // Bit 6 reads as 1 on the 387 and later; bits 13-15 are reserved zero.
        self.cw = (v & 0x1f3f) | 0x40;
        self.update_es();
    }

    pub fn phys(&self, i: u8) -> usize {
        ((self.top + i) & 7) as usize
    }
    pub fn tag(&self, phys: usize) -> u16 {
        (self.tw >> (2 * phys)) & 3
    }
    pub fn set_tag(&mut self, phys: usize, t: u16) {
        self.tw = (self.tw & !(3 << (2 * phys))) | (t << (2 * phys));
    }
    pub fn is_empty(&self, i: u8) -> bool {
        self.tag(self.phys(i)) == TAG_EMPTY
    }
    pub fn st(&self, i: u8) -> F80 {
        self.regs[self.phys(i)]
    }
    pub fn set_st(&mut self, i: u8, v: F80) {
        let p = self.phys(i);
        self.regs[p] = v;
        self.set_tag(p, v.tag());
    }
    pub fn free(&mut self, i: u8) {
        let p = self.phys(i);
        self.set_tag(p, TAG_EMPTY);
    }
    pub fn pop(&mut self) {
        self.free(0);
        self.top = (self.top + 1) & 7;
    }
    pub fn push(&mut self, v: F80) {
        self.top = (self.top + 7) & 7;
        self.set_st(0, v);
    }

    /// The full tag word FNSTENV/FNSAVE store: non-empty tags recomputed from the
    /// register contents, as the hardware does.
    pub fn full_tags(&self) -> u16 {
        let mut t = 0;
        for p in 0..8 {
            let tag = if self.tag(p) == TAG_EMPTY {
                TAG_EMPTY
            } else {
                self.regs[p].tag()
            };
            t |= tag << (2 * p);
        }
        t
    }

    pub fn masked(&self, f: Flags) -> bool {
        self.cw & f & SW_EXC == f & SW_EXC
    }

    /// Record exception flags; sets ES/B for unmasked ones.
    pub fn raise(&mut self, f: Flags) {
        self.sw |= f;
        self.update_es();
    }

    /// Rounding control: 0 nearest, 1 down, 2 up, 3 toward zero.
    pub fn rc(&self) -> u8 {
        ((self.cw >> 10) & 3) as u8
    }
    /// Precision control: 0 single, 1 reserved (acts as double here), 2 double, 3 extended.
    pub fn pc(&self) -> u8 {
        ((self.cw >> 8) & 3) as u8
    }

    pub fn set_cc(&mut self, cc: u16) {
        self.sw = (self.sw & !SW_CC) | (cc & SW_CC);
    }
}
