//! Interpreter benchmarks: guest instructions per second on the integer-loop test ROM
//! (test-roms/src/intloop.asm), and the cost of decoding blocks.
//!
//! `cargo bench -p ox86-benches`. Figures are throughput in guest instructions
//! (criterion's "elements"); compare with a peer measured in the same run via
//! `ox86 bench` (later) rather than with absolute numbers.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ox86_machine::{Boot, Machine, MachineConfig};

const INTLOOP: &[u8] = include_bytes!("../../test-roms/bin/intloop.bin");

fn machine() -> Machine {
    Machine::new(MachineConfig::new(
        32 << 20,
        Boot::Firmware(INTLOOP.to_vec()),
    ))
    .expect("intloop ROM builds a machine")
}

fn interpreter(c: &mut Criterion) {
    const N: u64 = 5_000_000;
    let mut g = c.benchmark_group("interpreter");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("intloop 5M instructions", |b| {
        b.iter_batched(
            machine,
            |mut m| m.run(Some(N)),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn decode(c: &mut Criterion) {
    // Cold start: every block decoded once (the block cache is empty each iteration).
    let mut g = c.benchmark_group("decode");
    g.sample_size(20);
    g.bench_function("demo boot to protected mode (cold cache)", |b| {
        b.iter_batched(
            machine,
            |mut m| m.run(Some(20_000)),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, interpreter, decode);
criterion_main!(benches);
