/*
 * tests/unit/test_config.c - the INI file: defaults, every kind of value,
 * and errors that name file, line and key.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/lib.h"

static char path[64];

static int
load_bytes(const char *text, size_t n, struct config *cfg, char *err)
{
	FILE *fp;

	strcpy(path, "/tmp/newsletter-conf.XXXXXX");
	close(mkstemp(path));
	fp = fopen(path, "w");
	fwrite(text, 1, n, fp);
	fclose(fp);
	return config_load(cfg, path, true, err);
}

static int
load(const char *text, struct config *cfg, char *err)
{
	return load_bytes(text, strlen(text), cfg, err);
}

/* "[SECTION]\nKEY = " and @n bytes of @c: a file with one long value. */
static char *
long_value(const char *head, char c, size_t n)
{
	size_t h = strlen(head);
	char *s = malloc(h + n + 2);

	memcpy(s, head, h);
	memset(s + h, c, n);
	memcpy(s + h + n, "\n", 2);
	return s;
}

Test(config, defaults_without_a_file)
{
	struct config cfg;
	char err[ERR_LEN] = "";

	cr_assert_eq(config_load(&cfg, "/nonexistent/newsletter.conf", false, err), 0, "%s", err);
	/* The state folder of the packaged units (issue 14), not the current one. */
	cr_expect_str_eq(cfg.store.database, "/var/lib/newsletter/newsletter.db");
	cr_expect_str_eq(cfg.store.key_file, "/var/lib/newsletter/newsletter.key");
	cr_expect_str_eq(cfg.bounce.keep, "/var/lib/newsletter/keep");
	cr_expect_eq(cfg.smtp.port, 25);
	cr_expect(cfg.bounce.require_verp);
	cr_expect_null(cfg.path);
	config_free(&cfg);
	cr_expect_eq(config_load(&cfg, "/nonexistent/newsletter.conf", true, err), -1);
	cr_expect(strstr(err, "/nonexistent/newsletter.conf") != NULL, "%s", err);
	config_free(&cfg);
}

/* A file that sets no paths leaves the defaults where they are (they are
 * absolute: not beside the file, whose folder the units make read-only);
 * an empty keep means none. */
Test(config, default_paths_stay_absolute)
{
	struct config cfg;
	char err[ERR_LEN] = "";

	cr_assert_eq(load("[list]\nname = Only List\n", &cfg, err), 0, "%s", err);
	cr_expect_str_eq(cfg.store.database, "/var/lib/newsletter/newsletter.db");
	cr_expect_str_eq(cfg.store.key_file, "/var/lib/newsletter/newsletter.key");
	cr_expect_str_eq(cfg.bounce.keep, "/var/lib/newsletter/keep");
	config_free(&cfg);
	unlink(path);
	cr_assert_eq(load("[bounce]\nkeep =\n", &cfg, err), 0, "%s", err);
	cr_expect_null(cfg.bounce.keep);
	config_free(&cfg);
	unlink(path);
}

Test(config, values)
{
	struct config cfg;
	char err[ERR_LEN] = "";

	cr_assert_eq(load("; comment\n# another\n[store]\ndatabase = data/news.db\nkey_file=/etc/k\n"
			  "[list]\nname = Kursnytt\nbase_url = https://news.example.no/\nlanguage = nb\n"
			  "[smtp]\nport = 587\ntls = starttls\nconnections = 8\nrate=0\npassword_file=\n"
			  "[bounce]\nrequire_verp = no\nsoft_threshold = 3\n"
			  "[web]\nlisten = 127.0.0.1:9000\n[retention]\nmonths_without_purchase = 0\n",
			  &cfg, err), 0, "%s", err);
	cr_expect_str_eq(cfg.store.database, "/tmp/data/news.db");
	cr_expect_str_eq(cfg.store.key_file, "/etc/k");
	cr_expect_str_eq(cfg.list.name, "Kursnytt");
	cr_expect_str_eq(cfg.list.base_url, "https://news.example.no");
	cr_expect_str_eq(cfg.list.language, "nb");
	cr_expect_eq(cfg.smtp.port, 587);
	cr_expect_eq(cfg.smtp.tls, TLS_REQUIRED);
	cr_expect_eq(cfg.smtp.connections, 8);
	cr_expect_null(cfg.smtp.password_file);
	cr_expect(!cfg.bounce.require_verp);
	cr_expect_eq(cfg.bounce.soft_threshold, 3);
	cr_expect_eq(cfg.retention.months_without_purchase, 0);
	config_free(&cfg);
	unlink(path);
}

