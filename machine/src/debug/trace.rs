//! Instruction traces: while a trace is on, the guest runs one instruction per slice and
//! each retired instruction is written out with its address, bytes, disassembly, the
//! registers it changed and the memory it wrote (by its decoding, with the values after).
//! Interrupt and exception deliveries are written as events. The same run gives the same
//! trace under the interpreter and the JIT.

use std::io::Write;

use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter};
use ox86_core::cpu::state::{CpuState, Seg};
use serde_json::json;

use super::mem;
use super::predict::{self, Access};
use crate::machine::Machine;

/// How a trace is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceFormat {
    /// One line per instruction for people.
    Text,
    /// One JSON object per line.
    Json,
}

impl TraceFormat {
    /// JSON for a `.json`/`.jsonl` file name, else text.
    pub fn for_path(path: &std::path::Path) -> TraceFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json" | "jsonl") => TraceFormat::Json,
            _ => TraceFormat::Text,
        }
    }
}

/// The registers a trace compares before and after an instruction.
const REG_NAMES: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
const SEG_NAMES: [&str; 6] = ["es", "cs", "ss", "ds", "fs", "gs"];

#[derive(Clone, PartialEq, Eq)]
struct Regs {
    gpr: [u32; 8],
    eflags: u32,
    segs: [u16; 6],
    cr: [u32; 4],
}

impl Regs {
    fn of(m: &Machine) -> Regs {
        let s = &m.cpu.s;
        Regs {
            gpr: s.regs,
            eflags: m.cpu.eflags(),
            segs: Seg::ALL.map(|g| s.seg(g).selector),
            cr: [s.cr0, s.cr2, s.cr3, s.cr4],
        }
    }

    /// (name, value) of every register that differs from `old` (EIP is not listed).
    fn changes(&self, old: &Regs) -> Vec<(&'static str, u32)> {
        let mut out = Vec::new();
        for (i, name) in REG_NAMES.iter().enumerate() {
            if self.gpr[i] != old.gpr[i] {
                out.push((*name, self.gpr[i]));
            }
        }
        if self.eflags != old.eflags {
            out.push(("eflags", self.eflags));
        }
        for (i, name) in SEG_NAMES.iter().enumerate() {
            if self.segs[i] != old.segs[i] {
                out.push((*name, self.segs[i] as u32));
            }
        }
        for (i, name) in ["cr0", "cr2", "cr3", "cr4"].iter().enumerate() {
            if self.cr[i] != old.cr[i] {
                out.push((*name, self.cr[i]));
            }
        }
        out
    }
}

/// The instruction about to run, as the trace shows it.
struct Pending {
    n: u64,
    progress: (u64, u64, u64),
    cs: u16,
    eip: u32,
    lin: u32,
    bytes: Vec<u8>,
    asm: String,
    regs: Regs,
    writes: Vec<Access>,
}

/// An instruction trace being written.
pub struct Tracer {
    out: Box<dyn Write + Send>,
    format: TraceFormat,
    pending: Option<Pending>,
    failed: bool,
}

impl Tracer {
    pub fn new(out: Box<dyn Write + Send>, format: TraceFormat) -> Tracer {
        Tracer {
            out,
            format,
            pending: None,
            failed: false,
        }
    }

    fn line(&mut self, text: &str) {
        if self.failed {
            return;
        }
        if let Err(e) = writeln!(self.out, "{text}") {
            eprintln!("ox86: writing the trace failed: {e}; tracing stops");
            self.failed = true;
        }
    }
}

/// Decode the instruction at CS:EIP: its bytes and Intel-syntax text.
fn decode_here(s: &CpuState, board: &mut crate::board::Board) -> (Vec<u8>, String) {
    let cs = s.seg(Seg::Cs);
    let mut buf = [0u8; 15];
    let n = mem::read_linear(s, board, cs.base.wrapping_add(s.eip), &mut buf);
    let bitness = if cs.is_32() { 32 } else { 16 };
    let mut dec = Decoder::with_ip(bitness, &buf[..n], s.eip as u64, DecoderOptions::NONE);
    let mut insn = Instruction::default();
    if n == 0 || !dec.can_decode() {
        return (Vec::new(), "(not mapped)".into());
    }
    dec.decode_out(&mut insn);
    if insn.is_invalid() {
        return (buf[..n.min(1)].to_vec(), "(bad)".into());
    }
    let mut text = String::new();
    IntelFormatter::new().format(&insn, &mut text);
    (buf[..insn.len()].to_vec(), text)
}

