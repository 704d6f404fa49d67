#!/usr/bin/env bash
# tests/e2e/package.sh - the Debian package, built, checked and installed
# as README's "Deploy on Debian" says.
#
# Builds it with 'make deb' (or reuses build/deb/ when no file of the tree
# is newer), runs lintian (an error or a warning not overridden in debian/
# fails), checks the .deb's contents and Depends against the libraries the
# binary links, then makes a throw-away Debian 12 root with debootstrap
# (--variant=minbase, from Debian's mirror: $DEBIAN_MIRROR) and runs the
# README's steps there one by one: apt-get installs the .deb and resolves
# its Depends, then init, import, a dry-run send, the units enabled. In that
# root it checks the user, the folders and their modes, the conffile, runs
# 'systemd-analyze verify' and 'security' over the installed units and
# 'newsletter serve' as the newsletter user, then purges the package.
#
# This machine's system is never changed: every command in the root runs
# in a private mount namespace (unshare) where /proc is mounted for it
# alone, so nothing stays mounted when a command ends or is killed; the
# root lives in the scratch folder, removed at exit. Needs root (chroot,
# debootstrap), as make check runs. A missing tool is a failure.
. "$(dirname "$0")/lib.sh"

TOP=$(cd "$(dirname "$0")/../.." && pwd)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOT=$SCRATCH/root
README=$TOP/README.md

# Nothing should be mounted in the scratch folder (the mounts live in
# private namespaces); if anything is, it is unmounted before the removal.
pkg_cleanup() {
	local m
	m=$(findmnt -rn -o TARGET | grep -F "$SCRATCH/" || true)
	if [ -n "$m" ]; then
		echo "# unmounting what is left: $m"
		printf '%s\n' "$m" | sort -r | while read -r t; do umount -l "$t"; done
	fi
	cleanup
}
trap pkg_cleanup EXIT

missing=
for t in dpkg-buildpackage dh lintian dpkg-deb dpkg-parsechangelog systemd-analyze \
	debootstrap unshare chroot findmnt git readelf curl; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
if [ -n "$missing" ]; then
	fail "the package tools are installed" "missing:$missing" \
		"run 'contrib/install-deps --test' as root (make check does)"
	finish
fi
if [ "$(id -u)" -ne 0 ]; then
	fail "runs as root" "debootstrap and chroot need root; make check runs as root"
	finish
fi

# in_root CMD...: runs CMD in the root, with /proc mounted in a private
# mount namespace that ends with it.
# shellcheck disable=SC2016 # expanded by that sh
IN_ROOT_SH='r=$1; shift; mount -t proc proc "$r/proc" && exec chroot "$r" "$@"'
in_root() {
	unshare --mount --propagation private -- /bin/sh -c "$IN_ROOT_SH" in_root "$ROOT" "$@"
}

# last N TEXT: the end of TEXT (${TEXT: -N} would be empty when shorter).
last() { printf '%s' "$2" | tail -c "$1"; }

# The README's "Deploy on Debian" commands: the first sh block of that
# section, before its sub-sections ("Mail: Postfix" is tests/e2e/postfix.sh's),
# one command a line, comments and blank lines left out.
steps=$(awk '/^## Deploy on Debian/ { s = 1; next }
	s && /^##+ / { exit }
	s && /^```sh/ { b = 1; next }
	b && /^```/ { exit }
	b && !/^[[:space:]]*(#|$)/ { print }' "$README")
check "README's Deploy on Debian has its commands" test -n "$steps"

cd "$TOP" || exit 1
VERSION=$(dpkg-parsechangelog -S Version)
ARCH=$(dpkg --print-architecture)
DEB=build/deb/newsletter_${VERSION}_$ARCH.deb
CHANGES=build/deb/newsletter_${VERSION}_$ARCH.changes

# --- the host half of the steps: Build-Depends, make deb ---------------------
while IFS= read -r line; do
	case $line in
	"apt-get build-dep"*)
		# install-deps --test has put every Build-Depends here: the step,
		# simulated, has nothing left to install.
		run_cmd sh -c "${line/ -y / -s }"
		if [ "$RC" -eq 0 ] && printf '%s\n' "$OUT" | grep -q ' 0 newly installed'; then
			pass "README: $line (Build-Depends installed by install-deps --test)"
		else
			fail "README: $line (Build-Depends installed by install-deps --test)" \
				"exit $RC" "$(printf '%s\n' "$OUT" "$ERR" | grep -E 'newly installed|^E:|NEW packages' -A2 | head -5)"
		fi
		;;
	"make deb"*)
		# A package built within this run (newer than every file of the
		# tree) is reused; else it is built now.
		newer=
		if [ -f "$DEB" ] && [ -f "$CHANGES" ]; then
			# shellcheck disable=SC2016 # expanded by that sh
			newer=$(git ls-files -z --cached --others --exclude-standard |
				xargs -0 -r sh -c 'find "$@" -newer "$0" -print' "$DEB" 2>/dev/null | head -1)
		fi
		if [ -f "$DEB" ] && [ -f "$CHANGES" ] && [ -z "$newer" ]; then
			pass "README: $line (build/deb is newer than the tree: reused)"
		else
			start=$SECONDS
			run_cmd make deb
			if [ "$RC" -eq 0 ] && [ -f "$DEB" ]; then
				pass "README: $line ($((SECONDS - start)) s)"
			else
				fail "README: $line" "exit $RC" "$(last 1500 "$OUT")" "$(last 1500 "$ERR")"
				finish
			fi
		fi
		;;
	esac
