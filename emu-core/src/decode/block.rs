//! A basic block: decoded instructions, each with its interpreter handler and the facts
//! the handler needs precomputed (sizes, segment, branch displacement).

use std::sync::OnceLock;

use iced_x86::{
    Code, Decoder, DecoderError, DecoderOptions, FlowControl, Instruction, Mnemonic, OpKind,
    Register,
};

use crate::cpu::exception::{Exception, Result};
use crate::cpu::state::Seg;
use crate::cpu::{Cpu, CpuModel};
use crate::decode::cache::BlockCache;
use crate::interp;
use crate::Bus;

pub type Handler<B> = fn(&mut Cpu, &mut B, &DecodedInsn) -> Result<()>;

/// An operand, pre-digested at decode time for the handlers' fast paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opd {
    /// General register: slot code (see `reg_slot`).
    Reg(u8),
    /// The memory operand (address from `base`/`index`/`scale`/`disp`).
    Mem,
    /// Immediate, already sign- or zero-extended to the operand size.
    Imm(u32),
    /// Anything else (segment/control registers, branch targets, string memory...):
    /// handlers read it from the iced instruction.
    Other,
}

/// No register (for `base`/`index`).
pub const NO_REG: u8 = 0xff;

/// Slot code of a general register: bits 0-2 the register number (EAX..EDI), bits 3-4
/// the view: 0 low byte, 1 high byte (AH..BH), 2 word, 3 dword. None for others.
pub fn reg_slot(r: Register) -> Option<u8> {
    let n = r as u32;
    Some(match n {
        1..=4 => (n - 1) as u8,
        5..=8 => (n - 5) as u8 | 1 << 3,
        21..=28 => (n - 21) as u8 | 2 << 3,
        37..=44 => (n - 37) as u8 | 3 << 3,
        _ => return None,
    })
}

fn digest(i: &Instruction, n: u32) -> Opd {
    match i.op_kind(n) {
        OpKind::Register => reg_slot(i.op_register(n)).map_or(Opd::Other, Opd::Reg),
        OpKind::Memory => Opd::Mem,
        OpKind::Immediate8 => Opd::Imm(i.immediate8() as u32),
        OpKind::Immediate8_2nd => Opd::Imm(i.immediate8_2nd() as u32),
        OpKind::Immediate16 => Opd::Imm(i.immediate16() as u32),
        OpKind::Immediate32 => Opd::Imm(i.immediate32()),
        OpKind::Immediate8to16 => Opd::Imm(i.immediate8to16() as u16 as u32),
        OpKind::Immediate8to32 => Opd::Imm(i.immediate8to32() as u32),
        _ => Opd::Other,
    }
}

/// One decoded instruction plus what the handler needs without re-decoding.
#[derive(Clone, Debug)]
pub struct DecodedInsn {
    pub i: Instruction,
    pub len: u8,
    /// Operand size 32 (else 16) after the 0x66 prefix.
    pub o32: bool,
    /// Address size 32 (else 16) after the 0x67 prefix.
    pub a32: bool,
    /// Width in bytes of operand 0 (or the memory operand / operand size).
    pub osz: u8,
    /// Width of the memory operand, if any.
    pub msize: u8,
    /// Segment of the memory operand (overrides applied).
    pub seg: Seg,
    /// Condition code (x86 encoding) for Jcc/SETcc/CMOVcc/LOOPcc.
    pub cc: u8,
    /// Near branch displacement, relative to the next instruction. In an instruction
    /// with a volatile immediate (never a branch), that immediate's physical address
    /// (`volatile_imm`).
    pub rel: u32,
    /// Operands 0-2, digested.
    pub ops: [Opd; 3],
    /// Memory operand: base and index register slots (NO_REG if absent), index shift,
    /// displacement.
    pub base: u8,
    pub index: u8,
    pub shift: u8,
    pub disp: u32,
    /// Position in its block: blocks always run from their first instruction, so the
    /// retired-instruction count at this one is the count at block entry plus `pos`.
    pub pos: u8,
    /// x87 last-opcode value (FOP) of an escape instruction: the low 3 bits of its
    /// opcode byte and its ModRM byte (11 bits); 0 for other instructions.
    pub fop: u16,
}

