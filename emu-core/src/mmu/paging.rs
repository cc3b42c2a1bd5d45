//! The i386 two-level page walk (4 KiB pages, 4 MiB pages with CR4.PSE, global pages with
//! CR4.PGE), with accessed/dirty bits and #PF error codes.

use crate::cpu::exception::{Exception, Result};
use crate::cpu::state::{CR0_PG, CR0_WP};
use crate::cpu::Cpu;
use crate::Bus;

pub const CR4_PSE: u32 = 1 << 4;
pub const CR4_PGE: u32 = 1 << 7;

const P: u32 = 1;
const RW: u32 = 2;
const US: u32 = 4;
const A: u32 = 1 << 5;
const D: u32 = 1 << 6;
const PS: u32 = 1 << 7;
const G: u32 = 1 << 8;

/// The result of a successful walk.
pub struct Translation {
    pub phys: u64,
    /// May the TLB cache this page as writable for this privilege?
    pub writable: bool,
    pub global: bool,
}

fn read_pte<B: Bus>(bus: &mut B, pa: u64) -> u32 {
    let m = bus.mem();
    if m.is_ram(pa + 3) {
        m.read_u32(pa)
    } else {
        bus.mmio_read(pa, 4)
    }
}

fn write_pte<B: Bus>(bus: &mut B, pa: u64, v: u32) {
    let m = bus.mem();
    if m.is_ram(pa + 3) {
        m.write_bytes(pa, &v.to_le_bytes());
    } else {
        bus.mmio_write(pa, 4, v);
    }
}

impl Cpu {
    /// Translate a linear address. `user`: the access is made at CPL 3 (not a system
    /// access such as a descriptor-table read).
    pub fn walk<B: Bus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        write: bool,
        user: bool,
    ) -> Result<Translation> {
        let a20 = bus.mem().a20_mask();
        if self.s.cr0 & CR0_PG == 0 {
            return Ok(Translation {
                phys: lin as u64 & a20,
                writable: true,
                global: false,
            });
        }
        let fault = |present: bool| {
            Exception::pf(present as u32 | (write as u32) << 1 | (user as u32) << 2)
        };
        let wp = self.s.cr0 & CR0_WP != 0;
        let pde_addr = (self.s.cr3 & !0xfff) as u64 + ((lin >> 22) * 4) as u64;
        let pde = read_pte(bus, pde_addr & a20);
        if pde & P == 0 {
            self.s.cr2 = lin;
            return Err(fault(false));
        }
        let large = pde & PS != 0 && self.s.cr4 & CR4_PSE != 0;
        // A directory entry used for the walk is marked accessed even if the table entry
        // then faults.
        if !large && pde & A == 0 {
            write_pte(bus, pde_addr & a20, pde | A);
        }
        let (entry, entry_addr, rw, us, phys) = if large {
            let phys = (pde & 0xffc0_0000) as u64 | (lin & 0x003f_ffff) as u64;
            (pde, pde_addr, pde & RW != 0, pde & US != 0, phys)
        } else {
            let pte_addr = (pde & !0xfff) as u64 + (((lin >> 12) & 0x3ff) * 4) as u64;
            let pte = read_pte(bus, pte_addr & a20);
            if pte & P == 0 {
                self.s.cr2 = lin;
                return Err(fault(false));
            }
            let phys = (pte & !0xfff) as u64 | (lin & 0xfff) as u64;
            (
                pte,
                pte_addr,
                pde & pte & RW != 0,
                pde & pte & US != 0,
                phys,
            )
        };
        if (user && !us) || (write && !rw && (user || wp)) {
            self.s.cr2 = lin;
            return Err(fault(true));
        }
        let want = entry | A | if write { D } else { 0 };
        if want != entry {
            write_pte(bus, entry_addr & a20, want);
        }
        let may_write = rw || (!user && !wp);
        Ok(Translation {
            phys: phys & a20,
            writable: may_write && want & D != 0,
            global: entry & G != 0 && self.s.cr4 & CR4_PGE != 0,
        })
    }
}
