//! Host code emission. One module per host architecture; everything `unsafe` in the JIT
//! (calling generated code) is here or in the code cache.

#[cfg(target_arch = "aarch64")]
pub mod a64;
#[cfg(target_arch = "x86_64")]
pub mod x64;

/// The backend for this host.
#[cfg(target_arch = "aarch64")]
pub use a64 as host;
#[cfg(target_arch = "x86_64")]
pub use x64 as host;
