//! A minimal ACPI table set for a directly booted kernel (no BIOS builds one): what
//! Linux needs to enumerate PCI through ACPI and to power off through S5.
//!
//! ACPI 2.0 shapes, which Linux 6.1 i386 handles as it does on QEMU's `q35`:
//!
//! - RSDP revision 2 (36 bytes, both checksums), pointing to an RSDT and an XSDT;
//! - RSDT and XSDT, each listing the FADT only (no MADT: ox86's CPU has no local APIC,
//!   so Linux drives the 8259 pair);
//! - FADT revision 3 (244 bytes): PM1a event/control blocks and PM timer in the PIIX4
//!   PM block at `pm_base` (legacy fields and matching X_ fields), SCI on IRQ 9,
//!   SMI_CMD = 0 (always in ACPI mode: SCI_EN reads 1, no handshake), no GPE blocks,
//!   C2/C3 unsupported, CENTURY = CMOS 0x32, IA-PC boot flags LEGACY_DEVICES | 8042,
//!   reset register 0xCF9 <- 0x06 (PIIX3 RCR), fixed power button, no fixed sleep button;
//! - FACS (64 bytes, 64-byte aligned);
//! - DSDT: `\_S0` and `\_S5` = {SLP_TYP, SLP_TYP, 0, 0} with `acpi_pm::SLP_TYP_S0/S5`,
//!   `\_PIC`, and `\_SB.PCI0`: `_HID` PNP0A03, `_UID` 0 (no `_ADR`: iasl rejects both
//!   on one device) and a `_CRS` giving bus 0-255, the 0xCF8 config ports, I/O windows
//!   0-0xCF7 and 0xD00-0xFFFF, and memory windows 0xA0000-0xBFFFF and from the end of
//!   RAM to 0xFEBFFFFF. Without a PNP0A03 device Linux does not scan PCI at all once
//!   ACPI is on, and without `_CRS` windows it cannot claim the PIIX4 PM region.
//!
//! Layout: one blob to copy to guest physical `base` (64-byte aligned), tables in this
//! order, each 16-byte aligned: RSDP, FACS, RSDT, XSDT, FADT, DSDT; under 1 KiB.
//! The RSDP comes first so that with `base` in 0xE0000-0xFFFFF the kernel's scan of
//! that window finds it; the board may also pass `rsdp_addr` in boot_params
//! (`acpi_rsdp_addr`, offset 0x070, boot protocol 2.14+). `ACPI_BASE` (0xE0000) is
//! the suggested place: Linux never allocates 0xA0000-0xFFFFF, so the tables survive.

use ox86_devices::acpi_pm::{self, SCI_IRQ, SLP_TYP_S0, SLP_TYP_S5};

/// Suggested guest physical address of the blob: inside the 0xE0000-0xFFFFF window the
/// kernel scans for the RSDP.
pub const ACPI_BASE: u64 = 0xe_0000;
/// FADT RESET_REG: the PIIX3 reset control register, and the value that resets.
pub const RESET_PORT: u16 = 0xcf9;
pub const RESET_VALUE: u8 = 0x06;

const OEM_ID: &[u8; 6] = b"OX86  ";
const OEM_TABLE_ID: &[u8; 8] = b"OX86PC  ";
const CREATOR_ID: &[u8; 4] = b"OX86";

/// Where the PCI memory window above RAM ends (the I/O APIC's page follows on PCs).
const PCI_MEM_END: u32 = 0xfebf_ffff;
/// The window starts at the end of RAM, but never above this.
const PCI_MEM_START_MAX: u64 = 0xe000_0000;

/// The tables, laid out for guest physical address `base`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcpiTables {
    /// Copy these bytes to guest physical `base`.
    pub bytes: Vec<u8>,
    /// Guest physical address of the RSDP (= `base`).
    pub rsdp_addr: u64,
}

