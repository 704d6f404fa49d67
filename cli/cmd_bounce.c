/*
 * cli/cmd_bounce.c - 'newsletter bounce': read bounces from stdin (an MTA
 * pipe), files, a Maildir or an mbox; print verdicts; act on the store.
 *
 * Exit codes for the MTA pipe: 0 when the message was handled (a message
 * that is not a bounce is handled too, and one that cannot be parsed is
 * handled by keeping it in [bounce] keep), 75 when the store is busy or the
 * message could not be kept, so that the MTA tries again. A message from
 * stdin is stored by us only in [bounce] keep: when it cannot be parsed, or
 * with keep_handled. Every message read is counted once, and the summary
 * says what became of each: it is what the Maildir's flags show. Addresses
 * reach stdout only in --json and --explain output, which the user asked
 * for; the log names subscriber ids.
 */
#include "cli.h"

#include "../bounce/bounce.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct run {
	struct cli *c;
	struct bounce_policy pol;
	bool json, explain, have_store;
	const char *envelope;	/* ORIGINAL_RECIPIENT / RECIPIENT from the MTA */
	struct bounce_parser *bp;	/* for messages handled one by one, on this thread */
	int rc;			/* the worst exit code so far */
	long messages, unparsed, unread, retried;
	struct bounce_box box;	/* what --maildir did with them */
};

/* Writes @s as a JSON string; false (nothing written) unless it is
 * well-formed UTF-8 without control characters. */
static bool
json_str_ok(const char *s)
{
	char err[ERR_LEN];

	return text_check(s, (size_t)-1 / 2, "string", err) == 0;
}

/* Only this thread writes to stdout: no locking per byte. */
static void
put_json_str(const char *s)
{
	putchar_unlocked('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar_unlocked('\\');
		putchar_unlocked(*s);
	}
	putchar_unlocked('"');
}

/*
 * The common case, one line per message without --explain, written
 * directly (the same bytes as jansson's compact output): false when a
 * string needs more than escaping quotes and backslashes.
 */
static bool
print_json_plain(const char *file, const struct bounce_report *rep)
{
	if (!json_str_ok(file))
		return false;
	for (int i = 0; i < rep->n; i++)
		if (!json_str_ok(rep->r[i].recipient) || !json_str_ok(rep->r[i].status) ||
		    !json_str_ok(rep->r[i].reason ? rep->r[i].reason : "") || !json_str_ok(rep->r[i].evidence))
			return false;
	fputs("{\"file\":", stdout);
	put_json_str(file);
	fputs(",\"results\":[", stdout);
	for (int i = 0; i < rep->n; i++) {
		const struct bounce_result *r = &rep->r[i];

		fputs(i ? ",{\"recipient\":" : "{\"recipient\":", stdout);
		put_json_str(r->recipient);
		fputs(",\"action\":", stdout);
		put_json_str(bounce_action_name(r->action));
		fputs(",\"status\":", stdout);
		put_json_str(r->status);
		fputs(",\"reason\":", stdout);
		put_json_str(r->reason ? r->reason : "");
		fputs(",\"evidence\":", stdout);
		put_json_str(r->evidence);
		putchar('}');
	}
	fputs("]}\n", stdout);
	return true;
}

static void
print_json_full(const char *file, const struct bounce_report *rep, const struct bounce_outcome *out,
		const char *error, bool explain)
{
	json_t *o = json_object(), *results = json_array();

	json_object_set_new(o, "file", json_string(file));
	for (int i = 0; i < rep->n; i++) {
		const struct bounce_result *r = &rep->r[i];
		json_t *jr = json_pack("{s:s, s:s, s:s, s:s, s:s}",
				       "recipient", r->recipient,
				       "action", bounce_action_name(r->action),
				       "status", r->status,
				       "reason", r->reason ? r->reason : "",
				       "evidence", r->evidence);

		if (jr == NULL)		/* not UTF-8: cannot happen, addresses are checked */
			continue;
		if (explain)
			json_object_set_new(jr, "why", json_string(r->why ? r->why : ""));
		json_array_append_new(results, jr);
	}
	json_object_set_new(o, "results", results);
	if (explain) {
		json_object_set_new(o, "kind", json_string(rep->kind));
		if (out) {
			json_object_set_new(o, "done", json_string(out->done));
			if (out->detail[0])
				json_object_set_new(o, "detail", json_string(out->detail));
		}
	}
	if (error)
		json_object_set_new(o, "error", json_string(error));
	json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(o);
}

