//! The i8042 keyboard controller (ports 0x60 data, 0x64 status/command) with a PS/2
//! keyboard behind it, and the A20/reset lines it drives; port 0x92 ("fast A20") sits
//! here too since both drive the same A20 gate.
//!
//! The auxiliary (mouse) port has no device: commands sent to it answer 0xFE. Host key
//! input arrives as ready-made scancode bytes (`key_bytes`), or as set 1 codes
//! (`key_set1`) that the keyboard sends in the form the guest reads: set 1 when the
//! controller translates (command byte bit 6, as SeaBIOS and Linux set it) or the
//! keyboard was switched to set 1, set 2 otherwise.

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
const CB_XLATE: u8 = 0x40;

/// Set 2 make codes of the set 1 make codes 0x00-0x58 (0 where a code has no key). An
/// 0xE0-prefixed key has the same second byte mapping in both sets (the arrows share the
/// keypad's codes, right Ctrl the left one's, ...).
const SET1_TO_SET2: [u8; 0x59] = [
    0x00, 0x76, 0x16, 0x1e, 0x26, 0x25, 0x2e, 0x36, // 00-07: Esc 1-6
    0x3d, 0x3e, 0x46, 0x45, 0x4e, 0x55, 0x66, 0x0d, // 08-0F: 7-0 - = BS Tab
    0x15, 0x1d, 0x24, 0x2d, 0x2c, 0x35, 0x3c, 0x43, // 10-17: Q-I
    0x44, 0x4d, 0x54, 0x5b, 0x5a, 0x14, 0x1c, 0x1b, // 18-1F: O P [ ] Enter Ctrl A S
    0x23, 0x2b, 0x34, 0x33, 0x3b, 0x42, 0x4b, 0x4c, // 20-27: D-L ;
    0x52, 0x0e, 0x12, 0x5d, 0x1a, 0x22, 0x21, 0x2a, // 28-2F: ' ` LShift \ Z X C V
    0x32, 0x31, 0x3a, 0x41, 0x49, 0x4a, 0x59, 0x7c, // 30-37: B N M , . / RShift KP*
    0x11, 0x29, 0x58, 0x05, 0x06, 0x04, 0x0c, 0x03, // 38-3F: Alt Space Caps F1-F5
    0x0b, 0x83, 0x0a, 0x01, 0x09, 0x77, 0x7e, 0x6c, // 40-47: F6-F10 Num Scroll KP7
    0x75, 0x7d, 0x7b, 0x6b, 0x73, 0x74, 0x79, 0x69, // 48-4F: KP8 KP9 KP- KP4-6 KP+ KP1
    0x72, 0x7a, 0x70, 0x71, 0x00, 0x00, 0x61, 0x78, // 50-57: KP2 KP3 KP0 KP. - - <> F11
    0x07, // 58: F12
];

/// Set 1 scancode bytes (make codes, break codes with bit 7, 0xE0 prefixes) as set 2:
/// a break is 0xF0 and the make code. Codes with no set 2 equivalent are dropped.
pub fn set1_to_set2(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &b in bytes {
        if b == 0xe0 || b == 0xe1 {
            out.push(b);
            continue;
        }
        let Some(&code) = SET1_TO_SET2.get((b & 0x7f) as usize) else {
            continue;
        };
        if code == 0 {
            continue;
        }
        if b & 0x80 != 0 {
            out.push(0xf0);
        }
        out.push(code);
    }
    out
}

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

    /// Host key input as set 1 scancodes, sent in the form the guest reads (see the
    /// module comment).
    pub fn key_set1(&mut self, bytes: &[u8]) {
        let b = self.key_form(bytes);
        self.key_bytes(&b);
    }

    /// Set 1 scancodes as the guest reads them now: as they are when the controller
    /// translates or the keyboard uses set 1, else in set 2.
    pub fn key_form(&self, set1: &[u8]) -> Vec<u8> {
        if self.command_byte & CB_XLATE != 0 || self.scancode_set == 1 {
            set1.to_vec()
        } else {
            set1_to_set2(set1)
        }
    }

    /// Nothing waits in the output buffer (a key byte may follow: the guest sees the
    /// output-buffer-full edge of each byte).
    pub fn output_empty(&self) -> bool {
        self.out.is_empty()
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

    #[test]
    fn set1_keys_reach_the_guest_translated_or_as_set2() {
        // 'a' pressed and released, then Up (0xE0-prefixed).
        let keys = [0x1e, 0x9e, 0xe0, 0x48, 0xe0, 0xc8];
        let mut k = I8042::new();
        k.key_set1(&keys);
        let got: Vec<u8> =
            std::iter::from_fn(|| (k.read(0x64) & OBF != 0).then(|| k.read(0x60))).collect();
        assert_eq!(got, [0x1c, 0xf0, 0x1c, 0xe0, 0x75, 0xe0, 0xf0, 0x75]);
        // With translation on (SeaBIOS, Linux) the guest reads set 1 as it is.
        k.write(0x64, 0x60);
        k.write(0x60, CB_KBD_IRQ | CB_SYS | CB_XLATE);
        k.key_set1(&keys);
        let got: Vec<u8> =
            std::iter::from_fn(|| (k.read(0x64) & OBF != 0).then(|| k.read(0x60))).collect();
        assert_eq!(got, keys);
    }

    #[test]
    fn every_set1_key_has_a_distinct_set2_code() {
        let mut seen = std::collections::HashSet::new();
        for (i, &c) in SET1_TO_SET2.iter().enumerate() {
            if c != 0 {
                assert!(
                    seen.insert(c),
                    "set 1 code {i:#04x}: set 2 code {c:#04x} twice"
                );
            }
        }
        assert_eq!(seen.len(), 86);
    }
}
