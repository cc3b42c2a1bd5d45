//! Linear-to-physical translation: the soft TLB (the one fast path for guest memory) and
//! the page walker behind it.

pub mod access;
pub mod paging;
pub mod tlb;
