//! The i8042 keyboard controller (ports 0x60 data, 0x64 status/command) with a PS/2
//! keyboard behind it, and the A20/reset lines it drives; port 0x92 ("fast A20") sits
//! here too since both drive the same A20 gate.
//!
//! The auxiliary (mouse) port has no device: commands sent to it answer 0xFE. Host key
//! input arrives as ready-made scancode bytes (`key_bytes`).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

// Status register bits.
const OBF: u8 = 0x01;
const SYS: u8 = 0x04;
const CMD: u8 = 0x08;
const UNLOCKED: u8 = 0x10;
const AUX_DATA: u8 = 0x20;

// Command byte bits.
const CB_KBD_IRQ: u8 = 0x01;
const CB_AUX_IRQ: u8 = 0x02;
const CB_SYS: u8 = 0x04;
const CB_KBD_OFF: u8 = 0x10;
const CB_AUX_OFF: u8 = 0x20;

/// What the controller asks of the board after an access.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lines {
    /// A20 gate state to apply.
    pub a20: bool,
    /// Pulse CPU reset.
    pub reset: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct I8042 {
    pub command_byte: u8,
    pub status: u8,
    /// Pending output bytes; the bool marks auxiliary-port data.
    pub out: VecDeque<(u8, bool)>,
    /// A controller command waiting for its data byte (0x60, 0xD1, 0xD2, 0xD3, 0xD4).
    pub pending_cmd: Option<u8>,
    /// A keyboard command waiting for its argument (0xED, 0xF0, 0xF3).
    pub kbd_pending: Option<u8>,
    pub kbd_enabled: bool,
    pub scancode_set: u8,
    /// Output port: bit 0 reset (active low), bit 1 A20.
    pub output_port: u8,
    /// Port 0x92 bit 1.
    pub fast_a20: bool,
    /// The last byte read from port 0x60, which reads again while the buffer is empty
    /// (as on QEMU and hardware: an interrupt handler that finds no new byte sees the
    /// previous one, not a 0x00 scancode).
    #[serde(default)]
    pub last: u8,
}

impl Default for I8042 {
    fn default() -> Self {
        Self::new()
    }
}

impl I8042 {
    pub fn new() -> Self {
        I8042 {
            command_byte: CB_KBD_IRQ | CB_SYS,
            status: UNLOCKED,
            out: VecDeque::new(),
            pending_cmd: None,
            kbd_pending: None,
            kbd_enabled: true,
            scancode_set: 2,
            output_port: 0x03, // reset line inactive, A20 on
            fast_a20: false,
            last: 0,
        }
    }

    fn lines(&self) -> Lines {
        Lines {
            a20: self.output_port & 2 != 0 || self.fast_a20,
            reset: false,
        }
    }

    fn push(&mut self, b: u8) {
        self.out.push_back((b, false));
    }

    fn refresh_status(&mut self) {
        self.status &= !(OBF | AUX_DATA);
        if let Some(&(_, aux)) = self.out.front() {
            self.status |= OBF | if aux { AUX_DATA } else { 0 };
        }
        self.status = (self.status & !SYS) | (self.command_byte & CB_SYS);
    }

    /// IRQ1 (keyboard) and IRQ12 (aux) levels.
    pub fn irqs(&self) -> (bool, bool) {
        match self.out.front() {
            Some(&(_, false)) => (self.command_byte & CB_KBD_IRQ != 0, false),
            Some(&(_, true)) => (false, self.command_byte & CB_AUX_IRQ != 0),
            None => (false, false),
        }
    }

    /// Host keyboard input (scancodes in the set the guest selected).
    pub fn key_bytes(&mut self, bytes: &[u8]) {
        if self.kbd_enabled && self.command_byte & CB_KBD_OFF == 0 {
            for &b in bytes {
                self.push(b);
            }
        }
    }

    pub fn read(&mut self, port: u16) -> u8 {
        match port {
            0x60 => {
                let v = self.out.pop_front().map_or(self.last, |(b, _)| b);
                self.last = v;
                self.refresh_status();
                v
            }
            0x64 => {
                self.refresh_status();
                self.status
            }
            0x92 => (self.fast_a20 as u8) << 1,
            _ => 0xff,
        }
    }

    /// A write; the returned lines tell the board about A20 and reset.
    pub fn write(&mut self, port: u16, v: u8) -> Lines {
        let mut lines = self.lines();
        match port {
            0x64 => {
                self.status |= CMD;
                lines = self.command(v);
            }
            0x60 => {
                self.status &= !CMD;
                match self.pending_cmd.take() {
                    Some(0x60) => self.command_byte = v,
                    Some(0xd1) => {
                        self.output_port = v;
                        lines = self.lines();
                        lines.reset = v & 1 == 0;
                    }
                    Some(0xd2) => self.push(v),
                    Some(0xd3) => self.out.push_back((v, true)),
                    Some(0xd4) => self.out.push_back((0xfe, true)), // no mouse
                    _ => self.keyboard(v),
                }
            }
            0x92 => {
                self.fast_a20 = v & 2 != 0;
                lines = self.lines();
                lines.reset = v & 1 != 0;
            }
            _ => {}
        }
        self.refresh_status();
        lines
    }

