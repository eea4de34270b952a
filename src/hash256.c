/*
 * hash256.c
 *		The hash256 type (I/O, comparison, hashing, casts) and sha256().
 *
 * Text form: 64 hexadecimal digits, written lower case; on input upper case
 * is accepted, as is a leading "\x" (the bytea hex form), nothing else.
 */
#include "postgres.h"

#include <ctype.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"

#include "hash256.h"

void
hcl_crypto_failed(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("hcledger: %s failed in the crypto library", what)));
}

Hash256 *
hcl_make_hash256(const uint8 *bytes)
{
	Hash256    *h = (Hash256 *) palloc(sizeof(Hash256));

	memcpy(h->data, bytes, HCL_HASH_LEN);
	return h;
}

/* Is str exactly 64 hex digits, after an optional "\x"? */
static inline const char *
hcl_hash256_hex_body(const char *str)
{
	const char *p = str;
	int			i;

	if (p[0] == '\\' && p[1] == 'x')
		p += 2;
	for (i = 0; i < 2 * HCL_HASH_LEN; i++)
	{
		if (!isxdigit((unsigned char) p[i]))
			return NULL;
	}
	return p[i] == '\0' ? p : NULL;
}

/* SQL function: hash256_in(cstring) returns hash256 */
PG_FUNCTION_INFO_V1(hash256_in);
Datum
hash256_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	const char *hex = hcl_hash256_hex_body(str);
	Hash256    *result;

	if (hex == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s: \"%s\"",
						"hash256", str),
				 errdetail("A hash256 is exactly 64 hexadecimal digits, optionally after \"\\x\".")));
	result = (Hash256 *) palloc(sizeof(Hash256));
	hex_decode(hex, 2 * HCL_HASH_LEN, (char *) result->data);
	PG_RETURN_HASH256_P(result);
}

/* SQL function: hash256_out(hash256) returns cstring */
PG_FUNCTION_INFO_V1(hash256_out);
Datum
hash256_out(PG_FUNCTION_ARGS)
{
	Hash256    *h = PG_GETARG_HASH256_P(0);
	char	   *str = palloc(2 * HCL_HASH_LEN + 1);

	hex_encode((const char *) h->data, HCL_HASH_LEN, str);
	str[2 * HCL_HASH_LEN] = '\0';
	PG_RETURN_CSTRING(str);
}

/* SQL function: hash256_recv(internal) returns hash256 */
PG_FUNCTION_INFO_V1(hash256_recv);
Datum
hash256_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	Hash256    *result;

	if (buf->len - buf->cursor != HCL_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary hash256 of %d bytes",
						buf->len - buf->cursor),
				 errdetail("A hash256 is exactly %d bytes.", HCL_HASH_LEN)));
	result = (Hash256 *) palloc(sizeof(Hash256));
	pq_copymsgbytes(buf, (char *) result->data, HCL_HASH_LEN);
	PG_RETURN_HASH256_P(result);
}

/* SQL function: hash256_send(hash256) returns bytea */
PG_FUNCTION_INFO_V1(hash256_send);
Datum
hash256_send(PG_FUNCTION_ARGS)
{
	Hash256    *h = PG_GETARG_HASH256_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, (const char *) h->data, HCL_HASH_LEN);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

static inline int
hcl_hash256_cmp_args(FunctionCallInfo fcinfo)
{
	return memcmp(PG_GETARG_HASH256_P(0)->data, PG_GETARG_HASH256_P(1)->data,
				  HCL_HASH_LEN);
}

/* SQL function: hash256_cmp(hash256, hash256) returns integer */
PG_FUNCTION_INFO_V1(hash256_cmp);
Datum
hash256_cmp(PG_FUNCTION_ARGS)
{
	int			c = hcl_hash256_cmp_args(fcinfo);

	PG_RETURN_INT32(c < 0 ? -1 : (c > 0 ? 1 : 0));
}

/* SQL function: hash256_eq(hash256, hash256) returns boolean */
PG_FUNCTION_INFO_V1(hash256_eq);
Datum
hash256_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(hcl_hash256_cmp_args(fcinfo) == 0);
}

