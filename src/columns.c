/*
 * columns.c
 *		Schema evolution of ledger tables (docs/format.md, "Column sets"):
 *		what an unlocked ALTER TABLE must do before it runs, and the
 *		archived values of dropped columns, read back for encoding.
 *
 * A ledger hashes, from each recorded row number on, a recorded set of
 * columns (hcledger.ledger_columns).  A column is found in the table by its
 * source, today's name of the column holding its values.  Before a column
 * is renamed, its sources follow the new name; before it is dropped or its
 * type changed (which rewrites its values), the values it holds in the
 * rows that hash it are archived, in their canonical encoding, in
 * hcledger.dropped_values, and its sources become NULL.  The DDL guard at
 * the command's end records the new column set, from the next row number
 * the sequence will give, and refuses any change that lost a hashed
 * column's values another way (DROP TYPE ... CASCADE, say).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "columns.h"
#include "ledger.h"

/* How many archived values are read ahead at most, and how many bytes. */
#define HCL_ARCHIVE_AHEAD		4096
#define HCL_ARCHIVE_AHEAD_BYTES	(64 * 1024 * 1024)
/* How many rows' values are archived by one insert, and how many bytes. */
#define HCL_ARCHIVE_BATCH		1000
#define HCL_ARCHIVE_BATCH_BYTES	(16 * 1024 * 1024)

struct HclArchiveCache
{
	MemoryContext cxt;
	int64		lo;				/* every archived value of rows lo..hi is here */
	int64		hi;
	int			n;
	int64	   *rows;			/* ascending */
	char	  **names;
	bytea	  **values;			/* NULL: the value was NULL */
};

static Oid
hcl_archive_relid(void)
{
	Oid			relid = get_relname_relid("dropped_values", get_namespace_oid("hcledger", false));

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("hcledger.dropped_values is missing"),
				 errhint("Update the extension: ALTER EXTENSION hcledger UPDATE.")));
	return relid;
}

/* Read the archived values of the ledger's rows from row on, as many as fit. */
static void
hcl_archive_fill(HclLedger *ledger, int64 row)
{
	HclArchiveCache *c = ledger->archive;
	Relation	rel;
	Relation	irel;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData keys[2];
	Snapshot	snap;
	MemoryContext old;
	int			size = 64;
	Size		bytes = 0;
	bool		full = false;

	MemoryContextReset(c->cxt);
	old = MemoryContextSwitchTo(c->cxt);
	c->n = 0;
	c->rows = palloc(sizeof(int64) * size);
	c->names = palloc(sizeof(char *) * size);
	c->values = palloc(sizeof(bytea *) * size);
	c->lo = row;
	c->hi = PG_INT64_MAX;

	rel = table_open(hcl_archive_relid(), AccessShareLock);
	(void) RelationGetIndexList(rel);	/* sets rd_pkindex */
	if (!OidIsValid(rel->rd_pkindex))
		elog(ERROR, "hcledger: hcledger.dropped_values has no primary key");
	irel = index_open(rel->rd_pkindex, AccessShareLock);
	/* a fresh snapshot: the values a committed drop archived are all there */
	snap = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(ledger->ledger_id));
	ScanKeyInit(&keys[1], 2, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(row));
	scan = index_beginscan(rel, irel, snap, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	slot = table_slot_create(rel, NULL);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		int64		r = DatumGetInt64(slot_getattr(slot, 2, &isnull));
		Datum		v;

		/* stop between rows: the cache holds whole rows */
		if (full && r != c->rows[c->n - 1])
		{
			c->hi = c->rows[c->n - 1];
			break;
		}
		if (c->n == size)
		{
			size *= 2;
			c->rows = repalloc(c->rows, sizeof(int64) * size);
			c->names = repalloc(c->names, sizeof(char *) * size);
			c->values = repalloc(c->values, sizeof(bytea *) * size);
		}
		c->rows[c->n] = r;
		c->names[c->n] = TextDatumGetCString(slot_getattr(slot, 3, &isnull));
		v = slot_getattr(slot, 4, &isnull);
		c->values[c->n] = isnull ? NULL : DatumGetByteaPCopy(v);
		bytes += isnull ? 0 : VARSIZE(c->values[c->n]);
		c->n++;
		full = c->n >= HCL_ARCHIVE_AHEAD || bytes >= HCL_ARCHIVE_AHEAD_BYTES;
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	UnregisterSnapshot(snap);
	index_close(irel, AccessShareLock);
	table_close(rel, AccessShareLock);
	MemoryContextSwitchTo(old);
}

