//! An 82077AA-compatible floppy disk controller at 0x3F0-0x3F7 (0x3F6 belongs to IDE),
//! IRQ 6, DMA channel 2, with up to two drives over raw disk images (`disk.rs`: one
//! `pwrite` per sector, `--snapshot` overlays).
//!
//! Registers: SRA/SRB (read), DOR (drive select, reset, DMA/IRQ gate, motors), TDR, MSR
//! (read) / DSR (write: software reset, data rate), the FIFO (command, result bytes) and
//! DIR (read: disk change) / CCR (write: data rate). Commands: SPECIFY, SENSE DRIVE
//! STATUS, RECALIBRATE, SENSE INTERRUPT STATUS, SEEK, READ ID, READ DATA, WRITE DATA
//! (deleted-data variants alike), FORMAT TRACK, VERSION, CONFIGURE, LOCK, DUMPREG,
//! PERPENDICULAR MODE, PART ID; anything else answers ST0 = 0x80.
//!
//! Every command completes at once (as in QEMU, whose timing SeaBIOS and Linux cope
//! with): seeks raise IRQ 6 for SENSE INTERRUPT STATUS; data commands move their sectors
//! through DMA channel 2 when it is unmasked (or as soon as it is) and end at the DMA
//! terminal count or the end of the track (of the cylinder with MT), then raise IRQ 6
//! with seven result bytes. A data command's cylinder is sought implicitly. Non-DMA
//! (PIO) execution is not modelled.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::disk::{Disk, SECTOR};
use crate::dma::{Dma, DmaMemory, FLOPPY_CHANNEL};

pub const IRQ: u8 = 6;

/// Data rates (CCR/DSR bits 0-1).
const RATE_500K: u8 = 0;
const RATE_300K: u8 = 1;
const RATE_250K: u8 = 2;
const RATE_1M: u8 = 3;

/// A diskette format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Geometry {
    /// The CMOS drive type (register 0x10) for a drive holding this format.
    pub cmos_type: u8,
    pub cylinders: u8,
    pub heads: u8,
    pub spt: u8,
    /// The data rate the media is read at.
    pub rate: u8,
}

impl Geometry {
    pub fn bytes(&self) -> u64 {
        self.cylinders as u64 * self.heads as u64 * self.spt as u64 * SECTOR as u64
    }
}

const fn geom(cmos_type: u8, cylinders: u8, spt: u8, rate: u8) -> Geometry {
    Geometry {
        cmos_type,
        cylinders,
        heads: 2,
        spt,
        rate,
    }
}

/// The formats an image can have, told apart by size (the types SeaBIOS knows).
pub const FORMATS: [Geometry; 5] = [
    geom(1, 40, 9, RATE_300K),  // 360K, 5.25"
    geom(2, 80, 15, RATE_500K), // 1.2M, 5.25"
    geom(3, 80, 9, RATE_250K),  // 720K, 3.5"
    geom(4, 80, 18, RATE_500K), // 1.44M, 3.5"
    geom(5, 80, 36, RATE_1M),   // 2.88M, 3.5"
];

/// The format of an image of `size` bytes, if it is one.
pub fn geometry_for_size(size: u64) -> Option<Geometry> {
    FORMATS.iter().copied().find(|g| g.bytes() == size)
}

/// The sizes `geometry_for_size` accepts, for error messages.
pub const FORMAT_NAMES: &str =
    "368640 (360K), 737280 (720K), 1228800 (1.2M), 1474560 (1.44M) or 2949120 (2.88M) bytes";

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Drive {
    /// The image (shared by clones of the device state; its contents are not state).
    #[serde(skip)]
    disk: Option<Arc<Disk>>,
    geom: Option<Geometry>,
    track: u8,
    head: u8,
    sect: u8,
    /// DIR bit 7: no step since the media went in (or there is none).
    changed: bool,
}

impl Drive {
    fn present(&self) -> bool {
        self.disk.is_some() && self.geom.is_some()
    }
}

/// ST0 bits.
const ST0_ABNORMAL: u8 = 0x40;
const ST0_INVALID: u8 = 0x80;
const ST0_SEEK_END: u8 = 0x20;
const ST0_EQUIP: u8 = 0x10;
const ST0_NOT_READY: u8 = 0x08;
/// ST1 bits.
const ST1_MISSING_AM: u8 = 0x01;
const ST1_NOT_WRITABLE: u8 = 0x02;
const ST1_NO_DATA: u8 = 0x04;
const ST1_DATA_ERROR: u8 = 0x20;

