//! ox86: a pure-software x86 PC emulator.

mod bench;
mod debugger;
mod display;
mod gdb;
mod link;
mod monitor;
mod plot;
mod run;
mod sst;
mod terminal;
mod window;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "ox86", version, about = "A pure-software x86 PC emulator")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a guest (the built-in demo guest when none is given)
    Run(Box<run::RunArgs>),
    /// Debug a guest interactively (same arguments as `run`; `help` at the prompt)
    Debug(Box<debugger::DebugArgs>),
    /// Benchmark a guest under the interpreter and the JIT (and `--vs qemu`)
    Bench(bench::BenchArgs),
    /// Resume a machine saved with --save-on-exit or `savevm` (its configuration comes
    /// from the snapshot; the options here are the host's)
    Restore(Box<run::RestoreArgs>),
    /// Run SingleStepTests MOO files and report failures
    Sst(sst::SstArgs),
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.cmd {
        Cmd::Run(a) => run::run(*a),
        Cmd::Debug(a) => debugger::run(*a),
        Cmd::Restore(a) => run::restore(*a),
        Cmd::Sst(a) => sst::run(a),
        Cmd::Bench(a) => bench::run(a),
    };
    match code {
        Ok(c) => std::process::exit(c),
        Err(e) => {
            eprintln!("ox86: {e:#}");
            std::process::exit(2);
        }
    }
}
