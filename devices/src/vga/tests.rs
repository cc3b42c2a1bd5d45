//! Unit tests: write modes, latches, read modes, chain-4 and odd/even addressing, memory
//! map select, the attribute flip-flop, DAC, input status, VBE and the renderer.

use super::*;

fn out(v: &mut Vga, port: u16, val: u8) {
    v.io_write(port, 1, val as u32);
}

fn inb(v: &mut Vga, port: u16) -> u8 {
    v.io_read(port, 1, 0) as u8
}

fn seq(v: &mut Vga, i: u8, val: u8) {
    v.io_write(0x3c4, 2, (val as u32) << 8 | i as u32);
}

fn gc(v: &mut Vga, i: u8, val: u8) {
    v.io_write(0x3ce, 2, (val as u32) << 8 | i as u32);
}

/// Planar addressing at 0xA0000, all planes writable, write mode 0, nothing else.
fn planar() -> Vga {
    let mut v = Vga::new();
    seq(&mut v, 2, 0x0f);
    seq(&mut v, 4, 0x06); // odd/even off, no chain-4
    gc(&mut v, 5, 0x00);
    gc(&mut v, 6, 0x05); // A0000, 64 KiB, graphics
    gc(&mut v, 8, 0xff);
    v
}

fn planes_at(v: &Vga, o: usize) -> [u8; 4] {
    [
        v.vram[4 * o],
        v.vram[4 * o + 1],
        v.vram[4 * o + 2],
        v.vram[4 * o + 3],
    ]
}

#[test]
fn write_mode_0_map_mask_rotate_set_reset_and_bit_mask() {
    let mut v = planar();
    v.mem_write(0x10, 0xa5);
    assert_eq!(planes_at(&v, 0x10), [0xa5; 4]);
    // Map mask: only planes 1 and 2.
    seq(&mut v, 2, 0x06);
    v.mem_write(0x11, 0x3c);
    assert_eq!(planes_at(&v, 0x11), [0, 0x3c, 0x3c, 0]);
    seq(&mut v, 2, 0x0f);
    // Rotate right by 4.
    gc(&mut v, 3, 0x04);
    v.mem_write(0x12, 0x12);
    assert_eq!(planes_at(&v, 0x12), [0x21; 4]);
    gc(&mut v, 3, 0x00);
    // Set/reset: planes 0 and 3 take 0xff/0x00 from the set/reset value 0b0001.
    gc(&mut v, 0, 0x01);
    gc(&mut v, 1, 0x09);
    v.mem_write(0x13, 0x5a);
    assert_eq!(planes_at(&v, 0x13), [0xff, 0x5a, 0x5a, 0x00]);
    gc(&mut v, 1, 0x00);
    // Bit mask: unmasked bits come from the latches (loaded by a read).
    v.mem_read(0x10); // latches = a5 a5 a5 a5
    gc(&mut v, 8, 0x0f);
    v.mem_write(0x14, 0x00);
    assert_eq!(planes_at(&v, 0x14), [0xa0; 4]);
}

#[test]
fn logical_operations_combine_with_the_latches() {
    for (func, want) in [
        (0, 0x0f),
        (1, 0x0c & 0x0f),
        (2, 0x3c | 0x0f),
        (3, 0x3c ^ 0x0f),
    ] {
        let mut v = planar();
        v.mem_write(0, 0x3c);
        v.mem_read(0);
        gc(&mut v, 3, func << 3);
        v.mem_write(1, 0x0f);
        let want = if func == 1 { 0x3c & 0x0f } else { want };
        assert_eq!(planes_at(&v, 1), [want; 4], "function {func}");
    }
}

#[test]
fn write_mode_1_copies_the_latches() {
    let mut v = planar();
    seq(&mut v, 2, 0x01);
    v.mem_write(0, 0x11);
    seq(&mut v, 2, 0x02);
    v.mem_write(0, 0x22);
    seq(&mut v, 2, 0x04);
    v.mem_write(0, 0x33);
    seq(&mut v, 2, 0x08);
    v.mem_write(0, 0x44);
    seq(&mut v, 2, 0x0f);
    v.mem_read(0);
    gc(&mut v, 5, 0x01);
    v.mem_write(0x100, 0xee); // the data is ignored
    assert_eq!(planes_at(&v, 0x100), [0x11, 0x22, 0x33, 0x44]);
}

