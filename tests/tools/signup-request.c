/*
 * tests/tools/signup-request.c - records a pending signup as the signup
 * form does (store_signup_request), for the end-to-end tests of serve's
 * confirmation mails: the store side of the double opt-in, without the
 * web side.
 *
 *   signup-request DATABASE KEY_FILE EMAIL [LANG [CONFIRM_HOURS]]
 *
 * Prints the outcome: queued, throttled or full. A test tool, not
 * installed.
 */
#include <stdlib.h>
#include <string.h>

#include "../../store/store.h"

int
main(int argc, char **argv)
{
	static const char *const names[] = {"queued", "throttled", "full"};
	struct store_keys *keys;
	struct store *st;
	enum signup_outcome out;
	enum store_status s;
	char err[ERR_LEN];

	if (argc < 4 || argc > 6) {
		fprintf(stderr, "usage: signup-request DATABASE KEY_FILE EMAIL [LANG [CONFIRM_HOURS]]\n");
		return 2;
	}
	if ((keys = store_keys_load(argv[2], err)) == NULL) {
		fprintf(stderr, "signup-request: %s\n", err);
		return 1;
	}
	if ((s = store_open(&st, argv[1], keys, err)) != STORE_OK) {
		fprintf(stderr, "signup-request: %s\n", err);
		store_keys_free(keys);
		return 1;
	}
	s = store_signup_request(st, &(struct signup){.email = argv[3], .name = "Test Person",
				 .lang = argc >= 5 ? argv[4] : "en",
				 .consent_text = "Yes, send me the newsletter.", .channel = SIGNUP_WEB,
				 .confirm_hours = argc >= 6 ? atoi(argv[5]) : 72, .resend_hours = 24,
				 .max_pending = 10000}, &out, err);
	if (s != STORE_OK)
		fprintf(stderr, "signup-request: %s\n", err);
	else
		puts(names[out]);
	store_close(st);
	store_keys_free(keys);
	return store_exit_code(s);
}
