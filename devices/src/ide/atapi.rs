//! ATAPI CD-ROM: the PACKET protocol and the MMC commands firmware and Linux use, over an
//! ISO image of 2048-byte blocks.

use super::ata::{put_string, words_to_bytes};
use super::{Channel, Xfer, ABRT, DRDY, DRQ, DSC, ERR};

pub const BLOCK: usize = 2048;

// Interrupt reason (the sector count register): CoD, IO.
const COD: u8 = 1;
const IO: u8 = 2;

// Sense keys and additional sense codes.
const ILLEGAL_REQUEST: u8 = 5;
const MEDIUM_ERROR: u8 = 3;
const INVALID_OPCODE: u8 = 0x20;
const LBA_OUT_OF_RANGE: u8 = 0x21;
const INVALID_FIELD: u8 = 0x24;
const UNRECOVERED_READ: u8 = 0x11;

pub(super) fn command(c: &mut Channel, cmd: u8) {
    let i = c.cur();
    match cmd {
        0xa1 => identify_packet(c),
        0xa0 => {
            let dma = c.feature & 1 != 0;
            let d = &mut c.drives[i];
            d.xfer = Xfer::Packet;
            d.packet_dma = dma;
            d.buf = vec![0; 12];
            d.pos = 0;
            d.stream.clear();
            d.error = 0;
            d.status = DRDY | DSC | DRQ;
            c.nsector = COD;
        }
        0x08 => {
            c.signature(i);
            let d = &mut c.drives[i];
            d.xfer = Xfer::None;
            d.error = 1;
            d.status = 0;
        }
        0xec => {
            c.signature(i);
            c.abort(ABRT);
        }
        0xef | 0x90 | 0xe0..=0xe3 | 0xe5 | 0xe6 | 0xe7 => c.done(),
        _ => c.abort(ABRT),
    }
}

fn identify_packet(c: &mut Channel) {
    let i = c.cur();
    let mut w = [0u16; 256];
    w[0] = 0x85c0; // ATAPI, CD-ROM, removable, accelerated DRQ, 12-byte packets
    put_string(&mut w[10..20], &format!("OX86CD{i:04}"));
    put_string(&mut w[23..27], "1.0");
    put_string(&mut w[27..47], "OX86 DVD-ROM");
    w[49] = 0x0300; // LBA, DMA
    w[53] = 0x0007;
    w[63] = 0x0007;
    w[64] = 0x0003;
    w[65..=68].copy_from_slice(&[0xb4, 0xb4, 0x12c, 0xb4]);
    w[71] = 30;
    w[72] = 30;
    w[80] = 0x001e; // ATA-1 to ATA-4
    w[82] = 0x4010; // PACKET
    w[88] = 0x003f;
    let d = &mut c.drives[i];
    d.xfer = Xfer::Response;
    d.stream.clear();
    d.buf = words_to_bytes(&w);
    d.pos = 0;
    d.error = 0;
    d.status = DRDY | DSC | DRQ;
    c.raise();
}

fn be16(b: &[u8]) -> usize {
    u16::from_be_bytes([b[0], b[1]]) as usize
}

fn be32(b: &[u8]) -> u64 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64
}

/// LBA to the MSF address form (with the 2-second lead-in), as 4 bytes.
fn msf(lba: u64) -> [u8; 4] {
    let f = lba + 150;
    [0, (f / 4500) as u8, (f / 75 % 60) as u8, (f % 75) as u8]
}

