//! Confined file access for the repository reader. Every path the reader opens is resolved
//! (symbolic links followed) and must stay inside the repository root; a link that leaves it is an
//! error naming the link, wherever it is in the folders read. Sizes are checked from metadata
//! before anything is read, so a huge (or sparse) file costs a `stat`, not gigabytes of memory.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{display_rel, Problem};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    /// FIFO, socket, device: never read (a FIFO would block the reader forever).
    Other,
}

/// A file or folder as the repository shows it (`path`, through links) and where its data is
/// (`real`, always inside the root).
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub path: PathBuf,
    pub real: PathBuf,
    pub name: String,
    pub kind: Kind,
    pub len: u64,
}

/// One folder entry by name: resolved, or why it cannot be.
pub(crate) type Listed = (String, Result<Entry, Problem>);

pub(crate) struct RepoFs {
    root: PathBuf,
    canonical: PathBuf,
}

impl RepoFs {
    pub fn new(root: &Path) -> Result<RepoFs, Problem> {
        let canonical = root.canonicalize().map_err(|e| {
            Problem::new(
                root.display().to_string(),
                None,
                format!("cannot open the repository: {e}"),
            )
        })?;
        if !canonical.is_dir() {
            return Err(Problem::new(
                root.display().to_string(),
                None,
                "the repository must be a directory",
            ));
        }
        Ok(RepoFs {
            root: root.to_path_buf(),
            canonical,
        })
    }

    /// `path` relative to the repository root, for messages.
    pub fn rel(&self, path: &Path) -> String {
        display_rel(&self.root, path)
    }

    /// The repository root itself.
    pub fn root_entry(&self) -> Entry {
        Entry {
            path: self.root.clone(),
            real: self.canonical.clone(),
            name: String::new(),
            kind: Kind::Dir,
            len: 0,
        }
    }

    /// Resolves a path below the root (given as seen from the root, links anywhere on the way);
    /// `Ok(None)` when nothing is there.
    pub fn resolve(&self, path: &Path) -> Result<Option<Entry>, Problem> {
        let display = self.rel(path);
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Problem::new(display, None, format!("cannot read: {e}"))),
            Ok(_) => {}
        }
        let real = path.canonicalize().map_err(|e| {
            Problem::new(
                &display,
                None,
                format!("is a symbolic link that cannot be followed: {e}"),
            )
        })?;
        self.confine(&display, &real)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.entry(path.to_path_buf(), real, name).map(Some)
    }

    fn confine(&self, display: &str, real: &Path) -> Result<(), Problem> {
        if real.starts_with(&self.canonical) {
            Ok(())
        } else {
            Err(Problem::new(
                display,
                None,
                format!(
                    "is a symbolic link to '{}', outside the repository: OSM Ops reads nothing outside the repository",
                    real.display()
                ),
            ))
        }
    }

    fn entry(&self, path: PathBuf, real: PathBuf, name: String) -> Result<Entry, Problem> {
        let meta = std::fs::metadata(&real)
            .map_err(|e| Problem::new(self.rel(&path), None, format!("cannot read: {e}")))?;
        let kind = if meta.is_dir() {
            Kind::Dir
        } else if meta.is_file() {
            Kind::File
        } else {
            Kind::Other
        };
        Ok(Entry {
            path,
            real,
            name,
            kind,
            len: meta.len(),
        })
    }

    /// The entries of a folder by name, sorted; links are resolved and confined. An escaping or
    /// broken link is a problem for that entry, reported with the others.
    pub fn list(&self, dir: &Entry) -> Result<Vec<Listed>, Problem> {
        let read = std::fs::read_dir(&dir.real)
            .map_err(|e| Problem::new(self.rel(&dir.path), None, format!("cannot list: {e}")))?;
        let mut names = Vec::new();
        for item in read {
            let item = item.map_err(|e| {
                Problem::new(self.rel(&dir.path), None, format!("cannot list: {e}"))
            })?;
            let is_link = item.file_type().map(|t| t.is_symlink()).unwrap_or(false);
            names.push((item.file_name(), is_link));
        }
        names.sort();
        Ok(names
            .into_iter()
            .map(|(name, is_link)| {
                let path = dir.path.join(&name);
                let display = self.rel(&path);
                let name = name.to_string_lossy().into_owned();
                let entry = (|| {
                    let real = if is_link {
                        let real = dir.real.join(&name).canonicalize().map_err(|e| {
                            Problem::new(&display, None, format!("is a broken symbolic link: {e}"))
                        })?;
                        self.confine(&display, &real)?;
                        real
                    } else {
                        // A plain entry of a confined folder is inside too.
                        dir.real.join(&name)
                    };
                    self.entry(path, real, name.clone())
                })();
                (name, entry, is_link)
            })
            // An entry that disappeared since the folder was listed (a file being replaced by a
            // rename, like a state file written next to the repository) was never part of it.
            .filter(|(name, entry, is_link)| {
                entry.is_ok()
                    || *is_link
                    || !matches!(std::fs::symlink_metadata(dir.real.join(name)),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound)
            })
            .map(|(name, entry, _)| (name, entry))
            .collect())
    }

    /// Reads a file as UTF-8 text after checking its size against `max`.
    pub fn read_text(&self, file: &Entry, max: u64) -> Result<String, Problem> {
        let display = self.rel(&file.path);
        if file.kind != Kind::File {
            return Err(Problem::new(display, None, "is not a regular file"));
        }
        if file.len > max {
            return Err(Problem::new(
                display,
                None,
                format!(
                    "is {} bytes, more than the {max} bytes allowed for a YAML file (see --max-yaml-bytes)",
                    file.len
                ),
            ));
        }
        let f = std::fs::File::open(&file.real)
            .map_err(|e| Problem::new(&display, None, format!("cannot read: {e}")))?;
        // The file may have grown since the stat: never read more than the limit.
        let mut bytes = Vec::with_capacity(file.len as usize);
        f.take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Problem::new(&display, None, format!("cannot read: {e}")))?;
        if bytes.len() as u64 > max {
            return Err(Problem::new(
                display,
                None,
                format!("is more than the {max} bytes allowed for a YAML file"),
            ));
        }
        String::from_utf8(bytes).map_err(|_| Problem::new(display, None, "is not UTF-8 text"))
    }
}

