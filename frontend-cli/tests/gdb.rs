//! `ox86 run --gdb`: stock gdb (`gdb -batch -nx`) drives ox86 running test ROMs.
//!
//! gdb must be installed (scripts/deps.sh installs it); these tests fail without it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(900);

mod common;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rom_path(name: &str) -> String {
    workspace()
        .join("test-roms/bin")
        .join(format!("{name}.bin"))
        .display()
        .to_string()
}

/// The linear address of `pattern` (which must occur once) in a ROM mapped at 0xF0000.
fn rom_addr(name: &str, pattern: &[u8]) -> u32 {
    let rom = std::fs::read(rom_path(name)).expect("read ROM");
    let hits: Vec<usize> = rom
        .windows(pattern.len())
        .enumerate()
        .filter(|(_, w)| *w == pattern)
        .map(|(i, _)| i)
        .collect();
    assert!(
        hits.len() == 1,
        "{pattern:02x?} occurs {} times in {name}",
        hits.len()
    );
    0xf0000 + *hits.last().expect("pattern not in ROM") as u32
}

/// A child process's output, collected on a thread.
fn collect(r: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let out = Arc::new(Mutex::new(String::new()));
    let o = out.clone();
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut line = String::new();
        while r.read_line(&mut line).unwrap_or(0) > 0 {
            o.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    out
}

/// Wait for a child, killing it after `TIMEOUT`.
fn wait(child: &mut Child, what: &str) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s.code();
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// ox86 running a ROM with `--gdb tcp:127.0.0.1:0 --wait-gdb`, and the port it listens on.
struct Ox86 {
    child: Child,
    port: u16,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Ox86 {
    fn start(rom: &str, extra: &[&str]) -> Ox86 {
        let rom = rom_path(rom);
        let mut args = vec!["--bios", &rom];
        args.extend(extra);
        Self::start_with(&args)
    }

    /// `ox86 run ARGS --serial none --gdb tcp:127.0.0.1:0 --wait-gdb`.
    fn start_with(extra: &[&str]) -> Ox86 {
        let mut args = vec!["run"];
        args.extend(extra);
        args.extend(["--serial", "none", "--gdb", "tcp:127.0.0.1:0", "--wait-gdb"]);
        let mut child = Command::new(env!("CARGO_BIN_EXE_ox86"))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ox86");
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let mut first = String::new();
        err.read_line(&mut first).expect("read ox86's stderr");
        let port = first
            .trim()
            .strip_prefix("ox86: waiting for gdb on tcp:127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("ox86 did not say where it listens: {first:?}")
            });
        let stdout = collect(child.stdout.take().expect("stdout"));
        let stderr = collect(err);
        Ox86 {
            child,
            port,
            stdout,
            stderr,
        }
    }

    /// Wait for ox86 to end; its exit status, standard output and error.
    fn finish(mut self) -> (Option<i32>, String, String) {
        let code = wait(&mut self.child, "ox86");
        std::thread::sleep(Duration::from_millis(50)); // let the readers drain the pipes
        let out = self.stdout.lock().unwrap().clone();
        let err = self.stderr.lock().unwrap().clone();
        (code, out, err)
    }
}

impl Drop for Ox86 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn require_gdb() {
    let ok = Command::new("gdb")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "gdb is not installed: the gdb stub tests need it (scripts/deps.sh installs it)"
    );
}

/// gdb running a script, its output (stdout and stderr, in order) going to a file.
struct Gdb {
    child: Child,
    script: PathBuf,
    out: PathBuf,
}

