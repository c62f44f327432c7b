//! `camwatch discover`: finds ONVIF devices with WS-Discovery and lists them, as JSON lines, or as
//! `[[device]]` entries ready to paste into the configuration.
//!
//! A command run by a person setting up a site, not a scheduled check: it lives beside `oneshot`
//! rather than under `probe`, whose modules all share the "one device, one observation" shape.
//!
//! It only ever sends Probe messages (read-only by definition in WS-Discovery): two to the
//! multicast group 239.255.255.250:3702, each repeated once as SOAP-over-UDP asks, and, for each
//! `--cidr`, the same two to every address of the network at a bounded pace, because multicast
//! does not cross the VLANs and routers that often stand between a recording server and its
//! cameras. Devices answer by unicast to the address and port the Probe came from, so each
//! sending socket also receives the answers to its own Probes.

pub mod output;
pub mod wsd;

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::exit;

/// The largest network `--cidr` sweeps: a /20 is 4,094 hosts, sixteen seconds at our pace.
pub const LARGEST_PREFIX: u8 = 20;
/// All `--cidr` networks together: four /20s. Beyond that, a sweep is a scan, not a discovery.
pub const MAX_SWEEP_ADDRESSES: usize = 4 * 4096;
/// Unicast pace: this many addresses (two Probes each) per tick, 250 addresses a second: a /24
/// in one second, a /20 in sixteen. On a directly attached network every address costs an ARP
/// entry that lingers about 3 s when nobody answers; at this pace fewer than 1,000 are pending
/// at once, under the kernel's default neighbour table limit (gc_thresh3 = 1024), so a sweep
/// does not push out the host's real neighbours.
const UNICAST_BATCH: usize = 4;
const UNICAST_TICK: Duration = Duration::from_millis(16);
/// Those same unanswered ARP requests hold their datagrams, charged to the sending socket, for
/// those 3 s. From one socket, a /24 fills the default 208 KiB send buffer and the sweep stalls
/// until ARP gives up (measured: 19 s for a /24). So the sweep spreads over a pool of sockets,
/// one per this many addresses, at most `MAX_SOCKETS`; each receives the answers to its own
/// Probes.
const ADDRESSES_PER_SOCKET: usize = 16;
const MAX_SOCKETS: usize = 32;
/// SOAP-over-UDP repeats a multicast message once after 50-250 ms, since UDP may drop it.
const MULTICAST_REPEAT_AFTER: Duration = Duration::from_millis(100);
/// More distinct devices than this in one run is a misbehaving network; the rest are dropped.
const MAX_DEVICES: usize = 4096;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
const MAX_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct Options {
    /// Interface for the multicast Probe; `None` lets the routing table choose.
    pub interface: Option<String>,
    /// How long to listen after the last Probe went out.
    pub timeout: Duration,
    pub cidrs: Vec<Cidr>,
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    ConfigSnippet,
}

/// An IPv4 network given with `--cidr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (address, prefix) = text.split_once('/').unwrap_or((text, "32"));
        let address: Ipv4Addr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an IPv4 network such as 192.0.2.0/24"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("{text:?}: the prefix length must be a number from 0 to 32"))?;
        if prefix < LARGEST_PREFIX {
            let count = 1u64 << (32 - prefix);
            return Err(format!(
                "{text} has {count} addresses; discover sweeps at most a /{LARGEST_PREFIX} ({} addresses) per --cidr: \
                 give the cameras' own subnets, e.g. several /24s",
                1u32 << (32 - LARGEST_PREFIX)
            ));
        }
        if address.is_multicast() || address.is_broadcast() || address.is_unspecified() {
            return Err(format!("{text} is not a network of hosts"));
        }
        let mask = u32::MAX.checked_shl(u32::from(32 - prefix)).unwrap_or(0);
        Ok(Cidr {
            network: Ipv4Addr::from(u32::from(address) & mask),
            prefix,
        })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Cidr {
    /// The host addresses: without the network and broadcast addresses, except in a /31 or /32
    /// where every address is a host (RFC 3021).
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.network);
        let size = 1u32 << (32 - self.prefix);
        let (from, to) = if self.prefix >= 31 {
            (first, first + (size - 1))
        } else {
            (first + 1, first + size - 2)
        };
        (from..=to).map(Ipv4Addr::from)
    }
}

