/*
 * bounce/mailbox.c - where bounce messages come from and where the ones
 * that cannot be parsed are kept: stdin or a file, a Maildir, an mbox.
 *
 * A message is never lost: a Maildir message is claimed by an atomic
 * rename from new/ into cur/ (two runs at once never take the same one),
 * flagged when handled, and put back into new/ on a temporary failure. A
 * kept message is written into tmp/ and renamed into new/, as Maildir
 * delivery demands. Reads at most BOUNCE_MAX_MESSAGE bytes a message.
 */
#include "bounce.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int
bounce_read_file(const char *path, struct buf *out, char *err)
{
	int fd = path ? open(path, O_RDONLY) : STDIN_FILENO;
	struct stat sb;
	size_t want = 65536;
	bool regular = false;

	buf_reset(out);
	if (fd < 0)
		return errf(err, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0) {
		if (sb.st_size > BOUNCE_MAX_MESSAGE) {
			if (path)
				close(fd);
			return errf(err, "%s is larger than %d bytes (BOUNCE_MAX_MESSAGE)",
				    path ? path : "the message", BOUNCE_MAX_MESSAGE);
		}
		want = (size_t)sb.st_size + 1;	/* + 1: see the end in one read */
		regular = true;
	}
	for (;;) {
		ssize_t n;

		if (out->cap < out->len + want + 1) {
			out->cap = out->len + want + 1;
			out->s = xrealloc(out->s, out->cap);
		}
		n = read(fd, out->s + out->len, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			if (path)
				close(fd);
			return errf(err, "reading %s: %s", path ? path : "standard input", strerror(e));
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		if (out->len > BOUNCE_MAX_MESSAGE) {
			if (path)
				close(fd);
			return errf(err, "%s is larger than %d bytes (BOUNCE_MAX_MESSAGE)",
				    path ? path : "the message", BOUNCE_MAX_MESSAGE);
		}
		/* A regular file that gave less than asked for is at its end. */
		if (regular && (size_t)n < want)
			break;
		want = 65536;
		regular = false;
	}
	if (path)
		close(fd);
	if (out->s == NULL)
		out->s = xmalloc(1);
	out->s[out->len] = '\0';
	return 0;
}

static int
ensure_dir(const char *path, char *err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return errf(err, "cannot create %s: %s", path, strerror(errno));
	return 0;
}

int
bounce_keep(const char *dir, const char *data, size_t len, char *err)
{
	char tmp[4096], new[4096], sub[4096], host[128] = "localhost";
	struct timespec ts;
	int fd;
	size_t off = 0;

	if (dir == NULL || *dir == '\0')
		return errf(err, "no Maildir to keep it in: set [bounce] keep");
	if (ensure_dir(dir, err) < 0)
		return -1;
	for (const char *const *s = (const char *const[]){"tmp", "new", "cur", NULL}; *s; s++) {
		snprintf(sub, sizeof(sub), "%s/%s", dir, *s);
		if (ensure_dir(sub, err) < 0)
			return -1;
	}
	gethostname(host, sizeof(host) - 1);
	for (char *p = host; *p; p++)
		if (*p == '/' || *p == ':')
			*p = '_';
	/* time.pid.host names a delivery; a clash (same microsecond) retries. */
	for (int attempt = 0;; attempt++) {
		clock_gettime(CLOCK_REALTIME, &ts);
		if (snprintf(tmp, sizeof(tmp), "%s/tmp/%lld.M%ldP%dR%d.%s", dir, (long long)ts.tv_sec,
			     ts.tv_nsec / 1000, (int)getpid(), attempt, host) >= (int)sizeof(tmp) ||
		    snprintf(new, sizeof(new), "%s/new/%lld.M%ldP%dR%d.%s", dir, (long long)ts.tv_sec,
			     ts.tv_nsec / 1000, (int)getpid(), attempt, host) >= (int)sizeof(new))
			return errf(err, "the keep Maildir's path is too long");
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd >= 0 || errno != EEXIST || attempt > 100)
			break;
	}
	if (fd < 0)
		return errf(err, "cannot create %s: %s", tmp, strerror(errno));
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			errf(err, "writing %s: %s", tmp, strerror(errno));
			close(fd);
			unlink(tmp);
			return -1;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		errf(err, "writing %s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, new) < 0) {
		errf(err, "cannot move %s into new/: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* The base name without a Maildir info suffix (":2,..."). */
static void
base_name(const char *name, char *out, size_t n)
{
	const char *colon = strchr(name, ':');
	size_t k = colon ? (size_t)(colon - name) : strlen(name);

	if (k >= n)
		k = n - 1;
	memcpy(out, name, k);
	out[k] = '\0';
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
bounce_maildir_each(const char *dir, bounce_handler h, void *arg, bool *retry, char *err)
{
	char newdir[4096], from[4096], claimed[4096], done[4100], base[1024];
	struct buf msg;
	struct dirent *de;
	char **names = NULL;
	size_t nn = 0, cap = 0;
	int handled = 0;
	DIR *d;

	*retry = false;
	if (snprintf(newdir, sizeof(newdir), "%s/new", dir) >= (int)sizeof(newdir))
		return errf(err, "the Maildir path is too long");
	if ((d = opendir(newdir)) == NULL)
		return errf(err, "cannot read the Maildir %s: %s", newdir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (nn == cap) {
			cap = cap ? cap * 2 : 64;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[nn++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (nn > 0)	/* another run may have taken them all: no array at all */
		qsort(names, nn, sizeof(*names), name_cmp);	/* oldest first */

	buf_init(&msg);
	for (size_t i = 0; i < nn && !*retry; i++) {
		char why[ERR_LEN];
		enum bounce_done r;

		base_name(names[i], base, sizeof(base));
		if (snprintf(from, sizeof(from), "%s/%s", newdir, names[i]) >= (int)sizeof(from) ||
		    snprintf(claimed, sizeof(claimed), "%s/cur/%s:2,", dir, base) >= (int)sizeof(claimed))
			continue;
		if (rename(from, claimed) < 0) {
			if (errno != ENOENT)	/* ENOENT: another run took it */
				log_warn("bounce: cannot claim %s: %s", from, strerror(errno));
			continue;
		}
		if (bounce_read_file(claimed, &msg, why) < 0) {
			log_warn("bounce: %s", why);
			r = BOUNCE_FLAG;
		} else {
			r = h(from, msg.s, msg.len, arg);
		}
		if (r == BOUNCE_RETRY) {
			if (rename(claimed, from) < 0)
				log_warn("bounce: cannot put %s back into new/: %s", claimed, strerror(errno));
			*retry = true;
			continue;
		}
		snprintf(done, sizeof(done), "%s%s", claimed, r == BOUNCE_DONE ? "S" : "F");
		if (rename(claimed, done) < 0)
			log_warn("bounce: cannot flag %s: %s", claimed, strerror(errno));
		handled++;
	}
	buf_free(&msg);
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	return handled;
}

/* Whether the line at @p (within @end) is an mbox separator "From ". */
static bool
from_line(const char *p, const char *end)
{
	return end - p >= 5 && memcmp(p, "From ", 5) == 0;
}

int
bounce_mbox_each(const char *path, bounce_handler h, void *arg, bool *retry, char *err)
{
	struct progress prog;
	struct stat sb;
	const char *map, *p, *end;
	int fd, handled = 0;

	*retry = false;
	if ((fd = open(path, O_RDONLY)) < 0)
		return errf(err, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &sb) < 0) {
		close(fd);
		return errf(err, "cannot read %s: %s", path, strerror(errno));
	}
	if (sb.st_size == 0) {
		close(fd);
		return 0;
	}
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return errf(err, "cannot read %s: %s", path, strerror(errno));
	end = map + sb.st_size;
	progress_init(&prog);
	p = map;
	while (p < end && !*retry) {
		const char *q = p, *next = end;

		/* The next separator: a "From " line after a blank line. */
		for (;;) {
			const char *nl = memchr(q, '\n', (size_t)(end - q));

			if (nl == NULL)
				break;
			q = nl + 1;
			if (q < end && from_line(q, end) && (nl == map || nl[-1] == '\n' ||
							     (nl - map >= 2 && nl[-1] == '\r' && nl[-2] == '\n'))) {
				next = q;
				break;
			}
		}
		if ((size_t)(next - p) > BOUNCE_MAX_MESSAGE) {
			log_warn("bounce: a message of %s at byte %lld is larger than %d bytes: skipped",
				 path, (long long)(p - map), BOUNCE_MAX_MESSAGE);
		} else if (h(path, p, (size_t)(next - p), arg) == BOUNCE_RETRY) {
			*retry = true;
			break;
		}
		handled++;
		p = next;
		progress_update(&prog, "messages", handled, (double)(p - map) / (double)sb.st_size);
	}
	progress_done(&prog);
	munmap((void *)map, (size_t)sb.st_size);
	return handled;
}
