//! The CLI's state file (`--state`): what one repository owns in one OSM project, and whose it is.
//!
//! - It records its identity (owner, OSM URL, project) and is refused when used with another
//!   repository, OSM or project: another repository's state file must never drive a prune.
//! - It is locked (`<file>.lock`) for the whole run, so two runs sharing it take turns.
//! - It is written before the first write to OSM (so an unwritable path stops the run before
//!   anything is sent) and after every answered write (so a crash or kill loses nothing).
//! - It remembers a rollout paused by a failed batch, for the repository content it paused on, as
//!   the controller keeps it per revision: later runs of that content send nothing until
//!   `--resume-rollout`.
//! - It keeps the cursor of OSM's operation history and the operations the plan needs of the NS
//!   instances the repository declares ([`OpsMemory`]), so an unchanged run reads only what
//!   changed in OSM since the last one instead of OSM's whole history.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{files, CliError};
use crate::engine::OpsMemory;
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

/// A rollout a failed batch paused (failure policy `pause`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PausedRollout {
    /// `sha256:` of the repository content the rollout paused on ([`DesiredState::digest`]).
    ///
    /// [`DesiredState::digest`]: crate::repo::DesiredState::digest
    pub digest: String,
    /// Why it paused.
    pub message: String,
    /// RFC 3339 time it paused.
    pub at: String,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rollout_paused: Option<PausedRollout>,
    /// What the last run read of OSM's operation history (a cursor and what the plan needs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    osm_operations: Option<OpsMemory>,
}

/// An open state file: locked while this value lives.
pub struct StateStore {
    path: PathBuf,
    identity: Identity,
    _lock: Option<File>,
    paused: std::sync::Mutex<Option<PausedRollout>>,
    operations: std::sync::Mutex<Option<OpsMemory>>,
    rebound_from: Option<String>,
}

/// How a state file is opened.
#[derive(Debug, Clone, Copy, Default)]
pub struct Access {
    /// Accept a file of an earlier osmops that does not record whose it is (`--adopt-state`).
    pub adopt_legacy: bool,
    /// Accept a file recorded for another URL of this OSM (`--rebind-state-url`), pending the
    /// check that OSM holds what it records.
    pub rebind_url: bool,
    /// Take the lock, waiting at most this long.
    pub lock_for: Option<Duration>,
}

/// What a state file says, once it is known to be this sync's.
struct Read {
    inventory: Inventory,
    paused: Option<PausedRollout>,
    operations: Option<OpsMemory>,
    rebound_from: Option<String>,
}

impl StateStore {
    /// Reads the state file for `identity`. With `how.lock_for`, first takes the lock (waiting at
    /// most that long for another run to finish) and writes the file back, which proves it can be
    /// written before anything is sent to OSM. A file recorded for another URL of the same OSM is
    /// opened only with `how.rebind_url`, and then not written back until the caller has checked
    /// that OSM holds what it records ([`StateStore::rebound_from`], [`StateStore::confirm_rebind`]).
    pub fn open(
        path: &Path,
        identity: Identity,
        how: Access,
    ) -> Result<(StateStore, Inventory), CliError> {
        files::check_writable_target(path, "state file")?;
        let lock = match how.lock_for {
            Some(wait) => Some(take_lock(path, wait)?),
            None => None,
        };
        let read = read(path, &identity, &how)?;
        let store = StateStore {
            path: path.to_owned(),
            identity,
            _lock: lock,
            paused: std::sync::Mutex::new(read.paused),
            // Ids of another URL's OSM would only cost a full read; a rebind starts afresh.
            operations: std::sync::Mutex::new(
                read.operations.filter(|_| read.rebound_from.is_none()),
            ),
            rebound_from: read.rebound_from,
        };
        if store._lock.is_some() && store.rebound_from.is_none() {
            store
                .save(&read.inventory)
                .map_err(|e| CliError::Input(format!("{e}; nothing was sent to OSM")))?;
        }
        Ok((store, read.inventory))
    }

    /// The OSM URL the file recorded, when it was opened for a new URL (`--rebind-state-url`)
    /// and the rebind is not confirmed yet.
    pub fn rebound_from(&self) -> Option<&str> {
        self.rebound_from.as_deref()
    }

    /// Records the new URL once the caller checked that the OSM behind it holds what the file
    /// records.
    pub fn confirm_rebind(&self, inventory: &Inventory) -> Result<(), CliError> {
        self.save(inventory)
            .map_err(|e| CliError::Input(format!("{e}; nothing was sent to OSM")))
    }

    /// The rollout a failed batch paused, if the state file records one.
    pub fn paused(&self) -> Option<PausedRollout> {
        self.paused.lock().expect("paused rollout").clone()
    }

    /// What the last run read of OSM's operation history (empty: read it all).
    pub fn operations(&self) -> OpsMemory {
        self.operations
            .lock()
            .expect("operations")
            .clone()
            .unwrap_or_default()
    }

    /// Records what this run read of OSM's operation history, with the inventory as it is now.
    pub fn set_operations(&self, memory: OpsMemory, inventory: &Inventory) -> Result<(), String> {
        *self.operations.lock().expect("operations") = Some(memory);
        self.save(inventory)
    }

    /// Records (or, with `None`, clears) a paused rollout, with the inventory as it is now.
    pub fn set_paused(
        &self,
        paused: Option<PausedRollout>,
        inventory: &Inventory,
    ) -> Result<(), String> {
        *self.paused.lock().expect("paused rollout") = paused;
        self.save(inventory)
    }

