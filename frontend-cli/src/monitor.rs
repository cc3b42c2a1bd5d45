//! Inspection commands shared by gdb's `monitor` and `ox86 debug`: registers, machine
//! state, descriptor tables, page walks, device state, and tracing on or off.

use std::fmt::Write as _;

use ox86_core::cpu::state::Seg;
use ox86_machine::Machine;

pub const HELP: &str = "\
ox86 monitor commands:
  regs          general, segment (base/limit/attributes), control and debug registers
  info          execution state, breakpoints and watchpoints
  gdt           GDT entries (non-null)
  idt           IDT gates (protected mode) or IVT vectors (real mode)
  walk ADDR     page walk of a linear address (ADDR: hex with 0x, or decimal)
  screendump FILE.png  the VGA's screen as a PNG image
  savevm DIR    save the whole machine to DIR (`ox86 restore DIR` resumes it)
  tlb           the soft TLB's valid entries (linear page -> physical page)
  pic           the 8259A pair: request, service and mask registers, vector bases
  pit           the 8254's channels: mode, reload value, current count, output
  trace on FILE write an instruction trace to FILE (JSON lines for .json/.jsonl)
  trace off     stop tracing
  help          this list
";

/// A `monitor` command's output (run on the CPU thread).
pub fn command(m: &mut Machine, cmd: &str) -> String {
    let mut words = cmd.split_whitespace();
    let (name, arg) = (words.next().unwrap_or(""), words.next());
    match name {
        "pic" => pic(m),
        "tlb" => tlb(m),
        "screendump" => match arg {
            Some(path) => match m.screendump(std::path::Path::new(path)) {
                Ok(()) => format!("wrote {path}\n"),
                Err(e) => format!("screendump: {e}\n"),
            },
            None => "usage: screendump FILE.png\n".to_string(),
        },
        "savevm" => match arg {
            Some(dir) => match crate::run::save(m, std::path::Path::new(dir)) {
                Ok(msg) => format!("{msg}\n"),
                Err(e) => format!("savevm: {e:#}\n"),
            },
            None => "usage: savevm DIR\n".to_string(),
        },
        "pit" => pit(m),
        "trace" => trace(m, arg, words.next()),
        "" | "help" => HELP.to_string(),
        "regs" | "sregs" | "registers" => monitor_regs(m),
        "info" => monitor_info(m),
        "gdt" => monitor_gdt(m),
        "idt" => monitor_idt(m),
        "walk" | "translate" => match arg.and_then(parse_num) {
            Some(a) => monitor_walk(m, a),
            None => "usage: monitor walk ADDR (a linear address)\n".to_string(),
        },
        _ => format!("unknown monitor command `{name}`; `monitor help` lists them\n"),
    }
}

