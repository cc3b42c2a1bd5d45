//! The PC's two 8237A DMA controllers: DMA1 (channels 0-3, byte transfers, ports
//! 0x00-0x0F) and DMA2 (channels 4-7, word transfers, ports 0xC0-0xDF, every other
//! byte), cascaded through channel 4, and the page registers at 0x80-0x8F that hold
//! address bits 16-23 (channel 2 is the floppy controller's).
//!
//! A device moves data with `write_memory`/`read_memory`: the controller walks the
//! channel's current address and count, and the bytes go to or come from guest memory
//! through `DmaMemory`, which the board provides (devices never see the CPU).

use serde::{Deserialize, Serialize};

/// Guest memory as a DMA controller sees it.
pub trait DmaMemory {
    fn dma_read(&mut self, addr: u64, buf: &mut [u8]);
    fn dma_write(&mut self, addr: u64, data: &[u8]);
}

impl DmaMemory for ox86_core::PhysMemory {
    fn dma_read(&mut self, addr: u64, buf: &mut [u8]) {
        self.read_bytes(addr, buf);
    }
    fn dma_write(&mut self, addr: u64, data: &[u8]) {
        // write_bytes marks the pages that hold decoded code, as a CPU store would.
        self.write_bytes(addr, data);
    }
}

/// The floppy controller's channel.
pub const FLOPPY_CHANNEL: usize = 2;

/// Page register port for each channel (0x80 + this); the other page ports are
/// scratch bytes (0x80 is also where POST codes go).
const PAGE_PORT: [u8; 8] = [0x7, 0x3, 0x1, 0x2, 0xf, 0xb, 0x9, 0xa];

/// Mode register transfer types (bits 2-3).
const XFER_VERIFY: u8 = 0;
const XFER_WRITE: u8 = 1; // device to memory
const XFER_READ: u8 = 2; // memory to device

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Channel {
    base_addr: u16,
    base_count: u16,
    cur_addr: u16,
    /// Transfers left minus one; 0xFFFF after the last one (terminal count).
    cur_count: u16,
    mode: u8,
    page: u8,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Controller {
    chans: [Channel; 4],
    command: u8,
    /// Low nibble: terminal count reached; high nibble: software requests.
    status: u8,
    mask: u8,
    flip_flop: bool,
}

impl Controller {
    fn new() -> Self {
        Controller {
            mask: 0x0f,
            ..Default::default()
        }
    }

    fn reset(&mut self) {
        self.command = 0;
        self.status = 0;
        self.mask = 0x0f;
        self.flip_flop = false;
    }

    /// Register `reg` (0-15) read.
    fn read(&mut self, reg: u8) -> u8 {
        match reg {
            0..=7 => {
                let c = &self.chans[(reg >> 1) as usize];
                let v = if reg & 1 == 0 {
                    c.cur_addr
                } else {
                    c.cur_count
                };
                let hi = self.flip_flop;
                self.flip_flop = !hi;
                if hi {
                    (v >> 8) as u8
                } else {
                    v as u8
                }
            }
            8 => {
                let s = self.status;
                self.status &= 0xf0; // reading clears the TC bits
                s
            }
            0xf => self.mask | 0xf0,
            _ => 0,
        }
    }

    fn write(&mut self, reg: u8, v: u8) {
        match reg {
            0..=7 => {
                let hi = self.flip_flop;
                self.flip_flop = !hi;
                let c = &mut self.chans[(reg >> 1) as usize];
                let r = if reg & 1 == 0 {
                    &mut c.base_addr
                } else {
                    &mut c.base_count
                };
                *r = if hi {
                    (*r & 0x00ff) | (v as u16) << 8
                } else {
                    (*r & 0xff00) | v as u16
                };
                c.cur_addr = c.base_addr;
                c.cur_count = c.base_count;
            }
            8 => self.command = v,
            9 => {
                let bit = 0x10 << (v & 3);
                if v & 4 != 0 {
                    self.status |= bit;
                } else {
                    self.status &= !bit;
                }
            }
            0xa => {
                let bit = 1 << (v & 3);
                if v & 4 != 0 {
                    self.mask |= bit;
                } else {
                    self.mask &= !bit;
                }
            }
            0xb => self.chans[(v & 3) as usize].mode = v,
            0xc => self.flip_flop = false,
            0xd => self.reset(),
            0xe => self.mask = 0,
            0xf => self.mask = v & 0x0f,
            _ => {}
        }
    }
}

/// Both controllers and the page registers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Dma {
    ctl: [Controller; 2],
    /// Ports 0x80-0x8F as bytes (the channels' pages live in their channels).
    pages: [u8; 16],
}

impl Default for Dma {
    fn default() -> Self {
        Self::new()
    }
}

impl Dma {
    pub fn new() -> Self {
        Dma {
            ctl: [Controller::new(), Controller::new()],
            pages: [0; 16],
        }
    }

