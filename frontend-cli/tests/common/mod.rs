//! What several integration tests share: where the Debian guest is.

#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};

/// The directory `scripts/fetch-linux.sh` fills.
pub fn guest_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("OX86_GUEST_DIR") {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .expect("neither OX86_GUEST_DIR, XDG_CACHE_HOME nor HOME is set");
    cache.join("ox86").join("linux")
}

/// A file of the Debian guest; fails saying how to get it when it is missing.
pub fn guest_file(name: &str) -> PathBuf {
    let p = guest_dir().join(name);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/fetch-linux.sh to fetch the Debian guest",
        p.display()
    );
    p
}
