//! String instructions with REP/REPE/REPNE. Each iteration commits its register updates,
//! so a fault part-way leaves a state from which the instruction restarts; long runs
//! yield every CHUNK iterations so interrupts are not held off.

use iced_x86::Mnemonic as M;

use super::size_mask;
use crate::cpu::exception::Result;
use crate::cpu::flags::LazyOp;
use crate::cpu::state::Seg;
use crate::decode::{DecodedInsn, Handler};
use crate::{Bus, Cpu};

const CHUNK: u32 = 4096;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Movs,
    Cmps,
    Scas,
    Lods,
    Stos,
    Ins,
    Outs,
}

struct Regs {
    a32: bool,
}

impl Regs {
    fn get(&self, c: &Cpu, r: usize) -> u32 {
        if self.a32 {
            c.s.regs[r]
        } else {
            c.s.regs[r] & 0xffff
        }
    }
    fn set(&self, c: &mut Cpu, r: usize, v: u32) {
        if self.a32 {
            c.s.regs[r] = v;
        } else {
            c.s.regs[r] = (c.s.regs[r] & !0xffff) | (v & 0xffff);
        }
    }
}

const ECX: usize = 1;
const ESI: usize = 6;
const EDI: usize = 7;

/// The 80286 advances the index register of an access that faults on the segment limit
/// before the fault is taken (its microcode updates the pointer with the access).
fn quirk_286(
    c: &mut Cpu,
    r: &Regs,
    reg: usize,
    delta: u32,
    e: crate::Exception,
) -> crate::Exception {
    if c.is_286() {
        let v = r.get(c, reg);
        r.set(c, reg, v.wrapping_add(delta));
    }
    e
}

/// One element; returns whether a compare matched (for REPE/REPNE).
fn step<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn, kind: Kind, r: &Regs) -> Result<bool> {
    let size = d.msize;
    let delta = if c.s.flags.df() {
        (size as u32).wrapping_neg()
    } else {
        size as u32
    };
    let si = r.get(c, ESI);
    let di = r.get(c, EDI);
    let mut zf = false;
    match kind {
        Kind::Movs => {
            let v = c
                .read_seg(bus, d.seg, si, size)
                .map_err(|e| quirk_286(c, r, ESI, delta, e))?;
            if c.is_286() {
                // The 286 has already stepped SI when the store faults.
                r.set(c, ESI, si.wrapping_add(delta));
            }
            c.write_seg(bus, Seg::Es, di, size, v)
                .map_err(|e| quirk_286(c, r, EDI, delta, e))?;
            r.set(c, ESI, si.wrapping_add(delta));
            r.set(c, EDI, di.wrapping_add(delta));
        }
        Kind::Cmps => {
            // The 286 fetches the ES:DI operand first and steps DI with it.
            let (a, b) = if c.is_286() {
                let b = c
                    .read_seg(bus, Seg::Es, di, size)
                    .map_err(|e| quirk_286(c, r, EDI, delta, e))?;
                r.set(c, EDI, di.wrapping_add(delta));
                (
                    c.read_seg(bus, d.seg, si, size)
                        .map_err(|e| quirk_286(c, r, ESI, delta, e))?,
                    b,
                )
            } else {
                let a = c.read_seg(bus, d.seg, si, size)?;
                (a, c.read_seg(bus, Seg::Es, di, size)?)
            };
            let m = size_mask(size);
            let res = a.wrapping_sub(b) & m;
            c.s.flags.set_lazy(LazyOp::Sub, size, a & m, b & m, res);
            zf = res == 0;
            r.set(c, ESI, si.wrapping_add(delta));
            r.set(c, EDI, di.wrapping_add(delta));
        }
        Kind::Scas => {
            let b = c
                .read_seg(bus, Seg::Es, di, size)
                .map_err(|e| quirk_286(c, r, EDI, delta, e))?;
            let m = size_mask(size);
            let a = c.s.regs[0] & m;
            let res = a.wrapping_sub(b) & m;
            c.s.flags.set_lazy(LazyOp::Sub, size, a, b & m, res);
            zf = res == 0;
            r.set(c, EDI, di.wrapping_add(delta));
        }
        Kind::Lods => {
            let v = c
                .read_seg(bus, d.seg, si, size)
                .map_err(|e| quirk_286(c, r, ESI, delta, e))?;
            let m = size_mask(size);
            c.s.regs[0] = (c.s.regs[0] & !m) | v;
            r.set(c, ESI, si.wrapping_add(delta));
        }
        Kind::Stos => {
            let m = size_mask(size);
            let v = c.s.regs[0] & m;
            c.write_seg(bus, Seg::Es, di, size, v)
                .map_err(|e| quirk_286(c, r, EDI, delta, e))?;
            r.set(c, EDI, di.wrapping_add(delta));
        }
        Kind::Ins => {
            let port = c.s.regs[2] as u16;
            c.check_io(bus, port, size)?;
            c.probe_write(bus, Seg::Es, di, size)
                .map_err(|e| quirk_286(c, r, EDI, delta, e))?;
            bus.set_clock(c.clock_at(d));
            let v = bus.io_read(port, size);
            c.write_seg(bus, Seg::Es, di, size, v)?;
            r.set(c, EDI, di.wrapping_add(delta));
        }
        Kind::Outs => {
            let port = c.s.regs[2] as u16;
            c.check_io(bus, port, size)?;
            let v = c
                .read_seg(bus, d.seg, si, size)
                .map_err(|e| quirk_286(c, r, ESI, delta, e))?;
            bus.set_clock(c.clock_at(d));
            bus.io_write(port, size, v);
            r.set(c, ESI, si.wrapping_add(delta));
        }
    }
    Ok(zf)
}