    /// Is `port` one of the DMA controllers' or page registers' ports?
    pub fn is_port(port: u16) -> bool {
        matches!(port, 0x00..=0x0f | 0xc0..=0xdf | 0x80..=0x8f)
    }

    fn reg(port: u16) -> Option<(usize, u8)> {
        match port {
            0x00..=0x0f => Some((0, port as u8)),
            0xc0..=0xdf => Some((1, ((port - 0xc0) >> 1) as u8)),
            _ => None,
        }
    }

    pub fn read(&mut self, port: u16) -> u8 {
        match Self::reg(port) {
            Some((c, r)) => self.ctl[c].read(r),
            None => {
                let p = (port & 0xf) as u8;
                match PAGE_PORT.iter().position(|&x| x == p) {
                    Some(ch) => self.ctl[ch / 4].chans[ch % 4].page,
                    None => self.pages[p as usize],
                }
            }
        }
    }

    pub fn write(&mut self, port: u16, v: u8) {
        match Self::reg(port) {
            Some((c, r)) => self.ctl[c].write(r, v),
            None => {
                let p = (port & 0xf) as u8;
                self.pages[p as usize] = v;
                if let Some(ch) = PAGE_PORT.iter().position(|&x| x == p) {
                    self.ctl[ch / 4].chans[ch % 4].page = v;
                }
            }
        }
    }

    /// Can channel `ch` transfer: unmasked, its controller enabled, and for channels
    /// 5-7 the cascade channel 4 unmasked too.
    pub fn ready(&self, ch: usize) -> bool {
        let c = &self.ctl[ch / 4];
        let on = c.mask & (1 << (ch % 4)) == 0 && c.command & 4 == 0;
        on && (ch < 4 || (self.ctl[1].mask & 1 == 0 && self.ctl[1].command & 4 == 0))
    }

    /// Bytes channel `ch` will still move before its terminal count (none while it is
    /// masked, as it is after a terminal count without auto-initialisation).
    pub fn remaining(&self, ch: usize) -> usize {
        if !self.ready(ch) {
            return 0;
        }
        (self.ctl[ch / 4].chans[ch % 4].cur_count as usize + 1) << (ch / 4)
    }

    /// Move bytes through channel `ch`: device to memory (`write`) or memory to device.
    /// Returns how many bytes moved (fewer than asked at the terminal count, none when
    /// the channel is masked or programmed for the other direction).
    fn transfer(
        &mut self,
        ch: usize,
        buf: &mut [u8],
        write: bool,
        mem: &mut dyn DmaMemory,
    ) -> usize {
        if !self.ready(ch) {
            return 0;
        }
        let word = ch >= 4;
        let unit = if word { 2 } else { 1 };
        let c = &mut self.ctl[ch / 4].chans[ch % 4];
        let kind = (c.mode >> 2) & 3;
        let ok = match kind {
            XFER_WRITE => write,
            XFER_READ => !write,
            XFER_VERIFY => true,
            _ => false,
        };
        if !ok {
            return 0;
        }
        let down = c.mode & 0x20 != 0;
        let mut done = 0;
        let mut tc = false;
        while done + unit <= buf.len() && !tc {
            let (page, addr) = if word {
                ((c.page as u64 & 0xfe) << 16, (c.cur_addr as u64) << 1)
            } else {
                ((c.page as u64) << 16, c.cur_addr as u64)
            };
            let pa = page | addr;
            let chunk = &mut buf[done..done + unit];
            match kind {
                XFER_WRITE => mem.dma_write(pa, chunk),
                XFER_READ => mem.dma_read(pa, chunk),
                _ => {}
            }
            done += unit;
            c.cur_addr = if down {
                c.cur_addr.wrapping_sub(1)
            } else {
                c.cur_addr.wrapping_add(1)
            };
            c.cur_count = c.cur_count.wrapping_sub(1);
            tc = c.cur_count == 0xffff;
        }
        if tc {
            self.ctl[ch / 4].status |= 1 << (ch % 4);
            let c = &mut self.ctl[ch / 4].chans[ch % 4];
            if c.mode & 0x10 != 0 {
                c.cur_addr = c.base_addr;
                c.cur_count = c.base_count;
            } else {
                // Without auto-initialisation the 8237 masks the channel.
                self.ctl[ch / 4].mask |= 1 << (ch % 4);
            }
        }
        done
    }

    /// Device-to-memory transfer of `data` on channel `ch`.
    pub fn write_memory(&mut self, ch: usize, data: &[u8], mem: &mut dyn DmaMemory) -> usize {
        let mut b = data.to_vec();
        self.transfer(ch, &mut b, true, mem)
    }

