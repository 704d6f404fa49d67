/*
 * store/key.c - the key file and the keys derived from it.
 *
 * The file holds one line "ID BASE64" per 32-byte master key, oldest first;
 * the newest signs new tokens, every key verifies. Keys for different uses
 * are derived with crypto_kdf so that no two uses share bytes: a token MAC
 * key per master key, and the suppression and audit hash keys from the
 * first (oldest) key, which must therefore never be removed: the hashes
 * already stored were made with it.
 *
 * SECURITY: the file must be mode 0600 or stricter; keys live in
 * sodium_malloc memory, read-only once loaded, and are wiped on free.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_LINE_MAX 128
#define KEY_B64_LEN sodium_base64_ENCODED_LEN(crypto_kdf_KEYBYTES, sodium_base64_VARIANT_ORIGINAL)

static const char kdf_token[crypto_kdf_CONTEXTBYTES + 1] = "nl-token";
static const char kdf_suppress[crypto_kdf_CONTEXTBYTES + 1] = "nl-suppr";
static const char kdf_audit[crypto_kdf_CONTEXTBYTES + 1] = "nl-audit";

static int
write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * A new key's line "ID BASE64\n" in @out; -1 with @err if it does not fit
 * (it cannot: an id of at most 10 digits and 44 bytes of base64 take 56
 * of KEY_LINE_MAX's 128, but a cut line would be a wrong key).
 */
static int
key_line(int id, char *out, size_t outlen, char *err)
{
	unsigned char master[crypto_kdf_KEYBYTES];
	char b64[KEY_B64_LEN];
	int r;

	crypto_kdf_keygen(master);
	sodium_bin2base64(b64, sizeof(b64), master, sizeof(master),
			  sodium_base64_VARIANT_ORIGINAL);
	r = fmt(out, outlen, "%d %s\n", id, b64);
	sodium_memzero(master, sizeof(master));
	sodium_memzero(b64, sizeof(b64));
	if (r < 0) {
		sodium_memzero(out, outlen);
		return errf(err, "a key line is longer than %zu bytes", outlen - 1);
	}
	return 0;
}

static const char key_header[] =
	"# newsletter keys: one \"ID BASE64\" line per key, oldest first.\n"
	"# Keep this file secret (mode 0600) and backed up. Never remove the\n"
	"# first key: suppression and audit hashes depend on it.\n";

int
store_keys_create(const char *path, char *err)
{
	char line[KEY_LINE_MAX];
	int fd;

	if (sodium_init() < 0)
		return errf(err, "libsodium could not be initialised");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return errf(err, "key file %s exists already: refusing to overwrite it", path);
		return errf(err, "cannot create key file %s: %s", path, strerror(errno));
	}
	if (key_line(1, line, sizeof(line), err) < 0) {
		close(fd);
		unlink(path);
		return -1;
	}
	if (write_all(fd, key_header, strlen(key_header)) < 0 ||
	    write_all(fd, line, strlen(line)) < 0 || fsync(fd) < 0) {
		sodium_memzero(line, sizeof(line));
		close(fd);
		unlink(path);
		return errf(err, "cannot write key file %s: %s", path, strerror(errno));
	}
	sodium_memzero(line, sizeof(line));
	if (close(fd) < 0)
		return errf(err, "cannot write key file %s: %s", path, strerror(errno));
	return 0;
}

