/*
 * hash256.h
 *		The hash256 type: exactly 32 bytes, passed by reference.
 */
#ifndef HCL_HASH256_H
#define HCL_HASH256_H

#include "postgres.h"

#include "utils/array.h"

#include "crypto.h"

typedef struct Hash256
{
	uint8		data[HCL_HASH_LEN];
} Hash256;

#define DatumGetHash256P(X)		((Hash256 *) DatumGetPointer(X))
#define Hash256PGetDatum(X)		PointerGetDatum(X)
#define PG_GETARG_HASH256_P(n)	DatumGetHash256P(PG_GETARG_DATUM(n))
#define PG_RETURN_HASH256_P(x)	return Hash256PGetDatum(x)

/* Raise an internal error after a crypto-core failure (out of memory). */
extern void hcl_crypto_failed(const char *what) pg_attribute_noreturn();

/* An SM2 signer identity of at most HCL_SM2_ID_MAX bytes, or an error (22023). */
extern void hcl_check_sm2_id(size_t idlen);

/* A palloc'd hash256 holding a copy of the 32 bytes. */
extern Hash256 *hcl_make_hash256(const uint8 *bytes);

/* A hash256[] of n 32-byte hashes; elemtype is hash256's type OID. */
extern ArrayType *hcl_hash_array(Oid elemtype, uint8 (*hashes)[HCL_HASH_LEN], int n);

/* The hashes of a hash256[] proof; false if longer than any proof. */
extern bool hcl_proof_hashes(ArrayType *proof, uint8 (*out)[HCL_HASH_LEN], int *len);

#endif							/* HCL_HASH256_H */