done <<<"$steps"
if [ ! -f "$DEB" ]; then
	fail "the package is built" "$DEB is missing"
	finish
fi

# --- lintian ------------------------------------------------------------------
run_cmd lintian -I --pedantic "$CHANGES"
lint=$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -v -e 'running with root privileges' -e '^$')
printf '%s\n' "${lint:-(nothing to report)}" | sed 's/^/#   lintian: /'
bad=$(printf '%s\n' "$lint" | grep -E '^[EW]: ')
if [ -z "$bad" ] && [ "$RC" -eq 0 ]; then
	pass "lintian: no error and no warning that debian/ does not justify"
else
	fail "lintian: no error and no warning that debian/ does not justify" "exit $RC" "$bad"
fi

# --- contents -----------------------------------------------------------------
contents=$(dpkg-deb -c "$DEB")
has() {	# MODE PATH: the .deb holds PATH with the mode string MODE
	printf '%s\n' "$contents" | awk -v m="$1" -v p="./$2" '$1 == m && $6 == p { f = 1 } END { exit !f }'
}
check "the .deb holds /usr/bin/newsletter (0755)" has -rwxr-xr-x usr/bin/newsletter
check "the .deb holds /usr/libexec/newsletter/newsletter-net (0755), which send and serve run" \
	has -rwxr-xr-x usr/libexec/newsletter/newsletter-net
check "the .deb holds the man page" has -rw-r--r-- usr/share/man/man1/newsletter.1.gz
check "the .deb holds /etc/newsletter/newsletter.conf (0640)" has -rw-r----- etc/newsletter/newsletter.conf
check "the .deb holds the sysusers.d file" has -rw-r--r-- usr/lib/sysusers.d/newsletter.conf
check "the .deb holds the tmpfiles.d file" has -rw-r--r-- usr/lib/tmpfiles.d/newsletter.conf
check "the .deb holds the Postfix examples" has -rw-r--r-- usr/share/doc/newsletter/examples/postfix/master.cf
UNITS="newsletter-serve.service newsletter-send.service newsletter-send.timer
newsletter-retention.service newsletter-retention.timer newsletter-bounce.service
newsletter-bounce.path newsletter-bounce.timer"
for u in $UNITS; do
	check "the .deb holds the unit $u" has -rw-r--r-- "lib/systemd/system/$u"
done
conffiles=$(dpkg-deb -I "$DEB" conffiles)
check "conffiles lists /etc/newsletter/newsletter.conf" \
	test "$conffiles" = /etc/newsletter/newsletter.conf

