//! The PIIX3 IDE controller (PCI 00:01.1, 8086:7010) in legacy mode: two channels, each
//! with a task file at its legacy ports (0x1F0-0x1F7 + 0x3F6, IRQ14; 0x170-0x177 + 0x376,
//! IRQ15) and up to two drives, plus bus-master DMA (the BMIDE block at BAR4: command,
//! status and PRD table address per channel).
//!
//! Drives are ATA hard disks over raw images (`ata.rs`: IDENTIFY, PIO and DMA reads and
//! writes in LBA28 and LBA48, multiple mode, SET FEATURES, FLUSH CACHE...) or ATAPI
//! CD-ROMs over ISO images (`atapi.rs`: the PACKET protocol and the MMC commands firmware
//! and Linux use). Commands complete at once: there is no busy time, so BSY never shows.
//!
//! The data of a command flows through `Xfer`: a stream of bytes to the host (sectors read
//! on demand, or a prepared response) or from it (sectors written as each fills), moved
//! by the data port in PIO blocks or by the bus master through the PRD table.

mod ata;
mod atapi;

use std::sync::Arc;

use ox86_core::PhysMemory;
use serde::{Deserialize, Serialize};

use crate::disk::Disk;

/// Legacy I/O: (command block base, control port, IRQ) per channel.
pub const CHANNELS: [(u16, u16, u8); 2] = [(0x1f0, 0x3f6, 14), (0x170, 0x376, 15)];
/// CD-ROM blocks.
pub const ATAPI_BLOCK: usize = atapi::BLOCK;
/// The BMIDE block's length (8 bytes per channel).
pub const BM_LEN: u16 = 16;

// Status bits.
const ERR: u8 = 0x01;
const DRQ: u8 = 0x08;
const DSC: u8 = 0x10;
const DRDY: u8 = 0x40;
// Error bits.
const ABRT: u8 = 0x04;
// Device control.
const NIEN: u8 = 0x02;
const SRST: u8 = 0x04;
const HOB: u8 = 0x80;
// Bus master status bits.
const BM_ACTIVE: u8 = 0x01;
const BM_ERROR: u8 = 0x02;
const BM_IRQ: u8 = 0x04;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    Disk,
    Cdrom,
}

/// Where a command's data goes, and what follows each block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
enum Xfer {
    #[default]
    None,
    /// Sectors from `lba` to the host, `left` of them still to read into the stream.
    ReadSectors { lba: u64, left: u64 },
    /// Sectors from the host to `lba`, `left` still to come.
    WriteSectors { lba: u64, left: u64 },
    /// A prepared response (IDENTIFY, ATAPI data) in `Drive::stream`.
    Response,
    /// The 12 bytes of an ATAPI command packet, arriving.
    Packet,
    /// ATAPI blocks from `lba` (2048 bytes each), `left` still to read.
    ReadCd { lba: u64, left: u64 },
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Drive {
    pub kind: Option<Kind>,
    /// The image (shared by clones of the device state; its contents are not state).
    #[serde(skip)]
    pub disk: Option<Arc<Disk>>,
    status: u8,
    error: u8,
    /// The current PIO block (or packet) and how far the host has got in it.
    buf: Vec<u8>,
    pos: usize,
    /// Bytes produced but not yet put in a PIO block (a partly used sector or response).
    stream: Vec<u8>,
    xfer: Xfer,
    /// Bytes the current ATAPI command still has to send (its allocation length).
    atapi_left: u64,
    /// Sectors per block of READ/WRITE MULTIPLE (0: not set).
    mult: u16,
    /// Sectors per DRQ block of the command in progress.
    block_sectors: u16,
    /// A DMA command waits for the bus master.
    dma_pending: bool,
    /// The ATAPI command in progress moves its data by DMA.
    packet_dma: bool,
    /// ATAPI sense: key, additional sense code.
    sense: (u8, u8),
    /// CHS translation for commands without the LBA bit: heads, sectors per track (set
    /// by INITIALIZE DEVICE PARAMETERS; 0 until then means the default 16/63).
    chs: (u8, u8),
}

/// One channel's task file, shared by its two drives.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Channel {
    pub drives: [Drive; 2],
    feature: u8,
    nsector: u8,
    sector: u8,
    lcyl: u8,
    hcyl: u8,
    /// The previous values ("high order bytes") for LBA48: feature, count, LBA low/mid/high.
    hob: [u8; 5],
    select: u8,
    control: u8,
    irq: bool,
    bm_cmd: u8,
    bm_status: u8,
    bm_prd: u32,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Ide {
    pub channels: [Channel; 2],
}

impl Drive {
    fn present(&self) -> bool {
        self.kind.is_some()
    }

