//! The cascaded 8259A programmable interrupt controllers of a PC (master at 0x20/0x21,
//! slave at 0xA0/0xA1 on the master's IRQ2) with the PIIX edge/level control registers
//! (ELCR, 0x4D0/0x4D1).
//!
//! Supported: ICW1-ICW4 initialisation, edge and level triggering, non-specific,
//! specific and automatic EOI, priority rotation (automatic and specific), special mask
//! mode, poll mode, IRR/ISR reads, special fully nested mode, spurious IRQ7/IRQ15.

use serde::{Deserialize, Serialize};

/// One 8259A.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pic {
    /// Interrupt request register.
    pub irr: u8,
    /// In-service register.
    pub isr: u8,
    /// Interrupt mask register (OCW1).
    pub imr: u8,
    /// Line levels as last driven (for edge detection and level mode).
    pub lines: u8,
    /// Edge/level control (ELCR): bit set = level triggered.
    pub elcr: u8,
    /// Vector base from ICW2 (low three bits clear).
    pub base: u8,
    /// IRQ with the lowest priority (priority rotates after it).
    pub lowest: u8,
    /// Initialisation step still expected: 0 none, 2..=4 the next ICW.
    pub init_step: u8,
    pub single: bool,
    pub needs_icw4: bool,
    pub auto_eoi: bool,
    pub rotate_on_auto_eoi: bool,
    pub special_mask: bool,
    pub special_fully_nested: bool,
    /// OCW3: read ISR (true) or IRR (false) from the command port.
    pub read_isr: bool,
    /// OCW3 poll command pending.
    pub poll: bool,
    /// ICW1 LTIM: all lines level triggered.
    pub level_all: bool,
}

impl Pic {
    fn is_level(&self, irq: u8) -> bool {
        self.level_all || self.elcr & (1 << irq) != 0
    }

    /// Drive input line `irq`.
    pub fn set_line(&mut self, irq: u8, high: bool) {
        let bit = 1 << irq;
        if self.is_level(irq) {
            if high {
                self.irr |= bit;
            } else {
                self.irr &= !bit;
            }
        } else if high && self.lines & bit == 0 {
            self.irr |= bit;
        }
        if high {
            self.lines |= bit;
        } else {
            self.lines &= !bit;
        }
    }

    /// Priority of `irq` (0 highest) under the current rotation.
    fn priority(&self, irq: u8) -> u8 {
        irq.wrapping_sub(self.lowest.wrapping_add(1)) & 7
    }

    /// The highest-priority bit set in `bits`, if any.
    fn highest(&self, bits: u8) -> Option<u8> {
        // Rotated so that bit p is the IRQ of priority p.
        let first = self.lowest.wrapping_add(1) & 7;
        let p = bits.rotate_right(first as u32).trailing_zeros() as u8;
        (p < 8).then(|| (first + p) & 7)
    }

    /// The IRQ this chip would signal now, if any. `cascade` is the slave's IRQ line on
    /// a master in special fully nested mode.
    pub fn pending(&self, cascade: Option<u8>) -> Option<u8> {
        let req = self.irr & !self.imr;
        let irq = self.highest(req)?;
        // In special mask mode, masked in-service levels do not block lower ones.
        let blocking = if self.special_mask {
            self.isr & !self.imr
        } else {
            self.isr
        };
        // Special fully nested: a new request from the cascade line may nest.
        let blocking = match cascade {
            Some(c) if self.special_fully_nested && irq == c => blocking & !(1 << c),
            _ => blocking,
        };
        match self.highest(blocking) {
            Some(s) if self.priority(s) <= self.priority(irq) => None,
            _ => Some(irq),
        }
    }

    /// INTA: the IRQ being acknowledged goes in service (or spurious IRQ7).
    fn acknowledge(&mut self, cascade: Option<u8>) -> u8 {
        let Some(irq) = self.pending(cascade) else {
            return 7;
        };
        let bit = 1 << irq;
        if !self.is_level(irq) {
            self.irr &= !bit;
        }
        if self.auto_eoi {
            if self.rotate_on_auto_eoi {
                self.lowest = irq;
            }
        } else {
            self.isr |= bit;
        }
        irq
    }

    fn eoi(&mut self, irq: Option<u8>, rotate: bool) {
        let irq = match irq {
            Some(i) => Some(i),
            None => self.highest(self.isr),
        };
        if let Some(i) = irq {
            self.isr &= !(1 << i);
            if rotate {
                self.lowest = i;
            }
        }
    }

