/*
 * consortium.c
 *		What a member needs in C to check a peer's log as it arrives over
 *		logical replication (docs/consortium.md): the published log entries,
 *		extending the accepted compact range with them, the leaf of a peer's
 *		row, which subscription is applying, and cosigning.
 *
 * The checking itself is SQL (the replica triggers in hcledger.sql); these
 * are the parts that need the Merkle code or the node's key.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "replication/logicalworker.h"
#include "replication/worker_internal.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "hash256.h"
#include "ledger.h"
#include "merkle.h"
#include "signing.h"

static const uint8 *
hcl_entries(bytea *entries, int64 *n)
{
	Size		len = VARSIZE_ANY_EXHDR(entries);

	if (len % HCL_LOG_ENTRY_LEN != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("log entries must be a multiple of %d bytes, not %zu", HCL_LOG_ENTRY_LEN, len),
				 errdetail("Each entry is an 8-byte row number and a 32-byte leaf hash (docs/format.md).")));
	*n = (int64) (len / HCL_LOG_ENTRY_LEN);
	return (const uint8 *) VARDATA_ANY(entries);
}

static int64
hcl_entry_row(const uint8 *entry)
{
	uint64		be;

	memcpy(&be, entry, 8);
	return (int64) pg_ntoh64(be);
}

/*
 * SQL function: log_entries(entries bytea)
 *   returns table(entry integer, row_number bigint, leaf_hash hash256)
 */
PG_FUNCTION_INFO_V1(hcl_log_entries);
Datum
hcl_log_entries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		n;
	const uint8 *p = hcl_entries(PG_GETARG_BYTEA_PP(0), &n);
	int64		i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < n; i++, p += HCL_LOG_ENTRY_LEN)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int32GetDatum((int32) i);
		values[1] = Int64GetDatum(hcl_entry_row(p));
		values[2] = Hash256PGetDatum(hcl_make_hash256(p + 8));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * SQL function: log_extend(frontier bytea, tree_size bigint, entries bytea,
 *   OUT tree_size bigint, OUT root hash256, OUT frontier bytea)
 *
 * The compact range of a log of tree_size leaves, extended with the leaves
 * of entries: the new size, root and compact range.  If the result's root
 * is a checkpoint's, that checkpoint's tree extends the first one's.
 */
PG_FUNCTION_INFO_V1(hcl_log_extend);
Datum
hcl_log_extend(PG_FUNCTION_ARGS)
{
	bytea	   *frontier = PG_GETARG_BYTEA_PP(0);
	int64		size = PG_GETARG_INT64(1);
	int64		n;
	const uint8 *p = hcl_entries(PG_GETARG_BYTEA_PP(2), &n);
	hcl_merkle_acc acc;
	hcl_hash	root;
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	int64		i;

	if (size < 0 ||
		!hcl_acc_restore(&acc, (uint64) size, (const uint8 *) VARDATA_ANY(frontier),
						 VARSIZE_ANY_EXHDR(frontier)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the compact range does not fit a tree of %lld leaves", (long long) size)));
	if (n > PG_INT64_MAX - size)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("a log of %lld leaves cannot be extended by %lld more", (long long) size, (long long) n)));
	for (i = 0; i < n; i++, p += HCL_LOG_ENTRY_LEN)
		if (!hcl_acc_push(&acc, p + 8))
			elog(ERROR, "hcledger: SHA-256 failed");
	if (!hcl_acc_root(&acc, root))
		elog(ERROR, "hcledger: SHA-256 failed");
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "hcledger: log_extend must return a record");
	values[0] = Int64GetDatum((int64) acc.size);
	values[1] = Hash256PGetDatum(hcl_make_hash256(root));
	values[2] = PointerGetDatum(hcl_bytea_of(acc.stack, (Size) acc.depth * HCL_HASH_LEN));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* The ledger a peer leaf is computed like, resolved against a row type. */
typedef struct HclPeerLeafCache
{
	Oid			relid;
	Oid			tuptype;
	int32		tuptypmod;
	HclLedger  *ledger;
} HclPeerLeafCache;

/*
 * SQL function: peer_leaf_hash(ledger regclass, ledger_uuid bytea, r record)
 *   returns hash256
 *
 * The leaf hash a peer's row has in the peer's log: encoded like a row of
 * the local ledger (the same columns by name and type), under the peer
 * ledger's uuid and the row's own hcl_row.
 */
