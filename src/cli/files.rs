//! Reading the CLI's own files (`--state`, `--plan`) safely: only regular files are opened, they
//! are opened without blocking (a FIFO or device named by mistake is refused at once instead of
//! hanging past `--timeout`), and never more than a documented size is read (so `/dev/zero` or a
//! runaway file cannot exhaust memory).

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::CliError;

/// The largest state file or saved plan read (docs/cli.md): a state file of 10,000 NS instances
/// is about 2 MiB.
pub const MAX_OWN_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// Opens `path` for `what` without blocking and checks that it is a regular file. `Ok(None)`
/// when it does not exist.
pub fn open_regular(path: &Path, what: &str, write: bool) -> Result<Option<File>, CliError> {
    let mut opts = OpenOptions::new();
    opts.read(true).custom_flags(libc::O_NONBLOCK);
    if write {
        opts.write(true).create(true).truncate(false);
    }
    let file = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !write => return Ok(None),
        Err(e) => {
            return Err(CliError::Input(format!(
                "cannot open {what} {}: {e}",
                path.display()
            )))
        }
    };
    let meta = file
        .metadata()
        .map_err(|e| CliError::Input(format!("cannot read {what} {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(CliError::Input(format!(
            "{what} {} is not a regular file (a device, FIFO, socket or directory): refused",
            path.display()
        )));
    }
    Ok(Some(file))
}

/// Whether `path` may be written as `what`: it does not exist yet, or it is a regular file.
pub fn check_writable_target(path: &Path, what: &str) -> Result<(), CliError> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Err(CliError::Input(format!(
            "{what} {} is not a regular file (a device, FIFO, socket or directory): refused",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Reads a regular file of at most [`MAX_OWN_FILE_BYTES`] as UTF-8. `Ok(None)` when it does not
/// exist.
pub fn read_bounded(path: &Path, what: &str) -> Result<Option<String>, CliError> {
    let Some(file) = open_regular(path, what, false)? else {
        return Ok(None);
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let too_big = || {
        CliError::Input(format!(
            "{what} {} is larger than {} MiB: refused (no state file or saved plan is that large)",
            path.display(),
            MAX_OWN_FILE_BYTES / (1024 * 1024)
        ))
    };
    if size > MAX_OWN_FILE_BYTES {
        return Err(too_big());
    }
    // The size can change under us: never read more than the limit whatever it says now.
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_OWN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::Input(format!("cannot read {what} {}: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_OWN_FILE_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| CliError::Input(format!("{what} {} is not UTF-8 text", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_and_directories_are_refused_without_blocking() {
        for dev in ["/dev/zero", "/dev/null"] {
            let err = read_bounded(Path::new(dev), "state file").unwrap_err();
            assert!(err.to_string().contains("not a regular file"), "{err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let err = read_bounded(dir.path(), "saved plan").unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        // A FIFO with no writer: opening it for reading would block without O_NONBLOCK.
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read_bounded(&fifo, "saved plan").unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let err = check_writable_target(&fifo, "state file").unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[test]
    fn files_over_the_limit_are_refused_and_missing_ones_are_none() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.json");
        let f = File::create(&big).unwrap();
        f.set_len(MAX_OWN_FILE_BYTES + 1).unwrap();
        let err = read_bounded(&big, "state file").unwrap_err();
        assert!(err.to_string().contains("larger than 32 MiB"), "{err}");
        assert_eq!(
            read_bounded(&dir.path().join("none"), "state file").unwrap(),
            None
        );
        let ok = dir.path().join("ok.json");
        std::fs::write(&ok, "{}").unwrap();
        assert_eq!(
            read_bounded(&ok, "state file").unwrap().as_deref(),
            Some("{}")
        );
    }
}