    /// The CHS translation in use: (heads, sectors per track).
    fn geometry(&self) -> (u8, u8) {
        match self.chs {
            (0, _) | (_, 0) => (16, 63),
            g => g,
        }
    }
}

impl Channel {
    fn cur(&self) -> usize {
        ((self.select >> 4) & 1) as usize
    }

    fn present(&self) -> bool {
        self.drives.iter().any(Drive::present)
    }

    fn raise(&mut self) {
        self.irq = true;
        self.bm_status |= BM_IRQ;
    }

    /// Put the reset signature in the task file and the drives in their idle state.
    fn reset(&mut self) {
        for d in &mut self.drives {
            d.xfer = Xfer::None;
            d.buf.clear();
            d.stream.clear();
            d.pos = 0;
            d.dma_pending = false;
            d.error = 1; // diagnostics passed
            d.status = match d.kind {
                Some(Kind::Disk) => DRDY | DSC,
                _ => 0,
            };
        }
        self.select &= 0xf0;
        self.signature(self.cur());
        self.irq = false;
    }

    /// The device signature of drive `i` in the task file (after reset, DEVICE RESET, and
    /// an ATA command aborted by an ATAPI device).
    fn signature(&mut self, i: usize) {
        self.nsector = 1;
        self.sector = 1;
        (self.lcyl, self.hcyl) = match self.drives[i].kind {
            Some(Kind::Cdrom) => (0x14, 0xeb),
            _ => (0, 0),
        };
    }

    /// LBA of a command: 28-bit from the task file, or 48-bit with the HOB bytes, or from
    /// a cylinder/head/sector address when the device register's LBA bit is clear
    /// (u64::MAX, beyond any disk, for an address outside the geometry).
    fn lba(&self, lba48: bool) -> u64 {
        if !lba48 && self.select & 0x40 == 0 {
            let (heads, spt) = self.drives[self.cur()].geometry();
            let (cyl, head) = (
                self.lcyl as u64 | (self.hcyl as u64) << 8,
                self.select & 0x0f,
            );
            if self.sector == 0 || self.sector > spt || head >= heads {
                return u64::MAX;
            }
            return (cyl * heads as u64 + head as u64) * spt as u64 + self.sector as u64 - 1;
        }
        let low = self.sector as u64 | (self.lcyl as u64) << 8 | (self.hcyl as u64) << 16;
        if lba48 {
            low | (self.hob[2] as u64) << 24
                | (self.hob[3] as u64) << 32
                | (self.hob[4] as u64) << 40
        } else {
            low | ((self.select & 0x0f) as u64) << 24
        }
    }

    /// Sector count: 0 means 256 (LBA28) or 65536 (LBA48).
    fn count(&self, lba48: bool) -> u64 {
        if lba48 {
            let n = self.nsector as u64 | (self.hob[1] as u64) << 8;
            if n == 0 {
                65536
            } else {
                n
            }
        } else if self.nsector == 0 {
            256
        } else {
            self.nsector as u64
        }
    }

    /// Command failed: ABRT (or `err`), ERR in the status, interrupt.
    fn abort(&mut self, err: u8) {
        let d = &mut self.drives[self.cur()];
        d.xfer = Xfer::None;
        d.dma_pending = false;
        d.buf.clear();
        d.pos = 0;
        d.error = err;
        d.status = DRDY | DSC | ERR;
        self.raise();
    }

    /// Command done without data: status ready, interrupt.
    fn done(&mut self) {
        let d = &mut self.drives[self.cur()];
        d.xfer = Xfer::None;
        d.buf.clear();
        d.pos = 0;
        d.error = 0;
        d.status = DRDY | DSC;
        self.raise();
    }

