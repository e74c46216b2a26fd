//! Issue 10: every `voltvend` command in README.md and docs/ runs as written.
//!
//! Each document gets a scratch directory with a copy of `tariffs/`; its `sh` blocks' `voltvend` lines are run
//! in order with `sh`, with `voltvend` on the PATH. What the runner changes, and only this:
//! * absolute paths under `/etc/`, `/mnt/` and `/tmp/` are moved into the scratch directory, and fixed
//!   listening ports become port 0 (`VOLTVEND__SERVER__LISTEN` too), so that nothing outside is touched;
//! * what a reader brings is provided: `VOLTVEND_VENDING_KEY` (the README's key), `device.key` (the
//!   OpenPAYGO reference device's secret) and `$HEAD` (the audit head the previous `audit verify` printed);
//!   files the document shows in a block that starts with `# NAME` are written first;
//! * commands that serve (`serve`, `demo`, `simulate`) are run until they say they are ready, then stopped;
//!   the benchmarks, which run for minutes by design, are only checked to take their arguments (`--help`
//!   appended).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const VENDING_KEY: &str = "ABABABABABABABAB";
const OPENPAYGO_KEY: &str = "bc41ec9530f6dac86b1a29ab82edc5fb";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The documents in groups that share a scratch directory, each group in reading order: the README on its
/// own (its tour sets up an installation), and docs/ after the installation guide, on whose installation the
/// other guides build.
fn documents() -> Vec<Vec<PathBuf>> {
    let mut docs = Vec::new();
    let mut dirs = vec![repo().join("docs")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                docs.push(p);
            }
        }
    }
    let first =
        ["operators/install.md", "operators/configuration.md", "operators/keys.md", "operators/backup-restore.md"];
    let rank = |p: &PathBuf| first.iter().position(|f| p.ends_with(f)).unwrap_or(first.len());
    docs.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    vec![vec![repo().join("README.md")], docs]
}

/// The fenced blocks of a markdown document: (language, lines).
fn blocks(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("```") {
            match current.take() {
                Some(block) => out.push(block),
                None => current = Some((rest.trim().to_string(), Vec::new())),
            }
        } else if let Some((_, lines)) = current.as_mut() {
            lines.push(line.to_string());
        }
    }
    out
}

/// The `voltvend` command lines of `sh` blocks, continuation lines joined.
fn commands(blocks: &[(String, Vec<String>)]) -> Vec<String> {
    let mut out = Vec::new();
    for (_, lines) in blocks.iter().filter(|(l, _)| l == "sh") {
        let mut joined: Vec<String> = Vec::new();
        let mut pending = String::new();
        for line in lines {
            if let Some(head) = line.strip_suffix('\\') {
                pending.push_str(head);
                pending.push(' ');
            } else {
                pending.push_str(line);
                joined.push(std::mem::take(&mut pending));
            }
        }
        for line in joined {
            let words: Vec<&str> = line.split_whitespace().collect();
            // The first word that is not an environment assignment (`NAME=value`).
            let first = words.iter().find(|w| !w.contains('=') || w.starts_with('-'));
            if first == Some(&"voltvend") {
                out.push(line);
            }
        }
    }
    out
}

