/*
 * tests/unit/test_mailing.c - mailings and deliveries in the store: who is
 * due, in what order, what a recorded outcome changes, and a hard bounce
 * at send time.
 */
#include "helpers.h"

static int64_t
add(struct scratch *s, const char *email, const char *name)
{
	struct purchase p = {.email = email, .name = name, .source = "test"};
	enum enroll_result res;
	char err[ERR_LEN] = "";
	int64_t id = 0;

	cr_assert_eq(store_enroll(s->st, &p, &res, &id, err), STORE_OK, "%s", err);
	return id;
}

static long long
due(struct scratch *s, int64_t mailing)
{
	char err[ERR_LEN] = "";
	long long n = -1;

	cr_assert_eq(store_mailing_due(s->st, mailing, &n, err), STORE_OK, "%s", err);
	return n;
}

Test(mailing, due_next_mark_and_resume)
{
	struct scratch s;
	struct recipient r[8];
	struct mailing_counts c;
	char err[ERR_LEN] = "";
	int64_t ids[5], m = 0, m2 = 0;
	bool existed = true, was;
	long long added = 0;

	scratch_open(&s);
	ids[0] = add(&s, "a@example.no", "Å");
	ids[1] = add(&s, "b@example.no", NULL);
	ids[2] = add(&s, "c@example.no", "C");
	ids[3] = add(&s, "d@example.no", "D");
	ids[4] = add(&s, "e@example.no", "E");
	cr_assert_eq(store_restrict(s.st, "d@example.no", true, "test", err), STORE_OK, "%s", err);

	/* No mailing yet (0): every active subscriber is due; nothing written. */
	cr_assert_eq(due(&s, 0), 4);
	cr_assert_eq(store_mailing_find(s.st, "m1", &m, err), STORE_OK);
	cr_assert_eq(m, 0);

	cr_assert_eq(store_mailing_open(s.st, "m1", "Subject", &m, &existed, err), STORE_OK, "%s", err);
	cr_assert(!existed);
	cr_assert_gt(m, 0);
	cr_assert_eq(store_mailing_open(s.st, "m1", "Subject", &m2, &existed, err), STORE_OK);
	cr_assert(existed);
	cr_assert_eq(m2, m);
	cr_assert_eq(store_mailing_fill(s.st, m, &added, err), STORE_OK, "%s", err);
	cr_assert_eq(added, 4, "a pending row per active subscriber, none for the restricted");
	cr_assert_eq(store_mailing_fill(s.st, m, &added, err), STORE_OK);
	cr_assert_eq(added, 0, "filling twice adds nothing");

	/* In id order, after a cursor, at most max. */
	cr_assert_eq(store_mailing_next(s.st, m, 0, r, 2, err), 2);
	cr_assert_eq(r[0].id, ids[0]);
	cr_assert_str_eq(r[0].email, "a@example.no");
	cr_assert_str_eq(r[0].name, "Å");
	cr_assert_eq(r[1].id, ids[1]);
	cr_assert_str_eq(r[1].name, "");
	cr_assert_eq(store_mailing_next(s.st, m, ids[1], r, 8, err), 2);
	cr_assert_eq(r[0].id, ids[2]);
	cr_assert_eq(r[1].id, ids[4], "the restricted subscriber is skipped");

	cr_assert_eq(store_mailing_mark(s.st, m, ids[0], DELIVERY_SENT, NULL, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_mark(s.st, m, ids[1], DELIVERY_FAILED, "554 5.7.1 spam", err), STORE_OK);
	cr_assert_eq(store_mailing_mark(s.st, m, ids[2], DELIVERY_PENDING, "451 4.7.1 later", err), STORE_OK);
	cr_assert_eq(store_mailing_counts(s.st, m, &c, err), STORE_OK);
	cr_assert_eq(c.sent, 1);
	cr_assert_eq(c.failed, 1);
	cr_assert_eq(c.pending, 2, "the deferred one and e@ (d@ is restricted: not counted)");
	cr_assert_eq(due(&s, m), 2, "a second run sends only what is not sent or failed");

	/* Unsubscribed meanwhile: no longer due, and a mark for them is a no-op. */
	cr_assert_eq(store_unsubscribe(s.st, "e@example.no", "test", &was, err), STORE_OK);
	cr_assert_eq(due(&s, m), 1);
	cr_assert_eq(store_mailing_mark(s.st, m, ids[4], DELIVERY_SENT, NULL, err), STORE_OK);
	cr_assert_eq(store_mailing_counts(s.st, m, &c, err), STORE_OK);
	cr_assert_eq(c.sent, 1);

	/* Enrolled after the fill: due all the same, recorded by the mark. */
	ids[4] = add(&s, "f@example.no", "F");
	cr_assert_eq(due(&s, m), 2);
	cr_assert_eq(store_mailing_mark(s.st, m, ids[4], DELIVERY_SENT, NULL, err), STORE_OK);
	cr_assert_eq(store_mailing_counts(s.st, m, &c, err), STORE_OK);
	cr_assert_eq(c.sent, 2);
	cr_assert_eq(store_mailing_finish(s.st, m, err), STORE_OK);
	scratch_close(&s);
}

/* A group commit records every message in it, skips the gone, and counts
 * a message sent again once. */
Test(mailing, sent_in_one_commit)
{
	struct scratch s;
	struct mailing_counts c;
	char err[ERR_LEN] = "";
	int64_t ids[4], m = 0;
	bool existed, was;
	long long added = 0;

	scratch_open(&s);
	ids[0] = add(&s, "a@example.no", "A");
	ids[1] = add(&s, "b@example.no", "B");
	ids[2] = add(&s, "c@example.no", "C");
	ids[3] = add(&s, "d@example.no", "D");
	cr_assert_eq(store_mailing_open(s.st, "g1", "Subject", &m, &existed, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_fill(s.st, m, &added, err), STORE_OK, "%s", err);
	cr_assert_eq(store_unsubscribe(s.st, "c@example.no", "test", &was, err), STORE_OK);
	cr_assert_eq(store_mailing_sent(s.st, m, ids, 3, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_counts(s.st, m, &c, err), STORE_OK);
	cr_assert_eq(c.sent, 2, "a@ and b@; c@ is gone");
	cr_assert_eq(c.pending, 1, "d@ was not in the group");
	cr_assert_eq(due(&s, m), 1);
	cr_assert_eq(store_mailing_sent(s.st, m, ids + 1, 3, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_counts(s.st, m, &c, err), STORE_OK);
	cr_assert_eq(c.sent, 3);
	cr_assert_eq(c.pending, 0);
	cr_assert_eq(store_mailing_sent(s.st, m, ids, 0, err), STORE_OK, "an empty group is nothing");
	scratch_close(&s);
}

Test(mailing, hard_bounce_deletes_and_suppresses)
{
	struct scratch s;
	struct subscriber sub;
	char err[ERR_LEN] = "";
	bool deleted = false, has = false;
	int64_t id;

	scratch_open(&s);
	id = add(&s, "gone@example.no", "Gone");
	cr_assert_eq(store_delete_claims(s.st, &(struct token_claims){.subscriber = id, .gen = 0}, STORE_DEL_BOUNCED, "send", "rejected at send time: 5.1.1",
					   &deleted, err), STORE_OK, "%s", err);
	cr_assert(deleted);
	cr_assert_eq(store_subscriber_get(s.st, id, &sub, err), STORE_NOTFOUND);
	cr_assert_eq(store_suppress_has(s.st, "gone@example.no", &has, err), STORE_OK);
	cr_assert(has, "a later purchase does not enrol the dead address");
	cr_assert_eq(store_delete_claims(s.st, &(struct token_claims){.subscriber = id, .gen = 0}, STORE_DEL_BOUNCED, "send", "again", &deleted, err), STORE_OK);
	cr_assert(!deleted, "a second bounce for the same subscriber changes nothing");
	scratch_close(&s);
}

/* One mailing's kept counts, as store_mailing_each reports them. */
struct found {
	int64_t id;
	struct mailing_summary m;
	int n;
};

static int
find_one(const struct mailing_summary *m, void *arg)
{
	struct found *f = arg;

	f->n++;
	if (m->id == f->id)
		f->m = *m;
	return 0;
}

static struct mailing_summary
summary(struct scratch *s, int64_t mailing)
{
	struct found f = {.id = mailing};
	char err[ERR_LEN] = "";

	cr_assert_eq(store_mailing_each(s->st, find_one, &f, err), STORE_OK, "%s", err);
	cr_assert_eq(f.m.id, mailing, "mailing %lld is listed", (long long)mailing);
	return f.m;
}

/*
 * An issue's history does not shrink when its readers leave: 20 sent, then
 * 5 deleted (an unsubscribe by the CLI, an erasure, one by a link of this
 * issue, a hard bounce reported with its VERP token, soft bounces over the
 * threshold), and the mailing still says 20 sent; each leave is counted on
 * the issue the token names, else on the newest one sent to them.
 */
Test(mailing, counts_outlive_the_subscribers)
{
	struct scratch s;
	struct mailing_counts c;
	struct mailing_summary m;
	char err[ERR_LEN] = "", email[64];
	int64_t ids[20], m1 = 0, m2 = 0;
	bool existed, was, deleted;
	long long added;
	int score;

	scratch_open(&s);
	for (int i = 0; i < 20; i++) {
		cr_assert(snprintf(email, sizeof(email), "r%02d@example.no", i) < (int)sizeof(email));
		ids[i] = add(&s, email, NULL);
	}
	cr_assert_eq(store_mailing_open(s.st, "issue-1", "One", &m1, &existed, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_fill(s.st, m1, &added, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_sent(s.st, m1, ids, 20, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_counts(s.st, m1, &c, err), STORE_OK);
	cr_assert_eq(c.sent, 20);

	cr_assert_eq(store_unsubscribe(s.st, "r00@example.no", "cli", &was, err), STORE_OK, "%s", err);
	cr_assert(was);
	cr_assert_eq(store_erase(s.st, "r01@example.no", false, "cli", &was, err), STORE_OK, "%s", err);
	cr_assert(was);
	cr_assert_eq(store_delete_claims(s.st, &(struct token_claims){.subscriber = ids[2], .mailing = m1},
					 STORE_DEL_UNSUBSCRIBED, "web", NULL, &was, err), STORE_OK, "%s", err);
	cr_assert(was);
	cr_assert_eq(store_delete_claims(s.st, &(struct token_claims){.subscriber = ids[3], .mailing = m1},
					 STORE_DEL_BOUNCED, "bounce", "5.1.1 unknown", &deleted, err), STORE_OK);
	cr_assert(deleted);
	cr_assert_eq(store_bounce_soft(s.st, ids[4], "4.2.2", "mailbox-full", 1, 30, &score, &deleted, err),
		     STORE_OK, "%s", err);
	cr_assert(deleted, "one point of one is over the threshold");

	cr_assert_eq(store_mailing_counts(s.st, m1, &c, err), STORE_OK);
	cr_expect_eq(c.sent, 20, "the deliveries of the 5 are gone, the count stays");
	cr_expect_eq(c.failed, 0);
	cr_expect_eq(c.pending, 0);
	m = summary(&s, m1);
	cr_expect_str_eq(m.ident, "issue-1");
	cr_expect_str_eq(m.subject, "One");
	cr_expect_eq(m.sent, 20);
	cr_expect_eq(m.failed, 0);
	cr_expect_eq(m.bounced, 2, "the hard bounce and the soft ones over the threshold");
	cr_expect_eq(m.unsubscribed, 3, "the CLI's, the erasure and the link's");

	/* A second issue to the 15 left; a late link or bounce of the first
	 * counts on the first, a leave without a token on the newest. */
	cr_assert_eq(store_mailing_open(s.st, "issue-2", "Two", &m2, &existed, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_fill(s.st, m2, &added, err), STORE_OK, "%s", err);
	cr_assert_eq(added, 15);
	cr_assert_eq(store_mailing_sent(s.st, m2, ids + 5, 14, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_mark(s.st, m2, ids[19], DELIVERY_FAILED, "554 5.7.1 no", err), STORE_OK);
	cr_assert_eq(store_delete_claims(s.st, &(struct token_claims){.subscriber = ids[5], .mailing = m1},
					 STORE_DEL_UNSUBSCRIBED, "mail", "mailto", &was, err), STORE_OK);
	cr_assert_eq(store_delete_claims(s.st, &(struct token_claims){.subscriber = ids[6], .mailing = m1},
					 STORE_DEL_BOUNCED, "bounce", "5.1.1", &was, err), STORE_OK);
	cr_assert_eq(store_delete_claims(s.st, &(struct token_claims){.subscriber = ids[7], .gen = 0}, STORE_DEL_UNSUBSCRIBED, "web", NULL, &was, err), STORE_OK);
	cr_assert_eq(store_erase(s.st, "r19@example.no", true, "cli", &was, err), STORE_OK);
	m = summary(&s, m1);
	cr_expect_eq(m.sent, 20);
	cr_expect_eq(m.bounced, 3);
	cr_expect_eq(m.unsubscribed, 5, "r05's mail, and r19's erasure: issue-2 failed to reach them,"
		     " issue-1 is the newest they got");
	m = summary(&s, m2);
	cr_expect_eq(m.sent, 14);
	cr_expect_eq(m.failed, 1, "the failed one is counted though erased since");
	cr_expect_eq(m.bounced, 0);
	cr_expect_eq(m.unsubscribed, 1, "the leave by id alone: the newest mailing sent to them");
	cr_assert_eq(store_mailing_counts(s.st, m2, &c, err), STORE_OK);
	cr_expect_eq(c.sent, 14);
	cr_expect_eq(c.failed, 1);

	/* A mark that does not change the state counts nothing twice. */
	cr_assert_eq(store_mailing_sent(s.st, m2, ids + 8, 3, err), STORE_OK);
	cr_assert_eq(store_mailing_mark(s.st, m2, ids[8], DELIVERY_SENT, NULL, err), STORE_OK);
	cr_expect_eq(summary(&s, m2).sent, 14);
	/* Nothing that names a subscriber is kept for the counts. */
	cr_expect(!files_contain(&s, "r03@example.no"));
	scratch_close(&s);
}

/* A hard bounce at send time (the server refused the address while the
 * delivery was pending) is a failed delivery and a hard bounce of that
 * mailing, kept after the deletion takes the pending row away. */
Test(mailing, hard_bounce_at_send_time_counts_as_failed)
{
	struct scratch s;
	struct mailing_counts c;
	struct mailing_summary m;
	char err[ERR_LEN] = "";
	int64_t a, b, mid = 0;
	bool existed, deleted;
	long long added;

	scratch_open(&s);
	a = add(&s, "a@example.no", NULL);
	b = add(&s, "b@example.no", NULL);
	cr_assert_eq(store_mailing_open(s.st, "i", "S", &mid, &existed, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_fill(s.st, mid, &added, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_sent(s.st, mid, &a, 1, err), STORE_OK, "%s", err);
	cr_assert_eq(store_delete_claims(s.st, &(struct token_claims){.subscriber = b, .mailing = mid},
					 STORE_DEL_BOUNCED, "send", "rejected at send time: 5.1.1",
					 &deleted, err), STORE_OK, "%s", err);
	cr_assert(deleted);
	cr_assert_eq(store_mailing_counts(s.st, mid, &c, err), STORE_OK);
	cr_expect_eq(c.sent, 1);
	cr_expect_eq(c.failed, 1, "as the send's own tally said");
	cr_expect_eq(c.pending, 0);
	m = summary(&s, mid);
	cr_expect_eq(m.bounced, 1);
	cr_expect_eq(m.unsubscribed, 0);
	scratch_close(&s);
}
