/*
 * lib/config.c - the INI configuration file, parsed by inih.
 *
 * Every section and key is known here, with the kind and the length of its
 * value; an unknown one, a key given twice or a bad value is an error that
 * names the file, the line and the key. Many values end up in mail headers
 * (From, List-Id, List-Unsubscribe, the VERP return path): what is checked
 * here is all that keeps a config line from adding an address or a link to
 * every message. Values are never logged (a password_file path is harmless,
 * but the rule is simpler without exceptions).
 */
#include "lib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * What a value must be. Every value is first UTF-8 text without control
 * characters and within its row's length; then its kind decides.
 */
enum ctype {
	C_STR,		/* text: a user name */
	C_PHRASE,	/* text that is a header's phrase: no " < > \ */
	C_PATH,		/* a file, relative to the config file's folder */
	C_INT,		/* a whole number from min to max */
	C_BOOL,
	C_TLS,
	C_LANG,
	C_URL,		/* absolute http(s) URL: host, port, path; no query */
	C_HOSTPORT,	/* ADDRESS:PORT to listen on */
	C_DOMAIN,	/* a mail domain (RFC 1035), lower-cased */
	C_HOST,		/* a host name (RFC 1123) or an IP address */
	C_LIST_ID,	/* RFC 2919: a dot-atom with at least one dot */
	C_MAILBOX,	/* From: "Name <addr>" or a bare addr-spec */
	C_SELECTOR,	/* DKIM selector: dot-separated labels */
};

/*
 * One row per key. Every row has its limit: len, the longest value in
 * bytes, checked before anything else and named with the value's length
 * when it is exceeded. For C_INT, min and max are its range.
 */
struct ckey {
	const char *section;
	const char *name;
	enum ctype type;
	size_t off;
	size_t len;
	int min, max;
};

/*
 * The longest value: what the README promises for names and paths. A line
 * may be longer, for the key, the spaces and a comment after the value.
 */
#define CONFIG_VALUE_MAX 1024
#define CONFIG_LINE_MAX 2048
/*
 * RFC 2919 allows 255 bytes, but GMime 3 writes a "<ID>" that does not fit
 * the 78 characters of a folded header line as RFC 2047 words, which no
 * reader takes for a List-Id: " <ID>" on a line of its own must fit.
 */
#define CONFIG_LIST_ID_MAX 75
/* Leaves room for /u/TOKEN in the 1024-byte URL of send and in a 998-byte
 * List-Unsubscribe line. */
#define CONFIG_URL_MAX 512
/* The domain of bounces+TOKEN@ and unsubscribe+TOKEN@: an RFC 5321 path
 * holds 254 bytes, of which a local part may take 64 and the '@' one. */
#define CONFIG_BOUNCE_DOMAIN_MAX (ADDR_MAX - ADDR_LOCAL_MAX - 1)
/* "[" IPv6 "]:65535" or a host name and a port */
#define CONFIG_HOSTPORT_MAX (ADDR_DOMAIN_MAX + 9)
/* A whole number or a word (true, opportunistic, en): room for leading
 * zeros and a sign, and an error message that quotes the whole value. */
#define CONFIG_WORD_MAX 32
/* Paths: what the README promises. The config file's folder put in front
 * of a relative one may make it longer; open() holds that to PATH_MAX. */
#define CONFIG_PATH_MAX CONFIG_VALUE_MAX
/* A consent text: what a line holds beside "consent_text_nb = ", and
 * within the store's CONSENT_TEXT_MAX (2000, store/store.h). */
#define CONFIG_CONSENT_MAX 1900