PG_FUNCTION_INFO_V1(hcl_peer_leaf_hash);
Datum
hcl_peer_leaf_hash(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	bytea	   *uuid = PG_GETARG_BYTEA_PP(1);
	HeapTupleHeader rec = PG_GETARG_HEAPTUPLEHEADER(2);
	Oid			tuptype = HeapTupleHeaderGetTypeId(rec);
	int32		tuptypmod = HeapTupleHeaderGetTypMod(rec);
	HclPeerLeafCache *cache = fcinfo->flinfo->fn_extra;
	TupleDesc	desc;
	HeapTupleData tuple;
	Datum	   *values;
	bool	   *nulls;
	StringInfoData leaf;
	hcl_hash	hash;

	if (VARSIZE_ANY_EXHDR(uuid) != HCL_UUID_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a ledger uuid is %d bytes, not %zu", HCL_UUID_LEN, VARSIZE_ANY_EXHDR(uuid))));
	desc = lookup_rowtype_tupdesc(tuptype, tuptypmod);
	if (cache == NULL || cache->relid != relid || cache->tuptype != tuptype ||
		cache->tuptypmod != tuptypmod)
	{
		MemoryContext old;
		HclLedger  *loaded;
		HclLedger  *l;
		int			s,
					i;

		if (cache == NULL)
			cache = fcinfo->flinfo->fn_extra =
				MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(HclPeerLeafCache));
		/* SPI calls leave CurrentMemoryContext in SPI's: copy what is kept */
		SPI_connect();
		loaded = hcl_ledger_load(relid, HCL_LOAD_READ);
		old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		l = palloc(sizeof(HclLedger));
		*l = *loaded;
		l->relname = pstrdup(loaded->relname);
		l->origin = pstrdup(loaded->origin);
		l->archive = NULL;
		l->sets = palloc0(sizeof(HclColumnSet) * loaded->nsets);
		for (s = 0; s < loaded->nsets; s++)
		{
			HclColumnSet *from = &loaded->sets[s];
			HclColumnSet *to = &l->sets[s];

			to->from_row = from->from_row;
			to->ncolumns = from->ncolumns;
			to->columns = palloc0(sizeof(HclColumn) * Max(from->ncolumns, 1));
			for (i = 0; i < from->ncolumns; i++)
			{
				to->columns[i].name = pstrdup(from->columns[i].name);
				to->columns[i].type_name = pstrdup(from->columns[i].type_name);
				to->columns[i].source = from->columns[i].source ? pstrdup(from->columns[i].source) : NULL;
			}
		}
		MemoryContextSwitchTo(old);
		SPI_finish();
		old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		hcl_ledger_resolve_desc(l, desc);
		MemoryContextSwitchTo(old);
		cache->ledger = l;
		cache->relid = relid;
		cache->tuptype = tuptype;
		cache->tuptypmod = tuptypmod;
	}
	tuple.t_len = HeapTupleHeaderGetDatumLength(rec);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = rec;
	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(&tuple, desc, values, nulls);
	if (nulls[cache->ledger->row_attnum - 1])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the row has no row number (%s is NULL)", HCL_ROW_COLUMN)));
	memcpy(cache->ledger->uuid, VARDATA_ANY(uuid), HCL_UUID_LEN);
	initStringInfo(&leaf);
	hcl_encode_row(cache->ledger, DatumGetInt64(values[cache->ledger->row_attnum - 1]),
				   values, nulls, &leaf);
	ReleaseTupleDesc(desc);
	if (!hcl_leaf_hash(leaf.data, leaf.len, hash))
		elog(ERROR, "hcledger: SHA-256 failed");
	PG_RETURN_HASH256_P(hcl_make_hash256(hash));
}

/* SQL function: applying_subscription() returns name (NULL outside a logical replication worker) */
PG_FUNCTION_INFO_V1(hcl_applying_subscription);
Datum
hcl_applying_subscription(PG_FUNCTION_ARGS)
{
	if (!IsLogicalWorker() || MySubscription == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(DirectFunctionCall1(namein, CStringGetDatum(MySubscription->name)));
}

/* SQL function: node_sign(message bytea) returns bytea (NULL: no signing key set) */
PG_FUNCTION_INFO_V1(hcl_node_sign_sql);
Datum
hcl_node_sign_sql(PG_FUNCTION_ARGS)
{
	bytea	   *msg = PG_GETARG_BYTEA_PP(0);
	uint8		sig[64];
	uint8		pub[32];

	if (!hcl_node_sign((const uint8 *) VARDATA_ANY(msg), VARSIZE_ANY_EXHDR(msg), sig, pub))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(hcl_bytea_of(sig, 64));
}
