//! SingleStepTests runner: each MOO test loads a CPU state and RAM, runs one instruction
//! (the test ends at an injected HLT) and compares registers and memory with the
//! recorded result. Undefined flags are masked per the form's metadata.

pub mod moo;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use ox86_core::cpu::state::{attr, Seg, Segment};
use ox86_core::interp::Interpreter;
use ox86_core::{Bus, Cpu, CpuModel, Exit, RamBus};

use moo::{MooError, MooFile, MooTest, REG_NAMES};

/// Outcome of one form (one file).
#[derive(Clone, Debug, Default)]
pub struct FormResult {
    pub form: String,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub first_failure: Option<String>,
}

/// Per-form undefined-flags masks from metadata.json.
pub struct Metadata {
    json: serde_json::Value,
}

impl Metadata {
    pub fn load(dir: &Path) -> Option<Metadata> {
        let text = std::fs::read_to_string(dir.join("metadata.json")).ok()?;
        Some(Metadata {
            json: serde_json::from_str(&text).ok()?,
        })
    }

    /// Mask for a form like "F6.4" or "00".
    pub fn flags_mask(&self, form: &str) -> u16 {
        let mut parts = form.split('.');
        let op = parts.next().unwrap_or_default();
        let mut node = &self.json["opcodes"][op];
        if let Some(reg) = parts.next() {
            node = &node["reg"][reg];
        }
        node["flags-mask"]
            .as_u64()
            .map(|m| m as u16)
            .unwrap_or(0xffff)
    }
}

fn model_for(cpu: &str) -> CpuModel {
    if cpu.contains("286") {
        CpuModel::I286
    } else {
        CpuModel::P6
    }
}

/// Runs tests on one CPU and bus, reused across tests.
pub struct Runner {
    cpu: Cpu,
    bus: RamBus,
    interp: Interpreter<RamBus>,
    touched: Vec<u32>,
}

impl Runner {
    pub fn new() -> Result<Self, ox86_core::MemError> {
        Ok(Runner {
            cpu: Cpu::new(CpuModel::P6),
            bus: RamBus::new(16 << 20)?,
            interp: Interpreter::new(),
            touched: Vec::new(),
        })
    }

    /// A runner whose blocks the JIT translates on their first run.
    pub fn with_jit() -> Result<Self, SstError> {
        let mut r = Self::new()?;
        r.interp.threshold = 1;
        r.interp.accel = Some(Box::new(ox86_jit::Jit::<RamBus>::new(16 << 20)?));
        Ok(r)
    }

    /// Run one test; Err(description of the first difference).
    pub fn run_test(
        &mut self,
        t: &MooTest,
        model: CpuModel,
        flags_mask: u16,
    ) -> Result<(), String> {
        // Clear what the previous test wrote.
        for &a in &self.touched {
            self.bus.mem().write_bytes(a as u64, &[0]);
        }
        self.touched.clear();
        self.cpu.model = model;
        self.cpu.reset();
        let r = |i: usize| t.init.regs[i].unwrap_or(0);
        let s = &mut self.cpu.s;
        s.regs = [
            r(0) as u32,
            r(2) as u32,
            r(3) as u32,
            r(1) as u32,
            r(8) as u32,
            r(9) as u32,
            r(10) as u32,
            r(11) as u32,
        ];
        for (seg, idx) in [(Seg::Cs, 4), (Seg::Ss, 5), (Seg::Ds, 6), (Seg::Es, 7)] {
            s.segs[seg as usize] = Segment::real(r(idx));
        }
        s.segs[Seg::Cs as usize].attr |= attr::CODE;
        s.segs[Seg::Fs as usize] = Segment::real(0);
        s.segs[Seg::Gs as usize] = Segment::real(0);
        s.eip = r(12) as u32;
        s.flags.set((r(13) & 0x0fff) as u32);
        for &(a, v) in &t.init.ram {
            self.bus.mem().write_bytes(a as u64, &[v]);
            self.touched.push(a);
        }
        self.touched.extend(t.fina.ram.iter().map(|&(a, _)| a));
        let exit = self.interp.run(&mut self.cpu, &mut self.bus, 100_000);
        if exit != Exit::Halted {
            return Err(format!(
                "did not reach HLT ({exit:?}) at {:04x}:{:04x}",
                self.cpu.s.segs[1].selector, self.cpu.s.eip
            ));
        }
        // Registers: FINA lists the changed ones; the rest must equal INIT.
        let s = &self.cpu.s;
        let got = [
            s.regs[0],
            s.regs[3],
            s.regs[1],
            s.regs[2],
            s.segs[Seg::Cs as usize].selector as u32,
            s.segs[Seg::Ss as usize].selector as u32,
            s.segs[Seg::Ds as usize].selector as u32,
            s.segs[Seg::Es as usize].selector as u32,
            s.regs[4],
            s.regs[5],
            s.regs[6],
            s.regs[7],
            s.eip,
            self.cpu.eflags(),
        ];
        for (i, name) in REG_NAMES.iter().enumerate() {
            let want = t.fina.regs[i].or(t.init.regs[i]).unwrap_or(0);
            let (want, have) = if i == 13 {
                (want & flags_mask, got[i] as u16 & flags_mask)
            } else {
                (want, got[i] as u16)
            };
            if want != have {
                return Err(format!("{name}: expected {want:04x}, got {have:04x}"));
            }
        }
        // The FLAGS image an exception pushed sits at SS:SP+4 after the pushes (the
        // EXCP chunk's address is not exact for odd stack pointers); its undefined bits
        // are masked like FLAGS.
        let pushed_flags = t.exception.map(|_| {
            let ss = (t.fina.regs[5].or(t.init.regs[5]).unwrap_or(0) as u32) << 4;
            let sp = t.fina.regs[8].or(t.init.regs[8]).unwrap_or(0) as u32;
            (
                ss + (sp.wrapping_add(4) & 0xffff),
                ss + (sp.wrapping_add(5) & 0xffff),
            )
        });
        for &(a, want) in &t.fina.ram {
            let have = self.bus.mem().read_u8(a as u64);
            let m = match pushed_flags {
                Some((lo, _)) if a == lo => flags_mask as u8,
                Some((_, hi)) if a == hi => (flags_mask >> 8) as u8,
                _ => 0xff,
            };
            let (want, have) = (want & m, have & m);
            if want != have {
                return Err(format!("ram[{a:06x}]: expected {want:02x}, got {have:02x}"));
            }
        }
        Ok(())
    }

