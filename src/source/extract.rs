//! Safe tar.gz extraction: relative paths only, nothing escaping the target, links skipped (as
//! Flux's untar does), device files and other specials refused, limits on file count and size.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use super::SourceError;

#[derive(Debug, Clone)]
pub struct ExtractLimits {
    pub max_files: usize,
    /// Total size of the extracted files.
    pub max_total_bytes: u64,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        ExtractLimits {
            max_files: 20_000,
            max_total_bytes: 1024 * 1024 * 1024,
        }
    }
}

fn safe_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Extracts a tar.gz read from `input` below `target`, streaming (one entry at a time, one buffer).
/// Returns how many symbolic/hard links were skipped.
pub fn extract_tar_gz(
    input: impl Read,
    target: &Path,
    limits: &ExtractLimits,
) -> Result<usize, SourceError> {
    let err = |m: String| SourceError::Extract(m);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(input));
    let mut files = 0usize;
    let mut total = 0u64;
    let mut skipped_links = 0usize;
    for entry in archive
        .entries()
        .map_err(|e| err(format!("not a tar.gz archive: {e}")))?
    {
        let mut entry = entry.map_err(|e| err(format!("corrupt archive: {e}")))?;
        let raw = entry
            .path()
            .map_err(|e| err(format!("invalid entry name: {e}")))?
            .into_owned();
        let rel = safe_relative(&raw).ok_or_else(|| {
            err(format!(
                "entry '{}' is absolute or leaves the archive root",
                raw.display()
            ))
        })?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let dest = target.join(&rel);
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            std::fs::create_dir_all(&dest)
                .map_err(|e| err(format!("cannot create {}: {e}", rel.display())))?;
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            skipped_links += 1;
            tracing::warn!(entry = %rel.display(), "skipping link in artifact");
            continue;
        }
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            if kind.is_pax_global_extensions()
                || kind.is_pax_local_extensions()
                || kind.is_gnu_longname()
                || kind.is_gnu_longlink()
            {
                continue;
            }
            return Err(err(format!(
                "entry '{}' is not a regular file or directory ({kind:?})",
                rel.display()
            )));
        }
        files += 1;
        if files > limits.max_files {
            return Err(err(format!("more than {} files", limits.max_files)));
        }
        let size = entry
            .header()
            .size()
            .map_err(|e| err(format!("invalid size of '{}': {e}", rel.display())))?;
        total += size;
        if total > limits.max_total_bytes {
            return Err(err(format!(
                "extracted size exceeds {} bytes",
                limits.max_total_bytes
            )));
        }
        // A parent that is a symlink would be skipped above, so parents are real directories here.
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| err(format!("cannot create {}: {e}", parent.display())))?;
        }
        let mut out = std::fs::File::create(&dest)
            .map_err(|e| err(format!("cannot write '{}': {e}", rel.display())))?;
        std::io::copy(&mut (&mut entry).take(size), &mut out)
            .map_err(|e| err(format!("cannot extract '{}': {e}", rel.display())))?;
    }
    Ok(skipped_links)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A tar.gz whose members have exactly these raw names (no sanitising), kinds and contents.
    fn archive(members: &[(String, u8, Vec<u8>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in members {
            let mut h = tar::Header::new_gnu();
            let entry_type = match kind % 4 {
                0 => tar::EntryType::Regular,
                1 => tar::EntryType::Directory,
                2 => tar::EntryType::Symlink,
                _ => tar::EntryType::Link,
            };
            h.set_entry_type(entry_type);
            h.set_size(if entry_type == tar::EntryType::Regular {
                data.len() as u64
            } else {
                0
            });
            h.set_mode(0o644);
            let raw = &mut h.as_old_mut().name;
            let n = name.len().min(raw.len());
            raw[..n].copy_from_slice(&name.as_bytes()[..n]);
            if matches!(entry_type, tar::EntryType::Symlink | tar::EntryType::Link) {
                let _ = h.set_link_name("../../../etc/passwd");
            }
            h.set_cksum();
            let body: &[u8] = if entry_type == tar::EntryType::Regular {
                data
            } else {
                &[]
            };
            b.append(&h, body).unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &b.into_inner().unwrap()).unwrap();
        gz.finish().unwrap()
    }

    fn names() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                "[a-z]{1,4}",
                Just("..".to_owned()),
                Just(".".to_owned()),
                Just("".to_owned())
            ],
            1..5,
        )
        .prop_flat_map(|parts| {
            (Just(parts), any::<bool>()).prop_map(|(parts, absolute)| {
                let joined = parts.join("/");
                if absolute {
                    format!("/{joined}")
                } else {
                    joined
                }
            })
        })
    }

    /// Every file under `dir`, as canonical paths.
    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let ft = e.file_type().unwrap();
                assert!(
                    !ft.is_symlink(),
                    "a link was written: {}",
                    e.path().display()
                );
                if ft.is_dir() {
                    stack.push(e.path());
                } else {
                    out.push(e.path().canonicalize().unwrap());
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            let dir = tempfile::tempdir().unwrap();
            let _ = extract_tar_gz(bytes.as_slice(), dir.path(), &ExtractLimits::default());
        }

        #[test]
        fn hostile_archives_never_write_outside_the_target(
            members in prop::collection::vec((names(), any::<u8>(), prop::collection::vec(any::<u8>(), 0..64)), 1..12)
        ) {
            let outer = tempfile::tempdir().unwrap();
            let target = outer.path().join("target");
            std::fs::create_dir(&target).unwrap();
            let _ = extract_tar_gz(archive(&members).as_slice(), &target, &ExtractLimits::default());
            let canonical = target.canonicalize().unwrap();
            for f in files(outer.path()) {
                prop_assert!(f.starts_with(&canonical), "{} escaped", f.display());
            }
        }

        #[test]
        fn limits_hold_for_any_archive(
            members in prop::collection::vec(("[a-z]{1,3}/[a-z]{1,3}", Just(0u8), prop::collection::vec(any::<u8>(), 0..200)), 1..20)
        ) {
            let dir = tempfile::tempdir().unwrap();
            let limits = ExtractLimits { max_files: 5, max_total_bytes: 300 };
            if extract_tar_gz(archive(&members).as_slice(), dir.path(), &limits).is_ok() {
                let written = files(dir.path());
                prop_assert!(written.len() <= 5);
                let total: u64 = written.iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
                prop_assert!(total <= 300);
            }
        }
    }
}
