/*
 * mailer/mailer_int.h - what the files of mailer/ share and nothing else
 * includes (the unit tests aside): the send run's options and figures, the
 * state of one recipient in a run, and the SMTP sockets' write() switch.
 */
#ifndef NEWSLETTER_MAILER_INT_H
#define NEWSLETTER_MAILER_INT_H

#include "mailer.h"

/* --- send.c: the send run --- */

struct send_single;

struct send_opts {
	const struct config *cfg;
	const struct store_keys *keys;
	const struct compose *mailing;
	struct dkim_signer *dkim;	/* NULL: no signing */
	int64_t mailing_id;	/* 0 with test_to */
	const char *test_to;	/* one copy to this address, not recorded */
	struct send_single *singles;	/* messages built already (serve's
					 * confirmation mails), each to its own
					 * address, in one session, not recorded */
	int n_singles;		/* 1 to SEND_SINGLES_MAX */
	const char *preview_dir;	/* write DIR/ID.eml, send nothing */
	bool dry_run;
	int connections;
	int rate;		/* messages per second, 0: no limit */
	long long total;	/* due when the run starts, for the progress line */
};

struct send_result {
	long long sent, failed, bounced, deferred, rendered;
	bool fatal;		/* stopped early: @err says why, */
	enum mailer_stop stop;	/* and this what kind of failure it was */
};

/* Runs the send; fills @res; 0, or -1 with @err (nothing is lost). */
int mailer_send(const struct send_opts *o, struct send_result *res, char *err);

/*
 * A recipient's state in a run. Every one starts SEND_DUE; it leaves it
 * once, through send.c's set_state(), the only function that changes it.
 */
enum send_state {
	SEND_DUE,		/* not yet answered */
	SEND_SENT,		/* accepted (2xx after the data) */
	SEND_DEFERRED,		/* 4xx, or our sender refused: left pending */
	SEND_FAILED,		/* 5xx for this recipient: failed, kept */
	SEND_BOUNCED,		/* 5xx saying the address is gone: deleted, suppressed */
	SEND_HELD,		/* not composed (the run stops): nothing recorded */
};

/*
 * One message built already, to one address: it is signed and sent with
 * the others of its run in one SMTP session (reconnecting as the weekly
 * send does), and @state says what became of it. SEND_DUE after the run:
 * never answered (the relay down or gone mid-run, the run stopped).
 */
struct send_single {
	const char *to;		/* a normalised address */
	const struct buf *message;	/* CRLF line ends, not signed */
	enum send_state state;	/* after the run: SEND_SENT, SEND_DEFERRED,
				 * SEND_FAILED, or SEND_DUE */
};

#define SEND_SINGLES_MAX 256	/* send.c's BATCH_MAX: one worker's batch */

/* What a change of state is about. */
struct send_change {
	int64_t mailing;	/* 0: not recorded (MAILER_ONE) */
	int64_t subscriber;
	const char *reply;	/* the server's reply, one line: "550 5.1.1 ..." */
	const char *code;	/* its status code: "5.1.1", or "550" */
	unsigned gen;		/* the subscriber's address generation when loaded */
};

/*
 * What the change of a recipient's state from SEND_DUE to @to records in
 * @st and adds to @tally; the caller holds @st (SEND_SENT is counted here
 * but recorded by the run's group commit). -1 with @err when the store
 * failed or @from -> @to is no change the run makes.
 */
int mailer_send_apply(struct store *st, enum send_state from, enum send_state to,
		      const struct send_change *c, struct send_result *tally, char *err);

/* --- compose.c: a single message, not a mailing --- */

/* One message to one person that is not an issue (a signup's
 * confirmation mail): no List-* headers. */
struct single_mail {
	const char *from;	/* [list] from */
	const char *to, *to_name;	/* a normalised address; "" for no name */
	const char *subject;
	const char *text, *html;	/* UTF-8, LF line ends */
	const char *const *headers;	/* more header name, value pairs; NULL ends */
	time_t date;
};

/* @m written by GMime, CRLF line ends, into @out (reset first). */
void mailer_compose_single(const struct single_mail *m, struct buf *out);

/* --- nodelay.c: connect() and write() of the SMTP client's sockets --- */

#define MAILER_SIO_BUFSIZE 2048	/* libesmtp 1.1's write buffer (siobuf.h) */

/* Whether a write of @buf is a full buffer of a message's data with more
 * of it to come (sent with MSG_MORE), rather than its end or anything else. */
bool mailer_more_follows(const void *buf, size_t len);
/* Marks the calling thread as inside a mailer SMTP session (around
 * smtp_start_session): only then do connect() and write() do more than the
 * C library's, and a TCP connect() gives up after @timeout seconds
 * ([smtp] timeout; 0: no limit but the kernel's) with ETIMEDOUT.
 * Sessions do not nest. */
void mailer_nodelay_enter(int timeout);
/* Ends the thread's session: the number of its connect()s that gave up
 * at the timeout. */
int mailer_nodelay_leave(void);
/* Whether this thread's write of @buf to @fd goes with MSG_MORE. */
bool mailer_nodelay_more(int fd, const void *buf, size_t len);

#endif