pub struct Block<B> {
    pub insns: Vec<(Handler<B>, DecodedInsn)>,
    /// Physical address of the first byte.
    pub phys: u64,
    /// Cache key (physical address and mode bits).
    pub key: u64,
    /// Bytes covered (for code tracking).
    pub size: u32,
    /// May be kept in the cache (false for blocks fetched outside RAM).
    pub cacheable: bool,
    /// With paging, a block whose instruction crosses into the next page: that page's
    /// physical address when decoded. The block is used again only while the page is
    /// mapped there, is never translated, and is tracked on both pages.
    pub next_page: Option<u64>,
    /// Times run by the interpreter (counts up to the translation threshold).
    pub runs: std::cell::Cell<u32>,
    /// The accelerator's handle for this block's host code, once translated.
    pub code: std::cell::Cell<Option<std::num::NonZeroU32>>,
    /// The bytes decoded (`size` of them, plus those of an instruction crossing into the
    /// next page): a block decoded again after a store into its code reuses the
    /// instructions whose bytes did not change.
    pub bytes: Box<[u8]>,
}

impl<B> Block<B> {
    /// The physical byte ranges (start, length) it was decoded from: the second is
    /// empty but for a page-crossing block under paging.
    pub fn code_ranges(&self) -> [(u64, u64); 2] {
        let size = self.size.max(1) as u64;
        match self.next_page {
            Some(next) => {
                let first = (0x1000 - (self.phys & 0xfff)).min(size);
                [(self.phys, first), (next, size - first)]
            }
            None => [(self.phys, size), (0, 0)],
        }
    }
}

pub const MAX_BLOCK_INSNS: usize = 64;
const MAX_BLOCK_BYTES: usize = 512;

fn seg_of(r: Register) -> Seg {
    match r {
        Register::ES => Seg::Es,
        Register::CS => Seg::Cs,
        Register::SS => Seg::Ss,
        Register::FS => Seg::Fs,
        Register::GS => Seg::Gs,
        _ => Seg::Ds,
    }
}

/// Scan legacy prefixes: (operand-size override, address-size override).
fn prefixes(bytes: &[u8]) -> (bool, bool) {
    let (mut o, mut a) = (false, false);
    for &b in bytes {
        match b {
            0x66 => o = true,
            0x67 => a = true,
            0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 | 0xf0 | 0xf2 | 0xf3 => {}
            _ => break,
        }
    }
    (o, a)
}

/// FOP of an x87 escape (D8-DF, after any prefixes): the opcode's low 3 bits and the
/// ModRM byte.
fn x87_fop(bytes: &[u8]) -> u16 {
    let mut it = bytes.iter().skip_while(|&&b| {
        matches!(
            b,
            0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 | 0x66 | 0x67 | 0xf0 | 0xf2 | 0xf3
        )
    });
    match (it.next(), it.next()) {
        (Some(&op), Some(&modrm)) if op & 0xf8 == 0xd8 => ((op as u16 & 7) << 8) | modrm as u16,
        _ => 0,
    }
}

/// Does the 286 have this instruction? (No FS/GS either.)
fn on_286(i: &Instruction) -> bool {
    let fs_gs = (0..i.op_count()).any(|n| {
        i.op_kind(n) == OpKind::Register && matches!(i.op_register(n), Register::FS | Register::GS)
    });
    !fs_gs && support(i.code()) & ON_286 != 0
}

/// Does the Pentium Pro-class model implement this instruction?
fn on_p6(i: &Instruction) -> bool {
    support(i.code()) & ON_P6 != 0
}

const ON_286: u8 = 1;
const ON_P6: u8 = 2;

/// Which models have an instruction, by its CPUID features: a table per `Code`, built
/// once, so decoding does not walk the feature lists.
fn support(code: Code) -> u8 {
    use iced_x86::CpuidFeature as F;
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        Code::values()
            .map(|c| {
                // Features of the 8086-286 line, then what the P6 model adds.
                const BASE: &[F] = &[
                    F::INTEL8086,
                    F::INTEL8086_ONLY,
                    F::INTEL186,
                    F::INTEL286,
                    F::INTEL286_ONLY,
                    F::FPU,
                    F::FPU287,
                ];
                const ONLY_286: &[F] = &[F::FPU287XL_ONLY];
                const P6: &[F] = &[
                    F::INTEL386,
                    F::INTEL486,
                    F::CPUID,
                    F::TSC,
                    F::MSR,
                    F::CX8,
                    F::CMOV,
                    F::MULTIBYTENOP,
                    F::PAUSE,
                    F::FPU387,
                ];
                let has = |extra: &[F]| {
                    let f = c.cpuid_features();
                    f.iter().all(|x| BASE.contains(x) || extra.contains(x))
                };
                (has(ONLY_286) as u8 * ON_286) | (has(P6) as u8 * ON_P6)
            })
            .collect()
    });
    table.get(code as usize).copied().unwrap_or(0)
}

