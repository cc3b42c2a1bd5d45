//! `ox86 run`: build a machine from the command line and run a guest.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use anyhow::{bail, Context, Result};
use crossbeam_channel::Sender;
use ox86_core::cpu::state::Seg;
use ox86_devices::disk::{Disk, SECTOR};
use ox86_devices::floppy;
use ox86_devices::ide::{Kind, ATAPI_BLOCK};
use ox86_machine::board::DEFAULT_EXIT_PORT;
use ox86_machine::boot::multiboot;
use ox86_machine::debug::{TraceFormat, Tracer};
use ox86_machine::display::{DisplaySink, FrameSink, TextSink};
use ox86_machine::{Boot, HostInput, Machine, MachineConfig, RunEnd, RunReport};

use crate::display::{self, DisplayKind};
use crate::{gdb, terminal};

/// The demo guest `ox86 run` boots with no arguments (test-roms/src/demo.asm).
const DEMO_ROM: &[u8] = include_bytes!("../../test-roms/bin/demo.bin");

/// The firmware that boots disks when no --bios is given (Debian's `seabios` package).
pub const SEABIOS: &str = "/usr/share/seabios/bios.bin";
/// The VGA BIOS firmware is given for the VGA (QEMU's for its std VGA, same package).
pub const VGABIOS: &str = "/usr/share/seabios/vgabios-stdvga.bin";

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The interpreter.
    Interp,
    /// The JIT: blocks run often are translated to host code (x86-64 and AArch64 hosts).
    Jit,
}

impl Engine {
    /// The JIT on hosts it has a backend for, else the interpreter.
    pub fn host_default() -> Engine {
        match ox86_machine::Engine::host_default() {
            ox86_machine::Engine::Jit => Engine::Jit,
            ox86_machine::Engine::Interp => Engine::Interp,
        }
    }
}

