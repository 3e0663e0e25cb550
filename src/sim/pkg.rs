//! The NBI's package rules, implemented independently of `repo/` (osm-nbi.md §4-6): tar layout,
//! descriptor discovery at depth 2, envelope stripping. Shares no code with the package builder so
//! that a builder bug shows up as a simulator rejection.

use std::io::Read;

use serde_json::Value;

use super::http::{Reply, Status};

pub struct Upload {
    /// Descriptor with the envelope stripped.
    pub descriptor: Value,
    pub pkg_dir: String,
    pub descriptor_file: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Vnfd,
    Nsd,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Vnfd => "vnfd",
            Kind::Nsd => "nsd",
        }
    }
}

/// Opens an uploaded package (gzip tarball, or a bare descriptor for text/yaml content types).
pub fn open_upload(
    kind: Kind,
    content_type: &str,
    body: &[u8],
    max_uncompressed: u64,
) -> Result<Upload, Reply> {
    let (text, pkg_dir, descriptor_file) = if content_type.contains("gzip")
        || content_type.contains("zip")
    {
        read_tarball(body, max_uncompressed)?
    } else if content_type.contains("yaml")
        || content_type.contains("json")
        || content_type.contains("text/plain")
    {
        let text = String::from_utf8(body.to_vec())
            .map_err(|_| Reply::error(Status::BAD_REQUEST, "descriptor is not UTF-8"))?;
        (text, String::new(), "descriptor.yaml".to_owned())
    } else {
        return Err(Reply::error(
            Status::BAD_REQUEST,
            format!("Only 'Content-Type' of type 'application/gzip' or 'application/yaml' or 'text/plain' is allowed, received '{content_type}'"),
        ));
    };
    let raw: Value = serde_saphyr::from_str(&text).map_err(|e| {
        Reply::error(
            Status::BAD_REQUEST,
            format!(
                "Error reading descriptor content: {}",
                e.to_string().replace('\n', " ")
            ),
        )
    })?;
    let descriptor = strip_envelope(kind, raw)?;
    Ok(Upload {
        descriptor,
        pkg_dir,
        descriptor_file,
    })
}

/// Bytes of package content the simulator decompresses at most, by default
/// (`SimConfig::max_uncompressed_package`). OSM extracts an upload whole (`descriptor_topics.py`,
/// bounded only by CherryPy's 100 MB request body); the simulator reads the tarball as a stream
/// without keeping it, and stops a gzip bomb here.
pub const MAX_UNCOMPRESSED_PACKAGE: u64 = 512 * 1024 * 1024;
/// The largest descriptor file read from a package.
pub const MAX_DESCRIPTOR_BYTES: u64 = 16 * 1024 * 1024;

/// A reader that fails once more than `left` bytes were asked of it.
struct Bounded<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other(format!(
                "the package expands beyond {} MiB (the simulator's bound on decompressed content)",
                self.limit / (1024 * 1024)
            )));
        }
        let max = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

fn read_tarball(body: &[u8], max_uncompressed: u64) -> Result<(String, String, String), Reply> {
    // Streamed: entries are read from the decompressor as the archive is walked, and only
    // descriptor files are kept.
    let gz = Bounded {
        inner: flate2::read::GzDecoder::new(body),
        left: max_uncompressed,
        limit: max_uncompressed,
    };
    let mut archive = tar::Archive::new(gz);
    let entries = archive.entries().map_err(|e| content_error(&e))?;
    let mut candidates: Vec<(String, String)> = Vec::new();
    let mut top_dirs = std::collections::BTreeSet::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| content_error(&e))?;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if raw_path.starts_with('/') || raw_path.split('/').any(|c| c == "..") {
            return Err(Reply::error(Status::BAD_REQUEST, format!("Absolute path or '..' are not allowed for package descriptor tar.gz: '{raw_path}'")));
        }
        let parts: Vec<&str> = raw_path.split('/').filter(|c| !c.is_empty()).collect();
        let is_dir = entry.header().entry_type().is_dir();
        if parts.len() == 1 && !is_dir {
            return Err(Reply::error(
                Status::BAD_REQUEST,
                format!(
                    "All files must be inside a dir for package descriptor tar.gz: '{raw_path}'"
                ),
            ));
        }
        if let Some(top) = parts.first() {
            top_dirs.insert(top.to_string());
        }
        let name = parts.last().copied().unwrap_or_default();
        if parts.len() == 2
            && !is_dir
            && [".yaml", ".yml", ".json"].iter().any(|e| name.ends_with(e))
        {
            let mut text = String::new();
            (&mut entry)
                .take(MAX_DESCRIPTOR_BYTES)
                .read_to_string(&mut text)
                .map_err(|e| {
                    Reply::error(
                        Status::BAD_REQUEST,
                        format!("cannot read descriptor '{raw_path}': {e}"),
                    )
                })?;
            candidates.push((raw_path.clone(), text));
        }
    }
    // The whole gzip stream must be sound, also after the tar's end, as Python's gzip reads it.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink())
        .map_err(|e| content_error(&e))?;
    match candidates.len() {
        1 => {
            let (path, text) = candidates.pop().expect("one candidate");
            let pkg_dir = path.split('/').next().unwrap_or_default().to_owned();
            Ok((text, pkg_dir, path))
        }
        0 => Err(Reply::error(
            Status::BAD_REQUEST,
            "Not found any descriptor file at package descriptor tar.gz",
        )),
        _ => Err(Reply::error(
            Status::BAD_REQUEST,
            "Found more than one descriptor file at package descriptor tar.gz",
        )),
    }
}

