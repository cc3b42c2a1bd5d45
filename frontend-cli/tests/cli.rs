//! The `ox86` command line: exit statuses, messages for bad input, and the run options.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

fn ox86(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ox86"))
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("could not start the ox86 binary")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rom(name: &str) -> String {
    workspace()
        .join("test-roms")
        .join("bin")
        .join(format!("{name}.bin"))
        .display()
        .to_string()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn describe(args: &[&str], o: &Output) -> String {
    format!(
        "ox86 {}\n  status: {:?}\n  stdout: {:?}\n  stderr: {:?}",
        args.join(" "),
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    )
}

/// A temporary directory removed on drop; unique per process and per call.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("ox86-cli-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    fn file(&self, name: &str, len: usize) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, vec![0xf4u8; len]).expect("write temp file");
        p.display().to_string()
    }
    fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The run failed cleanly: non-zero status, exactly one stderr line starting "ox86:",
/// no panic.
#[track_caller]
fn assert_clean_error(args: &[&str]) -> String {
    let o = ox86(args);
    let d = describe(args, &o);
    let err = text(&o.stderr);
    assert!(!o.status.success(), "expected failure: {d}");
    assert!(o.status.code().is_some(), "killed by a signal: {d}");
    assert!(!err.contains("panicked"), "panicked: {d}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected exactly one line on stderr: {d}");
    assert!(
        lines[0].starts_with("ox86:"),
        "stderr line does not start with `ox86:`: {d}"
    );
    assert!(
        lines[0].len() > "ox86: ".len() + 5,
        "message says nothing: {d}"
    );
    lines[0].to_string()
}

#[test]
fn run_without_arguments_boots_the_demo() {
    let o = ox86(&["run"]);
    let d = describe(&["run"], &o);
    assert_eq!(o.status.code(), Some(0), "{d}");
    assert!(text(&o.stdout).contains("ox86 demo guest"), "{d}");
    assert!(!text(&o.stderr).contains("panicked"), "{d}");
}

#[test]
fn bios_missing_file() {
    let t = TempDir::new("missing");
    let missing = format!("{}/no-such-bios.bin", t.path());
    let line = assert_clean_error(&["run", "--bios", &missing]);
    assert!(
        line.contains("no-such-bios.bin"),
        "the message should name the file: {line}"
    );
}

#[test]
fn bios_empty_file() {
    let t = TempDir::new("empty");
    let f = t.file("empty.bin", 0);
    assert_clean_error(&["run", "--bios", &f]);
}

#[test]
fn bios_too_large() {
    let t = TempDir::new("large");
    let f = t.file("large.bin", 20 << 20);
    assert_clean_error(&["run", "--bios", &f]);
}

#[test]
fn bios_odd_size() {
    let t = TempDir::new("odd");
    let f = t.file("odd.bin", 1000);
    assert_clean_error(&["run", "--bios", &f]);
}

#[test]
fn memory_size_zero() {
    assert_clean_error(&["run", "-m", "0"]);
}

#[test]
fn memory_size_too_large() {
    assert_clean_error(&["run", "-m", "64G"]);
}

#[test]
fn memory_size_not_a_number() {
    assert_clean_error(&["run", "-m", "abc"]);
}

#[test]
fn exit_port_uses_qemu_status() {
    let bios = rom("realmode");
    // The guest writes 0: with an explicit exit port the status is (0 << 1) | 1.
    let args = ["run", "--bios", &bios, "--exit-port", "0x501"];
    let o = ox86(&args);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&args, &o));
    assert!(
        text(&o.stdout).starts_with("realmode: start"),
        "{}",
        describe(&args, &o)
    );
    // Without it, the value itself is the status.
    let args = ["run", "--bios", &bios];
    let o = ox86(&args);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&args, &o));
}

#[test]
fn max_insns_stops_with_stats() {
    let bios = rom("intloop");
    let args = ["run", "--bios", &bios, "--max-insns", "1000", "--stats"];
    let o = ox86(&args);
    let d = describe(&args, &o);
    assert_eq!(o.status.code(), Some(0), "{d}");
    let all = text(&o.stdout) + &text(&o.stderr);
    assert!(
        all.lines()
            .any(|l| l.trim() == "instructions retired: 1000"),
        "{d}"
    );
}

