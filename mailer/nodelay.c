/*
 * mailer/nodelay.c - TCP_NODELAY on the SMTP client's sockets, and the
 * message data of a plain SMTP session kept together in the kernel.
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
 * libesmtp writes a message in 2 KB pieces (its fixed buffer), and with
 * TCP_NODELAY each piece leaves as its own segment that wakes the server:
 * about ten segments and wake-ups for a 20 KB message, where Postfix's
 * smtp-source writes one. This program's write() therefore passes
 * MSG_MORE for a piece that does not end a line on a socket connect()
 * saw: SMTP only waits for an answer after a CRLF, so a piece without one
 * always has a next piece, and the kernel sends them together when that
 * comes (the last piece of a message ends with ".\r\n" and is sent at
 * once). Once "STARTTLS" was written the socket carries TLS records and
 * its writes pass through unchanged; a descriptor reused for something
 * that is not a socket (ENOTSOCK) is forgotten. The per-descriptor flags
 * are the only mutable state, written by connect() and write() of the
 * thread owning the socket.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>

#include "mailer.h"

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);

#define PLAIN_FDS 1024		/* descriptors above are left alone */

static connect_fn real_connect;	/* set once, then only read */
static write_fn real_write;
static atomic_bool plain_smtp[PLAIN_FDS];	/* a TCP socket before STARTTLS */
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

static void
find_real(void)
{
	real_connect = (connect_fn)dlsym(RTLD_NEXT, "connect");
	real_write = (write_fn)dlsym(RTLD_NEXT, "write");
	if (real_connect == NULL || real_write == NULL)
		fatal("connect() or write() not found in the C library: %s", dlerror());
}

ssize_t
write(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	pthread_once(&real_once, find_real);
	if (fd >= 0 && fd < PLAIN_FDS && n > 0 &&
	    atomic_load_explicit(&plain_smtp[fd], memory_order_relaxed)) {
		if (n >= 10 && memcmp(p + n - 10, "STARTTLS\r\n", 10) == 0) {
			atomic_store_explicit(&plain_smtp[fd], false, memory_order_relaxed);
		} else if (p[n - 1] != '\n') {
			ssize_t r = send(fd, buf, n, MSG_MORE);

			if (r >= 0 || errno != ENOTSOCK)
				return r;
			atomic_store_explicit(&plain_smtp[fd], false, memory_order_relaxed);
		}
	}
	return real_write(fd, buf, n);
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
		if (fd >= 0 && fd < PLAIN_FDS)
			atomic_store_explicit(&plain_smtp[fd], true, memory_order_relaxed);
	}
	return real_connect(fd, addr, len);
}