/// How far a forward REP run can go at once: up to `max` elements of `d.msize` bytes
/// for each operand (segment, index register, written?), none crossing a page or
/// wrapping the offset, the first and last inside the segment (which covers the ones
/// between), on pages the soft TLB maps for the access (so RAM without code and no
/// watched address). The element count (2 or more) and each operand's physical
/// address; None leaves the run to `step`, which also raises any fault exactly.
fn span(
    c: &Cpu,
    d: &DecodedInsn,
    r: &Regs,
    max: u32,
    ops: &[(Seg, usize, bool)],
) -> Option<(u32, [u32; 2])> {
    let size = d.msize as u32;
    if c.s.flags.df() || !matches!(size, 1 | 2 | 4) {
        return None;
    }
    let space: u64 = if r.a32 { 1 << 32 } else { 1 << 16 };
    let mut n = r.get(c, ECX).min(max);
    let mut lin = [0; 2];
    for (i, &(seg, reg, write)) in ops.iter().enumerate() {
        let off = r.get(c, reg);
        lin[i] = c.seg_lin(seg, off, size as u8, write).ok()?;
        let in_space = ((space - off as u64) / size as u64).min(u32::MAX as u64) as u32;
        n = n.min(in_space).min((0x1000 - (lin[i] & 0xfff)) / size);
    }
    if n < 2 {
        return None;
    }
    let user = c.s.cpl == 3;
    let mut pa = [0; 2];
    for (i, &(seg, reg, write)) in ops.iter().enumerate() {
        let last = r.get(c, reg).wrapping_add((n - 1) * size);
        c.seg_lin(seg, last, size as u8, write).ok()?;
        pa[i] = if write {
            c.tlb.write_hit(user, lin[i])
        } else {
            c.tlb.read_hit(user, lin[i])
        }?;
    }
    Some((n, pa))
}

