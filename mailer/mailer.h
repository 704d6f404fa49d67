/*
 * mailer/mailer.h - the weekly send: an issue file rendered once into a
 * mailing (GMime, cmark), personalised per recipient, signed (DKIM) and
 * handed to the SMTP relay (libesmtp) over parallel sessions.
 */
#ifndef NEWSLETTER_MAILER_H
#define NEWSLETTER_MAILER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/lib.h"
#include "../store/store.h"

/* --- issue.c: the issue file --- */

#define ISSUE_MAX (1024 * 1024)	/* bytes in an issue file */
#define ISSUE_HEADER_LINE_MAX 998	/* RFC 5322 line limit */
#define ISSUE_SUBJECT_MAX 400
#define ISSUE_ID_MAX 100

struct issue {
	char *subject;
	char *ident;		/* from "id:", else "b2-" + a hash of the file */
	char *preheader;	/* "" for none */
	bool allow_html;
	char *markdown;		/* the body after the header block */
};

/* Reads and checks an issue file; 0, or -1 with "FILE:LINE: reason". */
int mailer_issue_load(const char *path, struct issue *is, char *err);
void mailer_issue_free(struct issue *is);

/* --- render.c: Markdown to the bodies of the mailing --- */

/* The marker left in rendered bodies where each recipient's name goes. */
#define RENDER_NAME "{{name}}"

struct rendered {
	char *text;		/* text/plain, UTF-8, LF line ends */
	char *html;		/* text/html, UTF-8, LF line ends */
};

/*
 * Renders the issue with the list's template (cfg->list.template or the
 * built-in one) and its footer. Every "{{unsubscribe_url}}" becomes
 * @unsub_url (escaped for HTML in the HTML); "{{name}}" is left as
 * RENDER_NAME for each recipient. The caller frees with mailer_render_free.
 */
int mailer_render(const struct issue *is, const struct config *cfg,
		  const char *unsub_url, struct rendered *out, char *err);
void mailer_render_free(struct rendered *r);

/* --- compose.c: the mailing as MIME, personalised per recipient --- */

struct compose_params {
	const char *from;	/* "Name <address>" */
	const char *subject;
	const char *list_id;	/* "id" of List-Id: <id> */
	const char *list_name;
	const char *base_url;
	const char *bounce_domain;
	const char *text, *html;	/* rendered bodies with placeholders */
	const char *unsub_url;	/* the placeholder URL inside them */
	const char *boundary;	/* of the multipart/alternative */
	int64_t mailing;
	time_t date;
};

struct personal {
	const char *email;
	const char *name;	/* "" for none */
	const char *token;	/* TOKEN_UNSUBSCRIBE, TOKEN_LEN characters */
	const char *msgid;	/* COMPOSE_MSGID_LEN characters, [0-9a-f.] */
};

#define COMPOSE_MSGID_LEN 33

struct compose;			/* the mailing, composed once */
struct composer;		/* one thread's scratch space */

/* Composes the mailing once; NULL with @err when it cannot. */
struct compose *mailer_compose_new(const struct compose_params *p, char *err);
void mailer_compose_free(struct compose *c);
struct composer *mailer_composer_new(const struct compose *c);
void mailer_composer_free(struct composer *w);
/* One recipient's message, CRLF line ends, into @out (reset first). */
void mailer_compose_message(struct composer *w, const struct personal *who,
			    struct buf *out);
/* The same message built by GMime from scratch: slow, for tests. */
void mailer_compose_reference(const struct compose_params *p,
			      const struct personal *who, struct buf *out);
/* The Message-ID's local part for a recipient (random when @subscriber is 0). */
void mailer_compose_msgid(int64_t mailing, int64_t subscriber,
			  char out[COMPOSE_MSGID_LEN + 1]);
/* The placeholder token (TOKEN_LEN characters) compose patches per message. */
void mailer_compose_placeholder(char out[TOKEN_LEN + 1]);

/* --- dkim.c: DKIM signatures (RFC 6376) with libopendkim --- */

struct dkim_signer;

/* NULL with @err when the key cannot be read. */
struct dkim_signer *mailer_dkim_new(const char *domain, const char *selector,
				    const char *key_file, char *err);
void mailer_dkim_free(struct dkim_signer *d);
/* Prepends a DKIM-Signature header to @msg (CRLF line ends); 0 or -1. */
int mailer_dkim_sign(struct dkim_signer *d, struct buf *msg, struct buf *tmp,
		     char *err);

/* --- send.c: the send run --- */

struct send_opts {
	const struct config *cfg;
	const struct store_keys *keys;
	const struct compose *mailing;
	struct dkim_signer *dkim;	/* NULL: no signing */
	int64_t mailing_id;	/* 0 with test_to */
	const char *test_to;	/* --to: one copy to this address, not recorded */
	const char *preview_dir;	/* --preview: write DIR/ID.eml, send nothing */
	bool dry_run;
	int connections;
	int rate;		/* messages per second, 0: no limit */
	long long total;	/* due when the run starts, for the progress line */
};

struct send_result {
	long long sent, failed, bounced, deferred, skipped, rendered;
	bool fatal;		/* stopped early: @err says why */
};

/* Runs the send; fills @res; 0, or -1 with @err (nothing is lost). */
int mailer_send(const struct send_opts *o, struct send_result *res, char *err);

/* --- nodelay.c: connect() and write() of the SMTP client's sockets --- */

#define MAILER_SIO_BUFSIZE 2048	/* libesmtp 1.1's write buffer (siobuf.h) */

/* Whether a write of @buf is a full buffer of a message's data with more
 * of it to come (sent with MSG_MORE), rather than its end or anything else. */
bool mailer_more_follows(const void *buf, size_t len);

#endif