/// With no --engine, hosts the JIT has a backend for run the JIT (its statistics show),
/// and `--engine interp` runs without it.
#[test]
fn the_jit_is_the_default_engine_where_it_runs() {
    let bios = rom("intloop");
    let jit_lines = |extra: &[&str]| {
        let args = [
            &["run", "--bios", &bios, "--max-insns", "100000", "--stats"],
            extra,
        ]
        .concat();
        let o = ox86(&args);
        let d = describe(&args, &o);
        assert_eq!(o.status.code(), Some(0), "{d}");
        let all = text(&o.stdout) + &text(&o.stderr);
        all.lines().any(|l| l.starts_with("jit blocks translated:"))
    };
    let jit_host = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));
    assert_eq!(jit_lines(&[]), jit_host);
    assert!(!jit_lines(&["--engine", "interp"]));
    if jit_host {
        assert!(jit_lines(&["--engine", "jit"]));
    }
}
#[test]
fn dump_state_prints_registers() {
    let bios = rom("intloop");
    let args = ["run", "--bios", &bios, "--max-insns", "100", "--dump-state"];
    let o = ox86(&args);
    let d = describe(&args, &o);
    assert_eq!(o.status.code(), Some(0), "{d}");
    let all = text(&o.stdout) + &text(&o.stderr);
    assert!(all.contains("EIP="), "{d}");
    assert!(all.contains("EAX="), "{d}");
}

#[test]
fn sst_on_an_empty_directory() {
    let t = TempDir::new("sst");
    let line = assert_clean_error(&["sst", &t.path()]);
    assert!(
        line.contains("MOO") || line.contains(&t.path()),
        "the message should say what is missing: {line}"
    );
}

/// A file with a Linux setup header (protocol 2.15, one setup sector) whose
/// protected-mode part is `payload` bytes, while the header claims `claimed` bytes.
fn fake_bzimage(t: &TempDir, name: &str, payload: usize, claimed: usize) -> String {
    let mut img = vec![0u8; 1024 + payload];
    img[0x1f1] = 1;
    img[0x1f4..0x1f8].copy_from_slice(&(claimed as u32 / 16).to_le_bytes());
    img[0x1fe..0x200].copy_from_slice(&0xaa55u16.to_le_bytes());
    img[0x202..0x206].copy_from_slice(b"HdrS");
    img[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    img[0x211] = 1; // LOADED_HIGH
    img[0x22c..0x230].copy_from_slice(&0x37ff_ffffu32.to_le_bytes());
    img[0x238..0x23c].copy_from_slice(&255u32.to_le_bytes());
    let p = t.0.join(name);
    std::fs::write(&p, img).expect("write kernel");
    p.display().to_string()
}

#[test]
fn kernel_truncated() {
    let t = TempDir::new("ktrunc");
    let k = fake_bzimage(&t, "bzImage", 4096, 1 << 20);
    let line = assert_clean_error(&["run", "--kernel", &k]);
    assert!(line.contains("truncated"), "{line}");
    let short = t.file("short", 300);
    assert_clean_error(&["run", "--kernel", &short]);
}

#[test]
fn kernel_not_a_kernel() {
    let t = TempDir::new("knot");
    let f = t.file("notakernel", 64 << 10);
    let line = assert_clean_error(&["run", "--kernel", &f]);
    assert!(line.contains("not a Linux"), "{line}");
}

#[test]
fn initrd_larger_than_ram() {
    let t = TempDir::new("initrd");
    let k = fake_bzimage(&t, "bzImage", 4096, 4096);
    let rd = t.file("initrd", 40 << 20);
    let line = assert_clean_error(&["run", "--kernel", &k, "--initrd", &rd, "-m", "32M"]);
    assert!(line.contains("initrd"), "{line}");
}

#[test]
fn kernel_command_line_too_long() {
    let t = TempDir::new("cmdline");
    let k = fake_bzimage(&t, "bzImage", 4096, 4096);
    let long = "x".repeat(300);
    let line = assert_clean_error(&["run", "--kernel", &k, "--append", &long]);
    assert!(line.contains("command line"), "{line}");
}

#[test]
fn kernel_with_zero_memory() {
    let t = TempDir::new("kzero");
    let k = fake_bzimage(&t, "bzImage", 4096, 4096);
    assert_clean_error(&["run", "--kernel", &k, "-m", "0"]);
}

/// A 64 KiB ROM whose reset vector runs `code`.
fn rom_with_reset_code(t: &TempDir, name: &str, code: &[u8]) -> String {
    let mut rom = vec![0xf4u8; 64 << 10];
    let at = 0xfff0;
    rom[at..at + code.len()].copy_from_slice(code);
    let p = t.0.join(name);
    std::fs::write(&p, rom).expect("write rom");
    p.display().to_string()
}

/// `mov al, 0xfe; out 0x64, al; hlt`: a reset through the keyboard controller.
const KBC_RESET: &[u8] = &[0xb0, 0xfe, 0xe6, 0x64, 0xf4];

#[test]
fn guest_reset_reboots_or_stops_with_no_reboot() {
    let t = TempDir::new("reset");
    let rom = rom_with_reset_code(&t, "reset.bin", KBC_RESET);
    let args = ["run", "--bios", &rom, "--max-insns", "100", "--stats"];
    let o = ox86(&args);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&args, &o));
    assert!(
        err.contains("resets: 50"),
        "each reset (after 2 instructions) restarts the ROM: {err}"
    );

    let args = ["run", "--bios", &rom, "--no-reboot"];
    let o = ox86(&args);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&args, &o));
    assert!(
        text(&o.stderr).contains("guest reset the machine"),
        "{}",
        describe(&args, &o)
    );
}

