#!/usr/bin/python3
"""tests/tools/smtpd.py - a real SMTP server (aiosmtpd) on 127.0.0.1 for the
send tests: it writes every message it accepts to DIR/N.eml and a line of
JSON per message to DIR/log.jsonl (with "session": the connection's number,
from 1, counted at its first DATA), and can misbehave on purpose.

  smtpd.py --port P --dir DIR [--tls CERT KEY] [--auth USER:PASS]
           [--rcpt REGEX=REPLY[@once]]...   answer RCPT TO of matching addresses
           [--data N=ACTION]...             at the N-th DATA (1-based, counted
                                            over all connections): a reply such
                                            as "451 4.3.0 later" or "421 4.3.2 bye"
                                            (the connection is then closed), or
                                            "close" (close before answering: the
                                            message is in flight), or "stall"
                                            (never answer it: a stalled relay)
           [--delay SECONDS]                wait before answering each DATA
           [--reply-delay SECONDS]          wait before every reply, the greeting
                                            included (a slow relay: a milter, a
                                            content filter, a loaded server)
           [--stall greeting|data-end]      never send the greeting, or never
                                            answer the end of any message's data
                                            (the connection stays open)

Prints "ready" on stdout when it listens. Test data only: addresses are
written to the log in clear.
"""
import argparse
import asyncio
import json
import os
import re
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

STALL = 3600  # seconds a stalled reply waits: longer than any test


class SlowSMTP(SMTP):
    """aiosmtpd's server, with --reply-delay before each reply and
    --stall greeting (one per connection: its first reply)."""
    reply_delay = 0.0
    stall_greeting = False

    async def push(self, status):
        first = not getattr(self, "greeted", False)
        self.greeted = True
        if first and self.stall_greeting:
            await asyncio.sleep(STALL)
        if self.reply_delay:
            await asyncio.sleep(self.reply_delay)
        await super().push(status)


class SlowController(Controller):
    def factory(self):
        return SlowSMTP(self.handler, **self.SMTP_kwargs)


class Handler:
    def __init__(self, args):
        self.dir = args.dir
        self.rcpt_rules = []
        for r in args.rcpt:
            pat, reply = r.split("=", 1)
            once = reply.endswith("@once")
            if once:
                reply = reply[: -len("@once")]
            self.rcpt_rules.append([re.compile(pat), reply, once, set()])
        self.data_rules = {}
        for d in args.data:
            n, action = d.split("=", 1)
            self.data_rules[int(n)] = action
        self.delay = args.delay
        self.stall_data_end = args.stall == "data-end"
        self.lock = threading.Lock()
        self.ndata = 0
        self.nsaved = 0
        self.nsessions = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        for pat, reply, once, seen in self.rcpt_rules:
            if pat.search(address):
                if once and address in seen:
                    continue
                seen.add(address)
                return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.ndata += 1
            n = self.ndata
            if getattr(session, "nr", None) is None:  # its first DATA
                self.nsessions += 1
                session.nr = self.nsessions
        if self.delay:
            await asyncio.sleep(self.delay)
        action = self.data_rules.get(n)
        if action == "stall" or self.stall_data_end:
            await asyncio.sleep(STALL)  # the client gives up first
        if action == "close":
            server.transport.close()
            return "421 4.3.2 closing"  # never reaches the client
        if action:
            if action.startswith("421"):
                server.transport.close()
            return action
        with self.lock:
            self.nsaved += 1
            k = self.nsaved
        data = envelope.original_content or envelope.content
        path = os.path.join(self.dir, "%d.eml" % k)
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.rename(path + ".tmp", path)
        with open(os.path.join(self.dir, "log.jsonl"), "a") as f:
            f.write(json.dumps({"n": k, "from": envelope.mail_from, "to": envelope.rcpt_tos,
                                "tls": session.ssl is not None,
                                "auth": bool(getattr(session, "authenticated", False)),
                                "helo": session.host_name, "session": session.nr}) + "\n")
        return "250 2.0.0 Ok: queued as %d" % k


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--tls", nargs=2)
    ap.add_argument("--auth")
    ap.add_argument("--rcpt", action="append", default=[])
    ap.add_argument("--data", action="append", default=[])
    ap.add_argument("--delay", type=float, default=0)
    ap.add_argument("--reply-delay", type=float, default=0)
    ap.add_argument("--stall", choices=["greeting", "data-end"])
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    kw = {}
    if args.tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        kw["tls_context"] = ctx
    if args.auth:
        user, pw = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and \
                auth_data.login.decode() == user and auth_data.password.decode() == pw
            # handled=False: aiosmtpd answers a refusal (535) itself. Its
            # default (handled=True) means "the reply was sent already", so
            # a wrong password got no answer at all and the client waited
            # for one until its timeout.
            return AuthResult(success=ok, handled=False)
        kw["authenticator"] = authenticator
        kw["auth_required"] = True
        kw["auth_require_tls"] = False
    SlowSMTP.reply_delay = args.reply_delay
    SlowSMTP.stall_greeting = args.stall == "greeting"
    ctl = SlowController(Handler(args), hostname="127.0.0.1", port=args.port,
                     server_hostname="127.0.0.1", data_size_limit=0, **kw)
    ctl.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        ctl.stop()


if __name__ == "__main__":
    sys.exit(main())