    pub fn write_command(&mut self, v: u8) {
        if v & 0x10 != 0 {
            // ICW1: start initialisation.
            *self = Pic {
                elcr: self.elcr,
                lines: self.lines,
                ..Default::default()
            };
            self.level_all = v & 0x08 != 0;
            self.single = v & 0x02 != 0;
            self.needs_icw4 = v & 0x01 != 0;
            self.lowest = 7;
            self.init_step = 2;
            return;
        }
        if v & 0x08 == 0 {
            // OCW2.
            let level = v & 7;
            match v >> 5 {
                0b001 => self.eoi(None, false),
                0b011 => self.eoi(Some(level), false),
                0b101 => self.eoi(None, true),
                0b111 => self.eoi(Some(level), true),
                0b100 => self.rotate_on_auto_eoi = true,
                0b000 => self.rotate_on_auto_eoi = false,
                0b110 => self.lowest = level,
                _ => {}
            }
        } else {
            // OCW3.
            if v & 0x40 != 0 {
                self.special_mask = v & 0x20 != 0;
            }
            if v & 0x02 != 0 {
                self.read_isr = v & 0x01 != 0;
            }
            self.poll = v & 0x04 != 0;
        }
    }

    pub fn write_data(&mut self, v: u8) {
        match self.init_step {
            2 => {
                self.base = v & 0xf8;
                self.init_step = if !self.single {
                    3
                } else if self.needs_icw4 {
                    4
                } else {
                    0
                };
            }
            3 => self.init_step = if self.needs_icw4 { 4 } else { 0 },
            4 => {
                self.auto_eoi = v & 0x02 != 0;
                self.special_fully_nested = v & 0x10 != 0;
                self.init_step = 0;
            }
            _ => self.imr = v,
        }
    }

    pub fn read_command(&mut self, cascade: Option<u8>) -> u8 {
        if self.poll {
            self.poll = false;
            return match self.pending(cascade) {
                Some(_) => 0x80 | self.acknowledge(cascade),
                None => 0,
            };
        }
        if self.read_isr {
            self.isr
        } else {
            self.irr
        }
    }

    pub fn read_data(&self) -> u8 {
        self.imr
    }
}

/// The PC's master/slave pair.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PicPair {
    pub master: Pic,
    pub slave: Pic,
}

/// The master input the slave is wired to.
const CASCADE: u8 = 2;

impl PicPair {
    /// The power-on state: both chips uninitialised (firmware programs them), nothing
    /// masked, nothing pending.
    pub fn new() -> Self {
        let mut p = PicPair::default();
        p.master.lowest = 7;
        p.slave.lowest = 7;
        p
    }

    /// Drive ISA interrupt line 0-15.
    pub fn set_irq(&mut self, irq: u8, high: bool) {
        if irq < 8 {
            self.master.set_line(irq, high);
        } else {
            let before = self.slave.irr;
            self.slave.set_line(irq - 8, high);
            // The cascade output follows the slave's requests (and is brought up to date
            // wherever the CPU looks: `interrupt_pending`, `acknowledge`).
            if self.slave.irr != before {
                self.update_cascade();
            }
        }
    }

    fn update_cascade(&mut self) {
        let out = self.slave.pending(None).is_some();
        self.master.set_line(CASCADE, out);
    }

    /// Is INTR asserted to the CPU?
    pub fn interrupt_pending(&mut self) -> bool {
        self.update_cascade();
        self.master.pending(Some(CASCADE)).is_some()
    }

    /// INTA cycle: the vector for the CPU.
    pub fn acknowledge(&mut self) -> u8 {
        self.update_cascade();
        let irq = self.master.acknowledge(Some(CASCADE));
        if irq == CASCADE && !self.master.single {
            let s = self.slave.acknowledge(None);
            self.update_cascade();
            return self.slave.base | s;
        }
        self.master.base | irq
    }

    pub fn read(&mut self, port: u16) -> u8 {
        match port {
            0x20 => self.master.read_command(Some(CASCADE)),
            0x21 => self.master.read_data(),
            0xa0 => {
                let v = self.slave.read_command(None);
                self.update_cascade();
                v
            }
            0xa1 => self.slave.read_data(),
            0x4d0 => self.master.elcr,
            0x4d1 => self.slave.elcr,
            _ => 0xff,
        }
    }

