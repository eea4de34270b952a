/*
 * receipt_sql.c
 *		SQL interface to receipts, signed checkpoints and the key registry:
 *		receipt_build, consistency_receipt_build, verify_receipt,
 *		verify_checkpoint, public_key_raw.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "hash256.h"
#include "receipt.h"
#include "signing.h"

/* A public key argument of the kind in raw form, or an error 22023. */
static void
hcl_raw_key_arg(bytea *key, hcl_key_kind kind, uint8 *out, size_t *outlen)
{
	hcl_verify_result rc = hcl_public_key_raw_of((uint8 *) VARDATA_ANY(key),
												 VARSIZE_ANY_EXHDR(key), kind,
												 out, outlen);

	if (rc == HCL_CRYPTO_FAILURE)
		hcl_crypto_failed("key decoding");
	if (rc != HCL_SIG_VALID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg(rc == HCL_KEY_WRONG_ALGORITHM ?
						"public key is not an %s key" : "public key is not a valid %s key",
						kind == HCL_KEY_KIND_ED25519 ? "Ed25519" :
						kind == HCL_KEY_KIND_SM2 ? "SM2" : "ECDSA P-256")));
}

/* SQL function: public_key_raw(algorithm text, public_key bytea) returns bytea */
PG_FUNCTION_INFO_V1(hcl_public_key_raw_sql);
Datum
hcl_public_key_raw_sql(PG_FUNCTION_ARGS)
{
	char	   *alg = text_to_cstring(PG_GETARG_TEXT_PP(0));
	uint8		raw[65];
	size_t		len = 0;
	bytea	   *result;
	hcl_key_kind kind;

	if (strcmp(alg, "ed25519") == 0)
		kind = HCL_KEY_KIND_ED25519;
	else if (strcmp(alg, "es256") == 0)
		kind = HCL_KEY_KIND_P256;
	else if (strcmp(alg, "sm2") == 0)
		kind = HCL_KEY_KIND_SM2;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown signature algorithm \"%s\"", alg),
				 errhint("Use 'ed25519', 'es256' or 'sm2'.")));
	hcl_raw_key_arg(PG_GETARG_BYTEA_PP(1), kind, raw, &len);
	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), raw, len);
	PG_RETURN_BYTEA_P(result);
}

/*
 * The registry's Ed25519 keys, labelled "authority/key_id": of the authority
 * named; else, for a consortium member's log, of that member only; for any
 * other log (a ledger of this database, or one unknown here), of every
 * authority but the members.  So a member's key never vouches for another's
 * log.  Registry times are compared in whole seconds, as the checkpoint's
 * hcledger-time is: each bound is rounded down.
 */
hcl_trusted_key *
hcl_registry_keys(const char *authority, const char *origin, int *nkeys)
{
	hcl_trusted_key *keys;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	uint64		i;
	MemoryContext caller = CurrentMemoryContext;

	args[0] = authority ? CStringGetTextDatum(authority) : (Datum) 0;
	args[1] = origin ? CStringGetTextDatum(origin) : (Datum) 0;
	nulls[0] = authority ? ' ' : 'n';
	nulls[1] = origin ? ' ' : 'n';
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "hcledger: SPI_connect failed");
	if (SPI_execute_with_args("SELECT authority || '/' || key_id, public_key,"
							  " floor(extract(epoch FROM valid_from))::int8,"
							  " floor(extract(epoch FROM valid_until))::int8,"
							  " floor(extract(epoch FROM revoked_at))::int8"
							  " FROM hcledger.keys k WHERE algorithm = 'ed25519'"
							  " AND CASE WHEN $1 IS NOT NULL THEN k.authority = $1"
							  "  WHEN EXISTS (SELECT FROM hcledger.members m WHERE m.origin = $2)"
							  "   THEN k.authority = (SELECT m.authority FROM hcledger.members m WHERE m.origin = $2)"
							  "  WHEN $2 IS NOT NULL"
							  "   THEN NOT EXISTS (SELECT FROM hcledger.members m WHERE m.authority = k.authority)"
							  "  ELSE true END"
							  " ORDER BY authority, valid_from",
							  2, argtypes, args, nulls,
							  true, 0) != SPI_OK_SELECT)
		elog(ERROR, "hcledger: could not read the key registry");
	/* one spare entry: see signing.h */
	keys = MemoryContextAllocZero(caller, sizeof(hcl_trusted_key) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bytea	   *pub = DatumGetByteaPP(SPI_getbinval(tup, desc, 2, &isnull));
		Datum		d;

		keys[i].label = MemoryContextStrdup(caller, SPI_getvalue(tup, desc, 1));
		if (VARSIZE_ANY_EXHDR(pub) != 32)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("registry key %s is not a 32-byte Ed25519 key", keys[i].label)));
		memcpy(keys[i].pub, VARDATA_ANY(pub), 32);
		d = SPI_getbinval(tup, desc, 3, &isnull);
		keys[i].valid_from = isnull ? INT64_MIN : DatumGetInt64(d);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		keys[i].valid_until = isnull ? HCL_TIME_NONE : DatumGetInt64(d);
		d = SPI_getbinval(tup, desc, 5, &isnull);
		keys[i].revoked_at = isnull ? HCL_TIME_NONE : DatumGetInt64(d);
	}
	*nkeys = (int) i;
	SPI_finish();
	return keys;
}

