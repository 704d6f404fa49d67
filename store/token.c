/*
 * store/token.c - signed link tokens.
 *
 * token = base64url(payload) "." base64url(mac), where payload is, by its
 * version byte,
 *   1: version | key id | purpose | subscriber (8, BE) | mailing (8, BE)
 *   2: version | key id | purpose | subscriber (8, BE) | generation (2, BE)
 *      | mailing (6, BE)
 * and mac is crypto_auth (HMAC-SHA-512-256) over the payload with the key
 * of that id, truncated to 128 bits. No address or name is in a token.
 *
 * The generation binds a token to the address it was mailed to: 'rectify'
 * raises the subscriber's generation, and the store refuses a token whose
 * generation is not the subscriber's current one (store_token_current()).
 * Version 1 tokens, made before generations existed, stand for generation
 * 0: they keep working until the address is first corrected. Both layouts
 * are 19 bytes, so every token is TOKEN_LEN characters.
 *
 * SECURITY: verification does the same work for every input of the right
 * length: a malformed or forged token, an unknown key id and a token of
 * another purpose all compute a MAC and compare it in constant time, and
 * all fail with the same -1.
 */
#include "store_int.h"

#include <string.h>

#define TOKEN_V1 1
#define TOKEN_V2 2
#define PAYLOAD_LEN 19
#define MAC_LEN 16
#define PAYLOAD_B64 26		/* base64url without padding of 19 bytes */
#define MAC_B64 22		/* ... of 16 bytes */

/* Big-endian integers of @n bytes. */
static void
put_be(unsigned char *p, int n, uint64_t v)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t
get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/*
 * crypto_auth (HMAC-SHA-512-256) of the payload, truncated, from a state
 * that has absorbed the key already (key.c): the same MAC for half the work.
 */
static void
token_mac(const crypto_auth_hmacsha512256_state *keyed, const unsigned char *payload,
	  unsigned char out[MAC_LEN])
{
	crypto_auth_hmacsha512256_state st = *keyed;
	unsigned char full[crypto_auth_BYTES];

	crypto_auth_hmacsha512256_update(&st, payload, PAYLOAD_LEN);
	crypto_auth_hmacsha512256_final(&st, full);
	memcpy(out, full, MAC_LEN);
	sodium_memzero(&st, sizeof(st));
}

int
store_token_make(const struct store_keys *k, enum token_purpose purpose,
		 const struct token_claims *c, char out[TOKEN_LEN + 1])
{
	unsigned char payload[PAYLOAD_LEN], mac[MAC_LEN];

	out[0] = '\0';
	if (c->subscriber < 0 || c->gen > TOKEN_GEN_MAX || c->mailing < 0 ||
	    c->mailing > TOKEN_MAILING_MAX)
		return -1;
	payload[0] = TOKEN_V2;
	payload[1] = (unsigned char)k->current;
	payload[2] = (unsigned char)purpose;
	put_be(payload + 3, 8, (uint64_t)c->subscriber);
	put_be(payload + 11, 2, c->gen);
	put_be(payload + 13, 6, (uint64_t)c->mailing);
	token_mac(&k->mac_state[k->current], payload, mac);
	sodium_bin2base64(out, PAYLOAD_B64 + 1, payload, sizeof(payload),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	out[PAYLOAD_B64] = '.';
	sodium_bin2base64(out + PAYLOAD_B64 + 1, MAC_B64 + 1, mac, sizeof(mac),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return 0;
}

/*
 * Decodes exactly @binlen bytes from exactly @b64len characters. One token
 * has one form: libsodium refuses unused low bits that are not zero in the
 * last character, and token_ascii() below the bytes it would misread, so a
 * decoded token needs no encoding again to compare (tests/unit/test_token.c
 * holds both to that).
 */
static bool
decode_part(const char *s, size_t b64len, unsigned char *bin, size_t binlen)
{
	size_t got;

	return sodium_base642bin(bin, binlen, s, b64len, NULL, &got, NULL,
				 sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 && got == binlen;
}

/*
 * libsodium 1.0.18 (Debian 12) decodes every byte from 0x80 to 0xff as the
 * last character of the alphabet ('_' here): a token with its '_' changed
 * to any of them would pass. Only ASCII may reach the decoder.
 */
static bool
token_ascii(const char *s, size_t n)
{
	unsigned char any = 0;

	for (size_t i = 0; i < n; i++)
		any |= (unsigned char)s[i];
	return (any & 0x80) == 0;
}

int
store_token_verify(const struct store_keys *k, const char *token,
		   enum token_purpose purpose, struct token_claims *out)
{
	unsigned char payload[PAYLOAD_LEN] = {0}, mac[MAC_LEN] = {0}, want[MAC_LEN];
	const crypto_auth_hmacsha512256_state *key;
	bool ok = true;
	uint64_t sub, gen, mailing;
	bool v2;
	size_t len = strnlen(token, TOKEN_MAX + 1);

	if (len != TOKEN_LEN || token[PAYLOAD_B64] != '.')
		return -1;	/* the length is public: no secret to time */
	ok &= token_ascii(token, TOKEN_LEN);
	ok &= decode_part(token, PAYLOAD_B64, payload, PAYLOAD_LEN);
	ok &= decode_part(token + PAYLOAD_B64 + 1, MAC_B64, mac, MAC_LEN);
	key = k->have[payload[1]] ? &k->mac_state[payload[1]] : &k->dummy_state;
	ok &= k->have[payload[1]];
	token_mac(key, payload, want);
	ok &= crypto_verify_16(want, mac) == 0;
	/* The version byte is public, as the length is: the layouts may differ
	 * in time, not the secrets. */
	v2 = payload[0] == TOKEN_V2;
	ok &= v2 || payload[0] == TOKEN_V1;
	ok &= payload[2] == (unsigned char)purpose;
	sub = get_be(payload + 3, 8);
	gen = v2 ? get_be(payload + 11, 2) : 0;
	mailing = v2 ? get_be(payload + 13, 6) : get_be(payload + 11, 8);
	ok &= sub >= 1 && sub <= INT64_MAX;
	ok &= mailing <= INT64_MAX;
	if (!ok)
		return -1;
	if (out) {
		out->subscriber = (int64_t)sub;
		out->gen = (unsigned)gen;
		out->mailing = (int64_t)mailing;
	}
	return 0;
}
