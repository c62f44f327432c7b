//! Secrets are references, never values: a config names an environment variable or a file, and
//! the secret is read only when a probe needs it. Errors name the reference, never the content.

use std::path::PathBuf;

use secrecy::SecretString;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

impl SecretSource {
    pub fn resolve(&self) -> Result<SecretString, String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn file_secret_loses_trailing_newline_and_errors_do_not_leak() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\n").unwrap();
        let secret = SecretSource::File(path.clone()).resolve().unwrap();
        assert_eq!(secret.expose_secret(), "s3cret");

        let missing = SecretSource::File(dir.path().join("absent")).resolve().unwrap_err();
        assert!(missing.contains("absent"), "{missing}");

        let unset = SecretSource::Env("CAMWATCH_TEST_SURELY_UNSET_VAR".into())
            .resolve()
            .unwrap_err();
        assert!(unset.contains("CAMWATCH_TEST_SURELY_UNSET_VAR is not set"));
    }
}
