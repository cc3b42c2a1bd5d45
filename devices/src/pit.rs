//! The 8254 programmable interval timer: three 16-bit counters clocked at 1.193182 MHz,
//! all six modes, binary and BCD counting, counter latch and read-back commands, and the
//! channel 2 gate / speaker bits of port 0x61.
//!
//! Counters are not ticked one by one: each channel remembers when it was loaded (in
//! counter ticks of the virtual clock) and its count and OUT are computed from the
//! elapsed ticks, so a timer costs nothing between accesses. `next_out_rise` tells the
//! board when channel 0 next raises IRQ0.

use serde::{Deserialize, Serialize};

/// Input clock of the counters, in Hz.
pub const PIT_HZ: u64 = 1_193_182;

/// Convert virtual nanoseconds to counter ticks.
pub fn ticks_at(ns: u64) -> u64 {
    (ns as u128 * PIT_HZ as u128 / 1_000_000_000) as u64
}

/// The first virtual nanosecond at which `ticks` have elapsed.
pub fn ns_at(ticks: u64) -> u64 {
    (ticks as u128 * 1_000_000_000).div_ceil(PIT_HZ as u128) as u64
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    /// Mode 0-5.
    pub mode: u8,
    /// Access: 1 LSB, 2 MSB, 3 LSB then MSB.
    pub access: u8,
    pub bcd: bool,
    /// Reload value as written (0 means 65536, or 10000 in BCD).
    pub reload: u16,
    /// Tick at which counting (re)started, if it has.
    pub start: Option<u64>,
    /// Gate input.
    pub gate: bool,
    /// A count has been written but not yet used (status bit 6).
    pub null_count: bool,
    /// LSB of a two-byte write in progress.
    pub write_lsb: Option<u8>,
    /// Next read of a two-byte access returns the MSB.
    pub read_msb: bool,
    /// Latched count (and whether its LSB was already read).
    pub latched: Option<(u16, bool)>,
    /// Latched status byte.
    pub status: Option<u8>,
}

impl Channel {
    /// Counter period in ticks.
    fn period(&self) -> u64 {
        match (self.reload, self.bcd) {
            (0, false) => 0x10000,
            (0, true) => 10000,
            (n, true) => from_bcd(n) as u64,
            (n, false) => n as u64,
        }
    }

    /// Ticks counted since the count was loaded (None before a count is loaded or while
    /// a gate-triggered mode waits for its trigger).
    fn elapsed(&self, now: u64) -> Option<u64> {
        self.start.map(|s| now.saturating_sub(s))
    }

    /// The counting element's value at tick `now`.
    pub fn count(&self, now: u64) -> u16 {
        let n = self.period();
        let Some(e) = self.elapsed(now) else {
            return self.reload;
        };
        let raw = match self.mode {
            // One-shot modes keep counting down past zero, wrapping.
            0 | 1 | 4 | 5 => {
                let wrap = if self.bcd { 10000 } else { 0x10000 };
                ((n + wrap - e % wrap) % wrap) as u32
            }
            // Rate generator: N..1, reloading.
            2 => (n - e % n) as u32,
            // Square wave counts down by two through each half period.
            _ => {
                let half = n.div_ceil(2);
                let phase = e % n;
                let in_half = if phase < half { phase } else { phase - half };
                (n - 2 * in_half).max(2) as u32 & !1
            }
        };
        if self.bcd {
            to_bcd(raw % 10000)
        } else {
            raw as u16
        }
    }

    /// The OUT pin at tick `now`.
    pub fn out(&self, now: u64) -> bool {
        let n = self.period();
        match (self.mode, self.elapsed(now)) {
            (0, None) => false,
            (0, Some(e)) => e >= n,
            (1, None) => true,
            (1, Some(e)) => e >= n,
            (2, None) | (3, None) => true,
            (2, Some(e)) => e % n != n - 1,
            (3, Some(e)) => e % n < n.div_ceil(2),
            (_, None) => true,
            (_, Some(e)) => e != n,
        }
    }

    /// The first tick after `now` at which OUT goes from low to high, if it ever does.
    pub fn next_rise(&self, now: u64) -> Option<u64> {
        let n = self.period();
        let s = self.start?;
        let e = now.saturating_sub(s);
        let at = match self.mode {
            0 | 1 => (e < n).then_some(n)?,
            // Both periodic modes go high again at the start of each period.
            2 | 3 => (e / n + 1) * n,
            _ => (e <= n).then_some(n + 1)?,
        };
        Some(s + at)
    }

