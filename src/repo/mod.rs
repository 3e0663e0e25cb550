//! Reading an OSM Ops GitOps repository (a directory or an extracted Flux artifact) into a
//! validated [`DesiredState`]. Nothing here touches the network: every problem in the repository is
//! collected into one [`RepoError`] so that nothing is sent to OSM when any file is bad.

mod config;
mod fs;
mod instantiate;
mod nsinstance;
mod package;
mod secrets;
mod sol006;
mod substitute;
mod tarball;
mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};

pub use config::{OpsConfig, CONFIG_FILE_NAME, DEFAULT_FILE_EXTENSIONS};
pub use nsinstance::{Kdu, NsInstance, Scale, VNF_VIM_ACCOUNT_NAME};
pub use package::{Descriptor, Package, PackageKind, ScalingAspect, VnfProfile, PACKAGES_DIR};
pub use secrets::{holds_seal, is_seal, shown, SealKey, SecretBook, UnknownSeal, SHOWN};
pub use substitute::{valid_name, variables_from_manifest, Substitutions, Variable};
pub use tarball::{build_package_tarball, PackageTarball};

/// One thing wrong with the repository, located by file (relative to the repository root) and,
/// where it applies, by field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub file: String,
    pub field: Option<String>,
    pub message: String,
    /// A variable the file uses is defined nowhere: a Secret or ConfigMap may still get it.
    #[serde(skip)]
    pub undefined_variable: bool,
}

impl Problem {
    pub fn new(file: impl Into<String>, field: Option<&str>, message: impl Into<String>) -> Self {
        Problem {
            file: file.into(),
            field: field.map(str::to_owned),
            message: message.into(),
            undefined_variable: false,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: field '{}': {}", self.file, field, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Every problem found in a repository, reported together.
#[derive(Debug, Clone, thiserror::Error)]
pub struct RepoError {
    pub problems: Vec<Problem>,
}

impl RepoError {
    /// Whether every problem is a variable defined nowhere (the sources may get it later).
    pub fn only_undefined_variables(&self) -> bool {
        !self.problems.is_empty() && self.problems.iter().all(|p| p.undefined_variable)
    }
}

impl fmt::Display for RepoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in the repository", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

/// What Git says OSM should look like.
#[derive(Debug, Clone, Default)]
pub struct DesiredState {
    /// NS instances, sorted by name.
    pub ns_instances: Vec<NsInstance>,
    /// OSM packages in onboarding order (VNF packages before the NS packages that use them).
    pub packages: Vec<Package>,
    /// Non-fatal remarks, e.g. an ignored `connectionFile`.
    pub warnings: Vec<String>,
    /// Directory (relative to the root) that was scanned.
    pub target_dir: PathBuf,
    /// The values from Secrets that the documents hold as seals (see [`secrets`]).
    pub secrets: SecretBook,
}

impl DesiredState {
    /// `sha256:<hex>` of everything the state declares (every NsInstance and package digest):
    /// two revisions that declare the same things have the same digest.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for ns in &self.ns_instances {
            h.update(format!("ns {} {}\n", ns.name, ns.digest()));
        }
        for p in &self.packages {
            h.update(format!("pkg {} {}\n", p.id, p.digest));
        }
        format!("sha256:{}", hex::encode(h.finalize()))
    }

    /// The NsInstance named `name` (instances are sorted by name).
    pub fn ns_instance(&self, name: &str) -> Option<&NsInstance> {
        self.ns_instances
            .binary_search_by(|n| n.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.ns_instances[i])
    }

    pub fn package(&self, id: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.id == id)
    }
}

