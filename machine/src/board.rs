//! The PC board as the CPU sees it: RAM with the firmware ROM shadowed below 1 MiB and
//! aliased below 4 GiB, the ISA/PCI devices behind their I/O ports, the interrupt lines
//! between them and the 8259 pair, and the virtual-time events of their timers.

use std::io::Write;

use ox86_core::{Bus, PhysMemory};
use ox86_devices::acpi_pm::{self, AcpiPm, PmEvent};
use ox86_devices::dma::Dma;
use ox86_devices::floppy::{self, Floppy};
use ox86_devices::fw_cfg::{self, FwCfg};
use ox86_devices::ide::{self, Ide};
use ox86_devices::pci::{self, Pci, PciEvent};
use ox86_devices::pit::{ns_at, ticks_at};
use ox86_devices::uart::COM_PORTS;
use ox86_devices::{vga, Cmos, PicPair, Pit, Uart, Vga, I8042};

use crate::shadow::{self, Shadow};

/// QEMU's isa-debug-exit default I/O base.
pub const DEFAULT_EXIT_PORT: u16 = 0x501;
/// Bochs/QEMU debug console.
pub const DEBUG_CONSOLE_PORT: u16 = 0xe9;
pub const POST_PORT: u16 = 0x80;

/// What a debug console port reads (QEMU's isa-debugcon readback, which SeaBIOS checks
/// before it writes to 0x402).
const DEBUGCON_READBACK: u8 = 0xe9;

/// Something the guest asked of the machine as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Request {
    /// CPU reset (keyboard controller 0xFE, port 0x92 bit 0, 0xCF9).
    Reset,
    /// ACPI S5.
    PowerOff,
}

/// The devices of the PC, each a plain struct driven through its ports.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Devices {
    pub pic: PicPair,
    pub pit: Pit,
    pub cmos: Cmos,
    pub kbc: I8042,
    pub uarts: [Uart; 4],
    pub pci: Pci,
    pub pm: AcpiPm,
    /// QEMU's firmware configuration device; its contents survive a reset.
    pub fw_cfg: FwCfg,
    /// The PIIX3 IDE controller and its drives (their images survive a reset).
    pub ide: Ide,
    pub vga: Vga,
    /// The 8237A pair and the page registers (always there, as on a PC).
    pub dma: Dma,
    /// The floppy controller and its drives (decoded only with a drive attached).
    pub fdc: Floppy,
}

impl Devices {
    pub fn new(ram_size: u64, rtc_start_secs: u64) -> Self {
        let mut pci = Pci::new();
        pci.functions.push(vga::pci_function());
        Devices {
            pic: PicPair::new(),
            pit: Pit::new(),
            cmos: Cmos::new(rtc_start_secs, ram_size),
            kbc: I8042::new(),
            uarts: Default::default(),
            pci,
            pm: AcpiPm::new(),
            fw_cfg: FwCfg::new(),
            ide: Ide::new(),
            vga: Vga::new(),
            dma: Dma::new(),
            fdc: Floppy::new(),
        }
    }
}

pub struct Board {
    pub mem: PhysMemory,
    rom: Vec<u8>,
    /// Shadow RAM under the BIOS area, when there is firmware.
    shadow: Option<Shadow>,
    pub dev: Devices,
    /// Virtual time (ns) of the access being made, set by the CPU before port I/O and by
    /// the run loop between slices.
    now: u64,
    /// Where the 0xE9 console goes.
    console: Output,
    /// Where COM1 output goes.
    serial: Output,
    exit_port: Option<u16>,
    post_ports: Vec<u16>,
    /// Ports that write to the debug console (0xE9, and QEMU's -debugcon ports).
    pub debug_ports: Vec<u16>,
    /// Value written to the exit port, once it has been.
    pub exit_value: Option<u32>,
    /// Last POST code.
    pub post: Option<u8>,
    pub request: Option<Request>,
    /// When OUT0 of the PIT next rises (the IRQ0 edge), in virtual ns.
    pit_rise: Option<u64>,
    /// The PIC's INTR output, recomputed whenever a line or the PIC changes (the CPU asks
    /// after every block).
    intr: bool,
    /// The CPU should come back to the run loop: a timer was reprogrammed, or a request
    /// or exit is waiting.
    attention: bool,
    /// Return to the run loop right after an interrupt is acknowledged (a debugger must
    /// see the handler's first instruction).
    pub(crate) stop_after_interrupt: bool,
}