/// OSM's answer to an unreadable upload: Python's gzip error for a truncated stream, tarfile's
/// `ReadError` ("invalid file content") otherwise (`upload_content` in NBI
/// `osm_nbi/descriptor_topics.py`).
fn content_error(e: &std::io::Error) -> Reply {
    let text = e.to_string();
    if e.kind() == std::io::ErrorKind::UnexpectedEof || text.contains("unexpected end of file") {
        return Reply::error(
            Status::BAD_REQUEST,
            format!("Compressed file ended before the end-of-stream marker was reached ({text})"),
        );
    }
    Reply::error(Status::BAD_REQUEST, format!("invalid file content {text}"))
}

fn pyangbind_error(detail: &str) -> Reply {
    Reply::error(
        Status::UNPROCESSABLE_ENTITY,
        format!("Error in pyangbind validation: {detail}"),
    )
}

/// The elements of OSM's SOL006 bindings (`osm_im.etsi_nfv_vnfd` `vnfd`, `osm_im.etsi_nfv_nsd`
/// `nsd/nsd`, `vnfd/kdu`), as generated for OSM's NBI from SOL006 v2.6.1 and OSM's augments.
/// Kept apart from the repository reader's copy on purpose (the simulator shares no code with it).
const SOL006_VNFD_KEYS: [&str; 29] = [
    "auto-scale",
    "configurable-properties",
    "default-localization-language",
    "description",
    "df",
    "element-group",
    "ext-cpd",
    "id",
    "indicator",
    "int-virtual-link-desc",
    "k8s-cluster",
    "kdu",
    "lifecycle-management-script",
    "localization-language",
    "mgmt-cp",
    "modifiable-attributes",
    "product-info-description",
    "product-info-name",
    "product-name",
    "provider",
    "security-group-rule",
    "software-version",
    "sw-image-desc",
    "vdu",
    "version",
    "vip",
    "virtual-compute-desc",
    "virtual-storage-desc",
    "vnfm-info",
];
const SOL006_NSD_KEYS: [&str; 19] = [
    "algorithm",
    "autoscale-rule",
    "certificate",
    "description",
    "designer",
    "df",
    "id",
    "invariant-id",
    "lifecycle-management-script",
    "name",
    "nested-nsd-id",
    "ns-configuration",
    "pnfd-id",
    "sapd",
    "signature",
    "version",
    "virtual-link-desc",
    "vnfd-id",
    "vnffgd",
];
const SOL006_KDU_KEYS: [&str; 6] = [
    "description",
    "helm-chart",
    "helm-version",
    "juju-bundle",
    "name",
    "service",
];

/// `validate_helm_chart` (NBI `osm_nbi/descriptor_topics.py`): `valid_helm_chart_re.match(v)`,
/// i.e. `^[a-z0-9]([-a-z0-9]*[a-z0-9]/)?([a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`, or a URL with a
/// scheme and a host. A small backtracking matcher of that one pattern.
fn valid_helm_chart(v: &str) -> bool {
    if let Some((scheme, rest)) = v.split_once("://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if !scheme.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && !host.is_empty()
        {
            return true;
        }
    }
    let b = v.as_bytes();
    let an = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let w = |c: u8| an(c) || c == b'-';
    if b.is_empty() || !an(b[0]) {
        return false;
    }
    // Tail: ([a-z0-9]([-a-z0-9]*[a-z0-9])?)* over b[i..], to the end.
    let tail =
        |t: &[u8]| t.is_empty() || (an(t[0]) && an(t[t.len() - 1]) && t.iter().all(|c| w(*c)));
    // Either the optional group matches up to some '/', or it is skipped.
    if let Some(slash) = b.iter().position(|c| *c == b'/') {
        let group = &b[1..slash];
        if !group.is_empty()
            && group.iter().all(|c| w(*c))
            && an(group[group.len() - 1])
            && tail(&b[slash + 1..])
        {
            return true;
        }
        return false;
    }
    tail(&b[1..])
}

