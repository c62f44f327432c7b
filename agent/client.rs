//! The CLI commands that act on a running agent (`baseline accept`, `ack`, `incidents`, `handover`, `inventory`) ask it
//! over its own HTTP interface: the agent owns the state store, and one writer keeps it whole.

use crate::config::Config;
use crate::exit;

/// The agent's answer: its HTTP status and body.
pub struct Answer {
    pub ok: bool,
    pub body: String,
}

/// Sends one request to the agent `config` describes (loopback when it listens on every
/// address). Unreachable: the message is printed and the exit code returned.
pub async fn request(
    config: &Config,
    method: reqwest::Method,
    path: &str,
    body: Option<String>,
) -> Result<Answer, i32> {
    let mut addr = config.agent.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let client = reqwest::Client::new();
    let mut request = client.request(method, format!("http://{addr}{path}"));
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body);
    }
    match request.send().await {
        Ok(response) => {
            let ok = response.status().is_success();
            let body = response.text().await.unwrap_or_default();
            Ok(Answer { ok, body })
        }
        Err(e) => {
            eprintln!(
                "camwatch: cannot reach the agent at {addr} ({e}); is `camwatch run` running with this configuration?"
            );
            Err(exit::RUNTIME)
        }
    }
}

/// The body of the agent's success; a refusal is printed and its exit code returned.
pub async fn ask(config: &Config, method: reqwest::Method, path: &str, body: Option<String>) -> Result<String, i32> {
    let answer = request(config, method, path, body).await?;
    if answer.ok {
        Ok(answer.body)
    } else {
        eprint!("camwatch: the agent refused: {}", answer.body);
        Err(exit::CHECK_FAILED)
    }
}

/// Prints what the agent said: the body on success (exit 0), its refusal on standard error (1).
pub fn report(answer: Answer) -> i32 {
    if answer.ok {
        print!("{}", answer.body);
        exit::OK
    } else {
        eprint!("camwatch: the agent refused: {}", answer.body);
        exit::CHECK_FAILED
    }
}
