/*
 * tests/unit/test_nodelay.c - the SMTP client's write(): inside a mailer
 * session a full buffer of message data goes with MSG_MORE, the end of the
 * data never does, and what is written arrives, over a real TCP connection
 * on loopback; outside a session (another thread, another socket, or no
 * session at all) write() is the C library's.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../mailer/mailer_int.h"

static void
fill(char *buf, size_t len, const char *tail)
{
	memset(buf, 'x', len);
	for (size_t i = 76; i < len; i += 78) {
		buf[i] = '\r';
		buf[i + 1 < len ? i + 1 : i] = '\n';
	}
	if (tail)
		memcpy(buf + len - strlen(tail), tail, strlen(tail));
}

Test(nodelay, decision)
{
	static char buf[MAILER_SIO_BUFSIZE + 10];

	fill(buf, MAILER_SIO_BUFSIZE, "line\r\n");
	cr_assert(mailer_more_follows(buf, MAILER_SIO_BUFSIZE), "a full buffer of data: more follows");
	fill(buf, MAILER_SIO_BUFSIZE, "last\r\n.\r\n");
	cr_assert(!mailer_more_follows(buf, MAILER_SIO_BUFSIZE), "the end of the data: nothing follows");
	cr_assert(!mailer_more_follows(buf, MAILER_SIO_BUFSIZE - 1), "a part buffer");
	cr_assert(!mailer_more_follows(buf, MAILER_SIO_BUFSIZE + 1), "another size");
	cr_assert(!mailer_more_follows("MAIL FROM:<a@b>\r\n", 17), "a command");
}

/* A TCP connection on loopback with TCP_NODELAY, as the mailer has it. */
static void
tcp_pair(int *client, int *server)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	cr_assert(l >= 0);
	cr_assert(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0);
	cr_assert(listen(l, 1) == 0);
	cr_assert(getsockname(l, (struct sockaddr *)&a, &alen) == 0);
	*client = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(connect(*client, (struct sockaddr *)&a, sizeof(a)) == 0);
	setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*server = accept(l, NULL, NULL);
	cr_assert(*server >= 0);
	close(l);
}

/* A TCP connection on loopback, options left as connect() made them. */
static void
tcp_pair_plain(int *client, int *server)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(l >= 0);
	cr_assert(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0);
	cr_assert(listen(l, 1) == 0);
	cr_assert(getsockname(l, (struct sockaddr *)&a, &alen) == 0);
	*client = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(connect(*client, (struct sockaddr *)&a, sizeof(a)) == 0);
	*server = accept(l, NULL, NULL);
	cr_assert(*server >= 0);
	close(l);
}

/* Reads until @want bytes came, each within @ms; the count read. */
static size_t
drain(int fd, size_t want, int ms)
{
	static char buf[65536];
	size_t got = 0;

	while (got < want) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, ms) != 1)
			break;
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

Test(nodelay, data_arrives)
{
	static char full[MAILER_SIO_BUFSIZE], end[MAILER_SIO_BUFSIZE];
	int c, s;

	mailer_nodelay_enter(0);
	tcp_pair(&c, &s);
	fill(full, sizeof(full), "line\r\n");
	/* Ten full buffers, then a short end: all of it arrives at once. */
	for (int i = 0; i < 10; i++)
		cr_assert_eq(write(c, full, sizeof(full)), (ssize_t)sizeof(full));
	cr_assert_eq(write(c, ".\r\n", 3), 3);
	cr_assert_eq(drain(s, 10 * sizeof(full) + 3, 1000), 10 * sizeof(full) + 3);
	/* An end that fills the buffer exactly is not held back either. */
	fill(end, sizeof(end), "last\r\n.\r\n");
	cr_assert_eq(write(c, full, sizeof(full)), (ssize_t)sizeof(full));
	cr_assert_eq(write(c, end, sizeof(end)), (ssize_t)sizeof(end));
	cr_assert_eq(drain(s, 2 * sizeof(end), 1000), 2 * sizeof(end),
		     "the end of the data arrives within a second");
	mailer_nodelay_leave();
	close(c);
	close(s);
}

