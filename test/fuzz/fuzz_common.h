/*
 * fuzz_common.h
 *		Helpers shared by the libFuzzer harnesses: a reader over the input
 *		bytes, exact-size copies (so that AddressSanitizer sees one byte of
 *		over-read), and invariant checks that abort (a finding).
 */
#ifndef HCL_FUZZ_COMMON_H
#define HCL_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgshim.h"

/* An invariant the code under test must keep; its failure is a finding. */
#define FZ_CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "hcledger fuzz: invariant failed: %s (%s:%d)\n", \
					#cond, __FILE__, __LINE__); \
			abort(); \
		} \
	} while (0)

/* The input as a stream; reading past its end gives zeros / nothing. */
typedef struct fz_in
{
	const uint8_t *p;
	size_t		n;
} fz_in;

static inline uint8_t
fz_u8(fz_in *in)
{
	uint8_t		v = 0;

	if (in->n > 0)
	{
		v = in->p[0];
		in->p++;
		in->n--;
	}
	return v;
}

static inline uint16_t
fz_u16(fz_in *in)
{
	uint16_t	hi = fz_u8(in);

	return (uint16_t) ((hi << 8) | fz_u8(in));
}

static inline uint64_t
fz_u64(fz_in *in)
{
	uint64_t	v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | fz_u8(in);
	return v;
}

/* Up to want bytes (fewer at the end of the input); *got says how many. */
static inline const uint8_t *
fz_bytes(fz_in *in, size_t want, size_t *got)
{
	const uint8_t *p = in->p;

	if (want > in->n)
		want = in->n;
	in->p += want;
	in->n -= want;
	*got = want;
	return p;
}

/* Exactly n bytes, or NULL (and nothing consumed) if fewer are left. */
static inline const uint8_t *
fz_exact(fz_in *in, size_t n)
{
	const uint8_t *p = in->p;

	if (in->n < n)
		return NULL;
	in->p += n;
	in->n -= n;
	return p;
}

/* A malloc'd copy of exactly n bytes (at least one byte allocated). */
static inline void *
fz_dup(const void *src, size_t n)
{
	void	   *p = malloc(n > 0 ? n : 1);

	if (p == NULL)
		abort();
	if (n > 0)
		memcpy(p, src, n);
	return p;
}

/* A malloc'd NUL-terminated copy. */
static inline char *
fz_strdup(const void *src, size_t n)
{
	char	   *p = malloc(n + 1);

	if (p == NULL)
		abort();
	if (n > 0)
		memcpy(p, src, n);
	p[n] = '\0';
	return p;
}

/*
 * The Ed25519 key that signed the checkpoints in the seed corpora
 * (gen_seeds.c derives it from HCL_FUZZ_SEED_KEY).  A test key: it is
 * trusted by nothing but these harnesses.
 */
#define HCL_FUZZ_SEED_KEY \
	"\x68\x63\x6c\x65\x64\x67\x65\x72\x2d\x66\x75\x7a\x7a\x2d\x73\x65" \
	"\x65\x64\x2d\x6b\x65\x79\x2d\x6e\x6f\x74\x2d\x73\x65\x63\x72\x65"

/* Its public key. */
#define HCL_FUZZ_SEED_PUB \
	"\x52\xca\xb8\x8c\xbe\x68\x54\xd9\x13\x9b\xa6\x34\x96\x60\xbd\xc9" \
	"\xd9\x02\xe3\x5f\xd5\x0d\x92\x8d\x69\x0e\x10\x1d\xfa\x95\x5a\x63"

#include <openssl/evp.h>
#include <openssl/pem.h>

/* The seed key as an unencrypted PKCS#8 PEM (what hcl_ed25519_sign_pem takes); static. */
static inline const char *
fz_seed_key_pem(size_t *len)
{
	static char *pem = NULL;
	static size_t pemlen = 0;

	if (pem == NULL)
	{
		EVP_PKEY   *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
													 (const unsigned char *) HCL_FUZZ_SEED_KEY, 32);
		BIO		   *b = BIO_new(BIO_s_mem());
		char	   *p;
		long		n;

		if (k == NULL || b == NULL || PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1)
			abort();
		n = BIO_get_mem_data(b, &p);
		pem = malloc((size_t) n + 1);
		memcpy(pem, p, (size_t) n);
		pem[n] = '\0';
		pemlen = (size_t) n;
		BIO_free(b);
		EVP_PKEY_free(k);
	}
	*len = pemlen;
	return pem;
}

#endif							/* HCL_FUZZ_COMMON_H */
