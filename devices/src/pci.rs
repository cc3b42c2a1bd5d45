//! PCI configuration mechanism #1 (CONFIG_ADDRESS at 0xCF8, CONFIG_DATA at 0xCFC-0xCFF)
//! with the functions of an i440FX/PIIX board as QEMU's `pc` machine has them:
//!
//! | bdf     | device                       | id        | class  |
//! |---------|------------------------------|-----------|--------|
//! | 00:00.0 | i440FX host bridge (PMC)     | 8086:1237 | 0600   |
//! | 00:01.0 | PIIX3 PCI-to-ISA bridge      | 8086:7000 | 0601   |
//! | 00:01.1 | PIIX3 IDE (with a drive)     | 8086:7010 | 0101   |
//! | 00:01.3 | PIIX4 power management (ACPI)| 8086:7113 | 0680   |
//!
//! The board routes ports 0xCF8-0xCFF here. Only a dword access at 0xCF8 reaches
//! CONFIG_ADDRESS (as on the i440FX; Linux's type-1 probe writes a byte to 0xCFB and
//! expects it to go elsewhere); a byte at 0xCF9 is the PIIX3 reset control register,
//! whose reset request `write` returns. Data accesses may be of any size at any offset
//! in the dword. Reads of an absent function, of another bus, or with the enable bit
//! (31) clear return all ones.
//!
//! No BIOS runs before a directly booted kernel, so `new` returns the functions as
//! firmware leaves them: the PM function's I/O block is at `acpi_pm::PM_BASE` and
//! enabled (PMBA = 0x601, PMREGMISC bit 0 set), which Linux's PIIX4 quirk reads and
//! claims. SMBus (SMBBA at 0x90) is left unprogrammed: there is no SMBus controller.
//!
//! Each function is a 256-byte configuration space plus a write mask: a bit set in the
//! mask is writable by the guest, everything else is read only. Only the IDE function
//! has a BAR (BAR4, its bus-master block). The PAM registers steer the board's shadow
//! RAM (`pam`); the other chipset registers (DRAM rows, PIIX timers...) are storage only.
//! Every function carries QEMU's subsystem IDs (1af4:1100), by which SeaBIOS knows the
//! board.

use serde::{Deserialize, Serialize};

use crate::acpi_pm::PM_BASE;

pub const CONFIG_ADDRESS: u16 = 0xcf8;
/// PIIX3 reset control register (RCR), a byte port inside CONFIG_ADDRESS.
pub const RESET_CONTROL: u16 = 0xcf9;
pub const CONFIG_DATA: u16 = 0xcfc;
/// The ports the board routes to `Pci`: 0xCF8..=0xCFF.
pub const PORTS: std::ops::RangeInclusive<u16> = 0xcf8..=0xcff;

/// Device/function numbers (bits 7-3 device, 2-0 function) on bus 0.
pub const HOST_BRIDGE: u8 = 0x00; // 00:00.0
pub const ISA_BRIDGE: u8 = 0x08; // 00:01.0
pub const PM_FUNCTION: u8 = 0x0b; // 00:01.3
pub const IDE_FUNCTION: u8 = 0x09; // 00:01.1
/// The IDE function's BMIDE base address register (BAR4).
const BMIBA: usize = 0x20;

// PM function registers (PIIX4 function 3).
const PMBA: usize = 0x40;
const PMREGMISC: usize = 0x80;
const SMBBA: usize = 0x90;
// PIIX3 PIRQ route control registers, PIRQA-D.
const PIRQRC: usize = 0x60;

// RCR bits.
const RCR_SYS_RST: u8 = 1 << 1;
const RCR_RST_CPU: u8 = 1 << 2;
const RCR_FULL_RST: u8 = 1 << 3;

/// What a write asked the board to do.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PciEvent {
    None,
    /// RST_CPU was set in the reset control register (0xCF9): reset the machine
    /// (hard if SYS_RST was set too; ox86 resets the same way for both).
    Reset,
}

/// One function's configuration space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    /// Device (bits 7-3) and function (bits 2-0) on bus 0.
    pub devfn: u8,
    /// The 256-byte configuration space.
    pub config: Vec<u8>,
    /// Per byte: the bits the guest may write.
    pub wmask: Vec<u8>,
}

