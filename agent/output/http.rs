//! The HTTP face of the agent: `/metrics` for Prometheus, the `/-/` endpoints every Prometheus
//! component has (healthy, ready, reload), a JSON view of current states, the landing page, and
//! the cameras' kept snapshots.

use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, Request, State as Extract};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

use super::{landing, metrics};
use crate::config::Procedure;
use crate::shared::Shared;
use crate::state::snapshots::Which;

#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    metrics: Arc<metrics::Metrics>,
}

pub fn router(shared: Arc<Shared>) -> Router {
    let metrics = Arc::new(metrics::Metrics::new(Arc::clone(&shared)));
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(scrape))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload))
        .route("/api/v1/checks", get(checks))
        .route("/api/v1/devices/{device}/baseline/accept", post(accept_baseline))
        .route("/reports", get(report))
        .route("/api/v1/reports/mail", post(mail_report))
        .route("/api/v1/maintenance", get(maintenance).post(open_maintenance))
        .route("/api/v1/maintenance/{id}/end", post(end_maintenance))
        .route("/api/v1/incidents", get(incidents))
        .route("/api/v1/incidents/{id}/ack", post(acknowledge))
        .route("/api/v1/outbox", get(outbox))
        .route(
            "/api/v1/procedures/{procedure}",
            get(procedure_records).post(run_procedure),
        )
        .route("/snapshots/{device}/{file}", get(snapshot))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&shared), guard))
        .with_state(App { shared, metrics })
}

/// Every request passes here: the web configuration's rate limit, then, when users are
/// configured, a login for everything but what Prometheus and health probes read when
/// `[agent] metrics_auth = false`. Writes, snapshots, reports and the landing page always need
/// one. The configured headers go on every answer, refusals included.
async fn guard(Extract(shared): Extract<Arc<Shared>>, request: Request, next: Next) -> Response {
    let open = !shared.config().agent.metrics_auth
        && matches!(*request.method(), Method::GET | Method::HEAD)
        && matches!(request.uri().path(), "/metrics" | "/-/healthy" | "/-/ready");
    let client = request
        .extensions()
        .get::<ConnectInfo<crate::web::tls::Peer>>()
        .map(|ConnectInfo(peer)| peer.0.ip());
    let mut response = match shared.web.admit(request.headers(), client, !open).await {
        Some(refusal) => refusal,
        None => next.run(request).await,
    };
    shared.web.decorate(&mut response);
    response
}

async fn index(Extract(app): Extract<App>) -> Html<String> {
    let config = app.shared.config();
    let pictures = app.shared.hub.snapshots().map(|s| s.kept()).unwrap_or_default();
    let dead: Vec<_> = app
        .shared
        .notify
        .channels()
        .into_values()
        .flat_map(|c| c.dead)
        .collect();
    let store = app.shared.hub.store().map(|s| s.health());
    Html(landing::render(
        &config,
        &app.shared.hub.snapshot(),
        &pictures,
        &dead,
        store.as_ref(),
    ))
}

/// `GET /snapshots/{device}/latest-ok.jpg` or `latest-failed.jpg`. Only configured devices are
/// served, and their folder name is derived from the configured name, so no request can reach
/// a file outside the snapshot folder.
async fn snapshot(Extract(app): Extract<App>, Path((device, file)): Path<(String, String)>) -> Response {
    let not_found = |why: &str| (StatusCode::NOT_FOUND, format!("{why}\n")).into_response();
    let Some(which) = Which::parse(&file) else {
        return not_found("only latest-ok.jpg and latest-failed.jpg are kept");
    };
    if app.shared.config().device(&device).is_none() {
        return not_found("no such device in the configuration");
    }
    let Some(snapshots) = app.shared.hub.snapshots() else {
        return not_found("snapshots are not kept");
    };
    // tokio::fs reads on the blocking pool, off the async workers.
    match tokio::fs::read(snapshots.path(&device, which)).await {
        Ok(jpeg) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                // The file is overwritten in place: always ask again.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            jpeg,
        )
            .into_response(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => not_found("no such snapshot kept yet"),
        Err(e) => {
            tracing::error!("cannot read a kept snapshot of {device}: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot read the snapshot\n").into_response()
        }
    }
}

async fn scrape(Extract(app): Extract<App>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let openmetrics = metrics::wants_openmetrics(accept);
    match app.metrics.render(openmetrics) {
        Ok(body) => {
            let content_type = if openmetrics {
                metrics::OPENMETRICS_CONTENT_TYPE
            } else {
                metrics::TEXT_CONTENT_TYPE
            };
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics\n").into_response(),
    }
}

async fn healthy() -> &'static str {
    "camwatch is healthy.\n"
}

