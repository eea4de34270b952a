/*
 * ledger.c
 *		Ledger tables: catalog access, the canonical row encoding
 *		(docs/format.md), and the append-only guard triggers.
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "port/pg_bswap.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "columns.h"
#include "crypto.h"
#include "hash256.h"
#include "ledger.h"

static char **hcl_text_array_nulls(Datum d, int *n);

/* The text elements of a text[] datum, palloc'd; none may be NULL. */
static char **
hcl_text_array(Datum d, int *n)
{
	char	  **out = hcl_text_array_nulls(d, n);
	int			i;

	for (i = 0; i < *n; i++)
		if (out[i] == NULL)
			elog(ERROR, "hcledger: NULL in a ledger's column list");
	return out;
}

/* A bytea column's bytes, checked for length (0 = any). */
static bytea *
hcl_spi_bytea(HeapTuple tup, TupleDesc desc, int col, size_t want, bool *isnull)
{
	Datum		d = SPI_getbinval(tup, desc, col, isnull);
	bytea	   *b;

	if (*isnull)
		return NULL;
	b = DatumGetByteaPP(d);
	if (want != 0 && VARSIZE_ANY_EXHDR(b) != want)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("hcledger catalog entry has a field of %d bytes where %d were expected",
						(int) VARSIZE_ANY_EXHDR(b), (int) want)));
	return b;
}

static int64
hcl_spi_int64(HeapTuple tup, TupleDesc desc, int col, int64 if_null)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? if_null : DatumGetInt64(d);
}

SPIPlanPtr
hcl_kept_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "hcledger: could not prepare a query: %s", SPI_result_code_string(SPI_result));
		*slot = p;
	}
	return *slot;
}

static void hcl_load_column_sets(HclLedger *l, char **names, char **types, int ncolumns,
								 bool read_only);

/*
 * hcledger.ledgers.pending: four numbers per run, (kind, first row, last
 * row, XID), kind 0 for rows of an open transaction and 1 for a gap.
 * Malformed runs are refused: the sealer would otherwise pass rows over.
 */
static bool
hcl_load_pending(HclLedger *l, Datum d, bool isnull)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	l->npending = 0;
	l->pending = NULL;
	if (isnull)
		return true;
	deconstruct_array(DatumGetArrayTypeP(d), INT8OID, 8, FLOAT8PASSBYVAL,
					  TYPALIGN_DOUBLE, &elems, &nulls, &n);
	if (n % 4 != 0)
		goto bad;
	l->pending = palloc0(sizeof(HclPending) * Max(n / 4, 1));
	for (i = 0; i < n; i += 4)
	{
		HclPending *p = &l->pending[l->npending++];
		int64		kind;
		int64		xid;

		if (nulls[i] || nulls[i + 1] || nulls[i + 2] || nulls[i + 3])
			goto bad;
		kind = DatumGetInt64(elems[i]);
		p->from = DatumGetInt64(elems[i + 1]);
		p->to = DatumGetInt64(elems[i + 2]);
		xid = DatumGetInt64(elems[i + 3]);
		if ((kind != HCL_PENDING_ROWS && kind != HCL_PENDING_GAP) || p->from < 1 || p->to < p->from ||
			p->to > l->passed_row || xid < FirstNormalTransactionId ||
			(l->npending > 1 && p->from <= l->pending[l->npending - 2].to))
			goto bad;
		p->gap = kind == HCL_PENDING_GAP;
		p->xid = (TransactionId) ((uint64) xid & 0xFFFFFFFF);
		/* a full XID past this cluster's next one: the list came from another cluster */
		p->foreign = (uint64) xid > U64FromFullTransactionId(ReadNextFullTransactionId());
	}
	return true;
bad:
	l->npending = 0;
	return false;
}

void
hcl_rescan_rows(IndexScanDesc scan, int64 from, int64 to)
{
	ScanKeyData keys[2];

	ScanKeyInit(&keys[0], 1, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(from));
	ScanKeyInit(&keys[1], 1, BTLessEqualStrategyNumber, F_INT8LE, Int64GetDatum(to));
	index_rescan(scan, keys, 2, NULL, 0);
}

