//! OSM package folders under `<targetDir>/osm-pkgs/`: descriptor sniffing (kind and id come from
//! the descriptor), the dependency order (VNF packages before the NS packages that use them) and
//! the deterministic tarball each folder becomes.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

use super::fs::{Entry, Kind, RepoFs};
use super::tarball::build_package_tarball;
use super::{yaml, Limits, Problem};

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

/// A member VNF of an NSD: its `vnf-profile` id (the "member VNF index" NsInstance documents
/// call `vnfName`) and the VNFD it instantiates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VnfProfile {
    pub member: String,
    pub vnfd_id: String,
}

/// What OSM Ops reads from a package's descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub kind: PackageKind,
    /// The descriptor `id`: how OSM identifies the package.
    pub id: String,
    /// For NS packages, the VNFD ids the NSD needs.
    pub vnfd_refs: Vec<String>,
    /// For NS packages, the member VNFs (`df[].vnf-profile[]`).
    pub vnf_profiles: Vec<VnfProfile>,
    /// For VNF packages, the KDU names (`kdu[].name`).
    pub kdus: Vec<String>,
    /// For VNF packages, the VDU ids (`vdu[].id`).
    pub vdus: Vec<String>,
    /// For VNF packages, the scaling aspects of the first deployment flavour (the one OSM
    /// instantiates and scales: `df[0].scaling-aspect[]`).
    pub scaling_aspects: Vec<ScalingAspect>,
    /// For NS packages, the virtual link ids (`virtual-link-desc[].id`).
    pub virtual_links: Vec<String>,
}

/// A scaling aspect of a VNFD (SOL006 `df[].scaling-aspect[]`): its id and how many scale-out
/// steps it allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScalingAspect {
    pub id: String,
    pub max_scale_level: u32,
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
    /// For NS packages, the member VNFs; for VNF packages, empty.
    pub vnf_profiles: Vec<VnfProfile>,
    /// For VNF packages, the KDU names; for NS packages, empty.
    pub kdus: Vec<String>,
    /// For VNF packages, the VDU ids; for NS packages, empty.
    pub vdus: Vec<String>,
    /// For VNF packages, the scaling aspects; for NS packages, empty.
    pub scaling_aspects: Vec<ScalingAspect>,
    /// For NS packages, the virtual link ids (what `config.vld[].name` names); for VNF packages,
    /// empty.
    pub virtual_links: Vec<String>,
    /// The package as OSM receives it (cheap to clone: uploads share the buffer).
    pub tarball: bytes::Bytes,
    /// Lowercase hex MD5 of `tarball` (the NBI's `Content-File-MD5`).
    pub md5: String,
    /// `sha256:<hex>` of `tarball`; identical content gives an identical digest.
    pub digest: String,
}

pub(crate) fn read_packages(
    fs: &RepoFs,
    target: &Entry,
    limits: &Limits,
    problems: &mut Vec<Problem>,
) -> Vec<Package> {
    let dir = match fs.resolve(&target.path.join(PACKAGES_DIR)) {
        Ok(Some(d)) if d.kind == Kind::Dir => d,
        Ok(_) => return Vec::new(),
        Err(p) => {
            problems.push(p);
            return Vec::new();
        }
    };
    let entries = match fs.list(&dir) {
        Ok(e) => e,
        Err(p) => {
            problems.push(p);
            return Vec::new();
        }
    };
    let mut packages = Vec::new();
    for (_, entry) in entries {
        match entry {
            Ok(folder) if folder.kind == Kind::Dir => match read_package(fs, &folder, limits) {
                Ok(p) => packages.push(p),
                Err(p) => problems.push(p),
            },
            Ok(_) => {}
            Err(p) => problems.push(p),
        }
    }
    order_packages(packages, problems)
}

fn read_package(fs: &RepoFs, folder: &Entry, limits: &Limits) -> Result<Package, Problem> {
    let source = fs.rel(&folder.path);
    let mut candidates = Vec::new();
    for (name, entry) in fs.list(folder)? {
        let entry = entry?;
        if entry.kind == Kind::File && is_descriptor_name(&name) {
            candidates.push(entry);
        }
    }
    let descriptor_file = match candidates.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(Problem::new(
                &source,
                None,
                "no descriptor file (.yaml, .yml or .json) directly inside the package folder; OSM needs exactly one",
            ))
        }
        many => {
            let names: Vec<&str> = many.iter().map(|e| e.name.as_str()).collect();
            return Err(Problem::new(
                &source,
                None,
                format!(
                    "{} descriptor files directly inside the package folder ({}); OSM needs exactly one (move other YAML files into a subfolder)",
                    many.len(),
                    names.join(", ")
                ),
            ));
        }
    };
    let desc_rel = fs.rel(&descriptor_file.path);
    let text = fs.read_text(&descriptor_file, limits.max_yaml_bytes)?;
    let desc = sniff_descriptor(&text, &folder.name, limits)
        .map_err(|m| Problem::new(&desc_rel, None, m))?;
    let tarball = build_package_tarball(&folder.real, &folder.name, limits)
        .map_err(|m| Problem::new(&source, None, m))?;
    Ok(Package {
        kind: desc.kind,
        id: desc.id,
        folder: folder.name.clone(),
        source,
        vnfd_refs: desc.vnfd_refs,
        vnf_profiles: desc.vnf_profiles,
        kdus: desc.kdus,
        vdus: desc.vdus,
        scaling_aspects: desc.scaling_aspects,
        virtual_links: desc.virtual_links,
        md5: tarball.md5,
        digest: tarball.digest,
        tarball: bytes::Bytes::from(tarball.bytes),
    })
}