/// The command packet has arrived: carry it out.
fn execute(c: &mut Channel, p: [u8; 12]) {
    let i = c.cur();
    let blocks = c.drives[i].disk.as_ref().map_or(0, |d| d.blocks());
    if p[0] != 0x03 {
        c.drives[i].sense = (0, 0);
    }
    let data: Vec<u8> = match p[0] {
        // TEST UNIT READY, START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL, SEEK,
        // SET CD SPEED, SYNCHRONIZE CACHE.
        0x00 | 0x1b | 0x1e | 0x2b | 0xbb | 0x35 => return finish_now(c),
        0x03 => {
            let (key, asc) = c.drives[i].sense;
            c.drives[i].sense = (0, 0);
            let mut r = vec![0; 18];
            r[0] = 0x70;
            r[2] = key;
            r[7] = 10;
            r[12] = asc;
            return send(c, r, p[4] as usize);
        }
        0x12 => {
            let mut r = vec![0u8; 36];
            r[0] = 0x05; // CD/DVD
            r[1] = 0x80; // removable
            r[3] = 0x21;
            r[4] = 31;
            r[8..16].copy_from_slice(b"OX86    ");
            r[16..32].copy_from_slice(b"OX86 DVD-ROM    ");
            r[32..36].copy_from_slice(b"1.0 ");
            return send(c, r, be16(&p[3..5]));
        }
        0x25 => {
            let mut r = Vec::with_capacity(8);
            r.extend_from_slice(&(blocks.saturating_sub(1) as u32).to_be_bytes());
            r.extend_from_slice(&(BLOCK as u32).to_be_bytes());
            r
        }
        0x28 | 0xa8 => {
            let lba = be32(&p[2..6]);
            let n = if p[0] == 0x28 {
                be16(&p[7..9]) as u64
            } else {
                be32(&p[6..10])
            };
            if lba + n > blocks {
                return check(c, ILLEGAL_REQUEST, LBA_OUT_OF_RANGE);
            }
            if n == 0 {
                return finish_now(c);
            }
            let d = &mut c.drives[i];
            d.xfer = Xfer::ReadCd { lba, left: n };
            d.stream.clear();
            d.atapi_left = n * BLOCK as u64;
            return start_data(c);
        }
        0x1a | 0x5a => return mode_sense(c, p),
        0x43 => return read_toc(c, p, blocks),
        0x46 => {
            let profile: u16 = if blocks * BLOCK as u64 > 900 << 20 {
                0x0010 // DVD-ROM
            } else {
                0x0008 // CD-ROM
            };
            let mut r = vec![0u8; 8];
            r[6..8].copy_from_slice(&profile.to_be_bytes());
            // Feature 0: the profile list, with this one current.
            r.extend_from_slice(&[0, 0, 0x03, 4]);
            r.extend_from_slice(&profile.to_be_bytes());
            r.extend_from_slice(&[1, 0]);
            let len = (r.len() - 4) as u32;
            r[0..4].copy_from_slice(&len.to_be_bytes());
            return send(c, r, be16(&p[7..9]));
        }
        0x4a => {
            if p[1] & 1 == 0 {
                return check(c, ILLEGAL_REQUEST, INVALID_FIELD);
            }
            // Media class: no event, medium present.
            vec![0, 6, 0x04, 0x10, 0, 0x02, 0, 0]
        }
        0x51 => {
            let mut r = vec![0u8; 34];
            r[1] = 32;
            r[2] = 0x0e; // complete disc, complete last session
            r[3] = 1;
            r[4] = 1;
            r[5] = 1;
            r[6] = 1;
            r
        }
        0xbd => vec![0, 0, 0, 0, 0, 0, 0, 0],
        _ => return check(c, ILLEGAL_REQUEST, INVALID_OPCODE),
    };
    let alloc = match p[0] {
        0x4a | 0x51 => be16(&p[7..9]),
        0xbd => be16(&p[8..10]),
        _ => data.len(),
    };
    send(c, data, alloc)
}

fn mode_sense(c: &mut Channel, p: [u8; 12]) {
    let page = p[2] & 0x3f;
    let mut pages = Vec::new();
    if page == 0x01 || page == 0x3f {
        pages.extend_from_slice(&[0x01, 0x06, 0, 5, 0, 0, 0, 0]);
    }
    if page == 0x2a || page == 0x3f {
        // CD capabilities: reads CD-R/RW, DVD-ROM; eject, tray.
        let mut cap = vec![0u8; 22];
        cap[0] = 0x2a;
        cap[1] = 20;
        cap[2] = 0x3b;
        cap[4] = 0x71;
        cap[5] = 0x73;
        cap[6] = 0x29;
        cap[7] = 0x03;
        cap[8..10].copy_from_slice(&(706u16).to_be_bytes());
        cap[10..12].copy_from_slice(&2u16.to_be_bytes());
        cap[12..14].copy_from_slice(&512u16.to_be_bytes());
        cap[14..16].copy_from_slice(&(706u16).to_be_bytes());
        pages.extend_from_slice(&cap);
    }
    if pages.is_empty() {
        return check(c, ILLEGAL_REQUEST, INVALID_FIELD);
    }
    let (mut r, alloc) = if p[0] == 0x5a {
        let len = (pages.len() + 6) as u16;
        let mut h = len.to_be_bytes().to_vec();
        h.extend_from_slice(&[0x70, 0, 0, 0, 0, 0]);
        (h, be16(&p[7..9]))
    } else {
        (vec![(pages.len() + 3) as u8, 0x70, 0, 0], p[4] as usize)
    };
    r.extend_from_slice(&pages);
    send(c, r, alloc)
}

fn read_toc(c: &mut Channel, p: [u8; 12], blocks: u64) {
    let use_msf = p[1] & 2 != 0;
    let format = match p[2] & 0x0f {
        0 => p[9] >> 6,
        f => f,
    };
    let addr = |lba: u64| {
        if use_msf {
            msf(lba)
        } else {
            (lba as u32).to_be_bytes()
        }
    };
    let mut r = vec![0, 0, 1, 1];
    match format {
        0 => {
            if p[6] > 1 && p[6] != 0xaa {
                return check(c, ILLEGAL_REQUEST, INVALID_FIELD);
            }
            if p[6] <= 1 {
                r.extend_from_slice(&[0, 0x14, 1, 0]);
                r.extend_from_slice(&addr(0));
            }
            r.extend_from_slice(&[0, 0x14, 0xaa, 0]);
            r.extend_from_slice(&addr(blocks));
        }
        1 => {
            r.extend_from_slice(&[0, 0x14, 1, 0]);
            r.extend_from_slice(&addr(0));
        }
        _ => return check(c, ILLEGAL_REQUEST, INVALID_FIELD),
    }
    let len = (r.len() - 2) as u16;
    r[0..2].copy_from_slice(&len.to_be_bytes());
    send(c, r, be16(&p[7..9]))
}

