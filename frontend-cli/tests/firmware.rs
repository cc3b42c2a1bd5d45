//! SeaBIOS (Debian's `seabios` package) as ox86's firmware: its banner on the serial
//! console, a hard disk and a CD-ROM booted through it, the boot sector's INT 13h reads
//! and writes, disk images that survive a SIGKILL sector by sector, --snapshot, and the
//! messages for bad disk images.
//!
//! The boot sector is test-roms/disks/bootsector.asm, assembled here with nasm; the disk
//! and ISO images are built around it by the tests.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::{boot_sector, describe, have_seabios, ox86, TempDir, SEABIOS, SECTOR};

const CD_BLOCK: usize = 2048;
/// Enough instructions for SeaBIOS (about 7.7 million to the boot sector) and the test.
const MAX_INSNS: &str = "200000000";

/// The boot sector, assembled with nasm, with its mode byte (0x1FD) set.
fn mode_sector(dir: &TempDir, mode: u8) -> Vec<u8> {
    let mut b = boot_sector(dir, "test-roms/disks/bootsector.asm");
    b[0x1fd] = mode;
    b
}

/// A 64-sector disk: the boot sector, then sector k filled with the byte k.
fn disk_image(dir: &TempDir, mode: u8) -> (PathBuf, Vec<u8>) {
    let mut img = mode_sector(dir, mode);
    for k in 1..64u8 {
        img.extend_from_slice(&[k; SECTOR]);
    }
    let p = dir.path("disk.img");
    std::fs::write(&p, &img).expect("write the disk image");
    (p, img)
}

/// A 32-block El Torito ISO image: a primary volume descriptor, the boot record (catalog
/// at block 19), the boot image (the boot sector, no emulation, at block 20), and blocks
/// 21-31 filled with their number.
fn iso_image(dir: &TempDir) -> PathBuf {
    let n = 32;
    let mut img = vec![0u8; n * CD_BLOCK];
    let blk = |k: usize| k * CD_BLOCK;
    let pvd = blk(16);
    img[pvd] = 1;
    img[pvd + 1..pvd + 7].copy_from_slice(b"CD001\x01");
    img[pvd + 80..pvd + 84].copy_from_slice(&(n as u32).to_le_bytes());
    img[pvd + 84..pvd + 88].copy_from_slice(&(n as u32).to_be_bytes());
    img[pvd + 128..pvd + 130].copy_from_slice(&(CD_BLOCK as u16).to_le_bytes());
    img[pvd + 130..pvd + 132].copy_from_slice(&(CD_BLOCK as u16).to_be_bytes());
    let br = blk(17);
    img[br + 1..br + 7].copy_from_slice(b"CD001\x01");
    img[br + 7..br + 30].copy_from_slice(b"EL TORITO SPECIFICATION");
    img[br + 0x47..br + 0x4b].copy_from_slice(&19u32.to_le_bytes());
    let term = blk(18);
    img[term] = 0xff;
    img[term + 1..term + 7].copy_from_slice(b"CD001\x01");
    let cat = blk(19);
    img[cat] = 1; // validation entry, x86
    img[cat + 0x1e] = 0x55;
    img[cat + 0x1f] = 0xaa;
    let sum = (0..16).fold(0u16, |s, i| {
        s.wrapping_add(u16::from_le_bytes([img[cat + 2 * i], img[cat + 2 * i + 1]]))
    });
    img[cat + 0x1c..cat + 0x1e].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
    img[cat + 0x20] = 0x88; // bootable, no emulation, load segment 0 (0x7C0)
    img[cat + 0x26..cat + 0x28].copy_from_slice(&4u16.to_le_bytes());
    img[cat + 0x28..cat + 0x2c].copy_from_slice(&20u32.to_le_bytes());
    let bs = mode_sector(dir, 2);
    img[blk(20)..blk(20) + SECTOR].copy_from_slice(&bs);
    for k in 21..n {
        img[blk(k)..blk(k + 1)].fill(k as u8);
    }
    let p = dir.path("cd.iso");
    std::fs::write(&p, &img).expect("write the ISO image");
    p
}

