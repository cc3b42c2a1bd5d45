//! SingleStepTests 80286 real-mode conformance: every form of the shared test data, with
//! the bar the project set (99.7% of all tests), and no single form badly broken.

use std::path::PathBuf;

/// Overall pass rate required, in percent.
const MIN_PASS_RATE: f64 = 99.7;
/// No form may fail more than this share of its tests (a regression in one instruction).
const MAX_FORM_FAIL_RATE: f64 = 0.10;

fn data_dir() -> (PathBuf, &'static str) {
    match std::env::var_os("OX86_SST_DIR") {
        Some(d) => (PathBuf::from(d), "OX86_SST_DIR"),
        None => (
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("..")
                .join("shared")
                .join("conformance")
                .join("sst-80286")
                .join("v1_real_mode"),
            "the default location",
        ),
    }
}

/// The data folder and the worker threads to use, or None (with the reason printed)
/// when the data is not there.
fn data_or_skip(test: &str) -> Option<(PathBuf, usize)> {
    let (dir, from) = data_dir();
    if !dir.is_dir() {
        eprintln!(
            "SKIP {test}: no SingleStepTests data at {} ({from}). Get the 80286 \
             v1_real_mode MOO files (SingleStepTests/80286) as the README section \"Conformance \
             data\" describes and put them there, or set OX86_SST_DIR to their folder.",
            dir.display()
        );
        return None;
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    Some((dir.canonicalize().unwrap_or(dir), threads))
}

#[test]
fn sst_80286_real_mode() {
    let Some((dir, threads)) = data_or_skip("sst_80286_real_mode") else {
        return;
    };
    let results = ox86_machine::sst::run_dir(&dir, None, threads)
        .unwrap_or_else(|e| panic!("SingleStepTests in {}: {e}", dir.display()));

    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    let mut broken = Vec::new();
    for r in &results {
        passed += r.passed;
        failed += r.failed;
        skipped += r.skipped;
        let ran = r.passed + r.failed;
        if r.failed > 0 {
            eprintln!(
                "FAIL {:6} {:4}/{:4} failed; first: {}",
                r.form,
                r.failed,
                ran,
                r.first_failure.as_deref().unwrap_or("?")
            );
        }
        if (ran == 0 && r.skipped == 0) || r.failed as f64 > MAX_FORM_FAIL_RATE * ran as f64 {
            broken.push(format!("{} ({}/{} failed)", r.form, r.failed, ran));
        }
    }
    let total = passed + failed;
    let rate = if total > 0 {
        100.0 * passed as f64 / total as f64
    } else {
        0.0
    };
    eprintln!("{} forms in {}", results.len(), dir.display());
    eprintln!(
        "{passed} passed, {failed} failed, {skipped} skipped (revoked); pass rate {rate:.3}%"
    );

    assert!(total > 0, "no tests ran from {}", dir.display());
    let mut problems = Vec::new();
    if rate < MIN_PASS_RATE {
        problems.push(format!(
            "pass rate {rate:.3}% is below {MIN_PASS_RATE}% ({failed} of {total} failed)"
        ));
    }
    if !broken.is_empty() {
        problems.push(format!(
            "forms failing more than {:.0}% of their tests (or running none): {}",
            MAX_FORM_FAIL_RATE * 100.0,
            broken.join(", ")
        ));
    }
    assert!(
        problems.is_empty(),
        "SingleStepTests: {}",
        problems.join("; ")
    );
}

/// The same tests with the JIT translating each test's code on its first run: every
/// form passes and fails exactly as interpreted.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn sst_80286_real_mode_under_the_jit() {
    let Some((dir, threads)) = data_or_skip("sst_80286_real_mode_under_the_jit") else {
        return;
    };
    let run = |jit| {
        ox86_machine::sst::run_dir_with(&dir, None, threads, jit)
            .unwrap_or_else(|e| panic!("SingleStepTests in {}: {e}", dir.display()))
    };
    let (interp, jit) = (run(false), run(true));
    assert_eq!(interp.len(), jit.len());
    let mut passed = 0;
    for (i, j) in interp.iter().zip(&jit) {
        assert!(
            (i.passed, i.failed, &i.first_failure) == (j.passed, j.failed, &j.first_failure),
            "form {}: interpreted {} passed, {} failed (first: {:?}); under the JIT {} passed, {} failed (first: {:?})",
            i.form, i.passed, i.failed, i.first_failure, j.passed, j.failed, j.first_failure
        );
        passed += j.passed;
    }
    eprintln!("{passed} passed under the JIT, form by form as interpreted");
    assert!(passed > 0, "no tests passed from {}", dir.display());
}
