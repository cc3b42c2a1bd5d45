//! `ox86 run --save-on-exit DIR`, `ox86 restore DIR` and `savevm DIR`: a run saved and
//! resumed ends exactly as one run (both engines, and across them), the Debian guest
//! saved at its shell prompt answers after a restore, bad snapshots and changed disk
//! images are refused with one error line and left untouched, and disk images stay byte
//! for byte as they were.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::{Duration, Instant};

mod common;
use common::{boot_sector, describe, guest_file, have_seabios, ox86, TempDir, SECTOR};

const RTC: &[&str] = &["--rtc-base", "2026-01-01T00:00:00"];

fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

/// The engines to try: (name, arguments).
fn engines() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut v = vec![("interp", vec!["--engine", "interp"])];
    if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        v.push(("jit", vec!["--engine", "jit"]));
        v.push(("jit0", vec!["--engine", "jit", "--jit-threshold", "0"]));
    }
    v
}

/// What must be equal between one run and a saved-and-resumed one: the guest's output,
/// the registers, the instructions retired and the exit status.
#[derive(Debug, PartialEq)]
struct Outcome {
    stdout: String,
    regs: String,
    instructions: String,
    status: Option<i32>,
}

fn outcome(stdout: String, o: &std::process::Output) -> Outcome {
    let err = String::from_utf8_lossy(&o.stderr);
    let regs = err
        .lines()
        .filter(|l| l.contains('=') && !l.starts_with("ox86:"))
        .collect::<Vec<_>>()
        .join("\n");
    let instructions = err
        .lines()
        .find(|l| l.starts_with("instructions retired"))
        .unwrap_or("")
        .to_string();
    assert!(!regs.is_empty(), "no registers dumped\n{}", describe(o));
    Outcome {
        stdout,
        regs,
        instructions,
        status: o.status.code(),
    }
}

fn run_ok(args: &[&str]) -> std::process::Output {
    let o = ox86(args);
    assert!(
        o.status.code().is_some_and(|c| c != 2),
        "ox86 {}\n{}",
        args.join(" "),
        describe(&o)
    );
    o
}

/// `machine` run for `total` instructions at once, and run `n`, saved, resumed for the
/// rest (under each pair of engines): the same outcome. `fresh` makes the machine's
/// arguments anew for each run (disk images are copied so every run starts alike).
fn check_split(tag: &str, fresh: &dyn Fn(&TempDir) -> Vec<String>, n: u64, total: u64) {
    let dir = TempDir::new(&format!("split-{tag}"));
    let tail = ["--serial", "stdio", "--dump-state", "--stats"];
    let machine = fresh(&dir);
    let mut args: Vec<&str> = machine.iter().map(String::as_str).collect();
    let total_s = total.to_string();
    args.extend(["--max-insns", &total_s]);
    args.extend(tail);
    args.extend(RTC);
    let o = run_ok(&args);
    let want = outcome(String::from_utf8_lossy(&o.stdout).into_owned(), &o);

    let es = engines();
    let mut pairs: Vec<(usize, usize)> = (0..es.len()).map(|i| (i, i)).collect();
    if es.len() > 1 {
        pairs.extend([(0, 1), (1, 0)]);
    }
    for (i, j) in pairs {
        let (e1, a1) = &es[i];
        let (e2, a2) = &es[j];
        let snap = dir.path(&format!("snap-{e1}-{e2}"));
        let machine = fresh(&dir);
        let mut args: Vec<&str> = machine.iter().map(String::as_str).collect();
        let n_s = n.to_string();
        args.extend(["--max-insns", &n_s, "--serial", "stdio"]);
        args.extend(a1.iter().copied());
        args.extend(["--save-on-exit", s(&snap)]);
        args.extend(RTC);
        let first = run_ok(&args);
        let rest = (total - n).to_string();
        let mut args = vec!["restore", s(&snap), "--max-insns", &rest];
        args.extend(tail);
        args.extend(a2.iter().copied());
        let second = run_ok(&args);
        let stdout = String::from_utf8_lossy(&first.stdout).into_owned()
            + &String::from_utf8_lossy(&second.stdout);
        let got = outcome(stdout, &second);
        assert_eq!(
            got,
            want,
            "{tag}: saved after {n} under {e1}, resumed under {e2} for {rest}\n{}",
            describe(&second)
        );
    }
}

