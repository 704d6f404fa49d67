# tests/e2e/postfix_lib.bash - a private Postfix instance on 127.0.0.1 for
# the tests that send through Debian's Postfix (postfix.sh, postfix_slow.sh):
# its config, queue, data and Maildirs under the scratch folder; the
# system's /etc/postfix only read, and its state kept to be compared at
# the end. Sourced after lib.sh (not a test: tests/run runs only *.sh).
#
#   pf_require TOOL...   the tools, root and PIPE_USER, or a failure
#   pf_prepare           PF and its folders; ETC_BEFORE
#   pf_main_cf           the main.cf lines every instance has (to stdout)
#   pf_master_services   the master.cf services after its smtpd lines
#   pf_start             'postfix check' is clean, then start; MASTER_PID
#   pf_stop              stop (the master by pid if it lingers: returns 1)
#   wait_for S CMD...    CMD polled until it succeeds, at most S seconds
#   delivered            how many messages are in the Maildirs

PIPE_USER=${PIPE_USER:-nobody}
MASTER_PID=

pf_require() {
	local t
	for t; do
		command -v "$t" >/dev/null && continue
		fail "$t is installed" "contrib/install-deps --test installs it"
		finish
	done
	if [ "$(id -u)" != 0 ]; then
		fail "runs as root" "Postfix's master starts as root (make check runs as root)"
		finish
	fi
	PIPE_UID=$(id -u "$PIPE_USER" 2>/dev/null) && PIPE_GID=$(id -g "$PIPE_USER") ||
		{ fail "the user $PIPE_USER exists" "set PIPE_USER to an unprivileged user"; finish; }
}

# What the system's Postfix configuration is: compared at the end.
etc_state() {
	find /etc/postfix -printf '%p %m %u %g %s\n' 2>/dev/null | sort
	find /etc/postfix -type f -exec sha256sum {} + 2>/dev/null | sort
}

# The pipe's user and Postfix's own must reach into the scratch folder.
pf_prepare() {
	ETC_BEFORE=$(etc_state)
	PF=$SCRATCH/postfix
	chmod 755 "$SCRATCH"
	mkdir -p "$PF/etc" "$PF/queue" "$PF/data" "$PF/vmail"
	chown postfix "$PF/data"
	chown "$PIPE_UID:$PIPE_GID" "$PF/vmail"
}

# Listens on 127.0.0.1 only, relays for it, logs to the scratch folder,
# and delivers the virtual domain example.no (texthash:$PF/etc/vmailbox)
# to Maildirs owned by PIPE_USER.
pf_main_cf() {
	cat <<CF
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.example.org
mydomain = example.org
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
virtual_mailbox_domains = example.no
virtual_mailbox_base = $PF/vmail
virtual_mailbox_maps = texthash:$PF/etc/vmailbox
virtual_uid_maps = static:$PIPE_UID
virtual_gid_maps = static:$PIPE_GID
CF
}

# Postfix's own services (master.cf after the instance's smtpd listeners).
pf_master_services() {
	cat <<'CF'
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
virtual   unix  - n n - - virtual
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
CF
}

pf_log() { tail -n "${1:-15}" "$PF/maillog" 2>/dev/null | sed 's/^/#   /'; }

# 'postfix check' prints nothing and succeeds (checked as NAME), then the
# instance starts, or the test ends there.
pf_start() {
	run_cmd postfix -c "$PF/etc" check
	check "$1" test "$RC" = 0 -a -z "$OUT$ERR"
	[ -z "$OUT$ERR" ] || printf '%s\n%s\n' "$OUT" "$ERR" | sed '/^$/d; s/^/#   /'
	if postfix -c "$PF/etc" start >/dev/null 2>&1; then pass "the private Postfix starts"; else
		fail "the private Postfix starts"
		pf_log
		finish
	fi
	MASTER_PID=$(tr -d ' ' <"$PF/queue/pid/master.pid" 2>/dev/null)
}

# Stops the instance (also on failure): 'postfix stop', then the master by
# pid if it lingers (and returns 1); then lib.sh's cleanup removes the folder.
pf_stop() {
	[ -d "${PF:-}/etc" ] || return 0
	postfix -c "$PF/etc" stop >/dev/null 2>&1
	[ -n "$MASTER_PID" ] || return 0
	for _ in $(seq 50); do kill -0 "$MASTER_PID" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$MASTER_PID" 2>/dev/null
	return 1
}

wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -ge "$end" ] && return 1
		sleep 0.5
	done
}

delivered() { find "$PF/vmail" -path '*/new/*' -type f 2>/dev/null | wc -l; }