impl From<Engine> for ox86_machine::Engine {
    fn from(e: Engine) -> Self {
        match e {
            Engine::Interp => ox86_machine::Engine::Interp,
            Engine::Jit => ox86_machine::Engine::Jit,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Firmware image started at the reset vector (a multiple of 64 KiB, like QEMU's -bios).
    /// Without it and without --kernel, a disk, CD-ROM or floppy boots with SeaBIOS
    /// (/usr/share/seabios/bios.bin), and with no disk either the built-in demo guest runs.
    #[arg(long, value_name = "FILE", conflicts_with = "kernel")]
    pub bios: Option<PathBuf>,
    /// Linux kernel (bzImage) booted directly through the 32-bit boot protocol, or a
    /// Multiboot v1 kernel (ELF32 or a.out kludge).
    #[arg(long, value_name = "FILE")]
    pub kernel: Option<PathBuf>,
    /// Initial ramdisk for --kernel; for a Multiboot kernel, its modules, as QEMU takes
    /// them: `FILE ARGS,FILE2 ARGS,...`.
    #[arg(long, value_name = "FILE", requires = "kernel")]
    pub initrd: Option<PathBuf>,
    /// Kernel command line for --kernel.
    #[arg(long, value_name = "STR", requires = "kernel", default_value = "")]
    pub append: String,
    /// First IDE hard disk (primary master): a raw image, a whole number of 512-byte
    /// sectors. Writes go to the file.
    #[arg(long, value_name = "FILE")]
    pub hda: Option<PathBuf>,
    /// Second IDE hard disk (primary slave).
    #[arg(long, value_name = "FILE")]
    pub hdb: Option<PathBuf>,
    /// IDE CD-ROM (secondary master): an ISO image, read only.
    #[arg(long, value_name = "FILE")]
    pub cdrom: Option<PathBuf>,
    /// Floppy drive A: a raw image of 360K, 720K, 1.2M, 1.44M or 2.88M (its size picks
    /// the format). Writes go to the file.
    #[arg(long, value_name = "FILE")]
    pub fda: Option<PathBuf>,
    /// Keep disk writes in memory and drop them at exit: the images stay untouched.
    #[arg(long)]
    pub snapshot: bool,
    /// Guest RAM: a number of MiB, or with a K/M/G suffix (QEMU's -m).
    #[arg(
        short = 'm',
        long = "memory",
        value_name = "SIZE",
        default_value = "128M"
    )]
    pub memory: String,
    /// Execution engine (default: the JIT on x86-64 and AArch64 hosts, else the
    /// interpreter).
    #[arg(long, value_enum, default_value_t = Engine::host_default())]
    pub engine: Engine,
    /// Interpreted runs of a block before the JIT translates it.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub jit_threshold: u32,
    /// COM1: `stdio` (the terminal, raw; Ctrl-A x quits), `none`, or `file:PATH`.
    /// Default: stdio, or none with --display text.
    #[arg(long, value_name = "DEV", value_parser = parse_serial)]
    pub serial: Option<Serial>,
    /// The screen: `none` (not shown), `text` (the VGA's text mode on this terminal, keys
    /// go to the PS/2 keyboard; Ctrl-A x quits), `window` (a window showing text and
    /// graphics modes, on the X display DISPLAY names; keys go to the PS/2 keyboard;
    /// closing it quits).
    #[arg(long, value_enum, value_name = "KIND", default_value = "none")]
    pub display: DisplayKind,
    /// Let an idle guest's time pass at the host clock's pace (sleep in HLT) instead of
    /// skipping to the next timer event. On by default when the serial console is an
    /// interactive terminal.
    #[arg(long)]
    pub realtime: bool,
    /// What the RTC reads at power-on: `utc` (the host clock, the default) or a fixed
    /// `YYYY-MM-DDTHH:MM:SS` (UTC) for reproducible runs (QEMU's -rtc base=).
    #[arg(long, value_name = "WHEN", default_value = "utc", value_parser = parse_rtc_base)]
    pub rtc_base: RtcBase,
    /// Stop after N guest instructions.
    #[arg(long, value_name = "N")]
    pub max_insns: Option<u64>,
    /// Print execution statistics at exit (instructions, MIPS, block cache).
    #[arg(long)]
    pub stats: bool,
    /// Print the registers at exit.
    #[arg(long)]
    pub dump_state: bool,
    /// Port of the exit device, with QEMU isa-debug-exit semantics: a write of V ends the
    /// run with status (V<<1)|1. Without it the device sits at 0x501 and V is the status.
    #[arg(long, value_name = "PORT", value_parser = parse_port)]
    pub exit_port: Option<u16>,
    /// Another port that writes to the debug console as 0xE9 does (0x402 shows SeaBIOS's
    /// debug log, as QEMU's -debugcon).
    #[arg(long, value_name = "PORT", value_parser = parse_port)]
    pub debug_port: Vec<u16>,
    /// Firmware boot order, as QEMU's -boot: up to three of `a` (floppy), `c` (first hard
    /// disk), `d` (CD-ROM), `n` (network), first to last.
    #[arg(long, value_name = "ORDER", default_value = "cad", value_parser = parse_boot_order)]
    pub boot: String,
    /// Another port whose writes are POST codes (0x80 always is).
    #[arg(long, value_name = "PORT", value_parser = parse_port)]
    pub post_port: Vec<u16>,
    /// Exit instead of rebooting when the guest resets the machine or triple-faults
    /// (QEMU's -no-reboot).
    #[arg(long)]
    pub no_reboot: bool,
    /// Listen for gdb on tcp:HOST:PORT (QEMU's -gdb; an empty HOST is 127.0.0.1).
    #[arg(long, value_name = "tcp:HOST:PORT")]
    pub gdb: Option<String>,
    /// With --gdb: do not start the guest until gdb connects and continues (QEMU's -S).
    #[arg(long, requires = "gdb")]
    pub wait_gdb: bool,
    /// Write an instruction trace to FILE: address, bytes, disassembly, changed registers
    /// and memory writes of every instruction (slow: one instruction per slice).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// The trace's format (default: json for a .json/.jsonl FILE, else text).
    #[arg(long, value_enum, requires = "trace")]
    pub trace_format: Option<TraceFormatArg>,
    /// Write what the VGA shows to FILE (PNG) when the run ends.
    #[arg(long, value_name = "FILE.png")]
    pub screenshot: Option<PathBuf>,
    /// When the run ends (--max-insns, guest power-off, Ctrl-A x...), save the whole
    /// machine to DIR (`ox86 restore DIR` resumes it). A disk that writes to its image
    /// refers to the image as it is then; the image is not copied.
    #[arg(long, value_name = "DIR")]
    pub save_on_exit: Option<PathBuf>,
}

/// The label a snapshot carries when --exit-port was given (QEMU isa-debug-exit status).
const EXIT_STATUS_LABEL: &str = "exit-status";
const ISA_DEBUG_EXIT: &str = "isa-debug-exit";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceFormatArg {
    Text,
    Json,
}

/// Open `--trace FILE` and start tracing.
fn start_trace(m: &mut Machine, a: &RunArgs) -> Result<()> {
    let Some(path) = &a.trace else {
        return Ok(());
    };
    let format = match a.trace_format {
        Some(TraceFormatArg::Text) => TraceFormat::Text,
        Some(TraceFormatArg::Json) => TraceFormat::Json,
        None => TraceFormat::for_path(path),
    };
    let f = std::fs::File::create(path)
        .with_context(|| format!("cannot create trace file {}", path.display()))?;
    let out = Box::new(std::io::BufWriter::with_capacity(1 << 20, f));
    m.set_trace(Some(Tracer::new(out, format)));
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Serial {
    Stdio,
    None,
    File(PathBuf),
}

fn parse_serial(s: &str) -> Result<Serial, String> {
    match s {
        "stdio" => Ok(Serial::Stdio),
        "none" | "null" => Ok(Serial::None),
        _ => match s.strip_prefix("file:") {
            Some(p) if !p.is_empty() => Ok(Serial::File(PathBuf::from(p))),
            _ => Err(format!(
                "`{s}` is not a serial device (stdio, none or file:PATH)"
            )),
        },
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtcBase {
    HostUtc,
    Fixed(u64),
}

fn parse_rtc_base(s: &str) -> Result<RtcBase, String> {
    if s == "utc" {
        return Ok(RtcBase::HostUtc);
    }
    parse_datetime(s)
        .map(RtcBase::Fixed)
        .ok_or_else(|| format!("`{s}` is not `utc` or a date YYYY-MM-DDTHH:MM:SS"))
}

/// `YYYY-MM-DD[THH:MM:SS]` (UTC, from 1970) to Unix seconds.
fn parse_datetime(s: &str) -> Option<u64> {
    let (date, time) = s.split_once('T').unwrap_or((s, "00:00:00"));
    let d: Vec<u64> = date
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<u64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let (&[y, mo, da], &[h, mi, se]) = (&d[..], &t[..]) else {
        return None;
    };
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&mo) || !(1..=31).contains(&da) {
        return None;
    }
    if h > 23 || mi > 59 || se > 59 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), March-based years.
    let (y, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

fn parse_boot_order(s: &str) -> Result<String, String> {
    if ox86_machine::boot::firmware::valid_boot_order(s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not a boot order (one to three of a, c, d, n, e.g. `c` or `dc`)"
        ))
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16)
    } else {
        s.parse::<u32>()
    };
    match v {
        Ok(p) if p <= 0xffff => Ok(p as u16),
        _ => Err(format!("`{s}` is not an I/O port (0 to 0xffff)")),
    }
}

/// QEMU's -m: a bare number is MiB; suffixes K, M, G (case-insensitive, optional B).
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim().trim_end_matches(['b', 'B']);
    let (num, mul) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 1 << 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1 << 20),
    };
    let n: u64 = num.parse().with_context(|| {
        format!("memory size `{s}` is not a number with an optional K/M/G suffix")
    })?;
    n.checked_mul(mul)
        .with_context(|| format!("memory size `{s}` is too large"))
}

