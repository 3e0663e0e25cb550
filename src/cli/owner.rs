//! The CLI's owner identity: the repository, stable across clones and machines. A Git checkout is
//! named by its remote (user-info such as CI tokens removed) and the path inside it; any other
//! folder by its absolute path. `--owner` overrides both.

use std::path::{Path, PathBuf};

use crate::osm::redact_url;

/// `git:<remote>#<path in the repository>`, else `dir:<absolute path>`.
pub fn repository_owner(dir: &Path) -> String {
    let abs = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    match git_remote(&abs) {
        Some((root, url)) => {
            let rel = abs
                .strip_prefix(&root)
                .ok()
                .map(|r| {
                    r.components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| ".".into());
            format!("git:{url}#{rel}")
        }
        None => format!("dir:{}", abs.display()),
    }
}

/// The work-tree root and the normalised URL of its `origin` remote (or its first remote).
fn git_remote(dir: &Path) -> Option<(PathBuf, String)> {
    let root = dir.ancestors().find(|a| a.join(".git").exists())?;
    let dot_git = root.join(".git");
    let git_dir = if dot_git.is_dir() {
        dot_git
    } else {
        // A worktree or submodule: `.git` is a file naming the real git directory.
        let text = std::fs::read_to_string(&dot_git).ok()?;
        let target = PathBuf::from(text.trim().strip_prefix("gitdir:")?.trim());
        let git_dir = if target.is_absolute() {
            target
        } else {
            root.join(target)
        };
        // Worktrees keep the shared configuration in their common directory.
        match std::fs::read_to_string(git_dir.join("commondir")) {
            Ok(common) => git_dir.join(common.trim()),
            Err(_) => git_dir,
        }
    };
    let config = std::fs::read_to_string(git_dir.join("config")).ok()?;
    let url = remote_url(&config)?;
    Some((root.to_path_buf(), normalise(&url)))
}

/// The `url` of `[remote "origin"]`, else of the first remote, in a git config file.
fn remote_url(config: &str) -> Option<String> {
    let mut section: Option<String> = None;
    let mut first: Option<String> = None;
    for line in config.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line
                .strip_prefix("[remote \"")
                .and_then(|r| r.strip_suffix("\"]"))
                .map(str::to_owned);
            continue;
        }
        let Some(remote) = &section else { continue };
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() != "url" {
            continue;
        }
        let value = value.trim().to_owned();
        if remote == "origin" {
            return Some(value);
        }
        first.get_or_insert(value);
    }
    first
}

/// Same repository, same string: no user-info (CI tokens live there), no `.git` suffix, no
/// trailing slash; `user@host:path` (scp-like SSH) loses its user too.
fn normalise(url: &str) -> String {
    let url = if url.contains("://") {
        redact_url(url)
    } else {
        match url.split_once('@') {
            Some((_, rest)) => rest.to_owned(),
            None => url.to_owned(),
        }
    };
    url.trim_end_matches('/')
        .trim_end_matches(".git")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_lose_credentials_and_decoration() {
        assert_eq!(
            normalise("https://x-access-token:ghs_secret@github.com/acme/osm.git"),
            "https://github.com/acme/osm"
        );
        assert_eq!(
            normalise("git@github.com:acme/osm.git"),
            "github.com:acme/osm"
        );
        let config = "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://a/up.git\n[remote \"origin\"]\n\turl = https://a/origin.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n";
        assert_eq!(remote_url(config).as_deref(), Some("https://a/origin.git"));
        assert_eq!(
            remote_url("[remote \"fork\"]\n url = https://a/fork\n").as_deref(),
            Some("https://a/fork")
        );
    }

    #[test]
    fn a_checkout_is_named_by_its_remote_and_path_anything_else_by_its_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(
            dir.path().join(".git/config"),
            "[remote \"origin\"]\n\turl = https://ci:tok@git.example/telco/osm-gitops.git\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("deploy/lab")).unwrap();
        assert_eq!(
            repository_owner(&dir.path().join("deploy/lab")),
            "git:https://git.example/telco/osm-gitops#deploy/lab"
        );
        assert_eq!(
            repository_owner(dir.path()),
            "git:https://git.example/telco/osm-gitops#."
        );
        let plain = tempfile::tempdir().unwrap();
        let owner = repository_owner(plain.path());
        assert!(owner.starts_with("dir:/"), "{owner}");
    }
}