static void
print_json(const char *file, const struct bounce_report *rep, const struct bounce_outcome *out,
	   const char *error, bool explain)
{
	if (explain || error != NULL || !print_json_plain(file, rep))
		print_json_full(file, rep, out, error, explain);
}

static void
print_explain(const char *file, const struct bounce_report *rep, const struct bounce_outcome *out)
{
	printf("%s: %s\n", file, strcmp(rep->kind, "dsn") == 0 ? "a delivery status notification (RFC 3464)"
			       : strcmp(rep->kind, "arf") == 0 ? "a complaint report (RFC 5965)"
			       : strcmp(rep->kind, "text") == 0 ? "a bounce in plain text"
			       : strcmp(rep->kind, "auto-reply") == 0 ? "an automatic reply, not a bounce"
			       : strcmp(rep->kind, "unsubscribe") == 0 ? "a mail to the unsubscribe address"
			       : strcmp(rep->kind, "ses") == 0 ? "an Amazon SES notification"
			       : "not a bounce");
	for (int i = 0; i < rep->n; i++) {
		const struct bounce_result *r = &rep->r[i];

		printf("  %s: %s%s%s, because %s\n", r->recipient, bounce_action_name(r->action),
		       r->status[0] ? " " : "", r->status, r->why ? r->why : "");
		if (r->evidence[0])
			printf("    evidence: %s\n", r->evidence);
	}
	if (out)
		printf("  done: %s%s%s\n", out->done, out->detail[0] ? ": " : "", out->detail);
}

/* What finish() is given: a parsed message, one that is not, one not read. */
#define PARSED 0
#define UNPARSED (-1)
#define UNREAD (-2)

/* Acts on a parsed message and prints what it says; @perr says why a
 * message was not parsed or not read. */
static enum bounce_done
finish(struct run *run, const char *path, struct bounce_report *rep, int parsed, const char *perr)
{
	struct bounce_outcome out;
	char err[ERR_LEN];
	enum store_status s;
	enum bounce_done done = BOUNCE_DONE;

	run->messages++;
	if (parsed == UNREAD) {
		run->unread++;
		rep->n = 0;
		rep->kind = "none";
		if (run->json)
			print_json(path, rep, NULL, perr, run->explain);
		else if (run->explain)
			printf("%s: cannot be read: %s\n", path, perr);
		log_warn("bounce: %s: %s", path, perr);
		return BOUNCE_FLAG;
	}
	if (parsed < 0) {
		run->unparsed++;
		if (run->json)
			print_json(path, rep, NULL, perr, run->explain);
		else if (run->explain)
			printf("%s: cannot be parsed: %s\n", path, perr);
		log_warn("bounce: %s: %s", path, perr);
		return BOUNCE_FLAG;
	}
	s = bounce_act(run->have_store ? run->c->st : NULL, run->c->keys, &run->pol, rep, &out, err);
	if (s != STORE_OK) {
		run->retried++;
		log_error("bounce: %s: %s", path, err);
		if (s == STORE_BUSY)
			run->rc = EXIT_TEMPFAIL;
		else if (run->rc == EXIT_OK)
			run->rc = store_exit_code(s);
		done = BOUNCE_RETRY;
	}
	if (run->json)
		print_json(path, rep, s == STORE_OK ? &out : NULL, s == STORE_OK ? NULL : err, run->explain);
	else if (run->explain)
		print_explain(path, rep, s == STORE_OK ? &out : NULL);
	return done;
}

static enum bounce_done
handle(const char *path, const char *data, size_t len, const char *unread, void *arg)
{
	struct run *run = arg;
	struct bounce_report *rep = xmalloc(sizeof(*rep));
	char err[ERR_LEN];
	enum bounce_done done;
	int parsed;

	if (data == NULL) {
		done = finish(run, path, rep, UNREAD, unread);
		free(rep);
		return done;
	}
	if (run->bp == NULL)
		run->bp = bounce_parser_new();
	parsed = bounce_parse_with(run->bp, data, len, run->envelope, rep, err) < 0 ? UNPARSED : PARSED;

	done = finish(run, path, rep, parsed, err);
	free(rep);
	return done;
}

