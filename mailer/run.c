/*
 * mailer/run.c - a mailing's whole life, from the issue to the summary, or
 * one mail to one address (send --to), or a signup's confirmation mail
 * (serve, MAILER_CONFIRM: built by confirm.c, not from an issue).
 *
 * Renders the issue once, composes it with a random MIME boundary, reads
 * the DKIM key, opens (or finds) the mailing's record and fills it, hands
 * the run to send.c, and closes the record once nobody is left pending.
 * Says what it will do through the job's plan callback before anything
 * goes out, and returns its figures and an outcome: the caller prints,
 * and maps the outcome to an exit code. Prints nothing itself but the
 * send run's progress line.
 *
 * Trusts the issue as mailer_issue_load() checked it and the config as
 * lib/config.c did; a value too long for what it is built into (the
 * unsubscribe URL from base_url) is an error, never cut.
 */
#include <gmime/gmime.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "mailer_int.h"

/* GMime is set up while any run is going: runs may overlap (serve). */
static pthread_mutex_t gmime_mu = PTHREAD_MUTEX_INITIALIZER;
static int gmime_users;

static void
gmime_hold(void)
{
	pthread_mutex_lock(&gmime_mu);
	if (gmime_users++ == 0)
		g_mime_init();
	pthread_mutex_unlock(&gmime_mu);
}

static void
gmime_release(void)
{
	pthread_mutex_lock(&gmime_mu);
	if (--gmime_users == 0)
		g_mime_shutdown();
	pthread_mutex_unlock(&gmime_mu);
}

void
mailer_hold(void)
{
	gmime_hold();
}

void
mailer_release(void)
{
	gmime_release();
}

/* What a run needs beyond the job, built before anything else happens. */
struct run_parts {
	struct rendered body;
	struct compose *mailing;
	struct dkim_signer *dkim;
};