#[test]
fn write_mode_2_and_3() {
    let mut v = planar();
    // Mode 2: the low nibble is a colour for all 8 pixels, under the bit mask.
    gc(&mut v, 5, 0x02);
    gc(&mut v, 8, 0xf0);
    v.mem_read(0); // latches zero
    v.mem_write(0, 0x05);
    assert_eq!(planes_at(&v, 0), [0xf0, 0x00, 0xf0, 0x00]);
    // Mode 3: the set/reset colour, the (rotated) data ANDed with the bit mask.
    gc(&mut v, 5, 0x03);
    gc(&mut v, 0, 0x0a);
    gc(&mut v, 8, 0xff);
    gc(&mut v, 3, 0x01); // rotate right 1
    v.mem_read(1);
    v.mem_write(1, 0x18); // -> 0x0c
    assert_eq!(planes_at(&v, 1), [0x00, 0x0c, 0x00, 0x0c]);
}

#[test]
fn read_modes_0_and_1() {
    let mut v = planar();
    gc(&mut v, 5, 0x02); // write mode 2 to draw colours
                         // Pixels 0-7 at offset 0 get colours 0..7.
    for px in 0..8u8 {
        gc(&mut v, 8, 0x80 >> px);
        v.mem_read(0);
        v.mem_write(0, px);
    }
    gc(&mut v, 5, 0x00);
    gc(&mut v, 4, 0x01); // read map: plane 1
    assert_eq!(v.mem_read(0), 0b0011_0011); // colours 2,3,6,7
                                            // Read mode 1: which pixels have colour 5 (compare all planes)?
    gc(&mut v, 5, 0x08);
    gc(&mut v, 2, 0x05);
    gc(&mut v, 7, 0x0f);
    assert_eq!(v.mem_read(0), 0b0000_0100);
    // Ignore plane 2: colours 1, 5 match 0b?0?1 -> pixels 1 and 5.
    gc(&mut v, 7, 0x0b);
    assert_eq!(v.mem_read(0), 0b0100_0100);
}

#[test]
fn chain_4_reaches_bytes_in_order() {
    let mut v = Vga::new();
    seq(&mut v, 2, 0x0f);
    seq(&mut v, 4, 0x0e);
    gc(&mut v, 5, 0x40);
    gc(&mut v, 6, 0x05);
    gc(&mut v, 8, 0xff);
    for a in 0..8u32 {
        v.mem_write(a, 0x10 + a as u8);
    }
    assert_eq!(
        &v.vram[0..8],
        &[0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17]
    );
    assert_eq!(v.mem_read(5), 0x15);
    // The map mask still selects planes: plane 1 (addresses 1, 5, ...) is off.
    seq(&mut v, 2, 0x0d);
    v.mem_write(5, 0xaa);
    v.mem_write(6, 0xbb);
    assert_eq!(&v.vram[5..7], &[0x15, 0xbb]);
}

#[test]
fn odd_even_text_addressing_and_memory_map_select() {
    let mut v = Vga::new();
    seq(&mut v, 2, 0x03);
    seq(&mut v, 4, 0x02); // odd/even
    gc(&mut v, 5, 0x10);
    gc(&mut v, 6, 0x0e); // B8000, 32 KiB
    gc(&mut v, 8, 0xff);
    // B8000 is offset 0x18000 from A0000: character and attribute of cell 1.
    v.legacy_write(0x18002, 2, 0x1f41);
    assert_eq!(planes_at(&v, 1), [0x41, 0x1f, 0, 0]);
    assert_eq!(v.legacy_read(0x18002, 2), 0x1f41);
    // Outside the decoded window: open bus, and writes go nowhere.
    assert_eq!(v.legacy_read(0x0, 1), 0xff);
    v.legacy_write(0x0, 1, 0x55);
    assert!(v.vram[..0x10000].iter().all(|&b| b != 0x55));
    // Odd/even reads with read map 2 see planes 2 and 3.
    gc(&mut v, 4, 0x02);
    seq(&mut v, 2, 0x0c);
    v.legacy_write(0x18002, 2, 0x0708);
    assert_eq!(planes_at(&v, 1), [0x41, 0x1f, 0x08, 0x07]);
    assert_eq!(v.legacy_read(0x18002, 2), 0x0708);
}

