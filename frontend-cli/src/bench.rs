//! `ox86 bench [ROM]`: run a guest benchmark under the interpreter and the JIT (and, with
//! `--vs qemu`, under QEMU's TCG in the same run) and print what translation costs and
//! buys.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ox86_machine::{Boot, Engine, Machine, MachineConfig, RunEnd};
use serde_json::{json, Value};

/// The default benchmark: the six-phase test ROM (test-roms/src/bench.asm); the older
/// integer loop stays reachable as `ox86 bench test-roms/bin/intloop.bin`.
const BENCH_ROM: &[u8] = include_bytes!("../../test-roms/bin/bench.bin");

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// A firmware image that ends by writing to port 0x501 (default: the built-in
    /// six-phase benchmark ROM, test-roms/src/bench.asm).
    #[arg(value_name = "ROM")]
    pub rom: Option<PathBuf>,
    /// Also run the image under this peer, in the same run: `qemu` (qemu-system-i386
    /// -accel tcg).
    #[arg(long, value_name = "PEER")]
    pub vs: Option<String>,
    /// Interpreted runs of a block before the JIT translates it.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub jit_threshold: u32,
    /// Print the table as JSON on stdout instead (one object per row, and the ratios).
    #[arg(long)]
    pub json: bool,
    /// Also draw the table as a PNG bar chart (MIPS and seconds) into FILE.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
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
    cfg.jit_chain_count = true;
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

/// A row's derived columns; `None` where a column does not apply (the interpreter
/// translates nothing).
struct Cols {
    mips: f64,
    blocks: Option<u64>,
    xlate_ns_per_insn: Option<f64>,
    host_bytes_per_insn: Option<f64>,
    inlined_pct: Option<f64>,
    cache_hit_pct: f64,
    chained_pct: Option<f64>,
}

fn cols(r: &Row) -> Cols {
    let jit = r.name == "jit";
    let translated = counter(r, "instructions translated");
    let per = |v: u64| (translated > 0).then(|| v as f64 / translated as f64);
    // Block transitions made inside host code, against those through the dispatcher.
    let chained = counter(r, "chained transitions");
    let all = chained + counter(r, "dispatcher entries");
    Cols {
        mips: r.insns as f64 / r.secs / 1e6,
        blocks: jit.then(|| counter(r, "blocks translated")),
        xlate_ns_per_insn: per(counter(r, "translation ns")),
        host_bytes_per_insn: per(counter(r, "host code bytes")),
        inlined_pct: per(counter(r, "instructions inlined")).map(|v| 100.0 * v),
        cache_hit_pct: 100.0 * r.hits as f64 / r.lookups.max(1) as f64,
        chained_pct: jit.then(|| 100.0 * chained as f64 / all.max(1) as f64),
    }
}

fn print_table(rows: &[&Row]) {
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
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    for r in rows {
        let c = cols(r);
        println!(
            "{:<8} {:>14} {:>9.3} {:>9.1} {:>10} {:>12} {:>11} {:>9} {:>9.2}% {:>9}",
            r.name,
            r.insns,
            r.secs,
            c.mips,
            opt(c.blocks.map(|v| v.to_string())),
            opt(c.xlate_ns_per_insn.map(|v| format!("{v:.1}"))),
            opt(c.host_bytes_per_insn.map(|v| format!("{v:.1}"))),
            opt(c.inlined_pct.map(|v| format!("{v:.0}%"))),
            c.cache_hit_pct,
            opt(c.chained_pct.map(|v| format!("{v:.2}%"))),
        );
    }
}

fn json_row(r: &Row) -> Value {
    let c = cols(r);
    json!({
        "engine": r.name,
        "instructions": r.insns,
        "seconds": r.secs,
        "mips": c.mips,
        "blocks_translated": c.blocks,
        "translation_ns_per_insn": c.xlate_ns_per_insn,
        "host_bytes_per_insn": c.host_bytes_per_insn,
        "inlined_pct": c.inlined_pct,
        "block_cache_hit_pct": c.cache_hit_pct,
        "chained_pct": c.chained_pct,
    })
}

