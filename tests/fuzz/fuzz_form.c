/*
 * tests/fuzz/fuzz_form.c - libFuzzer over the form body reader of POST
 * /subscribe (web_form_read: application/x-www-form-urlencoded and
 * multipart/form-data, through libmicrohttpd's post processor).
 *
 * The reader needs a real connection (the post processor takes the
 * Content-Type from it), so each input is a real request: a daemon of
 * libmicrohttpd with no listening socket is handed one end of a Unix
 * socket pair, and the harness writes the request into the other. No
 * network at all. The first byte of the input picks the Content-Type:
 * urlencoded, multipart with the boundary "XyZ", or (else) the input's
 * first line up to a newline; the rest is the body, at most what the
 * public listener takes (MAX_BODY_PUBLIC).
 *
 * What must hold: no memory error (ASan, UBSan), every field handed over
 * has a name and is at most the field limit, and a refusal says why.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../web/web_int.h"

#define FIELD_MAX 1024	/* web/signup.c's FORM_FIELD_MAX */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fields {
	int n;
	size_t bytes;
};

static void
field(void *cls, const char *key, const char *value)
{
	struct fields *f = cls;
	size_t n = strlen(value);

	if (key == NULL || n > FIELD_MAX)
		abort();
	f->n++;
	f->bytes += n;
}

struct call {
	struct web_request r;
	bool started;
};

/* The handler: gathers the body, then reads it as POST /subscribe does. */
static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
       const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct call *k = *con_cls;
	struct fields f = {0};
	struct MHD_Response *resp;
	char err[ERR_LEN] = "";
	enum MHD_Result ret;
	int rc;

	(void)cls, (void)url, (void)method, (void)version;
	if (k == NULL) {
		k = calloc(1, sizeof(*k));
		if (k == NULL)
			abort();
		buf_init(&k->r.body);
		*con_cls = k;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		buf_add(&k->r.body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	rc = web_form_read(&k->r, c, FIELD_MAX, field, &f, err);
	if (rc < 0 && err[0] == '\0')
		abort();	/* a refusal that does not say why */
	if (rc == 0 && f.bytes > k->r.body.len)
		abort();	/* more came out than went in */
	resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(c, rc == 0 ? MHD_HTTP_OK : MHD_HTTP_BAD_REQUEST, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void
done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why)
{
	struct call *k = *con_cls;

	(void)cls, (void)c, (void)why;
	if (k == NULL)
		return;
	buf_free(&k->r.body);
	free(k);
	*con_cls = NULL;
}

static struct MHD_Daemon *
daemon_once(void)
{
	static struct MHD_Daemon *d;

	if (d == NULL) {
		d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_NO_LISTEN_SOCKET |
				     MHD_USE_ITC, 0, NULL, NULL, handle, NULL,
				     MHD_OPTION_NOTIFY_COMPLETED, done, NULL,
				     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
				     MHD_OPTION_END);
		if (d == NULL) {
			fprintf(stderr, "fuzz_form: libmicrohttpd would not start\n");
			abort();
		}
	}
	return d;
}

static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;	/* the daemon closed early: an answer came */
		p += w;
		n -= (size_t)w;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in peer = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char ctype[256], head[512], reply[512];
	const char *body;
	size_t blen, i;
	int sv[2];

	if (size == 0)
		return 0;
	if (data[0] == 0) {
		snprintf(ctype, sizeof(ctype), "application/x-www-form-urlencoded");
		body = (const char *)data + 1, blen = size - 1;
	} else if (data[0] == 1) {
		snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=XyZ");
		body = (const char *)data + 1, blen = size - 1;
	} else {
		/* The Content-Type from the input: one line, no CR or LF. */
		const uint8_t *nl = memchr(data + 1, '\n', size - 1);
		size_t n = nl != NULL ? (size_t)(nl - data - 1) : size - 1;

		n = n < sizeof(ctype) - 1 ? n : sizeof(ctype) - 1;
		for (i = 0; i < n; i++)
			ctype[i] = data[1 + i] == '\r' || data[1 + i] == '\0' ? ' ' : (char)data[1 + i];
		ctype[n] = '\0';
		body = nl != NULL ? (const char *)nl + 1 : "";
		blen = nl != NULL ? size - (size_t)(nl - data) - 1 : 0;
	}
	if (blen > MAX_BODY_PUBLIC)
		blen = MAX_BODY_PUBLIC;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (MHD_add_connection(daemon_once(), sv[1], (const struct sockaddr *)&peer,
			       sizeof(peer)) != MHD_YES) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	snprintf(head, sizeof(head), "POST /subscribe HTTP/1.1\r\nHost: fuzz\r\n"
		 "Connection: close\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
		 ctype, blen);
	write_all(sv[0], head, strlen(head));
	write_all(sv[0], body, blen);
	shutdown(sv[0], SHUT_WR);
	/* The answer, to the end: the request is done when the daemon closes. */
	while (read(sv[0], reply, sizeof(reply)) > 0)
		;
	close(sv[0]);
	return 0;
}
