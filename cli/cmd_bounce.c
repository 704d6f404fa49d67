/*
 * cli/cmd_bounce.c - 'newsletter bounce': its options, its output (the
 * --explain text, --json lines, the summary) and its exit codes. The work,
 * reading bounces from stdin (an MTA pipe), files, a Maildir or an mbox,
 * parsing them and acting on the store, is bounce_run()'s (bounce/run.c),
 * which calls back here once per message, in order.
 *
 * Exit codes for the MTA pipe: 0 when the message was handled (a message
 * that is not a bounce is handled too, and one that cannot be parsed is
 * handled by keeping it in [bounce] keep), 75 when the store is busy or the
 * message could not be kept, so that the MTA tries again. A message from
 * stdin is stored by us only in [bounce] keep: when it cannot be parsed, or
 * with keep_handled. Every message read is counted once, and the summary
 * says what became of each: it is what the Maildir's flags show. Addresses
 * reach stdout only in --json and --explain output, which the user asked
 * for; the log names subscriber ids. Every result names the rule that
 * decided it ("rule" in --json, a "rule:" line in --explain): the row of
 * bounce/rules.c's phrase or status table, so that a person who disagrees
 * can see why.
 */
#include "cli.h"

#include "../bounce/bounce.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The output and the exit code of a run; bounce_run() does the work. */
struct bounce_cmd {
	struct cli *c;
	enum bounce_from from;
	bool json, explain, dry_run, have_store;
	int rc;			/* the worst exit code so far */
};

/* Writes @s as a JSON string; false (nothing written) unless it is
 * well-formed UTF-8 without control characters. */
static bool
json_str_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char err[ERR_LEN];

	/* Printable ASCII, nearly every string here, is well-formed and
	 * has no control character: no UTF-8 to decode. */
	while (*p >= 0x20 && *p < 0x7f)
		p++;
	return *p == '\0' || text_check(s, (size_t)-1 / 2, "string", err) == 0;
}

/*
 * The rule that decided @r: the reader's, or, for a result made by the
 * kind of message alone (an auto-reply, a mail to the unsubscribe
 * address), that kind.
 */
static const char *
rule_of(const struct bounce_report *rep, const struct bounce_result *r, char buf[BOUNCE_RULE_MAX + 1])
{
	if (r->rule[0])
		return r->rule;
	if (fmt(buf, BOUNCE_RULE_MAX + 1, "message kind %s (%s) -> %s", bounce_kind_name(rep->kind),
		r->reason ? r->reason : "", bounce_action_name(r->action)) != 0)
		buf[0] = '\0';	/* a kind and a reason are short words: cannot happen */
	return buf;
}

