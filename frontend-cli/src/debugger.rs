//! `ox86 debug ...`: the built-in debugger. The guest (same arguments as `ox86 run`)
//! starts stopped at its first instruction; commands come from a line-editing prompt with
//! history (or, when standard input is not a terminal, one per line, echoed). The machine
//! runs on the main thread with the same `Debugger` the gdb stub uses; this front end runs
//! on its own thread. Command names follow gdb and Bochs.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context, Result};
use clap::Args;
use iced_x86::{Decoder, DecoderOptions, Formatter, GasFormatter, Instruction, IntelFormatter};
use ox86_core::cpu::state::Seg;
use ox86_machine::debug::{mem, BreakKind, DebugCmd, DebugStop, Debugger, WatchKind};
use ox86_machine::Machine;

use crate::link::{Gone, Link};
use crate::monitor::parse_num;
use crate::run::{self, Front, RunArgs};

#[derive(Args, Debug)]
pub struct DebugArgs {
    #[command(flatten)]
    pub run: RunArgs,
}

const HELP: &str = "\
ox86 debugger commands (ADDR: 0x hex or decimal linear address, or SEG:OFF in hex):
  c, continue              run until a breakpoint, a watchpoint or Ctrl-C
  s, si, stepi [N]         run N instructions (default 1)
  rsi, reverse-stepi [N]   go back N instructions
  rc, reverse-continue     go back to the previous breakpoint or watchpoint hit
  b, break, lb, vb ADDR    breakpoint at a linear address (vb: SEG:OFF)
  pb ADDR                  breakpoint at a physical address
  watch ADDR [LEN]         stop after a write that changes LEN bytes (default 4)
  rwatch, awatch ADDR [LEN] stop after a read / any access
  info break, blist        list breakpoints and watchpoints
  d, delete [N]            delete one or all breakpoints and watchpoints
  r, regs, sregs           registers (general, segment, control, debug, FPU)
  u, disas [ADDR] [N]      disassemble N instructions (default: 10 at CS:EIP)
  set syntax intel|att     disassembly syntax
  x ADDR [N]               dump N bytes (default 64) of linear memory
  xp ADDR [N]              the same for physical memory
  info                     execution state and counters
  gdt, idt                 descriptor tables
  page, walk ADDR          page-table walk of a linear address
  pic, pit                 interrupt controller and timer state
  tlb                      the soft TLB
  screendump FILE.png      the VGA's screen as a PNG image
  savevm DIR               save the whole machine to DIR (`ox86 restore DIR`)
  trace on FILE, trace off instruction trace
  q, quit                  end the run
";

