//! Host code emission. One module per host architecture; everything `unsafe` in the JIT
//! (calling generated code) is here or in the code cache.

pub mod x64;