// FADT field offsets (ACPI 6.x, table 5-9).
mod fadt {
    pub const FIRMWARE_CTRL: usize = 36;
    pub const DSDT: usize = 40;
    pub const SCI_INT: usize = 46;
    pub const SMI_CMD: usize = 48;
    pub const PM1A_EVT_BLK: usize = 56;
    pub const PM1A_CNT_BLK: usize = 64;
    pub const PM_TMR_BLK: usize = 76;
    pub const PM1_EVT_LEN: usize = 88;
    pub const PM1_CNT_LEN: usize = 89;
    pub const PM_TMR_LEN: usize = 91;
    pub const P_LVL2_LAT: usize = 96;
    pub const P_LVL3_LAT: usize = 98;
    pub const CENTURY: usize = 108;
    pub const IAPC_BOOT_ARCH: usize = 109;
    pub const FLAGS: usize = 112;
    pub const RESET_REG: usize = 116;
    pub const RESET_VALUE: usize = 128;
    pub const X_DSDT: usize = 140;
    pub const X_PM1A_EVT_BLK: usize = 148;
    pub const X_PM1A_CNT_BLK: usize = 172;
    pub const X_PM_TMR_BLK: usize = 208;
    pub const LEN: usize = 244;

    // Flags.
    pub const WBINVD: u32 = 1 << 0;
    pub const PROC_C1: u32 = 1 << 2;
    pub const SLP_BUTTON: u32 = 1 << 5; // no fixed-feature sleep button
    pub const FIX_RTC: u32 = 1 << 6; // RTC wake status not in PM1_STS
    pub const RESET_REG_SUP: u32 = 1 << 10;
    // IAPC_BOOT_ARCH.
    pub const LEGACY_DEVICES: u16 = 1 << 0;
    pub const I8042: u16 = 1 << 1;
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// The byte that makes `b` sum to zero, given its current sum with that byte at 0.
fn checksum(b: &[u8]) -> u8 {
    0u8.wrapping_sub(b.iter().fold(0u8, |s, &x| s.wrapping_add(x)))
}

/// A system description table: the 36-byte header, then `body`, checksum filled in.
fn table(sig: &[u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(36 + body.len());
    t.extend_from_slice(sig);
    t.extend_from_slice(&((36 + body.len()) as u32).to_le_bytes());
    t.push(revision);
    t.push(0); // checksum, below
    t.extend_from_slice(OEM_ID);
    t.extend_from_slice(OEM_TABLE_ID);
    t.extend_from_slice(&1u32.to_le_bytes()); // OEM revision
    t.extend_from_slice(CREATOR_ID);
    t.extend_from_slice(&1u32.to_le_bytes()); // creator revision
    t.extend_from_slice(body);
    t[9] = checksum(&t);
    t
}

/// A Generic Address Structure in system I/O space, "register" form: ACPICA accesses
/// it with `bits`-wide I/O (`access` 0 = undefined, as converted legacy fields have).
fn gas_io(b: &mut [u8], at: usize, port: u16, bits: u8, access: u8) {
    b[at] = 1; // SystemIO
    b[at + 1] = bits;
    b[at + 2] = 0; // bit offset
    b[at + 3] = access;
    put64(b, at + 4, port as u64);
}

fn build_fadt(facs: u32, dsdt: u32, pm_base: u16) -> Vec<u8> {
    let mut f = vec![0u8; fadt::LEN];
    put32(&mut f, fadt::FIRMWARE_CTRL, facs);
    put32(&mut f, fadt::DSDT, dsdt);
    put16(&mut f, fadt::SCI_INT, SCI_IRQ as u16);
    put32(&mut f, fadt::SMI_CMD, 0); // always in ACPI mode
    let evt = pm_base + acpi_pm::PM1_STS;
    let cnt = pm_base + acpi_pm::PM1_CNT;
    let tmr = pm_base + acpi_pm::PM_TMR;
    put32(&mut f, fadt::PM1A_EVT_BLK, evt as u32);
    put32(&mut f, fadt::PM1A_CNT_BLK, cnt as u32);
    put32(&mut f, fadt::PM_TMR_BLK, tmr as u32);
    f[fadt::PM1_EVT_LEN] = acpi_pm::PM1_EVT_LEN;
    f[fadt::PM1_CNT_LEN] = acpi_pm::PM1_CNT_LEN;
    f[fadt::PM_TMR_LEN] = acpi_pm::PM_TMR_LEN;
    // Latencies above 100 / 1000 us say C2 / C3 are not supported.
    put16(&mut f, fadt::P_LVL2_LAT, 0x0fff);
    put16(&mut f, fadt::P_LVL3_LAT, 0x0fff);
    f[fadt::CENTURY] = 0x32;
    put16(
        &mut f,
        fadt::IAPC_BOOT_ARCH,
        fadt::LEGACY_DEVICES | fadt::I8042,
    );
    let flags = fadt::WBINVD | fadt::PROC_C1 | fadt::SLP_BUTTON | fadt::FIX_RTC;
    put32(&mut f, fadt::FLAGS, flags | fadt::RESET_REG_SUP);
    gas_io(&mut f, fadt::RESET_REG, RESET_PORT, 8, 1);
    f[fadt::RESET_VALUE] = RESET_VALUE;
    // X_FIRMWARE_CTRL stays 0: ACPI says only one of the two FACS pointers is set.
    put64(&mut f, fadt::X_DSDT, dsdt as u64);
    gas_io(
        &mut f,
        fadt::X_PM1A_EVT_BLK,
        evt,
        acpi_pm::PM1_EVT_LEN * 8,
        0,
    );
    gas_io(
        &mut f,
        fadt::X_PM1A_CNT_BLK,
        cnt,
        acpi_pm::PM1_CNT_LEN * 8,
        0,
    );
    gas_io(&mut f, fadt::X_PM_TMR_BLK, tmr, acpi_pm::PM_TMR_LEN * 8, 0);
    table(b"FACP", 3, &f[36..])
}

fn build_facs() -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[0..4].copy_from_slice(b"FACS");
    put32(&mut f, 4, 64);
    // Hardware signature, waking vectors, global lock, flags: all 0.
    f[32] = 1; // version (ACPI 2.0)
    f
}

fn build_rsdp(rsdt: u32, xsdt: u64) -> Vec<u8> {
    let mut r = vec![0u8; 36];
    r[0..8].copy_from_slice(b"RSD PTR ");
    r[9..15].copy_from_slice(OEM_ID);
    r[15] = 2; // revision: ACPI 2.0+, XSDT present
    put32(&mut r, 16, rsdt);
    put32(&mut r, 20, 36);
    put64(&mut r, 24, xsdt);
    r[8] = checksum(&r[..20]);
    r[32] = checksum(&r);
    r
}

/// Hand-assembled AML, just the opcodes this DSDT uses (ACPI 6.x chapter 20).
mod aml {
    /// A PkgLength encoding for `body` bytes following it, then the body.
    pub fn pkg(body: &[u8]) -> Vec<u8> {
        let n = body.len();
        let total = if n < 63 { n + 1 } else { n + 2 };
        assert!(total <= 0xfff, "AML package too long for this encoder");
        let mut v = if total < 64 {
            vec![total as u8]
        } else {
            vec![0x40 | (total & 0xf) as u8, (total >> 4) as u8]
        };
        v.extend_from_slice(body);
        v
    }

