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
    // Without an envelope, the old information model still fails SOL006 validation.
    const OLD_IM_KEYS: [&str; 4] = [
        "constituent-vnfd",
        "mgmt-interface",
        "connection-point",
        "short-name",
    ];
    if let Some(k) = OLD_IM_KEYS.iter().find(|k| desc.get(**k).is_some()) {
        return Err(Reply::error(
            Status::UNPROCESSABLE_ENTITY,
            format!(
                "Error in pyangbind validation: '{k}' is not a valid element of a SOL006 {}",
                kind.name()
            ),
        ));
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
