//! `ox86 run --trace FILE`: the instruction trace of a run is the same under the
//! interpreter and the JIT (translating every block on its first run), for the project's
//! test ROMs and the start of the Debian kernel's boot.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

fn rom(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../test-roms/bin")
        .join(format!("{name}.bin"))
        .display()
        .to_string()
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ox86-trace-{}-{name}", std::process::id()))
}

/// Run ox86 with `args` and `--trace` into a file named `name`; the trace's text.
fn traced(name: &str, args: &[&str]) -> String {
    let path = temp(name);
    let out = Command::new(env!("CARGO_BIN_EXE_ox86"))
        .arg("run")
        .args(args)
        .args(["--serial", "none", "--trace"])
        .arg(&path)
        .output()
        .expect("run ox86");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    let text = std::fs::read_to_string(&path).expect("read the trace");
    let _ = std::fs::remove_file(&path);
    text
}

/// The trace under both engines; they must be equal.
#[track_caller]
fn same_under_both(name: &str, args: &[&str]) -> String {
    let interp = traced(
        &format!("{name}-interp"),
        &[args, &["--engine", "interp"]].concat(),
    );
    if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        let jit_args = [args, &["--engine", "jit", "--jit-threshold", "1"]].concat();
        let jit = traced(&format!("{name}-jit"), &jit_args);
        if let Some((i, (a, b))) = interp
            .lines()
            .zip(jit.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
        {
            panic!("{name}: traces differ at line {i}:\ninterp: {a}\njit:    {b}");
        }
        assert_eq!(
            interp.lines().count(),
            jit.lines().count(),
            "{name}: trace lengths"
        );
    }
    interp
}

#[test]
fn rom_traces_are_the_same_under_interpreter_and_jit() {
    for name in [
        "demo",
        "realmode",
        "pm_checks",
        "paging",
        "v86",
        "tasks",
        "x87",
        "debug",
    ] {
        let path = rom(name);
        let text = same_under_both(name, &["--bios", &path, "--max-insns", "300000"]);
        let first = text.lines().next().unwrap_or_default();
        // Every ROM starts at the reset vector with a far jump.
        assert!(
            first.starts_with("         0 f000:0000fff0 ea"),
            "{name}: first line {first:?}"
        );
        assert!(text.lines().count() > 1000, "{name}: a short trace");
    }
}

#[test]
fn trace_lines_show_changes_and_writes() {
    let path = rom("demo");
    let text = traced("demo-text", &["--bios", &path, "--max-insns", "20"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 20, "{text}");
    // demo.asm's first instructions: mov sp,7000h then a push of ESI (zero) below it.
    assert!(
        text.contains(" mov sp,7000h ") && text.contains(" esp=00007000"),
        "{text}"
    );
    assert!(
        text.contains("push esi") && text.contains("[00006ffc]=00000000"),
        "{text}"
    );
    let json = traced("demo.jsonl", &["--bios", &path, "--max-insns", "20"]);
    let mut n = 0;
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert_eq!(v["n"], n, "{line}");
        assert!(v["asm"].is_string() && v["bytes"].is_string(), "{line}");
        n += 1;
    }
    assert_eq!(n, 20);
}

/// The first 200,000 instructions of the Debian kernel (the decompressor).
#[test]
fn linux_boot_trace_is_the_same_under_interpreter_and_jit() {
    let kernel = common::guest_file("vmlinuz").display().to_string();
    let text = same_under_both(
        "linux",
        &[
            "--kernel",
            &kernel,
            "--append",
            "console=ttyS0",
            "--rtc-base",
            "2026-01-01T00:00:00",
            "--max-insns",
            "200000",
        ],
    );
    assert_eq!(
        text.lines().filter(|l| !l.contains(" -- ")).count(),
        200_000
    );
}
