//! The tokens file (`server.tokens_file`): `[[tokens]]` entries kept outside the configuration,
//! so tokens can be added and revoked where the configuration is read-only (the container
//! mounts it so). `kpi-ledger token add|revoke` write it; the server reads it at start-up and
//! on SIGHUP. Like `server.tokens`, it holds only the SHA-256 of each token, never a token.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::auth::{Authenticator, TokenConfigError};
use crate::config::TokenEntry;

const HEADER: &str = "\
# kpi-ledger bearer tokens (server.tokens_file), written by `kpi-ledger token add|revoke`.
# Only the SHA-256 of each token is kept here. The server reads this file at start-up and on
# SIGHUP; entries edited by hand are kept when the commands rewrite it, comments are not.

";

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> TokenConfigError {
    TokenConfigError::File {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// The entries of the file at `path`; a file that does not exist (yet) holds none.
pub fn read(path: &Path) -> Result<Vec<TokenEntry>, TokenConfigError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(file_error(path, format!("cannot read it: {err}"))),
    };
    let file: TokensFile = toml::from_str(&text).map_err(|err| file_error(path, err))?;
    Ok(file.tokens)
}

/// Appends `entry` to the file (creating it), refusing a name or hash that `configured` (the
/// configuration's `server.tokens`) or the file already holds.
pub fn add(
    path: &Path,
    entry: TokenEntry,
    configured: &[TokenEntry],
) -> Result<(), TokenConfigError> {
    rewrite(path, |tokens| {
        let mut all = configured.to_vec();
        all.extend(tokens.iter().cloned());
        all.push(entry.clone());
        Authenticator::new(&all, false)?;
        tokens.push(entry);
        Ok(())
    })
    .map(|_| ())
}

/// Removes the entry named `name` from the file and returns it.
pub fn revoke(path: &Path, name: &str) -> Result<TokenEntry, TokenConfigError> {
    rewrite(path, |tokens| {
        let at = tokens
            .iter()
            .position(|entry| entry.name.as_str() == name)
            .ok_or_else(|| file_error(path, format!("it holds no token named `{name}`")))?;
        Ok(tokens.remove(at))
    })
}

/// Reads the file, lets `change` edit its entries and writes them back whole: through
/// `FILE.tmp`, created exclusively (so two commands cannot both rewrite the file and lose one's
/// change), synced and renamed over the file, so the server never reads half a file.
fn rewrite<T>(
    path: &Path,
    change: impl FnOnce(&mut Vec<TokenEntry>) -> Result<T, TokenConfigError>,
) -> Result<T, TokenConfigError> {
    let tmp = tmp_path(path);
    if let Some(dir) = parent(path) {
        fs::create_dir_all(dir)
            .map_err(|err| file_error(path, format!("cannot create {}: {err}", dir.display())))?;
    }
    let mut out = match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
    {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            return Err(file_error(
                path,
                format!(
                    "{} exists: another `kpi-ledger token` command is writing the file, or one \
                     was interrupted (then delete {0})",
                    tmp.display()
                ),
            ))
        }
        Err(err) => {
            return Err(file_error(
                path,
                format!("cannot create {}: {err}", tmp.display()),
            ))
        }
    };
    let written = (|| {
        let mut tokens = read(path)?;
        let result = change(&mut tokens)?;
        let body = toml::to_string(&TokensFile { tokens })
            .map_err(|err| file_error(path, format!("cannot write the entries: {err}")))?;
        let io =
            |err: io::Error| file_error(path, format!("cannot write {}: {err}", tmp.display()));
        out.write_all(HEADER.as_bytes()).map_err(io)?;
        out.write_all(body.as_bytes()).map_err(io)?;
        out.sync_all().map_err(io)?;
        fs::rename(&tmp, path)
            .map_err(|err| file_error(path, format!("cannot replace it: {err}")))?;
        // The rename itself is durable once the directory is synced.
        if let Some(dir) = parent(path) {
            fs::File::open(dir)
                .and_then(|dir| dir.sync_all())
                .map_err(|err| file_error(path, format!("cannot sync {}: {err}", dir.display())))?;
        }
        Ok(result)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

fn parent(path: &Path) -> Option<&Path> {
    path.parent().filter(|dir| !dir.as_os_str().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::new_token;
    use kpi_access::Role;

    #[test]
    fn a_missing_file_holds_no_token_and_add_creates_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth/tokens.toml");
        assert!(read(&path).unwrap().is_empty());

        let admin = new_token(Role::Admin, "admin").unwrap();
        add(&path, admin.entry.clone(), &[]).unwrap();
        let clerk = new_token(Role::Recorder, "clerk").unwrap();
        add(&path, clerk.entry.clone(), &[]).unwrap();
        assert_eq!(read(&path).unwrap(), [admin.entry, clerk.entry.clone()]);

        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&admin.token) && !text.contains(&clerk.token));
        assert!(text.contains(&clerk.entry.sha256.to_hex()));
        assert!(!tmp_path(&path).exists());

        assert_eq!(revoke(&path, "admin").unwrap().name.as_str(), "admin");
        assert_eq!(read(&path).unwrap(), [clerk.entry]);
    }

    #[test]
    fn duplicates_unknown_names_and_bad_files_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let configured = new_token(Role::Reader, "viewer").unwrap().entry;
        let clerk = new_token(Role::Recorder, "clerk").unwrap().entry;
        add(&path, clerk.clone(), std::slice::from_ref(&configured)).unwrap();
        let before = fs::read_to_string(&path).unwrap();

        let again = new_token(Role::Admin, "viewer").unwrap().entry;
        let err = add(&path, again, std::slice::from_ref(&configured)).unwrap_err();
        assert!(
            err.to_string().contains("`viewer` is configured twice"),
            "{err}"
        );
        let mut same_hash = new_token(Role::Admin, "other").unwrap().entry;
        same_hash.sha256 = clerk.sha256;
        assert!(matches!(
            add(&path, same_hash, &[]),
            Err(TokenConfigError::DuplicateHash(..))
        ));
        let err = revoke(&path, "nobody").unwrap_err().to_string();
        assert!(err.contains("no token named `nobody`"), "{err}");
        assert!(err.contains("tokens.toml"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), before);
        assert!(!tmp_path(&path).exists());

        fs::write(
            &path,
            "[[tokens]]\nname = \"x\"\nrole = \"root\"\nsha256 = \"00\"\n",
        )
        .unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(
            err.contains("server.tokens_file") && err.contains("root"),
            "{err}"
        );
    }

    #[test]
    fn a_writer_in_progress_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        fs::write(tmp_path(&path), "").unwrap();
        let err = add(&path, new_token(Role::Reader, "a").unwrap().entry, &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("tokens.toml.tmp exists"), "{err}");
        assert!(!path.exists());
        assert!(
            tmp_path(&path).exists(),
            "another writer's file is left alone"
        );
    }
}