fn run_disk(args: &[&str], expect_status: i32, expect: &[&str]) {
    let o = ox86(args);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(expect_status),
        "ox86 {}\n{}",
        args.join(" "),
        describe(&o)
    );
    for e in expect {
        assert!(out.contains(e), "no {e:?} in the output\n{}", describe(&o));
    }
}

#[test]
fn seabios_boots_a_hard_disk_that_reads_and_writes_through_int13() {
    if !have_seabios() {
        return;
    }
    let dir = TempDir::new("hd");
    let (img, before) = disk_image(&dir, 0);
    let img_s = img.display().to_string();
    run_disk(
        &[
            "run",
            "--bios",
            SEABIOS,
            "--hda",
            &img_s,
            "--serial",
            "stdio",
            "--max-insns",
            MAX_INSNS,
            "--no-reboot",
        ],
        42,
        &[
            "SeaBIOS (version",
            "Booting from Hard Disk",
            "BOOT: hello",
            "BOOT: reads ok",
            "BOOT: write ok",
        ],
    );
    // The guest wrote sectors 20 and 21; nothing else changed.
    let after = std::fs::read(&img).unwrap();
    let mut expect = before;
    expect[20 * SECTOR..22 * SECTOR].fill(0x5a);
    assert!(after == expect, "the image is not what the guest wrote");
}

#[test]
fn default_firmware_and_snapshot_leave_the_image_untouched() {
    if !have_seabios() {
        return;
    }
    let dir = TempDir::new("snap");
    let (img, before) = disk_image(&dir, 0);
    let img_s = img.display().to_string();
    // No --bios: a disk boots with SeaBIOS.
    run_disk(
        &[
            "run",
            "--hda",
            &img_s,
            "--snapshot",
            "--serial",
            "stdio",
            "--max-insns",
            MAX_INSNS,
            "--no-reboot",
        ],
        42,
        &["SeaBIOS (version", "BOOT: write ok"],
    );
    assert!(
        std::fs::read(&img).unwrap() == before,
        "--snapshot wrote the image"
    );
}

#[test]
fn seabios_boots_a_disk_under_the_jit() {
    if !have_seabios() {
        return;
    }
    let dir = TempDir::new("jit");
    let (img, _) = disk_image(&dir, 0);
    let img = img.display().to_string();
    let args = [
        "run",
        "--engine",
        "jit",
        "--hda",
        &img,
        "--snapshot",
        "--serial",
        "stdio",
        "--max-insns",
        MAX_INSNS,
        "--no-reboot",
    ];
    run_disk(&args, 42, &["SeaBIOS (version", "BOOT: write ok"]);
}

#[test]
fn seabios_boots_an_el_torito_cdrom() {
    if !have_seabios() {
        return;
    }
    let dir = TempDir::new("cd");
    let iso = iso_image(&dir).display().to_string();
    run_disk(
        &[
            "run",
            "--cdrom",
            &iso,
            "--boot",
            "d",
            "--serial",
            "stdio",
            "--max-insns",
            MAX_INSNS,
            "--no-reboot",
        ],
        43,
        &["SeaBIOS (version", "Booting from DVD/CD", "BOOT: cd ok"],
    );
    // With a hard disk too, --boot picks the first device: CMOS and `bootorder` agree.
    let (img, _) = disk_image(&dir, 0);
    let img = img.display().to_string();
    for (order, status, expect) in [("dc", 43, "BOOT: cd ok"), ("cd", 42, "BOOT: write ok")] {
        let args = [
            "run",
            "--hda",
            &img,
            "--cdrom",
            &iso,
            "--boot",
            order,
            "--snapshot",
            "--serial",
            "stdio",
            "--max-insns",
            MAX_INSNS,
            "--no-reboot",
        ];
        run_disk(&args, status, &[expect]);
    }
}

