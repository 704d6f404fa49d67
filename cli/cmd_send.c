/*
 * cli/cmd_send.c - 'newsletter send ISSUE.md': options, then one
 * mailer_run() that renders the issue once and sends, previews, counts or
 * tests it; this file prints the plan and the summary from its figures and
 * maps its outcome to an exit code.
 *
 * Says what it will do before it starts (a mailing already partly sent
 * says so) and sums up at the end. Exit 0: everyone due has been handled;
 * 75: some recipients are left pending after 4xx answers (run it again);
 * 1: the server could not be reached or the store failed (nothing lost;
 * run it again), or the relay refused our AUTH (fix the credentials first);
 * 2: bad issue file or options.
 */
#include "cli.h"
#include "../mailer/mailer.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int
parse_count(struct cli *c, const char *opt, const char *v, int lo, int hi, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *v == '\0' || *end != '\0' || n < lo || n > hi)
		return cli_usage(c, "%s must be a number from %d to %d", opt, lo, hi);
	*out = (int)n;
	return EXIT_OK;
}

struct send_cmd {
	const char *issue_path, *to, *preview;
	bool dry_run;
	int connections, rate;
};

static int
send_options(struct cli *c, int argc, char **argv, struct send_cmd *sc)
{
	static const struct option opts[] = {
		{"dry-run", no_argument, NULL, 'n'},
		{"to", required_argument, NULL, 't'},
		{"preview", required_argument, NULL, 'p'},
		{"connections", required_argument, NULL, 'c'},
		{"rate", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int ch, r;

	sc->connections = c->cfg.smtp.connections;
	sc->rate = c->cfg.smtp.rate;
	while ((ch = cli_getopt(c, argc, argv, ":", opts)) != -1) {
		if (CLI_RETURN(ch))
			return CLI_EXIT(ch);
		switch (ch) {
		case 'n':
			sc->dry_run = true;
			break;
		case 't':
			sc->to = optarg;
			break;
		case 'p':
			sc->preview = optarg;
			break;
		case 'c':
			if ((r = parse_count(c, "--connections", optarg, 1, 64, &sc->connections)) != EXIT_OK)
				return r;
			break;
		case 'r':
			if ((r = parse_count(c, "--rate", optarg, 0, 1000000, &sc->rate)) != EXIT_OK)
				return r;
			break;
		}
	}
	if (optind + 1 != argc)
		return cli_usage(c, optind >= argc ? "give the issue file" : "give one issue file");
	sc->issue_path = argv[optind];
	if (sc->to && (sc->dry_run || sc->preview))
		return cli_usage(c, "--to sends a test copy: it goes with neither --dry-run nor --preview");
	return EXIT_OK;
}

/* Says what the run will do, before anything goes out. */
static void
print_plan(const struct mailer_plan *pl, void *arg)
{
	const struct send_cmd *sc = arg;

	if (pl->before_sent + pl->before_failed > 0)
		printf("mailing %s: %lld sent and %lld failed in earlier runs; %lld still to send\n",
		       pl->ident, pl->before_sent, pl->before_failed, pl->due);
	else
		printf("mailing %s%s: %lld recipients\n", pl->ident, pl->is_new ? " (new)" : "",
		       pl->due);
	if (pl->due == 0 && !sc->dry_run && !sc->preview)
		printf("nothing to send: every recipient has been handled\n");
}

/* Sums up what the run did; the exit code of its outcome. */
static int
summary(struct cli *c, const struct send_cmd *sc, const struct issue *is,
	const struct mailer_report *rep, const char *err)
{
	if (sc->to) {
		if (rep->outcome != MAILER_OK)
			return cli_fail(c, EXIT_FAIL, "%s", err);
		printf("sent one test copy of mailing %s (not recorded)\n", is->ident);
		return EXIT_OK;
	}
	if (rep->ran && (sc->dry_run || sc->preview)) {
		printf("%s %lld messages of mailing %s; nothing sent\n",
		       sc->preview ? "wrote" : "rendered", rep->rendered, is->ident);
		if (sc->preview)
			printf("the messages are in %s/ID.eml, one per subscriber id\n", sc->preview);
	} else if (rep->ran) {
		printf("this run: %lld sent, %lld failed (%lld hard bounces: deleted and suppressed), "
		       "%lld deferred answers\n", rep->sent, rep->failed, rep->bounced, rep->deferred);
	}
	if (rep->counted)
		printf("mailing %s: %lld sent, %lld failed, %lld pending\n", is->ident,
		       rep->after.sent, rep->after.failed, rep->after.pending);
	switch (rep->outcome) {
	case MAILER_OK:
		return EXIT_OK;
	case MAILER_PENDING:
		log_warn("%lld recipients are left pending (the server said try later): "
			 "run the same command again", rep->after.pending);
		return EXIT_TEMPFAIL;
	case MAILER_FAILED:
		/* Running again with the same credentials, or against the same
		 * TLS set-up, is refused again. */
		if (rep->stop == MAILER_STOP_AUTH)
			return cli_fail(c, EXIT_FAIL, "%s; check [smtp] username and the password in "
					"[smtp] password_file (its first line): the same command "
					"fails the same way until they are right", err);
		if (rep->stop == MAILER_STOP_TLS)
			return cli_fail(c, EXIT_FAIL, "%s; the same command fails the same way until the "
					"relay's TLS or [smtp] tls and ca_file change", err);
		if (rep->resumable)
			return cli_fail(c, EXIT_FAIL, "%s; run the same command again to send the rest", err);
		return cli_fail(c, EXIT_FAIL, "%s", err);
	case MAILER_BAD_INPUT:
		return cli_fail(c, EXIT_USAGE, "%s", err);
	case MAILER_STORE:
		return cli_fail(c, store_exit_code(rep->store), "%s", err);
	}
	return cli_fail(c, EXIT_FAIL, "%s", err);
}

int
cmd_send(struct cli *c, int argc, char **argv)
{
	struct send_cmd sc = {0};
	struct mailer_job job;
	struct mailer_report rep;
	struct issue is;
	char err[ERR_LEN], addr[ADDR_MAX + 1];
	int r;

	if ((r = send_options(c, argc, argv, &sc)) != EXIT_OK)
		return r;
	if (sc.to && addr_normalize(sc.to, addr, err) < 0)
		return cli_usage(c, "--to: %s", err);
	if (sc.preview && mkdir(sc.preview, 0700) < 0 && errno != EEXIST)
		return cli_fail(c, EXIT_FAIL, "--preview %s: %s", sc.preview, strerror(errno));
	if (mailer_issue_load(sc.issue_path, &is, err) < 0)
		return cli_fail(c, EXIT_USAGE, "%s", err);
	if ((r = cli_open(c)) != EXIT_OK) {
		mailer_issue_free(&is);
		return r;
	}
	/* A server that closes the connection must not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	job = (struct mailer_job){
		.cfg = &c->cfg, .keys = c->keys, .st = c->st, .issue = &is,
		.mode = sc.to ? MAILER_ONE : sc.preview ? MAILER_PREVIEW
			: sc.dry_run ? MAILER_DRY_RUN : MAILER_SEND,
		.to = sc.to ? addr : NULL, .preview_dir = sc.preview,
		.connections = sc.connections, .rate = sc.rate,
		.on_plan = print_plan, .arg = &sc,
	};
	mailer_run(&job, &rep, err);
	r = summary(c, &sc, &is, &rep, err);
	mailer_issue_free(&is);
	return r;
}
