//! The block cache: decoded blocks keyed by (physical address, mode), dropped when a
//! store touches their code. Blocks live in a slab and are found through a small
//! direct-mapped table first (the common case: a loop's next block), then a hash map.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::block::Block;
use crate::cpu::state::Segment;
use crate::mem::PAGE_SHIFT;

/// Mode bits that change how bytes decode (CS.D, the 286 model), and one that changes
/// how host code runs them: CS's limit is 4 GiB - 1, so no EIP is past it and host code
/// skips the test (`KEY_CS_4G`).
pub fn block_key(phys: u64, cs: &Segment, is_286: bool) -> u64 {
    phys | (cs.is_32() as u64) << 40 | (is_286 as u64) << 41 | key_cs_4g(cs)
}

/// The key bit of a CS whose limit is 4 GiB - 1.
pub const KEY_CS_4G: u64 = 1 << 42;

fn key_cs_4g(cs: &Segment) -> u64 {
    if cs.limit == u32::MAX {
        KEY_CS_4G
    } else {
        0
    }
}

/// Multiplicative hash for integer keys (the keys are addresses, not attacker-chosen
/// strings, so SipHash's DoS resistance buys nothing here).
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64);
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

const JUMP_CACHE: usize = 4096;
const NO_KEY: u64 = u64::MAX;

pub struct BlockCache<B> {
    slab: Vec<Option<Block<B>>>,
    free: Vec<u32>,
    map: FastMap<u64, u32>,
    /// Physical page -> slab indices of blocks with code on it.
    by_page: FastMap<u32, Vec<u32>>,
    /// Direct-mapped (key, index) in front of the map.
    jump: Vec<(u64, u32)>,
    /// Blocks lately dropped by stores into their code, by key: decoding the same place
    /// again reuses their unchanged instructions (`decode_block_after`).
    stale: FastMap<u64, Block<B>>,
}

/// At most this many dropped blocks are kept for reuse.
const STALE_MAX: usize = 64;

impl<B> Default for BlockCache<B> {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn jump_slot(key: u64) -> usize {
    ((key ^ (key >> 12)) as usize) & (JUMP_CACHE - 1)
}

impl<B> BlockCache<B> {
    pub fn new() -> Self {
        BlockCache {
            slab: Vec::new(),
            free: Vec::new(),
            map: FastMap::default(),
            by_page: FastMap::default(),
            jump: vec![(NO_KEY, 0); JUMP_CACHE],
            stale: FastMap::default(),
        }
    }

    /// The block a store into code dropped at `key`, if it is still kept.
    pub fn take_stale(&mut self, key: u64) -> Option<Block<B>> {
        self.stale.remove(&key)
    }

    /// Find the block for `key`: its slab index.
    #[inline]
    pub fn find(&mut self, key: u64) -> Option<u32> {
        let slot = jump_slot(key);
        let (k, i) = self.jump[slot];
        if k == key {
            return Some(i);
        }
        let i = *self.map.get(&key)?;
        self.jump[slot] = (key, i);
        Some(i)
    }

    #[inline]
    pub fn block(&self, index: u32) -> &Block<B> {
        // Indices come from `find`/`insert`, which only hand out live slots.
        self.slab[index as usize]
            .as_ref()
            .expect("live block index")
    }

    pub fn insert(&mut self, key: u64, block: Block<B>) -> u32 {
        let ranges = block.code_ranges();
        let index = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = Some(block);
                i
            }
            None => {
                self.slab.push(Some(block));
                (self.slab.len() - 1) as u32
            }
        };
        for (start, len) in ranges.into_iter().filter(|r| r.1 != 0) {
            let first = (start >> PAGE_SHIFT) as u32;
            let last = ((start + len - 1) >> PAGE_SHIFT) as u32;
            for p in first..=last {
                self.by_page.entry(p).or_default().push(index);
            }
        }
        if let Some(old) = self.map.insert(key, index) {
            self.remove(old);
        }
        self.jump[jump_slot(key)] = (key, index);
        index
    }

    fn remove(&mut self, index: u32) {
        if self.slab[index as usize].take().is_some() {
            self.free.push(index);
        }
    }

    /// Whether a block holds decoded code over `[pa, pa+len)` (within one page).
    pub fn holds(&self, pa: u64, len: u64) -> bool {
        let Some(indices) = self.by_page.get(&((pa >> PAGE_SHIFT) as u32)) else {
            return false;
        };
        indices.iter().any(|&i| match &self.slab[i as usize] {
            Some(b) => b
                .code_ranges()
                .iter()
                .any(|&(start, n)| start < pa + len && pa < start + n),
            None => false,
        })
    }

    /// Drop every block with code on physical page `page`. Returns how many.
    pub fn invalidate_page(&mut self, page: u32) -> usize {
        // The page's list is emptied, not removed: a page stored into again and again
        // keeps its allocation.
        let Some(indices) = self.by_page.get_mut(&page).map(std::mem::take) else {
            return 0;
        };
        let mut n = 0;
        for &i in &indices {
            if let Some(b) = self.slab[i as usize].take() {
                self.map.remove(&b.key);
                self.free.push(i);
                // A block's key can only sit in its own jump slot: clearing that one
                // keeps self-modifying code from paying for the whole table per store.
                let slot = &mut self.jump[jump_slot(b.key)];
                if slot.0 == b.key {
                    *slot = (NO_KEY, 0);
                }
                if self.stale.len() >= STALE_MAX {
                    self.stale.clear();
                }
                self.stale.insert(b.key, b);
                n += 1;
            }
        }
        if let Some(list) = self.by_page.get_mut(&page) {
            if list.is_empty() {
                let mut indices = indices;
                indices.clear();
                *list = indices;
            }
        }
        n
    }

    pub fn clear(&mut self) {
        self.slab.clear();
        self.free.clear();
        self.map.clear();
        self.by_page.clear();
        self.jump.fill((NO_KEY, 0));
        self.stale.clear();
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
