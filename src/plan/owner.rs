//! Who a sync is, and the ownership marks it leaves in OSM itself so that what it created can be
//! proven to be its own even without its inventory (a lost state file, a crash right after a
//! write, an OsmSync whose status was reset):
//!
//! - NS instances: the NS description ends with `[osmops owner=<readable id> key=<24 hex>]` (set
//!   at create time; OSM shows it in its UI and `osm ns-show`). Only the key counts: 96 bits of
//!   the sha256 of the full owner id, so two different ids never share a mark. The readable part
//!   is decoration for people (quotes, brackets and control characters replaced, shortened).
//! - Packages: the upload's `Content-Filename`, which OSM keeps as `_admin.storage.zipfile`, ends
//!   with `_owner-<12 hex>`: the sha256 of the full owner id (file names cannot hold the id itself).
//!
//! Marks written by earlier versions (`[osmops owner=<id>]` without a key, package tags hashed
//! from the id after its special characters were replaced) are not injective: two ids that differ
//! only in those characters wrote the same mark. They are read as [`Marked::Legacy`]: this owner's
//! only together with the inventory's record of that very object.
//!
//! Prune and every other delete act only on what [`Owner::owns`] proves: this owner's mark, a
//! legacy mark plus the inventory's record, or the inventory's record of an upload with its mark
//! or of an explicit adoption.

use sha2::{Digest, Sha256};

const MARK_START: &str = "[osmops owner=";
const KEY_SEP: &str = " key=";
const MARK_END: char = ']';
/// Hex digits of the NS mark's key (96 bits).
const KEY_HEX: usize = 24;
/// Characters of the owner id shown in an NS mark, so that the mark fits OSM's 255-character
/// description with room for the user's own text.
const READABLE_CHARS: usize = 60;
/// The longest mark [`Owner::ns_description`] appends: start, readable id, key and end.
pub const MAX_MARK_CHARS: usize = MARK_START.len() + READABLE_CHARS + KEY_SEP.len() + KEY_HEX + 1;
pub use crate::model::{MAX_USER_DESCRIPTION_CHARS, OSM_MAX_DESCRIPTION_CHARS};
// The user's description, a space and the longest mark fit OSM's limit exactly.
const _: () = assert!(MAX_USER_DESCRIPTION_CHARS == OSM_MAX_DESCRIPTION_CHARS - MAX_MARK_CHARS - 1);

/// Why an owner id cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("owner id must not be empty or only whitespace: every such sync would share one identity in OSM and could prune the others' objects")]
pub struct EmptyOwner;

/// A sync's identity: `osmsync/<namespace>/<name>` for the controller; for the CLI the
/// repository (`git:<remote url>#<path>`, else `dir:<absolute path>`) or `--owner`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner(String);

impl Owner {
    /// The owner with exactly this id. An empty or whitespace-only id is refused: it would be the
    /// same identity for every sync that has it.
    pub fn new(id: impl Into<String>) -> Result<Owner, EmptyOwner> {
        let id = id.into();
        if id.trim().is_empty() {
            return Err(EmptyOwner);
        }
        Ok(Owner(id))
    }

    pub fn controller(namespace: &str, name: &str) -> Owner {
        Owner(format!("osmsync/{namespace}/{name}"))
    }

    pub fn id(&self) -> &str {
        &self.0
    }

    /// The id as earlier versions wrote it into marks: quotes, the mark's delimiters and control
    /// characters replaced by `_` (not injective, hence only a legacy proof).
    fn legacy_id(&self) -> String {
        self.0
            .chars()
            .map(|c| match c {
                '\'' | '"' | '[' | ']' => '_',
                c if c.is_control() => '_',
                c => c,
            })
            .collect()
    }