fn load_rom(path: &PathBuf) -> Result<Vec<u8>> {
    let rom = read_file(path, "firmware image", 16 << 20)?;
    ox86_machine::machine::check_rom(&rom).with_context(|| path.display().to_string())?;
    Ok(rom)
}

/// Read a guest file, refusing absurd sizes before reading them.
fn read_file(path: &PathBuf, what: &str, max: u64) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    if meta.len() > max {
        bail!(
            "{what} {} is {} bytes: at most {} MiB",
            path.display(),
            meta.len(),
            max >> 20
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

fn boot(a: &RunArgs) -> Result<Boot> {
    if let Some(k) = &a.kernel {
        let kernel = read_file(k, "kernel", 256 << 20)?;
        if multiboot::is_multiboot(&kernel) {
            // As QEMU's -kernel (and GRUB) do: the command line starts with the kernel's
            // file name, and --initrd lists the modules, "FILE ARGS,FILE2 ARGS,...", each
            // module's string being its whole entry.
            let mut modules = Vec::new();
            if let Some(list) = &a.initrd {
                for entry in list.to_string_lossy().split(',') {
                    let file = PathBuf::from(entry.split(' ').next().unwrap_or_default());
                    if file.as_os_str().is_empty() {
                        bail!(
                            "--initrd `{}` has a module entry without a file name",
                            list.display()
                        );
                    }
                    modules.push(multiboot::Module {
                        data: read_file(&file, "module", 4 << 30)?,
                        cmdline: entry.to_string(),
                    });
                }
            }
            return Ok(Boot::Multiboot {
                kernel,
                modules,
                cmdline: format!("{} {}", k.display(), a.append),
            });
        }
        let initrd = match &a.initrd {
            Some(p) => Some(read_file(p, "initrd", 4 << 30)?),
            None => None,
        };
        return Ok(Boot::Linux {
            kernel,
            initrd,
            cmdline: a.append.clone(),
        });
    }
    let disks = a.hda.is_some() || a.hdb.is_some() || a.cdrom.is_some() || a.fda.is_some();
    Ok(Boot::Firmware(match &a.bios {
        Some(p) => load_rom(p)?,
        None if disks => {
            let p = PathBuf::from(SEABIOS);
            if !p.exists() {
                bail!(
                    "no firmware to boot the disk: {SEABIOS} is missing (apt install seabios), \
                     or give --bios FILE"
                );
            }
            load_rom(&p)?
        }
        None => DEMO_ROM.to_vec(),
    }))
}

/// The IDE drives asked for: --hda/--hdb on the primary channel, --cdrom the secondary
/// master (QEMU's places for them).
fn drives(a: &RunArgs) -> Result<Vec<(usize, usize, Kind, Disk)>> {
    let mut v = Vec::new();
    let mut add = |path: &Option<PathBuf>, ch, unit, kind| -> Result<()> {
        if let Some(p) = path {
            let cd = kind == Kind::Cdrom;
            let block = if cd { ATAPI_BLOCK } else { SECTOR };
            let disk = Disk::open(p, block, cd, a.snapshot).map_err(anyhow::Error::msg)?;
            v.push((ch, unit, kind, disk));
        }
        Ok(())
    };
    add(&a.hda, 0, 0, Kind::Disk)?;
    add(&a.hdb, 0, 1, Kind::Disk)?;
    add(&a.cdrom, 1, 0, Kind::Cdrom)?;
    Ok(v)
}

/// The floppy drive asked for: --fda as drive A:, its size one of the floppy formats.
fn floppies(a: &RunArgs) -> Result<Vec<(usize, Disk)>> {
    let Some(p) = &a.fda else {
        return Ok(Vec::new());
    };
    let disk = Disk::open(p, SECTOR, false, a.snapshot).map_err(anyhow::Error::msg)?;
    if floppy::geometry_for_size(disk.size()).is_none() {
        bail!(
            "floppy image {} is {} bytes: not a floppy format ({})",
            p.display(),
            disk.size(),
            floppy::FORMAT_NAMES
        );
    }
    Ok(vec![(0, disk)])
}

/// How `build` makes the machine.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// `ox86 run`: the guest has the terminal.
    Run,
    /// `ox86 debug`: the debugger has the terminal's input; the guest's serial output
    /// still goes to standard output, and time is virtual only.
    Debugger,
}

/// What `build` makes: the machine and what runs beside it.
pub struct Built {
    pub machine: Machine,
    /// For `--serial stdio` or `--display text` on a terminal: raw mode, while kept.
    pub raw: Option<terminal::RawMode>,
    /// For the debugger: a sender that wakes the run loop.
    pub wake: Option<Sender<HostInput>>,
    /// `--display window`: the window's thread, which ends after the machine's display
    /// (`Machine::display`) is dropped.
    pub window: Option<JoinHandle<()>>,
}

impl Built {
    /// Close the display (the window's thread, or the text renderer fed through
    /// `Machine::display`) and wait for its thread.
    pub fn close_window(&mut self) {
        self.machine.display = None;
        if let Some(w) = self.window.take() {
            let _ = w.join();
        }
    }
}

/// The machine and what runs beside it (raw mode, the window, the debugger's wake-up).
pub fn build(a: &RunArgs, front: Front) -> Result<Built> {
    let ram_size = parse_size(&a.memory)?;
    if ram_size == 0 {
        bail!("memory size `{}` is zero", a.memory);
    }
    let mut cfg = MachineConfig::new(ram_size, boot(a)?);
    if a.kernel.is_none() {
        // As QEMU does for its std VGA; without it the firmware has no video BIOS.
        cfg.vga_bios = std::fs::read(VGABIOS).ok();
    }
    cfg.drives = drives(a)?;
    cfg.floppies = floppies(a)?;
    let gdb = match &a.gdb {
        Some(spec) => {
            let (listener, addr) = gdb::listen(spec)?;
            if a.wait_gdb {
                eprintln!("ox86: waiting for gdb on tcp:{addr}");
            }
            Some(listener)
        }
        None => None,
    };
    cfg.exit_port = Some(a.exit_port.unwrap_or(DEFAULT_EXIT_PORT));
    cfg.post_ports.extend(&a.post_port);
    cfg.debug_ports.clone_from(&a.debug_port);
    cfg.boot_order.clone_from(&a.boot);
    cfg.reboot = !a.no_reboot;
    cfg.engine = a.engine.into();
    cfg.jit_threshold = a.jit_threshold;
    cfg.jit_chain_count = a.stats;
    cfg.rtc_start_secs = match a.rtc_base {
        RtcBase::Fixed(t) => t,
        RtcBase::HostUtc => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let wake = front == Front::Debugger || gdb.is_some();
    let mut host = host_io(a.serial.clone(), a.display, a.realtime, front, wake)?;
    cfg.console = std::mem::replace(&mut host.console, Box::new(std::io::sink()));
    cfg.serial = std::mem::replace(&mut host.serial, Box::new(std::io::sink()));
    cfg.input = host.input.take();
    cfg.realtime = host.realtime;
    let mut m = Machine::new(cfg)?;
    label(&mut m, a.exit_port.is_some());
    let wake = host.attach(&mut m, front, gdb, a.wait_gdb)?;
    start_trace(&mut m, a)?;
    Ok(Built {
        machine: m,
        raw: host.raw,
        wake,
        window: host.window,
    })
}

/// Note in the machine what a snapshot must keep of the command line.
fn label(m: &mut Machine, explicit_exit_port: bool) {
    if explicit_exit_port {
        m.labels
            .insert(EXIT_STATUS_LABEL.to_string(), ISA_DEBUG_EXIT.to_string());
    }
}

/// The host side of a machine: where its output goes, its input, real time, the raw
/// terminal and the window.
pub struct HostIo {
    pub console: Box<dyn std::io::Write + Send>,
    pub serial: Box<dyn std::io::Write + Send>,
    pub input: Option<crossbeam_channel::Receiver<HostInput>>,
    pub realtime: bool,
    pub raw: Option<terminal::RawMode>,
    /// Host input for the run loop: typed input, window keys, and the gdb stub's or
    /// debugger's wake-ups all come through one channel.
    in_tx: Sender<HostInput>,
    /// `--display window`: the window's thread and its frame channel.
    window: Option<JoinHandle<()>>,
    frames: Option<Sender<ox86_devices::vga::Vga>>,
}

impl HostIo {
    /// Connect the built machine to the window and to gdb (`gdb` listening), and for the
    /// debugger return the sender that wakes the run loop.
    fn attach(
        &mut self,
        m: &mut Machine,
        front: Front,
        gdb: Option<std::net::TcpListener>,
        wait_gdb: bool,
    ) -> Result<Option<Sender<HostInput>>> {
        if let Some(tx) = self.frames.take() {
            m.display = Some(DisplaySink::Frames(FrameSink::new(
                tx,
                crate::window::FRAME_INTERVAL,
            )));
        }
        let in_tx = self.in_tx.clone();
        match (front, gdb) {
            (Front::Debugger, _) => Ok(Some(in_tx)),
            (Front::Run, Some(listener)) => {
                let explicit = explicit_exit_port(m);
                m.debug = Some(gdb::start(listener, wait_gdb, in_tx, explicit)?);
                Ok(None)
            }
            (Front::Run, None) => Ok(None),
        }
    }
}

/// Set up --serial, --display and --realtime; `wake` when the debugger or gdb will wake
/// the run loop through its input channel.
pub fn host_io(
    serial: Option<Serial>,
    display: DisplayKind,
    realtime: bool,
    front: Front,
    wake: bool,
) -> Result<HostIo> {
    let (in_tx, in_rx) = crossbeam_channel::unbounded();
    let mut input = wake;
    let mut h = HostIo {
        console: Box::new(std::io::stdout()),
        serial: Box::new(std::io::sink()),
        input: None,
        realtime: realtime && front == Front::Run,
        raw: None,
        in_tx,
        window: None,
        frames: None,
    };
    let text = match (display, front) {
        (DisplayKind::None | DisplayKind::Window, _) => false,
        (DisplayKind::Text, Front::Debugger) => {
            bail!("--display text needs the terminal, which `ox86 debug` uses: use `ox86 run`")
        }
        (DisplayKind::Text, Front::Run) => true,
    };
    let serial = match (&serial, text) {
        (Some(Serial::Stdio), true) => bail!(
            "--serial stdio and --display text both want the terminal: use --serial none or file:PATH"
        ),
        (Some(s), _) => s.clone(),
        (None, true) => Serial::None,
        (None, false) => Serial::Stdio,
    };
    if text {
        terminal::spawn_stdin_reader(h.in_tx.clone(), terminal::InputTo::Keyboard);
        input = true;
        h.realtime = true;
        if std::io::stdin().is_terminal() {
            h.raw = terminal::RawMode::enter();
        }
    }
    match &serial {
        Serial::None => {}
        Serial::File(p) => {
            let f = std::fs::File::create(p)
                .with_context(|| format!("cannot create serial output file {}", p.display()))?;
            h.serial = Box::new(std::io::BufWriter::new(f));
        }
        Serial::Stdio if front == Front::Debugger => h.serial = Box::new(std::io::stdout()),
        Serial::Stdio => {
            h.serial = Box::new(std::io::stdout());
            let tty = std::io::stdin().is_terminal();
            terminal::spawn_stdin_reader(h.in_tx.clone(), terminal::InputTo::Serial);
            input = true;
            if tty {
                h.realtime = true;
                h.raw = terminal::RawMode::enter();
            }
        }
    }
    // The window opens before the machine is built, so that a missing display is
    // reported at once; its thread ends when the frame channel closes.
    if display == DisplayKind::Window {
        let (tx, rx) = crossbeam_channel::bounded(1);
        h.window = Some(crate::window::spawn(rx, h.in_tx.clone())?);
        h.frames = Some(tx);
        input = true;
        // A window on an interactive terminal is interactive use, as the serial console
        // there is: guest time follows the host clock.
        if front == Front::Run && std::io::stdin().is_terminal() {
            h.realtime = true;
        }
    }
    if input {
        h.input = Some(in_rx);
    }
    Ok(h)
}

/// What `finish` does when a run ends, from the command line.
pub struct Ending<'a> {
    pub screenshot: Option<&'a Path>,
    pub stats: bool,
    pub dump_state: bool,
    pub save_on_exit: Option<&'a Path>,
}

impl RunArgs {
    pub fn ending(&self) -> Ending<'_> {
        Ending {
            screenshot: self.screenshot.as_deref(),
            stats: self.stats,
            dump_state: self.dump_state,
            save_on_exit: self.save_on_exit.as_deref(),
        }
    }
}