/*
 * FILE arguments: parsing (GMime) is most of the work and needs no store,
 * so one thread per core parses files into a ring of slots while this
 * thread acts on the store and prints, in argument order, as soon as each
 * next slot is ready: printing overlaps parsing, and the threads live for
 * the whole run.
 */
#define PARSE_THREADS_MAX 8
#define PARSE_RING 64

struct slot {
	const char *path;
	struct bounce_report rep;
	int parsed;		/* 0, or -1 (not parsed) */
	bool unreadable;
	bool ready;		/* parsed, not yet printed (under mu) */
	char err[ERR_LEN];
};

struct pipeline {
	char **files;
	size_t nfiles;
	struct slot *ring;
	atomic_size_t next;	/* the next file to claim */
	size_t printed;		/* files printed so far (under mu) */
	bool stop;		/* (under mu) */
	pthread_mutex_t mu;
	pthread_cond_t room, ready;
};

/* Parses file @i into its slot. */
static void
parse_one(struct pipeline *p, size_t i, struct bounce_parser *bp, struct buf *msg)
{
	struct slot *sl = &p->ring[i % PARSE_RING];

	sl->path = p->files[i];
	sl->parsed = UNPARSED;
	/* "-" is standard input, as usual (cmd_bounce lets it appear once). */
	sl->unreadable = bounce_read_file(strcmp(sl->path, "-") == 0 ? NULL : sl->path, msg, sl->err) < 0;
	if (!sl->unreadable && bounce_parse_with(bp, msg->s, msg->len, NULL, &sl->rep, sl->err) == 0)
		sl->parsed = PARSED;
	pthread_mutex_lock(&p->mu);
	sl->ready = true;
	pthread_cond_broadcast(&p->ready);
	pthread_mutex_unlock(&p->mu);
}

static void *
parse_files(void *arg)
{
	struct pipeline *p = arg;
	struct bounce_parser *bp = bounce_parser_new();
	struct buf msg;
	size_t i;

	buf_init(&msg);
	while ((i = atomic_fetch_add(&p->next, 1)) < p->nfiles) {
		bool stop;

		pthread_mutex_lock(&p->mu);
		while (i >= p->printed + PARSE_RING && !p->stop)
			pthread_cond_wait(&p->room, &p->mu);
		stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		parse_one(p, i, bp, &msg);
	}
	buf_free(&msg);
	bounce_parser_free(bp);
	return NULL;
}

/*
 * This thread prints each slot in order as soon as it is ready; while the
 * next one is not, it parses a file itself (one more parser, and no
 * sleeping while there is work): threads + this one = the cores.
 */
