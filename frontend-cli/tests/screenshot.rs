//! `ox86 run --screenshot`: the VGA test ROMs program the adapter themselves (no VGA
//! BIOS) and draw known pictures; the PNG written at exit must show them. The expected
//! colours follow from the VGA's semantics (attribute palette -> DAC, 6-bit DAC values
//! widened to 8 bits: 0x2A -> 0xAA, 0x15 -> 0x55, 0x3F -> 0xFF), not from an earlier run.
//! Both engines: the JIT's stores to the MMIO window must take the slow path too.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Png {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Png {
    fn at(&self, x: u32, y: u32) -> u32 {
        let i = ((y * self.width + x) * 3) as usize;
        (self.rgb[i] as u32) << 16 | (self.rgb[i + 1] as u32) << 8 | self.rgb[i + 2] as u32
    }
}

/// Run test ROM `name` with `--screenshot` under `engine` and decode the picture.
fn screenshot(name: &str, engine: &str) -> Png {
    let out = std::env::temp_dir().join(format!(
        "ox86-screenshot-{name}-{engine}-{}.png",
        std::process::id()
    ));
    let rom = workspace().join(format!("test-roms/bin/{name}.bin"));
    let o = Command::new(env!("CARGO_BIN_EXE_ox86"))
        .args(["run", "--serial", "none", "--engine", engine, "--bios"])
        .arg(&rom)
        .arg("--screenshot")
        .arg(&out)
        .output()
        .expect("could not start the ox86 binary");
    assert!(
        o.status.success(),
        "{name}: {:?}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("done"));
    let file = std::fs::File::open(&out).expect("the screenshot was written");
    let mut r = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("a PNG");
    let mut rgb = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut rgb).expect("one frame");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    std::fs::remove_file(&out).ok();
    Png {
        width: info.width,
        height: info.height,
        rgb,
    }
}

const BLACK: u32 = 0x000000;
const GREY: u32 = 0xaaaaaa; // colour 7 -> DAC 0x07 = (2A, 2A, 2A)
const WHITE: u32 = 0xffffff; // colour 15 -> DAC 0x3F
const YELLOW: u32 = 0xffff55; // colour 14 -> DAC 0x3E
const BLUE: u32 = 0x0000aa; // colour 1 -> DAC 0x01
const RED: u32 = 0xaa0000; // colour 4 -> DAC 0x04
const LIGHT_RED: u32 = 0xff5555; // colour 12 -> DAC 0x3C

fn check_text(engine: &str) {
    let p = screenshot("vga_text", engine);
    // 80x25 cells of 9x16 dots.
    assert_eq!((p.width, p.height), (720, 400));
    let cell = |col: u32, row: u32, dx: u32, dy: u32| p.at(col * 9 + dx, row * 16 + dy);
    // 'H' grey on black at (0,0): rows 1-13 dots 1 and 6, row 7 dots 1-6.
    assert_eq!(cell(0, 0, 1, 0), BLACK);
    assert_eq!(cell(0, 0, 1, 1), GREY);
    assert_eq!(cell(0, 0, 6, 13), GREY);
    assert_eq!(cell(0, 0, 3, 1), BLACK);
    assert_eq!(cell(0, 0, 3, 7), GREY);
    assert_eq!(cell(0, 0, 7, 7), BLACK);
    assert_eq!(cell(0, 0, 1, 14), BLACK);
    // 'I' has no glyph: white on black shows only black.
    assert!((0..9).all(|x| (0..16).all(|y| cell(1, 0, x, y) == BLACK)));
    // 'H' yellow on blue at (3,0); the 9th dot of a letter is background.
    assert_eq!(cell(3, 0, 0, 1), BLUE);
    assert_eq!(cell(3, 0, 1, 1), YELLOW);
    assert_eq!(cell(3, 0, 8, 7), BLUE);
    // Full block 0xDB at (3,2): a line-graphics character, so the 9th dot repeats the 8th.
    assert!((0..9).all(|x| (0..16).all(|y| cell(3, 2, x, y) == YELLOW)));
    // Checkerboard 0x01 white on red at (4,2): 0xAA then 0x55; 9th dot background.
    assert_eq!(
        (0..9).map(|x| cell(4, 2, x, 0)).collect::<Vec<_>>(),
        [WHITE, RED, WHITE, RED, WHITE, RED, WHITE, RED, RED]
    );
    assert_eq!(cell(4, 2, 0, 1), RED);
    assert_eq!(cell(4, 2, 1, 1), WHITE);
    // Attribute 0x9C with blink enabled (AR10 bit 3): bit 7 blinks (drawn steady), so
    // the background is colour 1, not 9.
    assert_eq!(cell(5, 2, 0, 0), LIGHT_RED);
    assert_eq!(cell(5, 2, 1, 0), BLUE);
    // The cursor at (0,3): lines 13 and 14 in the cell's foreground (grey).
    assert!((0..9).all(|x| cell(0, 3, x, 13) == GREY && cell(0, 3, x, 14) == GREY));
    assert_eq!(cell(0, 3, 4, 12), BLACK);
    assert_eq!(cell(0, 3, 4, 15), BLACK);
    // Everything else: spaces on black.
    assert_eq!(p.at(700, 300), BLACK);
    assert_eq!(cell(6, 2, 0, 0), BLACK);
}

