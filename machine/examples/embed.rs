//! Embedding ox86: build a machine from a `MachineConfig`, run it for a budget of
//! instructions, talk to its serial port, snapshot it, restore the snapshot and run both
//! copies to the end.
//!
//! ```text
//! cargo run --release -p ox86-machine --example embed
//! ```
//!
//! The guest is `test-roms/src/ramfill.asm`: it reads a 4-byte seed from COM1, fills all
//! of its RAM with a pattern from that seed and prints a checksum on COM1.

use std::time::Instant;

use ox86_machine::{Boot, HostInput, HostOptions, Machine, MachineConfig, RunEnd, SharedBuf};

const GUEST: &[u8] = include_bytes!("../../test-roms/bin/ramfill.bin");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Build: 8 MiB of RAM, the ROM at the reset vector, COM1 and the 0xE9 debug
    // console captured into shared buffers (any `Write + Send` will do), serial input
    // through a channel.
    let serial = SharedBuf::new();
    let console = SharedBuf::new();
    let (input, rx) = crossbeam_channel::unbounded();
    let mut cfg = MachineConfig::new(8 << 20, Boot::Firmware(GUEST.to_vec()));
    cfg.serial = Box::new(serial.clone());
    cfg.console = Box::new(console.clone());
    cfg.input = Some(rx);
    let mut vm = Machine::new(cfg)?;

    // Run for a budget: the guest polls COM1 for its seed.
    let r = vm.run(Some(100_000));
    println!(
        "ran {} instructions ({:?}); serial so far: {:?}",
        vm.cpu.stats.instructions,
        r.end,
        serial.text()
    );

    // Serial input: the seed, little-endian. It reaches the guest's UART at the start of
    // the next run.
    let seed: u32 = 0xC0FF_EE11;
    input.send(HostInput::Serial(seed.to_le_bytes().to_vec()))?;
    let r = vm.run(Some(1_000_000));
    println!(
        "sent the seed {seed:08X}; after {} instructions ({:?}) the guest is filling RAM",
        vm.cpu.stats.instructions, r.end
    );

    // Snapshot the machine mid-run into a directory of its own.
    let dir = std::env::temp_dir().join(format!("ox86-embed-{}", std::process::id()));
    let saved = vm.save_snapshot(&dir)?;
    println!("snapshot in {}: {} bytes", dir.display(), saved.bytes);

    // Restore it as a second machine with outputs of its own.
    let serial2 = SharedBuf::new();
    let host = HostOptions {
        serial: Box::new(serial2.clone()),
        ..Default::default()
    };
    let mut copy = Machine::restore(&dir, host)?;
    std::fs::remove_dir_all(&dir)?;

    // Run both to the end: they must end the same way.
    let t0 = Instant::now();
    let a = vm.run(Some(500_000_000));
    let b = copy.run(Some(500_000_000));
    println!(
        "original: {:?} after {} instructions, serial {:?}",
        a.end,
        vm.cpu.stats.instructions,
        serial.text()
    );
    println!(
        "restored: {:?} after {} instructions, serial {:?} (since the snapshot)",
        b.end,
        copy.cpu.stats.instructions,
        serial2.text()
    );
    println!("debug console: {:?}", console.text());
    println!("both runs took {:.2?}", t0.elapsed());

    assert_eq!(a.end, RunEnd::ExitPort(0));
    assert_eq!(a.end, b.end);
    assert_eq!(vm.cpu.stats.instructions, copy.cpu.stats.instructions);
    assert_eq!(vm.cpu.s.regs, copy.cpu.s.regs);
    assert!(vm.board.mem.ram() == copy.board.mem.ram());
    assert_eq!(serial.text(), serial2.text());
    println!("the restored machine ended exactly as the original");
    Ok(())
}
