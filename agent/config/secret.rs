//! Secrets are references, never values: a config names an environment variable or a file, and
//! the secret is read only when a probe needs it. Errors name the reference, never the content.

use std::ops::Range;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

/// Why a secret could not be read: the reference and the cause, never any of the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretError(String);

impl std::fmt::Display for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SecretError {}

/// Callers that report errors as text take a secret's error as its text.
impl From<SecretError> for String {
    fn from(e: SecretError) -> Self {
        e.0
    }
}

impl SecretSource {
    pub fn resolve(&self) -> Result<SecretString, SecretError> {
        self.read().map_err(SecretError)
    }

    fn read(&self) -> Result<SecretString, String> {
        match self {
            Self::Env(var) => match std::env::var(var) {
                Ok(value) if !value.is_empty() => Ok(SecretString::from(value)),
                Ok(_) => Err(format!("environment variable {var} is empty")),
                Err(_) => Err(format!("environment variable {var} is not set")),
            },
            Self::File(path) => match std::fs::read_to_string(path) {
                // A trailing newline is how editors and `echo` leave files; it is never part of
                // a password.
                Ok(value) => {
                    let value = value.trim_end_matches(['\r', '\n']);
                    if value.is_empty() {
                        Err(format!("secret file {} is empty", path.display()))
                    } else {
                        Ok(SecretString::from(value.to_owned()))
                    }
                }
                Err(e) => Err(format!("cannot read secret file {}: {e}", path.display())),
            },
        }
    }
}

/// Login for a device's management interfaces (ONVIF, RTSP, vendor HTTP APIs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: Option<SecretSource>,
}

/// Where the configuration names a secret file (`password_file = "..."` and the like).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFileRef {
    /// Whose secret: `device "nvr-1"`, `[email]`, `[alertmanager]`.
    pub owner: String,
    /// The key naming the file, e.g. `password_file`.
    pub key: String,
    pub path: PathBuf,
    /// Byte range of the value in the configuration text.
    pub span: Range<usize>,
    /// 1-based line and column of the value.
    pub line: usize,
    pub column: usize,
}

/// A secret file any user of the machine can read, named in a configuration any user can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure<'a> {
    pub config: &'a Path,
    pub secret: &'a SecretFileRef,
}

impl std::fmt::Display for Exposure<'_> {
    /// One warning in the shape of the configuration's errors: where, what, and the fix. Names the
    /// file, never its content.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.secret;
        let path = s.path.display();
        write!(
            f,
            "{}:{}:{}: warning: {}: {} {path} can be read by every user of this machine, and so can \
             this configuration that names it\n  fix: chown root:camwatch {path} && chmod 0640 {path} \
             (camwatch: the agent's group), or keep it root-only and hand it over with systemd's \
             LoadCredential= (README, Install)",
            self.config.display(),
            s.line,
            s.column,
            s.owner,
            s.key,
        )
    }
}

/// The secret files of `secrets` that others can read, when the configuration `config` can be
/// read by others too; each file once (the first key naming it).
///
/// "Others" is the world class of the mode bits, with every folder on the way searchable by
/// the world: a file is out of reach inside a 0750 or 0700 folder whatever its own mode. The
/// group class is not counted: giving the agent's group read access (root:camwatch 0640) is how
/// the service user is meant to read its secrets, and which groups are right is the
/// administrator's decision, not something the agent can know.
pub fn exposed<'a>(config: &'a Path, secrets: &'a [SecretFileRef]) -> Vec<Exposure<'a>> {
    if !readable_by_others(config) {
        return Vec::new();
    }
    let mut seen = std::collections::HashSet::new();
    secrets
        .iter()
        .filter(|s| readable_by_others(&s.path) && seen.insert(&s.path))
        .map(|secret| Exposure { config, secret })
        .collect()
}

/// Whether any local user can read `path`: world-readable, through world-searchable folders. A
/// path that cannot be examined counts as not readable (the missing file is reported elsewhere).
pub fn readable_by_others(path: &Path) -> bool {
    let Ok(real) = std::fs::canonicalize(path) else {
        return false;
    };
    let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode());
    if !mode(&real).is_ok_and(|m| m & 0o004 != 0) {
        return false;
    }
    real.ancestors()
        .skip(1)
        .all(|dir| mode(dir).is_ok_and(|m| m & 0o001 != 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn readable_by_others_needs_the_world_read_bit_and_searchable_folders_through_links() {
        use std::fs::{Permissions, set_permissions};
        let dir = tempfile::tempdir().unwrap();
        set_permissions(dir.path(), Permissions::from_mode(0o755)).unwrap();
        let open = dir.path().join("open");
        std::fs::write(&open, "x").unwrap();
        set_permissions(&open, Permissions::from_mode(0o644)).unwrap();
        assert!(readable_by_others(&open));
        // Group-readable only: the agent's group, not everyone.
        set_permissions(&open, Permissions::from_mode(0o640)).unwrap();
        assert!(!readable_by_others(&open));
        // World-readable, but behind a folder others cannot enter, also when reached by a link
        // from an open folder.
        let closed = dir.path().join("closed");
        std::fs::create_dir(&closed).unwrap();
        set_permissions(&closed, Permissions::from_mode(0o750)).unwrap();
        let inside = closed.join("secret");
        std::fs::write(&inside, "x").unwrap();
        set_permissions(&inside, Permissions::from_mode(0o644)).unwrap();
        assert!(!readable_by_others(&inside));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&inside, &link).unwrap();
        assert!(!readable_by_others(&link));
        set_permissions(&closed, Permissions::from_mode(0o751)).unwrap();
        assert!(readable_by_others(&link));
        assert!(!readable_by_others(&dir.path().join("absent")));
    }

    #[test]
    fn file_secret_loses_trailing_newline_and_errors_do_not_leak() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\n").unwrap();
        let secret = SecretSource::File(path.clone()).resolve().unwrap();
        assert_eq!(secret.expose_secret(), "s3cret");

        let missing = SecretSource::File(dir.path().join("absent")).resolve().unwrap_err();
        assert!(missing.to_string().contains("absent"), "{missing}");

        let unset = SecretSource::Env("CAMWATCH_TEST_SURELY_UNSET_VAR".into())
            .resolve()
            .unwrap_err();
        assert!(unset.to_string().contains("CAMWATCH_TEST_SURELY_UNSET_VAR is not set"));
    }
}