/// Is the exit device's value turned into a status as QEMU's isa-debug-exit does?
fn explicit_exit_port(m: &Machine) -> bool {
    m.labels.get(EXIT_STATUS_LABEL).map(String::as_str) == Some(ISA_DEBUG_EXIT)
}

/// Save `m` to `dir`, saying so on standard error.
pub fn save(m: &Machine, dir: &Path) -> Result<String> {
    let r = m.save_snapshot(dir)?;
    let mut msg = format!(
        "snapshot saved to {} ({:.1} MiB in {:.2} s)",
        dir.display(),
        r.bytes as f64 / (1 << 20) as f64,
        r.elapsed.as_secs_f64()
    );
    for p in &r.frozen {
        msg += &format!(
            "; writes to {} now stay in memory (the snapshot refers to the image as it is)",
            p.display()
        );
    }
    Ok(msg)
}

/// The exit status for a run that ended with `end` (`explicit_exit_port`: --exit-port was
/// given, so the exit device has QEMU's isa-debug-exit semantics).
pub fn end_status(explicit_exit_port: bool, end: RunEnd) -> i32 {
    match end {
        RunEnd::ExitPort(v) if explicit_exit_port => (((v << 1) | 1) & 0xff) as i32,
        RunEnd::ExitPort(v) => (v & 0xff) as i32,
        RunEnd::InstructionLimit
        | RunEnd::Halted { .. }
        | RunEnd::TripleFault
        | RunEnd::PowerOff
        | RunEnd::Reset
        | RunEnd::Quit => 0,
    }
}