    fn command(&mut self, c: u8) -> Lines {
        let mut lines = self.lines();
        match c {
            0x20 => self.push(self.command_byte),
            0x60 | 0xd1 | 0xd2 | 0xd3 | 0xd4 => self.pending_cmd = Some(c),
            0xa7 => self.command_byte |= CB_AUX_OFF,
            0xa8 => self.command_byte &= !CB_AUX_OFF,
            0xa9 => self.push(0x02), // aux clock line stuck low: no device
            0xaa => {
                self.push(0x55);
                self.command_byte |= CB_SYS;
            }
            0xab => self.push(0x00),
            0xad => self.command_byte |= CB_KBD_OFF,
            0xae => self.command_byte &= !CB_KBD_OFF,
            0xc0 => self.push(0xbf), // input port: keyboard not inhibited
            0xd0 => self.push(self.output_port),
            0xdd => {
                self.output_port &= !2;
                lines = self.lines();
            }
            0xdf => {
                self.output_port |= 2;
                lines = self.lines();
            }
            // Pulse output lines: bit 0 clear pulses reset.
            0xf0..=0xff => lines.reset = c & 1 == 0,
            _ => {}
        }
        lines
    }

    fn keyboard(&mut self, v: u8) {
        if let Some(cmd) = self.kbd_pending.take() {
            self.push(0xfa);
            if cmd == 0xf0 {
                match v {
                    0 => self.push(self.scancode_set),
                    1..=3 => self.scancode_set = v,
                    _ => {}
                }
            }
            return;
        }
        match v {
            0xed | 0xf0 | 0xf3 => {
                self.kbd_pending = Some(v);
                self.push(0xfa);
            }
            0xee => self.push(0xee),
            0xf2 => {
                self.push(0xfa);
                self.push(0xab);
                self.push(0x83);
            }
            0xf4 => {
                self.kbd_enabled = true;
                self.push(0xfa);
            }
            0xf5 => {
                self.kbd_enabled = false;
                self.push(0xfa);
            }
            0xf6 => {
                self.scancode_set = 2;
                self.push(0xfa);
            }
            0xff => {
                self.scancode_set = 2;
                self.kbd_enabled = true;
                self.push(0xfa);
                self.push(0xaa);
            }
            _ => self.push(0xfe),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_test_and_command_byte() {
        let mut k = I8042::new();
        k.write(0x64, 0xaa);
        assert_eq!(k.read(0x64) & OBF, OBF);
        assert_eq!(k.read(0x60), 0x55);
        assert_eq!(k.read(0x64) & OBF, 0);
        k.write(0x64, 0x60);
        k.write(0x60, 0x47);
        k.write(0x64, 0x20);
        assert_eq!(k.read(0x60), 0x47);
    }

    #[test]
    fn a20_through_the_output_port_and_port_92() {
        let mut k = I8042::new();
        k.write(0x64, 0xd1);
        let l = k.write(0x60, 0xdd);
        assert!(!l.a20 && !l.reset);
        let l = k.write(0x92, 0x02);
        assert!(l.a20, "fast A20 enables it too");
        assert_eq!(k.read(0x92), 0x02);
    }

    #[test]
    fn reset_pulse() {
        let mut k = I8042::new();
        assert!(k.write(0x64, 0xfe).reset);
        assert!(!k.write(0x64, 0xff).reset);
    }

    #[test]
    fn keyboard_reset_identify_and_irq() {
        let mut k = I8042::new();
        k.write(0x60, 0xff);
        assert_eq!(k.irqs(), (true, false));
        assert_eq!((k.read(0x60), k.read(0x60)), (0xfa, 0xaa));
        k.write(0x60, 0xf2);
        assert_eq!(
            [k.read(0x60), k.read(0x60), k.read(0x60)],
            [0xfa, 0xab, 0x83]
        );
        k.write(0x60, 0xf0);
        k.write(0x60, 0x00);
        assert_eq!(
            [k.read(0x60), k.read(0x60), k.read(0x60)],
            [0xfa, 0xfa, 0x02]
        );
    }

    #[test]
    fn keys_respect_the_disable_bit_and_mouse_is_absent() {
        let mut k = I8042::new();
        k.write(0x64, 0xad);
        k.key_bytes(&[0x1c]);
        assert_eq!(k.read(0x64) & OBF, 0);
        k.write(0x64, 0xae);
        k.key_bytes(&[0x1c]);
        assert_eq!(k.read(0x60), 0x1c);
        k.write(0x64, 0xd4);
        k.write(0x60, 0xf4);
        assert_eq!(k.read(0x64) & AUX_DATA, AUX_DATA);
        assert_eq!(k.read(0x60), 0xfe);
    }
}
