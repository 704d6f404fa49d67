/*
 * tests/unit/test_send.c - what a change of a recipient's state in a send
 * run records (mailer_send_apply, which send.c's set_state() calls for
 * every change): against a store in a temporary folder, read back the way
 * a subscriber's export shows it.
 */
#include <jansson.h>

#include "helpers.h"
#include "../../mailer/mailer_int.h"

static int64_t
add(struct scratch *s, const char *email)
{
	struct purchase p = {.email = email, .name = "N", .source = "test"};
	enum enroll_result res;
	char err[ERR_LEN] = "";
	int64_t id = 0;

	cr_assert_eq(store_enroll(s->st, &p, &res, &id, err), STORE_OK, "%s", err);
	return id;
}

/* A scratch store with one subscriber, "a@example.no", due in mailing "m1";
 * sets @id and @m. */
static void
one_due(struct scratch *s, int64_t *id, int64_t *m)
{
	char err[ERR_LEN] = "";
	bool existed;
	long long added;

	scratch_open(s);
	*id = add(s, "a@example.no");
	cr_assert_eq(store_mailing_open(s->st, "m1", "S", m, &existed, err), STORE_OK, "%s", err);
	cr_assert_eq(store_mailing_fill(s->st, *m, &added, err), STORE_OK, "%s", err);
}

/* What the store holds for @email after the change. */
struct held {
	bool subscriber;	/* still a subscriber */
	bool suppressed;
	const char *state;	/* of the delivery of the mailing; NULL: none */
	int attempts;
	const char *reply;	/* NULL: none */
};

static void
check_held(struct scratch *s, const char *email, const struct held *want, const char *row)
{
	char err[ERR_LEN] = "";
	json_t *o = NULL, *items, *d;

	cr_assert_eq(store_export(s->st, email, "test", &o, err), STORE_OK, "%s: %s", row, err);
	cr_assert_eq(!json_is_null(json_object_get(o, "subscriber")), want->subscriber,
		     "%s: a subscriber still", row);
	cr_assert_eq(json_is_true(json_object_get(json_object_get(o, "suppression"), "listed")),
		     want->suppressed, "%s: suppressed", row);
	items = json_object_get(json_object_get(o, "deliveries"), "items");
	if (want->state == NULL) {
		cr_assert_eq(json_array_size(items), 0, "%s: no delivery", row);
	} else {
		cr_assert_eq(json_array_size(items), 1, "%s: one delivery", row);
		d = json_array_get(items, 0);
		cr_assert_str_eq(json_string_value(json_object_get(d, "state")), want->state,
				 "%s: the delivery's state", row);
		cr_assert_eq(json_integer_value(json_object_get(d, "attempts")), want->attempts,
			     "%s: attempts", row);
		if (want->reply)
			cr_assert_str_eq(json_string_value(json_object_get(d, "reply")), want->reply,
					 "%s: the reply kept", row);
		else
			cr_assert(json_is_null(json_object_get(d, "reply")), "%s: no reply", row);
	}
	json_decref(o);
}

static const struct change_case {
	const char *row;
	enum send_state to;
	bool recorded;		/* a mailing's run, not the one mail */
	const char *reply, *code;
	struct send_result tally;
	struct held held;
} cases[] = {
	{"sent: counted, recorded by the group commit, not here", SEND_SENT, true, NULL, NULL,
	 {.sent = 1}, {true, false, "pending", 0, NULL}},
	{"deferred: pending, with the reply", SEND_DEFERRED, true, "451 4.7.1 try later", NULL,
	 {.deferred = 1}, {true, false, "pending", 1, "451 4.7.1 try later"}},
	{"failed: failed, kept", SEND_FAILED, true, "554 5.7.1 spam", "5.7.1",
	 {.failed = 1}, {true, false, "failed", 1, "554 5.7.1 spam"}},
	{"bounced: deleted and suppressed", SEND_BOUNCED, true, "550 5.1.1 no such user", "5.1.1",
	 {.failed = 1, .bounced = 1}, {false, true, NULL, 0, NULL}},
	{"held: nothing recorded, nothing counted", SEND_HELD, true, NULL, NULL,
	 {0}, {true, false, "pending", 0, NULL}},
	{"the one mail deferred: counted, not recorded", SEND_DEFERRED, false, "451 4.7.1 later",
	 NULL, {.deferred = 1}, {true, false, "pending", 0, NULL}},
	{"the one mail refused: counted, not recorded", SEND_FAILED, false, "550 5.1.1 no such user",
	 "5.1.1", {.failed = 1}, {true, false, "pending", 0, NULL}},
	{"the one mail bounced: counted, nobody deleted", SEND_BOUNCED, false,
	 "550 5.1.1 no such user", "5.1.1", {.failed = 1}, {true, false, "pending", 0, NULL}},
};

