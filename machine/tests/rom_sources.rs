//! The committed test-ROM images are what their NASM sources build to.

use std::path::Path;
use std::process::Command;

#[test]
fn images_match_sources() {
    let roms = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-roms");
    if Command::new("nasm").arg("-v").output().is_err() {
        eprintln!(
            "skipped: nasm is not installed (scripts/deps.sh installs it); images not rebuilt"
        );
        return;
    }
    let out = Command::new("bash")
        .arg(roms.join("build.sh"))
        .arg("--check")
        .current_dir(&roms)
        .output()
        .expect("run test-roms/build.sh");
    assert!(
        out.status.success(),
        "test-roms/build.sh --check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
