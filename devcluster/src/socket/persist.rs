//! Files that must never be seen half-written: the state snapshot and the
//! kubeconfig are written to a temporary file, synced, and renamed over
//! the old one (then the directory is synced, so the rename survives a
//! crash).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::apiserver::authn::Credentials;

/// The snapshot's file name inside the data directory.
pub const SNAPSHOT_FILE: &str = "state.json";
/// The credentials' file name inside the data directory (mode 0600).
pub const CREDENTIALS_FILE: &str = "credentials.json";

/// Why a file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// Writing, syncing or renaming failed.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Reading failed.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The snapshot is not JSON or not a snapshot.
    #[error("{path} is not a tc-devcluster snapshot: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Replaces `path` with `contents` atomically.
///
/// # Errors
/// [`PersistError::Write`].
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), PersistError> {
    write_with_mode(path, contents, 0o644)
}

/// [`write_atomically`] for a secret (a key, a token): readable by its
/// owner only, from the moment the file exists.
///
/// # Errors
/// [`PersistError::Write`].
pub fn write_secret(path: &Path, contents: &[u8]) -> Result<(), PersistError> {
    write_with_mode(path, contents, 0o600)
}

fn write_with_mode(path: &Path, contents: &[u8], mode: u32) -> Result<(), PersistError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let error = |source| PersistError::Write { path: path.to_owned(), source };
    let directory = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = directory.join(format!(".{file_name}.tmp"));
    // A leftover temporary file would keep its old mode: start afresh.
    let _ = fs::remove_file(&temporary);
    let mut file =
        fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&temporary).map_err(error)?;
    file.write_all(contents).map_err(error)?;
    file.sync_all().map_err(error)?;
    drop(file);
    fs::rename(&temporary, path).map_err(error)?;
    // Syncing a directory is how POSIX makes a rename durable.
    File::open(directory).and_then(|d| d.sync_all()).map_err(error)?;
    Ok(())
}

/// The snapshot in `data_dir`, if one was written.
///
/// # Errors
/// [`PersistError::Read`], [`PersistError::Malformed`].
pub fn load_snapshot(data_dir: &Path) -> Result<Option<Value>, PersistError> {
    let path = data_dir.join(SNAPSHOT_FILE);
    let text = match fs::read(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(PersistError::Read { path, source }),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| PersistError::Malformed { path, reason: e.to_string() })
}

/// Writes the snapshot into `data_dir`.
///
/// # Errors
/// [`PersistError::Write`].
pub fn save_snapshot(data_dir: &Path, snapshot: &Value) -> Result<(), PersistError> {
    write_atomically(&data_dir.join(SNAPSHOT_FILE), snapshot.to_string().as_bytes())
}

/// The credentials saved in `data_dir`, or new ones (saved there when
/// there is a directory), so tokens outlive a restart.
///
/// # Errors
/// [`PersistError`] when they cannot be read, made or saved.
pub fn load_or_create_credentials(data_dir: Option<&Path>) -> Result<Credentials, PersistError> {
    let generate = || {
        Credentials::generate()
            .map_err(|e| PersistError::Malformed { path: PathBuf::new(), reason: e.to_string() })
    };
    let Some(dir) = data_dir else { return generate() };
    let path = dir.join(CREDENTIALS_FILE);
    match fs::read(&path) {
        Ok(text) => {
            let value: Value = serde_json::from_slice(&text)
                .map_err(|e| PersistError::Malformed { path: path.clone(), reason: e.to_string() })?;
            Credentials::from_json(&value)
                .map_err(|e| PersistError::Malformed { path, reason: e.to_string() })
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let credentials = generate()?;
            write_secret(&path, credentials.to_json().to_string().as_bytes())?;
            Ok(credentials)
        }
        Err(source) => Err(PersistError::Read { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_snapshot_loads_back_and_no_temporary_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_snapshot(dir.path()).unwrap().is_none());
        let snapshot = serde_json::json!({"revision": 7});
        save_snapshot(dir.path(), &snapshot).unwrap();
        save_snapshot(dir.path(), &snapshot).unwrap();
        assert_eq!(load_snapshot(dir.path()).unwrap(), Some(snapshot));
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [SNAPSHOT_FILE]);
        fs::write(dir.path().join(SNAPSHOT_FILE), "{").unwrap();
        assert!(matches!(load_snapshot(dir.path()), Err(PersistError::Malformed { .. })));
    }

    #[test]
    fn a_secret_is_its_owners_alone_from_the_start() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.key");
        // A temporary file a crash left behind, readable by all.
        fs::write(dir.path().join(".ca.key.tmp"), "old").unwrap();
        write_secret(&path, b"key").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read(&path).unwrap(), b"key");
    }
}
