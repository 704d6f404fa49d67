/*
 * bounce/mailbox.c - where bounce messages come from: stdin or a file, a
 * Maildir, an mbox.
 *
 * A message is never lost: a Maildir message is claimed by an atomic
 * rename from new/ into cur/ (two runs at once never take the same one),
 * and put back into new/ on a temporary failure. Once its transaction has
 * committed it is deleted (with [bounce] keep_handled, first copied into
 * the keep Maildir); one that could not be parsed is moved into the keep
 * Maildir, or, without one, left in cur/ flagged F for a person. Only
 * regular files are read from a Maildir: a symbolic link, a FIFO or a
 * device in new/ is refused unread (a link to /etc/passwd must not become
 * a "message", a FIFO must not stop the run). Reads at most
 * BOUNCE_MAX_MESSAGE bytes a message. An mbox is read, never changed.
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

/* Reads all of @fd (named @name in errors) into @out; @sb: its status, or NULL. */
static int
read_fd(int fd, const char *name, const struct stat *sb, struct buf *out, char *err)
{
	size_t want = 65536;
	bool regular = false;

	buf_reset(out);
	if (sb != NULL && S_ISREG(sb->st_mode) && sb->st_size > 0) {
		if (sb->st_size > BOUNCE_MAX_MESSAGE)
			return errf(err, "%s is larger than %d bytes (BOUNCE_MAX_MESSAGE)", name,
				    BOUNCE_MAX_MESSAGE);
		want = (size_t)sb->st_size + 1;	/* + 1: see the end in one read */
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
		if (n < 0)
			return errf(err, "reading %s: %s", name, strerror(errno));
		if (n == 0)
			break;
		out->len += (size_t)n;
		if (out->len > BOUNCE_MAX_MESSAGE)
			return errf(err, "%s is larger than %d bytes (BOUNCE_MAX_MESSAGE)", name,
				    BOUNCE_MAX_MESSAGE);
		/* A regular file that gave less than asked for is at its end. */
		if (regular && (size_t)n < want)
			break;
		want = 65536;
		regular = false;
	}
	if (out->s == NULL)
		out->s = xmalloc(1);
	out->s[out->len] = '\0';
	return 0;
}

int
bounce_read_file(const char *path, struct buf *out, char *err)
{
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	struct stat sb;
	int r;

	buf_reset(out);
	if (fd < 0)
		return errf(err, "cannot open %s: %s", path, strerror(errno));
	r = read_fd(fd, path ? path : "standard input", fstat(fd, &sb) == 0 ? &sb : NULL, out, err);
	if (path)
		close(fd);
	return r;
}

/*
 * Reads a Maildir message: a regular file, never through a symbolic link,
 * and never waiting on a FIFO (O_NONBLOCK; a regular file ignores it).
 * The caller names the file in what it reports of @err.
 */
static int
read_maildir_file(const char *path, struct buf *out, char *err)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct stat sb;
	int r;

	buf_reset(out);
	if (fd < 0 && errno == ELOOP)
		return errf(err, "a symbolic link, not a message: refused, not followed");
	if (fd < 0)
		return errf(err, "cannot open it: %s", strerror(errno));
	if (fstat(fd, &sb) < 0) {
		errf(err, "cannot read it: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		errf(err, "%s, not a message: refused, not read",
		     S_ISDIR(sb.st_mode) ? "a directory" : S_ISFIFO(sb.st_mode) ? "a FIFO"
		     : S_ISSOCK(sb.st_mode) ? "a socket" : "a device or special file");
		close(fd);
		return -1;
	}
	r = read_fd(fd, "the message", &sb, out, err);
	close(fd);
	return r;
}

/* The base name without a Maildir info suffix (":2,..."); false when it
 * does not fit (a name in new/ is at most NAME_MAX: it always does). */
