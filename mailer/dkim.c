/*
 * mailer/dkim.c - DKIM signatures (RFC 6376) with libopendkim.
 *
 * relaxed/relaxed, rsa-sha256, over the headers that identify a mailing
 * and its unsubscribe offer (From, To, Subject, Date, Message-ID, List-Id,
 * List-Unsubscribe, List-Unsubscribe-Post, MIME-Version, Content-Type).
 * The private key is read once from a file its owner alone may read, and
 * kept in memory that is wiped when freed. Never logs the key.
 */
#include "mailer.h"

#include <errno.h>
#include <opendkim/dkim.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DKIM_KEY_MAX 16384	/* bytes in a PEM key file */

struct dkim_signer {
	DKIM_LIB *lib;
	unsigned char *key;	/* PEM, sodium_malloc */
	char *domain, *selector;
	atomic_ulong jobs;
};

static const char *signed_headers[] = {
	"from", "to", "subject", "date", "message-id", "list-id", "list-unsubscribe",
	"list-unsubscribe-post", "mime-version", "content-type",
	"auto-submitted",	/* the confirmation mails' (confirm.c): when present */
	NULL,
};

struct dkim_signer *
mailer_dkim_new(const char *domain, const char *selector, const char *key_file, char *err)
{
	struct dkim_signer *d;
	struct stat sb;
	FILE *fp;
	size_t n;

	if (domain == NULL || selector == NULL || key_file == NULL) {
		errf(err, "[dkim] needs domain, selector and key_file");
		return NULL;
	}
	if ((fp = fopen(key_file, "rb")) == NULL) {
		errf(err, "the DKIM key %s: %s", key_file, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(fp), &sb) == 0 && (sb.st_mode & 077) != 0) {
		errf(err, "the DKIM key %s is readable by others (mode %03o): chmod 600 it",
		     key_file, (unsigned)(sb.st_mode & 0777));
		fclose(fp);
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	if ((d->key = sodium_malloc(DKIM_KEY_MAX + 1)) == NULL)
		fatal("out of memory");
	n = fread(d->key, 1, DKIM_KEY_MAX + 1, fp);
	fclose(fp);
	if (n == 0 || n > DKIM_KEY_MAX) {
		errf(err, "the DKIM key %s is empty or larger than %d bytes", key_file, DKIM_KEY_MAX);
		mailer_dkim_free(d);
		return NULL;
	}
	d->key[n] = '\0';
	{
		/* Checked here: libopendkim leaks on a key it cannot read. */
		BIO *bio = BIO_new_mem_buf(d->key, (int)n);
		EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

		BIO_free(bio);
		if (pk == NULL) {
			errf(err, "the DKIM key %s cannot sign: not a PEM private key", key_file);
			mailer_dkim_free(d);
			return NULL;
		}
		EVP_PKEY_free(pk);
	}
	if ((d->lib = dkim_init(NULL, NULL)) == NULL) {
		errf(err, "libopendkim did not start");
		mailer_dkim_free(d);
		return NULL;
	}
	dkim_options(d->lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, signed_headers, sizeof(char **));
	d->domain = xstrdup(domain);
	d->selector = xstrdup(selector);
	{
		/* A trial signature: a bad key is found now, not mid-send. */
		struct buf msg, tmp;
		char why[ERR_LEN];
		int r;

		buf_init(&msg);
		buf_init(&tmp);
		buf_adds(&msg, "From: <a@example.org>\r\nSubject: trial\r\n\r\ntrial\r\n");
		r = mailer_dkim_sign(d, &msg, &tmp, why);
		buf_free(&msg);
		buf_free(&tmp);
		if (r < 0) {
			errf(err, "the DKIM key %s cannot sign: %s", key_file, why);
			mailer_dkim_free(d);
			return NULL;
		}
	}
	return d;
}

void
mailer_dkim_free(struct dkim_signer *d)
{
	if (d == NULL)
		return;
	if (d->lib)
		dkim_close(d->lib);
	sodium_free(d->key);
	free(d->domain);
	free(d->selector);
	free(d);
}

int
mailer_dkim_sign(struct dkim_signer *d, struct buf *msg, struct buf *tmp, char *err)
{
	static const char name[] = "DKIM-Signature: ";
	unsigned char *sig = NULL;
	char job[32];
	size_t siglen = 0;
	DKIM_STAT status;
	DKIM *dk;

	if (fmt(job, sizeof(job), "nl%lu", (unsigned long)atomic_fetch_add(&d->jobs, 1)) < 0)
		return errf(err, "DKIM: a job id of more than %zu bytes", sizeof(job) - 1);
	dk = dkim_sign(d->lib, (unsigned char *)job, NULL, (dkim_sigkey_t)d->key,
		       (unsigned char *)d->selector, (unsigned char *)d->domain,
		       DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, DKIM_SIGN_RSASHA256, -1, &status);
	if (dk == NULL)
		return errf(err, "DKIM: %s", dkim_getresultstr(status));
	if ((status = dkim_chunk(dk, (unsigned char *)msg->s, msg->len)) != DKIM_STAT_OK ||
	    (status = dkim_chunk(dk, NULL, 0)) != DKIM_STAT_OK ||
	    (status = dkim_eom(dk, NULL)) != DKIM_STAT_OK ||
	    (status = dkim_getsighdr_d(dk, strlen(name), &sig, &siglen)) != DKIM_STAT_OK) {
		const char *why = dkim_geterror(dk);

		errf(err, "DKIM signing: %s", why && *why ? why : dkim_getresultstr(status));
		dkim_free(dk);
		return -1;
	}
	buf_reset(tmp);
	buf_adds(tmp, name);
	for (size_t i = 0; i < siglen; i++) {
		if (sig[i] == '\n' && (i == 0 || sig[i - 1] != '\r'))
			buf_addc(tmp, '\r');
		buf_addc(tmp, (char)sig[i]);
	}
	buf_adds(tmp, "\r\n");
	buf_add(tmp, msg->s, msg->len);
	dkim_free(dk);
	/* Swap: @msg gets the signed message, @tmp the old bytes. */
	{
		struct buf t = *msg;

		*msg = *tmp;
		*tmp = t;
	}
	return 0;
}
