/*
 * fuzz_public_key.c
 *		Public keys, src/crypto.c: hcl_public_key_raw, the parser behind
 *		every key the extension and hcledger-verify take (PEM,
 *		SubjectPublicKeyInfo DER, raw 32-byte Ed25519, raw 65- or 33-byte
 *		P-256 points), through the parsed-key cache.
 *
 * Input: one byte (bit 0: want Ed25519, else P-256), then the key.
 * Checks the contract of crypto.h: a key that parses gives 32 bytes
 * (Ed25519) or a 65-byte uncompressed point, which parses again to itself;
 * it is never also a key of the other algorithm; a verification with it
 * reports a bad signature, not a bad key; and no key makes the function
 * report an internal OpenSSL failure (HCL_CRYPTO_FAILURE), which the SQL
 * functions turn into an internal error instead of 22023.
 */
#include "postgres_fe.h"

#include "crypto.h"
#include "fuzz_common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_in		in = {data, size};
	bool		ed25519 = fz_u8(&in) & 1;
	uint8_t    *key = fz_dup(in.p, in.n);
	size_t		keylen = in.n;
	uint8_t    *raw = malloc(65);
	uint8_t    *again = malloc(65);
	size_t		rawlen = 0,
				againlen = 0,
				otherlen = 0;
	uint8_t		other[65];
	uint8_t		sig[64] = {0};
	hcl_verify_result rc,
				rc2;

	rc = hcl_public_key_raw(key, keylen, ed25519, raw, &rawlen);
	FZ_CHECK(rc == HCL_SIG_VALID || rc == HCL_KEY_UNPARSEABLE ||
			 rc == HCL_KEY_WRONG_ALGORITHM);
	if (rc == HCL_SIG_VALID)
	{
		FZ_CHECK(rawlen == (ed25519 ? 32 : 65));
		if (!ed25519)
			FZ_CHECK(raw[0] == 0x04);
		rc2 = hcl_public_key_raw(raw, rawlen, ed25519, again, &againlen);
		FZ_CHECK(rc2 == HCL_SIG_VALID);
		FZ_CHECK(againlen == rawlen && memcmp(raw, again, rawlen) == 0);
		FZ_CHECK(hcl_public_key_raw(key, keylen, !ed25519, other, &otherlen) != HCL_SIG_VALID);
		/* the key parses for verification too: a bad signature is just false */
		if (ed25519)
			rc2 = hcl_ed25519_verify(key, keylen, (const uint8_t *) "m", 1, sig, 64);
		else
			rc2 = hcl_p256_verify(key, keylen, (const uint8_t *) "m", 1, sig, 64, HCL_SIG_RAW);
		FZ_CHECK(rc2 == HCL_SIG_INVALID);
	}
	else
	{
		/* verification reports the same key error */
		if (ed25519)
			rc2 = hcl_ed25519_verify(key, keylen, (const uint8_t *) "m", 1, sig, 64);
		else
			rc2 = hcl_p256_verify(key, keylen, (const uint8_t *) "m", 1, sig, 64, HCL_SIG_RAW);
		FZ_CHECK(rc2 == rc);
	}
	free(again);
	free(raw);
	free(key);
	return 0;
}
