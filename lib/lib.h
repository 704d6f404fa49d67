/*
 * lib/lib.h - what every part of newsletter needs and that knows no SQL and
 * no newsletter logic: logging, allocation, growable buffers, dates, the
 * configuration file, address syntax, CSV records and a progress line.
 */
#ifndef NEWSLETTER_LIB_H
#define NEWSLETTER_LIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define NEWSLETTER_VERSION "0.1.0"

/* Exit codes: the only place where a status becomes a number for scripts. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,		/* runtime failure */
	EXIT_USAGE = 2,		/* usage or bad input */
	EXIT_TEMPFAIL = 75	/* try again later (EX_TEMPFAIL) */
};

/* Size of the caller-provided buffers that receive a human error message. */
#define ERR_LEN 256

/* --- log.c: one logger per process, the only global beside the config --- */

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * Formats a message meant to be cut to a size (a log line, an error
 * message): a text that does not fit ends in "..." at a UTF-8 character
 * boundary, so that the cut shows. Returns whether it cut.
 */
bool log_vformat(char *out, size_t size, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
/* For start-up failures and out-of-memory only. */
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- xalloc.c: never return NULL --- */

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Set an error message in a caller's buffer of ERR_LEN bytes; returns -1. */
int errf(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- fmt.c: formatting into a fixed buffer, checked --- */

/*
 * snprintf() that fails rather than cuts: 0, or -1 when the text (with its
 * NUL) does not fit in @size bytes or cannot be formatted. @out always
 * ends in a NUL. The result must be checked.
 */
int fmt(char *out, size_t size, const char *f, ...)
	__attribute__((format(printf, 3, 4), warn_unused_result));
/*
 * For text meant to be cut to a size (an excerpt quoted as evidence):
 * formats, cuts at a UTF-8 character boundary if need be, and returns
 * whether it cut.
 */
bool fmt_clip(char *out, size_t size, const char *f, ...)
	__attribute__((format(printf, 3, 4)));
/* fmt(out, size, "%s", s) and fmt_clip(out, size, "%s", s), without the
 * printf machinery: the bounce processor copies strings this way per
 * message. */
int fmt_str(char *out, size_t size, const char *s) __attribute__((warn_unused_result));
bool fmt_clip_str(char *out, size_t size, const char *s);
/* Appends @s to the string in @out as fmt_clip(out, size, "%s%s", out, s)
 * would write it (were @out not also its argument). */
bool fmt_clip_cat(char *out, size_t size, const char *s);

/* --- buf.c: a growable, always NUL-terminated byte string --- */

struct buf {
	char *s;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Makes room for @n more bytes at once. */
void buf_reserve(struct buf *b, size_t n);
void buf_add(struct buf *b, const void *p, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* --- html.c: HTML escaping --- */

/*
 * Appends @s to @b with & < > " ' escaped (&amp; &lt; &gt; &quot; &#39;),
 * safe in text and in a quoted attribute value; other bytes (UTF-8) as
 * they are. @b holds a string afterwards even when @s is "".
 */
void html_escape(struct buf *b, const char *s);

/* --- date.c: calendar dates as YYYY-MM-DD, times as ISO 8601 UTC --- */

#define DATE_LEN 11		/* "YYYY-MM-DD" + NUL */
#define TIMESTAMP_LEN 21	/* "YYYY-MM-DDTHH:MM:SSZ" + NUL */

/* Checks a YYYY-MM-DD string for form and calendar; 0 or -1 with err. */
int date_parse(const char *s, int *year, int *month, int *day, char *err);
void date_today(char out[DATE_LEN]);
/* The date @months calendar months before today (day clamped). */
void date_months_ago(int months, char out[DATE_LEN]);
void timestamp_now(char out[TIMESTAMP_LEN]);
/* The time @t, as timestamp_now() writes it. */
void timestamp_at(time_t t, char out[TIMESTAMP_LEN]);
double monotonic_seconds(void);
/* The time @seconds (none when < 0) from now on @clock, into @out: the
 * deadline of a pthread_cond_timedwait() on a condition of that clock. */
void deadline_after(clockid_t clock, double seconds, struct timespec *out);

/* --- addr.c: e-mail address syntax (RFC 5321/5322 addr-spec) --- */

#define ADDR_MAX 254		/* RFC 5321 path limit less the brackets */
#define ADDR_LOCAL_MAX 64
#define ADDR_DOMAIN_MAX 253
#define ADDR_LABEL_MAX 63

/*
 * Trims surrounding white space, checks the syntax and lower-cases the
 * domain; the local part keeps its case, and a quoted one is written in its
 * shortest equivalent ("per\.x" -> per.x, "a\ b" -> "a b"). The limits
 * hold for that form. Writes the normalised address into @out (ADDR_MAX + 1
 * bytes). Returns 0, or -1 with the reason in @err.
 */
int addr_normalize(const char *in, char *out, char *err);
/* The lower-cased form that identifies a person (for keyed hashes). */
void addr_fold(const char *normalized, char *out);
/* Masks an address for a page: "k***@example.no". */
void addr_mask(const char *normalized, char *out, size_t outlen);

/* --- utf8.c --- */

/*
 * Checks that @s is well-formed UTF-8 of at most @max bytes with no control
 * characters; -1 with "the WHAT is ..." in @err otherwise.
 */
int text_check(const char *s, size_t max, const char *what, char *err);
/*
 * text_check, and no bidi control, other invisible format character (Cf;
 * the joiners U+200C and U+200D excepted) or line or paragraph separator:
 * for a person's name, which is shown to people.
 */
int text_check_name(const char *s, size_t max, const char *what, char *err);

/* --- csv.c: RFC 4180 records from a stream --- */

#define CSV_MAX_RECORD 8192	/* bytes in one record */
#define CSV_MAX_FIELDS 32

struct csv;

struct csv *csv_open(FILE *fp);
/*
 * Reads the next record. Returns the number of fields (>= 1), 0 at end of
 * input, or -1 with the reason in @err (the reader then skips to the next
 * line, so that every bad line can be reported). Fields stay valid until
 * the next call.
 */
int csv_next(struct csv *c, char ***fields, char *err);
/* Whether reading failed (csv_next then reported the end of input too). */
bool csv_error(const struct csv *c);
/* The line on which the last record started (1-based). */
long csv_line(const struct csv *c);
/* Bytes consumed so far, for a progress line. */
long long csv_offset(const struct csv *c);
void csv_close(struct csv *c);

/* --- progress.c: a progress line on a terminal, nothing otherwise --- */

struct progress {
	bool tty;
	double last;
	double start;
	int width;
};

void progress_init(struct progress *p);
/* Redraws at most ten times a second; @fraction < 0 when unknown. */
void progress_update(struct progress *p, const char *what, long long done,
		     double fraction);
void progress_done(struct progress *p);

/* --- status.c: RFC 3463 enhanced status codes, one table for all --- */
struct smtp_status {
	int klass, subject, detail;	/* 5.1.1 */
};
enum status_verdict {
	STATUS_UNKNOWN,		/* says nothing certain: never delete on it */
	STATUS_SUCCESS,		/* 2.x.x */
	STATUS_SOFT,		/* temporary, or about policy, content, system */
	STATUS_HARD,		/* the address does not exist or is disabled */
};
#define STATUS_LEN 16
/* Parses "X.Y.Z" at @s; returns the end, or NULL when it is not one. */
const char *status_parse(const char *s, struct smtp_status *st);
/* The first code in free text (an SMTP reply, a Diagnostic-Code); the
 * end of it, or NULL when there is none. */
const char *status_find(const char *text, size_t len, struct smtp_status *st);
/* What the code says of the address, and a short word for why. */
enum status_verdict status_classify(const struct smtp_status *st, const char **reason);
void status_format(const struct smtp_status *st, char out[STATUS_LEN]);

/* --- config.c: the INI file (inih) --- */

/* STARTTLS (RFC 3207): never, when the server offers it, or demanded. */
enum tls_mode { TLS_OFF, TLS_OPPORTUNISTIC, TLS_REQUIRED };

struct config {
	char *path;		/* file read, or NULL for built-in defaults */
	struct {
		char *database;
		char *key_file;
	} store;
	struct {
		char *name;
		char *id;
		char *from;
		char *base_url;
		char *language;
		char *template;		/* HTML template file, NULL: built in */
	} list;
	struct {
		char *host;
		int port;
		enum tls_mode tls;
		char *username;
		char *password_file;
		char *ca_file;		/* CAs that verify the relay (tls = required), NULL: system's */
		int connections;
		int rate;
		char *helo;		/* the EHLO name, NULL: config_helo() finds one */
		int timeout;		/* seconds to wait for each reply (twice for the end of data) */
	} smtp;
	struct {
		char *domain;
		int soft_threshold;
		int soft_window_days;
		bool require_verp;
		char *keep;		/* Maildir for messages that could not be parsed */
		bool keep_handled;	/* keep handled Maildir and stdin messages there too */
	} bounce;
	struct {
		char *domain;		/* NULL: no DKIM signing */
		char *selector;
		char *key_file;
	} dkim;
	struct {
		char *listen;
		char *admin_listen;
		char *admin_token_file;
		int timeout;		/* seconds a connection may stay idle or slow */
		int max_connections;	/* open connections per listener */
		int request_timeout;	/* seconds to receive a whole request, however it trickles */
		int max_connections_per_client;	/* open connections of one address, public listener */
	} web;
	struct {
		bool enabled;		/* the signup form, confirmation and API */
		int confirm_hours;	/* a confirmation link's life */
		int resend_hours;	/* one confirmation mail per address per this */
		int max_pending;	/* pending signups held at most */
		int client_hourly;	/* signup requests one client may make an hour */
		char *consent_text_nb;	/* the consent texts shown beside the button */
		char *consent_text_en;
	} signup;
	struct {
		int months_without_purchase;
		int audit_months;
		int keep_days;		/* days a message stays in [bounce] keep */
	} retention;
};

/*
 * Fills @cfg with the built-in defaults, then reads @path if not NULL.
 * @must_exist: a missing file is an error (it was named explicitly).
 * Relative paths in the file are taken relative to the file's folder.
 * Returns 0, or -1 with "FILE:LINE: key: reason" in @err.
 */
int config_load(struct config *cfg, const char *path, bool must_exist,
		char *err);
void config_free(struct config *cfg);
/*
 * The name to give in EHLO, into @out: [smtp] helo; else the machine's
 * fully qualified name (getaddrinfo's canonical name of gethostname()),
 * when it has a dot and is a domain name; else the domain of [list] from.
 */
void config_helo(const struct config *cfg, char out[ADDR_DOMAIN_MAX + 1]);

#endif