static void
from_files(struct run *run, char **files, size_t nfiles)
{
	struct pipeline p = {.files = files, .nfiles = nfiles};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int want = cpus <= 1 ? 0 : cpus > PARSE_THREADS_MAX ? PARSE_THREADS_MAX - 1 : (int)cpus - 1;
	struct bounce_parser *bp = bounce_parser_new();
	pthread_t tids[PARSE_THREADS_MAX];
	struct buf msg;
	int started = 0;

	buf_init(&msg);
	p.ring = xcalloc(PARSE_RING, sizeof(*p.ring));
	atomic_init(&p.next, 0);
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.room, NULL);
	pthread_cond_init(&p.ready, NULL);
	for (int t = 0; t < want && (size_t)t + 1 < nfiles; t++)
		if (pthread_create(&tids[started], NULL, parse_files, &p) == 0)
			started++;
	for (size_t i = 0; i < nfiles && run->rc != EXIT_TEMPFAIL; i++) {
		struct slot *sl = &p.ring[i % PARSE_RING];

		for (;;) {
			bool ready;
			size_t k;

			pthread_mutex_lock(&p.mu);
			ready = sl->ready;
			pthread_mutex_unlock(&p.mu);
			if (ready)
				break;
			/* Not ready: parse the next unclaimed file, if the ring
			 * has room for it; else wait. */
			k = atomic_load(&p.next);
			if (k < nfiles && k < i + PARSE_RING &&
			    atomic_compare_exchange_strong(&p.next, &k, k + 1)) {
				parse_one(&p, k, bp, &msg);
				continue;
			}
			pthread_mutex_lock(&p.mu);
			while (!sl->ready)
				pthread_cond_wait(&p.ready, &p.mu);
			pthread_mutex_unlock(&p.mu);
		}
		if (sl->unreadable) {
			/* A file named on the command line must be readable. */
			finish(run, sl->path, &sl->rep, UNREAD, sl->err);
			if (run->rc == EXIT_OK)
				run->rc = EXIT_FAIL;
		} else {
			finish(run, sl->path, &sl->rep, sl->parsed, sl->err);
		}
		pthread_mutex_lock(&p.mu);
		sl->ready = false;
		p.printed = i + 1;
		pthread_cond_broadcast(&p.room);
		pthread_mutex_unlock(&p.mu);
	}
	pthread_mutex_lock(&p.mu);
	p.stop = true;
	pthread_cond_broadcast(&p.room);
	pthread_mutex_unlock(&p.mu);
	for (int t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
	pthread_cond_destroy(&p.ready);
	pthread_cond_destroy(&p.room);
	pthread_mutex_destroy(&p.mu);
	free(p.ring);
	buf_free(&msg);
	bounce_parser_free(bp);
}

/* One message on stdin, as an MTA pipe delivers it. */
static int
from_stdin(struct run *run)
{
	struct buf msg;
	char err[ERR_LEN];
	enum bounce_done d;

	buf_init(&msg);
	if (bounce_read_file(NULL, &msg, err) < 0) {
		buf_free(&msg);
		/* Too large, or a read error: the MTA keeps it and reports. */
		return cli_fail(run->c, EXIT_TEMPFAIL, "%s", err);
	}
	d = handle("-", msg.s, msg.len, NULL, run);
	if (d == BOUNCE_FLAG) {
		if (run->pol.dry_run) {
			buf_free(&msg);
			return EXIT_OK;
		}
		if (bounce_keep(run->c->cfg.bounce.keep, msg.s, msg.len, err) < 0) {
			buf_free(&msg);
			return cli_fail(run->c, EXIT_TEMPFAIL, "the message cannot be parsed and cannot be kept: %s", err);
		}
		log_info("bounce: a message that cannot be parsed is kept in %s", run->c->cfg.bounce.keep);
	} else if (d == BOUNCE_DONE && run->c->cfg.bounce.keep_handled && !run->pol.dry_run &&
		   bounce_keep(run->c->cfg.bounce.keep, msg.s, msg.len, err) < 0) {
		/* Handled and committed: a retry by the MTA would act twice. */
		log_error("bounce: the message was handled but cannot be kept ([bounce] keep_handled): %s", err);
	}
	buf_free(&msg);
	return d == BOUNCE_RETRY ? run->rc : EXIT_OK;
}

/*
 * One line at the end of a run over several messages: every message read
 * is in exactly one count, and for a Maildir the second half says where
 * each went (the flags in cur/ are the "left" ones).
 */
static void
summary(const struct run *run, const char *maildir)
{
	long handled = run->messages - run->unparsed - run->unread - run->retried;
	bool bad = run->unparsed || run->unread || run->box.failed;
	char tail[ERR_LEN] = "";

	if (maildir && run->pol.dry_run)
		errf(tail, "; in the Maildir: nothing changed (--dry-run)");
	else if (maildir)
		errf(tail, "; in the Maildir: %ld deleted, %ld moved into [bounce] keep, "
		     "%ld left in cur/ flagged F, %ld failed (left in cur/)",
		     run->box.deleted, run->box.kept, run->box.flagged, run->box.failed);
	log_msg(bad ? LOG_WARN : LOG_INFO, "bounce: %ld message%s: %ld handled, %ld could not be parsed, "
		"%ld could not be read, %ld to try again (the store failed)%s", run->messages,
		run->messages == 1 ? "" : "s", handled, run->unparsed, run->unread, run->retried, tail);
}