    /// 96 bits of the sha256 of the full id: what the NS mark is judged by.
    fn key(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..KEY_HEX / 2])
    }

    /// The readable part of the mark: the legacy-normalised id, shortened from the left (the end
    /// of a path or URL says most).
    fn readable(&self) -> String {
        let id = self.legacy_id();
        let n = id.chars().count();
        if n <= READABLE_CHARS {
            return id;
        }
        let tail: String = id.chars().skip(n - (READABLE_CHARS - 1)).collect();
        format!("…{tail}")
    }

    /// The description an NS is created with: the user's text, then this owner's mark.
    pub fn ns_description(&self, user: Option<&str>) -> String {
        let mark = format!(
            "{MARK_START}{}{KEY_SEP}{}{MARK_END}",
            self.readable(),
            self.key()
        );
        match user.map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => format!("{d} {mark}"),
            None => mark,
        }
    }

    /// The mark an NS description carries, if any.
    pub fn mark_of(description: &str) -> Option<Mark<'_>> {
        let body = description.trim_end().strip_suffix(MARK_END)?;
        let start = body.rfind(MARK_START)?;
        let inner = &body[start + MARK_START.len()..];
        Some(match inner.rsplit_once(KEY_SEP) {
            Some((readable, key)) if is_hex(key, KEY_HEX) => Mark {
                readable,
                key: Some(key),
            },
            _ => Mark {
                readable: inner,
                key: None,
            },
        })
    }

    /// Who an NS description says manages it, for messages: its readable owner id.
    pub fn of_description(description: &str) -> Option<&str> {
        Self::mark_of(description).map(|m| m.readable)
    }

    /// The mark in package file names: 12 hex digits of the full owner id's sha256.
    pub fn package_tag(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..6])
    }

    /// The tag earlier versions wrote: the sha256 of the normalised id. Differs from
    /// [`Owner::package_tag`] only for ids with quotes, brackets or control characters.
    fn legacy_package_tag(&self) -> String {
        hex::encode(&Sha256::digest(self.legacy_id().as_bytes())[..6])
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An ownership mark found in an NS description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark<'a> {
    /// The owner id as shown (decoration).
    pub readable: &'a str,
    /// The key that identifies the owner; `None` in marks written by earlier versions.
    pub key: Option<&'a str>,
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
    /// A mark written by an earlier version that this owner would also have written, but so would
    /// another owner whose id differs only in replaced characters: this owner's only with the
    /// inventory's record of the object.
    Legacy,
    /// No mark (created by hand, by another tool, or by OSM Ops before marks existed).
    Unmarked,
}

/// Why this sync may change or destroy an object that already exists in OSM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// It carries this sync's mark.
    Mark,
    /// It carries a mark of an earlier version naming this sync, and the inventory records it.
    LegacyMark,
    /// The inventory records that this sync created it with its mark or adopted it explicitly
    /// (`adopt`), and OSM shows no other mark on it.
    Recorded,
}

impl Proof {
    pub fn describe(self) -> &'static str {
        match self {
            Proof::Mark => "carries this sync's mark",
            Proof::LegacyMark => {
                "carries this sync's mark (earlier format) and is recorded in the inventory"
            }
            Proof::Recorded => "recorded in the inventory as created or adopted by this sync",
        }
    }
}

/// What the inventory says of one object with a given OSM id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Not recorded (or recorded with another OSM id).
    No,
    /// Recorded by an earlier version, which also recorded objects it found rather than made
    /// (it adopted silently): not proof on its own.
    Unproven,
    /// Recorded when this sync uploaded the object with its mark or adopted it explicitly.
    Proven,
}

impl Owner {
    pub fn judge_ns(&self, description: Option<&str>) -> Marked {
        match description.and_then(Owner::mark_of) {
            Some(Mark { key: Some(k), .. }) if k.eq_ignore_ascii_case(&self.key()) => Marked::Ours,
            Some(Mark { key: Some(_), .. }) => Marked::Theirs,
            Some(Mark {
                key: None,
                readable,
            }) if readable == self.legacy_id() => Marked::Legacy,
            Some(_) => Marked::Theirs,
            None => Marked::Unmarked,
        }
    }

    pub fn judge_package(&self, tag: Option<&str>) -> Marked {
        match tag {
            Some(t) if t == self.package_tag() => Marked::Ours,
            Some(t) if t == self.legacy_package_tag() => Marked::Legacy,
            Some(_) => Marked::Theirs,
            None => Marked::Unmarked,
        }
    }

