//! Reachability: ICMP echo over one shared socket per address family, or TCP connect.
//!
//! Why the TCP fallback: an unprivileged agent may open ICMP sockets only when
//! `net.ipv4.ping_group_range` covers its group, and raw sockets need CAP_NET_RAW. Rather than
//! refusing to run, the agent then connects to a TCP port: an accepted *or refused* connection both
//! prove the host's network stack answered. It says so once in the log.
//!
//! Round trips are timed here rather than taken from surge-ping, whose reported RTT can read 0
//! on a multi-threaded runtime.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::{Duration, Instant};

use surge_ping::{Client, Config as IcmpConfig, ICMP, IcmpPacket, PingIdentifier, PingSequence, SurgeError};
use tokio::net::TcpStream;

use super::{ProbeContext, ProbeError, ProbeErrorKind, Transcript};
use crate::config::{PingMethod, PingSpec};
use crate::observation::ping::PingObservation;

/// ICMP clients, opened on first use, one per address family, shared by every check.
#[derive(Default)]
pub struct Pinger {
    v4: OnceLock<Result<Client, String>>,
    v6: OnceLock<Result<Client, String>>,
    fallback_logged: AtomicBool,
    sequence: AtomicU16,
}

impl std::fmt::Debug for Pinger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pinger")
            .field("v4_open", &self.v4.get().map(Result::is_ok))
            .field("v6_open", &self.v6.get().map(Result::is_ok))
            .finish_non_exhaustive()
    }
}

impl Pinger {
    pub async fn probe(&self, spec: &PingSpec, ctx: &mut ProbeContext<'_>) -> Result<PingObservation, ProbeError> {
        let (device, transcript) = (ctx.device, &mut *ctx.transcript);
        let address = device
            .address
            .as_deref()
            .ok_or_else(|| ProbeError::new(ProbeErrorKind::Agent, "device has no address"))?;
        let target = super::resolve(address, 0, transcript).await?.ip();
        let count = device.policy.ping_count.max(1);
        // Leave a tenth of the check's timeout spare so a dead host is reported as "no reply to N
        // echoes" by this probe rather than cut off by the scheduler's deadline.
        let per_echo = (device.policy.timeout.mul_f64(0.9) / count).max(Duration::from_millis(50));
        let port = match spec.method {
            PingMethod::Tcp(port) => port,
            PingMethod::Icmp => match self.icmp_client(target) {
                Ok(client) => {
                    return Ok(self.icmp(client, target, count, per_echo, transcript).await);
                }
                Err(why) => {
                    let port = device.policy.ping_fallback_port;
                    if !self.fallback_logged.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            reason = %why,
                            "ICMP echo is not permitted for this process; pinging by TCP connect instead \
                             (grant CAP_NET_RAW or widen net.ipv4.ping_group_range to use ICMP)"
                        );
                    }
                    transcript.note(|| format!("ICMP not permitted ({why}); falling back to TCP port {port}"));
                    port
                }
            },
        };
        Ok(tcp(target, port, count, per_echo, transcript).await)
    }

    fn icmp_client(&self, target: IpAddr) -> Result<&Client, String> {
        let (cell, kind) = match target {
            IpAddr::V4(_) => (&self.v4, ICMP::V4),
            IpAddr::V6(_) => (&self.v6, ICMP::V6),
        };
        cell.get_or_init(|| {
            Client::new(&IcmpConfig::builder().kind(kind).build()).map_err(|e| match e.kind() {
                io::ErrorKind::PermissionDenied => "permission denied opening an ICMP socket".to_owned(),
                _ => format!("cannot open an ICMP socket: {e}"),
            })
        })
        .as_ref()
        .map_err(Clone::clone)
    }

    async fn icmp(
        &self,
        client: &Client,
        target: IpAddr,
        count: u32,
        per_echo: Duration,
        transcript: &mut Transcript,
    ) -> PingObservation {
        let mut pinger = client.pinger(target, PingIdentifier(fastrand::u16(..))).await;
        pinger.timeout(per_echo);
        let payload = [0u8; 56];
        let mut observation = PingObservation {
            method: "icmp".into(),
            target,
            sent: 0,
            received: 0,
            rtt_seconds: Vec::with_capacity(count as usize),
            last_error: None,
        };
        for _ in 0..count {
            // Unprivileged (DGRAM) ICMP sockets overwrite the identifier, so replies are told apart
            // by sequence number alone: keep sequence numbers unique across all concurrent checks.
            let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
            observation.sent += 1;
            let started = Instant::now();
            let answer = pinger.ping(PingSequence(seq), &payload).await;
            match answer.as_ref().map(|(packet, _)| echo_reply_or_error(packet)) {
                Ok(None) => {
                    let rtt = started.elapsed();
                    observation.received += 1;
                    observation.rtt_seconds.push(rtt.as_secs_f64());
                    transcript.note(|| format!("ICMP echo seq={seq} to {target}: reply after {rtt:?}"));
                }
                Ok(Some(why)) => {
                    transcript.note(|| format!("ICMP echo seq={seq} to {target}: {why}"));
                    observation.last_error = Some(why);
                    tokio::time::sleep(per_echo.saturating_sub(started.elapsed())).await;
                }
                Err(SurgeError::Timeout { .. }) => {
                    transcript.note(|| format!("ICMP echo seq={seq} to {target}: no reply within {per_echo:?}"));
                }
                Err(e) => {
                    let why = e.to_string();
                    transcript.note(|| format!("ICMP echo seq={seq} to {target}: {why}"));
                    observation.last_error = Some(why);
                    // A local send error (no route) returns at once; pace retries like a timeout
                    // would so the echoes still sample the whole check window.
                    tokio::time::sleep(per_echo.saturating_sub(started.elapsed())).await;
                }
            }
        }
        observation
    }
}

