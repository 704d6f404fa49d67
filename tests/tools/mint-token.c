/*
 * tests/tools/mint-token.c - prints a signed token for the end-to-end
 * tests, as the mailer puts one in every message's VERP envelope sender
 * and List-Unsubscribe mailto address.
 *
 *   mint-token KEY_FILE bounce|unsubscribe SUBSCRIBER_ID [MAILING_ID]
 *
 * A test tool, not installed: the key file stays the operator's secret.
 */
#include <stdlib.h>
#include <string.h>

#include "../../store/store.h"

int
main(int argc, char **argv)
{
	struct store_keys *keys;
	char err[ERR_LEN], tok[TOKEN_LEN + 1];
	enum token_purpose purpose;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: mint-token KEY_FILE bounce|unsubscribe SUBSCRIBER_ID [MAILING_ID]\n");
		return 2;
	}
	if (strcmp(argv[2], "bounce") == 0)
		purpose = TOKEN_BOUNCE;
	else if (strcmp(argv[2], "unsubscribe") == 0)
		purpose = TOKEN_UNSUBSCRIBE;
	else {
		fprintf(stderr, "mint-token: purpose must be bounce or unsubscribe\n");
		return 2;
	}
	if ((keys = store_keys_load(argv[1], err)) == NULL) {
		fprintf(stderr, "mint-token: %s\n", err);
		return 1;
	}
	store_token_make(keys, purpose, strtoll(argv[3], NULL, 10),
			 argc == 5 ? strtoll(argv[4], NULL, 10) : 1, tok);
	puts(tok);
	store_keys_free(keys);
	return 0;
}