/// F3 0F BC/BD are TZCNT/LZCNT only on CPUs with BMI1/ABM; before those, the REP prefix
/// is ignored and they are BSF/BSR (Linux relies on this: it writes `rep; bsf`).
fn without_bmi(i: &mut Instruction) {
    use iced_x86::Code as C;
    let code = match i.code() {
        C::Tzcnt_r16_rm16 => C::Bsf_r16_rm16,
        C::Tzcnt_r32_rm32 => C::Bsf_r32_rm32,
        C::Lzcnt_r16_rm16 => C::Bsr_r16_rm16,
        C::Lzcnt_r32_rm32 => C::Bsr_r32_rm32,
        _ => return,
    };
    i.set_code(code);
}

/// Instructions after which the block must end although they do not branch: they change
/// state that decoding or interrupt delivery depends on.
fn ends_block(i: &Instruction) -> bool {
    if i.flow_control() != FlowControl::Next {
        return true;
    }
    match i.mnemonic() {
        Mnemonic::Hlt
        | Mnemonic::Sti
        | Mnemonic::Popf
        | Mnemonic::Popfd
        | Mnemonic::Lmsw
        | Mnemonic::Lgdt
        | Mnemonic::Lidt
        | Mnemonic::Lldt
        | Mnemonic::Ltr
        | Mnemonic::Clts
        | Mnemonic::Invlpg
        | Mnemonic::Wrmsr
        | Mnemonic::Out
        | Mnemonic::Outsb
        | Mnemonic::Outsw
        | Mnemonic::Outsd
        | Mnemonic::Wbinvd
        | Mnemonic::Invd => true,
        Mnemonic::Mov | Mnemonic::Pop => {
            let r = i.op0_register();
            r == Register::SS || (i.op0_kind() == OpKind::Register && (r.is_cr() || r.is_dr()))
        }
        _ => false,
    }
}

impl DecodedInsn {
    pub fn new(i: Instruction, bytes: &[u8], code32: bool) -> Self {
        let (p66, p67) = prefixes(bytes);
        let o32 = code32 ^ p66;
        let a32 = code32 ^ p67;
        let mut msize = 0;
        let mut seg = Seg::Ds;
        for n in 0..i.op_count() {
            let k = i.op_kind(n);
            if matches!(
                k,
                OpKind::Memory
                    | OpKind::MemorySegSI
                    | OpKind::MemorySegESI
                    | OpKind::MemoryESDI
                    | OpKind::MemoryESEDI
                    | OpKind::MemorySegDI
                    | OpKind::MemorySegEDI
            ) {
                msize = i.memory_size().size() as u8;
                seg = seg_of(i.memory_segment());
                break;
            }
        }
        let osz = match i.op0_kind() {
            OpKind::Register if i.op0_register().is_gpr() => i.op0_register().size() as u8,
            OpKind::Memory
            | OpKind::MemoryESDI
            | OpKind::MemoryESEDI
            | OpKind::MemorySegSI
            | OpKind::MemorySegESI
                if msize <= 4 && msize > 0 =>
            {
                msize
            }
            _ => {
                if o32 {
                    4
                } else {
                    2
                }
            }
        };
        let rel = match i.op0_kind() {
            OpKind::NearBranch16 | OpKind::NearBranch32 => {
                (i.near_branch_target() as u32).wrapping_sub(i.next_ip() as u32)
            }
            _ => 0,
        };
        let cc = (i.condition_code() as u8).wrapping_sub(1) & 15;
        let ops = [0, 1, 2].map(|n| {
            if n < i.op_count() {
                digest(&i, n)
            } else {
                Opd::Other
            }
        });
        let base = reg_slot(i.memory_base()).unwrap_or(NO_REG);
        let index = reg_slot(i.memory_index()).unwrap_or(NO_REG);
        let shift = i.memory_index_scale().trailing_zeros() as u8;
        let disp = i.memory_displacement32();
        let fop = x87_fop(bytes);
        DecodedInsn {
            len: i.len() as u8,
            o32,
            a32,
            osz,
            msize,
            seg,
            cc,
            rel,
            ops,
            base,
            index,
            shift,
            disp,
            pos: 0,
            fop,
            i,
        }
    }

