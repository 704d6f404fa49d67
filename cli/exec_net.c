/*
 * cli/exec_net.c - 'send' and 'serve' in the front program, newsletter:
 * they replace the process with newsletter-net, which runs them.
 *
 * newsletter is two programs built from cli/. newsletter-net has every
 * command and links every library; newsletter, the one users run, links
 * neither mailer/ nor web/ nor their libraries (libmicrohttpd with GnuTLS,
 * libesmtp, OpenDKIM, OpenSSL, cmark), whose loading was most of the start
 * of every command, 'newsletter bounce' run once per message by the MTA
 * among them. Its send and serve are this file: execv() of newsletter-net
 * with the process's own argv, unchanged (argv[0] and the global options
 * included), so the PID, signals, the exit code and every message are
 * those of newsletter-net run directly. --help needs no exec: main()
 * prints it from the command table, which both programs share.
 *
 * newsletter-net is looked for beside this program (the build tree), then
 * in ../libexec/newsletter/ (make install, any PREFIX; the Debian package):
 * no path is compiled in. Trusts the folder this program is in as much as
 * the program itself (whoever writes there could replace either); never
 * runs itself (newsletter copied as newsletter-net would exec for ever).
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NET_NAME "newsletter-net"
#define NET_LIBEXEC "libexec/newsletter/" NET_NAME

/* Tries to run @path; on return (it did not run), why, in @why. */
static void
try_exec(struct cli *c, const char *path, const struct stat *self, char *why, size_t len)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		snprintf(why, len, "%s", strerror(errno));
		return;
	}
	if (st.st_dev == self->st_dev && st.st_ino == self->st_ino) {
		snprintf(why, len, "it is this program, not the network one");
		return;
	}
	fflush(NULL);	/* what is buffered is ours, not the new program's */
	execv(path, c->argv);
	snprintf(why, len, "%s", strerror(errno));
}

/* Runs newsletter-net with this process's argv; returns only on failure. */
static int
exec_net(struct cli *c)
{
	char exe[PATH_MAX], beside[PATH_MAX], libexec[PATH_MAX];
	char why_beside[128], why_libexec[128];
	struct stat self;
	ssize_t n;
	char *slash;
	int r;

	n = readlink("/proc/self/exe", exe, sizeof(exe));
	if (n < 0)
		return cli_fail(c, EXIT_FAIL, "cannot find " NET_NAME ": /proc/self/exe: %s "
				"(is /proc mounted?)", strerror(errno));
	if ((size_t)n >= sizeof(exe))
		return cli_fail(c, EXIT_FAIL, "cannot find " NET_NAME ": the path of this program "
				"is longer than %zu bytes", sizeof(exe) - 1);
	exe[n] = '\0';
	if (stat(exe, &self) < 0)
		memset(&self, 0, sizeof(self));	/* deleted (upgraded): nothing to compare */
	slash = strrchr(exe, '/');
	if (slash == NULL)
		return cli_fail(c, EXIT_FAIL, "cannot find " NET_NAME ": /proc/self/exe is not a "
				"path: %s", exe);
	*slash = '\0';		/* exe is its folder now */
	r = snprintf(beside, sizeof(beside), "%s/" NET_NAME, exe);
	if (r < 0 || (size_t)r >= sizeof(beside))
		return cli_fail(c, EXIT_FAIL, "cannot find " NET_NAME ": the path of this program "
				"is too long");
	/* The folder's parent by name: "/" for "/bin", and the path we show
	 * has no "..". */
	slash = strrchr(exe, '/');
	r = snprintf(libexec, sizeof(libexec), "%.*s/" NET_LIBEXEC,
		     slash ? (int)(slash - exe) : 0, exe);
	if (r < 0 || (size_t)r >= sizeof(libexec))
		return cli_fail(c, EXIT_FAIL, "cannot find " NET_NAME ": the path of this program "
				"is too long");

	try_exec(c, beside, &self, why_beside, sizeof(why_beside));
	try_exec(c, libexec, &self, why_libexec, sizeof(why_libexec));
	return cli_fail(c, EXIT_FAIL, "cannot run " NET_NAME ", the program that runs send and "
			"serve: tried %s (%s) and %s (%s); reinstall newsletter, or in the source "
			"tree run 'make'", beside, why_beside, libexec, why_libexec);
}

int
cmd_send(struct cli *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return exec_net(c);
}

int
cmd_serve(struct cli *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return exec_net(c);
}