/* [signup]: off by default, the defaults, each limit refused. */
Test(config, signup)
{
	static const struct {
		const char *text, *want;	/* want NULL: accepted */
	} rows[] = {
		{"[signup]\nenabled = yes\nconfirm_hours = 1\nresend_hours = 0\nmax_pending = 5\n"
		 "client_hourly = 3\nconsent_text_en = Yes please.\n", NULL},
		{"[signup]\nconfirm_hours = 0\n", "confirm_hours: 0 is out of range (1 to 720)"},
		{"[signup]\nconfirm_hours = 721\n", "confirm_hours: 721 is out of range (1 to 720)"},
		{"[signup]\nresend_hours = -1\n", "resend_hours: -1 is out of range (0 to 720)"},
		{"[signup]\nmax_pending = 0\n", "max_pending: 0 is out of range"},
		{"[signup]\nclient_hourly = 0\n", "client_hourly: 0 is out of range"},
		{"[signup]\nenabled = maybe\n", "enabled: 'maybe' is not true or false"},
		{"[signup]\nconsent_text_nb =\n", "consent_text_nb: the value is empty"},
	};
	struct config cfg;
	char err[ERR_LEN] = "";

	cr_assert_eq(config_load(&cfg, NULL, false, err), 0);
	cr_expect(!cfg.signup.enabled);
	cr_expect_eq(cfg.signup.confirm_hours, 72);
	cr_expect_eq(cfg.signup.resend_hours, 24);
	cr_expect_eq(cfg.signup.max_pending, 10000);
	cr_expect_eq(cfg.signup.client_hourly, 10);
	cr_expect(strstr(cfg.signup.consent_text_en, "once a week") != NULL);
	cr_expect(strstr(cfg.signup.consent_text_en, "unsubscribe") != NULL);
	cr_expect(strstr(cfg.signup.consent_text_nb, "uka") != NULL);
	cr_expect(strstr(cfg.signup.consent_text_nb, "sletter") != NULL);
	config_free(&cfg);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int r = load(rows[i].text, &cfg, err);

		if (rows[i].want == NULL) {
			cr_expect_eq(r, 0, "row %zu: %s", i, err);
			cr_expect(cfg.signup.enabled);
			cr_expect_eq(cfg.signup.confirm_hours, 1);
			cr_expect_eq(cfg.signup.resend_hours, 0);
			cr_expect_eq(cfg.signup.max_pending, 5);
			cr_expect_eq(cfg.signup.client_hourly, 3);
			cr_expect_str_eq(cfg.signup.consent_text_en, "Yes please.");
		} else {
			cr_expect_eq(r, -1, "row %zu", i);
			cr_expect(strstr(err, rows[i].want) != NULL, "row %zu: %s", i, err);
		}
		config_free(&cfg);
		unlink(path);
	}
}

