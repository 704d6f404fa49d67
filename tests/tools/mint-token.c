/*
 * tests/tools/mint-token.c - prints a signed token for the end-to-end
 * tests, as the mailer puts one in every message's VERP envelope sender
 * and List-Unsubscribe mailto address.
 *
 *   mint-token KEY_FILE bounce|unsubscribe|access SUBSCRIBER_ID [MAILING_ID [GEN]]
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
	struct token_claims tc;

	if (argc < 4 || argc > 6) {
		fprintf(stderr, "usage: mint-token KEY_FILE bounce|unsubscribe|access SUBSCRIBER_ID [MAILING_ID [GEN]]\n");
		return 2;
	}
	if (strcmp(argv[2], "bounce") == 0)
		purpose = TOKEN_BOUNCE;
	else if (strcmp(argv[2], "unsubscribe") == 0)
		purpose = TOKEN_UNSUBSCRIBE;
	else if (strcmp(argv[2], "access") == 0)
		purpose = TOKEN_ACCESS;
	else {
		fprintf(stderr, "mint-token: purpose must be bounce, unsubscribe or access\n");
		return 2;
	}
	if ((keys = store_keys_load(argv[1], err)) == NULL) {
		fprintf(stderr, "mint-token: %s\n", err);
		return 1;
	}
	tc.subscriber = strtoll(argv[3], NULL, 10);
	tc.mailing = argc >= 5 ? strtoll(argv[4], NULL, 10) : 1;
	tc.gen = argc == 6 ? (unsigned)strtoul(argv[5], NULL, 10) : 0;
	if (store_token_make(keys, purpose, &tc, tok) < 0) {
		fprintf(stderr, "mint-token: a claim is beyond what a token holds\n");
		store_keys_free(keys);
		return 2;
	}
	puts(tok);
	store_keys_free(keys);
	return 0;
}
