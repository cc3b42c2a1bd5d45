//! The Debian i386 kernel with a busybox initramfs, booted by `ox86 run --kernel`: it must
//! reach its init, run a workload, show timer and serial interrupts, answer on the serial
//! shell, and power off with exit status 0.
//!
//! The guest comes from Debian's archive via `scripts/fetch-linux.sh` (the README's test
//! command runs it first); without it these tests fail and say how to get it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

mod common;
use common::guest_file;

/// Generous: the interpreter boots this kernel in one to two minutes on a loaded machine.
const TIMEOUT: Duration = Duration::from_secs(1200);
const CMDLINE: &str = "console=ttyS0 panic=-1";

/// ox86 running a kernel, its serial console read line by line on a thread.
struct Guest {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    log: Vec<String>,
    deadline: Instant,
}

impl Guest {
    fn boot(initrd: &str) -> Guest {
        Self::boot_with(initrd, "interp")
    }

    fn boot_with(initrd: &str, engine: &str) -> Guest {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ox86"))
            .arg("run")
            .arg("--kernel")
            .arg(guest_file("vmlinuz"))
            .arg("--initrd")
            .arg(guest_file(initrd))
            .args(["--append", CMDLINE, "-m", "256M", "--serial", "stdio"])
            .args(["--no-reboot", "--rtc-base", "2026-01-01T00:00:00"])
            .args(["--engine", engine])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("could not start the ox86 binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Guest {
            stdin: child.stdin.take(),
            child,
            lines,
            log: Vec::new(),
            deadline: Instant::now() + TIMEOUT,
        }
    }

    /// Read console lines until one contains `marker`; that line.
    fn expect(&mut self, marker: &str) -> String {
        self.expect_where(marker, |l| l.contains(marker))
    }

    fn expect_where(&mut self, marker: &str, found: impl Fn(&str) -> bool) -> String {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let line = line.trim_end_matches('\r').to_string();
                    self.log.push(line.clone());
                    if found(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!("no `{marker}` within {TIMEOUT:?}\n{}", self.tail());
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("ox86 ended before `{marker}`\n{}", self.tail())
                }
            }
        }
    }

    fn send(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(text.as_bytes()).expect("write to ox86");
        stdin.flush().expect("flush to ox86");
    }

    /// The rest of the console output and ox86's exit status.
    fn finish(mut self) -> (Vec<String>, i32) {
        drop(self.stdin.take());
        while let Ok(line) = self
            .lines
            .recv_timeout(self.deadline.saturating_duration_since(Instant::now()))
        {
            self.log.push(line.trim_end_matches('\r').to_string());
        }
        let status = self.child.wait().expect("wait for ox86");
        (std::mem::take(&mut self.log), status.code().unwrap_or(-1))
    }

    fn tail(&self) -> String {
        let n = self.log.len().saturating_sub(40);
        self.log[n..].join("\n")
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The count of the /proc/interrupts row whose device is `name`.
fn interrupts(log: &[String], name: &str) -> u64 {
    log.iter()
        .find(|l| l.split_whitespace().last() == Some(name) && l.contains("XT-PIC"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or_else(|| panic!("no `{name}` row in /proc/interrupts:\n{}", log.join("\n")))
}

/// Kernel messages that mean one of ox86's devices (or its tables) did not satisfy Linux.
const DEVICE_ERRORS: &[&str] = &[
    "RSDP was not found",
    "ACPI Error",
    "ACPI BIOS Error",
    "PCI: Fatal",
    "No config space access",
    "i8042: Can't",
    "i8042: No controller found",
    "serial8250: too much work",
    "Unable to calibrate against PIT",
    "tsc: Marking TSC unstable",
    "clocksource: timekeeping watchdog",
    "probe of serial8250 failed",
    "rtc_cmos: probe of",
    "unchecked MSR access error",
    "Oops",
    "BUG:",
    "WARNING:",
    "Call Trace",
];

#[test]
fn linux_boots_runs_init_and_powers_off() {
    boot_test_image("interp");
}

/// The same guest with the JIT translating hot blocks.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn linux_boots_under_the_jit() {
    boot_test_image("jit");
}

fn boot_test_image(engine: &str) {
    let mut g = Guest::boot_with("initramfs-test.cpio.gz", engine);
    g.expect("OX86-MARKER: init started");
    let uname = g.expect("Linux ");
    assert!(
        uname.contains("6.1.") && uname.contains("i686"),
        "uname -a: {uname}"
    );
    let work = g.expect("OX86-MARKER: workload");
    assert_eq!(
        work,
        "OX86-MARKER: workload sum=9000450005000 md5=c1d4ba52c72ac7bcc71ff2d6c083e684"
    );
    g.expect("OX86-MARKER: poweroff");
    let (log, status) = g.finish();
    assert_eq!(
        status,
        0,
        "ox86 exit status after poweroff\n{}",
        log.join("\n")
    );
    assert!(
        log.iter()
            .any(|l| l.contains("Preparing to enter system sleep state S5")),
        "the kernel did not power off through ACPI S5"
    );
    assert!(interrupts(&log, "timer") > 0, "no timer interrupts counted");
    assert!(
        interrupts(&log, "ttyS0") > 0,
        "no serial interrupts counted"
    );
    let bad: Vec<&String> = log
        .iter()
        .filter(|l| {
            DEVICE_ERRORS.iter().any(|e| l.contains(e))
                // The crypto self-tests double as a check of the CPU.
                || (l.contains("alg:") && l.contains("fail"))
        })
        .collect();
    assert!(bad.is_empty(), "kernel reported device problems: {bad:#?}");
}

#[test]
fn linux_shell_answers_on_the_serial_console() {
    let mut g = Guest::boot("initramfs-shell.cpio.gz");
    g.expect("OX86-MARKER: shell ready");
    g.send("echo $((6*7))\n");
    g.expect_where("a line `42`", |l| l.trim() == "42");
    g.send("exit\n");
    g.expect("OX86-MARKER: poweroff");
    let (log, status) = g.finish();
    assert_eq!(
        status,
        0,
        "ox86 exit status after poweroff\n{}",
        log.join("\n")
    );
}
