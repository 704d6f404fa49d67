/*
 * tests/fuzz/fuzz_csv.c - libFuzzer over the CSV reader: every record it
 * returns has at most CSV_MAX_FIELDS NUL-terminated fields, and it ends.
 */
#include <stdlib.h>
#include <string.h>

#include "../../lib/lib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *fp;
	struct csv *c;
	char err[ERR_LEN], **f;
	int n, guard = 0;

	if (size == 0)
		return 0;
	fp = fmemopen((void *)data, size, "r");
	if (fp == NULL)
		return 0;
	c = csv_open(fp);
	while ((n = csv_next(c, &f, err)) != 0) {
		if (n > CSV_MAX_FIELDS || ++guard > (int)size + 1)
			abort();
		for (int i = 0; i < n; i++)
			if (strlen(f[i]) > CSV_MAX_RECORD)
				abort();
	}
	csv_close(c);
	fclose(fp);
	return 0;
}
