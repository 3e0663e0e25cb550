//! Building OSM package tarballs that satisfy the NBI's tar rules (osm-nbi.md §6) with
//! deterministic bytes: identical folder content gives an identical MD5 and digest, which is what
//! makes "package unchanged, no upload" possible.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use md5::Md5;
use sha2::{Digest, Sha256};

use super::Limits;

/// Fixed metadata: the tarball must not depend on checkout time, user or umask.
const MTIME: u64 = 0;
const DIR_MODE: u32 = 0o755;
const FILE_MODE: u32 = 0o644;
const EXEC_MODE: u32 = 0o755;
const CHECKSUMS_FILE: &str = "checksums.txt";

pub struct PackageTarball {
    pub bytes: Vec<u8>,
    pub md5: String,
    pub digest: String,
}

/// Tars and gzips `folder` as `<top_dir>/...` (never `./<top_dir>`, which the NBI cannot read),
/// adding a `checksums.txt` in osmclient's format. The package's size and file count are checked
/// against `limits` from metadata, before any file is read.
pub fn build_package_tarball(
    folder: &Path,
    top_dir: &str,
    limits: &Limits,
) -> Result<PackageTarball, String> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    let mut budget = Budget {
        files: limits.max_package_files,
        bytes: limits.max_package_bytes,
    };
    walk(folder, Path::new(""), &mut budget, &mut files, &mut dirs)?;
    files.retain(|(rel, _)| rel != Path::new(CHECKSUMS_FILE));
    files.sort();
    dirs.sort();

    let mut contents = Vec::with_capacity(files.len());
    let mut checksums = String::new();
    for (rel, executable) in &files {
        let data = std::fs::read(folder.join(rel))
            .map_err(|e| format!("cannot read {}: {e}", rel.display()))?;
        checksums.push_str(&format!(
            "{}\t{}/{}\n",
            hex::encode(Md5::digest(&data)),
            top_dir,
            slash(rel)
        ));
        contents.push((rel.clone(), *executable, data));
    }

    let gz = GzEncoder::new(Vec::new(), Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    append_dir(&mut tar, top_dir)?;
    for d in &dirs {
        append_dir(&mut tar, &format!("{top_dir}/{}", slash(d)))?;
    }
    // Sorted entries; checksums.txt sorts among the files like osmclient places it at the top dir.
    let mut entries: Vec<(String, u32, &[u8])> = contents
        .iter()
        .map(|(rel, exec, data)| {
            (
                format!("{top_dir}/{}", slash(rel)),
                if *exec { EXEC_MODE } else { FILE_MODE },
                data.as_slice(),
            )
        })
        .collect();
    let checksum_path = format!("{top_dir}/{CHECKSUMS_FILE}");
    entries.push((checksum_path, FILE_MODE, checksums.as_bytes()));
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, mode, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(MTIME);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, &path, data)
            .map_err(|e| format!("cannot add {path} to the package: {e}"))?;
    }
    let gz = tar
        .into_inner()
        .map_err(|e| format!("cannot finish the package tarball: {e}"))?;
    let bytes = gz
        .finish()
        .map_err(|e| format!("cannot compress the package: {e}"))?;
    Ok(PackageTarball {
        md5: hex::encode(Md5::digest(&bytes)),
        digest: format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
        bytes,
    })
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> Result<(), String> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(DIR_MODE);
    header.set_mtime(MTIME);
    header.set_size(0);
    header.set_uid(0);
    header.set_gid(0);
    tar.append_data(&mut header, format!("{path}/"), std::io::empty())
        .map_err(|e| format!("cannot add directory {path}: {e}"))
}