#define O(f) offsetof(struct config, f)
static const struct ckey config_keys[] = {
	{"store", "database", C_PATH, O(store.database), CONFIG_PATH_MAX, 0, 0},
	{"store", "key_file", C_PATH, O(store.key_file), CONFIG_PATH_MAX, 0, 0},
	{"list", "name", C_PHRASE, O(list.name), CONFIG_VALUE_MAX, 0, 0},
	{"list", "id", C_LIST_ID, O(list.id), CONFIG_LIST_ID_MAX, 0, 0},
	{"list", "from", C_MAILBOX, O(list.from), CONFIG_VALUE_MAX, 0, 0},
	{"list", "base_url", C_URL, O(list.base_url), CONFIG_URL_MAX, 0, 0},
	{"list", "language", C_LANG, O(list.language), CONFIG_WORD_MAX, 0, 0},
	{"list", "template", C_PATH, O(list.template), CONFIG_PATH_MAX, 0, 0},
	{"smtp", "host", C_HOST, O(smtp.host), ADDR_DOMAIN_MAX, 0, 0},
	{"smtp", "port", C_INT, O(smtp.port), CONFIG_WORD_MAX, 1, 65535},
	{"smtp", "tls", C_TLS, O(smtp.tls), CONFIG_WORD_MAX, 0, 0},
	{"smtp", "username", C_STR, O(smtp.username), CONFIG_VALUE_MAX, 0, 0},
	{"smtp", "password_file", C_PATH, O(smtp.password_file), CONFIG_PATH_MAX, 0, 0},
	{"smtp", "ca_file", C_PATH, O(smtp.ca_file), CONFIG_PATH_MAX, 0, 0},
	{"smtp", "connections", C_INT, O(smtp.connections), CONFIG_WORD_MAX, 1, 64},
	{"smtp", "rate", C_INT, O(smtp.rate), CONFIG_WORD_MAX, 0, 1000000},
	{"smtp", "helo", C_DOMAIN, O(smtp.helo), ADDR_DOMAIN_MAX, 0, 0},
	{"smtp", "timeout", C_INT, O(smtp.timeout), CONFIG_WORD_MAX, 1, 3600},
	{"bounce", "domain", C_DOMAIN, O(bounce.domain), CONFIG_BOUNCE_DOMAIN_MAX, 0, 0},
	{"bounce", "soft_threshold", C_INT, O(bounce.soft_threshold), CONFIG_WORD_MAX, 1, 1000},
	{"bounce", "soft_window_days", C_INT, O(bounce.soft_window_days), CONFIG_WORD_MAX, 1, 3650},
	{"bounce", "require_verp", C_BOOL, O(bounce.require_verp), CONFIG_WORD_MAX, 0, 0},
	{"bounce", "keep", C_PATH, O(bounce.keep), CONFIG_PATH_MAX, 0, 0},
	{"bounce", "keep_handled", C_BOOL, O(bounce.keep_handled), CONFIG_WORD_MAX, 0, 0},
	{"dkim", "domain", C_DOMAIN, O(dkim.domain), ADDR_DOMAIN_MAX, 0, 0},
	{"dkim", "selector", C_SELECTOR, O(dkim.selector), ADDR_DOMAIN_MAX, 0, 0},
	{"dkim", "key_file", C_PATH, O(dkim.key_file), CONFIG_PATH_MAX, 0, 0},
	{"web", "listen", C_HOSTPORT, O(web.listen), CONFIG_HOSTPORT_MAX, 0, 0},
	{"web", "admin_listen", C_HOSTPORT, O(web.admin_listen), CONFIG_HOSTPORT_MAX, 0, 0},
	{"web", "admin_token_file", C_PATH, O(web.admin_token_file), CONFIG_PATH_MAX, 0, 0},
	{"web", "timeout", C_INT, O(web.timeout), CONFIG_WORD_MAX, 1, 3600},
	{"web", "max_connections", C_INT, O(web.max_connections), CONFIG_WORD_MAX, 1, 100000},
	{"web", "request_timeout", C_INT, O(web.request_timeout), CONFIG_WORD_MAX, 1, 3600},
	{"web", "max_connections_per_client", C_INT, O(web.max_connections_per_client), CONFIG_WORD_MAX, 1, 100000},
	{"signup", "enabled", C_BOOL, O(signup.enabled), CONFIG_WORD_MAX, 0, 0},
	{"signup", "confirm_hours", C_INT, O(signup.confirm_hours), CONFIG_WORD_MAX, 1, 720},
	{"signup", "resend_hours", C_INT, O(signup.resend_hours), CONFIG_WORD_MAX, 0, 720},
	{"signup", "max_pending", C_INT, O(signup.max_pending), CONFIG_WORD_MAX, 1, 10000000},
	{"signup", "client_hourly", C_INT, O(signup.client_hourly), CONFIG_WORD_MAX, 1, 100000},
	{"signup", "consent_text_nb", C_STR, O(signup.consent_text_nb), CONFIG_CONSENT_MAX, 0, 0},
	{"signup", "consent_text_en", C_STR, O(signup.consent_text_en), CONFIG_CONSENT_MAX, 0, 0},
	{"retention", "months_without_purchase", C_INT,
	 O(retention.months_without_purchase), CONFIG_WORD_MAX, 0, 1200},
	{"retention", "audit_months", C_INT, O(retention.audit_months), CONFIG_WORD_MAX, 0, 1200},
	{"retention", "keep_days", C_INT, O(retention.keep_days), CONFIG_WORD_MAX, 1, 3650},
};
#undef O
#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

