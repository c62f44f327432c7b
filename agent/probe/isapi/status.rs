//! `GET /ISAPI/System/status`: the recorder's uptime in seconds (`deviceUpTime`), a counter that
//! does not wrap, mapped onto the uptime observation SNMP fills so one judge spots reboots.

use super::{Client, number};
use crate::config::IsapiSpec;
use crate::observation::uptime::UptimeObservation;
use crate::observation::{ProbeError, ProbeErrorKind};
use crate::probe::ProbeContext;
use crate::probe::http::HttpClients;

pub async fn probe(
    http: &HttpClients,
    spec: &IsapiSpec,
    ctx: &mut ProbeContext<'_>,
) -> Result<UptimeObservation, ProbeError> {
    super::with_client(http, spec, ctx, read).await
}

async fn read(client: &mut Client<'_>) -> Result<UptimeObservation, ProbeError> {
    let doc = client.get("/ISAPI/System/status", "DeviceStatus").await?;
    let polled_at = crate::vocab::unix_now();
    let seconds = number::<u64>(&doc, &["deviceUpTime"]).ok_or_else(|| {
        ProbeError::new(
            ProbeErrorKind::Device,
            format!(
                "{} answered /ISAPI/System/status without a deviceUpTime in seconds ({:?}), so its uptime is unknown",
                client.host(),
                doc.text_at(&["deviceUpTime"]).unwrap_or_default()
            ),
        )
    })?;
    if let Some(time) = doc.text_at(&["currentDeviceTime"]) {
        client
            .transcript
            .note(|| format!("  device time {time}, up {seconds} s"));
    }
    Ok(UptimeObservation {
        polled_at,
        agent_ticks: None,
        host_ticks: None,
        device_seconds: Some(seconds),
        engine_boots: None,
        description: None,
        name: None,
    })
}
