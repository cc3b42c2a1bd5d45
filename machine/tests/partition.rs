//! Many isolated machines in one process: eight guests run at once, each on a thread of
//! its own, and each ends exactly as the same guest run alone (registers, RAM,
//! instruction count, virtual clock, console and serial output, the run's end). The guest
//! (`test-roms/src/ramfill.asm`) reads a seed from COM1 and fills all of its RAM with a
//! pattern of its own, so the guests differ in RAM size, seed and result. Each also has a
//! disk: one base image shared by all, opened with a copy-on-write overlay per guest; the
//! guest writes 64 sectors of its own pattern and reads them back. The base image stays
//! as it was.

use std::hash::{Hash, Hasher};
use std::path::Path;

use ox86_core::cpu::state::Seg;
use ox86_machine::{Boot, HostInput, Machine, MachineConfig, RunEnd, SharedBuf};

/// A machine can move to another thread.
const _: () = {
    const fn send<T: Send>() {}
    send::<Machine>();
    send::<MachineConfig>();
};

fn rom() -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-roms/bin/ramfill.bin");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// One guest: its RAM size and the seed it is sent on COM1.
#[derive(Clone, Copy, Debug)]
struct Guest {
    ram: u64,
    seed: u32,
}

/// Everything that must match between a guest run alone and run beside the others.
#[derive(Debug, PartialEq)]
struct Final {
    regs: String,
    ram: u64,
    instructions: u64,
    clock: u64,
    console: String,
    serial: String,
    end: RunEnd,
}

fn state(m: &Machine) -> String {
    let s = &m.cpu.s;
    let segs: Vec<_> = Seg::ALL.iter().map(|&g| *s.seg(g)).collect();
    format!(
        "regs {:08x?} eip {:08x} eflags {:08x} segs {segs:?} gdtr {:?} cr0 {:08x} \
         cpl {} halted {}",
        s.regs,
        s.eip,
        m.cpu.eflags(),
        s.gdtr,
        s.cr0,
        s.cpl,
        s.halted,
    )
}

fn run(rom: &[u8], g: Guest, base: &Path) -> Final {
    let (console, serial) = (SharedBuf::new(), SharedBuf::new());
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut cfg = MachineConfig::new(g.ram, Boot::Firmware(rom.to_vec()));
    cfg.console = Box::new(console.clone());
    cfg.serial = Box::new(serial.clone());
    cfg.input = Some(rx);
    let disk = ox86_devices::disk::Disk::open(base, 512, false, true).expect("base image");
    cfg.drives = vec![(0, 0, ox86_devices::ide::Kind::Disk, disk)];
    let mut m = Machine::new(cfg).expect("machine");
    tx.send(HostInput::Serial(g.seed.to_le_bytes().to_vec()))
        .unwrap();
    let r = m.run(Some(200_000_000));
    let mut h = std::collections::hash_map::DefaultHasher::new();
    m.board.mem.ram().hash(&mut h);
    Final {
        regs: state(&m),
        ram: h.finish(),
        instructions: m.cpu.stats.instructions,
        clock: m.cpu.clock(),
        console: console.text(),
        serial: serial.text(),
        end: r.end,
    }
}

fn guests() -> Vec<Guest> {
    (0..8u32)
        .map(|i| Guest {
            ram: (2 + u64::from(i)) << 20,
            seed: 0x9E37_79B9u32.wrapping_mul(i + 1),
        })
        .collect()
}

#[test]
fn eight_guests_at_once_match_each_run_alone() {
    let rom = rom();
    let guests = guests();
    let dir = std::env::temp_dir().join(format!("ox86-partition-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = dir.join("base.img");
    let image: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7 + i / 509) as u8).collect();
    std::fs::write(&base, &image).unwrap();
    let base = base.as_path();
    let alone: Vec<Final> = guests.iter().map(|&g| run(&rom, g, base)).collect();
    let together: Vec<Final> = std::thread::scope(|s| {
        let handles: Vec<_> = guests
            .iter()
            .map(|&g| {
                let rom = &rom;
                s.spawn(move || run(rom, g, base))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, ((g, a), t)) in guests.iter().zip(&alone).zip(&together).enumerate() {
        assert_eq!(a.end, RunEnd::ExitPort(0), "guest {i} ({g:?}) alone");
        let want = format!("s{:08X} r{:08X} c", g.seed, g.ram);
        assert!(
            a.serial.starts_with(&want) && a.serial.contains(" d") && a.serial.ends_with('\n'),
            "guest {i}: serial {:?}, want {want}...",
            a.serial
        );
        assert_eq!(
            a, t,
            "guest {i} ({g:?}): alone and beside the others differ"
        );
    }
    let after = std::fs::read(base).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        after == image,
        "a guest's disk writes reached the base image"
    );
    // The guests really differ: no two fill their RAM or disk the same way.
    for i in 0..alone.len() {
        for j in i + 1..alone.len() {
            assert_ne!(alone[i].ram, alone[j].ram, "guests {i} and {j}");
            assert_ne!(alone[i].serial, alone[j].serial, "guests {i} and {j}");
        }
    }
}
