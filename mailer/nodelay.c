/*
 * mailer/nodelay.c - the SMTP client's TCP connect bounded by [smtp]
 * timeout, TCP_NODELAY on its sockets, and a message's data sent in few
 * segments.
 *
 * What it touches, and when: this file defines connect() and write() for
 * the whole program (libesmtp 1.1 exposes no socket, and calls both through
 * the PLT), but they do more than the C library's only in a thread that is
 * inside a mailer SMTP session, between mailer_nodelay_enter() and
 * mailer_nodelay_leave(), which mailer/send.c calls around
 * smtp_start_session() alone. In every other thread, and in that thread
 * outside a session (the store's writes, the web server, every library),
 * both go straight to the C library's, after one read of a thread-local
 * flag. Inside a session:
 *
 * - connect() of a blocking TCP socket gives up after the session's
 *   timeout ([smtp] timeout, handed to mailer_nodelay_enter()) with
 *   ETIMEDOUT. libesmtp 1.1 connects with a blocking connect() and no
 *   limit of its own, so a relay that never answers the SYN (a firewall
 *   that drops packets, a host that is down) held the run for the
 *   kernel's SYN retries, about two minutes, whatever the timeout said.
 *   The socket is made non-blocking for the connect alone, polled for
 *   the rest of the time, and its flags put back as they were, so
 *   libesmtp gets the socket it asked for. On ETIMEDOUT, as on a refused
 *   connection, libesmtp closes the socket and tries the relay's next
 *   address, if it has one (protocol.c, do_session()): each address gets
 *   the whole timeout. A socket the caller made non-blocking itself is
 *   the caller's to wait for: its connect() is the C library's.
 * - connect() of a TCP socket sets TCP_NODELAY on it and remembers it as
 *   the session's socket. libesmtp 1.1.0 never sets the option, so the
 *   tail of every message waits for the server's delayed ACK (Nagle):
 *   about 23 messages a second per session on loopback instead of about
 *   3,600 (measured; DESIGN.md, pitfall 1).
 * - write() to that one socket of a full buffer of message data goes with
 *   MSG_MORE. With TCP_NODELAY every write() leaves at once as a segment of
 *   its own; libesmtp copies a message's data through a buffer of 2,048
 *   bytes (SIO_BUFSIZE of its siobuf.h) and writes each full buffer, so a
 *   20 KB message would leave as ten segments, each waking the server
 *   (Postfix's smtp-source writes it in one). With MSG_MORE the kernel
 *   holds a full buffer until the next write without the flag, and the
 *   message leaves in one or two segments. A full buffer is always
 *   followed by more of the same message or by its end, and the end of
 *   the data ("\r\n.\r\n", which dot-stuffing keeps out of the data
 *   itself) is never sent with MSG_MORE; so nothing waits. Every other
 *   write, to that socket or any other file, is the C library's
 *   (libesmtp's TLS writes are records of another size: not touched).
 *
 * The C library's connect() is looked up once and only read after that;
 * the session's timeout lives in the same thread-local state as its flag,
 * so no global changes. write() decides from its arguments and the
 * thread's own flag, so it stays async-signal-safe as write() must be.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mailer_int.h"

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

static connect_fn real_connect;	/* set once, then only read */
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

/*
 * This thread's session: whether it is in one, its socket (-1: none yet),
 * how long its connect() may take, and how many gave up at that limit.
 */
static _Thread_local struct {
	bool on;
	int fd;
	int timeout;		/* seconds; 0: no limit but the kernel's */
	int timed_out;		/* connect()s that gave up at @timeout */
} session = {false, -1, 0, 0};

static void
find_real(void)
{
	real_connect = (connect_fn)dlsym(RTLD_NEXT, "connect");
	if (real_connect == NULL)
		fatal("connect() not found in the C library: %s", dlerror());
}

void
mailer_nodelay_enter(int timeout)
{
	session.on = true;
	session.fd = -1;
	session.timeout = timeout > 0 ? timeout : 0;
	session.timed_out = 0;
}

int
mailer_nodelay_leave(void)
{
	int n = session.timed_out;

	session.on = false;
	session.fd = -1;
	session.timeout = 0;
	session.timed_out = 0;
	return n;
}

/*
 * Waits for the non-blocking connect of @fd until @deadline (monotonic
 * seconds); 0 when it is made, or -1 with errno: the connect's own error
 * (SO_ERROR), or ETIMEDOUT when the deadline passed first.
 */
static int
connect_wait(int fd, double deadline)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	socklen_t elen = sizeof(int);
	int e = 0, r;

	for (;;) {
		double left = deadline - monotonic_seconds();

		if (left <= 0) {
			session.timed_out++;
			errno = ETIMEDOUT;
			return -1;
		}
		/* Rounded up, so that a poll() that returns 0 has seen the
		 * deadline pass; an hour at a time, so that it fits an int. */
		r = poll(&p, 1, left > 3600 ? 3600 * 1000 : (int)(left * 1000) + 1);
		if (r > 0)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
		return -1;
	if (e != 0) {
		errno = e;
		return -1;
	}
	return 0;
}

/*
 * The C library's connect() of a blocking socket, given up after
 * @timeout seconds with ETIMEDOUT; the socket's flags as they were, on
 * every path. A socket already non-blocking is the caller's to wait for.
 */
static int
connect_bounded(int fd, const struct sockaddr *addr, socklen_t len, int timeout)
{
	double deadline = monotonic_seconds() + timeout;
	int flags = fcntl(fd, F_GETFL), r, saved;

	if (flags < 0 || (flags & O_NONBLOCK) || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return real_connect(fd, addr, len);
	r = real_connect(fd, addr, len);
	/* EINTR: the connect goes on in the background, as EINPROGRESS says. */
	if (r < 0 && (errno == EINPROGRESS || errno == EINTR))
		r = connect_wait(fd, deadline);
	saved = errno;
	(void)fcntl(fd, F_SETFL, flags);
	errno = saved;
	return r;
}

int
connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	int type = 0, one = 1, r;
	socklen_t tlen = sizeof(type);
	bool tcp;

	pthread_once(&real_once, find_real);
	if (!session.on)
		return real_connect(fd, addr, len);
	tcp = addr != NULL && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6) &&
	      getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_STREAM;
	if (tcp)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (tcp && session.timeout > 0)
		r = connect_bounded(fd, addr, len, session.timeout);
	else
		r = real_connect(fd, addr, len);
	if (tcp && (r == 0 || errno == EINPROGRESS))
		session.fd = fd;
	return r;
}

bool
mailer_more_follows(const void *buf, size_t len)
{
	static const char end[] = "\r\n.\r\n";

	return len == MAILER_SIO_BUFSIZE &&
	       memcmp((const char *)buf + len - (sizeof(end) - 1), end, sizeof(end) - 1) != 0;
}

bool
mailer_nodelay_more(int fd, const void *buf, size_t len)
{
	return session.on && fd == session.fd && fd >= 0 && mailer_more_follows(buf, len);
}

/* The C library's own write(), under its exported internal name: no
 * lookup, so this stays async-signal-safe as write() must be. */
extern ssize_t __write(int fd, const void *buf, size_t len);

ssize_t
write(int fd, const void *buf, size_t len)
{
	if (mailer_nodelay_more(fd, buf, len)) {
		ssize_t n = send(fd, buf, len, MSG_MORE);

		if (n >= 0 || errno != ENOTSOCK)
			return n;
	}
	return __write(fd, buf, len);
}
