#!/usr/bin/env bash
# tests/e2e/nginx.sh - 'newsletter serve' behind nginx, with the server
# blocks of contrib/nginx-newsletter.conf as shipped: the test copies them
# and substitutes only the listen ports (on 127.0.0.1), the certificate's
# paths and serve's port (the diff is printed). A private nginx (Debian's
# nginx-light) with its own prefix, config, pid and logs in the scratch
# folder, stopped by pid. curl reaches news.example.no on the shipped ports
# 80 and 443 through --connect-to, so the redirect's https://$host/ URL is
# followed as a reader's client would.
#
# What it guards: a one-click POST (RFC 8058) sent to the http:// address
# still unsubscribes: the redirect to https keeps the method (308; a 301
# turns the POST into a GET, which changes nothing).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/web_lib.bash"
SITE=$(cd "$(dirname "$0")/../../contrib" && pwd)/nginx-newsletter.conf

for t in nginx curl openssl; do
	command -v "$t" >/dev/null && continue
	fail "$t is installed" "contrib/install-deps --test installs nginx-light, curl and openssl"
	finish
done

N=$SCRATCH/nginx
mkdir -p "$N"
# nginx's workers (nobody) reach their temporary folders in here.
chmod 755 "$SCRATCH"
HTTP=$(free_port)
HTTPS=$(free_port)
while [ "$HTTPS" = "$HTTP" ]; do HTTPS=$(free_port); done

self_signed "$N/privkey.pem" "$N/fullchain.pem" news.example.no DNS:news.example.no ||
	{ fail "openssl makes a certificate"; finish; }

# The shipped server blocks; the IPv6 listen lines go (loopback only).
sed -e "s|listen 80;|listen 127.0.0.1:$HTTP;|" \
	-e "s|listen 443 ssl|listen 127.0.0.1:$HTTPS ssl|" \
	-e '/listen \[::\]:/d' \
	-e "s|/etc/letsencrypt/live/news.example.no/|$N/|" \
	-e "s|proxy_pass http://127.0.0.1:8080;|proxy_pass http://127.0.0.1:$PORT;|" \
	"$SITE" >"$N/site.conf"
echo "# contrib/nginx-newsletter.conf as the test uses it (ports and paths changed):"
diff -u --label contrib/nginx-newsletter.conf --label test/site.conf "$SITE" "$N/site.conf" | sed 's/^/#   /'
cat >"$N/nginx.conf" <<CONF
worker_processes 1;
error_log $N/error.log;
events { worker_connections 64; }
http {
	access_log $N/access.log;
	client_body_temp_path $N/body;
	proxy_temp_path $N/proxy;
	fastcgi_temp_path $N/fastcgi;
	uwsgi_temp_path $N/uwsgi;
	scgi_temp_path $N/scgi;
	include $N/site.conf;
}
CONF

# Signup on; its mails go to a port where nothing listens (they wait).
web_conf en "" "[signup]" "enabled = true" "[smtp]" "host = 127.0.0.1" "port = $(free_port)"
nl init >/dev/null 2>&1 || { fail "init"; finish; }
for a in kari ola per; do nl enroll "$a@example.no" >/dev/null; done
start_server || finish

run_cmd nginx -t -q -p "$N" -e "$N/error.log" -c "$N/nginx.conf" -g "pid $N/nginx.pid;"
check "nginx -t accepts the shipped server blocks" test "$RC" = 0
[ "$RC" = 0 ] || printf '#   %s\n' "$ERR"
nginx -p "$N" -e "$N/error.log" -c "$N/nginx.conf" -g "daemon off; pid $N/nginx.pid;" &
track $!
for _ in $(seq 100); do
	curl -s -o /dev/null "http://127.0.0.1:$HTTP/" && break
	sleep 0.05
done

# via METHOD URL [CURL ARGS]: through nginx as news.example.no, the shipped
# ports mapped to the test's. A POST is made by --data alone, never -X POST
# (which would force POST after any redirect): curl then does what clients
# do, keeps POST over a 307/308 and turns it into a GET over a 301/302.
# Sets CODE, BODY and HDRS as web_lib's http() does (HDRS: every reply's).
via() {
	local m=$1 u=$2
	shift 2
	[ "$m" = POST ] && m= || m="-X $m"
	CODE=$(curl -s $m -D "$SCRATCH/.hdrs" -o "$SCRATCH/.body" -w '%{http_code}' \
		--cacert "$N/fullchain.pem" \
		--connect-to "news.example.no:80:127.0.0.1:$HTTP" \
		--connect-to "news.example.no:443:127.0.0.1:$HTTPS" "$@" "$u" 2>/dev/null)
	BODY=$(cat "$SCRATCH/.body" 2>/dev/null)
	HDRS=$(tr -d '\r' <"$SCRATCH/.hdrs" 2>/dev/null | sed 's/^\([^:]*\):/\L\1:/')
}

p=$(link_path kari@example.no)
via GET "http://news.example.no$p"
check "http://: a GET is redirected to the same path on https" \
	test "$(header location)" = "https://news.example.no$p"
check "http://: the redirect keeps the method (308), never a 301 or 302" test "$CODE" = 308
via GET "https://news.example.no$p"
expect_http 200 "" "https://: the unsubscribe page through nginx"
check "https://: Strict-Transport-Security is sent" test -n "$(header strict-transport-security)"

# The one-click POST as a mail client sends it, to the http:// address: curl
# follows a 308 with the same method and body (a 301 it follows as a GET).
p=$(link_path ola@example.no)
p_ola=$p
via POST "http://news.example.no$p" -L --data 'List-Unsubscribe=One-Click'
expect_http 200 "" "one-click POST to http://, redirected: 200"
check "one-click POST to http://: unsubscribed through the redirect" not_sub ola@example.no
check "kari, who sent nothing, is still subscribed" is_sub kari@example.no
check "per too, until the POST below" is_sub per@example.no

p=$(link_path per@example.no)
via POST "https://news.example.no$p" --data 'List-Unsubscribe=One-Click'
expect_http 200 "" "one-click POST to https://: 200"
check "one-click POST to https://: unsubscribed" not_sub per@example.no
# The signup form is passed on, and its POST answers through nginx.
via GET "https://news.example.no/subscribe"
expect_http 200 "" "https://: the signup form through nginx"
check "the signup form's page is serve's (it holds the form)" grep -q 'name="email"' "$SCRATCH/.body"
via POST "https://news.example.no/subscribe" --data 'email=new%40example.no'
expect_http 200 "" "https://: a signup POST through nginx"
via GET "https://news.example.no/c/AAAA"
check "/c/ is passed to serve: a forged token is its 400 page" test "$CODE" = 400
via GET "https://news.example.no/healthz"
check "/healthz is passed to serve" test "$CODE" = 200
via GET "https://news.example.no/other"
check "any other path: 404 from nginx" test "$CODE" = 404

# The path holds a token: neither server block writes it into a log.
check "no token in nginx's logs (http and https)" \
	bash -c '! grep -q -F "$1" "$2"/*.log' _ "${p#/u/}" "$N"
check "...nor the token of the redirected POST" \
	bash -c '! grep -q -F "$1" "$2"/*.log' _ "${p_ola#/u/}" "$N"
finish