/// Bounds on what the reader accepts, so that hostile or mistaken input is refused early, in time
/// linear in its size and with bounded memory. The CLI and the controller expose each as a flag;
/// docs/repository-format.md lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest YAML file read (`osm_ops_config.yaml`, NsInstance files, package descriptors).
    pub max_yaml_bytes: u64,
    /// Deepest nesting of YAML sequences and mappings.
    pub max_yaml_depth: usize,
    /// Most alias uses (`*name`) in one YAML file.
    pub max_yaml_aliases: usize,
    /// Most YAML nodes in one file, counting those aliases expand to.
    pub max_yaml_nodes: usize,
    /// Largest package: the sum of its files' sizes.
    pub max_package_bytes: u64,
    /// Most files and folders in one package.
    pub max_package_files: usize,
    /// Most files and folders looked at while searching NsInstance files.
    pub max_scanned_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_yaml_bytes: 4 * 1024 * 1024,
            max_yaml_depth: 64,
            max_yaml_aliases: 10_000,
            max_yaml_nodes: 250_000,
            max_package_bytes: 100 * 1024 * 1024,
            max_package_files: 10_000,
            max_scanned_entries: 100_000,
        }
    }
}

/// Options that override `osm_ops_config.yaml` (the controller's `spec.path`/`fileExtensions`).
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub path: Option<PathBuf>,
    pub file_extensions: Option<Vec<String>>,
    /// True when credentials come from elsewhere, so a `connectionFile` is ignored with a warning.
    pub credentials_from_elsewhere: bool,
    pub limits: Limits,
    /// Variables substituted in NsInstance files (`spec.substitute`/`substituteFrom`, the CLI's
    /// `--substitute`/`--substitute-from`).
    pub substitutions: Substitutions,
}

/// Reads and validates the repository rooted at `root`. Nothing outside `root` is read: links that
/// leave it are errors naming them.
pub fn read_repository(root: &Path, opts: &ReadOptions) -> Result<DesiredState, RepoError> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let one = |p: Problem| RepoError { problems: vec![p] };
    let fs = fs::RepoFs::new(root).map_err(one)?;
    let limits = &opts.limits;
    let config = OpsConfig::load(&fs, limits).map_err(one)?;
    if let Some(conn) = &config.connection_file {
        if opts.credentials_from_elsewhere {
            warnings.push(format!(
                "{CONFIG_FILE_NAME}: connectionFile '{conn}' is ignored: OSM credentials come from the command line or the OsmSync Secret"
            ));
        }
    }
    let target_rel = opts
        .path
        .clone()
        .unwrap_or_else(|| config.target_dir.clone());
    let target = match config::resolve_inside(&fs, &target_rel) {
        Ok(t) => t,
        Err(msg) => {
            return Err(RepoError {
                problems: vec![Problem::new(CONFIG_FILE_NAME, Some("targetDir"), msg)],
            })
        }
    };
    let extensions = opts
        .file_extensions
        .clone()
        .unwrap_or_else(|| config.file_extensions.clone());

    let mut secrets = opts.substitutions.book();
    let ns_instances = nsinstance::read_ns_instances(
        &fs,
        &target,
        &extensions,
        limits,
        &opts.substitutions,
        &mut secrets,
        &mut problems,
    );
    let packages = package::read_packages(&fs, &target, limits, &mut problems);
    check_references(&ns_instances, &packages, &mut problems);
    problems.sort_by(|a, b| (&a.file, &a.field, &a.message).cmp(&(&b.file, &b.field, &b.message)));
    problems.dedup();
    if !problems.is_empty() {
        return Err(RepoError { problems });
    }
    Ok(DesiredState {
        ns_instances,
        packages,
        warnings,
        target_dir: target_rel,
        secrets,
    })
}

