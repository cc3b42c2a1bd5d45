//! The Multiboot test kernels against QEMU: `test-roms/bin/NAME.kernel`, booted with the
//! command line and modules `test-roms/run-qemu.sh` gives QEMU, must print exactly
//! `test-roms/expected/NAME.txt` on the 0xE9 console and exit as `NAME.exit` says.

use std::path::{Path, PathBuf};

use ox86_machine::boot::multiboot::Module;
use ox86_machine::{Boot, Machine, MachineConfig, RunEnd, SharedBuf};

/// As in run-qemu.sh (KERNEL_APPEND, KERNEL_MODULES, -m 128M); paths relative to test-roms/.
const APPEND: &str = "answer=42 text=hello";
const MODULES: [(&str, &str); 2] = [
    ("kernels/module0.txt", "kernels/module0.txt first module"),
    ("kernels/module1.txt", "kernels/module1.txt"),
];
const RAM: u64 = 128 << 20;

fn roms_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-roms")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn check_kernel(name: &str) {
    let dir = roms_dir();
    let kernel_name = format!("bin/{name}.kernel");
    let modules = MODULES
        .iter()
        .map(|(file, cmdline)| Module {
            data: read(&dir.join(file)),
            cmdline: cmdline.to_string(),
        })
        .collect();
    let boot = Boot::Multiboot {
        kernel: read(&dir.join(&kernel_name)),
        modules,
        // QEMU starts the command line with the kernel's file name, as given.
        cmdline: format!("{kernel_name} {APPEND}"),
    };
    let console = SharedBuf::new();
    let mut cfg = MachineConfig::new(RAM, boot);
    cfg.console = Box::new(console.clone());
    cfg.reboot = false;
    let mut m = Machine::new(cfg).unwrap_or_else(|e| panic!("{name}: {e}"));
    let report = m.run(Some(10_000_000));

    let want = String::from_utf8(read(&dir.join(format!("expected/{name}.txt")))).unwrap();
    let want_exit = String::from_utf8(read(&dir.join(format!("expected/{name}.exit")))).unwrap();
    assert_eq!(
        console.text(),
        want,
        "{name}: console output differs from QEMU's (run ended with {:?})",
        report.end
    );
    let want_exit: u32 = want_exit.trim().parse().expect("expected exit value");
    assert_eq!(report.end, RunEnd::ExitPort(want_exit), "{name}");
}

#[test]
fn elf_kernel() {
    check_kernel("multiboot_elf");
}

#[test]
fn aout_kludge_kernel() {
    check_kernel("multiboot_aout");
}