pub fn run(a: RunArgs) -> Result<i32> {
    // A screenshot that cannot be written is bad input: say so before the run.
    if let Some(p) = &a.screenshot {
        std::fs::File::create(p)
            .with_context(|| format!("cannot create screenshot file {}", p.display()))?;
    }
    let mut b = build(&a, Front::Run)?;
    let report = run_shown(&mut b.machine, a.display, &mut b.window, a.max_insns);
    drop(b.raw.take());
    finish(&a.ending(), &b.machine, &report)
}

/// Run `m` with `--display text` fed (the window, if any, is fed already); then give
/// the terminal back (the renderer ends when its channel closes) or close the window,
/// before anything of our own is printed.
fn run_shown(
    m: &mut Machine,
    display: DisplayKind,
    window: &mut Option<JoinHandle<()>>,
    max_insns: Option<u64>,
) -> RunReport {
    if display == DisplayKind::Text {
        let (tx, rx) = crossbeam_channel::unbounded();
        m.display = Some(DisplaySink::Text(TextSink::new(
            tx,
            display::FRAME_INTERVAL,
        )));
        *window = Some(display::spawn_renderer(rx));
    }
    let report = m.run(max_insns);
    m.display = None;
    if let Some(w) = window.take() {
        let _ = w.join();
    }
    report
}