struct config_ctx {
	struct config *cfg;
	char *dir;		/* folder of the file, for relative paths */
	FILE *fp;
	int lines;		/* lines read so far: the handler's line */
	int err_line;		/* line of the handler's first error */
	int stop_line;		/* a line the reader refused, or 0 */
	int seen[CONFIG_NKEYS];	/* line of each key's value, 0: not yet */
	char err[ERR_LEN];	/* first error, without the file and line */
	char stop[ERR_LEN];	/* why the reader refused stop_line */
};

#define FIELD(cfg, k, T) ((T *)(void *)((char *)(cfg) + (k)->off))

/* Whether a key of kind @t holds a char * in struct config. */
static bool
keeps_text(enum ctype t)
{
	return t != C_INT && t != C_BOOL && t != C_TLS;
}

static void
set_str(char **slot, const char *value)
{
	free(*slot);
	*slot = value ? xstrdup(value) : NULL;
}

/*
 * The consent texts shown beside the signup button unless the config
 * gives its own: what the person receives, how often, and how to leave.
 * A changed text is a new version of the consent (the store keeps each).
 */
#define CONFIG_CONSENT_NB "Ja takk, send meg nyhetsbrevet, omtrent én gang i uka. " \
	"Hver utgave har en lenke nederst som melder meg av med ett klikk og sletter adressen min."
#define CONFIG_CONSENT_EN "Yes, send me the newsletter, about once a week. " \
	"Every issue has a link at the bottom that unsubscribes me in one click and deletes my address."

/* Where the database, the key file and kept bounces are by default. */
#define CONFIG_STATE_DIR "/var/lib/newsletter"

static void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	/* The state folder of the packaged units (ReadWritePaths), absolute
	 * wherever the config file is: the config's folder, /etc/newsletter,
	 * is read-only under their ProtectSystem=strict. */
	set_str(&cfg->store.database, CONFIG_STATE_DIR "/newsletter.db");
	set_str(&cfg->store.key_file, CONFIG_STATE_DIR "/newsletter.key");
	set_str(&cfg->list.name, "Newsletter");
	set_str(&cfg->list.id, "newsletter.example.org");
	set_str(&cfg->list.from, "Newsletter <newsletter@example.org>");
	set_str(&cfg->list.base_url, "http://127.0.0.1:8080");
	set_str(&cfg->list.language, "en");
	set_str(&cfg->smtp.host, "127.0.0.1");
	cfg->smtp.port = 25;
	cfg->smtp.tls = TLS_OFF;
	cfg->smtp.connections = 4;
	cfg->smtp.rate = 0;
	cfg->smtp.timeout = 60;
	set_str(&cfg->bounce.domain, "example.org");
	set_str(&cfg->bounce.keep, CONFIG_STATE_DIR "/keep");
	cfg->bounce.soft_threshold = 5;
	cfg->bounce.soft_window_days = 30;
	cfg->bounce.require_verp = true;
	set_str(&cfg->web.listen, "127.0.0.1:8080");
	set_str(&cfg->web.admin_listen, "127.0.0.1:8081");
	cfg->web.timeout = 15;
	cfg->web.max_connections = 1000;
	cfg->web.request_timeout = 10;
	cfg->web.max_connections_per_client = 32;
	cfg->signup.enabled = false;
	cfg->signup.confirm_hours = 72;
	cfg->signup.resend_hours = 24;
	cfg->signup.max_pending = 10000;
	cfg->signup.client_hourly = 10;
	set_str(&cfg->signup.consent_text_nb, CONFIG_CONSENT_NB);
	set_str(&cfg->signup.consent_text_en, CONFIG_CONSENT_EN);
	cfg->retention.months_without_purchase = 24;
	cfg->retention.audit_months = 36;
	cfg->retention.keep_days = 30;
}

static int
parse_int(const char *v, int min, int max, int *out, char *err)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0)
		return errf(err, "'%s' is not a whole number", v);
	if (n < min || n > max)
		return errf(err, "%ld is out of range (%d to %d)", n, min, max);
	*out = (int)n;
	return 0;
}

static int
parse_hostport(const char *v, char *err)
{
	const char *colon = strrchr(v, ':');
	int port;

	if (colon == NULL || colon == v)
		return errf(err, "'%s' is not of the form ADDRESS:PORT", v);
	return parse_int(colon + 1, 1, 65535, &port, err);
}