Test(config, errors_name_file_line_and_key)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{"[nosuch]\nkey = 1\n", ":2: key: unknown section [nosuch]"},
		{"[store]\ndatabse = x\n", ":2: databse: unknown key in [store]"},
		{"orphan = 1\n", ":1: orphan: a key before any [section]"},
		{"[smtp]\n\nport = abc\n", ":3: port: 'abc' is not a whole number"},
		{"[smtp]\nport = 70000\n", ":2: port: 70000 is out of range (1 to 65535)"},
		{"[smtp]\ntls = maybe\n", ":2: tls: 'maybe' is not one of off, opportunistic, required"},
		{"[bounce]\nrequire_verp = perhaps\n", ":2: require_verp: 'perhaps' is not true or false"},
		{"[list]\nlanguage = de\n", ":2: language: 'de' is not a supported language"},
		{"[list]\nbase_url = ftp://x\n", ":2: base_url: does not start with https:// or http://"},
		{"[web]\nlisten = 8080\n", ":2: listen: '8080' is not of the form ADDRESS:PORT"},
		{"[store]\ndatabase =\n", ":2: database: the value is empty"},
		{"[list]\nthis line has no equals sign\n", ":2: not a 'key = value' line"},
		{"[list\nname = x\n", ":1: not a 'key = value' line"},
		/* the attacks of issue #13: a value that would reach a header */
		{"[bounce]\ndomain = evil.org>, <mailto:x@evil.org\n",
		 ":2: domain: '>' is not allowed (letters, digits, '-' and '.' only)"},
		{"[bounce]\ndomain = a b\n", ":2: domain: a space is not allowed"},
		{"[list]\nbase_url = https://\n", ":2: base_url: the URL has no host"},
		{"[list]\nbase_url = https:///news\n", ":2: base_url: the URL has no host"},
		{"[list]\nbase_url = https://news.example.org/?q\n", ":2: base_url: a query ('?') is not allowed"},
		{"[list]\nbase_url = https://news.example.org/n#f\n", ":2: base_url: a fragment ('#') is not allowed"},
		{"[list]\nid = <x>\n", ":2: id: '<' is not allowed: a List-Id is a dot-atom"},
		{"[smtp]\nport = 25\n; again\nport = 26\n",
		 ":4: port: a second value for [smtp] port (the first is on line 2)"},
		/* domains */
		{"[bounce]\ndomain = example\n", ":2: domain: no dot"},
		{"[bounce]\ndomain = example..org\n", ":2: domain: an empty label"},
		{"[bounce]\ndomain = .example.org\n", ":2: domain: an empty label"},
		{"[bounce]\ndomain = example.org.\n", ":2: domain: an empty label"},
		{"[bounce]\ndomain = -x.example.org\n", ":2: domain: a label starts with a hyphen"},
		{"[bounce]\ndomain = x-.example.org\n", ":2: domain: a label ends with a hyphen"},
		{"[bounce]\ndomain = 10.0.0.1\n", ":2: domain: the last label is all digits"},
		{"[bounce]\ndomain = b\xc3\xa6r.no\n", ":2: domain: a non-ASCII character is not allowed"},
		{"[bounce]\ndomain = x@example.org\n", ":2: domain: '@' is not allowed"},
		{"[bounce]\ndomain = "
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org\n",
		 ":2: domain: a label is longer than 63 bytes"},
		{"[dkim]\ndomain = example.org/x\n", ":2: domain: '/' is not allowed"},
		/* hosts and selectors */
		{"[smtp]\nhost = mail.example.org:25\n", ":2: host: not a host name or IP address"},
		{"[smtp]\nhost = mail example.org\n", ":2: host: a space is not allowed"},
		{"[smtp]\nhost = \n", ":2: host: the value is empty"},
		{"[smtp]\nhelo = localhost\n", ":2: helo: no dot: a full domain"},
		{"[smtp]\nhelo = mail_out.example.org\n", ":2: helo: '_' is not allowed"},
		{"[smtp]\nhelo = 192.0.2.1\n", ":2: helo: the last label is all digits"},
		{"[smtp]\nhelo = \n", ":2: helo: the value is empty"},
		{"[dkim]\nselector = s_1\n", ":2: selector: '_' is not allowed"},
		{"[dkim]\nselector = s1.\n", ":2: selector: an empty label"},
		/* base URLs */
		{"[list]\nbase_url = https:news.example.org\n", ":2: base_url: does not start with"},
		{"[list]\nbase_url = https://user@news.example.org\n", ":2: base_url: a user name ('@') is not allowed"},
		{"[list]\nbase_url = https://news.example.org:\n", ":2: base_url: the port after ':' is empty"},
		{"[list]\nbase_url = https://news.example.org:0\n", ":2: base_url: the port is out of range"},
		{"[list]\nbase_url = https://news.example.org:99999999999\n", ":2: base_url: the port is out of range"},
		{"[list]\nbase_url = https://news.example.org:8a\n", ":2: base_url: the port is not a number"},
		{"[list]\nbase_url = https://[::1\n", ":2: base_url: an IPv6 host has no closing ']'"},
		{"[list]\nbase_url = https://[news]/\n", ":2: base_url: the host in [...] is not an IPv6 address"},
		{"[list]\nbase_url = https://news..example.org\n", ":2: base_url: the host: an empty label"},
		{"[list]\nbase_url = https://news.example.org/a//b\n", ":2: base_url: the path has an empty segment"},
		{"[list]\nbase_url = https://news.example.org/a/../b\n", ":2: base_url: the path has a '.' or '..' segment"},
		{"[list]\nbase_url = https://news.example.org/a%20b\n", ":2: base_url: '%' is not allowed in the path"},
		{"[list]\nbase_url = https://news.example.org/a\"b\n", ":2: base_url: '\"' is not allowed in the path"},
		{"[list]\nbase_url = https://news.example.org/a>\n", ":2: base_url: '>' is not allowed in the path"},
		/* list ids, names and From */
		{"[list]\nid = newsletter\n", ":2: id: no dot"},
		{"[list]\nid = news..example.org\n", ":2: id: an empty part"},
		{"[list]\nid = news example.org\n", ":2: id: a space is not allowed"},
		{"[list]\nname = Kurs <x@evil.org>\n", ":2: name: '<' is not allowed: the name is the phrase of a mail header"},
		{"[list]\nname = Kurs \"og\" Varer\n", ":2: name: '\"' is not allowed"},
		{"[list]\nfrom = News <news@example.org>, <x@evil.org>\n",
		 ":2: from: not of the form Name <address>"},
		{"[list]\nfrom = News, Evil <news@example.org>\n", ":2: from: ',' is not allowed in a name unless it is quoted"},
		{"[list]\nfrom = x@evil.org <news@example.org>\n", ":2: from: '@' is not allowed in a name unless it is quoted"},
		{"[list]\nfrom = \"News <news@example.org>\n", ":2: from: the quoted name does not end with"},
		{"[list]\nfrom = \"A\"B\" <news@example.org>\n", ":2: from: the quoted name has a '\"' inside"},
		{"[list]\nfrom = News <news@example>\n", ":2: from: the address: the domain has no dot"},
		{"[list]\nfrom = News <>\n", ":2: from: the address: the address is empty"},
		{"[list]\nfrom = news@example.org>\n", ":2: from: a '>' without a '<'"},
		{"[list]\nfrom = news\n", ":2: from: the address: "},
		/* the file itself */
		{"[list]\nname = Kurs\n  og Varer\n", ":3: not a 'key = value' line"},
		{"[list]\nname = \xff\n", ":2: name: the value is not valid UTF-8"},
		{"[dkim]\ndomain = example.org\nselector = "
		 "s123456789012345678901234567890123456789012345678901234567890.s123456789012345678901234567890123456789012345678901234567890."
		 "s123456789012345678901234567890123456789012345678901234567890.s1234567890123456789012345678901234567890123456789\n",
		 ":3: selector: SELECTOR._domainkey.DOMAIN is longer than 253 bytes"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config cfg;
		char err[ERR_LEN] = "";

		cr_expect_eq(load(bad[i].text, &cfg, err), -1, "case %zu accepted", i);
		cr_expect(strstr(err, path) == err, "case %zu: no file name in '%s'", i, err);
		cr_expect(strstr(err, bad[i].want) != NULL, "case %zu: wanted '%s' in '%s'", i, bad[i].want, err);
		config_free(&cfg);
		unlink(path);
	}
}

