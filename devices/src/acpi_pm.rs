//! The ACPI power-management register block of a PIIX4 (function 3 of the south bridge),
//! as the FADT describes it to the OS: PM1a event block (PM1_STS, PM1_EN), PM1a control
//! block (SCI_EN, SLP_TYP, SLP_EN) and the 24-bit PM timer at 3.579545 MHz.
//!
//! Layout, offsets from the block's base (`PM_BASE` = 0x600 as QEMU uses; the PCI PM
//! function's PMBA register says where the block really is, see `Pci::pm_io_base`):
//!
//! | offset | register | width | notes                                              |
//! |--------|----------|-------|----------------------------------------------------|
//! | +0     | PM1_STS  | 16    | write 1 to clear; TMR_STS from virtual time        |
//! | +2     | PM1_EN   | 16    | TMR_EN, GBL_EN, PWRBTN_EN, SLPBTN_EN, RTC_EN       |
//! | +4     | PM1_CNT  | 16    | SCI_EN reads 1; SLP_TYP + SLP_EN requests a sleep  |
//! | +8     | PM_TMR   | 32    | 24-bit counter, read only                          |
//!
//! Any access size at any offset works (the block is handled byte by byte); the rest of
//! the PIIX4's 64-byte block reads 0 and ignores writes. The FADT declares no SMI_CMD
//! port, which per ACPI 2.0 means the machine is always in ACPI mode: SCI_EN is wired
//! to 1, so no ACPI_ENABLE handshake exists. There are no GPE blocks.
//!
//! The timer is not ticked: its value is computed from virtual time (`now_ns`), so it
//! costs nothing between reads and is deterministic. The SCI (IRQ 9, level triggered)
//! is `sci(now)`; `next_sci_ns` tells the board when the timer overflow would raise it.
//!
//! Power-off: the OS writes SLP_TYP = `SLP_TYP_S5` (the value of `\_S5` in ox86's DSDT)
//! with SLP_EN; `write` returns `PmEvent::PowerOff` and the board ends the run.

use serde::{Deserialize, Serialize};

/// Default I/O base of the block (the PIIX4's PMBA as firmware programs it on QEMU).
pub const PM_BASE: u16 = 0x600;
/// Size of the PIIX4 PM I/O block (PMBA decodes 64 bytes).
pub const PM_LEN: u16 = 0x40;
/// The ISA interrupt the SCI is wired to (FADT SCI_INT).
pub const SCI_IRQ: u8 = 9;
/// PM timer input clock, in Hz.
pub const PM_TIMER_HZ: u64 = 3_579_545;
/// SLP_TYP value for S5 (soft off). The PIIX4 decodes SUS_TYP 0 as soft off, as QEMU's
/// DSDT (`_S5 = {0, 0, 0, 0}`) assumes; ox86's DSDT is built from this constant.
pub const SLP_TYP_S5: u8 = 0;
/// SLP_TYP value for S0 (working): PIIX4 SUS_TYP 101b. ACPICA writes it, without
/// SLP_EN, when it leaves a sleep state; ox86's DSDT declares `\_S0` with it.
pub const SLP_TYP_S0: u8 = 5;

/// Register offsets within the block.
pub const PM1_STS: u16 = 0;
pub const PM1_EN: u16 = 2;
pub const PM1_CNT: u16 = 4;
pub const PM_TMR: u16 = 8;
/// FADT lengths of the blocks: PM1_EVT (status + enable), PM1_CNT, PM_TMR.
pub const PM1_EVT_LEN: u8 = 4;
pub const PM1_CNT_LEN: u8 = 2;
pub const PM_TMR_LEN: u8 = 4;

