//! The HTTP interface secured by an exporter-toolkit web configuration file: real TLS over
//! loopback with the test PKI, client certificates, Basic auth against bcrypt hashes, the login
//! rate limit and its counter, response headers, and the CLI logging in to such an agent.

mod support;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use support::pki::TestCertificate;
use support::{
    Daemon, camwatch, daemon_config, promtool_check_metrics, sample, stderr, stdout, temp_dir, wait_for, write,
};

const PASSWORD: &str = "s3cret-Pass";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A client trusting `ca`, presenting `identity` (certificate, key) when given, speaking only
/// `versions`.
fn client(
    ca: &Path,
    identity: Option<&(PathBuf, PathBuf)>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> reqwest::Client {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .no_proxy()
        // Every request its own connection and handshake: a kept-alive connection would carry
        // the TLS settings of before a reload.
        .pool_max_idle_per_host(0)
        // A bound on a broken server, not a measure of a working one.
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn both_versions() -> Vec<&'static rustls::SupportedProtocolVersion> {
    vec![&rustls::version::TLS13, &rustls::version::TLS12]
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// One request; `login` as (user, password).
fn send(
    rt: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    login: Option<(&str, &str)>,
) -> Result<Answer, String> {
    rt.block_on(async {
        let mut request = client.request(method, url);
        if let Some((user, password)) = login {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.map_err(|e| format!("{e:?}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.map_err(|e| e.to_string())?;
        Ok(Answer { status, headers, body })
    })
}

fn get(
    rt: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    url: &str,
    login: Option<(&str, &str)>,
) -> Result<Answer, String> {
    send(rt, client, reqwest::Method::GET, url, login)
}

fn hash(password: &str) -> String {
    // The lowest cost bcrypt allows: the tests check the logic, not the cost.
    bcrypt::hash(password, 4).unwrap()
}

/// `camwatch ARGS` with the web login in the environment.
fn cli_with(config: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = camwatch();
    command.arg("-c").arg(config).args(args);
    for var in [
        "CAMWATCH_WEB_USERNAME",
        "CAMWATCH_WEB_PASSWORD",
        "CAMWATCH_WEB_PASSWORD_FILE",
        "CAMWATCH_WEB_CA_FILE",
        "CAMWATCH_WEB_CONFIG_FILE",
    ] {
        command.env_remove(var);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

#[test]
fn tls_with_logins_guards_every_endpoint_and_the_cli_logs_in_with_env_credentials() {
    let pki = TestCertificate::new();
    let dir = temp_dir();
    let alice = hash(PASSWORD);
    let web = dir.path().join("web.yml");
    write(
        &web,
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n    \
             X-Content-Type-Options: nosniff\n    Content-Security-Policy: \"default-src 'self'\"\nbasic_auth_users:\n  alice: {alice}\n",
            pki.cert.display(),
            pki.key.display()
        ),
    );
    let (config, addr) = daemon_config(
        dir.path(),
        &format!("web_config_file = \"{}\"\nmetrics_auth = false\n", web.display()),
    );
    let rt = runtime();
    let https = client(&pki.ca, None, &both_versions());
    let url = |path: &str| format!("https://{addr}{path}");
    let daemon = Daemon::start_until(
        &config,
        addr,
        dir.path().join("log"),
        |_| {},
        |_| get(&rt, &https, &url("/-/ready"), None).is_ok_and(|a| a.status == 200),
    );

    // A client that connects and never sends a ClientHello holds up nobody else.
    let mut silent = TcpStream::connect(addr).unwrap();
    let served = get(&rt, &https, &url("/-/healthy"), None).unwrap();
    assert_eq!(served.status, 200, "{}", served.body);
    silent.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut byte = [0u8; 1];
    let still_open = matches!(silent.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    assert!(still_open, "the silent client was dropped before the other was served");

    // Plain HTTP to the TLS port gets no page.
    let plain = support::http(addr, "GET", "/-/healthy", &[]);
    assert!(!matches!(&plain, Ok(r) if r.status == 200), "{plain:?}");

    // Left open by metrics_auth = false: what Prometheus and health probes read.
    let metrics = get(&rt, &https, &url("/metrics"), None).unwrap();
    assert_eq!(metrics.status, 200);
    assert_eq!(metrics.header("x-frame-options"), "deny");

    // Writes and what shows the rooms need a login.
    for (method, path) in [
        (reqwest::Method::POST, "/-/reload"),
        (reqwest::Method::GET, "/"),
        (reqwest::Method::GET, "/reports"),
        (reqwest::Method::GET, "/snapshots/cam/latest-ok.jpg"),
        (reqwest::Method::GET, "/api/v1/incidents"),
        (reqwest::Method::POST, "/api/v1/incidents/1/ack"),
        (reqwest::Method::POST, "/api/v1/maintenance"),
        (reqwest::Method::POST, "/api/v1/procedures/handover"),
        (reqwest::Method::POST, "/api/v1/reports/mail?period=2026-11"),
        (reqwest::Method::POST, "/api/v1/devices/cam/baseline/accept"),
    ] {
        let refused = send(&rt, &https, method.clone(), &url(path), None).unwrap();
        assert_eq!(refused.status, 401, "{method} {path}: {}", refused.body);
        assert!(
            refused.header("www-authenticate").starts_with("Basic"),
            "{method} {path}"
        );
        // Headers go on refusals too.
        assert_eq!(refused.header("x-content-type-options"), "nosniff");
    }

    let login = Some(("alice", PASSWORD));
    let landing = get(&rt, &https, &url("/"), login).unwrap();
    assert_eq!(landing.status, 200, "{}", landing.body);
    assert_eq!(landing.header("content-security-policy"), "default-src 'self'");
    assert_eq!(get(&rt, &https, &url("/api/v1/incidents"), login).unwrap().body, "[]");
    let reloaded = send(&rt, &https, reqwest::Method::POST, &url("/-/reload"), login).unwrap();
    assert_eq!(reloaded.status, 200, "{}", reloaded.body);

    // The CLI: TLS learnt from the web config, trust and login from the environment.
    let ca = pki.ca.to_str().unwrap();
    let web_path = web.to_str().unwrap();
    let password_file = dir.path().join("password");
    write(&password_file, &format!("{PASSWORD}\n"));
    let env = [
        ("CAMWATCH_WEB_USERNAME", "alice"),
        ("CAMWATCH_WEB_PASSWORD", PASSWORD),
        ("CAMWATCH_WEB_CA_FILE", ca),
    ];
    let out = cli_with(&config, &["incidents", "--json"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "[]");
    let out = cli_with(
        &config,
        &["incidents", "--open"],
        &[
            ("CAMWATCH_WEB_USERNAME", "alice"),
            ("CAMWATCH_WEB_PASSWORD_FILE", password_file.to_str().unwrap()),
            ("CAMWATCH_WEB_CA_FILE", ca),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The ack reaches its handler (past the login), which finds no such incident.
    let out = cli_with(&config, &["ack", "999", "--by", "ops", "--note", "on it"], &env);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no open incident"), "{}", stderr(&out));
    // The flag names the web config too (here the same file as the TOML's key).
    let out = cli_with(
        &config,
        &["--web.config.file", web_path, "maintenance", "list", "--json"],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // No login: told what to set.
    let out = cli_with(&config, &["incidents"], &[("CAMWATCH_WEB_CA_FILE", ca)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("set CAMWATCH_WEB_USERNAME"), "{}", stderr(&out));
    // No CA: the system's roots do not know the test CA, and the command says it cannot connect.
    let out = cli_with(&config, &["incidents"], &env[..2]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot reach the agent at https://"),
        "{}",
        stderr(&out)
    );

    // Wrong passwords (the CLI's first): 401 until the address has failed too often, then 429.
    let out = cli_with(
        &config,
        &["incidents"],
        &[
            ("CAMWATCH_WEB_USERNAME", "alice"),
            ("CAMWATCH_WEB_PASSWORD", "wrong"),
            ("CAMWATCH_WEB_CA_FILE", ca),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refused the login of \"alice\""),
        "{}",
        stderr(&out)
    );
    let wrong = [("alice", "wrong-1"), ("mallory", PASSWORD), ("bob", "x")];
    for (user, password) in wrong {
        let refused = get(&rt, &https, &url("/api/v1/incidents"), Some((user, password))).unwrap();
        assert_eq!(refused.status, 401, "{user}");
    }
    // Not Basic authentication at all: refused, and counted as such.
    let bearer = rt
        .block_on(async { https.get(url("/api/v1/incidents")).bearer_auth("token").send().await })
        .unwrap();
    assert_eq!(bearer.status(), 401);
    let limited = get(&rt, &https, &url("/api/v1/incidents"), Some(("alice", "wrong-3"))).unwrap();
    assert_eq!(limited.status, 429, "{}", limited.body);
    let retry: u64 = limited.header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // While limited, even the right password waits: no guessing goes on meanwhile.
    assert_eq!(get(&rt, &https, &url("/api/v1/incidents"), login).unwrap().status, 429);

    let metrics = get(&rt, &https, &url("/metrics"), None).unwrap().body;
    let failures = |reason: &str| {
        sample(
            &metrics,
            "camwatch_http_auth_failures_total",
            &[&format!("reason=\"{reason}\"")],
        )
        .unwrap_or(-1.0)
    };
    assert_eq!(failures("bad_credentials"), 4.0, "{metrics}");
    assert_eq!(failures("malformed"), 1.0, "{metrics}");
    assert_eq!(failures("rate_limited"), 2.0, "{metrics}");
    assert_eq!(promtool_check_metrics(&metrics), "");

    let log = daemon.log_text();
    for secret in [PASSWORD, alice.as_str(), "wrong-1"] {
        assert!(!log.contains(secret), "{secret:?} leaked into the log:\n{log}");
    }
    assert!(daemon.terminate().success());
    drop(silent);
}

#[test]
fn client_certificates_and_tls_versions_are_enforced_and_follow_a_reload() {
    let pki = TestCertificate::new();
    let other_ca = TestCertificate::new();
    let good = pki.client("operator");
    let stranger = other_ca.client("stranger");
    let dir = temp_dir();
    let web = dir.path().join("web.yml");
    let write_web = |auth: &str, min: &str| {
        write(
            &web,
            &format!(
                "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_ca_file: {}\n  client_auth_type: {auth}\n  \
                 min_version: {min}\n",
                pki.cert.display(),
                pki.key.display(),
                pki.ca.display()
            ),
        )
    };
    write_web("RequireAndVerifyClientCert", "TLS13");
    let (config, addr) = daemon_config(dir.path(), "");
    let rt = runtime();
    let url = format!("https://{addr}/-/healthy");
    let with_cert = client(&pki.ca, Some(&good), &both_versions());
    let daemon = Daemon::start_until(
        &config,
        addr,
        dir.path().join("log"),
        |c| {
            c.env("CAMWATCH_WEB_CONFIG_FILE", &web);
        },
        |_| get(&rt, &with_cert, &url, None).is_ok_and(|a| a.status == 200),
    );
    let no_cert = client(&pki.ca, None, &both_versions());
    let wrong_ca = client(&pki.ca, Some(&stranger), &both_versions());
    let tls12_with_cert = client(&pki.ca, Some(&good), &[&rustls::version::TLS12]);
    assert!(
        get(&rt, &no_cert, &url, None).is_err(),
        "a client without a certificate was served"
    );
    assert!(
        get(&rt, &wrong_ca, &url, None).is_err(),
        "a certificate from another CA was accepted"
    );
    let refused = get(&rt, &tls12_with_cert, &url, None);
    assert!(refused.is_err(), "a TLS 1.2 client was served with min_version TLS13");
    assert_eq!(get(&rt, &with_cert, &url, None).unwrap().status, 200);

    // SIGHUP reads the web config again: certificates become optional (but checked when given)
    // and TLS 1.2 is allowed.
    write_web("VerifyClientCertIfGiven", "TLS12");
    daemon.signal("HUP");
    wait_for(
        "the reloaded web config to let a client without a certificate in",
        Duration::from_secs(20),
        || get(&rt, &no_cert, &url, None).is_ok_and(|a| a.status == 200),
    );
    assert_eq!(get(&rt, &tls12_with_cert, &url, None).unwrap().status, 200);
    assert!(
        get(&rt, &wrong_ca, &url, None).is_err(),
        "a certificate from another CA was accepted"
    );

    // A broken web config is refused at reload; the one in force stays.
    write(&web, "tls_server_config:\n  cert_file: /nonexistent.pem\n");
    let reload = send(
        &rt,
        &with_cert,
        reqwest::Method::POST,
        &format!("https://{addr}/-/reload"),
        None,
    )
    .unwrap();
    assert_eq!(reload.status, 500, "{}", reload.body);
    assert!(
        reload.body.contains("cannot read cert_file /nonexistent.pem"),
        "{}",
        reload.body
    );
    assert_eq!(get(&rt, &no_cert, &url, None).unwrap().status, 200);

    // RequireAnyClientCert (Go's meaning): a certificate must come, but no CA vouches for it.
    write_web("RequireAnyClientCert", "TLS12");
    daemon.signal("HUP");
    wait_for(
        "the reloaded web config to take any certificate",
        Duration::from_secs(20),
        || get(&rt, &wrong_ca, &url, None).is_ok_and(|a| a.status == 200),
    );
    assert!(
        get(&rt, &no_cert, &url, None).is_err(),
        "a client without a certificate was served"
    );

    // client_allowed_sans: of two clients of the same CA, only the one with a listed SAN.
    let intruder = client(&pki.ca, Some(&pki.client("intruder")), &both_versions());
    write_web(
        "RequireAndVerifyClientCert\n  client_allowed_sans: [operator.camwatch.test]",
        "TLS12",
    );
    daemon.signal("HUP");
    wait_for("the reloaded web config to check SANs", Duration::from_secs(20), || {
        get(&rt, &wrong_ca, &url, None).is_err()
    });
    assert_eq!(get(&rt, &with_cert, &url, None).unwrap().status, 200);
    assert!(
        get(&rt, &intruder, &url, None).is_err(),
        "a SAN not listed was accepted"
    );
    assert!(daemon.terminate().success());
}

/// Every file in tests/data/web-config/broken/ states in `# expect:` lines what check-config
/// must say about it, and in `# forbid:` lines what it must never print; `run` refuses it too.
#[test]
fn broken_web_configs_are_named_with_file_line_column_and_fix() {
    let dir = temp_dir();
    let (config, _) = daemon_config(dir.path(), "");
    let broken = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/web-config/broken");
    let mut files: Vec<_> = std::fs::read_dir(&broken).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(
        files.len() >= 6,
        "broken web configs are missing from {}",
        broken.display()
    );
    for file in &files {
        let out = cli_with(
            &config,
            &["check-config", "--web.config.file", file.to_str().unwrap()],
            &[],
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", file.display());
        support::assert_expectations(file, &err);
    }
    // `run` refuses to start on one, with the configuration error code.
    let out = camwatch()
        .args(["run", "-c", config.to_str().unwrap(), "--web.config.file"])
        .arg(&files[0])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("fix:"), "{}", stderr(&out));
}

#[test]
fn the_example_web_config_is_valid_and_check_config_reports_it() {
    let dir = temp_dir();
    let (config, _) = daemon_config(dir.path(), "");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/web-config.example.yml");
    let out = cli_with(
        &config,
        &["check-config", "--web.config.file", example.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("plain HTTP, 1 users"), "{}", stdout(&out));

    // rustls differs from Go's crypto/tls: accepted where stricter, with a warning that says so.
    let pki = TestCertificate::new();
    let web = dir.path().join("web.yml");
    write(
        &web,
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  min_version: TLS10\n  cipher_suites:\n    - \
             TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n    - TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA\n  curve_preferences: [X25519, \
             CurveP521]\nhttp_server_config:\n  http2: true\n",
            pki.cert.display(),
            pki.key.display()
        ),
    );
    let out = cli_with(
        &config,
        &["check-config", "--web.config.file", web.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(": TLS, 0 users"), "{}", stdout(&out));
    let err = stderr(&out);
    for warning in [
        "min_version TLS10: camwatch (rustls) speaks TLS 1.2 and 1.3 only",
        "cipher suite TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA is not implemented by rustls",
        "curve CurveP521 is not implemented",
        "HTTP/2 is not offered",
    ] {
        assert!(err.contains(warning), "{warning:?} missing from:\n{err}");
    }
}

#[test]
fn without_a_web_config_the_agent_warns_when_it_listens_beyond_loopback() {
    let dir = temp_dir();
    let port = support::free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = dir.path().join("camwatch.toml");
    write(
        &config,
        &format!(
            "[agent]\nlisten = \"0.0.0.0:{port}\"\ndata_dir = \"{}\"\n",
            dir.path().join("data").display()
        ),
    );
    let daemon = Daemon::start(&config, addr, dir.path().join("log"));
    assert_eq!(daemon.get("/api/v1/incidents").unwrap().status, 200);
    assert!(
        daemon
            .log_text()
            .contains("the HTTP interface is unauthenticated and listens beyond loopback"),
        "{}",
        daemon.log_text()
    );
    assert!(daemon.terminate().success());
}
