//! OSM package folders under `<targetDir>/osm-pkgs/`: descriptor sniffing (kind and id come from
//! the descriptor), the dependency order (VNF packages before the NS packages that use them) and
//! the deterministic tarball each folder becomes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::tarball::build_package_tarball;
use super::{display_rel, Problem};

pub const PACKAGES_DIR: &str = "osm-pkgs";

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
pub enum PackageKind {
    /// A VNF (or KNF) package: a VNFD.
    Vnf,
    /// An NS package: an NSD.
    Ns,
}

impl PackageKind {
    pub fn label(self) -> &'static str {
        match self {
            PackageKind::Vnf => "VnfPackage",
            PackageKind::Ns => "NsPackage",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Package {
    pub kind: PackageKind,
    /// The descriptor `id`: how OSM identifies the package.
    pub id: String,
    /// Folder name (the tarball's top directory).
    pub folder: String,
    /// Folder path relative to the repository root, for messages.
    pub source: String,
    /// For NS packages, the VNFD ids the NSD needs.
    pub vnfd_refs: Vec<String>,
    /// The package as OSM receives it.
    pub tarball: Arc<Vec<u8>>,
    /// Lowercase hex MD5 of `tarball` (the NBI's `Content-File-MD5`).
    pub md5: String,
    /// `sha256:<hex>` of `tarball`; identical content gives an identical digest.
    pub digest: String,
}

pub(crate) fn read_packages(
    root: &Path,
    target: &Path,
    problems: &mut Vec<Problem>,
) -> Vec<Package> {
    let dir = target.join(PACKAGES_DIR);
    if !dir.is_dir() {
        return Vec::new();
    }
    let mut folders: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.path())
            .collect(),
        Err(e) => {
            problems.push(Problem::new(
                display_rel(root, &dir),
                None,
                format!("cannot list: {e}"),
            ));
            return Vec::new();
        }
    };
    folders.sort();
    let mut packages = Vec::new();
    for folder in folders {
        match read_package(root, &folder) {
            Ok(p) => packages.push(p),
            Err(p) => problems.push(p),
        }
    }
    order_packages(packages, problems)
}

fn read_package(root: &Path, folder: &Path) -> Result<Package, Problem> {
    let source = display_rel(root, folder);
    let folder_name = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut candidates: Vec<_> = std::fs::read_dir(folder)
        .map_err(|e| Problem::new(&source, None, format!("cannot list: {e}")))?
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_descriptor_name(n))
        .collect();
    candidates.sort();
    let descriptor_name = match candidates.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(Problem::new(
                &source,
                None,
                "no descriptor file (.yaml, .yml or .json) directly inside the package folder; OSM needs exactly one",
            ))
        }
        many => {
            return Err(Problem::new(
                &source,
                None,
                format!(
                    "{} descriptor files directly inside the package folder ({}); OSM needs exactly one (move other YAML files into a subfolder)",
                    many.len(),
                    many.join(", ")
                ),
            ))
        }
    };
    let desc_rel = format!("{source}/{descriptor_name}");
    let text = std::fs::read_to_string(folder.join(&descriptor_name))
        .map_err(|e| Problem::new(&desc_rel, None, format!("cannot read: {e}")))?;
    let (kind, id, vnfd_refs) =
        sniff_descriptor(&text, &folder_name).map_err(|m| Problem::new(&desc_rel, None, m))?;
    let tarball =
        build_package_tarball(folder, &folder_name).map_err(|m| Problem::new(&source, None, m))?;
    Ok(Package {
        kind,
        id,
        folder: folder_name,
        source,
        vnfd_refs,
        md5: tarball.md5,
        digest: tarball.digest,
        tarball: Arc::new(tarball.bytes),
    })
}