    fn read_reg(&mut self, reg: u16) -> u8 {
        if !self.present() {
            return 0;
        }
        let hob = self.control & HOB != 0;
        let d = &self.drives[self.cur()];
        match reg {
            1 => d.error,
            2 if hob => self.hob[1],
            2 => self.nsector,
            3 if hob => self.hob[2],
            3 => self.sector,
            4 if hob => self.hob[3],
            4 => self.lcyl,
            5 if hob => self.hob[4],
            5 => self.hcyl,
            6 => self.select,
            _ => {
                // Status: reading it acknowledges the interrupt.
                if !d.present() {
                    return 0;
                }
                let s = d.status;
                self.irq = false;
                s
            }
        }
    }

    fn write_reg(&mut self, reg: u16, v: u8, mem: &mut PhysMemory) {
        // Any task-file write clears HOB.
        self.control &= !HOB;
        match reg {
            1 => (self.hob[0], self.feature) = (self.feature, v),
            2 => (self.hob[1], self.nsector) = (self.nsector, v),
            3 => (self.hob[2], self.sector) = (self.sector, v),
            4 => (self.hob[3], self.lcyl) = (self.lcyl, v),
            5 => (self.hob[4], self.hcyl) = (self.hcyl, v),
            6 => self.select = v | 0xa0,
            _ => self.command(v, mem),
        }
    }

    fn write_control(&mut self, v: u8) {
        let was_reset = self.control & SRST != 0;
        self.control = v;
        if v & SRST != 0 && !was_reset {
            self.reset();
        }
    }

    fn command(&mut self, cmd: u8, mem: &mut PhysMemory) {
        let i = self.cur();
        if !self.drives[i].present() {
            return;
        }
        self.irq = false;
        match self.drives[i].kind {
            Some(Kind::Cdrom) => atapi::command(self, cmd),
            _ => ata::command(self, cmd),
        }
        // A DMA command may find the bus master already started.
        self.run_dma(mem);
    }

    /// PIO data: the host reads `size` bytes.
    fn read_data(&mut self, size: u8) -> u32 {
        let i = self.cur();
        let d = &mut self.drives[i];
        if d.status & DRQ == 0 || d.pos >= d.buf.len() {
            return 0;
        }
        let mut v = 0u32;
        for k in 0..size as usize {
            if let Some(&b) = d.buf.get(d.pos) {
                v |= (b as u32) << (8 * k);
                d.pos += 1;
            }
        }
        if d.pos >= d.buf.len() {
            self.block_done();
        }
        v
    }

    /// PIO data: the host writes `size` bytes.
    fn write_data(&mut self, size: u8, v: u32) {
        let i = self.cur();
        let d = &mut self.drives[i];
        if d.status & DRQ == 0 || d.pos >= d.buf.len() {
            return;
        }
        for k in 0..size as usize {
            if d.pos < d.buf.len() {
                d.buf[d.pos] = (v >> (8 * k)) as u8;
                d.pos += 1;
            }
        }
        if d.pos >= d.buf.len() {
            self.block_done();
        }
    }

    /// The host has moved a whole PIO block: go on with the command.
    fn block_done(&mut self) {
        let i = self.cur();
        match self.drives[i].kind {
            Some(Kind::Cdrom) => atapi::block_done(self),
            _ => ata::block_done(self),
        }
    }

    /// Run a waiting DMA command if the bus master is started: move all its data through
    /// the PRD table at once.
    fn run_dma(&mut self, mem: &mut PhysMemory) {
        let i = self.cur();
        if self.bm_cmd & 1 == 0 || !self.drives[i].dma_pending {
            return;
        }
        self.drives[i].dma_pending = false;
        let to_memory = self.bm_cmd & 8 != 0;
        let mut prd = self.bm_prd & !3;
        let mut ok = true;
        // At most 4096 entries (a 64 KiB-aligned table of 8-byte entries wraps).
        for _ in 0..8192 {
            let mut e = [0u8; 8];
            mem.read_bytes(prd as u64, &mut e);
            let addr = u32::from_le_bytes([e[0], e[1], e[2], e[3]]) & !1;
            let len = match u16::from_le_bytes([e[4], e[5]]) & !1 {
                0 => 0x1_0000,
                n => n as usize,
            };
            let last = e[7] & 0x80 != 0;
            if to_memory {
                let mut chunk = vec![0; len];
                let n = self.dma_read(&mut chunk);
                mem.write_bytes(addr as u64, &chunk[..n]);
                ok &= n == len || self.dma_finished();
            } else {
                let mut chunk = vec![0; len];
                mem.read_bytes(addr as u64, &mut chunk);
                ok &= self.dma_write(&chunk);
            }
            if last || self.dma_finished() || !ok {
                break;
            }
            prd = prd.wrapping_add(8);
        }
        let d = &self.drives[i];
        if d.status & ERR == 0 && !self.dma_finished() {
            // The PRD table ended before the command's data: a bus-master error.
            self.bm_status |= BM_ERROR;
            self.abort(ABRT);
        } else if d.status & ERR == 0 {
            match d.kind {
                Some(Kind::Cdrom) => atapi::finish(self),
                _ => self.done(),
            }
        }
        self.bm_status &= !BM_ACTIVE;
        self.raise();
    }