bool
hcl_row_unsettled(HclLedger *ledger, int64 row_number)
{
	int			lo = 0,
				hi = ledger->npending - 1;

	if (row_number > ledger->passed_row)
		return true;
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		HclPending *p = &ledger->pending[mid];

		if (row_number < p->from)
			hi = mid - 1;
		else if (row_number > p->to)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

HclLedger *
hcl_ledger_load(Oid relid, HclLoadMode mode)
{
#define HCL_LEDGER_QUERY(nan) \
		"SELECT ledger_id, relid::oid, relid::text, ledger_uuid, origin, columns, column_types," \
		"       tree_size, last_row, frontier, last_checkpoint::bytea," \
		"       gap_row, gap_horizon, blocked_by, " nan \
		"  FROM hcledger.ledgers WHERE relid = $1 AND dropped_at IS NULL"
	/* a catalog of a version before 0.3.0 (not yet updated) has no nan_canonical, passed_row, pending */
	static const char *const queries[2][3] = {
		{
			[HCL_LOAD_READ] = HCL_LEDGER_QUERY("false, last_row, '{}'::bigint[]"),
			[HCL_LOAD_LOCK] = HCL_LEDGER_QUERY("false, last_row, '{}'::bigint[]") " FOR NO KEY UPDATE",
			[HCL_LOAD_TRY_LOCK] = HCL_LEDGER_QUERY("false, last_row, '{}'::bigint[]") " FOR NO KEY UPDATE SKIP LOCKED"
		},
		{
			[HCL_LOAD_READ] = HCL_LEDGER_QUERY("nan_canonical, passed_row, pending"),
			[HCL_LOAD_LOCK] = HCL_LEDGER_QUERY("nan_canonical, passed_row, pending") " FOR NO KEY UPDATE",
			[HCL_LOAD_TRY_LOCK] = HCL_LEDGER_QUERY("nan_canonical, passed_row, pending") " FOR NO KEY UPDATE SKIP LOCKED"
		}
	};
	/* planned once per backend and mode: every proof and border check loads its ledger */
	static SPIPlanPtr plans[2][3];
	Oid			catalog = get_relname_relid("ledgers", get_namespace_oid("hcledger", false));
	int			v = get_attnum(catalog, "nan_canonical") != InvalidAttrNumber ? 1 : 0;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	HeapTuple	tup;
	TupleDesc	desc;
	HclLedger  *l;
	bool		isnull;
	bytea	   *b;
	char	  **names;
	char	  **types;
	int			ncolumns;
	int			ntypes;

	/* locking takes a fresh snapshot; reading keeps the caller's */
	if (SPI_execute_plan(hcl_kept_plan(&plans[v][mode], queries[v][mode], 1, argtypes),
						 args, NULL, mode == HCL_LOAD_READ, 1) != SPI_OK_SELECT)
		elog(ERROR, "hcledger: could not read the ledger catalog");
	if (SPI_processed != 1 && mode == HCL_LOAD_TRY_LOCK)
		return NULL;			/* another sealer has it (or it just went) */
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not a ledger", get_rel_name(relid) ? get_rel_name(relid) : "?"),
				 errhint("Make it one with hcledger.create_ledger().")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	l = palloc0(sizeof(HclLedger));
	l->ledger_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	l->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
	l->relname = SPI_getvalue(tup, desc, 3);
	b = hcl_spi_bytea(tup, desc, 4, HCL_UUID_LEN, &isnull);
	memcpy(l->uuid, VARDATA_ANY(b), HCL_UUID_LEN);
	l->origin = SPI_getvalue(tup, desc, 5);
	names = hcl_text_array(SPI_getbinval(tup, desc, 6, &isnull), &ncolumns);
	types = hcl_text_array(SPI_getbinval(tup, desc, 7, &isnull), &ntypes);
	if (ntypes != ncolumns)
		elog(ERROR, "hcledger: ledger %d has %d columns but %d types",
			 l->ledger_id, ncolumns, ntypes);
	l->tree_size = hcl_spi_int64(tup, desc, 8, 0);
	l->last_row = hcl_spi_int64(tup, desc, 9, 0);
	b = hcl_spi_bytea(tup, desc, 10, 0, &isnull);
	l->frontier_ok = hcl_acc_restore(&l->frontier, (uint64) l->tree_size,
									 (const uint8 *) VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
	if (!l->frontier_ok)
		hcl_acc_init(&l->frontier);
	if (!l->frontier_ok && mode != HCL_LOAD_READ)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the Merkle frontier of ledger \"%s\" does not match its tree size",
						l->relname),
				 errhint("Run hcledger.verify_ledger() to locate the damage.")));
	b = hcl_spi_bytea(tup, desc, 11, HCL_HASH_LEN, &isnull);
	if (!isnull)
		memcpy(l->last_checkpoint, VARDATA_ANY(b), HCL_HASH_LEN);
	l->gap_row = hcl_spi_int64(tup, desc, 12, -1);
	l->gap_horizon = (TransactionId) hcl_spi_int64(tup, desc, 13, 0);
	l->blocked_by = (TransactionId) hcl_spi_int64(tup, desc, 14, 0);
	l->nan_canonical = DatumGetBool(SPI_getbinval(tup, desc, 15, &isnull)) && !isnull;
	l->can_pend = v == 1;
	l->passed_row = hcl_spi_int64(tup, desc, 16, l->last_row);
	l->pending_ok = hcl_load_pending(l, SPI_getbinval(tup, desc, 17, &isnull), isnull);
	if (!l->pending_ok && mode != HCL_LOAD_READ)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the pending rows of ledger \"%s\" (hcledger.ledgers.pending) are malformed",
						l->relname),
				 errhint("Run hcledger.verify_ledger() to locate the damage.")));
	hcl_load_column_sets(l, names, types, ncolumns, mode == HCL_LOAD_READ);
	return l;
}

