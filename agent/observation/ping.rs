//! Reachability: what an echo or a TCP connect saw.

use std::net::IpAddr;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PingObservation {
    /// `icmp` or `tcp:PORT`, whichever was actually used.
    pub method: String,
    pub target: IpAddr,
    pub sent: u32,
    pub received: u32,
    /// Round trip of each answered echo, in seconds.
    pub rtt_seconds: Vec<f64>,
    /// Why the last unanswered echo went unanswered, when the network said.
    pub last_error: Option<String>,
}

impl PingObservation {
    pub fn loss_ratio(&self) -> f64 {
        if self.sent == 0 {
            1.0
        } else {
            f64::from(self.sent - self.received) / f64::from(self.sent)
        }
    }

    pub fn mean_rtt_seconds(&self) -> Option<f64> {
        (!self.rtt_seconds.is_empty()).then(|| self.rtt_seconds.iter().sum::<f64>() / self.rtt_seconds.len() as f64)
    }
}
