/*
 * mailer/nodelay.c - TCP_NODELAY on the SMTP client's sockets.
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
 * The wrapper keeps no state: the C library's connect() is looked up once
 * and only read after that.
 */
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>

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