    /// Whether this sync may change or destroy an object OSM marks as `marked`, given what its
    /// inventory records of that very object (same OSM id). Nothing else is ever proof: not a
    /// name, not an inventory entry for an object OSM marks as someone else's, and not an entry
    /// for an unmarked object that was not adopted explicitly.
    pub fn owns(marked: Marked, recorded: Recorded) -> Option<Proof> {
        match (marked, recorded) {
            (Marked::Ours, _) => Some(Proof::Mark),
            (Marked::Legacy, Recorded::Unproven | Recorded::Proven) => Some(Proof::LegacyMark),
            (Marked::Unmarked, Recorded::Proven) => Some(Proof::Recorded),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(id: &str) -> Owner {
        Owner::new(id).unwrap()
    }

    #[test]
    fn marks_round_trip_and_keep_the_users_text() {
        let o = Owner::controller("ops", "demo");
        let d = o.ns_description(Some("LDAP for the lab"));
        assert!(
            d.starts_with("LDAP for the lab [osmops owner=osmsync/ops/demo key="),
            "{d}"
        );
        assert_eq!(Owner::of_description(&d), Some("osmsync/ops/demo"));
        assert_eq!(o.judge_ns(Some(&d)), Marked::Ours);
        assert!(o
            .ns_description(None)
            .starts_with("[osmops owner=osmsync/ops/demo key="));
        let other = Owner::controller("ops", "other");
        assert_eq!(other.judge_ns(Some(&d)), Marked::Theirs);
        assert_eq!(o.judge_ns(Some("made by hand")), Marked::Unmarked);
        assert_eq!(o.judge_ns(None), Marked::Unmarked);
    }

    #[test]
    fn ids_that_differ_only_in_replaced_characters_never_share_a_mark() {
        // Earlier versions replaced these characters, so all of these ids wrote one mark.
        let ids = [
            "git:https://x/y#a_b",
            "git:https://x/y#a'b",
            "git:https://x/y#a\"b",
            "git:https://x/y#a[b",
            "git:https://x/y#a]b",
            "git:https://x/y#a\u{7}b",
        ];
        for (i, a) in ids.iter().enumerate() {
            let oa = owner(a);
            let mark = oa.ns_description(None);
            // The readable part stays within OSM's rules (no quotes) and the mark parses.
            assert!(!mark.contains('\'') && !mark.contains('"'), "{mark}");
            assert_eq!(oa.judge_ns(Some(&mark)), Marked::Ours);
            for (j, b) in ids.iter().enumerate() {
                if i != j {
                    let ob = owner(b);
                    assert_eq!(ob.judge_ns(Some(&mark)), Marked::Theirs, "{a} vs {b}");
                    assert_ne!(oa.package_tag(), ob.package_tag(), "{a} vs {b}");
                    assert_ne!(
                        oa.judge_package(Some(&ob.package_tag())),
                        Marked::Ours,
                        "{a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn earlier_marks_are_legacy_and_prove_ownership_only_with_the_inventory() {
        let o = owner("dir:/repo");
        let legacy = "LDAP [osmops owner=dir:/repo]";
        assert_eq!(o.judge_ns(Some(legacy)), Marked::Legacy);
        assert_eq!(owner("dir:/other").judge_ns(Some(legacy)), Marked::Theirs);
        assert_eq!(Owner::owns(Marked::Legacy, Recorded::No), None);
        assert_eq!(
            Owner::owns(Marked::Legacy, Recorded::Unproven),
            Some(Proof::LegacyMark)
        );
        // A colliding id reads the other's earlier mark as legacy too: never ours without a record.
        let colliding = owner("dir:/re'po");
        assert_eq!(
            colliding.judge_ns(Some("[osmops owner=dir:/re_po]")),
            Marked::Legacy
        );
        // Package tags: for ids without replaced characters the tag is the same as before.
        assert_eq!(o.package_tag(), o.legacy_package_tag());
        assert_eq!(
            colliding.judge_package(Some(&owner("dir:/re_po").package_tag())),
            Marked::Legacy
        );
    }

    #[test]
    fn unmarked_objects_are_owned_only_by_a_proven_record_and_theirs_never() {
        assert_eq!(Owner::owns(Marked::Unmarked, Recorded::No), None);
        assert_eq!(Owner::owns(Marked::Unmarked, Recorded::Unproven), None);
        assert_eq!(
            Owner::owns(Marked::Unmarked, Recorded::Proven),
            Some(Proof::Recorded)
        );
        for r in [Recorded::No, Recorded::Unproven, Recorded::Proven] {
            assert_eq!(Owner::owns(Marked::Theirs, r), None);
            assert_eq!(Owner::owns(Marked::Ours, r), Some(Proof::Mark));
        }
    }

    #[test]
    fn empty_owners_are_refused() {
        for id in ["", " ", "\t\n"] {
            assert_eq!(Owner::new(id), Err(EmptyOwner), "{id:?}");
        }
        assert!(Owner::new("x").is_ok());
    }

    #[test]
    fn marks_fit_osms_description_limit_whatever_the_id() {
        let long = owner(&format!(
            "git:https://git.example/{}#deploy",
            "a".repeat(400)
        ));
        let user = "d".repeat(MAX_USER_DESCRIPTION_CHARS);
        let d = long.ns_description(Some(&user));
        assert!(
            d.chars().count() <= OSM_MAX_DESCRIPTION_CHARS,
            "{}",
            d.len()
        );
        assert_eq!(long.judge_ns(Some(&d)), Marked::Ours);
        assert!(Owner::of_description(&d).unwrap().ends_with("#deploy"));
    }

    #[test]
    fn package_tags_are_short_and_distinct() {
        let a = owner("dir:/a");
        let b = owner("dir:/b");
        assert_eq!(a.package_tag().len(), 12);
        assert_ne!(a.package_tag(), b.package_tag());
        assert_eq!(a.judge_package(Some(&a.package_tag())), Marked::Ours);
        assert_eq!(a.judge_package(Some(&b.package_tag())), Marked::Theirs);
        assert_eq!(a.judge_package(None), Marked::Unmarked);
    }
}
