//! The CLI's state file (`--state`): what one repository owns in one OSM project, and whose it is.
//!
//! - It records its identity (owner, OSM URL, project) and is refused when used with another
//!   repository, OSM or project: another repository's state file must never drive a prune.
//! - It is locked (`<file>.lock`) for the whole run, so two runs sharing it take turns.
//! - It is written before the first write to OSM (so an unwritable path stops the run before
//!   anything is sent) and after every answered write (so a crash or kill loses nothing).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{files, CliError};
use crate::plan::Inventory;

const VERSION: u32 = 2;

/// Whose a state file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub owner: String,
    /// The OSM URL as shown (user-info removed), or `embedded-simulator`.
    pub osm_url: String,
    pub project: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateFile {
    #[serde(default)]
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    osm_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    project: Option<String>,
    #[serde(flatten)]
    inventory: Inventory,
}

/// An open state file: locked while this value lives.
pub struct StateStore {
    path: PathBuf,
    identity: Identity,
    _lock: Option<File>,
}

impl StateStore {
    /// Reads the state file for `identity`. With `lock_for`, first takes the lock (waiting at most
    /// that long for another run to finish) and writes the file back, which proves it can be
    /// written before anything is sent to OSM.
    pub fn open(
        path: &Path,
        identity: Identity,
        adopt: bool,
        lock_for: Option<Duration>,
    ) -> Result<(StateStore, Inventory), CliError> {
        // Checked before the lock is taken and the file written back: a device or FIFO named by
        // mistake must neither block the run nor be replaced by a state file.
        files::check_writable_target(path, "state file")?;
        let lock = match lock_for {
            Some(wait) => Some(take_lock(path, wait)?),
            None => None,
        };
        let inventory = read(path, &identity, adopt)?;
        let store = StateStore {
            path: path.to_owned(),
            identity,
            _lock: lock,
        };
        if store._lock.is_some() {
            store
                .save(&inventory)
                .map_err(|e| CliError::Input(format!("{e}; nothing was sent to OSM")))?;
        }
        Ok((store, inventory))
    }

    /// Writes the state atomically (temporary file, then rename).
    pub fn save(&self, inventory: &Inventory) -> Result<(), String> {
        let file = StateFile {
            version: VERSION,
            owner: Some(self.identity.owner.clone()),
            osm_url: Some(self.identity.osm_url.clone()),
            project: Some(self.identity.project.clone()),
            inventory: inventory.clone(),
        };
        let text = serde_json::to_string_pretty(&file).expect("the state serializes") + "\n";
        let tmp = tmp_path(&self.path);
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &self.path))
            .map_err(|e| format!("cannot write state file {}: {e}", self.path.display()))
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

fn take_lock(path: &Path, wait: Duration) -> Result<File, CliError> {
    let lock_path = lock_path(path);
    let file = files::open_regular(&lock_path, "state file lock", true)
        .map_err(|e| {
            CliError::Input(format!(
                "cannot use state file {}: {e}; nothing was sent to OSM",
                path.display(),
            ))
        })?
        .expect("opened for writing, so created when missing");
    let started = Instant::now();
    let mut said = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {
                if !said {
                    eprintln!(
                        "waiting for {}: another osmops run is using this state file",
                        lock_path.display()
                    );
                    said = true;
                }
                if started.elapsed() >= wait {
                    return Err(CliError::Osm(format!(
                        "state file {} is still in use by another osmops run after {}s; nothing was sent to OSM",
                        path.display(),
                        wait.as_secs()
                    )));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(CliError::Input(format!(
                    "cannot lock state file {}: {e}; nothing was sent to OSM",
                    path.display()
                )))
            }
        }
    }
}