Test(config, values_by_kind)
{
	struct config cfg;
	char err[ERR_LEN] = "";

	cr_assert_eq(load("[list]\nid = kurs.news.example.no\nfrom = \"Kurs, og Varer\" <News@Example.NO>\n"
			  "  name = Kurs & Varer (Ålesund)\nbase_url = https://[::1]:8443/news/\n"
			  "[smtp]\nhost = ::1\n[bounce]\ndomain = Bounce.Example.ORG\n"
			  "[dkim]\ndomain = example.org\nselector = s1.2026\n[web]\nlisten = [::1]:8080\n",
			  &cfg, err), 0, "%s", err);
	cr_expect_str_eq(cfg.list.id, "kurs.news.example.no");
	cr_expect_str_eq(cfg.list.from, "\"Kurs, og Varer\" <News@Example.NO>");
	cr_expect_str_eq(cfg.list.name, "Kurs & Varer (Ålesund)", "an indented key is a key of its own");
	cr_expect_str_eq(cfg.list.base_url, "https://[::1]:8443/news");
	cr_expect_str_eq(cfg.smtp.host, "::1");
	cr_expect_str_eq(cfg.bounce.domain, "bounce.example.org");
	cr_expect_str_eq(cfg.dkim.selector, "s1.2026");
	config_free(&cfg);
	unlink(path);

	static const char *good[] = {
		"[list]\nfrom = news@example.org\n",
		"[list]\nfrom = <news@example.org>\n",
		"[list]\nfrom = J. Doe <news@example.org>\n",
		"[list]\nfrom = \"A \\\"B\\\" C\" <news@example.org>\n",
		"[list]\nbase_url = http://127.0.0.1\n",
		"[list]\nbase_url = https://news.example.org:443/a/b-c_d~e/\n",
		"[smtp]\nhost = localhost\n",
		"[smtp]\nhost = 192.0.2.1\n",
		"[list]\nid = a+b.example.org\n",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cr_expect_eq(load(good[i], &cfg, err), 0, "good case %zu: %s", i, err);
		config_free(&cfg);
		unlink(path);
	}
}