/// `ox86 restore DIR ...`: resume a saved machine. Its configuration comes from the
/// snapshot; the command line sets only the host side.
#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The snapshot directory (`--save-on-exit DIR`, or `savevm DIR` in the monitor).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Execution engine (default: the JIT on x86-64 and AArch64 hosts, else the
    /// interpreter).
    #[arg(long, value_enum, default_value_t = Engine::host_default())]
    pub engine: Engine,
    /// Interpreted runs of a block before the JIT translates it.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub jit_threshold: u32,
    /// COM1: `stdio` (the terminal, raw; Ctrl-A x quits), `none`, or `file:PATH`.
    /// Default: stdio, or none with --display text.
    #[arg(long, value_name = "DEV", value_parser = parse_serial)]
    pub serial: Option<Serial>,
    /// The screen: `none`, `text` (the VGA's text mode on this terminal), `window`.
    #[arg(long, value_enum, value_name = "KIND", default_value = "none")]
    pub display: DisplayKind,
    /// Let an idle guest's time pass at the host clock's pace.
    #[arg(long)]
    pub realtime: bool,
    /// Stop after N more guest instructions.
    #[arg(long, value_name = "N")]
    pub max_insns: Option<u64>,
    /// Print execution statistics at exit.
    #[arg(long)]
    pub stats: bool,
    /// Print the registers at exit.
    #[arg(long)]
    pub dump_state: bool,
    /// Listen for gdb on tcp:HOST:PORT.
    #[arg(long, value_name = "tcp:HOST:PORT")]
    pub gdb: Option<String>,
    /// With --gdb: do not resume the guest until gdb connects and continues.
    #[arg(long, requires = "gdb")]
    pub wait_gdb: bool,
    /// Write what the VGA shows to FILE (PNG) when the run ends.
    #[arg(long, value_name = "FILE.png")]
    pub screenshot: Option<PathBuf>,
    /// When the run ends, save the machine to DIR (it may be the snapshot restored).
    #[arg(long, value_name = "DIR")]
    pub save_on_exit: Option<PathBuf>,
}

