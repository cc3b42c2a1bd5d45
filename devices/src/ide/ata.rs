//! ATA commands of a hard disk.

use super::{Channel, Kind, Xfer, ABRT, DRDY, DRQ, DSC, ERR};
use crate::disk::SECTOR;

/// IDNF: the sector is beyond the disk.
const IDNF: u8 = 0x10;
/// UNC: the image could not be read (or written).
const UNC: u8 = 0x40;
/// Largest READ/WRITE MULTIPLE block, in sectors.
const MAX_MULT: u16 = 16;

pub(super) fn command(c: &mut Channel, cmd: u8) {
    match cmd {
        0xec => identify(c),
        0x20 | 0x21 => start(c, false, false, false, false),
        0x24 => start(c, false, true, false, false),
        0xc4 => start(c, false, false, true, false),
        0x29 => start(c, false, true, true, false),
        0x30 | 0x31 => start(c, true, false, false, false),
        0x34 => start(c, true, true, false, false),
        0xc5 => start(c, true, false, true, false),
        0x39 => start(c, true, true, true, false),
        0xc8 | 0xc9 => start(c, false, false, false, true),
        0x25 => start(c, false, true, false, true),
        0xca | 0xcb => start(c, true, false, false, true),
        0x35 => start(c, true, true, false, true),
        0x40 | 0x41 => verify(c, false),
        0x42 => verify(c, true),
        0xc6 => {
            let n = c.nsector as u16;
            if n <= MAX_MULT && n.is_power_of_two() || n == 0 {
                c.drives[c.cur()].mult = n;
                c.done();
            } else {
                c.abort(ABRT);
            }
        }
        0xe7 | 0xea => {
            let d = &mut c.drives[c.cur()];
            match d.disk.as_ref().map(|k| k.flush()) {
                Some(Err(_)) => c.abort(ABRT),
                _ => c.done(),
            }
        }
        0xf8 | 0x27 => {
            let max = blocks(c).saturating_sub(1);
            let max = if cmd == 0xf8 {
                max.min(0x0fff_ffff)
            } else {
                max
            };
            c.sector = max as u8;
            c.lcyl = (max >> 8) as u8;
            c.hcyl = (max >> 16) as u8;
            if cmd == 0xf8 {
                c.select = (c.select & 0xf0) | ((max >> 24) & 0x0f) as u8;
            } else {
                c.hob[2] = (max >> 24) as u8;
                c.hob[3] = (max >> 32) as u8;
                c.hob[4] = (max >> 40) as u8;
            }
            c.done();
        }
        0xe5 | 0x98 => {
            c.nsector = 0xff; // active or idle
            c.done();
        }
        0x90 => {
            let i = c.cur();
            c.signature(i);
            c.done();
            c.drives[i].error = 1;
        }
        // SET FEATURES (transfer modes, caches), INITIALIZE DEVICE PARAMETERS,
        // RECALIBRATE, SEEK, idle/standby/sleep: nothing to do.
        0x91 => {
            if c.nsector == 0 {
                c.abort(ABRT);
            } else {
                let i = c.cur();
                c.drives[i].chs = ((c.select & 0x0f) + 1, c.nsector);
                c.done();
            }
        }
        0xef | 0x10..=0x1f | 0x70 | 0xe0..=0xe3 | 0xe6 | 0x94..=0x97 | 0x99 => c.done(),
        _ => c.abort(ABRT),
    }
}

fn blocks(c: &Channel) -> u64 {
    c.drives[c.cur()].disk.as_ref().map_or(0, |d| d.blocks())
}

fn verify(c: &mut Channel, lba48: bool) {
    let (lba, n) = (c.lba(lba48), c.count(lba48));
    if lba.saturating_add(n) > blocks(c) {
        c.abort(IDNF | ABRT);
    } else {
        c.done();
    }
}

/// Start a read or write of sectors, by PIO (one or `mult` sectors per block) or DMA.
fn start(c: &mut Channel, write: bool, lba48: bool, multiple: bool, dma: bool) {
    let (lba, left) = (c.lba(lba48), c.count(lba48));
    let i = c.cur();
    let mult = c.drives[i].mult;
    if multiple && mult == 0 {
        c.abort(ABRT);
        return;
    }
    if lba.saturating_add(left) > blocks(c) {
        c.abort(IDNF | ABRT);
        return;
    }
    let d = &mut c.drives[i];
    d.block_sectors = if multiple { mult } else { 1 };
    d.stream.clear();
    d.error = 0;
    d.xfer = if write {
        Xfer::WriteSectors { lba, left }
    } else {
        Xfer::ReadSectors { lba, left }
    };
    if dma {
        d.dma_pending = true;
        d.buf.clear();
        d.pos = 0;
        d.status = DRDY | DSC | DRQ;
    } else if write {
        // The first block is asked for without an interrupt.
        let n = (d.block_sectors as u64).min(left) as usize;
        d.buf = vec![0; n * SECTOR];
        d.pos = 0;
        d.status = DRDY | DSC | DRQ;
    } else {
        next_read_block(c);
    }
}

/// Put the next block of a PIO read in the buffer and interrupt.
fn next_read_block(c: &mut Channel) {
    let i = c.cur();
    let n = c.drives[i].block_sectors.max(1) as usize * SECTOR;
    let mut buf = vec![0; n];
    let got = c.dma_read(&mut buf);
    let d = &mut c.drives[i];
    if d.status & ERR != 0 {
        return;
    }
    buf.truncate(got);
    d.buf = buf;
    d.pos = 0;
    d.status = DRDY | DSC | DRQ;
    c.raise();
}