    /// Where the handler reads the immediate from, when code rewrites it (see
    /// `PhysMemory::volatile`): its physical address, its operand number and size.
    pub fn volatile_imm(&self) -> Option<(u32, u32, u8)> {
        let (n, size) = rewritable_imm(&self.i).filter(|_| self.rel != 0)?;
        Some((self.rel, n, size))
    }

    /// The instruction with its immediate (operand `n`) taken from `raw`, its encoded
    /// bytes (iced sign-extends an imm8 as the encoding says).
    pub fn with_imm(&self, n: u32, raw: u32) -> DecodedInsn {
        let mut d = self.clone();
        if d.i.try_set_immediate_u32(n, raw).is_ok() {
            d.ops[n as usize] = digest(&d.i, n);
        }
        d
    }
}

/// Instructions whose immediate may be volatile (`DecodedInsn::volatile_imm`): it is the
/// last operand and the last bytes of the encoding, and nothing else about the
/// instruction (flags written, faults, length) depends on its value. (Operand number,
/// size in bytes.)
pub fn rewritable_imm(i: &Instruction) -> Option<(u32, u8)> {
    let n = i.op_count().checked_sub(1)?;
    let size = match i.op_kind(n) {
        OpKind::Immediate8 | OpKind::Immediate8to16 | OpKind::Immediate8to32 => 1,
        OpKind::Immediate16 => 2,
        OpKind::Immediate32 => 4,
        _ => return None,
    };
    let eligible = matches!(
        i.mnemonic(),
        Mnemonic::Mov
            | Mnemonic::Add
            | Mnemonic::Or
            | Mnemonic::Adc
            | Mnemonic::Sbb
            | Mnemonic::And
            | Mnemonic::Sub
            | Mnemonic::Xor
            | Mnemonic::Cmp
            | Mnemonic::Test
            | Mnemonic::Push
            | Mnemonic::Imul
    );
    eligible.then_some((n, size))
}

/// The handler of a well-formed instruction on this model.
pub(crate) fn select_handler<B: Bus>(d: &DecodedInsn, model: CpuModel) -> Handler<B> {
    let supported = match model {
        CpuModel::I286 => on_286(&d.i),
        CpuModel::P6 => on_p6(&d.i),
    };
    if !supported {
        interp::invalid::<B>
    // The 286 refuses instructions over 10 bytes (repeated prefixes) with #GP(0).
    } else if model == CpuModel::I286 && d.len > 10 {
        interp::too_long::<B>
    } else {
        interp::handler_for::<B>(d, model)
    }
}

/// Instruction `d` at byte `at` of a block decoded again, `old` there before: when
/// only its immediate changed, where that is in the block and its size.
fn rewritten_imm(
    old: &DecodedInsn,
    d: &DecodedInsn,
    old_bytes: &[u8],
    bytes: &[u8],
    at: usize,
) -> Option<(usize, u8)> {
    let (_, size) = rewritable_imm(&d.i)?;
    let len = d.len as usize;
    let imm = at + len - size as usize;
    let same_rest = old.len == d.len
        && old.i.code() == d.i.code()
        && old_bytes.get(at..imm) == Some(&bytes[at..imm]);
    same_rest.then_some((imm, size))
}

/// Give the instructions over volatile immediates (`PhysMemory::volatile`) the handler
/// that reads them from RAM, or stop those being volatile where an instruction decoded
/// here covers their bytes otherwise.
fn mark_volatile<B: Bus>(
    m: &mut crate::mem::PhysMemory,
    insns: &mut [(Handler<B>, DecodedInsn)],
    phys: u64,
    in_page: usize,
    next_phys: Option<u64>,
) {
    if m.volatile().is_empty() {
        return;
    }
    let mut at = 0;
    for (h, d) in insns {
        let (start, len) = (at, d.len as usize);
        at += len;
        let pa = phys + start as u64;
        // Its bytes: an instruction crossing into a page mapped elsewhere ends there.
        let pieces = match next_phys.filter(|_| at > in_page) {
            Some(next) => [
                (pa, (in_page - start) as u64),
                (next, (at - in_page) as u64),
            ],
            None => [(pa, len as u64), (0, 0)],
        };
        let own = rewritable_imm(&d.i)
            .map(|(_, size)| (pa + (len - size as usize) as u64, size))
            .filter(|_| at <= in_page);
        let overlaps =
            |&(a, l): &(u64, u8)| pieces.iter().any(|&(p, n)| a < p + n && p < a + l as u64);
        let (hit, only_own) = m
            .volatile()
            .iter()
            .filter(|r| overlaps(r))
            .fold((false, true), |(_, only), &r| {
                (true, only && Some(r) == own)
            });
        match own {
            _ if !hit => {}
            Some((imm, _)) if only_own => {
                *h = interp::fresh_imm::<B>;
                d.rel = imm as u32;
            }
            _ => {
                for (p, n) in pieces {
                    m.drop_volatile(p, n);
                }
            }
        }
    }
}

