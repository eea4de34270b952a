/*
 * note_sm2.c
 *		verify_checkpoint_sm2(): a checkpoint's SM2 signature lines checked
 *		against the SM2 keys an authority registered (docs/receipts.md,
 *		"The SM2 line"; note.c does the checking).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "note.h"
#include "signing.h"

/*
 * The registry's SM2 keys of an authority, labelled "authority/key_id",
 * bounds rounded down to whole seconds as hcl_registry_keys does.
 */
static hcl_trusted_sm2_key *
hcl_registry_sm2_keys(const char *authority, int *nkeys)
{
	hcl_trusted_sm2_key *keys;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	uint64		i;
	MemoryContext caller = CurrentMemoryContext;

	args[0] = CStringGetTextDatum(authority);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "hcledger: SPI_connect failed");
	if (SPI_execute_with_args("SELECT authority || '/' || key_id, public_key,"
							  " floor(extract(epoch FROM valid_from))::int8,"
							  " floor(extract(epoch FROM valid_until))::int8,"
							  " floor(extract(epoch FROM revoked_at))::int8"
							  " FROM hcledger.keys k WHERE algorithm = 'sm2' AND k.authority = $1"
							  " ORDER BY valid_from, key_id",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "hcledger: could not read the key registry");
	keys = MemoryContextAllocZero(caller, sizeof(hcl_trusted_sm2_key) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bytea	   *pub = DatumGetByteaPP(SPI_getbinval(tup, desc, 2, &isnull));
		Datum		d;

		keys[i].label = MemoryContextStrdup(caller, SPI_getvalue(tup, desc, 1));
		if (VARSIZE_ANY_EXHDR(pub) != 65)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("registry key %s is not a 65-byte SM2 point", keys[i].label)));
		memcpy(keys[i].pub, VARDATA_ANY(pub), 65);
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

/*
 * SQL function: verify_checkpoint_sm2(checkpoint text, authority text,
 *   required boolean DEFAULT true) returns record (valid, reason, key_id).
 * A note that does not pass is valid = false with the reason, not an
 * error.  The Ed25519 line is verify_checkpoint's to check.
 */
PG_FUNCTION_INFO_V1(hcl_verify_checkpoint_sm2);
Datum
hcl_verify_checkpoint_sm2(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {false, false, true};
	text	   *t;
	char	   *authority;
	bool		required;
	hcl_checkpoint cp;
	hcl_trusted_sm2_key *sm2keys;
	hcl_trusted_key *edkeys;
	int			nsm2;
	int			ned;
	int			which = -1;
	char		reason[512];
	const char *why;
	bool		valid = false;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("authority and required must not be NULL")));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "hcledger: return type must be a row type");
	t = PG_GETARG_TEXT_PP(0);
	authority = text_to_cstring(PG_GETARG_TEXT_PP(1));
	required = PG_GETARG_BOOL(2);
	why = hcl_checkpoint_parse(text_to_cstring(t), VARSIZE_ANY_EXHDR(t), &cp);
	if (why != NULL)
		snprintf(reason, sizeof(reason), "%s", why);
	else
	{
		sm2keys = hcl_registry_sm2_keys(authority, &nsm2);
		edkeys = hcl_registry_keys(authority, NULL, &ned);
		valid = hcl_checkpoint_verify_sm2(&cp, sm2keys, nsm2, edkeys, ned, required,
										  &which, reason, sizeof(reason));
		if (valid && which >= 0)
		{
			values[2] = CStringGetTextDatum(strchr(sm2keys[which].label, '/') + 1);
			nulls[2] = false;
		}
	}
	values[0] = BoolGetDatum(valid);
	values[1] = CStringGetTextDatum(reason);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
