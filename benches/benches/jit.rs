//! Decode, translation and execution costs: decoding one block, translating it with the
//! JIT, and running a loop (a hand-assembled snippet, and the bench ROM) under the
//! interpreter against the JIT.
//!
//! `cargo bench -p ox86-benches --bench jit`. Throughput is in guest instructions
//! (criterion's "elements"); only the ratios between engines mean much across hosts.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ox86_core::cpu::state::DescTable;
use ox86_core::decode::block::decode_block;
use ox86_core::interp::exec::{Accelerator, Translation};
use ox86_core::interp::Interpreter;
use ox86_core::{Cpu, CpuModel, Exit, RamBus};
use ox86_jit::Jit;
use ox86_machine::{Boot, Engine, Machine, MachineConfig};

const BENCH_ROM: &[u8] = include_bytes!("../../test-roms/bin/bench.bin");

const GDT: u32 = 0x1000;
const CODE: u32 = 0x1_0000;
const DATA: u32 = 0x4_0000;

/// intloop's ALU core with a load and a store, 14 instructions an iteration:
/// `loop: ...; dec ecx; jnz loop; hlt`, hand-assembled (32-bit code).
fn snippet() -> Vec<u8> {
    let d = DATA.to_le_bytes();
    let mut c = vec![
        0x89, 0xD8, // mov eax, ebx
        0xC1, 0xE0, 0x05, // shl eax, 5
        0x01, 0xD8, // add eax, ebx
        0x31, 0xD0, // xor eax, edx
        0x8D, 0x9C, 0x58, 0x67, 0x45, 0x23, 0x01, // lea ebx, [eax+ebx*2+0x1234567]
        0x89, 0xC6, // mov esi, eax
        0xC1, 0xEE, 0x14, // shr esi, 20
        0x81, 0xE6, 0xFC, 0x03, 0x00, 0x00, // and esi, 0x3FC
        0x8B, 0xBE, d[0], d[1], d[2], d[3], // mov edi, [esi+DATA]
        0x01, 0xC7, // add edi, eax
        0x89, 0xBE, d[0], d[1], d[2], d[3], // mov [esi+DATA], edi
        0x29, 0xFA, // sub edx, edi
        0x49, // dec ecx
    ];
    let back = -(c.len() as i8 + 2);
    c.extend([0x75, back as u8, 0xF4]); // jnz loop; hlt
    c
}
const LOOP_INSNS: u64 = 14;

/// Flat 32-bit ring 0 at the snippet, ECX = `iterations`.
fn setup(iterations: u32) -> (Cpu, RamBus) {
    let mut bus = RamBus::new(1 << 20).expect("RAM");
    let m = &mut bus.mem;
    m.write_bytes(GDT as u64 + 8, &0x00cf_9a00_0000_ffffu64.to_le_bytes());
    m.write_bytes(GDT as u64 + 16, &0x00cf_9200_0000_ffffu64.to_le_bytes());
    m.write_bytes(CODE as u64, &snippet());
    let mut cpu = Cpu::new(CpuModel::P6);
    let gdt = DescTable {
        base: GDT,
        limit: 23,
    };
    cpu.enter_flat32(gdt, 0x08, 0x10, CODE);
    cpu.s.regs[1] = iterations; // ECX
    cpu.s.regs[3] = 0x1234_5678; // EBX
    cpu.s.regs[4] = 0x8_0000; // ESP
    (cpu, bus)
}

fn interpreter(jit: bool) -> Interpreter<RamBus> {
    let mut i = Interpreter::new();
    if jit {
        i.threshold = 1;
        i.accel = Some(Box::new(Jit::<RamBus>::new(1 << 20).expect("JIT")));
    }
    i
}

fn decode(c: &mut Criterion) {
    let (mut cpu, mut bus) = setup(1);
    let n = decode_block(&mut cpu, &mut bus)
        .expect("decodes")
        .insns
        .len();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("loop block (14 instructions)", |b| {
        b.iter(|| decode_block(&mut cpu, &mut bus).expect("decodes"))
    });
    g.finish();
}

fn translate(c: &mut Criterion) {
    let Ok(mut jit) = Jit::<RamBus>::new(16 << 20) else {
        return; // no JIT backend for this host
    };
    let (mut cpu, mut bus) = setup(1);
    let block = decode_block(&mut cpu, &mut bus).expect("decodes");
    let mut g = c.benchmark_group("translate");
    g.throughput(Throughput::Elements(block.insns.len() as u64));
    g.bench_function("loop block (14 instructions)", |b| {
        b.iter(|| {
            // Each translation takes new cache space: start over when it is full.
            if let Translation::Full = jit.translate(&block, &cpu) {
                jit.reset();
            }
        })
    });
    g.finish();
}

fn execute(c: &mut Criterion) {
    const ITERS: u32 = 200_000;
    let engines: &[(&str, bool)] = if ox86_jit::HOST_SUPPORTED {
        &[("interp", false), ("jit", true)]
    } else {
        &[("interp", false)]
    };
    let mut g = c.benchmark_group("execute snippet");
    g.throughput(Throughput::Elements(ITERS as u64 * LOOP_INSNS + 1));
    g.sample_size(20);
    for &(name, jit) in engines {
        // The loop ends at its HLT; check once that it ran in full.
        let (mut cpu, mut bus) = setup(ITERS);
        let exit = interpreter(jit).run(&mut cpu, &mut bus, u64::MAX);
        assert!(matches!(exit, Exit::Halted), "{name}: {exit:?}");
        assert_eq!(cpu.stats.instructions, ITERS as u64 * LOOP_INSNS + 1);
        g.bench_function(name, |b| {
            b.iter_batched(
                || (setup(ITERS), interpreter(jit)),
                |((mut cpu, mut bus), mut i)| i.run(&mut cpu, &mut bus, u64::MAX),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();

    // The default `ox86 bench` guest: its first N instructions (int, mem, call phases).
    const N: u64 = 20_000_000;
    let mut g = c.benchmark_group("execute bench ROM");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    for &(name, jit) in engines {
        let machine = || {
            let mut cfg = MachineConfig::new(32 << 20, Boot::Firmware(BENCH_ROM.to_vec()));
            cfg.engine = if jit { Engine::Jit } else { Engine::Interp };
            Machine::new(cfg).expect("bench ROM builds a machine")
        };
        g.bench_function(format!("{name}, {N} instructions"), |b| {
            b.iter_batched(machine, |mut m| m.run(Some(N)), BatchSize::LargeInput)
        });
    }
    g.finish();
}

criterion_group!(benches, decode, translate, execute);
criterion_main!(benches);
