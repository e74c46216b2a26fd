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

/// Whether `python3` imports `modules` (a comma-separated list, as in an `import` statement).
pub fn python_imports(modules: &str) -> bool {
    std::process::Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The payment providers' SDKs as test peers: `wechatpayv3` and `python-alipay-sdk` (with `cryptography`).
pub fn payment_sdks_available() -> bool {
    peer_available(
        python_imports("wechatpayv3, alipay, cryptography"),
        "python3 with wechatpayv3 and python-alipay-sdk (pip install them)",
    )
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

/// The environment variable that points the vector tests at another folder of the same schema.
pub const VECTORS_ENV: &str = "VOLTVEND_VECTORS";

/// The third-party vectors folder: `$VOLTVEND_VECTORS` when set, else `testdata/vectors` in this repository
/// (the files travel with every clone; their sources are in `testdata/vectors/README.md`).
///
/// A missing folder is a failure, never a skip: a vector test that silently checks nothing would pass on a
/// checkout that lost its vectors, or with a mistyped override.
#[allow(clippy::panic)] // A test helper: failing the test is its job.
pub fn vectors_dir() -> PathBuf {
    match vectors_dir_from(std::env::var_os(VECTORS_ENV).map(PathBuf::from)) {
        Ok(dir) => dir,
        Err(why) => panic!("{why}"),
    }
}

/// [`vectors_dir`] with the override given rather than read from the environment (so it can be tested).
pub fn vectors_dir_from(overridden: Option<PathBuf>) -> Result<PathBuf, String> {
    let (dir, from) = match overridden {
        Some(d) => (d, format!("${VECTORS_ENV}")),
        None => (default_vectors_dir(), "the repository (testdata/vectors)".to_string()),
    };
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!("the vectors folder {} (from {from}) is missing: the vector tests cannot run", dir.display()))
    }
}

/// `testdata/vectors` at the root of the repository.
pub fn default_vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/vectors")
}

/// Every file under `dir`, recursively, sorted, as (path relative to `dir` with `/` separators, full path).
pub fn files_under(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap_or(&p);
                let name = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                out.push((name, p));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Whether a file in a vectors folder holds rows (JSON or JSON lines) rather than documentation (README,
/// licence and source notes, which the harnesses leave alone).
pub fn is_vector_data(name: &str) -> bool {
    name.ends_with(".json") || name.ends_with(".jsonl")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vectors_travel_with_the_repository() {
        let dir = vectors_dir_from(None).unwrap();
        let names: Vec<String> = files_under(&dir).unwrap().into_iter().map(|(n, _)| n).collect();
        for want in ["sts/sts531_1_0_02_ea07_sta.json", "openpaygo/test_tokens.jsonl", "dlt645/dlt645_frames.json"] {
            assert!(names.iter().any(|n| n == want), "{want} missing from {}", dir.display());
        }
    }

    #[test]
    fn a_missing_folder_fails_rather_than_skips() {
        let gone = std::env::temp_dir().join("voltvend-no-such-vectors-folder");
        let err = vectors_dir_from(Some(gone.clone())).unwrap_err();
        assert!(err.contains(&gone.display().to_string()) && err.contains("missing"), "{err}");
    }

    #[test]
    fn data_files_and_documentation() {
        assert!(is_vector_data("sts/a.json") && is_vector_data("openpaygo/t.jsonl"));
        assert!(!is_vector_data("README.md") && !is_vector_data("sts/LICENSE"));
    }
}