/* Whether the paths @a and @b name one folder. */
static bool
same_dir(const char *a, const char *b)
{
	struct stat sa, sb;

	return a != NULL && b != NULL && stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Opens the store; a dry run without one gives verdicts only. */
static int
open_store(struct run *run)
{
	struct cli *c = run->c;

	if (run->pol.dry_run && (access(c->cfg.store.key_file, R_OK) != 0 ||
				 access(c->cfg.store.database, R_OK) != 0)) {
		log_debug("bounce: no store to read: verdicts only");
		return EXIT_OK;
	}
	int r = cli_open(c);

	if (r != EXIT_OK)
		return r;
	run->have_store = true;
	return EXIT_OK;
}

int
cmd_bounce(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"dry-run", no_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{"explain", no_argument, NULL, 'e'},
		{"maildir", required_argument, NULL, 'm'},
		{"mbox", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct run run = {.c = c};
	const char *maildir = NULL, *mbox = NULL;
	char err[ERR_LEN];
	bool retry = false;
	int r;

	run.pol.require_verp = c->cfg.bounce.require_verp;
	run.pol.soft_threshold = c->cfg.bounce.soft_threshold;
	run.pol.soft_window_days = c->cfg.bounce.soft_window_days;
	while ((r = cli_getopt(c, argc, argv, "h", opts)) != -1) {
		if (CLI_RETURN(r))
			return CLI_EXIT(r);
		switch (r) {
		case 'n':
			run.pol.dry_run = true;
			break;
		case 'j':
			run.json = true;
			break;
		case 'e':
			run.explain = true;
			break;
		case 'm':
			maildir = optarg;
			break;
		case 'b':
			mbox = optarg;
			break;
		}
	}
	if ((maildir != NULL) + (mbox != NULL) + (optind < argc) > 1)
		return cli_usage(c, "give files, --maildir or --mbox, not more than one of them");
	{
		int dashes = 0;

		for (int i = optind; i < argc; i++)
			dashes += strcmp(argv[i], "-") == 0;
		if (dashes > 1)
			return cli_usage(c, "'-' (standard input) may be given once");
		if (dashes == 1 && argc - optind == 1)
			optind = argc;	/* 'bounce -' is 'bounce': the message on stdin */
	}
	if (c->cfg.bounce.keep_handled && (c->cfg.bounce.keep == NULL || c->cfg.bounce.keep[0] == '\0'))
		return cli_fail(c, EXIT_USAGE, "[bounce] keep_handled = true needs [bounce] keep, "
			       "the Maildir to keep them in");
	if (maildir && same_dir(maildir, c->cfg.bounce.keep))
		return cli_usage(c, "--maildir %s is the [bounce] keep Maildir: what is kept there would be "
				 "read again", maildir);
	run.box.keep = c->cfg.bounce.keep;
	run.box.keep_handled = c->cfg.bounce.keep_handled;
	run.box.dry_run = run.pol.dry_run;

	bounce_init();
	if ((r = open_store(&run)) != EXIT_OK) {
		/* The MTA must keep the message when the store cannot be opened. */
		return maildir || mbox || optind < argc ? r : EXIT_TEMPFAIL;
	}

	if (maildir) {
		if (bounce_maildir_each(maildir, &run.box, handle, &run, &retry, err) < 0)
			r = cli_fail(c, EXIT_FAIL, "%s", err);
		else if (run.box.failed && run.rc == EXIT_OK)
			run.rc = EXIT_FAIL;
	} else if (mbox) {
		if (bounce_mbox_each(mbox, handle, &run, &retry, err) < 0)
			r = cli_fail(c, EXIT_FAIL, "%s", err);
	} else if (optind < argc) {
		from_files(&run, argv + optind, (size_t)(argc - optind));
	} else {
		const char *env = getenv("ORIGINAL_RECIPIENT");

		if (env == NULL || *env == '\0')
			env = getenv("RECIPIENT");
		run.envelope = env;
		r = from_stdin(&run);
		bounce_parser_free(run.bp);
		return r;
	}
	bounce_parser_free(run.bp);
	if (r != EXIT_OK)
		return r;
	fflush(stdout);
	summary(&run, maildir);
	return run.rc;
}
