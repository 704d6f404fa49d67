/*
 * tests/unit/test_send_timeout.c - [smtp] timeout as the send run applies
 * it, against a relay in a thread of the test on 127.0.0.1 (a port the
 * kernel picks) that is slow or silent on purpose at one stage.
 *
 * libesmtp 1.1 counts milliseconds: given seconds, every wait was 1 s.
 * The rows tell a timeout in seconds from that: a greeting 1.5 s late, and
 * an end-of-data reply later than the timeout but within twice it, both
 * get the message through; a relay that never answers ends the run within
 * its timeout, naming the relay and the stage, the message left due.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>

#include "helpers.h"
#include "../../mailer/mailer.h"
#include "../../mailer/mailer_int.h"

/* How the relay behaves: seconds before its greeting and before its reply
 * to the end of the data; < 0: never (it reads on until the client goes). */
struct relay {
	double greet, end;
	int lfd;
	int accepted;		/* messages it answered 250 at the end of data */
	pthread_t thread;
};

static void
nap(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

	nanosleep(&ts, NULL);
}

/* Reads one line (without CRLF) into @line; 0 at the end of the connection. */
static int
get_line(int fd, char *line, size_t size)
{
	size_t n = 0;
	char c;

	while (read(fd, &c, 1) == 1) {
		if (c == '\n') {
			if (n > 0 && line[n - 1] == '\r')
				n--;
			line[n] = '\0';
			return 1;
		}
		if (n + 1 < size)
			line[n++] = c;
	}
	return 0;
}

static void
say(int fd, const char *s)
{
	ssize_t n = write(fd, s, strlen(s));

	(void)n;		/* a client gone is the test's outcome, not an error here */
}

/* Waits @s seconds, or forever (< 0) until the client closes. */
static void
hold(int fd, double s)
{
	char line[1024];

	if (s >= 0) {
		nap(s);
		return;
	}
	while (get_line(fd, line, sizeof(line)))
		;
}

/* One connection, a minimal SMTP server: no extensions, so no pipelining. */
static void *
relay_main(void *arg)
{
	struct relay *r = arg;
	char line[1024];
	int fd = accept(r->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	hold(fd, r->greet);
	if (r->greet >= 0)
		say(fd, "220 relay.example.org ESMTP\r\n");
	while (r->greet >= 0 && get_line(fd, line, sizeof(line))) {
		if (!strncasecmp(line, "DATA", 4)) {
			say(fd, "354 go on\r\n");
			while (get_line(fd, line, sizeof(line)) && strcmp(line, ".") != 0)
				;
			hold(fd, r->end);
			if (r->end < 0)
				break;
			r->accepted++;
			say(fd, "250 2.0.0 queued\r\n");
		} else if (!strncasecmp(line, "QUIT", 4)) {
			say(fd, "221 bye\r\n");
			break;
		} else {
			say(fd, "250 ok\r\n");
		}
	}
	close(fd);
	return NULL;
}

static int
relay_start(struct relay *r)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);

	r->lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(r->lfd, 0);
	cr_assert_eq(bind(r->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(r->lfd, 4), 0);
	cr_assert_eq(getsockname(r->lfd, (struct sockaddr *)&a, &len), 0);
	cr_assert_eq(pthread_create(&r->thread, NULL, relay_main, r), 0);
	return ntohs(a.sin_port);
}

static void
relay_stop(struct relay *r)
{
	pthread_join(r->thread, NULL);
	close(r->lfd);
}

static const struct {
	const char *name;
	int timeout;		/* [smtp] timeout */
	double greet, end;	/* the relay's delays (struct relay) */
	bool sent;
	const char *said;	/* in the error after the port, when not sent */
	double min, max;	/* seconds the run took */
} rows[] = {
	{"a greeting 1.5 s late, timeout 2", 2, 1.5, 0, true, NULL, 1.4, 3.5},
	{"the end of data answered after 3 s, timeout 2 (it has 4)", 2, 0, 3, true, NULL, 2.9, 4.9},
	{"no greeting, timeout 1", 1, -1, 0, false,
	 ": no answer within 1 s ([smtp] timeout), waiting for its greeting", 0.95, 2.5},
	{"no reply to the end of data, timeout 1", 1, 0, -1, false,
	 ": no answer within 2 s ([smtp] timeout), waiting for the reply to the end of the message "
	 "data; the message in flight may arrive twice", 1.95, 3.5},
};

Test(send_timeout, relay_slow_or_silent)
{
	signal(SIGPIPE, SIG_IGN);
	mailer_hold();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct scratch s;
		struct config cfg;
		struct relay r = {.greet = rows[i].greet, .end = rows[i].end};
		struct buf msg;
		struct send_single one = {.to = "reader@example.no", .message = &msg};
		struct send_opts o = {0};
		struct send_result res;
		char err[ERR_LEN] = "", want[300];
		double t0, took;
		int rc, port;

		scratch_open(&s);
		cr_assert_eq(config_load(&cfg, NULL, false, err), 0, "%s", err);
		cfg.smtp.timeout = rows[i].timeout;
		port = relay_start(&r);
		cfg.smtp.port = port;
		buf_init(&msg);
		buf_printf(&msg, "From: news@example.org\r\nTo: reader@example.no\r\n"
			   "Subject: timeout\r\n\r\nHello.\r\n");
		o.cfg = &cfg;
		o.keys = s.keys;
		o.singles = &one;
		o.n_singles = 1;
		o.connections = 1;
		t0 = monotonic_seconds();
		rc = mailer_send(&o, &res, err);
		took = monotonic_seconds() - t0;
		relay_stop(&r);
		if (rows[i].sent) {
			cr_expect_eq(rc, 0, "%s: %s", rows[i].name, err);
			cr_expect_eq(one.state, SEND_SENT, "%s: state %d", rows[i].name, (int)one.state);
			cr_expect_eq(r.accepted, 1, "%s", rows[i].name);
		} else {
			snprintf(want, sizeof(want), "the SMTP server 127.0.0.1:%d%s", port, rows[i].said);
			cr_expect_eq(rc, -1, "%s", rows[i].name);
			cr_expect(strstr(err, want) != NULL, "%s: said '%s', wanted '%s'", rows[i].name,
				  err, want);
			cr_expect_eq(one.state, SEND_DUE, "%s: left due, state %d", rows[i].name,
				     (int)one.state);
			cr_expect_eq(r.accepted, 0, "%s", rows[i].name);
		}
		cr_expect(took >= rows[i].min && took < rows[i].max, "%s: took %.2f s, wanted %.2f to %.2f",
			  rows[i].name, took, rows[i].min, rows[i].max);
		buf_free(&msg);
		config_free(&cfg);
		scratch_close(&s);
	}
	mailer_release();
}
