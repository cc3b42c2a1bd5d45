//! x86-64 code for a block, emitted with dynasmrt.
//!
//! Generated code is `extern "sysv64" fn(cpu: *mut Cpu, bus: *mut B) -> u64`, returning
//! the instructions completed in the low half and a packed exception (or 0) in the high
//! half. R12 holds the CPU, R13 the bus. EIP is kept exact before every helper call and at
//! every exit; inline instructions only add to a pending delta in between.

use std::mem::offset_of;

use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};
use iced_x86::Mnemonic;
use ox86_core::cpu::flags::LazyOp;
use ox86_core::decode::{Block, DecodedInsn, Opd};
use ox86_core::{Bus, Cpu};

use crate::code_cache::CodeCache;
use crate::helpers::{run_handler, END_BLOCK};

type Asm = dynasmrt::VecAssembler<dynasmrt::x64::X64Relocation>;

const REGS: i32 = offset_of!(Cpu, s.regs) as i32;
const EIP: i32 = offset_of!(Cpu, s.eip) as i32;
const F_OP: i32 = offset_of!(Cpu, s.flags.op) as i32;
const F_TOP: i32 = offset_of!(Cpu, s.flags.top) as i32;
const F_A: i32 = offset_of!(Cpu, s.flags.a) as i32;
const F_B: i32 = offset_of!(Cpu, s.flags.b) as i32;
const F_R: i32 = offset_of!(Cpu, s.flags.r) as i32;

/// Offset of 32-bit register `slot` (a `reg_slot` code) in the CPU, if it is one.
fn reg32(slot: u8) -> Option<i32> {
    (slot >> 3 == 3).then_some(REGS + 4 * (slot & 7) as i32)
}

/// A 32-bit register or immediate source.
enum Src {
    Reg(i32),
    Imm(u32),
}

fn src32(o: Opd) -> Option<Src> {
    match o {
        Opd::Reg(s) => reg32(s).map(Src::Reg),
        Opd::Imm(v) => Some(Src::Imm(v)),
        _ => None,
    }
}