/* A text[] datum's elements, NULLs kept as NULL pointers. */
static char **
hcl_text_array_nulls(Datum d, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;
	int			i;

	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false,
					  TYPALIGN_INT, &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (i = 0; i < *n; i++)
		out[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	return out;
}

static void
hcl_set_columns(HclColumnSet *set, int64 from_row, char **names, char **types,
				char **sources, int n)
{
	int			i;

	set->from_row = from_row;
	set->ncolumns = n;
	set->columns = palloc0(sizeof(HclColumn) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		set->columns[i].name = names[i];
		set->columns[i].type_name = types[i];
		set->columns[i].source = sources[i];
	}
}

/*
 * The ledger's column sets (hcledger.ledger_columns).  A catalog not yet
 * updated to 0.3.0 has no such table: its ledgers hash the columns they
 * were created with, from their first row.
 */
static void
hcl_load_column_sets(HclLedger *l, char **names, char **types, int ncolumns, bool read_only)
{
	static SPIPlanPtr plan;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(l->ledger_id)};
	uint64		i;

	if (!OidIsValid(get_relname_relid("ledger_columns", get_namespace_oid("hcledger", false))))
	{
		l->nsets = 1;
		l->sets = palloc0(sizeof(HclColumnSet));
		hcl_set_columns(&l->sets[0], PG_INT64_MIN, names, types, names, ncolumns);
		return;
	}
	if (SPI_execute_plan(hcl_kept_plan(&plan,
									   "SELECT from_row, columns, column_types, sources"
									   "  FROM hcledger.ledger_columns WHERE ledger_id = $1"
									   " ORDER BY from_row",
									   1, argtypes),
						 args, NULL, read_only, 0) != SPI_OK_SELECT)
		elog(ERROR, "hcledger: could not read the column sets of ledger %d", l->ledger_id);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("ledger \"%s\" has no column set in hcledger.ledger_columns", l->relname),
				 errhint("Restore hcledger.ledger_columns from a backup: without it the rows cannot be encoded.")));
	l->nsets = (int) SPI_processed;
	l->sets = palloc0(sizeof(HclColumnSet) * l->nsets);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int			n,
					nt,
					ns;
		char	  **cn = hcl_text_array(SPI_getbinval(tup, desc, 2, &isnull), &n);
		char	  **ct = hcl_text_array(SPI_getbinval(tup, desc, 3, &isnull), &nt);
		char	  **cs = hcl_text_array_nulls(SPI_getbinval(tup, desc, 4, &isnull), &ns);

		if (nt != n || ns != n)
			elog(ERROR, "hcledger: a column set of ledger %d has %d columns, %d types and %d sources",
				 l->ledger_id, n, nt, ns);
		/* the first set holds from the first row, whatever its number */
		hcl_set_columns(&l->sets[i], i == 0 ? PG_INT64_MIN : hcl_spi_int64(tup, desc, 1, 0),
						cn, ct, cs, n);
	}
}

HclColumnSet *
hcl_column_set(HclLedger *ledger, int64 row_number)
{
	int			i;

	for (i = ledger->nsets - 1; i > 0; i--)
		if (ledger->sets[i].from_row <= row_number)
			break;
	return &ledger->sets[i];
}

static inline void
hcl_put_u16(StringInfo out, size_t v)
{
	uint16		be;

	if (v > PG_UINT16_MAX)
		elog(ERROR, "hcledger: a name of %zu bytes is too long to encode", v);
	be = pg_hton16((uint16) v);
	appendBinaryStringInfo(out, (const char *) &be, 2);
}

/*
 * The built-in types whose send output is written directly; each writes
 * exactly what its send function would (the encoding test compares).
 */
