//! A 16550A UART (one COM port): divisor latch, line and modem control, 16-byte receive
//! and transmit FIFOs, every interrupt source with the 16550's priorities, loopback.
//!
//! The board moves bytes: `take_output` drains what the guest transmitted, `receive`
//! queues host input. Transmission is instantaneous (THR empties at once), so the
//! "THR empty" interrupt follows each write; the character timeout fires as soon as the
//! receive FIFO holds data below its trigger level and the guest is not reading.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// I/O bases of COM1-COM4 and their ISA interrupt lines.
pub const COM_PORTS: [(u16, u8); 4] = [(0x3f8, 4), (0x2f8, 3), (0x3e8, 4), (0x2e8, 3)];

const FIFO: usize = 16;

// IER bits.
const IER_RDA: u8 = 1;
const IER_THRE: u8 = 2;
const IER_RLS: u8 = 4;
const IER_MS: u8 = 8;

// LSR bits.
const LSR_DR: u8 = 1;
const LSR_OE: u8 = 2;
const LSR_THRE: u8 = 0x20;
const LSR_TEMT: u8 = 0x40;

// MCR bits.
const MCR_DTR: u8 = 1;
const MCR_RTS: u8 = 2;
const MCR_OUT1: u8 = 4;
const MCR_OUT2: u8 = 8;
const MCR_LOOP: u8 = 0x10;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uart {
    pub ier: u8,
    pub lcr: u8,
    pub mcr: u8,
    pub lsr: u8,
    /// Modem status: delta bits (0-3) and the line states (4-7).
    pub msr: u8,
    pub scr: u8,
    pub divisor: u16,
    pub fifo_enabled: bool,
    /// Receive trigger level in bytes (1, 4, 8, 14).
    pub trigger: u8,
    pub rx: VecDeque<u8>,
    /// Bytes sent to the host side, not yet taken by the board.
    pub tx: Vec<u8>,
    /// A THR-empty interrupt is pending (cleared by reading IIR or writing THR).
    pub thre_pending: bool,
    /// The guest has not read RBR since data arrived (character timeout).
    pub timeout_pending: bool,
}

impl Default for Uart {
    fn default() -> Self {
        Self::new()
    }
}

impl Uart {
    pub fn new() -> Self {
        Uart {
            ier: 0,
            lcr: 0,
            mcr: 0,
            lsr: LSR_THRE | LSR_TEMT,
            // CTS, DSR and DCD asserted: a terminal is attached.
            msr: 0xb0,
            scr: 0,
            divisor: 12, // 9600 baud
            fifo_enabled: false,
            trigger: 1,
            rx: VecDeque::new(),
            tx: Vec::new(),
            thre_pending: false,
            timeout_pending: false,
        }
    }

    fn dlab(&self) -> bool {
        self.lcr & 0x80 != 0
    }

    fn capacity(&self) -> usize {
        if self.fifo_enabled {
            FIFO
        } else {
            1
        }
    }

    /// Host input arrives. Returns false when the byte was lost (overrun).
    pub fn receive(&mut self, b: u8) -> bool {
        if self.mcr & MCR_LOOP != 0 {
            return true; // the line is disconnected in loopback
        }
        self.push_rx(b)
    }

    fn push_rx(&mut self, b: u8) -> bool {
        if self.rx.len() >= self.capacity() {
            self.lsr |= LSR_OE;
            return false;
        }
        self.rx.push_back(b);
        self.lsr |= LSR_DR;
        self.timeout_pending = true;
        true
    }

    /// Room for more host input?
    pub fn can_receive(&self) -> bool {
        self.rx.len() < self.capacity() && self.mcr & MCR_LOOP == 0
    }