/* Only this thread writes to stdout: no locking per byte. */
static void
put_json_str(const char *s)
{
	putchar_unlocked('"');
	/* Span by span (strcspn), not byte by byte: a string is mostly
	 * bytes written as they are. */
	for (;;) {
		size_t n = strcspn(s, "\"\\");

		fwrite_unlocked(s, 1, n, stdout);
		if (s[n] == '\0')
			break;
		putchar_unlocked('\\');
		putchar_unlocked(s[n]);
		s += n + 1;
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
	char rule[BOUNCE_RULE_MAX + 1];

	if (!json_str_ok(file))
		return false;
	for (int i = 0; i < rep->n; i++)
		if (!json_str_ok(rep->r[i].recipient) || !json_str_ok(rep->r[i].original) ||
		    !json_str_ok(rep->r[i].status) ||
		    !json_str_ok(rep->r[i].reason ? rep->r[i].reason : "") || !json_str_ok(rep->r[i].evidence) ||
		    !json_str_ok(rule_of(rep, &rep->r[i], rule)))
			return false;
	fputs("{\"file\":", stdout);
	put_json_str(file);
	fputs(",\"results\":[", stdout);
	for (int i = 0; i < rep->n; i++) {
		const struct bounce_result *r = &rep->r[i];

		fputs(i ? ",{\"recipient\":" : "{\"recipient\":", stdout);
		put_json_str(r->recipient);
		/* The address mailed, when the report names it apart from
		 * where it was delivered: the one a subscriber list holds. */
		if (r->original[0]) {
			fputs(",\"original\":", stdout);
			put_json_str(r->original);
		}
		fputs(",\"action\":", stdout);
		put_json_str(bounce_action_name(r->action));
		fputs(",\"status\":", stdout);
		put_json_str(r->status);
		fputs(",\"reason\":", stdout);
		put_json_str(r->reason ? r->reason : "");
		fputs(",\"evidence\":", stdout);
		put_json_str(r->evidence);
		fputs(",\"rule\":", stdout);
		put_json_str(rule_of(rep, r, rule));
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
	char rule[BOUNCE_RULE_MAX + 1];

	json_object_set_new(o, "file", json_string(file));
	for (int i = 0; i < rep->n; i++) {
		const struct bounce_result *r = &rep->r[i];
		json_t *jr = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
				       "recipient", r->recipient,
				       "action", bounce_action_name(r->action),
				       "status", r->status,
				       "reason", r->reason ? r->reason : "",
				       "evidence", r->evidence,
				       "rule", rule_of(rep, r, rule));

		if (jr == NULL)		/* not UTF-8: cannot happen, addresses are checked */
			continue;
		if (r->original[0])
			json_object_set_new(jr, "original", json_string(r->original));
		if (explain)
			json_object_set_new(jr, "why", json_string(r->why ? r->why : ""));
		json_array_append_new(results, jr);
	}
	json_object_set_new(o, "results", results);
	if (explain) {
		json_object_set_new(o, "kind", json_string(bounce_kind_name(rep->kind)));
		if (out) {
			json_object_set_new(o, "done", json_string(bounce_effect_name(out->effect)));
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

/* What --explain says a message is. */
static const char *
kind_words(enum bounce_kind k)
{
	switch (k) {
	case BOUNCE_KIND_DSN:
		return "a delivery status notification (RFC 3464)";
	case BOUNCE_KIND_ARF:
		return "a complaint report (RFC 5965)";
	case BOUNCE_KIND_TEXT:
		return "a bounce in plain text";
	case BOUNCE_KIND_AUTO_REPLY:
		return "an automatic reply, not a bounce";
	case BOUNCE_KIND_UNSUBSCRIBE:
		return "a mail to the unsubscribe address";
	case BOUNCE_KIND_SES:
		return "an Amazon SES notification";
	case BOUNCE_KIND_NONE:
		break;
	}
	return "not a bounce";
}

static void
print_explain(const char *file, const struct bounce_report *rep, const struct bounce_outcome *out)
{
	char rule[BOUNCE_RULE_MAX + 1];

	printf("%s: %s\n", file, kind_words(rep->kind));
	for (int i = 0; i < rep->n; i++) {
		const struct bounce_result *r = &rep->r[i];

		printf("  %s: %s%s%s, because %s\n", r->recipient[0] ? r->recipient : "(not an address)",
		       bounce_action_name(r->action), r->status[0] ? " " : "", r->status, r->why ? r->why : "");
		printf("    rule: %s\n", rule_of(rep, r, rule));
		if (r->evidence[0])
			printf("    evidence: %s\n", r->evidence);
	}
	if (out)
		printf("  done: %s%s%s\n", bounce_effect_name(out->effect), out->detail[0] ? ": " : "",
		       out->detail);
}

/* bounce_run()'s callback, once per message in order: prints it and keeps
 * the exit code it calls for. */
static void
print_message(const struct bounce_message *m, void *arg)
{
	struct bounce_cmd *bo = arg;

	switch (m->fate) {
	case BOUNCE_FATE_UNREAD:
		if (bo->json)
			print_json(m->path, m->rep, NULL, m->error, bo->explain);
		else if (bo->explain)
			printf("%s: cannot be read: %s\n", m->path, m->error);
		/* A file named on the command line must be readable. */
		if (bo->from == BOUNCE_FROM_FILES && bo->rc == EXIT_OK)
			bo->rc = EXIT_FAIL;
		return;
	case BOUNCE_FATE_UNPARSED:
		if (bo->json)
			print_json(m->path, m->rep, NULL, m->error, bo->explain);
		else if (bo->explain)
			printf("%s: cannot be parsed: %s\n", m->path, m->error);
		return;
	case BOUNCE_FATE_PARSED:
		break;
	}
	if (m->status == STORE_BUSY)
		bo->rc = EXIT_TEMPFAIL;
	else if (m->status != STORE_OK && bo->rc == EXIT_OK)
		bo->rc = store_exit_code(m->status);
	if (bo->json)
		print_json(m->path, m->rep, m->out, m->error, bo->explain);
	else if (bo->explain)
		print_explain(m->path, m->rep, m->out);
}

/*
 * One line at the end of a run over several messages: every message read
 * is in exactly one count, and for a Maildir the second half says where
 * each went (the flags in cur/ are the "left" ones).
 */
static void
summary(const struct bounce_run_counts *n, bool dry_run, const char *maildir)
{
	long handled = n->messages - n->unparsed - n->unread - n->retried;
	bool bad = n->unparsed || n->unread || n->box.failed;
	char tail[ERR_LEN] = "";

	if (maildir && dry_run)
		errf(tail, "; in the Maildir: nothing changed (--dry-run)");
	else if (maildir)
		errf(tail, "; in the Maildir: %ld deleted, %ld moved into [bounce] keep, "
		     "%ld left in cur/ flagged F, %ld failed (left in cur/)",
		     n->box.deleted, n->box.kept, n->box.flagged, n->box.failed);
	log_msg(bad ? LOG_WARN : LOG_INFO, "bounce: %ld message%s: %ld handled, %ld could not be parsed, "
		"%ld could not be read, %ld to try again (the store failed)%s", n->messages,
		n->messages == 1 ? "" : "s", handled, n->unparsed, n->unread, n->retried, tail);
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
open_store(struct bounce_cmd *bo)
{
	struct cli *c = bo->c;

	if (bo->dry_run && (access(c->cfg.store.key_file, R_OK) != 0 ||
				 access(c->cfg.store.database, R_OK) != 0)) {
		log_debug("bounce: no store to read: verdicts only");
		return EXIT_OK;
	}
	int r = cli_open(c);

	if (r != EXIT_OK)
		return r;
	bo->have_store = true;
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
	struct bounce_cmd bo = {.c = c};
	struct bounce_run_opts o = {0};
	struct bounce_run_counts n;
	const char *maildir = NULL, *mbox = NULL;
	char err[ERR_LEN];
	int r;

	o.pol.require_verp = c->cfg.bounce.require_verp;
	o.pol.soft_threshold = c->cfg.bounce.soft_threshold;
	o.pol.soft_window_days = c->cfg.bounce.soft_window_days;
	while ((r = cli_getopt(c, argc, argv, "h", opts)) != -1) {
		if (CLI_RETURN(r))
			return CLI_EXIT(r);
		switch (r) {
		case 'n':
			o.pol.dry_run = true;
			break;
		case 'j':
			bo.json = true;
			break;
		case 'e':
			bo.explain = true;
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
	o.keep = c->cfg.bounce.keep;
	o.keep_handled = c->cfg.bounce.keep_handled;
	if (maildir) {
		o.from = BOUNCE_FROM_MAILDIR;
		o.path = maildir;
	} else if (mbox) {
		o.from = BOUNCE_FROM_MBOX;
		o.path = mbox;
	} else if (optind < argc) {
		o.from = BOUNCE_FROM_FILES;
		o.files = argv + optind;
		o.nfiles = (size_t)(argc - optind);
	} else {
		const char *env = getenv("ORIGINAL_RECIPIENT");

		if (env == NULL || *env == '\0')
			env = getenv("RECIPIENT");
		o.from = BOUNCE_FROM_STDIN;
		o.envelope = env;
	}
	bo.from = o.from;
	bo.dry_run = o.pol.dry_run;

	if ((r = open_store(&bo)) != EXIT_OK) {
		/* The MTA must keep the message when the store cannot be opened. */
		return o.from != BOUNCE_FROM_STDIN ? r : EXIT_TEMPFAIL;
	}
	o.st = bo.have_store ? c->st : NULL;
	o.keys = c->keys;

	r = bounce_run(&o, print_message, &bo, &n, err);
	if (o.from == BOUNCE_FROM_STDIN) {
		if (r < 0)
			return cli_fail(c, EXIT_TEMPFAIL, "%s", err);
		return n.retried ? bo.rc : EXIT_OK;
	}
	if (r < 0)
		return cli_fail(c, EXIT_FAIL, "%s", err);
	if (o.from == BOUNCE_FROM_MAILDIR && n.box.failed && bo.rc == EXIT_OK)
		bo.rc = EXIT_FAIL;
	fflush(stdout);
	summary(&n, o.pol.dry_run, maildir);
	return bo.rc;
}
