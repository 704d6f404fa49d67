/*
 * lib/csv.c - RFC 4180 records (quoted fields, doubled quotes, CRLF or LF)
 * read from a stream against CSV_MAX_RECORD and CSV_MAX_FIELDS.
 *
 * A bad record is reported with its reason and skipped to the end of its
 * line, so that a caller can list every bad line of a file in one pass.
 * Blank lines are skipped; a UTF-8 byte order mark at the start is ignored.
 */
#include "lib.h"

#include <stdlib.h>
#include <string.h>

#define CSV_CHUNK 65536

struct csv {
	FILE *fp;
	unsigned char in[CSV_CHUNK];
	size_t pos, len;
	bool eof;
	long line;		/* current line */
	long rec_line;		/* line where the last record started */
	long long offset;
	char rec[CSV_MAX_RECORD + 1];
	char *fields[CSV_MAX_FIELDS];
};

struct csv *
csv_open(FILE *fp)
{
	struct csv *c = xcalloc(1, sizeof(*c));

	c->fp = fp;
	c->line = 1;
	return c;
}

void
csv_close(struct csv *c)
{
	free(c);
}

bool
csv_error(const struct csv *c)
{
	return ferror(c->fp) != 0;
}

long
csv_line(const struct csv *c)
{
	return c->rec_line;
}

long long
csv_offset(const struct csv *c)
{
	return c->offset;
}

/* Next byte, or -1 at end of input. */
static int
csv_getc(struct csv *c)
{
	while (c->pos == c->len) {
		bool first = c->offset == 0 && c->len == 0;

		if (c->eof)
			return -1;
		c->len = fread(c->in, 1, sizeof(c->in), c->fp);
		c->pos = 0;
		if (c->len == 0) {
			c->eof = true;
			return -1;
		}
		if (first && c->len >= 3 && memcmp(c->in, "\xef\xbb\xbf", 3) == 0)
			c->pos = 3;	/* a byte order mark: the buffer may now be empty */
	}
	c->offset++;
	return c->in[c->pos++];
}

static int
csv_peek(struct csv *c)
{
	int ch = csv_getc(c);

	if (ch >= 0) {
		c->pos--;
		c->offset--;
	}
	return ch;
}

static void
skip_line(struct csv *c)
{
	int ch;

	while ((ch = csv_getc(c)) >= 0)
		if (ch == '\n') {
			c->line++;
			return;
		}
}

int
csv_next(struct csv *c, char ***fields, char *err)
{
	size_t n;
	int nf, ch;
	bool quoted, was_quoted;

again:
	n = 0;
	nf = 0;
	c->rec_line = c->line;
	ch = csv_peek(c);
	if (ch < 0)
		return 0;
	if (ch == '\n' || ch == '\r') {	/* blank line */
		csv_getc(c);
		if (ch == '\r' && csv_peek(c) == '\n')
			csv_getc(c);
		c->line++;
		goto again;
	}
	c->fields[nf++] = c->rec;
	quoted = was_quoted = false;
	for (;;) {
		ch = csv_getc(c);
		if (ch == 0) {
			skip_line(c);
			return errf(err, "a NUL byte in the record");
		}
		if (quoted) {
			if (ch < 0)
				return errf(err, "a quoted field is not closed before the end of the file");
			if (ch == '"') {
				if (csv_peek(c) == '"') {
					csv_getc(c);
				} else {
					quoted = false;
					continue;
				}
			} else if (ch == '\n') {
				c->line++;
			}
		} else if (ch == '"') {
			if (was_quoted || c->rec + n != c->fields[nf - 1]) {
				skip_line(c);
				return errf(err, "a quote inside a field that is not quoted from its start");
			}
			quoted = was_quoted = true;
			continue;
		} else if (ch == ',' || ch == '\n' || ch == '\r' || ch < 0) {
			if (ch == '\r') {
				if (csv_peek(c) == '\n')
					csv_getc(c);
				ch = '\n';
			}
			c->rec[n++] = '\0';
			if (ch == '\n' || ch < 0) {
				if (ch == '\n')
					c->line++;
				*fields = c->fields;
				return nf;
			}
			if (nf == CSV_MAX_FIELDS) {
				skip_line(c);
				return errf(err, "more than %d fields in the record", CSV_MAX_FIELDS);
			}
			c->fields[nf++] = c->rec + n;
			was_quoted = false;
			continue;
		} else if (was_quoted) {
			skip_line(c);
			return errf(err, "text after the closing quote of a field");
		}
		if (n >= CSV_MAX_RECORD - 1) {
			if (ch != '\n')
				skip_line(c);
			return errf(err, "the record is longer than %d bytes", CSV_MAX_RECORD);
		}
		c->rec[n++] = (char)ch;
	}
}