static HclSendKind
hcl_send_kind(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return HCL_SEND_INT2;
		case INT4OID:
		case DATEOID:
			return HCL_SEND_INT4;
		case INT8OID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
		case TIMEOID:
			return HCL_SEND_INT8;
		case FLOAT4OID:
			return HCL_SEND_FLOAT4;
		case FLOAT8OID:
			return HCL_SEND_FLOAT8;
		case BOOLOID:
			return HCL_SEND_BOOL;
		case UUIDOID:
			return HCL_SEND_UUID;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case BYTEAOID:
			return HCL_SEND_RAW;
		default:
			return HCL_SEND_CALL;
	}
}

/* "<schema>.<type name>" of a type, as docs/format.md records it. */
static char *
hcl_type_name(Oid typid)
{
	HeapTuple	tp = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	Form_pg_type typ;
	char	   *result;

	if (!HeapTupleIsValid(tp))
		elog(ERROR, "hcledger: cache lookup failed for type %u", typid);
	typ = (Form_pg_type) GETSTRUCT(tp);
	result = psprintf("%s.%s", get_namespace_name(typ->typnamespace),
					  NameStr(typ->typname));
	ReleaseSysCache(tp);
	return result;
}

static void hcl_resolve_set(HclLedger *ledger, HclColumnSet *set, TupleDesc desc);

void
hcl_ledger_resolve(HclLedger *ledger, Relation rel)
{
	hcl_ledger_resolve_desc(ledger, RelationGetDescr(rel));
}

void
hcl_ledger_resolve_desc(HclLedger *ledger, TupleDesc desc)
{
	int			i,
				a;

	ledger->row_attnum = InvalidAttrNumber;
	for (a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (!att->attisdropped && strcmp(NameStr(att->attname), HCL_ROW_COLUMN) == 0 &&
			att->atttypid == INT8OID)
			ledger->row_attnum = att->attnum;
	}
	if (ledger->row_attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("ledger table \"%s\" has lost its \"%s\" column",
						ledger->relname, HCL_ROW_COLUMN),
				 errhint("The table was changed behind the DDL guard: restore it, or retire the ledger with hcledger.drop_ledger(table, reason).")));

	for (i = 0; i < ledger->nsets; i++)
		hcl_resolve_set(ledger, &ledger->sets[i], desc);
}

/* Resolve one column set: each column's source, by name, of its recorded type. */
static void
hcl_resolve_set(HclLedger *ledger, HclColumnSet *set, TupleDesc desc)
{
	int			i,
				a;

	for (i = 0; i < set->ncolumns; i++)
	{
		HclColumn  *col = &set->columns[i];
		Oid			typsend;
		bool		isvarlena;
		char	   *now_type = NULL;

		col->attnum = InvalidAttrNumber;
		initStringInfo(&col->header);
		hcl_put_u16(&col->header, strlen(col->name));
		appendStringInfoString(&col->header, col->name);
		hcl_put_u16(&col->header, strlen(col->type_name));
		appendStringInfoString(&col->header, col->type_name);
		if (col->source == NULL)
			continue;			/* dropped: its values are archived */
		for (a = 0; a < desc->natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, a);

			if (!att->attisdropped && strcmp(NameStr(att->attname), col->source) == 0)
			{
				col->attnum = att->attnum;
				now_type = hcl_type_name(att->atttypid);
				getTypeBinaryOutputInfo(att->atttypid, &typsend, &isvarlena);
				fmgr_info(typsend, &col->send);
				col->kind = hcl_send_kind(getBaseType(att->atttypid));
				if (col->kind == HCL_SEND_CALL &&
					(get_element_type(getBaseType(att->atttypid)) == FLOAT4OID ||
					 get_element_type(getBaseType(att->atttypid)) == FLOAT8OID))
					col->kind = HCL_SEND_FLOAT_ARRAY;
			}
		}
		if (col->attnum == InvalidAttrNumber || strcmp(now_type, col->type_name) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("ledger table \"%s\" no longer has its hashed column \"%s\" of type %s",
							ledger->relname, col->source, col->type_name),
					 errdetail("Its rows can no longer be encoded as they were sealed."),
					 errhint("See hcledger.ledger_events for the DDL that was unlocked.")));
	}
}

/*
 * Is this index, read from the catalog alone, a usable row-number index: a
 * valid, unique, ascending btree on hcl_row alone, without predicate or
 * expression?  Nothing is opened and nothing evaluated: a table owner's
 * index predicate or expression (IMMUTABLE functions are folded when an
 * index's predicate is loaded) must never run with the caller's rights.
 */