/// DOR bits.
const DOR_RESET_N: u8 = 0x04;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Floppy {
    drives: [Drive; 2],
    dor: u8,
    tdr: u8,
    /// Data rate selected through the CCR or DSR.
    rate: u8,
    /// Command bytes received so far, and how many the command has.
    cmd: Vec<u8>,
    cmd_len: usize,
    result: Vec<u8>,
    res_pos: usize,
    /// A data command waiting for DMA channel 2 to be unmasked.
    waiting: bool,
    irq: bool,
    /// ST0 and cylinder for SENSE INTERRUPT STATUS after a seek or recalibrate.
    sense: Option<(u8, u8)>,
    /// SENSE INTERRUPT STATUS answers still owed for the drives after a reset.
    reset_senses: u8,
    specify: [u8; 2],
    config: u8,
    pretrk: u8,
    lock: bool,
    perpendicular: u8,
    last_eot: u8,
}

impl Default for Floppy {
    fn default() -> Self {
        Self::new()
    }
}

impl Floppy {
    pub fn new() -> Self {
        Floppy {
            drives: Default::default(),
            // As QEMU powers it on: out of reset, DMA and IRQ enabled, drive 0 selected.
            dor: DOR_RESET_N | 0x08,
            tdr: 0,
            rate: RATE_500K,
            cmd: Vec::new(),
            cmd_len: 0,
            result: Vec::new(),
            res_pos: 0,
            waiting: false,
            irq: false,
            sense: None,
            reset_senses: 0,
            specify: [0; 2],
            config: 0x60, // implied seek, FIFO off
            pretrk: 0,
            lock: false,
            perpendicular: 0,
            last_eot: 0,
        }
    }

    /// Put an image in drive `unit` (0 = A:, 1 = B:); its size must be a known format.
    pub fn attach(&mut self, unit: usize, disk: Disk) -> Result<(), String> {
        let g = geometry_for_size(disk.size()).ok_or_else(|| {
            format!(
                "is {} bytes: not a floppy format ({FORMAT_NAMES})",
                disk.size()
            )
        })?;
        self.drives[unit] = Drive {
            disk: Some(Arc::new(disk)),
            geom: Some(g),
            changed: true,
            ..Default::default()
        };
        Ok(())
    }

    /// The drives with an image: (unit, image).
    pub fn disks(&self) -> Vec<(usize, Arc<Disk>)> {
        self.drives
            .iter()
            .enumerate()
            .filter_map(|(u, d)| Some((u, d.disk.clone()?)))
            .collect()
    }

    /// Does drive `unit` of restored device state expect an image (it had one)?
    pub fn has_media(&self, unit: usize) -> bool {
        self.drives.get(unit).is_some_and(|d| d.geom.is_some())
    }

    /// Give a drive of restored device state its image again (device state leaves the
    /// image out); the drive's position and the controller stay as they are.
    pub fn set_disk(&mut self, unit: usize, disk: Arc<Disk>) {
        self.drives[unit].disk = Some(disk);
    }

    /// Is any drive attached (the board only decodes the ports then)?
    pub fn any_drive(&self) -> bool {
        self.drives.iter().any(Drive::present)
    }

    /// CMOS register 0x10: drive A's type in the high nibble, B's in the low one.
    pub fn cmos_types(&self) -> u8 {
        let t = |d: &Drive| d.geom.map_or(0, |g| g.cmos_type);
        t(&self.drives[0]) << 4 | t(&self.drives[1])
    }

    /// How many drives there are (the CMOS equipment byte).
    pub fn drive_count(&self) -> usize {
        self.drives.iter().filter(|d| d.present()).count()
    }

    /// A machine reset: the controller to its power-on state, the media stay.
    pub fn hard_reset(&mut self) {
        let drives = std::mem::take(&mut self.drives);
        *self = Floppy::new();
        self.drives = drives;
        for d in &mut self.drives {
            d.track = 0;
            d.head = 0;
            d.sect = 0;
        }
    }

    /// Write every written sector out (exit).
    pub fn flush(&self) {
        for d in self.drives.iter().filter_map(|d| d.disk.as_ref()) {
            let _ = d.flush();
        }
    }

    /// Is `port` the controller's?
    pub fn is_port(port: u16) -> bool {
        (0x3f0..=0x3f7).contains(&port) && port != 0x3f6
    }

    /// The IRQ 6 line.
    pub fn irq(&self) -> bool {
        self.irq && self.dor & DOR_RESET_N != 0
    }

    fn in_reset(&self) -> bool {
        self.dor & DOR_RESET_N == 0
    }

