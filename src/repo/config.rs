//! `osm_ops_config.yaml`, the original project's repository configuration, read unchanged.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::fs::{Entry, Kind, RepoFs};
use super::{yaml, Limits, Problem};

pub const CONFIG_FILE_NAME: &str = "osm_ops_config.yaml";
pub const DEFAULT_FILE_EXTENSIONS: [&str; 2] = [".osmops.yaml", ".osmops.yml"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpsConfig {
    /// Directory (relative to the repository root) holding NsInstance files and `osm-pkgs/`.
    pub target_dir: PathBuf,
    /// File name suffixes of NsInstance files.
    pub file_extensions: Vec<String>,
    /// The original operator's credentials file; only reported, never read from the repository.
    pub connection_file: Option<String>,
}

impl Default for OpsConfig {
    fn default() -> Self {
        OpsConfig {
            target_dir: PathBuf::from("."),
            file_extensions: DEFAULT_FILE_EXTENSIONS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            connection_file: None,
        }
    }
}

impl OpsConfig {
    /// Loads `osm_ops_config.yaml` from the repository root, or the defaults when there is none.
    pub(crate) fn load(fs: &RepoFs, limits: &Limits) -> Result<OpsConfig, Problem> {
        let Some(file) = fs.resolve(&fs.root_entry().path.join(CONFIG_FILE_NAME))? else {
            return Ok(OpsConfig::default());
        };
        let text = fs.read_text(&file, limits.max_yaml_bytes)?;
        Self::parse(&text, limits)
    }

    pub fn parse(text: &str, limits: &Limits) -> Result<OpsConfig, Problem> {
        let bad = |field: Option<&str>, msg: String| Problem::new(CONFIG_FILE_NAME, field, msg);
        let value =
            yaml::document(text, limits).map_err(|e| bad(None, format!("invalid YAML: {e}")))?;
        let mut config = OpsConfig::default();
        let map = match value {
            Value::Null => return Ok(config),
            Value::Object(m) => m,
            _ => return Err(bad(None, "expected a mapping".into())),
        };
        for (key, value) in map {
            match key.as_str() {
                "targetDir" => {
                    let dir = value
                        .as_str()
                        .ok_or_else(|| bad(Some("targetDir"), "must be a string".into()))?;
                    config.target_dir = PathBuf::from(dir);
                }
                "fileExtensions" => {
                    let list = value.as_array().ok_or_else(|| {
                        bad(Some("fileExtensions"), "must be a list of strings".into())
                    })?;
                    let mut exts = Vec::new();
                    for item in list {
                        let ext = item.as_str().filter(|s| !s.is_empty()).ok_or_else(|| {
                            bad(
                                Some("fileExtensions"),
                                "entries must be non-empty strings".into(),
                            )
                        })?;
                        exts.push(ext.to_owned());
                    }
                    if !exts.is_empty() {
                        config.file_extensions = exts;
                    }
                }
                "connectionFile" => {
                    config.connection_file = value.as_str().map(str::to_owned);
                }
                other => return Err(bad(Some(other), "unknown key".into())),
            }
        }
        Ok(config)
    }
}

/// Resolves a relative folder below the root, refusing absolute paths, `..`, folders that do not
/// exist and links that leave the repository.
pub(crate) fn resolve_inside(fs: &RepoFs, rel: &Path) -> Result<Entry, String> {
    let mut out = fs.root_entry().path;
    for c in rel.components() {
        match c {
            Component::CurDir => {}
            Component::Normal(s) => out.push(s),
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "'{}' must be a relative path inside the repository",
                    rel.display()
                ))
            }
        }
    }
    match fs.resolve(&out) {
        Ok(Some(e)) if e.kind == Kind::Dir => Ok(e),
        Ok(_) => Err(format!("directory '{}' does not exist", rel.display())),
        Err(p) => Err(format!("'{}' {}", rel.display(), p.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_no_extensions_are_given() {
        let c = OpsConfig::parse(
            "targetDir: .\nconnectionFile: secret.yaml\n",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(c.file_extensions, [".osmops.yaml", ".osmops.yml"]);
        assert_eq!(c.connection_file.as_deref(), Some("secret.yaml"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let p = OpsConfig::parse("targetDir: .\ntargetdir: x\n", &Limits::default()).unwrap_err();
        assert_eq!(p.field.as_deref(), Some("targetdir"));
    }

    #[test]
    fn escaping_target_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fs = RepoFs::new(dir.path()).unwrap();
        let err = resolve_inside(&fs, Path::new("../etc")).unwrap_err();
        assert!(err.contains("inside the repository"), "{err}");
        let err = resolve_inside(&fs, Path::new("missing")).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_target_dir_linked_outside_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("deploy")).unwrap();
        let fs = RepoFs::new(dir.path()).unwrap();
        let err = resolve_inside(&fs, Path::new("deploy")).unwrap_err();
        assert!(err.contains("outside the repository"), "{err}");
    }
}