#[test]
fn ctrl_a_x_quits() {
    use std::io::Write;
    let args = ["run", "--bios", "test-roms/bin/intloop.bin", "--stats"];
    let mut child = Command::new(env!("CARGO_BIN_EXE_ox86"))
        .args(args)
        .current_dir(workspace())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start ox86");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"\x01x")
        .expect("write Ctrl-A x");
    let o = child.wait_with_output().expect("wait for ox86");
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&args, &o));
    let retired: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("instructions retired: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no instruction count: {err}"));
    // The ROM runs 300,003,720 instructions to its end; Ctrl-A x stops it long before.
    assert!(
        retired < 300_003_720,
        "Ctrl-A x did not stop the run: {err}"
    );
}

/// `ox86 run` in test-roms/, as run-qemu.sh runs QEMU for the Multiboot kernels.
fn ox86_in_test_roms(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ox86"))
        .args(args)
        .current_dir(workspace().join("test-roms"))
        .output()
        .expect("could not start the ox86 binary")
}

#[test]
fn multiboot_kernel_prints_what_qemu_printed() {
    for name in ["multiboot_elf", "multiboot_aout"] {
        let kernel = format!("bin/{name}.kernel");
        let args = [
            "run",
            "--kernel",
            &kernel,
            "--append",
            "answer=42 text=hello",
            "--initrd",
            "kernels/module0.txt first module,kernels/module1.txt",
            "-m",
            "128M",
            "--serial",
            "none",
        ];
        let o = ox86_in_test_roms(&args);
        let d = describe(&args, &o);
        let want =
            std::fs::read_to_string(workspace().join(format!("test-roms/expected/{name}.txt")))
                .expect("expected output");
        assert_eq!(o.status.code(), Some(0), "{d}");
        assert_eq!(text(&o.stdout), want, "{d}");
    }
}

/// An ELF32 Multiboot kernel: one PT_LOAD segment of the whole 128-byte file at `paddr`,
/// `bss` more bytes in memory, header flags `flags`.
fn fake_multiboot(t: &TempDir, name: &str, paddr: u32, flags: u32, bss: u32) -> String {
    let mut f = vec![0u8; 128];
    f[..7].copy_from_slice(b"\x7fELF\x01\x01\x01");
    f[16..18].copy_from_slice(&2u16.to_le_bytes());
    f[18..20].copy_from_slice(&3u16.to_le_bytes());
    f[24..28].copy_from_slice(&(paddr + 96).to_le_bytes());
    f[28..32].copy_from_slice(&52u32.to_le_bytes());
    f[42..44].copy_from_slice(&32u16.to_le_bytes());
    f[44..46].copy_from_slice(&1u16.to_le_bytes());
    let magic = 0x1bad_b002u32;
    let words = [1, 0, paddr, paddr, 128, 128 + bss, 7, 4096, magic, flags];
    for (i, v) in words.iter().enumerate() {
        f[52 + 4 * i..56 + 4 * i].copy_from_slice(&v.to_le_bytes());
    }
    let sum = 0u32.wrapping_sub(magic.wrapping_add(flags));
    f[92..96].copy_from_slice(&sum.to_le_bytes());
    let p = t.0.join(name);
    std::fs::write(&p, f).expect("write kernel");
    p.display().to_string()
}

