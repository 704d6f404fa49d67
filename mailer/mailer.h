/*
 * mailer/mailer.h - the weekly send: an issue file rendered once into a
 * mailing (GMime, cmark), personalised per recipient, signed (DKIM) and
 * handed to the SMTP relay (libesmtp) over parallel sessions; or one mail
 * to one address. mailer_run() (run.c) is the entry point for both; the
 * rest is what it is built from, and what the tests drive.
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

/* --- confirm.c: a signup's confirmation mail, and serve's queue of them --- */

/* What became of one confirmation mail in a MAILER_CONFIRM run. */
enum mailer_confirm_result {
	CONFIRM_UNSENT,		/* never answered: the relay down or gone, the
				 * run stopped, or the mail could not be built */
	CONFIRM_SENT,		/* accepted by the relay */
	CONFIRM_DEFERRED,	/* 4xx (or our sender refused): try again later */
	CONFIRM_REFUSED,	/* 5xx for the address: not to be tried again */
};

/* A signup's confirmation mail: where it goes and what it says. */
struct mailer_confirm {
	int64_t signup;		/* the pending signup: logged, never the address */
	const char *to;		/* a normalised address (MAILER_CONFIRM) */
	const char *name;	/* NULL or "" for none */
	const char *lang;	/* "nb" or "en" */
	const char *link;	/* <base_url>/c/<token> */
	const char *expires;	/* when the link stops working: YYYY-MM-DDTHH:MM:SSZ */
	enum mailer_confirm_result result;	/* set by mailer_run */
};

/*
 * The confirmation mail to @to from the built-in nb or en template, into
 * @out (CRLF, not signed): multipart/alternative, Auto-Submitted:
 * auto-generated, no List-Unsubscribe, no tracking. GMime must be set up
 * (mailer_run does it). 0, or -1 with @err for a value it cannot hold.
 */
int mailer_confirm_message(const struct config *cfg, const char *to,
			   const struct mailer_confirm *c, time_t date,
			   struct buf *out, char *err);

#define CONFIRM_BATCH 128	/* due mails one drain takes, in one SMTP session */
#define CONFIRM_RETRY_MIN 60	/* seconds before the first retry ... */
#define CONFIRM_RETRY_MAX 3600	/* ... doubling up to this */

struct confirm_drain {
	int sent;		/* accepted by the relay */
	int retried;		/* 4xx, or the relay down: again after a back-off */
	int refused;		/* 5xx for the address: not tried again */
	bool relay_down;	/* the relay could not be reached: wait before the next drain */
};

/*
 * Sends the confirmation mails due in @st (up to CONFIRM_BATCH), each with
 * its TOKEN_CONFIRM link, through one mailer_run(MAILER_CONFIRM): one SMTP
 * session for all of them. Records each one's outcome (store_signup_mailed)
 * in one transaction: accepted; 4xx, or never answered (the relay down or
 * gone mid-batch), tried again after the back-off; 5xx, not tried again.
 * 0, or -1 with @err when the store failed. Logs by signup id, never the
 * address. Not to run in two threads at once with an [smtp] username (see
 * mailer_run).
 */
int mailer_confirm_drain(const struct config *cfg, const struct store_keys *keys,
			 struct store *st, struct confirm_drain *res, char *err);

/* --- run.c: a mailing's whole life, or one mail to one address --- */

enum mailer_mode {
	MAILER_SEND,		/* every due subscriber, each outcome recorded */
	MAILER_DRY_RUN,		/* every due message rendered; nothing sent or written */
	MAILER_PREVIEW,		/* DIR/ID.eml per due subscriber; nothing sent */
	MAILER_ONE,		/* one message to @to, not recorded: a test copy
				 * (send --to) */
	MAILER_CONFIRM,		/* signups' confirmation mails (serve), in one
				 * SMTP session: @confirm says what and gets
				 * each one's result; nothing recorded */
};

/* What will be done, known before anything goes out (not for MAILER_ONE). */
struct mailer_plan {
	const char *ident;	/* the issue's id */
	bool is_new;		/* recorded by this run */
	long long before_sent, before_failed;	/* in earlier runs */
	long long due;		/* to be handled now */
};