/// 503 while starting or stopping, and while the state store cannot write (the checks still
/// run, but what they find is only in memory): `/-/healthy` says whether the process lives.
async fn ready(Extract(app): Extract<App>) -> Response {
    if !app.shared.is_ready() {
        return (StatusCode::SERVICE_UNAVAILABLE, "camwatch is starting.\n").into_response();
    }
    let store = app.shared.hub.store().map(|s| s.health());
    match store
        .as_ref()
        .and_then(|s| Some((s.cannot_write_since?, s.describe()?)))
    {
        Some((since, why)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "camwatch is not ready since {}: {why}\n",
                landing::when(Some(since), app.shared.config().agent.timezone)
            ),
        )
            .into_response(),
        None => "camwatch is ready.\n".into_response(),
    }
}

async fn reload(Extract(app): Extract<App>) -> Response {
    match app.shared.request_reload().await {
        Ok(()) => "configuration reloaded\n".into_response(),
        Err(why) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("configuration refused, the previous one stays in force:\n{why}\n"),
        )
            .into_response(),
    }
}

#[derive(Serialize)]
struct CheckView<'a> {
    device: &'a str,
    check: &'a str,
    state: &'a str,
    since: f64,
    last_run: Option<f64>,
    last_success: Option<f64>,
    status: Option<&'a str>,
    summary: Option<&'a str>,
    values: Option<&'a serde_json::Value>,
}

async fn checks(Extract(app): Extract<App>) -> Response {
    let snapshot = app.shared.hub.snapshot();
    let view: Vec<CheckView> = snapshot
        .iter()
        .map(|c| CheckView {
            device: &c.device,
            check: c.check.as_str(),
            state: c.state().as_str(),
            since: c.since,
            last_run: c.last_run,
            last_success: c.last_success,
            status: c.verdict.as_ref().map(|v| v.status.as_str()),
            summary: c.verdict.as_ref().map(|v| v.summary.as_str()),
            values: c.verdict.as_ref().map(|v| &v.values),
        })
        .collect();
    match serde_json::to_string(&view) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode states\n").into_response(),
    }
}

/// What `camwatch outbox` shows: messages not delivered yet and dead letters with their error.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct OutboxView {
    pub pending: Vec<crate::state::outbox::OutboxRow>,
    pub dead: Vec<crate::state::outbox::OutboxRow>,
}

async fn outbox(Extract(app): Extract<App>) -> Response {
    let Some(path) = app.shared.hub.store().map(|s| s.path.clone()) else {
        return json_response(&OutboxView {
            pending: Vec::new(),
            dead: Vec::new(),
        });
    };
    let read = crate::state::store::read(path, |conn| {
        Ok(OutboxView {
            pending: crate::state::outbox::pending(conn, 1000)?,
            dead: crate::state::outbox::dead_letters(conn, "email", 1000)?,
        })
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r.map_err(|e| e.to_string()));
    match read {
        Ok(view) => json_response(&view),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read the outbox: {e}\n"),
        )
            .into_response(),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Approval {
    by: String,
    reason: String,
}

/// Approves what a camera is now (after a planned replacement or settings change).
async fn accept_baseline(Extract(app): Extract<App>, Path(device): Path<String>, body: String) -> Response {
    let approval: Approval = match serde_json::from_str(&body) {
        Ok(a) => a,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("send JSON {{\"by\": NAME, \"reason\": TEXT}}: {e}\n"),
            )
                .into_response();
        }
    };
    if approval.by.trim().is_empty() || approval.reason.trim().is_empty() {
        return (StatusCode::BAD_REQUEST, "an approval needs who (by) and why (reason)\n").into_response();
    }
    if app.shared.config().device(&device).is_none() {
        return (StatusCode::NOT_FOUND, format!("no device named {device:?}\n")).into_response();
    }
    match app
        .shared
        .hub
        .accept_baseline(&device, approval.by.trim(), approval.reason.trim())
    {
        Ok(summary) => format!("{summary}\n").into_response(),
        Err(why) => refused(&why),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IncidentQuery {
    #[serde(default)]
    open: bool,
    limit: Option<u32>,
}

/// Incidents newest first: the open ones from memory, all of them from the state store.
async fn incidents(Extract(app): Extract<App>, Query(q): Query<IncidentQuery>) -> Response {
    let limit = q.limit.unwrap_or(100).min(10_000);
    let list = if q.open {
        let mut open = app.shared.hub.open_incidents();
        open.reverse();
        open.truncate(limit as usize);
        Ok(open)
    } else {
        match app.shared.hub.store().map(|s| s.path.clone()) {
            Some(path) => {
                crate::state::store::read(path, move |conn| crate::state::store::incidents(conn, false, limit))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))
            }
            None => Ok(Vec::new()),
        }
    };
    match list {
        Ok(list) => json_response(&list),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read the incidents: {e}\n"),
        )
            .into_response(),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Ack {
    by: String,
    note: String,
}

/// Records who took an open incident on; answers the incident as it now is.
async fn acknowledge(Extract(app): Extract<App>, Path(id): Path<u64>, body: String) -> Response {
    let ack: Ack = match serde_json::from_str(&body) {
        Ok(a) => a,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("send JSON {{\"by\": NAME, \"note\": TEXT}}: {e}\n"),
            )
                .into_response();
        }
    };
    if ack.by.trim().is_empty() || ack.note.trim().is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            "an acknowledgement needs who (by) and a note\n",
        )
            .into_response();
    }
    let now = crate::vocab::unix_now();
    match app.shared.hub.acknowledge(id, ack.by.trim(), ack.note.trim(), now) {
        Ok(incident) => json_response(&incident),
        Err(why) => refused(&why),
    }
}

