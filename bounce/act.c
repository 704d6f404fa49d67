/*
 * bounce/act.c - who a bounce is about, and what it does to them.
 *
 * Attribution: the signed token in the address the message was delivered
 * to comes first (bounces+TOKEN@ for a bounce, unsubscribe+TOKEN@ for an
 * unsubscribe request by mail). Only when [bounce] require_verp is off are
 * the recipients a report names looked up by address. A forged or mangled
 * token is treated like no token: with require_verp nothing changes. A
 * token names the subscriber and the address generation it was mailed to:
 * after 'rectify', a bounce or an unsubscribe by mail for the old address
 * changes nothing. And a bounce acts only on what it says about the
 * subscriber's current address: a report about another address (an old
 * one, a forward) is no evidence about theirs.
 *
 * A deletion is counted on the mailing the token names (a mailing's hard
 * bounces and unsubscribes). A mail to the unsubscribe address is audited
 * as what it is: source "mail", detail "mailto"; a report as "bounce".
 *
 * A result without a recipient (a recipient field that holds no address)
 * is always "ignore": it is never looked up and never acted on.
 *
 * One transaction per message. Logs subscriber ids, never an address.
 */
#include "bounce.h"

#include <sodium.h>
#include <string.h>

/* The token of a VERP address "PREFIX+TOKEN@domain", or false. */
static bool
verp_token(const char *addr, const char *prefix, char out[TOKEN_MAX + 1])
{
	size_t n = strlen(prefix);
	const char *at = strrchr(addr, '@');

	if (at == NULL || strncasecmp(addr, prefix, n) != 0 || addr[n] != '+')
		return false;
	addr += n + 1;
	if (at <= addr || (size_t)(at - addr) > TOKEN_MAX)
		return false;
	memcpy(out, addr, (size_t)(at - addr));
	out[at - addr] = '\0';
	return true;
}

/* Looks for a valid token among the addresses the message went to. */
static bool
find_token(const struct store_keys *keys, const struct bounce_report *rep,
	   enum token_purpose *purpose, struct token_claims *tc)
{
	char tok[TOKEN_MAX + 1];

	if (keys == NULL)
		return false;
	for (int i = 0; i < rep->ntargets; i++) {
		if (verp_token(rep->targets[i], "unsubscribe", tok) &&
		    store_token_verify(keys, tok, TOKEN_UNSUBSCRIBE, tc) == 0) {
			*purpose = TOKEN_UNSUBSCRIBE;
			return true;
		}
		if (verp_token(rep->targets[i], "bounces", tok) &&
		    store_token_verify(keys, tok, TOKEN_BOUNCE, tc) == 0) {
			*purpose = TOKEN_BOUNCE;
			return true;
		}
	}
	return false;
}

/* How the result that speaks for a subscriber was chosen. */
enum pick_how {
	PICK_NONE,		/* the report says nothing about their address */
	PICK_ADDRESS,		/* a result names their current address */
	PICK_TOKEN,		/* the report names no address: the token alone */
};

/*
 * The one result that speaks for the subscriber a token names: the one
 * about their current address (as final or original recipient). A report
 * that names other addresses only (an address the subscriber no longer
 * has, a forward) says nothing about theirs: no result. A complaint is
 * taken on the token alone (it is about the message the token went with),
 * and so is a report that names no address at all, and then only the
 * verdict all its results agree on, else the mildest (never hard on a guess).
 */
static const struct bounce_result *
pick(const struct bounce_report *rep, const char *email, enum pick_how *how)
{
	const struct bounce_result *agree = NULL, *soft = NULL;
	bool same = true;

	*how = PICK_NONE;
	for (int i = 0; i < rep->n; i++) {
		const struct bounce_result *r = &rep->r[i];

		if (email && (strcasecmp(r->recipient, email) == 0 ||
			      (r->original[0] && strcasecmp(r->original, email) == 0))) {
			*how = PICK_ADDRESS;
			return r;
		}
	}
	for (int i = 0; i < rep->n; i++) {
		const struct bounce_result *r = &rep->r[i];

		/* A complaint is about the message the token was sent with,
		 * whatever address (often a redacted one) the report shows. */
		if (r->action == BOUNCE_COMPLAINT) {
			*how = PICK_TOKEN;
			return r;
		}
	}
	for (int i = 0; i < rep->n; i++) {
		const struct bounce_result *r = &rep->r[i];

		if (r->recipient[0] || r->original[0])
			return NULL;	/* about another address */
	}
	for (int i = 0; i < rep->n; i++) {
		const struct bounce_result *r = &rep->r[i];

		if (r->action == BOUNCE_IGNORE)
			continue;
		if (agree && agree->action != r->action)
			same = false;
		if (!agree)
			agree = r;
		if (r->action == BOUNCE_SOFT && !soft)
			soft = r;
	}
	if (agree != NULL && !same)
		agree = soft;
	if (agree)
		*how = PICK_TOKEN;
	return agree;
}