/*
 * The EHLO name: [smtp] helo, lower-cased; without it a name with a dot,
 * the machine's full name when it has one, else the domain of [list] from.
 */
Test(config, helo)
{
	struct config cfg;
	char err[ERR_LEN] = "", helo[ADDR_DOMAIN_MAX + 1], host[256] = "";

	cr_assert_eq(load("[smtp]\nhelo = Relay-Out.Example.NET\n", &cfg, err), 0, "%s", err);
	cr_expect_str_eq(cfg.smtp.helo, "relay-out.example.net");
	config_helo(&cfg, helo);
	cr_expect_str_eq(helo, "relay-out.example.net");
	config_free(&cfg);
	unlink(path);

	cr_assert_eq(load("[list]\nfrom = \"Kurs\" <News@Kurs.Example.NO>\n", &cfg, err), 0, "%s", err);
	cr_expect_null(cfg.smtp.helo);
	config_helo(&cfg, helo);
	(void)gethostname(host, sizeof(host) - 1);
	cr_expect(strchr(helo, '.') != NULL, "'%s' has no dot", helo);
	cr_expect(strcmp(helo, host) != 0 || strchr(host, '.') != NULL,
		  "'%s' is the bare host name", helo);
	/* The machine's full name is machine-specific; without one, the from
	 * domain. tests/e2e/send.sh checks which against Python's view. */
	if (strchr(host, '.') == NULL && strstr(helo, host) != helo)
		cr_expect_str_eq(helo, "kurs.example.no");
	config_free(&cfg);
	unlink(path);
}