#[test]
fn attribute_flip_flop_is_reset_by_input_status_1() {
    let mut v = Vga::new();
    out(&mut v, 0x3c2, 0x01); // colour: CRTC and status at 0x3Dx
    out(&mut v, 0x3c0, 0x12);
    out(&mut v, 0x3c0, 0x0f);
    assert_eq!(v.regs.ar[0x12], 0x0f);
    out(&mut v, 0x3c0, 0x01); // an index; then read 3DA: the next write is an index
    inb(&mut v, 0x3da);
    out(&mut v, 0x3c0, 0x02);
    out(&mut v, 0x3c0, 0x3f);
    assert_eq!((v.regs.ar[1], v.regs.ar[2]), (0, 0x3f));
    // The mono status port is not decoded in colour mode.
    assert_eq!(inb(&mut v, 0x3ba), 0xff);
}

#[test]
fn vertical_retrace_follows_virtual_time() {
    let mut v = Vga::new();
    out(&mut v, 0x3c2, 0x01);
    let samples: Vec<u8> = (0..200u64)
        .map(|i| v.io_read(0x3da, 1, i * 100_000) as u8 & 0x08)
        .collect();
    assert!(samples.contains(&0) && samples.contains(&8));
    // Deterministic: the same time gives the same answer.
    assert_eq!(
        v.io_read(0x3da, 1, 14_000_000),
        v.io_read(0x3da, 1, 14_000_000)
    );
}

#[test]
fn dac_write_read_and_colour() {
    let mut v = Vga::new();
    out(&mut v, 0x3c8, 0x10);
    for c in [0x3f, 0x20, 0x01, 0x00, 0x15, 0x2a] {
        out(&mut v, 0x3c9, c);
    }
    assert_eq!(inb(&mut v, 0x3c8), 0x12);
    out(&mut v, 0x3c7, 0x11);
    assert_eq!(inb(&mut v, 0x3c7), 3);
    let got: Vec<u8> = (0..3).map(|_| inb(&mut v, 0x3c9)).collect();
    assert_eq!(got, [0x00, 0x15, 0x2a]);
    // 6-bit components widened to 8: 3f -> ff, 20 -> 82, 01 -> 04.
    assert_eq!(v.regs.dac_rgb(0x10, false), 0xff8204);
    // The pixel mask selects the entry.
    out(&mut v, 0x3c6, 0x10);
    assert_eq!(v.regs.dac_rgb(0x13, false), 0xff8204);
}

#[test]
fn crtc_write_protect_keeps_cr0_to_cr7() {
    let mut v = Vga::new();
    out(&mut v, 0x3c2, 0x01);
    v.io_write(0x3d4, 2, 0x5f00);
    v.io_write(0x3d4, 2, 0x8011);
    v.io_write(0x3d4, 2, 0x4400);
    v.io_write(0x3d4, 2, 0xff07);
    assert_eq!(v.regs.crtc[0], 0x5f);
    assert_eq!(v.regs.crtc[7], 0x10);
}

/// Mode 3 registers as a BIOS sets them (the attribute palette for text colours).
fn text_mode(v: &mut Vga) {
    out(v, 0x3c2, 0x67);
    for (i, s) in [0x03u8, 0x00, 0x03, 0x00, 0x02].iter().enumerate() {
        seq(v, i as u8, *s);
    }
    v.io_write(0x3d4, 2, 0x0e11); // unprotect
    let crtc = [
        0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00,
        0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff,
    ];
    for (i, c) in crtc.iter().enumerate() {
        v.io_write(0x3d4, 2, (*c as u32) << 8 | i as u32);
    }
    for (i, g) in [0u8, 0, 0, 0, 0, 0x10, 0x0e, 0x00, 0xff].iter().enumerate() {
        gc(v, i as u8, *g);
    }
    inb(v, 0x3da);
    let ar = [
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e,
        0x3f, 0x0c, 0x00, 0x0f, 0x08, 0x00,
    ];
    for (i, a) in ar.iter().enumerate() {
        out(v, 0x3c0, i as u8);
        out(v, 0x3c0, *a);
    }
    out(v, 0x3c0, 0x20);
    // DAC: entry 1 blue, entry 0x3f white.
    out(v, 0x3c8, 0x01);
    for c in [0, 0, 0x2a] {
        out(v, 0x3c9, c);
    }
    out(v, 0x3c8, 0x3f);
    for c in [0x3f, 0x3f, 0x3f] {
        out(v, 0x3c9, c);
    }
}