/// Removes `vnfd:` / `etsi-nfv-vnfd:vnfd:` or `nsd: {nsd: [..]}` envelopes.
pub fn strip_envelope(kind: Kind, raw: Value) -> Result<Value, Reply> {
    let Value::Object(mut map) = raw else {
        return Err(Reply::error(
            Status::BAD_REQUEST,
            "descriptor must be a dictionary",
        ));
    };
    if map.keys().any(|k| k.ends_with("-catalog")) {
        return Err(Reply::error(Status::UNPROCESSABLE_ENTITY, "Error in pyangbind validation: Unsupported descriptor format. Only SOL006 descriptors are supported"));
    }
    let inner = match kind {
        Kind::Vnfd => map
            .remove("vnfd")
            .or_else(|| map.remove("etsi-nfv-vnfd:vnfd")),
        Kind::Nsd => match map.remove("nsd").or_else(|| map.remove("etsi-nfv-nsd:nsd")) {
            Some(Value::Object(mut env)) => match env.remove("nsd") {
                Some(Value::Array(mut list)) if list.len() == 1 => Some(list.remove(0)),
                _ => {
                    return Err(Reply::error(
                        Status::BAD_REQUEST,
                        "'nsd' must be a list of only one element",
                    ))
                }
            },
            Some(_) => {
                return Err(Reply::error(
                    Status::BAD_REQUEST,
                    "'nsd' must be a list of only one element",
                ))
            }
            None => None,
        },
    };
    let desc = inner.unwrap_or(Value::Object(map));
    // pyangbind refuses any key its SOL006 bindings lack, old information model fields included.
    if let Some(obj) = desc.as_object() {
        let known: &[&str] = match kind {
            Kind::Vnfd => &SOL006_VNFD_KEYS,
            Kind::Nsd => &SOL006_NSD_KEYS,
        };
        let other_envelope = |k: &str| match kind {
            Kind::Vnfd => k == "nsd" || k == "etsi-nfv-nsd:nsd",
            Kind::Nsd => k == "vnfd" || k == "etsi-nfv-vnfd:vnfd",
        };
        if let Some(k) = obj
            .keys()
            .find(|k| !known.contains(&k.as_str()) && !other_envelope(k))
        {
            return Err(pyangbind_error(&format!(
                "JSON object contained a key that did not exist ({k})"
            )));
        }
        if kind == Kind::Vnfd {
            for kdu in obj
                .get("kdu")
                .and_then(|k| k.as_array())
                .into_iter()
                .flatten()
            {
                if let Some(k) = kdu
                    .as_object()
                    .and_then(|m| m.keys().find(|k| !SOL006_KDU_KEYS.contains(&k.as_str())))
                {
                    return Err(pyangbind_error(&format!(
                        "JSON object contained a key that did not exist ({k})"
                    )));
                }
                if let Some(chart) = kdu.get("helm-chart").and_then(|c| c.as_str()) {
                    if !valid_helm_chart(chart) {
                        return Err(Reply::error(
                            Status::UNPROCESSABLE_ENTITY,
                            format!("helm-chart '{chart}' is not valid"),
                        ));
                    }
                }
            }
        }
    }
    let other = match kind {
        Kind::Vnfd => ["nsd", "etsi-nfv-nsd:nsd"],
        Kind::Nsd => ["vnfd", "etsi-nfv-vnfd:vnfd"],
    };
    if other.iter().any(|k| desc.get(k).is_some()) {
        return Err(Reply::error(
            Status::UNPROCESSABLE_ENTITY,
            format!(
                "Error in pyangbind validation: this is not a {} descriptor",
                kind.name()
            ),
        ));
    }
    match desc.get("id") {
        Some(Value::String(s)) if !s.is_empty() => Ok(desc),
        _ => Err(Reply::error(
            Status::UNPROCESSABLE_ENTITY,
            "Error in pyangbind validation: descriptor has no 'id'",
        )),
    }
}