pub fn restore(a: RestoreArgs) -> Result<i32> {
    if let Some(p) = &a.screenshot {
        std::fs::File::create(p)
            .with_context(|| format!("cannot create screenshot file {}", p.display()))?;
    }
    // Check the snapshot before the terminal changes hands.
    ox86_machine::snapshot::read_manifest(&a.dir)?;
    let gdb = match &a.gdb {
        Some(spec) => {
            let (listener, addr) = gdb::listen(spec)?;
            if a.wait_gdb {
                eprintln!("ox86: waiting for gdb on tcp:{addr}");
            }
            Some(listener)
        }
        None => None,
    };
    let mut host = host_io(
        a.serial.clone(),
        a.display,
        a.realtime,
        Front::Run,
        gdb.is_some(),
    )?;
    let opts = ox86_machine::HostOptions {
        console: std::mem::replace(&mut host.console, Box::new(std::io::sink())),
        serial: std::mem::replace(&mut host.serial, Box::new(std::io::sink())),
        input: host.input.take(),
        realtime: host.realtime,
        engine: a.engine.into(),
        jit_threshold: a.jit_threshold,
        jit_chain_count: a.stats,
    };
    let mut m = match Machine::restore(&a.dir, opts) {
        Ok(m) => m,
        Err(e) => {
            drop(host.raw.take());
            return Err(e.into());
        }
    };
    host.attach(&mut m, Front::Run, gdb, a.wait_gdb)?;
    let report = run_shown(&mut m, a.display, &mut host.window, a.max_insns);
    drop(host.raw.take());
    let ending = Ending {
        screenshot: a.screenshot.as_deref(),
        stats: a.stats,
        dump_state: a.dump_state,
        save_on_exit: a.save_on_exit.as_deref(),
    };
    finish(&ending, &m, &report)
}