Test(send, state_changes)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct change_case *k = &cases[i];
		struct scratch s;
		struct send_result tally = {0};
		char err[ERR_LEN] = "";
		int64_t id, m = 0;

		one_due(&s, &id, &m);
		{
			const struct send_change c = {k->recorded ? m : 0, id, k->reply, k->code, 0};

			cr_assert_eq(mailer_send_apply(s.st, SEND_DUE, k->to, &c, &tally, err), 0,
				     "%s: %s", k->row, err);
		}
		cr_assert_eq(tally.sent, k->tally.sent, "%s: sent", k->row);
		cr_assert_eq(tally.failed, k->tally.failed, "%s: failed", k->row);
		cr_assert_eq(tally.bounced, k->tally.bounced, "%s: bounced", k->row);
		cr_assert_eq(tally.deferred, k->tally.deferred, "%s: deferred", k->row);
		check_held(&s, "a@example.no", &k->held, k->row);
		scratch_close(&s);
	}
}

/* A hard bounce of someone already gone counts a failure, not a bounce. */
Test(send, bounce_of_the_gone)
{
	struct scratch s;
	struct send_result tally = {0};
	char err[ERR_LEN] = "";
	int64_t id, m = 0;
	bool was;

	one_due(&s, &id, &m);
	cr_assert_eq(store_unsubscribe(s.st, "a@example.no", "test", &was, err), STORE_OK, "%s", err);
	{
		const struct send_change c = {m, id, "550 5.1.1 no such user", "5.1.1", 0};

		cr_assert_eq(mailer_send_apply(s.st, SEND_DUE, SEND_BOUNCED, &c, &tally, err), 0, "%s", err);
	}
	cr_assert_eq(tally.failed, 1);
	cr_assert_eq(tally.bounced, 0, "nobody was deleted");
	scratch_close(&s);
}

/* A recipient leaves SEND_DUE once: any other change is refused, and
 * records nothing. */
Test(send, no_other_change)
{
	static const struct {
		enum send_state from, to;
	} bad[] = {
		{SEND_DUE, SEND_DUE}, {SEND_SENT, SEND_FAILED}, {SEND_DEFERRED, SEND_SENT},
		{SEND_FAILED, SEND_BOUNCED}, {SEND_BOUNCED, SEND_DEFERRED}, {SEND_HELD, SEND_SENT},
	};
	struct scratch s;
	char err[ERR_LEN] = "";
	int64_t id, m = 0;

	one_due(&s, &id, &m);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct send_change c = {m, id, "550 5.1.1 no such user", "5.1.1", 0};
		struct send_result tally = {0};

		err[0] = '\0';
		cr_assert_eq(mailer_send_apply(s.st, bad[i].from, bad[i].to, &c, &tally, err), -1,
			     "row %zu", i);
		cr_assert_neq(err[0], '\0', "row %zu: says why", i);
		cr_assert_eq(tally.sent + tally.failed + tally.bounced + tally.deferred, 0,
			     "row %zu: nothing counted", i);
	}
	check_held(&s, "a@example.no", &(struct held){true, false, "pending", 0, NULL}, "after");
	scratch_close(&s);
}
