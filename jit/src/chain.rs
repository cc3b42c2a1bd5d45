//! The chain table: where a finished block finds the next one without leaving host code.
//!
//! A direct-mapped table from block key (physical address and mode bits, as the block
//! cache keys blocks) to the chain entry of the block's host code. Generated code looks
//! the next CS:EIP up here after each block; a miss returns to the dispatcher, which
//! runs the block its own way and enters it here if it is translated. The table is
//! emptied whenever blocks leave the block cache, so it never leads to stale code.

// Used only on hosts with a backend.
#![cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]

/// Slots in the table (a power of two). A Linux boot translates about 15,000 blocks:
/// with 4096 slots, collisions sent a third of the dispatcher entries back to it.
pub const CHAIN_SLOTS: usize = 16384;

/// A key no block has.
const NO_KEY: u64 = u64::MAX;

#[derive(Clone, Copy)]
#[repr(C)]
pub struct ChainSlot {
    pub key: u64,
    /// Host address of the block's chain entry.
    pub entry: u64,
    /// The block's instruction count (the budget check before entering it).
    pub len: u64,
    /// The JIT's handle for the block's code.
    pub handle: u64,
}

const EMPTY: ChainSlot = ChainSlot {
    key: NO_KEY,
    entry: 0,
    len: 0,
    handle: 0,
};

/// What generated code reads, and counts in (through R14 / X22).
#[repr(C)]
pub struct Links {
    /// Block-to-block transitions made in host code (for `--stats` and `ox86 bench`).
    pub chained: u64,
    pub slots: [ChainSlot; CHAIN_SLOTS],
    /// The slots filled since the last `clear`: self-modifying code empties the table
    /// at every store into code, so clearing must cost what was filled, not the table.
    filled: Vec<u16>,
}

/// The slot for `key`; generated code computes the same. The key's bits above the
/// slot index are folded onto it: blocks less than `CHAIN_SLOTS` bytes apart never
/// share a slot, and the pages of a large kernel spread over the whole table (folding
/// from bit 12 left its top two bits to the physical address's bits 24 and 25, and
/// cost Linux's boot about 400,000 trips through the dispatcher).
#[inline]
pub fn slot(key: u64) -> usize {
    ((key ^ (key >> SLOT_SHIFT)) as usize) & (CHAIN_SLOTS - 1)
}

/// How far `slot` folds the key.
pub const SLOT_SHIFT: u32 = CHAIN_SLOTS.trailing_zeros();

impl Links {
    pub fn new() -> Box<Links> {
        Box::new(Links {
            chained: 0,
            slots: [EMPTY; CHAIN_SLOTS],
            filled: Vec::new(),
        })
    }

    /// Make `key` lead to `entry` (code `handle` of a block of `len` instructions): true
    /// when that is new.
    #[inline]
    pub fn enter(&mut self, key: u64, entry: usize, len: usize, handle: u32) -> bool {
        let i = slot(key);
        let s = &mut self.slots[i];
        let new = s.handle != handle as u64 || s.key != key;
        if new {
            if s.key == NO_KEY {
                self.filled.push(i as u16);
            }
            *s = ChainSlot {
                key,
                entry: entry as u64,
                len: len as u64,
                handle: handle as u64,
            };
        }
        new
    }

    /// The chain entry `key` leads to, if its slot holds it.
    pub fn entry_of(&self, key: u64) -> Option<usize> {
        let s = &self.slots[slot(key)];
        (s.key == key).then_some(s.entry as usize)
    }

    pub fn clear(&mut self) {
        for i in self.filled.drain(..) {
            self.slots[i as usize] = EMPTY;
        }
    }
}
