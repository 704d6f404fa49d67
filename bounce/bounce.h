/*
 * bounce/bounce.h - the bounce processor: read a message (stdin, Maildir,
 * mbox), parse it with GMime (RFC 3464 DSN, RFC 5965 ARF, the plain-text
 * bounces of common MTAs, RFC 3834 auto-replies), decide per recipient,
 * attribute it by its signed VERP token and act on the store.
 *
 * Parsing never touches the store: the verdict of a message depends on the
 * message alone. Acting is one transaction per message. bounce_run() (run.c)
 * is the whole pipeline, read -> parse -> act, for 'newsletter bounce': its
 * caller chooses the source and prints each message's fate.
 */
#ifndef NEWSLETTER_BOUNCE_H
#define NEWSLETTER_BOUNCE_H

#include "../lib/lib.h"
#include "../store/store.h"

#define BOUNCE_MAX_MESSAGE (32 * 1024 * 1024)	/* bytes in one message */
#define BOUNCE_MAX_RESULTS 64			/* recipients reported per message */
#define BOUNCE_MAX_TARGETS 8			/* addresses it was delivered to */
#define BOUNCE_EVIDENCE_MAX 240			/* bytes of the line decided on */
#define BOUNCE_RULE_MAX 200			/* bytes of the name of the rule that decided */

enum bounce_action {
	BOUNCE_IGNORE,		/* not a bounce, delivered, auto-reply */
	BOUNCE_SOFT,		/* temporary, or says nothing about the address */
	BOUNCE_HARD,		/* the address is gone */
	BOUNCE_COMPLAINT,	/* ARF abuse report */
	BOUNCE_UNSUBSCRIBE	/* mail to unsubscribe+TOKEN@ */
};

/*
 * One verdict. @recipient is a bare, normalised address (addr_normalize),
 * or "" for a result about a recipient field that holds no address: that
 * one is always BOUNCE_IGNORE, with the field in @evidence.
 */
struct bounce_result {
	char recipient[ADDR_MAX + 1];
	char original[ADDR_MAX + 1];	/* the DSN's Original-Recipient when it differs, or "" */
	enum bounce_action action;
	char status[STATUS_LEN];	/* "5.1.1", or "" */
	const char *reason;		/* a short word (static) */
	const char *why;		/* what it decided on, in words (static) */
	char evidence[BOUNCE_EVIDENCE_MAX + 1];	/* the line, printable ASCII */
	/* The table row that decided, in words, for --explain and --json:
	 * 'status 5.7.x (security or policy) -> soft',
	 * 'phrase #97 "user unknown" (gone) -> hard'. */
	char rule[BOUNCE_RULE_MAX + 1];
	bool confirmed;			/* a hard verdict that stands on its own */
	bool explicit;			/* from a phrase that names the account gone, even after DATA */
};

/* What kind of message it is (bounce_kind_name() gives its word). */
enum bounce_kind {
	BOUNCE_KIND_NONE,	/* "none": not a bounce */
	BOUNCE_KIND_DSN,	/* "dsn": RFC 3464 delivery status notification */
	BOUNCE_KIND_ARF,	/* "arf": RFC 5965 complaint report */
	BOUNCE_KIND_SES,	/* "ses": an Amazon SES notification */
	BOUNCE_KIND_TEXT,	/* "text": a bounce in plain text */
	BOUNCE_KIND_AUTO_REPLY,	/* "auto-reply": RFC 3834, not a bounce */
	BOUNCE_KIND_UNSUBSCRIBE	/* "unsubscribe": a mail to unsubscribe+TOKEN@ */
};
const char *bounce_kind_name(enum bounce_kind k);

/* What one message says. */
struct bounce_report {
	enum bounce_kind kind;
	int n;
	struct bounce_result r[BOUNCE_MAX_RESULTS];
	/* Where the message was delivered (Delivered-To, X-Original-To, To,
	 * and the envelope recipient the MTA gave): the VERP address. */
	int ntargets;
	char targets[BOUNCE_MAX_TARGETS][ADDR_MAX + 1];
	char from[ADDR_MAX + 1];	/* the sender, for an unsubscribe request */
};

/* Calls g_mime_init() once per process; every entry below calls it. */
void bounce_init(void);

/*
 * Parses one message of @len bytes (an mbox "From " line first is skipped).
 * @envelope_rcpt: the recipient the MTA delivered to, or NULL. Fills @rep.
 * Returns 0, or -1 with the reason in @err when the message cannot be
 * parsed at all (it must then be kept for a person, never dropped).
 */
int bounce_parse(const char *data, size_t len, const char *envelope_rcpt,
		 struct bounce_report *rep, char *err);

/*
 * The same, reusing what one thread needs for every message (GMime's
 * parser, buffers): one bounce_parser per thread, never shared.
 */
struct bounce_parser;
struct bounce_parser *bounce_parser_new(void);
void bounce_parser_free(struct bounce_parser *bp);
int bounce_parse_with(struct bounce_parser *bp, const char *data, size_t len,
		      const char *envelope_rcpt, struct bounce_report *rep, char *err);
