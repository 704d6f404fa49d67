/*
 * cli/cmd_rights.c - the data subject's rights and retention: export,
 * rectify, restrict, unrestrict, unsubscribe, erase, retention, link.
 *
 * Messages name subscribers by id; an address is printed only where the
 * user asked for it (export).
 */
#include "cli.h"

#include "../bounce/bounce.h"

#include <string.h>

/* Parses a command that takes only --help and @nargs addresses. */
static int
args_only(struct cli *c, int argc, char **argv, int nargs, const char *what)
{
	int r;

	while ((r = cli_getopt(c, argc, argv, "h", NULL)) != -1)
		if (CLI_RETURN(r))
			return CLI_EXIT(r);
	if (argc - optind != nargs)
		return cli_usage(c, "%s", what);
	return cli_open(c);
}

int
cmd_export(struct cli *c, int argc, char **argv)
{
	enum store_status s;
	char err[ERR_LEN];
	json_t *o;
	int r;

	if ((r = args_only(c, argc, argv, 1, "give one address")) != EXIT_OK)
		return r;
	s = store_export(c->st, argv[optind], c->cfg.list.name, &o, err);
	if (s != STORE_OK)
		return cli_fail(c, store_exit_code(s), "%s", err);
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	if (json_is_null(json_object_get(o, "subscriber")))
		log_info("no subscriber has that address: the export shows what else is held");
	json_decref(o);
	return EXIT_OK;
}

int
cmd_rectify(struct cli *c, int argc, char **argv)
{
	struct subscriber sub;
	enum store_status s;
	char err[ERR_LEN];
	int r;

	if ((r = args_only(c, argc, argv, 2, "give the old and the new address")) != EXIT_OK)
		return r;
	s = store_rectify(c->st, argv[optind], argv[optind + 1], "cli", err);
	if (s != STORE_OK)
		return cli_fail(c, store_exit_code(s), "%s", err);
	if (store_subscriber_find(c->st, argv[optind + 1], &sub, err) == STORE_OK)
		printf("corrected the address of subscriber %lld\n", (long long)sub.id);
	return EXIT_OK;
}

static int
set_restricted(struct cli *c, int argc, char **argv, bool restricted)
{
	struct subscriber sub;
	enum store_status s;
	char err[ERR_LEN];
	int r;

	if ((r = args_only(c, argc, argv, 1, "give one address")) != EXIT_OK)
		return r;
	s = store_restrict(c->st, argv[optind], restricted, "cli", err);
	if (s != STORE_OK)
		return cli_fail(c, store_exit_code(s), "%s", err);
	if (store_subscriber_find(c->st, argv[optind], &sub, err) == STORE_OK)
		printf(restricted ? "subscriber %lld is restricted: kept, never mailed\n"
				  : "subscriber %lld is active: mailed again\n", (long long)sub.id);
	return EXIT_OK;
}

int
cmd_restrict(struct cli *c, int argc, char **argv)
{
	return set_restricted(c, argc, argv, true);
}

int
cmd_unrestrict(struct cli *c, int argc, char **argv)
{
	return set_restricted(c, argc, argv, false);
}

int
cmd_unsubscribe(struct cli *c, int argc, char **argv)
{
	enum store_status s;
	char err[ERR_LEN];
	bool was;
	int r;

	if ((r = args_only(c, argc, argv, 1, "give one address")) != EXIT_OK)
		return r;
	s = store_unsubscribe(c->st, argv[optind], "cli", &was, err);
	if (s != STORE_OK)
		return cli_fail(c, store_exit_code(s), "%s", err);
	printf(was ? "unsubscribed: the subscriber is deleted; a suppression entry keeps a purchase from enrolling them again\n"
		   : "no subscriber had that address; a suppression entry keeps a purchase from enrolling it\n");
	return EXIT_OK;
}

