//! What has been spent, per asset: reserved before signing so concurrent calls can never
//! overrun a budget together, and optionally kept in a file so a budget spans processes.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use tollgate_proto::{U256, parse_atomic};

use crate::policy::AssetKey;

/// Largest spending file read.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Spent amounts per asset, in memory or in a locked file shared by processes.
#[derive(Debug, Default)]
pub struct Spending {
    memory: Mutex<BTreeMap<String, U256>>,
    file: Option<PathBuf>,
}

/// Why spending could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum SpendingError {
    #[error("spending file {0}: {1}")]
    File(String, String),
    #[error("would spend {wanted} on top of {spent}, over the budget of {budget}")]
    OverBudget {
        wanted: U256,
        spent: U256,
        budget: U256,
    },
}

type Totals = BTreeMap<String, U256>;

impl Spending {
    /// Spending kept for this process only.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// Spending kept in `path` (JSON), locked on every change so processes share one budget.
    pub fn in_file(path: impl Into<PathBuf>) -> Self {
        Self {
            memory: Mutex::default(),
            file: Some(path.into()),
        }
    }

    /// What has been spent (or reserved) in `key`.
    pub fn spent(&self, key: &AssetKey) -> Result<U256, SpendingError> {
        self.with_totals(|t| Ok(t.get(&key.to_string()).copied().unwrap_or_default()))
    }

    /// Adds `amount` to `key` only if the total stays within `budget`; all or nothing.
    pub fn reserve(
        &self,
        key: &AssetKey,
        amount: U256,
        budget: Option<U256>,
    ) -> Result<(), SpendingError> {
        self.with_totals(|t| {
            let spent = t.get(&key.to_string()).copied().unwrap_or_default();
            let total = spent.checked_add(amount);
            match (total, budget) {
                (Some(total), Some(b)) if total <= b => {}
                (Some(_), None) => {}
                _ => {
                    return Err(SpendingError::OverBudget {
                        wanted: amount,
                        spent,
                        budget: budget.unwrap_or(U256::MAX),
                    });
                }
            }
            t.insert(key.to_string(), total.expect("checked above"));
            Ok(())
        })
    }

    /// Returns a reservation whose payment certainly did not happen.
    pub fn release(&self, key: &AssetKey, amount: U256) -> Result<(), SpendingError> {
        self.with_totals(|t| {
            let e = t.entry(key.to_string()).or_default();
            *e = e.saturating_sub(amount);
            Ok(())
        })
    }

    fn with_totals<T>(
        &self,
        f: impl FnOnce(&mut Totals) -> Result<T, SpendingError>,
    ) -> Result<T, SpendingError> {
        let mut mem = self.memory.lock().expect("spending lock poisoned");
        let Some(path) = &self.file else {
            return f(&mut mem);
        };
        let err =
            |e: std::io::Error| SpendingError::File(path.display().to_string(), e.to_string());
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(err)?;
        file.lock().map_err(err)?;
        let mut totals = read_totals(&mut file)
            .map_err(|e| SpendingError::File(path.display().to_string(), e))?;
        let out = f(&mut totals)?;
        write_totals(&mut file, &totals).map_err(err)?;
        Ok(out)
    }
}

fn read_totals(file: &mut File) -> Result<Totals, String> {
    if file.metadata().map_err(|e| e.to_string())?.len() > MAX_FILE_BYTES {
        return Err("file is too large".into());
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| e.to_string())?;
    if text.trim().is_empty() {
        return Ok(Totals::new());
    }
    let raw: BTreeMap<String, String> = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    raw.into_iter()
        .map(|(k, v)| parse_atomic(&v).map(|v| (k, v)).map_err(|e| e.to_string()))
        .collect()
}

fn write_totals(file: &mut File, totals: &Totals) -> std::io::Result<()> {
    let raw: BTreeMap<&String, String> = totals.iter().map(|(k, v)| (k, v.to_string())).collect();
    let text = serde_json::to_string_pretty(&raw).expect("strings serialize");
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(text.as_bytes())?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_holds_across_threads_and_processes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spent.json");
        let key = AssetKey::new("eip155:8453", "0xAA");
        let budget = Some(U256::from(1_000u64));
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    // A separate Spending per thread: like separate processes sharing the file.
                    let sp = Spending::in_file(&path);
                    for _ in 0..100 {
                        let _ = sp.reserve(&key, U256::from(7u64), budget);
                    }
                });
            }
        });
        let spent = Spending::in_file(&path).spent(&key).unwrap();
        assert_eq!(
            spent,
            U256::from(994u64),
            "142 payments of 7 fit in 1000, and no more"
        );
    }

    #[test]
    fn release_and_overflow() {
        let sp = Spending::in_memory();
        let key = AssetKey::new("eip155:8453", "0xaa");
        sp.reserve(&key, U256::MAX, None).unwrap();
        assert!(
            sp.reserve(&key, U256::from(1u8), None).is_err(),
            "no wrap past 2^256-1"
        );
        sp.release(&key, U256::MAX).unwrap();
        assert_eq!(sp.spent(&key).unwrap(), U256::ZERO);
    }
}
