/*
 * fuzz_public_key.c
 *		Public keys, src/crypto.c: hcl_public_key_raw_of, the parser behind
 *		every key the extension and hcledger-verify take (PEM,
 *		SubjectPublicKeyInfo DER, raw 32-byte Ed25519, raw 65- or 33-byte
 *		P-256 and SM2 points), through the parsed-key cache.
 *
 * Input: one byte (modulo 3: Ed25519, P-256, SM2), then the key.
 * Checks the contract of crypto.h: a key that parses gives 32 bytes
 * (Ed25519) or a 65-byte uncompressed point, which parses again to itself;
 * in DER or PEM it is never also a key of another algorithm (a raw point
 * may be on both EC curves); a verification with it
 * reports a bad signature, not a bad key; and no key makes the function
 * report an internal OpenSSL failure (HCL_CRYPTO_FAILURE), which the SQL
 * functions turn into an internal error instead of 22023.
 */
#include "postgres_fe.h"

#include "crypto.h"
#include "fuzz_common.h"

/* A verification of a zero signature with the key, as its kind checks it. */
static hcl_verify_result
fz_verify(hcl_key_kind kind, const uint8_t *key, size_t keylen)
{
	uint8_t		sig[64] = {0};

	switch (kind)
	{
		case HCL_KEY_KIND_ED25519:
			return hcl_ed25519_verify(key, keylen, (const uint8_t *) "m", 1, sig, 64);
		case HCL_KEY_KIND_P256:
			return hcl_p256_verify(key, keylen, (const uint8_t *) "m", 1, sig, 64, HCL_SIG_RAW);
		case HCL_KEY_KIND_SM2:
			return hcl_sm2_verify(key, keylen, (const uint8_t *) "1234567812345678", 16,
								  (const uint8_t *) "m", 1, sig, 64, HCL_SIG_RAW);
	}
	return HCL_CRYPTO_FAILURE;
}

/* Is the key in the form of a raw EC point (crypto.c reads it so)? */
static bool
fz_raw_point(const uint8_t *key, size_t keylen)
{
	return (keylen == 65 && key[0] == 0x04) ||
		(keylen == 33 && (key[0] == 0x02 || key[0] == 0x03));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_in		in = {data, size};
	hcl_key_kind kind = (hcl_key_kind) (fz_u8(&in) % 3);
	uint8_t    *key = fz_dup(in.p, in.n);
	size_t		keylen = in.n;
	uint8_t    *raw = malloc(65);
	uint8_t    *again = malloc(65);
	size_t		rawlen = 0,
				againlen = 0,
				otherlen = 0;
	uint8_t		other[65];
	hcl_verify_result rc,
				rc2;
	int			k;

	rc = hcl_public_key_raw_of(key, keylen, kind, raw, &rawlen);
	FZ_CHECK(rc == HCL_SIG_VALID || rc == HCL_KEY_UNPARSEABLE ||
			 rc == HCL_KEY_WRONG_ALGORITHM);
	if (rc == HCL_SIG_VALID)
	{
		FZ_CHECK(rawlen == (kind == HCL_KEY_KIND_ED25519 ? 32 : 65));
		if (kind != HCL_KEY_KIND_ED25519)
			FZ_CHECK(raw[0] == 0x04);
		rc2 = hcl_public_key_raw_of(raw, rawlen, kind, again, &againlen);
		FZ_CHECK(rc2 == HCL_SIG_VALID);
		FZ_CHECK(againlen == rawlen && memcmp(raw, again, rawlen) == 0);
		/*
		 * DER and PEM name their algorithm and curve; a raw point does not,
		 * and the same bytes can be a point on both P-256 and SM2's curve
		 * (half of all x are, compressed): the caller's kind decides.
		 */
		for (k = 0; k < 3; k++)
			if (k != (int) kind &&
				!(kind != HCL_KEY_KIND_ED25519 && k != HCL_KEY_KIND_ED25519 && fz_raw_point(key, keylen)))
				FZ_CHECK(hcl_public_key_raw_of(key, keylen, (hcl_key_kind) k, other, &otherlen) != HCL_SIG_VALID);
		/* the key parses for verification too: a bad signature is just false */
		FZ_CHECK(fz_verify(kind, key, keylen) == HCL_SIG_INVALID);
	}
	else
	{
		/* verification reports the same key error */
		FZ_CHECK(fz_verify(kind, key, keylen) == rc);
	}
	free(again);
	free(raw);
	free(key);
	return 0;
}
