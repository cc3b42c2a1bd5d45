//! The MC146818 real-time clock and CMOS RAM (index port 0x70 with the NMI mask in bit 7,
//! data port 0x71): time and date kept from a start time plus virtual time, BCD or binary,
//! 12/24-hour, alarm, periodic/alarm/update-ended interrupts (IRQ8), update-in-progress
//! window, and the BIOS memory-size bytes with their checksum.

use serde::{Deserialize, Serialize};

const NS: u64 = 1_000_000_000;
/// The update cycle: UIP is set for 244 us before the seconds change.
const UIP_NS: u64 = 244_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cmos {
    pub ram: Vec<u8>,
    pub index: u8,
    pub nmi_masked: bool,
    /// Wall-clock seconds (since 1970, UTC) at virtual time `base_ns`.
    pub base_secs: u64,
    pub base_ns: u64,
    /// Virtual time of the last interrupt-flag evaluation.
    pub last_ns: u64,
}

/// Days since 1970-01-01 -> (year, month 1-12, day 1-31).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

/// (year, month, day) -> days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = y - (m <= 2) as i64;
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn bcd(v: u32) -> u8 {
    ((v / 10) << 4 | (v % 10)) as u8
}

fn unbcd(v: u8) -> u32 {
    (v >> 4) as u32 * 10 + (v & 0xf) as u32
}

impl Cmos {
    /// A clock reading `start_secs` (Unix time) at virtual time 0, for a machine with
    /// `ram_bytes` of RAM.
    pub fn new(start_secs: u64, ram_bytes: u64) -> Self {
        let mut c = Cmos {
            ram: vec![0; 128],
            index: 0,
            nmi_masked: false,
            base_secs: start_secs,
            base_ns: 0,
            last_ns: 0,
        };
        c.ram[0x0a] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate
        c.ram[0x0b] = 0x02; // 24-hour, BCD
        c.ram[0x0d] = 0x80; // valid RAM and time
        c.set_memory_size(ram_bytes);
        c
    }

    /// The BIOS memory-size fields and their checksum.
    pub fn set_memory_size(&mut self, ram: u64) {
        let kb = |v: u64| v.min(0xffff) as u16;
        let base = kb(640);
        let ext = kb(ram.saturating_sub(1 << 20) / 1024); // KiB above 1 MiB
        let above16 = (ram.saturating_sub(16 << 20) >> 16).min(0xffff) as u16; // 64 KiB units
        self.ram[0x15..=0x16].copy_from_slice(&base.to_le_bytes());
        self.ram[0x17..=0x18].copy_from_slice(&ext.to_le_bytes());
        self.ram[0x30..=0x31].copy_from_slice(&ext.to_le_bytes());
        self.ram[0x34..=0x35].copy_from_slice(&above16.to_le_bytes());
        self.update_checksum();
    }

    /// Set a CMOS RAM byte as the board's setup does (keeping the checksum of 0x10-0x2D).
    pub fn set(&mut self, reg: u8, v: u8) {
        self.ram[(reg & 0x7f) as usize] = v;
        self.update_checksum();
    }

    fn update_checksum(&mut self) {
        let sum: u16 = self.ram[0x10..=0x2d].iter().map(|&b| b as u16).sum();
        self.ram[0x2e] = (sum >> 8) as u8;
        self.ram[0x2f] = sum as u8;
    }

    fn binary(&self) -> bool {
        self.ram[0x0b] & 0x04 != 0
    }

    fn h24(&self) -> bool {
        self.ram[0x0b] & 0x02 != 0
    }

    /// Wall-clock seconds at virtual time `now`.
    fn secs(&self, now: u64) -> u64 {
        self.base_secs + now.saturating_sub(self.base_ns) / NS
    }

    fn encode(&self, v: u32) -> u8 {
        if self.binary() {
            v as u8
        } else {
            bcd(v)
        }
    }

    fn decode(&self, v: u8) -> u32 {
        if self.binary() {
            v as u32
        } else {
            unbcd(v)
        }
    }

