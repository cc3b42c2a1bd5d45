//! The PC: CPU, board and the engine that runs guest code, built from a `MachineConfig`.

use std::io::Write;

use ox86_core::cpu::state::DescTable;
use ox86_core::{Cpu, CpuModel, PhysMemory};

use crate::board::{Board, Devices};
use crate::boot::bzimage::{self, BootError, BootImage};
use crate::boot::multiboot::{self, MultibootError, MultibootImage};
use crate::boot::{acpi, firmware};
use ox86_devices::acpi_pm;

/// What the machine starts.
pub enum Boot {
    /// A firmware image started at the reset vector (`--bios`).
    Firmware(Vec<u8>),
    /// A Linux bzImage entered through the 32-bit boot protocol (`--kernel`).
    Linux {
        kernel: Vec<u8>,
        initrd: Option<Vec<u8>>,
        cmdline: String,
    },
    /// A Multiboot v1 kernel (ELF32 or a.out kludge), with its modules (`--kernel`).
    Multiboot {
        kernel: Vec<u8>,
        modules: Vec<multiboot::Module>,
        cmdline: String,
    },
}

/// Input from the host, sent by the front end's threads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostInput {
    /// Bytes typed at the serial console (COM1).
    Serial(Vec<u8>),
    /// Keys for the PS/2 keyboard: set 1 scancodes (make codes, break codes with bit 7,
    /// 0xE0 prefixes), sent to the guest in the form it reads (see `I8042::key_form`).
    Keys(Vec<u8>),
    /// The user asked to quit (Ctrl-A x).
    Quit,
    /// Nothing to deliver: wake the run loop (a debugger command is waiting).
    Wake,
}

/// What to build.
pub struct MachineConfig {
    /// Guest RAM in bytes.
    pub ram_size: u64,
    pub boot: Boot,
    pub model: CpuModel,
    /// Where 0xE9 debug-console output goes.
    pub console: Box<dyn Write + Send>,
    /// Where COM1 output goes.
    pub serial: Box<dyn Write + Send>,
    /// Host input (serial bytes, quit), if anyone sends any.
    pub input: Option<crossbeam_channel::Receiver<HostInput>>,
    pub exit_port: Option<u16>,
    pub post_ports: Vec<u16>,
    /// On a guest reset or triple fault: reset the machine (true) or stop (QEMU's
    /// -no-reboot).
    pub reboot: bool,
    /// Unix time the RTC reads at power-on.
    pub rtc_start_secs: u64,
    /// Pace virtual time by the host clock while the guest idles (sleep in HLT) instead of
    /// skipping ahead to the next timer event.
    pub realtime: bool,
    pub engine: Engine,
    /// Interpreted runs of a block before the JIT translates it.
    pub jit_threshold: u32,
    /// Count the JIT's block-to-block transitions ("chained transitions" in the
    /// counters): `--stats` and `ox86 bench` ask for it, as it costs run time.
    pub jit_chain_count: bool,
    /// Firmware boot order, QEMU's -boot letters (a floppy, c hard disk, d CD-ROM).
    pub boot_order: String,
    /// Where firmware mirrors its screen (SeaBIOS's `etc/sercon-port`), if anywhere.
    pub sercon: Option<u16>,
    /// The VGA's option ROM, offered to firmware as fw_cfg file `pci1234,1111.rom`
    /// (SeaBIOS copies it to 0xC0000 and runs it with the VGA's PCI address).
    pub vga_bios: Option<Vec<u8>>,
    /// Ports besides 0xE9 that write to the debug console (0x402: SeaBIOS's debug log).
    pub debug_ports: Vec<u16>,
    /// IDE drives: (channel 0/1, unit 0 master / 1 slave, kind, image).
    pub drives: Vec<(
        usize,
        usize,
        ox86_devices::ide::Kind,
        ox86_devices::disk::Disk,
    )>,
    /// Floppy drives: (unit 0 A: / 1 B:, image of a known floppy size).
    pub floppies: Vec<(usize, ox86_devices::disk::Disk)>,
}

/// How guest code runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Engine {
    /// The interpreter only.
    #[default]
    Interp,
    /// Hot blocks translated to host code.
    Jit,
}

impl Engine {
    /// The JIT where it has a backend for this host (x86-64 and AArch64), else the
    /// interpreter: what `ox86` runs when no engine is named.
    pub fn host_default() -> Engine {
        if ox86_jit::HOST_SUPPORTED {
            Engine::Jit
        } else {
            Engine::Interp
        }
    }
}