/// The built-in demo guest (console output, a CRC table and 64 KiB of data in RAM).
#[test]
fn demo_guest_saved_and_resumed_ends_as_one_run() {
    let machine = |_: &TempDir| vec!["run".to_string()];
    check_split("demo", &machine, 150_000, 600_000);
}

/// A 64-sector disk whose boot sector (test-roms/disks/bootsector.asm) reads and writes
/// through INT 13h and exits with 42.
fn disk_image(dir: &TempDir, name: &str) -> (PathBuf, Vec<u8>) {
    let mut img = boot_sector(dir, "test-roms/disks/bootsector.asm");
    img[0x1fd] = 0;
    for k in 1..64u8 {
        img.extend_from_slice(&[k; SECTOR]);
    }
    let p = dir.path(name);
    std::fs::write(&p, &img).expect("write the disk image");
    (p, img)
}

/// SeaBIOS booting a disk: timer interrupts, HLT, the serial console, IDE reads and
/// writes (to the image: each run gets its own copy).
#[test]
fn seabios_disk_boot_saved_and_resumed_ends_as_one_run() {
    if !have_seabios() {
        return;
    }
    let count = std::sync::atomic::AtomicU32::new(0);
    let machine = |dir: &TempDir| {
        let k = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (img, _) = disk_image(dir, &format!("disk{k}.img"));
        vec![
            "run".to_string(),
            "--hda".to_string(),
            img.display().to_string(),
        ]
    };
    check_split("seabios", &machine, 4_000_000, 12_000_000);
}

/// A writable disk: saving freezes the image (later writes stay in memory and go into
/// the next snapshot's overlay); the image never changes after the save.
#[test]
fn disk_images_stay_as_saved() {
    if !have_seabios() {
        return;
    }
    let dir = TempDir::new("disk-overlay");
    let (img, before) = disk_image(&dir, "disk.img");
    let (snap, snap2) = (dir.path("snap"), dir.path("snap2"));
    // Early in SeaBIOS: the boot sector has not written yet.
    let o = ox86(&[
        "run",
        "--hda",
        s(&img),
        "--max-insns",
        "3000000",
        "--serial",
        "none",
        "--save-on-exit",
        s(&snap),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("snapshot saved to") && err.contains("now stay in memory"),
        "{err}"
    );
    // Resumed: the guest writes LBA 20-21, reads them back (exit 42 when they match);
    // the writes go to the overlay, which the next snapshot saves.
    let o = ox86(&[
        "restore",
        s(&snap),
        "--serial",
        "stdio",
        "--save-on-exit",
        s(&snap2),
    ]);
    assert_eq!(o.status.code(), Some(42), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("BOOT: write ok"));
    assert_eq!(
        std::fs::read(&img).unwrap(),
        before,
        "the image was written"
    );
    let manifest = std::fs::read_to_string(snap2.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("\"overlay\": \"hda.overlay\""),
        "{manifest}"
    );
    assert!(snap2.join("hda.overlay").is_file());
    // The second snapshot resumes where it ended (the exit already written).
    let o = ox86(&["restore", s(&snap2), "--serial", "none"]);
    assert_eq!(o.status.code(), Some(42), "{}", describe(&o));
    assert_eq!(
        std::fs::read(&img).unwrap(),
        before,
        "the image was written"
    );

    // --snapshot: the writes are in the overlay from the start.
    let snap3 = dir.path("snap3");
    let o = ox86(&[
        "run",
        "--hda",
        s(&img),
        "--snapshot",
        "--serial",
        "none",
        "--save-on-exit",
        s(&snap3),
    ]);
    assert_eq!(o.status.code(), Some(42), "{}", describe(&o));
    assert!(snap3.join("hda.overlay").is_file());
    let o = ox86(&["restore", s(&snap3), "--serial", "none", "--engine", "jit"]);
    assert_eq!(o.status.code(), Some(42), "{}", describe(&o));
    assert_eq!(
        std::fs::read(&img).unwrap(),
        before,
        "the image was written"
    );
}

/// The files of a snapshot directory, to show a failed restore left them alone.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<_> = entries
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect();
    v.sort();
    v
}