/* The keys to trust: the one given as an argument, or the registry's (for the origin's log). */
static hcl_trusted_key *
hcl_trusted_keys(FunctionCallInfo fcinfo, int keyarg, int autharg, const char *origin, int *nkeys)
{
	hcl_trusted_key *keys;
	uint8		pub[32];
	size_t		len;

	if (PG_ARGISNULL(keyarg))
		return hcl_registry_keys(PG_ARGISNULL(autharg) ? NULL :
								 text_to_cstring(PG_GETARG_TEXT_PP(autharg)), origin, nkeys);
	hcl_raw_key_arg(PG_GETARG_BYTEA_PP(keyarg), HCL_KEY_KIND_ED25519, pub, &len);
	keys = palloc0(sizeof(hcl_trusted_key));
	hcl_trust_always(&keys[0], pub, "given as public_key");
	*nkeys = 1;
	return keys;
}

/* Split "authority/key_id" (the key's label) into two datums. */
static void
hcl_key_columns(const hcl_trusted_key *keys, int which, bool from_registry,
				Datum *values, bool *nulls)
{
	const char *label;
	const char *slash;

	nulls[0] = nulls[1] = true;
	if (which < 0 || !from_registry)
		return;
	label = keys[which].label;
	slash = strchr(label, '/');
	values[0] = PointerGetDatum(cstring_to_text_with_len(label, slash - label));
	values[1] = CStringGetTextDatum(slash + 1);
	nulls[0] = nulls[1] = false;
}

/*
 * SQL function: verify_receipt(receipt text, public_key bytea DEFAULT NULL,
 *   authority text DEFAULT NULL) returns record (valid, reason, kind, origin,
 *   old_tree_size, tree_size, leaf_index, row_number, signed_at, authority,
 *   key_id).  A receipt that does not verify is valid = false with the
 *   reason, not an error; a malformed public_key is an error.
 */
PG_FUNCTION_INFO_V1(hcl_verify_receipt);
Datum
hcl_verify_receipt(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[11];
	bool		nulls[11];
	text	   *t;
	hcl_receipt r;
	hcl_verdict v;
	hcl_trusted_key *keys;
	int			nkeys;
	const char *why;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "hcledger: return type must be a row type");
	/* a malformed public_key is an error whatever the receipt */
	keys = PG_ARGISNULL(1) ? NULL : hcl_trusted_keys(fcinfo, 1, 2, NULL, &nkeys);
	t = PG_GETARG_TEXT_PP(0);
	memset(nulls, true, sizeof(nulls));
	memset(&v, 0, sizeof(v));
	why = hcl_receipt_parse(text_to_cstring(t), VARSIZE_ANY_EXHDR(t), &r);
	if (why != NULL)
		snprintf(v.reason, sizeof(v.reason), "%s", why);
	else
	{
		hcl_checkpoint cp;

		if (keys == NULL)
			keys = hcl_trusted_keys(fcinfo, 1, 2,
									hcl_checkpoint_parse(r.checkpoint, r.checkpoint_len, &cp) == NULL ?
									cp.origin : NULL, &nkeys);
		hcl_receipt_verify(&r, keys, nkeys, &v);
		values[2] = CStringGetTextDatum(r.kind == HCL_RECEIPT_INCLUSION ? "inclusion" : "consistency");
		nulls[2] = false;
	}
	values[0] = BoolGetDatum(v.valid);
	values[1] = CStringGetTextDatum(v.reason);
	nulls[0] = nulls[1] = false;
	if (v.cp_parsed)
	{
		values[3] = CStringGetTextDatum(v.cp.origin);
		values[5] = Int64GetDatum((int64) v.cp.size);
		nulls[3] = nulls[5] = false;
		if (v.cp.has_time)
		{
			values[8] = TimestampTzGetDatum(time_t_to_timestamptz((pg_time_t) v.cp.time));
			nulls[8] = false;
		}
		if (r.kind == HCL_RECEIPT_CONSISTENCY && v.old.origin != NULL)
		{
			values[4] = Int64GetDatum((int64) v.old.size);
			nulls[4] = false;
		}
		if (r.kind == HCL_RECEIPT_INCLUSION)
		{
			values[6] = Int64GetDatum((int64) r.leaf_index);
			nulls[6] = false;
			if (r.has_row)
			{
				values[7] = Int64GetDatum(r.row);
				nulls[7] = false;
			}
		}
	}
	if (v.valid)
		hcl_key_columns(keys, v.key, PG_ARGISNULL(1), values + 9, nulls + 9);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * SQL function: verify_checkpoint(checkpoint text, public_key bytea DEFAULT
 *   NULL, authority text DEFAULT NULL) returns record (valid, reason, origin,
 *   tree_size, root, signed_at, authority, key_id)
 */
