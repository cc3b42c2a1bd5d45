//! ox86-jit: blocks the interpreter has run often are translated to host code.
//!
//! The translator walks a cached `Block` and emits, per instruction, either inline host
//! code (simple register forms) or a call to the interpreter's own handler through
//! `helpers::run_handler`, so every instruction keeps one meaning. Generated code sees
//! only the CPU state and the bus pointer it is given; all `unsafe` lives in
//! `backend/` and `code_cache.rs`.

// Hosts with a backend: x86-64 and AArch64. Elsewhere `Jit::new` says so.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod backend;
mod chain;
mod code_cache;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod helpers;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod layout;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod translate;

use std::collections::HashMap;
use std::num::NonZeroU32;

use ox86_core::decode::Block;
use ox86_core::interp::exec::{Accelerator, Translation};
use ox86_core::{Bus, Cpu, Exception};

#[derive(Debug, thiserror::Error)]
pub enum JitError {
    #[error("the JIT has no backend for this host architecture ({0}) yet")]
    UnsupportedHost(&'static str),
    #[error("cannot map memory for the JIT code cache: {0}")]
    Map(#[from] std::io::Error),
    #[error("the JIT's shared code does not fit its code cache")]
    Runtime,
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
type Runtime = backend::host::Runtime;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
type Runtime = ();

/// Emit the code blocks share (`backend::host::runtime`) at the start of the empty
/// `cache`: where its parts are, or None if it does not fit.
fn install_runtime<B: Bus>(cache: &mut code_cache::CodeCache, count: bool) -> Option<Runtime> {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        let (code, rt) = backend::host::runtime::<B>(cache.next_addr(), count)?;
        cache.push(&code)?;
        Some(rt)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = (cache, count);
        Some(())
    }
}

/// Counters for `--stats`.
#[derive(Clone, Copy, Debug, Default)]
pub struct JitStats {
    pub blocks_translated: u64,
    /// Entries from the dispatcher (the rest of the blocks run were chained).
    pub dispatches: u64,
    /// Guest instructions in translated blocks, and how many were inlined.
    pub insns_translated: u64,
    pub insns_inlined: u64,
    pub host_bytes: u64,
    pub translate_ns: u64,
    pub flushes: u64,
    /// Static exits made to jump straight into the next block (`Jit::patch`).
    pub exits_patched: u64,
}

/// The JIT for buses of type `B`.
pub struct Jit<B> {
    cache: code_cache::CodeCache,
    /// The shared code at the cache's start; None if it could not be put back after a
    /// reset (nothing is translated then).
    rt: Option<Runtime>,
    /// Handle - 1 -> offsets of the block's entry and chain entry in the code cache.
    entries: Vec<(usize, usize)>,
    links: Box<chain::Links>,
    /// Static exits by the key they lead to: code cache offsets of their `jmp rel32`,
    /// and whether they jump straight into that key's block now.
    sites: HashMap<u64, (Vec<usize>, bool)>,
    /// The keys whose exits are patched, to undo when blocks go (`unchain`).
    patched: Vec<u64>,
    /// Whether blocks count their chained entries (`count_chains`).
    count_chains: bool,
    pub stats: JitStats,
    _bus: std::marker::PhantomData<fn(&mut B)>,
}

/// Whether this host architecture has a JIT backend.
pub const HOST_SUPPORTED: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// Default code cache size.
pub const CODE_CACHE_BYTES: usize = 64 << 20;

impl<B: Bus> Jit<B> {
    pub fn new(cache_bytes: usize) -> Result<Self, JitError> {
        if !HOST_SUPPORTED {
            return Err(JitError::UnsupportedHost(std::env::consts::ARCH));
        }
        // Blocks reach the shared code at the cache's start with rel32 jumps.
        let mut cache = code_cache::CodeCache::new(cache_bytes.min(1 << 30))?;
        let rt = install_runtime::<B>(&mut cache, false).ok_or(JitError::Runtime)?;
        Ok(Jit {
            cache,
            rt: Some(rt),
            entries: Vec::new(),
            links: chain::Links::new(),
            sites: HashMap::new(),
            patched: Vec::new(),
            count_chains: false,
            stats: JitStats::default(),
            _bus: std::marker::PhantomData,
        })
    }

    /// Count the block-to-block transitions made in host code, for the "chained
    /// transitions" counter (`--stats`, `ox86 bench`). That costs an add to memory per
    /// transition on x86-64, so blocks there count only when asked (AArch64 blocks always
    /// count). For a JIT that has translated nothing yet.
    pub fn count_chains(mut self, on: bool) -> Result<Self, JitError> {
        self.cache.clear();
        self.rt = Some(install_runtime::<B>(&mut self.cache, on).ok_or(JitError::Runtime)?);
        self.count_chains = on;
        Ok(self)
    }
}

impl<B> Jit<B> {
    /// Record a static exit at code cache offset `site` to the block with `key`, and
    /// patch it now if that block is current and its other exits are patched, or it
    /// holds its chain slot.
    fn add_site(&mut self, site: usize, key: u64) {
        // Exits of translations whose blocks went stay listed until the cache is reset:
        // keep the newest, so code translated again and again costs `patch` and
        // `unchain` a bounded amount. The oldest goes back to its slot lookup.
        const MAX_SITES: usize = 64;
        let (sites, patched) = self.sites.entry(key).or_default();
        if sites.len() == MAX_SITES {
            let old = sites.remove(0);
            self.cache.aim_jump(old, None);
        }
        sites.push(site);
        match self.links.entry_of(key) {
            Some(entry) if *patched => {
                self.cache.aim_jump(site, Some(entry));
                self.stats.exits_patched += 1;
            }
            Some(entry) => self.patch(key, entry),
            None => {}
        }
    }

    /// Make every static exit to `key` jump straight to `entry`, its block's chain
    /// entry: the block stays current until `unchain`, which undoes this.
    fn patch(&mut self, key: u64, entry: usize) {
        let Some((sites, patched)) = self.sites.get_mut(&key) else {
            return;
        };
        if *patched {
            return;
        }
        for &s in sites.iter() {
            if !self.cache.aim_jump(s, Some(entry)) {
                return;
            }
        }
        self.stats.exits_patched += sites.len() as u64;
        *patched = true;
        self.patched.push(key);
    }
}

impl<B: Bus> Accelerator<B> for Jit<B> {
    fn translate(&mut self, block: &Block<B>, cpu: &Cpu) -> Translation {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        {
            let t0 = std::time::Instant::now();
            // The data and stack segments based at 0 now are assumed to stay so.
            let now = translate::Now::of(cpu);
            let Some(rt) = &self.rt else {
                return Translation::Unsupported;
            };
            let Some(t) = backend::host::translate(block, self.cache.next_addr(), &now, rt) else {
                return Translation::Unsupported;
            };
            let Some(offset) = self.cache.push(&t.code) else {
                return Translation::Full;
            };
            self.entries
                .push((offset + t.entry, offset + t.chain_entry));
            for (site, key) in t.sites {
                self.add_site(offset + site, key);
            }
            let s = &mut self.stats;
            s.blocks_translated += 1;
            s.insns_translated += block.insns.len() as u64;
            s.insns_inlined += t.inlined as u64;
            s.host_bytes += t.code.len() as u64;
            s.translate_ns += t0.elapsed().as_nanos() as u64;
            match NonZeroU32::new(self.entries.len() as u32) {
                Some(h) => Translation::Code(h),
                None => Translation::Unsupported,
            }
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            let _ = (block, cpu);
            Translation::Unsupported
        }
    }

    fn execute(
        &mut self,
        code: NonZeroU32,
        cpu: &mut Cpu,
        bus: &mut B,
        block: &Block<B>,
    ) -> Option<Exception> {
        let (entry, chain_entry) = self.entries[code.get() as usize - 1];
        self.stats.dispatches += 1;
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        {
            let chain_entry = self.cache.addr(chain_entry);
            if self
                .links
                .enter(block.key, chain_entry, block.insns.len(), code.get())
            {
                self.patch(block.key, chain_entry);
            }
            helpers::note_interrupt(cpu, bus);
            cpu.refresh_jit_view();
            // Handles exist only while the runtime does.
            let Some(rt) = &self.rt else {
                return None;
            };
            let r = backend::host::call(rt, self.cache.addr(entry), cpu, bus, &mut self.links);
            Exception::from_bits(r)
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            let _ = (entry, chain_entry, cpu, bus, block);
            None
        }
    }

    fn unchain(&mut self) {
        for key in std::mem::take(&mut self.patched) {
            if let Some((sites, patched)) = self.sites.get_mut(&key) {
                for &s in sites.iter() {
                    // Back to the slot lookup after it.
                    self.cache.aim_jump(s, None);
                }
                *patched = false;
            }
        }
        self.links.clear();
    }

    fn reset(&mut self) {
        self.cache.clear();
        self.rt = install_runtime::<B>(&mut self.cache, self.count_chains);
        self.entries.clear();
        self.sites.clear();
        self.patched.clear();
        self.links.clear();
        self.stats.flushes += 1;
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let s = &self.stats;
        let chained = self.count_chains || cfg!(target_arch = "aarch64");
        let mut c = vec![
            ("blocks translated", s.blocks_translated),
            ("dispatcher entries", s.dispatches),
            ("chained transitions", self.links.chained),
            ("instructions translated", s.insns_translated),
            ("instructions inlined", s.insns_inlined),
            ("host code bytes", s.host_bytes),
            ("translation ns", s.translate_ns),
            ("code cache flushes", s.flushes),
            ("exits patched", s.exits_patched),
        ];
        if !chained {
            c.remove(2);
        }
        c
    }
}