bytea *
hcl_archived_value(HclLedger *ledger, const char *name, int64 row, bool *found)
{
	HclArchiveCache *c = ledger->archive;
	int			lo,
				hi;

	if (c == NULL)
	{
		c = ledger->archive = MemoryContextAllocZero(GetMemoryChunkContext(ledger),
													 sizeof(HclArchiveCache));
		c->cxt = AllocSetContextCreate(GetMemoryChunkContext(ledger), "hcledger archived values",
									   ALLOCSET_DEFAULT_SIZES);
		c->lo = 1;
		c->hi = 0;
	}
	if (row < c->lo || row > c->hi)
		hcl_archive_fill(ledger, row);
	/* the first entry of the row, then its columns */
	lo = 0;
	hi = c->n;
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (c->rows[mid] < row)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < c->n && c->rows[lo] == row; lo++)
	{
		if (strcmp(c->names[lo], name) == 0)
		{
			*found = true;
			return c->values[lo];
		}
	}
	*found = false;
	return NULL;
}

int64
hcl_column_set_from(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	HclAsCatalog save;
	bool		isnull;
	Datum		d;
	int64		from = 0;

	if (!OidIsValid(get_relname_relid("ledger_columns", get_namespace_oid("hcledger", false))))
		return 0;				/* a catalog not yet updated: one set */
	hcl_as_catalog_begin(&save);
	if (SPI_execute_with_args("SELECT max(v.from_row) FROM hcledger.ledger_columns v"
							  "  JOIN hcledger.ledgers l ON l.ledger_id = v.ledger_id"
							  " WHERE l.relid = $1 AND l.dropped_at IS NULL",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "hcledger: could not read the ledger catalog");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		from = DatumGetInt64(d);
	hcl_as_catalog_end(&save);
	return from;
}

/*
 * The ledger id of relid if it is an active ledger whose DDL this
 * transaction unlocked, else 0 (the DDL guard at the command's end refuses
 * what the command then does to it).  SPI connected.
 */
static int32
hcl_unlocked_ledger(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	bool		isnull;

	if (SPI_execute_with_args("SELECT l.ledger_id FROM hcledger.ledgers l"
							  " WHERE l.relid = $1 AND l.dropped_at IS NULL"
							  "   AND EXISTS (SELECT FROM hcledger.ledger_events e"
							  "                WHERE e.ledger_id = l.ledger_id AND e.event = 'ddl_unlocked'"
							  "                  AND e.xact = pg_current_xact_id())",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "hcledger: could not read the ledger catalog");
	if (SPI_processed == 0)
		return 0;
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

typedef struct HclArchiveBatch
{
	int32		ledger_id;
	const char *name;			/* as encoded */
	int			n;
	Size		bytes;
	Datum		rows[HCL_ARCHIVE_BATCH];
	Datum		values[HCL_ARCHIVE_BATCH];
	bool		nulls[HCL_ARCHIVE_BATCH];
	int64		archived;
} HclArchiveBatch;

static void
hcl_archive_flush(HclArchiveBatch *b)
{
	static const char *sql =
		"INSERT INTO hcledger.dropped_values (ledger_id, hcl_row, name, value)"
		" SELECT $1, u.r, $2, u.v FROM unnest($3::int8[], $4::bytea[]) AS u(r, v)";
	Oid			argtypes[4] = {INT4OID, TEXTOID, INT8ARRAYOID, BYTEAARRAYOID};
	Datum		args[4];
	int			dims[1] = {b->n};
	int			lbs[1] = {1};
	int			i;

	if (b->n == 0)
		return;
	args[0] = Int32GetDatum(b->ledger_id);
	args[1] = CStringGetTextDatum(b->name);
	args[2] = PointerGetDatum(construct_array(b->rows, b->n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[3] = PointerGetDatum(construct_md_array(b->values, b->nulls, 1, dims, lbs,
												 BYTEAOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_with_args(sql, 4, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "hcledger: could not archive the values of a dropped column");
	pfree(DatumGetPointer(args[2]));
	pfree(DatumGetPointer(args[3]));
	SPI_freetuptable(SPI_tuptable);
	for (i = 0; i < b->n; i++)
		if (!b->nulls[i])
			pfree(DatumGetPointer(b->values[i]));
	b->archived += b->n;
	b->n = 0;
	b->bytes = 0;
}

static void hcl_archive_sets(HclLedger *ledger, int32 ledger_id, const char *column,
							 Relation rel, Relation irel, Snapshot snap);

/*
 * Archive the values the table column "column" holds in the rows of each
 * column set that hashes it, and mark them archived (sources NULL).
 */
static void
hcl_archive_column(Oid relid, int32 ledger_id, const char *column)
{
	HclLedger  *ledger;
	Relation	rel;
	Relation	irel;
	Snapshot	snap;
	Oid			argtypes[2] = {INT4OID, TEXTOID};
	Datum		args[2];
	int			client;

	/*
	 * The ledger's catalog row first (as the sealer takes it, so neither
	 * waits on the other in turn), then the table, before ALTER TABLE
	 * would: no row may be added between the archiving and the change.
	 */
	ledger = hcl_ledger_load(relid, HCL_LOAD_LOCK);
	LockRelationOid(relid, AccessExclusiveLock);
	rel = table_open(relid, NoLock);
	hcl_ledger_resolve(ledger, rel);
	irel = index_open(hcl_ledger_row_index(ledger, rel), AccessShareLock);
	snap = RegisterSnapshot(GetLatestSnapshot());

	/* as hcl_encode_row: text-like send functions convert to the client encoding */
	client = pg_get_client_encoding();
	if (client != GetDatabaseEncoding())
		SetClientEncoding(GetDatabaseEncoding());
	PG_TRY();
	{
		hcl_archive_sets(ledger, ledger_id, column, rel, irel, snap);
	}
	PG_FINALLY();
	{
		if (client != GetDatabaseEncoding())
			SetClientEncoding(client);
	}
	PG_END_TRY();
	UnregisterSnapshot(snap);
	index_close(irel, AccessShareLock);
	table_close(rel, NoLock);

	args[0] = Int32GetDatum(ledger_id);
	args[1] = CStringGetTextDatum(column);
	if (SPI_execute_with_args("UPDATE hcledger.ledger_columns SET sources = array_replace(sources, $2, NULL)"
							  " WHERE ledger_id = $1 AND $2 = ANY (sources)",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "hcledger: could not update the column sets of ledger %d", ledger_id);
}

/* Archive the column's values in the rows of each set that hashes it. */
static void
hcl_archive_sets(HclLedger *ledger, int32 ledger_id, const char *column, Relation rel,
				 Relation irel, Snapshot snap)
{
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	StringInfoData buf;
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "hcledger archiving",
												 ALLOCSET_DEFAULT_SIZES);
	int			s,
				i;

	initStringInfo(&buf);
	for (s = 0; s < ledger->nsets; s++)
	{
		HclColumnSet *set = &ledger->sets[s];
		HclColumn  *col = NULL;
		HclArchiveBatch *b;
		IndexScanDesc scan;
		ScanKeyData keys[2];
		int			nkeys = 0;

		for (i = 0; i < set->ncolumns; i++)
			if (set->columns[i].source != NULL && strcmp(set->columns[i].source, column) == 0)
				col = &set->columns[i];
		if (col == NULL)
			continue;
		b = palloc0(sizeof(HclArchiveBatch));
		b->ledger_id = ledger_id;
		b->name = col->name;
		if (s > 0)
			ScanKeyInit(&keys[nkeys++], 1, BTGreaterEqualStrategyNumber, F_INT8GE,
						Int64GetDatum(set->from_row));
		if (s + 1 < ledger->nsets)
			ScanKeyInit(&keys[nkeys++], 1, BTLessStrategyNumber, F_INT8LT,
						Int64GetDatum(ledger->sets[s + 1].from_row));
		scan = index_beginscan(rel, irel, snap, nkeys, 0);
		index_rescan(scan, keys, nkeys, NULL, 0);
		while (index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			bool		isnull;
			int64		row = DatumGetInt64(slot_getattr(slot, ledger->row_attnum, &isnull));
			Datum		d = slot_getattr(slot, col->attnum, &isnull);
			MemoryContext old = MemoryContextSwitchTo(rowcxt);

			resetStringInfo(&buf);
			hcl_encode_value(ledger, col, d, isnull, &buf);
			MemoryContextSwitchTo(old);
			b->rows[b->n] = Int64GetDatum(row);
			b->nulls[b->n] = buf.data[0] == 0x00;
			if (!b->nulls[b->n])
			{
				/* the value's send form: after the presence byte and length */
				b->values[b->n] = PointerGetDatum(hcl_bytea_of(buf.data + 5, buf.len - 5));
				b->bytes += buf.len;
			}
			b->n++;
			MemoryContextReset(rowcxt);
			if (b->n == HCL_ARCHIVE_BATCH || b->bytes >= HCL_ARCHIVE_BATCH_BYTES)
				hcl_archive_flush(b);
			CHECK_FOR_INTERRUPTS();
		}
		hcl_archive_flush(b);
		index_endscan(scan);
		ereport(DEBUG1,
				(errmsg("hcledger: archived %lld values of column \"%s\" of ledger \"%s\"",
						(long long) b->archived, column, ledger->relname)));
		pfree(b);
	}
	MemoryContextDelete(rowcxt);
	ExecDropSingleTupleTableSlot(slot);
}

/* Before a column is renamed, the column sets hashing it follow the new name. */
static void
hcl_rename_source(int32 ledger_id, const char *from, const char *to)
{
	Oid			argtypes[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		args[3] = {Int32GetDatum(ledger_id), CStringGetTextDatum(from),
	CStringGetTextDatum(to)};

	if (SPI_execute_with_args("UPDATE hcledger.ledger_columns SET sources = array_replace(sources, $2, $3)"
							  " WHERE ledger_id = $1 AND $2 = ANY (sources)",
							  3, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "hcledger: could not update the column sets of ledger %d", ledger_id);
}

/*
 * An ALTER TABLE about to run.  The table is named as the command will
 * name it, with its author's search_path; another table that may stand
 * under that name by the time the command locks it is caught by the DDL
 * guard at its end (a hashed column lost without its values archived).
 */
void
hcl_columns_ddl_start(Node *parsetree)
{
	RangeVar   *rv = NULL;
	List	   *archive = NIL;
	const char *rename_from = NULL;
	const char *rename_to = NULL;
	Oid			relid;
	int32		ledger_id;
	HclAsCatalog save;
	ListCell   *lc;

	if (IsA(parsetree, AlterTableStmt))
	{
		AlterTableStmt *stmt = (AlterTableStmt *) parsetree;

		if (stmt->objtype != OBJECT_TABLE)
			return;
		rv = stmt->relation;
		foreach(lc, stmt->cmds)
		{
			AlterTableCmd *cmd = lfirst(lc);

			/* the commands that drop a column's values or rewrite them */
			if (cmd->subtype == AT_DropColumn || cmd->subtype == AT_AlterColumnType
#if PG_VERSION_NUM >= 170000
				|| cmd->subtype == AT_SetExpression
#endif
				)
				archive = lappend(archive, cmd->name);
		}
		if (archive == NIL)
			return;
	}
	else if (IsA(parsetree, RenameStmt))
	{
		RenameStmt *stmt = (RenameStmt *) parsetree;

		if (stmt->renameType != OBJECT_COLUMN || stmt->relationType != OBJECT_TABLE)
			return;
		rv = stmt->relation;
		rename_from = stmt->subname;
		rename_to = stmt->newname;
	}
	else
		return;

	relid = RangeVarGetRelid(rv, NoLock, true);
	if (!OidIsValid(relid))
		return;					/* the command itself reports it */
	hcl_as_catalog_begin(&save);
	ledger_id = hcl_unlocked_ledger(relid);
	if (ledger_id != 0)
	{
		if (rename_from != NULL)
			hcl_rename_source(ledger_id, rename_from, rename_to);
		foreach(lc, archive)
		{
			const char *column = lfirst(lc);

			if (strcmp(column, HCL_ROW_COLUMN) != 0)
				hcl_archive_column(relid, ledger_id, column);
		}
	}
	hcl_as_catalog_end(&save);
}