static bool
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 atext: what a dot-atom is made of. */
static bool
is_atext(unsigned char c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* How to name a character that is not allowed, for a message. */
static void
char_name(unsigned char c, char out[32])
{
	const char *name = c == ' ' ? "a space" : c >= 0x80 ? "a non-ASCII character" : NULL;

	if (name != NULL) {
		memcpy(out, name, strlen(name) + 1);	/* 22 bytes at most */
		return;
	}
	out[0] = '\'';
	out[1] = (char)c;
	out[2] = '\'';
	out[3] = '\0';
}

/*
 * Dot-separated labels of letters, digits and inner hyphens (RFC 1035,
 * RFC 1123), each of at most 63 bytes. @mail: at least two labels and a
 * last one that is not all digits, as addr.c asks of an address's domain.
 */
static int
check_labels(const char *v, bool mail, char *why)
{
	size_t label = 0, labels = 1;
	bool digits = true;
	char cname[32];

	for (const char *p = v;; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '.' || c == '\0') {
			if (label == 0)
				return errf(why, "%s", p == v && c == '\0' ? "the value is empty" :
					    "an empty label (a dot at the start or end, or two in a row)");
			if (p[-1] == '-')
				return errf(why, "a label ends with a hyphen");
			if (c == '\0')
				break;
			label = 0;
			labels++;
			digits = true;
			continue;
		}
		if (!is_alnum(c) && c != '-') {
			char_name(c, cname);
			return errf(why, "%s is not allowed (letters, digits, '-' and '.' only)", cname);
		}
		if (c == '-' && label == 0)
			return errf(why, "a label starts with a hyphen");
		if (c < '0' || c > '9')
			digits = false;
		if (++label > ADDR_LABEL_MAX)
			return errf(why, "a label is longer than %d bytes", ADDR_LABEL_MAX);
	}
	if (mail && labels < 2)
		return errf(why, "no dot: a full domain such as example.org is needed");
	if (mail && digits)
		return errf(why, "the last label is all digits");
	return 0;
}

/* A host to connect to: a host name, an IPv4 or a bare IPv6 address. */
static int
check_host(const char *v, char *why)
{
	struct in6_addr a6;

	if (strchr(v, ':') != NULL) {
		if (inet_pton(AF_INET6, v, &a6) != 1)
			return errf(why, "not a host name or IP address");
		return 0;
	}
	return check_labels(v, false, why);
}

/* RFC 2919 list-label "." list-id-namespace, both dot-atom text. */
static int
check_list_id(const char *v, char *why)
{
	char cname[32];
	bool dot = false;

	for (const char *p = v; *p; p++) {
		if (*p == '.') {
			if (p == v || p[1] == '\0' || p[1] == '.')
				return errf(why, "an empty part (a dot at the start or end, or two in a row)");
			dot = true;
		} else if (!is_atext((unsigned char)*p)) {
			char_name((unsigned char)*p, cname);
			return errf(why, "%s is not allowed: a List-Id is a dot-atom such as news.example.org (RFC 2919)", cname);
		}
	}
	if (!dot)
		return errf(why, "no dot: a List-Id is a dot-atom such as news.example.org (RFC 2919)");
	return 0;
}

/* The phrase of List-Id and the like: nothing that ends or quotes it. */
static int
check_phrase(const char *v, char *why)
{
	const char *bad = strpbrk(v, "\"<>\\");
	char cname[32];

	if (bad == NULL)
		return 0;
	char_name((unsigned char)*bad, cname);
	return errf(why, "%s is not allowed: the name is the phrase of a mail header", cname);
}

/*
 * The From header: "Display Name <addr>", "\"Quoted, Name\" <addr>",
 * "<addr>" or a bare addr-spec. The address is checked by addr.c; an
 * unquoted name may not hold RFC 5322 specials, which would make it a
 * second address or a group.
 */