/// After `n` elements of a run: the index registers `regs` stepped, the count down.
fn advance(c: &mut Cpu, r: &Regs, n: u32, size: u32, regs: &[usize]) {
    for &reg in regs {
        let v = r.get(c, reg);
        r.set(c, reg, v.wrapping_add(n * size));
    }
    let count = r.get(c, ECX);
    r.set(c, ECX, count.wrapping_sub(n));
}

/// REP MOVS/STOS over a `span`, as the elements done one by one in order would leave
/// memory: a fill, a block move, or, where a move's destination starts less than its
/// length after its source, element by element (each may read what an earlier one
/// wrote). Returns how many elements were done (0: none).
fn bulk<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn, kind: Kind, r: &Regs, max: u32) -> u32 {
    let movs = kind == Kind::Movs;
    let ops = [(Seg::Es, EDI, true), (d.seg, ESI, false)];
    let Some((n, [dst, src])) = span(c, d, r, max, &ops[..if movs { 2 } else { 1 }]) else {
        return 0;
    };
    let size = d.msize as usize;
    let (dst, src, len) = (dst as usize, src as usize, n as usize * size);
    let ram = bus.mem().ram_mut();
    if dst + len > ram.len() || (movs && src + len > ram.len()) {
        return 0;
    }
    // Every element copy has a size known at compile time: one of a run-time size
    // would be a call to memmove per element.
    if !movs {
        let fill = c.s.regs[0];
        let buf = &mut ram[dst..dst + len];
        match size {
            1 => buf.fill(fill as u8),
            2 => fill_with(buf, (fill as u16).to_le_bytes()),
            _ => fill_with(buf, fill.to_le_bytes()),
        }
    } else if dst <= src || dst >= src + len {
        ram.copy_within(src..src + len, dst);
    } else {
        match size {
            1 => move_up::<1>(ram, src, dst, len),
            2 => move_up::<2>(ram, src, dst, len),
            _ => move_up::<4>(ram, src, dst, len),
        }
    }
    advance(
        c,
        r,
        n,
        size as u32,
        if movs { &[EDI, ESI] } else { &[EDI] },
    );
    n
}

/// `buf` filled with copies of `e`.
fn fill_with<const N: usize>(buf: &mut [u8], e: [u8; N]) {
    for d in buf.chunks_exact_mut(N) {
        d.copy_from_slice(&e);
    }
}

/// A forward move of `len` bytes, `N` at a time, whose destination starts inside its
/// source: each element may read what an earlier one wrote.
fn move_up<const N: usize>(ram: &mut [u8], src: usize, dst: usize, len: usize) {
    for i in (0..len).step_by(N) {
        let mut e = [0; N];
        e.copy_from_slice(&ram[src + i..src + i + N]);
        ram[dst + i..dst + i + N].copy_from_slice(&e);
    }
}

/// REPE/REPNE CMPS over a `span`, stopping after the first element that ends the
/// repeat. Returns how many were compared (0: none, left to `step`) and whether the
/// repeat ended.
fn bulk_cmps<B: Bus>(
    c: &mut Cpu,
    bus: &mut B,
    d: &DecodedInsn,
    r: &Regs,
    max: u32,
    repe: bool,
) -> (u32, bool) {
    let ops = [(d.seg, ESI, false), (Seg::Es, EDI, false)];
    let Some((n, [src, dst])) = span(c, d, r, max, &ops) else {
        return (0, false);
    };
    let size = d.msize as u32;
    let m = bus.mem();
    let read = |pa: u32| match size {
        1 => m.read_u8(pa as u64) as u32,
        2 => m.read_u16(pa as u64) as u32,
        _ => m.read_u32(pa as u64),
    };
    // REPE: skip the equal elements eight bytes at a time, all but the last (whose
    // values the flags record).
    let (mut done, mut a, mut b) = (0, 0, 0);
    if repe {
        let len = (n * size) as usize;
        let (s, t) = (src as usize, dst as usize);
        if let (Some(x), Some(y)) = (m.ram().get(s..s + len), m.ram().get(t..t + len)) {
            let same = x.chunks_exact(8).zip(y.chunks_exact(8));
            let words = same.take_while(|(p, q)| p == q).count() as u32;
            done = (words * 8 / size).min(n - 1);
        }
    }
    while done < n {
        a = read(src + done * size);
        b = read(dst + done * size);
        done += 1;
        if (a == b) != repe {
            break;
        }
    }
    let res = a.wrapping_sub(b) & size_mask(size as u8);
    c.s.flags.set_lazy(LazyOp::Sub, size as u8, a, b, res);
    advance(c, r, done, size, &[ESI, EDI]);
    (done, (a == b) != repe)
}

