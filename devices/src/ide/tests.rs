//! The controller driven as a guest driver does: task file, PIO data port, bus master.

use super::*;

fn temp_image(tag: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("ox86-ide-{}-{tag}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A disk of `n` sectors, sector k filled with k (mod 256).
fn disk(tag: &str, n: usize) -> (Ide, std::path::PathBuf) {
    let bytes: Vec<u8> = (0..n).flat_map(|k| [k as u8; 512]).collect();
    let p = temp_image(tag, &bytes);
    let mut ide = Ide::new();
    ide.attach(0, 0, Kind::Disk, Disk::open(&p, 512, false, false).unwrap());
    (ide, p)
}

fn cdrom(tag: &str, blocks: usize) -> (Ide, std::path::PathBuf) {
    let bytes: Vec<u8> = (0..blocks).flat_map(|k| [k as u8; 2048]).collect();
    let p = temp_image(tag, &bytes);
    let mut ide = Ide::new();
    ide.attach(
        1,
        0,
        Kind::Cdrom,
        Disk::open(&p, 2048, true, false).unwrap(),
    );
    (ide, p)
}

fn mem() -> PhysMemory {
    PhysMemory::new(1 << 20).unwrap()
}

fn out(ide: &mut Ide, m: &mut PhysMemory, port: u16, v: u8) {
    ide.write(port, 1, v as u32, m);
}

fn status(ide: &mut Ide, base: u16) -> u8 {
    ide.read(base + 7, 1) as u8
}

/// LBA28 command on the primary master.
fn cmd28(ide: &mut Ide, m: &mut PhysMemory, cmd: u8, lba: u32, count: u8) {
    out(ide, m, 0x1f6, 0xe0 | ((lba >> 24) & 0xf) as u8);
    out(ide, m, 0x1f2, count);
    out(ide, m, 0x1f3, lba as u8);
    out(ide, m, 0x1f4, (lba >> 8) as u8);
    out(ide, m, 0x1f5, (lba >> 16) as u8);
    out(ide, m, 0x1f7, cmd);
}

fn cmd48(ide: &mut Ide, m: &mut PhysMemory, cmd: u8, lba: u64, count: u16) {
    out(ide, m, 0x1f6, 0x40);
    for (port, hi, lo) in [
        (0x1f2, (count >> 8) as u8, count as u8),
        (0x1f3, (lba >> 24) as u8, lba as u8),
        (0x1f4, (lba >> 32) as u8, (lba >> 8) as u8),
        (0x1f5, (lba >> 40) as u8, (lba >> 16) as u8),
    ] {
        out(ide, m, port, hi);
        out(ide, m, port, lo);
    }
    out(ide, m, 0x1f7, cmd);
}

fn read_words(ide: &mut Ide, base: u16, n: usize) -> Vec<u8> {
    (0..n / 2)
        .flat_map(|_| (ide.read(base, 2) as u16).to_le_bytes())
        .collect()
}

#[test]
fn identify_and_signature() {
    let (mut ide, p) = disk("id", 100);
    let mut m = mem();
    assert_eq!(ide.read(0x1f4, 1), 0);
    cmd28(&mut ide, &mut m, 0xec, 0, 0);
    assert!(ide.irq(0));
    assert_eq!(status(&mut ide, 0x1f0), DRDY | DSC | DRQ);
    assert!(!ide.irq(0), "reading the status acknowledges");
    let id = read_words(&mut ide, 0x1f0, 512);
    assert_eq!(u16::from_le_bytes([id[0], id[1]]), 0x0040);
    assert_eq!(u32::from_le_bytes(id[120..124].try_into().unwrap()), 100);
    assert_eq!(&id[54..58], b"XO68"); // "OX86" byte-swapped per word
    assert_eq!(status(&mut ide, 0x1f0), DRDY | DSC);
    // The slave is absent: its registers read 0, commands are ignored.
    out(&mut ide, &mut m, 0x1f6, 0xb0);
    assert_eq!(status(&mut ide, 0x1f0), 0);
    // The secondary channel is empty.
    assert_eq!(ide.read(0x177, 1), 0);
    std::fs::remove_file(p).unwrap();
}

#[test]
fn pio_reads_lba28_lba48_and_multiple() {
    let (mut ide, p) = disk("pio", 300);
    let mut m = mem();
    cmd28(&mut ide, &mut m, 0x20, 5, 2);
    assert_eq!(read_words(&mut ide, 0x1f0, 512), vec![5; 512]);
    assert!(ide.irq(0), "an interrupt per block");
    assert_eq!(read_words(&mut ide, 0x1f0, 512), vec![6; 512]);
    assert_eq!(status(&mut ide, 0x1f0), DRDY | DSC);
    // LBA48, dword reads.
    cmd48(&mut ide, &mut m, 0x24, 299, 1);
    let d: Vec<u8> = (0..128)
        .flat_map(|_| ide.read(0x1f0, 4).to_le_bytes())
        .collect();
    assert_eq!(d, vec![299u32 as u8; 512]);
    // READ MULTIPLE before SET MULTIPLE aborts; then blocks of 4 sectors.
    cmd28(&mut ide, &mut m, 0xc4, 0, 8);
    assert_eq!(status(&mut ide, 0x1f0), DRDY | DSC | ERR);
    assert_eq!(ide.read(0x1f1, 1) as u8, ABRT);
    cmd28(&mut ide, &mut m, 0xc6, 0, 4);
    assert_eq!(status(&mut ide, 0x1f0), DRDY | DSC);
    cmd28(&mut ide, &mut m, 0xc4, 10, 6);
    status(&mut ide, 0x1f0);
    let first = read_words(&mut ide, 0x1f0, 4 * 512);
    assert_eq!(&first[..512], &[10; 512]);
    assert_eq!(&first[1536..], &[13; 512]);
    assert!(ide.irq(0));
    let second = read_words(&mut ide, 0x1f0, 2 * 512);
    assert_eq!(&second[512..], &[15; 512]);
    assert_eq!(status(&mut ide, 0x1f0), DRDY | DSC);
    // Beyond the end: IDNF.
    cmd28(&mut ide, &mut m, 0x20, 299, 2);
    assert_eq!(status(&mut ide, 0x1f0) & ERR, ERR);
    assert_eq!(ide.read(0x1f1, 1) as u8 & 0x10, 0x10);
    // Unknown command: ABRT.
    cmd28(&mut ide, &mut m, 0x00, 0, 0);
    assert_eq!(status(&mut ide, 0x1f0) & ERR, ERR);
    std::fs::remove_file(p).unwrap();
}

#[test]
fn chs_addressing() {
    let (mut ide, p) = disk("chs", 2 * 16 * 63);
    let mut m = mem();
    // Cylinder 1, head 2, sector 5 with the default 16/63: LBA (1*16+2)*63+4 = 1138.
    let chs = |ide: &mut Ide, m: &mut PhysMemory, c: u16, h: u8, s: u8| {
        out(ide, m, 0x1f6, 0xa0 | h);
        out(ide, m, 0x1f2, 1);
        out(ide, m, 0x1f3, s);
        out(ide, m, 0x1f4, c as u8);
        out(ide, m, 0x1f5, (c >> 8) as u8);
        out(ide, m, 0x1f7, 0x20);
    };
    chs(&mut ide, &mut m, 1, 2, 5);
    assert_eq!(read_words(&mut ide, 0x1f0, 512), vec![1138u32 as u8; 512]);
    // Sector 0 does not exist.
    chs(&mut ide, &mut m, 0, 0, 0);
    assert_eq!(status(&mut ide, 0x1f0) & ERR, ERR);
    // INITIALIZE DEVICE PARAMETERS: 4 heads, 17 sectors; C0 H3 S1 is LBA 51.
    out(&mut ide, &mut m, 0x1f6, 0xa3);
    out(&mut ide, &mut m, 0x1f2, 17);
    out(&mut ide, &mut m, 0x1f7, 0x91);
    assert_eq!(status(&mut ide, 0x1f0), DRDY | DSC);
    chs(&mut ide, &mut m, 0, 3, 1);
    assert_eq!(read_words(&mut ide, 0x1f0, 512), vec![51; 512]);
    std::fs::remove_file(p).unwrap();
}

#[test]
fn pio_write_then_flush_reaches_the_file() {
    let (mut ide, p) = disk("write", 16);
    let mut m = mem();
    cmd28(&mut ide, &mut m, 0x30, 3, 2);
    assert_eq!(status(&mut ide, 0x1f0), DRDY | DSC | DRQ);
    assert!(!ide.irq(0), "no interrupt before the first block");
    for _ in 0..256 {
        ide.write(0x1f0, 2, 0xabab, &mut m);
    }
    assert!(ide.irq(0));
    for _ in 0..128 {
        ide.write(0x1f0, 4, 0xcdcd_cdcd, &mut m);
    }
    assert_eq!(status(&mut ide, 0x1f0), DRDY | DSC);
    cmd28(&mut ide, &mut m, 0xe7, 0, 0);
    assert_eq!(status(&mut ide, 0x1f0), DRDY | DSC);
    let f = std::fs::read(&p).unwrap();
    assert!(f[3 * 512..4 * 512].iter().all(|&b| b == 0xab));
    assert!(f[4 * 512..5 * 512].iter().all(|&b| b == 0xcd));
    assert!(f[5 * 512..6 * 512].iter().all(|&b| b == 5));
    std::fs::remove_file(p).unwrap();
}

/// A PRD table at 0x1000 describing `chunks` (address, length), the last one marked.
fn prd(m: &mut PhysMemory, chunks: &[(u32, u16)]) {
    for (i, &(a, n)) in chunks.iter().enumerate() {
        let mut e = [0u8; 8];
        e[..4].copy_from_slice(&a.to_le_bytes());
        e[4..6].copy_from_slice(&n.to_le_bytes());
        if i == chunks.len() - 1 {
            e[7] = 0x80;
        }
        m.write_bytes(0x1000 + 8 * i as u64, &e);
    }
}

#[test]
fn bus_master_dma_read_and_write() {
    let (mut ide, p) = disk("dma", 64);
    let mut m = mem();
    prd(&mut m, &[(0x2000, 512), (0x3000, 1024)]);
    ide.bm_write(4, 4, 0x1000, &mut m);
    assert_eq!(ide.bm_read(4, 4), 0x1000);
    assert_eq!(ide.bm_read(2, 1) & 0x20, 0x20, "drive 0 DMA capable");
    cmd48(&mut ide, &mut m, 0x25, 7, 3); // READ DMA EXT
    ide.bm_write(0, 1, 0x09, &mut m); // start, to memory
    assert_eq!(ide.bm_read(2, 1) as u8 & 7, BM_IRQ);
    assert!(ide.irq(0));
    assert_eq!(status(&mut ide, 0x1f0), DRDY | DSC);
    assert_eq!(m.read_u8(0x2000), 7);
    assert_eq!(m.read_u8(0x3000), 8);
    assert_eq!(m.read_u8(0x33ff), 9);
    ide.bm_write(2, 1, BM_IRQ as u32, &mut m);
    ide.bm_write(0, 1, 0, &mut m);
    assert_eq!(ide.bm_read(2, 1) & 7, 0);
    // WRITE DMA: the bus master started first, the command then.
    m.write_bytes(0x2000, &[0x77; 512]);
    prd(&mut m, &[(0x2000, 512)]);
    ide.bm_write(0, 1, 0x01, &mut m);
    cmd28(&mut ide, &mut m, 0xca, 40, 1);
    assert!(ide.irq(0));
    assert_eq!(status(&mut ide, 0x1f0), DRDY | DSC);
    let f = std::fs::read(&p).unwrap();
    assert!(f[40 * 512..41 * 512].iter().all(|&b| b == 0x77));
    // A PRD table shorter than the command: error.
    ide.bm_write(0, 1, 0, &mut m);
    cmd28(&mut ide, &mut m, 0xc8, 0, 2);
    ide.bm_write(0, 1, 0x09, &mut m);
    assert_eq!(ide.bm_read(2, 1) as u8 & BM_ERROR, BM_ERROR);
    assert_eq!(status(&mut ide, 0x1f0) & ERR, ERR);
    std::fs::remove_file(p).unwrap();
}

/// Send an ATAPI packet on the secondary master with a byte count limit.
fn packet(ide: &mut Ide, m: &mut PhysMemory, p: [u8; 12], limit: u16, dma: bool) {
    out(ide, m, 0x176, 0xa0);
    out(ide, m, 0x171, dma as u8);
    out(ide, m, 0x174, limit as u8);
    out(ide, m, 0x175, (limit >> 8) as u8);
    out(ide, m, 0x177, 0xa0);
    assert_eq!(ide.read(0x177, 1) as u8 & DRQ, DRQ);
    assert_eq!(ide.read(0x172, 1), COD as u32);
    for k in 0..6 {
        ide.write(
            0x170,
            2,
            u16::from_le_bytes([p[2 * k], p[2 * k + 1]]) as u32,
            m,
        );
    }
}

const COD: u8 = 1;

#[test]
fn atapi_signature_identify_inquiry_capacity_and_reads() {
    let (mut ide, p) = cdrom("cd", 40);
    let mut m = mem();
    assert_eq!((ide.read(0x174, 1), ide.read(0x175, 1)), (0x14, 0xeb));
    // IDENTIFY DEVICE aborts; IDENTIFY PACKET DEVICE answers.
    out(&mut ide, &mut m, 0x176, 0xa0);
    out(&mut ide, &mut m, 0x177, 0xec);
    assert_eq!(ide.read(0x177, 1) as u8 & ERR, ERR);
    out(&mut ide, &mut m, 0x177, 0xa1);
    let id = read_words(&mut ide, 0x170, 512);
    assert_eq!(u16::from_le_bytes([id[0], id[1]]), 0x85c0);
    // INQUIRY.
    packet(
        &mut ide,
        &mut m,
        [0x12, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0],
        0xfffe,
        false,
    );
    assert!(ide.irq(1));
    assert_eq!(ide.read(0x172, 1), 2); // IO: data to the host
    assert_eq!(ide.read(0x174, 1), 36);
    let inq = read_words(&mut ide, 0x170, 36);
    assert_eq!(inq[0], 5);
    assert_eq!(ide.read(0x172, 1), 3); // command complete
    assert_eq!(ide.read(0x177, 1) as u8, DRDY | DSC);
    // READ CAPACITY.
    packet(
        &mut ide,
        &mut m,
        [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        8,
        false,
    );
    let cap = read_words(&mut ide, 0x170, 8);
    assert_eq!(cap, [0, 0, 0, 39, 0, 0, 8, 0]);
    // READ(10) of 3 blocks with a 4096-byte limit: two chunks.
    packet(
        &mut ide,
        &mut m,
        [0x28, 0, 0, 0, 0, 5, 0, 0, 3, 0, 0, 0],
        4096,
        false,
    );
    assert_eq!(ide.read(0x174, 2), 4096);
    let a = read_words(&mut ide, 0x170, 4096);
    assert_eq!((a[0], a[4095]), (5, 6));
    assert!(ide.irq(1));
    assert_eq!(ide.read(0x174, 1) | (ide.read(0x175, 1) << 8), 2048);
    let b = read_words(&mut ide, 0x170, 2048);
    assert_eq!(b[2047], 7);
    assert_eq!(ide.read(0x177, 1) as u8, DRDY | DSC);
    // Out of range: CHECK CONDITION, then REQUEST SENSE says ILLEGAL REQUEST / 0x21.
    packet(
        &mut ide,
        &mut m,
        [0x28, 0, 0, 0, 0, 39, 0, 0, 2, 0, 0, 0],
        0xfffe,
        false,
    );
    assert_eq!(ide.read(0x177, 1) as u8 & ERR, ERR);
    assert_eq!(ide.read(0x171, 1) >> 4, 5);
    packet(
        &mut ide,
        &mut m,
        [0x03, 0, 0, 0, 18, 0, 0, 0, 0, 0, 0, 0],
        0xfffe,
        false,
    );
    let s = read_words(&mut ide, 0x170, 18);
    assert_eq!((s[2], s[12]), (5, 0x21));
    // READ TOC, format 0: track 1 and the lead-out at block 40.
    packet(
        &mut ide,
        &mut m,
        [0x43, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0],
        0xfffe,
        false,
    );
    let toc = read_words(&mut ide, 0x170, 20);
    assert_eq!(&toc[..4], &[0, 18, 1, 1]);
    assert_eq!(&toc[14..20], &[0xaa, 0, 0, 0, 0, 40]);
    // READ(10) by DMA.
    prd(&mut m, &[(0x4000, 4096)]);
    ide.bm_write(12, 4, 0x1000, &mut m);
    packet(
        &mut ide,
        &mut m,
        [0x28, 0, 0, 0, 0, 9, 0, 0, 2, 0, 0, 0],
        0xfffe,
        true,
    );
    ide.bm_write(8, 1, 0x09, &mut m);
    assert!(ide.irq(1));
    assert_eq!((m.read_u8(0x4000), m.read_u8(0x4fff)), (9, 10));
    assert_eq!(ide.read(0x177, 1) as u8, DRDY | DSC);
    assert_eq!(ide.read(0x172, 1), 3);
    std::fs::remove_file(p).unwrap();
}

#[test]
fn soft_reset_and_nien() {
    let (mut ide, p) = disk("reset", 8);
    let mut m = mem();
    out(&mut ide, &mut m, 0x3f6, NIEN);
    cmd28(&mut ide, &mut m, 0xec, 0, 0);
    assert!(!ide.irq(0), "nIEN masks the line");
    out(&mut ide, &mut m, 0x3f6, SRST);
    out(&mut ide, &mut m, 0x3f6, 0);
    assert_eq!(ide.read(0x3f6, 1) as u8, DRDY | DSC);
    assert_eq!((ide.read(0x1f2, 1), ide.read(0x1f3, 1)), (1, 1));
    assert_eq!(ide.read(0x1f1, 1), 1);
    std::fs::remove_file(p).unwrap();
}

/// Random port traffic (task files, data ports, control, bus master with random PRD
/// tables) never panics, whatever the guest does.
#[test]
fn random_guest_traffic_never_panics() {
    let (mut ide, p1) = disk("fuzz-hd", 64);
    let cd: Vec<u8> = (0..16).flat_map(|k| [k as u8; 2048]).collect();
    let p2 = temp_image("fuzz-cd", &cd);
    ide.attach(
        1,
        0,
        Kind::Cdrom,
        Disk::open(&p2, 2048, true, false).unwrap(),
    );
    let mut m = mem();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    const PORTS: [u16; 20] = [
        0x1f0, 0x1f1, 0x1f2, 0x1f3, 0x1f4, 0x1f5, 0x1f6, 0x1f7, 0x3f6, 0x170, 0x171, 0x172, 0x173,
        0x174, 0x175, 0x176, 0x177, 0x376, 0x1f0, 0x170,
    ];
    // Commands worth hitting often.
    const CMDS: [u8; 16] = [
        0x20, 0x24, 0x30, 0x34, 0xc4, 0xc5, 0xc6, 0xc8, 0xca, 0x25, 0x35, 0xa0, 0xa1, 0xec, 0xe7,
        0x08,
    ];
    for _ in 0..300_000 {
        let r = rnd();
        let size = [1u8, 2, 4][(r >> 8) as usize % 3];
        let v = (r >> 16) as u32;
        match r % 8 {
            0 => {
                let port = PORTS[(r >> 40) as usize % PORTS.len()];
                ide.read(port, size);
            }
            1 | 2 => {
                let port = PORTS[(r >> 40) as usize % PORTS.len()];
                ide.write(port, size, v, &mut m);
            }
            3 => {
                let base = if r & (1 << 50) != 0 { 0x1f7 } else { 0x177 };
                ide.write(
                    base,
                    1,
                    CMDS[(r >> 44) as usize % CMDS.len()] as u32,
                    &mut m,
                );
            }
            4 => {
                ide.bm_read((r >> 40) as u16 % 16, size);
            }
            5 => {
                ide.bm_write((r >> 40) as u16 % 16, size, v, &mut m);
            }
            6 => {
                // A random PRD entry somewhere in the first MiB (and beyond it).
                let at = (r >> 32) % (1 << 20);
                m.write_bytes(at & !7, &rnd().to_le_bytes());
            }
            _ => {
                for _ in 0..(r >> 40) % 300 {
                    ide.read(0x1f0, 2);
                    ide.read(0x170, 4);
                }
            }
        }
    }
    ide.flush();
    std::fs::remove_file(p1).unwrap();
    std::fs::remove_file(p2).unwrap();
}