/* The same for a message in the caller's own buffer, whose header block
 * may be rewritten (its MIME fields moved before its empty line): GMime
 * then reads the message where it is, not a copy of it. */
int bounce_parse_buffer(struct bounce_parser *bp, char *data, size_t len,
			const char *envelope_rcpt, struct bounce_report *rep, char *err);

const char *bounce_action_name(enum bounce_action a);

/* rules.c: the text of a bounce, matched against a table of phrases. */
struct bounce_rule_match {
	enum bounce_action action;	/* BOUNCE_HARD, BOUNCE_SOFT, or BOUNCE_IGNORE (not a bounce) */
	const char *reason;
	const char *why;
	const char *phrase;		/* the row's phrase */
	const char *rank;		/* the row's rank, in a word ("gone", "block", ...) */
	int row;			/* the row's number in the table, from 1 */
	size_t at, len;			/* where it matched in the text */
	bool weak;			/* a generic word: a status code outranks it */
	bool temporary;			/* the text says the failure is temporary */
	bool strong;			/* a phrase that stands without a status code */
	bool domain;			/* says a domain is gone: hard only when it is the recipient's */
};

/*
 * What a status code can say of the recipient's address (rules.c, the
 * status table): each class is a row of data with its name for --explain.
 */
enum bounce_code_class {
	BOUNCE_CODE_SUCCESS,	/* 2.x.x: delivered */
	BOUNCE_CODE_TEMPORARY,	/* 4.x.x: never hard */
	BOUNCE_CODE_SENDER,	/* about the sender or the message (5.1.7, 5.7.x, 5.6.x, ...): never hard */
	BOUNCE_CODE_EXISTS,	/* the mailbox exists (full, disabled): never hard */
	BOUNCE_CODE_TEXT,	/* the text decides (5.0.0, 5.1.0, 5.3.x, ...) */
	BOUNCE_CODE_GONE,	/* the address or its domain is dead, unless the text says otherwise */
};
struct bounce_code_rule {
	int klass, subject, detail;	/* -1: any */
	enum bounce_code_class cls;
	const char *name;		/* "5.7.x" */
	const char *means;		/* what RFC 3463 calls it: "security or policy" */
	const char *reason;		/* a short word */
};
/* The first row of the status table that matches @st (never NULL). */
const struct bounce_code_rule *bounce_rules_code(const struct smtp_status *st);
/* What a class says, in words: "about the sender or the message, never hard". */
const char *bounce_rules_code_class(enum bounce_code_class cls);
/* Finds the rule of highest rank that matches @lower (lower-cased text);
 * false when none does. */
bool bounce_rules_match(const char *lower, size_t len, struct bounce_rule_match *m);
/*
 * Whether the bounce was written by an MTA whose own wording of an
 * unknown user is unambiguous (Sisimai's lhost modules map it straight to
 * "userunknown"): @get returns a header's raw value or NULL. Returns the
 * MTA's name, or NULL.
 */
const char *bounce_rules_mta(const char *(*get)(void *arg, const char *name), void *arg);
/* Whether lower-cased text holds a provider's own code of a recipient that
 * does not exist (Orange's LPN007_416). */
bool bounce_rules_provider_gone(const char *lower, size_t len);
/* Whether lower-cased text says the failure is temporary. */
bool bounce_rules_temporary(const char *lower, size_t len);

/* act.c: attribution and the store. */
struct bounce_policy {
	bool dry_run;
	bool require_verp;
	int soft_threshold;
	int soft_window_days;
};

/* What acting on a message did (bounce_effect_name() gives its words). */
enum bounce_effect {
	BOUNCE_NOTHING,			/* "nothing" */
	BOUNCE_DELETED,			/* "deleted": a hard bounce */
	BOUNCE_DELETED_SOFT,		/* "deleted (soft bounces over the threshold)" */
	BOUNCE_GONE_ALREADY,		/* "gone already" */
	BOUNCE_COUNTED_SOFT,		/* "counted a soft bounce" */
	BOUNCE_UNSUBSCRIBED,		/* "unsubscribed" */
	BOUNCE_UNSUBSCRIBED_ALREADY,	/* "unsubscribed already" */
	BOUNCE_WOULD_DELETE,		/* --dry-run: "would delete" */
	BOUNCE_WOULD_COUNT_SOFT,	/* --dry-run: "would count a soft bounce" */
	BOUNCE_WOULD_UNSUBSCRIBE,	/* --dry-run: "would unsubscribe" */
};
const char *bounce_effect_name(enum bounce_effect e);

/* What was done, for --explain and the log. */
struct bounce_outcome {
	int64_t subscriber;		/* 0: nobody */
	enum bounce_effect effect;
	char detail[ERR_LEN];
};

/*
 * Attributes @rep (VERP token first, then the recipients when
 * require_verp is off) and acts on the store, one transaction. @st and @keys
 * may be NULL for a dry run without a store.
 */
enum store_status bounce_act(struct store *st, const struct store_keys *keys,
			     const struct bounce_policy *pol,
			     const struct bounce_report *rep,
			     struct bounce_outcome *out, char *err);

