//! Multiboot v1 (Multiboot Specification 0.6.96): find a kernel's Multiboot header, load
//! its ELF32 segments at their physical addresses (or its image through the header's
//! "a.out kludge" addresses), place the modules page-aligned above it, and build the
//! information structure (memory sizes, the E820 map Linux gets, command lines, modules,
//! boot loader name) the kernel finds through EBX.
//!
//! Everything ox86 writes for the loader lives in one block below 640 KiB: a flat GDT,
//! the information structure, the memory map, the module list and the strings.

use super::bzimage::{e820_map, BOOT_CS, BOOT_DS, E820};

/// The magic in a kernel's Multiboot header.
pub const HEADER_MAGIC: u32 = 0x1bad_b002;
/// The magic the loader leaves in EAX.
pub const LOADER_MAGIC: u32 = 0x2bad_b002;
/// The header must sit 4-byte aligned in the first 8 KiB of the image.
const SEARCH_LEN: usize = 8192;

/// Header flags: modules page-aligned, memory information, video mode, a.out kludge.
const FLAG_PAGE_ALIGN: u32 = 1 << 0;
const FLAG_MEMORY: u32 = 1 << 1;
const FLAG_VIDEO: u32 = 1 << 2;
const FLAG_AOUT: u32 = 1 << 16;
/// Bits 0-15 are requirements: a loader must refuse a kernel that sets one it lacks.
const REQUIRED_MASK: u32 = 0xffff;
const SUPPORTED: u32 = FLAG_PAGE_ALIGN | FLAG_MEMORY;

/// Information structure flags ox86 sets: mem_*, cmdline, mods_*, mmap_*, loader name.
const INFO_MEMORY: u32 = 1 << 0;
const INFO_CMDLINE: u32 = 1 << 2;
const INFO_MODS: u32 = 1 << 3;
const INFO_MMAP: u32 = 1 << 6;
const INFO_LOADER_NAME: u32 = 1 << 9;

/// The loader's block: GDT first, then the information structure and what it points to.
pub const INFO_BLOCK: u64 = 0x1_0000;
/// The block ends below the EBDA (0x9FC00).
const INFO_BLOCK_MAX: usize = 0x8_0000;
const GDT_LEN: usize = 32;
/// The information structure (through the VBE fields of 0.6.96).
const INFO_LEN: usize = 88;
/// Kernels load at or above 1 MiB: below is the loader's block, the EBDA, VGA and BIOS.
const LOW_RESERVED_END: u64 = 0x10_0000;
const PAGE: u64 = 4096;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MultibootError {
    #[error("no Multiboot header (magic 0x1BADB002 with a valid checksum) in the first 8 KiB")]
    NoHeader,
    #[error("this Multiboot kernel requires {0}, which ox86 does not provide")]
    Unsupported(&'static str),
    #[error(
        "Multiboot kernel is not an ELF32 image and does not set the a.out kludge (header flag 16)"
    )]
    NotElf,
    #[error("bad ELF32 kernel: {0}")]
    BadElf(&'static str),
    #[error("ELF32 kernel is truncated: {what} ends at byte {end}, the file has {len}")]
    TruncatedElf {
        what: &'static str,
        end: u64,
        len: usize,
    },
    #[error("bad Multiboot a.out kludge addresses: {0}")]
    BadAout(&'static str),
    #[error("kernel is truncated: its Multiboot header asks to load {want} bytes, the file has {have} after the load offset")]
    TruncatedAout { want: u64, have: u64 },
    #[error("kernel segment {start:#x}-{end:#x} overlaps the reserved area below 1 MiB")]
    LowSegment { start: u64, end: u64 },
    #[error("kernel segment {start:#x}-{end:#x} lies outside the {ram} bytes of RAM")]
    SegmentOutsideRam { start: u64, end: u64, ram: u64 },
    #[error("kernel of {size} bytes does not fit in {ram} bytes of RAM")]
    KernelTooBig { size: u64, ram: u64 },
    #[error(
        "modules of {size} bytes do not fit above the kernel (at {at:#x}) in {ram} bytes of RAM"
    )]
    ModulesTooBig { size: u64, at: u64, ram: u64 },
    #[error(
        "the command line and module strings need {len} bytes; at most {max} fit below 640 KiB"
    )]
    InfoTooBig { len: usize, max: usize },
}

