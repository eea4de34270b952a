/*
 * crypto.c
 *		The one file that calls OpenSSL: SHA-256, SM3, Ed25519, ECDSA P-256
 *		and SM2.
 *
 * See crypto.h for the contract.  Every function frees what it allocated
 * before it returns and clears OpenSSL's error queue on failure, so a
 * failing check leaves nothing behind.
 */
#include "crypto.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static EVP_PKEY *hcl_decode_public_key(const uint8_t *key, size_t keylen,
									   hcl_key_kind kind,
									   hcl_verify_result *result);

/* A digest context kept for the life of the process: hashing is hot. */
static EVP_MD *hcl_sha256_md = NULL;
static EVP_MD_CTX *hcl_sha256_ctx = NULL;

static bool
hcl_sha256_ready(void)
{
	if (hcl_sha256_ctx != NULL)
		return true;
	if (hcl_sha256_md == NULL)
		hcl_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (hcl_sha256_md == NULL)
		return false;
	hcl_sha256_ctx = EVP_MD_CTX_new();
	return hcl_sha256_ctx != NULL;
}

/* SHA-256 of up to three buffers in a row (NULL or zero length to skip). */
static bool
hcl_sha256_parts(const void *p, size_t plen, const void *a, size_t alen,
				 const void *b, size_t blen, uint8_t out[HCL_HASH_LEN])
{
	EVP_MD_CTX *ctx;
	unsigned int outlen = 0;

	if (!hcl_sha256_ready())
		goto fail;
	ctx = hcl_sha256_ctx;
	if (EVP_DigestInit_ex2(ctx, hcl_sha256_md, NULL) != 1 ||
		(plen > 0 && EVP_DigestUpdate(ctx, p, plen) != 1) ||
		(alen > 0 && EVP_DigestUpdate(ctx, a, alen) != 1) ||
		(blen > 0 && EVP_DigestUpdate(ctx, b, blen) != 1) ||
		EVP_DigestFinal_ex(ctx, out, &outlen) != 1 ||
		outlen != HCL_HASH_LEN)
		goto fail;
	return true;

fail:
	ERR_clear_error();
	return false;
}

bool
hcl_sha256_prefixed(uint8_t prefix, const void *a, size_t alen,
					const void *b, size_t blen, uint8_t out[HCL_HASH_LEN])
{
	return hcl_sha256_parts(&prefix, 1, a, alen, b, blen, out);
}

bool
hcl_sha256(const void *data, size_t len, uint8_t out[HCL_HASH_LEN])
{
	return hcl_sha256_parts(data, len, NULL, 0, NULL, 0, out);
}

/* The one message hashed piece by piece at a time (a leaf of any size). */
static EVP_MD_CTX *hcl_stream_ctx = NULL;

bool
hcl_sha256_stream_begin(uint8_t prefix)
{
	if (!hcl_sha256_ready())
		goto fail;
	if (hcl_stream_ctx == NULL && (hcl_stream_ctx = EVP_MD_CTX_new()) == NULL)
		goto fail;
	if (EVP_DigestInit_ex2(hcl_stream_ctx, hcl_sha256_md, NULL) != 1 ||
		EVP_DigestUpdate(hcl_stream_ctx, &prefix, 1) != 1)
		goto fail;
	return true;

fail:
	ERR_clear_error();
	return false;
}

bool
hcl_sha256_stream_update(const void *data, size_t len)
{
	if (len > 0 && EVP_DigestUpdate(hcl_stream_ctx, data, len) != 1)
	{
		ERR_clear_error();
		return false;
	}
	return true;
}

bool
hcl_sha256_stream_end(uint8_t out[HCL_HASH_LEN])
{
	unsigned int outlen = 0;

	if (EVP_DigestFinal_ex(hcl_stream_ctx, out, &outlen) != 1 || outlen != HCL_HASH_LEN)
	{
		ERR_clear_error();
		return false;
	}
	return true;
}

bool
hcl_sm3(const void *data, size_t len, uint8_t out[HCL_HASH_LEN])
{
	EVP_MD	   *md = EVP_MD_fetch(NULL, "SM3", NULL);
	unsigned int outlen = 0;
	bool		ok;

	ok = md != NULL && EVP_Digest(data, len, out, &outlen, md, NULL) == 1 &&
		outlen == HCL_HASH_LEN;
	EVP_MD_free(md);
	if (!ok)
		ERR_clear_error();
	return ok;
}

