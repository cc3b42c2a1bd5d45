//! The Linux x86 boot protocol (Documentation/arch/x86/boot.rst), 32-bit entry: parse a
//! bzImage's setup header, place the protected-mode kernel at 1 MiB, the initrd below
//! `initrd_addr_max`, the command line, and a boot_params "zero page" with an E820 map,
//! then describe the CPU state the 32-bit boot protocol asks for.

/// Where the pieces go in guest memory.
pub const BOOT_PARAMS: u64 = 0x1_0000;
pub const CMDLINE: u64 = 0x2_0000;
pub const GDT: u64 = 0x3_0000;
pub const KERNEL: u64 = 0x10_0000;

/// GDT selectors the 32-bit boot protocol requires: __BOOT_CS and __BOOT_DS.
pub const BOOT_CS: u16 = 0x10;
pub const BOOT_DS: u16 = 0x18;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BootError {
    #[error("kernel image is {0} bytes: too short to hold a Linux setup header")]
    Truncated(usize),
    #[error("kernel image is truncated: {len} bytes, its header says {want}")]
    TruncatedKernel { len: usize, want: usize },
    #[error("not a Linux bzImage (no boot signature / HdrS header)")]
    NotLinux,
    #[error("boot protocol {0:#06x} is too old (2.02 or later is needed)")]
    TooOld(u16),
    #[error("kernel image says {setup} setup sectors but is only {len} bytes")]
    BadSetup { setup: usize, len: usize },
    #[error("not a bzImage: the kernel must load high (LOADED_HIGH)")]
    NotHigh,
    #[error("kernel of {kernel} bytes does not fit in {ram} bytes of RAM")]
    KernelTooBig { kernel: usize, ram: u64 },
    #[error("initrd of {size} bytes does not fit below {max:#x} with {ram} bytes of RAM")]
    InitrdTooBig { size: usize, max: u64, ram: u64 },
    #[error("command line is {len} bytes; this kernel takes at most {max}")]
    CmdlineTooLong { len: usize, max: usize },
}

/// The setup header fields ox86 uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupHeader {
    pub setup_sects: usize,
    pub version: u16,
    pub loadflags: u8,
    pub initrd_addr_max: u32,
    pub cmdline_size: u32,
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

pub fn parse_header(img: &[u8]) -> Result<SetupHeader, BootError> {
    if img.len() < 0x250 {
        return Err(BootError::Truncated(img.len()));
    }
    if u16_at(img, 0x1fe) != 0xaa55 || &img[0x202..0x206] != b"HdrS" {
        return Err(BootError::NotLinux);
    }
    let version = u16_at(img, 0x206);
    if version < 0x0202 {
        return Err(BootError::TooOld(version));
    }
    let setup_sects = match img[0x1f1] {
        0 => 4,
        n => n as usize,
    };
    if (setup_sects + 1) * 512 >= img.len() {
        return Err(BootError::BadSetup {
            setup: setup_sects,
            len: img.len(),
        });
    }
    // syssize (protocol 2.04+): the protected-mode part in 16-byte paragraphs.
    let kernel_len = (img.len() - (setup_sects + 1) * 512) as u64;
    let syssize = u32_at(img, 0x1f4) as u64 * 16;
    if version >= 0x0204 && syssize > kernel_len {
        return Err(BootError::TruncatedKernel {
            len: img.len(),
            want: (setup_sects + 1) * 512 + syssize as usize,
        });
    }
    let loadflags = img[0x211];
    if loadflags & 1 == 0 {
        return Err(BootError::NotHigh);
    }
    let initrd_addr_max = if version >= 0x0203 {
        u32_at(img, 0x22c)
    } else {
        0x37ff_ffff
    };
    let cmdline_size = if version >= 0x0206 {
        u32_at(img, 0x238)
    } else {
        255
    };
    Ok(SetupHeader {
        setup_sects,
        version,
        loadflags,
        initrd_addr_max,
        cmdline_size,
    })
}

/// One E820 entry (type 1 usable RAM, 2 reserved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct E820 {
    pub addr: u64,
    pub size: u64,
    pub kind: u32,
}