/// Read the next sector into the stream.
pub(super) fn refill(c: &mut Channel) -> bool {
    let i = c.cur();
    let d = &mut c.drives[i];
    let Xfer::ReadSectors { lba, left } = d.xfer else {
        return false;
    };
    if left == 0 {
        return false;
    }
    let mut s = [0u8; SECTOR];
    let ok = d
        .disk
        .as_ref()
        .is_some_and(|k| k.read_block(lba, &mut s).is_ok());
    if !ok {
        c.abort(UNC | ABRT);
        return false;
    }
    d.stream.extend_from_slice(&s);
    d.xfer = Xfer::ReadSectors {
        lba: lba + 1,
        left: left - 1,
    };
    true
}

/// Write the whole sectors gathered in the stream; false after an error.
pub(super) fn drain_writes(c: &mut Channel) -> bool {
    let i = c.cur();
    loop {
        let d = &mut c.drives[i];
        let Xfer::WriteSectors { lba, left } = d.xfer else {
            return d.status & ERR == 0;
        };
        if left == 0 || d.stream.len() < SECTOR {
            return true;
        }
        let ok = d
            .disk
            .as_ref()
            .is_some_and(|k| k.write_block(lba, &d.stream[..SECTOR]).is_ok());
        if !ok {
            c.abort(UNC | ABRT);
            return false;
        }
        d.stream.drain(..SECTOR);
        d.xfer = Xfer::WriteSectors {
            lba: lba + 1,
            left: left - 1,
        };
    }
}

/// The host has read or written a whole PIO block.
pub(super) fn block_done(c: &mut Channel) {
    let i = c.cur();
    let d = &mut c.drives[i];
    match d.xfer {
        Xfer::ReadSectors { left, .. } if left > 0 || !d.stream.is_empty() => {
            next_read_block(c);
        }
        Xfer::WriteSectors { .. } => {
            let data = std::mem::take(&mut d.buf);
            d.stream.extend_from_slice(&data);
            d.pos = 0;
            if !drain_writes(c) {
                return;
            }
            let d = &mut c.drives[i];
            match d.xfer {
                Xfer::WriteSectors { left, .. } if left > 0 => {
                    let n = (d.block_sectors as u64).min(left) as usize;
                    d.buf = vec![0; n * SECTOR];
                    d.status = DRDY | DSC | DRQ;
                    c.raise();
                }
                _ => c.done(),
            }
        }
        _ => {
            d.xfer = Xfer::None;
            d.status = DRDY | DSC;
        }
    }
}

/// An ATA string: two characters per word, the first in the high byte, space padded.
pub(super) fn put_string(words: &mut [u16], s: &str) {
    let b = s.as_bytes();
    for (k, w) in words.iter_mut().enumerate() {
        let ch = |j: usize| *b.get(j).unwrap_or(&b' ') as u16;
        *w = ch(2 * k) << 8 | ch(2 * k + 1);
    }
}

pub(super) fn words_to_bytes(w: &[u16]) -> Vec<u8> {
    w.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// IDENTIFY DEVICE: an ATA disk answers; an ATAPI device aborts with its signature.
fn identify(c: &mut Channel) {
    let i = c.cur();
    if c.drives[i].kind != Some(Kind::Disk) {
        c.signature(i);
        c.abort(ABRT);
        return;
    }
    let total = blocks(c);
    let mult = c.drives[i].mult;
    let mut w = [0u16; 256];
    let cyls = (total / (16 * 63)).clamp(1, 16383) as u16;
    w[0] = 0x0040;
    w[1] = cyls;
    w[3] = 16;
    w[6] = 63;
    put_string(&mut w[10..20], &format!("OX86HD{i:04}"));
    put_string(&mut w[23..27], "1.0");
    put_string(&mut w[27..47], "OX86 HARDDISK");
    w[47] = 0x8000 | MAX_MULT;
    w[49] = 0x0300; // LBA, DMA
    w[53] = 0x0007; // words 54-58, 64-70 and 88 valid
    let (heads, spt) = c.drives[i].geometry();
    let cur_cyls = (total / (heads as u64 * spt as u64)).clamp(1, 65535) as u16;
    w[54] = cur_cyls;
    w[55] = heads as u16;
    w[56] = spt as u16;
    let chs = cur_cyls as u32 * heads as u32 * spt as u32;
    w[57] = chs as u16;
    w[58] = (chs >> 16) as u16;
    if mult != 0 {
        w[59] = 0x100 | mult;
    }
    let lba28 = total.min(0x0fff_ffff) as u32;
    w[60] = lba28 as u16;
    w[61] = (lba28 >> 16) as u16;
    w[63] = 0x0007; // multiword DMA 0-2
    w[64] = 0x0003; // PIO 3-4
    w[65..=68].copy_from_slice(&[120, 120, 120, 120]);
    w[80] = 0x007e; // ATA-1 to ATA-6
    w[82] = 0x4000;
    w[83] = 0x7400; // LBA48, FLUSH CACHE (EXT)
    w[84] = 0x4000;
    w[85] = 0x4000;
    w[86] = 0x3400;
    w[87] = 0x4000;
    w[88] = 0x003f; // UDMA 0-5
    w[93] = 0x6001;
    for (k, v) in w[100..104].iter_mut().enumerate() {
        *v = (total >> (16 * k)) as u16;
    }
    respond(c, words_to_bytes(&w));
}

/// Send a prepared 512-byte response by PIO.
fn respond(c: &mut Channel, data: Vec<u8>) {
    let d = &mut c.drives[c.cur()];
    d.xfer = Xfer::Response;
    d.stream.clear();
    d.buf = data;
    d.pos = 0;
    d.error = 0;
    d.status = DRDY | DSC | DRQ;
    c.raise();
}
