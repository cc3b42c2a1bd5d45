//! The PC board as the CPU sees it: RAM with the firmware ROM shadowed below 1 MiB and
//! aliased below 4 GiB, plus the small ports guests use before real devices exist: the
//! 0xE9 debug console, the isa-debug-exit port and POST codes.

use std::io::Write;

use ox86_core::{Bus, PhysMemory};

/// QEMU's isa-debug-exit default I/O base.
pub const DEFAULT_EXIT_PORT: u16 = 0x501;
/// Bochs/QEMU debug console.
pub const DEBUG_CONSOLE_PORT: u16 = 0xe9;
pub const POST_PORT: u16 = 0x80;

/// The most of the ROM that is visible below 1 MiB (the "isa-bios" window).
const LOW_ROM_WINDOW: usize = 128 << 10;

pub struct Board {
    pub mem: PhysMemory,
    rom: Vec<u8>,
    console: Box<dyn Write + Send>,
    exit_port: Option<u16>,
    post_ports: Vec<u16>,
    /// Value written to the exit port, once it has been.
    pub exit_value: Option<u32>,
    /// Last POST code.
    pub post: Option<u8>,
}

impl Board {
    pub fn new(
        mem: PhysMemory,
        rom: Vec<u8>,
        console: Box<dyn Write + Send>,
        exit_port: Option<u16>,
        post_ports: Vec<u16>,
    ) -> Self {
        let mut b = Board {
            mem,
            rom,
            console,
            exit_port,
            post_ports,
            exit_value: None,
            post: None,
        };
        b.shadow_rom();
        b
    }

    /// Copy the top of the ROM into RAM just below 1 MiB and make it read-only.
    fn shadow_rom(&mut self) {
        let n = self.rom.len().min(LOW_ROM_WINDOW);
        let at = 0x10_0000 - n as u64;
        let tail = &self.rom[self.rom.len() - n..];
        self.mem.write_bytes(at, tail);
        self.mem.set_readonly(at, n as u64, true);
    }

    pub fn flush_console(&mut self) {
        let _ = self.console.flush();
    }
}

impl Bus for Board {
    fn mem(&mut self) -> &mut PhysMemory {
        &mut self.mem
    }

    fn mmio_read(&mut self, pa: u64, size: u8) -> u32 {
        let rom_base = (1u64 << 32) - self.rom.len() as u64;
        let mut v = 0;
        for k in 0..size as u64 {
            let a = pa + k;
            let byte = if a >= rom_base && a < 1 << 32 {
                self.rom[(a - rom_base) as usize]
            } else {
                0xff
            };
            v |= (byte as u32) << (8 * k);
        }
        v
    }

    fn mmio_write(&mut self, _: u64, _: u8, _: u32) {}

    fn io_read(&mut self, port: u16, size: u8) -> u32 {
        match port {
            // Reading the debug console port tells a guest it is there (Bochs convention).
            DEBUG_CONSOLE_PORT => DEBUG_CONSOLE_PORT as u32,
            _ => u32::MAX >> (32 - 8 * size as u32),
        }
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        if port == DEBUG_CONSOLE_PORT {
            let _ = self.console.write_all(&[value as u8]);
            if value as u8 == b'\n' {
                let _ = self.console.flush();
            }
        }
        if Some(port) == self.exit_port {
            self.exit_value = Some(value & (u32::MAX >> (32 - 8 * size as u32)));
        }
        if self.post_ports.contains(&port) {
            self.post = Some(value as u8);
        }
    }

    fn stop_requested(&self) -> bool {
        self.exit_value.is_some()
    }
}

/// What to build.
pub struct MachineConfig {
    /// Guest RAM in bytes.
    pub ram_size: u64,
    /// Firmware image, started at the reset vector.
    pub rom: Vec<u8>,
    pub model: ox86_core::CpuModel,
    /// Where 0xE9 output goes.
    pub console: Box<dyn Write + Send>,
    pub exit_port: Option<u16>,
    pub post_ports: Vec<u16>,
    /// On a triple fault: reset the machine (true) or stop (QEMU's -no-reboot).
    pub reboot_on_triple_fault: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error("firmware image is empty")]
    EmptyRom,
    #[error("firmware image is {0} bytes: it must be a multiple of 64 KiB, at most 16 MiB")]
    BadRomSize(usize),
    #[error("firmware image of {rom} bytes does not fit below 1 MiB with {ram} bytes of RAM")]
    RomTooBig { rom: usize, ram: u64 },
    #[error(transparent)]
    Mem(#[from] ox86_core::MemError),
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

/// The PC: CPU, board and the engine that runs guest code.
pub struct Machine {
    pub cpu: ox86_core::Cpu,
    pub board: Board,
    pub interp: ox86_core::interp::Interpreter<Board>,
    pub(crate) reboot_on_triple_fault: bool,
}

impl Machine {
    pub fn new(cfg: MachineConfig) -> Result<Self, MachineError> {
        check_rom(&cfg.rom)?;
        let mem = PhysMemory::new(cfg.ram_size)?;
        let board = Board::new(mem, cfg.rom, cfg.console, cfg.exit_port, cfg.post_ports);
        Ok(Machine {
            cpu: ox86_core::Cpu::new(cfg.model),
            board,
            interp: ox86_core::interp::Interpreter::new(),
            reboot_on_triple_fault: cfg.reboot_on_triple_fault,
        })
    }
}