/// Fetch bytes for decoding at a linear address (instruction fetch: read access).
fn fetch<B: Bus>(cpu: &mut Cpu, bus: &mut B, lin: u32, buf: &mut [u8]) -> Result<u64> {
    let user = cpu.s.cpl == 3;
    // Through the soft TLB where it maps the page, as the lookup of CS:EIP does: code
    // that changes a page table entry without invalidating it keeps running from the
    // page the TLB holds, wherever its blocks end (the engines end them differently).
    let phys = match cpu.tlb.read_hit(user, lin) {
        Some(p) => p as u64,
        None => cpu.walk(bus, lin, false, user)?.phys,
    };
    let m = bus.mem();
    // Both ends: an MMIO window inside RAM (VGA) goes through the bus byte by byte.
    if m.is_ram(phys) && m.is_ram(phys + buf.len() as u64 - 1) {
        let a = phys as usize;
        buf.copy_from_slice(&m.ram()[a..a + buf.len()]);
    } else {
        for (k, b) in buf.iter_mut().enumerate() {
            *b = cpu.phys_read(bus, phys + k as u64, 1) as u8;
        }
    }
    Ok(phys)
}

/// Decode the block at CS:EIP. Faults (fetch page fault, CS limit) belong to the first
/// instruction and are returned.
pub fn decode_block<B: Bus>(cpu: &mut Cpu, bus: &mut B) -> Result<Block<B>> {
    decode_block_after(cpu, bus, None)
}

