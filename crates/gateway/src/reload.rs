//! Receipt keys reloaded at runtime: from the embedding code ([`Gateway::reload_receipt_keys`]),
//! on SIGHUP, or when a watched file changes ([`KeyWatch`]). A reload that fails keeps the keys
//! in force and logs why, naming key ids and paths but never secret text.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;
use tokio::time::{Interval, MissedTickBehavior};

use crate::config::{ConfigError, ReceiptsConfig};
use crate::gate::Gateway;
use crate::keys::{ReceiptKeys, Rotation};
use crate::receipt::KeyRing;
use crate::setup::load_keys;

impl Gateway {
    /// The receipt keys in force (when receipts are configured), for an application that
    /// rotates them from its own code with [`ReceiptKeys::rotate`].
    pub fn receipt_keys(&self) -> Option<&ReceiptKeys> {
        self.receipts.as_ref().map(|r| &r.keys)
    }

    /// Reads the receipt keys again from where `c` says and puts them in force; on error the
    /// keys in force stay and the error says why.
    pub fn reload_receipt_keys(
        &self,
        c: &ReceiptsConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Rotation, ConfigError> {
        let keys = self
            .receipt_keys()
            .ok_or_else(|| ConfigError::Invalid("receipts are not configured".into()))?;
        apply(keys, load_keys(c, env), "call")
    }
}

/// Loads a fresh key ring, e.g. by reading the gateway config and its key file again.
pub type Loader = Box<dyn Fn() -> Result<KeyRing, ConfigError> + Send + Sync>;

/// Reloads receipt keys on SIGHUP and when a watched file changes, in a task of its own.
pub struct KeyWatch {
    keys: ReceiptKeys,
    load: Loader,
    files: Vec<PathBuf>,
    every: Option<Duration>,
    sighup: bool,
}

impl KeyWatch {
    /// A watch that puts what `load` returns in force on each trigger (none yet).
    pub fn new(
        keys: ReceiptKeys,
        load: impl Fn() -> Result<KeyRing, ConfigError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            keys,
            load: Box::new(load),
            files: Vec::new(),
            every: None,
            sighup: false,
        }
    }

    /// Also reloads when one of `files` changes (size, modification time or inode), checked
    /// `every` so long.
    pub fn files(mut self, files: Vec<PathBuf>, every: Duration) -> Self {
        self.files = files;
        self.every = Some(every);
        self
    }

    /// Also reloads on SIGHUP. This takes SIGHUP for the whole process, which then no longer
    /// stops it: the CLI opts in, a library user decides for its own process.
    pub fn on_sighup(mut self) -> Self {
        self.sighup = true;
        self
    }

    /// Starts watching. SIGHUP is taken before this returns, so a signal sent once it has
    /// returned reloads rather than stops the process; abort the handle to stop.
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        let hangups = Hangups::listen(self.sighup)?;
        // Taken now, so a change made once this has returned is a change.
        let seen = fingerprint(&self.files);
        Ok(tokio::spawn(self.run(hangups, seen)))
    }

    async fn run(self, mut hangups: Hangups, mut seen: Vec<Option<Stamp>>) {
        let mut ticks = self.every.map(|every| {
            let mut i = tokio::time::interval(every);
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            i
        });
        loop {
            let trigger = tokio::select! {
                () = hangups.recv() => "sighup",
                () = tick(&mut ticks) => {
                    if fingerprint(&self.files) == seen {
                        continue;
                    }
                    "file change"
                }
            };
            // Taken before loading, so a write that lands during the load is seen next tick.
            seen = fingerprint(&self.files);
            // A failure is logged inside, and the keys in force stay.
            let _ = apply(&self.keys, (self.load)(), trigger);
        }
    }
}

/// Puts a loaded ring in force and logs what changed, or logs why it was not loaded.
fn apply(
    keys: &ReceiptKeys,
    loaded: Result<KeyRing, ConfigError>,
    trigger: &str,
) -> Result<Rotation, ConfigError> {
    match loaded {
        Ok(ring) => {
            let r = keys.rotate(ring);
            log_rotation(&r, trigger);
            Ok(r)
        }
        Err(e) => {
            tracing::error!(
                trigger,
                error = %describe(&e),
                "receipt keys not reloaded; the keys in force stay"
            );
            Err(e)
        }
    }
}

fn log_rotation(r: &Rotation, trigger: &str) {
    if !r.changed() {
        tracing::info!(trigger, signing = %r.signing, "receipt keys reloaded, unchanged");
        return;
    }
    tracing::info!(
        trigger,
        added = ?r.added,
        removed = ?r.removed,
        signing = %r.signing,
        previous_signing = %r.previous_signing,
        "receipt keys reloaded"
    );
    if !r.replaced.is_empty() {
        tracing::warn!(
            kids = ?r.replaced,
            "receipt key secret changed under the same id: receipts it signed before are refused"
        );
    }
}