    /// A controller reset (DOR bit 2 released, or DSR bit 7): the command state goes,
    /// the drives owe a SENSE INTERRUPT STATUS each, and IRQ 6 rises.
    fn reset(&mut self) {
        self.cmd.clear();
        self.result.clear();
        self.res_pos = 0;
        self.waiting = false;
        self.sense = None;
        if !self.lock {
            self.config = 0x60;
            self.pretrk = 0;
        }
        self.reset_senses = 4;
        self.irq = true;
    }

    fn msr(&self) -> u8 {
        if self.in_reset() {
            0
        } else if self.waiting {
            0x10 | 1 << (self.cmd.get(1).map_or(0, |b| b & 3))
        } else if self.res_pos < self.result.len() {
            0xd0
        } else if !self.cmd.is_empty() {
            0x90
        } else {
            0x80
        }
    }

    pub fn read(&mut self, port: u16) -> u8 {
        match port & 7 {
            0 => (self.irq() as u8) << 7,
            1 => 0xc0 | (self.dor >> 4 & 3) | (self.dor & 1) << 5,
            2 => self.dor,
            3 => self.tdr,
            4 => self.msr(),
            5 => {
                if self.in_reset() || self.res_pos >= self.result.len() {
                    return 0;
                }
                let v = self.result[self.res_pos];
                self.res_pos += 1;
                self.irq = false;
                if self.res_pos == self.result.len() {
                    self.result.clear();
                    self.res_pos = 0;
                }
                v
            }
            7 => {
                let sel = (self.dor & 3) as usize;
                let motor = self.dor & (0x10 << sel) != 0;
                let changed = self.drives.get(sel).is_none_or(|d| d.changed);
                if motor && changed {
                    0x80
                } else {
                    0
                }
            }
            _ => 0xff,
        }
    }

    pub fn write(&mut self, port: u16, v: u8, dma: &mut Dma, mem: &mut dyn DmaMemory) {
        match port & 7 {
            2 => {
                let was_reset = self.in_reset();
                self.dor = v;
                if was_reset && !self.in_reset() {
                    self.reset();
                } else if self.in_reset() {
                    self.irq = false;
                }
            }
            3 => self.tdr = v & 3,
            4 => {
                self.rate = v & 3;
                if v & 0x80 != 0 && !self.in_reset() {
                    self.reset();
                }
            }
            5 => self.fifo_write(v, dma, mem),
            7 => self.rate = v & 3,
            _ => {}
        }
    }

    /// DMA channel 2 may have been unmasked: run a data command that waits for it.
    pub fn dma_changed(&mut self, dma: &mut Dma, mem: &mut dyn DmaMemory) {
        if self.waiting && dma.ready(FLOPPY_CHANNEL) {
            self.waiting = false;
            self.data_command(dma, mem);
        }
    }

    /// Bytes of the command that starts with `b`, None for an invalid command.
    fn command_len(b: u8) -> Option<usize> {
        Some(match b {
            0x03 => 3,               // SPECIFY
            0x04 => 2,               // SENSE DRIVE STATUS
            0x07 => 2,               // RECALIBRATE
            0x08 => 1,               // SENSE INTERRUPT STATUS
            0x0f | 0x8f | 0xcf => 3, // SEEK (relative seeks taken as absolute)
            0x10 => 1,               // VERSION
            0x13 => 4,               // CONFIGURE
            0x14 | 0x94 => 1,        // LOCK
            0x0e => 1,               // DUMPREG
            0x12 => 2,               // PERPENDICULAR MODE
            0x18 => 1,               // PART ID
            0x0a | 0x4a => 2,        // READ ID
            0x0d | 0x4d => 6,        // FORMAT TRACK
            _ => match b & 0x1f {
                0x06 | 0x0c => 9,                  // READ (DELETED) DATA
                0x05 | 0x09 if b & 0x20 == 0 => 9, // WRITE (DELETED) DATA
                _ => return None,
            },
        })
    }

    fn fifo_write(&mut self, v: u8, dma: &mut Dma, mem: &mut dyn DmaMemory) {
        if self.in_reset() || self.waiting || self.res_pos < self.result.len() {
            return;
        }
        if self.cmd.is_empty() {
            self.result.clear();
            self.res_pos = 0;
            match Self::command_len(v) {
                Some(n) => self.cmd_len = n,
                None => {
                    self.result = vec![ST0_INVALID];
                    return;
                }
            }
        }
        self.cmd.push(v);
        if self.cmd.len() == self.cmd_len {
            self.execute(dma, mem);
        }
    }

