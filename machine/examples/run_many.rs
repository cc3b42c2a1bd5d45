//! Many isolated machines in one process: N guests on their own threads, their serial
//! consoles multiplexed into labelled log files.
//!
//! ```text
//! cargo run --release -p ox86-machine --example run_many -- [N] [DIR]
//! ```
//!
//! Each guest is `test-roms/src/ramfill.asm` with its own RAM size and seed: it fills all
//! of its RAM and prints a checksum. `DIR/guest-K.log` gets guest K's serial output and
//! `DIR/all.log` every guest's, each line prefixed with `[guest K]`, in the order the
//! lines were completed. Defaults: 8 guests, `run-many-logs`.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ox86_machine::{Boot, HostInput, Machine, MachineConfig, RunEnd};

const GUEST: &[u8] = include_bytes!("../../test-roms/bin/ramfill.bin");

/// A serial console that writes whole lines, labelled, to the guest's own log and to the
/// shared one.
struct Labelled {
    label: String,
    own: File,
    all: Arc<Mutex<File>>,
    line: Vec<u8>,
}

impl Write for Labelled {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for &b in buf {
            self.line.push(b);
            if b == b'\n' {
                self.flush_line()?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.own.flush()
    }
}

impl Labelled {
    fn flush_line(&mut self) -> std::io::Result<()> {
        let mut text = self.label.clone().into_bytes();
        text.append(&mut self.line);
        self.own.write_all(&text)?;
        let mut all = self.all.lock().unwrap_or_else(|p| p.into_inner());
        all.write_all(&text)
    }
}

impl Drop for Labelled {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            self.line.push(b'\n');
            let _ = self.flush_line();
        }
    }
}

fn run_guest(k: usize, dir: &Path, all: Arc<Mutex<File>>) -> Result<String, String> {
    let own = File::create(dir.join(format!("guest-{k}.log"))).map_err(|e| e.to_string())?;
    let (input, rx) = crossbeam_channel::unbounded();
    let mut cfg = MachineConfig::new((2 + k as u64) << 20, Boot::Firmware(GUEST.to_vec()));
    cfg.serial = Box::new(Labelled {
        label: format!("[guest {k}] "),
        own,
        all,
        line: Vec::new(),
    });
    cfg.console = Box::new(std::io::sink());
    cfg.input = Some(rx);
    let mut vm = Machine::new(cfg).map_err(|e| e.to_string())?;
    let seed = 0x1000_0001u32.wrapping_mul(k as u32 + 1);
    input
        .send(HostInput::Serial(seed.to_le_bytes().to_vec()))
        .map_err(|e| e.to_string())?;
    let r = vm.run(Some(2_000_000_000));
    match r.end {
        RunEnd::ExitPort(0) => Ok(format!(
            "guest {k}: {} MiB, seed {seed:08x}, {} instructions",
            2 + k,
            vm.cpu.stats.instructions
        )),
        end => Err(format!("guest {k} ended with {end:?}")),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = match args.next() {
        Some(a) => a.parse().map_err(|_| format!("not a guest count: {a}"))?,
        None => 8,
    };
    let dir = args.next().unwrap_or_else(|| "run-many-logs".into());
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir)?;
    let all = Arc::new(Mutex::new(File::create(dir.join("all.log"))?));
    let results: Vec<Result<String, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|k| {
                let all = all.clone();
                s.spawn(move || run_guest(k, dir, all))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a guest thread panicked".into()))
            })
            .collect()
    });
    let mut failed = false;
    for r in results {
        match r {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    println!("logs in {}", dir.display());
    if failed {
        return Err("some guests failed".into());
    }
    Ok(())
}