/// Checks what each NsInstance names against the repository's own descriptors: members (vnf-profile
/// ids) of its NSD, KDUs, VDUs and scaling aspects of their VNFDs. Descriptors that are not in the
/// repository are checked against OSM when the plan is made.
fn check_references(ns: &[NsInstance], packages: &[Package], problems: &mut Vec<Problem>) {
    let find = |id: &str, kind: PackageKind| packages.iter().find(|p| p.id == id && p.kind == kind);
    for want in ns {
        let Some(nsd) = find(&want.nsd_name, PackageKind::Ns) else {
            continue;
        };
        for (field, msg) in
            reference_problems(want, &nsd.vnf_profiles, Some(&nsd.virtual_links), |vnfd| {
                find(vnfd, PackageKind::Vnf).map(|p| VnfdFacts {
                    kdus: &p.kdus,
                    vdus: Some(&p.vdus),
                    aspects: Some(&p.scaling_aspects),
                })
            })
        {
            problems.push(Problem::new(&want.source, Some(&field), msg));
        }
    }
}

/// What a reference check knows of a member's VNFD: its KDUs, and where known its VDUs and
/// scaling aspects.
pub struct VnfdFacts<'a> {
    pub kdus: &'a [String],
    pub vdus: Option<&'a [String]>,
    pub aspects: Option<&'a [ScalingAspect]>,
}

/// "a, b" or "none".
fn listed<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let v: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}

/// What is wrong with the references of `want`, given its NSD's member VNFs and a way to learn
/// about a VNFD (`None` when the VNFD is unknown here): each problem's field and message.
pub fn reference_problems<'a>(
    want: &NsInstance,
    profiles: &[VnfProfile],
    virtual_links: Option<&[String]>,
    facts_of: impl Fn(&str) -> Option<VnfdFacts<'a>>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // `config.vld[].name` names a virtual link of the NSD (OSM: 400 "Invalid parameter
    // vld:name='x' is not present at nsd:vld").
    if let Some(links) = virtual_links {
        let vlds = want
            .config
            .as_ref()
            .and_then(|c| c.get("vld"))
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        for (i, vld) in vlds.iter().enumerate() {
            if let Some(name) = vld.get("name").and_then(|n| n.as_str()) {
                if !links.iter().any(|l| l == name) {
                    out.push((
                        format!("config.vld[{i}].name"),
                        format!(
                            "'{name}' is not a virtual link of NSD '{}' (its virtual-link-desc ids: {})",
                            want.nsd_name,
                            listed(links)
                        ),
                    ));
                }
            }
        }
    }
    // The member's VNFD facts, or a problem at `field` when `member` is not a member.
    let member = |field: String, member: &str, out: &mut Vec<(String, String)>| match profiles
        .iter()
        .find(|p| p.member == member)
    {
        Some(p) => Some((p, facts_of(&p.vnfd_id))),
        None => {
            out.push((
                field,
                format!(
                    "'{member}' is not a member VNF of NSD '{}' (its vnf-profile ids: {})",
                    want.nsd_name,
                    listed(profiles.iter().map(|p| p.member.as_str()))
                ),
            ));
            None
        }
    };
    for kdu in &want.kdus {
        let (member_field, name_field) = if kdu.at == "kdu" {
            ("vnfName".to_owned(), "kdu.name".to_owned())
        } else {
            (format!("{}.vnfName", kdu.at), format!("{}.name", kdu.at))
        };
        let Some((profile, Some(facts))) = member(member_field, &kdu.member, &mut out) else {
            continue;
        };
        if !facts.kdus.contains(&kdu.name) {
            out.push((
                name_field,
                format!(
                    "'{}' is not a KDU of VNFD '{}' (member '{}' of NSD '{}'; its KDUs: {})",
                    kdu.name,
                    profile.vnfd_id,
                    profile.member,
                    want.nsd_name,
                    listed(facts.kdus)
                ),
            ));
        }
    }
    for (i, s) in want.scale.iter().enumerate() {
        let Some((profile, Some(facts))) =
            member(format!("scale[{i}].vnfName"), &s.member, &mut out)
        else {
            continue;
        };
        let Some(aspects) = facts.aspects else {
            continue;
        };
        match aspects.iter().find(|a| a.id == s.aspect) {
            None => out.push((
                format!("scale[{i}].aspect"),
                format!(
                    "'{}' is not a scaling aspect of VNFD '{}' (member '{}'; its aspects: {})",
                    s.aspect,
                    profile.vnfd_id,
                    s.member,
                    listed(aspects.iter().map(|a| a.id.as_str()))
                ),
            )),
            Some(a) if s.level > a.max_scale_level => out.push((
                format!("scale[{i}].level"),
                format!(
                    "{} is above the max-scale-level {} of aspect '{}' of VNFD '{}'",
                    s.level, a.max_scale_level, a.id, profile.vnfd_id
                ),
            )),
            Some(_) => {}
        }
    }
    let config = want.config_or_empty();
    for (list, vdu_list, vdu_key) in [
        ("vnf", "vdu", "id"),
        ("additionalParamsForVnf", "additionalParamsForVdu", "vdu_id"),
    ] {
        let items = config
            .get(list)
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        for (i, item) in items.iter().enumerate() {
            let Some(index) = item.get("member-vnf-index").and_then(|v| v.as_str()) else {
                continue;
            };
            let field = format!("config.{list}[{i}].member-vnf-index");
            let Some((profile, Some(facts))) = member(field, index, &mut out) else {
                continue;
            };
            let Some(vdus) = facts.vdus else { continue };
            let declared = item
                .get(vdu_list)
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default();
            for (j, vdu) in declared.iter().enumerate() {
                let Some(id) = vdu.get(vdu_key).and_then(|v| v.as_str()) else {
                    continue;
                };
                if !vdus.iter().any(|v| v == id) {
                    out.push((
                        format!("config.{list}[{i}].{vdu_list}[{j}].{vdu_key}"),
                        format!(
                            "'{id}' is not a VDU of VNFD '{}' (member '{index}'; its VDUs: {})",
                            profile.vnfd_id,
                            listed(vdus)
                        ),
                    ));
                }
            }
        }
    }
    out
}

