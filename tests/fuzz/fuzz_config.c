/*
 * tests/fuzz/fuzz_config.c - libFuzzer over the configuration file parser.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/lib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct config cfg;
	char err[ERR_LEN];
	FILE *fp;

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "/tmp/newsletter-fuzz-conf.%d", (int)getpid());
	fp = fopen(path, "w");
	if (fp == NULL)
		abort();
	fwrite(data, 1, size, fp);
	fclose(fp);
	config_load(&cfg, path, true, err);
	config_free(&cfg);
	unlink(path);
	return 0;
}