/// The memory map ox86 reports: conventional RAM, the legacy hole, RAM above 1 MiB.
pub fn e820_map(ram: u64) -> Vec<E820> {
    vec![
        E820 {
            addr: 0,
            size: 0x9_fc00,
            kind: 1,
        },
        E820 {
            addr: 0x9_fc00,
            size: 0x400,
            kind: 2,
        },
        // The BIOS area: ACPI tables at 0xE0000, firmware above.
        E820 {
            addr: 0xe_0000,
            size: 0x2_0000,
            kind: 2,
        },
        E820 {
            addr: KERNEL,
            size: ram - KERNEL,
            kind: 1,
        },
    ]
}

/// Everything to write into guest RAM, and the entry state.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct BootImage {
    /// (physical address, bytes) to copy into RAM.
    pub writes: Vec<(u64, Vec<u8>)>,
    pub entry: u32,
    /// ESI at entry: the boot_params address.
    pub esi: u32,
    pub gdt_base: u32,
    pub gdt_limit: u16,
}

impl BootImage {
    /// Tell the kernel where the ACPI RSDP is (boot_params.acpi_rsdp_addr, protocol 2.14;
    /// older kernels find it by scanning 0xE0000-0xFFFFF).
    pub fn set_rsdp(&mut self, addr: u64) {
        if let Some((_, bp)) = self.writes.iter_mut().find(|(a, _)| *a == BOOT_PARAMS) {
            bp[0x070..0x078].copy_from_slice(&addr.to_le_bytes());
        }
    }
}