static bool
hcl_is_row_index(Oid indexoid, AttrNumber row_attnum)
{
	HeapTuple	itup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	HeapTuple	ctup;
	Form_pg_index idx;
	bool		ok;

	if (!HeapTupleIsValid(itup))
		return false;
	idx = (Form_pg_index) GETSTRUCT(itup);
	ok = idx->indisvalid && idx->indisunique && idx->indnatts == 1 &&
		idx->indkey.values[0] == row_attnum &&
		heap_attisnull(itup, Anum_pg_index_indpred, NULL) &&
		heap_attisnull(itup, Anum_pg_index_indexprs, NULL);
	if (ok)
	{
		bool		isnull;
		Datum		d = SysCacheGetAttr(INDEXRELID, itup, Anum_pg_index_indoption, &isnull);

		/* ascending: the walk is in row order */
		ok = !isnull && ((int2vector *) DatumGetPointer(d))->values[0] == 0;
	}
	ReleaseSysCache(itup);
	if (!ok)
		return false;
	ctup = SearchSysCache1(RELOID, ObjectIdGetDatum(indexoid));
	if (!HeapTupleIsValid(ctup))
		return false;
	ok = ((Form_pg_class) GETSTRUCT(ctup))->relam == BTREE_AM_OID;
	ReleaseSysCache(ctup);
	return ok;
}

Oid
hcl_ledger_row_index(HclLedger *ledger, Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		if (hcl_is_row_index(lfirst_oid(lc), ledger->row_attnum))
		{
			found = lfirst_oid(lc);
			break;
		}
	}
	list_free(indexes);
	if (!OidIsValid(found))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("ledger table \"%s\" has no unique ascending btree index on \"%s\"",
						ledger->relname, HCL_ROW_COLUMN),
				 errhint("Recreate it: CREATE UNIQUE INDEX ON %s (%s).",
						 ledger->relname, HCL_ROW_COLUMN),
				 errhint("The table was changed behind the DDL guard: restore it, or retire the ledger with hcledger.drop_ledger(table, reason).")));
	return found;
}

/* A float4[] or float8[] with every NaN element made the canonical NaN. */
static Datum
hcl_canonical_float_array(Datum d)
{
	ArrayType  *a = DatumGetArrayTypeP(d);
	Oid			elem = ARR_ELEMTYPE(a);
	int16		len;
	bool		byval;
	char		align;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	bool		changed = false;

	get_typlenbyvalalign(elem, &len, &byval, &align);
	deconstruct_array(a, elem, len, byval, align, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			continue;
		if (elem == FLOAT8OID && isnan(DatumGetFloat8(elems[i])))
		{
			uint64		v = HCL_NAN8;
			float8		f;

			memcpy(&f, &v, 8);
			elems[i] = Float8GetDatum(f);
			changed = true;
		}
		else if (elem == FLOAT4OID && isnan(DatumGetFloat4(elems[i])))
		{
			uint32		v = HCL_NAN4;
			float4		f;

			memcpy(&f, &v, 4);
			elems[i] = Float4GetDatum(f);
			changed = true;
		}
	}
	if (!changed)
		return d;
	return PointerGetDatum(construct_md_array(elems, nulls, ARR_NDIM(a), ARR_DIMS(a), ARR_LBOUND(a),
											  elem, len, byval, align));
}

static void hcl_stream_flush(HclLedger *ledger, StringInfo out);
static void hcl_encode_columns(HclLedger *ledger, HclColumnSet *set, int64 row_number,
							   Datum *values, bool *nulls, StringInfo out);

/*
 * The leaf bytes of one row.  Text-like send functions convert to the
 * client encoding, so for the length of the encoding the client encoding is
 * set to the database's: the bytes must not depend on the session.
 */
static void
hcl_encode_row_to(HclLedger *ledger, int64 row_number, Datum *values,
				  bool *nulls, StringInfo out)
{
	uint64		rn = pg_hton64((uint64) row_number);
	int			client = pg_get_client_encoding();
	HclColumnSet *set = hcl_column_set(ledger, row_number);

	appendBinaryStringInfo(out, HCL_ROW_MAGIC, 16);
	appendBinaryStringInfo(out, (const char *) ledger->uuid, HCL_UUID_LEN);
	appendBinaryStringInfo(out, (const char *) &rn, 8);
	hcl_put_u16(out, set->ncolumns);
	if (client == GetDatabaseEncoding())
		hcl_encode_columns(ledger, set, row_number, values, nulls, out);
	else
	{
		SetClientEncoding(GetDatabaseEncoding());
		PG_TRY();
		{
			hcl_encode_columns(ledger, set, row_number, values, nulls, out);
		}
		PG_FINALLY();
		{
			SetClientEncoding(client);
		}
		PG_END_TRY();
	}
}

void
hcl_encode_row(HclLedger *ledger, int64 row_number, Datum *values,
			   bool *nulls, StringInfo out)
{
	ledger->streaming = false;
	hcl_encode_row_to(ledger, row_number, values, nulls, out);
}

