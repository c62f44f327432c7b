#!/usr/bin/python3
"""A real SMTP server for camwatch's tests (aiosmtpd, Debian python3-aiosmtpd).

Saves every accepted message to DIR as N.eml (raw) and N.json (envelope and the message as
Python's email parser reads it: headers, text and HTML parts, attachments), and logs every DATA
attempt to DIR/attempts.log as "MESSAGE-ID OUTCOME". The reply to DATA is read from DIR/mode on
each message:
  250   accept (also when the file is absent)
  451   a transient failure (4xx)
  550   a permanent failure (5xx)
  hold  wait, answering nothing, until the mode changes (then act on the new mode); a client
        that goes away meanwhile leaves nothing saved ("aborted" in the log)
RCPT TO is refused with 550 for each address listed (one per line) in DIR/refuse, read on each
recipient; the others are accepted.
Options: --cert/--key offer STARTTLS and require it (with --implicit-tls: TLS from the first byte); --auth USER:PASSWORD requires AUTH
(PLAIN/LOGIN, only after STARTTLS when TLS is on). --raw saves only N.eml, accepts every DATA, and logs
nothing: a sink for benchmarks, where parsing every message would make the server the bound.
"""
import argparse
import asyncio
import email
import email.policy
import hashlib
import json
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def mode(folder):
    try:
        with open(os.path.join(folder, "mode")) as f:
            return f.read().strip() or "250"
    except FileNotFoundError:
        return "250"


class Handler:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    def save(self, content):
        self.count += 1
        base = os.path.join(self.folder, f"{time.time_ns()}-{self.count}")
        with open(base + ".eml", "wb") as f:
            f.write(content)
        return base

    def log(self, message_id, outcome):
        with open(os.path.join(self.folder, "attempts.log"), "a") as f:
            f.write(f"{message_id} {outcome}\n")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        try:
            with open(os.path.join(self.folder, "refuse")) as f:
                refused = {line.strip().lower() for line in f if line.strip()}
        except FileNotFoundError:
            refused = set()
        if address.lower() in refused:
            return f"550 5.1.1 <{address}>: recipient address rejected: user unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message_id = parsed.get("Message-ID", "-")
        current = mode(self.folder)
        if current == "hold":
            self.log(message_id, "holding")
            try:
                while current == "hold":
                    await asyncio.sleep(0.05)
                    current = mode(self.folder)
            except asyncio.CancelledError:
                self.log(message_id, "aborted")
                raise
        if current.startswith("4"):
            self.log(message_id, "451")
            return "451 4.3.0 try again later"
        if current.startswith("5"):
            self.log(message_id, "550")
            return "550 5.1.1 mailbox unavailable"
        base = self.save(envelope.content)
        text = html = None
        attachments = []
        for part in parsed.walk():
            if part.is_multipart():
                continue
            if part.get_filename():
                body = part.get_payload(decode=True)
                attachments.append(
                    {
                        "filename": part.get_filename(),
                        "content_type": part.get_content_type(),
                        "size": len(body),
                        "sha256": hashlib.sha256(body).hexdigest(),
                    }
                )
            elif part.get_content_type() == "text/plain" and text is None:
                text = part.get_content()
            elif part.get_content_type() == "text/html" and html is None:
                html = part.get_content()
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None,
            "auth": getattr(session, "login", None) if session.authenticated else None,
            "headers": {k: str(v) for k, v in parsed.items()},
            "content_type": parsed.get_content_type(),
            "text": text,
            "html": html,
            "attachments": attachments,
        }
        # Written last and renamed: a reader never sees half a record.
        with open(base + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(base + ".tmp", base + ".json")
        self.log(message_id, "250")
        return "250 OK"


class RawHandler(Handler):
    async def handle_DATA(self, server, session, envelope):
        self.save(envelope.content)
        return "250 OK"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--raw", action="store_true")
    a = p.parse_args()
    kwargs = {}
    if a.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.cert, a.key)
        if a.implicit_tls:
            kwargs.update(ssl_context=context)
        else:
            kwargs.update(tls_context=context, require_starttls=True)
    if a.auth:
        user, password = a.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
            if ok:
                session.login = user
            return AuthResult(success=ok, handled=False)

        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=bool(a.cert))
    controller = Controller((RawHandler if a.raw else Handler)(a.dir), hostname="127.0.0.1", port=a.port, **kwargs)
    controller.start()
    print(f"listening on 127.0.0.1:{a.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main()