pub fn parse_num(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn monitor_regs(m: &Machine) -> String {
    let s = &m.cpu.s;
    let mut o = crate::run::dump_state(m);
    let _ = writeln!(
        o,
        "DR0={:08x} DR1={:08x} DR2={:08x} DR3={:08x} DR6={:08x} DR7={:08x}",
        s.dr[0], s.dr[1], s.dr[2], s.dr[3], s.dr[6], s.dr[7]
    );
    let f = &s.fpu;
    let _ = writeln!(
        o,
        "FCW={:04x} FSW={:04x} FTW={:04x} FOP={:03x} FIP={:04x}:{:08x} FDP={:04x}:{:08x}",
        f.cw,
        f.status(),
        f.tw,
        f.fop,
        f.fcs,
        f.fip,
        f.fds,
        f.fdp
    );
    o
}

fn monitor_info(m: &Machine) -> String {
    let mut o = String::new();
    let st = &m.cpu.stats;
    let s = &m.cpu.s;
    let cs = s.seg(Seg::Cs);
    let _ = writeln!(
        o,
        "next instruction at {:04x}:{:08x} (linear {:08x}){}",
        cs.selector,
        s.eip,
        cs.base.wrapping_add(s.eip),
        if s.halted { ", halted" } else { "" }
    );
    let _ = writeln!(
        o,
        "instructions retired: {}, virtual clock: {} ns, exceptions: {}, interrupts: {}",
        st.instructions,
        m.cpu.clock(),
        st.exceptions,
        st.interrupts
    );
    let engine = if m.interp.accel.is_some() {
        "jit"
    } else {
        "interp"
    };
    let _ = writeln!(o, "engine: {engine}");
    if let Some(d) = &m.debug {
        for (addr, kind) in d.breakpoints() {
            let _ = writeln!(o, "breakpoint at linear {addr:08x} ({kind:?})");
        }
        for w in d.watchpoints() {
            let _ = writeln!(
                o,
                "watchpoint ({:?}) on linear {:08x}, {} bytes",
                w.kind, w.addr, w.len
            );
        }
        if !d.breakpoints().is_empty() || !d.watchpoints().is_empty() {
            let _ = writeln!(
                o,
                "(with breakpoints or watchpoints set the guest runs one instruction at a time)"
            );
        }
    }
    o
}

fn descriptor_line(sel: u16, d: [u8; 8]) -> String {
    let g = ox86_machine::debug::mem::descriptor_to_segment(sel, d);
    let access = d[5];
    let kind = if access & 0x10 != 0 {
        if access & 8 != 0 {
            format!(
                "code{}{}{}",
                if g.attr & 0x4000 != 0 { "32" } else { "16" },
                if access & 2 != 0 { " readable" } else { "" },
                if access & 4 != 0 { " conforming" } else { "" }
            )
        } else {
            format!(
                "data{}{}",
                if access & 2 != 0 {
                    " writable"
                } else {
                    " read-only"
                },
                if access & 4 != 0 { " expand-down" } else { "" }
            )
        }
    } else {
        match access & 0xf {
            1 => "TSS16 available".into(),
            2 => "LDT".into(),
            3 => "TSS16 busy".into(),
            4 => "call gate16".into(),
            5 => "task gate".into(),
            6 => "interrupt gate16".into(),
            7 => "trap gate16".into(),
            9 => "TSS32 available".into(),
            0xb => "TSS32 busy".into(),
            0xc => "call gate32".into(),
            0xe => "interrupt gate32".into(),
            0xf => "trap gate32".into(),
            t => format!("system type {t:#x}"),
        }
    };
    format!(
        "{sel:04x}: {:016x} base={:08x} limit={:08x} dpl={} {}{}",
        u64::from_le_bytes(d),
        g.base,
        g.limit,
        (access >> 5) & 3,
        if access & 0x80 != 0 {
            ""
        } else {
            "not-present "
        },
        kind
    )
}

fn monitor_gdt(m: &mut Machine) -> String {
    let gdtr = m.cpu.s.gdtr;
    let mut o = format!("GDT base={:08x} limit={:04x}\n", gdtr.base, gdtr.limit);
    let count = (gdtr.limit as u32 + 1) / 8;
    for i in 1..count.min(8192) {
        let mut d = [0; 8];
        if m.debug_read(gdtr.base.wrapping_add(i * 8), &mut d) < 8 {
            let _ = writeln!(o, "{:04x}: not mapped", i * 8);
            break;
        }
        if d != [0; 8] {
            let _ = writeln!(o, "{}", descriptor_line((i * 8) as u16, d));
        }
    }
    o
}

fn monitor_idt(m: &mut Machine) -> String {
    let idtr = m.cpu.s.idtr;
    let mut o = format!("IDT base={:08x} limit={:04x}\n", idtr.base, idtr.limit);
    let pm = m.cpu.s.protected_mode();
    let size = if pm { 8 } else { 4 };
    let count = ((idtr.limit as u32 + 1) / size).min(256);
    for v in 0..count {
        let mut d = [0; 8];
        let n = size as usize;
        if m.debug_read(idtr.base.wrapping_add(v * size), &mut d[..n]) < n {
            let _ = writeln!(o, "{v:02x}: not mapped");
            break;
        }
        if !pm {
            let off = u16::from_le_bytes([d[0], d[1]]);
            let seg = u16::from_le_bytes([d[2], d[3]]);
            let _ = writeln!(o, "{v:02x}: {seg:04x}:{off:04x}");
        } else if d != [0; 8] {
            let sel = u16::from_le_bytes([d[2], d[3]]);
            let off = u16::from_le_bytes([d[0], d[1]]) as u32
                | (u16::from_le_bytes([d[6], d[7]]) as u32) << 16;
            let access = d[5];
            let kind = match access & 0x1f {
                5 => "task gate",
                6 => "interrupt gate16",
                7 => "trap gate16",
                0xe => "interrupt gate32",
                0xf => "trap gate32",
                _ => "invalid gate",
            };
            let _ = writeln!(
                o,
                "{v:02x}: {sel:04x}:{off:08x} dpl={} {}{kind}",
                (access >> 5) & 3,
                if access & 0x80 != 0 {
                    ""
                } else {
                    "not-present "
                }
            );
        }
    }
    o
}

fn monitor_walk(m: &mut Machine, lin: u32) -> String {
    let w = m.debug_walk(lin);
    let mut o = String::new();
    if !w.paging {
        let _ = writeln!(
            o,
            "paging off: linear {lin:08x} = physical {:08x}",
            w.phys.unwrap_or(0)
        );
        return o;
    }
    let _ = writeln!(o, "CR3={:08x}", m.cpu.s.cr3);
    if let Some(e) = w.pde {
        let _ = writeln!(
            o,
            "PDE[{:3}] at {:08x} = {:08x}",
            lin >> 22,
            e.addr,
            e.value
        );
    }
    if let Some(e) = w.pte {
        let _ = writeln!(
            o,
            "PTE[{:3}] at {:08x} = {:08x}",
            (lin >> 12) & 0x3ff,
            e.addr,
            e.value
        );
    }
    match w.phys {
        Some(p) => {
            let _ = writeln!(
                o,
                "linear {lin:08x} -> physical {p:08x} ({} page, {}, {}{})",
                if w.large { "4 MiB" } else { "4 KiB" },
                if w.writable { "writable" } else { "read-only" },
                if w.user { "user" } else { "supervisor" },
                if w.global { ", global" } else { "" }
            );
        }
        None => {
            let _ = writeln!(o, "linear {lin:08x}: not present");
        }
    }
    o
}

fn pic(m: &Machine) -> String {
    let mut o = String::new();
    for (name, p) in [
        ("master", &m.board.dev.pic.master),
        ("slave", &m.board.dev.pic.slave),
    ] {
        let _ = writeln!(
            o,
            "{name:<6} IRR={:02x} ISR={:02x} IMR={:02x} lines={:02x} ELCR={:02x} vectors={:02x}-{:02x}{}",
            p.irr,
            p.isr,
            p.imr,
            p.lines,
            p.elcr,
            p.base,
            p.base.wrapping_add(7),
            if p.init_step != 0 { " (initialising)" } else { "" }
        );
    }
    o
}

fn pit(m: &Machine) -> String {
    let now = ox86_devices::pit::ticks_at(m.cpu.clock());
    let mut o = String::new();
    for (i, c) in m.board.dev.pit.channels.iter().enumerate() {
        let running = c.start.is_some();
        let _ = writeln!(
            o,
            "channel {i}: mode {} reload={:04x} count={:04x} out={} gate={}{}{}",
            c.mode,
            c.reload,
            if running { c.count(now) } else { 0 },
            c.out(now) as u8,
            c.gate as u8,
            if c.bcd { " BCD" } else { "" },
            if running { "" } else { " (not counting)" }
        );
    }
    o
}

fn trace(m: &mut Machine, what: Option<&str>, file: Option<&str>) -> String {
    use ox86_machine::debug::{TraceFormat, Tracer};
    match (what, file) {
        (Some("off"), _) => {
            m.set_trace(None);
            "trace off\n".to_string()
        }
        (Some("on"), Some(path)) => {
            let path = std::path::Path::new(path);
            match std::fs::File::create(path) {
                Ok(f) => {
                    let out = Box::new(std::io::BufWriter::with_capacity(1 << 20, f));
                    m.set_trace(Some(Tracer::new(out, TraceFormat::for_path(path))));
                    format!("tracing to {}\n", path.display())
                }
                Err(e) => format!("cannot create {}: {e}\n", path.display()),
            }
        }
        _ => "usage: trace on FILE | trace off\n".to_string(),
    }
}

fn tlb(m: &Machine) -> String {
    let entries = m.cpu.tlb_entries();
    let mut o = format!("{} valid entries\n", entries.len());
    for (user, lin, phys, writable, global) in entries {
        let _ = writeln!(
            o,
            "{} {lin:08x} -> {phys:08x} {}{}",
            if user { "user" } else { "sup " },
            if writable { "rw" } else { "r-" },
            if global { " global" } else { "" }
        );
    }
    o
}