/* Feed what the scratch buffer holds into the leaf's hash, and empty it. */
static void
hcl_stream_flush(HclLedger *ledger, StringInfo out)
{
	if (!hcl_sha256_stream_update(out->data, out->len))
		hcl_crypto_failed("SHA-256");
	ledger->streamed += out->len;
	resetStringInfo(out);
}

int64
hcl_row_leaf_hash(HclLedger *ledger, int64 row_number, Datum *values, bool *nulls,
				  StringInfo scratch, hcl_hash leaf_hash)
{
	resetStringInfo(scratch);
	if (!hcl_sha256_stream_begin(0x00))
		hcl_crypto_failed("SHA-256");
	ledger->streaming = true;
	ledger->streamed = 0;
	hcl_encode_row_to(ledger, row_number, values, nulls, scratch);
	hcl_stream_flush(ledger, scratch);
	ledger->streaming = false;
	if (!hcl_sha256_stream_end(leaf_hash))
		hcl_crypto_failed("SHA-256");
	return ledger->streamed;
}

/* Append one value: its length, then its send form. */
static inline void
hcl_put_value(StringInfo out, const void *data, uint32 len)
{
	uint32		be = pg_hton32(len);

	appendStringInfoChar(out, 0x01);
	appendBinaryStringInfo(out, (const char *) &be, 4);
	appendBinaryStringInfo(out, data, len);
}

/*
 * A value that may be large (a varlena's): while a leaf is streamed into
 * its hash, one of HCL_STREAM_CHUNK bytes or more goes there directly,
 * never copied into the buffer (a row's leaf may exceed 1 GB).
 */
static void
hcl_put_large(HclLedger *ledger, StringInfo out, const void *data, uint32 len)
{
	uint32		be;

	if (!ledger->streaming || len < HCL_STREAM_CHUNK)
	{
		hcl_put_value(out, data, len);
		return;
	}
	be = pg_hton32(len);
	appendStringInfoChar(out, 0x01);
	appendBinaryStringInfo(out, (const char *) &be, 4);
	hcl_stream_flush(ledger, out);
	if (!hcl_sha256_stream_update(data, len))
		hcl_crypto_failed("SHA-256");
	ledger->streamed += len;
}

/*
 * A dropped column's value, as archived when it was dropped.  One that is
 * missing gives a presence byte no value has (0xff): a leaf that matches
 * nothing, which the verifier reports as an altered row; elsewhere (the
 * sealer, a receipt) it is an error.
 */
static void
hcl_put_archived(HclLedger *ledger, HclColumn *col, int64 row_number, StringInfo out)
{
	bool		found;
	bytea	   *v = hcl_archived_value(ledger, col->name, row_number, &found);

	if (!found && !ledger->archive_lenient)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the archived value of dropped column \"%s\" of row %lld of ledger \"%s\" is missing",
						col->name, (long long) row_number, ledger->relname),
				 errhint("Restore hcledger.dropped_values from a backup; hcledger.verify_ledger() lists the rows affected.")));
	if (!found)
		appendStringInfoChar(out, (char) 0xff);
	else if (v == NULL)
		appendStringInfoChar(out, 0x00);
	else
		hcl_put_large(ledger, out, VARDATA(v), VARSIZE(v) - VARHDRSZ);
}

static void
hcl_encode_columns(HclLedger *ledger, HclColumnSet *set, int64 row_number,
				   Datum *values, bool *nulls, StringInfo out)
{
	int			i;

	for (i = 0; i < set->ncolumns; i++)
	{
		HclColumn  *col = &set->columns[i];

		appendBinaryStringInfo(out, col->header.data, col->header.len);
		if (col->attnum == InvalidAttrNumber)
			hcl_put_archived(ledger, col, row_number, out);
		else
			hcl_encode_value(ledger, col, values[col->attnum - 1], nulls[col->attnum - 1], out);
		if (ledger->streaming && out->len >= HCL_STREAM_CHUNK)
			hcl_stream_flush(ledger, out);
	}
}