# Depends names the package of every library either binary links (NEEDED).
X=$SCRATCH/x
mkdir -p "$X" && dpkg-deb -x "$DEB" "$X"
depends=$(dpkg-deb -f "$DEB" Depends)
echo "#   Depends: $depends"
nodep=
for so in $(readelf -d "$X/usr/bin/newsletter" "$X/usr/libexec/newsletter/newsletter-net" |
	sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u); do
	path=$(ldconfig -p | awk -v s="$so" '$1 == s && /x86-64|64bit|AArch64/ { print $NF; exit }')
	[ -n "$path" ] || path=$(ldconfig -p | awk -v s="$so" '$1 == s { print $NF; exit }')
	pkg=$(dpkg -S "$(realpath "$path")" 2>/dev/null | head -1 | cut -d: -f1)
	[ -z "$pkg" ] && pkg=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
	case ", $depends," in *", $pkg "* | *", $pkg,"*) ;; *) nodep="$nodep $so($pkg)" ;; esac
done
check "Depends names the package of every NEEDED library of both binaries" test -z "$nodep"
[ -n "$nodep" ] && echo "#   not in Depends:$nodep"

# --- a throw-away Debian 12 root ----------------------------------------------
start=$SECONDS
run_cmd debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR"
if [ "$RC" -ne 0 ]; then
	fail "debootstrap --variant=minbase bookworm (from $MIRROR)" "exit $RC" "$(last 800 "$ERR")" \
		"$(tail -5 "$ROOT/debootstrap/debootstrap.log" 2>/dev/null)"
	finish
fi
pass "debootstrap --variant=minbase bookworm ($((SECONDS - start)) s)"
mkdir -p "$ROOT/root/src/build/deb"
cp "$DEB" "$ROOT/root/src/build/deb/"
printf 'email,name,order,date\n' >"$ROOT/root/src/purchases.csv"
for i in 1 2 3; do
	printf 'reader%d@example.org,Reader %d,A-%d,2026-11-0%d\n' "$i" "$i" "$i" "$i" >>"$ROOT/root/src/purchases.csv"
done

# In the root, 'editor' is this test's edit of the conffile, and systemctl
# drops --now (no systemd runs there to start anything).
# shellcheck disable=SC2016 # expanded in the root
PRELUDE='set -e
editor() { sed -i "s|^base_url = .*|base_url = https://news.example.org|" "$1"; }
systemctl() { local a=() x; for x in "$@"; do [ "$x" = --now ] || a+=("$x"); done; command systemctl "${a[@]}"; }
export DEBIAN_FRONTEND=noninteractive
cd /root/src'

after_install() {
	local e
	check "the system user newsletter exists, with no login shell" \
		in_root sh -c 'getent passwd newsletter | grep -q ":/var/lib/newsletter:/usr/sbin/nologin$"'
	e=$(in_root stat -c '%a %U:%G' /var/lib/newsletter /var/lib/newsletter/keep \
		/var/lib/newsletter/issues /var/lib/newsletter/bounces/new /etc/newsletter/newsletter.conf | tr '\n' ' ')
	check "/var/lib/newsletter 0750, keep/ 0700, issues/ 0750, bounces/new 0700 (newsletter), conffile 0640 root:newsletter" \
		test "$e" = "750 newsletter:newsletter 700 newsletter:newsletter 750 newsletter:newsletter 700 newsletter:newsletter 640 root:newsletter "
	[ "$e" = "750 newsletter:newsletter 700 newsletter:newsletter 750 newsletter:newsletter 700 newsletter:newsletter 640 root:newsletter " ] ||
		echo "#   got: $e"
	check "the conffile is the example configuration" \
		cmp -s "$ROOT/etc/newsletter/newsletter.conf" "$TOP/contrib/newsletter.conf.example"
	check "the conffile keeps the database and the key in /var/lib/newsletter" \
		grep -Eq '^(database = /var/lib/newsletter/newsletter\.db|key_file = /var/lib/newsletter/newsletter\.key)$' \
		"$ROOT/etc/newsletter/newsletter.conf"
	e=$(find "$ROOT/etc/systemd/system" -name 'newsletter-*' 2>/dev/null)
	check "installing enabled no newsletter unit" test -z "$e"
}

while IFS= read -r line; do
	case $line in "apt-get build-dep"* | "make deb"*) continue ;; esac
	run_cmd in_root /bin/bash -c "$PRELUDE
$line"
	if [ "$RC" -eq 0 ]; then pass "README: $line"; else
		fail "README: $line" "exit $RC" "$(last 800 "$OUT")" "$(last 800 "$ERR")"
	fi
	case $line in "apt-get install"*) after_install ;; esac
done <<<"$steps"

