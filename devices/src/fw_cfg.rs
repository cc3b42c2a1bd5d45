//! QEMU's firmware configuration device (fw_cfg), the I/O-port flavour of the PC:
//! a 16-bit selector at 0x510 picks an item, and byte reads of 0x511 stream its contents
//! from the start (reads past the end, or of an item that does not exist, return 0).
//! Items are QEMU's numbered legacy entries (signature "QEMU" at 0x00, the interface ID
//! at 0x01, CPU counts, ...) and named files listed in the directory at 0x19 (a big-endian
//! count, then per file: size (BE u32), selector (BE u16), reserved u16, 56-byte name),
//! with selectors from 0x20. SeaBIOS finds its configuration there: `etc/e820`,
//! `bootorder`, `etc/sercon-port`, `etc/show-boot-menu`...
//!
//! The DMA interface is there too (the ID says so, as QEMU's does): the guest writes the
//! guest-physical address of a 16-byte access structure {control, length, address, all
//! big-endian} to 0x514 (high half) and 0x518 (low half, which starts it); the device
//! selects, reads (zero past the item's end) or skips as the control word asks, and
//! writes the control word back as 0, or with the error bit. Reading 0x514 gives the
//! signature "QEMU CFG". Items are read only: a DMA write reports an error.

use std::collections::BTreeMap;

use ox86_core::PhysMemory;
use serde::{Deserialize, Serialize};

/// Selector port (16-bit writes).
pub const SELECTOR: u16 = 0x510;
/// Data port (byte reads).
pub const DATA: u16 = 0x511;
/// DMA address register (8 bytes, big-endian: high half at 0x514, low at 0x518).
pub const DMA: u16 = 0x514;
/// The ports the board routes here.
pub const PORTS: std::ops::RangeInclusive<u16> = 0x510..=0x51b;
/// What the DMA register reads: "QEMU CFG".
const DMA_SIGNATURE: u64 = 0x5145_4d55_2043_4647;
// DMA control bits.
const DMA_ERROR: u32 = 1;
const DMA_READ: u32 = 2;
const DMA_SKIP: u32 = 4;
const DMA_SELECT: u32 = 8;
const DMA_WRITE: u32 = 0x10;

// Legacy items (QEMU's include/standard-headers/linux/qemu_fw_cfg.h numbering).
pub const SIGNATURE: u16 = 0x00;
pub const ID: u16 = 0x01;
pub const UUID: u16 = 0x02;
pub const RAM_SIZE: u16 = 0x03;
pub const NOGRAPHIC: u16 = 0x04;
pub const NB_CPUS: u16 = 0x05;
pub const BOOT_MENU: u16 = 0x0e;
pub const MAX_CPUS: u16 = 0x0f;
pub const FILE_DIR: u16 = 0x19;
pub const FILE_FIRST: u16 = 0x20;
/// The selector bits that are not the key: bit 14 write channel, bit 15 architecture
/// local entries keep their bit (they are keys 0x8000+).
const WRITE_CHANNEL: u16 = 0x4000;
/// Longest file name, with its NUL.
const NAME_LEN: usize = 56;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FwCfg {
    items: BTreeMap<u16, Vec<u8>>,
    /// Files in selector order: (name, selector).
    files: Vec<(String, u16)>,
    selector: u16,
    offset: usize,
    /// The DMA address register, as the guest wrote it (big-endian bytes).
    #[serde(default)]
    dma: [u8; 8],
}

impl FwCfg {
    /// The device with its signature and ID (traditional interface), no files yet.
    pub fn new() -> Self {
        let mut f = FwCfg::default();
        f.add_item(SIGNATURE, b"QEMU".to_vec());
        f.add_item(ID, 3u32.to_le_bytes().to_vec()); // traditional interface and DMA
        f.rebuild_dir();
        f
    }

    /// Set a numbered item (numbers are little-endian, as QEMU stores them).
    pub fn add_item(&mut self, key: u16, data: Vec<u8>) {
        self.items.insert(key, data);
    }

    pub fn add_u16(&mut self, key: u16, v: u16) {
        self.add_item(key, v.to_le_bytes().to_vec());
    }