/// `--timeout`: seconds (`3`, `0.5`) or a duration (`1500ms`, `2s`).
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 => Duration::from_secs_f64(s.min(MAX_TIMEOUT.as_secs_f64() + 1.0)),
        Ok(_) => return Err(format!("{text:?}: the timeout must be more than 0 seconds")),
        Err(_) => humantime::parse_duration(text)
            .map_err(|e| format!("{text:?} is not a number of seconds or a duration like \"1500ms\": {e}"))?,
    };
    if duration.is_zero() || duration > MAX_TIMEOUT {
        return Err(format!(
            "{text:?}: the timeout must be more than 0 and at most {} seconds",
            MAX_TIMEOUT.as_secs()
        ));
    }
    Ok(duration)
}

/// One device, merged from every answer that named the same endpoint reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// Where the first answer came from.
    pub address: IpAddr,
    /// The endpoint reference: the identity duplicates are merged by.
    pub endpoint: String,
    /// `camera` for a NetworkVideoTransmitter, `other` for any other ONVIF device.
    pub kind: &'static str,
    pub name: Option<String>,
    pub hardware: Option<String>,
    /// Every `location/...` scope, joined with ", ".
    pub location: Option<String>,
    pub profiles: Vec<String>,
    pub xaddrs: Vec<String>,
    pub types: Vec<String>,
    pub scopes: Vec<String>,
    /// `multicast` and/or `unicast`: which Probes it answered.
    pub via: BTreeSet<&'static str>,
}

impl Device {
    fn from_match(address: IpAddr, endpoint: String, m: wsd::ProbeMatch) -> Device {
        let mut device = Device {
            address,
            endpoint,
            kind: "other",
            name: None,
            hardware: None,
            location: None,
            profiles: Vec::new(),
            xaddrs: Vec::new(),
            types: Vec::new(),
            scopes: Vec::new(),
            via: BTreeSet::new(),
        };
        device.merge(m);
        device
    }

    /// Adds what another answer of the same device says (the Probe for `tds:Device` may be
    /// answered with other types or XAddrs than the one for NetworkVideoTransmitter).
    fn merge(&mut self, m: wsd::ProbeMatch) {
        if m.is_video_transmitter() {
            self.kind = "camera";
        }
        for (list, new) in [
            (&mut self.types, m.types),
            (&mut self.scopes, m.scopes),
            (&mut self.xaddrs, m.xaddrs),
        ] {
            for item in new {
                if !list.contains(&item) {
                    list.push(item);
                }
            }
        }
        let scopes = wsd::decode_scopes(&self.scopes);
        self.name = scopes.name;
        self.hardware = scopes.hardware;
        self.location = (!scopes.locations.is_empty()).then(|| scopes.locations.join(", "));
        self.profiles = scopes.profiles;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Multicast,
    Unicast,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Multicast => "multicast",
            Via::Unicast => "unicast",
        }
    }
}

/// Turns datagrams into devices.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    /// MessageID of every Probe sent, and how it went.
    probes: HashMap<String, Via>,
    pub(crate) devices: Vec<Device>,
    by_endpoint: HashMap<String, usize>,
    ignored: usize,
}

