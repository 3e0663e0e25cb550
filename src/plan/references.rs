//! Members, KDUs, VDUs and scaling aspects NsInstances name, checked against what OSM knows, where the repository
//! reader could not check them (the NSD or the member's VNFD is not in the repository).

use std::collections::HashMap;

use super::{LiveState, Plan};
use crate::osm::NsRecord;
use crate::repo::{reference_problems, DesiredState, Package, PackageKind, VnfdFacts};

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
        let live_facts = |vnfd: &str| {
            live_pkg(PackageKind::Vnf, vnfd).map(|r| VnfdFacts {
                kdus: &r.kdus,
                vdus: Some(&r.vdus),
                aspects: Some(&r.scaling_aspects),
            })
        };
        let problems = match (existing, in_repo) {
            ([ns], _) if !ns.vnf_profiles.is_empty() => {
                // The NS's own record: the KDUs OSM deployed per member. VDUs and aspects are
                // known when OSM's VNFD was read.
                let deployed: HashMap<&str, Vec<String>> =
                    ns.deployed_kdus
                        .iter()
                        .fold(HashMap::new(), |mut m, (member, kdu)| {
                            m.entry(member.as_str()).or_default().push(kdu.clone());
                            m
                        });
                let deployed = &deployed;
                reference_problems(want, &ns.vnf_profiles, None, |vnfd| {
                    let live = live_facts(vnfd);
                    let member = ns.vnf_profiles.iter().find(|m| m.vnfd_id == vnfd)?;
                    match (deployed.get(member.member.as_str()), live) {
                        (_, Some(facts)) => Some(facts),
                        (Some(kdus), None) => Some(VnfdFacts {
                            kdus,
                            vdus: None,
                            aspects: None,
                        }),
                        (None, None) => None,
                    }
                })
            }
            ([], Some(nsd)) => {
                reference_problems(want, &nsd.vnf_profiles, Some(&nsd.virtual_links), |vnfd| {
                    match desired.package(vnfd) {
                        Some(pkg) => Some(VnfdFacts {
                            kdus: &pkg.kdus,
                            vdus: Some(&pkg.vdus),
                            aspects: Some(&pkg.scaling_aspects),
                        }),
                        None => live_facts(vnfd),
                    }
                })
            }
            ([], None) => match live_pkg(PackageKind::Ns, &want.nsd_name) {
                Some(rec) => reference_problems(want, &rec.vnf_profiles, None, live_facts),
                // An unknown NSD is reported where the NS is planned.
                None => Vec::new(),
            },
            // Several live NS with one name are reported where the NS is planned.
            _ => Vec::new(),
        };
        for (field, msg) in problems {
            p.problems.push(format!(
                "{}: NS instance '{}': field '{field}': {msg} (checked against OSM)",
                want.source, want.name
            ));
        }
    }
}