/// surge-ping hands over ICMP errors that quote our echo (destination unreachable, time
/// exceeded) as if they were replies. Only an echo reply proves the host is there; anything else
/// is a lost echo, with the network's reason.
fn echo_reply_or_error(packet: &IcmpPacket) -> Option<String> {
    // (type, code, sender, and this family's numbers for echo reply, unreachable, time exceeded)
    let (kind, code, from, [reply, unreachable, exceeded], family) = match packet {
        IcmpPacket::V4(p) => (
            p.get_icmp_type().0,
            p.get_icmp_code().0,
            p.get_source().to_string(),
            [0, 3, 11],
            "ICMP",
        ),
        IcmpPacket::V6(p) => (
            p.get_icmpv6_type().0,
            p.get_icmpv6_code().0,
            p.get_source().to_string(),
            [129, 1, 3],
            "ICMPv6",
        ),
    };
    match kind {
        k if k == reply => None,
        k if k == unreachable => Some(format!("destination unreachable (code {code}), reported by {from}")),
        k if k == exceeded => Some(format!("time exceeded (code {code}), reported by {from}")),
        other => Some(format!("unexpected {family} type {other} code {code} from {from}")),
    }
}

async fn tcp(
    target: IpAddr,
    port: u16,
    count: u32,
    per_attempt: Duration,
    transcript: &mut Transcript,
) -> PingObservation {
    let mut observation = PingObservation {
        method: format!("tcp:{port}"),
        target,
        sent: 0,
        received: 0,
        rtt_seconds: Vec::with_capacity(count as usize),
        last_error: None,
    };
    let address = SocketAddr::new(target, port);
    for _ in 0..count {
        observation.sent += 1;
        let started = Instant::now();
        let outcome = tokio::time::timeout(per_attempt, TcpStream::connect(address)).await;
        let rtt = started.elapsed();
        match outcome {
            Ok(Ok(_stream)) => {
                observation.received += 1;
                observation.rtt_seconds.push(rtt.as_secs_f64());
                transcript.note(|| format!("TCP connect to {address}: accepted after {rtt:?}"));
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                observation.received += 1;
                observation.rtt_seconds.push(rtt.as_secs_f64());
                transcript.note(|| format!("TCP connect to {address}: refused after {rtt:?} (the host is up)"));
            }
            Ok(Err(e)) => {
                let why = e.to_string();
                transcript.note(|| format!("TCP connect to {address}: {why}"));
                observation.last_error = Some(why);
                tokio::time::sleep(per_attempt.saturating_sub(rtt)).await;
            }
            Err(_) => transcript.note(|| format!("TCP connect to {address}: no answer within {per_attempt:?}")),
        }
    }
    observation
}
