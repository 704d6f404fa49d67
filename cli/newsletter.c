/*
 * cli/newsletter.c - main(): global options, the command table, --help,
 * and the one place where a status becomes an exit code.
 *
 * Exit codes: 0 success, 1 runtime failure, 2 usage or bad input, 75
 * temporary failure (database busy): see the README and newsletter(1).
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct command commands[] = {
	{"init", cmd_init, "",
	 "create the database and the key file",
	 "Creates the database and a new key file (mode 0600). Refuses to overwrite\n"
	 "either. Keep the key file secret and backed up: links in mail sent so far,\n"
	 "and the suppression list, depend on it. Makes no folder: theirs\n"
	 "([store] database and key_file; by default /var/lib/newsletter) must\n"
	 "exist and be writable by the user that runs newsletter.\n"},
	{"enroll", cmd_enroll, "EMAIL [--name NAME] [--order REF] [--date YYYY-MM-DD] [--consent]",
	 "enrol a buyer (a purchase), or refresh their last purchase",
	 "A purchase enrols the buyer (legal basis: soft opt-in), or refreshes the\n"
	 "date of their last purchase if they are enrolled already. Running it twice\n"
	 "changes nothing more. An address on the suppression list (unsubscribed,\n"
	 "reported dead) is not enrolled by a purchase; --consent records an explicit\n"
	 "new opt-in, which clears the suppression entry and enrols.\n"
	 "\n"
	 "  --name NAME          the buyer's name\n"
	 "  --order REF          the order reference\n"
	 "  --date YYYY-MM-DD    the purchase date (default: today)\n"
	 "  --consent            an explicit opt-in, not only a purchase\n"},
	{"import", cmd_import, "FILE.csv [--skip-bad]",
	 "enrol the buyers of a CSV file of purchases",
	 "Reads purchases from a CSV file (RFC 4180; '-' for standard input) whose\n"
	 "header row names the columns: email (required), name, order, date.\n"
	 "Every bad line is reported with its number and reason; if there is any,\n"
	 "nothing is imported and the exit code is 2. The import is one transaction.\n"
	 "\n"
	 "  --skip-bad           import the good rows, report the bad ones\n"},
	{"list", cmd_list, "[--json]",
	 "list subscribers",
	 "Lists every subscriber: id, address, name, state, enrolment time and last\n"
	 "purchase.\n"
	 "\n"
	 "  --json               {\"subscribers\": [...]}, one object per subscriber\n"},
	{"stats", cmd_stats, "[--json]",
	 "counts by state, suppression entries, each mailing's history",
	 "Prints how many subscribers there are by state, how many addresses are\n"
	 "suppressed, the size of the audit log, the state of the last mailing, and\n"
	 "each mailing's history: sent, failed, hard bounces and unsubscribes since,\n"
	 "counts kept on the mailing that later deletions do not shrink.\n"
	 "\n"
	 "  --json               the same as a JSON object\n"},
	{"export", cmd_export, "EMAIL",
	 "everything held about an address, as JSON (access request)",
	 "Prints, as JSON, everything held about the address, with the purpose and\n"
	 "legal basis of each item (GDPR art. 15 and 20).\n"},
	{"rectify", cmd_rectify, "OLD NEW",
	 "correct a subscriber's address",
	 "Changes a subscriber's address from OLD to NEW (GDPR art. 16). The old\n"
	 "address is removed from the database files.\n"},
	{"restrict", cmd_restrict, "EMAIL",
	 "keep a subscriber but never mail them",
	 "Restricts processing (GDPR art. 18): the subscriber is kept but receives\n"
	 "no mail until 'unrestrict'.\n"},
	{"unrestrict", cmd_unrestrict, "EMAIL",
	 "lift a restriction",
	 "Lifts a restriction: the subscriber receives the newsletter again.\n"},
	{"unsubscribe", cmd_unsubscribe, "EMAIL",
	 "delete a subscriber and keep a suppression entry",
	 "Unsubscribes as the link in every newsletter does: deletes the subscriber\n"
	 "and everything held about them, and keeps a keyed hash of the address so\n"
	 "that a later purchase does not enrol them again. Not an error for an\n"
	 "address that is not subscribed.\n"},
	{"erase", cmd_erase, "EMAIL [--suppress]",
	 "delete everything held about an address",
	 "Erases (GDPR art. 17): deletes the subscriber, their deliveries and any\n"
	 "suppression entry. A later purchase will enrol them again, unless\n"
	 "--suppress keeps a suppression entry (a keyed hash, not the address).\n"
	 "The audit log keeps the event, by keyed hash.\n"
	 "\n"
	 "  --suppress           keep a suppression entry\n"},
	{"retention", cmd_retention, "[--dry-run]",
	 "delete expired subscribers and old audit events",
	 "Deletes subscribers with no purchase (nor consent) within\n"
	 "[retention] months_without_purchase, audit events older than\n"
	 "[retention] audit_months, and the messages in the [bounce] keep Maildir\n"
	 "older than [retention] keep_days (default 30), and pending signups whose\n"
	 "confirmation links expired, and prints the counts.\n"
	 "Run it daily.\n"
	 "\n"
	 "  --dry-run            count, delete nothing\n"},
	{"link", cmd_link, "EMAIL...",
	 "print a subscriber's unsubscribe link",
	 "Prints the subscriber's signed unsubscribe URL ([list] base_url/u/TOKEN),\n"
	 "for support staff and tests; for several addresses, one a line.\n"},
	{"serve", cmd_serve, "[--listen ADDRESS:PORT]",
	 "serve the unsubscribe pages and the admin API",
	 "Serves the subscriber's pages under [list] base_url: GET /u/TOKEN shows\n"
	 "'Unsubscribe k***@example.no?' with one button and changes nothing; a POST\n"
	 "to it (the button, or a mail client's RFC 8058 one-click POST) unsubscribes.\n"
	 "When [web] admin_token_file is set, also serves the admin API on\n"
	 "[web] admin_listen (Authorization: Bearer TOKEN): POST /api/v1/purchases,\n"
	 "GET and DELETE /api/v1/subscribers/EMAIL, POST .../restrict, .../unrestrict,\n"
	 ".../unsubscribe, GET /metrics; GET /healthz on both. Logs one line per\n"
	 "request to standard error. Stops on SIGTERM or SIGINT after in-flight\n"
	 "requests finish. With [signup] enabled, also mails each pending signup's\n"
	 "confirmation link through [smtp] within seconds (retried while the relay\n"
	 "is down) and deletes unconfirmed signups whose links expired.\n"
	 "\n"
	 "  --listen ADDRESS:PORT  where to listen (default: [web] listen, 127.0.0.1:8080)\n"},
	{"send", cmd_send, "ISSUE.md [--dry-run] [--to ADDRESS] [--preview DIR] [--connections N] [--rate N]",
	 "send an issue to every active subscriber",
	 "Renders the issue file (a header block of \"key: value\" lines - subject,\n"
	 "and optionally id, preheader, allow_html - then a blank line and Markdown)\n"
	 "and sends one personalised message to every active subscriber through\n"
	 "[smtp]. Each mailing has an id (the id: line, else a hash of the file); a\n"
	 "second run of the same issue sends only what is not sent yet, so a killed\n"
	 "or failed run is completed by running it again. Exit 75 when some\n"
	 "recipients are left pending after \"try again later\" answers.\n"
	 "\n"
	 "  --dry-run            render every message and count, send nothing\n"
	 "  --to ADDRESS         send one test copy to ADDRESS, record nothing\n"
	 "  --preview DIR        write each message to DIR/ID.eml, send nothing\n"
	 "  --connections N      SMTP connections at once (default: [smtp] connections)\n"
	 "  --rate N             at most N messages a second (default: [smtp] rate)\n"},
	{"bounce", cmd_bounce, "[--dry-run] [--json] [--explain] [FILE... | --maildir DIR | --mbox FILE]",
	 "read bounces and complaints; delete dead addresses",
	 "Reads bounce messages: one on standard input (as an MTA pipe delivers it;\n"
	 "also as FILE '-'), each FILE, every message in a Maildir's new/, or every\n"
	 "message of an mbox.\n"
	 "Decides per recipient: hard (the address is gone: the subscriber is deleted,\n"
	 "a suppression entry kept), soft (a point of bounce score, at most one a day;\n"
	 "[bounce] soft_threshold points within soft_window_days count as hard),\n"
	 "complaint (ARF) or unsubscribe request (mail to unsubscribe+TOKEN@):\n"
	 "unsubscribed, or ignore (auto-replies, delivery reports, anything unclear).\n"
	 "A message is attributed by the signed token of the VERP address it was\n"
	 "delivered to (Delivered-To, X-Original-To, To, or $ORIGINAL_RECIPIENT /\n"
	 "$RECIPIENT from the MTA); with [bounce] require_verp (the default) nothing\n"
	 "changes without a valid token. On standard input: exit 0 when handled, 75\n"
	 "when the MTA should try again; a message that cannot be parsed is kept in\n"
	 "the [bounce] keep Maildir. A handled Maildir message is deleted once acted\n"
	 "on (with [bounce] keep_handled, moved into the keep Maildir); one that\n"
	 "cannot be parsed is moved into the keep Maildir, or without one left in\n"
	 "cur/ flagged F, as is anything in new/ that is not a regular file (never\n"
	 "read, never followed); on a temporary failure they stay in new/. FILEs and\n"
	 "an mbox are never changed. 'retention' expires the keep Maildir.\n"
	 "\n"
	 "  --dry-run            change nothing (needs no database: verdicts only)\n"
	 "  --json               one JSON object per message and line: {\"file\",\n"
	 "                       \"results\": [{\"recipient\", \"action\", \"status\",\n"
	 "                       \"reason\", \"evidence\"}]}\n"
	 "  --explain            say why, in words, and what was done\n"
	 "  --maildir DIR        every message in DIR/new\n"
	 "  --mbox FILE          every message of an mbox file\n"},
	{"key", cmd_key, "rotate",
	 "add a new signing key",
	 "'key rotate' adds a key to the key file: new links are signed with it and\n"
	 "links signed with older keys keep working. Never remove the first key.\n"},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *fp)
{
	fprintf(fp,
		"usage: newsletter [--config FILE] [-q | -v] COMMAND [ARGS]\n"
		"\n"
		"A newsletter subscription manager that keeps a privacy policy's promises.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(fp, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(fp,
		"\n"
		"Options:\n"
		"  --config FILE   the configuration file (default: $NEWSLETTER_CONFIG,\n"
		"                  else ./newsletter.conf, else built-in defaults)\n"
		"  -q, --quiet     errors only\n"
		"  -v, --verbose   more detail\n"
		"  --version       print the version\n"
		"  -h, --help      this text; 'newsletter COMMAND --help' for a command\n"
		"\n"
		"Exit codes: 0 success, 1 failure, 2 usage or bad input, 75 try again later.\n");
}

static void
command_help(const struct command *cmd)
{
	printf("usage: newsletter %s %s\n\n%s", cmd->name, cmd->args, cmd->help);
}

int
cli_fail(struct cli *c, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	/* A message for a person: cut to 1 KiB, ending in "..." if so. */
	va_start(ap, fmt);
	log_vformat(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s: %s", c->cmd ? c->cmd->name : "newsletter", msg);
	return code;
}

