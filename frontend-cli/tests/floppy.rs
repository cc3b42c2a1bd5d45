//! A 1.44 MB floppy booted by SeaBIOS (Debian's `seabios` package) through the 82077AA
//! model and DMA channel 2: the boot sector (test-roms/disks/floppy.asm, assembled here
//! with nasm) reads sectors across a head and a whole track after a seek through INT 13h
//! AH=02h, writes one with AH=03h and reads it back; the image holds the write, or with
//! --snapshot stays byte for byte what it was. Under the interpreter and the JIT, with
//! `--boot a` beside a hard disk, and the error lines for bad floppy images.

use std::path::PathBuf;

mod common;
use common::{boot_sector, describe, have_seabios, ox86, TempDir, SECTOR};

/// A 1.44 MB diskette: 80 cylinders, 2 heads, 18 sectors.
const SECTORS: usize = 2880;
/// The sector the guest writes (C3 H1 S5) and the byte it fills it with.
const WRITTEN_LBA: usize = 130;
/// SeaBIOS boots the floppy and the test finishes in about 6.1 million instructions.
const MAX_INSNS: &str = "100000000";

/// The floppy: the boot sector, then LBA k filled with k & 0xFF.
fn floppy_image(dir: &TempDir) -> (PathBuf, Vec<u8>) {
    let mut img = boot_sector(dir, "test-roms/disks/floppy.asm");
    for k in 1..SECTORS {
        img.extend_from_slice(&[k as u8; SECTOR]);
    }
    let p = dir.path("floppy.img");
    std::fs::write(&p, &img).expect("write the floppy image");
    (p, img)
}

fn run(extra: &[&str], expect_status: i32, expect: &[&str]) {
    let mut args = vec![
        "run",
        "--serial",
        "stdio",
        "--max-insns",
        MAX_INSNS,
        "--no-reboot",
    ];
    args.extend_from_slice(extra);
    let o = ox86(&args);
    assert_eq!(
        o.status.code(),
        Some(expect_status),
        "ox86 {}\n{}",
        args.join(" "),
        describe(&o)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    for e in expect {
        assert!(out.contains(e), "no {e:?} in the output\n{}", describe(&o));
    }
}

const ALL_OK: [&str; 5] = [
    "SeaBIOS (version",
    "Booting from Floppy",
    "FLOPPY: hello",
    "FLOPPY: reads ok",
    "FLOPPY: write ok",
];

#[test]
fn seabios_boots_a_floppy_that_reads_and_writes_through_int13() {
    if !have_seabios() {
        return;
    }
    let dir = TempDir::new("rw");
    let (img, before) = floppy_image(&dir);
    let img_s = img.display().to_string();
    run(&["--fda", &img_s, "--boot", "a"], 44, &ALL_OK);
    let after = std::fs::read(&img).unwrap();
    let mut expect = before;
    expect[WRITTEN_LBA * SECTOR..(WRITTEN_LBA + 1) * SECTOR].fill(0x5a);
    assert!(after == expect, "the image is not what the guest wrote");
}

#[test]
fn floppy_under_the_jit_with_snapshot_leaves_the_image_untouched() {
    if !have_seabios() {
        return;
    }
    let dir = TempDir::new("jit");
    let (img, before) = floppy_image(&dir);
    let img_s = img.display().to_string();
    // No --bios and the default boot order: the floppy is the only disk.
    run(
        &["--fda", &img_s, "--snapshot", "--engine", "jit"],
        44,
        &ALL_OK,
    );
    assert!(
        std::fs::read(&img).unwrap() == before,
        "--snapshot wrote the image"
    );
}

#[test]
fn boot_a_picks_the_floppy_over_a_hard_disk() {
    if !have_seabios() {
        return;
    }
    let dir = TempDir::new("order");
    let (img, _) = floppy_image(&dir);
    let img_s = img.display().to_string();
    // A hard disk whose boot sector would exit 42 (test-roms/disks/bootsector.asm).
    let mut hd = boot_sector(&dir, "test-roms/disks/bootsector.asm");
    for k in 1..64u8 {
        hd.extend_from_slice(&[k; SECTOR]);
    }
    let hd_p = dir.path("hd.img");
    std::fs::write(&hd_p, &hd).unwrap();
    let hd_s = hd_p.display().to_string();
    for (order, status, expect) in [("ac", 44, "FLOPPY: write ok"), ("ca", 42, "BOOT: write ok")] {
        run(
            &[
                "--fda",
                &img_s,
                "--hda",
                &hd_s,
                "--boot",
                order,
                "--snapshot",
            ],
            status,
            &[expect],
        );
    }
}

#[test]
fn bad_floppy_images_get_one_error_line() {
    let dir = TempDir::new("bad");
    let odd = dir.path("odd.img");
    std::fs::write(&odd, vec![0u8; 1000 * SECTOR]).unwrap();
    let missing = dir.path("missing.img");
    let d = dir.path("").display().to_string();
    let odd_s = odd.display().to_string();
    let missing_s = missing.display().to_string();
    let cases = [
        (missing_s.as_str(), "cannot open disk image"),
        (d.as_str(), "is a directory"),
        (odd_s.as_str(), "512000 bytes: not a floppy format"),
    ];
    for (file, msg) in cases {
        let o = ox86(&["run", "--fda", file]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "--fda {file}\n{}", describe(&o));
        assert!(err.contains(msg), "--fda {file}: {err}");
        assert_eq!(err.lines().count(), 1, "--fda {file}: {err}");
        assert!(err.starts_with("ox86: "), "{err}");
    }
}