/// Moves absolute paths into the scratch directory and fixed ports to port 0.
fn sandboxed(line: &str, root: &Path) -> String {
    // Markers first, so that the scratch directory (itself under /tmp) is not moved again.
    let dirs = [("/etc/", "\u{1}etc\u{1}"), ("/mnt/", "\u{1}mnt\u{1}"), ("/tmp/", "\u{1}tmp\u{1}")];
    let mut out = line.to_string();
    for (dir, marker) in dirs {
        out = out.replace(dir, marker);
    }
    for (dir, marker) in dirs {
        out = out.replace(marker, &format!("{}{dir}", root.display()));
    }
    for flag in ["--listen", "--dlt645-listen", "--modbus-listen"] {
        let mut words: Vec<String> = out.split(' ').map(str::to_string).collect();
        for i in 1..words.len() {
            if words[i - 1] == flag && words[i].starts_with("127.0.0.1:") {
                words[i] = "127.0.0.1:0".into();
            }
        }
        out = words.join(" ");
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

fn shell(line: &str, work: &Path, bin: &Path, head: &str) -> Command {
    let mut c = Command::new("sh");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    c.arg("-c")
        .arg(line)
        .current_dir(work)
        .env_remove("VOLTVEND_CONFIG")
        .env("PATH", path)
        .env("VOLTVEND_VENDING_KEY", VENDING_KEY)
        .env("VOLTVEND__SERVER__LISTEN", "127.0.0.1:0")
        .env("VOLTVEND__LOG__LEVEL", "warn")
        .env("HEAD", head)
        .stdin(Stdio::null());
    c
}

/// Runs a serving command until it prints a line with `ready`, then stops it (its whole process group).
fn run_until_ready(mut c: Command, ready: &str, doc: &str, line: &str) {
    c.stdout(Stdio::piped()).stderr(Stdio::inherit()).process_group(0);
    let mut child = c.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let mut ok = false;
    let mut buf = String::new();
    while out.read_line(&mut buf).unwrap_or(0) > 0 {
        seen.push_str(&buf);
        if buf.contains(ready) {
            ok = true;
            break;
        }
        buf.clear();
    }
    // The whole group: `sh` and the command it started.
    let _ = Command::new("kill").args(["-s", "TERM", "--", &format!("-{}", child.id())]).status();
    let _ = child.wait();
    assert!(ok, "{doc}: `{line}` never said {ready:?}; it printed:\n{seen}");
}

#[test]
fn every_voltvend_command_in_the_docs_runs_as_written() {
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_voltvend"), bin.path().join("voltvend")).unwrap();
    let mut ran = 0;
    for group in documents() {
        let root = tempfile::tempdir().unwrap();
        let work = root.path().join("work");
        copy_dir(&repo().join("tariffs"), &work.join("tariffs"));
        for dir in ["etc/voltvend", "mnt", "tmp"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        std::fs::write(work.join("device.key"), format!("{OPENPAYGO_KEY}\n")).unwrap();
        let mut head = String::new();
        for doc in group {
            ran += run_document(&doc, root.path(), &work, bin.path(), &mut head);
        }
    }
    assert!(ran >= 40, "the docs' commands were found ({ran})");
}

/// Runs one document's commands in `work`; returns how many.
fn run_document(doc: &Path, root: &Path, work: &Path, bin: &Path, head: &mut String) -> usize {
    let text = std::fs::read_to_string(doc).unwrap();
    let name = doc.strip_prefix(repo()).unwrap().display().to_string();
    let blocks = blocks(&text);
    for (_, lines) in &blocks {
        if let Some(file) = lines.first().and_then(|l| l.strip_prefix("# ")).filter(|f| !f.contains(' ')) {
            std::fs::write(work.join(file), lines.join("\n") + "\n").unwrap();
        }
    }
    let lines = commands(&blocks);
    let count = lines.len();
    for line in lines {
        let line = sandboxed(&line, root);
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.contains(&"bench") {
            let checked = format!("{} --help", line.split(" #").next().unwrap_or(&line).trim_end());
            let o = shell(&checked, work, bin, head).output().unwrap();
            assert!(o.status.success(), "{name}: `{line}` does not take its arguments: {o:?}");
            continue;
        }
        if let Some(what) = ["serve", "demo", "simulate"].iter().find(|w| words.contains(w)) {
            let ready = if *what == "simulate" { "simulating" } else { "listening on" };
            run_until_ready(shell(&line, work, bin, head), ready, &name, &line);
            continue;
        }
        let o = shell(&line, work, bin, head).output().unwrap();
        let printed = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "{name}: `{line}` failed:\n{printed}");
        if let Some(h) = printed.split("head ").nth(1).and_then(|s| s.split_whitespace().next()) {
            *head = h.to_string();
        }
    }
    count
}
