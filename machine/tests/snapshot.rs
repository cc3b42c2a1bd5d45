//! Snapshots through the library: a machine run N instructions, saved, restored and run
//! M more ends exactly as one run of N + M (registers, x87, RAM, instruction count,
//! virtual clock, console and serial output), under the interpreter, under the JIT, and
//! saved under one engine and resumed under the other. Bad snapshots give one-line errors
//! and leave their files as they were.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use ox86_core::cpu::state::Seg;
use ox86_machine::{
    Boot, Engine, HostOptions, Machine, MachineConfig, RunEnd, SharedBuf, SnapshotError,
};

const SEABIOS: &str = "/usr/share/seabios/bios.bin";

fn rom(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../test-roms/bin")
        .join(format!("{name}.bin"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A directory of its own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("ox86-snap-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Eng(Engine, u32);

const INTERP: Eng = Eng(Engine::Interp, 50);
const JIT: Eng = Eng(Engine::Jit, 50);
const JIT_EAGER: Eng = Eng(Engine::Jit, 0);

fn jit_available() -> bool {
    cfg!(any(target_arch = "x86_64", target_arch = "aarch64"))
}

/// Outputs of a machine: (console, serial).
struct Outs(SharedBuf, SharedBuf);

fn build(rom: &[u8], eng: Eng) -> (Machine, Outs) {
    let (console, serial) = (SharedBuf::new(), SharedBuf::new());
    let mut cfg = MachineConfig::new(32 << 20, Boot::Firmware(rom.to_vec()));
    cfg.console = Box::new(console.clone());
    cfg.serial = Box::new(serial.clone());
    cfg.engine = eng.0;
    cfg.jit_threshold = eng.1;
    (Machine::new(cfg).unwrap(), Outs(console, serial))
}

fn restore(dir: &Path, eng: Eng) -> Result<(Machine, Outs), SnapshotError> {
    let (console, serial) = (SharedBuf::new(), SharedBuf::new());
    let host = HostOptions {
        console: Box::new(console.clone()),
        serial: Box::new(serial.clone()),
        engine: eng.0,
        jit_threshold: eng.1,
        ..Default::default()
    };
    Ok((Machine::restore(dir, host)?, Outs(console, serial)))
}

/// Everything that must match: architectural state, RAM, counters, outputs, the end.
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
        "regs {:08x?} eip {:08x} eflags {:08x} segs {segs:?} ldtr {:?} tr {:?} gdtr {:?} \
         idtr {:?} cr {:08x} {:08x} {:08x} {:08x} dr {:08x?} cpl {} halted {} tsc {} fpu {:?}",
        s.regs,
        s.eip,
        m.cpu.eflags(),
        s.ldtr,
        s.tr,
        s.gdtr,
        s.idtr,
        s.cr0,
        s.cr2,
        s.cr3,
        s.cr4,
        s.dr,
        s.cpl,
        s.halted,
        s.tsc_offset,
        s.fpu
    )
}

fn ram_hash(m: &Machine) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    m.board.mem.ram().hash(&mut h);
    h.finish()
}

fn finish(m: &Machine, end: RunEnd, console: String, serial: String) -> Final {
    Final {
        regs: state(m),
        ram: ram_hash(m),
        instructions: m.cpu.stats.instructions,
        clock: m.cpu.clock(),
        console,
        serial,
        end,
    }
}

/// One run of `n + m` instructions.
fn straight(rom: &[u8], eng: Eng, total: u64) -> Final {
    let (mut mach, o) = build(rom, eng);
    let r = mach.run(Some(total));
    finish(&mach, r.end, o.0.text(), o.1.text())
}

/// `n` instructions under `first`, a snapshot, a restore under `second`, `m` more.
fn split(rom: &[u8], first: Eng, second: Eng, n: u64, m: u64, tag: &str) -> Final {
    let dir = TempDir::new(tag);
    let (mut a, oa) = build(rom, first);
    let r = a.run(Some(n));
    assert_eq!(
        r.end,
        RunEnd::InstructionLimit,
        "{tag}: the first part ended early"
    );
    a.save_snapshot(&dir.0).expect("save");
    drop(a);
    let (mut b, ob) = restore(&dir.0, second).expect("restore");
    let r = b.run(Some(m));
    finish(
        &b,
        r.end,
        oa.0.text() + &ob.0.text(),
        oa.1.text() + &ob.1.text(),
    )
}

/// How many instructions `rom` runs to its end (under the interpreter).
fn length(rom: &[u8]) -> u64 {
    let (mut m, _) = build(rom, INTERP);
    m.run(Some(2_000_000_000));
    m.cpu.stats.instructions
}

fn check(rom: &[u8], name: &str, total: u64, splits: &[u64]) {
    let mut pairs = vec![(INTERP, INTERP)];
    if jit_available() {
        pairs.extend([
            (JIT, JIT),
            (JIT_EAGER, JIT_EAGER),
            (INTERP, JIT),
            (JIT, INTERP),
        ]);
    }
    let want = straight(rom, INTERP, total);
    for (first, second) in pairs {
        if first != INTERP {
            assert_eq!(
                straight(rom, first, total),
                want,
                "{name}: one run under {first:?} differs from the interpreter's"
            );
        }
        for &n in splits {
            let tag = format!(
                "{name}-{n}-{:?}{}-{:?}{}",
                first.0, first.1, second.0, second.1
            );
            let got = split(rom, first, second, n, total - n, &tag);
            assert_eq!(got, want, "{tag}: saved at {n} of {total}, resumed");
        }
    }
}

/// The demo guest: real mode, protected mode, a CRC table and 64 KiB of data in RAM,
/// console output throughout.
#[test]
fn demo_rom_resumes_exactly() {
    let rom = rom("demo");
    let total = length(&rom);
    assert!(total > 100_000, "demo ran {total} instructions");
    check(
        &rom,
        "demo",
        total + 10,
        &[1, total / 3, total / 2, total - 1],
    );
}

/// The x87 ROM: FPU registers, control/status/tag words and the last-instruction
/// pointers must come back.
#[test]
fn x87_rom_resumes_exactly() {
    let rom = rom("x87");
    let total = length(&rom);
    check(
        &rom,
        "x87",
        total + 10,
        &[total / 4, total / 2, (3 * total) / 4],
    );
}

/// SeaBIOS without a boot device: PIT timer interrupts, the RTC, PCI and fw_cfg set-up,
/// shadow RAM under PAM control, HLT with time skipped to the next timer, and its screen
/// on the serial console ("No bootable device", retried every few seconds).
#[test]
fn seabios_with_timers_resumes_exactly() {
    let Ok(bios) = std::fs::read(SEABIOS) else {
        eprintln!("skipped: {SEABIOS} is missing (apt install seabios, or scripts/deps.sh)");
        return;
    };
    let total = 30_000_000;
    let want = straight(&bios, INTERP, total);
    assert!(
        want.serial.contains("SeaBIOS"),
        "no banner on the serial console: {:?}",
        want.serial
    );
    check(&bios, "seabios", total, &[3_000_000, 12_345_678]);
}

/// Snapshot files must be left exactly as they were by a failed restore.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<_> = entries
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn restore_error(dir: &Path) -> String {
    let before = files(dir);
    let e = match restore(dir, INTERP) {
        Ok(_) => panic!("a bad snapshot in {} was restored", dir.display()),
        Err(e) => e.to_string(),
    };
    assert_eq!(
        files(dir),
        before,
        "a failed restore changed the snapshot files"
    );
    assert!(!e.contains('\n'), "not one line: {e}");
    e
}

#[test]
fn bad_snapshots_are_refused_with_one_line() {
    let rom = rom("demo");
    let dir = TempDir::new("bad");
    let good = dir.0.join("good");
    let (mut m, _) = build(&rom, INTERP);
    m.run(Some(50_000));
    m.save_snapshot(&good).unwrap();
    let copy = |name: &str| {
        let d = dir.0.join(name);
        std::fs::create_dir_all(&d).unwrap();
        for (f, bytes) in files(&good) {
            std::fs::write(d.join(f), bytes).unwrap();
        }
        d
    };

    let e = restore_error(&dir.0.join("missing"));
    assert!(e.contains("no snapshot in"), "{e}");

    let d = copy("truncated");
    let state = std::fs::read(d.join("state.bin")).unwrap();
    std::fs::write(d.join("state.bin"), &state[..state.len() / 2]).unwrap();
    let e = restore_error(&d);
    assert!(e.contains("state.bin") && e.contains("truncated"), "{e}");

    let d = copy("corrupt");
    let mut ram = std::fs::read(d.join("ram.bin")).unwrap();
    let k = ram.len() / 2;
    ram[k] ^= 0x40;
    std::fs::write(d.join("ram.bin"), &ram).unwrap();
    let e = restore_error(&d);
    assert!(e.contains("ram.bin") && e.contains("SHA-256"), "{e}");

    let d = copy("version");
    let m = std::fs::read_to_string(d.join("manifest.json")).unwrap();
    std::fs::write(
        d.join("manifest.json"),
        m.replace("\"version\": 1,", "\"version\": 99,"),
    )
    .unwrap();
    let e = restore_error(&d);
    assert!(e.contains("format version 99"), "{e}");

    let d = copy("garbage");
    std::fs::write(d.join("manifest.json"), "{ not json").unwrap();
    let e = restore_error(&d);
    assert!(e.contains("manifest") && e.contains("not valid"), "{e}");

    // A state file whose checksum matches but whose contents do not decode.
    let d = copy("undecodable");
    let junk = vec![0x55u8; 1000];
    std::fs::write(d.join("state.bin"), &junk).unwrap();
    let m = std::fs::read_to_string(d.join("manifest.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&m).unwrap();
    for f in v["files"].as_array_mut().unwrap() {
        if f["name"] == "state.bin" {
            f["size"] = 1000.into();
            f["sha256"] = sha256_hex(&junk).into();
        }
    }
    std::fs::write(d.join("manifest.json"), v.to_string()).unwrap();
    let e = restore_error(&d);
    assert!(
        e.contains("state.bin") && e.contains("cannot be decoded"),
        "{e}"
    );

    // The good one still restores and runs on.
    let (mut m, _) = restore(&good, INTERP).unwrap();
    assert_eq!(m.run(None).end, RunEnd::ExitPort(0));
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// A machine moves between threads (an embedder may run several at once).
#[test]
fn machine_is_send() {
    fn send<T: Send>() {}
    send::<Machine>();
}
