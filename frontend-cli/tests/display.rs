//! `--display text` on a pseudo-terminal (util-linux's `script` makes one): the VGA test
//! ROMs' text screen drawn with terminal escape sequences, the notice for a graphics mode,
//! and the error for a second user of the terminal (`--display window`: tests/window.rs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `ox86 run --bios ROM --display text` under a pseudo-terminal; None (test skipped) when
/// `script` is not installed.
fn run_on_a_pty(rom: &str) -> Option<Output> {
    let rom = workspace().join(format!("test-roms/bin/{rom}.bin"));
    let cmd = format!(
        "'{}' run --bios '{}' --display text",
        env!("CARGO_BIN_EXE_ox86"),
        rom.display()
    );
    match Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) => Some(o),
        Err(e) => {
            eprintln!("skipped: cannot run `script` (util-linux) for a pseudo-terminal: {e}");
            None
        }
    }
}

#[test]
fn text_mode_is_drawn_on_the_terminal() {
    let Some(o) = run_on_a_pty("vga_text") else {
        return;
    };
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{:?}\n{out:?}", o.status);
    // The alternate screen, entered and left.
    assert!(
        out.contains("\x1b[?1049h") && out.contains("\x1b[?1049l"),
        "{out:?}"
    );
    // Row 0: 'H' grey on black, 'I' white, ' ', then 'H' yellow on blue (attribute 0x1E).
    assert!(
        out.contains("\x1b[1;1H\x1b[38;5;7m\x1b[48;5;0mH\x1b[38;5;15m\x1b[48;5;0mI"),
        "row 0: {out:?}"
    );
    assert!(out.contains("\x1b[38;5;11m\x1b[48;5;4mH"), "{out:?}");
    // Row 2: the full block (0xDB) and the checkerboard glyph 0x01 as Unicode.
    assert!(
        out.contains("\x1b[3;1H   \x1b[38;5;11m\x1b[48;5;4m█"),
        "row 2: {out:?}"
    );
    assert!(out.contains("\x1b[48;5;1m☺"), "{out:?}");
    // The cursor at row 3, column 0, shown.
    assert!(out.contains("\x1b[4;1H\x1b[?25h"), "cursor: {out:?}");
}

#[test]
fn a_graphics_mode_gets_a_notice() {
    let Some(o) = run_on_a_pty("vga_mode13") else {
        return;
    };
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{:?}\n{out:?}", o.status);
    assert!(
        out.contains(
            "the guest shows a 320x200 graphics mode; --display text shows text modes only"
        ),
        "{out:?}"
    );
}

#[test]
fn a_shared_terminal_is_a_clear_error() {
    let ox86 = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ox86"))
            .args(args)
            .output()
            .expect("could not start the ox86 binary")
    };
    let o = ox86(&["run", "--display", "text", "--serial", "stdio"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("--serial stdio and --display text both want the terminal"));
}