    /// A NameString: one name segment, optionally rooted ("\\_SB_"); short names are
    /// padded with '_'.
    pub fn name_string(s: &str) -> Vec<u8> {
        let (root, seg) = match s.strip_prefix('\\') {
            Some(seg) => (true, seg),
            None => (false, s),
        };
        assert!(!seg.is_empty() && seg.len() <= 4, "one name segment: {s}");
        let mut v = Vec::new();
        if root {
            v.push(b'\\');
        }
        v.extend_from_slice(seg.as_bytes());
        v.resize(v.len() + 4 - seg.len(), b'_');
        v
    }

    /// An integer in its shortest encoding.
    pub fn int(x: u64) -> Vec<u8> {
        match x {
            0 => vec![0x00],
            1 => vec![0x01],
            2..=0xff => vec![0x0a, x as u8],
            0x100..=0xffff => [&[0x0b][..], &(x as u16).to_le_bytes()].concat(),
            0x1_0000..=0xffff_ffff => [&[0x0c][..], &(x as u32).to_le_bytes()].concat(),
            _ => [&[0x0e][..], &x.to_le_bytes()].concat(),
        }
    }

    /// A compressed EISA ID ("PNP0A03") as a DWordConst, as iasl's EisaId() makes it.
    pub fn eisa_id(id: &str) -> Vec<u8> {
        let b = id.as_bytes();
        assert!(b.len() == 7, "EISA ID: three letters, four hex digits");
        let c = |i: usize| ((b[i] - b'@') & 0x1f) as u16;
        let vendor = (c(0) << 10 | c(1) << 5 | c(2)).to_be_bytes();
        let product = u16::from_str_radix(&id[3..], 16).expect("hex product id");
        let p = product.to_be_bytes();
        vec![0x0c, vendor[0], vendor[1], p[0], p[1]]
    }

