//! Simulated ONVIF devices for WS-Discovery, each a thread living in a test host's network
//! namespace (`setns` moves only the calling thread, so the test process itself stays home).
//!
//! A device answers Probes the way real ones do: from its own address, port 3702, with a
//! ProbeMatches whose prefixes follow the captures in `../shared/testdata/onvif/`, and only when
//! it has every type the Probe asks for. Its Probe parsing is deliberately crude string search,
//! independent of camwatch's parser. Threads stop and sockets close on drop.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::TestHost;

pub const GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 255, 250);
pub const PORT: u16 = 3702;

/// Who a device says it is.
#[derive(Debug, Clone)]
pub struct Identity {
    pub endpoint: String,
    /// QNames with the prefixes declared by the template (`dn`, `tds`).
    pub types: Vec<String>,
    /// As on the wire: percent-encoded.
    pub scopes: Vec<String>,
    pub xaddrs: Vec<String>,
    /// (SOAP envelope, WS-Addressing, WS-Discovery) prefixes; real devices differ.
    pub prefixes: (&'static str, &'static str, &'static str),
}

#[derive(Debug, Clone)]
pub enum Behaviour {
    Answer(Identity),
    /// Answers every Probe with junk: bytes, truncated XML, an oversized message, another
    /// WS-Discovery message, and a well-formed ProbeMatches for someone else's Probe.
    Garbage,
}

/// One Probe a device received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub multicast: bool,
    pub from: SocketAddr,
    pub message_id: String,
    pub types: String,
}

pub struct SimDevice {
    pub address: Ipv4Addr,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    threads: Vec<JoinHandle<()>>,
}

impl SimDevice {
    /// Starts a device on `address` (one of `host`'s) that always answers unicast Probes and,
    /// with `multicast`, joins 239.255.255.250 on that address's interface. Returns once its
    /// sockets are bound.
    pub fn start(host: &TestHost, address: Ipv4Addr, multicast: bool, behaviour: Behaviour) -> SimDevice {
        // Sockets belong to the namespace they were created in, whichever thread uses them later:
        // one short-lived thread enters the namespace and makes them.
        let netns = host.name.clone();
        let (unicast, group) = std::thread::spawn(move || {
            enter_netns(&netns)?;
            open_sockets(address, multicast)
        })
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("simulated device {address}: {e}"));
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut listeners = vec![(false, unicast.try_clone().unwrap())];
        if let Some(g) = group {
            listeners.push((true, g));
        }
        let threads = listeners
            .into_iter()
            .map(|(is_multicast, listen)| {
                let (stop, seen, behaviour) = (Arc::clone(&stop), Arc::clone(&seen), behaviour.clone());
                let reply = unicast.try_clone().unwrap();
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 65536];
                    while !stop.load(Ordering::Relaxed) {
                        // The read timeout bounds how long a drop waits for this thread.
                        let Ok((n, from)) = listen.recv_from(&mut buf) else {
                            continue;
                        };
                        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                        let probe = Seen {
                            multicast: is_multicast,
                            from,
                            message_id: element_text(&text, "MessageID").unwrap_or_default(),
                            types: element_text(&text, "Types").unwrap_or_default(),
                        };
                        seen.lock().unwrap().push(probe.clone());
                        for datagram in answers(&behaviour, &probe) {
                            let _ = reply.send_to(&datagram, from);
                        }
                    }
                })
            })
            .collect();
        SimDevice {
            address,
            stop,
            seen,
            threads,
        }
    }

    /// Every Probe received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for SimDevice {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn enter_netns(name: &str) -> Result<(), String> {
    let file = File::open(format!("/var/run/netns/{name}")).map_err(|e| format!("netns {name}: {e}"))?;
    // SAFETY: setns on a namespace file we hold open; it changes only this thread's namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(format!("setns {name}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// The device's own socket (its address, port 3702: it answers from there, as real devices do)
/// and, for multicast, a socket bound to the group address, so that it hears only the group.
fn open_sockets(address: Ipv4Addr, multicast: bool) -> Result<(UdpSocket, Option<UdpSocket>), String> {
    let e = |what: &'static str| move |err: std::io::Error| format!("{what} on {address}: {err}");
    let unicast = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(e("socket"))?;
    unicast
        .bind(&SocketAddr::from((address, PORT)).into())
        .map_err(e("bind"))?;
    unicast
        .set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(e("timeout"))?;
    let group = if multicast {
        let m = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(e("socket"))?;
        // Several devices in one namespace each get their copy of a multicast Probe.
        m.set_reuse_address(true).map_err(e("SO_REUSEADDR"))?;
        m.bind(&SocketAddr::from((GROUP, PORT)).into())
            .map_err(e("bind group"))?;
        m.join_multicast_v4(&GROUP, &address).map_err(e("IP_ADD_MEMBERSHIP"))?;
        m.set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(e("timeout"))?;
        Some(m.into())
    } else {
        None
    };
    Ok((unicast.into(), group))
}