/// A boot module (QEMU's -initrd "FILE ARGS,FILE2"): its contents and its string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    pub data: Vec<u8>,
    pub cmdline: String,
}

/// The a.out kludge addresses of a header with flag 16.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AoutAddrs {
    header_addr: u32,
    load_addr: u32,
    load_end_addr: u32,
    bss_end_addr: u32,
    entry_addr: u32,
}

/// A kernel's Multiboot header: where it is, its flags and the a.out addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Header {
    offset: usize,
    flags: u32,
    aout: Option<AoutAddrs>,
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

fn find_header(img: &[u8]) -> Option<Header> {
    let end = img.len().min(SEARCH_LEN);
    (0..end.saturating_sub(11)).step_by(4).find_map(|o| {
        let (magic, flags, sum) = (u32_at(img, o), u32_at(img, o + 4), u32_at(img, o + 8));
        if magic != HEADER_MAGIC || magic.wrapping_add(flags).wrapping_add(sum) != 0 {
            return None;
        }
        let aout = (flags & FLAG_AOUT != 0 && o + 32 <= img.len()).then(|| AoutAddrs {
            header_addr: u32_at(img, o + 12),
            load_addr: u32_at(img, o + 16),
            load_end_addr: u32_at(img, o + 20),
            bss_end_addr: u32_at(img, o + 24),
            entry_addr: u32_at(img, o + 28),
        });
        Some(Header {
            offset: o,
            flags,
            aout,
        })
    })
}

/// Is this a Multiboot kernel? As QEMU's -kernel decides: a Linux setup header ("HdrS")
/// wins, otherwise a valid Multiboot header in the first 8 KiB.
pub fn is_multiboot(img: &[u8]) -> bool {
    let linux = img.len() >= 0x206 && &img[0x202..0x206] == b"HdrS";
    !linux && find_header(img).is_some()
}

/// One piece of the kernel: file bytes at a physical address, then `zero` zero bytes.
struct Segment<'a> {
    addr: u64,
    bytes: &'a [u8],
    zero: u64,
}

impl Segment<'_> {
    fn end(&self) -> u64 {
        self.addr + self.bytes.len() as u64 + self.zero
    }
}

/// The PT_LOAD segments of an ELF32 i386 image, and its entry point (translated to a
/// physical address when it lies in a segment whose p_vaddr differs, as GRUB does).
fn elf_segments(img: &[u8]) -> Result<(Vec<Segment<'_>>, u32), MultibootError> {
    if img.len() < 4 || &img[..4] != b"\x7fELF" {
        return Err(MultibootError::NotElf);
    }
    let truncated = |what, end: u64| MultibootError::TruncatedElf {
        what,
        end,
        len: img.len(),
    };
    if img.len() < 52 {
        return Err(truncated("the ELF header", 52));
    }
    match img[4] {
        1 => {}
        2 => {
            return Err(MultibootError::BadElf(
                "64-bit ELF (Multiboot v1 loads 32-bit kernels)",
            ))
        }
        _ => return Err(MultibootError::BadElf("unknown ELF class")),
    }
    if img[5] != 1 {
        return Err(MultibootError::BadElf("not little-endian"));
    }
    if u16_at(img, 18) != 3 {
        return Err(MultibootError::BadElf("not an i386 (EM_386) executable"));
    }
    let entry = u32_at(img, 24);
    let phoff = u32_at(img, 28) as u64;
    let phentsize = u16_at(img, 42) as u64;
    let phnum = u16_at(img, 44) as u64;
    if phnum == 0 {
        return Err(MultibootError::BadElf("no program headers"));
    }
    if phentsize < 32 {
        return Err(MultibootError::BadElf(
            "program header entries shorter than 32 bytes",
        ));
    }
    let ph_end = phoff + phentsize * phnum;
    if ph_end > img.len() as u64 {
        return Err(truncated("the program header table", ph_end));
    }
    let mut segs = Vec::new();
    let mut phys_entry = entry;
    for i in 0..phnum {
        let ph = (phoff + i * phentsize) as usize;
        if u32_at(img, ph) != 1 || u32_at(img, ph + 20) == 0 {
            continue; // not PT_LOAD, or nothing to load
        }
        let (offset, vaddr, paddr) = (
            u32_at(img, ph + 4) as u64,
            u32_at(img, ph + 8),
            u32_at(img, ph + 12) as u64,
        );
        let (filesz, memsz) = (u32_at(img, ph + 16) as u64, u32_at(img, ph + 20) as u64);
        if filesz > memsz {
            return Err(MultibootError::BadElf(
                "a segment's file size exceeds its memory size",
            ));
        }
        if offset + filesz > img.len() as u64 {
            return Err(truncated("a loadable segment", offset + filesz));
        }
        if entry.wrapping_sub(vaddr) < memsz as u32 {
            phys_entry = (paddr as u32).wrapping_add(entry - vaddr);
        }
        segs.push(Segment {
            addr: paddr,
            bytes: &img[offset as usize..(offset + filesz) as usize],
            zero: memsz - filesz,
        });
    }
    if segs.is_empty() {
        return Err(MultibootError::BadElf("no loadable (PT_LOAD) segments"));
    }
    Ok((segs, phys_entry))
}