struct mailer_job {
	const struct config *cfg;
	const struct store_keys *keys;
	struct store *st;	/* the mailing's record; not used by MAILER_ONE */
	const struct issue *issue;
	enum mailer_mode mode;
	const char *to;		/* MAILER_ONE: a normalised address */
	struct mailer_confirm *confirm;	/* MAILER_CONFIRM: @confirms of them, */
	int confirms;		/* 1 to CONFIRM_BATCH */
	const char *preview_dir;	/* MAILER_PREVIEW: an existing folder */
	int connections;	/* SMTP sessions in parallel (1 for MAILER_ONE) */
	int rate;		/* messages per second, 0: no limit */
	/* Called with the plan before anything goes out; may be NULL. */
	void (*on_plan)(const struct mailer_plan *plan, void *arg);
	void *arg;
};

enum mailer_outcome {
	MAILER_OK,		/* everyone due handled; the one mail accepted;
				 * MAILER_CONFIRM: each mail answered (its
				 * result says how) */
	MAILER_PENDING,		/* some left pending after 4xx answers: run again */
	MAILER_FAILED,		/* server, store or file failure; nothing lost;
				 * MAILER_CONFIRM: the run stopped, the mails
				 * not answered are CONFIRM_UNSENT */
	MAILER_BAD_INPUT,	/* the issue, the template, a key or a config value */
	MAILER_STORE,		/* the store refused the plan: rep->store says how */
};

/*
 * What kind of failure stopped a MAILER_FAILED run: what its user does
 * next. Said by the mailer, which knows; its caller never reads @err for it.
 */
enum mailer_stop {
	MAILER_STOP_RETRY,	/* the relay, the store, a file: running the same
				 * job again (once it is back) sends the rest */
	MAILER_STOP_AUTH,	/* the relay refused our AUTH: running again
				 * fails the same way until [smtp] username
				 * or the password is fixed */
	MAILER_STOP_TLS,	/* tls = required, and the relay offers no
				 * STARTTLS or a certificate that does not
				 * verify or name [smtp] host: the same, until
				 * the relay or [smtp] tls and ca_file change */
};

struct mailer_report {
	enum mailer_outcome outcome;
	enum store_status store;	/* with MAILER_STORE */
	bool ran;		/* the run went: its figures below are meaningful */
	long long sent, failed, bounced, deferred, rendered;	/* this run; MAILER_CONFIRM:
								 * failed is a 5xx, deferred a 4xx */
	bool counted;		/* @after holds the mailing's counts after the run */
	struct mailing_counts after;
	bool resumable;		/* MAILER_FAILED after some work: running the
				 * same job again sends the rest */
	enum mailer_stop stop;	/* with MAILER_FAILED: what kind of failure */
};

/*
 * Runs @job from start to end: renders the issue, composes the mailing,
 * reads the DKIM key, opens (or finds) the mailing's record and fills it,
 * sends (or renders) through the SMTP sessions, sums up and closes the
 * record when everyone due is handled. Fills @rep; @err says why for every
 * outcome but MAILER_OK and MAILER_PENDING.
 *
 * GMime is set up while any run is going (a count under a mutex), so runs
 * in several threads (serve) do not tear it down under each other; SMTP
 * AUTH's auth_client_init() in send.c is not counted: runs with an
 * [smtp] username must not overlap yet (serve sends from its signup
 * thread alone, cli/cmd_serve.c). The caller ignores SIGPIPE: a
 * server that closes the connection must not kill the process.
 */
enum mailer_outcome mailer_run(const struct mailer_job *job, struct mailer_report *rep,
			       char *err);
/*
 * Keeps GMime set up from mailer_hold() to mailer_release(), between runs:
 * for a server that sends one mail at a time (serve's confirmation
 * mails). Each set-up and tear-down of GMime 3.2 leaks a few hundred
 * bytes (its crypto context registry), which a long-running process must
 * not pay per mail.
 */
void mailer_hold(void);
void mailer_release(void);

#endif