fn check_mode13(engine: &str) {
    let p = screenshot("vga_mode13", engine);
    assert_eq!((p.width, p.height), (320, 200));
    // DAC 5 = (10, 20, 30) -> (41, 82, C3).
    let bg = 0x4182c3;
    let grey = |k: u32| {
        let v = (k << 2) | (k >> 4);
        v << 16 | v << 8 | v
    };
    for (x, y, want) in [
        (0, 0, WHITE),
        (319, 199, WHITE),
        (318, 199, bg),
        (1, 0, bg),
        (10, 20, 0xff0000),
        (49, 39, 0xff0000),
        (50, 39, bg),
        (9, 20, bg),
        (10, 19, bg),
        (10, 40, bg),
        (5, 100, 0x00ff00),
        (319, 100, 0x00ff00),
        (5, 99, bg),
        (160, 0, 0x0000ff),
        (160, 100, 0x0000ff),
        (160, 199, 0x0000ff),
        (161, 50, bg),
        (0, 150, grey(0)),
        (10, 150, grey(10)),
        (63, 150, grey(63)),
        (64, 150, bg),
        (0, 180, 0xff0000),
        (319, 180, 0xff0000),
        (100, 179, bg),
    ] {
        assert_eq!(p.at(x, y), want, "pixel ({x}, {y}) under {engine}");
    }
}

/// The 16 colours of the EGA palette mode 12h's attribute registers select.
const EGA: [u32; 16] = [
    0x000000, 0x0000aa, 0x00aa00, 0x00aaaa, 0xaa0000, 0xaa00aa, 0xaa5500, 0xaaaaaa, 0x555555,
    0x5555ff, 0x55ff55, 0x55ffff, 0xff5555, 0xff55ff, 0xffff55, 0xffffff,
];

fn check_mode12(engine: &str) {
    let p = screenshot("vga_mode12", engine);
    assert_eq!((p.width, p.height), (640, 480));
    let (blue, red, green, grey) = (EGA[1], EGA[4], EGA[2], EGA[7]);
    let mut want = vec![
        (0, 0, blue),
        (639, 479, blue),
        // The set/reset rectangle.
        (80, 100, red),
        (159, 149, red),
        (160, 149, blue),
        (79, 100, blue),
        (80, 99, blue),
        (80, 150, blue),
        // Around the write mode 2 pixels.
        (199, 10, blue),
        (216, 10, blue),
        (200, 9, blue),
        // Write mode 3 with data 0xF0: 4 pixels green, 4 kept from the latches.
        (0, 300, green),
        (3, 300, green),
        (4, 300, blue),
        (632, 300, green),
        (639, 300, blue),
        // XOR: 1 ^ 6 = 7.
        (0, 400, grey),
        (639, 400, grey),
        (8, 450, blue),
    ];
    for k in 0..16 {
        // Write mode 2: pixel 200 + k has colour k.
        want.push((200 + k, 10, EGA[k as usize]));
    }
    for k in 0..8 {
        // Write mode 1 copied the latches of pixels 200-207.
        want.push((k, 450, EGA[k as usize]));
    }
    for (x, y, c) in want {
        assert_eq!(p.at(x, y), c, "pixel ({x}, {y}) under {engine}");
    }
}

fn check_vbe(engine: &str) {
    let p = screenshot("vga_vbe", engine);
    assert_eq!((p.width, p.height), (640, 480));
    for (x, y, c) in [
        (0, 0, 0xff0000),
        (639, 0, 0xff0000),
        (0, 1, BLACK),
        (5, 100, 0x00ff00),
        (639, 100, 0x00ff00),
        (5, 99, BLACK),
        (0, 479, 0x0000ff),
        (638, 479, 0x0000ff),
        (639, 479, WHITE),
        (320, 240, BLACK),
    ] {
        assert_eq!(p.at(x, y), c, "pixel ({x}, {y}) under {engine}");
    }
}

#[test]
fn mode12_interp() {
    check_mode12("interp");
}

#[test]
fn vbe_interp() {
    check_vbe("interp");
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn mode12_jit() {
    check_mode12("jit");
}

#[test]
fn text_mode_interp() {
    check_text("interp");
}

#[test]
fn mode13_interp() {
    check_mode13("interp");
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn text_mode_jit() {
    check_text("jit");
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn mode13_jit() {
    check_mode13("jit");
}

#[test]
fn unwritable_screenshot_path_is_one_clear_error() {
    let o = Command::new(env!("CARGO_BIN_EXE_ox86"))
        .args([
            "run",
            "--serial",
            "none",
            "--screenshot",
            "/nonexistent-dir/x.png",
        ])
        .output()
        .expect("could not start the ox86 binary");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("ox86: cannot create screenshot file /nonexistent-dir/x.png"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}
