/*
 * tests/unit/test_nodelay_connect.c - the SMTP client's connect() (nodelay.c)
 * against a real kernel on loopback: inside a mailer session a connect the
 * peer never answers gives up after the session's timeout with ETIMEDOUT,
 * also when a signal interrupts the wait, and leaves the socket's flags as
 * they were; a connect that is answered or refused is as before; outside a
 * session (another thread, or after it) connect() is the C library's.
 *
 * The peer that never answers: a listener with a backlog of 0 that never
 * accept()s, its queue filled by connections the test opens and holds; the
 * kernel then drops further SYNs (net.ipv4.tcp_abort_on_overflow = 0, read
 * here, never changed: the tests that need it skip when it is 1).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../mailer/mailer_int.h"

#define FILLERS_MAX 8		/* connections held to fill the listener's queue */

struct full {
	int listener;
	struct sockaddr_in addr;
	int filler[FILLERS_MAX];
	int n;
};

/* Skips the test unless the kernel drops SYNs to a full queue. */
static void
need_syn_drop(void)
{
	FILE *fp = fopen("/proc/sys/net/ipv4/tcp_abort_on_overflow", "r");
	int v = -1;

	if (fp == NULL || fscanf(fp, "%d", &v) != 1)
		v = -1;
	if (fp)
		fclose(fp);
	if (v != 0)
		cr_skip_test("net.ipv4.tcp_abort_on_overflow is %d, not 0: the kernel does not "
			     "drop SYNs to a full queue, so no connect hangs", v);
}

/* A listener on a free port of 127.0.0.1 with @backlog, never accepting. */
static int
listener(int backlog, struct sockaddr_in *a)
{
	socklen_t alen = sizeof(*a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	*a = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert(l >= 0);
	cr_assert(bind(l, (struct sockaddr *)a, sizeof(*a)) == 0);
	cr_assert(listen(l, backlog) == 0);
	cr_assert(getsockname(l, (struct sockaddr *)a, &alen) == 0);
	return l;
}

/*
 * A listener whose queue is full: connections are opened (outside any
 * session, not blocking) until one is not answered within 300 ms; that
 * one and those before it are held.
 */
static void
full_listener(struct full *f)
{
	memset(f, 0, sizeof(*f));
	f->listener = listener(0, &f->addr);
	for (f->n = 0; f->n < FILLERS_MAX;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int r;

		cr_assert(fd >= 0);
		f->filler[f->n++] = fd;
		r = connect(fd, (struct sockaddr *)&f->addr, sizeof(f->addr));
		if (r < 0 && errno != EINPROGRESS)
			cr_assert_fail("filling the queue: %s", strerror(errno));
		if (r < 0 && poll(&p, 1, 300) == 0)
			return;		/* not answered: the queue is full */
	}
	cr_assert_fail("%d connections to a listener with backlog 0 were all answered",
		       FILLERS_MAX);
}

/*
 * A blocking TCP socket whose connect() the C library gives up after 5 s
 * (SO_SNDTIMEO: EINPROGRESS): a wrapper that ignored the session's
 * timeout fails the test then, not after the kernel's two minutes.
 */
static int
guarded_socket(void)
{
	struct timeval tv = {5, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(fd >= 0);
	cr_assert(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0);
	return fd;
}

static void
full_close(struct full *f)
{
	for (int i = 0; i < f->n; i++)
		close(f->filler[i]);
	close(f->listener);
}

Test(nodelay_connect, gives_up_at_the_timeout)
{
	struct full f;
	double t0, dt;
	int fd, r, e, one = -1;
	socklen_t ol = sizeof(one);

	need_syn_drop();
	full_listener(&f);
	fd = guarded_socket();
	mailer_nodelay_enter(1);
	t0 = monotonic_seconds();
	r = connect(fd, (struct sockaddr *)&f.addr, sizeof(f.addr));
	e = errno;
	dt = monotonic_seconds() - t0;
	cr_assert_eq(mailer_nodelay_leave(), 1, "one connect gave up at the timeout");
	cr_expect_eq(r, -1, "a connect nobody answers fails");
	cr_expect_eq(e, ETIMEDOUT, "with ETIMEDOUT, not %s", strerror(e));
	cr_expect(dt >= 0.99 && dt < 1.9, "after the timeout of 1 s, not %.3f s", dt);
	cr_expect_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0, "the socket is blocking again");
	cr_expect(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, &ol) == 0 && one != 0,
		  "TCP_NODELAY is set as before");
	close(fd);
	full_close(&f);
}

static void
on_signal(int sig)
{
	(void)sig;
}

struct poke {
	pthread_t target;
	int times;
};

/* Interrupts @target every 200 ms, @times times. */
static void *
poker(void *arg)
{
	struct poke *p = arg;

	for (int i = 0; i < p->times; i++) {
		nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
		pthread_kill(p->target, SIGUSR1);
	}
	return NULL;
}