#[test]
fn text_mode_renders_glyphs_from_plane_2() {
    let mut v = Vga::new();
    text_mode(&mut v);
    // Glyph 'A' (0x41): row 0 = 0xff (full line), row 1 = 0x81, the rest empty.
    v.vram[(0x41 * 32) * 4 + 2] = 0xff;
    v.vram[(0x41 * 32 + 1) * 4 + 2] = 0x81;
    // Cell (0,1): 'A', bright white on blue.
    v.legacy_write(0x18002, 2, 0x1f41);
    let s = v.render();
    assert_eq!((s.width, s.height), (720, 400));
    let (white, blue) = (0xffffff, 0x0000aa);
    // Cell 1 starts at x = 9: row 0 all 8 dots on, the 9th dot background.
    for x in 9..17 {
        assert_eq!(s.pixel(x, 0), white, "x {x}");
    }
    assert_eq!(s.pixel(17, 0), blue);
    assert_eq!(
        (s.pixel(9, 1), s.pixel(10, 1), s.pixel(16, 1)),
        (white, blue, white)
    );
    assert_eq!(s.pixel(12, 5), blue);
    // Cell 0 is character 0, attribute 0: black.
    assert_eq!(s.pixel(0, 0), 0);
    // The cursor (lines 13-14 of the cell at location 0) in the cell's foreground.
    v.io_write(0x3d4, 2, 0x000e);
    v.io_write(0x3d4, 2, 0x010f);
    let s = v.render();
    assert_eq!(
        (s.pixel(9, 13), s.pixel(17, 14), s.pixel(9, 12)),
        (white, white, blue)
    );
    // A display's copy holds the planar memory only and draws the same.
    let c = v.display_copy();
    assert_eq!(c.vram.len(), 256 << 10);
    assert_eq!(c.render(), s);
}

#[test]
fn text_view_has_the_cells_the_cursor_and_knows_graphics_modes() {
    use super::text::TextView;
    let mut v = Vga::new();
    assert_eq!(v.text_view(), TextView::Blank);
    text_mode(&mut v);
    v.legacy_write(0x18002, 2, 0x1f41); // (0,1): 'A' white on blue
    v.legacy_write(0x180a0 + 6, 2, 0x0742); // (1,3): 'B'
    v.io_write(0x3d4, 2, 0x000e);
    v.io_write(0x3d4, 2, 0x530f); // cursor at 83 = (1,3)
    let TextView::Text(t) = v.text_view() else {
        panic!("mode 3 is a text mode");
    };
    assert_eq!((t.cols, t.rows), (80, 25));
    assert_eq!(t.cells[1], (0x41, 0x1f));
    assert_eq!(t.cells[83], (0x42, 0x07));
    assert_eq!(t.cursor, Some((1, 3)));
    assert!(t.blink);
    // Cursor off (CRTC 0x0A bit 5).
    v.io_write(0x3d4, 2, 0x2d0a);
    let TextView::Text(t) = v.text_view() else {
        panic!("still text");
    };
    assert_eq!(t.cursor, None);
    // A graphics mode: attribute mode control bit 0.
    inb(&mut v, 0x3da);
    out(&mut v, 0x3c0, 0x30);
    out(&mut v, 0x3c0, 0x01);
    assert!(matches!(v.text_view(), TextView::Graphics { .. }));
}