    /// Name(name, object)
    pub fn name(n: &str, obj: &[u8]) -> Vec<u8> {
        [&[0x08][..], &name_string(n), obj].concat()
    }

    /// Scope(name) { body }
    pub fn scope(n: &str, body: &[u8]) -> Vec<u8> {
        [&[0x10][..], &pkg(&[&name_string(n)[..], body].concat())].concat()
    }

    /// Device(name) { body }
    pub fn device(n: &str, body: &[u8]) -> Vec<u8> {
        [
            &[0x5b, 0x82][..],
            &pkg(&[&name_string(n)[..], body].concat()),
        ]
        .concat()
    }

    /// Method(name, args, NotSerialized) { body }
    pub fn method(n: &str, args: u8, body: &[u8]) -> Vec<u8> {
        let head = [&name_string(n)[..], &[args & 7]].concat();
        [&[0x14][..], &pkg(&[&head[..], body].concat())].concat()
    }

    /// Package() { elements }
    pub fn package(elements: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![elements.len() as u8];
        for e in elements {
            body.extend_from_slice(e);
        }
        [&[0x12][..], &pkg(&body)].concat()
    }

    /// Buffer() { bytes }
    pub fn buffer(bytes: &[u8]) -> Vec<u8> {
        let body = [&int_size(bytes.len())[..], bytes].concat();
        [&[0x11][..], &pkg(&body)].concat()
    }

    /// The buffer size as iasl writes it (always with a prefix, even for 0 and 1).
    fn int_size(n: usize) -> Vec<u8> {
        match n {
            0..=0xff => vec![0x0a, n as u8],
            _ => [&[0x0b][..], &(n as u16).to_le_bytes()].concat(),
        }
    }

    /// Store(Arg<n>, name) -- in ASL+: name = Arg<n>
    pub fn store_arg(arg: u8, n: &str) -> Vec<u8> {
        [&[0x70, 0x68 + arg][..], &name_string(n)].concat()
    }
}

/// Resource descriptors for a ResourceTemplate (ACPI 6.x section 6.4).
mod res {
    /// WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, ...)
    pub fn word_bus(min: u16, max: u16) -> Vec<u8> {
        word_space(2, 0, min, max)
    }

    /// WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, ...)
    pub fn word_io(min: u16, max: u16) -> Vec<u8> {
        word_space(1, 3, min, max)
    }

    fn word_space(kind: u8, type_flags: u8, min: u16, max: u16) -> Vec<u8> {
        let mut v = vec![0x88, 13, 0, kind, 0x0c, type_flags];
        for x in [0, min, max, 0, max - min + 1] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v
    }

    /// DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable,
    /// ReadWrite, ...)
    pub fn dword_memory(min: u32, max: u32) -> Vec<u8> {
        let mut v = vec![0x87, 23, 0, 0, 0x0c, 0x03];
        for x in [0, min, max, 0, max - min + 1] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v
    }

    /// IO(Decode16, min, max, alignment, length)
    pub fn io(min: u16, max: u16, align: u8, len: u8) -> Vec<u8> {
        let mut v = vec![0x47, 0x01];
        v.extend_from_slice(&min.to_le_bytes());
        v.extend_from_slice(&max.to_le_bytes());
        v.extend_from_slice(&[align, len]);
        v
    }

