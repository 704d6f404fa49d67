/*
 * store/defer.c - leaving the scrub after a deletion to the store's owner.
 *
 * A deletion normally ends with a truncating checkpoint (store_scrub), so
 * that the address is gone from the -wal file when the call returns. That
 * costs an fsync of the database file and the truncation of the log: a
 * server that unsubscribes thousands of people a second would spend its
 * time there. Such a server defers it and calls store_scrub() itself, on
 * its own connection, for every batch of deletions within a short, fixed
 * delay. The deleted bytes are zeroed in the new pages at once
 * (secure_delete); only the older copies in the log wait for that call.
 */
#include "store_int.h"

void
store_defer_scrub(struct store *st, bool defer)
{
	st->defer_scrub = defer;
}