int
cli_usage(struct cli *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	/* A message for a person: cut to 1 KiB, ending in "..." if so. */
	va_start(ap, fmt);
	log_vformat(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "newsletter %s: %s\nusage: newsletter %s %s\n"
		"Try 'newsletter %s --help'.\n", c->cmd->name, msg, c->cmd->name,
		c->cmd->args, c->cmd->name);
	return EXIT_USAGE;
}

int
cli_getopt(struct cli *c, int argc, char **argv, const char *shortopts,
	   const struct option *longopts)
{
	static const struct option help_only[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int ch;

	opterr = 0;
	ch = getopt_long(argc, argv, shortopts, longopts ? longopts : help_only, NULL);
	if (ch == 'h') {
		command_help(c->cmd);
		return -100 - EXIT_OK;
	}
	if (ch == '?') {
		if (optopt != 0)
			cli_usage(c, "unknown option '-%c'", optopt);
		else
			cli_usage(c, "unknown option '%s'", argv[optind - 1]);
		return -100 - EXIT_USAGE;
	}
	if (ch == ':') {
		cli_usage(c, "option '%s' needs a value", argv[optind - 1]);
		return -100 - EXIT_USAGE;
	}
	return ch;
}

int
cli_open(struct cli *c)
{
	char err[ERR_LEN];
	enum store_status s;

	c->keys = store_keys_load(c->cfg.store.key_file, err);
	if (c->keys == NULL)
		return cli_fail(c, EXIT_FAIL, "%s", err);
	s = store_open(&c->st, c->cfg.store.database, c->keys, err);
	if (s != STORE_OK)
		return cli_fail(c, store_exit_code(s), "%s", err);
	log_debug("config %s; database %s (schema %d); %d key(s), key %d signs",
		  c->cfg.path ? c->cfg.path : "(built-in defaults)", c->cfg.store.database,
		  store_schema_version(c->st), store_keys_count(c->keys), store_keys_current(c->keys));
	return EXIT_OK;
}

static const struct command *
find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct cli c = {0};
	const char *config = NULL;
	bool must_exist = true;
	char err[ERR_LEN];
	int ch, rc;

	umask(077);		/* the database and its WAL hold personal data */
	log_init("newsletter", LOG_INFO);
	c.argv = argv;		/* "+": getopt permutes nothing, so it stays as given */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+c:qvh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'q':
			log_set_level(LOG_ERROR);
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'V':
			printf("newsletter %s\n", NEWSLETTER_VERSION);
			return EXIT_OK;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			if (optopt == 'c' || (optind > 1 && strcmp(argv[optind - 1], "--config") == 0))
				fprintf(stderr, "newsletter: --config needs a file name\n");
			else
				fprintf(stderr, "newsletter: unknown option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0) {
		const struct command *cmd = optind + 1 < argc ? find_command(argv[optind + 1]) : NULL;

		if (cmd)
			command_help(cmd);
		else
			usage(stdout);
		return EXIT_OK;
	}
	c.cmd = find_command(argv[optind]);
	if (c.cmd == NULL) {
		fprintf(stderr, "newsletter: unknown command '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	for (int i = optind + 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			command_help(c.cmd);	/* needs no configuration */
			return EXIT_OK;
		}
	if (config == NULL)
		config = getenv("NEWSLETTER_CONFIG");
	if (config == NULL || *config == '\0') {
		config = "newsletter.conf";
		must_exist = false;
	}
	if (config_load(&c.cfg, config, must_exist, err) < 0) {
		log_error("%s", err);
		config_free(&c.cfg);
		return EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	optind = 0;		/* glibc: start the subcommand's parsing afresh */
	rc = c.cmd->run(&c, argc, argv);
	store_close(c.st);
	store_keys_free(c.keys);
	config_free(&c.cfg);
	return rc;
}
