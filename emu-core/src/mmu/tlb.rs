//! Soft TLB: a direct-mapped cache from linear page to physical RAM page, split by
//! privilege (supervisor/user) and by access (read/write), as QEMU's softmmu does.

/// Entries per set: Linux's kernel and user working sets missed often in 256.
pub const ENTRIES: usize = 1024;
/// Never equal to a page-aligned tag.
pub const INVALID: u32 = 1;

/// Laid out in C order: the JIT reads the tags and `addend` from generated code.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct TlbEntry {
    /// Linear page (address & !0xfff) when reads may use `phys`.
    pub read_tag: u32,
    /// Linear page when writes may use `phys` (RAM, no code, dirty bit already set).
    pub write_tag: u32,
    /// Physical page address in RAM minus the linear page address (wrapping): a hit's
    /// physical address is the linear address plus this, in one add.
    pub addend: u32,
    /// Global page (kept across CR3 writes).
    pub global: bool,
}

const EMPTY: TlbEntry = TlbEntry {
    read_tag: INVALID,
    write_tag: INVALID,
    addend: 0,
    global: false,
};

pub struct Tlb {
    /// [0] supervisor, [1] user.
    pub sets: Box<[[TlbEntry; ENTRIES]; 2]>,
    /// PhysMemory::write_gen seen at the last check.
    pub mem_gen: u64,
    /// PhysMemory::map_gen seen at the last check.
    pub map_gen: u64,
}

impl Default for Tlb {
    fn default() -> Self {
        Self::new()
    }
}

impl Tlb {
    pub fn new() -> Self {
        Tlb {
            sets: Box::new([[EMPTY; ENTRIES]; 2]),
            mem_gen: u64::MAX,
            map_gen: 0,
        }
    }

    #[inline]
    pub fn index(lin: u32) -> usize {
        (lin >> 12) as usize & (ENTRIES - 1)
    }

    #[inline]
    pub fn read_hit(&self, user: bool, lin: u32) -> Option<u32> {
        let e = &self.sets[user as usize][Self::index(lin)];
        (e.read_tag == lin & !0xfff).then_some(lin.wrapping_add(e.addend))
    }

    #[inline]
    pub fn write_hit(&self, user: bool, lin: u32) -> Option<u32> {
        let e = &self.sets[user as usize][Self::index(lin)];
        (e.write_tag == lin & !0xfff).then_some(lin.wrapping_add(e.addend))
    }

    pub fn fill(&mut self, user: bool, lin: u32, phys: u32, writable: bool, global: bool) {
        let page = lin & !0xfff;
        self.sets[user as usize][Self::index(lin)] = TlbEntry {
            read_tag: page,
            write_tag: if writable { page } else { INVALID },
            addend: (phys & !0xfff).wrapping_sub(page),
            global,
        };
    }

    pub fn flush_all(&mut self) {
        for set in self.sets.iter_mut() {
            set.fill(EMPTY);
        }
    }

    /// CR3 write: drop everything but global pages.
    pub fn flush_nonglobal(&mut self) {
        for set in self.sets.iter_mut() {
            for e in set.iter_mut().filter(|e| !e.global) {
                *e = EMPTY;
            }
        }
    }

    pub fn flush_page(&mut self, lin: u32) {
        for set in self.sets.iter_mut() {
            let e = &mut set[Self::index(lin)];
            if e.read_tag == lin & !0xfff || e.write_tag == lin & !0xfff {
                *e = EMPTY;
            }
        }
    }

    /// Writable fast-path entries are stale once a page gains code or becomes read-only.
    pub fn drop_writes(&mut self) {
        for set in self.sets.iter_mut() {
            for e in set.iter_mut() {
                e.write_tag = INVALID;
            }
        }
    }
}