static int
check_mailbox(const char *v, char *why)
{
	const char *lt = strchr(v, '<'), *gt = strchr(v, '>');
	char addr[ADDR_MAX + 1], norm[ADDR_MAX + 1], reason[ERR_LEN];
	const char *name_end, *p;
	char cname[32];
	size_t n;

	if (lt == NULL) {
		if (gt != NULL)
			return errf(why, "a '>' without a '<'");
		if (addr_normalize(v, norm, reason) < 0)
			return errf(why, "the address: %s", reason);
		return 0;
	}
	if (gt == NULL || gt < lt || gt[1] != '\0' || strchr(lt + 1, '<') != NULL ||
	    strchr(gt + 1, '>') != NULL)
		return errf(why, "not of the form Name <address>: one <address> must end the value");
	n = (size_t)(gt - lt - 1);
	if (n > ADDR_MAX)
		return errf(why, "the address is longer than %d bytes", ADDR_MAX);
	memcpy(addr, lt + 1, n);
	addr[n] = '\0';
	if (addr_normalize(addr, norm, reason) < 0)
		return errf(why, "the address: %s", reason);
	for (name_end = lt; name_end > v && (name_end[-1] == ' ' || name_end[-1] == '\t'); name_end--)
		;
	for (p = v; p < name_end && (*p == ' ' || *p == '\t'); p++)
		;
	if (p < name_end && *p == '"') {
		/* a quoted-string: escapes allowed, no bare quote inside */
		for (p++; p < name_end - 1; p++) {
			if (*p == '\\')
				p++;
			else if (*p == '"')
				return errf(why, "the quoted name has a '\"' inside; write it as \\\"");
		}
		if (p != name_end - 1 || name_end - 1 == v || *p != '"' || p[-1] == '\\')
			return errf(why, "the quoted name does not end with '\"' before the <address>");
		return 0;
	}
	for (; p < name_end; p++)
		if (strchr("\"(),:;<>@[\\]", *p) != NULL) {
			char_name((unsigned char)*p, cname);
			return errf(why, "%s is not allowed in a name unless it is quoted (\"...\")", cname);
		}
	return 0;
}

/*
 * [list] base_url: http:// or https://, a host (name, IPv4 or [IPv6]), an
 * optional port and an optional path, so that links come out as
 * BASE/u/TOKEN. No user, query or fragment, which would put the token
 * somewhere else; no percent-encoding, empty or dot segments, which the
 * server's path would not match. @v has no trailing '/'.
 */
static int
check_url(const char *v, char *why)
{
	const char *host, *end, *colon, *p;
	char buf[CONFIG_URL_MAX + 1], cname[32], reason[ERR_LEN];
	struct in6_addr a6;
	size_t n;

	if (strncmp(v, "https://", 8) == 0)
		host = v + 8;
	else if (strncmp(v, "http://", 7) == 0)
		host = v + 7;
	else
		return errf(why, "does not start with https:// or http://");
	if ((p = strpbrk(v, "?#")) != NULL)
		return errf(why, "a %s ('%c') is not allowed: links are BASE_URL/u/TOKEN",
			    *p == '?' ? "query" : "fragment", *p);
	end = host + strcspn(host, "/");
	if (memchr(host, '@', (size_t)(end - host)) != NULL)
		return errf(why, "a user name ('@') is not allowed");
	if (end == host)
		return errf(why, "the URL has no host");
	colon = NULL;
	if (*host == '[') {
		const char *rb = memchr(host, ']', (size_t)(end - host));

		n = rb ? (size_t)(rb - host - 1) : 0;
		if (rb == NULL || n >= sizeof(buf))
			return errf(why, "an IPv6 host has no closing ']'");
		memcpy(buf, host + 1, n);
		buf[n] = '\0';
		if (inet_pton(AF_INET6, buf, &a6) != 1)
			return errf(why, "the host in [...] is not an IPv6 address");
		if (rb + 1 != end && rb[1] != ':')
			return errf(why, "the host's ']' is not followed by a port or a path");
		if (rb + 1 != end)
			colon = rb + 1;
	} else {
		colon = memchr(host, ':', (size_t)(end - host));
		n = (size_t)((colon ? colon : end) - host);
		if (n == 0)
			return errf(why, "the URL has no host");
		if (n > ADDR_DOMAIN_MAX)
			return errf(why, "the host is longer than %d bytes", ADDR_DOMAIN_MAX);
		memcpy(buf, host, n);
		buf[n] = '\0';
		if (check_labels(buf, false, reason) < 0)
			return errf(why, "the host: %s", reason);
	}
	if (colon != NULL) {
		long port = 0;

		if (colon + 1 == end)
			return errf(why, "the port after ':' is empty");
		for (p = colon + 1; p < end; p++) {
			if (*p < '0' || *p > '9')
				return errf(why, "the port is not a number");
			if ((port = port * 10 + (*p - '0')) > 65535)
				break;
		}
		if (port < 1 || port > 65535)
			return errf(why, "the port is out of range (1 to 65535)");
	}
	/* the path: RFC 3986 pchar less '%', in non-empty segments */
	for (p = end; *p; p++) {
		if (*p == '/') {
			size_t seg = strcspn(p + 1, "/");

			if (seg == 0)
				return errf(why, "the path has an empty segment ('//')");
			if ((seg == 1 && p[1] == '.') || (seg == 2 && p[1] == '.' && p[2] == '.'))
				return errf(why, "the path has a '.' or '..' segment");
			continue;
		}
		if (!is_alnum((unsigned char)*p) && strchr("-._~!$&'()*+,;=:@", *p) == NULL) {
			char_name((unsigned char)*p, cname);
			return errf(why, "%s is not allowed in the path", cname);
		}
	}
	return 0;
}