    /// Run a whole file.
    pub fn run_file(
        &mut self,
        file: &MooFile,
        form: &str,
        mask: u16,
        revoked: &HashSet<String>,
    ) -> FormResult {
        let model = model_for(&file.cpu);
        let mut res = FormResult {
            form: form.to_string(),
            ..Default::default()
        };
        self.interp.flush(&mut self.bus);
        for t in &file.tests {
            let hash: String = t.hash.iter().map(|b| format!("{b:02x}")).collect();
            if revoked.contains(&hash) {
                res.skipped += 1;
                continue;
            }
            match self.run_test(t, model, mask) {
                Ok(()) => res.passed += 1,
                Err(e) => {
                    res.failed += 1;
                    if res.first_failure.is_none() {
                        let bytes: String = t.bytes.iter().map(|b| format!("{b:02x}")).collect();
                        res.first_failure =
                            Some(format!("test {} `{}` [{bytes}]: {e}", t.index, t.name));
                    }
                }
            }
        }
        res
    }
}

/// Form name from a file name: "F6.4.MOO.gz" -> "F6.4".
pub fn form_of(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.split(".MOO").next().unwrap_or(&name).to_string()
}

/// The MOO files of a directory, sorted.
pub fn moo_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().contains(".MOO"))
        .collect();
    v.sort();
    Ok(v)
}

fn revocations(dir: &Path) -> HashSet<String> {
    let candidates = [
        dir.join("revocation_list.txt"),
        dir.join("..").join("revocation_list.txt"),
    ];
    candidates
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|t| {
            t.lines()
                .map(|l| l.trim().to_lowercase())
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum SstError {
    #[error("{0}: {1}")]
    Dir(String, std::io::Error),
    #[error("{0}: no MOO files found")]
    Empty(String),
    #[error(transparent)]
    Moo(#[from] MooError),
    #[error(transparent)]
    Mem(#[from] ox86_core::MemError),
    #[error(transparent)]
    Jit(#[from] ox86_jit::JitError),
}

/// Run every MOO file in `dir` (whose form name starts with `filter`, if given) on
/// `threads` threads. Results come back in file order.
pub fn run_dir(
    dir: &Path,
    filter: Option<&str>,
    threads: usize,
) -> Result<Vec<FormResult>, SstError> {
    run_dir_with(dir, filter, threads, false)
}

/// `run_dir`, with the JIT translating every block on its first run when `jit`.
pub fn run_dir_with(
    dir: &Path,
    filter: Option<&str>,
    threads: usize,
    jit: bool,
) -> Result<Vec<FormResult>, SstError> {
    let files = moo_files(dir).map_err(|e| SstError::Dir(dir.display().to_string(), e))?;
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|p| filter.is_none_or(|f| form_of(p).starts_with(f)))
        .collect();
    if files.is_empty() {
        return Err(SstError::Empty(dir.display().to_string()));
    }
    let meta = Metadata::load(dir);
    let revoked = revocations(dir);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<FormResult>>> = Mutex::new(vec![None; files.len()]);
    let error: Mutex<Option<SstError>> = Mutex::new(None);
    std::thread::scope(|sc| {
        for _ in 0..threads.max(1) {
            sc.spawn(|| {
                let runner = if jit {
                    Runner::with_jit()
                } else {
                    Runner::new().map_err(SstError::from)
                };
                let mut runner = match runner {
                    Ok(r) => r,
                    Err(e) => {
                        *error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    let form = form_of(path);
                    let res = match moo::load(path) {
                        Ok(file) => {
                            let mask = meta.as_ref().map(|m| m.flags_mask(&form)).unwrap_or(0xffff);
                            runner.run_file(&file, &form, mask, &revoked)
                        }
                        Err(e) => {
                            *error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.into());
                            break;
                        }
                    };
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(res);
                }
            });
        }
    });
    if let Some(e) = error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect())
}