/* Is this buffer PEM text (it starts with the PEM boundary)? */
static bool
hcl_is_pem(const uint8_t *key, size_t keylen)
{
	static const char marker[] = "-----BEGIN";

	return keylen >= sizeof(marker) - 1 &&
		memcmp(key, marker, sizeof(marker) - 1) == 0;
}

/* The curve of a kind of EC key, and OpenSSL's key type for it. */
static const char *
hcl_ec_group(hcl_key_kind kind)
{
	return kind == HCL_KEY_KIND_SM2 ? "SM2" : "prime256v1";
}

/*
 * A raw uncompressed (65 bytes) or compressed (33 bytes) point on the curve
 * of kind (P-256, or SM2's curve of GB/T 32918.5).
 */
static EVP_PKEY *
hcl_ec_from_point(const uint8_t *key, size_t keylen, hcl_key_kind kind)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY   *pkey = NULL;
	OSSL_PARAM	params[3];

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
												 (char *) hcl_ec_group(kind), 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
												  (void *) key, keylen);
	params[2] = OSSL_PARAM_construct_end();

	ctx = EVP_PKEY_CTX_new_from_name(NULL, kind == HCL_KEY_KIND_SM2 ? "SM2" : "EC", NULL);
	if (ctx == NULL)
		return NULL;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
		EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/*
 * SubjectPublicKeyInfo, DER: the whole buffer must be one structure, and
 * in the one encoding of its key (OpenSSL's decoder lets some bytes vary,
 * the BIT STRING's count of unused bits for one; a key registry that
 * compares keys by their bytes must not see one key under two encodings).
 */
