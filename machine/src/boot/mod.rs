//! Boot loaders: firmware ROMs are mapped by the board; a Linux kernel is placed directly.

pub mod acpi;
pub mod bzimage;
pub mod firmware;
pub mod multiboot;