/// An error for the log. A TOML error quotes the offending line, which may hold a secret pasted
/// in the wrong place, so it is named by position only.
fn describe(e: &ConfigError) -> String {
    match e {
        ConfigError::Toml(t) => format!(
            "config is not valid TOML for a gateway (at bytes {:?})",
            t.span()
        ),
        other => other.to_string(),
    }
}

/// What identifies a file's contents cheaply: size, modification time and, on unix, inode
/// (a file replaced by rename changes inode even within one clock tick).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

/// One stamp per file, `None` for a file that cannot be read now.
fn fingerprint(files: &[PathBuf]) -> Vec<Option<Stamp>> {
    files
        .iter()
        .map(|p| std::fs::metadata(p).ok().map(|m| stamp(&m)))
        .collect()
}

fn stamp(m: &std::fs::Metadata) -> Stamp {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(m);
    #[cfg(not(unix))]
    let inode = 0;
    Stamp {
        len: m.len(),
        modified: m.modified().ok(),
        inode,
    }
}

/// The next poll tick, or never when files are not watched.
async fn tick(ticks: &mut Option<Interval>) {
    match ticks {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// SIGHUP deliveries, or nothing when not asked for (or not on unix).
struct Hangups(#[cfg(unix)] Option<tokio::signal::unix::Signal>);

impl Hangups {
    #[cfg(unix)]
    fn listen(on: bool) -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self(if on {
            Some(signal(SignalKind::hangup())?)
        } else {
            None
        }))
    }

    #[cfg(not(unix))]
    fn listen(_on: bool) -> std::io::Result<Self> {
        Ok(Self())
    }

    /// Resolves on each SIGHUP; never when not listening.
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(s) = &mut self.0
            && s.recv().await.is_some()
        {
            return;
        }
        std::future::pending().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipt::tests::ring;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_failed_load_keeps_the_keys_in_force() {
        let keys = ReceiptKeys::new(ring(&[("k1", 1)], "k1"));
        let e = apply(&keys, Err(ConfigError::Invalid("bad".into())), "test");
        assert!(e.is_err());
        assert_eq!(keys.current().signing_kid(), "k1");
        let r = apply(&keys, Ok(ring(&[("k1", 1), ("k2", 2)], "k2")), "test").unwrap();
        assert_eq!(r.added, ["k2"]);
        assert_eq!(keys.current().signing_kid(), "k2");
    }

    #[test]
    fn toml_errors_are_described_without_their_text() {
        let secret = "ab".repeat(32);
        let e = crate::GatewayConfig::parse(&format!("keys = \"k1:{secret}\"")).unwrap_err();
        assert!(e.to_string().contains(&secret), "toml quotes the line");
        assert!(!describe(&e).contains(&secret), "{}", describe(&e));
    }

    #[test]
    fn fingerprint_sees_a_rename_and_a_removal() {
        let dir = tempdir();
        let path = dir.join("keys");
        std::fs::write(&path, "a").unwrap();
        let files = vec![path.clone()];
        let before = fingerprint(&files);
        let tmp = dir.join("keys.new");
        std::fs::write(&tmp, "b").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_ne!(fingerprint(&files), before, "same size, new inode");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(fingerprint(&files), vec![None]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_changed_file_is_reloaded_by_the_watch() {
        let dir = tempdir();
        let path = dir.join("keys");
        std::fs::write(&path, "k1").unwrap();
        let keys = ReceiptKeys::new(ring(&[("k1", 1)], "k1"));
        let loads = Arc::new(AtomicUsize::new(0));
        let (p, n) = (path.clone(), loads.clone());
        let watch = KeyWatch::new(keys.clone(), move || {
            n.fetch_add(1, Ordering::SeqCst);
            let kid = std::fs::read_to_string(&p).map_err(|e| ConfigError::Io(p.clone(), e))?;
            KeyRing::new(vec![(kid.clone(), vec![7; 32])], &kid)
                .map_err(|e| ConfigError::Invalid(e.to_string()))
        })
        .files(vec![path.clone()], Duration::from_millis(10))
        .spawn()
        .unwrap();
        let tmp = dir.join("keys.new");
        std::fs::write(&tmp, "k2").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while keys.current().signing_kid() != "k2" {
            assert!(tokio::time::Instant::now() < deadline, "reload not seen");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1, "one change, one load");
        watch.abort();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A fresh directory under the temp dir (the crate has no tempfile dependency).
    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tollgate-reload-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
