/*
 * web/metrics.c - request and event counters, and their Prometheus text.
 *
 * Request counters live in each thread's worker (worker.c sums them for a
 * scrape), event counters in the server; all are atomics, none global.
 * Labels are route names and status codes, never a path, a token or an
 * address. Calls nothing of web/: the others call it.
 */
#include "web_int.h"

static const char *const route_names[ROUTE_COUNT] = {
	[ROUTE_UNSUBSCRIBE] = "unsubscribe",
	[ROUTE_DATA] = "data",
	[ROUTE_HEALTHZ] = "healthz",
	[ROUTE_METRICS] = "metrics",
	[ROUTE_PURCHASES] = "api_purchases",
	[ROUTE_SUBSCRIBER] = "api_subscriber",
	[ROUTE_SUBSCRIBER_ACTION] = "api_subscriber_action",
	[ROUTE_SIGNUP] = "signup",
	[ROUTE_SIGNUP_CONFIRM] = "signup_confirm",
	[ROUTE_API_SIGNUPS] = "api_signups",
	[ROUTE_NOT_FOUND] = "not_found",
};

/* The statuses counted one by one; the last slot takes any other. */
static const unsigned statuses[METRICS_STATUSES] = {
	200, 201, 202, 400, 401, 404, 405, 413, 422, 429, 431, 500, 503, 0,
};

const char *
web_metrics_route_name(enum web_route r)
{
	return route_names[r];
}

static int
status_slot(unsigned status)
{
	for (int i = 0; i < METRICS_STATUSES && statuses[i] != 0; i++)
		if (statuses[i] == status)
			return i;
	return METRICS_STATUSES - 1;
}

void
web_metrics_count(struct web_request_counts *rc, enum web_route r, unsigned status)
{
	atomic_fetch_add_explicit(&rc->n[r][status_slot(status)], 1, memory_order_relaxed);
}

void
web_metrics_add(unsigned long sum[ROUTE_COUNT][METRICS_STATUSES], const struct web_request_counts *rc)
{
	for (int r = 0; r < ROUTE_COUNT; r++)
		for (int i = 0; i < METRICS_STATUSES; i++)
			sum[r][i] += atomic_load_explicit(&rc->n[r][i], memory_order_relaxed);
}

void
web_metrics_render(const struct web_metrics *m,
		   const unsigned long requests[ROUTE_COUNT][METRICS_STATUSES],
		   const struct store_stats *st, struct buf *out)
{
	buf_adds(out, "# HELP newsletter_http_requests_total HTTP requests answered, by route and status.\n"
		 "# TYPE newsletter_http_requests_total counter\n");
	for (int r = 0; r < ROUTE_COUNT; r++)
		for (int i = 0; i < METRICS_STATUSES; i++) {
			unsigned long n = requests[r][i];

			if (n == 0)
				continue;
			if (i == METRICS_STATUSES - 1 || statuses[i] == 0)
				buf_printf(out, "newsletter_http_requests_total{route=\"%s\",status=\"other\"} %lu\n",
					   route_names[r], n);
			else
				buf_printf(out, "newsletter_http_requests_total{route=\"%s\",status=\"%u\"} %lu\n",
					   route_names[r], statuses[i], n);
		}
	buf_printf(out, "# HELP newsletter_unsubscribes_total Subscribers deleted by an unsubscription through this server.\n"
		   "# TYPE newsletter_unsubscribes_total counter\n"
		   "newsletter_unsubscribes_total %lu\n",
		   atomic_load(&m->unsubscribes));
	buf_printf(out, "# HELP newsletter_enrolments_total Purchases reported through the API, by result.\n"
		   "# TYPE newsletter_enrolments_total counter\n"
		   "newsletter_enrolments_total{result=\"new\"} %lu\n"
		   "newsletter_enrolments_total{result=\"refreshed\"} %lu\n"
		   "newsletter_enrolments_total{result=\"suppressed\"} %lu\n",
		   atomic_load(&m->enrol_new), atomic_load(&m->enrol_refreshed),
		   atomic_load(&m->enrol_suppressed));
	buf_printf(out, "# HELP newsletter_signups_total Signup requests through the form and the API, by what became of them.\n"
		   "# TYPE newsletter_signups_total counter\n"
		   "newsletter_signups_total{result=\"queued\"} %lu\n"
		   "newsletter_signups_total{result=\"throttled\"} %lu\n"
		   "newsletter_signups_total{result=\"full\"} %lu\n"
		   "newsletter_signups_total{result=\"honeypot\"} %lu\n"
		   "newsletter_signups_total{result=\"client_limit\"} %lu\n"
		   "# HELP newsletter_signup_confirmations_total Signups confirmed through this server.\n"
		   "# TYPE newsletter_signup_confirmations_total counter\n"
		   "newsletter_signup_confirmations_total %lu\n",
		   atomic_load(&m->signups), atomic_load(&m->signups_throttled),
		   atomic_load(&m->signups_full), atomic_load(&m->signups_honeypot),
		   atomic_load(&m->signups_limited), atomic_load(&m->confirmations));
	if (st == NULL)
		return;
	buf_printf(out, "# HELP newsletter_subscribers Subscribers in the store, by state.\n"
		   "# TYPE newsletter_subscribers gauge\n"
		   "newsletter_subscribers{state=\"active\"} %lld\n"
		   "newsletter_subscribers{state=\"restricted\"} %lld\n"
		   "# HELP newsletter_suppressed Addresses on the suppression list.\n"
		   "# TYPE newsletter_suppressed gauge\n"
		   "newsletter_suppressed %lld\n",
		   st->active, st->restricted, st->suppressed);
}
