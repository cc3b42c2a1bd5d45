//! `ox86 debug`: the built-in debugger driven through its standard input with a command
//! script, on the demo ROM (test-roms/src/demo.asm).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn demo() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../test-roms/bin/demo.bin")
        .display()
        .to_string()
}

/// Run `ox86 debug ARGS` with `script` on standard input; (status, stdout, stderr).
fn debug(args: &[&str], script: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ox86"))
        .arg("debug")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ox86 debug");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .expect("write the script");
    let out = child.wait_with_output().expect("wait for ox86");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    println!("--- stdout ---\n{stdout}--- stderr ---\n{stderr}");
    (out.status.code(), stdout, stderr)
}

#[track_caller]
fn has(out: &str, want: &str) {
    assert!(out.contains(want), "output lacks {want:?}");
}

/// The line the debugger printed after the command `cmd` (the next instruction).
fn after<'a>(out: &'a str, cmd: &str) -> &'a str {
    let mut lines = out.lines();
    lines
        .by_ref()
        .find(|l| *l == format!("(ox86) {cmd}"))
        .unwrap_or_else(|| panic!("no `{cmd}` in the output"));
    lines.next().unwrap_or_default()
}

fn session(engine: &[&str]) {
    let rom = demo();
    let mut args = vec!["--bios", &rom, "--serial", "stdio"];
    args.extend(engine);
    let trace = std::env::temp_dir().join(format!(
        "ox86-debug-{}-{}.trace",
        std::process::id(),
        engine.len()
    ));
    let script = format!(
        "si\n\
         si 3\n\
         break f000:0053\n\
         c\n\
         regs\n\
         u 3\n\
         set syntax att\n\
         u 1\n\
         set syntax intel\n\
         x 0x6ff0 16\n\
         watch 0x6ffa 2\n\
         si 5\n\
         rsi\n\
         rsi 2\n\
         info break\n\
         delete\n\
         pic\n\
         trace on {}\n\
         si 3\n\
         trace off\n\
         bogus\n\
         break nowhere\n\
         c\n",
        trace.display()
    );
    let (code, out, err) = debug(&args, &script);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // Stopped at the reset vector, then one instruction per step.
    has(&out, "fffffff0: ea000000f0");
    assert!(after(&out, "si").starts_with("000f0000: fa "), "{out}");
    assert!(after(&out, "si 3").starts_with("000f0004: 8ed8 "), "{out}");
    // A SEG:OFF breakpoint (real mode: F000 * 16 + 0x53), the call to the print routine.
    has(&out, "Breakpoint 1 at linear 0x000f0053");
    assert_eq!(after(&out, "c"), "Breakpoint 1, linear 0x000f0053", "{out}");
    has(&out, "000f0053: e8d803               call 042Eh");
    has(&out, "EIP=00000053");
    has(&out, "ESI=00000013");
    assert!(
        after(&out, "u 1").ends_with("call 0x042E"),
        "AT&T syntax:\n{out}"
    );
    // The call pushes its return address (0x0056) at SS:SP-2 = 0x6ffa.
    assert_eq!(
        after(&out, "si 5"),
        "Watchpoint 2 (write) at 0x00006ffa",
        "{out}"
    );
    has(&out, "000f042e: 669c");
    // Back over the call, then two more (push esi at 0x4b, mov esi at 0x4d).
    assert!(after(&out, "rsi").starts_with("000f0053: e8d803"), "{out}");
    assert!(after(&out, "rsi 2").starts_with("000f004b: 6656"), "{out}");
    has(&out, "  2  Watchpoint linear 0x00006ffa, 2 bytes");
    has(&out, "master IRR=00");
    has(&out, "unknown command `bogus`");
    has(&out, "cannot make sense of that address");
    // The guest runs to its end without repeating output that a replay produced again.
    assert_eq!(
        out.matches("hello from 16-bit real mode").count(),
        1,
        "{out}"
    );
    has(&out, "demo complete, exit value 0");
    has(&out, "The run ended: ExitPort(0)");
    let t = std::fs::read_to_string(&trace).expect("the trace");
    let _ = std::fs::remove_file(&trace);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 3, "{t}");
    assert!(
        lines[2].contains("call 042Eh") && lines[2].contains("[00006ffa]=0056"),
        "{t}"
    );
}

#[test]
fn debug_session_from_a_script() {
    session(&["--engine", "interp"]);
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn debug_session_under_the_jit() {
    session(&["--engine", "jit", "--jit-threshold", "1"]);
}

#[test]
fn end_of_input_ends_the_run() {
    let rom = demo();
    let (code, out, err) = debug(&["--bios", &rom], "si\n");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !out.contains("demo complete"),
        "the guest must not run on:\n{out}"
    );
}

#[test]
fn debug_refuses_gdb() {
    let rom = demo();
    let (code, _, err) = debug(&["--bios", &rom, "--gdb", "tcp::0"], "");
    assert_eq!(code, Some(2));
    assert_eq!(err.lines().count(), 1, "{err}");
    has(&err, "ox86: --gdb belongs to `ox86 run`");
}