static EVP_PKEY *
hcl_key_from_der(const uint8_t *key, size_t keylen)
{
	const unsigned char *p = key;
	unsigned char *again = NULL;
	EVP_PKEY   *pkey;
	int			len;

	if (keylen > (size_t) 0x7fffffff)
		return NULL;
	pkey = d2i_PUBKEY(NULL, &p, (long) keylen);
	if (pkey == NULL)
		return NULL;
	if (p != key + keylen ||
		(len = i2d_PUBKEY(pkey, &again)) < 0 || (size_t) len != keylen ||
		memcmp(again, key, keylen) != 0)
	{
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	OPENSSL_free(again);
	return pkey;
}

/* PEM "PUBLIC KEY" block (SubjectPublicKeyInfo). */
static EVP_PKEY *
hcl_key_from_pem(const uint8_t *key, size_t keylen)
{
	BIO		   *bio;
	EVP_PKEY   *pkey;

	if (keylen > (size_t) 0x7fffffff)
		return NULL;
	bio = BIO_new_mem_buf(key, (int) keylen);
	if (bio == NULL)
		return NULL;
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return pkey;
}

/*
 * Parsed public keys, kept for the life of the process: OpenSSL 3's DER and
 * PEM decoders cost about as much as a verification, and a verifier sees
 * the same few authority keys again and again.  A handful of entries,
 * replaced round-robin; only keys that parsed and were of the right kind
 * are kept, each holding its own reference to the EVP_PKEY.
 */
#define HCL_KEY_CACHE_SIZE 16
#define HCL_KEY_CACHE_MAX_LEN 1024

typedef struct hcl_cached_key
{
	hcl_key_kind kind;
	size_t		len;
	uint8_t		bytes[HCL_KEY_CACHE_MAX_LEN];
	EVP_PKEY   *pkey;
} hcl_cached_key;

static hcl_cached_key hcl_key_cache[HCL_KEY_CACHE_SIZE];
static int	hcl_key_cache_next = 0;

static EVP_PKEY *
hcl_key_cache_get(const uint8_t *key, size_t keylen, hcl_key_kind kind)
{
	int			i;

	for (i = 0; i < HCL_KEY_CACHE_SIZE; i++)
	{
		hcl_cached_key *e = &hcl_key_cache[i];

		if (e->pkey != NULL && e->kind == kind && e->len == keylen &&
			memcmp(e->bytes, key, keylen) == 0)
			return EVP_PKEY_up_ref(e->pkey) == 1 ? e->pkey : NULL;
	}
	return NULL;
}

static void
hcl_key_cache_put(const uint8_t *key, size_t keylen, hcl_key_kind kind,
				  EVP_PKEY *pkey)
{
	hcl_cached_key *e = &hcl_key_cache[hcl_key_cache_next];

	if (keylen > HCL_KEY_CACHE_MAX_LEN || EVP_PKEY_up_ref(pkey) != 1)
		return;
	EVP_PKEY_free(e->pkey);
	e->pkey = pkey;
	e->kind = kind;
	e->len = keylen;
	memcpy(e->bytes, key, keylen);
	hcl_key_cache_next = (hcl_key_cache_next + 1) % HCL_KEY_CACHE_SIZE;
}

/*
 * Parse a public key given as PEM, as raw bytes (32-byte Ed25519 key, or a
 * 65/33-byte P-256 or SM2 point) or as SubjectPublicKeyInfo DER, and check
 * that it is a key of the wanted kind.  On failure *result says why.  The
 * caller frees the result.
 */
static EVP_PKEY *
hcl_parse_public_key(const uint8_t *key, size_t keylen, hcl_key_kind kind,
					 hcl_verify_result *result)
{
	EVP_PKEY   *pkey = hcl_key_cache_get(key, keylen, kind);

	if (pkey != NULL)
		return pkey;
	pkey = hcl_decode_public_key(key, keylen, kind, result);
	if (pkey != NULL)
		hcl_key_cache_put(key, keylen, kind, pkey);
	return pkey;
}

/* Decode and check a public key, as hcl_parse_public_key says. */
static EVP_PKEY *
hcl_decode_public_key(const uint8_t *key, size_t keylen, hcl_key_kind kind,
					  hcl_verify_result *result)
{
	EVP_PKEY   *pkey;
	bool		right_kind;

	/*
	 * 32 bytes are a raw Ed25519 key even if they start like PEM (no PEM
	 * key is that short): otherwise the raw form of such a key, which
	 * hcl_public_key_raw returns, would not parse.
	 */
	if (kind == HCL_KEY_KIND_ED25519 && keylen == 32)
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, keylen);
	else if (hcl_is_pem(key, keylen))
		pkey = hcl_key_from_pem(key, keylen);
	else if (kind != HCL_KEY_KIND_ED25519 &&
			 ((keylen == 65 && key[0] == 0x04) ||
			  (keylen == 33 && (key[0] == 0x02 || key[0] == 0x03))))
		pkey = hcl_ec_from_point(key, keylen, kind);
	else
		pkey = hcl_key_from_der(key, keylen);

	if (pkey == NULL)
	{
		*result = HCL_KEY_UNPARSEABLE;
		return NULL;
	}

	if (kind == HCL_KEY_KIND_ED25519)
		right_kind = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519;
	else
	{
		char		group[64];
		size_t		glen = 0;

		/* (OpenSSL decodes a key on SM2's curve as an "SM2" key) */
		right_kind = (EVP_PKEY_is_a(pkey, "EC") || EVP_PKEY_is_a(pkey, "SM2")) &&
			EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) == 1 &&
			strcmp(group, hcl_ec_group(kind)) == 0;
	}
	if (!right_kind)
	{
		EVP_PKEY_free(pkey);
		*result = HCL_KEY_WRONG_ALGORITHM;
		return NULL;
	}
	return pkey;
}

/*
 * Run EVP_DigestVerify with the given digest (NULL for Ed25519).  For SM2,
 * id is the signer's distinguishing identifier that Z_A is computed from
 * (set after the init, before any data: OpenSSL computes Z_A first); NULL
 * for the others.
 */