/* Whether every result of @rep asks for nothing (ignore: delivered, an
 * auto-reply, a recipient field that holds no address). */
static bool
all_ignored(const struct bounce_report *rep)
{
	for (int i = 0; i < rep->n; i++)
		if (rep->r[i].action != BOUNCE_IGNORE)
			return false;
	return true;
}

const char *
bounce_effect_name(enum bounce_effect e)
{
	switch (e) {
	case BOUNCE_NOTHING:
		return "nothing";
	case BOUNCE_DELETED:
		return "deleted";
	case BOUNCE_DELETED_SOFT:
		return "deleted (soft bounces over the threshold)";
	case BOUNCE_GONE_ALREADY:
		return "gone already";
	case BOUNCE_COUNTED_SOFT:
		return "counted a soft bounce";
	case BOUNCE_UNSUBSCRIBED:
		return "unsubscribed";
	case BOUNCE_UNSUBSCRIBED_ALREADY:
		return "unsubscribed already";
	case BOUNCE_WOULD_DELETE:
		return "would delete";
	case BOUNCE_WOULD_COUNT_SOFT:
		return "would count a soft bounce";
	case BOUNCE_WOULD_UNSUBSCRIBE:
		return "would unsubscribe";
	}
	return "nothing";
}

/*
 * Every text written into an outcome's detail is a sentence of this file
 * with numbers and a status: one that does not fit is a bug, reported as an
 * error (the message is then tried again) rather than cut.
 */
static enum store_status
too_long(const char *what, char *err)
{
	errf(err, "%s does not fit in %d bytes", what, ERR_LEN);
	return STORE_ERROR;
}

#define SAY(out, ...) fmt((out)->detail, sizeof((out)->detail), __VA_ARGS__)

/*
 * Acts on subscriber c->subscriber (address generation c->gen); a deletion
 * is counted on mailing c->mailing (the token's; 0 without one). @source
 * is the audit's: "bounce" for a report, "mail" for a mail to the
 * unsubscribe address.
 */
static enum store_status
apply(struct store *st, const struct bounce_policy *pol, const struct token_claims *c,
      const char *source, enum bounce_action action, const char *status, const char *reason,
      struct bounce_outcome *out, char *err)
{
	char detail[128];
	enum store_status s = STORE_OK;
	bool deleted = false, was = false;
	int64_t id = c->subscriber;
	int score = 0;

	out->subscriber = id;
	/* A status (STATUS_LEN) and a short static word. */
	if (fmt(detail, sizeof(detail), "%s %s", status && *status ? status : "-", reason ? reason : "") != 0)
		return too_long("the audit detail of a bounce", err);
	switch (action) {
	case BOUNCE_HARD:
		if (pol->dry_run) {
			out->effect = BOUNCE_WOULD_DELETE;
			break;
		}
		s = store_delete_claims(st, c, STORE_DEL_BOUNCED, source, detail, &deleted, err);
		out->effect = deleted ? BOUNCE_DELETED : BOUNCE_GONE_ALREADY;
		break;
	case BOUNCE_SOFT:
		if (pol->dry_run) {
			if ((s = store_bounce_score(st, id, pol->soft_window_days, &score, err)) == STORE_OK &&
			    SAY(out, "score now %d of %d", score, pol->soft_threshold) != 0)
				s = too_long("the outcome of a soft bounce", err);
			out->effect = BOUNCE_WOULD_COUNT_SOFT;
			break;
		}
		s = store_bounce_soft(st, id, status, reason, pol->soft_threshold,
				      pol->soft_window_days, &score, &deleted, err);
		out->effect = deleted ? BOUNCE_DELETED_SOFT : BOUNCE_COUNTED_SOFT;
		if (SAY(out, "score %d of %d within %d days", score, pol->soft_threshold,
			pol->soft_window_days) != 0 && s == STORE_OK)
			s = too_long("the outcome of a soft bounce", err);
		break;
	case BOUNCE_COMPLAINT:
	case BOUNCE_UNSUBSCRIBE:
		if (pol->dry_run) {
			out->effect = BOUNCE_WOULD_UNSUBSCRIBE;
			break;
		}
		/* A mail to the unsubscribe address says how: "mailto". */
		s = store_delete_claims(st, c, STORE_DEL_UNSUBSCRIBED, source,
					action == BOUNCE_UNSUBSCRIBE ? reason : NULL, &was, err);
		out->effect = was ? BOUNCE_UNSUBSCRIBED : BOUNCE_UNSUBSCRIBED_ALREADY;
		break;
	case BOUNCE_IGNORE:
		out->effect = BOUNCE_NOTHING;
		break;
	}
	if (s == STORE_OK && !pol->dry_run && action != BOUNCE_IGNORE)
		log_info("bounce: subscriber %lld: %s (%s %s)", (long long)id, bounce_effect_name(out->effect),
			 bounce_action_name(action), detail);
	return s;
}

