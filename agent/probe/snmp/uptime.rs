//! How long a device has been up, from which its boot time follows. sysUpTime is the SNMP
//! agent's own uptime (it restarts when only the agent restarts); hrSystemUptime is the host's.
//! Both are 32-bit TimeTicks that wrap after 497 days: telling a wrap from a reboot is the
//! judge's job, with the previous sample.

use super::Reading;
use super::client::{Oid, SnmpClient};
use crate::observation::ProbeError;
use crate::observation::uptime::UptimeObservation;

const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
const SYS_UPTIME: &str = "1.3.6.1.2.1.1.3.0";
const SYS_NAME: &str = "1.3.6.1.2.1.1.5.0";
const HR_SYSTEM_UPTIME: &str = "1.3.6.1.2.1.25.1.1.0";
const ENGINE_BOOTS: &str = "1.3.6.1.6.3.10.2.1.2.0";

pub async fn read(client: &mut SnmpClient<'_>) -> Result<UptimeObservation, ProbeError> {
    let asked: Vec<Oid> = [SYS_DESCR, SYS_UPTIME, SYS_NAME, HR_SYSTEM_UPTIME, ENGINE_BOOTS]
        .iter()
        .map(|o| Oid::parse(o).expect("valid"))
        .collect();
    let r = Reading::new(client.get(&asked).await?);
    // Some agents send uptime as a plain INTEGER or Counter32.
    let ticks = |oid: &str| r.value(oid)?.as_i64().and_then(|t| u32::try_from(t).ok());
    let observation = UptimeObservation {
        polled_at: crate::vocab::unix_now(),
        agent_ticks: ticks(SYS_UPTIME),
        host_ticks: ticks(HR_SYSTEM_UPTIME),
        device_seconds: None,
        engine_boots: r.integer(ENGINE_BOOTS).filter(|b| *b > 0),
        description: r.text(SYS_DESCR),
        name: r.text(SYS_NAME).filter(|n| n != "<private>"),
    };
    if observation.agent_ticks.is_none() && observation.host_ticks.is_none() {
        return Err(ProbeError::unsupported(
            "neither sysUpTime nor hrSystemUptime, so its uptime is unknown",
        ));
    }
    Ok(observation)
}