void
hcl_encode_value(HclLedger *ledger, HclColumn *col, Datum d, bool isnull, StringInfo out)
{
	if (isnull)
	{
		appendStringInfoChar(out, 0x00);
		return;
	}
	switch (col->kind)
	{
		case HCL_SEND_INT2:
			{
				uint16		v = pg_hton16((uint16) DatumGetInt16(d));

				hcl_put_value(out, &v, 2);
				break;
			}
		case HCL_SEND_INT4:
			{
				uint32		v = pg_hton32((uint32) DatumGetInt32(d));

				hcl_put_value(out, &v, 4);
				break;
			}
		case HCL_SEND_INT8:
			{
				uint64		v = pg_hton64((uint64) DatumGetInt64(d));

				hcl_put_value(out, &v, 8);
				break;
			}
		case HCL_SEND_FLOAT4:
			{
				float4		f = DatumGetFloat4(d);
				uint32		v;

				memcpy(&v, &f, 4);
				if (ledger->nan_canonical && isnan(f))
					v = HCL_NAN4;	/* text (and so pg_dump) keeps no sign or payload */
				v = pg_hton32(v);
				hcl_put_value(out, &v, 4);
				break;
			}
		case HCL_SEND_FLOAT8:
			{
				float8		f = DatumGetFloat8(d);
				uint64		v;

				memcpy(&v, &f, 8);
				if (ledger->nan_canonical && isnan(f))
					v = HCL_NAN8;
				v = pg_hton64(v);
				hcl_put_value(out, &v, 8);
				break;
			}
		case HCL_SEND_BOOL:
			{
				uint8		v = DatumGetBool(d) ? 1 : 0;

				hcl_put_value(out, &v, 1);
				break;
			}
		case HCL_SEND_UUID:
			hcl_put_value(out, DatumGetPointer(d), 16);
			break;
		case HCL_SEND_RAW:
			{
				struct varlena *v = PG_DETOAST_DATUM_PACKED(d);

				hcl_put_large(ledger, out, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
				if ((Pointer) v != DatumGetPointer(d))
					pfree(v);	/* a row may hold several of up to 1 GB */
				break;
			}
		case HCL_SEND_FLOAT_ARRAY:
			if (ledger->nan_canonical)
				d = hcl_canonical_float_array(d);
			/* FALLTHROUGH */
		case HCL_SEND_CALL:
			{
				bytea	   *v = SendFunctionCall(&col->send, d);

				hcl_put_large(ledger, out, VARDATA(v), VARSIZE(v) - VARHDRSZ);
				pfree(v);
				break;
			}
	}
}

int64
hcl_row_sequence_last(HclLedger *ledger, bool strict)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(ledger->relid)};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	int64		last;

	/* before the first nextval, the last issued is the one before the start */
	if (SPI_execute_with_args("SELECT s.seqincrement, s.seqcache, s.seqcycle,"
							  "       coalesce(pg_catalog.pg_sequence_last_value(s.seqrelid), s.seqstart - 1)"
							  "  FROM pg_catalog.pg_sequence s"
							  " WHERE s.seqrelid = pg_catalog.pg_get_serial_sequence($1::regclass::text, 'hcl_row')::regclass",
							  1, argtypes, args, NULL, !strict, 1) != SPI_OK_SELECT)
		elog(ERROR, "hcledger: could not read the row-number sequence");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("ledger table \"%s\" has lost the sequence of its \"%s\" column",
						ledger->relname, HCL_ROW_COLUMN),
				 errhint("The table was changed behind the DDL guard: restore it, or retire the ledger with hcledger.drop_ledger(table, reason).")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	last = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	if (isnull)
		last = 0;
	if (strict &&
		(DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull)) != 1 ||
		 DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull)) != 1 ||
		 DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)) ||
		 last < ledger->passed_row))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the row-number sequence of ledger \"%s\" was altered", ledger->relname),
				 errdetail("It must count by one, without cache or cycle, and never go back below the last row the sealer passed, %lld; it is at %lld.",
						   (long long) ledger->passed_row, (long long) last),
				 errhint("Rows numbered by an altered sequence cannot be sealed in order; see hcledger.verify_ledger().")));
	return last;
}

bool
hcl_read_tile(HclLedger *ledger, int level, int64 tile, bool fresh,
			  bytea **hashes, bytea **rows)
{
	/* planned once per backend: proofs read a tile per tree level */
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[3] = {INT4OID, INT4OID, INT8OID};
	Datum		args[3] = {Int32GetDatum(ledger->ledger_id), Int32GetDatum(level),
	Int64GetDatum(tile)};
	bool		isnull;
	Datum		d;

	hcl_kept_plan(&plan, "SELECT hashes, row_numbers FROM hcledger.tiles"
				  " WHERE ledger_id = $1 AND level = $2 AND tile = $3", 3, argtypes);
	if (SPI_execute_plan(plan, args, NULL, !fresh, 1) != SPI_OK_SELECT)
		elog(ERROR, "hcledger: could not read tiles");
	if (SPI_processed != 1)
		return false;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	*hashes = DatumGetByteaPCopy(d);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	*rows = isnull ? NULL : DatumGetByteaPCopy(d);
	SPI_freetuptable(SPI_tuptable);
	return true;
}