/// Run `ox86 debug`.
pub fn run(a: DebugArgs) -> Result<i32> {
    if a.run.gdb.is_some() {
        bail!("--gdb belongs to `ox86 run`; `ox86 debug` is a debugger itself");
    }
    let mut b = run::build(&a.run, Front::Debugger)?;
    let wake = b
        .wake
        .take()
        .context("internal error: no wake channel for the debugger")?;
    let m = &mut b.machine;
    let (cmd_tx, cmd_rx) = crossbeam_channel::unbounded();
    let (stop_tx, stop_rx) = crossbeam_channel::unbounded();
    m.debug = Some(Debugger::new(cmd_rx, stop_tx, true));
    let link = Link {
        cmds: cmd_tx,
        stops: stop_rx,
        wake,
    };
    let interrupt = link.clone();
    // Ctrl-C while the guest runs stops it (at the prompt the line editor takes it).
    let _ = ctrlc::set_handler(move || {
        let _ = interrupt.send(DebugCmd::Interrupt);
    });
    let front = std::thread::Builder::new()
        .name("debugger".into())
        .spawn(move || Repl::new(link).run())
        .context("cannot start the debugger's thread")?;
    let report = m.run(a.run.max_insns);
    let _ = front.join();
    b.close_window();
    run::finish(&a.run.ending(), &b.machine, &report)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Syntax {
    Intel,
    Att,
}

#[derive(Clone, Copy)]
enum Point {
    Linear(u32),
    Physical(u64),
    Watch(u32, u32, WatchKind),
}

/// Lines from the terminal (with editing and history) or from a pipe (echoed).
enum Input {
    Editor(Box<rustyline::DefaultEditor>),
    Lines(std::io::Lines<std::io::StdinLock<'static>>),
}

impl Input {
    fn open() -> Input {
        if std::io::stdin().is_terminal() {
            if let Ok(ed) = rustyline::DefaultEditor::new() {
                return Input::Editor(Box::new(ed));
            }
        }
        Input::Lines(std::io::stdin().lock().lines())
    }

    /// The next line; None at the end of input.
    fn next(&mut self) -> Option<String> {
        match self {
            Input::Editor(ed) => loop {
                match ed.readline("(ox86) ") {
                    Ok(line) => {
                        if !line.trim().is_empty() {
                            let _ = ed.add_history_entry(line.as_str());
                        }
                        return Some(line);
                    }
                    Err(rustyline::error::ReadlineError::Interrupted) => continue,
                    Err(_) => return None,
                }
            },
            Input::Lines(lines) => {
                let line = lines.next()?.ok()?;
                println!("(ox86) {line}");
                Some(line)
            }
        }
    }
}

struct Repl {
    link: Link,
    points: Vec<(u32, Point)>,
    next_id: u32,
    syntax: Syntax,
    /// The run ended; no more commands reach the machine.
    ended: bool,
}

/// What a command asks of the loop.
enum Flow {
    Go,
    Quit,
}

impl Repl {
    fn new(link: Link) -> Repl {
        Repl {
            link,
            points: Vec::new(),
            next_id: 1,
            syntax: Syntax::Intel,
            ended: false,
        }
    }

    fn run(mut self) {
        if self.attach().is_err() {
            return;
        }
        println!(
            "ox86 debugger: the guest is stopped at its first instruction; `help` lists commands"
        );
        self.show_next();
        let mut input = Input::open();
        let mut last = String::new();
        while !self.ended {
            let Some(line) = input.next() else {
                break;
            };
            // An empty line repeats the last step or continue, as in gdb.
            let line = if line.trim().is_empty() {
                last.clone()
            } else {
                line
            };
            match self.command(line.trim()) {
                Ok(Flow::Go) => {}
                Ok(Flow::Quit) => break,
                Err(Gone) => self.ended = true,
            }
            let _ = std::io::stdout().flush();
            if matches!(
                line.split_whitespace().next(),
                Some("s" | "si" | "stepi" | "step" | "n" | "c" | "continue")
            ) {
                last = line;
            }
        }
        if !self.ended {
            let _ = self.link.send(DebugCmd::Kill);
        }
    }

    fn attach(&self) -> Result<(), Gone> {
        self.link.send(DebugCmd::Attach)?;
        loop {
            if let DebugStop::Attached = self.link.stops.recv().map_err(|_| Gone)? {
                return Ok(());
            }
        }
    }

    fn command(&mut self, line: &str) -> Result<Flow, Gone> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(&name) = words.first() else {
            return Ok(Flow::Go);
        };
        let args = &words[1..];
        match name {
            "help" | "h" | "?" => print!("{HELP}"),
            "q" | "quit" | "exit" | "kill" => return Ok(Flow::Quit),
            "c" | "cont" | "continue" => self.resume(DebugCmd::Continue)?,
            "s" | "si" | "stepi" | "step" | "n" => match count(args.first()) {
                Some(n) => self.resume_n(|| DebugCmd::Step, n)?,
                None => println!("usage: {name} [N] (N a count, decimal or 0x hex)"),
            },
            "rsi" | "rs" | "reverse-stepi" | "reverse-step" => match count(args.first()) {
                Some(n) => self.resume_n(|| DebugCmd::ReverseStep, n)?,
                None => println!("usage: {name} [N] (N a count, decimal or 0x hex)"),
            },
            "rc" | "reverse-continue" => self.resume(DebugCmd::ReverseContinue)?,
            "b" | "break" | "lb" | "vb" => match args.first() {
                Some(a) => self.add_break(a)?,
                None => println!("usage: break ADDR"),
            },
            "pb" => match args.first().and_then(|a| parse_u64(a)) {
                Some(pa) => {
                    let added = self.with(move |m| {
                        m.debug.as_mut().is_some_and(|d| d.add_phys_breakpoint(pa))
                    })?;
                    self.note_point(added, Point::Physical(pa));
                }
                None => println!("usage: pb ADDR (a physical address)"),
            },
            "watch" | "rwatch" | "awatch" => {
                let kind = match name {
                    "watch" => WatchKind::Write,
                    "rwatch" => WatchKind::Read,
                    _ => WatchKind::Access,
                };
                self.add_watch(args, kind)?
            }
            "d" | "delete" => self.delete(args.first())?,
            "blist" => self.list_points(),
            "info" if args.first().is_some_and(|a| a.starts_with('b')) => self.list_points(),
            "info" if args.first().is_some_and(|a| a.starts_with('r')) => self.monitor("regs")?,
            "r" | "regs" | "sregs" | "registers" | "creg" | "dreg" => self.monitor("regs")?,
            "u" | "disas" | "disassemble" => self.disassemble(args)?,
            "set"
                if args.first() == Some(&"syntax")
                    || args.first() == Some(&"disassembly-flavor") =>
            {
                match args.get(1).copied() {
                    Some("intel") => self.syntax = Syntax::Intel,
                    Some("att") => self.syntax = Syntax::Att,
                    _ => println!("usage: set syntax intel|att"),
                }
            }
            "x" | "xp" => self.dump(name == "xp", args)?,
            "page" | "walk" => match args.first() {
                Some(a) => self.monitor(&format!("walk {a}"))?,
                None => println!("usage: page ADDR"),
            },
            "info" | "gdt" | "idt" | "pic" | "pit" | "trace" | "tlb" | "screendump" | "savevm" => {
                self.monitor(line)?
            }
            _ => println!("unknown command `{name}`; `help` lists them"),
        }
        Ok(Flow::Go)
    }

    fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Machine) -> R + Send + 'static,
    ) -> Result<R, Gone> {
        self.link.with(f)
    }

    fn monitor(&self, cmd: &str) -> Result<(), Gone> {
        let cmd = cmd.to_string();
        let text = self.with(move |m| crate::monitor::command(m, &cmd))?;
        print!("{text}");
        Ok(())
    }

    /// Resume with `cmd` and report where the guest stopped.
    fn resume(&mut self, cmd: DebugCmd) -> Result<(), Gone> {
        let stop = self.go(cmd)?;
        self.report(stop);
        Ok(())
    }

    /// Resume `n` times (stepping), stopping early at anything but a plain step.
    fn resume_n(&mut self, cmd: impl Fn() -> DebugCmd, n: u64) -> Result<(), Gone> {
        for i in 0..n {
            let stop = self.go(cmd())?;
            let plain = matches!(stop, DebugStop::Step);
            if !plain || i + 1 == n {
                self.report(stop);
                break;
            }
        }
        Ok(())
    }

    fn go(&mut self, cmd: DebugCmd) -> Result<DebugStop, Gone> {
        self.link.send(cmd)?;
        loop {
            match self.link.stops.recv().map_err(|_| Gone)? {
                DebugStop::Attached => continue,
                stop => return Ok(stop),
            }
        }
    }

    fn report(&mut self, stop: DebugStop) {
        match stop {
            DebugStop::Step | DebugStop::Attached => {}
            DebugStop::Interrupted => println!("Interrupted."),
            DebugStop::HistoryStart => println!("No more reverse-execution history."),
            DebugStop::Breakpoint { addr, kind } => {
                let id = self.points.iter().find_map(|&(id, p)| match (p, kind) {
                    (Point::Linear(a), _) if a == addr => Some(id),
                    (Point::Physical(_), BreakKind::Hardware) => Some(id),
                    _ => None,
                });
                match id {
                    Some(id) => println!("Breakpoint {id}, linear {addr:#010x}"),
                    None => println!("Breakpoint, linear {addr:#010x}"),
                }
            }
            DebugStop::Watch { addr, kind } => {
                let id = self.points.iter().find_map(|&(id, p)| match p {
                    Point::Watch(a, _, k) if a == addr && k == kind => Some(id),
                    _ => None,
                });
                let what = match kind {
                    WatchKind::Write => "write",
                    WatchKind::Read => "read",
                    WatchKind::Access => "access",
                };
                println!("Watchpoint {} ({what}) at {addr:#010x}", id.unwrap_or(0));
            }
            DebugStop::Exited { end, ack } => {
                println!("The run ended: {end:?}");
                drop(ack);
                self.ended = true;
                return;
            }
        }
        self.show_next();
    }

    /// Print the instruction at CS:EIP.
    fn show_next(&self) {
        let syntax = self.syntax;
        if let Ok(lines) = self.with(move |m| {
            let s = &m.cpu.s;
            let lin = s.seg(Seg::Cs).base.wrapping_add(s.eip);
            disassemble_at(m, lin, s.eip, 1, syntax)
        }) {
            print!("{lines}");
        }
    }

    fn note_point(&mut self, added: bool, p: Point) {
        if !added {
            println!("there is one already");
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.points.push((id, p));
        println!("{} {id} at {}", kind_name(p), point_text(p));
    }

    fn add_break(&mut self, arg: &str) -> Result<(), Gone> {
        let arg = arg.trim_start_matches('*').to_string();
        let lin = self.with(move |m| linear_of(m, &arg))?;
        let Some(lin) = lin else {
            println!("cannot make sense of that address (0x hex, decimal, or SEG:OFF in hex)");
            return Ok(());
        };
        let added = self.with(move |m| {
            m.debug
                .as_mut()
                .is_some_and(|d| d.add_breakpoint(lin, BreakKind::Software))
        })?;
        self.note_point(added, Point::Linear(lin));
        Ok(())
    }

    fn add_watch(&mut self, args: &[&str], kind: WatchKind) -> Result<(), Gone> {
        let Some(arg) = args.first().map(|a| a.trim_start_matches('*').to_string()) else {
            println!("usage: watch ADDR [LEN]");
            return Ok(());
        };
        let len = match args.get(1) {
            Some(l) => match parse_num(l) {
                Some(n) => n,
                None => {
                    println!("bad length `{l}`");
                    return Ok(());
                }
            },
            None => 4,
        };
        let Some(lin) = self.with(move |m| linear_of(m, &arg))? else {
            println!("cannot make sense of that address");
            return Ok(());
        };
        let added = self.with(move |m| {
            m.debug
                .as_mut()
                .is_some_and(|d| d.add_watchpoint(lin, len, kind))
        })?;
        if !added {
            println!("a watchpoint covers 1 to 4096 bytes");
            return Ok(());
        }
        self.note_point(true, Point::Watch(lin, len, kind));
        Ok(())
    }

    fn delete(&mut self, which: Option<&&str>) -> Result<(), Gone> {
        let doomed: Vec<(u32, Point)> = match which {
            None => std::mem::take(&mut self.points),
            Some(w) => {
                let Some(id) = parse_num(w) else {
                    println!("usage: delete [N]");
                    return Ok(());
                };
                let Some(i) = self.points.iter().position(|&(n, _)| n == id) else {
                    println!("no breakpoint or watchpoint {id}");
                    return Ok(());
                };
                vec![self.points.remove(i)]
            }
        };
        self.with(move |m| {
            let Some(d) = m.debug.as_mut() else {
                return;
            };
            for (_, p) in doomed {
                match p {
                    Point::Linear(a) => {
                        d.remove_breakpoint(a);
                    }
                    Point::Physical(a) => {
                        d.remove_phys_breakpoint(a);
                    }
                    Point::Watch(a, l, k) => {
                        d.remove_watchpoint(a, l, k);
                    }
                }
            }
        })
    }

    fn list_points(&self) {
        if self.points.is_empty() {
            println!("no breakpoints or watchpoints");
        }
        for &(id, p) in &self.points {
            println!("{id:>3}  {:<10} {}", kind_name(p), point_text(p));
        }
    }

    fn disassemble(&self, args: &[&str]) -> Result<(), Gone> {
        let (addr, n) = match args {
            [] => (None, 10),
            [a] if a.contains(':') || a.starts_with("0x") || a.starts_with('*') => {
                (Some(a.to_string()), 10)
            }
            [n] => (None, parse_num(n).unwrap_or(10)),
            [a, n, ..] => (Some(a.to_string()), parse_num(n).unwrap_or(10)),
        };
        let syntax = self.syntax;
        let text = self.with(move |m| {
            let s = &m.cpu.s;
            let base = s.seg(Seg::Cs).base;
            let lin = match &addr {
                Some(a) => linear_of(m, a.trim_start_matches('*'))?,
                None => base.wrapping_add(s.eip),
            };
            Some(disassemble_at(
                m,
                lin,
                lin.wrapping_sub(base),
                n.min(1000),
                syntax,
            ))
        })?;
        match text {
            Some(t) => print!("{t}"),
            None => println!("cannot make sense of that address"),
        }
        Ok(())
    }

    fn dump(&self, physical: bool, args: &[&str]) -> Result<(), Gone> {
        let Some(a) = args.first().map(|a| a.to_string()) else {
            println!("usage: x ADDR [N]");
            return Ok(());
        };
        let n = args
            .get(1)
            .and_then(|n| parse_num(n))
            .unwrap_or(64)
            .min(1 << 16) as usize;
        let text = self.with(move |m| {
            let (start, buf) = if physical {
                let pa = parse_u64(&a)?;
                let mut buf = vec![0; n];
                mem::read_phys(&mut m.board, pa, &mut buf);
                (pa, buf)
            } else {
                let lin = linear_of(m, &a)?;
                let mut buf = vec![0; n];
                let got = m.debug_read(lin, &mut buf);
                buf.truncate(got);
                (lin as u64, buf)
            };
            let mut o = String::new();
            for (i, row) in buf.chunks(16).enumerate() {
                let hex: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
                let text: String = row
                    .iter()
                    .map(|&b| {
                        if (0x20..0x7f).contains(&b) {
                            b as char
                        } else {
                            '.'
                        }
                    })
                    .collect();
                o.push_str(&format!(
                    "{:08x}: {:<48} {text}\n",
                    start + 16 * i as u64,
                    hex.join(" ")
                ));
            }
            if buf.len() < n {
                o.push_str(&format!("{:08x}: not mapped\n", start + buf.len() as u64));
            }
            Some(o)
        })?;
        match text {
            Some(t) => print!("{t}"),
            None => println!("cannot make sense of that address"),
        }
        Ok(())
    }
}

