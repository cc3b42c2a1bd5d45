//! The code cache, never writable and executable through the same mapping (W^X).
//!
//! On x86-64 Linux, one memfd mapped twice: translations are copied in through a
//! read-write view and run from a read-execute view of the same pages, so adding code
//! costs a copy and no system call. Elsewhere (and if that mapping fails), one anonymous
//! mapping whose pages are made writable just while code is copied in (two `mprotect`s
//! a block), after which AArch64 synchronises the instruction cache over the new code.
//! AArch64 keeps to that scheme because code written through an alias is invisible to
//! emulators that track writes to code pages by their protection (qemu-aarch64, which
//! CI runs this backend under, would go on running stale translations after a flush).
//! Code is written and run on the same thread (the CPU thread).

// Used only on hosts with a backend.
#![cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]

use memmap2::{Mmap, MmapMut};

const PAGE: usize = 4096;

enum Backing {
    /// A memfd mapped twice: written through `rw`, run through `rx`.
    #[cfg_attr(
        not(all(target_os = "linux", target_arch = "x86_64")),
        allow(dead_code)
    )]
    Double { rw: MmapMut, rx: Mmap },
    /// One anonymous mapping, read+execute except while being written.
    Flipped { map: MmapMut, broken: bool },
}

pub struct CodeCache {
    backing: Backing,
    len: usize,
    used: usize,
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

/// A memfd of `len` bytes mapped read-write and read-execute.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn double_map(len: usize) -> std::io::Result<Backing> {
    use memmap2::MmapOptions;
    use std::fs::File;
    use std::os::fd::FromRawFd;
    // SAFETY: memfd_create takes a NUL-terminated name and flags; it returns a new file
    // descriptor or -1.
    let fd = unsafe { libc::memfd_create(c"ox86-jit".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nothing else owns; the File closes it.
    let file = unsafe { File::from_raw_fd(fd) };
    file.set_len(len as u64)?;
    // SAFETY: the memfd is private to this cache: nothing else maps or resizes it, so the
    // mappings stay valid for their lifetime. The two views alias, which is the point:
    // the RW one is only written by `push` while no generated code runs, and the RX one
    // is only executed.
    let rw = unsafe { MmapOptions::new().len(len).map_mut(&file)? };
    // SAFETY: as above.
    let rx = unsafe { MmapOptions::new().len(len).map_exec(&file)? };
    Ok(Backing::Double { rw, rx })
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn double_map(_len: usize) -> std::io::Result<Backing> {
    Err(std::io::ErrorKind::Unsupported.into())
}

impl CodeCache {
    pub fn new(bytes: usize) -> std::io::Result<Self> {
        let len = bytes.next_multiple_of(PAGE).max(PAGE);
        let backing = match double_map(len) {
            Ok(b) => b,
            Err(_) => {
                let map = MmapMut::map_anon(len)?;
                if !protect(&map, 0, len, false) {
                    return Err(std::io::Error::last_os_error());
                }
                Backing::Flipped { map, broken: false }
            }
        };
        Ok(CodeCache {
            backing,
            len,
            used: 0,
        })
    }

    /// Where code runs from: the executable view's start.
    fn exec_base(&self) -> usize {
        match &self.backing {
            Backing::Double { rx, .. } => rx.as_ptr() as usize,
            Backing::Flipped { map, .. } => map.as_ptr() as usize,
        }
    }

    /// The address the next code will run from.
    pub fn next_addr(&self) -> usize {
        self.exec_base() + self.used
    }

    /// Copy `code` in; its offset, or None when it does not fit (or the cache broke).
    pub fn push(&mut self, code: &[u8]) -> Option<usize> {
        let at = self.used;
        if at + code.len() > self.len {
            return None;
        }
        if code.is_empty() {
            return Some(at);
        }
        match &mut self.backing {
            Backing::Double { rw, .. } => rw[at..at + code.len()].copy_from_slice(code),
            Backing::Flipped { map, broken } => {
                if *broken || !protect(map, at, code.len(), true) {
                    *broken = true;
                    return None;
                }
                map[at..at + code.len()].copy_from_slice(code);
                if !protect(map, at, code.len(), false) {
                    *broken = true;
                    return None;
                }
            }
        }
        // AArch64 keeps instruction and data caches apart: publish the new code to the
        // instruction side (a no-op on x86-64), and discard prefetched instructions.
        let written = match &self.backing {
            Backing::Double { rx, .. } => &rx[at..at + code.len()],
            Backing::Flipped { map, .. } => &map[at..at + code.len()],
        };
        dynasmrt::cache_control::synchronize_icache(written);
        dynasmrt::cache_control::prepare_for_execution(written);
        // Entries start 16-byte aligned.
        self.used = (at + code.len()).next_multiple_of(16);
        Some(at)
    }

    /// Point the `jmp rel32` at `offset`, in code already pushed, at host address
    /// `target`, or at the instruction after it (None). False, with nothing written,
    /// where the cache has no writable view beside the executable one (flipping
    /// protections per write would cost more than it saves).
    pub fn aim_jump(&mut self, offset: usize, target: Option<usize>) -> bool {
        let rel = target.map_or(0, |t| t.wrapping_sub(self.addr(offset) + 5) as u32);
        let at = offset + 1;
        match &mut self.backing {
            Backing::Double { rw, .. } if at + 4 <= self.used => {
                rw[at..at + 4].copy_from_slice(&rel.to_le_bytes());
                true
            }
            _ => false,
        }
    }

    /// Address of the code at `offset`.
    pub fn addr(&self, offset: usize) -> usize {
        self.exec_base() + offset
    }

    pub fn clear(&mut self) {
        self.used = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_reads_back_through_the_executable_view() {
        let mut c = CodeCache::new(2 * PAGE).unwrap();
        let a = c.push(&[1, 2, 3]).unwrap();
        let b = c.push(&[4; 100]).unwrap();
        assert_eq!((a, b), (0, 16));
        // SAFETY: both ranges were just written and lie inside the executable view,
        // which is readable.
        let read = |off: usize, n: usize| unsafe {
            std::slice::from_raw_parts(c.addr(off) as *const u8, n).to_vec()
        };
        assert_eq!(read(a, 3), [1, 2, 3]);
        assert_eq!(read(b, 100), [4; 100]);
        assert!(c.push(&[0; 2 * PAGE]).is_none(), "overflow is refused");
        c.clear();
        assert_eq!(c.push(&[9]), Some(0));
    }
}