impl Function {
    /// A type-0 header with the given identity. Writable: the command register's
    /// I/O, memory, master, parity and SERR enables; cache line size, latency timer and
    /// interrupt line (PCI scratch registers the OS may program).
    fn new(devfn: u8, vendor: u16, device: u16, rev: u8, class: u32, header: u8) -> Self {
        let mut f = Function {
            devfn,
            config: vec![0; 256],
            wmask: vec![0; 256],
        };
        f.set16(0x00, vendor);
        f.set16(0x02, device);
        f.config[0x08] = rev;
        f.config[0x09] = class as u8; // programming interface
        f.config[0x0a] = (class >> 8) as u8; // subclass
        f.config[0x0b] = (class >> 16) as u8; // base class
        f.config[0x0e] = header;
        // Subsystem: QEMU's defaults (Red Hat, "QEMU virtual machine"), by which SeaBIOS
        // knows it runs on QEMU's board and looks for fw_cfg.
        f.set16(0x2c, 0x1af4);
        f.set16(0x2e, 0x1100);
        // Status: medium DEVSEL timing, fast back-to-back capable (what the i440FX
        // and PIIX report); no capabilities list, no error bits ever set.
        f.set16(0x06, 0x0280);
        f.writable16(0x04, 0x0147);
        f.writable(0x0c..=0x0d, 0xff);
        f.writable(0x3c..=0x3c, 0xff);
        f
    }

