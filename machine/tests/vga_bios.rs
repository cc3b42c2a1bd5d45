//! ox86's VGA under a real VGA BIOS: SeaBIOS's SeaVGABIOS for QEMU's std VGA
//! (`vgabios-stdvga.bin`, from the Debian package `seabios`), mapped at 0xC0000 with
//! `Board::map_vga_bios` and initialised by a test ROM the way a system BIOS does. Skips
//! (with a message) when the image is not installed.

use std::path::{Path, PathBuf};

use ox86_machine::{Boot, Machine, MachineConfig, RunEnd, SharedBuf};

const VGABIOS: &str = "/usr/share/seabios/vgabios-stdvga.bin";

fn rom(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../test-roms/bin/{name}.bin"))
}

/// Run ROM `name` with the VGA BIOS mapped; None when the VGA BIOS is absent.
fn run(name: &str) -> Option<(Machine, String)> {
    let Ok(bios) = std::fs::read(VGABIOS) else {
        eprintln!("skipped: {VGABIOS} is not installed (apt-get install seabios)");
        return None;
    };
    let image = std::fs::read(rom(name)).expect("test ROM");
    let console = SharedBuf::new();
    let mut cfg = MachineConfig::new(32 << 20, Boot::Firmware(image));
    cfg.console = Box::new(console.clone());
    cfg.reboot = false;
    let mut m = Machine::new(cfg).expect("machine");
    m.board.map_vga_bios(&bios).expect("the VGA BIOS fits");
    let r = m.run(Some(500_000_000));
    let text = console.text();
    assert_eq!(r.end, RunEnd::ExitPort(0), "{name}: {text}");
    Some((m, text))
}

#[test]
fn seavgabios_sets_mode_3_and_prints() {
    let Some((m, text)) = run("vgabios_text") else {
        return;
    };
    assert!(text.contains("vgabios_text: cursor 0102"), "{text}");
    let vga = &m.board.dev.vga;
    // Characters and attributes (planes 0 and 1): "Hi" on row 0, ">>" on row 1.
    let cell = |o: usize| (vga.vram[o * 4], vga.vram[o * 4 + 1]);
    assert_eq!(cell(0), (b'H', 7));
    assert_eq!(cell(1), (b'i', 7));
    assert_eq!(cell(80), (b'>', 7));
    let s = m.screen();
    assert_eq!((s.width, s.height), (720, 400));
    // Each cell shows its glyph from plane 2 (the font the VGA BIOS loaded): grey
    // where a font bit is set, black elsewhere.
    for (col, row, ch) in [(0u32, 0u32, b'H'), (1, 0, b'i'), (0, 1, b'>')] {
        let mut lit = 0;
        for y in 0..16 {
            let bits = vga.vram[(ch as usize * 32 + y as usize) * 4 + 2];
            for x in 0..8 {
                let on = bits & (0x80 >> x) != 0;
                lit += on as u32;
                let want = if on { 0xaaaaaa } else { 0 };
                assert_eq!(s.pixel(col * 9 + x, row * 16 + y), want, "{}", ch as char);
            }
        }
        assert!(lit > 10, "glyph {} is loaded", ch as char);
    }
}

#[test]
fn seavgabios_vbe_mode_through_the_linear_framebuffer() {
    let Some((m, text)) = run("vgabios_vbe") else {
        return;
    };
    // VBE 3.0; mode 112h is 640x480x24 with its framebuffer at BAR0.
    assert!(
        text.contains("4F00 ax=004F signature=41534556 version=0300"),
        "{text}"
    );
    assert!(
        text.contains("4F01 ax=004F attributes=00BB size=640x480 bpp=24 pitch=1920 lfb=FD000000"),
        "{text}"
    );
    assert!(text.contains("4F02 ax=004F"), "{text}");
    let s = m.screen();
    assert_eq!((s.width, s.height), (640, 480));
    for (x, y, c) in [
        (0, 0, 0xff0000),
        (639, 0, 0xff0000),
        (0, 479, 0x0000ff),
        (639, 479, 0x0000ff),
        (320, 1, 0x00ff00),
        (320, 478, 0x00ff00),
        (319, 200, 0),
        (321, 200, 0),
        (0, 1, 0),
    ] {
        assert_eq!(s.pixel(x, y), c, "pixel ({x}, {y})");
    }
}