fn is_descriptor_name(name: &str) -> bool {
    [".yaml", ".yml", ".json"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Reads kind, id and VNFD references from a descriptor. SOL006 envelopes (`vnfd:`, `nsd: {nsd: [..]}`,
/// with or without the `etsi-nfv-*:` prefix) decide the kind; without an envelope the original
/// `_knf`/`_ns` folder-name convention is the fallback.
pub(crate) fn sniff_descriptor(
    text: &str,
    folder: &str,
) -> Result<(PackageKind, String, Vec<String>), String> {
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| format!("invalid YAML: {e}"))?;
    let map = value.as_mapping().ok_or("descriptor must be a mapping")?;
    let get = |k: &str| map.get(k);
    if get("vnfd:vnfd-catalog").is_some()
        || get("nsd:nsd-catalog").is_some()
        || get("vnfd-catalog").is_some()
        || get("nsd-catalog").is_some()
    {
        return Err("old OSM information model (*-catalog) descriptors are not supported by current OSM; use SOL006".into());
    }
    if let Some(vnfd) = get("vnfd").or_else(|| get("etsi-nfv-vnfd:vnfd")) {
        return vnfd_fields(vnfd);
    }
    if let Some(nsd) = get("nsd").or_else(|| get("etsi-nfv-nsd:nsd")) {
        let inner = nsd
            .as_mapping()
            .and_then(|m| m.get("nsd"))
            .and_then(|l| l.as_sequence())
            .filter(|l| l.len() == 1)
            .ok_or("'nsd' must contain a list 'nsd' of exactly one element (SOL006)")?;
        return nsd_fields(&inner[0]);
    }
    if folder.ends_with("_knf") || folder.ends_with("_vnf") {
        return vnfd_fields(&value);
    }
    if folder.ends_with("_ns") {
        return nsd_fields(&value);
    }
    Err("cannot tell the package kind: the descriptor has no 'vnfd'/'nsd' envelope and the folder name does not end in _knf, _vnf or _ns".into())
}

fn descriptor_id(desc: &serde_yaml::Value) -> Result<String, String> {
    match desc.get("id") {
        Some(serde_yaml::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(_) => Err("descriptor 'id' must be a non-empty string".into()),
        None => Err("descriptor has no 'id'".into()),
    }
}

fn vnfd_fields(desc: &serde_yaml::Value) -> Result<(PackageKind, String, Vec<String>), String> {
    Ok((PackageKind::Vnf, descriptor_id(desc)?, Vec::new()))
}

fn nsd_fields(desc: &serde_yaml::Value) -> Result<(PackageKind, String, Vec<String>), String> {
    let id = descriptor_id(desc)?;
    let mut refs = BTreeSet::new();
    if let Some(list) = desc.get("vnfd-id") {
        let list = list
            .as_sequence()
            .ok_or("'vnfd-id' must be a list of VNFD ids")?;
        for item in list {
            refs.insert(
                item.as_str()
                    .ok_or("'vnfd-id' entries must be strings")?
                    .to_owned(),
            );
        }
    }
    // vnf-profiles name VNFDs too; the NBI checks them against the project's VNFDs as well.
    for df in desc
        .get("df")
        .and_then(|d| d.as_sequence())
        .into_iter()
        .flatten()
    {
        for profile in df
            .get("vnf-profile")
            .and_then(|p| p.as_sequence())
            .into_iter()
            .flatten()
        {
            if let Some(v) = profile.get("vnfd-id").and_then(|v| v.as_str()) {
                refs.insert(v.to_owned());
            }
        }
    }
    Ok((PackageKind::Ns, id, refs.into_iter().collect()))
}

/// Topological order: a package comes after every repository package it references; ties by id.
fn order_packages(packages: Vec<Package>, problems: &mut Vec<Problem>) -> Vec<Package> {
    let mut by_id: BTreeMap<String, Package> = BTreeMap::new();
    for p in packages {
        if let Some(other) = by_id.get(&p.id) {
            problems.push(Problem::new(
                &p.source,
                Some("id"),
                format!("descriptor id '{}' is also used by {}", p.id, other.source),
            ));
            continue;
        }
        by_id.insert(p.id.clone(), p);
    }
    for p in by_id.values() {
        for r in &p.vnfd_refs {
            if let Some(target) = by_id.get(r) {
                if target.kind != PackageKind::Vnf {
                    problems.push(Problem::new(
                        &p.source,
                        Some("vnfd-id"),
                        format!("references '{r}', which is an NS package, not a VNF package"),
                    ));
                }
            }
        }
    }
    // Kahn's algorithm over in-repo references; references to packages outside the repo are
    // checked against OSM at plan time.
    let mut indegree: BTreeMap<&str, usize> = by_id.keys().map(|k| (k.as_str(), 0)).collect();
    for p in by_id.values() {
        let n = p
            .vnfd_refs
            .iter()
            .filter(|r| by_id.contains_key(*r))
            .count();
        indegree.insert(&p.id, n);
    }
    let mut ready: BTreeSet<&str> = indegree
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(k, _)| *k)
        .collect();
    let mut order: Vec<String> = Vec::new();
    while let Some(id) = ready.pop_first() {
        order.push(id.to_owned());
        for p in by_id.values() {
            if p.vnfd_refs.iter().any(|r| r == id) {
                let n = indegree
                    .get_mut(p.id.as_str())
                    .expect("every id has a degree");
                *n -= 1;
                if *n == 0 {
                    ready.insert(&p.id);
                }
            }
        }
    }
    if order.len() < by_id.len() {
        let stuck: Vec<_> = by_id
            .keys()
            .filter(|k| !order.contains(k))
            .cloned()
            .collect();
        for id in &stuck {
            problems.push(Problem::new(
                &by_id[id].source,
                Some("vnfd-id"),
                format!("dependency cycle among packages: {}", stuck.join(", ")),
            ));
        }
        return Vec::new();
    }
    order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_and_id_come_from_the_descriptor_not_the_folder() {
        let (kind, id, _) = sniff_descriptor("vnfd:\n  id: real_id\n", "whatever_ns").unwrap();
        assert_eq!((kind, id.as_str()), (PackageKind::Vnf, "real_id"));
        let (kind, id, refs) = sniff_descriptor(
            "etsi-nfv-nsd:nsd:\n  nsd:\n  - id: n1\n    vnfd-id: [b, a]\n",
            "x",
        )
        .unwrap();
        assert_eq!((kind, id.as_str()), (PackageKind::Ns, "n1"));
        assert_eq!(refs, ["a", "b"]);
    }

    #[test]
    fn folder_suffix_is_only_a_fallback() {
        let (kind, id, _) = sniff_descriptor("id: plain\nkdu: []\n", "plain_knf").unwrap();
        assert_eq!((kind, id.as_str()), (PackageKind::Vnf, "plain"));
        let err = sniff_descriptor("id: plain\n", "plain").unwrap_err();
        assert!(err.contains("cannot tell the package kind"));
    }

    #[test]
    fn nsd_must_wrap_exactly_one_descriptor() {
        let err = sniff_descriptor("nsd:\n  nsd:\n  - id: a\n  - id: b\n", "x").unwrap_err();
        assert!(err.contains("exactly one"));
    }

    #[test]
    fn old_information_model_is_refused() {
        let err = sniff_descriptor("vnfd:vnfd-catalog:\n  vnfd: []\n", "x_knf").unwrap_err();
        assert!(err.contains("SOL006"));
    }

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn vnf_packages_go_before_the_ns_packages_that_reference_them() {
        let dir = tempfile::tempdir().unwrap();
        let pkgs = dir.path().join(PACKAGES_DIR);
        write(
            &pkgs,
            "a_ns/nsd.yaml",
            "nsd:\n  nsd:\n  - id: a_ns\n    vnfd-id: [z_knf]\n",
        );
        write(&pkgs, "z_knf/vnfd.yaml", "vnfd:\n  id: z_knf\n");
        write(&pkgs, "m_knf/vnfd.yaml", "vnfd:\n  id: m_knf\n");
        let mut problems = Vec::new();
        let out = read_packages(dir.path(), dir.path(), &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let ids: Vec<_> = out.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["m_knf", "z_knf", "a_ns"]);
    }

    #[test]
    fn zero_or_several_descriptors_and_duplicate_ids_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let pkgs = dir.path().join(PACKAGES_DIR);
        write(&pkgs, "none/README.md", "no yaml");
        write(&pkgs, "two/one.yaml", "vnfd: {id: x}\n");
        write(&pkgs, "two/two.yaml", "vnfd: {id: y}\n");
        write(&pkgs, "dup1/d.yaml", "vnfd: {id: same}\n");
        write(&pkgs, "dup2/d.yaml", "vnfd: {id: same}\n");
        let mut problems = Vec::new();
        read_packages(dir.path(), dir.path(), &mut problems);
        let text: Vec<_> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 3, "{text:?}");
        assert!(text
            .iter()
            .any(|t| t.contains("osm-pkgs/none") && t.contains("no descriptor")));
        assert!(text
            .iter()
            .any(|t| t.contains("osm-pkgs/two") && t.contains("2 descriptor files")));
        assert!(text.iter().any(|t| t.contains("'same' is also used")));
    }

    #[test]
    fn ns_referencing_ns_package_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let pkgs = dir.path().join(PACKAGES_DIR);
        write(
            &pkgs,
            "a/nsd.yaml",
            "nsd:\n  nsd:\n  - id: a\n    vnfd-id: [b]\n",
        );
        write(&pkgs, "b/nsd.yaml", "nsd:\n  nsd:\n  - id: b\n");
        let mut problems = Vec::new();
        read_packages(dir.path(), dir.path(), &mut problems);
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("is an NS package")),
            "{problems:?}"
        );
    }
}
