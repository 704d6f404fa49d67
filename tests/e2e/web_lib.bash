# tests/e2e/web_lib.bash - sourced by the web*.sh scripts after lib.sh: a
# configuration with both listeners, starting 'newsletter serve' on free
# ports, and an HTTP helper around curl.

PORT=$(free_port)
APORT=$(free_port)
BASE=http://127.0.0.1:$PORT
ADMIN=http://127.0.0.1:$APORT
TOKEN_FILE=$SCRATCH/admin.token
ADMIN_TOKEN=$(openssl rand -hex 32)
printf '%s\n' "$ADMIN_TOKEN" >"$TOKEN_FILE"
chmod 600 "$TOKEN_FILE"

# web_conf [LANG] [EXTRA LINES for [web]...]
web_conf() {
	local lang=${1:-en}
	shift || true
	cat >"$CONF" <<CONF
[store]
database = $SCRATCH/newsletter.db
key_file = $SCRATCH/newsletter.key

[list]
name = Kurs & Varer AS
base_url = https://news.example.org
language = $lang

[web]
listen = 127.0.0.1:$PORT
admin_listen = 127.0.0.1:$APORT
CONF
	[ $# -gt 0 ] && printf '%s\n' "$@" >>"$CONF"
	return 0
}

SRV=
LOG=$SCRATCH/serve.log
# start_server [ARGS]: runs 'newsletter serve' and waits until it answers.
start_server() {
	# Not through nl(): $! must be the server itself, for kill and wait.
	$NEWSLETTER_WRAP "$NEWSLETTER" --config "$CONF" serve "$@" >>"$LOG" 2>&1 &
	SRV=$!
	track "$SRV"
	for _ in $(seq 300); do
		curl -s -o /dev/null "$BASE/healthz" && return 0
		kill -0 "$SRV" 2>/dev/null || break
		sleep 0.05
	done
	fail "the server answers on $BASE" "$(tail -5 "$LOG")"
	return 1
}
# stop_server: SIGTERM; sets STOP_RC to its exit status.
STOP_RC=
stop_server() {
	kill -TERM "$SRV" 2>/dev/null
	wait "$SRV"
	STOP_RC=$?
}

# The path of a subscriber's unsubscribe link: /u/TOKEN.
link_path() { nl link "$1" | sed 's|^https://news.example.org||'; }

# http METHOD URL [CURL ARGS...]: sets CODE, BODY and HDRS (lower-cased names).
CODE= BODY= HDRS=
http() {
	local m=$1 u=$2
	shift 2
	BODY=$(curl -s -X "$m" -D "$SCRATCH/.hdrs" -o "$SCRATCH/.body" -w '%{http_code}' "$@" "$u" 2>/dev/null)
	CODE=$BODY
	BODY=$(cat "$SCRATCH/.body" 2>/dev/null)
	HDRS=$(tr -d '\r' <"$SCRATCH/.hdrs" 2>/dev/null | sed 's/^\([^:]*\):/\L\1:/')
}
# header NAME: the value of a header of the last reply.
header() { printf '%s\n' "$HDRS" | sed -n "s/^$1: //p" | head -n 1; }
# expect_http CODE REGEX NAME: the last reply's status, and its body matching REGEX.
expect_http() {
	local want=$1 re=$2 name=$3
	if [ "$CODE" = "$want" ] && printf '%s' "$BODY" | grep -Eq -- "$re"; then
		pass "$name"
	else
		fail "$name" "status $CODE (wanted $want), body should match /$re/" "body: ${BODY:0:300}"
	fi
}
is_sub() { [ "$(sub_field "$1" id)" != none ]; }
not_sub() { [ "$(sub_field "$1" id)" = none ]; }

PY=/usr/bin/python3
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
MAILDIR=$SCRATCH/mail
SPORT=$(free_port)
SMTPD_PID=
# --- signup: an SMTP server capturing the confirmation mails, a config ---

CONSENT_EN="Zqconsent: the newsletter once a week; every issue has a one-click unsubscribe."
CONSENT_NB="Zqsamtykke: nyhetsbrevet en gang i uka; hvert nummer har en avmeldingslenke."

# start_smtpd N: starts tests/tools/smtpd.py on $SPORT, writing to $MAILDIR,
# and waits for its N-th "ready" (the log is kept across restarts).
start_smtpd() {
	$PY "$TOOLS/smtpd.py" --port "$SPORT" --dir "$MAILDIR" >>"$SCRATCH/smtpd.out" 2>&1 &
	SMTPD_PID=$!
	track "$SMTPD_PID"
	for _ in $(seq 100); do
		[ "$(grep -c ready "$SCRATCH/smtpd.out" 2>/dev/null)" -ge "$1" ] && return 0
		kill -0 "$SMTPD_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "the test SMTP server starts on port $SPORT" "$(tail -c 600 "$SCRATCH/smtpd.out")"
}
stop_smtpd() { kill "$SMTPD_PID" 2>/dev/null; wait "$SMTPD_PID" 2>/dev/null; SMTPD_PID=; }

# signup_conf ENABLED CLIENT_HOURLY [EXTRA LINES for [signup]...]
signup_conf() {
	local enabled=$1 hourly=$2
	shift 2
	web_conf en "admin_token_file = $TOKEN_FILE"
	cat >>"$CONF" <<CONF

[smtp]
host = 127.0.0.1
port = $SPORT

[signup]
enabled = $enabled
client_hourly = $hourly
consent_text_en = $CONSENT_EN
consent_text_nb = $CONSENT_NB
CONF
	[ $# -gt 0 ] && printf '%s\n' "$@" >>"$CONF"
	# [list] from: the confirmation mail's sender.
	sed -i 's/^language = en$/language = en\nfrom = Kurs og Varer <news@example.org>/' "$CONF"
}

# mails_to ADDRESS: how many mails the SMTP server took for ADDRESS.
mails_to() {
	$PY - "$MAILDIR" "$1" <<'PY'
import json, os, sys
n = 0
try:
    for line in open(os.path.join(sys.argv[1], "log.jsonl")):
        n += sys.argv[2].lower() in [a.lower() for a in json.loads(line)["to"]]
except FileNotFoundError:
    pass
print(n)
PY
}
# wait_mail ADDRESS [N [SECONDS]]: until N mails (1) to ADDRESS are in.
wait_mail() {
	local want=${2:-1} t=${3:-15}
	for _ in $(seq $((t * 10))); do
		[ "$(mails_to "$1")" -ge "$want" ] && return 0
		sleep 0.1
	done
	return 1
}
# read_mail ADDRESS: the last mail to ADDRESS, parsed; JSON in $MAIL.
read_mail() {
	MAIL=$($PY - "$MAILDIR" "$1" <<'PY'
import email, json, os, re, sys
from email import policy
d, addr = sys.argv[1], sys.argv[2].lower()
last = None
if not os.path.exists(os.path.join(d, "log.jsonl")):
    print("{}")
    sys.exit(0)
for line in open(os.path.join(d, "log.jsonl")):
    e = json.loads(line)
    if addr in [a.lower() for a in e["to"]]:
        last = e["n"]
if last is None:
    print("{}")
    sys.exit(0)
m = email.message_from_bytes(open(os.path.join(d, "%d.eml" % last), "rb").read(), policy=policy.default)
text = m.get_body(("plain",))
html = m.get_body(("html",))
t = text.get_content() if text else ""
h = html.get_content() if html else ""
links = re.findall(r"https://news\.example\.org/c/([A-Za-z0-9_.-]+)", t)
hlinks = re.findall(r"https://news\.example\.org/c/([A-Za-z0-9_.-]+)", h)
print(json.dumps({
    "type": m.get_content_type(),
    "parts": sorted(p.get_content_type() for p in m.iter_parts()) if m.is_multipart() else [],
    "auto": str(m.get("Auto-Submitted", "")),
    "to": str(m.get("To", "")),
    "subject": str(m.get("Subject", "")),
    "token": links[0] if links else "",
    "html_token": hlinks[0] if hlinks else "",
    "tracking": bool(re.search(r"<img|utm_", h)),
}))
PY
)
}
mval() { printf '%s' "$MAIL" | jval "d.get('$1', '')"; }
