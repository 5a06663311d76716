//! The spending file: read strictly under a cross-process lock on `<path>.lock`, and replaced
//! atomically (write a temp file in the same directory, fsync, rename, fsync the directory), so
//! a crash or a full disk mid-write leaves the previous contents whole, never a truncated file.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tollgate_proto::{U256, parse_atomic};

use crate::outstanding::Outstanding;

/// Largest spending file read.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Spent-or-reserved totals per asset key, and the payments among them not yet proven.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub totals: BTreeMap<String, U256>,
    pub outstanding: Vec<Outstanding>,
}

/// The file's JSON: `{"spent": {key: "atomic"}, "outstanding": [...]}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    spent: BTreeMap<String, String>,
    #[serde(default)]
    outstanding: Vec<Outstanding>,
}

/// The current layout, or the earlier one (a bare `{key: "atomic"}` map).
#[derive(Deserialize)]
#[serde(untagged)]
enum AnyStored {
    Now(Stored),
    Before(BTreeMap<String, String>),
}

/// The lock file guarding `path`: the data file itself is replaced by rename, so it cannot
/// carry the lock.
pub fn lock_path(path: &Path) -> PathBuf {
    suffixed(path, ".lock")
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Runs `f` on the state in `path` under the exclusive lock, writing it back only if changed.
pub fn update<T, E>(
    path: &Path,
    io: impl Fn(String) -> E,
    f: impl FnOnce(&mut State) -> Result<T, E>,
) -> Result<T, E> {
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock_path(path))
        .map_err(|e| io(e.to_string()))?;
    lock.lock().map_err(|e| io(e.to_string()))?;
    let mut state = read(path).map_err(&io)?;
    let before = state.clone();
    let out = f(&mut state)?;
    if state != before {
        write_atomic(path, &state).map_err(|e| io(e.to_string()))?;
    }
    Ok(out)
}

/// Reads `path` (missing = empty), refusing oversized or malformed contents.
pub fn read(path: &Path) -> Result<State, String> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(State::default()),
        Err(e) => return Err(e.to_string()),
    };
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err("file is too large".into());
    }
    if text.trim().is_empty() {
        return Ok(State::default());
    }
    let (spent, outstanding) = match serde_json::from_str(&text).map_err(|e| e.to_string())? {
        AnyStored::Now(s) => (s.spent, s.outstanding),
        AnyStored::Before(m) => (m, Vec::new()),
    };
    let totals = spent
        .into_iter()
        .map(|(k, v)| parse_atomic(&v).map(|v| (k, v)).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    Ok(State {
        totals,
        outstanding,
    })
}

/// Replaces `path` with `state`: temp file beside it, fsync, rename, fsync the directory.
fn write_atomic(path: &Path, state: &State) -> std::io::Result<()> {
    let stored = Stored {
        spent: state
            .totals
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect(),
        outstanding: state.outstanding.clone(),
    };
    let text = serde_json::to_string_pretty(&stored).expect("strings serialize");
    let tmp = suffixed(path, ".tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}