    /// EndTag, checksum 0 ("ignore"), as iasl writes it.
    pub fn end() -> Vec<u8> {
        vec![0x79, 0x00]
    }
}

/// The DSDT's AML (after its header).
fn dsdt_aml(ram_size: u64) -> Vec<u8> {
    use aml::*;
    let state = |typ: u8| package(&[int(typ as u64), int(typ as u64), int(0), int(0)]);
    let mem_start = (ram_size.min(PCI_MEM_START_MAX) + 0xf_ffff) & !0xf_ffff;
    let crs = [
        res::word_bus(0, 0xff),
        res::io(0xcf8, 0xcf8, 1, 8),
        res::word_io(0, 0xcf7),
        res::word_io(0xd00, 0xffff),
        res::dword_memory(0xa_0000, 0xb_ffff),
        res::dword_memory(mem_start as u32, PCI_MEM_END),
        res::end(),
    ]
    .concat();
    let pci0 = [
        name("_HID", &eisa_id("PNP0A03")),
        name("_UID", &int(0)),
        name("_CRS", &buffer(&crs)),
    ]
    .concat();
    [
        // \_PIC(mode): the OS says which interrupt model it uses; nothing depends on it
        // (no _PRT), but Linux calls it and the value is kept as firmware would.
        name("PICF", &int(0)),
        method("_PIC", 1, &store_arg(0, "PICF")),
        // Sleep states: SLP_TYPa, SLP_TYPb, reserved, reserved. S0 and S5 only: the
        // PM block has nothing to suspend to.
        name("_S0", &state(SLP_TYP_S0)),
        name("_S5", &state(SLP_TYP_S5)),
        // "_SB" rather than "\_SB": the same object, seen from the root (iasl's form).
        scope("_SB", &device("PCI0", &pci0)),
    ]
    .concat()
}

/// Build the tables for guest physical `base` (64-byte aligned, below 4 GiB), the ACPI
/// PM block at I/O `pm_base` (normally `acpi_pm::PM_BASE`, what `Pci::pm_io_base`
/// reports) and `ram_size` bytes of RAM (the PCI memory window starts above it).
pub fn build(base: u64, pm_base: u16, ram_size: u64) -> AcpiTables {
    assert!(
        base.is_multiple_of(64) && base < 0xffff_0000,
        "ACPI tables need a 64-byte aligned base below 4 GiB, not {base:#x}"
    );
    let facs = build_facs();
    let dsdt = table(b"DSDT", 2, &dsdt_aml(ram_size));
    // Offsets: RSDP, FACS, RSDT, XSDT, FADT, DSDT, each 16-byte aligned (FACS 64).
    let align = |x: usize, a: usize| x.div_ceil(a) * a;
    let o_facs = align(36, 64);
    let o_rsdt = align(o_facs + facs.len(), 16);
    let o_xsdt = align(o_rsdt + 36 + 4, 16);
    let o_fadt = align(o_xsdt + 36 + 8, 16);
    let o_dsdt = align(o_fadt + fadt::LEN, 16);
    let at = |o: usize| base + o as u64;

    let fadt = build_fadt(at(o_facs) as u32, at(o_dsdt) as u32, pm_base);
    let rsdt = table(b"RSDT", 1, &(at(o_fadt) as u32).to_le_bytes());
    let xsdt = table(b"XSDT", 1, &at(o_fadt).to_le_bytes());
    let rsdp = build_rsdp(at(o_rsdt) as u32, at(o_xsdt));

    let mut bytes = vec![0u8; o_dsdt + dsdt.len()];
    for (o, t) in [
        (0, &rsdp),
        (o_facs, &facs),
        (o_rsdt, &rsdt),
        (o_xsdt, &xsdt),
        (o_fadt, &fadt),
        (o_dsdt, &dsdt),
    ] {
        bytes[o..o + t.len()].copy_from_slice(t);
    }
    AcpiTables {
        bytes,
        rsdp_addr: base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ox86_devices::acpi_pm::PM_BASE;

    const RAM: u64 = 256 << 20;

    fn u16_at(b: &[u8], o: usize) -> u16 {
        u16::from_le_bytes([b[o], b[o + 1]])
    }
    fn u32_at(b: &[u8], o: usize) -> u32 {
        u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], o: usize) -> u64 {
        u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
    }
    fn sum(b: &[u8]) -> u8 {
        b.iter().fold(0u8, |s, &x| s.wrapping_add(x))
    }

    /// The tables by signature, found by following pointers from the RSDP as an OS does.
    struct Found {
        rsdp: Vec<u8>,
        rsdt: Vec<u8>,
        xsdt: Vec<u8>,
        fadt: Vec<u8>,
        facs: Vec<u8>,
        dsdt: Vec<u8>,
    }

    fn walk(t: &AcpiTables, base: u64) -> Found {
        let b = &t.bytes;
        let at = |pa: u64| (pa - base) as usize;
        let tbl = |pa: u64| {
            let o = at(pa);
            b[o..o + u32_at(b, o + 4) as usize].to_vec()
        };
        let rsdp = b[at(t.rsdp_addr)..at(t.rsdp_addr) + 36].to_vec();
        let rsdt = tbl(u32_at(&rsdp, 16) as u64);
        let xsdt = tbl(u64_at(&rsdp, 24));
        let fadt = tbl(u64_at(&xsdt, 36));
        let facs = tbl(u32_at(&fadt, fadt::FIRMWARE_CTRL) as u64);
        let dsdt = tbl(u64_at(&fadt, fadt::X_DSDT));
        Found {
            rsdp,
            rsdt,
            xsdt,
            fadt,
            facs,
            dsdt,
        }
    }

    #[test]
    fn rsdp_is_found_where_linux_scans_and_checksums_hold() {
        let t = build(ACPI_BASE, PM_BASE, RAM);
        assert_eq!(t.rsdp_addr, ACPI_BASE);
        assert!((0xe_0000..0x10_0000).contains(&t.rsdp_addr) && t.rsdp_addr.is_multiple_of(16));
        assert!(t.bytes.len() < 0x400, "{} bytes", t.bytes.len());
        let f = walk(&t, ACPI_BASE);
        assert_eq!(&f.rsdp[0..8], b"RSD PTR ");
        assert_eq!(sum(&f.rsdp[..20]), 0, "ACPI 1.0 checksum");
        assert_eq!(sum(&f.rsdp), 0, "extended checksum");
        assert_eq!((f.rsdp[15], u32_at(&f.rsdp, 20)), (2, 36));
        for (sig, tb, rev, len) in [
            (b"RSDT", &f.rsdt, 1, 40),
            (b"XSDT", &f.xsdt, 1, 44),
            (b"FACP", &f.fadt, 3, 244),
            (b"DSDT", &f.dsdt, 2, f.dsdt.len()),
        ] {
            assert_eq!(&tb[0..4], sig);
            assert_eq!((tb[8], tb.len()), (rev, len), "{:?}", sig);
            assert_eq!(sum(tb), 0, "{:?} checksum", sig);
            assert_eq!(&tb[10..16], OEM_ID);
        }
        assert_eq!(
            u32_at(&f.rsdt, 36) as u64,
            u64_at(&f.xsdt, 36),
            "RSDT = XSDT"
        );
    }

    #[test]
    fn facs_is_aligned_and_versioned() {
        let t = build(ACPI_BASE, PM_BASE, RAM);
        let f = walk(&t, ACPI_BASE);
        let pa = u32_at(&f.fadt, fadt::FIRMWARE_CTRL);
        assert!(pa.is_multiple_of(64));
        assert_eq!(&f.facs[0..4], b"FACS");
        assert_eq!((f.facs.len(), f.facs[32]), (64, 1));
        assert_eq!(u64_at(&f.fadt, 132), 0, "X_FIRMWARE_CTRL unused");
    }

    #[test]
    fn fadt_fields_at_spec_offsets() {
        let pm = 0xb000;
        let t = build(0xf_0000, pm, RAM);
        let f = walk(&t, 0xf_0000);
        let a = &f.fadt;
        assert_eq!(u16_at(a, 46), 9, "SCI_INT");
        assert_eq!(u32_at(a, 48), 0, "SMI_CMD: always ACPI mode");
        assert_eq!(u32_at(a, 56), pm as u32, "PM1a_EVT_BLK");
        assert_eq!(u32_at(a, 60), 0, "PM1b_EVT_BLK");
        assert_eq!(u32_at(a, 64), pm as u32 + 4, "PM1a_CNT_BLK");
        assert_eq!(u32_at(a, 72), 0, "PM2_CNT_BLK");
        assert_eq!(u32_at(a, 76), pm as u32 + 8, "PM_TMR_BLK");
        assert_eq!(u32_at(a, 80), 0, "GPE0_BLK");
        assert_eq!(&a[88..94], &[4, 2, 0, 4, 0, 0], "block lengths");
        assert!(u16_at(a, 96) > 100 && u16_at(a, 98) > 1000, "no C2/C3");
        assert_eq!(a[108], 0x32, "CENTURY");
        assert_eq!(u16_at(a, 109), 3, "IAPC_BOOT_ARCH: legacy devices, 8042");
        let flags = u32_at(a, 112);
        assert_eq!(flags & (1 << 8), 0, "24-bit timer (TMR_VAL_EXT clear)");
        assert_eq!(flags & (1 << 4), 0, "fixed power button");
        assert_eq!(flags & (1 << 20), 0, "not hardware-reduced");
        assert_ne!(flags & (1 << 10), 0, "RESET_REG_SUP");
        assert_eq!(&a[116..120], &[1, 8, 0, 1], "RESET_REG: SystemIO, 8 bits");
        assert_eq!((u64_at(a, 120), a[128]), (0xcf9, 0x06));
        assert_eq!(u64_at(a, 140), u32_at(a, 40) as u64, "X_DSDT = DSDT");
        let gas = |o: usize| (a[o], a[o + 1], a[o + 2], u64_at(a, o + 4));
        assert_eq!(gas(148), (1, 32, 0, pm as u64), "X_PM1a_EVT_BLK");
        assert_eq!(gas(172), (1, 16, 0, pm as u64 + 4), "X_PM1a_CNT_BLK");
        assert_eq!(gas(208), (1, 32, 0, pm as u64 + 8), "X_PM_TMR_BLK");
        assert_eq!(gas(220), (0, 0, 0, 0), "X_GPE0_BLK");
    }

    #[test]
    fn dsdt_s5_matches_the_pm_block() {
        let t = build(ACPI_BASE, PM_BASE, RAM);
        let d = walk(&t, ACPI_BASE).dsdt;
        for (state, slp_typ) in [(b"_S0_", SLP_TYP_S0), (b"_S5_", SLP_TYP_S5)] {
            // Name(_Sx, Package(4) {SLP_TYPa, SLP_TYPb, 0, 0})
            let typ = aml::int(slp_typ as u64);
            let len = 2 + 2 * typ.len() as u8 + 2;
            let want = [&[0x08][..], state, &[0x12, len, 4], &typ, &typ, &[0, 0]].concat();
            assert!(d.windows(want.len()).any(|w| w == want), "{want:02x?}");
        }
        assert!(d.windows(4).any(|w| w == b"PCI0"));
        assert!(
            d.windows(5).any(|w| w == [0x0c, 0x41, 0xd0, 0x0a, 0x03]),
            "PNP0A03"
        );
    }

    #[test]
    fn aml_encodings() {
        assert_eq!(aml::pkg(&[0; 62]).len(), 63);
        assert_eq!(aml::pkg(&[0; 62])[0], 63);
        // 63 body bytes need a two-byte PkgLength: 65 = 0x41 -> 0x41, 0x04.
        assert_eq!(&aml::pkg(&[0; 63])[..2], &[0x41, 0x04]);
        assert_eq!(aml::int(0x1234), [0x0b, 0x34, 0x12]);
        assert_eq!(aml::eisa_id("PNP0A03"), [0x0c, 0x41, 0xd0, 0x0a, 0x03]);
        assert_eq!(aml::name_string("\\_SB"), b"\\_SB_");
    }

    /// Where iasl/acpiexec write their files: a fresh directory per test process.
    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("ox86-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Run an ACPICA tool in `dir`; its combined output. Fails loudly when the tool is
    /// missing: acpica-tools is a test dependency (scripts/deps.sh installs it).
    fn acpica(dir: &std::path::Path, tool: &str, args: &[&str]) -> String {
        let out = std::process::Command::new(tool)
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run {tool} ({e}): install acpica-tools (scripts/deps.sh)")
            });
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{tool} {args:?} failed:\n{text}");
        text
    }