/// A step count argument: 1 when absent (0 counts as 1), None when not a number.
fn count(arg: Option<&&str>) -> Option<u64> {
    match arg {
        None => Some(1),
        Some(a) => parse_u64(a).map(|n| n.max(1)),
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn kind_name(p: Point) -> &'static str {
    match p {
        Point::Linear(_) => "Breakpoint",
        Point::Physical(_) => "Breakpoint",
        Point::Watch(_, _, WatchKind::Write) => "Watchpoint",
        Point::Watch(_, _, WatchKind::Read) => "Read watchpoint",
        Point::Watch(_, _, WatchKind::Access) => "Access watchpoint",
    }
}

fn point_text(p: Point) -> String {
    match p {
        Point::Linear(a) => format!("linear {a:#010x}"),
        Point::Physical(a) => format!("physical {a:#010x}"),
        Point::Watch(a, l, _) => format!("linear {a:#010x}, {l} bytes"),
    }
}

/// A linear address from `0x` hex, decimal, or `SEG:OFF` (hex; the segment's base from
/// the descriptor tables in protected mode, selector * 16 otherwise).
fn linear_of(m: &mut Machine, text: &str) -> Option<u32> {
    let Some((seg, off)) = text.split_once(':') else {
        return parse_num(text);
    };
    let hex = |t: &str| u32::from_str_radix(t.trim_start_matches("0x"), 16).ok();
    let (sel, off) = (hex(seg)? as u16, hex(off)?);
    let s = &m.cpu.s;
    let base = if s.protected_mode() && !s.v86() {
        let d = mem::read_descriptor(s, &mut m.board, sel)?;
        mem::descriptor_to_segment(sel, d).base
    } else {
        (sel as u32) << 4
    };
    Some(base.wrapping_add(off))
}

/// `n` instructions from linear `lin` (whose offset in CS is `ip`), one per line.
fn disassemble_at(m: &mut Machine, lin: u32, ip: u32, n: u32, syntax: Syntax) -> String {
    let code32 = m.cpu.s.seg(Seg::Cs).is_32();
    let mut buf = vec![0u8; 15 * n as usize];
    let got = m.debug_read(lin, &mut buf);
    buf.truncate(got);
    let bitness = if code32 { 32 } else { 16 };
    let mut dec = Decoder::with_ip(bitness, &buf, ip as u64, DecoderOptions::NONE);
    let mut intel = IntelFormatter::new();
    let mut att = GasFormatter::new();
    let mut insn = Instruction::default();
    let mut o = String::new();
    let mut off = 0usize;
    for _ in 0..n {
        if !dec.can_decode() {
            o.push_str(&format!(
                "{:08x}: (not mapped)\n",
                lin.wrapping_add(off as u32)
            ));
            break;
        }
        dec.decode_out(&mut insn);
        let len = insn.len();
        let bytes: String = buf[off..off + len]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut text = String::new();
        match syntax {
            Syntax::Intel => intel.format(&insn, &mut text),
            Syntax::Att => att.format(&insn, &mut text),
        }
        o.push_str(&format!(
            "{:08x}: {bytes:<20} {text}\n",
            lin.wrapping_add(off as u32)
        ));
        off += len;
    }
    o
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn step_counts_take_any_u64_and_refuse_words() {
        assert_eq!(count(None), Some(1));
        assert_eq!(count(Some(&"0")), Some(1));
        assert_eq!(count(Some(&"0x10")), Some(16));
        assert_eq!(count(Some(&"4294967297")), Some(4_294_967_297));
        assert_eq!(count(Some(&"abc")), None);
    }
}