fn is_descriptor_name(name: &str) -> bool {
    [".yaml", ".yml", ".json"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

const OLD_IM: &str = "old OSM information model descriptors (OSM 8 and earlier) are not supported by current OSM (9 and later); use SOL006";

/// Reads kind, id and references from a descriptor. SOL006 envelopes (`vnfd:`, `nsd: {nsd: [..]}`,
/// with or without the `etsi-nfv-*:` prefix) decide the kind; without an envelope the original
/// `_knf`/`_ns` folder-name convention is the fallback.
pub(crate) fn sniff_descriptor(
    text: &str,
    folder: &str,
    limits: &Limits,
) -> Result<Descriptor, String> {
    let value = yaml::document(text, limits).map_err(|e| format!("invalid YAML: {e}"))?;
    let map = value.as_object().ok_or("descriptor must be a mapping")?;
    let get = |k: &str| map.get(k);
    if [
        "vnfd:vnfd-catalog",
        "nsd:nsd-catalog",
        "vnfd-catalog",
        "nsd-catalog",
    ]
    .iter()
    .any(|k| get(k).is_some())
    {
        return Err(format!("{OLD_IM} (found a '*-catalog' envelope)"));
    }
    if let Some(vnfd) = get("vnfd").or_else(|| get("etsi-nfv-vnfd:vnfd")) {
        return vnfd_fields(vnfd);
    }
    if let Some(nsd) = get("nsd").or_else(|| get("etsi-nfv-nsd:nsd")) {
        let inner = nsd
            .as_object()
            .and_then(|m| m.get("nsd"))
            .and_then(|l| l.as_array())
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

fn descriptor_id(desc: &Value) -> Result<String, String> {
    match desc.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(_) => Err("descriptor 'id' must be a non-empty string".into()),
        None => Err("descriptor has no 'id'".into()),
    }
}

/// `desc[key]` as a list of mappings (absent → empty).
fn list_of<'a>(desc: &'a Value, key: &str) -> Result<Vec<&'a Map<String, Value>>, String> {
    match desc.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_object()
                    .ok_or_else(|| format!("'{key}' entries must be mappings"))
            })
            .collect(),
        Some(_) => Err(format!("'{key}' must be a list")),
    }
}

fn vnfd_fields(desc: &Value) -> Result<Descriptor, String> {
    let id = descriptor_id(desc)?;
    if let Some(map) = desc.as_object() {
        super::sol006::check_vnfd(map)?;
    }
    let mut kdus = Vec::new();
    for kdu in list_of(desc, "kdu")? {
        match kdu.get("name") {
            Some(Value::String(n)) => kdus.push(n.clone()),
            _ => return Err("every 'kdu' entry needs a string 'name'".into()),
        }
    }
    let mut vdus = Vec::new();
    for vdu in list_of(desc, "vdu")? {
        match vdu.get("id") {
            Some(Value::String(n)) => vdus.push(n.clone()),
            _ => return Err("every 'vdu' entry needs a string 'id'".into()),
        }
    }
    let mut scaling_aspects = Vec::new();
    if let Some(df) = list_of(desc, "df")?.first() {
        let df = Value::Object((*df).clone());
        for aspect in list_of(&df, "scaling-aspect")? {
            let id = aspect.get("id").and_then(Value::as_str);
            let max = aspect.get("max-scale-level").and_then(Value::as_u64);
            match (id, max) {
                (Some(id), Some(max)) => scaling_aspects.push(ScalingAspect {
                    id: id.to_owned(),
                    max_scale_level: u32::try_from(max).unwrap_or(u32::MAX),
                }),
                _ => {
                    return Err(
                        "every 'df[].scaling-aspect' entry needs a string 'id' and a whole 'max-scale-level'"
                            .into(),
                    )
                }
            }
        }
    }
    Ok(Descriptor {
        kind: PackageKind::Vnf,
        id,
        vnfd_refs: Vec::new(),
        vnf_profiles: Vec::new(),
        kdus,
        vdus,
        scaling_aspects,
        virtual_links: Vec::new(),
    })
}

