//! System instructions: port I/O with its permission checks, descriptor tables, control
//! and debug registers, CPUID, time-stamp counter, MSRs, and the protection queries.

use iced_x86::{Mnemonic as M, OpKind, Register};

use crate::cpu::exception::{Exception, Result};
use crate::cpu::flags;
use crate::cpu::protected::sel_err;
use crate::cpu::state::CR4_TSD;
use crate::cpu::state::*;
use crate::cpu::CpuModel;
use crate::decode::{DecodedInsn, Handler};
use crate::mmu::paging::{CR4_PGE, CR4_PSE};
use crate::{Bus, Cpu};

const CR4_ALLOWED: u32 = CR4_TSD | CR4_PSE | CR4_PGE;

/// CPUID leaf 1 EDX: exactly what ox86 implements.
pub const CPUID_FEATURES: u32 = 1 // FPU (x87, interp/x87)
    | (1 << 3) // PSE
    | (1 << 4) // TSC
    | (1 << 5) // MSR
    | (1 << 8) // CX8
    | (1 << 13) // PGE
    | (1 << 15); // CMOV
/// Family 6 model 1 (Pentium Pro), stepping 9: from stepping 8 on the Pentium Pro has no
/// erratum 50, so guests need no work-arounds for it.
pub const CPUID_SIGNATURE: u32 = 0x0619;

pub const MSR_TSC: u32 = 0x10;
/// IA32_BIOS_SIGN_ID: the loaded microcode revision (none: reads 0, writes ignored).
pub const MSR_BIOS_SIGN_ID: u32 = 0x8b;
pub const MSR_SYSENTER_CS: u32 = 0x174;
pub const MSR_SYSENTER_ESP: u32 = 0x175;
pub const MSR_SYSENTER_EIP: u32 = 0x176;

impl Cpu {
    /// May the current code access `size` ports at `port`? IOPL, then the TSS bitmap.
    pub fn check_io<B: Bus>(&mut self, bus: &mut B, port: u16, size: u8) -> Result<()> {
        if !self.s.protected_mode() {
            return Ok(());
        }
        let iopl = ((self.s.flags.bits >> 12) & 3) as u8;
        if !self.s.v86() && self.s.cpl <= iopl {
            return Ok(());
        }
        let tr = self.s.tr;
        // Only a 32-bit TSS has a bitmap.
        if tr.attr & 0xd != 0x9 || tr.limit < 0x67 {
            return Err(Exception::gp0());
        }
        let base = self.read_sys(bus, tr.base.wrapping_add(0x66), 2)?;
        let off = base + port as u32 / 8;
        if off as u64 + 1 > tr.limit as u64 {
            return Err(Exception::gp0());
        }
        let bits = self.read_sys(bus, tr.base.wrapping_add(off), 2)?;
        let mask = ((1u32 << size) - 1) << (port & 7);
        if bits & mask != 0 {
            return Err(Exception::gp0());
        }
        Ok(())
    }

    fn require_cpl0(&self) -> Result<()> {
        if self.s.protected_mode() && (self.s.cpl != 0 || self.s.v86()) {
            Err(Exception::gp0())
        } else {
            Ok(())
        }
    }

    fn require_protected(&self) -> Result<()> {
        if self.real_or_v86() {
            Err(Exception::ud())
        } else {
            Ok(())
        }
    }

    /// MOV CR0 (and LMSW): flush translations when paging-relevant bits change.
    pub fn write_cr0(&mut self, v: u32) -> Result<()> {
        let v = v | CR0_ET;
        if v & CR0_PG != 0 && v & CR0_PE == 0 {
            return Err(Exception::gp0());
        }
        if v & CR0_NW != 0 && v & CR0_CD == 0 {
            return Err(Exception::gp0());
        }
        let old = self.s.cr0;
        self.s.cr0 = v;
        if (old ^ v) & (CR0_PG | CR0_WP | CR0_PE) != 0 {
            self.flush_tlb();
        }
        if v & CR0_PE == 0 {
            self.s.cpl = 0;
        }
        self.end_block = true;
        Ok(())
    }
}