#[test]
fn vbe_bank_window_and_32bpp_render() {
    let mut v = Vga::new();
    out(&mut v, 0x3c0, 0x20); // unblank
    let dispi = |v: &mut Vga, i: u16, val: u16| {
        v.io_write(vbe::INDEX_PORT, 2, i as u32);
        v.io_write(vbe::DATA_PORT, 2, val as u32);
    };
    v.io_write(vbe::INDEX_PORT, 2, 0);
    assert_eq!(v.io_read(vbe::DATA_PORT, 2, 0), 0xb0c5);
    dispi(&mut v, vbe::XRES as u16, 640);
    dispi(&mut v, vbe::YRES as u16, 480);
    dispi(&mut v, vbe::BPP as u16, 32);
    dispi(&mut v, vbe::ENABLE as u16, vbe::ENABLED | vbe::LFB_ENABLED);
    v.io_write(vbe::INDEX_PORT, 2, vbe::VIRT_HEIGHT as u32);
    assert_eq!(v.io_read(vbe::DATA_PORT, 2, 0), VRAM_SIZE / 2560);
    v.io_write(vbe::INDEX_PORT, 2, vbe::VIDEO_MEMORY_64K as u32);
    assert_eq!(v.io_read(vbe::DATA_PORT, 2, 0), 256);
    // Pixel (10, 100) is at byte 100 * 2560 + 40 = 256040: bank 3, offset 0xe828.
    dispi(&mut v, vbe::BANK as u16, 3);
    v.legacy_write(0xe828, 4, 0x00ff_8000);
    // Pixel (0, 0) through the linear framebuffer.
    v.lfb_write(0, 4, 0x0012_3456);
    let s = v.render();
    assert_eq!((s.width, s.height), (640, 480));
    assert_eq!(s.pixel(10, 100), 0xff8000);
    assert_eq!(s.pixel(0, 0), 0x123456);
    assert_eq!(s.pixel(1, 0), 0);
    // Blank while the attribute controller's palette address source bit is clear.
    out(&mut v, 0x3c2, 0x01);
    inb(&mut v, 0x3da);
    out(&mut v, 0x3c0, 0x00);
    assert_eq!(v.render().pixel(10, 100), 0);
    // GETCAPS reports the maxima.
    dispi(
        &mut v,
        vbe::ENABLE as u16,
        vbe::ENABLED | vbe::GETCAPS | vbe::NOCLEARMEM,
    );
    v.io_write(vbe::INDEX_PORT, 2, vbe::XRES as u32);
    assert_eq!(v.io_read(vbe::DATA_PORT, 2, 0), vbe::MAX_XRES as u32);
}

#[test]
fn vbe_16bpp_and_8bpp_colours() {
    let mut v = Vga::new();
    out(&mut v, 0x3c0, 0x20); // unblank
    let dispi = |v: &mut Vga, i: usize, val: u16| {
        v.io_write(vbe::INDEX_PORT, 2, i as u32);
        v.io_write(vbe::DATA_PORT, 2, val as u32);
    };
    dispi(&mut v, vbe::XRES, 320);
    dispi(&mut v, vbe::YRES, 200);
    dispi(&mut v, vbe::BPP, 16);
    dispi(&mut v, vbe::ENABLE, vbe::ENABLED);
    v.lfb_write(2, 2, 0xf800); // pure red in 5:6:5
    v.lfb_write(4, 2, 0x07e0); // pure green
    let s = v.render();
    assert_eq!((s.pixel(1, 0), s.pixel(2, 0)), (0xff0000, 0x00ff00));
    dispi(&mut v, vbe::ENABLE, 0);
    dispi(&mut v, vbe::BPP, 8);
    dispi(&mut v, vbe::ENABLE, vbe::ENABLED | vbe::DAC_8BIT);
    out(&mut v, 0x3c8, 7);
    for c in [0x80, 0x40, 0xc0] {
        out(&mut v, 0x3c9, c);
    }
    v.lfb_write(5, 1, 7);
    assert_eq!(v.render().pixel(5, 0), 0x8040c0);
}

#[test]
fn unprogrammed_adapter_renders_a_blank_screen() {
    let s = Vga::new().render();
    assert_eq!((s.width, s.height), (640, 480));
    assert!(s.pixels.iter().all(|&p| p == 0));
}

