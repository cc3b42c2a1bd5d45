//! ox86-devices: the PC chipset and peripherals, each a plain struct with a serializable
//! state, driven by the board through port reads and writes.

pub mod acpi_pm;
pub mod cmos;
pub mod disk;
pub mod dma;
pub mod floppy;
pub mod fw_cfg;
pub mod i8042;
pub mod ide;
pub mod pci;
pub mod pic;
pub mod pit;
pub mod uart;
pub mod vga;

pub use cmos::Cmos;
pub use i8042::I8042;
pub use pic::PicPair;
pub use pit::Pit;
pub use uart::Uart;
pub use vga::Vga;