enum store_status
bounce_act(struct store *st, const struct store_keys *keys, const struct bounce_policy *pol,
	   const struct bounce_report *rep, struct bounce_outcome *out, char *err)
{
	enum token_purpose purpose = 0;
	struct token_claims tc = {0};
	struct subscriber sub;
	enum store_status s;
	enum pick_how how;
	int64_t id = 0;
	bool own = false;

	memset(out, 0, sizeof(*out));
	out->effect = BOUNCE_NOTHING;
	if (st == NULL)
		return SAY(out, "no store: verdicts only") == 0 ? STORE_OK : too_long("an outcome", err);
	if (!pol->dry_run) {
		if ((s = store_begin(st, err)) != STORE_OK)
			return s;
		own = true;
	}
	if (find_token(keys, rep, &purpose, &tc)) {
		const struct bounce_result *r;

		id = tc.subscriber;
		s = store_subscriber_get(st, id, &sub, err);
		if (s == STORE_OK && sub.gen != tc.gen) {
			out->subscriber = id;
			if (SAY(out, "the token names an address subscriber %lld no longer has (corrected since): "
				"nothing changed", (long long)id) != 0)
				s = too_long("an outcome", err);
			sodium_memzero(&sub, sizeof(sub));
			goto end;
		}
		if (s == STORE_NOTFOUND) {
			out->subscriber = id;
			s = SAY(out, "the token names subscriber %lld, who is gone already", (long long)id) == 0
			    ? STORE_OK : too_long("an outcome", err);
			goto end;
		}
		if (s != STORE_OK)
			goto end;
		if (purpose == TOKEN_UNSUBSCRIBE) {
			s = apply(st, pol, &tc, "mail", BOUNCE_UNSUBSCRIBE, "", "mailto", out, err);
			if (SAY(out, "a mail to the unsubscribe address of subscriber %lld", (long long)id) != 0 &&
			    s == STORE_OK)
				s = too_long("an outcome", err);
		} else if ((r = pick(rep, sub.email, &how)) != NULL) {
			s = apply(st, pol, &tc, "bounce", r->action, r->status, r->reason, out, err);
			if (how == PICK_TOKEN && s == STORE_OK &&
			    SAY(out, "%s subscriber %lld alone",
				r->action == BOUNCE_COMPLAINT
				? "a complaint about the message sent with the VERP token of"
				: "the report names no address: decided on the VERP token of",
				(long long)id) != 0)
				s = too_long("an outcome", err);
		} else if (rep->n > 0 && !all_ignored(rep)) {
			out->subscriber = id;
			if (SAY(out, "the VERP token names subscriber %lld, but the report is about another address "
				"than theirs: nothing changed", (long long)id) != 0)
				s = too_long("an outcome", err);
		} else {
			out->subscriber = id;
			if (SAY(out, "the VERP token names subscriber %lld; nothing to act on", (long long)id) != 0)
				s = too_long("an outcome", err);
		}
		sodium_memzero(&sub, sizeof(sub));
		goto end;
	}
	s = STORE_OK;
	if (pol->require_verp) {
		if (SAY(out, "%s", rep->n ? "no valid VERP token: nothing changed (require_verp)"
			: "nothing to act on") != 0)
			s = too_long("an outcome", err);
		goto end;
	}
	/* Without a token: by the addresses the report names. */
	for (int i = 0; i < rep->n && s == STORE_OK; i++) {
		const struct bounce_result *r = &rep->r[i];

		/* An unsubscribe request counts only with its token: a From
		 * header is anybody's to write. */
		if (r->action == BOUNCE_IGNORE || r->action == BOUNCE_UNSUBSCRIBE)
			continue;
		s = store_subscriber_find(st, r->recipient, &sub, err);
		if (s == STORE_NOTFOUND || s == STORE_INVALID) {
			s = STORE_OK;
			continue;
		}
		if (s == STORE_OK) {
			const struct token_claims by_address = {.subscriber = sub.id, .gen = sub.gen};

			s = apply(st, pol, &by_address, "bounce", r->action, r->status, r->reason, out, err);
		}
		sodium_memzero(&sub, sizeof(sub));
	}
	if (out->subscriber == 0 && SAY(out, "no subscriber has an address the report names") != 0 &&
	    s == STORE_OK)
		s = too_long("an outcome", err);
end:
	/* The store scrubs the files after a committed deletion. */
	return own ? store_end(st, s, err) : s;
}