impl MachineConfig {
    /// A machine with `ram_size` bytes booting `boot`, output discarded, the RTC at the
    /// Unix epoch, deterministic time.
    pub fn new(ram_size: u64, boot: Boot) -> Self {
        MachineConfig {
            ram_size,
            boot,
            model: CpuModel::P6,
            console: Box::new(std::io::sink()),
            serial: Box::new(std::io::sink()),
            input: None,
            exit_port: Some(crate::board::DEFAULT_EXIT_PORT),
            post_ports: vec![crate::board::POST_PORT],
            reboot: true,
            rtc_start_secs: 0,
            realtime: false,
            engine: Engine::Interp,
            jit_threshold: 50,
            jit_chain_count: false,
            boot_order: crate::boot::firmware::DEFAULT_BOOT_ORDER.to_string(),
            sercon: Some(crate::boot::firmware::SERCON_PORT),
            debug_ports: Vec::new(),
            vga_bios: None,
            drives: Vec::new(),
            floppies: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error("firmware image is empty")]
    EmptyRom,
    #[error("firmware image is {0} bytes: it must be a multiple of 64 KiB, at most 16 MiB")]
    BadRomSize(usize),
    #[error("firmware image of {rom} bytes does not fit below 1 MiB with {ram} bytes of RAM")]
    RomTooBig { rom: usize, ram: u64 },
    #[error("{0} bytes of RAM is too little to boot Linux (at least 8 MiB)")]
    TooLittleRam(u64),
    #[error(transparent)]
    Boot(#[from] BootError),
    #[error(transparent)]
    Multiboot(#[from] MultibootError),
    #[error(transparent)]
    Mem(#[from] ox86_core::MemError),
    #[error(transparent)]
    Jit(#[from] ox86_jit::JitError),
    #[error("floppy image {0}")]
    Floppy(String),
}

/// Check a firmware image the way QEMU's -bios does.
pub fn check_rom(rom: &[u8]) -> Result<(), MachineError> {
    if rom.is_empty() {
        return Err(MachineError::EmptyRom);
    }
    if !rom.len().is_multiple_of(64 << 10) || rom.len() > 16 << 20 {
        return Err(MachineError::BadRomSize(rom.len()));
    }
    Ok(())
}

pub struct Machine {
    pub cpu: Cpu,
    pub board: Board,
    pub interp: ox86_core::interp::Interpreter<Board>,
    pub(crate) reboot: bool,
    pub(crate) realtime: bool,
    pub(crate) input: Option<crossbeam_channel::Receiver<HostInput>>,
    /// Serial input the guest's FIFO had no room for yet.
    pub(crate) pending_input: std::collections::VecDeque<u8>,
    /// Keyboard bytes (in the guest's form) waiting for the i8042's output buffer to
    /// empty: one byte at a time, so each raises its own IRQ 1 edge.
    pub(crate) pending_keys: std::collections::VecDeque<u8>,
    /// A display being fed (`--display text` or `window`).
    pub display: Option<crate::display::DisplaySink>,
    /// A kernel to load again after each reset (there is no firmware to do it).
    pub(crate) linux: Option<BootImage>,
    /// The same for a Multiboot kernel.
    pub(crate) multiboot: Option<MultibootImage>,
    /// Front-end settings a snapshot keeps for whoever resumes it (the library does not
    /// interpret them; `ox86` notes there how the exit device's value becomes a status).
    pub labels: std::collections::BTreeMap<String, String>,
    /// A debugger (the gdb stub), when one is configured.
    pub debug: Option<crate::debug::Debugger>,
    /// An instruction trace being written.
    pub(crate) trace: Option<crate::debug::Tracer>,
}

/// The engine that runs guest code: the interpreter, with the JIT as its accelerator for
/// `Engine::Jit`.
pub(crate) fn new_interp(
    engine: Engine,
    jit_threshold: u32,
    count_chains: bool,
) -> Result<ox86_core::interp::Interpreter<Board>, MachineError> {
    let mut interp = ox86_core::interp::Interpreter::new();
    interp.threshold = jit_threshold.max(1);
    if engine == Engine::Jit {
        let jit = ox86_jit::Jit::<Board>::new(ox86_jit::CODE_CACHE_BYTES)?;
        interp.accel = Some(Box::new(jit.count_chains(count_chains)?));
    }
    Ok(interp)
}

/// Linux wants a few MiB for itself beyond its image and initrd.
const MIN_LINUX_RAM: u64 = 8 << 20;

impl Machine {
    pub fn new(cfg: MachineConfig) -> Result<Self, MachineError> {
        let mut multiboot = None;
        let firmware = matches!(cfg.boot, Boot::Firmware(_));
        let (rom, linux) = match cfg.boot {
            Boot::Firmware(rom) => {
                check_rom(&rom)?;
                (rom, None)
            }
            Boot::Multiboot {
                kernel,
                modules,
                cmdline,
            } => {
                let mut img = multiboot::prepare(&kernel, &modules, &cmdline, cfg.ram_size)?;
                let acpi = acpi::build(acpi::ACPI_BASE, acpi_pm::PM_BASE, cfg.ram_size);
                img.writes.push((acpi::ACPI_BASE, acpi.bytes));
                multiboot = Some(img);
                (Vec::new(), None)
            }
            Boot::Linux {
                kernel,
                initrd,
                cmdline,
            } => {
                if cfg.ram_size < MIN_LINUX_RAM {
                    return Err(MachineError::TooLittleRam(cfg.ram_size));
                }
                let mut img = bzimage::prepare(&kernel, initrd.as_deref(), &cmdline, cfg.ram_size)?;
                // No firmware: ox86 provides the ACPI tables (power-off, PCI root).
                let acpi = acpi::build(acpi::ACPI_BASE, acpi_pm::PM_BASE, cfg.ram_size);
                img.set_rsdp(acpi.rsdp_addr);
                img.writes.push((acpi::ACPI_BASE, acpi.bytes));
                (Vec::new(), Some(img))
            }
        };
        let mem = PhysMemory::new(cfg.ram_size)?;
        let mut dev = Devices::new(cfg.ram_size, cfg.rtc_start_secs);
        for (unit, disk) in cfg.floppies {
            dev.fdc.attach(unit, disk).map_err(MachineError::Floppy)?;
        }
        if firmware {
            let drives: Vec<_> = cfg.drives.iter().map(|d| (d.0, d.1, d.2)).collect();
            firmware::configure(&mut dev, cfg.ram_size, &cfg.boot_order, &drives, cfg.sercon);
            if let Some(rom) = cfg.vga_bios {
                dev.fw_cfg.add_file("pci1234,1111.rom", rom);
            }
        }
        for (channel, unit, kind, disk) in cfg.drives {
            dev.ide.attach(channel, unit, kind, disk);
            dev.pci.add_ide();
        }
        let mut board = Board::new(
            mem,
            rom,
            dev,
            cfg.console,
            cfg.serial,
            cfg.exit_port,
            cfg.post_ports,
        );
        board.debug_ports.extend(cfg.debug_ports);
        let interp = new_interp(cfg.engine, cfg.jit_threshold, cfg.jit_chain_count)?;
        let mut m = Machine {
            cpu: Cpu::new(cfg.model),
            board,
            interp,
            reboot: cfg.reboot,
            realtime: cfg.realtime,
            input: cfg.input,
            pending_input: Default::default(),
            pending_keys: Default::default(),
            display: None,
            linux,
            multiboot,
            labels: Default::default(),
            debug: None,
            trace: None,
        };
        m.enter_linux();
        m.enter_multiboot();
        Ok(m)
    }

    /// RESET: CPU and devices to their power-on state; a directly booted kernel is loaded
    /// afresh (as QEMU's -kernel does on reboot).
    pub fn reset(&mut self) {
        self.cpu.reset();
        let ram = self.board.mem.size();
        self.board.reset_devices(ram);
        self.interp.flush(&mut self.board);
        self.enter_linux();
        self.enter_multiboot();
    }

    /// Copy the kernel into RAM and put the CPU in the 32-bit boot protocol's entry state:
    /// flat 4 GiB __BOOT_CS/__BOOT_DS, protected mode without paging, interrupts off,
    /// ESI at boot_params.
    fn enter_linux(&mut self) {
        let Some(img) = self.linux.take() else {
            return;
        };
        self.enter_flat32(&img.writes, img.gdt_base, img.gdt_limit, img.entry);
        self.cpu.s.regs[6] = img.esi;
        self.linux = Some(img);
    }

    /// The Multiboot entry state: the same flat protected mode (A20 on, interrupts off),
    /// EAX = 0x2BADB002, EBX at the information structure.
    fn enter_multiboot(&mut self) {
        let Some(img) = self.multiboot.take() else {
            return;
        };
        self.enter_flat32(&img.writes, img.gdt_base, img.gdt_limit, img.entry);
        self.cpu.s.regs[0] = multiboot::LOADER_MAGIC;
        self.cpu.s.regs[3] = img.info;
        self.multiboot = Some(img);
    }

    /// Copy a directly booted kernel into RAM and enter it in 32-bit protected mode
    /// without paging: flat __BOOT_CS/__BOOT_DS, interrupts off, general registers zero.
    fn enter_flat32(
        &mut self,
        writes: &[(u64, Vec<u8>)],
        gdt_base: u32,
        gdt_limit: u16,
        entry: u32,
    ) {
        for (at, bytes) in writes {
            self.board.mem.write_bytes(*at, bytes);
        }
        let gdt = DescTable {
            base: gdt_base,
            limit: gdt_limit,
        };
        self.cpu.s.regs = [0; 8];
        self.cpu
            .enter_flat32(gdt, bzimage::BOOT_CS, bzimage::BOOT_DS, entry);
        self.interp.flush(&mut self.board);
    }
}
