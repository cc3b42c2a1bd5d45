//! Architectural CPU state, laid out flat (#[repr(C)]) so generated code can reach it.

use super::flags::Flags;

/// General registers in x86 encoding order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Reg {
    Eax = 0,
    Ecx,
    Edx,
    Ebx,
    Esp,
    Ebp,
    Esi,
    Edi,
}

/// Segment registers in x86 encoding order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Seg {
    Es = 0,
    Cs,
    Ss,
    Ds,
    Fs,
    Gs,
}

impl Seg {
    pub const ALL: [Seg; 6] = [Seg::Es, Seg::Cs, Seg::Ss, Seg::Ds, Seg::Fs, Seg::Gs];
    pub fn from_index(i: u8) -> Option<Seg> {
        Self::ALL.get(i as usize).copied()
    }
}

/// Descriptor access-byte bits, as cached in `Segment::attr` (bits 0-7 access byte,
/// bits 12-15 the flags nibble: AVL, L, D/B, G).
pub mod attr {
    pub const ACCESSED: u16 = 1 << 0;
    /// Data: writable. Code: readable.
    pub const RW: u16 = 1 << 1;
    /// Data: expand-down. Code: conforming.
    pub const DC: u16 = 1 << 2;
    pub const CODE: u16 = 1 << 3;
    /// S bit: code/data (set) or system (clear).
    pub const S: u16 = 1 << 4;
    pub const DPL_SHIFT: u16 = 5;
    pub const PRESENT: u16 = 1 << 7;
    pub const DB: u16 = 1 << 14;
    pub const G: u16 = 1 << 15;
}

/// A segment register with its descriptor cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(C)]
pub struct Segment {
    pub selector: u16,
    pub attr: u16,
    pub base: u32,
    /// Byte-granular limit (G already applied).
    pub limit: u32,
}

impl Segment {
    /// The state real mode (and reset) gives a segment register.
    pub fn real(selector: u16) -> Self {
        Segment {
            selector,
            base: (selector as u32) << 4,
            limit: 0xffff,
            attr: attr::PRESENT | attr::S | attr::RW | attr::ACCESSED,
        }
    }
    pub fn dpl(&self) -> u8 {
        ((self.attr >> attr::DPL_SHIFT) & 3) as u8
    }
    pub fn is_32(&self) -> bool {
        self.attr & attr::DB != 0
    }
    pub fn present(&self) -> bool {
        self.attr & attr::PRESENT != 0
    }
    pub fn is_code(&self) -> bool {
        self.attr & attr::CODE != 0
    }
    pub fn expand_down(&self) -> bool {
        self.attr & (attr::CODE | attr::DC) == attr::DC
    }
    /// A null selector loaded in protected mode: any access faults.
    pub fn is_unusable(&self) -> bool {
        self.attr & attr::PRESENT == 0
    }
}

/// GDTR/IDTR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(C)]
pub struct DescTable {
    pub base: u32,
    pub limit: u16,
}

pub const CR0_PE: u32 = 1 << 0;
pub const CR0_MP: u32 = 1 << 1;
pub const CR0_EM: u32 = 1 << 2;
pub const CR0_TS: u32 = 1 << 3;
pub const CR0_ET: u32 = 1 << 4;
pub const CR0_NE: u32 = 1 << 5;
pub const CR0_WP: u32 = 1 << 16;
pub const CR0_AM: u32 = 1 << 18;
pub const CR0_NW: u32 = 1 << 29;
pub const CR0_CD: u32 = 1 << 30;
pub const CR0_PG: u32 = 1 << 31;
/// RDTSC is for CPL 0 only in protected mode.
pub const CR4_TSD: u32 = 1 << 2;

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[repr(C)]
pub struct CpuState {
    pub regs: [u32; 8],
    pub eip: u32,
    pub flags: Flags,
    pub segs: [Segment; 6],
    pub ldtr: Segment,
    pub tr: Segment,
    pub gdtr: DescTable,
    pub idtr: DescTable,
    pub cr0: u32,
    pub cr2: u32,
    pub cr3: u32,
    pub cr4: u32,
    pub dr: [u32; 8],
    /// Current privilege level (CS.RPL in protected mode, 0 in real mode, 3 in V86).
    pub cpl: u8,
    pub halted: bool,
    /// Time-stamp counter offset (TSC = retired instructions + offset).
    pub tsc_offset: u64,
    pub sysenter_cs: u32,
    pub sysenter_esp: u32,
    pub sysenter_eip: u32,
    /// x87 FPU (last, so the JIT's offsets of the fields above stay put).
    pub fpu: crate::interp::x87::FpuState,
}

impl CpuState {
    /// The state after RESET: real mode at F000:FFF0 with CS base 0xFFFF0000.
    pub fn reset() -> Self {
        let mut s = CpuState::default();
        for seg in Seg::ALL {
            s.segs[seg as usize] = Segment::real(0);
        }
        s.segs[Seg::Cs as usize] = Segment {
            selector: 0xf000,
            base: 0xffff_0000,
            limit: 0xffff,
            attr: attr::PRESENT | attr::S | attr::CODE | attr::RW | attr::ACCESSED,
        };
        s.eip = 0xfff0;
        s.flags = Flags::new(0);
        s.cr0 = CR0_ET | CR0_CD | CR0_NW;
        s.idtr = DescTable {
            base: 0,
            limit: 0x3ff,
        };
        s.gdtr = DescTable {
            base: 0,
            limit: 0xffff,
        };
        s.ldtr = Segment {
            attr: attr::PRESENT | 2,
            limit: 0xffff,
            ..Default::default()
        };
        s.tr = Segment {
            attr: attr::PRESENT | 0xb,
            limit: 0xffff,
            ..Default::default()
        };
        s.regs[Reg::Edx as usize] = 0x0611; // family 6, model 1, stepping 1 (Pentium Pro)
        s.dr[6] = 0xffff_0ff0;
        s.dr[7] = 0x400;
        s
    }

    #[inline]
    pub fn reg(&self, r: Reg) -> u32 {
        self.regs[r as usize]
    }
    #[inline]
    pub fn seg(&self, s: Seg) -> &Segment {
        &self.segs[s as usize]
    }
    pub fn protected_mode(&self) -> bool {
        self.cr0 & CR0_PE != 0
    }
    pub fn v86(&self) -> bool {
        self.flags.bits & super::flags::VM != 0
    }
    pub fn code32(&self) -> bool {
        self.segs[Seg::Cs as usize].is_32()
    }
    pub fn stack32(&self) -> bool {
        self.segs[Seg::Ss as usize].is_32()
    }
}
