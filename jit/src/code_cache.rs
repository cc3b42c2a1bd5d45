//! The code cache: one anonymous mapping, executable and never writable at the same time
//! (W^X): each translation flips it writable, copies the code in, and flips it back.

// The AArch64 backend (next) is its other user; until then only x86-64 hosts use it.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use memmap2::{Mmap, MmapMut};

pub struct CodeCache {
    /// The mapping, read+execute. None only if flipping its protection ever failed,
    /// which leaves the JIT without a cache (it then translates nothing).
    map: Option<Mmap>,
    used: usize,
}

impl CodeCache {
    pub fn new(bytes: usize) -> std::io::Result<Self> {
        let map = MmapMut::map_anon(bytes.max(4096))?.make_exec()?;
        Ok(CodeCache {
            map: Some(map),
            used: 0,
        })
    }

    /// The address the next code will be copied to.
    pub fn next_addr(&self) -> usize {
        self.map
            .as_ref()
            .map_or(0, |m| m.as_ptr() as usize + self.used)
    }

    /// Copy `code` in; its offset, or None when it does not fit (or the cache is gone).
    pub fn push(&mut self, code: &[u8]) -> Option<usize> {
        let map = self.map.take()?;
        if self.used + code.len() > map.len() {
            self.map = Some(map);
            return None;
        }
        let mut w = map.make_mut().ok()?;
        let at = self.used;
        w[at..at + code.len()].copy_from_slice(code);
        self.map = Some(w.make_exec().ok()?);
        // Entries start 16-byte aligned.
        self.used = (at + code.len()).next_multiple_of(16);
        Some(at)
    }

    /// Address of the code at `offset`.
    pub fn addr(&self, offset: usize) -> usize {
        self.map
            .as_ref()
            .map_or(0, |m| m.as_ptr() as usize + offset)
    }

    pub fn clear(&mut self) {
        self.used = 0;
    }
}