/// `ox86 restore DIR` must fail with one `ox86:` line containing `want`, and leave the
/// snapshot's files as they were.
fn refused(dir: &Path, want: &str) {
    let before = files(dir);
    let o = ox86(&["restore", s(dir), "--serial", "none"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(o.stdout.is_empty(), "the guest ran: {}", describe(&o));
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("ox86: ") && err.contains(want), "{err}");
    assert_eq!(files(dir), before, "the snapshot files changed");
}

#[test]
fn bad_snapshots_get_one_error_line() {
    let dir = TempDir::new("bad-snapshots");
    let good = dir.path("good");
    let o = ox86(&["run", "--max-insns", "100000", "--save-on-exit", s(&good)]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let copy = |name: &str| {
        let d = dir.path(name);
        std::fs::create_dir_all(&d).unwrap();
        for (f, bytes) in files(&good) {
            std::fs::write(d.join(f), bytes).unwrap();
        }
        d
    };

    refused(&dir.path("missing"), "no snapshot in");

    let d = copy("truncated");
    let b = std::fs::read(d.join("state.bin")).unwrap();
    std::fs::write(d.join("state.bin"), &b[..b.len() - 100]).unwrap();
    refused(&d, "truncated");

    let d = copy("corrupt");
    let mut b = std::fs::read(d.join("state.bin")).unwrap();
    let k = b.len() / 3;
    b[k] = !b[k];
    std::fs::write(d.join("state.bin"), &b).unwrap();
    refused(&d, "SHA-256");

    let d = copy("version");
    let m = std::fs::read_to_string(d.join("manifest.json")).unwrap();
    std::fs::write(
        d.join("manifest.json"),
        m.replace("\"version\": 1,", "\"version\": 2,"),
    )
    .unwrap();
    refused(&d, "format version 2");

    let d = copy("not-a-manifest");
    std::fs::write(d.join("manifest.json"), "[1, 2, 3]").unwrap();
    refused(&d, "not valid");

    // The good copy still resumes, to the demo's end.
    let o = ox86(&["restore", s(&good), "--serial", "none"]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("demo complete"));
}

#[test]
fn a_changed_disk_image_is_refused() {
    if !have_seabios() {
        return;
    }
    let dir = TempDir::new("changed-disk");
    let (img, before) = disk_image(&dir, "disk.img");
    let snap = dir.path("snap");
    let o = ox86(&[
        "run",
        "--hda",
        s(&img),
        "--snapshot",
        "--max-insns",
        "2000000",
        "--serial",
        "none",
        "--save-on-exit",
        s(&snap),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    // One byte different.
    let mut changed = before.clone();
    changed[40 * SECTOR] ^= 1;
    std::fs::write(&img, &changed).unwrap();
    refused(&snap, "has changed since the snapshot");
    // Another size.
    let mut longer = before.clone();
    longer.extend_from_slice(&[0; SECTOR]);
    std::fs::write(&img, &longer).unwrap();
    refused(&snap, "not the same image");
    // Gone.
    std::fs::remove_file(&img).unwrap();
    refused(&snap, "cannot open disk image");
    // Back as it was: it resumes.
    std::fs::write(&img, &before).unwrap();
    let o = ox86(&["restore", s(&snap), "--serial", "none"]);
    assert_eq!(o.status.code(), Some(42), "{}", describe(&o));
}

/// `savevm DIR` in the built-in debugger's monitor commands.
#[test]
fn savevm_in_the_debugger() {
    let dir = TempDir::new("savevm");
    let snap = dir.path("snap");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ox86"))
        .args(["debug"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ox86 debug");
    let script = format!("si 5000\nsavevm {}\nq\n", s(&snap));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("snapshot saved to"), "{}", describe(&o));
    let m = std::fs::read_to_string(snap.join("manifest.json")).unwrap();
    assert!(m.contains("\"instructions\": 5000"), "{m}");
    let o = ox86(&["restore", s(&snap), "--serial", "none"]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("demo complete"));
}

/// Generous: booting the kernel takes one to three minutes on a loaded machine.
const TIMEOUT: Duration = Duration::from_secs(1200);

/// Run ox86 with `args`, its serial console on stdio; send `input` when the console
/// shows `when`, then read until a line satisfies `done`. The console lines and the
/// exit status.
fn converse(args: &[&str], steps: &[(&str, &str)]) -> (Vec<String>, Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ox86"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("could not start the ox86 binary");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let mut log = Vec::new();
    for (when, input) in steps {
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) => {
                    let l = l.trim_end_matches('\r').to_string();
                    let hit = l.contains(when) || l.trim() == *when;
                    log.push(l);
                    if hit {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    panic!("no `{when}` within {TIMEOUT:?}:\n{}", log.join("\n"));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("ox86 ended before `{when}`:\n{}", log.join("\n"))
                }
            }
        }
        stdin.write_all(input.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    drop(stdin);
    while let Ok(l) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        log.push(l.trim_end_matches('\r').to_string());
    }
    let o = child.wait_with_output().unwrap();
    (
        log,
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The Debian guest saved at its shell prompt (Ctrl-A x ends the run and saves), then
/// restored: it answers on the serial console and powers off.
#[test]
fn linux_saved_at_its_prompt_answers_after_a_restore() {
    let dir = TempDir::new("linux");
    let snap = dir.path("snap");
    let engine = if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        "jit"
    } else {
        "interp"
    };
    let (kernel, initrd) = (guest_file("vmlinuz"), guest_file("initramfs-shell.cpio.gz"));
    let (log, status, err) = converse(
        &[
            "run",
            "--kernel",
            s(&kernel),
            "--initrd",
            s(&initrd),
            "--append",
            "console=ttyS0 panic=-1",
            "-m",
            "256M",
            "--serial",
            "stdio",
            "--no-reboot",
            "--rtc-base",
            "2026-01-01T00:00:00",
            "--engine",
            engine,
            "--save-on-exit",
            s(&snap),
        ],
        &[("OX86-MARKER: shell ready", "\x01x")],
    );
    assert_eq!(status, Some(0), "{err}\n{}", log.join("\n"));
    assert!(err.contains("snapshot saved to"), "{err}");
    let (log, status, err) = converse_now(
        &["restore", s(&snap), "--serial", "stdio", "--engine", engine],
        "echo $((6*7))\n",
        "42",
        "exit\n",
    );
    assert!(
        log.iter().any(|l| l.trim() == "42"),
        "no `42`:\n{}",
        log.join("\n")
    );
    assert!(
        log.iter().any(|l| l.contains("OX86-MARKER: poweroff")),
        "no power-off:\n{}",
        log.join("\n")
    );
    assert_eq!(status, Some(0), "{err}\n{}", log.join("\n"));
}

/// Start ox86 and type `first` at once; when a line is `answer`, type `then`; read to the
/// end.
fn converse_now(
    args: &[&str],
    first: &str,
    answer: &str,
    then: &str,
) -> (Vec<String>, Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ox86"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("could not start the ox86 binary");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(first.as_bytes()).unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let mut log = Vec::new();
    let mut sent = false;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) => {
                let l = l.trim_end_matches('\r').to_string();
                if !sent && l.trim() == answer {
                    stdin.write_all(then.as_bytes()).unwrap();
                    stdin.flush().unwrap();
                    sent = true;
                }
                log.push(l);
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("timed out:\n{}", log.join("\n"));
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    (
        log,
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}