static int
config_set(struct config_ctx *ctx, const struct ckey *k, const char *value)
{
	struct config *cfg = ctx->cfg;
	char *err = ctx->err, why[ERR_LEN];
	char **slot = keeps_text(k->type) ? FIELD(cfg, k, char *) : NULL;
	size_t len = strlen(value);
	int r = 0;

	if (len > k->len)
		return errf(err, "%s: the value is longer than %zu bytes (it has %zu)", k->name, k->len, len);
	/* Every value reaches a message, a page, a header or a path: text only. */
	if (text_check(value, k->len, "value", why) < 0)
		return errf(err, "%s: %s", k->name, why);
	if (*value == '\0' && k->type != C_PATH && strcmp(k->name, "username") != 0)
		return errf(err, "%s: the value is empty", k->name);
	switch (k->type) {
	case C_STR:
		set_str(slot, *value ? value : NULL);	/* empty: none */
		return 0;
	case C_PHRASE:
		if (check_phrase(value, why) < 0)
			return errf(err, "%s: %s", k->name, why);
		set_str(slot, value);
		return 0;
	case C_LIST_ID:
		r = check_list_id(value, why);
		break;
	case C_MAILBOX:
		r = check_mailbox(value, why);
		break;
	case C_HOST:
		r = check_host(value, why);
		break;
	case C_SELECTOR:
		r = check_labels(value, false, why);
		break;
	case C_DOMAIN:
		if ((r = check_labels(value, true, why)) == 0) {
			set_str(slot, value);
			for (char *p = *slot; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p = (char)(*p - 'A' + 'a');
			return 0;
		}
		break;
	case C_PATH:
		if (*value == '\0') {
			if (strcmp(k->section, "store") == 0)
				return errf(err, "%s: the value is empty", k->name);
			set_str(slot, NULL);
		} else if (value[0] == '/' || ctx->dir == NULL) {
			set_str(slot, value);
		} else {
			struct buf b;

			buf_init(&b);
			buf_printf(&b, "%s/%s", ctx->dir, value);
			free(*slot);
			*slot = b.s;
		}
		return 0;
	case C_INT:
		if (parse_int(value, k->min, k->max, FIELD(cfg, k, int), why) < 0)
			return errf(err, "%s: %s", k->name, why);
		return 0;
	case C_BOOL:
		if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "on") || !strcmp(value, "1"))
			*FIELD(cfg, k, bool) = true;
		else if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "off") || !strcmp(value, "0"))
			*FIELD(cfg, k, bool) = false;
		else
			return errf(err, "%s: '%s' is not true or false", k->name, value);
		return 0;
	case C_TLS:
		if (!strcmp(value, "off"))
			*FIELD(cfg, k, enum tls_mode) = TLS_OFF;
		else if (!strcmp(value, "opportunistic"))
			*FIELD(cfg, k, enum tls_mode) = TLS_OPPORTUNISTIC;
		else if (!strcmp(value, "required") || !strcmp(value, "starttls"))
			*FIELD(cfg, k, enum tls_mode) = TLS_REQUIRED;
		else
			return errf(err, "%s: '%s' is not one of off, opportunistic, required", k->name, value);
		return 0;
	case C_LANG:
		if (strcmp(value, "en") != 0 && strcmp(value, "nb") != 0)
			return errf(err, "%s: '%s' is not a supported language (en, nb)", k->name, value);
		set_str(slot, value);
		return 0;
	case C_URL: {
		char url[CONFIG_URL_MAX + 1];
		const char *sep = strstr(value, "://");
		size_t n = strlen(value), keep = sep ? (size_t)(sep - value) + 3 : 0;

		/* Trailing slashes of the path dropped: links are BASE_URL/u/TOKEN. */
		while (n > keep && value[n - 1] == '/')
			n--;
		if (n >= sizeof(url))	/* only if a row gave a URL more than CONFIG_URL_MAX */
			return errf(err, "%s: the value is longer than %d bytes (it has %zu)",
				    k->name, CONFIG_URL_MAX, n);
		memcpy(url, value, n);
		url[n] = '\0';
		if (check_url(url, why) < 0)
			return errf(err, "%s: %s", k->name, why);
		set_str(slot, url);
		return 0;
	}
	case C_HOSTPORT:
		if (parse_hostport(value, why) < 0)
			return errf(err, "%s: %s", k->name, why);
		set_str(slot, value);
		return 0;
	}
	if (r < 0)
		return errf(err, "%s: %s", k->name, why);
	set_str(slot, value);
	return 0;
}