/* A signal during the wait neither ends it early nor makes it longer. */
Test(nodelay_connect, signals_do_not_change_the_deadline)
{
	struct sigaction sa = {.sa_handler = on_signal};	/* no SA_RESTART */
	struct poke p = {pthread_self(), 4};
	struct full f;
	pthread_t t;
	double t0, dt;
	int fd, r, e;

	need_syn_drop();
	sigemptyset(&sa.sa_mask);
	cr_assert(sigaction(SIGUSR1, &sa, NULL) == 0);
	full_listener(&f);
	fd = guarded_socket();
	cr_assert(pthread_create(&t, NULL, poker, &p) == 0);
	mailer_nodelay_enter(2);
	t0 = monotonic_seconds();
	r = connect(fd, (struct sockaddr *)&f.addr, sizeof(f.addr));
	e = errno;
	dt = monotonic_seconds() - t0;
	cr_assert_eq(mailer_nodelay_leave(), 1);
	pthread_join(t, NULL);
	cr_expect(r == -1 && e == ETIMEDOUT, "interrupted four times, still ETIMEDOUT (got %d, %s)",
		  r, strerror(e));
	cr_expect(dt >= 1.99 && dt < 2.9, "after the timeout of 2 s, not %.3f s", dt);
	close(fd);
	full_close(&f);
}

/* A connect that is answered, or refused, is what it was. */
Test(nodelay_connect, answered_and_refused)
{
	struct sockaddr_in a, gone;
	int l = listener(4, &a), g = listener(1, &gone);
	int fd, s, one = 0, r, e;
	socklen_t ol = sizeof(one);
	double t0;

	close(g);		/* a port nobody listens on: refused at once */
	mailer_nodelay_enter(5);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "answered: connected");
	cr_expect_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0, "the socket is blocking again");
	cr_expect(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, &ol) == 0 && one != 0,
		  "TCP_NODELAY is set");
	s = accept(l, NULL, NULL);
	cr_assert(s >= 0);
	cr_expect_eq(write(fd, "EHLO x\r\n", 8), 8, "the socket works as a blocking one");
	{
		char buf[16];

		cr_expect_eq(read(s, buf, sizeof(buf)), 8);
	}
	close(s);
	close(fd);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	t0 = monotonic_seconds();
	r = connect(fd, (struct sockaddr *)&gone, sizeof(gone));
	e = errno;
	cr_expect(r == -1 && e == ECONNREFUSED, "refused: ECONNREFUSED (got %d, %s)", r, strerror(e));
	cr_expect(monotonic_seconds() - t0 < 1, "refused at once");
	close(fd);

	/* A socket the caller made non-blocking: its connect is the C library's. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	r = connect(fd, (struct sockaddr *)&a, sizeof(a));
	cr_expect(r == 0 || errno == EINPROGRESS, "non-blocking: connected or in progress");
	cr_expect(fcntl(fd, F_GETFL) & O_NONBLOCK, "non-blocking it stays");
	close(fd);
	cr_expect_eq(mailer_nodelay_leave(), 0, "nothing gave up at the timeout");
	close(l);
}

struct outside {
	const struct sockaddr_in *addr;
	int r, e;
	double took;
};

/*
 * A blocking connect with SO_SNDTIMEO of 2 s: the C library's returns
 * EINPROGRESS after 2 s (socket(7)); a session's timeout would have
 * ended it at 1 s with ETIMEDOUT.
 */
static void *
connect_outside(void *arg)
{
	struct outside *o = arg;
	struct timeval tv = {2, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	double t0;

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	t0 = monotonic_seconds();
	o->r = connect(fd, (const struct sockaddr *)o->addr, sizeof(*o->addr));
	o->e = errno;
	o->took = monotonic_seconds() - t0;
	close(fd);
	return NULL;
}

/* Outside a session, in another thread or after it, connect() is the C library's. */
Test(nodelay_connect, outside_a_session)
{
	struct full f;
	struct outside o;
	pthread_t t;
	int fd;

	need_syn_drop();
	full_listener(&f);

	/* Another thread, while this one is in a session of 1 s. */
	mailer_nodelay_enter(1);
	o = (struct outside){.addr = &f.addr};
	cr_assert(pthread_create(&t, NULL, connect_outside, &o) == 0);
	fd = guarded_socket();
	cr_expect(connect(fd, (struct sockaddr *)&f.addr, sizeof(f.addr)) == -1 && errno == ETIMEDOUT,
		  "this thread, in the session: ETIMEDOUT");
	close(fd);
	pthread_join(t, NULL);
	cr_assert_eq(mailer_nodelay_leave(), 1, "this thread's connect, not the other's, gave up");
	cr_expect(o.r == -1 && o.e == EINPROGRESS, "another thread: the C library's EINPROGRESS "
		  "at SO_SNDTIMEO (got %d, %s)", o.r, strerror(o.e));
	cr_expect(o.took >= 1.9, "another thread: waited SO_SNDTIMEO's 2 s, not %.3f s", o.took);

	/* This thread, after the session. */
	o = (struct outside){.addr = &f.addr};
	connect_outside(&o);
	cr_expect(o.r == -1 && o.e == EINPROGRESS, "after the session: the C library's EINPROGRESS "
		  "(got %d, %s)", o.r, strerror(o.e));
	cr_expect(o.took >= 1.9, "after the session: waited 2 s, not %.3f s", o.took);
	full_close(&f);
}