fn json_response(value: &impl Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the answer\n").into_response(),
    }
}

fn no_such_procedure(name: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!("no procedure named {name:?}; use handover or inventory\n"),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordsQuery {
    limit: Option<usize>,
}

/// Stored records: the latest as one object, or with `?limit=N` the newest N as a list.
async fn procedure_records(
    Extract(app): Extract<App>,
    Path(name): Path<String>,
    Query(query): Query<RecordsQuery>,
) -> Response {
    let Some(procedure) = Procedure::parse(&name) else {
        return no_such_procedure(&name);
    };
    let limit = query.limit.unwrap_or(1).min(1000);
    match crate::procedures::stored(&app.shared, procedure, limit).await {
        Ok(records) if query.limit.is_some() => json_response(&records),
        Ok(records) => match records.into_iter().next() {
            Some(latest) => json_response(&latest),
            None => (StatusCode::NOT_FOUND, format!("no {procedure} has been recorded yet\n")).into_response(),
        },
        Err(why) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{why}\n")).into_response(),
    }
}

/// Runs a procedure now (a handover runs every check first) and answers with its record.
async fn run_procedure(Extract(app): Extract<App>, Path(name): Path<String>) -> Response {
    let Some(procedure) = Procedure::parse(&name) else {
        return no_such_procedure(&name);
    };
    match crate::procedures::perform(Arc::clone(&app.shared), procedure).await {
        Ok(record) => json_response(&record),
        Err(why) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{why}\n")).into_response(),
    }
}

/// One maintenance window as `GET /api/v1/maintenance` lists it.
#[derive(Serialize)]
struct MaintenanceView {
    /// Only for windows people opened (they can be ended early).
    id: Option<u64>,
    target: crate::maintenance::Target,
    start: f64,
    end: f64,
    reason: String,
    by: Option<String>,
    source: &'static str,
    active: bool,
}

/// The windows open now or to come in the next 7 days: configured ones and those people opened.
async fn maintenance(Extract(app): Extract<App>) -> Response {
    let now = crate::vocab::unix_now();
    let config = app.shared.config();
    let mut list: Vec<MaintenanceView> = config
        .maintenance
        .iter()
        .flat_map(|rule| {
            rule.spans(now, now + 7.0 * 86_400.0)
                .into_iter()
                .map(|(start, end)| MaintenanceView {
                    id: None,
                    target: rule.target.clone(),
                    start,
                    end,
                    reason: rule.reason.clone(),
                    by: None,
                    source: "config",
                    active: start <= now,
                })
        })
        .collect();
    list.extend(
        app.shared
            .hub
            .maintenance_windows()
            .into_iter()
            .filter(|w| w.end > now)
            .map(|w| MaintenanceView {
                id: Some(w.id),
                active: w.start <= now,
                target: w.target,
                start: w.start,
                end: w.end,
                reason: w.reason,
                by: Some(w.by),
                source: "cli",
            }),
    );
    list.sort_by(|a, b| a.start.total_cmp(&b.start));
    json_response(&list)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWindow {
    device: Option<String>,
    site: Option<String>,
    /// Unix time; default now.
    start: Option<f64>,
    seconds: f64,
    reason: String,
    by: String,
}

/// Opens a maintenance window on a configured device or site.
async fn open_maintenance(Extract(app): Extract<App>, body: String) -> Response {
    let bad = |why: String| (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response();
    let new: NewWindow = match serde_json::from_str(&body) {
        Ok(n) => n,
        Err(e) => {
            return bad(format!(
                "send JSON {{\"device\" or \"site\": NAME, \"seconds\": N, \"reason\": TEXT, \"by\": NAME}}: {e}"
            ));
        }
    };
    if new.reason.trim().is_empty() || new.by.trim().is_empty() {
        return bad("a maintenance window needs a reason and who opens it (by)".into());
    }
    if !(new.seconds > 0.0 && new.seconds <= 31.0 * 86_400.0) {
        return bad("a maintenance window lasts more than zero and at most 31 days".into());
    }
    let config = app.shared.config();
    let target = match (new.device, new.site) {
        (Some(d), None) if config.device(&d).is_some() => crate::maintenance::Target::Device(d),
        (None, Some(s)) if config.devices.iter().any(|d| d.site == s) => crate::maintenance::Target::Site(s),
        (Some(d), None) => return (StatusCode::NOT_FOUND, format!("no device named {d:?}\n")).into_response(),
        (None, Some(s)) => return (StatusCode::NOT_FOUND, format!("no device is at site {s:?}\n")).into_response(),
        _ => return bad("name either a device or a site".into()),
    };
    let start = new.start.unwrap_or_else(crate::vocab::unix_now);
    let window = app
        .shared
        .hub
        .open_maintenance(target, start, start + new.seconds, new.reason.trim(), new.by.trim());
    tracing::info!(window = window.id, target = %window.target, by = %window.by, "maintenance window opened: {}", window.reason);
    json_response(&window)
}

/// Ends a window people opened, now.
/// A command the state refused: 404 for what does not exist, 409 for what does not apply.
fn refused(why: &crate::state::Refused) -> Response {
    let status = match why {
        crate::state::Refused::NotFound(_) => StatusCode::NOT_FOUND,
        crate::state::Refused::Conflict(_) => StatusCode::CONFLICT,
    };
    (status, format!("{why}\n")).into_response()
}

async fn end_maintenance(Extract(app): Extract<App>, Path(id): Path<u64>) -> Response {
    match app.shared.hub.end_maintenance(id, crate::vocab::unix_now()) {
        Ok(window) => {
            tracing::info!(window = window.id, target = %window.target, "maintenance window ended");
            json_response(&window)
        }
        Err(why) => refused(&why),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    period: Option<String>,
    format: Option<String>,
    unreachable: Option<String>,
}

/// `/reports?period=2026-11&format=html|json`: the report `camwatch report` writes, served.
async fn report(Extract(app): Extract<App>, Query(q): Query<ReportQuery>) -> Response {
    let config = app.shared.config();
    let now = crate::vocab::unix_now();
    let tz = config.agent.timezone;
    let text = q.period.unwrap_or_else(|| crate::report::period::this_month(now, tz));
    let period = match crate::report::period::parse(&text, tz) {
        Ok(p) => p,
        Err(why) => return (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
    };
    let unreachable = match q.unreachable.as_deref() {
        None | Some("down") => crate::report::Unreachable::Down,
        Some("excluded") => crate::report::Unreachable::Excluded,
        Some(other) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("unreachable {other:?}: use down or excluded\n"),
            )
                .into_response();
        }
    };
    let Some(path) = app.shared.hub.store().map(|s| s.path.clone()) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no state store\n").into_response();
    };
    let built = crate::state::store::read(path, move |conn| {
        crate::report::build(&config, conn, period, unreachable, now)
    })
    .await;
    match (built, q.format.as_deref()) {
        (Ok(Ok(report)), None | Some("html")) => Html(crate::report::html::render(&report)).into_response(),
        (Ok(Ok(report)), Some("json")) => json_response(&report),
        (Ok(Ok(_)), Some(other)) => (
            StatusCode::BAD_REQUEST,
            format!("format {other:?}: use html or json (csv: camwatch report)\n"),
        )
            .into_response(),
        (Ok(Err(e)), _) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read the state store: {e}\n"),
        )
            .into_response(),
        (Err(e), _) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MailQuery {
    period: String,
}

/// Mails the report of a period now (as the schedule would), through the outbox.
async fn mail_report(Extract(app): Extract<App>, Query(q): Query<MailQuery>) -> Response {
    let config = app.shared.config();
    match crate::notify::reports::mail(&app.shared, &config, &q.period, crate::vocab::unix_now()).await {
        Ok(true) => format!("report {} queued for mail\n", q.period).into_response(),
        Ok(false) => format!("report {} was queued before; not again\n", q.period).into_response(),
        Err(why) => (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
    }
}