int
cmd_erase(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"suppress", no_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	enum store_status s;
	char err[ERR_LEN];
	bool suppress = false, existed;
	int r;

	while ((r = cli_getopt(c, argc, argv, "h", opts)) != -1) {
		if (CLI_RETURN(r))
			return CLI_EXIT(r);
		if (r == 's')
			suppress = true;
	}
	if (argc - optind != 1)
		return cli_usage(c, "give one address");
	if ((r = cli_open(c)) != EXIT_OK)
		return r;
	s = store_erase(c->st, argv[optind], suppress, "cli", &existed, err);
	if (s != STORE_OK)
		return cli_fail(c, store_exit_code(s), "%s", err);
	printf("%s%s\n", existed ? "erased: the subscriber, their data and deliveries are deleted "
				   "(the audit log keeps the event, by keyed hash, for [retention] audit_months)"
				 : "no subscriber had that address: nothing to erase",
	       suppress ? "; a suppression entry keeps a purchase from enrolling them again"
			: "; no suppression entry is kept, so a later purchase enrols them again");
	return EXIT_OK;
}

int
cmd_retention(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"dry-run", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct retention_result res;
	enum store_status s;
	char err[ERR_LEN];
	bool dry_run = false;
	long kept;
	int r;

	while ((r = cli_getopt(c, argc, argv, "h", opts)) != -1) {
		if (CLI_RETURN(r))
			return CLI_EXIT(r);
		if (r == 'n')
			dry_run = true;
	}
	if (optind != argc)
		return cli_usage(c, "retention takes no arguments");
	if ((r = cli_open(c)) != EXIT_OK)
		return r;
	s = store_retention(c->st, c->cfg.retention.months_without_purchase,
			    c->cfg.retention.audit_months, dry_run, &res, err);
	if (s != STORE_OK)
		return cli_fail(c, store_exit_code(s), "%s", err);
	if (res.subscriber_cutoff[0])
		printf("%s %lld subscriber%s with no purchase or consent since %s\n",
		       dry_run ? "would delete" : "deleted", res.subscribers,
		       res.subscribers == 1 ? "" : "s", res.subscriber_cutoff);
	else
		printf("subscribers: no retention limit ([retention] months_without_purchase = 0)\n");
	if (res.audit_cutoff[0])
		printf("%s %lld audit event%s older than %s\n", dry_run ? "would delete" : "deleted",
		       res.audit_events, res.audit_events == 1 ? "" : "s", res.audit_cutoff);
	else
		printf("audit events: no age limit ([retention] audit_months = 0)\n");
	printf("%s %lld pending signup%s whose confirmation link expired\n",
	       dry_run ? "would delete" : "deleted", res.signups, res.signups == 1 ? "" : "s");
	/* Kept bounce messages carry the addresses of people since deleted. */
	if (c->cfg.bounce.keep == NULL || c->cfg.bounce.keep[0] == '\0') {
		printf("kept bounce messages: none ([bounce] keep is not set)\n");
		return EXIT_OK;
	}
	if (bounce_keep_expire(c->cfg.bounce.keep, c->cfg.retention.keep_days, dry_run, &kept, err) < 0)
		return cli_fail(c, EXIT_FAIL, "%s", err);
	printf("%s %ld kept bounce message%s older than %d day%s ([retention] keep_days)\n",
	       dry_run ? "would delete" : "deleted", kept, kept == 1 ? "" : "s",
	       c->cfg.retention.keep_days, c->cfg.retention.keep_days == 1 ? "" : "s");
	return EXIT_OK;
}

int
cmd_link(struct cli *c, int argc, char **argv)
{
	struct subscriber sub;
	enum store_status s;
	char err[ERR_LEN], token[TOKEN_LEN + 1];
	int r;

	while ((r = cli_getopt(c, argc, argv, "h", NULL)) != -1)
		if (CLI_RETURN(r))
			return CLI_EXIT(r);
	if (argc - optind < 1)
		return cli_usage(c, "give one address or more");
	if ((r = cli_open(c)) != EXIT_OK)
		return r;
	/* Several addresses: one link a line, in order (tests, benchmarks). */
	for (int i = optind; i < argc; i++) {
		s = store_subscriber_find(c->st, argv[i], &sub, err);
		if (s != STORE_OK)
			return cli_fail(c, store_exit_code(s), "%s", err);
		struct token_claims tc = {.subscriber = sub.id, .gen = sub.gen};

		if (store_token_make(c->keys, TOKEN_UNSUBSCRIBE, &tc, token) < 0)
			return cli_fail(c, EXIT_FAIL, "subscriber %lld: beyond what a link can name",
					(long long)sub.id);
		printf("%s/u/%s\n", c->cfg.list.base_url, token);
	}
	return EXIT_OK;
}