pub fn run(a: BenchArgs) -> Result<i32> {
    let (rom, path) = match &a.rom {
        Some(p) => (
            std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
            p.clone(),
        ),
        None => {
            let p = std::env::temp_dir().join(format!("ox86-bench-{}.bin", std::process::id()));
            (BENCH_ROM.to_vec(), p)
        }
    };
    ox86_machine::machine::check_rom(&rom).with_context(|| path.display().to_string())?;
    if !matches!(a.vs.as_deref(), None | Some("qemu")) {
        bail!(
            "unknown peer `{}` (known: qemu)",
            a.vs.as_deref().unwrap_or("")
        );
    }
    // A chart that cannot be written is bad input: say so before the (long) run.
    if let Some(p) = &a.plot {
        std::fs::File::create(p)
            .with_context(|| format!("cannot create plot file {}", p.display()))?;
    }
    let interp = run_ox86(&rom, Engine::Interp, a.jit_threshold)?;
    let (jit, jit_err) = match run_ox86(&rom, Engine::Jit, a.jit_threshold) {
        Ok(r) => (Some(r), None),
        Err(e) if e.to_string().contains("no backend for this host") => (None, Some(e)),
        Err(e) => return Err(e),
    };
    if let Some(j) = &jit {
        if interp.insns != j.insns {
            bail!(
                "the engines disagree: {} instructions interpreted, {} with the JIT",
                interp.insns,
                j.insns
            );
        }
    }
    let qemu = match a.vs.as_deref() {
        Some("qemu") => {
            if a.rom.is_none() {
                std::fs::write(&path, &rom).context("cannot write the ROM for QEMU")?;
            }
            let q = run_qemu(&path);
            if a.rom.is_none() {
                let _ = std::fs::remove_file(&path);
            }
            Some(q?)
        }
        _ => None,
    };

    let rows: Vec<&Row> = std::iter::once(&interp).chain(jit.as_ref()).collect();
    // QEMU retires the same guest program, so ox86's count gives its MIPS (wall time,
    // start-up included).
    let qemu_mips = qemu.map(|q| interp.insns as f64 / q / 1e6);
    if a.json {
        let mut out: Vec<Value> = rows.iter().map(|r| json_row(r)).collect();
        if let Some(q) = qemu {
            out.push(json!({
                "engine": "qemu",
                "instructions": Value::Null,
                "seconds": q,
                "mips": qemu_mips,
                "wall_time_includes_startup": true,
            }));
        }
        let doc = json!({
            "rom": a.rom.as_ref().map_or("built-in bench.bin".into(), |p| p.display().to_string()),
            "jit_threshold": a.jit_threshold,
            "rows": out,
            "jit_error": jit_err.as_ref().map(|e| e.to_string()),
            "ratios": {
                "jit_over_interp_speed": jit.as_ref().map(|j| interp.secs / j.secs),
                "jit_over_qemu_speed": jit.as_ref().and_then(|j| qemu.map(|q| q / j.secs)),
                "interp_over_qemu_speed": qemu.map(|q| q / interp.secs),
            },
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else if let Some(e) = &jit_err {
        println!(
            "interp: {} instructions, {:.3} s; jit: {e}",
            interp.insns, interp.secs
        );
    } else {
        print_table(&rows);
        if let Some(j) = &jit {
            println!("jit / interp speed: {:.2}x", interp.secs / j.secs);
        }
        if let Some(q) = qemu {
            println!(
                "{:<8} {:>14} {:>9.3} (wall time, QEMU start-up included)",
                "qemu", "-", q
            );
            if let Some(j) = &jit {
                println!(
                    "ox86 jit / qemu tcg speed: {:.2}x; ox86 interp / qemu tcg: {:.2}x",
                    q / j.secs,
                    q / interp.secs
                );
            }
        }
    }

    if let Some(p) = &a.plot {
        let mut bars: Vec<crate::plot::Bar> = rows
            .iter()
            .map(|r| crate::plot::Bar {
                label: r.name.into(),
                mips: Some(cols(r).mips),
                secs: r.secs,
            })
            .collect();
        if let Some(q) = qemu {
            bars.push(crate::plot::Bar {
                label: "qemu".into(),
                mips: qemu_mips,
                secs: q,
            });
        }
        let name = a.rom.as_ref().map_or("bench.bin".into(), |p| {
            p.file_name()
                .map_or(p.display().to_string(), |n| n.to_string_lossy().into())
        });
        let title = format!("ox86 bench: {name}, {} instructions", interp.insns);
        let png = crate::plot::render(&title, &bars).context("cannot encode the chart")?;
        std::fs::write(p, png)
            .with_context(|| format!("cannot write plot file {}", p.display()))?;
    }
    Ok(0)
}