static int
config_handler(void *user, const char *section, const char *name,
	       const char *value)
{
	struct config_ctx *ctx = user;
	bool section_known = false;

	if (ctx->err[0] != '\0')
		return 0;	/* report the first error only */
	ctx->err_line = ctx->lines;
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const struct ckey *k = &config_keys[i];

		if (strcmp(k->section, section) != 0)
			continue;
		section_known = true;
		if (strcmp(k->name, name) != 0)
			continue;
		/* A second value would win silently over the one a reader sees first. */
		if (ctx->seen[i] > 0) {
			errf(ctx->err, "%s: a second value for [%s] %s (the first is on line %d)",
			     name, section, name, ctx->seen[i]);
			return 0;
		}
		ctx->seen[i] = ctx->lines;
		return config_set(ctx, k, value) == 0;
	}
	if (*section == '\0')
		errf(ctx->err, "%s: a key before any [section]", name);
	else if (!section_known)
		errf(ctx->err, "%s: unknown section [%s]", name, section);
	else
		errf(ctx->err, "%s: unknown key in [%s]", name, section);
	return 0;
}

/*
 * fgets for inih that counts lines, so that errors can name theirs, and
 * holds them to CONFIG_LINE_MAX bytes (inih is given room for more, so a
 * longer line is never split in two). A NUL byte would cut a line short
 * unseen: it is refused too.
 */
static char *
config_reader(char *str, int num, void *stream)
{
	struct config_ctx *ctx = stream;
	size_t n = 0, len;
	int c = EOF;

	if (ctx->stop_line > 0)
		return NULL;
	while (n + 1 < (size_t)num && (c = getc(ctx->fp)) != EOF) {
		str[n++] = (char)c;
		if (c == '\n')
			break;
		if (c == '\0') {
			ctx->stop_line = ctx->lines + 1;
			errf(ctx->stop, "the line has a NUL byte");
			return NULL;
		}
	}
	if (n == 0) {
		if (ferror(ctx->fp)) {
			ctx->stop_line = ctx->lines + 1;
			errf(ctx->stop, "cannot read the line: %s", strerror(errno));
		}
		return NULL;
	}
	str[n] = '\0';
	ctx->lines++;
	len = n;
	if (len > 0 && str[len - 1] == '\n')
		len--;
	if (len > 0 && str[len - 1] == '\r')
		len--;
	if (len > CONFIG_LINE_MAX) {
		ctx->stop_line = ctx->lines;
		errf(ctx->stop, "the line is longer than %d bytes (a value may have %d)",
		     CONFIG_LINE_MAX, CONFIG_VALUE_MAX);
		return NULL;
	}
	return str;
}

/*
 * Debian's libinih takes its options from variables of the library, not
 * from macros at our build: the line buffer (200 bytes otherwise, too
 * short for the values the README promises) and whether an indented line
 * continues the value above it (no: a value would silently take the
 * second line's place). Always the same values; config_load runs before
 * any thread is started.
 */
static void
config_inih_options(void)
{
	ini_max_line = CONFIG_LINE_MAX + 3;	/* '\r', '\n' and NUL */
	ini_use_stack = true;
	ini_allow_multiline = false;
}

