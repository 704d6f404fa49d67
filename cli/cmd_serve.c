/*
 * cli/cmd_serve.c - 'newsletter serve': the unsubscribe pages, RFC 8058
 * one-click unsubscription and the admin API, until SIGTERM or SIGINT.
 */
#include "cli.h"

#include "../web/web.h"

int
cmd_serve(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *listen = NULL;
	char err[ERR_LEN];
	int r;

	while ((r = cli_getopt(c, argc, argv, "hl:", opts)) != -1) {
		if (CLI_RETURN(r))
			return CLI_EXIT(r);
		if (r == 'l')
			listen = optarg;
	}
	if (argc - optind != 0)
		return cli_usage(c, "serve takes no arguments");
	if (listen != NULL && web_listen_check(listen, err) < 0)
		return cli_usage(c, "--listen %s", err);
	/* Opens the store once here, so that a missing database or key file is
	 * reported before anything listens. */
	if ((r = cli_open(c)) != EXIT_OK)
		return r;
	store_close(c->st);
	c->st = NULL;
	if (web_serve(&c->cfg, c->keys, listen, err) < 0)
		return cli_fail(c, EXIT_FAIL, "%s", err);
	return EXIT_OK;
}