    fn finish(&mut self, result: Vec<u8>, irq: bool) {
        self.cmd.clear();
        self.result = result;
        self.res_pos = 0;
        if irq {
            self.irq = true;
        }
    }

    fn seek(&mut self, unit: usize, cyl: u8) {
        if let Some(d) = self.drives.get_mut(unit) {
            if d.track != cyl && d.present() {
                d.changed = false;
            }
            d.track = cyl;
            d.sect = 1;
        }
    }

    fn execute(&mut self, dma: &mut Dma, mem: &mut dyn DmaMemory) {
        let c = self.cmd.clone();
        let unit = (c.get(1).copied().unwrap_or(0) & 3) as usize;
        let hd = c.get(1).copied().unwrap_or(0) >> 2 & 1;
        let present = self.drives.get(unit).is_some_and(Drive::present);
        match c[0] {
            0x03 => {
                self.specify = [c[1], c[2]];
                self.finish(Vec::new(), false);
            }
            0x04 => {
                let mut st3 = 0x20 | 0x08 | hd << 2 | unit as u8;
                if let Some(d) = self.drives.get(unit) {
                    if d.track == 0 {
                        st3 |= 0x10;
                    }
                }
                self.finish(vec![st3], false);
            }
            0x07 => {
                self.irq = false;
                self.seek(unit, 0);
                let st0 = if present {
                    ST0_SEEK_END | unit as u8
                } else {
                    ST0_ABNORMAL | ST0_SEEK_END | ST0_EQUIP | unit as u8
                };
                self.sense = Some((st0, 0));
                self.finish(Vec::new(), true);
            }
            0x08 => {
                self.irq = false;
                let r = if self.reset_senses > 0 {
                    let d = 4 - self.reset_senses;
                    self.reset_senses -= 1;
                    let pcn = self.drives.get(d as usize).map_or(0, |d| d.track);
                    vec![0xc0 | d, pcn]
                } else if let Some((st0, pcn)) = self.sense.take() {
                    vec![st0, pcn]
                } else {
                    vec![ST0_INVALID]
                };
                self.finish(r, false);
            }
            0x0f | 0x8f | 0xcf => {
                self.irq = false;
                self.seek(unit, c[2]);
                self.sense = Some((ST0_SEEK_END | hd << 2 | unit as u8, c[2]));
                self.finish(Vec::new(), true);
            }
            0x10 => self.finish(vec![0x90], false),
            0x13 => {
                self.config = c[2];
                self.pretrk = c[3];
                self.finish(Vec::new(), false);
            }
            0x14 | 0x94 => {
                self.lock = c[0] & 0x80 != 0;
                self.finish(vec![(self.lock as u8) << 4], false);
            }
            0x0e => {
                let t = |i: usize| self.drives.get(i).map_or(0, |d| d.track);
                let r = vec![
                    t(0),
                    t(1),
                    0,
                    0,
                    self.specify[0],
                    self.specify[1],
                    self.last_eot,
                    (self.lock as u8) << 7 | self.perpendicular & 0x7f,
                    self.config,
                    self.pretrk,
                ];
                self.finish(r, false);
            }
            0x12 => {
                self.perpendicular = c[1];
                self.finish(Vec::new(), false);
            }
            0x18 => self.finish(vec![0x41], false),
            0x0a | 0x4a => {
                self.irq = false;
                let st0 = hd << 2 | unit as u8;
                let r = match self.drives.get_mut(unit) {
                    Some(d) if d.present() && d.geom.is_some_and(|g| g.rate == self.rate) => {
                        d.head = hd;
                        let sect = d.sect.max(1);
                        vec![st0, 0, 0, d.track, hd, sect, 2]
                    }
                    _ => vec![st0 | ST0_ABNORMAL, ST1_MISSING_AM, 0, 0, hd, 1, 2],
                };
                self.finish(r, true);
            }
            _ => {
                self.irq = false;
                if dma.ready(FLOPPY_CHANNEL) {
                    self.data_command(dma, mem);
                } else {
                    self.waiting = true;
                }
            }
        }
    }