// PM1_STS / PM1_EN bits.
pub const TMR: u16 = 1 << 0;
pub const BM_STS: u16 = 1 << 4;
pub const GBL: u16 = 1 << 5;
pub const PWRBTN: u16 = 1 << 8;
pub const SLPBTN: u16 = 1 << 9;
pub const RTC: u16 = 1 << 10;
pub const WAK_STS: u16 = 1 << 15;
/// Enable bits that stick. ACPICA writes an enable bit and reads it back to decide
/// whether the fixed event exists, so every fixed event it may install is kept.
const EN_MASK: u16 = TMR | GBL | PWRBTN | SLPBTN | RTC;

// PM1_CNT bits.
pub const SCI_EN: u16 = 1 << 0;
pub const BM_RLD: u16 = 1 << 1;
pub const GBL_RLS: u16 = 1 << 2;
pub const SLP_TYP_SHIFT: u16 = 10;
pub const SLP_TYP_MASK: u16 = 7 << SLP_TYP_SHIFT;
pub const SLP_EN: u16 = 1 << 13;
/// PM1_CNT bits kept as written (SCI_EN is wired to 1, GBL_RLS and SLP_EN are
/// write-only and read 0).
const CNT_MASK: u16 = BM_RLD | SLP_TYP_MASK;

/// What a write asked the board to do.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PmEvent {
    None,
    /// SLP_EN with SLP_TYP = `SLP_TYP_S5`: power the machine off.
    PowerOff,
    /// SLP_EN with another SLP_TYP (the DSDT declares no other state; ignore or log).
    Sleep(u8),
}

/// Timer ticks elapsed at virtual time `now_ns`.
pub fn ticks_at(now_ns: u64) -> u64 {
    (now_ns as u128 * PM_TIMER_HZ as u128 / 1_000_000_000) as u64
}

/// The first virtual nanosecond at which `ticks` have elapsed.
pub fn ns_at(ticks: u64) -> u64 {
    (ticks as u128 * 1_000_000_000).div_ceil(PM_TIMER_HZ as u128) as u64
}

