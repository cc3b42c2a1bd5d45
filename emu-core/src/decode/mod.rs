//! Decode once: basic blocks decoded by iced-x86 and cached by physical address and mode.

pub mod block;
pub mod cache;

pub use block::{Block, DecodedInsn, Handler};
pub use cache::BlockCache;