fn cli_sti<B: Bus, const SET: bool>(c: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    if c.s.protected_mode() {
        let iopl = ((c.s.flags.bits >> 12) & 3) as u8;
        if (c.s.v86() && iopl < 3) || (!c.s.v86() && c.s.cpl > iopl) {
            return Err(Exception::gp0());
        }
    }
    if SET && c.s.flags.bits & flags::IF == 0 {
        // Interrupts are recognised after the next instruction: end the block here so
        // the run loop runs that one alone and then takes a waiting interrupt (code such
        // as `sti; nop; cli` must see it).
        c.irq_inhibit = true;
        c.end_block = true;
    }
    c.s.flags.set_bit(flags::IF, SET);
    Ok(())
}

fn port_of(c: &Cpu, d: &DecodedInsn, n: u32) -> u16 {
    match d.i.op_kind(n) {
        OpKind::Immediate8 => d.i.immediate8() as u16,
        _ => c.s.regs[2] as u16,
    }
}

fn in_<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let r = d.i.op0_register();
    let size = r.size() as u8;
    let port = port_of(c, d, 1);
    c.check_io(bus, port, size)?;
    bus.set_clock(c.clock_at(d));
    let v = bus.io_read(port, size);
    c.reg_set(r, v);
    Ok(())
}

fn out<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let r = d.i.op1_register();
    let size = r.size() as u8;
    let port = port_of(c, d, 0);
    c.check_io(bus, port, size)?;
    let v = c.reg_get(r);
    bus.set_clock(c.clock_at(d));
    let before = mem_state(bus);
    bus.io_write(port, size, v);
    // The run loop looks at the machine again, as after any instruction that ends a
    // block, when the write asks for it (a timer reprogrammed, an exit or a reset),
    // changed memory under the TLB and the decoded code (A20, shadow RAM, DMA) or made
    // an interrupt wait. Most writes do none of that (port 0x80, the serial port's data).
    if bus.stop_requested()
        || mem_state(bus) != before
        || (c.s.flags.bits & flags::IF != 0 && bus.interrupt_pending())
    {
        c.end_block = true;
    }
    Ok(())
}

/// What of memory a port write may change that the TLB and the block cache depend on.
fn mem_state<B: Bus>(bus: &mut B) -> (u64, u64, bool) {
    let m = bus.mem();
    (m.map_gen, m.write_gen, m.has_invalidated())
}

/// LGDT/LIDT.
fn load_dt<B: Bus, const IDT: bool>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    c.require_cpl0()?;
    let limit = c.mem_read_at(bus, d, 0, 2)? as u16;
    let mut base = c.mem_read_at(bus, d, 2, 4)?;
    if !d.o32 {
        base &= 0x00ff_ffff;
    }
    let t = DescTable { base, limit };
    if IDT {
        c.s.idtr = t;
    } else {
        c.s.gdtr = t;
    }
    Ok(())
}

/// SGDT/SIDT.
fn store_dt<B: Bus, const IDT: bool>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let t = if IDT { c.s.idtr } else { c.s.gdtr };
    let base = if d.o32 {
        t.base
    } else if c.is_286() {
        t.base | 0xff00_0000
    } else {
        t.base & 0x00ff_ffff
    };
    c.probe_write(bus, d.seg, c.ea(d), 6)?;
    c.mem_write_at(bus, d, 0, 2, t.limit as u32)?;
    c.mem_write_at(bus, d, 2, 4, base)
}

fn read_sel_operand<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn, n: u32) -> Result<u16> {
    if d.i.op_kind(n) == OpKind::Register {
        Ok(c.reg_get(d.i.op_register(n)) as u16)
    } else {
        let ea = c.ea(d);
        Ok(c.read_seg(bus, d.seg, ea, 2)? as u16)
    }
}

/// Store a selector or MSW: a register destination with 32-bit operand size gets it
/// zero-extended; memory gets 16 bits.
fn store_word<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn, v: u32) -> Result<()> {
    if d.i.op0_kind() == OpKind::Register {
        let r = d.i.op0_register();
        if r.is_gpr32() {
            c.reg_set(r, v);
        } else {
            c.reg_set(r, v & 0xffff);
        }
        Ok(())
    } else {
        let ea = c.ea(d);
        c.write_seg(bus, d.seg, ea, 2, v & 0xffff)
    }
}