    /// READ/WRITE DATA and FORMAT TRACK, through DMA channel 2.
    fn data_command(&mut self, dma: &mut Dma, mem: &mut dyn DmaMemory) {
        let c = self.cmd.clone();
        let unit = (c[1] & 3) as usize;
        let st0 = (c[1] & 4) | unit as u8;
        let rate = self.rate;
        let fail = |st0x: u8, st1: u8| vec![st0 | st0x, st1, 0, c[2], c[3], c[4], c[5]];
        let Some(d) = self.drives.get_mut(unit).filter(|d| d.present()) else {
            self.finish(fail(ST0_ABNORMAL | ST0_NOT_READY, ST1_MISSING_AM), true);
            return;
        };
        let (Some(g), Some(disk)) = (d.geom, d.disk.clone()) else {
            return;
        };
        if g.rate != rate {
            self.finish(fail(ST0_ABNORMAL, ST1_MISSING_AM), true);
            return;
        }
        let r = if c[0] & 0x1f == 0x0d {
            Self::format(d, g, &disk, &c, st0, dma, mem)
        } else {
            Self::read_write(d, g, &disk, &c, st0, dma, mem)
        };
        self.last_eot = c.get(6).copied().unwrap_or(0);
        self.finish(r, true);
    }

    fn read_write(
        d: &mut Drive,
        g: Geometry,
        disk: &Disk,
        c: &[u8],
        st0: u8,
        dma: &mut Dma,
        mem: &mut dyn DmaMemory,
    ) -> Vec<u8> {
        let write = matches!(c[0] & 0x1f, 0x05 | 0x09);
        let mt = c[0] & 0x80 != 0;
        let (mut cyl, mut head, mut sec, n, eot) = (c[2], c[3] & 1, c[4], c[5], c[6]);
        if n != 2 || cyl >= g.cylinders || head >= g.heads || sec == 0 || sec > g.spt {
            return vec![st0 | ST0_ABNORMAL, ST1_NO_DATA, 0, cyl, head, sec, n];
        }
        // Implied seek.
        if d.track != cyl {
            d.changed = false;
        }
        d.track = cyl;
        let last = eot.min(g.spt).max(1);
        let mut buf = [0u8; SECTOR];
        loop {
            let lba = (cyl as u64 * g.heads as u64 + head as u64) * g.spt as u64 + sec as u64 - 1;
            d.head = head;
            d.sect = sec;
            let moved = if write {
                let k = dma.read_memory(FLOPPY_CHANNEL, &mut buf, mem);
                if k == 0 {
                    break;
                }
                // A terminal count inside the sector: the controller fills it with zeros.
                buf[k..].fill(0);
                if disk.write_block(lba, &buf).is_err() {
                    return vec![st0 | ST0_ABNORMAL, ST1_NOT_WRITABLE, 0, cyl, head, sec, n];
                }
                k
            } else {
                if disk.read_block(lba, &mut buf).is_err() {
                    return vec![st0 | ST0_ABNORMAL, ST1_DATA_ERROR, 0x20, cyl, head, sec, n];
                }
                dma.write_memory(FLOPPY_CHANNEL, &buf, mem)
            };
            // Next sector, as the result's C/H/R report it.
            let end_of_track = sec >= last;
            if end_of_track {
                sec = 1;
                if mt && head == 0 && g.heads == 2 {
                    head = 1;
                } else {
                    if mt {
                        head = 0;
                    }
                    cyl = cyl.wrapping_add(1);
                }
            } else {
                sec += 1;
            }
            let tc = moved < SECTOR || dma.remaining(FLOPPY_CHANNEL) == 0;
            if tc || (end_of_track && (head == 0 || !mt)) {
                break;
            }
        }
        vec![st0, 0, 0, cyl, head, sec, n]
    }

    fn format(
        d: &mut Drive,
        g: Geometry,
        disk: &Disk,
        c: &[u8],
        st0: u8,
        dma: &mut Dma,
        mem: &mut dyn DmaMemory,
    ) -> Vec<u8> {
        let (n, sc, fill) = (c[2], c[3], c[5]);
        let mut id = [0u8; 4];
        let data = [fill; SECTOR];
        for _ in 0..sc {
            if dma.read_memory(FLOPPY_CHANNEL, &mut id, mem) < 4 {
                break;
            }
            let [cyl, head, sec, _] = id;
            if cyl >= g.cylinders || head >= g.heads || sec == 0 || sec > g.spt {
                return vec![st0 | ST0_ABNORMAL, ST1_NO_DATA, 0, cyl, head, sec, n];
            }
            d.track = cyl;
            let lba = (cyl as u64 * g.heads as u64 + head as u64) * g.spt as u64 + sec as u64 - 1;
            if disk.write_block(lba, &data).is_err() {
                return vec![st0 | ST0_ABNORMAL, ST1_NOT_WRITABLE, 0, cyl, head, sec, n];
            }
        }
        let [cyl, head, sec, _] = id;
        vec![st0, 0, 0, cyl, head, sec, n]
    }
}

#[cfg(test)]
mod tests;