/// Lay out a kernel (and initrd, command line) for a machine with `ram` bytes.
pub fn prepare(
    img: &[u8],
    initrd: Option<&[u8]>,
    cmdline: &str,
    ram: u64,
) -> Result<BootImage, BootError> {
    let h = parse_header(img)?;
    let setup_len = (h.setup_sects + 1) * 512;
    let kernel = &img[setup_len..];
    if KERNEL + kernel.len() as u64 > ram {
        return Err(BootError::KernelTooBig {
            kernel: kernel.len(),
            ram,
        });
    }
    if cmdline.len() > h.cmdline_size as usize {
        return Err(BootError::CmdlineTooLong {
            len: cmdline.len(),
            max: h.cmdline_size as usize,
        });
    }

    // The zero page: the setup header as the image has it, then our fields.
    let mut bp = vec![0u8; 4096];
    let hdr_end = (0x202 + img[0x201] as usize).min(setup_len).min(0x280);
    bp[0x1f1..hdr_end].copy_from_slice(&img[0x1f1..hdr_end]);
    bp[0x210] = 0xff; // type_of_loader: undefined loader
    bp[0x211] |= 0x80; // CAN_USE_HEAP
    bp[0x224..0x226].copy_from_slice(&0xde00u16.to_le_bytes()); // heap_end_ptr
    bp[0x228..0x22c].copy_from_slice(&(CMDLINE as u32).to_le_bytes()); // cmd_line_ptr
    let mut writes = Vec::new();
    if let Some(rd) = initrd {
        let max = (h.initrd_addr_max as u64).min(ram - 1);
        let top = (max + 1) & !0xfff;
        let at = top.checked_sub(rd.len() as u64).map(|a| a & !0xfff);
        let kernel_end = KERNEL + kernel.len() as u64;
        let at = at
            .filter(|&a| a >= kernel_end)
            .ok_or(BootError::InitrdTooBig {
                size: rd.len(),
                max: h.initrd_addr_max as u64,
                ram,
            })?;
        bp[0x218..0x21c].copy_from_slice(&(at as u32).to_le_bytes()); // ramdisk_image
        bp[0x21c..0x220].copy_from_slice(&(rd.len() as u32).to_le_bytes()); // ramdisk_size
        writes.push((at, rd.to_vec()));
    }
    // E820 table.
    let map = e820_map(ram);
    bp[0x1e8] = map.len() as u8;
    for (i, e) in map.iter().enumerate() {
        let o = 0x2d0 + 20 * i;
        bp[o..o + 8].copy_from_slice(&e.addr.to_le_bytes());
        bp[o + 8..o + 16].copy_from_slice(&e.size.to_le_bytes());
        bp[o + 16..o + 20].copy_from_slice(&e.kind.to_le_bytes());
    }
    // Legacy memory sizes: ext_mem_k (KiB above 1 MiB, 16 bits) and alt_mem_k.
    let ext_k = (ram - KERNEL) / 1024;
    bp[0x002..0x004].copy_from_slice(&(ext_k.min(0xffff) as u16).to_le_bytes());
    bp[0x1e0..0x1e4].copy_from_slice(&(ext_k as u32).to_le_bytes());

    let mut cmd = cmdline.as_bytes().to_vec();
    cmd.push(0);
    // Flat 4 GiB code (0x10) and data (0x18) descriptors.
    let mut gdt = vec![0u8; 32];
    gdt[16..24].copy_from_slice(&0x00cf_9a00_0000_ffffu64.to_le_bytes());
    gdt[24..32].copy_from_slice(&0x00cf_9200_0000_ffffu64.to_le_bytes());

    writes.push((KERNEL, kernel.to_vec()));
    writes.push((BOOT_PARAMS, bp));
    writes.push((CMDLINE, cmd));
    writes.push((GDT, gdt));
    Ok(BootImage {
        writes,
        entry: KERNEL as u32,
        esi: BOOT_PARAMS as u32,
        gdt_base: GDT as u32,
        gdt_limit: 31,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal image with a valid setup header (protocol 2.15, 2 setup sectors).
    fn fake_kernel(kernel_len: usize) -> Vec<u8> {
        let mut img = vec![0u8; 3 * 512 + kernel_len];
        img[0x1f1] = 2;
        img[0x1fe..0x200].copy_from_slice(&0xaa55u16.to_le_bytes());
        img[0x201] = 0x6a; // header length - 0x202 ... through 0x26c
        img[0x202..0x206].copy_from_slice(b"HdrS");
        img[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        img[0x211] = 1; // LOADED_HIGH
        img[0x22c..0x230].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        img[0x238..0x23c].copy_from_slice(&2047u32.to_le_bytes());
        img[3 * 512] = 0xfc; // first kernel byte
        img
    }

    #[test]
    fn header_fields() {
        let h = parse_header(&fake_kernel(4096)).unwrap();
        assert_eq!(
            (h.setup_sects, h.version, h.cmdline_size),
            (2, 0x020f, 2047)
        );
    }

    #[test]
    fn layout() {
        let ram = 64 << 20;
        let b = prepare(&fake_kernel(8192), Some(&[7; 5000]), "console=ttyS0", ram).unwrap();
        let find = |addr: u64| {
            b.writes
                .iter()
                .find(|(a, _)| *a == addr)
                .map(|(_, d)| d.clone())
        };
        assert_eq!(find(KERNEL).unwrap()[0], 0xfc);
        let bp = find(BOOT_PARAMS).unwrap();
        let rd_at = u32::from_le_bytes(bp[0x218..0x21c].try_into().unwrap()) as u64;
        assert_eq!(rd_at % 4096, 0);
        assert!(rd_at + 5000 <= ram && rd_at >= KERNEL + 8192);
        assert_eq!(find(rd_at).unwrap().len(), 5000);
        assert_eq!(bp[0x1e8], 4, "E820 entries");
        assert_eq!(&find(CMDLINE).unwrap()[..], b"console=ttyS0\0");
        assert_eq!(
            &bp[0x202..0x206],
            b"HdrS",
            "header copied into the zero page"
        );
        assert_eq!(b.esi, BOOT_PARAMS as u32);
    }

    #[test]
    fn bad_images_say_why() {
        assert_eq!(parse_header(&[0; 100]), Err(BootError::Truncated(100)));
        assert_eq!(parse_header(&[0; 4096]), Err(BootError::NotLinux));
        let mut old = fake_kernel(100);
        old[0x206] = 0x01;
        old[0x207] = 0x02;
        assert_eq!(parse_header(&old), Err(BootError::TooOld(0x0201)));
        let big = fake_kernel(100);
        assert!(matches!(
            prepare(&big, Some(&vec![0; 8 << 20]), "", 4 << 20),
            Err(BootError::InitrdTooBig { .. })
        ));
        assert!(matches!(
            prepare(&big, None, &"x".repeat(3000), 64 << 20),
            Err(BootError::CmdlineTooLong { .. })
        ));
    }
}
