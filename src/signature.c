/*
 * signature.c
 *		SQL entry points for signature checks: Ed25519, ECDSA P-256 and SM2.
 *
 * The rule, the same for every function here: a public key that cannot be
 * parsed, or that is a key for another algorithm, is an error (keys are
 * configuration, and a bad one is a mistake to report); a signature that
 * does not verify, including one that cannot even be parsed, is false
 * (signatures come from outside and are simply not valid).
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "hash256.h"

/* Turn a crypto-core verdict into a boolean or an error. */
static bool
hcl_verdict(hcl_verify_result r, const char *algorithm)
{
	switch (r)
	{
		case HCL_SIG_VALID:
			return true;
		case HCL_SIG_INVALID:
			return false;
		case HCL_KEY_UNPARSEABLE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid %s public key", algorithm),
					 errdetail("The key is neither PEM, SubjectPublicKeyInfo DER nor a raw %s key.",
							   algorithm)));
			break;
		case HCL_KEY_WRONG_ALGORITHM:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("public key is not an %s key", algorithm),
					 errhint("Ed25519 keys are checked with hcledger.ed25519_verify, P-256 keys with hcledger.ecdsa_p256_verify, SM2 keys with hcledger.sm2_verify.")));
			break;
		case HCL_CRYPTO_FAILURE:
			hcl_crypto_failed("signature verification");
	}
	return false;				/* keep the compiler quiet */
}

/* SQL function: ed25519_verify(public_key bytea, message bytea, signature bytea) returns boolean */
PG_FUNCTION_INFO_V1(hcl_ed25519_verify_sql);
Datum
hcl_ed25519_verify_sql(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	bytea	   *msg = PG_GETARG_BYTEA_PP(1);
	bytea	   *sig = PG_GETARG_BYTEA_PP(2);

	PG_RETURN_BOOL(hcl_verdict(hcl_ed25519_verify((const uint8 *) VARDATA_ANY(key),
												  VARSIZE_ANY_EXHDR(key),
												  (const uint8 *) VARDATA_ANY(msg),
												  VARSIZE_ANY_EXHDR(msg),
												  (const uint8 *) VARDATA_ANY(sig),
												  VARSIZE_ANY_EXHDR(sig)),
							   "Ed25519"));
}

/* The signature_format argument: 'raw' (r || s, ES256) or 'der'. */
static hcl_sig_format
hcl_parse_sig_format(text *t)
{
	char	   *s = text_to_cstring(t);

	if (pg_strcasecmp(s, "raw") == 0)
		return HCL_SIG_RAW;
	if (pg_strcasecmp(s, "der") == 0)
		return HCL_SIG_DER;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown signature format \"%s\"", s),
			 errhint("Use 'raw' (r || s, as in JOSE ES256) or 'der'.")));
	return HCL_SIG_RAW;			/* keep the compiler quiet */
}

/*
 * SQL function: ecdsa_p256_verify(public_key bytea, message bytea,
 *   signature bytea, signature_format text DEFAULT 'raw') returns boolean
 */
PG_FUNCTION_INFO_V1(hcl_p256_verify_sql);
Datum
hcl_p256_verify_sql(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	bytea	   *msg = PG_GETARG_BYTEA_PP(1);
	bytea	   *sig = PG_GETARG_BYTEA_PP(2);
	hcl_sig_format format = hcl_parse_sig_format(PG_GETARG_TEXT_PP(3));

	PG_RETURN_BOOL(hcl_verdict(hcl_p256_verify((const uint8 *) VARDATA_ANY(key),
											   VARSIZE_ANY_EXHDR(key),
											   (const uint8 *) VARDATA_ANY(msg),
											   VARSIZE_ANY_EXHDR(msg),
											   (const uint8 *) VARDATA_ANY(sig),
											   VARSIZE_ANY_EXHDR(sig),
											   format),
							   "ECDSA P-256"));
}

/*
 * SQL function: sm2_verify(public_key bytea, message bytea, signature bytea,
 *   signature_format text DEFAULT 'raw',
 *   signer_id bytea DEFAULT '1234567812345678') returns boolean
 */
PG_FUNCTION_INFO_V1(hcl_sm2_verify_sql);
Datum
hcl_sm2_verify_sql(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	bytea	   *msg = PG_GETARG_BYTEA_PP(1);
	bytea	   *sig = PG_GETARG_BYTEA_PP(2);
	hcl_sig_format format = hcl_parse_sig_format(PG_GETARG_TEXT_PP(3));
	bytea	   *id = PG_GETARG_BYTEA_PP(4);

	hcl_check_sm2_id(VARSIZE_ANY_EXHDR(id));
	PG_RETURN_BOOL(hcl_verdict(hcl_sm2_verify((const uint8 *) VARDATA_ANY(key),
											  VARSIZE_ANY_EXHDR(key),
											  (const uint8 *) VARDATA_ANY(id),
											  VARSIZE_ANY_EXHDR(id),
											  (const uint8 *) VARDATA_ANY(msg),
											  VARSIZE_ANY_EXHDR(msg),
											  (const uint8 *) VARDATA_ANY(sig),
											  VARSIZE_ANY_EXHDR(sig),
											  format),
							   "SM2"));
}

void
hcl_check_sm2_id(size_t idlen)
{
	if (idlen > HCL_SM2_ID_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("SM2 signer identity is %zu bytes long, more than %d", idlen, HCL_SM2_ID_MAX),
				 errdetail("OpenSSL takes identities of at most %d bytes (Z_A carries the length in bits in two bytes, GB/T 32918.2).", HCL_SM2_ID_MAX)));
}
