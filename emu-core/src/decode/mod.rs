//! Decode once: basic blocks decoded by iced-x86 and cached by physical address and mode.

pub mod block;
pub mod cache;

pub use block::{reg_slot, Block, DecodedInsn, Handler, Opd, NO_REG};
pub use cache::BlockCache;
