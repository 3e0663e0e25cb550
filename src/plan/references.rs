//! `vnfName` and `kdu.name` of NsInstances checked against what OSM knows, where the repository
//! reader could not check them (the NSD or the member's VNFD is not in the repository).

use std::collections::HashMap;

use super::{LiveState, Plan};
use crate::osm::NsRecord;
use crate::repo::{reference_problem, DesiredState, Package, PackageKind};

/// An existing NS is checked against its own record (which embeds its NSD and lists the KDUs OSM
/// deployed, so this costs no request); a new one against OSM's NSD and VNFD records.
pub(super) fn check_against_osm(desired: &DesiredState, live: &LiveState, p: &mut Plan) {
    let live_pkg = |kind: PackageKind, id: &str| {
        live.packages(kind)
            .iter()
            .find(|r| r.id.as_deref() == Some(id))
    };
    let fully_in_repo = |nsd: &Package| {
        nsd.vnf_profiles
            .iter()
            .all(|m| desired.package(&m.vnfd_id).is_some())
    };
    let mut by_name: HashMap<&str, Vec<&NsRecord>> = HashMap::new();
    for n in &live.ns_instances {
        by_name.entry(n.name.as_str()).or_default().push(n);
    }
    for want in &desired.ns_instances {
        let in_repo = desired.package(&want.nsd_name);
        if in_repo.is_some_and(fully_in_repo) {
            continue; // checked by the repository reader
        }
        let existing = by_name
            .get(want.name.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let problem = match (existing, in_repo) {
            ([ns], _) if !ns.vnf_profiles.is_empty() => {
                let kdus: Vec<String> = ns
                    .deployed_kdus
                    .iter()
                    .filter(|(member, _)| *member == want.vnf_name)
                    .map(|(_, kdu)| kdu.clone())
                    .collect();
                let member_vnfd = ns
                    .vnf_profiles
                    .iter()
                    .find(|m| m.member == want.vnf_name)
                    .map(|m| m.vnfd_id.clone());
                reference_problem(want, &ns.vnf_profiles, |vnfd| {
                    (Some(vnfd) == member_vnfd.as_deref() && !kdus.is_empty())
                        .then_some(kdus.as_slice())
                })
            }
            ([], Some(nsd)) => reference_problem(want, &nsd.vnf_profiles, |vnfd| {
                match desired.package(vnfd) {
                    Some(pkg) => Some(pkg.kdus.as_slice()),
                    None => live_pkg(PackageKind::Vnf, vnfd).map(|r| r.kdus.as_slice()),
                }
            }),
            ([], None) => match live_pkg(PackageKind::Ns, &want.nsd_name) {
                Some(rec) => reference_problem(want, &rec.vnf_profiles, |vnfd| {
                    live_pkg(PackageKind::Vnf, vnfd).map(|r| r.kdus.as_slice())
                }),
                // An unknown NSD is reported where the NS is planned.
                None => None,
            },
            // Several live NS with one name are reported where the NS is planned.
            _ => None,
        };
        if let Some((field, msg)) = problem {
            p.problems.push(format!(
                "{}: NS instance '{}': field '{field}': {msg} (checked against OSM)",
                want.source, want.name
            ));
        }
    }
}
