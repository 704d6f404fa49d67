/*
 * cli/cmd_send.c - 'newsletter send ISSUE.md': render the issue once, then
 * send, preview, count or test it through the mailer.
 *
 * Says what it will do before it starts (a mailing already partly sent
 * says so) and sums up at the end. Exit 0: everyone due has been handled;
 * 75: some recipients are left pending after 4xx answers (run it again);
 * 1: the server could not be reached or the store failed (nothing lost);
 * 2: bad issue file or options.
 */
#include "cli.h"
#include "../mailer/mailer.h"

#include <errno.h>
#include <gmime/gmime.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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

/* Mailing id, due count, and what was done before; prints the plan. */
static int
plan(struct cli *c, const struct issue *is, const struct send_cmd *sc, struct send_opts *o)
{
	struct mailing_counts before;
	enum store_status s;
	char err[ERR_LEN];
	bool existed = false;
	long long added = 0;

	if (sc->dry_run || sc->preview)
		s = store_mailing_find(c->st, is->ident, &o->mailing_id, err);
	else
		s = store_mailing_open(c->st, is->ident, is->subject, &o->mailing_id, &existed, err);
	if (s == STORE_OK && o->mailing_id != 0 && !sc->dry_run && !sc->preview)
		s = store_mailing_fill(c->st, o->mailing_id, &added, err);
	if (s == STORE_OK)
		s = store_mailing_due(c->st, o->mailing_id, &o->total, err);
	if (s == STORE_OK && o->mailing_id != 0)
		s = store_mailing_counts(c->st, o->mailing_id, &before, err);
	else
		memset(&before, 0, sizeof(before));
	if (s != STORE_OK)
		return cli_fail(c, store_exit_code(s), "%s", err);
	if (before.sent + before.failed > 0)
		printf("mailing %s: %lld sent and %lld failed in earlier runs; %lld still to send\n",
		       is->ident, before.sent, before.failed, o->total);
	else
		printf("mailing %s%s: %lld recipients\n", is->ident,
		       existed || o->mailing_id == 0 ? "" : " (new)", o->total);
	return EXIT_OK;
}

static int
summary(struct cli *c, const struct issue *is, const struct send_opts *o,
	const struct send_result *res, bool failed, const char *why)
{
	struct mailing_counts after;
	char err[ERR_LEN];

	if (o->dry_run || o->preview_dir) {
		printf("%s %lld messages of mailing %s; nothing sent\n",
		       o->preview_dir ? "wrote" : "rendered", res->rendered, is->ident);
		if (o->preview_dir)
			printf("the messages are in %s/ID.eml, one per subscriber id\n", o->preview_dir);
		return failed ? cli_fail(c, EXIT_FAIL, "%s", why) : EXIT_OK;
	}
	printf("this run: %lld sent, %lld failed (%lld hard bounces: deleted and suppressed), "
	       "%lld deferred answers\n", res->sent, res->failed, res->bounced, res->deferred);
	if (store_mailing_counts(c->st, o->mailing_id, &after, err) != STORE_OK)
		return cli_fail(c, EXIT_FAIL, "%s", err);
	printf("mailing %s: %lld sent, %lld failed, %lld pending\n", is->ident, after.sent,
	       after.failed, after.pending);
	if (failed)
		return cli_fail(c, EXIT_FAIL, "%s; run the same command again to send the rest", why);
	if (after.pending > 0) {
		log_warn("%lld recipients are left pending (the server said try later): "
			 "run the same command again", after.pending);
		return EXIT_TEMPFAIL;
	}
	if (store_mailing_finish(c->st, o->mailing_id, err) != STORE_OK)
		return cli_fail(c, EXIT_FAIL, "%s", err);
	return EXIT_OK;
}

static int
run_send(struct cli *c, const struct send_cmd *sc, const struct issue *is)
{
	char placeholder[TOKEN_LEN + 1], url[1024], boundary[64], err[ERR_LEN];
	unsigned char rnd[12];
	struct send_opts o = {0};
	struct send_result res;
	struct rendered body;
	struct compose_params p;
	struct compose *mailing;
	struct dkim_signer *dkim = NULL;
	int r, sr;

	mailer_compose_placeholder(placeholder);
	snprintf(url, sizeof(url), "%s/u/%s", c->cfg.list.base_url, placeholder);
	if (mailer_render(is, &c->cfg, url, &body, err) < 0)
		return cli_fail(c, EXIT_USAGE, "%s", err);
	randombytes_buf(rnd, sizeof(rnd));
	memcpy(boundary, "=-", 2);
	sodium_bin2base64(boundary + 2, sizeof(boundary) - 2, rnd, sizeof(rnd),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	p = (struct compose_params){
		.from = c->cfg.list.from, .subject = is->subject, .list_id = c->cfg.list.id,
		.list_name = c->cfg.list.name, .base_url = c->cfg.list.base_url,
		.bounce_domain = c->cfg.bounce.domain, .text = body.text, .html = body.html,
		.unsub_url = url, .date = time(NULL), .boundary = boundary,
	};
	mailing = mailer_compose_new(&p, err);
	if (mailing == NULL) {
		mailer_render_free(&body);
		return cli_fail(c, EXIT_FAIL, "%s", err);
	}
	if (c->cfg.dkim.domain && (dkim = mailer_dkim_new(c->cfg.dkim.domain, c->cfg.dkim.selector,
							  c->cfg.dkim.key_file, err)) == NULL) {
		r = cli_fail(c, EXIT_USAGE, "%s", err);
		goto out;
	}
	o = (struct send_opts){
		.cfg = &c->cfg, .keys = c->keys, .mailing = mailing, .dkim = dkim,
		.test_to = sc->to, .preview_dir = sc->preview, .dry_run = sc->dry_run,
		.connections = sc->connections, .rate = sc->rate,
	};
	if (sc->to) {
		sr = mailer_send(&o, &res, err);
		if (sr < 0)
			r = cli_fail(c, EXIT_FAIL, "%s", err);
		else
			printf("sent one test copy of mailing %s (not recorded)\n", is->ident);
		if (sr == 0)
			r = EXIT_OK;
		goto out;
	}
	if ((r = plan(c, is, sc, &o)) != EXIT_OK)
		goto out;
	if (o.total == 0 && !sc->dry_run && !sc->preview) {
		printf("nothing to send: every recipient has been handled\n");
		r = summary(c, is, &o, &(struct send_result){0}, false, NULL);
		goto out;
	}
	sr = mailer_send(&o, &res, err);
	r = summary(c, is, &o, &res, sr < 0, err);
out:
	mailer_dkim_free(dkim);
	mailer_compose_free(mailing);
	mailer_render_free(&body);
	return r;
}

int
cmd_send(struct cli *c, int argc, char **argv)
{
	struct send_cmd sc = {0};
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
	/* The fill and the counts read the whole list: a small page cache
	 * keeps the memory flat (the sender's own handle has the same). */
	store_mailing_sender(c->st);
	/* A server that closes the connection must not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	g_mime_init();
	r = run_send(c, &sc, &is);
	g_mime_shutdown();
	mailer_issue_free(&is);
	return r;
}