impl Board {
    pub fn new(
        mem: PhysMemory,
        rom: Vec<u8>,
        dev: Devices,
        console: Box<dyn Write + Send>,
        serial: Box<dyn Write + Send>,
        exit_port: Option<u16>,
        post_ports: Vec<u16>,
    ) -> Self {
        let mut b = Board {
            mem,
            rom,
            shadow: None,
            dev,
            now: 0,
            pit_rise: None,
            intr: false,
            console: Output::new(console),
            serial: Output::new(serial),
            exit_port,
            post_ports,
            debug_ports: vec![DEBUG_CONSOLE_PORT],
            exit_value: None,
            post: None,
            request: None,
            attention: false,
            stop_after_interrupt: false,
        };
        b.mem.set_mmio(vga::LEGACY_BASE, vga::LEGACY_SIZE, true);
        b.shadow_rom();
        b
    }

    /// Show the top of the ROM just below 1 MiB, over shadow RAM that the PAM registers
    /// switch in.
    fn shadow_rom(&mut self) {
        if !self.rom.is_empty() {
            self.shadow = Some(Shadow::new(&self.rom, &mut self.mem));
        }
    }

    /// Apply the host bridge's PAM registers to the shadow RAM.
    fn update_pam(&mut self) {
        if let Some(s) = &mut self.shadow {
            s.set(&mut self.mem, shadow::modes_from_pam(&self.dev.pci.pam()));
        }
    }

    /// The firmware image (empty for a directly booted kernel).
    pub fn rom(&self) -> &[u8] {
        &self.rom
    }

    /// The exit device's port, if there is one.
    pub fn exit_port(&self) -> Option<u16> {
        self.exit_port
    }

    /// Ports whose writes are POST codes.
    pub fn post_ports(&self) -> &[u16] {
        &self.post_ports
    }

    pub fn flush_output(&mut self) {
        let _ = self.console.w.flush();
        let _ = self.serial.w.flush();
    }

    /// The board's part of a debugger checkpoint.
    pub(crate) fn save_state(&self) -> BoardState {
        BoardState {
            dev: self.dev.clone(),
            now: self.now,
            exit_value: self.exit_value,
            post: self.post,
            request: self.request,
            pit_rise: self.pit_rise,
            intr: self.intr,
            attention: self.attention,
            console_pos: self.console.pos,
            serial_pos: self.serial.pos,
            shadow: self.shadow.clone(),
        }
    }

    pub(crate) fn restore_state(&mut self, s: &BoardState) {
        self.dev = s.dev.clone();
        self.now = s.now;
        self.exit_value = s.exit_value;
        self.post = s.post;
        self.request = s.request;
        self.pit_rise = s.pit_rise;
        self.intr = s.intr;
        self.attention = s.attention;
        self.console.pos = s.console_pos;
        self.serial.pos = s.serial_pos;
        self.shadow = s.shadow.clone();
    }

    /// Output from here on is new even if earlier output was replayed past (the guest's
    /// future was changed by a debugger).
    pub(crate) fn forget_output_history(&mut self) {
        self.console.high = self.console.pos;
        self.serial.high = self.serial.pos;
    }

    /// Bring the devices' view of time to `now` and fire the timer events that are due.
    pub fn advance(&mut self, now: u64) {
        self.now = now;
        // A rising OUT0 is an edge on IRQ0: pulse the line so the PIC latches it (periods
        // that passed unseen, say while the guest had it masked, coalesce as on a PC).
        if self.pit_rise.is_some_and(|t| t <= now) {
            self.dev.pic.set_irq(0, false);
            self.dev.pic.set_irq(0, true);
        }
        self.schedule_pit();
        self.update_irqs();
    }

    fn schedule_pit(&mut self) {
        self.pit_rise = self.dev.pit.channels[0]
            .next_rise(ticks_at(self.now))
            .map(ns_at);
    }