    /// Writes the state atomically (temporary file, then rename).
    pub fn save(&self, inventory: &Inventory) -> Result<(), String> {
        let file = StateFile {
            version: VERSION,
            owner: Some(self.identity.owner.clone()),
            osm_url: Some(self.identity.osm_url.clone()),
            project: Some(self.identity.project.clone()),
            inventory: inventory.clone(),
            rollout_paused: self.paused(),
            osm_operations: self.operations.lock().expect("operations").clone(),
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

fn read(path: &Path, identity: &Identity, how: &Access) -> Result<Read, CliError> {
    let Some(text) = files::read_bounded(path, "state file")? else {
        return Ok(Read {
            inventory: Inventory::default(),
            paused: None,
            operations: None,
            rebound_from: None,
        });
    };
    let file: StateFile = serde_json::from_str(&text)
        .map_err(|e| CliError::Input(format!("invalid state file {}: {e}", path.display())))?;
    let ok = |file: StateFile, rebound_from: Option<String>| Read {
        inventory: file.inventory,
        paused: file.rollout_paused,
        operations: file.osm_operations,
        rebound_from,
    };
    let recorded = match (&file.owner, &file.osm_url, &file.project) {
        (Some(owner), Some(osm_url), Some(project)) => Identity {
            owner: owner.clone(),
            osm_url: osm_url.clone(),
            project: project.clone(),
        },
        _ if file.inventory.is_empty() || how.adopt_legacy => return Ok(ok(file, None)),
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
        return Ok(ok(file, None));
    }
    let only_url = recorded.owner == identity.owner && recorded.project == identity.project;
    if only_url && how.rebind_url {
        return Ok(ok(file, Some(recorded.osm_url)));
    }
    let hint = if only_url {
        format!(
            "If {} is the same OSM reached through another URL (a proxy, an IP address instead of a name), run once with --rebind-state-url: osmops then checks that the OSM there holds the objects this file records before it records the new URL",
            identity.osm_url
        )
    } else if recorded.owner != identity.owner {
        "If this repository moved (another remote or path), give its old identity with --owner"
            .to_owned()
    } else {
        "Use the state file of this repository, OSM and project".to_owned()
    };
    Err(CliError::Input(format!(
        "state file {} belongs to another sync: it records {}. Using it here could delete what it records. {hint}",
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
        let (store, inv) = StateStore::open(
            &path,
            id("a"),
            Access {
                lock_for: Some(Duration::ZERO),
                ..Access::default()
            },
        )
        .unwrap();
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
        let (_, again) = StateStore::open(&path, id("a"), Access::default()).unwrap();
        assert_eq!(again, inv);
        let err = StateStore::open(&path, id("b"), Access::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("owner 'a' (now 'b')"), "{err}");
        assert!(err.to_string().contains("--owner"), "{err}");
    }

    #[test]
    fn another_url_of_the_same_osm_is_accepted_only_with_rebind_and_saved_only_when_confirmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("st.json");
        let (store, _) = StateStore::open(
            &path,
            id("a"),
            Access {
                lock_for: Some(Duration::ZERO),
                ..Access::default()
            },
        )
        .unwrap();
        drop(store);
        let mut moved = id("a");
        moved.osm_url = "https://10.0.0.7/osm".into();
        let err = StateStore::open(&path, moved.clone(), Access::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("--rebind-state-url"), "{err}");
        let (store, _) = StateStore::open(
            &path,
            moved,
            Access {
                rebind_url: true,
                lock_for: Some(Duration::ZERO),
                ..Access::default()
            },
        )
        .unwrap();
        assert_eq!(store.rebound_from(), Some("https://osm.example/osm"));
        // Not written back before the check.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("https://osm.example/osm"), "{text}");
        store.confirm_rebind(&Inventory::default()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("https://10.0.0.7/osm"), "{text}");
    }

    #[test]
    fn devices_and_fifos_are_refused_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for path in [fifo.as_path(), Path::new("/dev/zero")] {
            for lock in [None, Some(Duration::ZERO)] {
                let err = StateStore::open(
                    path,
                    id("a"),
                    Access {
                        lock_for: lock,
                        ..Access::default()
                    },
                )
                .err()
                .unwrap();
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
        let (_held, _) = StateStore::open(
            &path,
            id("a"),
            Access {
                lock_for: Some(Duration::ZERO),
                ..Access::default()
            },
        )
        .unwrap();
        let err = StateStore::open(
            &path,
            id("a"),
            Access {
                lock_for: Some(Duration::from_millis(200)),
                ..Access::default()
            },
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("still in use"), "{err}");
    }

    #[test]
    fn an_unwritable_path_is_refused_before_anything_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nodir/st.json");
        let err = StateStore::open(
            &path,
            id("a"),
            Access {
                lock_for: Some(Duration::ZERO),
                ..Access::default()
            },
        )
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
        let err = StateStore::open(&path, id("a"), Access::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("--adopt-state"), "{err}");
        let (_, inv) = StateStore::open(
            &path,
            id("a"),
            Access {
                adopt_legacy: true,
                lock_for: None,
                ..Access::default()
            },
        )
        .unwrap();
        assert_eq!(inv.ns_instances.len(), 1);
    }
}
