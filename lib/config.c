/*
 * lib/config.c - the INI configuration file, parsed by inih.
 *
 * Every section and key is known here; an unknown one or a bad value is an
 * error that names the file, the line and the key. Values are never logged
 * (a password_file path is harmless, but the rule is simpler without
 * exceptions).
 */
#include "lib.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct config_ctx {
	struct config *cfg;
	char *dir;		/* folder of the file, for relative paths */
	FILE *fp;
	int lines;		/* lines read so far: the handler's line */
	int err_line;		/* line of the handler's first error */
	int long_line;		/* a line too long for inih, or 0 */
	int max_line;
	char err[ERR_LEN];	/* first error, without the file and line */
};

enum ctype { C_STR, C_PATH, C_INT, C_BOOL, C_TLS, C_LANG, C_URL, C_HOSTPORT };

struct ckey {
	const char *section;
	const char *name;
	enum ctype type;
	size_t off;
	int min, max;
};

#define O(f) offsetof(struct config, f)
#define CONFIG_STR_MAX 1024	/* bytes of a name or host */
static const struct ckey config_keys[] = {
	{"store", "database", C_PATH, O(store.database), 0, 0},
	{"store", "key_file", C_PATH, O(store.key_file), 0, 0},
	{"list", "name", C_STR, O(list.name), 0, 0},
	{"list", "id", C_STR, O(list.id), 0, 0},
	{"list", "from", C_STR, O(list.from), 0, 0},
	{"list", "base_url", C_URL, O(list.base_url), 0, 0},
	{"list", "language", C_LANG, O(list.language), 0, 0},
	{"list", "template", C_PATH, O(list.template), 0, 0},
	{"smtp", "host", C_STR, O(smtp.host), 0, 0},
	{"smtp", "port", C_INT, O(smtp.port), 1, 65535},
	{"smtp", "tls", C_TLS, O(smtp.tls), 0, 0},
	{"smtp", "username", C_STR, O(smtp.username), 0, 0},
	{"smtp", "password_file", C_PATH, O(smtp.password_file), 0, 0},
	{"smtp", "ca_file", C_PATH, O(smtp.ca_file), 0, 0},
	{"smtp", "connections", C_INT, O(smtp.connections), 1, 64},
	{"smtp", "rate", C_INT, O(smtp.rate), 0, 1000000},
	{"bounce", "domain", C_STR, O(bounce.domain), 0, 0},
	{"bounce", "soft_threshold", C_INT, O(bounce.soft_threshold), 1, 1000},
	{"bounce", "soft_window_days", C_INT, O(bounce.soft_window_days), 1, 3650},
	{"bounce", "require_verp", C_BOOL, O(bounce.require_verp), 0, 0},
	{"bounce", "keep", C_PATH, O(bounce.keep), 0, 0},
	{"bounce", "keep_handled", C_BOOL, O(bounce.keep_handled), 0, 0},
	{"dkim", "domain", C_STR, O(dkim.domain), 0, 0},
	{"dkim", "selector", C_STR, O(dkim.selector), 0, 0},
	{"dkim", "key_file", C_PATH, O(dkim.key_file), 0, 0},
	{"web", "listen", C_HOSTPORT, O(web.listen), 0, 0},
	{"web", "admin_listen", C_HOSTPORT, O(web.admin_listen), 0, 0},
	{"web", "admin_token_file", C_PATH, O(web.admin_token_file), 0, 0},
	{"web", "timeout", C_INT, O(web.timeout), 1, 3600},
	{"web", "max_connections", C_INT, O(web.max_connections), 1, 100000},
	{"retention", "months_without_purchase", C_INT,
	 O(retention.months_without_purchase), 0, 1200},
	{"retention", "audit_months", C_INT, O(retention.audit_months), 0, 1200},
	{"retention", "keep_days", C_INT, O(retention.keep_days), 1, 3650},
};
#undef O

#define FIELD(cfg, k, T) ((T *)(void *)((char *)(cfg) + (k)->off))

static void
set_str(char **slot, const char *value)
{
	free(*slot);
	*slot = value ? xstrdup(value) : NULL;
}

static void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	set_str(&cfg->store.database, "newsletter.db");
	set_str(&cfg->store.key_file, "newsletter.key");
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
	set_str(&cfg->bounce.domain, "example.org");
	cfg->bounce.soft_threshold = 5;
	cfg->bounce.soft_window_days = 30;
	cfg->bounce.require_verp = true;
	set_str(&cfg->web.listen, "127.0.0.1:8080");
	set_str(&cfg->web.admin_listen, "127.0.0.1:8081");
	cfg->web.timeout = 15;
	cfg->web.max_connections = 1000;
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