    /// The next virtual time at which a device raises an interrupt by itself.
    pub fn next_event(&self) -> Option<u64> {
        [
            self.pit_rise,
            self.dev.cmos.next_event(self.now),
            self.dev.pm.next_sci_ns(self.now),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Host input for COM1; false when the guest's receive FIFO is full (try again later).
    pub fn serial_input(&mut self, b: u8) -> bool {
        let u = &mut self.dev.uarts[0];
        if !u.can_receive() {
            return false;
        }
        u.receive(b);
        self.update_irqs();
        true
    }

    /// A byte for the keyboard controller's output buffer (a key, already in the form
    /// the controller delivers).
    pub fn key_input(&mut self, b: u8) {
        self.dev.kbc.key_bytes(&[b]);
        self.update_irqs();
    }

    /// Make the CPU come back to the run loop (a run saved after the guest wrote the exit
    /// port resumes as ended, with the same value).
    pub(crate) fn request_attention(&mut self) {
        self.attention = true;
    }

    pub fn clear_attention(&mut self) {
        self.attention = false;
    }

    /// Drive the interrupt lines from the devices' levels (after any access).
    pub(crate) fn update_irqs(&mut self) {
        let d = &mut self.dev;
        let (kbd, aux) = d.kbc.irqs();
        d.pic.set_irq(1, kbd);
        d.pic.set_irq(12, aux);
        let com = |i: usize| d.uarts[i].irq();
        let (irq4, irq3) = (com(0) || com(2), com(1) || com(3));
        d.pic.set_irq(4, irq4);
        d.pic.set_irq(3, irq3);
        let rtc = d.cmos.irq(self.now);
        d.pic.set_irq(8, rtc);
        let sci = d.pm.sci(self.now);
        d.pic.set_irq(acpi_pm::SCI_IRQ, sci);
        for (i, &(_, _, irq)) in ide::CHANNELS.iter().enumerate() {
            let level = d.ide.irq(i);
            d.pic.set_irq(irq, level);
        }
        let fd = d.fdc.irq();
        d.pic.set_irq(floppy::IRQ, fd);
        self.intr = d.pic.interrupt_pending();
    }

    /// The IDE bus-master block's offset for `port`, where BAR4 maps it.
    fn bmide_offset(&self, port: u16) -> Option<u16> {
        let base = self.dev.pci.bmide_base()?;
        let off = port.wrapping_sub(base);
        (off < ide::BM_LEN).then_some(off)
    }

    /// Is `port` an IDE port that is decoded (only when a drive is attached)?
    fn ide_port(&self, port: u16) -> bool {
        Ide::decode(port).is_some() && self.dev.ide.any_drive()
    }

    /// Is `port` a floppy controller port that is decoded (only with a drive)?
    fn fdc_port(&self, port: u16) -> bool {
        Floppy::is_port(port) && self.dev.fdc.any_drive()
    }

    /// Write every disk's data out (exit).
    pub fn flush_disks(&mut self) {
        self.dev.ide.flush();
        self.dev.fdc.flush();
    }

    /// The ACPI PM register block's offset for `port`, where the PM function maps it.
    fn pm_offset(&self, port: u16) -> Option<u16> {
        let base = self.dev.pci.pm_io_base()?;
        let off = port.wrapping_sub(base);
        (off < acpi_pm::PM_LEN).then_some(off)
    }

    fn uart_at(port: u16) -> Option<(usize, u16)> {
        COM_PORTS
            .iter()
            .position(|&(base, _)| (base..base + 8).contains(&port))
            .map(|i| (i, port - COM_PORTS[i].0))
    }

    fn read8(&mut self, port: u16) -> u8 {
        let now = self.now;
        let d = &mut self.dev;
        match port {
            0x20 | 0x21 | 0xa0 | 0xa1 | 0x4d0 | 0x4d1 => d.pic.read(port),
            0x40..=0x42 => d.pit.read_counter((port - 0x40) as usize, ticks_at(now)),
            0x61 => d.pit.read_port61(ticks_at(now)),
            0x60 => {
                // The controller drops its IRQ when the byte is read and raises it again
                // for the next one: a fresh edge for the PIC per byte.
                d.pic.set_irq(1, false);
                d.pic.set_irq(12, false);
                d.kbc.read(port)
            }
            0x64 | 0x92 => d.kbc.read(port),
            0x70 | 0x71 => d.cmos.read(port, now),
            0x00..=0x0f | 0x80..=0x8f | 0xc0..=0xdf => d.dma.read(port),
            _ if self.debug_ports.contains(&port) => DEBUGCON_READBACK,
            _ => match Self::uart_at(port) {
                Some((i, reg)) => d.uarts[i].read(reg),
                None => 0xff,
            },
        }
    }

    fn write8(&mut self, port: u16, v: u8) {
        let now = self.now;
        let d = &mut self.dev;
        match port {
            0x20 | 0x21 | 0xa0 | 0xa1 | 0x4d0 | 0x4d1 => d.pic.write(port, v),
            0x40..=0x43 => {
                let t = ticks_at(now);
                if port == 0x43 {
                    d.pit.write_control(v, t);
                } else {
                    d.pit.write_counter((port - 0x40) as usize, v, t);
                }
                let out0 = d.pit.channels[0].out(t);
                d.pic.set_irq(0, out0);
                self.schedule_pit();
                self.attention = true;
            }
            0x61 => d.pit.write_port61(v, ticks_at(now)),
            0x60 | 0x64 | 0x92 => {
                let lines = d.kbc.write(port, v);
                self.mem.set_a20(lines.a20);
                if lines.reset {
                    self.request(Request::Reset);
                }
            }
            0x70 | 0x71 => {
                d.cmos.write(port, v, now);
                self.attention = true;
            }
            // Port 0x80 is also the POST-code port (`io_write` notes the code first).
            0x00..=0x0f | 0x80..=0x8f | 0xc0..=0xdf => {
                d.dma.write(port, v);
                // An unmasked channel 2 lets a waiting floppy transfer run.
                d.fdc.dma_changed(&mut d.dma, &mut self.mem);
            }
            _ if self.debug_ports.contains(&port) => {
                self.console.emit(&[v]);
                if v == b'\n' {
                    let _ = self.console.w.flush();
                }
            }
            _ => {
                if let Some((i, reg)) = Self::uart_at(port) {
                    let u = &mut d.uarts[i];
                    u.write(reg, v);
                    let out = u.take_output();
                    if i == 0 && !out.is_empty() {
                        self.serial.emit(&out);
                    }
                }
            }
        }
    }

    fn request(&mut self, r: Request) {
        self.request.get_or_insert(r);
        self.attention = true;
    }

    /// The machine was reset: devices back to power-on state, RAM kept.
    pub fn reset_devices(&mut self, ram_size: u64) {
        let rtc = self.dev.cmos.clone();
        let mut fw_cfg = std::mem::take(&mut self.dev.fw_cfg);
        fw_cfg.reset();
        let mut ide = std::mem::take(&mut self.dev.ide);
        ide.reset();
        let mut fdc = std::mem::take(&mut self.dev.fdc);
        fdc.hard_reset();
        let with_ide = ide.any_drive();
        self.dev = Devices::new(ram_size, 0);
        // The RTC keeps time across a reset; only its interrupt state restarts.
        self.dev.cmos = rtc;
        self.dev.fw_cfg = fw_cfg;
        self.dev.ide = ide;
        self.dev.fdc = fdc;
        if with_ide {
            self.dev.pci.add_ide();
        }
        self.update_pam();
        self.mem.set_a20(true);
        self.request = None;
        self.attention = false;
        self.pit_rise = None;
        self.intr = false;
    }
}

/// An output stream that a replay does not repeat: bytes are counted, and only those
/// beyond the furthest count reached so far reach the host.
struct Output {
    w: Box<dyn Write + Send>,
    pos: u64,
    high: u64,
}

impl Output {
    fn new(w: Box<dyn Write + Send>) -> Self {
        Output { w, pos: 0, high: 0 }
    }

    fn emit(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len() as u64;
        if end > self.high {
            let skip = self.high.saturating_sub(self.pos) as usize;
            let _ = self.w.write_all(&bytes[skip..]);
            self.high = end;
        }
        self.pos = end;
    }
}

/// The board's part of a checkpoint or snapshot: device state and the output positions.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct BoardState {
    pub(crate) dev: Devices,
    now: u64,
    exit_value: Option<u32>,
    post: Option<u8>,
    request: Option<Request>,
    pit_rise: Option<u64>,
    intr: bool,
    attention: bool,
    console_pos: u64,
    serial_pos: u64,
    /// Shadow RAM's hidden contents and PAM modes (its pages are in the RAM image).
    shadow: Option<Shadow>,
}

/// Ports whose accesses change no interrupt line, so that `update_irqs` can be spared:
/// the DMA page registers (0x80 is also the POST and I/O-delay port Linux writes between
/// port accesses) and, for reads, port 0x61 and the PIT counters (a timer calibration
/// polls them a million times).
fn quiet_port(port: u16, size: u8) -> bool {
    let last = port.wrapping_add(size as u16 - 1);
    (0x80..=0x8f).contains(&port) && (0x80..=0x8f).contains(&last)
}

/// `quiet_port` for reads.
fn quiet_read(port: u16, size: u8) -> bool {
    quiet_port(port, size) || (size == 1 && matches!(port, 0x40..=0x42 | 0x61))
}

impl Bus for Board {
    fn mem(&mut self) -> &mut PhysMemory {
        &mut self.mem
    }

