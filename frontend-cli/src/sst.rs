//! `ox86 sst DIR`: run SingleStepTests and report failing forms.

use std::path::PathBuf;

use anyhow::Result;
use ox86_machine::sst;

#[derive(clap::Args, Debug)]
pub struct SstArgs {
    /// Folder of MOO files (e.g. ../shared/conformance/sst-80286/v1_real_mode)
    pub dir: PathBuf,
    /// Only forms whose name starts with this (e.g. "F6" or "80.1")
    #[arg(long)]
    pub filter: Option<String>,
    /// Worker threads (default: all cores)
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print every form, not only failing ones
    #[arg(long, short)]
    pub verbose: bool,
    /// Run each test's code through the JIT (translated on its first run).
    #[arg(long, value_enum, default_value = "interp")]
    pub engine: crate::run::Engine,
}

pub fn run(a: SstArgs) -> Result<i32> {
    let threads = a.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let dir = if a.dir.join("v1_real_mode").is_dir() {
        a.dir.join("v1_real_mode")
    } else {
        a.dir.clone()
    };
    let jit = matches!(a.engine, crate::run::Engine::Jit);
    let results = sst::run_dir_with(&dir, a.filter.as_deref(), threads, jit)?;
    let (mut passed, mut failed) = (0, 0);
    for r in &results {
        passed += r.passed;
        failed += r.failed;
        if r.failed > 0 {
            println!(
                "FAIL {:6} {:4}/{:4} failed; first: {}",
                r.form,
                r.failed,
                r.failed + r.passed,
                r.first_failure.as_deref().unwrap_or("")
            );
        } else if a.verbose {
            println!("ok   {:6} {:4} passed", r.form, r.passed);
        }
    }
    let total = passed + failed;
    let rate = if total > 0 {
        100.0 * passed as f64 / total as f64
    } else {
        0.0
    };
    println!("forms: {}, pass rate {rate:.3}%", results.len());
    println!("{passed} passed, {failed} failed");
    Ok(if failed > 0 { 1 } else { 0 })
}