fn read(path: &Path, identity: &Identity, adopt: bool) -> Result<Inventory, CliError> {
    let Some(text) = files::read_bounded(path, "state file")? else {
        return Ok(Inventory::default());
    };
    let file: StateFile = serde_json::from_str(&text)
        .map_err(|e| CliError::Input(format!("invalid state file {}: {e}", path.display())))?;
    let recorded = match (file.owner, file.osm_url, file.project) {
        (Some(owner), Some(osm_url), Some(project)) => Identity {
            owner,
            osm_url,
            project,
        },
        _ if file.inventory.is_empty() || adopt => return Ok(file.inventory),
        _ => {
            return Err(CliError::Input(format!(
                "state file {} does not say whose it is (written by an earlier osmops): check that it belongs to this repository ({}), OSM ({}) and project ({}), then run once with --adopt-state to record that",
                path.display(),
                identity.owner,
                identity.osm_url,
                identity.project
            )))
        }
    };
    let mut differences = Vec::new();
    for (what, was, is) in [
        ("owner", &recorded.owner, &identity.owner),
        ("OSM URL", &recorded.osm_url, &identity.osm_url),
        ("project", &recorded.project, &identity.project),
    ] {
        if was != is {
            differences.push(format!("{what} '{was}' (now '{is}')"));
        }
    }
    if differences.is_empty() {
        return Ok(file.inventory);
    }
    Err(CliError::Input(format!(
        "state file {} belongs to another sync: it records {}. Using it here could delete what it records; use the state file of this repository and OSM (or --owner if this repository moved)",
        path.display(),
        differences.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::NsEntry;

    fn id(owner: &str) -> Identity {
        Identity {
            owner: owner.into(),
            osm_url: "https://osm.example/osm".into(),
            project: "admin".into(),
        }
    }

    #[test]
    fn identity_is_recorded_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("st.json");
        let (store, inv) = StateStore::open(&path, id("a"), false, Some(Duration::ZERO)).unwrap();
        assert!(inv.is_empty());
        let mut inv = Inventory::default();
        inv.ns_instances.insert(
            "x".into(),
            NsEntry {
                osm_id: "1".into(),
                digest: "d".into(),
                instantiate_attempts: 0,
                adopted: false,
            },
        );
        store.save(&inv).unwrap();
        drop(store);
        let (_, again) = StateStore::open(&path, id("a"), false, None).unwrap();
        assert_eq!(again, inv);
        let err = StateStore::open(&path, id("b"), false, None).err().unwrap();
        assert!(err.to_string().contains("owner 'a' (now 'b')"), "{err}");
    }

    #[test]
    fn devices_and_fifos_are_refused_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for path in [fifo.as_path(), Path::new("/dev/zero")] {
            for lock in [None, Some(Duration::ZERO)] {
                let err = StateStore::open(path, id("a"), false, lock).err().unwrap();
                assert!(matches!(err, CliError::Input(_)), "{err}");
                assert!(err.to_string().contains("not a regular file"), "{err}");
            }
        }
        // Nothing was created beside the device (no lock, no temporary file).
        assert!(!Path::new("/dev/zero.lock").exists());
        assert!(!Path::new("/dev/zero.tmp").exists());
        let meta = std::fs::symlink_metadata(&fifo).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()));
    }

    #[test]
    fn a_second_run_waits_for_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("st.json");
        let (_held, _) = StateStore::open(&path, id("a"), false, Some(Duration::ZERO)).unwrap();
        let err = StateStore::open(&path, id("a"), false, Some(Duration::from_millis(200)))
            .err()
            .unwrap();
        assert!(err.to_string().contains("still in use"), "{err}");
    }

    #[test]
    fn an_unwritable_path_is_refused_before_anything_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nodir/st.json");
        let err = StateStore::open(&path, id("a"), false, Some(Duration::ZERO))
            .err()
            .unwrap();
        assert!(matches!(err, CliError::Input(_)));
        assert!(err.to_string().contains("nothing was sent to OSM"), "{err}");
    }

    #[test]
    fn legacy_files_need_adoption_when_they_own_something() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("st.json");
        std::fs::write(
            &path,
            r#"{"nsInstances": {"x": {"osmId": "1", "digest": "d"}}, "packages": {}}"#,
        )
        .unwrap();
        let err = StateStore::open(&path, id("a"), false, None).err().unwrap();
        assert!(err.to_string().contains("--adopt-state"), "{err}");
        let (_, inv) = StateStore::open(&path, id("a"), true, None).unwrap();
        assert_eq!(inv.ns_instances.len(), 1);
    }
}