    fn mmio_read(&mut self, pa: u64, size: u8) -> u32 {
        if let Some(v) = self.vga_mmio_read(pa, size) {
            return v;
        }
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

    fn mmio_write(&mut self, pa: u64, size: u8, value: u32) {
        if let Some(s) = &mut self.shadow {
            if s.write(pa, size, value) {
                return;
            }
        }
        self.vga_mmio_write(pa, size, value);
    }

    fn set_clock(&mut self, now: u64) {
        self.now = now;
    }

    fn io_read(&mut self, port: u16, size: u8) -> u32 {
        // PCI configuration and the PM block see whole accesses; ISA devices bytes.
        if pci::PORTS.contains(&port) {
            return self.dev.pci.read(port, size);
        }
        if fw_cfg::PORTS.contains(&port) {
            return self.dev.fw_cfg.read(port, size);
        }
        if self.ide_port(port) {
            let v = self.dev.ide.read(port, size);
            self.update_irqs();
            return v;
        }
        if let Some(off) = self.bmide_offset(port) {
            return self.dev.ide.bm_read(off, size);
        }
        if self.fdc_port(port) {
            let v = self.dev.fdc.read(port);
            self.update_irqs();
            return v as u32;
        }
        if let Some(off) = self.pm_offset(port) {
            return self.dev.pm.read(off, size, self.now);
        }
        if Vga::is_port(port) {
            return self.dev.vga.io_read(port, size, self.now);
        }
        let mut v = 0;
        for k in 0..size as u16 {
            v |= (self.read8(port.wrapping_add(k)) as u32) << (8 * k);
        }
        if !quiet_read(port, size) {
            self.update_irqs();
        }
        v
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        if Some(port) == self.exit_port {
            self.exit_value = Some(value & (u32::MAX >> (32 - 8 * size as u32)));
            self.attention = true;
        }
        if self.post_ports.contains(&port) {
            self.post = Some(value as u8);
        }
        if pci::PORTS.contains(&port) {
            if self.dev.pci.write(port, size, value) == PciEvent::Reset {
                self.request(Request::Reset);
            }
            if port >= pci::CONFIG_DATA {
                self.update_pam();
            }
        } else if fw_cfg::PORTS.contains(&port) {
            self.dev.fw_cfg.write(port, size, value, &mut self.mem);
        } else if self.ide_port(port) {
            self.dev.ide.write(port, size, value, &mut self.mem);
        } else if let Some(off) = self.bmide_offset(port) {
            self.dev.ide.bm_write(off, size, value, &mut self.mem);
        } else if self.fdc_port(port) {
            let d = &mut self.dev;
            d.fdc.write(port, value as u8, &mut d.dma, &mut self.mem);
        } else if let Some(off) = self.pm_offset(port) {
            match self.dev.pm.write(off, size, value, self.now) {
                PmEvent::PowerOff => self.request(Request::PowerOff),
                PmEvent::Sleep(_) | PmEvent::None => {}
            }
            self.attention = true; // the SCI timer may have been enabled
        } else if Vga::is_port(port) {
            self.dev.vga.io_write(port, size, value);
        } else {
            for k in 0..size as u16 {
                self.write8(port.wrapping_add(k), (value >> (8 * k)) as u8);
            }
            if quiet_port(port, size) {
                return;
            }
        }
        self.update_irqs();
    }

    fn interrupt_pending(&mut self) -> bool {
        self.intr
    }

    fn acknowledge_interrupt(&mut self) -> Option<u8> {
        let v = self.dev.pic.acknowledge();
        // A level-triggered source still asserting re-requests at once.
        self.update_irqs();
        self.attention |= self.stop_after_interrupt;
        Some(v)
    }

    fn stop_requested(&self) -> bool {
        self.attention
    }
}
