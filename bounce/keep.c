/*
 * bounce/keep.c - the keep Maildir ([bounce] keep): where the messages
 * that could not be parsed (and, with [bounce] keep_handled, the handled
 * ones) wait for a person, and how long they may wait.
 *
 * A kept message is written into tmp/, synced, and renamed into new/, as
 * Maildir delivery demands, so a crash never leaves half a message in
 * new/. Expiry ('newsletter retention') unlinks the files of new/, cur/
 * and tmp/ whose last change is older than [retention] keep_days; it never
 * follows a symbolic link (a link is removed as a link) and never descends
 * into anything else. Unlinking does not overwrite: the bytes stay in free
 * blocks of the file system until they are reused. Kept messages carry
 * addresses: nothing here logs a message's contents.
 */
#include "bounce.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEEP_PATH_MAX 4096

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
	char tmp[KEEP_PATH_MAX], new[KEEP_PATH_MAX], sub[KEEP_PATH_MAX], host[128] = "localhost";
	struct timespec ts;
	int fd;
	size_t off = 0;

	if (dir == NULL || *dir == '\0')
		return errf(err, "no Maildir to keep it in: set [bounce] keep");
	if (ensure_dir(dir, err) < 0)
		return -1;
	for (const char *const *s = (const char *const[]){"tmp", "new", "cur", NULL}; *s; s++) {
		if (fmt(sub, sizeof(sub), "%s/%s", dir, *s) != 0)
			return errf(err, "the keep Maildir's path is longer than %d bytes", KEEP_PATH_MAX - 8);
		if (ensure_dir(sub, err) < 0)
			return -1;
	}
	if (gethostname(host, sizeof(host) - 1) < 0)
		memcpy(host, "localhost", sizeof("localhost"));
	host[sizeof(host) - 1] = '\0';
	for (char *p = host; *p; p++)
		if (*p == '/' || *p == ':')
			*p = '_';
	/* time.pid.host names a delivery; a clash (same microsecond) retries. */
	for (int attempt = 0;; attempt++) {
		clock_gettime(CLOCK_REALTIME, &ts);
		if (fmt(tmp, sizeof(tmp), "%s/tmp/%lld.M%ldP%dR%d.%s", dir, (long long)ts.tv_sec,
			ts.tv_nsec / 1000, (int)getpid(), attempt, host) != 0 ||
		    fmt(new, sizeof(new), "%s/new/%lld.M%ldP%dR%d.%s", dir, (long long)ts.tv_sec,
			ts.tv_nsec / 1000, (int)getpid(), attempt, host) != 0)
			return errf(err, "the keep Maildir's path is longer than %d bytes", KEEP_PATH_MAX - 200);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
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

/* Expires the files of one folder of the keep Maildir (@dfd open on it). */
static int
expire_folder(int dfd, const char *dir, const char *name, time_t cutoff, bool dry_run,
	      long *expired, char *err)
{
	struct dirent *de;
	DIR *d;
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return errf(err, "cannot read %s/%s: %s", dir, name, strerror(errno));
	}
	if ((d = fdopendir(fd)) == NULL) {
		errf(err, "cannot read %s/%s: %s", dir, name, strerror(errno));
		close(fd);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct stat sb;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)	/* a person or another run removed it */
				continue;
			errf(err, "cannot read %s/%s/%s: %s", dir, name, de->d_name, strerror(errno));
			closedir(d);
			return -1;
		}
		if (S_ISDIR(sb.st_mode) || sb.st_mtime >= cutoff)
			continue;
		if (!dry_run && unlinkat(fd, de->d_name, 0) < 0) {
			if (errno == ENOENT)
				continue;
			errf(err, "cannot delete %s/%s/%s: %s", dir, name, de->d_name, strerror(errno));
			closedir(d);
			return -1;
		}
		(*expired)++;
	}
	if (errno != 0) {
		errf(err, "cannot read %s/%s: %s", dir, name, strerror(errno));
		closedir(d);
		return -1;
	}
	closedir(d);
	return 0;
}

int
bounce_keep_expire(const char *dir, int days, bool dry_run, long *expired, char *err)
{
	time_t cutoff = time(NULL) - (time_t)days * 86400;
	int dfd;

	*expired = 0;
	if (dir == NULL || *dir == '\0')
		return 0;
	if (days < 1)
		return errf(err, "keep_days must be 1 or more, not %d", days);
	/* The configured folder itself may be a link (the config is trusted);
	 * what is inside it is not followed. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)	/* nothing was ever kept */
			return 0;
		return errf(err, "cannot read the keep Maildir %s: %s", dir, strerror(errno));
	}
	for (const char *const *s = (const char *const[]){"new", "cur", "tmp", NULL}; *s; s++)
		if (expire_folder(dfd, dir, *s, cutoff, dry_run, expired, err) < 0) {
			close(dfd);
			return -1;
		}
	close(dfd);
	return 0;
}