/// Number of times bit 23 of the timer has toggled by `now_ns`: TMR_STS is set by each.
fn toggles(now_ns: u64) -> u64 {
    ticks_at(now_ns) >> 23
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcpiPm {
    /// PM1_STS bits other than TMR_STS (which is derived from `tmr_ack`).
    pub sts: u16,
    pub en: u16,
    /// PM1_CNT bits kept as written (`CNT_MASK`).
    pub cnt: u16,
    /// Timer bit-23 toggles counted when the OS last cleared TMR_STS.
    pub tmr_ack: u64,
}

impl AcpiPm {
    /// Power-on state: nothing enabled, nothing pending, the timer at 0 at virtual time 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The PM timer's value at `now_ns` (24 bits).
    pub fn timer(now_ns: u64) -> u32 {
        (ticks_at(now_ns) & 0xff_ffff) as u32
    }

    /// PM1_STS as the OS reads it at `now_ns`.
    pub fn status(&self, now_ns: u64) -> u16 {
        let tmr = if toggles(now_ns) > self.tmr_ack {
            TMR
        } else {
            0
        };
        self.sts | tmr
    }

    /// Level of the SCI (IRQ 9): an enabled status bit is set. SCI_EN is always 1.
    pub fn sci(&self, now_ns: u64) -> bool {
        self.status(now_ns) & self.en & EN_MASK != 0
    }

    /// The earliest virtual time >= `now_ns` at which `sci` is true if nothing else
    /// happens: `now_ns` if it already is, the next timer overflow if TMR_EN is set.
    pub fn next_sci_ns(&self, now_ns: u64) -> Option<u64> {
        if self.sci(now_ns) {
            return Some(now_ns);
        }
        if self.en & TMR == 0 {
            return None;
        }
        Some(ns_at((self.tmr_ack + 1) << 23).max(now_ns))
    }

    /// The user pressed the (fixed-feature) power button: PWRBTN_STS, an SCI if
    /// PWRBTN_EN. Linux answers it with an orderly shutdown ending in S5.
    pub fn press_power_button(&mut self) {
        self.sts |= PWRBTN;
    }

    fn read_byte(&self, offset: u16, now_ns: u64) -> u8 {
        let word = |v: u16| (v >> (8 * (offset & 1))) as u8;
        match offset {
            0 | 1 => word(self.status(now_ns)),
            2 | 3 => word(self.en),
            4 | 5 => word(self.cnt | SCI_EN),
            8..=11 => (Self::timer(now_ns) >> (8 * (offset - 8))) as u8,
            _ => 0,
        }
    }

    /// Read `size` (1, 2 or 4) bytes at `offset` from the block's base.
    pub fn read(&self, offset: u16, size: u8, now_ns: u64) -> u32 {
        (0..size as u16).fold(0, |v, i| {
            v | (self.read_byte(offset.wrapping_add(i), now_ns) as u32) << (8 * i)
        })
    }

    /// Write `size` (1, 2 or 4) bytes at `offset` from the block's base.
    pub fn write(&mut self, offset: u16, size: u8, value: u32, now_ns: u64) -> PmEvent {
        let mut sleep = false;
        for i in 0..size as u16 {
            let b = (value >> (8 * i)) as u8;
            let off = offset.wrapping_add(i);
            let shift = 8 * (off & 1);
            let bits = (b as u16) << shift;
            let keep = !(0xffu16 << shift);
            match off {
                0 | 1 => {
                    if bits & TMR != 0 {
                        self.tmr_ack = toggles(now_ns);
                    }
                    self.sts &= !bits;
                }
                2 | 3 => self.en = (self.en & keep) | (bits & EN_MASK),
                4 | 5 => {
                    self.cnt = (self.cnt & keep) | (bits & CNT_MASK);
                    sleep |= bits & SLP_EN != 0;
                }
                _ => {}
            }
        }
        // Decided after the whole access, so a 16-bit write of SLP_TYP | SLP_EN (what
        // ACPICA does) uses the SLP_TYP written with it.
        if !sleep {
            return PmEvent::None;
        }
        match ((self.cnt & SLP_TYP_MASK) >> SLP_TYP_SHIFT) as u8 {
            SLP_TYP_S5 => PmEvent::PowerOff,
            t => PmEvent::Sleep(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn timer_counts_at_3_58_mhz_and_wraps_at_24_bits() {
        let pm = AcpiPm::new();
        assert_eq!(pm.read(PM_TMR, 4, 0), 0);
        assert_eq!(pm.read(PM_TMR, 4, SEC), PM_TIMER_HZ as u32);
        assert_eq!(pm.read(PM_TMR, 4, 1000), 3); // 3.58 ticks
        let wrap = ns_at(1 << 24);
        assert_eq!(pm.read(PM_TMR, 4, wrap), 0);
        assert_eq!(pm.read(PM_TMR, 4, wrap - 1), 0xff_ffff);
        // Byte and word reads see the same counter.
        let t = 7 * SEC / 3;
        let v = pm.read(PM_TMR, 4, t);
        assert_eq!(pm.read(PM_TMR, 2, t) | pm.read(PM_TMR + 2, 2, t) << 16, v);
        assert_eq!(pm.read(PM_TMR + 3, 1, t), 0);
    }

    #[test]
    fn timer_overflow_sets_tmr_sts_and_raises_sci_when_enabled() {
        let mut pm = AcpiPm::new();
        let toggle = ns_at(1 << 23);
        assert_eq!(pm.read(PM1_STS, 2, toggle - 1) & 1, 0);
        assert_eq!(pm.read(PM1_STS, 2, toggle) & 1, 1);
        assert!(!pm.sci(toggle), "TMR_EN is clear");
        assert_eq!(pm.next_sci_ns(0), None);
        let _ = pm.write(PM1_EN, 2, TMR as u32, 0);
        assert_eq!(pm.next_sci_ns(0), Some(toggle));
        assert!(pm.sci(toggle));
        // Write 1 to clear; the next toggle sets it again.
        let _ = pm.write(PM1_STS, 2, TMR as u32, toggle + 5);
        assert!(!pm.sci(toggle + 5));
        assert_eq!(pm.next_sci_ns(toggle + 5), Some(ns_at(2 << 23)));
        assert!(pm.sci(ns_at(2 << 23)));
    }

    #[test]
    fn status_bits_clear_by_writing_one() {
        let mut pm = AcpiPm::new();
        pm.press_power_button();
        assert_eq!(pm.read(PM1_STS, 2, 0), PWRBTN as u32);
        assert!(!pm.sci(0));
        let _ = pm.write(PM1_EN, 2, PWRBTN as u32, 0);
        assert!(pm.sci(0));
        assert_eq!(pm.next_sci_ns(10), Some(10));
        // Writing 0 leaves it, writing 1 clears it (byte access to the high byte).
        let _ = pm.write(PM1_STS, 2, 0, 0);
        assert!(pm.sci(0));
        let _ = pm.write(PM1_STS + 1, 1, 1, 0);
        assert!(!pm.sci(0));
    }

    #[test]
    fn enable_bits_stick_and_reserved_ones_do_not() {
        let mut pm = AcpiPm::new();
        let _ = pm.write(PM1_EN, 2, 0xffff, 0);
        assert_eq!(pm.read(PM1_EN, 2, 0), 0x0721);
        // A dword at +0 reaches both PM1_STS and PM1_EN.
        let _ = pm.write(PM1_STS, 4, 0, 0);
        assert_eq!(pm.read(PM1_STS, 4, 0), 0);
    }

    #[test]
    fn sci_en_reads_one_and_only_slp_typ_bm_rld_stick() {
        let mut pm = AcpiPm::new();
        assert_eq!(pm.read(PM1_CNT, 2, 0), SCI_EN as u32);
        assert_eq!(pm.write(PM1_CNT, 2, 0, 0), PmEvent::None);
        assert_eq!(pm.read(PM1_CNT, 2, 0), SCI_EN as u32, "SCI_EN is wired");
        assert_eq!(
            pm.write(PM1_CNT, 2, 0xffff & !SLP_EN as u32, 0),
            PmEvent::None
        );
        assert_eq!(pm.read(PM1_CNT, 2, 0), 0x1c03);
        assert_eq!(
            pm.read(0x20, 4, 0),
            0,
            "unimplemented PIIX4 registers read 0"
        );
    }

    #[test]
    fn acpica_s5_sequence_powers_off() {
        // ACPICA's acpi_hw_legacy_sleep: read PM1_CNT, write SLP_TYP, then SLP_TYP|SLP_EN.
        let mut pm = AcpiPm::new();
        let typ = (SLP_TYP_S5 as u16) << SLP_TYP_SHIFT;
        let cnt = pm.read(PM1_CNT, 2, 0) as u16 & !(SLP_TYP_MASK | SLP_EN);
        assert_eq!(pm.write(PM1_CNT, 2, (cnt | typ) as u32, 0), PmEvent::None);
        assert_eq!(
            pm.write(PM1_CNT, 2, (cnt | typ | SLP_EN) as u32, 0),
            PmEvent::PowerOff
        );
        assert_eq!(pm.read(PM1_CNT, 2, 0) as u16 & SLP_EN, 0, "SLP_EN reads 0");
    }

    #[test]
    fn other_sleep_types_are_reported_not_powered_off() {
        let mut pm = AcpiPm::new();
        // Byte writes: SLP_TYP and SLP_EN both live in the high byte.
        assert_eq!(
            pm.write(PM1_CNT + 1, 1, 0x20 | (1 << 2), 0),
            PmEvent::Sleep(1)
        );
        assert_eq!(pm.write(PM1_CNT + 1, 1, 0x20, 0), PmEvent::PowerOff);
    }
}
