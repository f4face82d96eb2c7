//! Where an experiment's paths point: the `model.pretrained` lookup rule and
//! lexical path folding. Its own module because both loading (which rewrites
//! the path) and validation (which reports a missing file) need the same rule.

use std::path::{Component, Path, PathBuf};

/// Where `model.pretrained` points: relative to the experiment's folder,
/// then to the current directory. None when empty or missing.
pub(super) fn resolve_weights(p: &str, base_dir: &Path) -> Option<PathBuf> {
    if p.is_empty() {
        return None;
    }
    let joined = normalize_path(&base_dir.join(p));
    if joined.is_file() {
        return Some(joined);
    }
    let plain = PathBuf::from(p);
    plain.is_file().then_some(plain)
}

/// Drop `.` and fold `dir/..` without touching the filesystem, so
/// `experiments/../data/w.safetensors` reads `data/w.safetensors`.
fn normalize_path(p: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

/// A key for cycle detection: the real path when the file exists.
pub(super) fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| {
        normalize_path(&std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_paths() {
        assert_eq!(
            normalize_path(Path::new("experiments/../data/w.st")),
            PathBuf::from("data/w.st")
        );
        assert_eq!(normalize_path(Path::new("../x")), PathBuf::from("../x"));
        assert_eq!(normalize_path(Path::new("/a/../../b")), PathBuf::from("/b"));
    }
}