static bool
base_name(const char *name, char *out, size_t n)
{
	const char *colon = strchr(name, ':');
	size_t k = colon ? (size_t)(colon - name) : strlen(name);

	if (k >= n)
		return false;
	memcpy(out, name, k);
	out[k] = '\0';
	return true;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Marks a message left in cur/ with a Maildir flag ('S' seen, 'F' flagged). */
static void
flag(const char *claimed, char f)
{
	char done[4100];

	if (fmt(done, sizeof(done), "%s%c", claimed, f) != 0) {
		log_warn("bounce: cannot flag %s: the path is too long", claimed);
		return;
	}
	if (rename(claimed, done) < 0)
		log_warn("bounce: cannot flag %s: %s", claimed, strerror(errno));
}

/*
 * What becomes of a claimed message once its handler has returned @r:
 * @data NULL when it was not read (refused or unreadable).
 */
static void
dispose(struct bounce_box *box, const char *claimed, enum bounce_done r, const char *data, size_t len)
{
	char why[ERR_LEN];
	bool keep = box->keep != NULL && box->keep[0] != '\0' && data != NULL &&
		    (r == BOUNCE_FLAG || box->keep_handled);

	if (keep && bounce_keep(box->keep, data, len, why) < 0) {
		log_error("bounce: %s could not be kept: %s; it stays in cur/", claimed, why);
		box->failed++;
		flag(claimed, r == BOUNCE_DONE ? 'S' : 'F');
		return;
	}
	if (!keep && r == BOUNCE_FLAG) {
		/* Nowhere to keep it, or never read: for a person, here. */
		box->flagged++;
		flag(claimed, 'F');
		return;
	}
	/* Kept (synced) or handled (committed): this copy may go. */
	if (unlink(claimed) < 0) {
		log_error("bounce: cannot delete %s: %s", claimed, strerror(errno));
		box->failed++;
		flag(claimed, r == BOUNCE_DONE ? 'S' : 'F');
		return;
	}
	if (keep)
		box->kept++;
	else
		box->deleted++;
}

int
bounce_maildir_each(const char *dir, struct bounce_box *box, bounce_handler h, void *arg,
		    bool *retry, char *err)
{
	char newdir[4096], from[4096], claimed[4096], base[1024];
	struct buf msg;
	struct dirent *de;
	char **names = NULL;
	size_t nn = 0, cap = 0;
	int handled = 0;
	DIR *d;

	*retry = false;
	if (fmt(newdir, sizeof(newdir), "%s/new", dir) != 0)
		return errf(err, "the Maildir path is longer than %zu bytes", sizeof(newdir) - 5);
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
		const char *src;
		enum bounce_done r;
		bool read_ok;

		if (!base_name(names[i], base, sizeof(base)) ||
		    fmt(from, sizeof(from), "%s/%s", newdir, names[i]) != 0 ||
		    fmt(claimed, sizeof(claimed), "%s/cur/%s:2,", dir, base) != 0) {
			log_warn("bounce: the path of %s/%s is too long: left in new/", newdir, names[i]);
			continue;
		}
		/* A dry run changes nothing: it reads the message where it is. */
		src = box->dry_run ? from : claimed;
		if (!box->dry_run && rename(from, claimed) < 0) {
			if (errno != ENOENT)	/* ENOENT: another run took it */
				log_warn("bounce: cannot claim %s: %s", from, strerror(errno));
			continue;
		}
		read_ok = read_maildir_file(src, &msg, why) == 0;
		r = h(from, read_ok ? msg.s : NULL, read_ok ? msg.len : 0, read_ok ? NULL : why, arg);
		if (r == BOUNCE_RETRY) {
			if (!box->dry_run && rename(claimed, from) < 0)
				log_warn("bounce: cannot put %s back into new/: %s", claimed, strerror(errno));
			*retry = true;
			continue;
		}
		if (!box->dry_run)
			dispose(box, claimed, r, read_ok ? msg.s : NULL, msg.len);
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
			char why[ERR_LEN];

			errf(why, "the message at byte %lld is larger than %d bytes (BOUNCE_MAX_MESSAGE): skipped",
			     (long long)(p - map), BOUNCE_MAX_MESSAGE);
			h(path, NULL, 0, why, arg);
		} else if (h(path, p, (size_t)(next - p), NULL, arg) == BOUNCE_RETRY) {
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