    /// Memory-to-device transfer into `buf` on channel `ch`.
    pub fn read_memory(&mut self, ch: usize, buf: &mut [u8], mem: &mut dyn DmaMemory) -> usize {
        self.transfer(ch, buf, false, mem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ram(Vec<u8>);
    impl DmaMemory for Ram {
        fn dma_read(&mut self, addr: u64, buf: &mut [u8]) {
            let a = addr as usize;
            buf.copy_from_slice(&self.0[a..a + buf.len()]);
        }
        fn dma_write(&mut self, addr: u64, data: &[u8]) {
            let a = addr as usize;
            self.0[a..a + data.len()].copy_from_slice(data);
        }
    }

    /// Program channel 2 as SeaBIOS does: `mode`, address, count - 1, page.
    fn program(d: &mut Dma, mode: u8, addr: u32, len: u16) {
        d.write(0x0a, 0x06);
        d.write(0x0c, 0);
        d.write(0x04, addr as u8);
        d.write(0x04, (addr >> 8) as u8);
        d.write(0x0c, 0);
        d.write(0x05, (len - 1) as u8);
        d.write(0x05, ((len - 1) >> 8) as u8);
        d.write(0x0b, mode);
        d.write(0x81, (addr >> 16) as u8);
        d.write(0x0a, 0x02);
    }

    #[test]
    fn channel2_write_and_read_with_terminal_count() {
        let mut d = Dma::new();
        let mut ram = Ram(vec![0; 0x30000]);
        program(&mut d, 0x46, 0x1_2340, 4);
        assert!(d.ready(2));
        assert_eq!(d.remaining(2), 4);
        assert_eq!(d.write_memory(2, &[1, 2, 3, 4, 5, 6], &mut ram), 4);
        assert_eq!(&ram.0[0x12340..0x12346], &[1, 2, 3, 4, 0, 0]);
        assert_eq!(d.remaining(2), 0, "masked at the terminal count");
        assert!(!d.ready(2));
        assert_eq!(d.read(0x08) & 0x04, 0x04);
        assert_eq!(d.read(0x08) & 0x04, 0, "reading the status clears TC");
        // Current address and count read back through the flip-flop.
        d.write(0x0c, 0);
        assert_eq!((d.read(0x04), d.read(0x04)), (0x44, 0x23));
        assert_eq!((d.read(0x05), d.read(0x05)), (0xff, 0xff));
        assert_eq!(d.read(0x81), 0x01);
        // The other direction is refused while the mode says device to memory.
        let mut b = [0u8; 2];
        program(&mut d, 0x46, 0x1_2340, 2);
        assert_eq!(d.read_memory(2, &mut b, &mut ram), 0);
        program(&mut d, 0x4a, 0x1_2340, 2);
        assert_eq!(d.read_memory(2, &mut b, &mut ram), 2);
        assert_eq!(b, [1, 2]);
    }

    #[test]
    fn masks_autoinit_decrement_and_reset() {
        let mut d = Dma::new();
        let mut ram = Ram(vec![0; 0x30000]);
        program(&mut d, 0x46 | 0x10 | 0x20, 0x100, 2);
        assert_eq!(d.write_memory(2, &[7, 8], &mut ram), 2);
        assert_eq!(&ram.0[0xff..0x101], &[8, 7]);
        assert_eq!(d.remaining(2), 2, "auto-initialised");
        d.write(0x0f, 0x04); // all mask bits at once: only channel 2 masked
        assert!(!d.ready(2));
        assert_eq!(d.read(0x0f) & 0x0f, 0x04);
        d.write(0x0e, 0);
        assert!(d.ready(2));
        d.write(0x0d, 0); // master clear masks everything
        assert!(!d.ready(2));
        assert_eq!(d.write_memory(2, &[1], &mut ram), 0);
        // Request register bits show in the status.
        d.write(0x09, 0x06);
        assert_eq!(d.read(0x08) & 0x40, 0x40);
    }

    #[test]
    fn sixteen_bit_channels_and_page_scratch() {
        let mut d = Dma::new();
        let mut ram = Ram(vec![0; 0x40000]);
        d.write(0xd8, 0); // flip-flop
        d.write(0xc4, 0x00); // channel 5 address 0x0800 words = 0x1000 bytes
        d.write(0xc4, 0x08);
        d.write(0xc6, 1); // two words
        d.write(0xc6, 0);
        d.write(0xd6, 0x45); // channel 5, write to memory
        d.write(0x8b, 0x03); // page 3 (bit 0 ignored): 0x20000
        d.write(0xd4, 0x01); // unmask channel 5
        d.write(0xd4, 0x00); // unmask cascade channel 4
        assert_eq!(d.remaining(5), 4);
        assert_eq!(d.write_memory(5, &[1, 2, 3, 4, 5], &mut ram), 4);
        assert_eq!(&ram.0[0x21000..0x21004], &[1, 2, 3, 4]);
        d.write(0x80, 0x55);
        assert_eq!(d.read(0x80), 0x55);
        assert!(Dma::is_port(0x80) && Dma::is_port(0xdf) && !Dma::is_port(0x92));
    }
}
