#!/usr/bin/env python3
"""The outbox under load and at rest.

1. Drain: 10,000 messages queued in the outbox of a stopped agent (rows written the way the
   agent writes them), then `camwatch run` started against a local SMTP server (the tests'
   aiosmtpd server with --raw, saving every message as it came): seconds until all are accepted,
   messages per second, and the agent's CPU seconds and peak RSS. Then the same server's own
   ceiling for this traffic: Python's smtplib replaying one of the messages camwatch sent, the way
   camwatch sends (one connection, NOOP, then one transaction, one message in flight).
2. At rest: 100 open incidents (100 storage devices whose watched mount point is missing, checked
   once an hour), their mail sent; the agent's CPU seconds over the next 30 seconds.

benches/outbox_drain.py [--messages N] [--idle-seconds S]
Needs a release build (cargo build --release) and Debian's python3-aiosmtpd.
"""
import argparse
import os
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from peer import free_port, proc_cpu, proc_peak_rss  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAMWATCH = os.path.join(ROOT, "target/release/camwatch")
SMTP = os.path.join(ROOT, "tests/support/smtp_server.py")


def wait_port(port, limit=20):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def config(folder, smtp_port, body):
    listen = free_port()
    path = os.path.join(folder, "camwatch.toml")
    with open(path, "w") as f:
        f.write(f"""[agent]
listen = "127.0.0.1:{listen}"
data_dir = "{folder}/data"
[procedures]
handover = []
inventory = "off"
[email]
server = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "camwatch <camwatch@bench.example>"
to = ["maintenance@bench.example"]
group_window = "1s"
{body}""")
    return path, listen


def agent(path, listen):
    proc = subprocess.Popen([CAMWATCH, "run", "-c", path, "--log-level", "warn"], stdout=subprocess.DEVNULL)
    wait_port(listen)
    return proc


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def received(folder):
    return sum(1 for n in os.listdir(folder) if n.endswith(".eml"))


def drain(n):
    with tempfile.TemporaryDirectory() as tmp:
        mail = os.path.join(tmp, "mail")
        os.mkdir(mail)
        smtp_port = free_port()
        smtp = subprocess.Popen(["/usr/bin/python3", SMTP, "--port", str(smtp_port), "--dir", mail, "--raw"])
        wait_port(smtp_port)
        path, listen = config(tmp, smtp_port, '[[device]]\nname = "this-host"\nkind = "host"\nping = "off"\n[device.filesystem]\nmountpoints = ["/"]\n')
        # A first start makes the store with this agent's own migrations.
        stop(agent(path, listen))
        db = sqlite3.connect(os.path.join(tmp, "data", "camwatch.sqlite"))
        now = time.time()
        db.executemany(
            "INSERT INTO outbox (message_id, channel, kind, recipients_json, subject, text_body, html_body, state, created_at, next_attempt_at) VALUES (?, 'email', 'opened', ?, ?, ?, ?, 'queued', ?, ?)",
            [
                (f"<bench.{i}@bench.example>", '["maintenance@bench.example"]', f"[bench] camera {i} failed",
                 "The camera does not answer.\n" * 20, "<p>The camera does not answer.</p>" * 20, now, now)
                for i in range(n)
            ],
        )
        db.commit()
        db.close()
        start = time.monotonic()
        proc = agent(path, listen)
        while received(mail) < n:
            if time.monotonic() - start > 600:
                sys.exit(f"only {received(mail)} of {n} arrived in 10 minutes")
            time.sleep(0.05)
        seconds = time.monotonic() - start
        cpu, rss = proc_cpu(proc.pid), proc_peak_rss(proc.pid)
        stop(proc)
        print(f"drain: {n} messages in {seconds:.2f} s = {n / seconds:.0f} messages/s; "
              f"camwatch {cpu:.2f} CPU s, peak RSS {rss / 2**20:.1f} MiB")
        sample = next(name for name in os.listdir(mail) if name.endswith(".eml"))
        with open(os.path.join(mail, sample), "rb") as f:
            message = f.read()
        replays = min(n, 2000)
        client = smtplib.SMTP("127.0.0.1", smtp_port)
        start = time.monotonic()
        for _ in range(replays):
            client.noop()
            client.sendmail("camwatch@bench.example", ["maintenance@bench.example"], message)
        seconds = time.monotonic() - start
        client.quit()
        smtp.terminate()
        smtp.wait()
        print(f"server ceiling: smtplib, {replays} of those messages in {seconds:.2f} s = {replays / seconds:.0f} messages/s")


def idle(seconds):
    with tempfile.TemporaryDirectory() as tmp:
        mail = os.path.join(tmp, "mail")
        os.mkdir(mail)
        smtp_port = free_port()
        smtp = subprocess.Popen(["/usr/bin/python3", SMTP, "--port", str(smtp_port), "--dir", mail])
        wait_port(smtp_port)
        devices = "".join(
            f'[[device]]\nname = "disk-{i}"\nkind = "storage"\nsite = "site-{i % 10}"\n'
            f'[device.filesystem]\nmountpoints = ["/camwatch-bench-missing-{i}"]\n'
            for i in range(100)
        )
        body = '[policy.default]\ninterval = "1h"\nfailures_before_failed = 1\n' + devices
        path, listen = config(tmp, smtp_port, body)
        proc = agent(path, listen)
        # One mail per site (grouped): ten messages once every incident is open.
        deadline = time.monotonic() + 60
        while received(mail) < 10 and time.monotonic() < deadline:
            time.sleep(0.1)
        before = proc_cpu(proc.pid)
        time.sleep(seconds)
        used = proc_cpu(proc.pid) - before
        rss = proc_peak_rss(proc.pid)
        stop(proc)
        smtp.terminate()
        smtp.wait()
        print(f"at rest: 100 open incidents, {received(mail)} mails sent; {used:.3f} CPU s in {seconds} s "
              f"({100 * used / seconds:.2f} % of a core), peak RSS {rss / 2**20:.1f} MiB")


if __name__ == "__main__":
    a = argparse.ArgumentParser()
    a.add_argument("--messages", type=int, default=10_000)
    a.add_argument("--idle-seconds", type=int, default=30)
    args = a.parse_args()
    if not os.path.exists(CAMWATCH):
        sys.exit("build first: cargo build --release")
    drain(args.messages)
    idle(args.idle_seconds)