    /// The ACPICA tools are the reference: iasl disassembles every table without a
    /// complaint and reassembles it to the same bytes (except the checksum and the
    /// compiler ID/revision, which iasl rewrites); iasl's own build of an RSDP with our
    /// values equals ours, checksums included; acpiexec, which validates the FADT as
    /// Linux's ACPICA does, loads FADT + FACS + DSDT, evaluates `\_SB.PCI0._CRS` and
    /// runs the S5 sleep sequence with the SLP_TYP `acpi_pm` powers off on.
    #[test]
    fn acpica_tools_accept_the_tables() {
        let t = build(ACPI_BASE, PM_BASE, RAM);
        let f = walk(&t, ACPI_BASE);
        let dir = scratch("acpi");
        for (name, tb) in [
            ("facp", &f.fadt),
            ("facs", &f.facs),
            ("rsdt", &f.rsdt),
            ("xsdt", &f.xsdt),
            ("dsdt", &f.dsdt),
        ] {
            let dat = format!("{name}.dat");
            std::fs::write(dir.join(&dat), tb).unwrap();
            let out = acpica(&dir, "iasl", &["-d", &dat]);
            let dsl = std::fs::read_to_string(dir.join(format!("{name}.dsl"))).unwrap();
            for bad in ["Warning", "Error", "Incorrect", "Invalid"] {
                assert!(!out.contains(bad), "iasl -d {dat}: {bad}:\n{out}");
                assert!(!dsl.contains(bad), "{name}.dsl: {bad}:\n{dsl}");
            }
            let out = acpica(&dir, "iasl", &[&format!("{name}.dsl")]);
            assert!(out.contains("0 Errors, 0 Warnings"), "{name}: {out}");
            let aml = std::fs::read(dir.join(format!("{name}.aml"))).unwrap();
            let strip = |b: &[u8]| {
                let mut b = b.to_vec();
                if b.len() >= 36 && name != "facs" {
                    b[9] = 0;
                    b[28..36].fill(0);
                }
                b
            };
            assert_eq!(
                strip(&aml),
                strip(tb),
                "{name}: iasl reassembles it differently"
            );
        }
        // iasl cannot read an RSDP from a binary file; have it compile one instead.
        let rsdp_src = format!(
            "[0008] Signature : \"RSD PTR \"\n\
             [0001] Checksum : 00\n\
             [0006] Oem ID : \"OX86  \"\n\
             [0001] Revision : 02\n\
             [0004] RSDT Address : {:08X}\n\
             [0004] Length : 00000024\n\
             [0008] XSDT Address : {:016X}\n\
             [0001] Extended Checksum : 00\n\
             [0003] Reserved : 000000\n",
            u32_at(&f.rsdp, 16),
            u64_at(&f.rsdp, 24)
        );
        std::fs::write(dir.join("rsdp.dsl"), rsdp_src).unwrap();
        acpica(&dir, "iasl", &["rsdp.dsl"]);
        assert_eq!(std::fs::read(dir.join("rsdp.aml")).unwrap(), f.rsdp, "RSDP");

        // (acpiexec's "sleep 5" also works, but stalls 10 s as ACPICA does when S5
        // does not take effect.)
        let out = acpica(
            &dir,
            "acpiexec",
            &[
                "-b",
                "resources \\_SB.PCI0; evaluate \\_S0; evaluate \\_S5",
                "facp.dat",
                "facs.dat",
                "dsdt.dat",
            ],
        );
        for bad in ["Warning", "Error", "Incorrect", "Invalid"] {
            assert!(!out.contains(bad), "acpiexec: {bad}:\n{out}");
        }
        // The integers of the package acpiexec printed for `\\name`.
        let package = |name: &str| -> Vec<u64> {
            let head = format!("Evaluating \\{name}\n");
            let rest = out.split_once(&head).map_or("", |(_, r)| r);
            rest.lines()
                .skip(1)
                .take_while(|l| !l.is_empty())
                .filter_map(|l| l.trim().strip_prefix("[Integer] = "))
                .map(|v| u64::from_str_radix(v, 16).unwrap())
                .collect()
        };
        for (name, typ) in [("_S0", SLP_TYP_S0), ("_S5", SLP_TYP_S5)] {
            let typ = typ as u64;
            assert_eq!(package(name), [typ, typ, 0, 0], "{name}:\n{out}");
        }
        for want in [
            "Address Maximum : 0CF7".to_string(),
            "Address Maximum : FEBFFFFF".into(),
            format!("Address Minimum : {RAM:08X}"),
        ] {
            assert!(out.contains(&want), "acpiexec: no {want:?}:\n{out}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