#[test]
fn multiboot_bad_kernels() {
    let t = TempDir::new("multiboot");
    let video = fake_multiboot(&t, "video", 0x10_0000, 1 << 2, 0);
    let line = assert_clean_error(&["run", "--kernel", &video]);
    assert!(line.contains("graphics mode"), "{line}");
    let low = fake_multiboot(&t, "low", 0x8000, 0, 0);
    let line = assert_clean_error(&["run", "--kernel", &low]);
    assert!(line.contains("below 1 MiB"), "{line}");
    let outside = fake_multiboot(&t, "outside", 0x1000_0000, 0, 0);
    let line = assert_clean_error(&["run", "--kernel", &outside, "-m", "16M"]);
    assert!(line.contains("outside"), "{line}");
    let big = fake_multiboot(&t, "big", 0x10_0000, 0, 32 << 20);
    let line = assert_clean_error(&["run", "--kernel", &big, "-m", "16M"]);
    assert!(line.contains("does not fit"), "{line}");
    // The real test kernel, cut short inside its loadable segment.
    let elf = std::fs::read(workspace().join("test-roms/bin/multiboot_elf.kernel")).unwrap();
    let cut = t.0.join("cut");
    std::fs::write(&cut, &elf[..1024]).unwrap();
    let line = assert_clean_error(&["run", "--kernel", &cut.display().to_string()]);
    assert!(line.contains("truncated"), "{line}");
    let good = fake_multiboot(&t, "good", 0x10_0000, 0, 0);
    let missing = format!("{}/no-such-module extra", t.path());
    let line = assert_clean_error(&["run", "--kernel", &good, "--initrd", &missing]);
    assert!(line.contains("no-such-module"), "{line}");
}

#[test]
fn bench_compares_the_engines() {
    // The default: the built-in six-phase ROM (test-roms/src/bench.asm).
    let o = ox86(&["bench"]);
    let d = describe(&["bench"], &o);
    assert_eq!(o.status.code(), Some(0), "{d}");
    let out = text(&o.stdout);
    // Both engines retire the same, non-trivial instruction count.
    let count = |engine: &str| -> u64 {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(engine))
            .unwrap_or_else(|| panic!("no {engine} row: {d}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(count("interp"), count("jit"), "{d}");
    assert!(count("interp") > 100_000_000, "{d}");
    assert!(out.contains("jit / interp speed"), "{d}");
}

/// A short ROM that ends at the exit port keeps the --json and --plot checks fast.
const SMALL_ROM: &str = "test-roms/bin/demo.bin";

#[test]
fn bench_json_has_both_engines() {
    let args = ["bench", SMALL_ROM, "--json"];
    let o = ox86(&args);
    let d = describe(&args, &o);
    assert_eq!(o.status.code(), Some(0), "{d}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {d}"));
    let rows = v["rows"].as_array().expect("rows array");
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["engine"] == name)
            .unwrap_or_else(|| panic!("no {name} row: {d}"))
    };
    let (interp, jit) = (row("interp"), row("jit"));
    let n = interp["instructions"].as_u64().expect("instruction count");
    assert!(n > 0, "{d}");
    assert_eq!(jit["instructions"].as_u64(), Some(n), "{d}");
    for r in [interp, jit] {
        assert!(r["seconds"].as_f64().is_some_and(|s| s > 0.0), "{d}");
        assert!(r["mips"].as_f64().is_some_and(|m| m > 0.0), "{d}");
        assert!(r["block_cache_hit_pct"].is_number(), "{d}");
    }
    // Translation columns only apply to the JIT.
    assert!(interp["blocks_translated"].is_null(), "{d}");
    assert!(
        jit["blocks_translated"].as_u64().is_some_and(|b| b > 0),
        "{d}"
    );
    assert!(
        v["ratios"]["jit_over_interp_speed"]
            .as_f64()
            .is_some_and(|x| x > 0.0),
        "{d}"
    );
}

#[test]
fn bench_plot_writes_a_png() {
    let t = TempDir::new("benchplot");
    let file = format!("{}/chart.png", t.path());
    let args = ["bench", SMALL_ROM, "--plot", &file];
    let o = ox86(&args);
    let d = describe(&args, &o);
    assert_eq!(o.status.code(), Some(0), "{d}");
    // The table still goes to stdout.
    assert!(text(&o.stdout).contains("jit / interp speed"), "{d}");
    let f = std::fs::File::open(&file).unwrap_or_else(|e| panic!("{file}: {e}: {d}"));
    let mut r = png::Decoder::new(f).read_info().expect("a PNG header");
    let mut buf = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut buf).expect("PNG image data");
    assert_eq!((info.width, info.height), (720, 400), "{d}");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    // Not blank: the bars and labels are drawn.
    let px = &buf[..info.buffer_size()];
    assert!(px.chunks(3).any(|p| p != [255, 255, 255]), "blank chart");
}

#[test]
fn bench_plot_to_a_bad_path_is_a_clean_error() {
    let t = TempDir::new("benchplotbad");
    let file = format!("{}/no-such-dir/chart.png", t.path());
    let line = assert_clean_error(&["bench", SMALL_ROM, "--plot", &file]);
    assert!(line.contains("no-such-dir"), "{line}");
}

#[test]
fn bench_rejects_a_bad_rom() {
    let t = TempDir::new("benchrom");
    let f = t.file("odd.bin", 1000);
    assert_clean_error(&["bench", &f]);
}