impl Gdb {
    /// Start `gdb -batch -nx` on a script: `set architecture i386`, `target remote`, then
    /// `commands`.
    fn spawn(port: u16, commands: &str) -> Gdb {
        require_gdb();
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let base = std::env::temp_dir().join(format!("ox86-gdb-{}-{n}", std::process::id()));
        let script = base.with_extension("gdb");
        let out = base.with_extension("out");
        let text = format!(
            "set architecture i386\nset pagination off\nset confirm off\nset width 0\n\
             target remote 127.0.0.1:{port}\n{commands}"
        );
        std::fs::write(&script, text).expect("write gdb script");
        let file = std::fs::File::create(&out).expect("create gdb output file");
        let child = Command::new("gdb")
            .args(["-batch", "-nx", "-x"])
            .arg(&script)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup"))
            .stderr(file)
            .spawn()
            .expect("start gdb");
        Gdb { child, script, out }
    }

    /// Wait for gdb to end; what it printed.
    fn finish(mut self) -> String {
        let code = wait(&mut self.child, "gdb");
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        println!("--- gdb (exit {code:?}) ---\n{text}---");
        text
    }
}

impl Drop for Gdb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.script);
        let _ = std::fs::remove_file(&self.out);
    }
}

/// Run gdb on a script to its end; its output.
fn gdb(port: u16, commands: &str) -> String {
    Gdb::spawn(port, commands).finish()
}

/// The value gdb printed for `p/x EXPR` as `$N = VALUE`, in order.
fn printed(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with('$'))
        .filter_map(|l| l.split_once(" = ").map(|(_, v)| v.trim().to_string()))
        .collect()
}

#[track_caller]
fn assert_has(out: &str, want: &str) {
    assert!(out.contains(want), "gdb output lacks {want:?}:\n{out}");
}

#[test]
fn gdb_drives_the_demo_rom() {
    drive_the_demo_rom(&["--engine", "interp"]);
}

/// The same under the JIT, translating every block on its first run.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn gdb_drives_the_demo_rom_under_the_jit() {
    drive_the_demo_rom(&["--engine", "jit", "--jit-threshold", "1"]);
}