fn sldt_str<B: Bus, const TR: bool>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    c.require_protected()?;
    let v = if TR {
        c.s.tr.selector
    } else {
        c.s.ldtr.selector
    } as u32;
    store_word(c, bus, d, v)
}

fn lldt<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    c.require_protected()?;
    c.require_cpl0()?;
    let sel = read_sel_operand(c, bus, d, 0)?;
    if sel & 0xfffc == 0 {
        c.s.ldtr = Segment {
            selector: sel,
            ..Default::default()
        };
        return Ok(());
    }
    if sel & 4 != 0 {
        return Err(Exception::gp(sel_err(sel)));
    }
    let desc = c.read_descriptor(bus, sel)?;
    if desc.is_segment() || desc.sys_type() != 2 {
        return Err(Exception::gp(sel_err(sel)));
    }
    if !desc.present() {
        return Err(Exception::np(sel_err(sel)));
    }
    c.s.ldtr = desc.to_segment(sel);
    Ok(())
}

fn ltr<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    c.require_protected()?;
    c.require_cpl0()?;
    let sel = read_sel_operand(c, bus, d, 0)?;
    if sel & 0xfffc == 0 {
        return Err(Exception::gp0());
    }
    if sel & 4 != 0 {
        return Err(Exception::gp(sel_err(sel)));
    }
    let desc = c.read_descriptor(bus, sel)?;
    if desc.is_segment() || !matches!(desc.sys_type(), 1 | 9) {
        return Err(Exception::gp(sel_err(sel)));
    }
    if !desc.present() {
        return Err(Exception::np(sel_err(sel)));
    }
    // Mark the TSS busy.
    let addr = c.s.gdtr.base.wrapping_add((sel & !7) as u32 + 5);
    c.write_sys(bus, addr, 1, ((desc.hi >> 8) & 0xff) | 2)?;
    let mut tr = desc.to_segment(sel);
    tr.attr |= 2;
    c.s.tr = tr;
    Ok(())
}

/// LAR/LSL: ZF reports whether the selector is visible at this privilege.
fn lar_lsl<B: Bus, const LSL: bool>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    c.require_protected()?;
    let sel = read_sel_operand(c, bus, d, 1)?;
    let result = if sel & 0xfffc == 0 {
        None
    } else {
        c.try_read_descriptor(bus, sel)?.filter(|desc| {
            let type_ok = desc.is_segment()
                || if LSL {
                    matches!(desc.sys_type(), 1 | 2 | 3 | 9 | 11)
                } else {
                    matches!(desc.sys_type(), 1..=5 | 9 | 11 | 12)
                };
            let priv_ok =
                desc.conforming() || (desc.dpl() >= c.s.cpl && desc.dpl() >= (sel & 3) as u8);
            type_ok && priv_ok
        })
    };
    match result {
        Some(desc) => {
            let v = if LSL {
                desc.limit()
            } else if d.osz == 4 {
                desc.hi & 0x00ff_ff00
            } else {
                desc.hi & 0xff00
            };
            c.reg_set(d.i.op0_register(), v);
            c.s.flags.set_bit(flags::ZF, true);
        }
        None => c.s.flags.set_bit(flags::ZF, false),
    }
    Ok(())
}

fn verr_verw<B: Bus, const W: bool>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    c.require_protected()?;
    let sel = read_sel_operand(c, bus, d, 0)?;
    let ok = if sel & 0xfffc == 0 {
        false
    } else {
        match c.try_read_descriptor(bus, sel)? {
            None => false,
            Some(desc) => {
                let priv_ok = (desc.conforming() && !W)
                    || (desc.dpl() >= c.s.cpl && desc.dpl() >= (sel & 3) as u8);
                let type_ok = if W {
                    desc.writable_data()
                } else {
                    desc.is_segment() && desc.readable()
                };
                priv_ok && type_ok
            }
        }
    };
    c.s.flags.set_bit(flags::ZF, ok);
    Ok(())
}

fn arpl<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    c.require_protected()?;
    let dst = c.op_read(bus, d, 0)?;
    let src = c.reg_get(d.i.op1_register());
    if dst & 3 < src & 3 {
        c.op_write(bus, d, 0, (dst & !3) | (src & 3))?;
        c.s.flags.set_bit(flags::ZF, true);
    } else {
        c.s.flags.set_bit(flags::ZF, false);
    }
    Ok(())
}