    fn dma_finished(&self) -> bool {
        let d = &self.drives[self.cur()];
        match d.xfer {
            Xfer::ReadSectors { left, .. } | Xfer::ReadCd { left, .. } => {
                left == 0 && d.stream.is_empty()
            }
            Xfer::WriteSectors { left, .. } => left == 0,
            Xfer::Response => d.stream.is_empty(),
            _ => true,
        }
    }

    /// Fill `out` from the command's data stream; returns the bytes produced.
    fn dma_read(&mut self, out: &mut [u8]) -> usize {
        let mut n = 0;
        while n < out.len() {
            if self.drives[self.cur()].stream.is_empty() && !self.refill() {
                break;
            }
            let d = &mut self.drives[self.cur()];
            let take = d.stream.len().min(out.len() - n);
            out[n..n + take].copy_from_slice(&d.stream[..take]);
            d.stream.drain(..take);
            n += take;
        }
        n
    }

    /// Produce more of the stream (the next sector); false at the end or on an error.
    fn refill(&mut self) -> bool {
        match self.drives[self.cur()].kind {
            Some(Kind::Cdrom) => atapi::refill(self),
            _ => ata::refill(self),
        }
    }

    /// Take `data` for a DMA write; false on an error.
    fn dma_write(&mut self, data: &[u8]) -> bool {
        let i = self.cur();
        self.drives[i].stream.extend_from_slice(data);
        ata::drain_writes(self)
    }

    fn bm_read(&self, off: u16) -> u8 {
        match off {
            0 => self.bm_cmd,
            2 => {
                let dma_capable =
                    (self.drives[0].present() as u8) << 5 | (self.drives[1].present() as u8) << 6;
                self.bm_status | dma_capable
            }
            4..=7 => (self.bm_prd >> (8 * (off - 4))) as u8,
            _ => 0,
        }
    }

    fn bm_write(&mut self, off: u16, v: u8, mem: &mut PhysMemory) {
        match off {
            0 => {
                let start = v & 1 != 0 && self.bm_cmd & 1 == 0;
                self.bm_cmd = v & 0x09;
                if v & 1 == 0 {
                    self.bm_status &= !BM_ACTIVE;
                } else if start {
                    self.bm_status |= BM_ACTIVE;
                    self.run_dma(mem);
                }
            }
            2 => self.bm_status = (self.bm_status & !(v & (BM_ERROR | BM_IRQ))) & 0x07,
            4..=7 => {
                let sh = 8 * (off - 4);
                self.bm_prd = (self.bm_prd & !(0xff << sh)) | (v as u32) << sh;
            }
            _ => {}
        }
    }
}

impl Ide {
    pub fn new() -> Self {
        let mut ide = Ide::default();
        for c in &mut ide.channels {
            c.reset();
        }
        ide
    }

    /// Attach a drive: `channel` 0/1, `unit` 0 master, 1 slave.
    pub fn attach(&mut self, channel: usize, unit: usize, kind: Kind, disk: Disk) {
        let c = &mut self.channels[channel];
        c.drives[unit].kind = Some(kind);
        c.drives[unit].disk = Some(Arc::new(disk));
        c.reset();
    }

    /// The attached drives: (channel, unit, kind, image).
    pub fn disks(&self) -> Vec<(usize, usize, Kind, Arc<Disk>)> {
        let mut v = Vec::new();
        for (ch, c) in self.channels.iter().enumerate() {
            for (unit, d) in c.drives.iter().enumerate() {
                if let (Some(kind), Some(disk)) = (d.kind, &d.disk) {
                    v.push((ch, unit, kind, disk.clone()));
                }
            }
        }
        v
    }