/// Folders already scanned (by real path), so that a link back to a parent cannot loop.
#[derive(Default)]
pub(crate) struct Visited(HashSet<PathBuf>);

impl Visited {
    /// False when `dir` was already scanned.
    pub fn first_visit(&mut self, dir: &Entry) -> bool {
        self.0.insert(dir.real.clone())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_inside_are_followed_and_links_outside_are_named() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.yaml"), "x: 1\n").unwrap();
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir(repo.path().join("real")).unwrap();
        std::fs::write(repo.path().join("real/a.yaml"), "a: 1\n").unwrap();
        symlink(repo.path().join("real"), repo.path().join("alias")).unwrap();
        symlink(
            outside.path().join("secret.yaml"),
            repo.path().join("leak.yaml"),
        )
        .unwrap();
        symlink(repo.path().join("missing"), repo.path().join("dangling")).unwrap();
        let fs = RepoFs::new(repo.path()).unwrap();
        let entries = fs.list(&fs.root_entry()).unwrap();
        let names: Vec<String> = entries
            .iter()
            .map(|(_, e)| match e {
                Ok(e) => format!("{} {:?}", e.name, e.kind),
                Err(p) => p.to_string(),
            })
            .collect();
        assert_eq!(names[0], "alias Dir");
        assert!(
            names[1].starts_with("dangling: is a broken symbolic link"),
            "{names:?}"
        );
        assert!(
            names[2].starts_with("leak.yaml: is a symbolic link to '")
                && names[2].contains("outside the repository"),
            "{names:?}"
        );
        assert_eq!(names[3], "real Dir");
        let err = fs.resolve(&repo.path().join("leak.yaml")).unwrap_err();
        assert!(err.message.contains("outside the repository"), "{err}");
        let alias = fs.resolve(&repo.path().join("alias")).unwrap().unwrap();
        assert_eq!(alias.kind, Kind::Dir);
        assert!(fs.resolve(&repo.path().join("nothing")).unwrap().is_none());
    }

    #[test]
    fn sizes_are_checked_before_reading() {
        let repo = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(repo.path().join("sparse.yaml")).unwrap();
        // A 1 GiB sparse file: refusing it must not read it.
        f.set_len(1 << 30).unwrap();
        let fs = RepoFs::new(repo.path()).unwrap();
        let e = fs
            .resolve(&repo.path().join("sparse.yaml"))
            .unwrap()
            .unwrap();
        let err = fs.read_text(&e, 1024).unwrap_err();
        assert!(err.message.contains("more than the 1024 bytes"), "{err}");
    }
}