fn lmsw<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    c.require_cpl0()?;
    let v = read_sel_operand(c, bus, d, 0)? as u32;
    // PE can be set but not cleared by LMSW.
    let new = (c.s.cr0 & !0xe) | (v & 0xf) | (c.s.cr0 & CR0_PE);
    c.write_cr0(new)
}

fn smsw<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let v = if c.is_286() {
        c.s.cr0 | 0xfff0
    } else {
        c.s.cr0
    };
    store_word(c, bus, d, v)
}

fn clts<B: Bus>(c: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    c.require_cpl0()?;
    c.s.cr0 &= !CR0_TS;
    Ok(())
}

fn mov_cr<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    c.require_cpl0()?;
    let (r0, r1) = (d.i.op0_register(), d.i.op1_register());
    if r0.is_cr() {
        let v = c.reg_get(r1);
        match r0 {
            Register::CR0 => c.write_cr0(v)?,
            Register::CR2 => c.s.cr2 = v,
            Register::CR3 => {
                c.s.cr3 = v;
                c.flush_tlb_nonglobal();
            }
            Register::CR4 => {
                if v & !CR4_ALLOWED != 0 {
                    return Err(Exception::gp0());
                }
                c.s.cr4 = v;
                c.flush_tlb();
            }
            _ => return Err(Exception::ud()),
        }
        c.end_block = true;
    } else {
        let v = match r1 {
            Register::CR0 => c.s.cr0,
            Register::CR2 => c.s.cr2,
            Register::CR3 => c.s.cr3,
            Register::CR4 => c.s.cr4,
            _ => return Err(Exception::ud()),
        };
        c.reg_set(r0, v);
    }
    Ok(())
}

fn mov_dr<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    c.require_cpl0()?;
    let (r0, r1) = (d.i.op0_register(), d.i.op1_register());
    let idx = |r: Register| {
        let n = r as usize - Register::DR0 as usize;
        // DR4/DR5 alias DR6/DR7 (CR4.DE is not implemented).
        if n == 4 || n == 5 {
            n + 2
        } else {
            n
        }
    };
    if r0.is_dr() {
        let n = idx(r0);
        if n > 7 {
            return Err(Exception::ud());
        }
        let v = c.reg_get(r1);
        c.s.dr[n] = match n {
            6 => (v & 0xe00f) | 0xffff_0ff0,
            7 => (v & !0xd800) | 0x400,
            _ => v,
        };
        // Watched pages must leave the TLB so their accesses reach the checks.
        c.flush_tlb();
        c.end_block = true;
    } else {
        let n = idx(r1);
        if n > 7 {
            return Err(Exception::ud());
        }
        c.reg_set(r0, c.s.dr[n]);
    }
    Ok(())
}

fn cpuid<B: Bus>(c: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    let (a, b, cc, d) = match c.s.regs[0] {
        0 => (
            1,
            u32::from_le_bytes(*b"Genu"),
            u32::from_le_bytes(*b"ntel"),
            u32::from_le_bytes(*b"ineI"),
        ),
        _ => (CPUID_SIGNATURE, 0, 0, CPUID_FEATURES),
    };
    c.s.regs[0] = a;
    c.s.regs[3] = b;
    c.s.regs[1] = cc;
    c.s.regs[2] = d;
    Ok(())
}

fn rdtsc<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    if c.s.cr4 & CR4_TSD != 0 && c.s.protected_mode() && c.s.cpl != 0 {
        return Err(Exception::gp0());
    }
    let t = c.tsc_at(d);
    c.s.regs[0] = t as u32;
    c.s.regs[2] = (t >> 32) as u32;
    Ok(())
}

fn rdmsr<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    c.require_cpl0()?;
    let v: u64 = match c.s.regs[1] {
        MSR_TSC => c.tsc_at(d),
        MSR_BIOS_SIGN_ID => 0,
        MSR_SYSENTER_CS => c.s.sysenter_cs as u64,
        MSR_SYSENTER_ESP => c.s.sysenter_esp as u64,
        MSR_SYSENTER_EIP => c.s.sysenter_eip as u64,
        _ => return Err(Exception::gp0()),
    };
    c.s.regs[0] = v as u32;
    c.s.regs[2] = (v >> 32) as u32;
    Ok(())
}

