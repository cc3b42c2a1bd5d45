//! The code cache: one anonymous mapping, never writable and executable at the same time
//! (W^X). A translation makes just the pages it writes writable, copies the code in, and
//! makes them executable again; on AArch64 it then synchronises the instruction cache.
//! Code is written and run on the same thread (the CPU thread).

// Used only on hosts with a backend.
#![cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]

use memmap2::MmapMut;

const PAGE: usize = 4096;

pub struct CodeCache {
    /// Owns the mapping; its pages are read+execute except while being written.
    map: MmapMut,
    used: usize,
    /// A protection change failed: translate nothing more.
    broken: bool,
}

/// Change the protection of `len` bytes of `map` from `offset` (page-rounded).
fn protect(map: &MmapMut, offset: usize, len: usize, writable: bool) -> bool {
    let start = offset / PAGE * PAGE;
    let end = (offset + len).next_multiple_of(PAGE).min(map.len());
    let prot = if writable {
        libc::PROT_READ | libc::PROT_WRITE
    } else {
        libc::PROT_READ | libc::PROT_EXEC
    };
    // SAFETY: the range lies inside `map`, a live anonymous mapping this cache owns; only
    // its protection changes, and nothing holds references into it while it is not
    // writable except generated code, which only executes it.
    unsafe {
        libc::mprotect(
            map.as_ptr().add(start) as *mut libc::c_void,
            end - start,
            prot,
        ) == 0
    }
}

impl CodeCache {
    pub fn new(bytes: usize) -> std::io::Result<Self> {
        let map = MmapMut::map_anon(bytes.next_multiple_of(PAGE).max(PAGE))?;
        if !protect(&map, 0, map.len(), false) {
            return Err(std::io::Error::last_os_error());
        }
        Ok(CodeCache {
            map,
            used: 0,
            broken: false,
        })
    }

    /// The address the next code will be copied to.
    pub fn next_addr(&self) -> usize {
        self.map.as_ptr() as usize + self.used
    }

    /// Copy `code` in; its offset, or None when it does not fit (or the cache broke).
    pub fn push(&mut self, code: &[u8]) -> Option<usize> {
        let at = self.used;
        if self.broken || at + code.len() > self.map.len() {
            return None;
        }
        if !protect(&self.map, at, code.len(), true) {
            self.broken = true;
            return None;
        }
        self.map[at..at + code.len()].copy_from_slice(code);
        if !protect(&self.map, at, code.len(), false) {
            self.broken = true;
            return None;
        }
        // AArch64 keeps instruction and data caches apart: publish the new code to the
        // instruction side (a no-op on x86-64), and discard prefetched instructions.
        let written = &self.map[at..at + code.len()];
        dynasmrt::cache_control::synchronize_icache(written);
        dynasmrt::cache_control::prepare_for_execution(written);
        // Entries start 16-byte aligned.
        self.used = (at + code.len()).next_multiple_of(16);
        Some(at)
    }

    /// Address of the code at `offset`.
    pub fn addr(&self, offset: usize) -> usize {
        self.map.as_ptr() as usize + offset
    }

    pub fn clear(&mut self) {
        self.used = 0;
    }
}