    /// Add (or replace) a named file; returns its selector. Names longer than 55 bytes
    /// are cut, as QEMU's directory has room for no more.
    pub fn add_file(&mut self, name: &str, data: Vec<u8>) -> u16 {
        let mut name = name.to_string();
        while name.len() >= NAME_LEN {
            name.pop();
        }
        let key = match self.files.iter().find(|(n, _)| *n == name) {
            Some(&(_, k)) => k,
            None => {
                let k = FILE_FIRST + self.files.len() as u16;
                self.files.push((name, k));
                k
            }
        };
        self.items.insert(key, data);
        self.rebuild_dir();
        key
    }

    /// The contents of an item, if it exists.
    pub fn item(&self, key: u16) -> Option<&[u8]> {
        self.items.get(&key).map(Vec::as_slice)
    }

    fn rebuild_dir(&mut self) {
        let mut d = (self.files.len() as u32).to_be_bytes().to_vec();
        for (name, key) in &self.files {
            let size = self.items.get(key).map_or(0, Vec::len) as u32;
            d.extend_from_slice(&size.to_be_bytes());
            d.extend_from_slice(&key.to_be_bytes());
            d.extend_from_slice(&[0, 0]);
            let mut n = [0u8; NAME_LEN];
            n[..name.len()].copy_from_slice(name.as_bytes());
            d.extend_from_slice(&n);
        }
        self.items.insert(FILE_DIR, d);
    }

    /// Back to the power-on selection (the contents stay).
    pub fn reset(&mut self) {
        self.selector = 0;
        self.offset = 0;
    }

    /// Read `size` bytes at `port`: data bytes come one per byte of the access.
    pub fn read(&mut self, port: u16, size: u8) -> u32 {
        if (DMA..DMA + 8).contains(&port) {
            let sig = DMA_SIGNATURE.to_be_bytes();
            return (0..size as usize).fold(0, |v, k| {
                let b = sig.get((port - DMA) as usize + k).copied().unwrap_or(0);
                v | (b as u32) << (8 * k)
            });
        }
        if port != DATA {
            return 0;
        }
        let mut v = 0u32;
        for k in 0..size.min(4) {
            v |= (self.next_byte() as u32) << (8 * k);
        }
        v
    }

    fn next_byte(&mut self) -> u8 {
        let b = self
            .items
            .get(&(self.selector & !WRITE_CHANNEL))
            .and_then(|d| d.get(self.offset).copied())
            .unwrap_or(0);
        self.offset = self.offset.saturating_add(1);
        b
    }

    /// Write `size` bytes at `port`: the selector takes the low 16 bits; data-port writes
    /// are ignored (as in QEMU since 2.4); a write that completes the DMA address runs
    /// that DMA request on `mem`.
    pub fn write(&mut self, port: u16, size: u8, value: u32, mem: &mut PhysMemory) {
        if port == SELECTOR {
            self.selector = value as u16;
            self.offset = 0;
            return;
        }
        if !(DMA..DMA + 8).contains(&port) {
            return;
        }
        let mut last = false;
        for k in 0..size as u16 {
            let off = (port + k - DMA) as usize;
            if off < 8 {
                self.dma[off] = (value >> (8 * k)) as u8;
                last |= off == 7;
            }
        }
        if last {
            let at = u64::from_be_bytes(self.dma);
            self.dma = [0; 8];
            self.run_dma(at, mem);
        }
    }

