/*
 * web/web.h - the HTTP server of 'newsletter serve': the subscriber's
 * unsubscribe and data pages, RFC 8058 one-click unsubscription, the
 * signup form with its confirmation links (double opt-in), and the admin
 * API.
 */
#ifndef NEWSLETTER_WEB_H
#define NEWSLETTER_WEB_H

#include "../lib/lib.h"
#include "../store/store.h"

/* Checks an ADDRESS:PORT (numeric IPv4, [IPv6] or a host name); 0 or -1. */
int web_listen_check(const char *listen, char *err);

/*
 * Serves on @listen (NULL: [web] listen) and, when [web] admin_token_file
 * is set, the admin API on [web] admin_listen, until SIGTERM or SIGINT.
 * @keys stays owned by the caller. Returns 0 after a clean shutdown, or -1
 * with the reason in @err (a port taken, an unreadable token file).
 */
int web_serve(const struct config *cfg, const struct store_keys *keys,
	      const char *listen, char *err);

#endif