static int
config_set(struct config_ctx *ctx, const struct ckey *k, const char *value)
{
	struct config *cfg = ctx->cfg;
	char *err = ctx->err, why[ERR_LEN];

	switch (k->type) {
	case C_STR:
		if (*value == '\0' && strcmp(k->name, "username") != 0)
			return errf(err, "%s: the value is empty", k->name);
		/* Names reach pages and mail headers: text only. */
		if (text_check(value, CONFIG_STR_MAX, "value", why) < 0)
			return errf(err, "%s: %s", k->name, why);
		set_str(FIELD(cfg, k, char *), *value ? value : NULL);	/* empty: none */
		return 0;
	case C_PATH:
		if (*value == '\0') {
			if (strcmp(k->section, "store") == 0)
				return errf(err, "%s: the value is empty", k->name);
			set_str(FIELD(cfg, k, char *), NULL);
		} else if (value[0] == '/' || ctx->dir == NULL) {
			set_str(FIELD(cfg, k, char *), value);
		} else {
			struct buf b;

			buf_init(&b);
			buf_printf(&b, "%s/%s", ctx->dir, value);
			free(*FIELD(cfg, k, char *));
			*FIELD(cfg, k, char *) = b.s;
		}
		return 0;
	case C_INT:
		if (parse_int(value, k->min, k->max, FIELD(cfg, k, int), err) < 0) {
			snprintf(why, sizeof(why), "%s", err);
			return errf(err, "%s: %s", k->name, why);
		}
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
		set_str(FIELD(cfg, k, char *), value);
		return 0;
	case C_URL: {
		size_t n = strlen(value);

		if (strncmp(value, "https://", 8) != 0 && strncmp(value, "http://", 7) != 0)
			return errf(err, "%s: '%s' does not start with https:// or http://", k->name, value);
		if (strpbrk(value, " \t\"<>") != NULL)
			return errf(err, "%s: the URL has a space, quote or angle bracket", k->name);
		set_str(FIELD(cfg, k, char *), value);
		while (n > 0 && (*FIELD(cfg, k, char *))[n - 1] == '/')
			(*FIELD(cfg, k, char *))[--n] = '\0';
		return 0;
	}
	case C_HOSTPORT:
		if (parse_hostport(value, err) < 0) {
			snprintf(why, sizeof(why), "%s", err);
			return errf(err, "%s: %s", k->name, why);
		}
		set_str(FIELD(cfg, k, char *), value);
		return 0;
	}
	return errf(err, "%s: internal error", k->name);
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
	for (size_t i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++) {
		const struct ckey *k = &config_keys[i];

		if (strcmp(k->section, section) != 0)
			continue;
		section_known = true;
		if (strcmp(k->name, name) == 0)
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

/* fgets for inih that counts lines, so that errors can name theirs. */
static char *
config_reader(char *str, int num, void *stream)
{
	struct config_ctx *ctx = stream;
	char *r = fgets(str, num, ctx->fp);

	if (r == NULL)
		return NULL;
	ctx->lines++;
	if (strchr(r, '\n') == NULL && !feof(ctx->fp)) {
		/* inih would take the rest as another line: refuse, naming it */
		ctx->long_line = ctx->lines;
		ctx->max_line = num - 2;
		return NULL;
	}
	return r;
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
	/* Default paths, like those in the file, are relative to its folder. */
	if (ctx.dir != NULL) {
		char **paths[] = {&cfg->store.database, &cfg->store.key_file};

		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
			struct buf b;

			buf_init(&b);
			buf_printf(&b, "%s/%s", ctx.dir, *paths[i]);
			free(*paths[i]);
			*paths[i] = b.s;
		}
	}
	line = ini_parse_stream(config_reader, &ctx, config_handler, &ctx);
	fclose(fp);
	free(ctx.dir);
	if (line == -2)
		fatal("out of memory reading %s", path);
	if (ctx.long_line > 0 && (line == 0 || line > ctx.long_line))
		return errf(err, "%s:%d: the line is longer than %d bytes", path,
			    ctx.long_line, ctx.max_line);
	if (line > 0) {
		/* inih's own syntax errors come without a message of ours */
		if (ctx.err[0] == '\0' || ctx.err_line != line)
			snprintf(ctx.err, sizeof(ctx.err), "not a 'key = value' line or a [section]");
		return errf(err, "%s:%d: %s", path, line, ctx.err);
	}
	return 0;
}

void
config_free(struct config *cfg)
{
	for (size_t i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++) {
		const struct ckey *k = &config_keys[i];

		if (k->type == C_STR || k->type == C_PATH || k->type == C_LANG ||
		    k->type == C_URL || k->type == C_HOSTPORT) {
			free(*FIELD(cfg, k, char *));
			*FIELD(cfg, k, char *) = NULL;
		}
	}
	free(cfg->path);
	cfg->path = NULL;
}