    /// Carry out the DMA request whose access structure is at `at`.
    fn run_dma(&mut self, at: u64, mem: &mut PhysMemory) {
        let mut a = [0u8; 16];
        mem.read_bytes(at, &mut a);
        let control = u32::from_be_bytes([a[0], a[1], a[2], a[3]]);
        let len = u32::from_be_bytes([a[4], a[5], a[6], a[7]]) as usize;
        let addr = u64::from_be_bytes([a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]]);
        if control & DMA_SELECT != 0 {
            self.selector = (control >> 16) as u16;
            self.offset = 0;
        }
        let mut status = 0;
        if control & DMA_READ != 0 {
            let data = self.items.get(&(self.selector & !WRITE_CHANNEL));
            // In chunks, so a huge length costs no huge buffer.
            let mut done = 0;
            while done < len {
                let n = (len - done).min(4096);
                let mut chunk = vec![0u8; n];
                if let Some(d) = data {
                    let from = self.offset.saturating_add(done);
                    if from < d.len() {
                        let m = (d.len() - from).min(n);
                        chunk[..m].copy_from_slice(&d[from..from + m]);
                    }
                }
                mem.write_bytes(addr.wrapping_add(done as u64), &chunk);
                done += n;
            }
            self.offset = self.offset.saturating_add(len);
        } else if control & DMA_SKIP != 0 {
            self.offset = self.offset.saturating_add(len);
        } else if control & DMA_WRITE != 0 {
            status = DMA_ERROR;
        }
        mem.write_bytes(at, &status.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_item(f: &mut FwCfg, key: u16, len: usize) -> Vec<u8> {
        f.write(
            SELECTOR,
            2,
            key as u32,
            &mut PhysMemory::new(1 << 20).unwrap(),
        );
        (0..len).map(|_| f.read(DATA, 1) as u8).collect()
    }

    #[test]
    fn signature_id_and_absent_items() {
        let mut f = FwCfg::new();
        assert_eq!(read_item(&mut f, SIGNATURE, 6), b"QEMU\0\0");
        assert_eq!(read_item(&mut f, ID, 4), [3, 0, 0, 0]);
        assert_eq!(read_item(&mut f, 0x1234, 2), [0, 0]);
        // A word read takes two data bytes.
        f.write(
            SELECTOR,
            2,
            SIGNATURE as u32,
            &mut PhysMemory::new(1 << 20).unwrap(),
        );
        assert_eq!(f.read(DATA, 2), u16::from_le_bytes(*b"QE") as u32);
        assert_eq!(f.read(SELECTOR, 2), 0);
    }

    #[test]
    fn file_directory() {
        let mut f = FwCfg::new();
        assert_eq!(f.add_file("bootorder", b"/x\0".to_vec()), 0x20);
        assert_eq!(f.add_file("etc/sercon-port", vec![0xf8, 3]), 0x21);
        assert_eq!(f.add_file("bootorder", b"/yz\0".to_vec()), 0x20);
        let dir = read_item(&mut f, FILE_DIR, 4 + 2 * 64);
        assert_eq!(&dir[..4], &[0, 0, 0, 2]);
        let e1 = &dir[4 + 64..4 + 128];
        assert_eq!(&e1[..4], &[0, 0, 0, 2]);
        assert_eq!(&e1[4..6], &[0, 0x21]);
        assert_eq!(&e1[8..23], b"etc/sercon-port");
        assert_eq!(e1[23], 0);
        assert_eq!(&dir[4..8], &[0, 0, 0, 4]);
        assert_eq!(read_item(&mut f, 0x21, 3), [0xf8, 3, 0]);
    }

    /// A DMA request as SeaBIOS makes it: structure at `at`, the address written as two
    /// big-endian dwords (OUT of the byte-swapped value).
    fn dma(f: &mut FwCfg, m: &mut PhysMemory, at: u32, control: u32, len: u32, addr: u64) {
        let mut s = control.to_be_bytes().to_vec();
        s.extend_from_slice(&len.to_be_bytes());
        s.extend_from_slice(&addr.to_be_bytes());
        m.write_bytes(at as u64, &s);
        f.write(DMA, 4, 0, m);
        f.write(DMA + 4, 4, at.swap_bytes(), m);
    }

    #[test]
    fn dma_select_read_skip_and_write() {
        let mut f = FwCfg::new();
        let mut m = PhysMemory::new(1 << 20).unwrap();
        f.add_file("etc/e820", (1..=20).collect());
        assert_eq!(f.read(DMA, 4).to_le_bytes(), *b"QEMU");
        // Select the file and read 8 bytes.
        dma(
            &mut f,
            &mut m,
            0x1000,
            0x20 << 16 | DMA_SELECT | DMA_READ,
            8,
            0x2000,
        );
        assert_eq!(m.read_u32(0x1000), 0, "control cleared: done");
        let mut b = [0u8; 8];
        m.read_bytes(0x2000, &mut b);
        assert_eq!(b, [1, 2, 3, 4, 5, 6, 7, 8]);
        // Skip 10, then read past the end: zeros.
        dma(&mut f, &mut m, 0x1000, DMA_SKIP, 10, 0);
        dma(&mut f, &mut m, 0x1000, DMA_READ, 4, 0x3000);
        m.read_bytes(0x3000, &mut b);
        assert_eq!(&b[..4], &[19, 20, 0, 0]);
        // The port interface continues where DMA left off.
        assert_eq!(f.read(DATA, 1), 0);
        // Writes are refused.
        dma(&mut f, &mut m, 0x1000, DMA_WRITE, 4, 0x3000);
        assert_eq!(m.read_u32(0x1000), DMA_ERROR.swap_bytes());
    }
}