    fn time_register(&self, reg: u8, now: u64) -> u8 {
        let t = self.secs(now);
        let (day, sod) = ((t / 86_400) as i64, t % 86_400);
        let (y, m, d) = civil_from_days(day);
        match reg {
            0 => self.encode((sod % 60) as u32),
            2 => self.encode((sod / 60 % 60) as u32),
            4 => {
                let h = (sod / 3600) as u32;
                if self.h24() {
                    self.encode(h)
                } else {
                    let pm = if h >= 12 { 0x80 } else { 0 };
                    self.encode(if h.is_multiple_of(12) { 12 } else { h % 12 }) | pm
                }
            }
            6 => self.encode(((day + 4).rem_euclid(7) + 1) as u32), // 1 = Sunday
            7 => self.encode(d),
            8 => self.encode(m),
            9 => self.encode((y % 100) as u32),
            0x32 => self.encode((y / 100) as u32),
            _ => 0,
        }
    }

    /// The guest sets the clock: rebase so the written field holds from `now` on.
    fn set_time_register(&mut self, reg: u8, v: u8, now: u64) {
        let t = self.secs(now);
        let (day, sod) = ((t / 86_400) as i64, t % 86_400);
        let (mut y, mut m, mut d) = civil_from_days(day);
        let (mut hh, mut mm, mut ss) = (sod / 3600, sod / 60 % 60, sod % 60);
        let val = self.decode(v & 0x7f) as u64;
        match reg {
            0 => ss = val.min(59),
            2 => mm = val.min(59),
            4 => {
                hh = if self.h24() {
                    val.min(23)
                } else {
                    (val % 12) + if v & 0x80 != 0 { 12 } else { 0 }
                }
            }
            7 => d = (val as u32).clamp(1, 31),
            8 => m = (val as u32).clamp(1, 12),
            9 => y = y - y % 100 + val as i64,
            0x32 => y = val as i64 * 100 + y % 100,
            _ => return,
        }
        let days = days_from_civil(y, m, d).max(0) as u64;
        self.base_secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
        self.base_ns = now;
    }

    /// Periodic interrupt period in ns (None when off).
    fn periodic_ns(&self) -> Option<u64> {
        match self.ram[0x0a] & 0x0f {
            0 => None,
            r => {
                let r = if r <= 2 { r + 7 } else { r };
                Some(NS * (1 << (r - 1)) / 32_768)
            }
        }
    }

    /// Raise the flags of events between the last evaluation and `now`.
    fn catch_up(&mut self, now: u64) {
        if now <= self.last_ns {
            return;
        }
        let last = self.last_ns;
        self.last_ns = now;
        if let Some(p) = self.periodic_ns() {
            if now / p != last / p {
                self.ram[0x0c] |= 0x40;
            }
        }
        let (s0, s1) = (self.secs(last), self.secs(now));
        if s1 != s0 && self.ram[0x0b] & 0x80 == 0 {
            self.ram[0x0c] |= 0x10; // update ended
            let hit = |reg: u8, alarm: u8, c: &Cmos| {
                alarm & 0xc0 == 0xc0 || c.time_register(reg, now) == alarm
            };
            if hit(0, self.ram[1], self) && hit(2, self.ram[3], self) && hit(4, self.ram[5], self) {
                self.ram[0x0c] |= 0x20;
            }
        }
        let enabled = self.ram[0x0b] & self.ram[0x0c] & 0x70;
        if enabled != 0 {
            self.ram[0x0c] |= 0x80;
        }
    }

    /// IRQ8 level at `now`.
    pub fn irq(&mut self, now: u64) -> bool {
        self.catch_up(now);
        self.ram[0x0c] & 0x80 != 0
    }