static hcl_verify_result
hcl_digest_verify(EVP_PKEY *pkey, const char *digest,
				  const uint8_t *id, size_t idlen,
				  const uint8_t *msg, size_t msglen,
				  const uint8_t *sig, size_t siglen)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	hcl_verify_result result;
	int			rc;

	if (mctx == NULL)
		return HCL_CRYPTO_FAILURE;
	if (EVP_DigestVerifyInit_ex(mctx, &pctx, digest, NULL, NULL, pkey, NULL) != 1 ||
		(id != NULL && EVP_PKEY_CTX_set1_id(pctx, id, (int) idlen) != 1))
		result = HCL_CRYPTO_FAILURE;
	else
	{
		rc = EVP_DigestVerify(mctx, sig, siglen, msg, msglen);
		result = (rc == 1) ? HCL_SIG_VALID : HCL_SIG_INVALID;
	}
	EVP_MD_CTX_free(mctx);
	return result;
}

hcl_verify_result
hcl_ed25519_verify(const uint8_t *key, size_t keylen,
				   const uint8_t *msg, size_t msglen,
				   const uint8_t *sig, size_t siglen)
{
	hcl_verify_result result = HCL_SIG_INVALID;
	EVP_PKEY   *pkey = hcl_parse_public_key(key, keylen, HCL_KEY_KIND_ED25519, &result);

	if (pkey != NULL)
	{
		if (siglen == 64)
			result = hcl_digest_verify(pkey, NULL, NULL, 0, msg, msglen, sig, siglen);
		else
			result = HCL_SIG_INVALID;
		EVP_PKEY_free(pkey);
	}
	ERR_clear_error();
	return result;
}

/*
 * Re-encode a raw r || s signature as DER.  Returns the DER length, or 0 if
 * it cannot be encoded.
 */
static size_t
hcl_raw_to_der(const uint8_t *sig, uint8_t *der, size_t dersize)
{
	ECDSA_SIG  *es = ECDSA_SIG_new();
	BIGNUM	   *r = BN_bin2bn(sig, 32, NULL);
	BIGNUM	   *s = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *p = der;
	int			len = 0;

	if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1)
	{
		r = s = NULL;			/* now owned by es */
		len = i2d_ECDSA_SIG(es, NULL);
		if (len > 0 && (size_t) len <= dersize)
			len = i2d_ECDSA_SIG(es, &p);
		else
			len = 0;
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return len > 0 ? (size_t) len : 0;
}

/* ECDSA (P-256, SHA-256) or SM2 (SM3, with id): raw or DER signatures. */
static hcl_verify_result
hcl_ec_verify(hcl_key_kind kind, const uint8_t *key, size_t keylen,
			  const uint8_t *id, size_t idlen,
			  const uint8_t *msg, size_t msglen,
			  const uint8_t *sig, size_t siglen, hcl_sig_format format)
{
	hcl_verify_result result = HCL_SIG_INVALID;
	EVP_PKEY   *pkey = hcl_parse_public_key(key, keylen, kind, &result);
	const char *digest = kind == HCL_KEY_KIND_SM2 ? "SM3" : "SHA256";
	uint8_t		der[80];
	size_t		derlen;

	if (pkey == NULL)
	{
		ERR_clear_error();
		return result;
	}
	if (format == HCL_SIG_DER)
		result = hcl_digest_verify(pkey, digest, id, idlen, msg, msglen, sig, siglen);
	else if (siglen != 64)
		result = HCL_SIG_INVALID;
	else if ((derlen = hcl_raw_to_der(sig, der, sizeof(der))) == 0)
		result = HCL_CRYPTO_FAILURE;
	else
		result = hcl_digest_verify(pkey, digest, id, idlen, msg, msglen, der, derlen);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return result;
}

hcl_verify_result
hcl_p256_verify(const uint8_t *key, size_t keylen,
				const uint8_t *msg, size_t msglen,
				const uint8_t *sig, size_t siglen, hcl_sig_format format)
{
	return hcl_ec_verify(HCL_KEY_KIND_P256, key, keylen, NULL, 0,
						 msg, msglen, sig, siglen, format);
}

hcl_verify_result
hcl_sm2_verify(const uint8_t *key, size_t keylen,
			   const uint8_t *id, size_t idlen,
			   const uint8_t *msg, size_t msglen,
			   const uint8_t *sig, size_t siglen, hcl_sig_format format)
{
	if (idlen > HCL_SM2_ID_MAX)
		return HCL_SIG_INVALID;
	return hcl_ec_verify(HCL_KEY_KIND_SM2, key, keylen, id, idlen,
						 msg, msglen, sig, siglen, format);
}