fn slash(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// What is left of a package's allowance while walking it.
struct Budget {
    files: usize,
    bytes: u64,
}

/// Collects regular files (with their executable bit) and directories below `base/rel`.
/// Symbolic links are refused: they could point outside the repository, and an OSM package must
/// carry its own files.
fn walk(
    base: &Path,
    rel: &Path,
    budget: &mut Budget,
    files: &mut Vec<(PathBuf, bool)>,
    dirs: &mut Vec<PathBuf>,
) -> Result<(), String> {
    let dir = base.join(rel);
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let child = rel.join(entry.file_name());
        let ft = entry
            .file_type()
            .map_err(|e| format!("cannot stat {}: {e}", child.display()))?;
        if ft.is_symlink() {
            return Err(format!(
                "'{}' is a symbolic link; packages may only contain regular files and folders (a link could reach outside the repository)",
                slash(&child)
            ));
        }
        if budget.files == 0 {
            return Err(
                "the package has more files and folders than allowed (see --max-package-files)"
                    .into(),
            );
        }
        budget.files -= 1;
        if ft.is_dir() {
            dirs.push(child.clone());
            walk(base, &child, budget, files, dirs)?;
        } else if ft.is_file() {
            let len = entry
                .metadata()
                .map_err(|e| format!("cannot stat {}: {e}", child.display()))?
                .len();
            budget.bytes = budget.bytes.checked_sub(len).ok_or_else(|| {
                format!(
                    "the package is larger than allowed (at '{}'; see --max-package-bytes)",
                    slash(&child)
                )
            })?;
            files.push((child, is_executable(&entry)));
        } else {
            return Err(format!("'{}' is not a regular file", slash(&child)));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(entry: &std::fs::DirEntry) -> bool {
    use std::os::unix::fs::PermissionsExt;
    entry
        .metadata()
        .map(|m| m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::DirEntry) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn make(dir: &Path) {
        std::fs::create_dir_all(dir.join("charts/x")).unwrap();
        std::fs::write(dir.join("vnfd.yaml"), "vnfd:\n  id: a\n").unwrap();
        std::fs::write(dir.join("charts/x/values.yaml"), "a: 1\n").unwrap();
        std::fs::write(dir.join("checksums.txt"), "stale\n").unwrap();
    }

    fn members(bytes: &[u8]) -> Vec<(String, bool, u64, Vec<u8>)> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().to_string_lossy().into_owned();
                let is_dir = e.header().entry_type().is_dir();
                let mtime = e.header().mtime().unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (path, is_dir, mtime, data)
            })
            .collect()
    }

    #[test]
    fn identical_content_gives_identical_bytes() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        make(a.path());
        make(b.path());
        // Different mtimes must not matter.
        std::fs::write(b.path().join("vnfd.yaml"), "vnfd:\n  id: a\n").unwrap();
        let ta = build_package_tarball(a.path(), "pkg", &Limits::default()).unwrap();
        let tb = build_package_tarball(b.path(), "pkg", &Limits::default()).unwrap();
        assert_eq!(ta.bytes, tb.bytes);
        assert_eq!(ta.md5, tb.md5);
        std::fs::write(b.path().join("charts/x/values.yaml"), "a: 2\n").unwrap();
        assert_ne!(
            build_package_tarball(b.path(), "pkg", &Limits::default())
                .unwrap()
                .digest,
            ta.digest
        );
    }

    #[test]
    fn layout_follows_the_nbi_tar_rules() {
        let a = tempfile::tempdir().unwrap();
        make(a.path());
        let t = build_package_tarball(a.path(), "pkg", &Limits::default()).unwrap();
        let m = members(&t.bytes);
        let names: Vec<_> = m.iter().map(|(p, ..)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "pkg/",
                "pkg/charts/",
                "pkg/charts/x/",
                "pkg/charts/x/values.yaml",
                "pkg/checksums.txt",
                "pkg/vnfd.yaml"
            ]
        );
        // Every member lives inside the top directory, no absolute or '..' paths, fixed mtime.
        for (path, is_dir, mtime, _) in &m {
            assert!(path.starts_with("pkg/") && !path.contains(".."));
            assert_eq!(*mtime, 0);
            if path.split('/').filter(|s| !s.is_empty()).count() == 1 {
                assert!(is_dir);
            }
        }
        let depth2_yaml: Vec<_> = names
            .iter()
            .filter(|n| {
                n.matches('/').count() == 1
                    && (n.ends_with(".yaml") || n.ends_with(".yml") || n.ends_with(".json"))
            })
            .collect();
        assert_eq!(
            depth2_yaml,
            [&"pkg/vnfd.yaml"],
            "exactly one descriptor at depth 2"
        );
        let checksums = String::from_utf8(
            m.iter()
                .find(|(p, ..)| p == "pkg/checksums.txt")
                .unwrap()
                .3
                .clone(),
        )
        .unwrap();
        let expected = format!(
            "{}\tpkg/vnfd.yaml",
            hex::encode(Md5::digest(b"vnfd:\n  id: a\n"))
        );
        assert!(checksums.contains(&expected), "{checksums}");
        assert!(!checksums.contains("stale"));
        assert_eq!(t.md5, hex::encode(Md5::digest(&t.bytes)));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_refused() {
        let a = tempfile::tempdir().unwrap();
        make(a.path());
        std::os::unix::fs::symlink("/etc/passwd", a.path().join("leak")).unwrap();
        let err = build_package_tarball(a.path(), "pkg", &Limits::default())
            .err()
            .unwrap();
        assert!(err.contains("symbolic link"), "{err}");
    }

    #[test]
    fn size_and_file_count_are_bounded_before_reading() {
        let a = tempfile::tempdir().unwrap();
        make(a.path());
        // A 1 GiB sparse file: refused from its metadata, never read or compressed.
        let f = std::fs::File::create(a.path().join("huge.bin")).unwrap();
        f.set_len(1 << 30).unwrap();
        let err = build_package_tarball(a.path(), "pkg", &Limits::default())
            .err()
            .unwrap();
        assert!(err.contains("larger than allowed"), "{err}");
        std::fs::remove_file(a.path().join("huge.bin")).unwrap();
        let few = Limits {
            max_package_files: 1,
            ..Limits::default()
        };
        let err = build_package_tarball(a.path(), "pkg", &few).err().unwrap();
        assert!(err.contains("more files and folders"), "{err}");
    }
}
