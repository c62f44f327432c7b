//! A fleet of simulated ONVIF cameras with RTSP streams, for benches/cameras_onvif.py.
//!
//! `camera_fleet N CONFIG`: starts N simulated ONVIF cameras (the test suite's simulator) and one
//! minimal RTSP responder that answers OPTIONS and DESCRIBE with an H.264 SDP, writes a camwatch
//! configuration for all of them to CONFIG, prints "ready", and serves until stdin closes.

#[path = "../tests/support/onvif_sim.rs"]
#[allow(dead_code)]
mod onvif_sim;
#[path = "../tests/support/pki.rs"]
#[allow(dead_code)]
mod pki;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

const SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=camera\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=framerate:25\r\na=x-dimensions:1920,1080\r\na=control:track1\r\n";

/// Answers RTSP requests on one connection until it closes.
fn rtsp_session(stream: std::net::TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request = String::new();
        let mut cseq = String::from("1");
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line.to_ascii_lowercase().starts_with("cseq:") {
                cseq = line[5..].trim().to_owned();
            }
            if line == "\r\n" {
                break;
            }
            request.push_str(&line);
        }
        let reply = if request.starts_with("DESCRIBE") {
            format!(
                "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
                SDP.len()
            )
        } else {
            format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n")
        };
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .expect("usage: camera_fleet N CONFIG");
    let config = args.next().expect("usage: camera_fleet N CONFIG");
    let rtsp = TcpListener::bind("127.0.0.1:0").unwrap();
    let rtsp_port = rtsp.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in rtsp.incoming().flatten() {
            std::thread::spawn(move || rtsp_session(stream));
        }
    });
    let template = onvif_sim::SimState {
        stream_uri: format!("rtsp://127.0.0.1:{rtsp_port}/main"),
        ..onvif_sim::SimState::default()
    };
    let password = template.password.clone();
    let fleet = onvif_sim::SimFleet::start(count, template);
    let mut text = String::from("[agent]\nmax_in_flight = 128\n[policy.default]\ntimeout = \"10s\"\n");
    for (i, addr) in fleet.addrs.iter().enumerate() {
        text.push_str(&format!(
            "[[device]]\nname = \"cam-{i:03}\"\nkind = \"camera\"\naddress = \"127.0.0.1\"\nping = \"off\"\nusername = \"camwatch\"\npassword_env = \"FLEET_PASSWORD\"\n[device.onvif]\nport = {}\nchecks = [\"onvif\", \"clock\", \"stream\"]\n",
            addr.port()
        ));
    }
    std::fs::write(&config, text).unwrap();
    println!("ready {password}");
    std::io::stdout().flush().unwrap();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(fleet);
}