/// The image the a.out kludge describes: the file from the byte that header_addr's offset
/// puts at load_addr, up to load_end_addr (0: the end of the file), then zeros up to
/// bss_end_addr (0: none).
fn aout_segment<'a>(
    img: &'a [u8],
    h: &Header,
    a: &AoutAddrs,
) -> Result<Segment<'a>, MultibootError> {
    let bad = MultibootError::BadAout;
    let into_header = a
        .header_addr
        .checked_sub(a.load_addr)
        .ok_or(bad("header_addr is below load_addr"))?;
    let start = (h.offset as u64)
        .checked_sub(into_header as u64)
        .ok_or(bad("load_addr lies before the start of the file"))?;
    let have = img.len() as u64 - start;
    let len = match a.load_end_addr {
        0 => have,
        end => (end as u64)
            .checked_sub(a.load_addr as u64)
            .ok_or(bad("load_end_addr is below load_addr"))?,
    };
    if len > have {
        return Err(MultibootError::TruncatedAout { want: len, have });
    }
    let load_end = a.load_addr as u64 + len;
    let zero = match a.bss_end_addr {
        0 => 0,
        end => (end as u64)
            .checked_sub(load_end)
            .ok_or(bad("bss_end_addr is below load_end_addr"))?,
    };
    Ok(Segment {
        addr: a.load_addr as u64,
        bytes: &img[start as usize..(start + len) as usize],
        zero,
    })
}

/// Everything to write into guest RAM, and the entry state.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct MultibootImage {
    /// (physical address, bytes) to copy into RAM.
    pub writes: Vec<(u64, Vec<u8>)>,
    pub entry: u32,
    /// EBX at entry: the information structure's address (EAX holds LOADER_MAGIC).
    pub info: u32,
    pub gdt_base: u32,
    pub gdt_limit: u16,
}

/// Append `bytes` to the loader's block, 4-byte aligned; their guest address.
fn put(block: &mut Vec<u8>, bytes: &[u8]) -> u32 {
    block.resize(block.len().next_multiple_of(4), 0);
    let addr = INFO_BLOCK as u32 + block.len() as u32;
    block.extend_from_slice(bytes);
    addr
}

fn align_up(x: u64, to: u64) -> u64 {
    x.div_ceil(to) * to
}

/// KiB of usable RAM from `from` up to the first hole, in `map` (how the spec defines
/// mem_lower from 0 and mem_upper from 1 MiB; QEMU's option ROM computes it the same way).
fn contiguous_kib(map: &[E820], from: u64) -> u32 {
    let mut end = from;
    while let Some(e) = map
        .iter()
        .find(|e| e.kind == 1 && e.addr <= end && end < e.addr + e.size)
    {
        end = e.addr + e.size;
    }
    ((end - from) / 1024).min(u32::MAX as u64) as u32
}

