//! Guest physical memory: RAM in one anonymous mapping, read-only (ROM) pages, MMIO
//! windows inside RAM (VGA's 0xA0000-0xBFFFF), and the per-page record of which bytes
//! hold decoded code (for self-modifying code).

use memmap2::MmapMut;

pub const PAGE_SHIFT: u32 = 12;
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// Code is tracked in 64-byte chunks: a write invalidates blocks only when it touches a
/// chunk that holds decoded instructions, so data next to code does not thrash the cache.
const CHUNK_SHIFT: u32 = 6;

/// The largest RAM ox86 maps below 4 GiB (leaves room for the PCI hole and the ROM).
pub const MAX_RAM: u64 = 3 << 30;

#[derive(Debug, thiserror::Error)]
pub enum MemError {
    #[error("RAM size {0} bytes is not possible (1 MiB to 3 GiB, a multiple of 4 KiB)")]
    BadSize(u64),
    #[error("could not map {size} bytes of guest RAM: {source}")]
    Map { size: u64, source: std::io::Error },
}

pub struct PhysMemory {
    ram: MmapMut,
    /// Per page: bit set = 64-byte chunk holds decoded code.
    code: Vec<u64>,
    /// Per page: read-only (ROM shadow).
    readonly: Vec<bool>,
    /// Per page: an MMIO window inside RAM. Such a page is not RAM for `is_ram`, so it is
    /// never entered in the soft TLB and every access reaches `Bus::mmio_read/write`.
    mmio: Vec<bool>,
    /// Pages whose code was overwritten since the CPU last looked.
    invalidated: Vec<u32>,
    /// Immediates of decoded instructions that their handlers read from RAM (code that
    /// rewrites its own immediates): (address, length). A store inside one leaves the
    /// blocks alone. Every decoded instruction over these bytes reads them so.
    volatile: Vec<(u64, u8)>,
    /// Bumped whenever the set of code pages or read-only pages grows, so the CPU knows to
    /// drop writable TLB entries.
    pub(crate) write_gen: u64,
    /// Per page: the (truncated) `write_gen` at which the TLB last took a writable entry
    /// for it. A page that gains code again without such a fill since the last bump
    /// (self-modifying code re-marking its own page) has no writable entry to drop.
    writable_fill: Vec<u32>,
    /// Bumped when translations themselves change (A20), so the CPU drops every entry.
    pub(crate) map_gen: u64,
    a20_mask: u64,
}

impl PhysMemory {
    pub fn new(size: u64) -> Result<Self, MemError> {
        if !(1 << 20..=MAX_RAM).contains(&size) || !size.is_multiple_of(PAGE_SIZE as u64) {
            return Err(MemError::BadSize(size));
        }
        let ram =
            MmapMut::map_anon(size as usize).map_err(|source| MemError::Map { size, source })?;
        let pages = size as usize >> PAGE_SHIFT;
        Ok(Self {
            ram,
            code: vec![0; pages],
            readonly: vec![false; pages],
            mmio: vec![false; pages],
            invalidated: Vec::new(),
            volatile: Vec::new(),
            write_gen: 0,
            writable_fill: vec![0; pages],
            map_gen: 0,
            a20_mask: !0,
        })
    }

    pub fn size(&self) -> u64 {
        self.ram.len() as u64
    }

    pub fn ram(&self) -> &[u8] {
        &self.ram
    }

    /// Raw RAM for loaders and tests. Bypasses code tracking: call `reset_code_tracking`
    /// (or use `write_bytes`) if code may already be cached.
    pub fn ram_mut(&mut self) -> &mut [u8] {
        &mut self.ram
    }

    /// Which pages are read-only (for a debugger's checkpoint).
    pub fn readonly_pages(&self) -> &[bool] {
        &self.readonly
    }

