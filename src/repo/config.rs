//! `osm_ops_config.yaml`, the original project's repository configuration, read unchanged.

use std::path::{Component, Path, PathBuf};

use super::Problem;

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
    /// Loads `osm_ops_config.yaml` from `root`, or the defaults when there is none.
    pub fn load(root: &Path) -> Result<OpsConfig, Problem> {
        let path = root.join(CONFIG_FILE_NAME);
        if !path.exists() {
            return Ok(OpsConfig::default());
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Problem::new(CONFIG_FILE_NAME, None, format!("cannot read: {e}")))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<OpsConfig, Problem> {
        let bad = |field: Option<&str>, msg: String| Problem::new(CONFIG_FILE_NAME, field, msg);
        let value: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| bad(None, format!("invalid YAML: {e}")))?;
        let mut config = OpsConfig::default();
        let map = match value {
            serde_yaml::Value::Null => return Ok(config),
            serde_yaml::Value::Mapping(m) => m,
            _ => return Err(bad(None, "expected a mapping".into())),
        };
        for (key, value) in map {
            let key = key
                .as_str()
                .ok_or_else(|| bad(None, "keys must be strings".into()))?
                .to_owned();
            match key.as_str() {
                "targetDir" => {
                    let dir = value
                        .as_str()
                        .ok_or_else(|| bad(Some("targetDir"), "must be a string".into()))?;
                    config.target_dir = PathBuf::from(dir);
                }
                "fileExtensions" => {
                    let list = value.as_sequence().ok_or_else(|| {
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

/// Joins a relative path onto `root`, refusing absolute paths and paths that leave the root.
pub(crate) fn resolve_inside(root: &Path, rel: &Path) -> Result<PathBuf, String> {
    let mut out = root.to_path_buf();
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
    if !out.is_dir() {
        return Err(format!("directory '{}' does not exist", rel.display()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_no_extensions_are_given() {
        let c = OpsConfig::parse("targetDir: .\nconnectionFile: secret.yaml\n").unwrap();
        assert_eq!(c.file_extensions, [".osmops.yaml", ".osmops.yml"]);
        assert_eq!(c.connection_file.as_deref(), Some("secret.yaml"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let p = OpsConfig::parse("targetDir: .\ntargetdir: x\n").unwrap_err();
        assert_eq!(p.field.as_deref(), Some("targetdir"));
    }

    #[test]
    fn escaping_target_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve_inside(dir.path(), Path::new("../etc")).unwrap_err();
        assert!(err.contains("inside the repository"), "{err}");
        let err = resolve_inside(dir.path(), Path::new("missing")).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
    }
}