/// A stored value as a number (little-endian) for 1, 2 and 4 bytes, else its bytes.
fn value_text(bytes: &[u8]) -> String {
    match *bytes {
        [a] => format!("{a:02x}"),
        [a, b] => format!("{:04x}", u16::from_le_bytes([a, b])),
        [a, b, c, d] => format!("{:08x}", u32::from_le_bytes([a, b, c, d])),
        _ => hex(bytes),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Machine {
    /// Start writing an instruction trace (replacing one under way), or stop with `None`.
    pub fn set_trace(&mut self, tracer: Option<Tracer>) {
        if let Some(t) = &mut self.trace {
            let _ = t.out.flush();
        }
        self.trace = tracer;
    }

    pub fn tracing(&self) -> bool {
        self.trace.is_some()
    }

    /// Before a traced slice (of one instruction): note the instruction and the state.
    pub(crate) fn trace_before(&mut self) {
        if self.trace.is_none() || self.cpu.s.halted {
            return;
        }
        let (bytes, asm) = decode_here(&self.cpu.s, &mut self.board);
        let writes = predict::next_accesses(&self.cpu.s, &mut self.board)
            .into_iter()
            .filter(|a| a.write)
            .collect();
        let s = &self.cpu.s;
        let st = &self.cpu.stats;
        let p = Pending {
            n: st.instructions,
            progress: (st.instructions, st.exceptions, st.interrupts),
            cs: s.seg(Seg::Cs).selector,
            eip: s.eip,
            lin: s.seg(Seg::Cs).base.wrapping_add(s.eip),
            bytes,
            asm,
            regs: Regs::of(self),
            writes,
        };
        if let Some(t) = &mut self.trace {
            t.pending = Some(p);
        }
    }

    /// After a traced slice: write what happened.
    pub(crate) fn trace_after(&mut self) {
        let Some(p) = self.trace.as_mut().and_then(|t| t.pending.take()) else {
            return;
        };
        let st = self.cpu.stats;
        let retired = st.instructions != p.progress.0;
        let regs = Regs::of(self);
        let changes = regs.changes(&p.regs);
        let mut writes = Vec::new();
        if retired {
            for a in &p.writes {
                let mut buf = vec![0u8; a.len.min(16) as usize];
                let n = self.debug_read(a.lin, &mut buf);
                buf.truncate(n);
                writes.push((a.lin, buf));
            }
        }
        let events = (st.exceptions - p.progress.1, st.interrupts - p.progress.2);
        let s = &self.cpu.s;
        let (cs, eip) = (s.seg(Seg::Cs).selector, s.eip);
        let Some(t) = &mut self.trace else {
            return;
        };
        match t.format {
            TraceFormat::Text => {
                let mut line = format!(
                    "{:>10} {:04x}:{:08x} {:<20} {:<40}",
                    p.n,
                    p.cs,
                    p.eip,
                    hex(&p.bytes),
                    p.asm
                );
                if !retired {
                    line.push_str(" (not retired)");
                }
                for (name, v) in &changes {
                    line.push_str(&format!(" {name}={v:08x}"));
                }
                for (a, bytes) in &writes {
                    line.push_str(&format!(" [{a:08x}]={}", value_text(bytes)));
                }
                let line = line.trim_end().to_string();
                t.line(&line);
                if events != (0, 0) {
                    t.line(&format!(
                        "{:>10} -- {} exception(s), {} interrupt(s) delivered; now {cs:04x}:{eip:08x}",
                        st.instructions, events.0, events.1
                    ));
                }
            }
            TraceFormat::Json => {
                let regs: serde_json::Map<String, serde_json::Value> = changes
                    .iter()
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect();
                let mem: Vec<_> = writes
                    .iter()
                    .map(|(a, b)| json!({"addr": a, "bytes": hex(b)}))
                    .collect();
                let v = json!({
                    "n": p.n,
                    "cs": p.cs,
                    "eip": p.eip,
                    "lin": p.lin,
                    "bytes": hex(&p.bytes),
                    "asm": p.asm,
                    "retired": retired,
                    "regs": regs,
                    "mem": mem,
                    "exceptions": events.0,
                    "interrupts": events.1,
                });
                t.line(&v.to_string());
            }
        }
    }

    /// Flush the trace (at the end of a run).
    pub(crate) fn trace_flush(&mut self) {
        if let Some(t) = &mut self.trace {
            let _ = t.out.flush();
        }
    }
}