impl Collector {
    pub(crate) fn accept(&mut self, from: SocketAddr, datagram: &[u8]) {
        let message = match wsd::parse_probe_matches(datagram) {
            Ok(m) => m,
            Err(why) => {
                tracing::debug!("ignored {} bytes from {from}: {why}", datagram.len());
                self.ignored += 1;
                return;
            }
        };
        // Only our socket's port hears unicast answers, but a device may still answer a stale
        // or foreign Probe; RelatesTo tells. A device that leaves it out is given the benefit of
        // the doubt.
        let via = match &message.relates_to {
            Some(id) => match self.probes.get(id) {
                Some(via) => Some(*via),
                None => {
                    tracing::debug!(
                        "ignored a ProbeMatches from {from}: it relates to {id:?}, not to one of our Probes"
                    );
                    self.ignored += 1;
                    return;
                }
            },
            None => None,
        };
        for m in message.matches {
            // The endpoint reference is the device's identity; without one, its first XAddr or
            // its address is the best stand-in.
            let endpoint = m
                .endpoint
                .clone()
                .or_else(|| m.xaddrs.first().cloned())
                .unwrap_or_else(|| from.ip().to_string());
            let index = match self.by_endpoint.get(&endpoint) {
                Some(&i) => {
                    self.devices[i].merge(m);
                    i
                }
                None => {
                    if self.devices.len() >= MAX_DEVICES {
                        tracing::debug!("ignored {endpoint} from {from}: more than {MAX_DEVICES} devices answered");
                        self.ignored += 1;
                        continue;
                    }
                    self.by_endpoint.insert(endpoint.clone(), self.devices.len());
                    self.devices.push(Device::from_match(from.ip(), endpoint, m));
                    self.devices.len() - 1
                }
            };
            if let Some(via) = via {
                self.devices[index].via.insert(via.as_str());
            }
        }
    }
}

/// What went out.
#[derive(Debug, Default)]
struct SendReport {
    multicast_error: Option<String>,
    unicast_sent: usize,
    unicast_failed: usize,
}