Test(nodelay, not_a_socket)
{
	static char full[MAILER_SIO_BUFSIZE], back[MAILER_SIO_BUFSIZE];
	int p[2];

	fill(full, sizeof(full), "line\r\n");
	cr_assert(pipe(p) == 0);
	cr_assert_eq(write(p[1], full, sizeof(full)), (ssize_t)sizeof(full), "a pipe gets a plain write");
	cr_assert_eq(read(p[0], back, sizeof(back)), (ssize_t)sizeof(back));
	cr_assert(memcmp(full, back, sizeof(full)) == 0);
	close(p[0]);
	close(p[1]);
}

/* The bytes that arrive within @ms of a write (what the kernel did not hold). */
static size_t
arrives_within(int fd, int ms)
{
	return drain(fd, MAILER_SIO_BUFSIZE, ms);
}

struct other {
	int fd;
	const char *buf;
	bool more;
	ssize_t wrote;
};

static void *
other_thread(void *arg)
{
	struct other *o = arg;

	o->more = mailer_nodelay_more(o->fd, o->buf, MAILER_SIO_BUFSIZE);
	o->wrote = write(o->fd, o->buf, MAILER_SIO_BUFSIZE);
	return NULL;
}

/* Who gets MSG_MORE: only the session's thread, on the session's socket. */
Test(nodelay, only_in_a_session)
{
	static char full[MAILER_SIO_BUFSIZE];
	struct other o;
	pthread_t t;
	int c, s, c2, s2;

	fill(full, sizeof(full), "line\r\n");
	/* No session: the C library's write(), which the kernel sends at once. */
	tcp_pair(&c, &s);
	cr_assert(!mailer_nodelay_more(c, full, sizeof(full)), "no session: a plain write");
	cr_assert_eq(write(c, full, sizeof(full)), (ssize_t)sizeof(full));
	cr_assert_eq(arrives_within(s, 100), sizeof(full), "no session: the buffer is not held");
	close(c);
	close(s);

	/* In a session: its socket's full buffers are held for more... */
	mailer_nodelay_enter(0);
	tcp_pair(&c, &s);
	cr_assert(mailer_nodelay_more(c, full, sizeof(full)), "the session's socket: MSG_MORE");
	cr_assert_eq(write(c, full, sizeof(full)), (ssize_t)sizeof(full));
	cr_assert_eq(arrives_within(s, 100), 0, "in a session: a full buffer waits for more");
	cr_assert_eq(write(c, ".\r\n", 3), 3);
	cr_assert_eq(drain(s, sizeof(full) + 3, 1000), sizeof(full) + 3);

	/* ...but not another thread's write to the same socket... */
	o = (struct other){.fd = c, .buf = full};
	cr_assert(pthread_create(&t, NULL, other_thread, &o) == 0);
	cr_assert(pthread_join(t, NULL) == 0);
	cr_assert(!o.more, "another thread is in no session");
	cr_assert_eq(o.wrote, (ssize_t)sizeof(full));
	cr_assert_eq(arrives_within(s, 100), sizeof(full), "another thread's write is not held");

	/* ...nor this thread's write to another socket. */
	{
		int p[2];

		cr_assert(socketpair(AF_UNIX, SOCK_STREAM, 0, p) == 0);
		cr_assert(!mailer_nodelay_more(p[0], full, sizeof(full)), "another socket");
		close(p[0]);
		close(p[1]);
	}
	mailer_nodelay_leave();
	cr_assert(!mailer_nodelay_more(c, full, sizeof(full)), "after the session: a plain write");

	/* A connect() outside a session sets nothing on the socket. */
	tcp_pair_plain(&c2, &s2);
	{
		int v = -1;
		socklen_t vl = sizeof(v);

		cr_assert(getsockopt(c2, IPPROTO_TCP, TCP_NODELAY, &v, &vl) == 0);
		cr_assert_eq(v, 0, "connect() outside a session leaves TCP_NODELAY off");
	}
	close(c2);
	close(s2);
	close(c);
	close(s);
}
