//! Throwaway certificates for TLS tests, made with openssl: a CA and a server certificate for
//! 127.0.0.1 it signed.

/// Runs openssl, which must succeed; returns what it printed.
fn openssl(args: &[&str]) -> String {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A server certificate for 127.0.0.1 signed by a throwaway CA, made with openssl.
pub struct TestCertificate {
    _dir: tempfile::TempDir,
    pub ca: std::path::PathBuf,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    /// SHA-256 of the server certificate, as `openssl x509 -fingerprint -sha256` prints it.
    pub fingerprint: String,
}

impl TestCertificate {
    pub fn new() -> TestCertificate {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name);
        let s = |path: std::path::PathBuf| path.to_str().unwrap().to_owned();
        // Each CA its own name: a client given another test CA must see an unknown issuer, not
        // a same-named CA whose signature does not match.
        let ca_name = format!("/CN=camwatch test CA {:08x}", rand_id());
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &s(p("ca.key")),
            "-out",
            &s(p("ca.pem")),
            "-days",
            "2",
            "-subj",
            &ca_name,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        issue(
            dir.path(),
            "cam",
            "/CN=camera",
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        );
        let fingerprint = openssl(&["x509", "-noout", "-fingerprint", "-sha256", "-in", &s(p("cam.pem"))]);
        let fingerprint = fingerprint.trim().rsplit('=').next().unwrap().to_owned();
        TestCertificate {
            ca: p("ca.pem"),
            cert: p("cam.pem"),
            key: p("cam.key"),
            fingerprint,
            _dir: dir,
        }
    }
}

impl TestCertificate {
    /// A client certificate (extendedKeyUsage clientAuth, subjectAltName DNS `NAME.camwatch.test`)
    /// for `name`, signed by this CA:
    /// `(certificate, key)`, PEM files.
    pub fn client(&self, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        issue(
            self._dir.path(),
            name,
            &format!("/CN={name}"),
            &format!(
                "subjectAltName=DNS:{name}.camwatch.test\nbasicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"
            ),
        )
    }
}

/// A P-256 key and a certificate for `subject` with `extensions` (an openssl extfile), signed by
/// the CA in `dir` (`ca.pem`, `ca.key`): `(NAME.pem, NAME.key)` in `dir`.
fn issue(
    dir: &std::path::Path,
    name: &str,
    subject: &str,
    extensions: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let p = |ending: &str| dir.join(format!("{name}.{ending}"));
    let (cert, key, csr, ext) = (p("pem"), p("key"), p("csr"), p("ext"));
    let s = |path: &std::path::Path| path.to_str().unwrap().to_owned();
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &s(&key),
        "-out",
        &s(&csr),
        "-subj",
        subject,
    ]);
    std::fs::write(&ext, extensions).unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &s(&csr),
        "-CA",
        &s(&dir.join("ca.pem")),
        "-CAkey",
        &s(&dir.join("ca.key")),
        "-CAcreateserial",
        "-out",
        &s(&cert),
        "-days",
        "2",
        "-extfile",
        &s(&ext),
    ]);
    (cert, key)
}

fn rand_id() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    std::process::id().wrapping_mul(2_654_435_761) ^ NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(40_503)
}