/// `decode_block`, given the block that was at the same key before a store into its code
/// dropped it: an instruction at the same offset with the same bytes is taken from it
/// rather than decoded again (decoding depends only on the bytes and the key's mode).
/// One whose immediate alone changed gets that immediate made volatile, unless a block
/// in `cache` holds its bytes.
pub fn decode_block_after<B: Bus>(
    cpu: &mut Cpu,
    bus: &mut B,
    prior: Option<(&Block<B>, &BlockCache<B>)>,
) -> Result<Block<B>> {
    let cs = cpu.s.segs[Seg::Cs as usize];
    let code32 = cs.is_32();
    let eip = cpu.s.eip;
    if eip > cs.limit {
        return Err(Exception::gp0());
    }
    let lin = cs.base.wrapping_add(eip);
    // At most a block's worth of bytes, and not past the page (the next page comes apart).
    let in_page = (0x1000 - (lin & 0xfff) as usize).min(MAX_BLOCK_BYTES);
    let page_end = 0x1000 - (lin & 0xfff) as usize == in_page;
    let mut buf = [0u8; MAX_BLOCK_BYTES + 16];
    let phys = fetch(cpu, bus, lin, &mut buf[..in_page])?;
    // Bytes of the following page, for an instruction that crosses into it.
    let mut avail = in_page;
    let paged = cpu.s.cr0 & crate::cpu::state::CR0_PG != 0;
    let next_lin = lin.wrapping_add(in_page as u32);
    let mut next_fault = None;
    let mut next_phys = None;
    if page_end {
        match fetch(cpu, bus, next_lin, &mut buf[in_page..in_page + 15]) {
            Ok(p) => {
                avail += 15;
                next_phys = Some(p);
            }
            Err(e) => next_fault = Some(e),
        }
    } else {
        fetch(cpu, bus, next_lin, &mut buf[in_page..in_page + 15]).ok();
        avail += 15;
    }
    let is_ram = bus.mem().is_ram(phys + in_page as u64 - 1);
    let model = cpu.model;
    let bits = if code32 { 32 } else { 16 };
    // The 286 accepts LOCK on any instruction; later CPUs raise #UD.
    let options = if model == CpuModel::I286 {
        DecoderOptions::NO_INVALID_CHECK
    } else {
        DecoderOptions::NONE
    };
    let mut dec = Decoder::with_ip(bits, &buf[..avail], eip as u64, options);
    // Most blocks are short: one allocation for them.
    let mut insns = Vec::with_capacity(8);
    let mut off = 0usize;
    let mut crosses = false;
    let limit_end = cs.limit as u64 + 1;
    // The prior block's instructions, walked alongside by offset.
    let mut old = prior.map(|(p, _)| (p, 0usize, 0usize));
    while insns.len() < MAX_BLOCK_INSNS {
        if let Some((p, k, at)) = &mut old {
            while *at < off && *k < p.insns.len() {
                *at += p.insns[*k].1.len as usize;
                *k += 1;
            }
            if let Some((h, d)) = p.insns.get(*k).filter(|_| *at == off) {
                let len = d.len as usize;
                let same = d.i.len() == len
                    && off + len <= in_page
                    && p.bytes.get(off..off + len) == Some(&buf[off..off + len]);
                let cur_eip = eip as u64 + off as u64;
                let in_limit = cur_eip + len as u64 <= limit_end
                    && (code32 || cur_eip + len as u64 <= 0x10000);
                if same && in_limit {
                    let stop = ends_block(&d.i) || (!code32 && cur_eip + len as u64 == 0x10000);
                    let mut d = d.clone();
                    d.pos = insns.len() as u8;
                    insns.push((*h, d));
                    off += len;
                    dec.set_position(off).ok();
                    dec.set_ip(eip as u64 + off as u64);
                    if stop || off >= in_page {
                        break;
                    }
                    continue;
                }
            }
        }
        let mut i = Instruction::default();
        dec.decode_out(&mut i);
        if model == CpuModel::P6 {
            without_bmi(&mut i);
        }
        let len = i.len();
        let bad = dec.last_error() != DecoderError::None;
        // Ran out of bytes: the instruction continues on a page we could not fetch.
        if bad && dec.last_error() == DecoderError::NoMoreBytes {
            if insns.is_empty() {
                return Err(next_fault.unwrap_or(Exception::gp0()));
            }
            break;
        }
        let start = off;
        let end = off + if bad { 1 } else { len };
        if end > in_page {
            if !insns.is_empty() {
                break;
            }
            crosses = true;
        }
        let cur_eip = eip as u64 + start as u64;
        if cur_eip + (end - start) as u64 > limit_end
            || (!code32 && cur_eip + (end - start) as u64 > 0x10000)
        {
            if insns.is_empty() {
                return Err(Exception::gp0());
            }
            break;
        }
        let bytes = &buf[start..start + len.max(1)];
        let mut d = DecodedInsn::new(i, bytes, code32);
        d.pos = insns.len() as u8;
        let handler: Handler<B> = if bad {
            // Keep the length sane for a #UD: the fault leaves EIP at the instruction.
            d.len = 1;
            interp::invalid::<B>
        } else {
            select_handler(&d, model)
        };
        if let Some(((p, cache), k)) = prior.zip(old.filter(|o| o.2 == start).map(|o| o.1)) {
            let imm = p.insns.get(k).filter(|_| end <= in_page && !bad);
            let imm = imm.and_then(|(_, o)| rewritten_imm(o, &d, &p.bytes, &buf, start));
            if let Some((at, size)) = imm {
                let pa = phys + at as u64;
                if !cache.holds(pa, size as u64) {
                    bus.mem().add_volatile(pa, size);
                }
            }
        }
        let stop = bad || ends_block(&d.i) || (!code32 && cur_eip + len as u64 == 0x10000);
        insns.push((handler, d));
        off = end;
        if stop || off >= in_page {
            break;
        }
    }
    mark_volatile(bus.mem(), &mut insns, phys, in_page, next_phys);
    // Blocks stay cached: no more than a quarter of spare capacity (a shrink is a
    // reallocation, which code that rewrites itself pays at every store).
    if insns.capacity() - insns.len() > insns.len() / 4 {
        insns.shrink_to_fit();
    }
    // A crossing instruction under paging: cacheable if the next page is RAM too.
    let next_page = next_phys.filter(|&p| {
        let m = bus.mem();
        crosses && paged && m.is_ram(p) && m.is_ram(p + 14)
    });
    let size = off as u32;
    let key = super::cache::block_key(phys, &cs, model == CpuModel::I286);
    Ok(Block {
        insns,
        phys,
        key,
        size,
        cacheable: is_ram && !(crosses && paged && next_page.is_none()),
        next_page,
        runs: Default::default(),
        code: Default::default(),
        bytes: buf[..off].into(),
    })
}