/// Lay out a Multiboot kernel, its modules and command line for `ram` bytes of RAM.
pub fn prepare(
    img: &[u8],
    modules: &[Module],
    cmdline: &str,
    ram: u64,
) -> Result<MultibootImage, MultibootError> {
    let h = find_header(img).ok_or(MultibootError::NoHeader)?;
    let missing = h.flags & REQUIRED_MASK & !SUPPORTED;
    if missing & FLAG_VIDEO != 0 {
        return Err(MultibootError::Unsupported(
            "a graphics mode (header flag 2)",
        ));
    }
    if missing != 0 {
        return Err(MultibootError::Unsupported(
            "unknown features (header flags 3-15)",
        ));
    }
    let (segs, entry) = match (&h.aout, h.flags & FLAG_AOUT != 0) {
        (Some(a), _) => (vec![aout_segment(img, &h, a)?], a.entry_addr),
        (None, true) => {
            return Err(MultibootError::BadAout(
                "the header ends before its address fields",
            ))
        }
        (None, false) => elf_segments(img)?,
    };

    // Addresses are 32-bit: RAM above 4 GiB is out of reach.
    let top = ram.min(1 << 32);
    let size: u64 = segs.iter().map(|s| s.end() - s.addr).sum();
    if top <= LOW_RESERVED_END || size > top - LOW_RESERVED_END {
        return Err(MultibootError::KernelTooBig { size, ram });
    }
    let mut writes = Vec::new();
    let mut kernel_end = LOW_RESERVED_END;
    for s in &segs {
        let (start, end) = (s.addr, s.end());
        if start < LOW_RESERVED_END {
            return Err(MultibootError::LowSegment { start, end });
        }
        if end > top {
            return Err(MultibootError::SegmentOutsideRam { start, end, ram });
        }
        let mut bytes = s.bytes.to_vec();
        bytes.resize(bytes.len() + s.zero as usize, 0);
        writes.push((start, bytes));
        kernel_end = kernel_end.max(end);
    }

    // Modules, each page-aligned, above the kernel.
    let first = align_up(kernel_end, PAGE);
    let mut at = first;
    let mut placed = Vec::new();
    for m in modules {
        let end = at + m.data.len() as u64;
        if end > top {
            return Err(MultibootError::ModulesTooBig {
                size: modules.iter().map(|m| m.data.len() as u64).sum(),
                at: first,
                ram,
            });
        }
        writes.push((at, m.data.clone()));
        placed.push((at as u32, end as u32));
        at = align_up(end, PAGE);
    }

    // The loader's block: GDT, information structure, then what it points to.
    let mut block = vec![0u8; GDT_LEN + INFO_LEN];
    let sel = |s: u16| s as usize;
    block[sel(BOOT_CS)..sel(BOOT_CS) + 8].copy_from_slice(&0x00cf_9a00_0000_ffffu64.to_le_bytes());
    block[sel(BOOT_DS)..sel(BOOT_DS) + 8].copy_from_slice(&0x00cf_9200_0000_ffffu64.to_le_bytes());
    let cstr = |s: &str| [s.as_bytes(), &[0]].concat();
    let map = e820_map(top);
    let mut mmap = Vec::new();
    for e in &map {
        mmap.extend_from_slice(&20u32.to_le_bytes()); // size of the rest of the entry
        mmap.extend_from_slice(&e.addr.to_le_bytes());
        mmap.extend_from_slice(&e.size.to_le_bytes());
        mmap.extend_from_slice(&e.kind.to_le_bytes());
    }
    let mmap_addr = put(&mut block, &mmap);
    let loader_name = put(&mut block, b"ox86\0");
    let cmdline_addr = put(&mut block, &cstr(cmdline));
    let mut mods = Vec::new();
    for (m, (start, end)) in modules.iter().zip(&placed) {
        let string = put(&mut block, &cstr(&m.cmdline));
        for v in [*start, *end, string, 0] {
            mods.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mods_addr = put(&mut block, &mods);
    if block.len() > INFO_BLOCK_MAX {
        let fixed = GDT_LEN + INFO_LEN + mmap.len();
        return Err(MultibootError::InfoTooBig {
            len: block.len() - fixed,
            max: INFO_BLOCK_MAX - fixed,
        });
    }
    let info = GDT_LEN;
    let mut field =
        |o: usize, v: u32| block[info + o..info + o + 4].copy_from_slice(&v.to_le_bytes());
    field(
        0,
        INFO_MEMORY | INFO_CMDLINE | INFO_MODS | INFO_MMAP | INFO_LOADER_NAME,
    );
    field(4, contiguous_kib(&map, 0).min(640));
    field(8, contiguous_kib(&map, LOW_RESERVED_END));
    field(16, cmdline_addr);
    field(20, modules.len() as u32);
    field(24, mods_addr);
    field(44, mmap.len() as u32);
    field(48, mmap_addr);
    field(64, loader_name);
    writes.push((INFO_BLOCK, block));

    Ok(MultibootImage {
        writes,
        entry,
        info: (INFO_BLOCK as usize + info) as u32,
        gdt_base: INFO_BLOCK as u32,
        gdt_limit: GDT_LEN as u16 - 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAM: u64 = 4 << 20;

    fn header(flags: u32) -> Vec<u8> {
        let sum = 0u32.wrapping_sub(HEADER_MAGIC.wrapping_add(flags));
        [HEADER_MAGIC, flags, sum]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    }

    /// An ELF32 file: headers, the Multiboot header at 84, one PT_LOAD segment of the whole
    /// file at `paddr` with `bss` more bytes in memory; entry at the segment's byte 96.
    fn elf(paddr: u32, flags: u32, bss: u32) -> Vec<u8> {
        let mut f = vec![0u8; 128];
        f[..7].copy_from_slice(b"\x7fELF\x01\x01\x01");
        f[16..18].copy_from_slice(&2u16.to_le_bytes());
        f[18..20].copy_from_slice(&3u16.to_le_bytes());
        f[24..28].copy_from_slice(&(paddr + 96).to_le_bytes());
        f[28..32].copy_from_slice(&52u32.to_le_bytes());
        f[42..44].copy_from_slice(&32u16.to_le_bytes());
        f[44..46].copy_from_slice(&1u16.to_le_bytes());
        let ph = [1, 0, paddr, paddr, 128, 128 + bss, 7, 4096];
        for (i, v) in ph.iter().enumerate() {
            f[52 + 4 * i..56 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        f[84..96].copy_from_slice(&header(flags));
        f[96] = 0xf4;
        f
    }

    /// A flat image loaded at 1 MiB by the a.out kludge: 64 bytes of file, `bss` more.
    fn aout(bss: u32) -> Vec<u8> {
        let base = 0x10_0000u32;
        let mut f = header(FLAG_AOUT | FLAG_MEMORY);
        for v in [base, base, base + 64, base + 64 + bss, base + 32] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.resize(64, 0x90);
        f
    }

    /// Guest RAM after the writes.
    fn ram_after(img: &MultibootImage) -> Vec<u8> {
        let mut ram = vec![0xaau8; RAM as usize];
        for (at, bytes) in &img.writes {
            ram[*at as usize..*at as usize + bytes.len()].copy_from_slice(bytes);
        }
        ram
    }

    fn cstr_at(ram: &[u8], at: u32) -> &[u8] {
        let s = &ram[at as usize..];
        &s[..s.iter().position(|&b| b == 0).unwrap()]
    }

    #[test]
    fn detection() {
        assert!(is_multiboot(&elf(0x10_0000, 0, 0)));
        assert!(is_multiboot(&aout(0)));
        let mut bad_sum = elf(0x10_0000, 0, 0);
        bad_sum[92] ^= 1;
        assert!(!is_multiboot(&bad_sum));
        let mut unaligned = vec![0u8; 2];
        unaligned.extend(elf(0x10_0000, 0, 0));
        assert!(!is_multiboot(&unaligned));
        let mut beyond_8k = vec![0u8; 8192];
        beyond_8k.extend(header(0));
        assert!(!is_multiboot(&beyond_8k));
        let mut linux = elf(0x10_0000, 0, 0);
        linux.resize(0x400, 0);
        linux[0x202..0x206].copy_from_slice(b"HdrS");
        assert!(
            !is_multiboot(&linux),
            "a Linux setup header wins, as in QEMU"
        );
    }

    #[test]
    fn elf_layout_and_information_structure() {
        let modules = [
            Module {
                data: b"first".to_vec(),
                cmdline: "mod0 arg".into(),
            },
            Module {
                data: vec![7; 5000],
                cmdline: "mod1".into(),
            },
        ];
        let img = prepare(&elf(0x10_0000, 0, 0x2000), &modules, "k a=1", RAM).unwrap();
        assert_eq!(img.entry, 0x10_0000 + 96);
        let ram = ram_after(&img);
        assert_eq!(&ram[0x10_0080..0x10_2080], &[0; 0x2000][..], "bss zeroed");
        let info = img.info as usize;
        let field = |o: usize| u32_at(&ram, info + o);
        assert_eq!(field(0), 0x24d, "mem, cmdline, mods, mmap, loader name");
        assert_eq!((field(4), field(8)), (639, 3 * 1024));
        assert_eq!(cstr_at(&ram, field(16)), b"k a=1");
        assert_eq!(cstr_at(&ram, field(64)), b"ox86");
        // The memory map is the E820 map Linux gets, with 20-byte entries.
        let (mmap, len) = (field(48) as usize, field(44) as usize);
        let map: Vec<E820> = ram[mmap..mmap + len]
            .chunks(24)
            .map(|e| {
                assert_eq!(u32_at(e, 0), 20);
                E820 {
                    addr: u64::from_le_bytes(e[4..12].try_into().unwrap()),
                    size: u64::from_le_bytes(e[12..20].try_into().unwrap()),
                    kind: u32_at(e, 20),
                }
            })
            .collect();
        assert_eq!(map, e820_map(RAM));
        // Modules: page-aligned, above the kernel and its bss, in order.
        assert_eq!(field(20), 2);
        let m = |i: usize, o: usize| u32_at(&ram, field(24) as usize + 16 * i + o);
        assert_eq!((m(0, 0), m(0, 4)), (0x10_3000, 0x10_3005));
        assert_eq!((m(1, 0), m(1, 4)), (0x10_4000, 0x10_4000 + 5000));
        assert_eq!(&ram[0x10_3000..0x10_3005], b"first");
        assert_eq!(cstr_at(&ram, m(0, 8)), b"mod0 arg");
        assert_eq!(cstr_at(&ram, m(1, 8)), b"mod1");
        // A flat GDT with __BOOT_CS and __BOOT_DS.
        let gdt = img.gdt_base as usize;
        assert_eq!(ram[gdt + 0x10 + 5], 0x9a);
        assert_eq!(ram[gdt + 0x18 + 5], 0x92);
    }

    #[test]
    fn aout_kludge_layout() {
        let img = prepare(&aout(0x100), &[], "", RAM).unwrap();
        assert_eq!(img.entry, 0x10_0020);
        let ram = ram_after(&img);
        assert_eq!(u32_at(&ram, 0x10_0000), HEADER_MAGIC);
        assert_eq!(&ram[0x10_0040..0x10_0140], &[0; 0x100][..]);
        assert_eq!(ram[0x10_0140], 0xaa, "nothing beyond bss_end_addr");
    }

    #[test]
    fn bad_kernels_say_why() {
        use MultibootError::*;
        let try_elf = |img: &[u8], ram| prepare(img, &[], "", ram).map(|_| ());
        assert_eq!(try_elf(&[0; 4096], RAM), Err(NoHeader));
        assert!(matches!(
            try_elf(&elf(0x10_0000, FLAG_VIDEO, 0), RAM),
            Err(Unsupported(what)) if what.contains("graphics")
        ));
        let mut not_elf = elf(0x10_0000, 0, 0);
        not_elf[0] = 0;
        assert_eq!(try_elf(&not_elf, RAM), Err(NotElf));
        let mut elf64 = elf(0x10_0000, 0, 0);
        elf64[4] = 2;
        assert!(matches!(try_elf(&elf64, RAM), Err(BadElf(_))));
        let mut cut = elf(0x10_0000, 0, 0);
        cut[44] = 9; // nine program headers: the table runs past the end
        assert!(matches!(try_elf(&cut, RAM), Err(TruncatedElf { .. })));
        assert!(matches!(
            try_elf(&elf(0x8000, 0, 0), RAM),
            Err(LowSegment { start: 0x8000, .. })
        ));
        assert!(matches!(
            try_elf(&elf(0x40_0000, 0, 0), RAM),
            Err(SegmentOutsideRam { .. })
        ));
        assert!(matches!(
            try_elf(&elf(0x10_0000, 0, 8 << 20), RAM),
            Err(KernelTooBig { .. })
        ));
        let mut short = aout(0);
        short.truncate(48);
        assert!(matches!(try_elf(&short, RAM), Err(TruncatedAout { .. })));
        let big = Module {
            data: vec![0; 4 << 20],
            cmdline: String::new(),
        };
        assert!(matches!(
            prepare(&aout(0), &[big], "", RAM),
            Err(ModulesTooBig { .. })
        ));
        assert!(matches!(
            prepare(&aout(0), &[], &"x".repeat(1 << 20), RAM),
            Err(InfoTooBig { .. })
        ));
    }
}