List *
hcl_active_ledgers(void)
{
	List	   *result = NIL;
	uint64		i;

	if (SPI_execute("SELECT relid::oid FROM hcledger.ledgers"
					" WHERE dropped_at IS NULL ORDER BY ledger_id", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "hcledger: could not list ledgers");
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		result = lappend_oid(result,
							 DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															SPI_tuptable->tupdesc,
															1, &isnull)));
	}
	return result;
}

/* SQL function: refuse_change() returns trigger (statement level) */
PG_FUNCTION_INFO_V1(hcl_refuse_change);
Datum
hcl_refuse_change(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *what;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "hcledger: refuse_change called outside a trigger");
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		what = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		what = "DELETE";
	else
		what = "TRUNCATE";
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("ledger table \"%s\" is append-only",
					RelationGetRelationName(td->tg_relation)),
			 errdetail("%s is not allowed on a ledger table.", what),
			 errhint("Record a correction as a new row.")));
	return PointerGetDatum(NULL);
}

/*
 * SQL function: assign_xid() returns trigger (BEFORE INSERT, statement level)
 *
 * Gives the inserting transaction its XID before any row number is drawn,
 * so the sealer can tell when every transaction that may still insert a
 * missing row number has ended (see seal.c); and notes the sequence's last
 * value as the statement begins, for the check hcl_row_drawn (guard.c).
 */
PG_FUNCTION_INFO_V1(hcl_assign_xid);
Datum
hcl_assign_xid(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "hcledger: assign_xid called outside a trigger");
	(void) GetCurrentTransactionId();
	hcl_note_statement_floor(((TriggerData *) fcinfo->context)->tg_relation);
	return PointerGetDatum(NULL);
}

bytea *
hcl_bytea_of(const void *data, Size len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

/*
 * The leaf bytes of one row of the ledger (SPI connected), appended to
 * leaf; false if the table has no such row.  The caller checks privileges.
 */
bool
hcl_row_leaf_of(HclLedger *ledger, int64 row_number, StringInfo leaf)
{
	Relation	rel;
	Relation	irel;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData key;
	bool		found;

	rel = table_open(ledger->relid, AccessShareLock);
	if (rel->rd_rel->relrowsecurity)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("row leaves are not available on a ledger with row-level security"),
				 errhint("Read them as the table's owner or a role with BYPASSRLS.")));
	hcl_ledger_resolve(ledger, rel);
	irel = index_open(hcl_ledger_row_index(ledger, rel), AccessShareLock);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(row_number));
	scan = index_beginscan(rel, irel, GetActiveSnapshot(), 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	slot = table_slot_create(rel, NULL);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found)
	{
		StringInfoData scratch;
		hcl_hash	h;
		int64		len;

		slot_getallattrs(slot);
		/* a leaf is sized before it is built: one too large to hold is a clear error */
		initStringInfo(&scratch);
		len = hcl_row_leaf_hash(ledger, row_number, slot->tts_values, slot->tts_isnull, &scratch, h);
		pfree(scratch.data);
		if (len + leaf->len >= (int64) MaxAllocSize - VARHDRSZ)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the leaf of row %lld of ledger \"%s\" is %lld bytes, more than a value can hold (1 GB)",
							(long long) row_number, ledger->relname, (long long) len),
					 errdetail("The row is sealed and verified like any other; only its leaf bytes cannot be returned, nor a receipt carry them."),
					 errhint("Its inclusion proof (hcledger.ledger_inclusion_proof) proves its leaf hash.")));
		hcl_encode_row(ledger, row_number, slot->tts_values, slot->tts_isnull, leaf);
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	index_close(irel, AccessShareLock);
	table_close(rel, AccessShareLock);
	return found;
}

/* SQL function: row_leaf(ledger regclass, row_number bigint) returns bytea */
PG_FUNCTION_INFO_V1(hcl_row_leaf);
Datum
hcl_row_leaf(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	int64		row_number = PG_GETARG_INT64(1);
	MemoryContext outer = CurrentMemoryContext;
	StringInfoData leaf;
	bytea	   *result = NULL;

	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
	SPI_connect();
	initStringInfo(&leaf);
	if (hcl_row_leaf_of(hcl_ledger_load(relid, HCL_LOAD_READ), row_number, &leaf))
	{
		result = MemoryContextAlloc(outer, VARHDRSZ + leaf.len);
		SET_VARSIZE(result, VARHDRSZ + leaf.len);
		memcpy(VARDATA(result), leaf.data, leaf.len);
	}
	SPI_finish();
	if (result == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("ledger \"%s\" has no row %lld", get_rel_name(relid),
						(long long) row_number)));
	PG_RETURN_BYTEA_P(result);
}