/// Start ox86 on a guest that writes 8 sectors forever, wait until it does, SIGKILL it,
/// and return the image.
fn kill_while_writing(img: &Path, snapshot: bool) -> Vec<u8> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ox86"));
    cmd.args(["run", "--hda"])
        .arg(img)
        .args(["--serial", "stdio", "--no-reboot"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if snapshot {
        cmd.arg("--snapshot");
    }
    let mut child = cmd.spawn().expect("start ox86");
    let out = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = out.clone();
    let reader = std::thread::spawn(move || {
        let mut b = [0u8; 256];
        while let Ok(n) = stdout.read(&mut b) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&b[..n]);
        }
    });
    let start = Instant::now();
    loop {
        let seen = String::from_utf8_lossy(&out.lock().unwrap()).contains("BOOT: writing");
        if seen {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the guest never started writing: {}",
            String::from_utf8_lossy(&out.lock().unwrap())
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Let it write for a while (thousands of sectors), then kill it mid-stream.
    std::thread::sleep(Duration::from_millis(300));
    child.kill().expect("SIGKILL ox86");
    child.wait().unwrap();
    reader.join().unwrap();
    std::fs::read(img).unwrap()
}

#[test]
fn a_killed_machine_leaves_every_sector_old_or_new() {
    if !have_seabios() {
        return;
    }
    let dir = TempDir::new("kill");
    let (img, before) = disk_image(&dir, 1);
    let after = kill_while_writing(&img, false);
    assert_eq!(after.len(), before.len());
    let mut written = 0;
    for (k, (a, b)) in after.chunks(SECTOR).zip(before.chunks(SECTOR)).enumerate() {
        if (32..40).contains(&k) {
            let whole = |v: u8| a.iter().all(|&x| x == v);
            assert!(
                a == b || whole(0xaa) || whole(0x55),
                "sector {k} is torn: {:?}...",
                &a[..16]
            );
            written += (a != b) as usize;
        } else {
            assert!(a == b, "sector {k} changed");
        }
    }
    assert!(written > 0, "the guest's writes never reached the image");

    // With --snapshot the image stays byte for byte what it was.
    let before = after;
    let again = kill_while_writing(&img, true);
    assert!(again == before, "--snapshot let a write through");
}

#[test]
fn bad_disk_images_get_one_error_line() {
    let dir = TempDir::new("bad");
    let odd = dir.path("odd.img");
    std::fs::write(&odd, vec![0u8; 1000]).unwrap();
    let empty = dir.path("empty.img");
    std::fs::write(&empty, []).unwrap();
    let missing = dir.path("missing.img");
    let d = dir.path("").display().to_string();
    let cases: [(Vec<String>, &str); 5] = [
        (
            vec!["--hda".into(), missing.display().to_string()],
            "cannot open disk image",
        ),
        (vec!["--hdb".into(), d.clone()], "is a directory"),
        (
            vec!["--hda".into(), odd.display().to_string()],
            "1000 bytes, not a whole number of 512-byte sectors",
        ),
        (
            vec!["--cdrom".into(), empty.display().to_string()],
            "is empty",
        ),
        (vec!["--boot".into(), "x".into()], "not a boot order"),
    ];
    for (extra, msg) in cases {
        let mut args = vec!["run".to_string()];
        args.extend(extra);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = ox86(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            o.status.code(),
            Some(2),
            "ox86 {}\n{}",
            a.join(" "),
            describe(&o)
        );
        assert!(err.contains(msg), "ox86 {}: {err}", a.join(" "));
        if msg != "not a boot order" {
            assert_eq!(err.lines().count(), 1, "ox86 {}: {err}", a.join(" "));
            assert!(err.starts_with("ox86: "), "{err}");
        }
    }
}