fn wrmsr<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    c.require_cpl0()?;
    let v = (c.s.regs[2] as u64) << 32 | c.s.regs[0] as u64;
    match c.s.regs[1] {
        MSR_TSC => c.s.tsc_offset = v.wrapping_sub(c.clock_at(d)),
        MSR_BIOS_SIGN_ID => {}
        MSR_SYSENTER_CS => c.s.sysenter_cs = v as u32,
        MSR_SYSENTER_ESP => c.s.sysenter_esp = v as u32,
        MSR_SYSENTER_EIP => c.s.sysenter_eip = v as u32,
        _ => return Err(Exception::gp0()),
    }
    Ok(())
}

fn cache_op<B: Bus>(c: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    c.require_cpl0()
}

fn invlpg<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    c.require_cpl0()?;
    let lin = c.s.segs[d.seg as usize].base.wrapping_add(c.ea(d));
    c.flush_tlb_page(lin);
    Ok(())
}

/// WAIT/FWAIT: #NM for MP+TS, then #MF for a pending unmasked x87 exception.
fn wait<B: Bus>(c: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    crate::interp::x87::control::wait_check(c)
}

/// x87 escape with no FPU: #NM when CR0.EM or CR0.TS asks for emulation; otherwise the
/// instruction does nothing (a CPU with no coprocessor fitted).
fn fpu_absent<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    if c.s.cr0 & (CR0_EM | CR0_TS) != 0 {
        return Err(Exception::nm());
    }
    // The CPU still transfers a memory operand, so segment checks apply.
    if super::has_mem(d) && d.msize > 0 {
        c.seg_lin(d.seg, c.ea(d), d.msize, false)?;
    }
    Ok(())
}

fn ud<B: Bus>(_: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    Err(Exception::ud())
}

pub fn handler<B: Bus>(m: M, d: &DecodedInsn, model: CpuModel) -> Option<Handler<B>> {
    Some(match m {
        M::Cli => cli_sti::<B, false>,
        M::Sti => cli_sti::<B, true>,
        M::In => in_::<B>,
        M::Out => out::<B>,
        M::Lgdt => load_dt::<B, false>,
        M::Lidt => load_dt::<B, true>,
        M::Sgdt => store_dt::<B, false>,
        M::Sidt => store_dt::<B, true>,
        M::Sldt => sldt_str::<B, false>,
        M::Str => sldt_str::<B, true>,
        M::Lldt => lldt::<B>,
        M::Ltr => ltr::<B>,
        M::Lar => lar_lsl::<B, false>,
        M::Lsl => lar_lsl::<B, true>,
        M::Verr => verr_verw::<B, false>,
        M::Verw => verr_verw::<B, true>,
        M::Arpl => arpl::<B>,
        M::Lmsw => lmsw::<B>,
        M::Smsw => smsw::<B>,
        M::Clts => clts::<B>,
        M::Mov if d.i.op0_register().is_cr() || d.i.op1_register().is_cr() => mov_cr::<B>,
        M::Mov if d.i.op0_register().is_dr() || d.i.op1_register().is_dr() => mov_dr::<B>,
        M::Cpuid => cpuid::<B>,
        M::Rdtsc => rdtsc::<B>,
        M::Rdmsr => rdmsr::<B>,
        M::Wrmsr => wrmsr::<B>,
        M::Invd | M::Wbinvd => cache_op::<B>,
        M::Invlpg => invlpg::<B>,
        M::Wait => wait::<B>,
        // The 286 model has no coprocessor fitted (as the 286 conformance data was recorded).
        _ if is_x87(d) && model == CpuModel::P6 => {
            crate::interp::x87::handler::<B>(m, d).unwrap_or(fpu_absent::<B>)
        }
        _ if is_x87(d) => fpu_absent::<B>,
        _ => ud::<B>,
    })
}

/// An x87 instruction (D8-DF escape).
fn is_x87(d: &DecodedInsn) -> bool {
    use iced_x86::CpuidFeature as F;
    d.i.cpuid_features().iter().any(|f| {
        matches!(
            f,
            F::FPU | F::FPU287 | F::FPU287XL_ONLY | F::FPU387 | F::FPU387SL_ONLY
        )
    })
}