    /// Restore the read-only map taken by `readonly_pages`.
    pub fn set_readonly_pages(&mut self, pages: &[bool]) {
        if pages.len() == self.readonly.len() {
            self.readonly.copy_from_slice(pages);
            self.write_gen += 1;
        }
    }

    /// Enable or disable the A20 gate (address bit 20 forced to zero when disabled).
    pub fn set_a20(&mut self, enabled: bool) {
        self.a20_mask = if enabled { !0 } else { !(1 << 20) };
        self.map_gen += 1;
    }

    #[inline]
    pub fn a20_mask(&self) -> u64 {
        self.a20_mask
    }

    /// Is `pa` plain RAM (in the mapping and not in an MMIO window)?
    #[inline]
    pub fn is_ram(&self, pa: u64) -> bool {
        pa < self.ram.len() as u64 && !self.mmio[(pa >> PAGE_SHIFT) as usize]
    }

    /// Make `[pa, pa+len)` (whole pages) an MMIO window routed to the bus, or RAM again.
    /// The RAM underneath is kept but hidden. Every TLB entry is dropped.
    pub fn set_mmio(&mut self, pa: u64, len: u64, mmio: bool) {
        let first = (pa >> PAGE_SHIFT) as usize;
        let last = ((pa + len.max(1) - 1) >> PAGE_SHIFT) as usize;
        for p in first..=last.min(self.mmio.len() - 1) {
            self.mmio[p] = mmio;
        }
        self.map_gen += 1;
    }

    pub fn set_readonly(&mut self, pa: u64, len: u64, ro: bool) {
        let first = (pa >> PAGE_SHIFT) as usize;
        let last = ((pa + len - 1) >> PAGE_SHIFT) as usize;
        for p in first..=last.min(self.readonly.len() - 1) {
            self.readonly[p] = ro;
        }
        self.write_gen += 1;
    }

    #[inline]
    pub fn page_readonly(&self, pa: u64) -> bool {
        self.readonly[(pa >> PAGE_SHIFT) as usize]
    }

    /// May a store to this page skip code tracking (the TLB's writable fast path)?
    #[inline]
    pub fn page_fast_writable(&self, pa: u64) -> bool {
        let p = (pa >> PAGE_SHIFT) as usize;
        !self.readonly[p] && self.code[p] == 0
    }

    /// The TLB is taking a writable entry for the page at `pa`.
    #[inline]
    pub fn note_writable_fill(&mut self, pa: u64) {
        self.writable_fill[(pa >> PAGE_SHIFT) as usize] = self.write_gen as u32;
    }

    /// Record that `[pa, pa+len)` holds decoded code.
    pub fn mark_code(&mut self, pa: u64, len: u64) {
        let mut a = pa;
        let end = pa + len.max(1);
        while a < end {
            let p = (a >> PAGE_SHIFT) as usize;
            if p >= self.code.len() {
                break;
            }
            let was = self.code[p];
            self.code[p] |= 1 << ((a >> CHUNK_SHIFT) & 63);
            if was == 0 && self.writable_fill[p] == self.write_gen as u32 {
                self.write_gen += 1;
            }
            a = (a | ((1 << CHUNK_SHIFT) - 1)) + 1;
        }
    }

    /// A store of `len` bytes at `pa` is about to happen: if it touches code, the page's
    /// blocks are invalidated. Returns true when it did.
    #[inline]
    pub fn note_write(&mut self, pa: u64, len: usize) -> bool {
        let p = (pa >> PAGE_SHIFT) as usize;
        let mask = self.code[p];
        if mask == 0 {
            return false;
        }
        let first = (pa >> CHUNK_SHIFT) & 63;
        let last = ((pa + len as u64 - 1) >> CHUNK_SHIFT) & 63;
        let touched = if last >= first {
            (u64::MAX >> (63 - last)) & (u64::MAX << first)
        } else {
            u64::MAX << first
        };
        if mask & touched == 0 || self.in_volatile(pa, len) {
            return false;
        }
        self.code[p] = 0;
        self.invalidated.push(p as u32);
        // Its volatile immediates stay so: code decoded there again reads them from RAM
        // (or drops them, if it decodes their bytes otherwise).
        true
    }