    /// Give a drive of restored device state its image again (device state leaves the
    /// image out); the drive's registers stay as they are.
    pub fn set_disk(&mut self, channel: usize, unit: usize, disk: Arc<Disk>) {
        self.channels[channel].drives[unit].disk = Some(disk);
    }

    /// Does any drive exist (the board only shows the controller then)?
    pub fn any_drive(&self) -> bool {
        self.channels.iter().any(Channel::present)
    }

    /// A hardware reset: registers and transfers, the disks stay.
    pub fn reset(&mut self) {
        for c in &mut self.channels {
            c.control = 0;
            c.select = 0;
            c.bm_cmd = 0;
            c.bm_status = 0;
            c.bm_prd = 0;
            for d in &mut c.drives {
                d.mult = 0;
                d.sense = (0, 0);
                d.chs = (0, 0);
            }
            c.reset();
        }
    }

    /// The channel and register of a legacy port: (channel, 0-7 task file, 8 control).
    pub fn decode(port: u16) -> Option<(usize, u16)> {
        CHANNELS
            .iter()
            .enumerate()
            .find_map(|(i, &(base, ctl, _))| {
                if (base..base + 8).contains(&port) {
                    Some((i, port - base))
                } else if port == ctl {
                    Some((i, 8))
                } else {
                    None
                }
            })
    }

    /// Read `size` bytes at a legacy port: the data port takes 16- and 32-bit accesses
    /// whole; other registers are bytes, a wider access reading the ports that follow.
    pub fn read(&mut self, port: u16, size: u8) -> u32 {
        match Self::decode(port) {
            Some((ch, 0)) => self.channels[ch].read_data(size),
            _ => (0..size as u16).fold(0, |v, k| {
                v | (self.read8(port.wrapping_add(k)) as u32) << (8 * k)
            }),
        }
    }

    fn read8(&mut self, port: u16) -> u8 {
        let Some((ch, reg)) = Self::decode(port) else {
            return 0xff;
        };
        let c = &mut self.channels[ch];
        match reg {
            0 => c.read_data(1) as u8,
            8 => {
                // Alternate status: no interrupt acknowledge.
                let d = &c.drives[c.cur()];
                if d.present() {
                    d.status
                } else {
                    0
                }
            }
            _ => c.read_reg(reg),
        }
    }

    pub fn write(&mut self, port: u16, size: u8, v: u32, mem: &mut PhysMemory) {
        if let Some((ch, 0)) = Self::decode(port) {
            let c = &mut self.channels[ch];
            c.write_data(size, v);
            // An ATAPI packet may have started a DMA command.
            c.run_dma(mem);
            return;
        }
        for k in 0..size as u16 {
            let p = port.wrapping_add(k);
            let Some((ch, reg)) = Self::decode(p) else {
                continue;
            };
            let c = &mut self.channels[ch];
            let b = (v >> (8 * k)) as u8;
            match reg {
                0 => c.write_data(1, b as u32),
                8 => c.write_control(b),
                _ => c.write_reg(reg, b, mem),
            }
        }
    }

    /// Bus-master registers: `off` from BAR4.
    pub fn bm_read(&self, off: u16, size: u8) -> u32 {
        (0..size as u16).fold(0, |v, k| {
            let o = off + k;
            let b = self.channels[(o / 8) as usize % 2].bm_read(o % 8);
            v | (b as u32) << (8 * k)
        })
    }

    pub fn bm_write(&mut self, off: u16, size: u8, v: u32, mem: &mut PhysMemory) {
        for k in 0..size as u16 {
            let o = off + k;
            self.channels[(o / 8) as usize % 2].bm_write(o % 8, (v >> (8 * k)) as u8, mem);
        }
    }

    /// The interrupt line of `channel` (IRQ14/15), unless masked by nIEN.
    pub fn irq(&self, channel: usize) -> bool {
        let c = &self.channels[channel];
        c.irq && c.control & NIEN == 0
    }

    /// Flush every writable disk (exit).
    pub fn flush(&mut self) {
        for c in &mut self.channels {
            for d in &c.drives {
                if let Some(disk) = &d.disk {
                    let _ = disk.flush();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
