/*
 * mailer/nodelay.c - TCP_NODELAY on the SMTP client's sockets, and a
 * message's data sent in few segments.
 *
 * libesmtp 1.1.0 never sets TCP_NODELAY, so the tail of every message
 * waits for the server's delayed ACK (Nagle): about 23 messages a second
 * per session on loopback instead of about 3,600 (measured; DESIGN.md,
 * pitfall 1). libesmtp exposes no socket but calls connect() through the
 * PLT, so this program's own connect() sets the option on every TCP
 * socket and then calls the C library's connect(), found once with
 * dlsym(RTLD_NEXT). Every other caller of connect() in the process gets
 * the same harmless option; nothing else changes.
 *
 * With TCP_NODELAY, every write() leaves at once as a segment of its own.
 * libesmtp copies a message's data through a buffer of 2,048 bytes
 * (SIO_BUFSIZE of its siobuf.h) and writes each full buffer, so a 20 KB
 * message leaves as ten segments, each waking the server (Postfix's
 * smtp-source writes it in one). This program's write() therefore sends a
 * full buffer with MSG_MORE: the kernel holds it until the next write
 * without the flag, and the message leaves in one or two segments. A full
 * buffer is always followed by more of the same message or by its end,
 * and the end of the data ("\r\n.\r\n", which dot-stuffing keeps out of
 * the data itself) is never sent with MSG_MORE; so nothing waits. Every
 * other write, and a write to anything that is not a socket, goes to the
 * C library's write() unchanged (libesmtp's TLS writes are records of
 * another size: they are not touched).
 *
 * The wrappers keep no state: the C library's connect() is looked up once
 * and only read after that; write() decides from its arguments alone.
 */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mailer.h"

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

static connect_fn real_connect;	/* set once, then only read */
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

static void
find_real(void)
{
	real_connect = (connect_fn)dlsym(RTLD_NEXT, "connect");
	if (real_connect == NULL)
		fatal("connect() not found in the C library: %s", dlerror());
}

int
connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	int type = 0, one = 1;
	socklen_t tlen = sizeof(type);

	pthread_once(&real_once, find_real);
	if (addr != NULL && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6) &&
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_STREAM) {
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	return real_connect(fd, addr, len);
}

bool
mailer_more_follows(const void *buf, size_t len)
{
	static const char end[] = "\r\n.\r\n";

	return len == MAILER_SIO_BUFSIZE &&
	       memcmp((const char *)buf + len - (sizeof(end) - 1), end, sizeof(end) - 1) != 0;
}

/* The C library's own write(), under its exported internal name: no
 * lookup, so this stays async-signal-safe as write() must be. */
extern ssize_t __write(int fd, const void *buf, size_t len);

ssize_t
write(int fd, const void *buf, size_t len)
{
	if (mailer_more_follows(buf, len)) {
		ssize_t n = send(fd, buf, len, MSG_MORE);

		if (n >= 0 || errno != ENOTSOCK)
			return n;
	}
	return __write(fd, buf, len);
}