/* The DKIM key's DNS name, SELECTOR._domainkey.DOMAIN, must be a name. */
static int
config_check_dkim(const struct config *cfg, const struct config_ctx *ctx, char *err)
{
	static const char mid[] = "._domainkey.";
	size_t n;
	int line = 0;

	if (cfg->dkim.domain == NULL || cfg->dkim.selector == NULL)
		return 0;
	n = strlen(cfg->dkim.selector) + strlen(mid) - 1 + strlen(cfg->dkim.domain);
	if (n <= ADDR_DOMAIN_MAX)
		return 0;
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (config_keys[i].off == offsetof(struct config, dkim.selector))
			line = ctx->seen[i];
	return errf(err, "%s:%d: selector: SELECTOR._domainkey.DOMAIN is longer than %d bytes",
		    cfg->path, line, ADDR_DOMAIN_MAX);
}

int
config_load(struct config *cfg, const char *path, bool must_exist, char *err)
{
	struct config_ctx ctx = {.cfg = cfg};
	struct stat st;
	FILE *fp;
	int line;

	config_defaults(cfg);
	if (path == NULL)
		return 0;
	fp = fopen(path, "r");
	if (fp == NULL) {
		if (errno == ENOENT && !must_exist)
			return 0;
		return errf(err, "cannot read config file %s: %s", path, strerror(errno));
	}
	if (fstat(fileno(fp), &st) == 0 && !S_ISREG(st.st_mode)) {
		fclose(fp);
		return errf(err, "config file %s is not a regular file", path);
	}
	cfg->path = xstrdup(path);
	{
		const char *slash = strrchr(path, '/');

		ctx.dir = slash ? xstrndup(path, (size_t)(slash - path == 0 ? 1 : slash - path)) : NULL;
	}
	ctx.fp = fp;
	config_inih_options();
	line = ini_parse_stream(config_reader, &ctx, config_handler, &ctx);
	fclose(fp);
	free(ctx.dir);
	if (line == -2)
		fatal("out of memory reading %s", path);
	if (ctx.stop_line > 0 && (line == 0 || line > ctx.stop_line))
		return errf(err, "%s:%d: %s", path, ctx.stop_line, ctx.stop);
	if (line > 0) {
		/* inih's own syntax errors come without a message of ours */
		if (ctx.err[0] == '\0' || ctx.err_line != line)
			errf(ctx.err, "not a 'key = value' line or a [section]");
		return errf(err, "%s:%d: %s", path, line, ctx.err);
	}
	return config_check_dkim(cfg, &ctx, err);
}

/* The domain of [list] from, lower-cased (config_load has checked it). */
static void
from_domain(const char *from, char out[ADDR_DOMAIN_MAX + 1])
{
	const char *lt = strchr(from, '<'), *at;
	char addr[ADDR_MAX + 1], norm[ADDR_MAX + 1], why[ERR_LEN];
	size_t n = lt ? strcspn(lt + 1, ">") : strlen(from);

	out[0] = '\0';
	if (n > ADDR_MAX)
		return;
	memcpy(addr, lt ? lt + 1 : from, n);
	addr[n] = '\0';
	if (addr_normalize(addr, norm, why) == 0 && (at = strrchr(norm, '@')) != NULL &&
	    fmt(out, ADDR_DOMAIN_MAX + 1, "%s", at + 1) < 0)
		out[0] = '\0';
}

void
config_helo(const struct config *cfg, char out[ADDR_DOMAIN_MAX + 1])
{
	struct addrinfo hints = {.ai_flags = AI_CANONNAME, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	char host[ADDR_DOMAIN_MAX + 2], why[ERR_LEN];

	/* The key's limit is ADDR_DOMAIN_MAX: it fits. */
	if (cfg->smtp.helo && fmt(out, ADDR_DOMAIN_MAX + 1, "%s", cfg->smtp.helo) == 0)
		return;
	/* A name that is cut, or is not a full domain (no dot, "localhost",
	 * an address), is not one that a relay checking HELO would take. */
	if (gethostname(host, sizeof(host)) == 0 && memchr(host, '\0', sizeof(host)) != NULL &&
	    getaddrinfo(host, NULL, &hints, &ai) == 0 && ai->ai_canonname != NULL &&
	    fmt(out, ADDR_DOMAIN_MAX + 1, "%s", ai->ai_canonname) == 0 &&
	    check_labels(out, true, why) == 0) {
		freeaddrinfo(ai);
		for (char *p = out; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		return;
	}
	if (ai)
		freeaddrinfo(ai);
	from_domain(cfg->list.from, out);
}

void
config_free(struct config *cfg)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const struct ckey *k = &config_keys[i];

		if (keeps_text(k->type)) {
			free(*FIELD(cfg, k, char *));
			*FIELD(cfg, k, char *) = NULL;
		}
	}
	free(cfg->path);
	cfg->path = NULL;
}
