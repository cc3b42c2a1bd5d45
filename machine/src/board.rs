//! The PC board as the CPU sees it: RAM with the firmware ROM shadowed below 1 MiB and
//! aliased below 4 GiB, the ISA/PCI devices behind their I/O ports, the interrupt lines
//! between them and the 8259 pair, and the virtual-time events of their timers.

use std::io::Write;

use ox86_core::{Bus, PhysMemory};
use ox86_devices::acpi_pm::{self, AcpiPm, PmEvent};
use ox86_devices::pci::{self, Pci, PciEvent};
use ox86_devices::pit::{ns_at, ticks_at};
use ox86_devices::uart::COM_PORTS;
use ox86_devices::{vga, Cmos, PicPair, Pit, Uart, Vga, I8042};

/// QEMU's isa-debug-exit default I/O base.
pub const DEFAULT_EXIT_PORT: u16 = 0x501;
/// Bochs/QEMU debug console.
pub const DEBUG_CONSOLE_PORT: u16 = 0xe9;
pub const POST_PORT: u16 = 0x80;

/// The most of the ROM that is visible below 1 MiB (the "isa-bios" window).
const LOW_ROM_WINDOW: usize = 128 << 10;

/// Something the guest asked of the machine as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// CPU reset (keyboard controller 0xFE, port 0x92 bit 0, 0xCF9).
    Reset,
    /// ACPI S5.
    PowerOff,
}

/// The devices of the PC, each a plain struct driven through its ports.
pub struct Devices {
    pub pic: PicPair,
    pub pit: Pit,
    pub cmos: Cmos,
    pub kbc: I8042,
    pub uarts: [Uart; 4],
    pub pci: Pci,
    pub pm: AcpiPm,
    pub vga: Vga,
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
            vga: Vga::new(),
        }
    }
}

pub struct Board {
    pub mem: PhysMemory,
    rom: Vec<u8>,
    pub dev: Devices,
    /// Virtual time (ns) of the access being made, set by the CPU before port I/O and by
    /// the run loop between slices.
    now: u64,
    /// Where the 0xE9 console goes.
    console: Box<dyn Write + Send>,
    /// Where COM1 output goes.
    serial: Box<dyn Write + Send>,
    exit_port: Option<u16>,
    post_ports: Vec<u16>,
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
            dev,
            now: 0,
            pit_rise: None,
            intr: false,
            console,
            serial,
            exit_port,
            post_ports,
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

    /// Copy the top of the ROM into RAM just below 1 MiB and make it read-only.
    pub(crate) fn shadow_rom(&mut self) {
        if self.rom.is_empty() {
            return;
        }
        let n = self.rom.len().min(LOW_ROM_WINDOW);
        let at = 0x10_0000 - n as u64;
        let tail = &self.rom[self.rom.len() - n..];
        self.mem.set_readonly(at, n as u64, false);
        self.mem.write_bytes(at, tail);
        self.mem.set_readonly(at, n as u64, true);
    }

    pub fn flush_output(&mut self) {
        let _ = self.console.flush();
        let _ = self.serial.flush();
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

    pub fn clear_attention(&mut self) {
        self.attention = false;
    }

    /// Drive the interrupt lines from the devices' levels (after any access).
    fn update_irqs(&mut self) {
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
        self.intr = d.pic.interrupt_pending();
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
            DEBUG_CONSOLE_PORT => DEBUG_CONSOLE_PORT as u8,
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
            DEBUG_CONSOLE_PORT => {
                let _ = self.console.write_all(&[v]);
                if v == b'\n' {
                    let _ = self.console.flush();
                }
            }
            _ => {
                if let Some((i, reg)) = Self::uart_at(port) {
                    let u = &mut d.uarts[i];
                    u.write(reg, v);
                    let out = u.take_output();
                    if i == 0 && !out.is_empty() {
                        let _ = self.serial.write_all(&out);
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
        self.dev = Devices::new(ram_size, 0);
        // The RTC keeps time across a reset; only its interrupt state restarts.
        self.dev.cmos = rtc;
        self.mem.set_a20(true);
        self.request = None;
        self.attention = false;
        self.pit_rise = None;
        self.intr = false;
    }
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
        self.update_irqs();
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
