/*
 * fuzz_signature.c
 *		Signature checks, src/crypto.c: hcl_ed25519_verify, hcl_p256_verify
 *		and hcl_sm2_verify (raw r || s and DER signatures) with
 *		attacker-chosen keys, messages and signatures.
 *
 * Input: a mode byte (bit 0: P-256, bit 1: DER, bit 2: SM2 with the
 * default identity, over bit 0), two bytes of key length,
 * the key, one byte of signature length, the signature, and the message
 * (the rest).  Checks: never HCL_CRYPTO_FAILURE; the key error is the one
 * hcl_public_key_raw reports for the same key; a signature that verifies
 * still verifies with the key in raw form, and a P-256 or SM2 one in the other
 * signature format too (DER <-> r || s); an Ed25519 signature is 64 bytes.
 */
#include "postgres_fe.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include "crypto.h"
#include "fuzz_common.h"

/* The other form of a P-256 or SM2 signature: DER -> r || s, r || s -> DER. */
static bool
other_format(const uint8_t *sig, size_t siglen, bool der, uint8_t *out, size_t *outlen)
{
	ECDSA_SIG  *es;
	bool		ok = false;

	if (der)
	{
		const unsigned char *p = sig;
		const BIGNUM *r,
				   *s;

		es = d2i_ECDSA_SIG(NULL, &p, (long) siglen);
		if (es == NULL)
			return false;
		ECDSA_SIG_get0(es, &r, &s);
		ok = BN_bn2binpad(r, out, 32) == 32 && BN_bn2binpad(s, out + 32, 32) == 32;
		*outlen = 64;
	}
	else
	{
		BIGNUM	   *r = BN_bin2bn(sig, 32, NULL);
		BIGNUM	   *s = BN_bin2bn(sig + 32, 32, NULL);
		unsigned char *p = out;
		int			n;

		es = ECDSA_SIG_new();
		if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1)
			abort();
		n = i2d_ECDSA_SIG(es, &p);
		ok = n > 0;
		*outlen = (size_t) n;
	}
	ECDSA_SIG_free(es);
	return ok;
}

/* Verify as the kind does. */
static hcl_verify_result
fz_verify(hcl_key_kind kind, const uint8_t *key, size_t keylen, const uint8_t *msg,
		  size_t msglen, const uint8_t *sig, size_t siglen, bool der)
{
	hcl_sig_format format = der ? HCL_SIG_DER : HCL_SIG_RAW;

	switch (kind)
	{
		case HCL_KEY_KIND_ED25519:
			return hcl_ed25519_verify(key, keylen, msg, msglen, sig, siglen);
		case HCL_KEY_KIND_P256:
			return hcl_p256_verify(key, keylen, msg, msglen, sig, siglen, format);
		case HCL_KEY_KIND_SM2:
			return hcl_sm2_verify(key, keylen, (const uint8_t *) "1234567812345678", 16,
								  msg, msglen, sig, siglen, format);
	}
	return HCL_CRYPTO_FAILURE;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_in		in = {data, size};
	uint8_t		mode = fz_u8(&in);
	hcl_key_kind kind = (mode & 4) ? HCL_KEY_KIND_SM2 :
		(mode & 1) ? HCL_KEY_KIND_P256 : HCL_KEY_KIND_ED25519;
	bool		der = (mode & 2) != 0;
	size_t		keylen,
				siglen,
				msglen,
				rawlen = 0;
	const uint8_t *kp = fz_bytes(&in, fz_u16(&in) % 2048, &keylen);
	const uint8_t *sp = fz_bytes(&in, fz_u8(&in), &siglen);
	uint8_t    *key = fz_dup(kp, keylen);
	uint8_t    *sig = fz_dup(sp, siglen);
	uint8_t    *msg = fz_dup(in.p, in.n);
	uint8_t		raw[65];
	hcl_verify_result rc,
				keyrc;

	msglen = in.n;
	rc = fz_verify(kind, key, keylen, msg, msglen, sig, siglen, der);
	FZ_CHECK(rc != HCL_CRYPTO_FAILURE);

	keyrc = hcl_public_key_raw_of(key, keylen, kind, raw, &rawlen);
	if (rc == HCL_KEY_UNPARSEABLE || rc == HCL_KEY_WRONG_ALGORITHM)
		FZ_CHECK(keyrc == rc);
	else
		FZ_CHECK(keyrc == HCL_SIG_VALID);

	if (rc == HCL_SIG_VALID)
	{
		if (kind != HCL_KEY_KIND_ED25519)
		{
			uint8_t		other[80];
			size_t		otherlen = 0;

			FZ_CHECK(fz_verify(kind, raw, rawlen, msg, msglen, sig, siglen, der) == HCL_SIG_VALID);
			FZ_CHECK(other_format(sig, siglen, der, other, &otherlen));
			FZ_CHECK(fz_verify(kind, key, keylen, msg, msglen, other, otherlen, !der) == HCL_SIG_VALID);
		}
		else
		{
			FZ_CHECK(siglen == 64);
			FZ_CHECK(hcl_ed25519_verify(raw, rawlen, msg, msglen, sig, siglen) == HCL_SIG_VALID);
		}
	}
	free(msg);
	free(sig);
	free(key);
	return 0;
}
