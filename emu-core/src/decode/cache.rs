//! The block cache: decoded blocks keyed by (physical address, mode), dropped when a
//! store touches their code.

use std::collections::HashMap;
use std::rc::Rc;

use super::block::Block;
use crate::mem::PAGE_SHIFT;

/// Mode bits that change how bytes decode.
pub fn block_key(phys: u64, code32: bool, is_286: bool) -> u64 {
    phys | (code32 as u64) << 40 | (is_286 as u64) << 41
}

pub struct BlockCache<B> {
    blocks: HashMap<u64, Rc<Block<B>>>,
    /// Physical page -> keys of blocks with code on it.
    by_page: HashMap<u32, Vec<u64>>,
}

impl<B> Default for BlockCache<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B> BlockCache<B> {
    pub fn new() -> Self {
        BlockCache { blocks: HashMap::new(), by_page: HashMap::new() }
    }

    #[inline]
    pub fn get(&self, key: u64) -> Option<&Rc<Block<B>>> {
        self.blocks.get(&key)
    }

    pub fn insert(&mut self, key: u64, block: Rc<Block<B>>) {
        let first = (block.phys >> PAGE_SHIFT) as u32;
        let last = ((block.phys + block.size.max(1) as u64 - 1) >> PAGE_SHIFT) as u32;
        for p in first..=last {
            self.by_page.entry(p).or_default().push(key);
        }
        self.blocks.insert(key, block);
    }

    /// Drop every block with code on physical page `page`. Returns how many.
    pub fn invalidate_page(&mut self, page: u32) -> usize {
        let Some(keys) = self.by_page.remove(&page) else { return 0 };
        let mut n = 0;
        for k in keys {
            n += self.blocks.remove(&k).is_some() as usize;
        }
        n
    }

    pub fn clear(&mut self) {
        self.blocks.clear();
        self.by_page.clear();
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}
