/*
 * lib/log.c - the process's one logger: lines on stderr, "newsletter: ...".
 *
 * Callers never pass an address or a token: log a subscriber id or a keyed
 * hash instead. This file cannot check that; reviewers must.
 */
#include "lib.h"

#include <stdlib.h>
#include <string.h>

static const char *log_progname = "newsletter";
static enum log_level log_level = LOG_INFO;

void
log_init(const char *progname, enum log_level level)
{
	const char *slash = strrchr(progname, '/');

	log_progname = slash ? slash + 1 : progname;
	log_level = level;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

bool
log_vformat(char *out, size_t size, const char *fmt, va_list ap)
{
	static const char mark[] = "...";
	size_t end;
	int n = vsnprintf(out, size, fmt, ap);

	if (n >= 0 && (size_t)n < size)
		return false;
	if (size < sizeof(mark))
		return true;	/* no room to say so */
	/* A bad conversion (n < 0: EOVERFLOW, EILSEQ) leaves nothing to keep;
	 * a cut goes back to the first byte of the character it splits. */
	end = n < 0 ? 0 : size - sizeof(mark);
	while (end > 0 && ((unsigned char)out[end] & 0xC0) == 0x80)
		end--;
	memcpy(out + end, mark, sizeof(mark));
	return true;
}

static void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	static const char *const prefix[] = {
		[LOG_ERROR] = "error: ",
		[LOG_WARN] = "warning: ",
		[LOG_INFO] = "",
		[LOG_DEBUG] = "debug: ",
	};
	char line[1024];

	/*
	 * One write per line, so that lines of parallel processes do not mix;
	 * a longer message is cut, and ends in "..." to show it.
	 */
	log_vformat(line, sizeof(line), fmt, ap);
	fprintf(stderr, "%s: %s%s\n", log_progname, prefix[level], line);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(EXIT_FAIL);
}
