/*
 * bounce/act.c - who a bounce is about, and what it does to them.
 *
 * Attribution: the signed token in the address the message was delivered
 * to comes first (bounces+TOKEN@ for a bounce, unsubscribe+TOKEN@ for an
 * unsubscribe request by mail). Only when [bounce] require_verp is off are
 * the recipients a report names looked up by address. A forged or mangled
 * token is treated like no token: with require_verp nothing changes.
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
	   enum token_purpose *purpose, int64_t *id)
{
	char tok[TOKEN_MAX + 1];
	int64_t mailing;

	if (keys == NULL)
		return false;
	for (int i = 0; i < rep->ntargets; i++) {
		if (verp_token(rep->targets[i], "unsubscribe", tok) &&
		    store_token_verify(keys, tok, TOKEN_UNSUBSCRIBE, id, &mailing) == 0) {
			*purpose = TOKEN_UNSUBSCRIBE;
			return true;
		}
		if (verp_token(rep->targets[i], "bounces", tok) &&
		    store_token_verify(keys, tok, TOKEN_BOUNCE, id, &mailing) == 0) {
			*purpose = TOKEN_BOUNCE;
			return true;
		}
	}
	return false;
}

/*
 * The one result that speaks for the subscriber a token names: the one
 * with their address, else the verdict all results agree on, else the
 * mildest of them (never hard on a guess).
 */
static const struct bounce_result *
pick(const struct bounce_report *rep, const char *email)
{
	const struct bounce_result *agree = NULL, *soft = NULL;
	bool same = true;

	for (int i = 0; i < rep->n; i++)
		if (email && strcasecmp(rep->r[i].recipient, email) == 0)
			return &rep->r[i];
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
		if (r->action == BOUNCE_COMPLAINT)
			return r;
	}
	if (agree == NULL || same)
		return agree;
	return soft ? soft : NULL;
}

static enum store_status
apply(struct store *st, const struct bounce_policy *pol, int64_t id,
      enum bounce_action action, const char *status, const char *reason,
      struct bounce_outcome *out, char *err)
{
	char detail[128];
	enum store_status s = STORE_OK;
	bool deleted = false, was = false;
	int score = 0;

	out->subscriber = id;
	snprintf(detail, sizeof(detail), "%s %s", status && *status ? status : "-", reason ? reason : "");
	switch (action) {
	case BOUNCE_HARD:
		if (pol->dry_run) {
			out->done = "would delete";
			break;
		}
		s = store_bounce_hard(st, id, "bounce", detail, &deleted, err);
		out->done = deleted ? "deleted" : "gone already";
		break;
	case BOUNCE_SOFT:
		if (pol->dry_run) {
			if ((s = store_bounce_score(st, id, pol->soft_window_days, &score, err)) == STORE_OK)
				snprintf(out->detail, sizeof(out->detail), "score now %d of %d", score,
					 pol->soft_threshold);
			out->done = "would count a soft bounce";
			break;
		}
		s = store_bounce_soft(st, id, status, reason, pol->soft_threshold,
				      pol->soft_window_days, &score, &deleted, err);
		out->done = deleted ? "deleted (soft bounces over the threshold)" : "counted a soft bounce";
		snprintf(out->detail, sizeof(out->detail), "score %d of %d within %d days", score,
			 pol->soft_threshold, pol->soft_window_days);
		break;
	case BOUNCE_COMPLAINT:
	case BOUNCE_UNSUBSCRIBE:
		if (pol->dry_run) {
			out->done = "would unsubscribe";
			break;
		}
		s = store_unsubscribe_id(st, id, "bounce", &was, err);
		out->done = was ? "unsubscribed" : "unsubscribed already";
		break;
	case BOUNCE_IGNORE:
		out->done = "nothing";
		break;
	}
	if (s == STORE_OK && !pol->dry_run && action != BOUNCE_IGNORE)
		log_info("bounce: subscriber %lld: %s (%s %s)", (long long)id, out->done,
			 bounce_action_name(action), detail);
	return s;
}

enum store_status
bounce_act(struct store *st, const struct store_keys *keys, const struct bounce_policy *pol,
	   const struct bounce_report *rep, struct bounce_outcome *out, char *err)
{
	enum token_purpose purpose = 0;
	struct subscriber sub;
	enum store_status s;
	int64_t id = 0;
	bool own = false;

	memset(out, 0, sizeof(*out));
	out->done = "nothing";
	if (st == NULL) {
		snprintf(out->detail, sizeof(out->detail), "no store: verdicts only");
		return STORE_OK;
	}
	if (!pol->dry_run) {
		if ((s = store_begin(st, err)) != STORE_OK)
			return s;
		own = true;
	}
	if (find_token(keys, rep, &purpose, &id)) {
		const struct bounce_result *r;

		s = store_subscriber_get(st, id, &sub, err);
		if (s == STORE_NOTFOUND) {
			out->subscriber = id;
			snprintf(out->detail, sizeof(out->detail), "the token names subscriber %lld, who is gone already",
				 (long long)id);
			s = STORE_OK;
			goto end;
		}
		if (s != STORE_OK)
			goto end;
		if (purpose == TOKEN_UNSUBSCRIBE) {
			s = apply(st, pol, id, BOUNCE_UNSUBSCRIBE, "", "mailto", out, err);
			snprintf(out->detail, sizeof(out->detail), "a mail to the unsubscribe address of subscriber %lld",
				 (long long)id);
		} else if ((r = pick(rep, sub.email)) != NULL) {
			s = apply(st, pol, id, r->action, r->status, r->reason, out, err);
		} else {
			out->subscriber = id;
			snprintf(out->detail, sizeof(out->detail), "the VERP token names subscriber %lld; nothing to act on",
				 (long long)id);
		}
		sodium_memzero(&sub, sizeof(sub));
		goto end;
	}
	if (pol->require_verp) {
		snprintf(out->detail, sizeof(out->detail), "%s",
			 rep->n ? "no valid VERP token: nothing changed (require_verp)" : "nothing to act on");
		s = STORE_OK;
		goto end;
	}
	/* Without a token: by the addresses the report names. */
	s = STORE_OK;
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
		if (s == STORE_OK)
			s = apply(st, pol, sub.id, r->action, r->status, r->reason, out, err);
		sodium_memzero(&sub, sizeof(sub));
	}
	if (out->subscriber == 0)
		snprintf(out->detail, sizeof(out->detail), "no subscriber has an address the report names");
end:
	if (own) {
		if (s == STORE_OK)
			s = store_commit(st, err);
		else
			store_rollback(st);
		if (s == STORE_OK && (strncmp(out->done, "deleted", 7) == 0 ||
				      strcmp(out->done, "unsubscribed") == 0))
			store_scrub(st, err);
	}
	return s;
}