    fn set16(&mut self, at: usize, v: u16) {
        self.config[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn writable(&mut self, range: std::ops::RangeInclusive<usize>, mask: u8) {
        for i in range {
            self.wmask[i] = mask;
        }
    }

    fn writable16(&mut self, at: usize, mask: u16) {
        self.wmask[at..at + 2].copy_from_slice(&mask.to_le_bytes());
    }

    fn get16(&self, at: usize) -> u16 {
        u16::from_le_bytes([self.config[at], self.config[at + 1]])
    }

    fn write_byte(&mut self, at: usize, v: u8) {
        let m = self.wmask[at];
        self.config[at] = (self.config[at] & !m) | (v & m);
    }
}

/// The i440FX host bridge.
fn host_bridge() -> Function {
    let mut f = Function::new(HOST_BRIDGE, 0x8086, 0x1237, 0x02, 0x06_00_00, 0x00);
    f.set16(0x04, 0x0006); // memory and bus master on, as after reset
                           // PMC configuration, DRAM control/rows, PAM 0-6, SMRAM, error registers: storage.
    f.writable(0x50..=0x72, 0xff);
    f.writable(0x90..=0x93, 0xff);
    f.config[0x53] = 0x80; // DBC
    f.config[0x57] = 0x01; // DRAMC
    f.config[0x58] = 0x10; // DRAMT
    f.config[0x60..=0x67].fill(0x01); // DRB0-7
    f.config[0x70] = 0x20; // MTT
    f.config[0x71] = 0x10; // CLT
    f.config[0x72] = 0x02; // SMRAM: C_BASE_SEG = 010 (A/B segment)
    f
}

/// The PIIX3 ISA bridge, function 0 of a multifunction device.
fn isa_bridge() -> Function {
    let mut f = Function::new(ISA_BRIDGE, 0x8086, 0x7000, 0x00, 0x06_01_00, 0x80);
    f.set16(0x04, 0x0007);
    f.config[0x4c] = 0x4d; // IORT
    f.set16(0x4e, 0x0003); // XBCS
    f.writable(0x4c..=0x4f, 0xff);
    // PIRQA-D route control: routing disabled (bit 7) until the OS routes them.
    f.config[PIRQRC..PIRQRC + 4].fill(0x80);
    f.writable(PIRQRC..=PIRQRC + 3, 0x8f);
    f.config[0x69] = 0x02; // TOM
    f.writable(0x69..=0x6b, 0xff);
    f.config[0x70] = 0x80; // MBIRQ0
    f.writable(0x70..=0x70, 0xcf);
    f.config[0x76] = 0x0c; // MBDMA0-1
    f.config[0x77] = 0x0c;
    f.writable(0x76..=0x77, 0x8f);
    f.set16(0x78, 0x0002); // PCSC
    f.writable(0x78..=0x79, 0xff);
    f.writable(0x80..=0x80, 0x7f); // APICBASE
                                   // DLC: Linux's i440FX quirk sets Passive Release (bit 1) here.
    f.writable(0x82..=0x82, 0x0f);
    f.config[0xa0] = 0x08; // SMICNTL
    f.config[0xa8] = 0x0f; // FTMR
    f.writable(0xa0..=0xaf, 0xff);
    f
}

/// The PIIX3 IDE function (legacy mode, bus-master capable): BAR4 is the 16-byte BMIDE
/// I/O block; IDETIM (0x40-0x43) has the decode enables set, as firmware leaves them.
fn ide_function() -> Function {
    let mut f = Function::new(IDE_FUNCTION, 0x8086, 0x7010, 0x00, 0x01_01_80, 0x00);
    f.set16(BMIBA, 0x0001);
    f.wmask[BMIBA..BMIBA + 4].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    f.set16(0x40, 0x8000);
    f.set16(0x42, 0x8000);
    f.writable(0x40..=0x44, 0xff);
    f
}

/// The PIIX4 power-management function. Revision 3 (the PIIX4E/M), as QEMU: Linux
/// warns about, and works around slowly, the PM-timer bug of revisions below 3.
fn pm_function() -> Function {
    let mut f = Function::new(PM_FUNCTION, 0x8086, 0x7113, 0x03, 0x06_80_00, 0x00);
    // PMBA: 64-byte I/O block, bit 0 reads 1 (I/O space indicator).
    f.set16(PMBA, PM_BASE | 1);
    f.writable16(PMBA, 0xffc0);
    // CNTA/CNTB, GPI control, device resource/activity registers (Linux's quirk reads
    // DEVRESA-J; all zero: no extra decodes enabled).
    f.writable(0x44..=0x7f, 0xff);
    // DEVACTB bit 25 (APMC_EN) set: QEMU's way of saying "SMM is already set up" when
    // the machine has no SMM, so SeaBIOS does not wait for an SMI handler that never runs.
    f.config[0x5b] = 0x02;
    f.config[PMREGMISC] = 0x01; // PMIOSE: the PM block decodes
    f.writable(PMREGMISC..=PMREGMISC, 0x01);
    // SMBBA: 16-byte I/O block, bit 0 reads 1; unprogrammed (no SMBus controller).
    f.set16(SMBBA, 0x0001);
    f.writable16(SMBBA, 0xfff0);
    f.writable(0xd2..=0xd3, 0xff); // SMBus host/slave configuration
    f
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pci {
    /// CONFIG_ADDRESS: enable (31), bus (23-16), device (15-11), function (10-8),
    /// register (7-2).
    pub address: u32,
    /// Reset control register bits kept (SYS_RST, FULL_RST).
    pub rcr: u8,
    pub functions: Vec<Function>,
}

impl Default for Pci {
    fn default() -> Self {
        Self::new()
    }
}

impl Pci {
    pub fn new() -> Self {
        Pci {
            address: 0,
            rcr: 0,
            functions: vec![host_bridge(), isa_bridge(), pm_function()],
        }
    }

    fn selected(&self) -> Option<usize> {
        let a = self.address;
        if a & 0x8000_0000 == 0 || (a >> 16) & 0xff != 0 {
            return None;
        }
        let devfn = (a >> 8) as u8;
        self.functions.iter().position(|f| f.devfn == devfn)
    }

    /// Read `size` (1, 2 or 4) bytes from `port` (0xCF8..=0xCFF).
    pub fn read(&self, port: u16, size: u8) -> u32 {
        let ones = match size {
            1 => 0xff,
            2 => 0xffff,
            _ => 0xffff_ffff,
        };
        match port {
            CONFIG_ADDRESS if size == 4 => self.address,
            RESET_CONTROL if size == 1 => self.rcr as u32,
            0xcfc..=0xcff => {
                let Some(i) = self.selected() else {
                    return ones;
                };
                let f = &self.functions[i];
                let lane = (port & 3) as usize;
                let reg = (self.address & 0xfc) as usize;
                (0..size as usize).fold(0, |v, k| {
                    // Bytes past 0xCFF are not configuration data.
                    let b = if lane + k < 4 {
                        f.config[reg + lane + k]
                    } else {
                        0xff
                    };
                    v | (b as u32) << (8 * k)
                })
            }
            _ => ones,
        }
    }

    /// Write `size` (1, 2 or 4) bytes to `port` (0xCF8..=0xCFF).
    pub fn write(&mut self, port: u16, size: u8, value: u32) -> PciEvent {
        match port {
            CONFIG_ADDRESS if size == 4 => self.address = value & 0x80ff_fffc,
            RESET_CONTROL if size == 1 => {
                let v = value as u8;
                self.rcr = v & (RCR_SYS_RST | RCR_FULL_RST);
                if v & RCR_RST_CPU != 0 {
                    return PciEvent::Reset;
                }
            }
            0xcfc..=0xcff => {
                if let Some(i) = self.selected() {
                    let lane = (port & 3) as usize;
                    let reg = (self.address & 0xfc) as usize;
                    for k in 0..(size as usize).min(4 - lane) {
                        self.functions[i].write_byte(reg + lane + k, (value >> (8 * k)) as u8);
                    }
                }
            }
            _ => {}
        }
        PciEvent::None
    }

    fn function(&self, devfn: u8) -> &Function {
        self.functions
            .iter()
            .find(|f| f.devfn == devfn)
            .expect("built in new()")
    }

    /// Where the ACPI PM register block decodes, if the OS has left it enabled
    /// (PMREGMISC.PMIOSE): the board routes `base..base + acpi_pm::PM_LEN` to `AcpiPm`.
    /// Starts as `Some(acpi_pm::PM_BASE)`; cheap enough to ask on every access.
    pub fn pm_io_base(&self) -> Option<u16> {
        let f = self.function(PM_FUNCTION);
        (f.config[PMREGMISC] & 1 != 0).then(|| f.get16(PMBA) & 0xffc0)
    }

    /// Add the IDE function (00:01.1); the board does when a drive is attached.
    pub fn add_ide(&mut self) {
        if !self.functions.iter().any(|f| f.devfn == IDE_FUNCTION) {
            self.functions.insert(2, ide_function());
        }
    }

    /// Where the IDE function's BMIDE block decodes: BAR4 when I/O decoding is on.
    pub fn bmide_base(&self) -> Option<u16> {
        let f = self.functions.iter().find(|f| f.devfn == IDE_FUNCTION)?;
        let bar = u32::from_le_bytes(f.config[BMIBA..BMIBA + 4].try_into().ok()?) & !0xf;
        (f.config[0x04] & 1 != 0 && bar != 0 && bar < 0x1_0000).then_some(bar as u16)
    }

    /// The i440FX's PAM0-PAM6 registers (0x59-0x5F), which steer the shadow RAM under
    /// 0xC0000-0xFFFFF.
    pub fn pam(&self) -> [u8; 7] {
        let mut p = [0; 7];
        p.copy_from_slice(&self.function(HOST_BRIDGE).config[0x59..0x60]);
        p
    }

    /// The ISA IRQ that PCI interrupt line PIRQA-D (`pirq` 0-3) is routed to by the
    /// PIIX3, if routing is enabled and the IRQ is one the PIIX3 can route to.
    pub fn pirq_route(&self, pirq: usize) -> Option<u8> {
        let v = self.function(ISA_BRIDGE).config[PIRQRC + pirq];
        let irq = v & 0x0f;
        (v & 0x80 == 0 && matches!(irq, 3..=7 | 9..=12 | 14 | 15)).then_some(irq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration read as Linux's `pci_conf1_read` does it.
    fn cfg_read(p: &mut Pci, devfn: u8, reg: u8, size: u8) -> u32 {
        p.write(
            CONFIG_ADDRESS,
            4,
            0x8000_0000 | (devfn as u32) << 8 | (reg & 0xfc) as u32,
        )
        .ok();
        p.read(CONFIG_DATA + (reg & 3) as u16, size)
    }

    fn cfg_write(p: &mut Pci, devfn: u8, reg: u8, size: u8, v: u32) {
        p.write(
            CONFIG_ADDRESS,
            4,
            0x8000_0000 | (devfn as u32) << 8 | (reg & 0xfc) as u32,
        )
        .ok();
        p.write(CONFIG_DATA + (reg & 3) as u16, size, v).ok();
    }

    impl PciEvent {
        fn ok(self) {
            assert_eq!(self, PciEvent::None);
        }
    }

    #[test]
    fn linux_type1_probe_passes() {
        // pci_check_type1: a byte write to 0xCFB must not disturb CONFIG_ADDRESS, which
        // must then read back what was written.
        let mut p = Pci::new();
        p.write(0xcfb, 1, 0x01).ok();
        let saved = p.read(CONFIG_ADDRESS, 4);
        p.write(CONFIG_ADDRESS, 4, 0x8000_0000).ok();
        assert_eq!(p.read(CONFIG_ADDRESS, 4), 0x8000_0000);
        p.write(CONFIG_ADDRESS, 4, saved).ok();
        // pci_sanity_check: a host bridge class on bus 0.
        assert_eq!(cfg_read(&mut p, HOST_BRIDGE, 0x0a, 2), 0x0600);
        // Reserved address bits read 0.
        p.write(CONFIG_ADDRESS, 4, 0xffff_ffff).ok();
        assert_eq!(p.read(CONFIG_ADDRESS, 4), 0x80ff_fffc);
    }

    #[test]
    fn identities() {
        let mut p = Pci::new();
        let id = |p: &mut Pci, devfn| {
            (
                cfg_read(p, devfn, 0, 4),
                cfg_read(p, devfn, 8, 4),
                cfg_read(p, devfn, 0x0e, 1),
            )
        };
        assert_eq!(id(&mut p, HOST_BRIDGE), (0x1237_8086, 0x0600_0002, 0x00));
        assert_eq!(id(&mut p, ISA_BRIDGE), (0x7000_8086, 0x0601_0000, 0x80));
        assert_eq!(id(&mut p, PM_FUNCTION), (0x7113_8086, 0x0680_0003, 0x00));
    }

    #[test]
    fn absent_functions_other_buses_and_disabled_cycles_read_all_ones() {
        let mut p = Pci::new();
        for devfn in [0x01, 0x09, 0x0a, 0x10, 0xf8] {
            assert_eq!(
                cfg_read(&mut p, devfn, 0, 4),
                0xffff_ffff,
                "devfn {devfn:#x}"
            );
            assert_eq!(cfg_read(&mut p, devfn, 2, 2), 0xffff);
            assert_eq!(cfg_read(&mut p, devfn, 3, 1), 0xff);
        }
        p.write(CONFIG_ADDRESS, 4, 0x8001_0000).ok(); // bus 1
        assert_eq!(p.read(CONFIG_DATA, 4), 0xffff_ffff);
        p.write(CONFIG_ADDRESS, 4, 0x0000_0000).ok(); // enable bit clear
        assert_eq!(p.read(CONFIG_DATA, 4), 0xffff_ffff);
        p.write(CONFIG_DATA, 4, 0).ok();
        assert_eq!(cfg_read(&mut p, HOST_BRIDGE, 0, 4), 0x1237_8086);
        // Non-dword accesses in 0xCF8-0xCFB (other than the RCR) read all ones.
        assert_eq!(p.read(0xcfa, 2), 0xffff);
    }

    #[test]
    fn byte_and_word_accesses_at_every_offset() {
        let mut p = Pci::new();
        let dword = cfg_read(&mut p, PM_FUNCTION, 0, 4);
        for off in 0..4u8 {
            assert_eq!(
                cfg_read(&mut p, PM_FUNCTION, off, 1),
                (dword >> (8 * off)) & 0xff
            );
        }
        assert_eq!(cfg_read(&mut p, PM_FUNCTION, 2, 2), dword >> 16);
        // A word at 0xCFF only has its low byte in configuration space.
        assert_eq!(cfg_read(&mut p, PM_FUNCTION, 3, 2), 0xff00 | dword >> 24);
    }

    #[test]
    fn read_only_registers_ignore_writes() {
        let mut p = Pci::new();
        for devfn in [HOST_BRIDGE, ISA_BRIDGE, PM_FUNCTION] {
            let before: Vec<u32> = (0..0x40)
                .step_by(4)
                .map(|r| cfg_read(&mut p, devfn, r, 4))
                .collect();
            // IDs, class, header type, BARs (sizing writes), status, interrupt pin.
            for r in [0x00, 0x08, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x24, 0x2c, 0x30] {
                cfg_write(&mut p, devfn, r, 4, 0xffff_ffff);
            }
            cfg_write(&mut p, devfn, 0x06, 2, 0xffff);
            cfg_write(&mut p, devfn, 0x0e, 1, 0x00);
            cfg_write(&mut p, devfn, 0x3d, 1, 0x01);
            let after: Vec<u32> = (0..0x40)
                .step_by(4)
                .map(|r| cfg_read(&mut p, devfn, r, 4))
                .collect();
            assert_eq!(before, after, "devfn {devfn:#x}");
            // BARs are absent: sizing reads back 0.
            assert_eq!(cfg_read(&mut p, devfn, 0x10, 4), 0);
        }
    }

    #[test]
    fn command_latency_and_interrupt_line_are_writable() {
        let mut p = Pci::new();
        cfg_write(&mut p, ISA_BRIDGE, 0x04, 2, 0xffff);
        assert_eq!(cfg_read(&mut p, ISA_BRIDGE, 0x04, 2), 0x0147);
        cfg_write(&mut p, PM_FUNCTION, 0x0d, 1, 0x40);
        assert_eq!(cfg_read(&mut p, PM_FUNCTION, 0x0d, 1), 0x40);
        cfg_write(&mut p, HOST_BRIDGE, 0x3c, 1, 0x0b);
        assert_eq!(cfg_read(&mut p, HOST_BRIDGE, 0x3c, 1), 0x0b);
    }

    #[test]
    fn pm_io_base_follows_pmba_and_pmiose() {
        let mut p = Pci::new();
        assert_eq!(p.pm_io_base(), Some(PM_BASE));
        // What Linux's PIIX4 quirk reads: PMBA with bit 0 set, SMBBA unprogrammed.
        assert_eq!(cfg_read(&mut p, PM_FUNCTION, 0x40, 2), 0x0601);
        assert_eq!(cfg_read(&mut p, PM_FUNCTION, 0x90, 2) & !0xf, 0);
        assert_eq!(cfg_read(&mut p, PM_FUNCTION, 0x5c, 4), 0);
        // Relocate: the low bits and bit 0 are not writable.
        cfg_write(&mut p, PM_FUNCTION, 0x40, 4, 0xb03f);
        assert_eq!(cfg_read(&mut p, PM_FUNCTION, 0x40, 4), 0xb001);
        assert_eq!(p.pm_io_base(), Some(0xb000));
        cfg_write(&mut p, PM_FUNCTION, 0x80, 1, 0xfe);
        assert_eq!(cfg_read(&mut p, PM_FUNCTION, 0x80, 1), 0);
        assert_eq!(p.pm_io_base(), None);
        cfg_write(&mut p, PM_FUNCTION, 0x80, 1, 1);
        assert_eq!(p.pm_io_base(), Some(0xb000));
    }

    #[test]
    fn pirq_routing_and_passive_release() {
        let mut p = Pci::new();
        assert_eq!(cfg_read(&mut p, ISA_BRIDGE, 0x60, 4), 0x8080_8080);
        assert_eq!(
            (0..4).map(|i| p.pirq_route(i)).collect::<Vec<_>>(),
            [None; 4]
        );
        cfg_write(&mut p, ISA_BRIDGE, 0x60, 4, 0x0b0b_0a0a);
        cfg_write(&mut p, ISA_BRIDGE, 0x63, 1, 0x02); // IRQ2 cannot be routed
        assert_eq!(
            (0..4).map(|i| p.pirq_route(i)).collect::<Vec<_>>(),
            [Some(10), Some(10), Some(11), None]
        );
        // quirk_passive_release: read DLC, set bit 1, read it back.
        cfg_write(&mut p, ISA_BRIDGE, 0x82, 1, 0x02);
        assert_eq!(cfg_read(&mut p, ISA_BRIDGE, 0x82, 1), 0x02);
    }

    #[test]
    fn reset_control_register() {
        let mut p = Pci::new();
        assert_eq!(p.read(RESET_CONTROL, 1), 0);
        // Linux's "cf9" reboot: SYS_RST first, then SYS_RST | RST_CPU.
        p.write(RESET_CONTROL, 1, 0x02).ok();
        assert_eq!(p.read(RESET_CONTROL, 1), 0x02);
        assert_eq!(p.write(RESET_CONTROL, 1, 0x06), PciEvent::Reset);
        // Not a byte access: not the RCR (and not CONFIG_ADDRESS either).
        p.write(RESET_CONTROL, 2, 0x0606).ok();
    }
}