# --- after the steps ----------------------------------------------------------
e=$(in_root stat -c '%a %U' /var/lib/newsletter/newsletter.db /var/lib/newsletter/newsletter.key 2>&1 | tr '\n' ' ')
check "init made the database and the key in /var/lib/newsletter, 0600 newsletter" \
	test "$e" = "600 newsletter 600 newsletter "
[ "$e" = "600 newsletter 600 newsletter " ] || echo "#   got: $e"
run_cmd in_root runuser -u newsletter -- newsletter --config /etc/newsletter/newsletter.conf stats --json
n=$(printf '%s' "$OUT" | jval 'd["subscribers"]["active"]' 2>/dev/null)
check "the newsletter user reads the 3 imported subscribers (stats --json)" test "$n" = 3
check "README's steps enabled newsletter-serve.service" \
	test -L "$ROOT/etc/systemd/system/multi-user.target.wants/newsletter-serve.service"
for u in newsletter-send.timer newsletter-retention.timer; do
	check "README's steps enabled $u" test -L "$ROOT/etc/systemd/system/timers.target.wants/$u"
done
# (-L, not -e: the links point to absolute paths inside the root.)
no_link() { [ ! -L "$1" ]; }
check "newsletter-bounce.path stays disabled" no_link "$ROOT/etc/systemd/system/paths.target.wants/newsletter-bounce.path"
check "newsletter-bounce.timer stays disabled" no_link "$ROOT/etc/systemd/system/timers.target.wants/newsletter-bounce.timer"

# The installed units: systemd's own check (the ExecStart binary exists and
# is executable, every directive is known) and its security rating. No man
# check: minbase has no man-db (the page is checked above and by lintian).
run_cmd in_root sh -c 'systemd-analyze verify --man=no /lib/systemd/system/newsletter-*'
if [ "$RC" -eq 0 ] && [ -z "$ERR$OUT" ]; then
	pass "systemd-analyze verify: every installed unit"
else
	fail "systemd-analyze verify: every installed unit" "exit $RC" "$OUT" "$ERR"
fi
for u in newsletter-serve.service newsletter-send.service newsletter-retention.service newsletter-bounce.service; do
	run_cmd in_root systemd-analyze security --offline=yes --threshold=20 "/lib/systemd/system/$u"
	level=$(printf '%s\n' "$OUT" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	if [ "$RC" -eq 0 ] && [ -n "$level" ]; then
		pass "systemd-analyze security: $u exposure $level (at most 2.0)"
	else
		fail "systemd-analyze security: $u exposure at most 2.0" "exit $RC, level ${level:-?}" \
			"$(printf '%s\n' "$OUT" | grep '✗' | head -20)"
	fi
done

# newsletter serve, as the unit runs it (user, conffile), answers.
port=$(free_port)
# unshare itself in the background (its pid is the server's: sh and chroot
# exec), so that cleanup's kill reaches it.
unshare --mount --propagation private -- /bin/sh -c "$IN_ROOT_SH" in_root "$ROOT" \
	runuser -u newsletter -- newsletter --config /etc/newsletter/newsletter.conf \
	serve --listen "127.0.0.1:$port" 2>"$SCRATCH/serve.log" &
serve_pid=$!
track $serve_pid
code=000
for _ in $(seq 50); do
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz") && [ "$code" = 200 ] && break
	sleep 0.1
done
check "newsletter serve, as the newsletter user with the conffile, answers /healthz" test "$code" = 200
[ "$code" = 200 ] || echo "#   $(tail -3 "$SCRATCH/serve.log")"
kill "$serve_pid" 2>/dev/null
wait "$serve_pid" 2>/dev/null

# Purging the package removes the conffile and leaves the data and the
# user, as the README says.
run_cmd in_root apt-get purge -y -q newsletter
check "apt-get purge newsletter succeeds" test "$RC" -eq 0
[ "$RC" -eq 0 ] || echo "#   $(last 600 "$ERR")"
check "purging removes /etc/newsletter/newsletter.conf" test ! -e "$ROOT/etc/newsletter/newsletter.conf"
check "purging leaves the database, the key and the user" \
	in_root sh -c 'test -f /var/lib/newsletter/newsletter.db && test -f /var/lib/newsletter/newsletter.key && getent passwd newsletter >/dev/null'

finish
