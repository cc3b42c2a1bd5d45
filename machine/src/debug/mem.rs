//! Guest memory as a debugger sees it: linear addresses translated through the guest's
//! page tables without side effects (no accessed/dirty bits set, no CR2, no TLB fill, no
//! fault delivered), descriptor-table entries, and the page walk of one address.

use ox86_core::cpu::state::{CpuState, Segment, CR0_PG};
use ox86_core::mmu::paging::{CR4_PGE, CR4_PSE};
use ox86_core::Bus;

use crate::board::Board;

const P: u32 = 1;
const RW: u32 = 2;
const US: u32 = 4;
const PS: u32 = 1 << 7;
const G: u32 = 1 << 8;

/// One step of a page walk: where the entry lives and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub addr: u64,
    pub value: u32,
}

/// The page walk of one linear address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walk {
    pub lin: u32,
    /// Paging is off: the physical address is the linear one (A20 applied).
    pub paging: bool,
    pub pde: Option<Entry>,
    pub pte: Option<Entry>,
    /// A 4 MiB page (PSE).
    pub large: bool,
    /// The physical address, when the page is present.
    pub phys: Option<u64>,
    /// Writable and user-accessible per the directory and table entries.
    pub writable: bool,
    pub user: bool,
    pub global: bool,
}

/// Physical bytes: RAM, or the board's memory outside RAM (the firmware ROM at the top
/// of 4 GiB; 0xFF elsewhere).
pub fn read_phys(board: &mut Board, pa: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        let a = pa + i as u64;
        *b = if board.mem.is_ram(a) {
            board.mem.read_u8(a)
        } else {
            board.mmio_read(a, 1) as u8
        };
    }
}

fn read_entry(board: &mut Board, pa: u64) -> Entry {
    let mut b = [0; 4];
    read_phys(board, pa, &mut b);
    Entry {
        addr: pa,
        value: u32::from_le_bytes(b),
    }
}

/// Walk the guest's page tables for `lin`, touching nothing.
pub fn walk(s: &CpuState, board: &mut Board, lin: u32) -> Walk {
    let a20 = board.mem.a20_mask();
    let mut w = Walk {
        lin,
        paging: s.cr0 & CR0_PG != 0,
        pde: None,
        pte: None,
        large: false,
        phys: None,
        writable: true,
        user: true,
        global: false,
    };
    if !w.paging {
        w.phys = Some(lin as u64 & a20);
        return w;
    }
    let pde = read_entry(
        board,
        ((s.cr3 & !0xfff) as u64 + (lin >> 22) as u64 * 4) & a20,
    );
    w.pde = Some(pde);
    if pde.value & P == 0 {
        return w;
    }
    let (entry, phys) = if pde.value & PS != 0 && s.cr4 & CR4_PSE != 0 {
        w.large = true;
        let phys = (pde.value & 0xffc0_0000) as u64 | (lin & 0x003f_ffff) as u64;
        (pde.value, phys)
    } else {
        let at = (pde.value & !0xfff) as u64 + ((lin >> 12) & 0x3ff) as u64 * 4;
        let pte = read_entry(board, at & a20);
        w.pte = Some(pte);
        if pte.value & P == 0 {
            return w;
        }
        let phys = (pte.value & !0xfff) as u64 | (lin & 0xfff) as u64;
        ((pte.value & pde.value) | (pte.value & G), phys)
    };
    w.writable = entry & RW != 0;
    w.user = entry & US != 0;
    w.global = entry & G != 0 && s.cr4 & CR4_PGE != 0;
    w.phys = Some(phys & a20);
    w
}

/// The physical address of `lin`, if it is mapped.
pub fn translate(s: &CpuState, board: &mut Board, lin: u32) -> Option<u64> {
    walk(s, board, lin).phys
}

/// Read linear memory into `buf`; returns how many bytes could be read (the rest is not
/// mapped).
pub fn read_linear(s: &CpuState, board: &mut Board, lin: u32, buf: &mut [u8]) -> usize {
    let mut done = 0;
    while done < buf.len() {
        let at = lin.wrapping_add(done as u32);
        let Some(pa) = translate(s, board, at) else {
            break;
        };
        let n = (0x1000 - (at & 0xfff) as usize).min(buf.len() - done);
        read_phys(board, pa, &mut buf[done..done + n]);
        done += n;
    }
    done
}

/// Write linear memory, ignoring page protection (as a debugger does), with the block
/// cache told about code it overwrites. Returns how many bytes were written: it stops at
/// an unmapped page or memory that is not RAM.
pub fn write_linear(s: &CpuState, board: &mut Board, lin: u32, data: &[u8]) -> usize {
    let mut done = 0;
    while done < data.len() {
        let at = lin.wrapping_add(done as u32);
        let Some(pa) = translate(s, board, at) else {
            break;
        };
        let n = (0x1000 - (at & 0xfff) as usize).min(data.len() - done);
        if !board.mem.is_ram(pa) || !board.mem.is_ram(pa + n as u64 - 1) {
            break;
        }
        board.mem.write_bytes(pa, &data[done..done + n]);
        done += n;
    }
    done
}

/// A segment descriptor (8 bytes) as the descriptor cache holds it.
pub fn descriptor_to_segment(selector: u16, d: [u8; 8]) -> Segment {
    let base = u32::from_le_bytes([d[2], d[3], d[4], d[7]]);
    let mut limit = u16::from_le_bytes([d[0], d[1]]) as u32 | ((d[6] & 0xf) as u32) << 16;
    if d[6] & 0x80 != 0 {
        limit = limit << 12 | 0xfff;
    }
    Segment {
        selector,
        attr: d[5] as u16 | ((d[6] & 0xf0) as u16) << 8,
        base,
        limit,
    }
}

/// Read the descriptor `selector` names (GDT or LDT), if its table holds it and it is
/// readable.
pub fn read_descriptor(s: &CpuState, board: &mut Board, selector: u16) -> Option<[u8; 8]> {
    let (base, limit) = if selector & 4 != 0 {
        (s.ldtr.base, s.ldtr.limit)
    } else {
        (s.gdtr.base, s.gdtr.limit as u32)
    };
    let off = (selector & !7) as u32;
    if off + 7 > limit {
        return None;
    }
    let mut d = [0; 8];
    (read_linear(s, board, base.wrapping_add(off), &mut d) == 8).then_some(d)
}
