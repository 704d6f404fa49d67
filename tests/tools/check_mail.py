#!/usr/bin/python3
"""tests/tools/check_mail.py - checks the messages a send delivered to
tests/tools/smtpd.py, with parsers that are not ours (Python's email
package, policy.default; python3-dkim).

  check_mail.py DIR DB [--mailing ID] [--dkim PUBKEY.pem SELECTOR DOMAIN]

For every DIR/*.eml: parses without defects; has From, To, Subject, Date,
Message-ID, List-Id, List-Unsubscribe (https and mailto, one token),
List-Unsubscribe-Post, MIME-Version; is multipart/alternative with UTF-8
text/plain and text/html parts in quoted-printable; no line over 998
bytes; the unsubscribe token (purpose 1) and the envelope sender's VERP
token (purpose 2) name the subscriber of the To address in DB and the
mailing; the token is in both bodies, and the subscriber's name too.
Tokens and Message-IDs are unique. Prints a JSON summary; exit 1 with the
first problem otherwise.
"""
import base64
import email
import email.policy
import glob
import json
import os
import re
import sqlite3
import sys


def payload(token):
    p, _, mac = token.partition(".")
    raw = base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))
    assert len(raw) == 19 and len(mac) == 22, "token shape"
    return raw[2], int.from_bytes(raw[3:11], "big"), int.from_bytes(raw[11:19], "big")


def main():
    args = sys.argv[1:]
    d, dbpath = args[0], args[1]
    mailing = None
    dk = None
    if "--mailing" in args:
        mailing = int(args[args.index("--mailing") + 1])
    if "--dkim" in args:
        i = args.index("--dkim")
        dk = args[i + 1: i + 4]
    db = sqlite3.connect(dbpath)
    subs = {e.lower(): (i, n or "") for i, e, n in db.execute("SELECT id, email, name FROM subscriber")}
    log = {}
    if os.path.exists(os.path.join(d, "log.jsonl")):
        for line in open(os.path.join(d, "log.jsonl")):
            r = json.loads(line)
            log[r["n"]] = r
    tokens, ids, per_sub = {}, set(), {}
    files = sorted(glob.glob(os.path.join(d, "*.eml")))
    dkim_ok = 0
    for f in files:
        raw = open(f, "rb").read()
        where = os.path.basename(f)
        for line in raw.split(b"\r\n" if b"\r\n" in raw else b"\n"):
            assert len(line) <= 998, "%s: a line of %d bytes" % (where, len(line))
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        for part in msg.walk():
            assert not part.defects, "%s: defects %r" % (where, part.defects)
        for h in ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe",
                  "List-Unsubscribe-Post", "MIME-Version"):
            assert msg[h] is not None, "%s: no %s" % (where, h)
            for hv in msg.get_all(h):
                assert not hv.defects, "%s: %s defects %r" % (where, h, hv.defects)
        assert str(msg["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
        assert str(msg["MIME-Version"]) == "1.0"
        assert msg.get_content_type() == "multipart/alternative", where
        parts = list(msg.iter_parts())
        assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"], where
        for p in parts:
            assert p.get_content_charset() == "utf-8", where
            assert p["Content-Transfer-Encoding"] == "quoted-printable", where
        text, html = parts[0].get_content(), parts[1].get_content()
        lu = str(msg["List-Unsubscribe"])
        m = re.fullmatch(r"<(https?://[^>]+)/u/([A-Za-z0-9_.-]{49})>,\s*"
                         r"<mailto:unsubscribe\+([A-Za-z0-9_.-]{49})@([^?>]+)\?subject=unsubscribe>", lu)
        assert m, "%s: List-Unsubscribe %r" % (where, lu)
        tok = m.group(2)
        assert m.group(3) == tok, "%s: two tokens" % where
        to = msg["To"].addresses[0]
        addr = to.addr_spec.lower()
        assert addr in subs, "%s: To %s is no subscriber" % (where, addr)
        sid, name = subs[addr]
        purpose, tsid, tmail = payload(tok)
        assert (purpose, tsid) == (1, sid), "%s: token names %d/%d, not %d" % (where, purpose, tsid, sid)
        if mailing is not None:
            assert tmail == mailing, "%s: token for mailing %d" % (where, tmail)
        assert to.display_name == name, "%s: To name %r != %r" % (where, to.display_name, name)
        assert tok in text and tok in html, "%s: the token is not in both bodies" % where
        if name:
            assert name in text, "%s: the name is not in the text" % where
            esc = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("'", "&#39;")
            assert esc in html, "%s: the name is not in the HTML" % where
        n = int(where.split(".")[0])
        if n in log:
            env = log[n]["from"]
            vm = re.fullmatch(r"bounces\+([A-Za-z0-9_.-]{49})@(.+)", env)
            assert vm, "%s: envelope sender %r" % (where, env)
            vp, vsid, vmail = payload(vm.group(1))
            assert (vp, vsid) == (2, sid), "%s: VERP token names %d/%d" % (where, vp, vsid)
            assert log[n]["to"] == [to.addr_spec], "%s: envelope recipient" % where
        # A copy sent again (after a kill) carries the same token; two
        # subscribers never share one.
        assert tokens.get(tok, sid) == sid, "%s: token of another subscriber" % where
        tokens[tok] = sid
        mid = str(msg["Message-ID"])
        ids.add(mid)
        per_sub[sid] = per_sub.get(sid, 0) + 1
        if dk:
            import dkim
            pem = open(dk[0]).read()
            der = "".join(l for l in pem.splitlines() if "-----" not in l)
            rec = ("v=DKIM1; k=rsa; p=" + der).encode()

            def dnsfunc(name, timeout=5):
                assert name == ("%s._domainkey.%s." % (dk[1], dk[2])).encode() or \
                    name == ("%s._domainkey.%s" % (dk[1], dk[2])).encode(), name
                return rec
            sig = msg["DKIM-Signature"]
            assert sig is not None, "%s: no DKIM-Signature" % where
            hlist = re.search(r"(?:^|;)h=([^;]+)", str(sig).replace("\r", "").replace("\n", "").replace(" ", "").replace("\t", "")).group(1).lower().split(":")
            for h in ("from", "subject", "date", "list-unsubscribe", "list-unsubscribe-post"):
                assert h in hlist, "%s: DKIM does not sign %s" % (where, h)
            assert dkim.verify(raw, dnsfunc=dnsfunc), "%s: DKIM signature does not verify" % where
            dkim_ok += 1
    print(json.dumps({"messages": len(files), "subscribers": len(per_sub),
                      "unique_tokens": len(tokens), "unique_message_ids": len(ids),
                      "max_copies": max(per_sub.values()) if per_sub else 0,
                      "duplicates": sum(v - 1 for v in per_sub.values()),
                      "dkim_verified": dkim_ok,
                      "copies": {str(k): v for k, v in per_sub.items()}}))


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAIL: %s" % e)
        sys.exit(1)
