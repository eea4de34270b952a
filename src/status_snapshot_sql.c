/*
 * status_snapshot_sql.c
 *		SQL functions reading a status snapshot's bytes, for
 *		check_status_snapshot (sql/install/18_offline.sql), with which a
 *		peer checks a snapshot against its own copy of the log.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "status_snapshot.h"

/* The snapshot argument parsed, or an error that says why not. */
static void
hcl_snapshot_arg(FunctionCallInfo fcinfo, HclSnapshot *snap)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	const char *why = hcl_snapshot_parse(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), snap);

	if (why == NULL && !pg_verifymbstr(snap->authority, strlen(snap->authority), true))
		why = "its authority is not text in the database's encoding";
	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("the status snapshot is malformed: %s", why),
				 errhint("A status snapshot is the bytes following a \"snapshot\" line of a trust bundle (docs/offline-verification.md).")));
}

/*
 * SQL function: status_snapshot_header(snapshot bytea, OUT authority text,
 *   OUT as_of bigint, OUT made_at bigint, OUT tree_size bigint,
 *   OUT missing_rows bigint, OUT salt bytea, OUT entries bigint)
 */
PG_FUNCTION_INFO_V1(hcl_status_snapshot_header);
Datum
hcl_status_snapshot_header(PG_FUNCTION_ARGS)
{
	HclSnapshot snap;
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {false};
	bytea	   *salt = palloc(VARHDRSZ + 16);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "hcledger: status_snapshot_header must return a record");
	hcl_snapshot_arg(fcinfo, &snap);
	SET_VARSIZE(salt, VARHDRSZ + 16);
	memcpy(VARDATA(salt), snap.salt, 16);
	values[0] = CStringGetTextDatum(snap.authority);
	values[1] = Int64GetDatum(snap.as_of);
	values[2] = Int64GetDatum(snap.made_at);
	values[3] = Int64GetDatum(snap.tree_size);
	values[4] = Int64GetDatum(snap.missing_rows);
	values[5] = PointerGetDatum(salt);
	values[6] = Int64GetDatum(snap.nentries);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/*
 * SQL function: status_snapshot_entries(snapshot bytea)
 *   RETURNS TABLE (entry bytea, state integer, revoked_at bigint)
 * Each entry: its key and check (8 bytes), its state byte and, if revoked,
 * the revocation's effective time in unix microseconds.
 */
PG_FUNCTION_INFO_V1(hcl_status_snapshot_entries);
Datum
hcl_status_snapshot_entries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HclSnapshot snap;

	hcl_snapshot_arg(fcinfo, &snap);
	InitMaterializedSRF(fcinfo, 0);
	for (int64 i = 0; i < snap.nentries; i++)
	{
		const HclSnapEntry *e = &snap.entries[i];
		bytea	   *kc = palloc(VARHDRSZ + 8);
		Datum		values[3];
		bool		nulls[3] = {false, false, !(e->state & HCL_ST_REVOKED)};

		SET_VARSIZE(kc, VARHDRSZ + 8);
		memcpy(VARDATA(kc), e->key, 4);
		memcpy(VARDATA(kc) + 4, e->check, 4);
		values[0] = PointerGetDatum(kc);
		values[1] = Int32GetDatum(e->state);
		values[2] = Int64GetDatum(e->revoke_at_us);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		pfree(kc);
	}
	return (Datum) 0;
}
