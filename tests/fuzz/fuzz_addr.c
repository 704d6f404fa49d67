/*
 * tests/fuzz/fuzz_addr.c - libFuzzer over address normalisation: whatever
 * it accepts must be accepted again unchanged (idempotent) and fit limits.
 */
#include <stdlib.h>
#include <string.h>

#include "../../lib/lib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), out[ADDR_MAX + 1], again[ADDR_MAX + 1], err[ERR_LEN];
	char masked[ADDR_MAX + 8];

	memcpy(s, data, size);
	s[size] = '\0';
	if (addr_normalize(s, out, err) == 0) {
		if (strlen(out) > ADDR_MAX || addr_normalize(out, again, err) != 0 ||
		    strcmp(out, again) != 0)
			abort();
		addr_mask(out, masked, sizeof(masked));
		addr_fold(out, again);
	}
	free(s);
	return 0;
}