#[test]
fn png_encoding_round_trips() {
    let mut s = Screen {
        width: 3,
        height: 2,
        pixels: vec![0; 6],
    };
    s.pixels[4] = 0x123456;
    let bytes = png::encode(&s).expect("encodes");
    let dec = ::png::Decoder::new(std::io::Cursor::new(bytes));
    let mut r = dec.read_info().expect("decodes");
    let mut buf = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut buf).expect("a frame");
    assert_eq!((info.width, info.height), (3, 2));
    assert_eq!(&buf[12..15], &[0x12, 0x34, 0x56]);
}

#[test]
fn vbe_virtual_screen_and_offsets() {
    let mut v = Vga::new();
    out(&mut v, 0x3c0, 0x20);
    let dispi = |v: &mut Vga, i: usize, val: u16| {
        v.io_write(vbe::INDEX_PORT, 2, i as u32);
        v.io_write(vbe::DATA_PORT, 2, val as u32);
    };
    dispi(&mut v, vbe::XRES, 640);
    dispi(&mut v, vbe::YRES, 480);
    dispi(&mut v, vbe::BPP, 8);
    dispi(&mut v, vbe::ENABLE, vbe::ENABLED | vbe::LFB_ENABLED);
    out(&mut v, 0x3c8, 9);
    for c in [0x3f, 0, 0] {
        out(&mut v, 0x3c9, c);
    }
    // A virtual screen 1024 wide: pixel (700, 500) of it is at 500 * 1024 + 700.
    dispi(&mut v, vbe::VIRT_WIDTH, 1024);
    v.io_write(vbe::INDEX_PORT, 2, vbe::VIRT_HEIGHT as u32);
    assert_eq!(v.io_read(vbe::DATA_PORT, 2, 0), VRAM_SIZE / 1024);
    v.lfb_write(500 * 1024 + 700, 1, 9);
    assert!(v.render().pixels.iter().all(|&p| p == 0));
    // Pan so that (100, 100) of the virtual screen is the top left corner.
    dispi(&mut v, vbe::X_OFFSET, 100);
    dispi(&mut v, vbe::Y_OFFSET, 100);
    assert_eq!(v.render().pixel(600, 400), 0xff0000);
    // A display's copy holds the frame from the display start and draws the same.
    let c = v.display_copy();
    assert_eq!(c.vram.len(), (100 * 1024 + 100 + 480 * 1024) as usize);
    assert_eq!(c.render(), v.render());
    // An offset that would leave the visible screen outside the virtual one is cut.
    dispi(&mut v, vbe::X_OFFSET, 1000);
    v.io_write(vbe::INDEX_PORT, 2, vbe::X_OFFSET as u32);
    assert_eq!(v.io_read(vbe::DATA_PORT, 2, 0), 1024 - 640);
    // Bad depths become 8; widths round down to a multiple of 8.
    dispi(&mut v, vbe::BPP, 12);
    dispi(&mut v, vbe::XRES, 803);
    v.io_write(vbe::INDEX_PORT, 2, vbe::BPP as u32);
    assert_eq!(v.io_read(vbe::DATA_PORT, 2, 0), 8);
    v.io_write(vbe::INDEX_PORT, 2, vbe::XRES as u32);
    assert_eq!(v.io_read(vbe::DATA_PORT, 2, 0), 800);
}

