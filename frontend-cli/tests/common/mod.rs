//! What several integration tests share: where the Debian guest is, temporary
//! directories, and boot sectors for the firmware tests.

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

/// The firmware the disk tests boot (Debian's `seabios`; scripts/deps.sh installs it).
pub const SEABIOS: &str = "/usr/share/seabios/bios.bin";
pub const SECTOR: usize = 512;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// SeaBIOS is there; otherwise say so (and how to get it) and skip.
pub fn have_seabios() -> bool {
    let ok = Path::new(SEABIOS).exists();
    if !ok {
        eprintln!("skipped: {SEABIOS} is missing (apt install seabios, or scripts/deps.sh)");
    }
    ok
}

/// A directory of its own under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("ox86-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A one-sector boot program: `src` (relative to the workspace) assembled with nasm.
pub fn boot_sector(dir: &TempDir, src: &str) -> Vec<u8> {
    let out = dir.path("boot.bin");
    let src = workspace().join(src);
    let st = std::process::Command::new("nasm")
        .args(["-f", "bin", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("nasm not found (apt install nasm, or scripts/deps.sh)");
    assert!(st.success(), "nasm failed on {}", src.display());
    let b = std::fs::read(&out).expect("read the boot sector");
    assert_eq!(b.len(), SECTOR, "{} is not one sector", src.display());
    b
}

/// Run the ox86 binary with `args` from the workspace; its output.
pub fn ox86(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ox86"))
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("could not start the ox86 binary")
}

/// A run's status and output, for assertion messages.
pub fn describe(o: &std::process::Output) -> String {
    format!(
        "status: {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
