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
load(const char *text, struct config *cfg, char *err)
{
	FILE *fp;

	strcpy(path, "/tmp/newsletter-conf.XXXXXX");
	close(mkstemp(path));
	fp = fopen(path, "w");
	fputs(text, fp);
	fclose(fp);
	return config_load(cfg, path, true, err);
}

Test(config, defaults_without_a_file)
{
	struct config cfg;
	char err[ERR_LEN] = "";

	cr_assert_eq(config_load(&cfg, "/nonexistent/newsletter.conf", false, err), 0, "%s", err);
	cr_expect_str_eq(cfg.store.database, "newsletter.db");
	cr_expect_str_eq(cfg.store.key_file, "newsletter.key");
	cr_expect_eq(cfg.smtp.port, 25);
	cr_expect(cfg.bounce.require_verp);
	cr_expect_null(cfg.path);
	config_free(&cfg);
	cr_expect_eq(config_load(&cfg, "/nonexistent/newsletter.conf", true, err), -1);
	cr_expect(strstr(err, "/nonexistent/newsletter.conf") != NULL, "%s", err);
	config_free(&cfg);
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
		{"[list]\nbase_url = ftp://x\n", ":2: base_url: 'ftp://x' does not start with"},
		{"[web]\nlisten = 8080\n", ":2: listen: '8080' is not of the form ADDRESS:PORT"},
		{"[store]\ndatabase =\n", ":2: database: the value is empty"},
		{"[list]\nthis line has no equals sign\n", ":2: not a 'key = value' line"},
		{"[list\nname = x\n", ":1: not a 'key = value' line"},
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