PG_FUNCTION_INFO_V1(hcl_verify_checkpoint);
Datum
hcl_verify_checkpoint(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[8];
	bool		nulls[8];
	text	   *t;
	hcl_checkpoint cp;
	hcl_trusted_key *keys;
	int			nkeys;
	int			which = -1;
	char		reason[512];
	const char *why;
	bool		valid = false;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "hcledger: return type must be a row type");
	keys = PG_ARGISNULL(1) ? NULL : hcl_trusted_keys(fcinfo, 1, 2, NULL, &nkeys);
	t = PG_GETARG_TEXT_PP(0);
	memset(nulls, true, sizeof(nulls));
	why = hcl_checkpoint_parse(text_to_cstring(t), VARSIZE_ANY_EXHDR(t), &cp);
	if (why != NULL)
		snprintf(reason, sizeof(reason), "%s", why);
	else
	{
		if (keys == NULL)
			keys = hcl_trusted_keys(fcinfo, 1, 2, cp.origin, &nkeys);
		valid = hcl_checkpoint_verify(&cp, keys, nkeys, &which, NULL, reason, sizeof(reason));
		values[2] = CStringGetTextDatum(cp.origin);
		values[3] = Int64GetDatum((int64) cp.size);
		values[4] = PointerGetDatum(hcl_make_hash256(cp.root));
		nulls[2] = nulls[3] = nulls[4] = false;
		if (cp.has_time)
		{
			values[5] = TimestampTzGetDatum(time_t_to_timestamptz((pg_time_t) cp.time));
			nulls[5] = false;
		}
	}
	values[0] = BoolGetDatum(valid);
	values[1] = CStringGetTextDatum(reason);
	nulls[0] = nulls[1] = false;
	if (valid)
		hcl_key_columns(keys, which, PG_ARGISNULL(1), values + 6, nulls + 6);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* Copy a bytea/text argument's bytes. */
static char *
hcl_arg_bytes(FunctionCallInfo fcinfo, int n, size_t *len)
{
	struct varlena *v = PG_GETARG_VARLENA_PP(n);

	*len = VARSIZE_ANY_EXHDR(v);
	return VARDATA_ANY(v);
}

/*
 * SQL function: receipt_build(leaf bytea, leaf_hash hash256, leaf_index
 *   bigint, tree_size bigint, proof hash256[], checkpoint text) returns text
 *   (leaf may be NULL: a receipt of the hash alone)
 */
PG_FUNCTION_INFO_V1(hcl_receipt_build);
Datum
hcl_receipt_build(PG_FUNCTION_ARGS)
{
	hcl_receipt r;
	StringInfoData out;

	for (int i = 1; i < 6; i++)
		if (PG_ARGISNULL(i))
			PG_RETURN_NULL();
	memset(&r, 0, sizeof(r));
	r.kind = HCL_RECEIPT_INCLUSION;
	if (!PG_ARGISNULL(0))
	{
		r.leaf = (uint8 *) hcl_arg_bytes(fcinfo, 0, &r.leaf_len);
		if (r.leaf_len < 42)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("leaf is too short to be a row encoding")));
		r.has_row = true;
		r.row = hcl_leaf_row(r.leaf);
	}
	memcpy(r.leaf_hash, PG_GETARG_HASH256_P(1)->data, HCL_HASH_LEN);
	if (PG_GETARG_INT64(2) < 0 || PG_GETARG_INT64(3) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("leaf_index and tree_size must not be negative")));
	r.leaf_index = (uint64) PG_GETARG_INT64(2);
	r.tree_size = (uint64) PG_GETARG_INT64(3);
	if (!hcl_proof_hashes(PG_GETARG_ARRAYTYPE_P(4), r.proof, &r.proof_len))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("proof is longer than any proof")));
	r.checkpoint = hcl_arg_bytes(fcinfo, 5, &r.checkpoint_len);
	initStringInfo(&out);
	hcl_receipt_format(&r, &out);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/*
 * SQL function: consistency_receipt_build(old_checkpoint text,
 *   new_checkpoint text, proof hash256[]) returns text
 */
PG_FUNCTION_INFO_V1(hcl_consistency_receipt_build);
Datum
hcl_consistency_receipt_build(PG_FUNCTION_ARGS)
{
	hcl_receipt r;
	StringInfoData out;

	memset(&r, 0, sizeof(r));
	r.kind = HCL_RECEIPT_CONSISTENCY;
	r.old_checkpoint = hcl_arg_bytes(fcinfo, 0, &r.old_checkpoint_len);
	r.checkpoint = hcl_arg_bytes(fcinfo, 1, &r.checkpoint_len);
	if (!hcl_proof_hashes(PG_GETARG_ARRAYTYPE_P(2), r.proof, &r.proof_len))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("proof is longer than any proof")));
	initStringInfo(&out);
	hcl_receipt_format(&r, &out);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