/// Send `data`, cut to the allocation length.
fn send(c: &mut Channel, mut data: Vec<u8>, alloc: usize) {
    data.truncate(alloc);
    if data.is_empty() {
        return finish_now(c);
    }
    let d = &mut c.drives[c.cur()];
    d.atapi_left = data.len() as u64;
    d.stream = data;
    d.xfer = Xfer::Response;
    start_data(c)
}

/// Begin the data phase: by DMA (the bus master takes it) or the first PIO chunk.
fn start_data(c: &mut Channel) {
    let d = &mut c.drives[c.cur()];
    if d.packet_dma {
        d.dma_pending = true;
        d.buf.clear();
        d.pos = 0;
        d.status = DRDY | DSC | DRQ;
        c.nsector = IO;
        return;
    }
    next_chunk(c)
}

/// The next PIO chunk: at most the byte count limit the host set in the cylinder
/// registers (whole blocks when it allows one), then an interrupt.
fn next_chunk(c: &mut Channel) {
    let i = c.cur();
    let mut limit = (c.lcyl as usize | (c.hcyl as usize) << 8) & !1;
    if limit == 0 {
        limit = 0xfffe;
    }
    let left = c.drives[i].atapi_left as usize;
    let mut n = left.min(limit);
    if matches!(c.drives[i].xfer, Xfer::ReadCd { .. }) && n >= BLOCK && n < left {
        n -= n % BLOCK;
    }
    let mut buf = vec![0; n];
    let got = c.dma_read(&mut buf);
    if c.drives[i].status & ERR != 0 {
        return;
    }
    buf.truncate(got);
    let d = &mut c.drives[i];
    d.atapi_left -= got as u64;
    d.buf = buf;
    d.pos = 0;
    d.status = DRDY | DSC | DRQ;
    c.lcyl = got as u8;
    c.hcyl = (got >> 8) as u8;
    c.nsector = IO;
    c.raise();
}

/// Read the next CD block into the stream.
pub(super) fn refill(c: &mut Channel) -> bool {
    let i = c.cur();
    let d = &mut c.drives[i];
    let Xfer::ReadCd { lba, left } = d.xfer else {
        return false;
    };
    if left == 0 {
        return false;
    }
    let mut b = vec![0u8; BLOCK];
    let ok = d
        .disk
        .as_ref()
        .is_some_and(|k| k.read_block(lba, &mut b).is_ok());
    if !ok {
        check(c, MEDIUM_ERROR, UNRECOVERED_READ);
        return false;
    }
    d.stream.extend_from_slice(&b);
    d.xfer = Xfer::ReadCd {
        lba: lba + 1,
        left: left - 1,
    };
    true
}

/// The host has moved a whole PIO chunk (or the packet).
pub(super) fn block_done(c: &mut Channel) {
    let i = c.cur();
    let d = &mut c.drives[i];
    match d.xfer {
        Xfer::Packet => {
            let mut p = [0u8; 12];
            p.copy_from_slice(&d.buf[..12]);
            d.buf.clear();
            d.pos = 0;
            execute(c, p);
        }
        Xfer::Response | Xfer::ReadCd { .. } if d.atapi_left > 0 => next_chunk(c),
        Xfer::Response | Xfer::ReadCd { .. } => finish_now(c),
        _ => {
            d.xfer = Xfer::None;
            d.status = DRDY | DSC;
        }
    }
}

/// Command complete (after DMA; the bus master raises the interrupt).
pub(super) fn finish(c: &mut Channel) {
    let d = &mut c.drives[c.cur()];
    d.xfer = Xfer::None;
    d.stream.clear();
    d.buf.clear();
    d.pos = 0;
    d.error = 0;
    d.status = DRDY | DSC;
    c.nsector = IO | COD;
}

fn finish_now(c: &mut Channel) {
    finish(c);
    c.raise();
}

/// CHECK CONDITION: record the sense, report the key in the error register.
fn check(c: &mut Channel, key: u8, asc: u8) {
    let d = &mut c.drives[c.cur()];
    d.sense = (key, asc);
    d.xfer = Xfer::None;
    d.stream.clear();
    d.buf.clear();
    d.pos = 0;
    d.dma_pending = false;
    d.error = key << 4 | ABRT;
    d.status = DRDY | DSC | ERR;
    c.nsector = IO | COD;
    c.raise();
}
