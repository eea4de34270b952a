/*
 * crypto.h
 *		hcledger's crypto core: the only interface to OpenSSL.
 *
 * Plain C with no PostgreSQL dependency, so that the extension and the
 * offline verifier share it.  No function here raises a PostgreSQL error or
 * allocates with palloc: every OpenSSL object is freed before returning, on
 * every path, and the caller turns result codes into errors.  That keeps
 * OpenSSL objects from leaking when an error unwinds the stack.
 */
#ifndef HCL_CRYPTO_H
#define HCL_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HCL_HASH_LEN 32

/* Outcome of a signature check. */
typedef enum hcl_verify_result
{
	HCL_SIG_VALID = 0,			/* the signature verifies */
	HCL_SIG_INVALID,			/* it does not (or cannot be parsed) */
	HCL_KEY_UNPARSEABLE,		/* the public key is not a key in any form */
	HCL_KEY_WRONG_ALGORITHM,	/* a key, but not for this algorithm */
	HCL_CRYPTO_FAILURE			/* OpenSSL failed internally (out of memory) */
} hcl_verify_result;

/* The kinds of public keys. */
typedef enum hcl_key_kind
{
	HCL_KEY_KIND_ED25519,		/* Ed25519 (RFC 8032) */
	HCL_KEY_KIND_P256,			/* ECDSA over P-256 (prime256v1) */
	HCL_KEY_KIND_SM2			/* SM2 over its curve (GB/T 32918.5) */
} hcl_key_kind;

/*
 * The longest SM2 signer identity: Z_A carries its length in bits in two
 * bytes (GB/T 32918.2, 5.5), so at most 65535 bits, 8191 whole bytes;
 * OpenSSL 3 takes at most 8190.
 */
#define HCL_SM2_ID_MAX 8190

/* The signer identity GM/T 0009 sets when none is agreed. */
#define HCL_SM2_DEFAULT_ID "1234567812345678"

/* Which form an ECDSA or SM2 signature is in. */
typedef enum hcl_sig_format
{
	HCL_SIG_RAW,				/* r || s, 32 bytes each (JOSE/COSE ES256) */
	HCL_SIG_DER					/* DER SEQUENCE { INTEGER r, INTEGER s } */
} hcl_sig_format;

/* SM3 (GB/T 32905) of one buffer.  Returns false only if OpenSSL fails. */
extern bool hcl_sm3(const void *data, size_t len, uint8_t out[HCL_HASH_LEN]);

/* SHA-256 of one buffer.  Returns false only if OpenSSL fails. */
extern bool hcl_sha256(const void *data, size_t len, uint8_t out[HCL_HASH_LEN]);

/*
 * SHA-256 of a one-byte prefix and pieces given one after another: begin,
 * update as often as needed, end.  One such message at a time.  Each
 * returns false only if OpenSSL fails.
 */
extern bool hcl_sha256_stream_begin(uint8_t prefix);
extern bool hcl_sha256_stream_update(const void *data, size_t len);
extern bool hcl_sha256_stream_end(uint8_t out[HCL_HASH_LEN]);

/* SHA-256 of a one-byte prefix followed by up to two buffers. */
extern bool hcl_sha256_prefixed(uint8_t prefix,
								const void *a, size_t alen,
								const void *b, size_t blen,
								uint8_t out[HCL_HASH_LEN]);

/* Ed25519 (RFC 8032, pure) over msg. */
extern hcl_verify_result hcl_ed25519_verify(const uint8_t *key, size_t keylen,
											const uint8_t *msg, size_t msglen,
											const uint8_t *sig, size_t siglen);

/* ECDSA over P-256 with SHA-256 over msg. */
extern hcl_verify_result hcl_p256_verify(const uint8_t *key, size_t keylen,
										 const uint8_t *msg, size_t msglen,
										 const uint8_t *sig, size_t siglen,
										 hcl_sig_format format);

