//! Test support shared by the crates' test suites (a dev-dependency only).
//!
//! Architecture invariant: nothing here is used outside tests.

use std::path::{Path, PathBuf};

pub mod estate;

/// Whether a test that needs a peer (a database, a program, a Python package) may run. Without the peer the
/// test says so and skips — except under `CI=true`, where `.ci/run` installs every peer and a missing one is
/// a failure (this panics with `what` and how to provide it).
#[allow(clippy::panic)] // A test helper: failing the test is its job.
pub fn peer_available(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but {what} is not available (.ci/run installs it)");
    }
    eprintln!("skipping: {what} is not available");
    false
}

/// Whether `program` runs (`program --version` exits successfully).
pub fn program_runs(program: &str) -> bool {
    program_answers(program, "--version")
}

/// Whether `program` runs with `arg` and exits successfully (for programs whose version flag is not
/// `--version`: poppler's `pdftotext -v`).
pub fn program_answers(program: &str, arg: &str) -> bool {
    std::process::Command::new(program)
        .arg(arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The third-party vectors folder: `$VOLTVEND_VECTORS`, else `../shared/vectors` beside the repository.
/// When it is absent the caller's test should skip with the printed message — except under `CI=true`, where
/// absence is a failure (this panics).
#[allow(clippy::panic)] // A test helper: failing the test is its job.
pub fn vectors_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("VOLTVEND_VECTORS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but the vectors folder {} is missing", dir.display());
    }
    eprintln!("vectors folder {} not found: skipping the vector tests (set VOLTVEND_VECTORS)", dir.display());
    None
}