hcl_verify_result
hcl_public_key_raw_of(const uint8_t *key, size_t keylen, hcl_key_kind kind,
					  uint8_t *out, size_t *outlen)
{
	hcl_verify_result result = HCL_SIG_VALID;
	EVP_PKEY   *pkey = hcl_parse_public_key(key, keylen, kind, &result);

	if (pkey == NULL)
	{
		ERR_clear_error();
		return result;
	}
	if (kind == HCL_KEY_KIND_ED25519)
	{
		*outlen = 32;
		if (EVP_PKEY_get_raw_public_key(pkey, out, outlen) != 1 || *outlen != 32)
			result = HCL_CRYPTO_FAILURE;
	}
	else
	{
		/* Uncompressed, whatever form the key came in. */
		if (EVP_PKEY_set_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
										   "uncompressed") != 1 ||
			EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
											out, 65, outlen) != 1 ||
			*outlen != 65)
			result = HCL_CRYPTO_FAILURE;
	}
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return result;
}

/* No passphrase: an encrypted key file is refused, not prompted for. */
static int
hcl_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return 0;
}

/* An unencrypted PEM private key, or NULL (OpenSSL's errors cleared). */
static EVP_PKEY *
hcl_private_key_from_pem(const char *pem, size_t pemlen)
{
	BIO		   *bio = BIO_new_mem_buf(pem, (int) pemlen);
	EVP_PKEY   *pkey;

	if (bio == NULL)
		return NULL;
	pkey = PEM_read_bio_PrivateKey(bio, NULL, hcl_no_passphrase, NULL);
	BIO_free(bio);
	if (pkey == NULL)
		ERR_clear_error();
	return pkey;
}

hcl_sign_result
hcl_ed25519_sign_pem(const char *pem, size_t pemlen,
					 const uint8_t *msg, size_t msglen,
					 uint8_t sig[64], uint8_t pub[32])
{
	EVP_PKEY   *pkey = hcl_private_key_from_pem(pem, pemlen);
	EVP_MD_CTX *mctx = NULL;
	hcl_sign_result result = HCL_SIGN_OK;
	size_t		publen = 32;
	size_t		siglen = 64;

	if (pkey == NULL)
		result = HCL_SIGN_UNPARSEABLE;
	else if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519)
		result = HCL_SIGN_WRONG_ALGORITHM;
	else if (EVP_PKEY_get_raw_public_key(pkey, pub, &publen) != 1 || publen != 32)
		result = HCL_SIGN_FAILURE;
	else if (msg != NULL)
	{
		mctx = EVP_MD_CTX_new();
		if (mctx == NULL ||
			EVP_DigestSignInit_ex(mctx, NULL, NULL, NULL, NULL, pkey, NULL) != 1 ||
			EVP_DigestSign(mctx, sig, &siglen, msg, msglen) != 1 ||
			siglen != 64)
			result = HCL_SIGN_FAILURE;
		EVP_MD_CTX_free(mctx);
	}
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return result;
}

struct hcl_ec_signer
{
	hcl_key_kind kind;
	EVP_PKEY   *pkey;
	EVP_MD_CTX *mctx;
};

void
hcl_p256_signer_free(hcl_p256_signer *signer)
{
	hcl_sm2_signer_free(signer);
}

void
hcl_sm2_signer_free(hcl_sm2_signer *signer)
{
	if (signer == NULL)
		return;
	EVP_MD_CTX_free(signer->mctx);
	EVP_PKEY_free(signer->pkey);	/* clears the private scalar */
	OPENSSL_free(signer);
}

/* A P-256 or SM2 private key (PEM) made into a signer, as the API says. */
static hcl_sign_result
hcl_ec_signer_from_pem(hcl_key_kind kind, const char *pem, size_t pemlen,
					   struct hcl_ec_signer **signer, uint8_t pub[65])
{
	EVP_PKEY   *pkey = hcl_private_key_from_pem(pem, pemlen);
	struct hcl_ec_signer *s;
	char		group[32];
	size_t		publen = 0;

