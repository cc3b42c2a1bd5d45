//! Guest exceptions: what a handler returns when an instruction faults.

/// Exception vectors of the x86 architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Vector {
    DE = 0,
    DB = 1,
    NMI = 2,
    BP = 3,
    OF = 4,
    BR = 5,
    UD = 6,
    NM = 7,
    DF = 8,
    TS = 10,
    NP = 11,
    SS = 12,
    GP = 13,
    PF = 14,
    MF = 16,
    AC = 17,
    MC = 18,
}

/// A fault raised by an instruction: vector plus error code where the vector has one.
/// Packed in 32 bits (bit 31 set, bit 30 = has error code, bits 16-23 vector, bits 0-15
/// error code) so `Result<(), Exception>` travels in a register on the hot path.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Exception(std::num::NonZeroU32);

const MARK: u32 = 1 << 31;
const HAS_ERROR: u32 = 1 << 30;

impl std::fmt::Debug for Exception {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.error() {
            Some(e) => write!(f, "#{}({e:#x})", self.vector()),
            None => write!(f, "#{}", self.vector()),
        }
    }
}

impl Exception {
    const fn pack(vector: u8, error: Option<u32>) -> Self {
        let bits = match error {
            Some(e) => MARK | HAS_ERROR | (vector as u32) << 16 | (e & 0xffff),
            None => MARK | (vector as u32) << 16,
        };
        match std::num::NonZeroU32::new(bits) {
            Some(v) => Exception(v),
            None => unreachable!(),
        }
    }
    pub const fn new(v: Vector) -> Self {
        Self::pack(v as u8, None)
    }
    /// The packed form, for code that passes exceptions through a register (the JIT).
    pub const fn bits(self) -> u32 {
        self.0.get()
    }
    /// Back from `bits`; None for a value that is not a packed exception.
    pub const fn from_bits(bits: u32) -> Option<Self> {
        match std::num::NonZeroU32::new(bits) {
            Some(v) if bits & MARK != 0 => Some(Exception(v)),
            _ => None,
        }
    }
    pub const fn with_error(v: Vector, error: u32) -> Self {
        Self::pack(v as u8, Some(error))
    }
    /// Any vector (interrupt delivery uses this for software interrupts' faults).
    pub const fn raw(vector: u8, error: Option<u32>) -> Self {
        Self::pack(vector, error)
    }
    pub const fn vector(&self) -> u8 {
        (self.0.get() >> 16) as u8
    }
    pub const fn error(&self) -> Option<u32> {
        if self.0.get() & HAS_ERROR != 0 {
            Some(self.0.get() & 0xffff)
        } else {
            None
        }
    }
    pub const fn de() -> Self {
        Self::new(Vector::DE)
    }
    pub const fn ud() -> Self {
        Self::new(Vector::UD)
    }
    pub const fn nm() -> Self {
        Self::new(Vector::NM)
    }
    pub const fn br() -> Self {
        Self::new(Vector::BR)
    }
    pub const fn gp(sel: u32) -> Self {
        Self::with_error(Vector::GP, sel)
    }
    pub const fn gp0() -> Self {
        Self::with_error(Vector::GP, 0)
    }
    pub const fn ss(sel: u32) -> Self {
        Self::with_error(Vector::SS, sel)
    }
    pub const fn np(sel: u32) -> Self {
        Self::with_error(Vector::NP, sel)
    }
    pub const fn ts(sel: u32) -> Self {
        Self::with_error(Vector::TS, sel)
    }
    pub const fn df() -> Self {
        Self::with_error(Vector::DF, 0)
    }
    pub const fn pf(err: u32) -> Self {
        Self::with_error(Vector::PF, err)
    }

    /// Contributory exceptions turn a second fault during delivery into #DF.
    pub fn is_contributory(&self) -> bool {
        matches!(self.vector(), 0 | 10 | 11 | 12 | 13)
    }
}

pub type Result<T> = std::result::Result<T, Exception>;