    fn status_byte(&self, now: u64) -> u8 {
        (self.out(now) as u8) << 7
            | (self.null_count as u8) << 6
            | self.access << 4
            | self.mode << 1
            | self.bcd as u8
    }
}

fn from_bcd(v: u16) -> u16 {
    (v >> 12 & 0xf) * 1000 + (v >> 8 & 0xf) * 100 + (v >> 4 & 0xf) * 10 + (v & 0xf)
}

fn to_bcd(v: u32) -> u16 {
    let v = v as u16;
    (v / 1000 % 10) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | (v % 10)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pit {
    pub channels: [Channel; 3],
    /// Port 0x61 bit 1: speaker data enable.
    pub speaker: bool,
}

impl Default for Pit {
    fn default() -> Self {
        Self::new()
    }
}

impl Pit {
    pub fn new() -> Self {
        let mut p = Pit {
            channels: Default::default(),
            speaker: false,
        };
        p.channels[0].gate = true;
        p.channels[1].gate = true;
        p
    }

    /// Read counter port 0x40-0x42 at tick `now`.
    pub fn read_counter(&mut self, ch: usize, now: u64) -> u8 {
        let c = &mut self.channels[ch];
        if let Some(st) = c.status.take() {
            return st;
        }
        let (value, from_latch) = match c.latched {
            Some((v, _)) => (v, true),
            None => (c.count(now), false),
        };
        let byte = match c.access {
            1 => value as u8,
            2 => (value >> 8) as u8,
            _ => {
                let msb = c.read_msb;
                c.read_msb = !msb;
                if msb {
                    (value >> 8) as u8
                } else {
                    value as u8
                }
            }
        };
        // A latch holds until it has been read completely.
        if from_latch && (c.access != 3 || !c.read_msb) {
            c.latched = None;
        }
        byte
    }

    /// Write counter port 0x40-0x42 at tick `now`.
    pub fn write_counter(&mut self, ch: usize, v: u8, now: u64) {
        let c = &mut self.channels[ch];
        let value = match c.access {
            1 => v as u16,
            2 => (v as u16) << 8,
            _ => match c.write_lsb.take() {
                None => {
                    c.write_lsb = Some(v);
                    // Mode 0 stops OUT when the first byte arrives.
                    if c.mode == 0 {
                        c.start = None;
                    }
                    return;
                }
                Some(lsb) => (v as u16) << 8 | lsb as u16,
            },
        };
        c.reload = value;
        c.null_count = false;
        // Gate-triggered modes wait for a rising gate; the others start now (a running
        // rate generator or square wave picks the new count up at its next reload: close
        // enough at this granularity).
        match c.mode {
            1 | 5 => {}
            _ if c.gate => c.start = Some(now),
            _ => c.start = None,
        }
    }

    /// Write the mode/command register (port 0x43).
    pub fn write_control(&mut self, v: u8, now: u64) {
        let sel = (v >> 6) as usize;
        if sel == 3 {
            // Read-back: bit 5 clear latches counts, bit 4 clear latches status.
            for ch in 0..3 {
                if v & (2 << ch) == 0 {
                    continue;
                }
                if v & 0x20 == 0 && self.channels[ch].latched.is_none() {
                    let cnt = self.channels[ch].count(now);
                    self.channels[ch].latched = Some((cnt, false));
                }
                if v & 0x10 == 0 && self.channels[ch].status.is_none() {
                    let st = self.channels[ch].status_byte(now);
                    self.channels[ch].status = Some(st);
                }
            }
            return;
        }
        let c = &mut self.channels[sel];
        let access = (v >> 4) & 3;
        if access == 0 {
            // Counter latch command.
            if c.latched.is_none() {
                c.latched = Some((c.count(now), false));
            }
            return;
        }
        let mode = match (v >> 1) & 7 {
            6 => 2,
            7 => 3,
            m => m,
        };
        let gate = c.gate;
        *c = Channel {
            mode,
            access,
            bcd: v & 1 != 0,
            gate,
            null_count: true,
            ..Default::default()
        };
    }

    /// Port 0x61 read: bit 5 OUT2, bit 4 the refresh toggle (every 15 us), bits 0-1 as
    /// written.
    pub fn read_port61(&self, now: u64) -> u8 {
        let refresh = (now / 18) & 1;
        (self.channels[2].out(now) as u8) << 5
            | (refresh as u8) << 4
            | (self.speaker as u8) << 1
            | self.channels[2].gate as u8
    }

    /// Port 0x61 write: bit 0 gate of channel 2, bit 1 speaker enable.
    pub fn write_port61(&mut self, v: u8, now: u64) {
        self.speaker = v & 2 != 0;
        self.set_gate2(v & 1 != 0, now);
    }

    fn set_gate2(&mut self, high: bool, now: u64) {
        let c = &mut self.channels[2];
        let rising = high && !c.gate;
        c.gate = high;
        match c.mode {
            // Gate-triggered modes (re)start on a rising edge.
            1 | 5 if rising => c.start = Some(now),
            2 | 3 if rising => c.start = Some(now),
            0 | 2 | 3 | 4 if !high => c.start = None,
            0 | 4 if rising => c.start = Some(now),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(p: &mut Pit, ch: usize, mode: u8, count: u16, now: u64) {
        p.write_control((ch as u8) << 6 | 0x30 | mode << 1, now);
        p.write_counter(ch, count as u8, now);
        p.write_counter(ch, (count >> 8) as u8, now);
    }

    fn read16(p: &mut Pit, ch: usize, now: u64) -> u16 {
        let lo = p.read_counter(ch, now) as u16;
        lo | (p.read_counter(ch, now) as u16) << 8
    }

    #[test]
    fn rate_generator_counts_down_and_pulses() {
        let mut p = Pit::new();
        program(&mut p, 0, 2, 100, 1000);
        assert_eq!(read16(&mut p, 0, 1000), 100);
        assert_eq!(read16(&mut p, 0, 1010), 90);
        assert!(p.channels[0].out(1098));
        assert!(!p.channels[0].out(1099), "OUT low while the count is 1");
        assert!(p.channels[0].out(1100));
        assert_eq!(read16(&mut p, 0, 1100), 100, "reloaded");
        assert_eq!(p.channels[0].next_rise(1050), Some(1100));
        assert_eq!(p.channels[0].next_rise(1100), Some(1200));
    }

    #[test]
    fn square_wave_halves() {
        let mut p = Pit::new();
        program(&mut p, 0, 3, 10, 0);
        let outs: Vec<bool> = (0..10).map(|t| p.channels[0].out(t)).collect();
        assert_eq!(
            outs,
            [true, true, true, true, true, false, false, false, false, false]
        );
        assert_eq!(p.channels[0].count(0), 10);
        assert_eq!(p.channels[0].count(1), 8);
    }

    #[test]
    fn mode0_interrupt_on_terminal_count() {
        let mut p = Pit::new();
        program(&mut p, 0, 0, 50, 0);
        assert!(!p.channels[0].out(49));
        assert!(p.channels[0].out(50));
        assert_eq!(p.channels[0].next_rise(10), Some(50));
        assert_eq!(p.channels[0].next_rise(60), None);
        assert_eq!(read16(&mut p, 0, 51), 0xffff, "keeps counting past zero");
    }

    #[test]
    fn latch_freezes_the_value_until_read() {
        let mut p = Pit::new();
        program(&mut p, 0, 2, 1000, 0);
        p.write_control(0x00, 100); // latch channel 0
        assert_eq!(read16(&mut p, 0, 500), 900);
        assert_eq!(
            read16(&mut p, 0, 500),
            500,
            "the latch is gone after one read"
        );
    }

    #[test]
    fn read_back_status_and_count() {
        let mut p = Pit::new();
        program(&mut p, 2, 0, 20, 0);
        p.write_port61(1, 0);
        p.write_control(0xc0 | 0x08, 30); // read-back ch2: count and status
        let st = p.read_counter(2, 30);
        assert_eq!(st & 0x80, 0x80, "OUT high after terminal count");
        assert_eq!(st & 0x0e, 0, "mode 0");
        assert_eq!(st & 0x30, 0x30, "LSB then MSB");
        assert_eq!(read16(&mut p, 2, 40), 0xfff6);
    }

    #[test]
    fn bcd_counting() {
        let mut p = Pit::new();
        p.write_control(0x30 | 2 << 1 | 1, 0);
        p.write_counter(0, 0x00, 0);
        p.write_counter(0, 0x10, 0); // BCD 1000
        assert_eq!(read16(&mut p, 0, 1), 0x0999);
    }

    #[test]
    fn gate2_and_port61() {
        let mut p = Pit::new();
        program(&mut p, 2, 0, 10, 0);
        assert_eq!(p.read_port61(5) & 0x20, 0, "gate low: not counting");
        p.write_port61(1, 5);
        assert_eq!(p.read_port61(14) & 0x20, 0);
        assert_eq!(p.read_port61(15) & 0x20, 0x20);
    }

    #[test]
    fn time_conversion_round_trips() {
        assert_eq!(ticks_at(1_000_000_000), PIT_HZ);
        assert!(ticks_at(ns_at(12345)) >= 12345);
    }
}