    fn in_volatile(&self, pa: u64, len: usize) -> bool {
        let end = pa + len as u64;
        self.volatile
            .iter()
            .any(|&(a, l)| a <= pa && end <= a + l as u64)
    }

    /// Volatile immediates (see `volatile`).
    #[inline]
    pub fn volatile(&self) -> &[(u64, u8)] {
        &self.volatile
    }

    /// Make `[pa, pa+len)` (in one page) a volatile immediate: the caller knows no decoded
    /// code holds its bytes (that code would keep the old value). A full table forgets
    /// its oldest entry: any may go at any time, as code that reads one from RAM stays
    /// right.
    pub fn add_volatile(&mut self, pa: u64, len: u8) {
        const MAX: usize = 32;
        let same_page = (pa + len as u64 - 1) >> PAGE_SHIFT == pa >> PAGE_SHIFT;
        if self.volatile.contains(&(pa, len)) || !same_page {
            return;
        }
        if self.volatile.len() == MAX {
            self.volatile.remove(0);
        }
        self.volatile.push((pa, len));
    }

    /// Stop treating immediates that overlap `[pa, pa+len)` as volatile (code decoded
    /// there reads those bytes otherwise).
    pub fn drop_volatile(&mut self, pa: u64, len: u64) {
        self.volatile
            .retain(|&(a, l)| a + l as u64 <= pa || pa + len <= a);
    }

    /// Pages whose code was overwritten, for the block cache to drop.
    pub fn take_invalidated(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.invalidated)
    }

    pub fn has_invalidated(&self) -> bool {
        !self.invalidated.is_empty()
    }

    /// Forget all code tracking (the block cache was flushed).
    pub fn reset_code_tracking(&mut self) {
        self.code.iter_mut().for_each(|m| *m = 0);
        self.invalidated.clear();
        self.volatile.clear();
        self.write_gen += 1;
    }

    /// Copy bytes into RAM with code tracking (DMA, loaders after start). Bytes beyond RAM
    /// are dropped; read-only pages are written too (this is the loader's path), and so is
    /// the RAM hidden under an MMIO window.
    pub fn write_bytes(&mut self, pa: u64, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            let a = pa + i as u64;
            if a >= self.ram.len() as u64 {
                break;
            }
            self.note_write(a, 1);
            self.ram[a as usize] = b;
        }
    }

    pub fn read_bytes(&self, pa: u64, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            let a = pa + i as u64;
            *b = if self.is_ram(a) {
                self.ram[a as usize]
            } else {
                0xff
            };
        }
    }

    #[inline]
    pub fn read_u8(&self, pa: u64) -> u8 {
        self.ram[pa as usize]
    }

    #[inline]
    pub fn read_u16(&self, pa: u64) -> u16 {
        let a = pa as usize;
        u16::from_le_bytes([self.ram[a], self.ram[a + 1]])
    }

    #[inline]
    pub fn read_u32(&self, pa: u64) -> u32 {
        let a = pa as usize;
        u32::from_le_bytes(self.ram[a..a + 4].try_into().unwrap_or([0xff; 4]))
    }

    /// Store without code tracking: the caller checked `page_fast_writable`.
    #[inline]
    pub fn write_u8_fast(&mut self, pa: u64, v: u8) {
        self.ram[pa as usize] = v;
    }

    #[inline]
    pub fn write_u16_fast(&mut self, pa: u64, v: u16) {
        let a = pa as usize;
        self.ram[a..a + 2].copy_from_slice(&v.to_le_bytes());
    }

    #[inline]
    pub fn write_u32_fast(&mut self, pa: u64, v: u32) {
        let a = pa as usize;
        self.ram[a..a + 4].copy_from_slice(&v.to_le_bytes());
    }
}
