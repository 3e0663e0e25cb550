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

/// Extracts `bytes` (tar.gz) below `target`. Returns how many symbolic/hard links were skipped.
pub fn extract_tar_gz(
    bytes: &[u8],
    target: &Path,
    limits: &ExtractLimits,
) -> Result<usize, SourceError> {
    let err = |m: String| SourceError::Extract(m);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
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
        let mut data = Vec::with_capacity(size as usize);
        (&mut entry)
            .take(size)
            .read_to_end(&mut data)
            .map_err(|e| err(format!("cannot read '{}': {e}", rel.display())))?;
        std::fs::write(&dest, data)
            .map_err(|e| err(format!("cannot write '{}': {e}", rel.display())))?;
    }
    Ok(skipped_links)
}