/// The text of the first element whose local name is `local`, any prefix.
fn element_text(xml: &str, local: &str) -> Option<String> {
    let mut rest = xml;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>')?;
        let tag = &rest[..end];
        let name = tag.split_whitespace().next().unwrap_or("");
        if name.rsplit(':').next() == Some(local) && !tag.ends_with('/') {
            let body = &rest[end + 1..];
            return Some(body[..body.find('<')?].trim().to_owned());
        }
    }
    None
}

fn local_parts(list: &str) -> Vec<&str> {
    list.split_whitespace().filter_map(|t| t.rsplit(':').next()).collect()
}

static MESSAGE_NUMBER: AtomicU32 = AtomicU32::new(1);

fn answers(behaviour: &Behaviour, probe: &Seen) -> Vec<Vec<u8>> {
    match behaviour {
        Behaviour::Answer(id) => {
            let mine = local_parts(&id.types.join(" "))
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>();
            // WS-Discovery: a target matches when it has every type the Probe lists.
            if local_parts(&probe.types).iter().all(|t| mine.iter().any(|m| m == t)) {
                vec![probe_matches(id, &probe.message_id).into_bytes()]
            } else {
                vec![]
            }
        }
        Behaviour::Garbage => {
            let foreign = Identity {
                endpoint: "urn:uuid:ffffffff-0000-4000-8000-000000000bad".into(),
                types: vec!["dn:NetworkVideoTransmitter".into()],
                scopes: vec!["onvif://www.onvif.org/name/Impostor".into()],
                xaddrs: vec!["http://198.51.100.1/onvif/device_service".into()],
                prefixes: ("SOAP-ENV", "wsa", "d"),
            };
            let valid_for_someone_else = probe_matches(&foreign, "urn:uuid:00000000-0000-4000-8000-000000000000");
            let mine = probe_matches(&foreign, &probe.message_id);
            vec![
                b"\x00\xff\xfeGET / HTTP/1.1\r\n\r\n".to_vec(),
                mine.as_bytes()[..mine.len() / 2].to_vec(),
                format!("<Envelope>{}</Envelope>", " ".repeat(40_000)).into_bytes(),
                mine.replace("ProbeMatches>", "Hello>")
                    .replace("ProbeMatch>", "Hello>")
                    .into_bytes(),
                valid_for_someone_else.into_bytes(),
            ]
        }
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A ProbeMatches shaped like `axis-hikvision-agsh/Probe.xml`.
pub fn probe_matches(id: &Identity, relates_to: &str) -> String {
    let (s, a, d) = id.prefixes;
    let number = MESSAGE_NUMBER.fetch_add(1, Ordering::Relaxed);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<{s}:Envelope xmlns:{s}="http://www.w3.org/2003/05/soap-envelope" xmlns:SOAP-ENC="http://www.w3.org/2003/05/soap-encoding" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:{a}="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:{d}="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
    <{s}:Header>
        <{a}:MessageID>urn:uuid:5a0b1c2d-0000-4000-8000-{number:012}</{a}:MessageID>
        <{a}:RelatesTo>{relates}</{a}:RelatesTo>
        <{a}:To {s}:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</{a}:To>
        <{a}:Action {s}:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</{a}:Action>
        <{d}:AppSequence MessageNumber="{number}" InstanceId="1"></{d}:AppSequence>
    </{s}:Header>
    <{s}:Body>
        <{d}:ProbeMatches>
            <{d}:ProbeMatch>
                <{a}:EndpointReference>
                    <{a}:Address>{endpoint}</{a}:Address>
                </{a}:EndpointReference>
                <{d}:Types>{types}</{d}:Types>
                <{d}:Scopes>{scopes}</{d}:Scopes>
                <{d}:XAddrs>{xaddrs}</{d}:XAddrs>
                <{d}:MetadataVersion>1</{d}:MetadataVersion>
            </{d}:ProbeMatch>
        </{d}:ProbeMatches>
    </{s}:Body>
</{s}:Envelope>"#,
        relates = xml_escape(relates_to),
        endpoint = xml_escape(&id.endpoint),
        types = id.types.join(" "),
        scopes = xml_escape(&id.scopes.join(" ")),
        xaddrs = xml_escape(&id.xaddrs.join(" ")),
    )
}

/// The name of the interface holding `address`, in `netns` (or in this namespace for `None`).
pub fn interface_with(netns: Option<&TestHost>, address: &str) -> String {
    let args = ["ip", "-o", "-4", "addr", "show", "to", &format!("{address}/32")];
    let out = match netns {
        Some(host) => host.exec(&args).output().unwrap(),
        None => std::process::Command::new(args[0]).args(&args[1..]).output().unwrap(),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let name = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no interface has {address}: {text}"));
    name.split('@').next().unwrap().to_owned()
}
