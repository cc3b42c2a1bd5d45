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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exception {
    pub vector: u8,
    pub error: Option<u32>,
}

impl Exception {
    pub const fn new(v: Vector) -> Self {
        Self { vector: v as u8, error: None }
    }
    pub const fn with_error(v: Vector, error: u32) -> Self {
        Self { vector: v as u8, error: Some(error) }
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
        matches!(self.vector, 0 | 10 | 11 | 12 | 13)
    }
}

pub type Result<T> = std::result::Result<T, Exception>;
