//! The repository is self-contained: a clone with nothing beside it builds
//! and passes its tests, so no file may reach into a sibling `shared/`
//! folder (the fixtures the tests need are copied into `testdata/`).

use std::path::{Path, PathBuf};
use std::process::Command;

use tz_testkit::repo_root;

/// The repository's files: tracked plus untracked-but-not-ignored (so a new
/// file fails before it is committed), or, without git (an unpacked
/// archive), every file outside build outputs and hidden folders.
fn repository_files(root: &Path) -> Vec<PathBuf> {
    let listed = Command::new("git")
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success());
    match listed {
        Some(out) => String::from_utf8_lossy(&out.stdout)
            .split('\0')
            .filter(|p| !p.is_empty())
            .map(|p| root.join(p))
            .filter(|p| p.is_file())
            .collect(),
        None => {
            let mut files = Vec::new();
            walk(root, &mut files);
            files
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_symlink()
            || name == "target"
            || (name.starts_with('.') && name != ".cargo" && name != ".ci")
        {
            continue;
        }
        if kind.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// What a file may not say. Built at run time so this file does not match
/// itself. Every file: a path into a sibling `shared/` folder. Code, scripts
/// and configs (everything but Markdown prose): any mention of that folder's
/// contents either, since a clone cannot follow it.
fn forbidden(path: &Path) -> Vec<String> {
    let shared = "shared";
    let mut words = vec![format!("../{shared}"), format!("/work/{shared}")];
    if path.extension().is_none_or(|e| e != "md") {
        for sub in ["fixtures", "reference", "seeds", "tools", "hooks"] {
            words.push(format!("{shared}/{sub}"));
        }
    }
    words
}

#[test]
fn no_repository_file_refers_to_a_shared_folder_beside_the_repository() {
    let root = repo_root();
    let files = repository_files(&root);
    assert!(files.len() > 50, "found only {} files under {}", files.len(), root.display());
    let mut offences = Vec::new();
    for path in &files {
        let Ok(bytes) = std::fs::read(path) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        for word in forbidden(path) {
            for (n, line) in text.lines().enumerate() {
                if line.contains(&word) {
                    let rel = path.strip_prefix(&root).unwrap_or(path);
                    offences.push(format!("{}:{}: mentions '{word}'", rel.display(), n + 1));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "files refer to a folder outside the repository (copy what they need into testdata/):\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_test_data_is_in_the_repository() {
    for name in [
        "README.md",
        "countdown-tinyzero-base-train.parquet",
        "countdown-tinyzero-base-test.parquet",
        "countdown-tinyzero-instruct-train.parquet",
        "countdown-tinyzero-instruct-test.parquet",
        "qwen-vocab-tokenizer/tokenizer.json",
        "qwen-vocab-tokenizer/tokenizer_config.json",
    ] {
        let path = tz_testkit::testdata(name);
        assert!(std::fs::metadata(&path).unwrap().len() > 0, "{} is empty", path.display());
    }
}
