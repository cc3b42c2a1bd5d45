//! The test ROMs against QEMU: each `test-roms/bin/NAME.bin` must print exactly
//! `test-roms/expected/NAME.txt` on the 0xE9 console and end as `NAME.exit` says.

use std::path::{Path, PathBuf};

use ox86_machine::{Boot, Engine, Machine, MachineConfig, RunEnd, SharedBuf};

/// Far more than any ROM needs (intloop, the longest, retires about 300 million).
const MAX_INSNS: u64 = 2_000_000_000;

fn roms_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("test-roms")
}

/// How a run must end, from `expected/NAME.exit`.
#[derive(Debug, PartialEq)]
enum ExpectedEnd {
    Exit(u32),
    TripleFault,
}

fn expected_end(path: &Path) -> ExpectedEnd {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let t = text.trim();
    if t == "triple-fault" {
        return ExpectedEnd::TripleFault;
    }
    match t.parse() {
        Ok(v) => ExpectedEnd::Exit(v),
        Err(_) => panic!(
            "{}: `{t}` is neither a number nor `triple-fault`",
            path.display()
        ),
    }
}

/// A readable account of the first difference between two console outputs.
fn first_difference(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (
        want.split_inclusive('\n').collect(),
        got.split_inclusive('\n').collect(),
    );
    for i in 0..w.len().max(g.len()) {
        let (a, b) = (w.get(i), g.get(i));
        if a != b {
            let show = |l: Option<&&str>| {
                l.map(|l| format!("{l:?}"))
                    .unwrap_or_else(|| "<end of output>".into())
            };
            let mut s = format!(
                "first difference at line {}:\n  expected: {}\n  got:      {}\n",
                i + 1,
                show(a),
                show(b)
            );
            if i > 0 {
                s += &format!("  (previous line, same in both: {:?})\n", w[i - 1]);
            }
            s += &format!("expected {} lines, got {} lines", w.len(), g.len());
            return s;
        }
    }
    "outputs are equal".into()
}

/// Run ROM `name` as QEMU did for `expected/` and compare: interpreted, and (on hosts
/// with a JIT backend) with the JIT translating every block on its first run.
fn check_rom(name: &str) {
    check_rom_with(name, Engine::Interp);
    if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        check_rom_with(name, Engine::Jit);
    }
}

fn check_rom_with(name: &str, engine: Engine) {
    let dir = roms_dir();
    let bin = dir.join("bin").join(format!("{name}.bin"));
    let txt = dir.join("expected").join(format!("{name}.txt"));
    let exit = dir.join("expected").join(format!("{name}.exit"));
    let rom = std::fs::read(&bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let want_text =
        std::fs::read_to_string(&txt).unwrap_or_else(|e| panic!("{}: {e}", txt.display()));
    let want_end = expected_end(&exit);
    let name = &format!("{name} ({engine:?})");

    let console = SharedBuf::new();
    let mut cfg = MachineConfig::new(128 << 20, Boot::Firmware(rom));
    cfg.console = Box::new(console.clone());
    cfg.reboot = false;
    cfg.engine = engine;
    cfg.jit_threshold = 0;
    let mut m =
        Machine::new(cfg).unwrap_or_else(|e| panic!("{name}: cannot build the machine: {e}"));
    let report = m.run(Some(MAX_INSNS));
    let got_text = console.text();
    let s = &m.cpu.s;
    let at = format!("{:04x}:{:08x}", s.segs[1].selector, s.eip);

    assert!(
        got_text == want_text,
        "{name}: console output differs from QEMU's ({}).\n{}\nrun ended with {:?} at {at} after {} instructions",
        txt.display(),
        first_difference(&want_text, &got_text),
        report.end,
        report.stats.instructions,
    );
    let ok = match (&want_end, report.end) {
        (ExpectedEnd::Exit(v), RunEnd::ExitPort(got)) => *v == got,
        (ExpectedEnd::TripleFault, RunEnd::TripleFault) => true,
        _ => false,
    };
    assert!(
        ok,
        "{name}: expected the run to end with {want_end:?}, got {:?} at {at} after {} instructions",
        report.end, report.stats.instructions
    );
}

#[test]
fn demo() {
    check_rom("demo");
}

#[test]
fn realmode() {
    check_rom("realmode");
}

#[test]
fn pm_checks() {
    check_rom("pm_checks");
}

#[test]
fn triple() {
    check_rom("triple");
}

#[test]
fn intloop() {
    check_rom("intloop");
}

/// The default `ox86 bench` guest (about 238 million instructions in six phases).
#[test]
fn bench() {
    check_rom("bench");
}

/// Code that rewrites its own immediates, and the changes around them that must still
/// be seen.
#[test]
fn smc() {
    check_rom("smc");
}

#[test]
fn paging() {
    check_rom("paging");
}

#[test]
fn tasks() {
    check_rom("tasks");
}

#[test]
fn v86() {
    check_rom("v86");
}

#[test]
fn debug() {
    check_rom("debug");
}

#[test]
fn x87() {
    check_rom("x87");
}

#[test]
fn vga_text() {
    check_rom("vga_text");
}

#[test]
fn vga_mode13() {
    check_rom("vga_mode13");
}

#[test]
fn vga_mode12() {
    check_rom("vga_mode12");
}

#[test]
fn vga_vbe() {
    check_rom("vga_vbe");
}

/// Without a VGA BIOS at 0xC0000 (QEMU maps none for -bios either) these say so and
/// exit with 1; machine/tests/vga_bios.rs runs them with one.
#[test]
fn vgabios_text() {
    check_rom("vgabios_text");
}

#[test]
fn vgabios_vbe() {
    check_rom("vgabios_vbe");
}

/// Every ROM with expected output has a test above: a new ROM must get one too.
#[test]
fn every_rom_is_covered() {
    const COVERED: [&str; 18] = [
        "demo",
        "realmode",
        "pm_checks",
        "triple",
        "intloop",
        "paging",
        "tasks",
        "v86",
        "debug",
        "x87",
        "vga_text",
        "vga_mode13",
        "vga_mode12",
        "vga_vbe",
        "vgabios_text",
        "vgabios_vbe",
        "bench",
        "smc",
    ];
    let dir = roms_dir();
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir.join("bin")).expect("test-roms/bin") {
        let p = e.expect("directory entry").path();
        if p.extension().is_some_and(|x| x == "bin") {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let exp = dir.join("expected");
            if exp.join(format!("{name}.txt")).is_file()
                && exp.join(format!("{name}.exit")).is_file()
            {
                found.push(name);
            }
        }
    }
    found.sort();
    let missing: Vec<&String> = found
        .iter()
        .filter(|n| !COVERED.contains(&n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "ROMs with expected output but no #[test] in machine/tests/roms.rs: {missing:?}"
    );
    assert!(
        found.len() >= COVERED.len(),
        "expected at least the ROMs {COVERED:?}, found {found:?}"
    );
}

#[test]
fn first_difference_names_the_line() {
    let d = first_difference("a\nb\nc\n", "a\nB\nc\n");
    assert!(
        d.contains("line 2") && d.contains("\"b\\n\"") && d.contains("\"B\\n\""),
        "{d}"
    );
    let d = first_difference("a\nb\n", "a\n");
    assert!(d.contains("line 2") && d.contains("<end of output>"), "{d}");
}
