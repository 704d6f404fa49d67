/*
 * lib/progress.c - a single self-overwriting progress line on stderr when
 * stderr is a terminal; silent otherwise (cron, pipes, tests).
 */
#include "lib.h"

#include <unistd.h>

void
progress_init(struct progress *p)
{
	p->tty = isatty(STDERR_FILENO);
	p->start = monotonic_seconds();
	p->last = 0;
	p->width = 0;
}

void
progress_update(struct progress *p, const char *what, long long done,
		double fraction)
{
	double now, rate, eta;
	int n;

	if (!p->tty)
		return;
	now = monotonic_seconds();
	if (now - p->last < 0.1)
		return;
	p->last = now;
	rate = now > p->start ? (double)done / (now - p->start) : 0;
	if (fraction > 0 && fraction <= 1) {
		eta = (now - p->start) * (1 - fraction) / fraction;
		n = fprintf(stderr, "\r%s: %lld (%d%%), %.0f/s, %.0f s left ",
			    what, done, (int)(100 * fraction), rate, eta);
	} else {
		n = fprintf(stderr, "\r%s: %lld, %.0f/s ", what, done, rate);
	}
	if (n > 0 && n < p->width)
		fprintf(stderr, "%*s", p->width - n, "");
	if (n > p->width)
		p->width = n;
}

void
progress_done(struct progress *p)
{
	if (p->tty && p->width > 0)
		fprintf(stderr, "\r%*s\r", p->width, "");
	p->width = 0;
}
