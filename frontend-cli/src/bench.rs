//! `ox86 bench [ROM]`: run a guest benchmark under the interpreter and the JIT (and, with
//! `--vs qemu`, under QEMU's TCG in the same run) and print what translation costs and
//! buys.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ox86_machine::{Boot, Engine, Machine, MachineConfig, RunEnd};

/// The default benchmark: the integer-loop test ROM (test-roms/src/intloop.asm).
const INTLOOP: &[u8] = include_bytes!("../../test-roms/bin/intloop.bin");

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// A firmware image that ends by writing to port 0x501 (default: the built-in
    /// integer-loop ROM).
    #[arg(value_name = "ROM")]
    pub rom: Option<PathBuf>,
    /// Also run the image under this peer, in the same run: `qemu` (qemu-system-i386
    /// -accel tcg).
    #[arg(long, value_name = "PEER")]
    pub vs: Option<String>,
    /// Interpreted runs of a block before the JIT translates it.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub jit_threshold: u32,
}

struct Row {
    name: &'static str,
    insns: u64,
    secs: f64,
    counters: Vec<(&'static str, u64)>,
    lookups: u64,
    hits: u64,
}

fn run_ox86(rom: &[u8], engine: Engine, threshold: u32) -> Result<Row> {
    let mut cfg = MachineConfig::new(128 << 20, Boot::Firmware(rom.to_vec()));
    cfg.engine = engine;
    cfg.jit_threshold = threshold;
    cfg.reboot = false;
    let mut m = Machine::new(cfg)?;
    let r = m.run(Some(20_000_000_000));
    if !matches!(r.end, RunEnd::ExitPort(_)) {
        bail!("the benchmark did not end at the exit port: {:?}", r.end);
    }
    let counters = m
        .interp
        .accel
        .as_ref()
        .map(|a| a.counters())
        .unwrap_or_default();
    Ok(Row {
        name: match engine {
            Engine::Interp => "interp",
            Engine::Jit => "jit",
        },
        insns: r.stats.instructions,
        secs: r.elapsed.as_secs_f64(),
        counters,
        lookups: r.stats.blocks_decoded + r.stats.block_hits,
        hits: r.stats.block_hits,
    })
}

/// Wall time of the same image under qemu-system-i386 -accel tcg.
fn run_qemu(path: &std::path::Path) -> Result<f64> {
    let t0 = Instant::now();
    let st = Command::new("qemu-system-i386")
        .args(["-accel", "tcg", "-display", "none", "-no-reboot"])
        .args(["-serial", "none", "-monitor", "none", "-debugcon", "null"])
        .args(["-device", "isa-debug-exit,iobase=0x501,iosize=2", "-bios"])
        .arg(path)
        .status()
        .context("cannot run qemu-system-i386 (scripts/deps.sh installs qemu-system-x86)")?;
    let secs = t0.elapsed().as_secs_f64();
    // isa-debug-exit: status (v << 1) | 1; 0 would be a triple fault.
    match st.code() {
        Some(c) if c & 1 == 1 => Ok(secs),
        _ => bail!("qemu-system-i386 did not end at the exit port ({st})"),
    }
}

fn counter(r: &Row, name: &str) -> u64 {
    r.counters
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(0, |&(_, v)| v)
}

pub fn run(a: BenchArgs) -> Result<i32> {
    let (rom, path) = match &a.rom {
        Some(p) => (
            std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
            p.clone(),
        ),
        None => {
            let p = std::env::temp_dir().join(format!("ox86-bench-{}.bin", std::process::id()));
            (INTLOOP.to_vec(), p)
        }
    };
    ox86_machine::machine::check_rom(&rom).with_context(|| path.display().to_string())?;
    let interp = run_ox86(&rom, Engine::Interp, a.jit_threshold)?;
    let jit = match run_ox86(&rom, Engine::Jit, a.jit_threshold) {
        Ok(r) => r,
        Err(e) if e.to_string().contains("no backend for this host") => {
            println!(
                "interp: {} instructions, {:.3} s; jit: {e}",
                interp.insns, interp.secs
            );
            return Ok(0);
        }
        Err(e) => return Err(e),
    };
    if interp.insns != jit.insns {
        bail!(
            "the engines disagree: {} instructions interpreted, {} with the JIT",
            interp.insns,
            jit.insns
        );
    }
    println!(
        "{:<8} {:>14} {:>9} {:>9} {:>10} {:>12} {:>11} {:>9} {:>10} {:>9}",
        "engine",
        "instructions",
        "seconds",
        "MIPS",
        "blocks",
        "xlate ns/i",
        "bytes/insn",
        "inlined",
        "cache hit",
        "chained"
    );
    for r in [&interp, &jit] {
        let translated = counter(r, "instructions translated");
        let per = |v: u64| {
            if translated > 0 {
                format!("{:.1}", v as f64 / translated as f64)
            } else {
                "-".into()
            }
        };
        let inlined = if translated > 0 {
            format!(
                "{:.0}%",
                100.0 * counter(r, "instructions inlined") as f64 / translated as f64
            )
        } else {
            "-".into()
        };
        // Block transitions made inside host code, against those through the dispatcher.
        let chained = counter(r, "chained transitions");
        let chain_rate = if r.name == "jit" {
            let all = chained + counter(r, "dispatcher entries");
            format!("{:.2}%", 100.0 * chained as f64 / all.max(1) as f64)
        } else {
            "-".into()
        };
        println!(
            "{:<8} {:>14} {:>9.3} {:>9.1} {:>10} {:>12} {:>11} {:>9} {:>9.2}% {:>9}",
            r.name,
            r.insns,
            r.secs,
            r.insns as f64 / r.secs / 1e6,
            if r.name == "jit" {
                counter(r, "blocks translated").to_string()
            } else {
                "-".into()
            },
            per(counter(r, "translation ns")),
            per(counter(r, "host code bytes")),
            inlined,
            100.0 * r.hits as f64 / r.lookups.max(1) as f64,
            chain_rate,
        );
    }
    println!("jit / interp speed: {:.2}x", interp.secs / jit.secs);
    match a.vs.as_deref() {
        None => {}
        Some("qemu") => {
            if a.rom.is_none() {
                std::fs::write(&path, &rom).context("cannot write the ROM for QEMU")?;
            }
            let q = run_qemu(&path);
            if a.rom.is_none() {
                let _ = std::fs::remove_file(&path);
            }
            let q = q?;
            println!(
                "{:<8} {:>14} {:>9.3} (wall time, QEMU start-up included)",
                "qemu", "-", q
            );
            println!(
                "ox86 jit / qemu tcg speed: {:.2}x; ox86 interp / qemu tcg: {:.2}x",
                q / jit.secs,
                q / interp.secs
            );
        }
        Some(p) => bail!("unknown peer `{p}` (known: qemu)"),
    }
    Ok(0)
}