/* SQL function: hash256_ne(hash256, hash256) returns boolean */
PG_FUNCTION_INFO_V1(hash256_ne);
Datum
hash256_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(hcl_hash256_cmp_args(fcinfo) != 0);
}

/* SQL function: hash256_lt(hash256, hash256) returns boolean */
PG_FUNCTION_INFO_V1(hash256_lt);
Datum
hash256_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(hcl_hash256_cmp_args(fcinfo) < 0);
}

/* SQL function: hash256_le(hash256, hash256) returns boolean */
PG_FUNCTION_INFO_V1(hash256_le);
Datum
hash256_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(hcl_hash256_cmp_args(fcinfo) <= 0);
}

/* SQL function: hash256_gt(hash256, hash256) returns boolean */
PG_FUNCTION_INFO_V1(hash256_gt);
Datum
hash256_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(hcl_hash256_cmp_args(fcinfo) > 0);
}

/* SQL function: hash256_ge(hash256, hash256) returns boolean */
PG_FUNCTION_INFO_V1(hash256_ge);
Datum
hash256_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(hcl_hash256_cmp_args(fcinfo) >= 0);
}

/* SQL function: hash256_hash(hash256) returns integer */
PG_FUNCTION_INFO_V1(hash256_hash);
Datum
hash256_hash(PG_FUNCTION_ARGS)
{
	Hash256    *h = PG_GETARG_HASH256_P(0);

	return hash_any(h->data, HCL_HASH_LEN);
}

/* SQL function: hash256_hash_extended(hash256, bigint) returns bigint */
PG_FUNCTION_INFO_V1(hash256_hash_extended);
Datum
hash256_hash_extended(PG_FUNCTION_ARGS)
{
	Hash256    *h = PG_GETARG_HASH256_P(0);

	return hash_any_extended(h->data, HCL_HASH_LEN, PG_GETARG_INT64(1));
}

/* SQL function: hash256(bytea) returns hash256 (the cast) */
PG_FUNCTION_INFO_V1(hash256_from_bytea);
Datum
hash256_from_bytea(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);

	if (VARSIZE_ANY_EXHDR(b) != HCL_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_LENGTH_MISMATCH),
				 errmsg("cannot cast a bytea of %d bytes to hash256",
						(int) VARSIZE_ANY_EXHDR(b)),
				 errdetail("A hash256 is exactly %d bytes.", HCL_HASH_LEN)));
	PG_RETURN_HASH256_P(hcl_make_hash256((const uint8 *) VARDATA_ANY(b)));
}

/* SQL function: bytea(hash256) returns bytea (the cast) */
PG_FUNCTION_INFO_V1(hash256_to_bytea);
Datum
hash256_to_bytea(PG_FUNCTION_ARGS)
{
	Hash256    *h = PG_GETARG_HASH256_P(0);
	bytea	   *b = (bytea *) palloc(VARHDRSZ + HCL_HASH_LEN);

	SET_VARSIZE(b, VARHDRSZ + HCL_HASH_LEN);
	memcpy(VARDATA(b), h->data, HCL_HASH_LEN);
	PG_RETURN_BYTEA_P(b);
}

/* SQL function: sha256(bytea) returns hash256 */
PG_FUNCTION_INFO_V1(hcl_sha256_bytea);
Datum
hcl_sha256_bytea(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	Hash256    *result = (Hash256 *) palloc(sizeof(Hash256));

	if (!hcl_sha256(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), result->data))
		hcl_crypto_failed("SHA-256");
	PG_RETURN_HASH256_P(result);
}

/* SQL function: sm3(bytea) returns hash256 (GB/T 32905) */
PG_FUNCTION_INFO_V1(hcl_sm3_bytea);
Datum
hcl_sm3_bytea(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	Hash256    *result = (Hash256 *) palloc(sizeof(Hash256));

	if (!hcl_sm3(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), result->data))
		hcl_crypto_failed("SM3");
	PG_RETURN_HASH256_P(result);
}