/// Say how the run ended (and `--stats`, `--dump-state`, `--save-on-exit`); the exit
/// status.
pub fn finish(a: &Ending, m: &Machine, report: &RunReport) -> Result<i32> {
    let s = &m.cpu.s;
    let at = format!("{:04x}:{:08x}", s.segs[Seg::Cs as usize].selector, s.eip);
    match report.end {
        RunEnd::ExitPort(_) | RunEnd::PowerOff | RunEnd::Quit => {}
        RunEnd::InstructionLimit => eprintln!("ox86: instruction limit reached at {at}"),
        RunEnd::Halted {
            interrupts_enabled: false,
        } => eprintln!("ox86: guest halted with interrupts disabled at {at}"),
        RunEnd::Halted {
            interrupts_enabled: true,
        } => {
            eprintln!("ox86: guest halted at {at}; no device can raise an interrupt to wake it")
        }
        RunEnd::TripleFault => eprintln!("ox86: triple fault at {at}; stopped (--no-reboot)"),
        RunEnd::Reset => eprintln!("ox86: guest reset the machine; stopped (--no-reboot)"),
    }
    if let Some(p) = m.board.post {
        eprintln!("post: {p:#04x}");
    }
    if let Some(p) = a.screenshot {
        m.screendump(p)?;
    }
    if let Some(dir) = a.save_on_exit {
        eprintln!("ox86: {}", save(m, dir)?);
    }
    if a.stats {
        print_stats(report);
        if let Some(acc) = &m.interp.accel {
            for (name, v) in acc.counters() {
                eprintln!("jit {name}: {v}");
            }
        }
    }
    if a.dump_state {
        eprint!("{}", dump_state(m));
    }
    Ok(end_status(explicit_exit_port(m), report.end))
}

fn print_stats(r: &RunReport) {
    let s = &r.stats;
    let lookups = s.blocks_decoded + s.block_hits;
    let hit = if lookups > 0 {
        100.0 * s.block_hits as f64 / lookups as f64
    } else {
        0.0
    };
    eprintln!("instructions retired: {}", s.instructions);
    eprintln!(
        "time: {:.3} s, {:.1} MIPS",
        r.elapsed.as_secs_f64(),
        r.mips()
    );
    eprintln!(
        "blocks decoded: {}, block cache hits: {} ({hit:.2}%), invalidated: {}",
        s.blocks_decoded, s.block_hits, s.blocks_invalidated
    );
    eprintln!(
        "exceptions: {}, interrupts: {}, resets: {}",
        s.exceptions, s.interrupts, r.resets
    );
}

pub fn dump_state(m: &Machine) -> String {
    let s = &m.cpu.s;
    let mut o = String::new();
    let r = &s.regs;
    o += &format!(
        "EAX={:08x} EBX={:08x} ECX={:08x} EDX={:08x}\n",
        r[0], r[3], r[1], r[2]
    );
    o += &format!(
        "ESI={:08x} EDI={:08x} EBP={:08x} ESP={:08x}\n",
        r[6], r[7], r[5], r[4]
    );
    o += &format!(
        "EIP={:08x} EFL={:08x} CPL={} {}\n",
        s.eip,
        m.cpu.eflags(),
        s.cpl,
        mode_name(m)
    );
    for (name, seg) in ["ES", "CS", "SS", "DS", "FS", "GS"].iter().zip(Seg::ALL) {
        let g = s.seg(seg);
        o += &format!(
            "{name} ={:04x} {:08x} {:08x} {:04x}\n",
            g.selector, g.base, g.limit, g.attr
        );
    }
    o += &format!(
        "LDT={:04x} {:08x} {:08x}  TR={:04x} {:08x} {:08x}\n",
        s.ldtr.selector, s.ldtr.base, s.ldtr.limit, s.tr.selector, s.tr.base, s.tr.limit
    );
    o += &format!(
        "GDT={:08x} {:04x}  IDT={:08x} {:04x}\n",
        s.gdtr.base, s.gdtr.limit, s.idtr.base, s.idtr.limit
    );
    o += &format!(
        "CR0={:08x} CR2={:08x} CR3={:08x} CR4={:08x}\n",
        s.cr0, s.cr2, s.cr3, s.cr4
    );
    o
}

fn mode_name(m: &Machine) -> &'static str {
    let s = &m.cpu.s;
    if !s.protected_mode() {
        "real mode"
    } else if s.v86() {
        "virtual-8086 mode"
    } else if s.code32() {
        "32-bit protected mode"
    } else {
        "16-bit protected mode"
    }
}