	*signer = NULL;
	if (pkey == NULL)
		return HCL_SIGN_UNPARSEABLE;
	if (!(EVP_PKEY_is_a(pkey, "EC") || EVP_PKEY_is_a(pkey, "SM2")) ||
		EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
									   group, sizeof(group), NULL) != 1 ||
		strcmp(group, hcl_ec_group(kind)) != 0)
	{
		EVP_PKEY_free(pkey);
		ERR_clear_error();
		return HCL_SIGN_WRONG_ALGORITHM;
	}
	if (EVP_PKEY_set_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
									   "uncompressed") != 1 ||
		EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
										pub, 65, &publen) != 1 ||
		publen != 65 ||
		(s = OPENSSL_zalloc(sizeof(*s))) == NULL)
	{
		EVP_PKEY_free(pkey);
		ERR_clear_error();
		return HCL_SIGN_FAILURE;
	}
	s->kind = kind;
	s->pkey = pkey;
	s->mctx = EVP_MD_CTX_new();
	if (s->mctx == NULL)
	{
		hcl_sm2_signer_free(s);
		return HCL_SIGN_FAILURE;
	}
	*signer = s;
	return HCL_SIGN_OK;
}

hcl_sign_result
hcl_p256_signer_from_pem(const char *pem, size_t pemlen,
						 hcl_p256_signer **signer, uint8_t pub[65])
{
	return hcl_ec_signer_from_pem(HCL_KEY_KIND_P256, pem, pemlen, signer, pub);
}

hcl_sign_result
hcl_sm2_signer_from_pem(const char *pem, size_t pemlen,
						hcl_sm2_signer **signer, uint8_t pub[65])
{
	return hcl_ec_signer_from_pem(HCL_KEY_KIND_SM2, pem, pemlen, signer, pub);
}

/* ES256 or SM2 (with id) signature of msg, raw r || s. */
static bool
hcl_ec_sign(struct hcl_ec_signer *signer, const uint8_t *id, size_t idlen,
			const uint8_t *msg, size_t msglen, uint8_t sig[64])
{
	uint8_t		der[80];
	size_t		derlen = sizeof(der);
	const uint8_t *p = der;
	ECDSA_SIG  *es = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	const BIGNUM *r,
			   *s;
	bool		ok;

	/* a fresh context: nothing (an SM2 identity) carried over from the last */
	ok = EVP_MD_CTX_reset(signer->mctx) == 1 &&
		EVP_DigestSignInit_ex(signer->mctx, &pctx,
							   signer->kind == HCL_KEY_KIND_SM2 ? "SM3" : "SHA256",
							   NULL, NULL, signer->pkey, NULL) == 1 &&
		(id == NULL || EVP_PKEY_CTX_set1_id(pctx, id, (int) idlen) == 1) &&
		EVP_DigestSign(signer->mctx, der, &derlen, msg, msglen) == 1 &&
		(es = d2i_ECDSA_SIG(NULL, &p, (long) derlen)) != NULL;
	if (ok)
	{
		ECDSA_SIG_get0(es, &r, &s);
		ok = BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32;
	}
	ECDSA_SIG_free(es);
	if (!ok)
		ERR_clear_error();
	return ok;
}

bool
hcl_p256_sign(hcl_p256_signer *signer, const uint8_t *msg, size_t msglen,
			  uint8_t sig[64])
{
	return hcl_ec_sign(signer, NULL, 0, msg, msglen, sig);
}

bool
hcl_sm2_sign(hcl_sm2_signer *signer, const uint8_t *id, size_t idlen,
			 const uint8_t *msg, size_t msglen, uint8_t sig[64])
{
	if (idlen > HCL_SM2_ID_MAX)
		return false;
	return hcl_ec_sign(signer, id, idlen, msg, msglen, sig);
}

bool
hcl_hmac_sha256(const uint8_t *key, size_t keylen, const void *msg, size_t msglen,
				uint8_t out[HCL_HASH_LEN])
{
	unsigned int outlen = 0;

	if (HMAC(EVP_sha256(), key, (int) keylen, msg, msglen, out, &outlen) == NULL ||
		outlen != HCL_HASH_LEN)
	{
		ERR_clear_error();
		return false;
	}
	return true;
}