fn string<B: Bus, const K: u8>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let kind = match K {
        0 => Kind::Movs,
        1 => Kind::Cmps,
        2 => Kind::Scas,
        3 => Kind::Lods,
        4 => Kind::Stos,
        5 => Kind::Ins,
        _ => Kind::Outs,
    };
    let r = Regs { a32: d.a32 };
    let repe = d.i.has_rep_prefix();
    let repne = d.i.has_repne_prefix();
    if !repe && !repne {
        step(c, bus, d, kind, &r)?;
        return Ok(());
    }
    let compares = matches!(kind, Kind::Cmps | Kind::Scas);
    // Under TF every iteration is single-stepped (the trap comes between iterations).
    let chunk = if c.s.flags.bits & crate::cpu::flags::TF != 0 {
        1
    } else {
        CHUNK
    };
    let mut n = 0;
    loop {
        let count = r.get(c, ECX);
        if count == 0 {
            return Ok(());
        }
        if n == chunk {
            // Resume this instruction later (interrupts may be taken in between).
            let mask = if c.s.code32() { u32::MAX } else { 0xffff };
            c.s.eip = c.s.eip.wrapping_sub(d.len as u32) & mask;
            c.end_block = true;
            return Ok(());
        }
        if matches!(kind, Kind::Movs | Kind::Stos) {
            let done = bulk(c, bus, d, kind, &r, chunk - n);
            if done > 0 {
                n += done;
                continue;
            }
        }
        if kind == Kind::Cmps {
            let (done, ended) = bulk_cmps(c, bus, d, &r, chunk - n, repe);
            if ended {
                return Ok(());
            }
            if done > 0 {
                n += done;
                continue;
            }
        }
        let (si, di) = (r.get(c, ESI), r.get(c, EDI));
        let zf = step(c, bus, d, kind, &r).inspect_err(|_| {
            if c.is_286() {
                // How far the 286's REP microcode has counted when an access faults: a
                // faulting store is seen one count late, a CMPS fault on its first
                // (ES:DI) read before any count.
                let dec = match kind {
                    Kind::Stos | Kind::Ins => 2,
                    Kind::Movs if r.get(c, EDI) != di => 2,
                    Kind::Cmps if r.get(c, ESI) == si => 0,
                    _ => 1,
                };
                r.set(c, ECX, count.wrapping_sub(dec));
            }
        })?;
        r.set(c, ECX, count.wrapping_sub(1));
        n += 1;
        if compares && ((repe && !zf) || (repne && zf)) {
            return Ok(());
        }
    }
}

pub fn handler<B: Bus>(m: M) -> Option<Handler<B>> {
    Some(match m {
        M::Movsb | M::Movsw | M::Movsd => string::<B, 0>,
        M::Cmpsb | M::Cmpsw | M::Cmpsd => string::<B, 1>,
        M::Scasb | M::Scasw | M::Scasd => string::<B, 2>,
        M::Lodsb | M::Lodsw | M::Lodsd => string::<B, 3>,
        M::Stosb | M::Stosw | M::Stosd => string::<B, 4>,
        M::Insb | M::Insw | M::Insd => string::<B, 5>,
        M::Outsb | M::Outsw | M::Outsd => string::<B, 6>,
        _ => return None,
    })
}
