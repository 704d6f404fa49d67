/*
 * cli/cli.h - what the command files of cli/ share.
 *
 * Two programs are linked from cli/: newsletter-net with every file but
 * exec_net.c, and newsletter, the front, with exec_net.c in place of
 * cmd_send.c and cmd_serve.c (see exec_net.c). Both have the same table.
 */
#ifndef NEWSLETTER_CLI_H
#define NEWSLETTER_CLI_H

#include <getopt.h>

#include "../lib/lib.h"
#include "../store/store.h"

struct cli {
	struct config cfg;
	struct store_keys *keys;
	struct store *st;
	const struct command *cmd;
	char **argv;		/* main()'s, unchanged: what the front's send and
				 * serve hand to newsletter-net (exec_net.c) */
};

struct command {
	const char *name;
	int (*run)(struct cli *c, int argc, char **argv);
	const char *args;	/* synopsis after the name */
	const char *summary;	/* one line for 'newsletter --help' */
	const char *help;	/* the rest of 'newsletter CMD --help' */
};

/* Loads the keys and opens the store; returns an exit code (0 on success). */
int cli_open(struct cli *c);
/* Prints an error (with the command's name) and returns @code. */
int cli_fail(struct cli *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prints the usage hint for a bad invocation and returns EXIT_USAGE. */
int cli_usage(struct cli *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * Parses the options of a subcommand with getopt_long, handling --help.
 * Returns the option character, -1 at the end, or a negative exit code - 100
 * when the caller must return (help printed, or a bad option).
 */
int cli_getopt(struct cli *c, int argc, char **argv, const char *shortopts,
	       const struct option *longopts);
#define CLI_RETURN(r) ((r) <= -100)
#define CLI_EXIT(r) (-(r) - 100)

int cmd_init(struct cli *c, int argc, char **argv);
int cmd_key(struct cli *c, int argc, char **argv);
int cmd_enroll(struct cli *c, int argc, char **argv);
int cmd_import(struct cli *c, int argc, char **argv);
int cmd_list(struct cli *c, int argc, char **argv);
int cmd_stats(struct cli *c, int argc, char **argv);
int cmd_export(struct cli *c, int argc, char **argv);
int cmd_rectify(struct cli *c, int argc, char **argv);
int cmd_restrict(struct cli *c, int argc, char **argv);
int cmd_unrestrict(struct cli *c, int argc, char **argv);
int cmd_unsubscribe(struct cli *c, int argc, char **argv);
int cmd_erase(struct cli *c, int argc, char **argv);
int cmd_retention(struct cli *c, int argc, char **argv);
int cmd_link(struct cli *c, int argc, char **argv);
int cmd_serve(struct cli *c, int argc, char **argv);
int cmd_send(struct cli *c, int argc, char **argv);
int cmd_bounce(struct cli *c, int argc, char **argv);

#endif