/*
 * SM2 signature (GB/T 32918.2) of msg: SM3 over Z_A || msg, Z_A computed
 * from the signer's identity id (idlen bytes, at most HCL_SM2_ID_MAX; a
 * longer one never verifies) and the key.
 */
extern hcl_verify_result hcl_sm2_verify(const uint8_t *key, size_t keylen,
										const uint8_t *id, size_t idlen,
										const uint8_t *msg, size_t msglen,
										const uint8_t *sig, size_t siglen,
										hcl_sig_format format);

/*
 * The raw form of a public key given in any form the verify functions take:
 * the 32-byte Ed25519 key, or the 65-byte uncompressed P-256 or SM2 point
 * (as kind says).  out needs room for 65 bytes.  Returns HCL_SIG_VALID on success, otherwise
 * the key error.
 */
extern hcl_verify_result hcl_public_key_raw_of(const uint8_t *key, size_t keylen,
											   hcl_key_kind kind,
											   uint8_t *out, size_t *outlen);

/* Outcome of using a private key. */
typedef enum hcl_sign_result
{
	HCL_SIGN_OK = 0,
	HCL_SIGN_UNPARSEABLE,		/* not an unencrypted PEM private key */
	HCL_SIGN_WRONG_ALGORITHM,	/* a private key, but of another algorithm */
	HCL_SIGN_FAILURE			/* OpenSSL failed internally */
} hcl_sign_result;

/*
 * Parse an Ed25519 private key (PEM, PKCS#8, unencrypted), write its public
 * key to pub and, if msg is not NULL, its RFC 8032 signature of msg to sig.
 * The parsed key is freed (OpenSSL clears private key memory on free)
 * before returning; the caller wipes the PEM text.
 */
extern hcl_sign_result hcl_ed25519_sign_pem(const char *pem, size_t pemlen,
											const uint8_t *msg, size_t msglen,
											uint8_t sig[64], uint8_t pub[32]);

/* An ECDSA P-256 or SM2 private key, parsed once and kept (opaque). */
typedef struct hcl_ec_signer hcl_p256_signer;
typedef struct hcl_ec_signer hcl_sm2_signer;

/*
 * Parse a P-256 private key (PEM, unencrypted; PKCS#8 or SEC1) into *signer
 * and its uncompressed public point into pub.  The caller wipes the PEM
 * text and frees the signer with hcl_p256_signer_free (which clears it).
 */
extern hcl_sign_result hcl_p256_signer_from_pem(const char *pem, size_t pemlen,
												hcl_p256_signer **signer,
												uint8_t pub[65]);

/* ES256 signature of msg (SHA-256, raw r || s).  False if OpenSSL fails. */
extern bool hcl_p256_sign(hcl_p256_signer *signer, const uint8_t *msg,
						  size_t msglen, uint8_t sig[64]);

extern void hcl_p256_signer_free(hcl_p256_signer *signer);

/* The same for an SM2 private key (its point on SM2's curve in pub). */
extern hcl_sign_result hcl_sm2_signer_from_pem(const char *pem, size_t pemlen,
											   hcl_sm2_signer **signer,
											   uint8_t pub[65]);

/*
 * SM2 signature of msg for the signer identity id (SM3 over Z_A || msg,
 * raw r || s).  False if OpenSSL fails or id is longer than HCL_SM2_ID_MAX.
 */
extern bool hcl_sm2_sign(hcl_sm2_signer *signer, const uint8_t *id, size_t idlen,
						 const uint8_t *msg, size_t msglen, uint8_t sig[64]);

extern void hcl_sm2_signer_free(hcl_sm2_signer *signer);

/* HMAC-SHA-256 (RFC 2104).  False only if OpenSSL fails. */
extern bool hcl_hmac_sha256(const uint8_t *key, size_t keylen,
							const void *msg, size_t msglen,
							uint8_t out[HCL_HASH_LEN]);

#endif							/* HCL_CRYPTO_H */