#[test]
fn pci_function_identity_and_bar0_sizing() {
    let mut pci = crate::pci::Pci::new();
    pci.functions.push(pci_function());
    let cfg = |p: &mut crate::pci::Pci, reg: u8| {
        let _ = p.write(0xcf8, 4, 0x8000_0000 | (PCI_DEVFN as u32) << 8 | reg as u32);
        p.read(0xcfc, 4)
    };
    assert_eq!(cfg(&mut pci, 0x00), 0x1111_1234);
    assert_eq!(cfg(&mut pci, 0x08) >> 8, 0x03_00_00);
    assert_eq!(cfg(&mut pci, 0x10), DEFAULT_LFB | 0x08);
    let f = |p: &crate::pci::Pci| p.functions.iter().find(|f| f.devfn == PCI_DEVFN).cloned();
    assert_eq!(lfb_base(&f(&pci).unwrap()), Some(DEFAULT_LFB as u64));
    // Sizing: all ones reads back the size mask with the type bits.
    let _ = pci.write(0xcfc, 4, 0xffff_ffff);
    assert_eq!(cfg(&mut pci, 0x10), !(VRAM_SIZE - 1) | 0x08);
    let _ = pci.write(0xcfc, 4, 0xe000_0000);
    assert_eq!(lfb_base(&f(&pci).unwrap()), Some(0xe000_0000));
    // Memory decoding off: no framebuffer.
    let _ = cfg(&mut pci, 0x04);
    let _ = pci.write(0xcfc, 2, 0x0001);
    assert_eq!(lfb_base(&f(&pci).unwrap()), None);
}

#[test]
fn forty_column_8_dot_text_and_character_maps() {
    let mut v = Vga::new();
    text_mode(&mut v);
    // Mode 1-like: 40 columns (CR1 = 0x27, offset 0x14), 8-dot characters, dot clock
    // halved (each dot drawn twice).
    seq(&mut v, 1, 0x09);
    v.io_write(0x3d4, 2, 0x0e11); // CR0-7 writable again
    v.io_write(0x3d4, 2, 0x2701);
    v.io_write(0x3d4, 2, 0x1413);
    // Character map B (attribute bit 3 clear) = map 0 at plane 2 offset 0, map A
    // (bit 3 set) = map 1 at 0x4000 (SR3 bits 3-2 = 01).
    seq(&mut v, 3, 0x04);
    v.vram[(0x41 * 32) * 4 + 2] = 0x80; // map 0: 'A' has its first dot
    v.vram[(0x4000 + 0x41 * 32) * 4 + 2] = 0x01; // map 1: 'A' has its last dot
    v.legacy_write(0x18000, 2, 0x0141); // cell 0: blue, map B
    v.legacy_write(0x18002, 2, 0x0f41); // cell 1: white, map A
                                        // Cell (0, 1) is row 1, one row of 40 characters further.
    v.legacy_write(0x18000 + 80, 2, 0x0f41);
    let s = v.render();
    assert_eq!((s.width, s.height), (640, 400));
    let (blue, white) = (0x0000aa, 0xffffff);
    assert_eq!(
        (s.pixel(0, 0), s.pixel(1, 0), s.pixel(2, 0)),
        (blue, blue, 0)
    );
    assert_eq!((s.pixel(16, 0), s.pixel(29, 0)), (0, 0));
    assert_eq!((s.pixel(30, 0), s.pixel(31, 0)), (white, white));
    assert_eq!((s.pixel(14, 16), s.pixel(15, 16)), (white, white));
}

/// Whatever a guest writes, in any order, nothing panics and every screen is drawable.
#[test]
fn random_programming_never_panics() {
    let mut v = Vga::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let ports = [
        0x3b4, 0x3b5, 0x3ba, 0x3c0, 0x3c1, 0x3c2, 0x3c4, 0x3c5, 0x3c6, 0x3c7, 0x3c8, 0x3c9, 0x3cc,
        0x3ce, 0x3cf, 0x3d4, 0x3d5, 0x3da, 0x1ce, 0x1cf, 0x1d0,
    ];
    for i in 0..200_000u32 {
        let r = next();
        let port = ports[(r % ports.len() as u64) as usize];
        let size = [1u8, 2, 4][(r >> 8) as usize % 3];
        match (r >> 16) % 4 {
            0 => v.io_write(port, size, (r >> 32) as u32),
            1 => {
                v.io_read(port, size, r >> 24);
            }
            2 => v.legacy_write((r >> 24) as u32 % 0x20000, size, (r >> 40) as u32),
            _ => {
                v.legacy_read((r >> 24) as u32 % 0x20000, size);
            }
        }
        // Now and then, draw whatever mode that made.
        if i % 5000 == 0 {
            let s = v.render();
            assert_eq!(s.pixels.len(), (s.width * s.height) as usize);
        }
    }
}