/// Runs the discovery and prints its result; returns the exit code.
pub async fn run(options: &Options, out: &mut impl Write) -> i32 {
    // Everything that can be wrong with the command line is found before the first packet.
    let mut targets: Vec<Ipv4Addr> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for cidr in &options.cidrs {
        for host in cidr.hosts() {
            if seen.insert(host) {
                targets.push(host);
            }
        }
        if targets.len() > MAX_SWEEP_ADDRESSES {
            eprintln!(
                "camwatch discover: error: the --cidr networks hold more than {MAX_SWEEP_ADDRESSES} addresses\n  \
                 fix: sweep at most four /{LARGEST_PREFIX} networks at a time"
            );
            return exit::CONFIG;
        }
    }
    let interface = match &options.interface {
        Some(name) => match interface_ipv4(name) {
            Ok(address) => Some((name.as_str(), address)),
            Err(why) => {
                eprintln!("camwatch discover: error: {why}");
                return exit::CONFIG;
            }
        },
        None => None,
    };
    let pool = targets.len().div_ceil(ADDRESSES_PER_SOCKET).clamp(1, MAX_SOCKETS);
    let mut sockets = Vec::with_capacity(pool);
    for _ in 0..pool {
        match open_socket(interface.map(|(_, a)| a)) {
            Ok(s) => sockets.push(Arc::new(s)),
            Err(e) => {
                eprintln!("camwatch discover: error: cannot open a UDP socket: {e}");
                return exit::RUNTIME;
            }
        }
    }
    // Every socket hears the answers to its own Probes; the tasks end when the set is dropped.
    let (datagrams, mut received) = tokio::sync::mpsc::channel::<(SocketAddr, Vec<u8>)>(256);
    let mut receivers = tokio::task::JoinSet::new();
    for socket in &sockets {
        receivers.spawn(receive(Arc::clone(socket), datagrams.clone()));
    }
    drop(datagrams);

    let mut collector = Collector::default();
    let multicast: Vec<String> = wsd::PROBE_TYPES.iter().map(|_| wsd::message_id()).collect();
    for id in &multicast {
        collector.probes.insert(id.clone(), Via::Multicast);
    }
    let unicast: Vec<(Ipv4Addr, Vec<String>)> = targets
        .iter()
        .map(|&a| (a, wsd::PROBE_TYPES.iter().map(|_| wsd::message_id()).collect()))
        .collect();
    for (_, ids) in &unicast {
        for id in ids {
            collector.probes.insert(id.clone(), Via::Unicast);
        }
    }

    let started = Instant::now();
    let mut sender = tokio::spawn(send_all(sockets, multicast, unicast));
    let mut report: Option<SendReport> = None;
    let mut deadline = Instant::now() + MAX_TIMEOUT * 2;
    loop {
        tokio::select! {
            Some((from, datagram)) = received.recv() => collector.accept(from, &datagram),
            done = &mut sender, if report.is_none() => {
                let done = done.unwrap_or_else(|e| SendReport {
                    multicast_error: Some(format!("the sending task failed: {e}")),
                    ..SendReport::default()
                });
                if let Some(e) = &done.multicast_error {
                    eprintln!("camwatch discover: error: cannot send the multicast Probe: {e}");
                    if interface.is_none() {
                        eprintln!(
                            "  fix: name the cameras' network interface with --interface IF, or give the host a \
                             route for multicast (ip route add 224.0.0.0/4 dev IF)"
                        );
                    }
                    if targets.is_empty() {
                        return exit::RUNTIME;
                    }
                }
                deadline = Instant::now() + options.timeout;
                report = Some(done);
            }
            () = tokio::time::sleep_until(deadline) => break,
        }
    }
    receivers.abort_all();
    let report = report.unwrap_or_default();
    let mut devices = collector.devices;
    devices.sort_by(|a, b| (a.address, &a.endpoint).cmp(&(b.address, &b.endpoint)));

    let summary = format!(
        "{} ONVIF device{} answered in {:.1} s (multicast{}{}{}{})",
        devices.len(),
        if devices.len() == 1 { "" } else { "s" },
        started.elapsed().as_secs_f64(),
        interface.map(|(n, a)| format!(" on {n} ({a})")).unwrap_or_default(),
        if report.multicast_error.is_some() {
            " failed"
        } else {
            ""
        },
        if targets.is_empty() {
            String::new()
        } else {
            format!(
                ", unicast to {} addresses of {}",
                targets.len(),
                options.cidrs.iter().map(Cidr::to_string).collect::<Vec<_>>().join(" ")
            )
        },
        {
            let mut trouble = Vec::new();
            if report.unicast_failed > 0 {
                trouble.push(format!("{} unicast sends failed", report.unicast_failed));
            }
            if collector.ignored > 0 {
                trouble.push(format!("{} answers ignored", collector.ignored));
            }
            if trouble.is_empty() {
                String::new()
            } else {
                format!("; {} (--log-level debug shows why)", trouble.join(", "))
            }
        },
    );
    let written = match options.format {
        Format::Table => output::table(&devices, out).and_then(|()| writeln!(out, "{summary}")),
        Format::Json => output::json_lines(&devices, out),
        Format::ConfigSnippet => output::config_snippet(&devices, out),
    };
    if let Err(e) = written.and_then(|()| out.flush()) {
        eprintln!("camwatch discover: error: cannot write the result: {e}");
        return exit::RUNTIME;
    }
    if options.format != Format::Table {
        eprintln!("camwatch discover: {summary}");
    }
    tracing::debug!("{} unicast Probes sent", report.unicast_sent);
    if devices.is_empty() {
        eprintln!(
            "camwatch discover: no ONVIF device answered\n  fix: check that ONVIF discovery is enabled on the cameras; \
             pick the cameras' network with --interface; cameras behind a router or on another VLAN answer \
             only unicast: add --cidr NETWORK/24"
        );
        return exit::CHECK_FAILED;
    }
    exit::OK
}

fn open_socket(interface: Option<Ipv4Addr>) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    if let Some(address) = interface {
        // IP_MULTICAST_IF: the multicast Probe leaves through this interface whatever the routing
        // table says (a recording server often has an office NIC with the default route).
        // Unicast Probes still follow the routing table.
        socket.set_multicast_if_v4(&address)?;
    }
    // WS-Discovery multicast is link-local in spirit: one hop, as the specification asks.
    socket.set_multicast_ttl_v4(1)?;
    // A sweep can bring hundreds of answers at once; a bigger buffer loses fewer. Best effort:
    // the kernel caps it at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(1 << 20);
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)).into())?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

