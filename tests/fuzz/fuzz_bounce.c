/*
 * tests/fuzz/fuzz_bounce.c - libFuzzer over the bounce parser (GMime, the
 * DSN and ARF fields, the phrase table, the text scanner): any input must
 * give at most BOUNCE_MAX_RESULTS results, each with a valid address (or
 * none, for an "ignore" about a field that holds no address), a
 * known action and printable evidence, or a clean refusal. Seeded with one
 * message of each kind of the Sisimai source (tests/bounce/sisimai, BSD
 * 2-Clause, see its LICENSE), the crashes found so far (regress-*) and, by
 * tests/fuzz/run, every message of every source under tests/bounce/.
 */
#include <stdlib.h>
#include <string.h>

#include "../../bounce/bounce.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct bounce_report rep;
	char err[ERR_LEN], norm[ADDR_MAX + 1];

	if (bounce_parse((const char *)data, size, "bounces+x@example.org", &rep, err) < 0)
		return 0;
	if (rep.n < 0 || rep.n > BOUNCE_MAX_RESULTS || rep.ntargets > BOUNCE_MAX_TARGETS)
		abort();
	for (int i = 0; i < rep.n; i++) {
		const struct bounce_result *r = &rep.r[i];

		/* A recipient field that holds no address is an "ignore"
		 * result without a recipient; any other is a valid address. */
		if (r->recipient[0] == '\0' ? r->action != BOUNCE_IGNORE
					     : addr_normalize(r->recipient, norm, err) < 0)
			abort();
		if (r->action > BOUNCE_UNSUBSCRIBE || r->reason == NULL)
			abort();
		for (const char *p = r->evidence; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				abort();
		if (strlen(r->status) >= STATUS_LEN)
			abort();
	}
	return 0;
}