fn nsd_fields(desc: &Value) -> Result<Descriptor, String> {
    let id = descriptor_id(desc)?;
    let mut refs = BTreeSet::new();
    if let Some(list) = desc.get("vnfd-id") {
        let list = list
            .as_array()
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
    let mut profiles = Vec::new();
    for df in list_of(desc, "df")? {
        let df = Value::Object(df.clone());
        for profile in list_of(&df, "vnf-profile")? {
            let (Some(member), Some(vnfd)) = (
                profile.get("id").and_then(|v| v.as_str()),
                profile.get("vnfd-id").and_then(|v| v.as_str()),
            ) else {
                return Err("every 'vnf-profile' needs string 'id' and 'vnfd-id'".into());
            };
            refs.insert(vnfd.to_owned());
            profiles.push(VnfProfile {
                member: member.to_owned(),
                vnfd_id: vnfd.to_owned(),
            });
        }
    }
    // The old information model names its VNFDs in `constituent-vnfd`: read them so that the
    // dependency order is right, but OSM 9+ refuses such descriptors, so they are an error.
    let old: Vec<&Map<String, Value>> = list_of(desc, "constituent-vnfd")?;
    if !old.is_empty() {
        let names: Vec<&str> = old
            .iter()
            .filter_map(|c| c.get("vnfd-id-ref").and_then(|v| v.as_str()))
            .collect();
        return Err(format!(
            "{OLD_IM} (found 'constituent-vnfd' referencing {})",
            names.join(", ")
        ));
    }
    if let Some(map) = desc.as_object() {
        super::sol006::check_nsd(map)?;
    }
    Ok(Descriptor {
        kind: PackageKind::Ns,
        id,
        vnfd_refs: refs.into_iter().collect(),
        vnf_profiles: profiles,
        kdus: Vec::new(),
        vdus: Vec::new(),
        scaling_aspects: Vec::new(),
        virtual_links: list_of(desc, "virtual-link-desc")?
            .iter()
            .filter_map(|l| l.get("id").and_then(Value::as_str).map(str::to_owned))
            .collect(),
    })
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

    fn sniff(text: &str, folder: &str) -> Result<Descriptor, String> {
        sniff_descriptor(text, folder, &Limits::default())
    }

    #[test]
    fn kind_and_id_come_from_the_descriptor_not_the_folder() {
        let d = sniff(
            "vnfd:\n  id: real_id\n  kdu:\n  - name: ldap\n",
            "whatever_ns",
        )
        .unwrap();
        assert_eq!((d.kind, d.id.as_str()), (PackageKind::Vnf, "real_id"));
        assert_eq!(d.kdus, ["ldap"]);
        let d = sniff(
            "etsi-nfv-nsd:nsd:\n  nsd:\n  - id: n1\n    vnfd-id: [b, a]\n    df:\n    - id: d\n      vnf-profile:\n      - {id: m1, vnfd-id: a}\n",
            "x",
        )
        .unwrap();
        assert_eq!((d.kind, d.id.as_str()), (PackageKind::Ns, "n1"));
        assert_eq!(d.vnfd_refs, ["a", "b"]);
        assert_eq!(
            d.vnf_profiles,
            [VnfProfile {
                member: "m1".into(),
                vnfd_id: "a".into()
            }]
        );
    }

    #[test]
    fn folder_suffix_is_only_a_fallback() {
        let d = sniff("id: plain\nkdu: []\n", "plain_knf").unwrap();
        assert_eq!((d.kind, d.id.as_str()), (PackageKind::Vnf, "plain"));
        let err = sniff("id: plain\n", "plain").unwrap_err();
        assert!(err.contains("cannot tell the package kind"));
    }

    #[test]
    fn nsd_must_wrap_exactly_one_descriptor() {
        let err = sniff("nsd:\n  nsd:\n  - id: a\n  - id: b\n", "x").unwrap_err();
        assert!(err.contains("exactly one"));
    }

    #[test]
    fn old_information_model_is_refused_with_its_references_named() {
        let err = sniff("vnfd:vnfd-catalog:\n  vnfd: []\n", "x_knf").unwrap_err();
        assert!(err.contains("SOL006"), "{err}");
        // Without an envelope, the old model's references are still read (and named).
        let err = sniff(
            "id: old_ns\nconstituent-vnfd:\n- {member-vnf-index: '1', vnfd-id-ref: old_knf}\n",
            "old_ns",
        )
        .unwrap_err();
        assert!(err.contains("SOL006") && err.contains("old_knf"), "{err}");
    }

    fn read(root: &std::path::Path, problems: &mut Vec<Problem>) -> Vec<Package> {
        let fs = RepoFs::new(root).unwrap();
        read_packages(&fs, &fs.root_entry(), &Limits::default(), problems)
    }

    fn write(dir: &std::path::Path, rel: &str, text: &str) {
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
        let out = read(dir.path(), &mut problems);
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
        read(dir.path(), &mut problems);
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
        read(dir.path(), &mut problems);
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("is an NS package")),
            "{problems:?}"
        );
    }
}
