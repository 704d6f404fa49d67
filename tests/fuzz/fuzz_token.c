/*
 * tests/fuzz/fuzz_token.c - libFuzzer over token verification: any input,
 * of any length, must be rejected cleanly unless it is a token we made.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../store/store.h"

static struct store_keys *keys;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/newsletter-fuzz.XXXXXX", path[64], err[ERR_LEN];

	(void)argc;
	(void)argv;
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/key", dir);
	if (store_keys_create(path, err) < 0 || (keys = store_keys_load(path, err)) == NULL)
		abort();
	unlink(path);
	rmdir(dir);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct token_claims tc;

	memcpy(s, data, size);
	s[size] = '\0';
	for (int p = 0; p <= 4; p++)
		if (store_token_verify(keys, s, (enum token_purpose)p, &tc) == 0)
			abort();	/* a forgery: the fuzzer cannot know the key */
	free(s);
	return 0;
}
