/*
 * mailer/issue.c - reads an issue file: a header block of "key: value"
 * lines that ends at the first blank line (or a block between "---"
 * lines, as front matter), then the Markdown body.
 *
 * Trusts nothing in the file: its size, every header line and the subject
 * are checked against named limits, and an unknown key is an error rather
 * than a silent typo ("subjet:"). Never changes the file.
 */
#include "mailer.h"

#include <ctype.h>
#include <errno.h>
#include <glib.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int
set_bool(const char *v, bool *out)
{
	static const struct { const char *word; bool value; } words[] = {
		{"true", true}, {"yes", true}, {"on", true}, {"1", true},
		{"false", false}, {"no", false}, {"off", false}, {"0", false},
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(v, words[i].word) == 0) {
			*out = words[i].value;
			return 0;
		}
	return -1;
}

/* One "key: value" line; 0, or -1 with the reason in @why. */
static int
header_line(struct issue *is, char *line, char *why)
{
	char *colon = strchr(line, ':'), *v, *end;

	if (colon == NULL)
		return errf(why, "expected \"key: value\" (the header block ends at the first blank line)");
	*colon = '\0';
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	for (char *k = line; *k; k++)
		*k = (char)tolower((unsigned char)*k);
	if (strcmp(line, "subject") == 0) {
		if (*v == '\0')
			return errf(why, "the subject is empty");
		if (text_check(v, ISSUE_SUBJECT_MAX, "subject", why) < 0)
			return -1;
		free(is->subject);
		is->subject = xstrdup(v);
	} else if (strcmp(line, "id") == 0) {
		if (*v == '\0' || strlen(v) > ISSUE_ID_MAX)
			return errf(why, "the id must be 1 to %d characters", ISSUE_ID_MAX);
		for (const char *p = v; *p; p++)
			if (!isalnum((unsigned char)*p) && !strchr("-_.:", *p))
				return errf(why, "the id may hold letters, digits and - _ . : only");
		free(is->ident);
		is->ident = xstrdup(v);
	} else if (strcmp(line, "preheader") == 0) {
		if (text_check(v, ISSUE_SUBJECT_MAX, "preheader", why) < 0)
			return -1;
		free(is->preheader);
		is->preheader = xstrdup(v);
	} else if (strcmp(line, "allow_html") == 0) {
		if (set_bool(v, &is->allow_html) < 0)
			return errf(why, "allow_html must be true or false");
	} else {
		return errf(why, "unknown key '%s' (known: subject, id, preheader, allow_html)", line);
	}
	return 0;
}

static char *
read_file(const char *path, size_t *len, char *err)
{
	FILE *fp = fopen(path, "rb");
	char *s;
	size_t n;

	if (fp == NULL) {
		errf(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	s = xmalloc(ISSUE_MAX + 2);
	n = fread(s, 1, ISSUE_MAX + 1, fp);
	if (ferror(fp)) {
		errf(err, "%s: %s", path, strerror(errno));
		fclose(fp);
		free(s);
		return NULL;
	}
	fclose(fp);
	if (n > ISSUE_MAX) {
		errf(err, "%s: larger than ISSUE_MAX (%d bytes)", path, ISSUE_MAX);
		free(s);
		return NULL;
	}
	s[n] = '\0';
	*len = n;
	return s;
}

int
mailer_issue_load(const char *path, struct issue *is, char *err)
{
	char why[ERR_LEN];
	size_t len = 0, pos = 0;
	bool fenced = false;
	int lineno = 0;
	char *s;

	memset(is, 0, sizeof(*is));
	if ((s = read_file(path, &len, err)) == NULL)
		return -1;
	if (strlen(s) != len || !g_utf8_validate(s, (gssize)len, NULL)) {
		errf(err, "%s: not UTF-8 text", path);
		goto fail;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch < 0x20 && ch != '\n' && ch != '\r' && ch != '\t') || ch == 0x7f) {
			errf(err, "%s: byte %zu is a control character", path, i);
			goto fail;
		}
	}
	if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		pos = 3;	/* a UTF-8 byte order mark */
	for (;;) {
		char *nl = strchr(s + pos, '\n'), *line = s + pos;
		size_t n;

		lineno++;
		if (nl == NULL) {
			errf(err, "%s:%d: the file ends in its header block: put a blank line before the text",
			     path, lineno);
			goto fail;
		}
		*nl = '\0';
		n = (size_t)(nl - line);
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		pos = (size_t)(nl - s) + 1;
		if (n > ISSUE_HEADER_LINE_MAX) {
			errf(err, "%s:%d: a header line longer than %d bytes", path, lineno,
			     ISSUE_HEADER_LINE_MAX);
			goto fail;
		}
		if (lineno == 1 && strcmp(line, "---") == 0) {
			fenced = true;
			continue;
		}
		if (fenced ? strcmp(line, "---") == 0 : n == 0)
			break;
		if (fenced && n == 0)
			continue;
		if (line[0] == '#') {
			if (fenced)
				continue;	/* a comment in front matter */
			errf(err, "%s:%d: the file must start with a header block (\"subject: ...\", then a blank line)",
			     path, lineno);
			goto fail;
		}
		if (header_line(is, line, why) < 0) {
			errf(err, "%s:%d: %s", path, lineno, why);
			goto fail;
		}
	}
	if (is->subject == NULL) {
		errf(err, "%s: the header block has no subject: line", path);
		goto fail;
	}
	while (s[pos] == '\n' || s[pos] == '\r')
		pos++;
	is->markdown = xstrdup(s + pos);
	if (is->preheader == NULL)
		is->preheader = xstrdup("");
	if (is->ident == NULL) {
		unsigned char h[crypto_generichash_BYTES];
		char hex[2 * 16 + 1];

		/* The whole file: a changed issue is another mailing. */
		crypto_generichash(h, sizeof(h), (const unsigned char *)s, len, NULL, 0);
		sodium_bin2hex(hex, sizeof(hex), h, 16);
		is->ident = xmalloc(sizeof(hex) + 8);
		memcpy(is->ident, "b2-", 3);
		memcpy(is->ident + 3, hex, sizeof(hex));
	}
	free(s);
	return 0;
fail:
	free(s);
	mailer_issue_free(is);
	return -1;
}

void
mailer_issue_free(struct issue *is)
{
	free(is->subject);
	free(is->ident);
	free(is->preheader);
	free(is->markdown);
	memset(is, 0, sizeof(*is));
}