fn drive_the_demo_rom(engine: &[&str]) {
    // Labels of test-roms/src/demo.asm, found by their code in the image: crc_init
    // (xor ecx,ecx; mov eax,ecx; mov edx,8), the table store in crc_init
    // (mov [CRC_TABLE+ecx*4],eax), crc32's byte load (movzx edx,byte [esi]) and the
    // check string "123456789" (check_str, right after crc32).
    let crc_init = rom_addr("demo", &[0x31, 0xc9, 0x89, 0xc8, 0xba, 8, 0, 0, 0]);
    let store = rom_addr("demo", &[0x89, 0x04, 0x8d, 0x00, 0x00, 0x01, 0x00]);
    let load = rom_addr("demo", &[0x0f, 0xb6, 0x16]);
    let check = rom_addr("demo", b"\xc3123456789") + 1; // after crc32's RET
    let ox = Ox86::start("demo", engine);
    let out = gdb(
        ox.port,
        &format!(
            "info registers eip\n\
             info registers cs\n\
             monitor regs\n\
             break *{crc_init:#x}\n\
             continue\n\
             info registers eip\n\
             info registers cs\n\
             p/x $ecx\n\
             stepi\np/x $pc\nstepi\np/x $pc\nstepi\np/x $pc\n\
             stepi\np/x $pc\nstepi\np/x $pc\nstepi\np/x $pc\n\
             p/x $edx\n\
             x/4xb {crc_init:#x}\n\
             delete\n\
             watch *(int*)0x10004\n\
             continue\n\
             p/x $pc\n\
             p/x $ecx\n\
             delete\n\
             rwatch *(char*){:#x}\n\
             continue\n\
             p/x $pc\n\
             p/x $esi\n\
             delete\n\
             set var $eax = 0x12345678\n\
             p/x $eax\n\
             set var *(int*)0x30004 = 0xdeadbeef\n\
             x/xw 0x30004\n\
             monitor info\n\
             monitor tlb\n\
             kill\n",
            check + 1
        ),
    );
    // At the reset vector: F000:FFF0 with CS base 0xFFFF0000.
    assert_has(&out, "eip            0xfff0              0xfff0");
    assert_has(&out, "cs             0xf000              61440");
    assert_has(&out, "CS =f000 ffff0000 0000ffff");
    // The breakpoint, in flat 32-bit protected mode.
    assert_has(&out, &format!("Breakpoint 1, {crc_init:#010x} in ?? ()"));
    assert_has(
        &out,
        &format!("eip            {crc_init:#x}             {crc_init:#x}"),
    );
    assert_has(&out, "cs             0x8                 8");
    let p = printed(&out);
    let hex = |a: u32| format!("{a:#x}");
    // ecx at the breakpoint, then one instruction per stepi: xor ecx,ecx (2 bytes),
    // mov eax,ecx (2), mov edx,8 (5), shr eax,1 (2), jnc taken to dec edx, dec edx (1).
    let steps: Vec<String> = [2, 4, 9, 11, 18, 19]
        .iter()
        .map(|d| hex(crc_init + d))
        .collect();
    assert_eq!(p[1..7], steps[..], "stepi progression:\n{out}");
    assert_eq!(p[7], "0x7", "edx after dec edx:\n{out}");
    assert_has(&out, &format!("{crc_init:#x}:\t0x31\t0xc9\t0x89\t0xc8"));
    // The write watchpoint fires after the store of table entry 1 (0x77073096).
    assert_has(&out, "Hardware watchpoint 2: *(int*)0x10004");
    assert_has(&out, "Old value = 0\nNew value = 1996959894");
    assert_eq!(p[8], hex(store + 7), "stopped after the store:\n{out}");
    assert_eq!(p[9], "0x1", "ecx at the store of entry 1:\n{out}");
    // The read watchpoint fires after crc32 loads "2" from the check string.
    assert_has(&out, "Value = 50 '2'");
    assert_eq!(p[10], hex(load + 3), "stopped after the load:\n{out}");
    assert_eq!(p[11], hex(check + 1));
    // Register and memory writes.
    assert_eq!(p[12], "0x12345678");
    assert_has(&out, "0x30004:\t0xdeadbeef");
    assert_has(&out, "instructions retired:");
    // Paging is off: the TLB maps the ROM's pages to themselves.
    let page = crc_init & !0xfff;
    assert_has(&out, &format!("sup  {page:08x} -> {page:08x} r-"));
    assert_has(&out, "[Inferior 1 (process 1) killed]");
    let (code, _, err) = ox.finish();
    assert_eq!(code, Some(0), "kill ends ox86 with status 0; stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn gdb_reverse_steps_and_continues() {
    reverse_execution(&["--engine", "interp"]);
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn gdb_reverse_steps_and_continues_under_the_jit() {
    reverse_execution(&["--engine", "jit", "--jit-threshold", "1"]);
}

/// The registers gdb showed for each `info registers` (the lines from eax to gs).
fn register_dumps(out: &str) -> Vec<String> {
    let mut dumps = Vec::new();
    let mut cur: Option<String> = None;
    for l in out.lines() {
        if l.starts_with("eax ") {
            cur = Some(String::new());
        }
        if let Some(c) = &mut cur {
            c.push_str(l);
            c.push('\n');
            if l.starts_with("gs ") {
                dumps.push(cur.take().unwrap());
            }
        }
    }
    dumps
}

fn reverse_execution(engine: &[&str]) {
    let crc_init = rom_addr("demo", &[0x31, 0xc9, 0x89, 0xc8, 0xba, 8, 0, 0, 0]);
    let store = rom_addr("demo", &[0x89, 0x04, 0x8d, 0x00, 0x00, 0x01, 0x00]);
    let ox = Ox86::start("demo", engine);
    let out = gdb(
        ox.port,
        &format!(
            "break *{crc_init:#x}\n\
             continue\n\
             info registers\n\
             x/4xw 0x10000\n\
             stepi\nstepi\nstepi\nstepi\nstepi\nstepi\n\
             p/x $pc\n\
             reverse-stepi\nreverse-stepi\nreverse-stepi\n\
             p/x $pc\n\
             reverse-stepi\nreverse-stepi\nreverse-stepi\n\
             info registers\n\
             break *{store:#x}\n\
             continue\ncontinue\ncontinue\n\
             p/x $ecx\n\
             x/4xw 0x10000\n\
             reverse-continue\n\
             p/x $ecx\n\
             x/4xw 0x10000\n\
             reverse-continue\n\
             p/x $ecx\n\
             reverse-continue\n\
             p/x $pc\n\
             reverse-continue\n\
             p/x $pc\n\
             delete\n\
             watch *(int*)0x10004\n\
             continue\n\
             p/x $ecx\n\
             kill\n"
        ),
    );
    let p = printed(&out);
    let hex = |a: u32| format!("{a:#x}");
    let regs = register_dumps(&out);
    assert_eq!(regs.len(), 2, "two register dumps:\n{out}");
    // Six steps forward and six back: every register as it was.
    assert_eq!(p[0], hex(crc_init + 19), "six steps forward:\n{out}");
    assert_eq!(p[1], hex(crc_init + 9), "three steps back:\n{out}");
    assert_eq!(regs[0], regs[1], "registers after stepping back:\n{out}");
    // Third hit of the table store: entry 2 is about to be written, 0 and 1 are.
    assert_eq!(p[2], "0x2", "third hit of the store:\n{out}");
    assert_has(
        &out,
        "0x10000:\t0x00000000\t0x77073096\t0x00000000\t0x00000000",
    );
    // Back to the second hit: entry 1 not written yet.
    assert_eq!(p[3], "0x1", "reverse-continue to the second hit:\n{out}");
    let unwritten = "0x10000:\t0x00000000\t0x00000000\t0x00000000\t0x00000000";
    assert_eq!(out.matches(unwritten).count(), 2, "memory restored:\n{out}");
    assert_eq!(p[4], "0x0", "reverse-continue to the first hit:\n{out}");
    assert_eq!(p[5], hex(crc_init), "back at the first breakpoint:\n{out}");
    // Nothing before: the start of the recorded history (where gdb attached).
    assert_has(&out, "No more reverse-execution history.");
    assert_eq!(p[6], "0xfff0", "at the start of history:\n{out}");
    // Forward again, the watchpoint sees the same store as a first run does.
    assert_has(&out, "Old value = 0\nNew value = 1996959894");
    assert_eq!(p[7], "0x1", "{out}");
    let (code, stdout, err) = ox.finish();
    assert_eq!(code, Some(0), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    // The guest's output is not repeated by the replays.
    assert_eq!(
        stdout.matches("hello from 16-bit real mode").count(),
        1,
        "{stdout}"
    );
}

#[test]
fn gdb_sees_the_guest_exit() {
    see_the_guest_exit(&["--engine", "interp"]);
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn gdb_sees_the_guest_exit_under_the_jit() {
    see_the_guest_exit(&["--engine", "jit", "--jit-threshold", "1"]);
}

fn see_the_guest_exit(engine: &[&str]) {
    let mut args = vec!["--exit-port", "0x501"];
    args.extend(engine);
    let ox = Ox86::start("demo", &args);
    // A breakpoint where nothing is mapped is never hit; the guest runs to its end.
    let out = gdb(ox.port, "break *0xdead0000\ncontinue\n");
    // demo writes 0 to the exit port: status (0 << 1) | 1 with --exit-port.
    assert_has(&out, "[Inferior 1 (process 1) exited with code 01]");
    let (code, stdout, err) = ox.finish();
    assert_eq!(code, Some(1), "stderr: {err}");
    assert!(stdout.contains("demo complete, exit value 0"), "{stdout}");
}

#[test]
fn ctrl_c_detach_and_reconnect() {
    // triple.bin triple-faults and the machine resets, forever: a guest that never ends.
    let ox = Ox86::start("triple", &[]);
    let g = Gdb::spawn(
        ox.port,
        "continue\ninfo registers eip\nmonitor info\ndetach\n",
    );
    // Once gdb is connected and has let the guest run for a moment, press Ctrl-C
    // (SIGINT to gdb, which sends it on).
    let start = Instant::now();
    while !std::fs::read_to_string(&g.out)
        .unwrap_or_default()
        .contains("in ?? ()")
    {
        assert!(start.elapsed() < TIMEOUT, "gdb did not connect");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("sh")
        .args(["-c", &format!("kill -INT {}", g.child.id())])
        .status()
        .expect("sh");
    assert!(status.success());
    let text = g.finish();
    assert_has(&text, "Program received signal SIGINT, Interrupt.");
    assert_has(&text, "instructions retired:");
    assert_has(&text, "[Inferior 1 (process 1) detached]");
    // Detached, the guest runs on; another client may attach, and kill it.
    let out = gdb(ox.port, "monitor info\nkill\n");
    assert_has(&out, "instructions retired:");
    assert_has(&out, "[Inferior 1 (process 1) killed]");
    let (code, _, err) = ox.finish();
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn bad_clients_do_not_stop_the_guest() {
    let ox = Ox86::start("triple", &[]);
    let send = |bytes: &[u8]| {
        let mut s = TcpStream::connect(("127.0.0.1", ox.port)).expect("connect");
        s.write_all(bytes).expect("send");
        std::thread::sleep(Duration::from_millis(200));
        drop(s);
        std::thread::sleep(Duration::from_millis(100));
    };
    send(b"$g#00"); // bad checksum
    send(b"\xff\xfe$$##zz"); // garbage
    send(b"$m0,10"); // disconnects in the middle of a command
    send(b"+$qSupported:multiprocess+#c6"); // disconnects after a good packet
    let out = gdb(ox.port, "monitor info\nkill\n");
    assert_has(&out, "instructions retired:");
    assert_has(&out, "[Inferior 1 (process 1) killed]");
    let (code, stdout, err) = ox.finish();
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("ox86: gdb: session ended"), "{err}");
    // The guest ran (reset after reset) between the clients.
    assert!(
        stdout.matches("triple: IDT limit 0").count() > 1,
        "{stdout}"
    );
}

/// One `ox86:` line on stderr and a non-zero status.
#[track_caller]
fn assert_clean_error(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_ox86"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ox86");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{args:?} succeeded: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: {err}");
    assert!(lines[0].starts_with("ox86: "), "{args:?}: {err}");
    err
}

#[test]
fn bad_gdb_addresses() {
    let rom = rom_path("demo");
    for bad in [
        "1234",
        "tcp:1234",
        "udp::1234",
        "tcp::port",
        "tcp::70000",
        "tcp:no.such.host.invalid:1234",
    ] {
        let err = assert_clean_error(&["run", "--bios", &rom, "--serial", "none", "--gdb", bad]);
        assert!(err.contains(bad) || err.contains("gdb"), "{err}");
    }
    // A port in use.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let spec = format!("tcp:127.0.0.1:{}", busy.local_addr().unwrap().port());
    let err = assert_clean_error(&["run", "--bios", &rom, "--serial", "none", "--gdb", &spec]);
    assert!(err.contains("cannot listen for gdb"), "{err}");
}

/// The Debian kernel (see scripts/fetch-linux.sh) under the JIT: a breakpoint at the
/// decompressed kernel's entry (CONFIG_PHYSICAL_START, with KASLR off), the boot
/// protocol's registers there, single steps to `startup_32`'s copy of the boot
/// parameters, a write watchpoint on its destination, and reverse execution back over
/// the steps and to the breakpoint.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn gdb_debugs_the_linux_kernel() {
    let config = std::fs::read_to_string(common::guest_file("config")).expect("kernel config");
    let entry = config
        .lines()
        .find_map(|l| l.strip_prefix("CONFIG_PHYSICAL_START="))
        .and_then(|v| u32::from_str_radix(v.trim_start_matches("0x"), 16).ok())
        .expect("CONFIG_PHYSICAL_START in the kernel config");
    let kernel = common::guest_file("vmlinuz").display().to_string();
    let initrd = common::guest_file("initramfs-test.cpio.gz")
        .display()
        .to_string();
    let ox = Ox86::start_with(&[
        "--kernel",
        &kernel,
        "--initrd",
        &initrd,
        "--append",
        "console=ttyS0 nokaslr",
        "--rtc-base",
        "2026-01-01T00:00:00",
        "--engine",
        "jit",
    ]);
    // `rep movsd` is f3 a5: the copy of boot_params (from ESI) in startup_32.
    let out = gdb(
        ox.port,
        &format!(
            "break *{entry:#x}\n\
             continue\n\
             info registers\n\
             while *(unsigned short*)$pc != 0xa5f3\n  stepi\nend\n\
             p/x $pc\n\
             set $dst = $edi\n\
             set $src = *(int*)$esi\n\
             watch *(int*)$dst\n\
             continue\n\
             p/x $pc\n\
             p *(int*)$dst == $src\n\
             info registers\n\
             x/4xw $dst\n\
             stepi\nstepi\nstepi\nstepi\n\
             reverse-stepi\nreverse-stepi\nreverse-stepi\nreverse-stepi\n\
             info registers\n\
             x/4xw $dst\n\
             delete\n\
             break *{entry:#x}\n\
             reverse-continue\n\
             info registers\n\
             kill\n"
        ),
    );
    let regs = register_dumps(&out);
    assert_eq!(regs.len(), 4, "four register dumps:\n{out}");
    // The boot protocol at the kernel's entry: flat __BOOT_CS/__BOOT_DS, ESI at the boot
    // parameters ox86 wrote (0x10000), interrupts off, EAX the entry the decompressor
    // jumped through.
    assert_has(&out, &format!("Breakpoint 1, {entry:#010x} in ?? ()"));
    for want in [
        format!("eip            {entry:#x}"),
        format!("eax            {entry:#x}"),
        "esi            0x10000".to_string(),
        "cs             0x10".to_string(),
        "ds             0x18".to_string(),
        "ss             0x18".to_string(),
    ] {
        assert!(regs[0].contains(&want), "{want} at the entry:\n{}", regs[0]);
    }
    assert!(!regs[0].contains("IF"), "interrupts off:\n{}", regs[0]);
    // The watchpoint fires on the copy, and the copied value is the source's.
    let p = printed(&out);
    let rep_movs = u32::from_str_radix(p[0].trim_start_matches("0x"), 16).expect("pc");
    assert_eq!(
        p[1],
        format!("{:#x}", rep_movs + 2),
        "stopped after rep movsd:\n{out}"
    );
    assert_eq!(
        p[2], "1",
        "the destination holds the source's value:\n{out}"
    );
    // Four steps forward and back: registers and memory as they were.
    assert_eq!(regs[1], regs[2], "registers after reverse-stepi:\n{out}");
    let dumps: Vec<&str> = out.lines().filter(|l| l.contains(":\t0x")).collect();
    assert_eq!(dumps.len(), 2, "{out}");
    assert_eq!(dumps[0], dumps[1], "memory after reverse-stepi:\n{out}");
    // reverse-continue: back at the entry with the entry's registers.
    assert_has(&out, &format!("Breakpoint 3, {entry:#010x} in ?? ()"));
    assert_eq!(regs[0], regs[3], "registers back at the breakpoint:\n{out}");
    let (code, _, err) = ox.finish();
    assert_eq!(code, Some(0), "stderr: {err}");
}