/* Parses one key line; 0 blank or comment, 1 a key, -1 bad. */
static int
parse_line(char *line, int *id, unsigned char master[crypto_kdf_KEYBYTES])
{
	char *p = line, *end;
	size_t binlen;
	long n;

	line[strcspn(line, "\r\n")] = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	n = strtol(p, &end, 10);
	if (end == p || n < 1 || n > STORE_KEY_MAX || (*end != ' ' && *end != '\t'))
		return -1;
	while (*end == ' ' || *end == '\t')
		end++;
	/* libsodium 1.0.18 reads any byte over 0x7f as '/': ASCII only. */
	for (const char *c = end; *c != '\0'; c++)
		if ((unsigned char)*c > 0x7f)
			return -1;
	if (sodium_base642bin(master, crypto_kdf_KEYBYTES, end, strlen(end), " \t",
			      &binlen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    binlen != crypto_kdf_KEYBYTES)
		return -1;
	*id = (int)n;
	return 1;
}

struct store_keys *
store_keys_load(const char *path, char *err)
{
	unsigned char master[crypto_kdf_KEYBYTES];
	char line[KEY_LINE_MAX + 2];
	struct store_keys *k;
	struct stat st;
	FILE *fp;
	int lineno = 0, first = 0;

	if (sodium_init() < 0) {
		errf(err, "libsodium could not be initialised");
		return NULL;
	}
	fp = fopen(path, "re");
	if (fp == NULL) {
		if (errno == ENOENT)
			errf(err, "key file %s does not exist: run 'newsletter init' first", path);
		else
			errf(err, "cannot read key file %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(fp), &st) < 0 || !S_ISREG(st.st_mode)) {
		fclose(fp);
		errf(err, "key file %s is not a regular file", path);
		return NULL;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		fclose(fp);
		errf(err, "key file %s is readable by others (mode %03o): run 'chmod 600 %s'",
		     path, (unsigned)(st.st_mode & 0777), path);
		return NULL;
	}
	k = sodium_malloc(sizeof(*k));
	if (k == NULL)
		fatal("out of memory (locked key memory)");
	memset(k, 0, sizeof(*k));
	randombytes_buf(k->dummy, sizeof(k->dummy));
	crypto_auth_hmacsha512256_init(&k->dummy_state, k->dummy, sizeof(k->dummy));
	while (fgets(line, sizeof(line), fp) != NULL) {
		int id, r;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			errf(err, "%s:%d: the line is too long for a key", path, lineno);
			goto fail;
		}
		r = parse_line(line, &id, master);
		if (r == 0)
			continue;
		if (r < 0) {
			errf(err, "%s:%d: not a key line (\"ID BASE64\" with ID 1 to %d and a 32-byte key)",
			     path, lineno, STORE_KEY_MAX);
			goto fail;
		}
		if (k->have[id]) {
			errf(err, "%s:%d: key id %d appears twice", path, lineno, id);
			goto fail;
		}
		crypto_kdf_derive_from_key(k->mac[id], sizeof(k->mac[id]), 1, kdf_token, master);
		crypto_auth_hmacsha512256_init(&k->mac_state[id], k->mac[id], sizeof(k->mac[id]));
		if (first == 0) {
			first = id;
			crypto_kdf_derive_from_key(k->suppress, sizeof(k->suppress), 1, kdf_suppress, master);
			crypto_kdf_derive_from_key(k->audit, sizeof(k->audit), 1, kdf_audit, master);
		}
		k->have[id] = true;
		k->n++;
		if (id > k->current)
			k->current = id;
	}
	sodium_memzero(master, sizeof(master));
	sodium_memzero(line, sizeof(line));
	fclose(fp);
	if (k->n == 0) {
		errf(err, "key file %s holds no key", path);
		sodium_free(k);
		return NULL;
	}
	sodium_mprotect_readonly(k);
	return k;
fail:
	sodium_memzero(master, sizeof(master));
	sodium_memzero(line, sizeof(line));
	fclose(fp);
	sodium_free(k);
	return NULL;
}

void
store_keys_free(struct store_keys *k)
{
	if (k != NULL)
		sodium_free(k);	/* wipes */
}

int
store_keys_count(const struct store_keys *k)
{
	return k->n;
}

int
store_keys_current(const struct store_keys *k)
{
	return k->current;
}

int
store_keys_rotate(const char *path, int *id, char *err)
{
	struct store_keys *k;
	struct buf tmp, content;
	char line[KEY_LINE_MAX];
	FILE *fp;
	int fd, c;

	k = store_keys_load(path, err);
	if (k == NULL)
		return -1;
	if (k->current >= STORE_KEY_MAX) {
		store_keys_free(k);
		return errf(err, "key file %s has reached key id %d: no room for another", path, STORE_KEY_MAX);
	}
	*id = k->current + 1;
	store_keys_free(k);

	/* Read the whole file, add a line, replace it atomically. */
	fp = fopen(path, "re");
	if (fp == NULL)
		return errf(err, "cannot read key file %s: %s", path, strerror(errno));
	buf_init(&content);
	while ((c = getc(fp)) != EOF)
		buf_addc(&content, (char)c);
	fclose(fp);
	if (content.len > 0 && content.s[content.len - 1] != '\n')
		buf_addc(&content, '\n');
	if (key_line(*id, line, sizeof(line), err) < 0) {
		sodium_memzero(content.s, content.len);
		buf_free(&content);
		return -1;
	}
	buf_adds(&content, line);
	sodium_memzero(line, sizeof(line));

	buf_init(&tmp);
	buf_printf(&tmp, "%s.new", path);
	fd = open(tmp.s, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, content.s, content.len) < 0 || fsync(fd) < 0 ||
	    close(fd) < 0 || (fd = -1, rename(tmp.s, path) < 0)) {
		errf(err, "cannot write key file %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp.s);
		sodium_memzero(content.s, content.len);
		buf_free(&content);
		buf_free(&tmp);
		return -1;
	}
	sodium_memzero(content.s, content.len);
	buf_free(&content);
	buf_free(&tmp);
	return 0;
}