/* The README's lengths: a value of 1024 bytes, a line of 2048. */
Test(config, lengths)
{
	static const struct {
		const char *head;
		char c;
		size_t n;
		const char *want;	/* NULL: accepted */
	} rows[] = {
		{"[list]\nname = ", 'N', 1024, NULL},
		{"[list]\nname = ", 'N', 1025, ":2: name: the value is longer than 1024 bytes"},
		{"[signup]\nconsent_text_en = ", 'c', 1900, NULL},
		{"[signup]\nconsent_text_en = ", 'c', 1901, ":2: consent_text_en: the value is longer than 1900 bytes"},
		{"[store]\ndatabase = ", 'd', 1024, NULL},
		{"[store]\ndatabase = ", 'd', 1025, ":2: database: the value is longer than 1024 bytes"},
		{"[list]\nname = ", ' ', 2040, ":2: name: the value is empty"},	/* a 2047-byte line */
		{"[list]\nname = ", ' ', 2042, ":2: the line is longer than 2048 bytes (a value may have 1024)"},
		{"[list]\nid = a.", 'i', 73, NULL},
		{"[list]\nid = a.", 'i', 74, ":2: id: the value is longer than 75 bytes"},
		{"[list]\nbase_url = https://x.org/", 'p', 512 - 14, NULL},
		{"[list]\nbase_url = https://x.org/", 'p', 512 - 13, ":2: base_url: the value is longer than 512 bytes"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct config cfg;
		char err[ERR_LEN] = "";
		char *text = long_value(rows[i].head, rows[i].c, rows[i].n);
		int r = load(text, &cfg, err);

		if (rows[i].want == NULL) {
			cr_expect_eq(r, 0, "row %zu: %s", i, err);
		} else {
			cr_expect_eq(r, -1, "row %zu accepted", i);
			cr_expect(strstr(err, rows[i].want) != NULL, "row %zu: wanted '%s' in '%s'", i, rows[i].want, err);
		}
		if (r == 0 && rows[i].c == 'N')
			cr_expect_eq(strlen(cfg.list.name), rows[i].n, "row %zu: the value is taken whole", i);
		config_free(&cfg);
		unlink(path);
		free(text);
	}
}

/* How limits_by_kind makes a value of a given length. */
enum shape {
	FILL,		/* n times the row's character */
	NUMBER,		/* leading zeros and 25 */
	DOTTED,		/* labels of 63 letters and dots: a domain, a host, a selector */
	LIST_ID,	/* "a." and letters */
	MAILBOX,	/* a name and " <a@example.org>" */
	URL,		/* "https://x.org/" and a path */
	HOSTPORT,	/* a host and ":65535" */
};

/* "HEAD" and a value of exactly @n bytes of @shape, and a newline. */
static char *
shaped_value(const char *head, enum shape shape, char c, size_t n)
{
	static const char *const tail[] = {
		[NUMBER] = "25", [MAILBOX] = " <a@example.org>", [HOSTPORT] = ":65535",
	};
	size_t h = strlen(head), t;
	char *s = malloc(h + n + 2), *v = s + h;

	memcpy(s, head, h);
	switch (shape) {
	case FILL:
		memset(v, c, n);
		break;
	case NUMBER:
	case MAILBOX:
	case HOSTPORT:
		t = strlen(tail[shape]);
		memset(v, shape == NUMBER ? '0' : c, n - t);
		memcpy(v + n - t, tail[shape], t);
		break;
	case DOTTED:
		for (size_t i = 0; i < n; i++)
			v[i] = i % 64 == 63 ? '.' : 'a';
		if (v[n - 1] == '.') {	/* an empty last label: make it "a" */
			v[n - 2] = '.';
			v[n - 1] = 'a';
		}
		break;
	case LIST_ID:
		memset(v, 'i', n);
		memcpy(v, "a.", 2);
		break;
	case URL:
		memset(v, 'p', n);
		memcpy(v, "https://x.org/", 14);
		break;
	}
	memcpy(v + n, "\n", 2);
	return s;
}

/*
 * Every kind of key has its length limit: a value of the limit is taken
 * (or, for the words of true/false, tls and language, gets past the length
 * to its kind's own check), one byte more is refused naming the key, the
 * limit and the value's length.
 */
Test(config, limits_by_kind)
{
	static const struct {
		const char *head, *key;
		enum shape shape;
		char c;
		size_t max;
		const char *at_max;	/* NULL: the longest value is accepted */
	} rows[] = {
		{"[smtp]\nusername = ", "username", FILL, 'u', 1024, NULL},		/* C_STR */
		{"[list]\nname = ", "name", FILL, 'N', 1024, NULL},			/* C_PHRASE */
		{"[store]\nkey_file = ", "key_file", FILL, 'k', 1024, NULL},		/* C_PATH */
		{"[smtp]\nport = ", "port", NUMBER, 0, 32, NULL},			/* C_INT */
		{"[bounce]\nrequire_verp = ", "require_verp", FILL, 'x', 32,		/* C_BOOL */
		 "is not true or false"},
		{"[smtp]\ntls = ", "tls", FILL, 'x', 32, "is not one of off"},		/* C_TLS */
		{"[list]\nlanguage = ", "language", FILL, 'x', 32,			/* C_LANG */
		 "is not a supported language"},
		{"[list]\nbase_url = ", "base_url", URL, 0, 512, NULL},			/* C_URL */
		{"[web]\nlisten = ", "listen", HOSTPORT, 'h', 262, NULL},		/* C_HOSTPORT */
		{"[web]\nadmin_listen = ", "admin_listen", HOSTPORT, 'h', 262, NULL},
		{"[bounce]\ndomain = ", "domain", DOTTED, 0, 189, NULL},		/* C_DOMAIN */
		{"[dkim]\ndomain = ", "domain", DOTTED, 0, 253, NULL},
		{"[smtp]\nhost = ", "host", DOTTED, 0, 253, NULL},			/* C_HOST */
		{"[smtp]\nhelo = ", "helo", DOTTED, 0, 253, NULL},
		{"[list]\nid = ", "id", LIST_ID, 0, 75, NULL},				/* C_LIST_ID */
		{"[list]\nfrom = ", "from", MAILBOX, 'N', 1024, NULL},			/* C_MAILBOX */
		{"[dkim]\nselector = ", "selector", DOTTED, 0, 253, NULL},		/* C_SELECTOR */
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		for (size_t n = rows[i].max; n <= rows[i].max + 1; n++) {
			struct config cfg;
			char err[ERR_LEN] = "", want[ERR_LEN];
			char *text = shaped_value(rows[i].head, rows[i].shape, rows[i].c, n);
			int r = load(text, &cfg, err);

			if (n > rows[i].max) {
				cr_assert_eq(fmt(want, sizeof(want), ":2: %s: the value is longer than %zu bytes (it has %zu)",
						 rows[i].key, rows[i].max, n), 0);
				cr_expect_eq(r, -1, "%s of %zu bytes accepted", rows[i].key, n);
				cr_expect(strstr(err, want) != NULL, "%s: wanted '%s' in '%s'", rows[i].key, want, err);
			} else if (rows[i].at_max == NULL) {
				cr_expect_eq(r, 0, "%s of %zu bytes: %s", rows[i].key, n, err);
			} else {
				cr_expect_eq(r, -1, "%s of %zu bytes accepted", rows[i].key, n);
				cr_expect(strstr(err, rows[i].at_max) != NULL && strstr(err, "longer") == NULL,
					  "%s of %zu bytes: wanted '%s' in '%s'", rows[i].key, n, rows[i].at_max, err);
			}
			config_free(&cfg);
			unlink(path);
			free(text);
		}
	}
}

/* A message cut to ERR_LEN says so: it ends in "..." at a character's start. */
Test(config, a_cut_message_ends_in_dots)
{
	char err[ERR_LEN], big[2 * ERR_LEN];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_expect_eq(errf(err, "short %d", 1), -1);
	cr_expect_str_eq(err, "short 1");
	errf(err, "%s", big);
	cr_expect_eq(strlen(err), ERR_LEN - 1);
	cr_expect_str_eq(err + ERR_LEN - 4, "...");
	/* 'x', then two-byte characters: the cut never leaves half of one */
	for (size_t i = 1; i + 1 < sizeof(big); i += 2)
		memcpy(big + i, "\xc3\xa6", 2);
	errf(err, "%s", big);
	cr_expect_eq(strlen(err) % 2, 0, "half a character before the dots: %zu bytes", strlen(err));
	cr_expect_str_eq(err + strlen(err) - 3, "...");
	cr_expect_geq(strlen(err), ERR_LEN - 5);
}

Test(config, a_nul_byte_is_refused)
{
	static const char text[] = "[list]\nname = Kurs\0 og Varer\n";
	struct config cfg;
	char err[ERR_LEN] = "";

	cr_expect_eq(load_bytes(text, sizeof(text) - 1, &cfg, err), -1);
	cr_expect(strstr(err, ":2: the line has a NUL byte") != NULL, "%s", err);
	config_free(&cfg);
	unlink(path);
}
