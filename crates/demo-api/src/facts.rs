//! The demo's data: the facts JSON (built in, or a file given at start) and a count of the data
//! calls served, so tests can see how often a paid handler really ran.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

/// The facts file shipped with this crate.
const EMBEDDED: &str = include_str!("../analytics-facts.json");
/// Largest facts file read.
const MAX_FACTS_BYTES: u64 = 4 * 1024 * 1024;

/// The demo's data and a count of data calls served (lets tests see how often a handler ran).
pub struct Demo {
    pub(crate) facts: Value,
    served: AtomicU64,
}

impl Demo {
    /// The facts compiled into the binary.
    pub fn embedded() -> Arc<Self> {
        Self::from_json(EMBEDDED).expect("embedded fixture is valid JSON")
    }

    /// Facts from a file, size-capped.
    pub fn load(path: &Path) -> std::io::Result<Arc<Self>> {
        if std::fs::metadata(path)?.len() > MAX_FACTS_BYTES {
            return Err(std::io::Error::other("facts file too large"));
        }
        Self::from_json(&std::fs::read_to_string(path)?).map_err(std::io::Error::other)
    }

    fn from_json(text: &str) -> Result<Arc<Self>, serde_json::Error> {
        Ok(Arc::new(Self {
            facts: serde_json::from_str(text)?,
            served: AtomicU64::new(0),
        }))
    }

    /// Data responses served so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }

    pub(crate) fn symbols(&self) -> Vec<String> {
        self.facts["grades"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn hit(&self) {
        self.served.fetch_add(1, Ordering::SeqCst);
    }
}