async fn send_multicast(socket: &UdpSocket, ids: &[String], report: &mut SendReport) {
    let group = SocketAddr::from((wsd::MULTICAST_GROUP, wsd::PORT));
    for (id, types) in ids.iter().zip(wsd::PROBE_TYPES) {
        if let Err(e) = socket.send_to(wsd::probe(id, types).as_bytes(), group).await {
            report.multicast_error = Some(e.to_string());
            return;
        }
    }
}

async fn receive(socket: Arc<UdpSocket>, to: tokio::sync::mpsc::Sender<(SocketAddr, Vec<u8>)>) {
    // One byte more than a message may have, so an oversized datagram is seen as such rather
    // than silently truncated into something parseable.
    let mut buffer = vec![0u8; wsd::MAX_MESSAGE_BYTES + 1];
    loop {
        match socket.recv_from(&mut buffer).await {
            Ok((n, from)) => {
                if to.send((from, buffer[..n].to_vec())).await.is_err() {
                    return;
                }
            }
            // An ICMP error for an earlier datagram; it does not end the listening.
            Err(e) => tracing::debug!("receiving: {e}"),
        }
    }
}

async fn send_all(
    sockets: Vec<Arc<UdpSocket>>,
    multicast: Vec<String>,
    unicast: Vec<(Ipv4Addr, Vec<String>)>,
) -> SendReport {
    let mut report = SendReport::default();
    send_multicast(&sockets[0], &multicast, &mut report).await;
    // The repeat carries the same MessageIDs: it is the same message sent twice, not a new Probe.
    let repeat_at = Instant::now() + MULTICAST_REPEAT_AFTER;
    let mut repeated = report.multicast_error.is_some();
    let mut ticker = tokio::time::interval(UNICAST_TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for (n, batch) in unicast.chunks(UNICAST_BATCH).enumerate() {
        ticker.tick().await;
        for (i, (address, ids)) in batch.iter().enumerate() {
            // Round robin, so consecutive (likely silent) addresses load different sockets.
            let socket = &sockets[(n * UNICAST_BATCH + i) % sockets.len()];
            for (id, types) in ids.iter().zip(wsd::PROBE_TYPES) {
                match socket
                    .send_to(wsd::probe(id, types).as_bytes(), (*address, wsd::PORT))
                    .await
                {
                    Ok(_) => report.unicast_sent += 1,
                    Err(e) => {
                        tracing::debug!("unicast Probe to {address}: {e}");
                        report.unicast_failed += 1;
                    }
                }
            }
        }
        if !repeated && Instant::now() >= repeat_at {
            send_multicast(&sockets[0], &multicast, &mut report).await;
            repeated = true;
        }
    }
    if !repeated {
        tokio::time::sleep_until(repeat_at).await;
        send_multicast(&sockets[0], &multicast, &mut report).await;
    }
    report
}

/// The first IPv4 address of a network interface, for IP_MULTICAST_IF.
fn interface_ipv4(name: &str) -> Result<Ipv4Addr, String> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut found_name = false;
    let mut address = None;
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we only read, then free exactly once.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return Err(format!(
                "cannot list network interfaces: {}",
                std::io::Error::last_os_error()
            ));
        }
        let mut entry = list;
        while !entry.is_null() {
            let e = &*entry;
            let this = std::ffi::CStr::from_ptr(e.ifa_name).to_string_lossy().into_owned();
            if this == name {
                found_name = true;
                if address.is_none() && !e.ifa_addr.is_null() && i32::from((*e.ifa_addr).sa_family) == libc::AF_INET {
                    let sin = &*(e.ifa_addr as *const libc::sockaddr_in);
                    address = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
                }
            }
            names.insert(this);
            entry = e.ifa_next;
        }
        libc::freeifaddrs(list);
    }
    match (address, found_name) {
        (Some(a), _) => Ok(a),
        (None, true) => Err(format!(
            "interface {name:?} has no IPv4 address\n  fix: give it one, or pick the interface on the cameras' network"
        )),
        (None, false) => Err(format!(
            "no network interface named {name:?}\n  fix: use one of: {}",
            names.into_iter().collect::<Vec<_>>().join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_are_bounded_and_normalised() {
        let c: Cidr = "198.18.7.9/24".parse().unwrap();
        assert_eq!(c.to_string(), "198.18.7.0/24");
        let hosts: Vec<Ipv4Addr> = c.hosts().collect();
        assert_eq!(hosts.len(), 254);
        assert_eq!(hosts[0], Ipv4Addr::new(198, 18, 7, 1));
        assert_eq!(hosts[253], Ipv4Addr::new(198, 18, 7, 254));
        assert_eq!("10.1.0.0/20".parse::<Cidr>().unwrap().hosts().count(), 4094);
        assert_eq!("192.0.2.4/31".parse::<Cidr>().unwrap().hosts().count(), 2);
        assert_eq!(
            "192.0.2.4".parse::<Cidr>().unwrap().hosts().collect::<Vec<_>>(),
            [Ipv4Addr::new(192, 0, 2, 4)]
        );
        let too_big = "10.0.0.0/19".parse::<Cidr>().unwrap_err();
        assert!(
            too_big.contains("8192 addresses") && too_big.contains("/20"),
            "{too_big}"
        );
        for bad in ["10.0.0.0/33", "10.0.0/24", "cam/24", "239.255.255.250/32", "10.0.0.0/x"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn timeouts_take_seconds_or_durations() {
        assert_eq!(parse_timeout("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_timeout("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_timeout("1500ms").unwrap(), Duration::from_millis(1500));
        for bad in ["0", "-1", "nan", "inf", "soon", "601", "1h"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }

    const MATCH: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Header><a:RelatesTo>RELATES</a:RelatesTo></s:Header><s:Body><d:ProbeMatches><d:ProbeMatch><a:EndpointReference><a:Address>urn:uuid:cam-1</a:Address></a:EndpointReference><d:Types>TYPES</d:Types><d:Scopes>onvif://www.onvif.org/name/Gate%201</d:Scopes><d:XAddrs>XADDRS</d:XAddrs></d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"#;

    fn answer(relates: &str, types: &str, xaddrs: &str) -> Vec<u8> {
        MATCH
            .replace("RELATES", relates)
            .replace("TYPES", types)
            .replace("XADDRS", xaddrs)
            .into_bytes()
    }

    #[test]
    fn answers_are_merged_by_endpoint_and_foreign_ones_ignored() {
        let mut c = Collector::default();
        c.probes.insert("urn:uuid:m".into(), Via::Multicast);
        c.probes.insert("urn:uuid:u".into(), Via::Unicast);
        let from: SocketAddr = "192.0.2.7:3702".parse().unwrap();
        c.accept(
            from,
            &answer("urn:uuid:m", "tds:Device", "http://192.0.2.7/onvif/device_service"),
        );
        c.accept(
            from,
            &answer(
                "urn:uuid:u",
                "dn:NetworkVideoTransmitter tds:Device",
                "http://192.0.2.7/onvif/device_service http://[fe80::1]/onvif/device_service",
            ),
        );
        c.accept(
            from,
            &answer("urn:uuid:someone-else", "tds:Device", "http://192.0.2.9/"),
        );
        c.accept(from, b"garbage");
        assert_eq!(c.devices.len(), 1, "{:?}", c.devices);
        assert_eq!(c.ignored, 2);
        let d = &c.devices[0];
        assert_eq!(d.endpoint, "urn:uuid:cam-1");
        assert_eq!(d.kind, "camera", "one answer naming NetworkVideoTransmitter is enough");
        assert_eq!(d.types, ["tds:Device", "dn:NetworkVideoTransmitter"]);
        assert_eq!(d.xaddrs.len(), 2);
        assert_eq!(d.name.as_deref(), Some("Gate 1"));
        assert_eq!(d.via.iter().copied().collect::<Vec<_>>(), ["multicast", "unicast"]);
    }
}
