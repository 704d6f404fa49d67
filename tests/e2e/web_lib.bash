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