/* mailbox.c: reading messages. */
/* Reads a whole file (or stdin when @path is NULL) up to BOUNCE_MAX_MESSAGE. */
int bounce_read_file(const char *path, struct buf *out, char *err);

/* keep.c: the keep Maildir. */
/* Stores a message in the Maildir @dir (tmp/ then new/, created if need
 * be); 0, or -1 with the reason in @err. */
int bounce_keep(const char *dir, const char *data, size_t len, char *err);
/*
 * Deletes (unlinks) the files in @dir's new/, cur/ and tmp/ last changed
 * more than @days days ago, or only counts them with @dry_run; a missing
 * folder, or @dir NULL, has none. Sets @expired; 0, or -1 with @err.
 */
int bounce_keep_expire(const char *dir, int days, bool dry_run, long *expired, char *err);

/* What a handler did with one message of a mailbox. */
enum bounce_done {
	BOUNCE_DONE,		/* handled, its transaction committed: a Maildir message is deleted */
	BOUNCE_FLAG,		/* could not be read or parsed: kept for a person */
	BOUNCE_RETRY,		/* temporary failure: left in new/, and stop */
};
/*
 * Called once for every message: @data NULL when it could not be read
 * (not a regular file, unreadable, too large), @unread then says why.
 */
typedef enum bounce_done (*bounce_handler)(const char *path, const char *data, size_t len,
					   const char *unread, void *arg);

/* What bounce_maildir_each does with the messages it handled, and counts. */
struct bounce_box {
	const char *keep;	/* the keep Maildir, or NULL */
	bool keep_handled;	/* keep handled messages there too */
	bool dry_run;		/* claim, move and delete nothing */
	long deleted;		/* handled and deleted */
	long kept;		/* moved into the keep Maildir */
	long flagged;		/* left in cur/ flagged F: not read, or no keep Maildir */
	long failed;		/* could not be kept or deleted: left in cur/ flagged */
};
/*
 * Handles every message in the Maildir @dir's new/: each is claimed by
 * renaming it into cur/ (so two runs never take the same one), handled,
 * and disposed of as @box says (see the top of mailbox.c). Returns the
 * number handled, or -1 with @err.
 */
int bounce_maildir_each(const char *dir, struct bounce_box *box, bounce_handler h, void *arg,
			bool *retry, char *err);
/* Handles every message of the mbox file @path, with a progress line on a
 * terminal; the file is never changed. Returns the number handled, or -1
 * with @err. */
int bounce_mbox_each(const char *path, bounce_handler h, void *arg, bool *retry, char *err);

/* run.c: one run over a source, read -> parse -> act. */
enum bounce_from {
	BOUNCE_FROM_STDIN,	/* one message, from an MTA pipe */
	BOUNCE_FROM_FILES,	/* FILE arguments ("-" is stdin), parsed on one thread per core */
	BOUNCE_FROM_MAILDIR,	/* every message in new/ of @path */
	BOUNCE_FROM_MBOX,	/* every message of the mbox @path */
};

struct bounce_run_opts {
	enum bounce_from from;
	const char *path;		/* the Maildir or the mbox */
	char *const *files;		/* BOUNCE_FROM_FILES */
	size_t nfiles;
	const char *envelope;		/* stdin: the recipient the MTA delivered to, or NULL */
	struct store *st;		/* NULL: verdicts only */
	const struct store_keys *keys;
	struct bounce_policy pol;
	const char *keep;		/* the keep Maildir, or NULL */
	bool keep_handled;		/* keep handled messages there too */
};

/* What became of one message. */
enum bounce_fate {
	BOUNCE_FATE_PARSED,	/* parsed and acted on (or the store failed: status) */
	BOUNCE_FATE_UNPARSED,	/* read, but not a message that can be parsed */
	BOUNCE_FATE_UNREAD,	/* not read (not a regular file, unreadable, too large) */
};

/* One message, as the output callback is given it (all valid during the call only). */
struct bounce_message {
	const char *path;		/* "-" for stdin */
	const struct bounce_report *rep;	/* n == 0 when not parsed */
	enum bounce_fate fate;
	const struct bounce_outcome *out;	/* parsed and acted on: what was done; else NULL */
	enum store_status status;	/* STORE_OK, or the store's failure (to try again) */
	const char *error;		/* why it was not read, parsed or acted on; else NULL */
};
typedef void (*bounce_print_fn)(const struct bounce_message *m, void *arg);

/* Every message read is in exactly one of unparsed, unread, retried or the rest (handled). */
struct bounce_run_counts {
	long messages, unparsed, unread, retried;
	struct bounce_box box;		/* what a Maildir run did with them */
};

/*
 * Reads, parses and acts on every message of @o's source, calling @print
 * once per message in the order they were read. Fills @n. Returns 0, or
 * -1 with @err when the run could not be made: the Maildir or mbox cannot
 * be read, or (stdin) the message cannot be read, or could not be parsed
 * and cannot be kept, so the MTA must keep it.
 */
int bounce_run(const struct bounce_run_opts *o, bounce_print_fn print, void *arg,
	       struct bounce_run_counts *n, char *err);

#endif
