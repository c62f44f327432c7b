//! Reachability rules: no answer at all is a failure; partial loss or a slow network a warning.

use super::Verdict;
use crate::config::Policy;
use crate::model::{CheckKind, Status};
use crate::observation::ping::PingObservation;

pub fn judge(seen: &PingObservation, policy: &Policy) -> Verdict {
    let loss = seen.loss_ratio();
    let rtt = seen.mean_rtt_seconds();
    let what = if seen.method == "icmp" {
        "ICMP echoes".to_owned()
    } else {
        format!("TCP connects to port {}", seen.method.trim_start_matches("tcp:"))
    };
    let rtt_limit = policy.ping_rtt_warning.as_secs_f64();
    let (status, summary) = match rtt {
        None => (
            Status::Failed,
            format!(
                "{} does not answer: no reply to {} {what}{}",
                seen.target,
                seen.sent,
                seen.last_error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
            ),
        ),
        Some(_) if loss >= policy.ping_loss_warning_ratio && loss > 0.0 => (
            Status::Warning,
            format!(
                "{} lost {} of {} {what} ({:.0} % loss, warning from {:.0} %)",
                seen.target,
                seen.sent - seen.received,
                seen.sent,
                loss * 100.0,
                policy.ping_loss_warning_ratio * 100.0
            ),
        ),
        Some(rtt) if rtt > rtt_limit => (
            Status::Warning,
            format!(
                "{} answers slowly: round trip {} ms, over the {} ms limit",
                seen.target,
                millis(rtt),
                millis(rtt_limit)
            ),
        ),
        Some(rtt) => (
            Status::Ok,
            format!(
                "{} answers {} of {} {what}, round trip {} ms",
                seen.target,
                seen.received,
                seen.sent,
                millis(rtt)
            ),
        ),
    };
    Verdict {
        check: CheckKind::Ping,
        status,
        summary,
        values: serde_json::json!({
            "method": seen.method,
            "sent": seen.sent,
            "received": seen.received,
            "loss_ratio": loss,
            "rtt_seconds": rtt,
        }),
        immediate: false,
        memory: None,
        events: Vec::new(),
    }
}

fn millis(seconds: f64) -> String {
    let ms = seconds * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(sent: u32, rtts: &[f64]) -> PingObservation {
        PingObservation {
            method: "icmp".into(),
            target: "192.0.2.7".parse().unwrap(),
            sent,
            received: rtts.len() as u32,
            rtt_seconds: rtts.to_vec(),
            last_error: None,
        }
    }

    #[test]
    fn all_answered_is_ok_with_mean_rtt() {
        let v = judge(&seen(3, &[0.001, 0.002, 0.003]), &Policy::default());
        assert_eq!(v.status, Status::Ok);
        assert_eq!(v.summary, "192.0.2.7 answers 3 of 3 ICMP echoes, round trip 2.00 ms");
        assert_eq!(v.values["rtt_seconds"], 0.002);
        assert_eq!(v.values["loss_ratio"], 0.0);
    }

    #[test]
    fn nothing_answered_is_failed() {
        let mut s = seen(3, &[]);
        s.last_error = Some("Network is unreachable".into());
        let v = judge(&s, &Policy::default());
        assert_eq!(v.status, Status::Failed);
        assert!(
            v.summary.contains("no reply to 3 ICMP echoes (Network is unreachable)"),
            "{}",
            v.summary
        );
        assert_eq!(v.values["loss_ratio"], 1.0);
        assert!(v.values["rtt_seconds"].is_null());
    }

    #[test]
    fn partial_loss_and_slowness_warn() {
        let v = judge(&seen(3, &[0.001, 0.001]), &Policy::default());
        assert_eq!(v.status, Status::Warning);
        assert!(v.summary.contains("lost 1 of 3"), "{}", v.summary);

        let v = judge(&seen(3, &[0.9, 0.9, 0.9]), &Policy::default());
        assert_eq!(v.status, Status::Warning);
        assert!(
            v.summary.contains("round trip 900 ms, over the 500 ms limit"),
            "{}",
            v.summary
        );
    }

    #[test]
    fn loss_under_the_threshold_is_ok() {
        let policy = Policy {
            ping_count: 10,
            ..Policy::default()
        };
        let v = judge(&seen(10, &[0.001; 9]), &policy);
        assert_eq!(v.status, Status::Ok);
    }
}
