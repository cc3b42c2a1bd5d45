//! The Debian i386 kernel booted the long way: SeaBIOS (the default firmware with a disk)
//! starts syslinux from a hard-disk image, or isolinux from an El Torito CD-ROM, which
//! loads the kernel and the test initramfs through INT 13h; the guest must reach its init
//! and power off (exit status 0). The JIT keeps the time down.
//!
//! The images come from `scripts/make-boot-disk.sh` (scripts/test.sh runs it first);
//! without them these tests fail and say how to make them.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::{Duration, Instant};

mod common;
use common::guest_dir;

/// Generous: under the JIT a boot takes one to two minutes on a loaded machine.
const TIMEOUT: Duration = Duration::from_secs(1200);

/// An image made by scripts/make-boot-disk.sh; fails saying how to make it when missing.
fn boot_image(name: &str) -> PathBuf {
    let p = guest_dir().join(name);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/make-boot-disk.sh to build the boot images \
         (it runs scripts/fetch-linux.sh when the Debian guest is not there either)",
        p.display()
    );
    p
}

/// Boot ox86 with `args` (plus the common ones) and check the console: SeaBIOS, the boot
/// loader, the kernel's init, and the power-off with exit status 0.
fn boot(what: &str, args: &[&str], booting: &str) {
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ox86"))
        .arg("run")
        .args(args)
        .args(["-m", "256M", "--serial", "stdio", "--no-reboot"])
        .args([
            "--rtc-base",
            "2026-01-01T00:00:00",
            "--engine",
            "jit",
            "--stats",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("could not start the ox86 binary");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = t0 + TIMEOUT;
    let mut log = Vec::new();
    let mut init_at = None;
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                let line = line.trim_end_matches('\r').to_string();
                if init_at.is_none() && line.contains("OX86-MARKER: init started") {
                    init_at = Some(t0.elapsed());
                }
                log.push(line);
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                break;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait().expect("wait for ox86");
    let stderr = err_thread.join().unwrap_or_default();
    let tail = || {
        let n = log.len().saturating_sub(60);
        format!(
            "--- console (last lines):\n{}\n--- stderr:\n{stderr}",
            log[n..].join("\n")
        )
    };
    let has = |s: &str| log.iter().any(|l| l.contains(s));
    assert!(
        has("SeaBIOS (version"),
        "{what}: no SeaBIOS banner\n{}",
        tail()
    );
    assert!(has(booting), "{what}: no `{booting}`\n{}", tail());
    assert!(
        init_at.is_some(),
        "{what}: no `OX86-MARKER: init started` within {TIMEOUT:?}\n{}",
        tail()
    );
    assert!(
        has("OX86-MARKER: poweroff"),
        "{what}: the guest did not get to its poweroff\n{}",
        tail()
    );
    assert_eq!(
        status.code(),
        Some(0),
        "{what}: ox86 exit status after poweroff\n{}",
        tail()
    );
    assert!(
        has("Preparing to enter system sleep state S5"),
        "{what}: the kernel did not power off through ACPI S5\n{}",
        tail()
    );
    let insns = stderr
        .lines()
        .find_map(|l| l.strip_prefix("instructions retired: "))
        .unwrap_or("?");
    eprintln!(
        "{what}: init started after {:.1} s, powered off after {:.1} s, {insns} instructions",
        init_at.unwrap().as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn seabios_boots_linux_from_a_hard_disk_with_syslinux() {
    let img = boot_image("disk.img");
    let before = std::fs::read(&img).expect("read disk.img");
    let img_s = img.display().to_string();
    boot(
        "--hda disk.img",
        &["--hda", &img_s, "--snapshot"],
        "Booting from Hard Disk",
    );
    let after = std::fs::read(&img).expect("read disk.img again");
    assert!(
        before == after,
        "{} changed under --snapshot",
        img.display()
    );
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn seabios_boots_linux_from_a_cdrom_with_isolinux() {
    let iso = boot_image("boot.iso");
    let iso_s = iso.display().to_string();
    boot(
        "--cdrom boot.iso",
        &["--cdrom", &iso_s],
        "Booting from DVD/CD",
    );
}