    pub fn write(&mut self, port: u16, v: u8) {
        match port {
            0x20 => self.master.write_command(v),
            0x21 => self.master.write_data(v),
            0xa0 => self.slave.write_command(v),
            0xa1 => self.slave.write_data(v),
            // IRQ0-2 and IRQ8/IRQ13 are always edge triggered on a PIIX.
            0x4d0 => self.master.elcr = v & 0xf8,
            0x4d1 => self.slave.elcr = v & 0xde,
            _ => {}
        }
        self.update_cascade();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The initialisation every PC BIOS does: vectors 0x08 and 0x70, cascade on IRQ2.
    fn bios_pair() -> PicPair {
        let mut p = PicPair::new();
        for (port, v) in [(0x20, 0x11), (0x21, 0x08), (0x21, 0x04), (0x21, 0x01)] {
            p.write(port, v);
        }
        for (port, v) in [(0xa0, 0x11), (0xa1, 0x70), (0xa1, 0x02), (0xa1, 0x01)] {
            p.write(port, v);
        }
        p.write(0x21, 0);
        p.write(0xa1, 0);
        p
    }

    #[test]
    fn edge_irq_is_delivered_once_and_blocks_lower_until_eoi() {
        let mut p = bios_pair();
        p.set_irq(1, true);
        assert!(p.interrupt_pending());
        assert_eq!(p.acknowledge(), 0x09);
        // Still high but edge triggered: no new request.
        assert!(!p.interrupt_pending());
        p.set_irq(3, true);
        assert!(!p.interrupt_pending(), "IRQ1 in service blocks IRQ3");
        p.write(0x20, 0x20); // non-specific EOI
        assert!(p.interrupt_pending());
        assert_eq!(p.acknowledge(), 0x0b);
    }

    #[test]
    fn slave_goes_through_the_cascade() {
        let mut p = bios_pair();
        p.set_irq(14, true);
        assert!(p.interrupt_pending());
        assert_eq!(p.acknowledge(), 0x76);
        assert_eq!(p.master.isr, 1 << 2);
        assert_eq!(p.slave.isr, 1 << 6);
        p.write(0xa0, 0x20);
        p.write(0x20, 0x20);
        assert_eq!((p.master.isr, p.slave.isr), (0, 0));
    }

    #[test]
    fn masked_and_level_triggered_lines() {
        let mut p = bios_pair();
        p.write(0x21, 1 << 4);
        p.set_irq(4, true);
        assert!(!p.interrupt_pending());
        p.write(0x21, 0);
        assert!(p.interrupt_pending());
        // Level mode (ELCR): the request follows the line.
        p.write(0x4d1, 1 << 3); // IRQ11 level
        p.set_irq(11, true);
        p.set_irq(11, false);
        assert_eq!(p.slave.irr & (1 << 3), 0);
    }

    #[test]
    fn spurious_irq7_when_the_request_vanished() {
        let mut p = bios_pair();
        assert_eq!(p.acknowledge(), 0x0f);
        assert_eq!(p.master.isr, 0, "a spurious IRQ7 is not put in service");
    }

    #[test]
    fn auto_eoi_and_rotation() {
        let mut p = PicPair::new();
        for (port, v) in [(0x20, 0x13), (0x21, 0x20), (0x21, 0x03)] {
            p.write(port, v); // single, ICW4 with AEOI
        }
        p.write(0x20, 0x80); // rotate in AEOI mode
        p.set_irq(0, true);
        assert_eq!(p.acknowledge(), 0x20);
        assert_eq!(p.master.isr, 0);
        // IRQ0 is now lowest priority: IRQ5 wins over a new IRQ0 edge.
        p.set_irq(0, false);
        p.set_irq(0, true);
        p.set_irq(5, true);
        assert_eq!(p.acknowledge(), 0x25);
    }

    #[test]
    fn poll_mode_reads_the_request() {
        let mut p = bios_pair();
        p.set_irq(6, true);
        p.write(0x20, 0x0c); // OCW3 poll
        assert_eq!(p.read(0x20), 0x86);
        assert_eq!(p.master.isr, 1 << 6);
        p.write(0x20, 0x0b); // read ISR
        assert_eq!(p.read(0x20), 1 << 6);
    }

    #[test]
    fn special_mask_mode_lets_lower_levels_in() {
        let mut p = bios_pair();
        p.set_irq(1, true);
        assert_eq!(p.acknowledge(), 0x09);
        p.write(0x21, 1 << 1); // mask the in-service level
        p.write(0x20, 0x68); // OCW3: set special mask
        p.set_irq(5, true);
        assert!(p.interrupt_pending());
        assert_eq!(p.acknowledge(), 0x0d);
    }
}