    /// What the guest has transmitted since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.tx)
    }

    /// The highest-priority pending interrupt's IIR code (bits 3-1), if any.
    fn pending(&self) -> Option<u8> {
        if self.ier & IER_RLS != 0 && self.lsr & 0x1e != 0 {
            return Some(0b011);
        }
        if self.ier & IER_RDA != 0 && !self.rx.is_empty() {
            if self.rx.len() >= self.trigger as usize || !self.fifo_enabled {
                return Some(0b010);
            }
            if self.timeout_pending {
                return Some(0b110);
            }
        }
        if self.ier & IER_THRE != 0 && self.thre_pending {
            return Some(0b001);
        }
        if self.ier & IER_MS != 0 && self.msr & 0x0f != 0 {
            return Some(0b000);
        }
        None
    }

    /// Level of the interrupt output as the PC wires it (gated by MCR.OUT2).
    pub fn irq(&self) -> bool {
        self.mcr & MCR_OUT2 != 0 && self.pending().is_some()
    }

    pub fn read(&mut self, reg: u16) -> u8 {
        match reg & 7 {
            0 if self.dlab() => self.divisor as u8,
            0 => {
                let b = self.rx.pop_front().unwrap_or(0);
                if self.rx.is_empty() {
                    self.lsr &= !LSR_DR;
                }
                self.timeout_pending = false;
                b
            }
            1 if self.dlab() => (self.divisor >> 8) as u8,
            1 => self.ier,
            2 => {
                let id = self.pending();
                if id == Some(0b001) {
                    // Reading IIR clears a THR-empty interrupt it reports.
                    self.thre_pending = false;
                }
                let fifo = if self.fifo_enabled { 0xc0 } else { 0 };
                fifo | id.map_or(1, |c| c << 1)
            }
            3 => self.lcr,
            4 => self.mcr,
            5 => {
                let v = self.lsr;
                self.lsr &= !0x1e; // error bits clear on read
                v
            }
            6 => {
                let v = self.msr;
                self.msr &= 0xf0;
                v
            }
            _ => self.scr,
        }
    }

    pub fn write(&mut self, reg: u16, v: u8) {
        match reg & 7 {
            0 if self.dlab() => self.divisor = (self.divisor & 0xff00) | v as u16,
            0 => {
                if self.mcr & MCR_LOOP != 0 {
                    self.push_rx(v);
                } else {
                    self.tx.push(v);
                }
                self.lsr |= LSR_THRE | LSR_TEMT;
                self.thre_pending = true;
            }
            1 if self.dlab() => self.divisor = (self.divisor & 0x00ff) | (v as u16) << 8,
            1 => {
                // Enabling the THR-empty interrupt with THR empty raises it at once.
                if v & IER_THRE != 0 && self.ier & IER_THRE == 0 && self.lsr & LSR_THRE != 0 {
                    self.thre_pending = true;
                }
                self.ier = v & 0x0f;
            }
            2 => {
                let enable = v & 1 != 0;
                if enable != self.fifo_enabled || v & 2 != 0 {
                    self.rx.clear();
                    self.lsr &= !LSR_DR;
                    self.timeout_pending = false;
                }
                self.fifo_enabled = enable;
                self.trigger = [1, 4, 8, 14][(v >> 6) as usize];
            }
            3 => self.lcr = v,
            4 => {
                let old = self.mcr;
                self.mcr = v & 0x1f;
                self.update_modem_status(old);
            }
            5 => {} // LSR is read-only (factory test writes ignored)
            6 => {}
            _ => self.scr = v,
        }
    }

    /// In loopback the modem inputs follow the outputs: DTR->DSR, RTS->CTS, OUT1->RI,
    /// OUT2->DCD. Deltas are recorded in MSR bits 0-3.
    fn update_modem_status(&mut self, old_mcr: u8) {
        let lines = |mcr: u8| -> u8 {
            if mcr & MCR_LOOP != 0 {
                ((mcr & MCR_RTS != 0) as u8) << 4
                    | ((mcr & MCR_DTR != 0) as u8) << 5
                    | ((mcr & MCR_OUT1 != 0) as u8) << 6
                    | ((mcr & MCR_OUT2 != 0) as u8) << 7
            } else {
                0xb0
            }
        };
        let (before, after) = (lines(old_mcr), lines(self.mcr));
        let changed = before ^ after;
        let mut delta = 0;
        if changed & 0x10 != 0 {
            delta |= 1; // DCTS
        }
        if changed & 0x20 != 0 {
            delta |= 2; // DDSR
        }
        if before & 0x40 != 0 && after & 0x40 == 0 {
            delta |= 4; // TERI: trailing edge of RI
        }
        if changed & 0x80 != 0 {
            delta |= 8; // DDCD
        }
        self.msr = after | (self.msr & 0x0f) | delta;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmit_and_thre_interrupt() {
        let mut u = Uart::new();
        u.write(4, MCR_OUT2);
        u.write(1, IER_THRE);
        assert!(u.irq(), "THR empty right after enabling");
        assert_eq!(u.read(2) & 0x0f, 0b0010);
        assert!(!u.irq(), "reading IIR acknowledged it");
        u.write(0, b'A');
        assert!(u.irq());
        assert_eq!(u.take_output(), b"A");
        assert_eq!(u.read(5) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
    }

    #[test]
    fn receive_fifo_trigger_and_timeout() {
        let mut u = Uart::new();
        u.write(4, MCR_OUT2);
        u.write(2, 0x41); // FIFO on, trigger 4
        u.write(1, IER_RDA);
        u.receive(b'x');
        assert_eq!(
            u.read(2) & 0x0f,
            0b1100,
            "character timeout below the trigger"
        );
        for b in *b"yzw" {
            u.receive(b);
        }
        assert_eq!(
            u.read(2) & 0x0f,
            0b0100,
            "data available at the trigger level"
        );
        let got: Vec<u8> = (0..4).map(|_| u.read(0)).collect();
        assert_eq!(got, b"xyzw");
        assert_eq!(u.read(5) & LSR_DR, 0);
        assert!(!u.irq());
    }

    #[test]
    fn overrun_without_fifo() {
        let mut u = Uart::new();
        assert!(u.receive(1));
        assert!(!u.receive(2));
        assert_eq!(u.read(5) & LSR_OE, LSR_OE);
        assert_eq!(u.read(5) & LSR_OE, 0, "cleared by the read");
    }

    #[test]
    fn divisor_latch() {
        let mut u = Uart::new();
        u.write(3, 0x80);
        u.write(0, 0x01);
        u.write(1, 0x00);
        assert_eq!(u.divisor, 1);
        u.write(3, 0x03);
        assert_eq!(u.read(3), 0x03);
    }

    #[test]
    fn loopback_echoes_and_mirrors_modem_lines() {
        let mut u = Uart::new();
        u.write(4, MCR_LOOP | MCR_DTR | MCR_RTS);
        u.write(0, 0x5a);
        assert!(u.take_output().is_empty());
        assert_eq!(u.read(0), 0x5a);
        let msr = u.read(6);
        assert_eq!(msr & 0x30, 0x30, "CTS and DSR follow RTS and DTR");
    }

    #[test]
    fn interrupt_needs_out2() {
        let mut u = Uart::new();
        u.write(1, IER_RDA);
        u.receive(1);
        assert!(!u.irq());
        u.write(4, MCR_OUT2);
        assert!(u.irq());
    }
}