/// The inline forms: 32-bit register/immediate MOV, ALU and TEST, and LEA.
enum Inline {
    Mov {
        dst: i32,
        src: Src,
    },
    Alu {
        op: Alu,
        dst: i32,
        src: Src,
    },
    Lea {
        dst: i32,
        base: Option<i32>,
        index: Option<(i32, u8)>,
        disp: u32,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Alu {
    Add,
    Sub,
    And,
    Or,
    Xor,
    Cmp,
    Test,
}

fn inline_form(d: &DecodedInsn) -> Option<Inline> {
    if !d.o32 || d.osz != 4 {
        return None;
    }
    let op = match d.i.mnemonic() {
        Mnemonic::Mov => {
            let Opd::Reg(r) = d.ops[0] else { return None };
            return Some(Inline::Mov {
                dst: reg32(r)?,
                src: src32(d.ops[1])?,
            });
        }
        Mnemonic::Lea => {
            let (Opd::Reg(r), true) = (d.ops[0], d.a32) else {
                return None;
            };
            let slot = |s: u8| (s != ox86_core::decode::NO_REG).then(|| reg32(s));
            return Some(Inline::Lea {
                dst: reg32(r)?,
                base: slot(d.base).map_or(Some(None), |b| b.map(Some))?,
                index: match slot(d.index) {
                    None => None,
                    Some(i) => Some((i?, d.shift)),
                },
                disp: d.disp,
            });
        }
        Mnemonic::Add => Alu::Add,
        Mnemonic::Sub => Alu::Sub,
        Mnemonic::And => Alu::And,
        Mnemonic::Or => Alu::Or,
        Mnemonic::Xor => Alu::Xor,
        Mnemonic::Cmp => Alu::Cmp,
        Mnemonic::Test => Alu::Test,
        _ => return None,
    };
    let Opd::Reg(r) = d.ops[0] else { return None };
    Some(Inline::Alu {
        op,
        dst: reg32(r)?,
        src: src32(d.ops[1])?,
    })
}

fn emit_inline(a: &mut Asm, f: &Inline) {
    match *f {
        Inline::Mov { dst, ref src } => {
            load_src(a, src);
            dynasm!(a ; .arch x64 ; mov [r12 + dst], ecx);
        }
        Inline::Lea {
            dst,
            base,
            index,
            disp,
        } => {
            dynasm!(a ; .arch x64 ; mov eax, disp as i32);
            if let Some(b) = base {
                dynasm!(a ; .arch x64 ; add eax, [r12 + b]);
            }
            if let Some((i, shift)) = index {
                dynasm!(a ; .arch x64 ; mov ecx, [r12 + i] ; shl ecx, shift as i8 ; add eax, ecx);
            }
            dynasm!(a ; .arch x64 ; mov [r12 + dst], eax);
        }
        Inline::Alu { op, dst, ref src } => {
            load_src(a, src);
            dynasm!(a ; .arch x64 ; mov eax, [r12 + dst] ; mov edx, eax);
            match op {
                Alu::Add => dynasm!(a ; .arch x64 ; add edx, ecx),
                Alu::Sub | Alu::Cmp => dynasm!(a ; .arch x64 ; sub edx, ecx),
                Alu::And | Alu::Test => dynasm!(a ; .arch x64 ; and edx, ecx),
                Alu::Or => dynasm!(a ; .arch x64 ; or edx, ecx),
                Alu::Xor => dynasm!(a ; .arch x64 ; xor edx, ecx),
            }
            // The lazy flags exactly as the interpreter records them.
            let lazy = match op {
                Alu::Add => LazyOp::Add,
                Alu::Sub | Alu::Cmp => LazyOp::Sub,
                _ => LazyOp::Logic,
            } as u8 as i8;
            dynasm!(a
                ; .arch x64
                ; mov BYTE [r12 + F_OP], lazy
                ; mov BYTE [r12 + F_TOP], 31
                ; mov [r12 + F_A], eax
                ; mov [r12 + F_B], ecx
                ; mov [r12 + F_R], edx
            );
            if !matches!(op, Alu::Cmp | Alu::Test) {
                dynasm!(a ; .arch x64 ; mov [r12 + dst], edx);
            }
        }
    }
}

/// The source into ECX.
fn load_src(a: &mut Asm, s: &Src) {
    match *s {
        Src::Reg(off) => dynasm!(a ; .arch x64 ; mov ecx, [r12 + off]),
        Src::Imm(v) => dynasm!(a ; .arch x64 ; mov ecx, v as i32),
    }
}

fn flush_eip(a: &mut Asm, delta: &mut u32) {
    if *delta != 0 {
        dynasm!(a ; .arch x64 ; add DWORD [r12 + EIP], *delta as i32);
        *delta = 0;
    }
}

/// Translate `block` for the code cache address `base`. The code and the number of
/// instructions inlined; None if the block cannot be translated.
pub fn translate<B: Bus>(block: &Block<B>, base: usize) -> Option<(Vec<u8>, usize)> {
    let code32 = block.key >> 40 & 1 != 0;
    let mut a = Asm::new(base);
    dynasm!(a
        ; .arch x64
        ; push r12
        ; push r13
        ; push rbx
        ; mov r12, rdi
        ; mov r13, rsi
    );
    let mut exits = Vec::new();
    let mut delta = 0u32;
    let mut inlined = 0;
    for (k, insn) in block.insns.iter().enumerate() {
        let d = &insn.1;
        // Inline only in 32-bit code, where EIP needs no 16-bit wrap.
        if let Some(f) = inline_form(d).filter(|_| code32) {
            emit_inline(&mut a, &f);
            delta = delta.wrapping_add(d.len as u32);
            inlined += 1;
            continue;
        }
        flush_eip(&mut a, &mut delta);
        let exit = a.new_dynamic_label();
        exits.push((exit, k as i32));
        dynasm!(a
            ; .arch x64
            ; mov rdi, r12
            ; mov rsi, r13
            ; mov rdx, QWORD insn as *const _ as i64
            ; mov rax, QWORD run_handler::<B> as *const () as i64
            ; call rax
            ; test eax, eax
            ; jnz =>exit
        );
    }
    flush_eip(&mut a, &mut delta);
    dynasm!(a
        ; .arch x64
        ; mov eax, block.insns.len() as i32
        ; ->ret:
        ; pop rbx
        ; pop r13
        ; pop r12
        ; ret
    );
    // Helper exits: EAX is END_BLOCK (instruction k done) or a packed exception
    // (instruction k faulted, not done).
    for (label, k) in exits {
        dynasm!(a ; .arch x64 ; =>label ; mov edx, k ; jmp ->exit);
    }
    dynasm!(a
        ; .arch x64
        ; ->exit:
        ; cmp eax, END_BLOCK as i32
        ; jne >fault
        ; lea edx, [rdx + 1]
        ; xor eax, eax
        ; fault:
        ; shl rax, 32
        ; or rax, rdx
        ; jmp ->ret
    );
    let code = a.finalize().ok()?;
    Some((code, inlined))
}

/// Run the code at `offset` on `cpu` and `bus`.
pub fn call<B: Bus>(cache: &CodeCache, offset: usize, cpu: &mut Cpu, bus: &mut B) -> u64 {
    let addr = cache.addr(offset);
    // SAFETY: `addr` is the entry of code `translate::<B>` emitted into the executable
    // code cache for a block of this same bus type, not cleared since (handles are reset
    // with the cache). That code follows the sysv64 ABI, touches only `*cpu` (through
    // the field offsets above) and calls `run_handler::<B>` with `cpu` and `bus`.
    let f: extern "sysv64" fn(*mut Cpu, *mut B) -> u64 = unsafe { std::mem::transmute(addr) };
    f(cpu, bus)
}