/// Path of `path` relative to `root`, with `/` separators, for messages.
pub(crate) fn display_rel(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let s = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    if s.is_empty() {
        ".".to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// examples/vm-web with its NsInstance replaced by `doc`.
    fn vm_web_with(doc: &str) -> Result<DesiredState, RepoError> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/vm-web");
        let dir = tempfile::tempdir().unwrap();
        for rel in [
            "osm-pkgs/web_vnf/web_vnfd.yaml",
            "osm-pkgs/web_vnf/cloud_init/cloud-config.txt",
            "osm-pkgs/web_ns/web_nsd.yaml",
        ] {
            let to = dir.path().join(rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(src.join(rel), to).unwrap();
        }
        std::fs::write(dir.path().join("web.osmops.yaml"), doc).unwrap();
        read_repository(dir.path(), &ReadOptions::default())
    }

    /// The fields the problems are about, in order.
    fn fields(err: &RepoError) -> Vec<&str> {
        err.problems
            .iter()
            .filter_map(|p| p.field.as_deref())
            .collect()
    }

    #[test]
    fn members_vdus_aspects_levels_and_virtual_links_are_checked_against_the_descriptors() {
        let example = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/vm-web/web.osmops.yaml"),
        )
        .unwrap();
        assert!(vm_web_with(&example).is_ok());
        let bad = example
            .replace("- name: mgmtnet", "- name: datanet")
            .replace("vdu_id: webserver", "vdu_id: websrv")
            .replace(
                "aspect: web-aspect\n  level: 1",
                "aspect: web-aspect\n  level: 3",
            );
        let err = vm_web_with(&bad).unwrap_err();
        assert_eq!(
            fields(&err),
            [
                "config.additionalParamsForVnf[0].additionalParamsForVdu[0].vdu_id",
                "config.vld[0].name",
                "scale[0].level",
            ],
            "{err}"
        );
        assert!(err.to_string().contains("'datanet' is not a virtual link of NSD 'web-ns' (its virtual-link-desc ids: mgmtnet)"), "{err}");
        assert!(
            err.to_string()
                .contains("3 is above the max-scale-level 2 of aspect 'web-aspect'"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("'websrv' is not a VDU of VNFD 'web-vnf'"),
            "{err}"
        );
        let bad = example
            .replace(
                "vnfName: vnf1\n  aspect: web-aspect",
                "vnfName: vnf2\n  aspect: web-aspect",
            )
            .replace(
                "- member-vnf-index: vnf1",
                "- member-vnf-index: vnf1\n    additionalParams: {}\n  - member-vnf-index: vnf3",
            );
        let err = vm_web_with(&bad).unwrap_err();
        assert_eq!(
            fields(&err),
            [
                "config.additionalParamsForVnf[1].member-vnf-index",
                "scale[0].vnfName"
            ],
            "{err}"
        );
        let aspect = example.replace("aspect: web-aspect", "aspect: db-aspect");
        let err = vm_web_with(&aspect).unwrap_err();
        assert!(err.to_string().contains("'db-aspect' is not a scaling aspect of VNFD 'web-vnf' (member 'vnf1'; its aspects: web-aspect)"), "{err}");
    }

    #[test]
    fn original_demo_reads_as_its_authors_meant() {
        // examples/openldap is the original demo repository, the chart version moved to the
        // NsInstance (current OSM refuses it in the descriptor).
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/openldap");
        let state = read_repository(&root, &ReadOptions::default()).expect("demo is valid");
        assert_eq!(state.ns_instances.len(), 1);
        let ns = &state.ns_instances[0];
        assert_eq!(ns.name, "ldap");
        assert_eq!(ns.nsd_name, "openldap_ns");
        assert_eq!(ns.kdus[0].member, "openldap");
        assert_eq!(ns.vim_account_name, "mylocation1");
        assert_eq!(ns.kdus[0].name, "ldap");
        assert_eq!(ns.kdus[0].params.as_ref().unwrap()["replicaCount"], "1");
        assert_eq!(ns.kdus[0].model.as_deref(), Some("stable/openldap:1.2.7"));
        let ids: Vec<_> = state.packages.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["openldap_knf", "openldap_ns"], "VNF package first");
        assert_eq!(state.packages[0].kind, PackageKind::Vnf);
        assert_eq!(state.packages[1].kind, PackageKind::Ns);
        assert_eq!(state.packages[1].vnfd_refs, ["openldap_knf"]);
    }

    #[test]
    fn connection_file_is_ignored_with_a_warning_when_credentials_come_from_elsewhere() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/openldap");
        let opts = ReadOptions {
            credentials_from_elsewhere: true,
            ..Default::default()
        };
        let state = read_repository(&root, &opts).unwrap();
        assert!(state.warnings.iter().any(|w| w.contains("connectionFile")));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn file_names() -> impl Strategy<Value = String> {
            prop_oneof![
                "[a-z]{1,6}\\.osmops\\.yaml",
                "[a-z]{1,6}\\.yaml",
                Just("osm_ops_config.yaml".to_owned()),
                "osm-pkgs/[a-z]{1,4}_knf/[a-z]{1,4}\\.yaml",
                "osm-pkgs/[a-z]{1,4}_ns/[a-z]{1,4}\\.yaml",
                "[a-z]{1,4}/[a-z]{1,4}\\.osmops\\.yaml",
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]

            /// Any tree of files with any content reads as a desired state or a list of
            /// problems: never a panic.
            #[test]
            fn any_repository_reads_or_reports(
                files in prop::collection::vec((file_names(), "\\PC{0,200}"), 0..8)
            ) {
                let dir = tempfile::tempdir().unwrap();
                for (name, text) in &files {
                    let p = dir.path().join(name);
                    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                    std::fs::write(p, text).unwrap();
                }
                match read_repository(dir.path(), &ReadOptions::default()) {
                    Ok(_) => {}
                    Err(e) => prop_assert!(!e.problems.is_empty()),
                }
            }
        }
    }
}
