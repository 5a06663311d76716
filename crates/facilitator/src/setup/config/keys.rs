//! Where an EVM chain's settlement keys come from (an env variable, a file, or a directory of key
//! files), read so that no error, log line or `Debug` print ever holds key text, and a cheap
//! fingerprint of the files so a running facilitator notices when they change.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, bail};

/// Largest key file read: a hex key is 66 bytes.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// One key's text and where it came from; `Debug` shows only where.
pub struct KeyText {
    /// `EVM_PRIVATE_KEY #1`, `key file /run/keys/a`: names the key in errors without showing it.
    pub origin: String,
    text: String,
}

impl std::fmt::Debug for KeyText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyText({}, <redacted>)", self.origin)
    }
}

impl KeyText {
    /// The secret text itself, for parsing only.
    pub fn secret(&self) -> &str {
        &self.text
    }
}

/// A source of settlement keys.
pub enum KeySource<'a> {
    /// Comma- or newline-separated keys in an env variable (read once: the environment of a
    /// running process does not change).
    Env(&'a str),
    /// One key per line.
    File(&'a Path),
    /// One key per file; dotfiles and editor leftovers are skipped.
    Dir(&'a Path),
}

impl KeySource<'_> {
    /// Reads the keys; errors name the source, never key text.
    pub fn read(&self, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Vec<KeyText>> {
        match self {
            KeySource::Env(var) => {
                let text = env(var).with_context(|| format!("{var} is not set"))?;
                Ok(split_keys(&text, |i| format!("{var} #{i}")))
            }
            KeySource::File(file) => {
                let text = read_key_file(file)?;
                let name = file.display().to_string();
                Ok(split_keys(&text, |i| format!("key file {name}, key #{i}")))
            }
            KeySource::Dir(dir) => key_files(dir)?
                .into_iter()
                .map(|path| {
                    Ok(KeyText {
                        origin: format!("key file {}", path.display()),
                        text: read_key_file(&path)?.trim().to_string(),
                    })
                })
                .collect(),
        }
    }

    /// What the files look like now (names, sizes, modification times): when this changes,
    /// the keys are read again. `None` for env keys, which cannot change.
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        match self {
            KeySource::Env(_) => None,
            KeySource::File(file) => Some(Fingerprint(stamp(file).into_iter().collect())),
            KeySource::Dir(dir) => Some(Fingerprint(
                key_files(dir)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|p| stamp(p))
                    .collect(),
            )),
        }
    }
}

/// Names, sizes and modification times of a key source's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(Vec<(PathBuf, u64, Option<SystemTime>)>);

/// A file's name, size and modification time, if it can be read.
fn stamp(p: &Path) -> Option<(PathBuf, u64, Option<SystemTime>)> {
    let m = std::fs::metadata(p).ok()?;
    Some((p.to_path_buf(), m.len(), m.modified().ok()))
}

fn split_keys(text: &str, origin: impl Fn(usize) -> String) -> Vec<KeyText> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .enumerate()
        .map(|(i, k)| KeyText {
            origin: origin(i),
            text: k.to_string(),
        })
        .collect()
}

fn read_key_file(path: &Path) -> anyhow::Result<String> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("reading key file {}", path.display()))?;
    if meta.len() > MAX_KEY_FILE_BYTES {
        bail!("key file {} is too large to hold keys", path.display());
    }
    std::fs::read_to_string(path).with_context(|| format!("reading key file {}", path.display()))
}

/// The key files of `dir`, sorted: regular files (symlinks followed, as in a Kubernetes secret
/// mount) whose names are not dotfiles or editor leftovers.
fn key_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading key directory {}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("reading key directory {}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        if is_leftover(&name.to_string_lossy()) {
            continue;
        }
        if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Dotfiles (also a Kubernetes mount's `..data`) and what editors and tools leave beside a file.
fn is_leftover(name: &str) -> bool {
    const SUFFIXES: [&str; 9] = [
        "~",
        ".swp",
        ".swo",
        ".swx",
        ".tmp",
        ".bak",
        ".orig",
        ".part",
        ".dpkg-new",
    ];
    name.starts_with('.') || name.starts_with('#') || SUFFIXES.iter().any(|s| name.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_directory_skips_leftovers_and_errors_name_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("b"), "0xbb\n").unwrap();
        std::fs::write(p.join("a"), " 0xaa ").unwrap();
        for leftover in [".a.tmp", "a~", "#a#", "a.swp", ".hidden"] {
            std::fs::write(p.join(leftover), "0xdead").unwrap();
        }
        std::fs::create_dir(p.join("sub")).unwrap();
        let keys = KeySource::Dir(p).read(&|_| None).unwrap();
        let texts: Vec<_> = keys.iter().map(KeyText::secret).collect();
        assert_eq!(texts, vec!["0xaa", "0xbb"]);
        assert!(keys[0].origin.ends_with("/a"), "{}", keys[0].origin);
        assert!(!format!("{keys:?}").contains("0xaa"), "Debug shows no key");

        let before = KeySource::Dir(p).fingerprint();
        std::fs::write(p.join("c"), "0xcc").unwrap();
        assert_ne!(
            KeySource::Dir(p).fingerprint(),
            before,
            "a new file is seen"
        );
        let before = KeySource::Dir(p).fingerprint();
        std::fs::write(p.join(".c.tmp"), "0xcc").unwrap();
        assert_eq!(KeySource::Dir(p).fingerprint(), before, "leftovers are not");
        assert!(KeySource::Env("X").fingerprint().is_none());
    }
}