    /// The next virtual time at which an interrupt flag can rise (for the scheduler).
    pub fn next_event(&self, now: u64) -> Option<u64> {
        let b = self.ram[0x0b];
        let mut next = None::<u64>;
        if b & 0x40 != 0 {
            if let Some(p) = self.periodic_ns() {
                next = Some((now / p + 1) * p);
            }
        }
        if b & 0x30 != 0 {
            let to_second = NS - (now.saturating_sub(self.base_ns) % NS);
            let t = now + to_second;
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        next
    }

    pub fn read(&mut self, port: u16, now: u64) -> u8 {
        if port == 0x70 {
            return 0xff;
        }
        self.catch_up(now);
        let r = self.index & 0x7f;
        match r {
            0 | 2 | 4 | 6 | 7 | 8 | 9 | 0x32 => self.time_register(r, now),
            0x0a => {
                let into = now.saturating_sub(self.base_ns) % NS;
                let uip = if into >= NS - UIP_NS { 0x80 } else { 0 };
                (self.ram[0x0a] & 0x7f) | uip
            }
            0x0c => {
                let v = self.ram[0x0c];
                self.ram[0x0c] = 0;
                v
            }
            _ => self.ram[r as usize],
        }
    }

    pub fn write(&mut self, port: u16, v: u8, now: u64) {
        if port == 0x70 {
            self.index = v & 0x7f;
            self.nmi_masked = v & 0x80 != 0;
            return;
        }
        self.catch_up(now);
        let r = self.index & 0x7f;
        match r {
            0 | 2 | 4 | 7 | 8 | 9 | 0x32 => self.set_time_register(r, v, now),
            0x0c | 0x0d => {}
            0x0a => self.ram[0x0a] = v & 0x7f,
            _ => self.ram[r as usize] = v,
        }
        if (0x10..=0x2d).contains(&r) {
            self.update_checksum();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-23 12:34:56 UTC.
    const T: u64 = 1_795_437_296;

    fn read(c: &mut Cmos, reg: u8, now: u64) -> u8 {
        c.write(0x70, reg, now);
        c.read(0x71, now)
    }

    #[test]
    fn date_and_time_in_bcd() {
        let mut c = Cmos::new(T, 128 << 20);
        assert_eq!(read(&mut c, 0x09, 0), 0x26);
        assert_eq!(read(&mut c, 0x08, 0), 0x11);
        assert_eq!(read(&mut c, 0x07, 0), 0x23);
        assert_eq!(read(&mut c, 0x32, 0), 0x20);
        let h = read(&mut c, 0x04, 0);
        let m = read(&mut c, 0x02, 0);
        let s = read(&mut c, 0x00, 0);
        assert_eq!((h, m, s), (0x12, 0x34, 0x56));
        assert_eq!(
            read(&mut c, 0x00, 5 * NS),
            0x01,
            "five seconds of virtual time later"
        );
        assert_eq!(read(&mut c, 0x06, 0), 0x02, "a Monday");
    }

    #[test]
    fn binary_mode_and_setting_the_clock() {
        let mut c = Cmos::new(T, 128 << 20);
        c.write(0x70, 0x0b, 0);
        c.write(0x71, 0x06, 0); // binary, 24 h
        c.write(0x70, 0x04, 0);
        c.write(0x71, 7, 0);
        assert_eq!(read(&mut c, 0x04, 0), 7);
        assert_eq!(read(&mut c, 0x02, 0), 34);
    }

    #[test]
    fn periodic_interrupt_and_status_c() {
        let mut c = Cmos::new(T, 128 << 20);
        c.write(0x70, 0x0b, 0);
        c.write(0x71, 0x42, 0); // PIE, 24 h
        assert!(!c.irq(100));
        let p = NS / 1024;
        assert_eq!(c.next_event(0), Some(p));
        assert!(c.irq(p + 1));
        assert_eq!(read(&mut c, 0x0c, p + 2) & 0xc0, 0xc0);
        assert!(!c.irq(p + 3), "reading C acknowledged it");
    }

    #[test]
    fn memory_size_and_checksum() {
        let mut c = Cmos::new(T, 256 << 20);
        let ext = u16::from_le_bytes([read(&mut c, 0x17, 0), read(&mut c, 0x18, 0)]);
        assert_eq!(
            ext, 0xffff,
            "255 MiB above 1 MiB saturates the 16-bit KiB count"
        );
        let hi = u16::from_le_bytes([read(&mut c, 0x34, 0), read(&mut c, 0x35, 0)]);
        assert_eq!(hi, ((256 - 16) << 20 >> 16) as u16);
        let sum: u16 = (0x10..=0x2d).map(|r| read(&mut c, r, 0) as u16).sum();
        assert_eq!(
            sum,
            u16::from_be_bytes([read(&mut c, 0x2e, 0), read(&mut c, 0x2f, 0)])
        );
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1, 0, 59, 365, 10_957, 20_415, 50_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }
}
