//! What the CPU needs from the board: memory, port I/O and interrupt acknowledge.

use crate::mem::PhysMemory;

/// The board as the CPU sees it. `machine` implements it; tests implement small ones.
pub trait Bus {
    /// Guest RAM (and ROM shadowed into it): the fast path behind the soft TLB.
    fn mem(&mut self) -> &mut PhysMemory;
    /// A physical access outside RAM (MMIO, the high ROM alias, open bus).
    fn mmio_read(&mut self, pa: u64, size: u8) -> u32;
    fn mmio_write(&mut self, pa: u64, size: u8, value: u32);
    /// The virtual clock (ns) at the instruction about to do port I/O, so device timers
    /// read exactly what they would at that instruction.
    fn set_clock(&mut self, _now: u64) {}
    fn io_read(&mut self, port: u16, size: u8) -> u32;
    fn io_write(&mut self, port: u16, size: u8, value: u32);
    /// Is a maskable interrupt waiting (INTR line high)?
    fn interrupt_pending(&mut self) -> bool {
        false
    }
    /// Acknowledge the pending interrupt and return its vector.
    fn acknowledge_interrupt(&mut self) -> Option<u8> {
        None
    }
    /// True when the CPU should leave its run loop at the next instruction boundary
    /// (a device asked for attention, the exit port was written, ...).
    fn stop_requested(&self) -> bool {
        false
    }
}

/// A board with nothing but RAM: ports and addresses outside RAM read as all ones and
/// ignore writes. For conformance runs, tests and embedders that need no devices.
pub struct RamBus {
    pub mem: PhysMemory,
}

impl RamBus {
    pub fn new(ram_size: u64) -> Result<Self, crate::MemError> {
        Ok(RamBus {
            mem: PhysMemory::new(ram_size)?,
        })
    }
}

impl Bus for RamBus {
    fn mem(&mut self) -> &mut PhysMemory {
        &mut self.mem
    }
    fn mmio_read(&mut self, _: u64, size: u8) -> u32 {
        crate::interp::size_mask(size)
    }
    fn mmio_write(&mut self, _: u64, _: u8, _: u32) {}
    fn io_read(&mut self, _: u16, size: u8) -> u32 {
        crate::interp::size_mask(size)
    }
    fn io_write(&mut self, _: u16, _: u8, _: u32) {}
}