static enum mailer_outcome
parts_build(const struct mailer_job *job, struct run_parts *pt, char *err)
{
	const struct config *cfg = job->cfg;
	char placeholder[TOKEN_LEN + 1], url[1024], boundary[64];
	unsigned char rnd[12];
	struct compose_params p;

	memset(pt, 0, sizeof(*pt));
	mailer_compose_placeholder(placeholder);
	if (fmt(url, sizeof(url), "%s/u/%s", cfg->list.base_url, placeholder) < 0) {
		errf(err, "[list] base_url is too long for the unsubscribe URL (%zu bytes at most)",
		     sizeof(url) - TOKEN_LEN - 4);
		return MAILER_BAD_INPUT;
	}
	if (mailer_render(job->issue, cfg, url, &pt->body, err) < 0)
		return MAILER_BAD_INPUT;
	/* "=-" cannot occur in quoted-printable or base64 text. */
	randombytes_buf(rnd, sizeof(rnd));
	memcpy(boundary, "=-", 2);
	sodium_bin2base64(boundary + 2, sizeof(boundary) - 2, rnd, sizeof(rnd),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	p = (struct compose_params){
		.from = cfg->list.from, .subject = job->issue->subject, .list_id = cfg->list.id,
		.list_name = cfg->list.name, .base_url = cfg->list.base_url,
		.bounce_domain = cfg->bounce.domain, .text = pt->body.text, .html = pt->body.html,
		.unsub_url = url, .date = time(NULL), .boundary = boundary,
	};
	if ((pt->mailing = mailer_compose_new(&p, err)) == NULL)
		return MAILER_FAILED;
	if (cfg->dkim.domain && (pt->dkim = mailer_dkim_new(cfg->dkim.domain, cfg->dkim.selector,
							    cfg->dkim.key_file, err)) == NULL)
		return MAILER_BAD_INPUT;
	return MAILER_OK;
}

static void
parts_free(struct run_parts *pt)
{
	mailer_dkim_free(pt->dkim);
	mailer_compose_free(pt->mailing);
	mailer_render_free(&pt->body);
}

/* The mailing's id and who is due; tells the job's plan callback. */
static enum mailer_outcome
plan(const struct mailer_job *job, struct send_opts *o, struct mailer_report *rep, char *err)
{
	bool record = job->mode == MAILER_SEND, existed = false;
	struct mailing_counts before = {0};
	struct mailer_plan pl;
	enum store_status s;
	long long added = 0;

	if (record)
		s = store_mailing_open(job->st, job->issue->ident, job->issue->subject,
				       &o->mailing_id, &existed, err);
	else
		s = store_mailing_find(job->st, job->issue->ident, &o->mailing_id, err);
	if (s == STORE_OK && o->mailing_id != 0 && record)
		s = store_mailing_fill(job->st, o->mailing_id, &added, err);
	if (s == STORE_OK)
		s = store_mailing_due(job->st, o->mailing_id, &o->total, err);
	if (s == STORE_OK && o->mailing_id != 0)
		s = store_mailing_counts(job->st, o->mailing_id, &before, err);
	if (s != STORE_OK) {
		rep->store = s;
		return MAILER_STORE;
	}
	pl = (struct mailer_plan){
		.ident = job->issue->ident, .is_new = !existed && o->mailing_id != 0,
		.before_sent = before.sent, .before_failed = before.failed, .due = o->total,
	};
	if (job->on_plan)
		job->on_plan(&pl, job->arg);
	return MAILER_OK;
}

/* After the send: the mailing's counts, and its end when nobody is left. */
static enum mailer_outcome
sum_up(const struct mailer_job *job, const struct send_opts *o, bool failed,
       struct mailer_report *rep, char *err)
{
	char why[ERR_LEN];

	if (job->mode != MAILER_SEND)
		return failed ? MAILER_FAILED : MAILER_OK;
	memcpy(why, err, ERR_LEN);
	if (store_mailing_counts(job->st, o->mailing_id, &rep->after, err) != STORE_OK)
		return MAILER_FAILED;
	rep->counted = true;
	if (failed) {
		memcpy(err, why, ERR_LEN);
		rep->resumable = true;
		return MAILER_FAILED;
	}
	if (rep->after.pending > 0)
		return MAILER_PENDING;
	if (store_mailing_finish(job->st, o->mailing_id, err) != STORE_OK)
		return MAILER_FAILED;
	return MAILER_OK;
}

static enum mailer_outcome
run_job(const struct mailer_job *job, const struct run_parts *pt, struct mailer_report *rep,
	  char *err)
{
	struct send_opts o = {
		.cfg = job->cfg, .keys = job->keys, .mailing = pt->mailing, .dkim = pt->dkim,
		.test_to = job->mode == MAILER_ONE ? job->to : NULL,
		.preview_dir = job->mode == MAILER_PREVIEW ? job->preview_dir : NULL,
		.dry_run = job->mode == MAILER_DRY_RUN,
		.connections = job->mode == MAILER_ONE ? 1 : job->connections, .rate = job->rate,
	};
	struct send_result res = {0};
	enum mailer_outcome oc;
	int sr = 0;

	if (job->mode == MAILER_ONE) {
		sr = mailer_send(&o, &res, err);
		rep->ran = true;
		rep->sent = res.sent;
		rep->stop = res.stop;
		return sr < 0 ? MAILER_FAILED : MAILER_OK;
	}
	/* The fill and the counts read the whole list: a small page cache
	 * keeps the memory flat (the sender's own handle has the same). */
	store_mailing_sender(job->st);
	if ((oc = plan(job, &o, rep, err)) != MAILER_OK)
		return oc;
	if (o.total > 0 || job->mode != MAILER_SEND)
		sr = mailer_send(&o, &res, err);
	rep->ran = true;
	rep->sent = res.sent;
	rep->failed = res.failed;
	rep->bounced = res.bounced;
	rep->deferred = res.deferred;
	rep->rendered = res.rendered;
	rep->stop = res.stop;
	return sum_up(job, &o, sr < 0, rep, err);
}

/* A mail's result from its state in the send run. */
static enum mailer_confirm_result
confirm_result(enum send_state st)
{
	switch (st) {
	case SEND_SENT:
		return CONFIRM_SENT;
	case SEND_DEFERRED:
		return CONFIRM_DEFERRED;
	case SEND_FAILED:
	case SEND_BOUNCED:
		return CONFIRM_REFUSED;
	case SEND_DUE:
	case SEND_HELD:
		break;
	}
	return CONFIRM_UNSENT;
}

/*
 * Confirmation mails: each built from its template, then all of them
 * signed and sent through the same SMTP path as everything else, in one
 * session, each with its own result. A mail that cannot be built stays
 * CONFIRM_UNSENT, the others go, and the outcome is MAILER_BAD_INPUT with
 * @err naming its signup.
 */
static enum mailer_outcome
run_confirm(const struct mailer_job *job, struct mailer_report *rep, char *err)
{
	const struct config *cfg = job->cfg;
	struct dkim_signer *dkim = NULL;
	struct send_result res = {0};
	struct send_single one[CONFIRM_BATCH];
	struct buf msg[CONFIRM_BATCH];
	int of[CONFIRM_BATCH];	/* the job's mail that one[k] is */
	char why[ERR_LEN] = "";
	time_t now = time(NULL);
	int n = 0, sr = 0;

	if (job->confirm == NULL || job->confirms < 1 || job->confirms > CONFIRM_BATCH) {
		errf(err, "%d confirmation mails in one run: 1 to %d", job->confirms, CONFIRM_BATCH);
		return MAILER_BAD_INPUT;
	}
	for (int i = 0; i < job->confirms; i++)
		job->confirm[i].result = CONFIRM_UNSENT;
	if (cfg->dkim.domain && (dkim = mailer_dkim_new(cfg->dkim.domain, cfg->dkim.selector,
							cfg->dkim.key_file, err)) == NULL)
		return MAILER_BAD_INPUT;
	for (int i = 0; i < job->confirms; i++) {
		struct mailer_confirm *c = &job->confirm[i];

		buf_init(&msg[n]);
		if (c->to == NULL || mailer_confirm_message(cfg, c->to, c, now, &msg[n], why) < 0) {
			if (c->to == NULL)
				errf(why, "signup %lld: a confirmation mail needs an address",
				     (long long)c->signup);
			buf_free(&msg[n]);
			continue;
		}
		one[n] = (struct send_single){.to = c->to, .message = &msg[n]};
		of[n++] = i;
	}
	if (n > 0)
		sr = mailer_send(&(const struct send_opts){.cfg = cfg, .keys = job->keys, .dkim = dkim,
				 .singles = one, .n_singles = n, .connections = 1}, &res, err);
	for (int k = 0; k < n; k++)
		job->confirm[of[k]].result = confirm_result(one[k].state);
	rep->ran = n > 0;
	rep->sent = res.sent;
	rep->failed = res.failed;
	rep->deferred = res.deferred;
	mailer_dkim_free(dkim);
	for (int i = 0; i < n; i++) {
		if (msg[i].s)
			sodium_memzero(msg[i].s, msg[i].cap);
		buf_free(&msg[i]);
	}
	if (sr < 0)
		return MAILER_FAILED;
	if (why[0] != '\0') {
		memcpy(err, why, ERR_LEN);
		return MAILER_BAD_INPUT;
	}
	return MAILER_OK;
}

enum mailer_outcome
mailer_run(const struct mailer_job *job, struct mailer_report *rep, char *err)
{
	struct run_parts pt;

	memset(rep, 0, sizeof(*rep));
	err[0] = '\0';
	if (job->mode == MAILER_CONFIRM) {
		gmime_hold();
		rep->outcome = run_confirm(job, rep, err);
		gmime_release();
		return rep->outcome;
	}
	gmime_hold();
	rep->outcome = parts_build(job, &pt, err);
	if (rep->outcome == MAILER_OK)
		rep->outcome = run_job(job, &pt, rep, err);
	parts_free(&pt);
	gmime_release();
	return rep->outcome;
}
