//! Who a sync is, and the ownership marks it leaves in OSM itself so that what it created can be
//! proven to be its own even without its inventory (a lost state file, a crash right after a
//! write, an OsmSync whose status was reset):
//!
//! - NS instances: the NS description ends with `[osmops owner=<id>]` (set at create time; OSM
//!   shows it in its UI and `osm ns-show`).
//! - Packages: the upload's `Content-Filename`, which OSM keeps as `_admin.storage.zipfile`, ends
//!   with `_owner-<12 hex>`: a hash of the owner id (file names cannot hold the id itself).
//!
//! Prune deletes only what is marked with this owner, or, for objects created before marks
//! existed, what the owner's inventory records and OSM does not mark as someone else's.

use sha2::{Digest, Sha256};

const MARK_START: &str = "[osmops owner=";
const MARK_END: char = ']';

/// A sync's identity: `osmsync/<namespace>/<name>` for the controller; for the CLI the
/// repository (`git:<remote url>#<path>`, else `dir:<absolute path>`) or `--owner`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner(String);

impl Owner {
    /// Characters OSM refuses in descriptions (quotes) and the mark's own delimiters are replaced.
    pub fn new(id: impl Into<String>) -> Owner {
        let id: String = id
            .into()
            .chars()
            .map(|c| match c {
                '\'' | '"' | '[' | ']' => '_',
                c if c.is_control() => '_',
                c => c,
            })
            .collect();
        Owner(id)
    }

    pub fn controller(namespace: &str, name: &str) -> Owner {
        Owner::new(format!("osmsync/{namespace}/{name}"))
    }

    pub fn id(&self) -> &str {
        &self.0
    }

    /// The description an NS is created with: the user's text, then this owner's mark.
    pub fn ns_description(&self, user: Option<&str>) -> String {
        match user.map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => format!("{d} {MARK_START}{}{MARK_END}", self.0),
            None => format!("{MARK_START}{}{MARK_END}", self.0),
        }
    }

    /// The owner an NS description names, if it carries a mark.
    pub fn of_description(description: &str) -> Option<&str> {
        let body = description.trim_end().strip_suffix(MARK_END)?;
        let start = body.rfind(MARK_START)?;
        Some(&body[start + MARK_START.len()..])
    }

    /// The mark in package file names: 12 hex digits of the owner id's sha256.
    pub fn package_tag(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..6])
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whom OSM says an object belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    /// Marked with this owner.
    Ours,
    /// Marked with another owner.
    Theirs,
    /// No mark (created by hand, by another tool, or by OSM Ops before marks existed).
    Unmarked,
}

impl Owner {
    pub fn judge_ns(&self, description: Option<&str>) -> Marked {
        match description.and_then(Owner::of_description) {
            Some(id) if id == self.0 => Marked::Ours,
            Some(_) => Marked::Theirs,
            None => Marked::Unmarked,
        }
    }

    pub fn judge_package(&self, tag: Option<&str>) -> Marked {
        match tag {
            Some(t) if t == self.package_tag() => Marked::Ours,
            Some(_) => Marked::Theirs,
            None => Marked::Unmarked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip_and_keep_the_users_text() {
        let o = Owner::controller("ops", "demo");
        let d = o.ns_description(Some("LDAP for the lab"));
        assert_eq!(d, "LDAP for the lab [osmops owner=osmsync/ops/demo]");
        assert_eq!(Owner::of_description(&d), Some("osmsync/ops/demo"));
        assert_eq!(o.judge_ns(Some(&d)), Marked::Ours);
        assert_eq!(o.ns_description(None), "[osmops owner=osmsync/ops/demo]");
        let other = Owner::controller("ops", "other");
        assert_eq!(other.judge_ns(Some(&d)), Marked::Theirs);
        assert_eq!(o.judge_ns(Some("made by hand")), Marked::Unmarked);
        assert_eq!(o.judge_ns(None), Marked::Unmarked);
    }

    #[test]
    fn ids_cannot_break_the_mark_or_osms_rules() {
        let o = Owner::new("git:https://x/y#a'b\"c]d[e");
        assert_eq!(o.id(), "git:https://x/y#a_b_c_d_e");
        let d = o.ns_description(None);
        assert!(!d.contains('\'') && !d.contains('"'));
        assert_eq!(Owner::of_description(&d), Some(o.id()));
    }

    #[test]
    fn package_tags_are_short_and_distinct() {
        let a = Owner::new("dir:/a");
        let b = Owner::new("dir:/b");
        assert_eq!(a.package_tag().len(), 12);
        assert_ne!(a.package_tag(), b.package_tag());
        assert_eq!(a.judge_package(Some(&a.package_tag())), Marked::Ours);
        assert_eq!(a.judge_package(Some(&b.package_tag())), Marked::Theirs);
        assert_eq!(a.judge_package(None), Marked::Unmarked);
    }
}
