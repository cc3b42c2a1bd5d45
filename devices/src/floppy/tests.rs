//! The controller driven as SeaBIOS and Linux drive it, over a temporary 1.44 MB image
//! whose sector k (LBA) is filled with k & 0xFF.

use super::*;
use crate::disk::Disk;

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

struct Rig {
    fdc: Floppy,
    dma: Dma,
    ram: Ram,
    path: std::path::PathBuf,
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn rig(tag: &str, size: usize) -> Rig {
    let path = std::env::temp_dir().join(format!("ox86-fdc-{}-{tag}", std::process::id()));
    let img: Vec<u8> = (0..size).map(|i| (i / SECTOR) as u8).collect();
    std::fs::write(&path, img).unwrap();
    let mut fdc = Floppy::new();
    fdc.attach(0, Disk::open(&path, SECTOR, false, false).unwrap())
        .unwrap();
    Rig {
        fdc,
        dma: Dma::new(),
        ram: Ram(vec![0; 0x20000]),
        path,
    }
}

impl Rig {
    fn out(&mut self, port: u16, v: u8) {
        self.fdc.write(port, v, &mut self.dma, &mut self.ram);
    }
    fn dma_out(&mut self, port: u16, v: u8) {
        self.dma.write(port, v);
        self.fdc.dma_changed(&mut self.dma, &mut self.ram);
    }
    /// Send a command (checking RQM and DIO before each byte) and read its result.
    fn command(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.send(bytes);
        self.results()
    }
    fn send(&mut self, bytes: &[u8]) {
        for &b in bytes {
            assert_eq!(
                self.fdc.read(0x3f4) & 0xc0,
                0x80,
                "not ready for {bytes:x?}"
            );
            self.out(0x3f5, b);
        }
    }
    fn results(&mut self) -> Vec<u8> {
        let mut r = Vec::new();
        while self.fdc.read(0x3f4) & 0xc0 == 0xc0 {
            r.push(self.fdc.read(0x3f5));
        }
        r
    }
    fn dma(&mut self, mode: u8, addr: u32, len: u16) {
        self.dma_out(0x0a, 0x06);
        self.dma_out(0x0c, 0);
        self.dma_out(0x04, addr as u8);
        self.dma_out(0x04, (addr >> 8) as u8);
        self.dma_out(0x0c, 0);
        self.dma_out(0x05, (len - 1) as u8);
        self.dma_out(0x05, ((len - 1) >> 8) as u8);
        self.dma_out(0x0b, mode);
        self.dma_out(0x81, (addr >> 16) as u8);
        self.dma_out(0x0a, 0x02);
    }
}

#[test]
fn geometry_by_size() {
    assert_eq!(geometry_for_size(1_474_560).map(|g| g.cmos_type), Some(4));
    assert_eq!(geometry_for_size(737_280).map(|g| g.spt), Some(9));
    assert_eq!(geometry_for_size(1_228_800).map(|g| g.spt), Some(15));
    assert_eq!(geometry_for_size(2_949_120).map(|g| g.rate), Some(RATE_1M));
    assert_eq!(geometry_for_size(1_000_000), None);
    let r = rig("types", 1_474_560);
    assert_eq!(r.fdc.cmos_types(), 0x40);
    assert_eq!(r.fdc.drive_count(), 1);
}

#[test]
fn reset_interrupt_and_sense() {
    let mut r = rig("reset", 1_474_560);
    r.out(0x3f2, 0x00);
    assert_eq!(r.fdc.read(0x3f4), 0, "held in reset");
    assert!(!r.fdc.irq());
    r.out(0x3f2, 0x0c);
    assert!(r.fdc.irq(), "leaving reset interrupts");
    assert_eq!(r.command(&[0x08]), [0xc0, 0]);
    assert!(!r.fdc.irq());
    for d in 1..4 {
        assert_eq!(r.command(&[0x08]), [0xc0 | d, 0]);
    }
    assert_eq!(r.command(&[0x08]), [0x80], "nothing more to sense");
    // DSR bit 7 resets too.
    r.out(0x3f4, 0x80);
    assert!(r.fdc.irq());
}

#[test]
fn seek_recalibrate_and_status_commands() {
    let mut r = rig("seek", 1_474_560);
    assert_eq!(r.command(&[0x03, 0xaf, 0x02]), []);
    assert_eq!(r.command(&[0x07, 0x00]), []);
    assert!(r.fdc.irq());
    assert_eq!(r.command(&[0x08]), [0x20, 0]);
    assert_eq!(r.command(&[0x0f, 0x04, 10]), []);
    assert_eq!(r.command(&[0x08]), [0x24, 10]);
    assert_eq!(r.command(&[0x04, 0x00])[0] & 0x10, 0, "not on track 0");
    // The seek cleared the disk change bit (motor on, drive 0 selected).
    r.out(0x3f2, 0x1c);
    assert_eq!(r.fdc.read(0x3f7) & 0x80, 0);
    assert_eq!(r.command(&[0x10]), [0x90]);
    assert_eq!(r.command(&[0x13, 0, 0x57, 0]), []);
    assert_eq!(r.command(&[0x94]), [0x10]);
    let dump = r.command(&[0x0e]);
    assert_eq!(dump.len(), 10);
    assert_eq!(
        (dump[0], dump[4], dump[5], dump[7] & 0x80, dump[8]),
        (10, 0xaf, 0x02, 0x80, 0x57)
    );
    assert_eq!(r.command(&[0x14]), [0x00]);
    assert_eq!(r.command(&[0x12, 0x00]), []);
    assert_eq!(r.command(&[0x18]), [0x41]);
    assert_eq!(r.command(&[0x1f]), [0x80], "invalid command");
    // Recalibrating the absent drive 1 fails with an equipment check.
    r.command(&[0x07, 0x01]);
    assert_eq!(r.command(&[0x08]), [0x71, 0]);
}

#[test]
fn read_id_checks_the_data_rate() {
    let mut r = rig("readid", 1_474_560);
    r.out(0x3f7, 2); // 250 kbit/s: not a 1.44M disk's rate
    assert_eq!(r.command(&[0x4a, 0x00])[..2], [0x40, 0x01]);
    r.out(0x3f7, 0);
    assert_eq!(r.command(&[0x4a, 0x04]), [0x04, 0, 0, 0, 1, 1, 2]);
}

#[test]
fn multitrack_read_crosses_heads_through_dma() {
    let mut r = rig("read", 1_474_560);
    // C0 H0 S16, 5 sectors (EOT past the track as SeaBIOS sends it): LBA 15-17, 18-19.
    r.dma(0x46, 0x1000, 5 * 512);
    r.send(&[0xe6, 0x00, 0, 0, 16, 2, 20, 0x1b, 0xff]);
    assert!(r.fdc.irq());
    let res = r.results();
    assert_eq!(res, [0x00, 0, 0, 0, 1, 3, 2]);
    assert!(!r.fdc.irq(), "reading the result lowers IRQ 6");
    for (k, lba) in [15u8, 16, 17, 18, 19].iter().enumerate() {
        let s = &r.ram.0[0x1000 + k * 512..0x1000 + (k + 1) * 512];
        assert!(s.iter().all(|b| b == lba), "sector {k}");
    }
    assert_eq!(r.ram.0[0x1000 + 5 * 512], 0, "no byte past the DMA count");
    // A cylinder further on (implied seek): C2 H1 S18, one sector = LBA 2*36+18+17.
    r.dma(0x46, 0x3000, 512);
    let res = r.command(&[0x66, 0x04, 2, 1, 18, 2, 18, 0x1b, 0xff]);
    assert_eq!(res, [0x04, 0, 0, 3, 1, 1, 2]);
    assert!(r.ram.0[0x3000..0x3200].iter().all(|&b| b == 107));
}

#[test]
fn write_waits_for_dma_and_reaches_the_image() {
    let mut r = rig("write", 1_474_560);
    r.ram.0[0x2000..0x2400].fill(0xa5);
    r.dma_out(0x0a, 0x06); // channel 2 masked
    r.command(&[0xc5, 0x00, 1, 0, 1, 2, 2, 0x1b, 0xff]);
    assert_eq!(r.fdc.read(0x3f4) & 0x80, 0, "waiting for DMA");
    r.dma(0x4a, 0x2000, 1024);
    assert!(r.fdc.irq());
    assert_eq!(r.results(), [0x00, 0, 0, 1, 1, 1, 2], "MT: on to head 1");
    let img = std::fs::read(&r.path).unwrap();
    assert!(img[36 * 512..38 * 512].iter().all(|&b| b == 0xa5)); // C1 H0 S1-2
    assert!(img[38 * 512..39 * 512].iter().all(|&b| b == 38));
    // Format track 5 head 0 with 0xF6: IDs come through DMA.
    let mut ids = Vec::new();
    for s in 1..=18u8 {
        ids.extend_from_slice(&[5, 0, s, 2]);
    }
    r.ram.0[0x4000..0x4000 + ids.len()].copy_from_slice(&ids);
    r.dma(0x4a, 0x4000, ids.len() as u16);
    assert_eq!(r.command(&[0x4d, 0x00, 2, 18, 0x6c, 0xf6])[0] & 0xc0, 0);
    let img = std::fs::read(&r.path).unwrap();
    assert!(img[180 * 512..198 * 512].iter().all(|&b| b == 0xf6));
}

#[test]
fn bad_requests_end_abnormally() {
    let mut r = rig("bad", 737_280);
    r.dma(0x46, 0x1000, 512);
    // 500 kbit/s on a 720K disk.
    assert_eq!(
        r.command(&[0xe6, 0, 0, 0, 1, 2, 1, 0x1b, 0xff])[..2],
        [0x40, 0x01]
    );
    r.out(0x3f7, 2);
    // Sector 10 does not exist on a 9-sector track.
    assert_eq!(
        r.command(&[0xe6, 0, 0, 0, 10, 2, 10, 0x1b, 0xff])[..2],
        [0x40, 0x04]
    );
    // Drive 1 is empty.
    assert_eq!(r.command(&[0xe6, 1, 0, 0, 1, 2, 1, 0x1b, 0xff])[0], 0x49);
    // Random bytes never panic and leave the controller usable after a reset.
    let mut x = 0x1234_5678u32;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let port = 0x3f0 + (x % 8) as u16;
        if x & 0x100 != 0 {
            r.out(port, (x >> 16) as u8);
        } else {
            r.fdc.read(port);
        }
        if x & 0x3f00 == 0 {
            r.dma_out((x >> 20) as u16 & 0x0f, (x >> 8) as u8);
        }
    }
    r.out(0x3f2, 0);
    r.out(0x3f2, 0x0c);
    r.out(0x3f7, 2);
    for _ in 0..4 {
        r.command(&[0x08]);
    }
    assert_eq!(r.command(&[0x10]), [0x90]);
}
