/*
 * seal.c
 *		The sealer: appends a ledger's committed rows to its Merkle log, in
 *		row-number order and without gaps in log positions, and records a
 *		checkpoint.
 *
 * Writers take no lock and do no hashing: each row gets a row number from
 * an identity column.  The sealer walks the row-number index forward from
 * the last sealed row, seeing every tuple whatever its visibility
 * (SnapshotAny):
 *
 * - a tuple whose inserter committed is encoded, hashed and appended;
 * - one whose inserter aborted is skipped;
 * - one whose inserter is still running ends the round (it is sealed in a
 *   later one);
 * - a row number with no tuple at all (a failed or skipped insert, or one
 *   about to happen) ends the round until every transaction that could
 *   still insert it has ended.  Inserting transactions get their XID before
 *   they draw a row number (the assign_xid trigger), so once no transaction
 *   older than the XID horizon noted when the gap was first seen is running,
 *   the gap is final, provided a fresh look at the index, taken after that
 *   check, still finds no entry for it (the walk's own look came before).
 *
 * One sealer at a time per ledger: the ledger's catalog row is locked for
 * the round.  Writers never touch it.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/subtrans.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/base64.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/procarray.h"
#if PG_VERSION_NUM < 170000
#include "storage/sinvaladt.h"
#endif
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "hash256.h"
#include "ledger.h"
#include "signing.h"


/* The last (partial) tile of one level, being filled. */
typedef struct HclTile
{
	int64		index;
	int			width;
	bool		dirty;
	hcl_hash	hashes[HCL_TILE_WIDTH];
	int64		rows[HCL_TILE_WIDTH];
} HclTile;

typedef struct HclSealer
{
	HclLedger  *ledger;
	HclTile		tiles[HCL_MAX_LEVELS];
	SPIPlanPtr	upsert;
	int64		appended;
	StringInfoData entries;		/* row number and leaf of each leaf since the
								 * last checkpoint (docs/format.md) */
	int64		signed_size;	/* the last signed checkpoint's size (signed.c) */
	bool		continues;		/* the log being extended is the one signed last */
	List	   *unsigned_sizes;	/* checkpoints of this round stored below
								 * signed_size, to sign once the log is shown
								 * to extend what was signed (their bodies in
								 * unsigned_bodies) */
	List	   *unsigned_bodies;
	int64		last_entry_row; /* the row number at the log's last position */
	int64		first_row;		/* at its first position (-1: not read yet) */
} HclSealer;

/* A checkpoint is stored at least every this many leaves. */
#define HCL_CHECKPOINT_MAX_LEAVES	65536

typedef enum
{
	HCL_XMIN_COMMITTED,
	HCL_XMIN_ABORTED,
	HCL_XMIN_RUNNING
} HclXminStatus;

static HclXminStatus
hcl_xmin_status(HeapTupleHeader htup)
{
	TransactionId xmin = HeapTupleHeaderGetRawXmin(htup);

	if (HeapTupleHeaderXminFrozen(htup) || HeapTupleHeaderXminCommitted(htup))
		return HCL_XMIN_COMMITTED;
	if (HeapTupleHeaderXminInvalid(htup))
		return HCL_XMIN_ABORTED;
	if (TransactionIdIsCurrentTransactionId(xmin) || TransactionIdIsInProgress(xmin))
		return HCL_XMIN_RUNNING;
	return TransactionIdDidCommit(xmin) ? HCL_XMIN_COMMITTED : HCL_XMIN_ABORTED;
}

/* Load the stored partial tile of each level, so appending continues it. */
static void
hcl_load_tiles(HclSealer *s)
{
	HclLedger  *l = s->ledger;
	int			level;

	for (level = 0; level < HCL_MAX_LEVELS; level++)
	{
		HclTile    *t = &s->tiles[level];
		uint64		entries = (uint64) l->tree_size >> (HCL_TILE_HEIGHT * level);

		t->index = (int64) (entries / HCL_TILE_WIDTH);
		t->width = (int) (entries % HCL_TILE_WIDTH);
		t->dirty = false;
		if (t->width > 0)
		{
			bytea	   *hashes = NULL;
			bytea	   *rows = NULL;

			/* a fresh snapshot: the previous sealer may have committed while we waited */
			if (!hcl_read_tile(l, level, t->index, true, &hashes, &rows) ||
				VARSIZE_ANY_EXHDR(hashes) != (Size) t->width * HCL_HASH_LEN ||
				(level == 0 && (rows == NULL ||
								VARSIZE_ANY_EXHDR(rows) != (Size) t->width * 8)))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("the Merkle log of ledger \"%s\" is damaged: tile %lld of level %d is missing or has the wrong size",
								l->relname, (long long) t->index, level),
						 errhint("Run hcledger.verify_ledger() to locate the damage.")));
			memcpy(t->hashes, VARDATA_ANY(hashes), (Size) t->width * HCL_HASH_LEN);
			if (level == 0)
			{
				int			i;

				for (i = 0; i < t->width; i++)
				{
					uint64		be;

					memcpy(&be, VARDATA_ANY(rows) + 8 * i, 8);
					t->rows[i] = (int64) pg_ntoh64(be);
				}
			}
		}
	}
}

static void
hcl_flush_tile(HclSealer *s, int level)
{
	HclTile    *t = &s->tiles[level];
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	if (!t->dirty || t->width == 0)
		return;
	args[0] = Int32GetDatum(s->ledger->ledger_id);
	args[1] = Int32GetDatum(level);
	args[2] = Int64GetDatum(t->index);
	args[3] = PointerGetDatum(hcl_bytea_of(t->hashes, (Size) t->width * HCL_HASH_LEN));
	if (level == 0)
	{
		uint64		be[HCL_TILE_WIDTH];
		int			i;

		for (i = 0; i < t->width; i++)
			be[i] = pg_hton64((uint64) t->rows[i]);
		args[4] = PointerGetDatum(hcl_bytea_of(be, (Size) t->width * 8));
	}
	else
	{
		args[4] = (Datum) 0;
		nulls[4] = 'n';
	}
	if (SPI_execute_plan(s->upsert, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "hcledger: could not store a tile");
	pfree(DatumGetPointer(args[3]));
	if (level == 0)
		pfree(DatumGetPointer(args[4]));
	t->dirty = false;
}

/* Write every level's tile that changed. */
static void
hcl_flush_tiles(HclSealer *s)
{
	for (int level = 0; level < HCL_MAX_LEVELS; level++)
		hcl_flush_tile(s, level);
}

/* Add one hash to a level's tile, flushing the tile when it is full. */
static void
hcl_tile_append(HclSealer *s, int level, const hcl_hash h, int64 row)
{
	HclTile    *t = &s->tiles[level];

	memcpy(t->hashes[t->width], h, HCL_HASH_LEN);
	t->rows[t->width] = row;
	t->width++;
	t->dirty = true;
	if (t->width == HCL_TILE_WIDTH)
	{
		hcl_flush_tile(s, level);
		t->index++;
		t->width = 0;
	}
}

/* The row number stored at a log position (the sealer's own tiles are flushed). */
static int64
hcl_stored_row_at(HclLedger *l, int64 pos)
{
	bytea	   *hashes;
	bytea	   *rows;
	int64		i = pos % HCL_TILE_WIDTH;
	uint64		be;

	if (!hcl_read_tile(l, 0, pos / HCL_TILE_WIDTH, true, &hashes, &rows) ||
		rows == NULL || VARSIZE_ANY_EXHDR(rows) < (Size) (i + 1) * 8)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the Merkle log of ledger \"%s\" is damaged at position %lld",
						l->relname, (long long) pos),
				 errhint("Run hcledger.verify_ledger() to locate the damage.")));
	memcpy(&be, VARDATA_ANY(rows) + 8 * i, 8);
	return (int64) pg_ntoh64(be);
}

/*
 * A row appended after a row numbered the same or higher (a late row: its
 * transaction was open when later rows were sealed) starts a new run of
 * the log, a stretch of positions whose row numbers increase
 * (hcledger.log_runs, docs/format.md "Sealing order"), so that a row's
 * position can still be found by binary search.  A log never broken has no
 * log_runs rows: it is one run.
 */
static void
hcl_note_run(HclSealer *s, int64 row)
{
	HclLedger  *l = s->ledger;
	Oid			argtypes[4] = {INT4OID, INT8OID, INT8OID, INT8OID};
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', 'n'};

	args[0] = Int32GetDatum(l->ledger_id);
	if (SPI_execute_with_args("SELECT FROM hcledger.log_runs WHERE ledger_id = $1 LIMIT 1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "hcledger: could not read the log's runs");
	if (SPI_processed == 0)
	{
		/* the first run, implicit until now */
		if (s->first_row < 0)
			s->first_row = hcl_stored_row_at(l, 0);
		args[1] = Int64GetDatum(0);
		args[2] = Int64GetDatum(s->first_row);
		args[3] = Int64GetDatum(s->last_entry_row);
		if (SPI_execute_with_args("INSERT INTO hcledger.log_runs (ledger_id, start_position, first_row, last_row)"
								  " VALUES ($1, $2, $3, $4)",
								  4, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "hcledger: could not record a run of the log");
	}
	else
	{
		args[1] = Int64GetDatum(s->last_entry_row);
		if (SPI_execute_with_args("UPDATE hcledger.log_runs SET last_row = $2"
								  " WHERE ledger_id = $1 AND last_row IS NULL",
								  2, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE ||
			SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the runs of the Merkle log of ledger \"%s\" (hcledger.log_runs) are damaged",
							l->relname),
					 errhint("Run hcledger.verify_ledger() to locate the damage.")));
	}
	args[1] = Int64GetDatum(l->tree_size);
	args[2] = Int64GetDatum(row);
	if (SPI_execute_with_args("INSERT INTO hcledger.log_runs (ledger_id, start_position, first_row, last_row)"
							  " VALUES ($1, $2, $3, $4)",
							  4, argtypes, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "hcledger: could not record a run of the log");
}

/* Append one leaf: to the tree, to level 0, and completed subtrees above. */
static void
hcl_append_leaf(HclSealer *s, const hcl_hash leaf, int64 row)
{
	hcl_hash	completed[HCL_MAX_PROOF];
	int			n;
	int			level;
	uint64		be;

	if (s->ledger->tree_size == 0)
		s->first_row = row;
	else if (row <= s->last_entry_row)
		hcl_note_run(s, row);
	if (!hcl_acc_push_tracked(&s->ledger->frontier, leaf, completed, &n))
		hcl_crypto_failed("SHA-256");
	hcl_tile_append(s, 0, leaf, row);
	be = pg_hton64((uint64) row);
	appendBinaryStringInfo(&s->entries, (const char *) &be, 8);
	appendBinaryStringInfo(&s->entries, (const char *) leaf, HCL_HASH_LEN);
	for (level = 1; level < HCL_MAX_LEVELS && n > HCL_TILE_HEIGHT * level; level++)
		hcl_tile_append(s, level, completed[HCL_TILE_HEIGHT * level], 0);
	s->ledger->tree_size++;
	s->ledger->last_row = Max(s->ledger->last_row, row);
	s->last_entry_row = row;
	s->appended++;
}

/*
 * The top-level XID of a transaction holding a lock, given its virtual
 * transaction id (InvalidTransactionId if it has none, or has ended: a
 * transaction its backend began since came after the caller's horizon).
 * A prepared transaction is left out: it cannot insert any more, so every
 * number it drew already has its tuple.
 */
static TransactionId
hcl_vxid_xid(VirtualTransactionId vxid)
{
	TransactionId xid = InvalidTransactionId;
	TransactionId xmin;

#if PG_VERSION_NUM >= 170000
	int			nsubxid;
	bool		overflowed;

	if (vxid.procNumber == INVALID_PROC_NUMBER)
		return InvalidTransactionId;
	ProcNumberGetTransactionIds(vxid.procNumber, &xid, &xmin, &nsubxid, &overflowed);
#elif PG_VERSION_NUM >= 160000
	int			nsubxid;
	bool		overflowed;

	if (vxid.backendId == InvalidBackendId)
		return InvalidTransactionId;
	BackendIdGetTransactionIds(vxid.backendId, &xid, &xmin, &nsubxid, &overflowed);
#else
	if (vxid.backendId == InvalidBackendId)
		return InvalidTransactionId;
	BackendIdGetTransactionIds(vxid.backendId, &xid, &xmin);
#endif
	return xid;
}

/*
 * The top-level XIDs of the other transactions now holding a lock on the
 * ledger table that an insert takes (RowExclusiveLock) or a stronger one.
 * Only they can still insert a row number drawn before: a number is drawn
 * by the statement inserting it (hcl_row_drawn refuses any other), which
 * holds that lock from before the draw until its transaction ends, and
 * whose transaction has its XID before the draw (the assign_xid trigger).
 */
static int
hcl_table_writers(Oid relid, TransactionId **xids)
{
	LOCKTAG		tag;
	VirtualTransactionId *vxids;
	int			n;
	int			count = 0;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	vxids = GetLockConflicts(&tag, ShareLock, &n);
	*xids = palloc(sizeof(TransactionId) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		TransactionId xid = hcl_vxid_xid(vxids[i]);

		if (TransactionIdIsNormal(xid))
			(*xids)[count++] = xid;
	}
	pfree(vxids);
	return count;
}

static void hcl_store_checkpoint(HclSealer *s);

/* What one round of the sealer found of one row number's tuples. */
typedef enum
{
	HCL_ROW_NONE,				/* nothing yet */
	HCL_ROW_ABORTED,			/* only tuples whose inserter aborted */
	HCL_ROW_WITHDRAWN,			/* and one an INSERT ... ON CONFLICT withdrew */
	HCL_ROW_RUNNING,			/* a tuple whose inserter is still open */
	HCL_ROW_SEALED				/* a committed tuple, appended */
} HclRowState;

/* One sealing round over a ledger's rows. */
typedef struct HclRound
{
	HclSealer  *s;
	Relation	rel;
	Relation	irel;
	TupleTableSlot *slot;
	MemoryContext rowcxt;
	StringInfoData buf;
	HclPending *pending;		/* what stays pending after the round */
	int			npending;
	int			maxpending;
	int64		row;			/* the row number being read (-1: none) */
	HclRowState state;
	TransactionId xid;			/* its open inserter's top-level XID */
	int			carried;		/* pending gaps of earlier rounds, kept aside */
	int64		old_gap_row;	/* with a catalog before 0.3.0: the gap the */
	TransactionId old_gap_horizon;	/* walk stopped at, and its horizon */
} HclRound;

static void
hcl_pend(HclRound *r, int64 from, int64 to, bool gap, TransactionId xid)
{
	HclPending *last = r->npending > 0 ? &r->pending[r->npending - 1] : NULL;

	/* the next row of the same open transaction extends its run */
	if (!gap && last != NULL && !last->gap && last->xid == xid && last->to + 1 == from)
	{
		last->to = to;
		return;
	}
	/* a gap next to a gap: one, waiting for the later horizon (the safe one) */
	if (gap && last != NULL && last->gap && last->to + 1 == from)
	{
		last->to = to;
		if (TransactionIdPrecedes(last->xid, xid))
			last->xid = xid;
		return;
	}
	if (r->npending == r->maxpending)
	{
		r->maxpending *= 2;
		r->pending = repalloc(r->pending, sizeof(HclPending) * r->maxpending);
	}
	r->pending[r->npending].from = from;
	r->pending[r->npending].to = to;
	r->pending[r->npending].gap = gap;
	r->pending[r->npending].xid = xid;
	r->pending[r->npending].foreign = false;
	r->npending++;
}

/*
 * The row number being read has no more tuples: keep it pending if its
 * transaction is open.  Going forward, a number whose row an INSERT ... ON
 * CONFLICT withdrew is a gap: the statement that drew it may insert it
 * again under the same number, once a conflicting insert it waits for
 * ends.  (A row whose transaction aborted is settled: that statement is
 * over, and no other may take its number.)
 */
static void
hcl_row_done(HclRound *r, bool forward)
{
	if (r->row >= 0 && r->state == HCL_ROW_RUNNING)
		hcl_pend(r, r->row, r->row, false, r->xid);
	else if (r->row >= 0 && r->state == HCL_ROW_WITHDRAWN && forward)
		hcl_pend(r, r->row, r->row, true, ReadNextTransactionId());
	r->row = -1;
}

/* One tuple of row number row, in index order. */
static void
hcl_row_tuple(HclRound *r, int64 row)
{
	HclSealer  *s = r->s;
	HclLedger  *l = s->ledger;
	bool		should_free;
	HeapTuple	tup;
	TransactionId xmin;
	hcl_hash	leaf;
	MemoryContext old;

	if (row != r->row)
	{
		hcl_row_done(r, false);
		r->row = row;
		r->state = HCL_ROW_NONE;
	}
	if (r->state == HCL_ROW_SEALED)
		return;					/* another version of a row number sealed */
	tup = ExecFetchSlotHeapTuple(r->slot, false, &should_free);
	switch (hcl_xmin_status(tup->t_data))
	{
		case HCL_XMIN_ABORTED:
			/* a withdrawn speculative insert has no inserter any more (xmin 0) */
			if (!TransactionIdIsValid(HeapTupleHeaderGetRawXmin(tup->t_data)))
				r->state = HCL_ROW_WITHDRAWN;
			else if (r->state == HCL_ROW_NONE)
				r->state = HCL_ROW_ABORTED;
			return;
		case HCL_XMIN_RUNNING:
			xmin = HeapTupleHeaderGetRawXmin(tup->t_data);
			/* a savepoint's rows go with their transaction */
			r->xid = TransactionIdFollowsOrEquals(xmin, TransactionXmin) ?
				SubTransGetTopmostTransaction(xmin) : xmin;
			r->state = HCL_ROW_RUNNING;
			return;
		case HCL_XMIN_COMMITTED:
			break;
	}
	old = MemoryContextSwitchTo(r->rowcxt);
	slot_getallattrs(r->slot);
	(void) hcl_row_leaf_hash(l, row, r->slot->tts_values, r->slot->tts_isnull, &r->buf, leaf);
	MemoryContextSwitchTo(old);
	MemoryContextReset(r->rowcxt);
	hcl_append_leaf(s, leaf, row);
	r->state = HCL_ROW_SEALED;
	/*
	 * A checkpoint at most every 65,536 leaves (one below the last size
	 * signed, after a restore or a crash at commit, is signed only once the
	 * log reaches that size and is shown to extend it).
	 */
	if (s->entries.len >= HCL_CHECKPOINT_MAX_LEAVES * HCL_LOG_ENTRY_LEN)
		hcl_store_checkpoint(s);
	CHECK_FOR_INTERRUPTS();
}

/*
 * With a catalog not yet updated to 0.3.0 (no passed_row, pending), nothing
 * can be kept pending: the walk stops at a row whose transaction is open
 * (a row just left pending is taken back) and at a gap not yet final, as
 * the sealer did before, and the next round starts again from the last row
 * sealed.
 */
static bool hcl_gap_passable_now(HclRound *r, int64 from, int64 to);

static bool
hcl_may_pass(HclRound *r)
{
	HclLedger  *l = r->s->ledger;
	HclPending	p;

	if (l->can_pend || r->npending == 0)
		return true;
	p = r->pending[0];
	r->npending = 0;
	if (p.gap)
		return hcl_gap_passable_now(r, p.from, p.to);
	l->blocked_by = p.xid;
	return false;
}

static bool
hcl_gap_final(TransactionId horizon, TransactionId *writers, int nwriters)
{
	for (int w = 0; w < nwriters; w++)
	{
		if (TransactionIdPrecedes(writers[w], horizon))
			return false;
	}
	return true;
}

/* Is there a tuple numbered from..to that committed or may yet?  A fresh look. */
static bool
hcl_any_tuple(HclRound *r, int64 from, int64 to)
{
	IndexScanDesc scan = index_beginscan(r->rel, r->irel, SnapshotAny, 2, 0);
	TupleTableSlot *slot = table_slot_create(r->rel, NULL);
	bool		found = false;

	hcl_rescan_rows(scan, from, to);
	while (!found && index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		should_free;
		HeapTuple	tup = ExecFetchSlotHeapTuple(slot, false, &should_free);

		/* an aborted tuple never counts: it cannot commit */
		found = hcl_xmin_status(tup->t_data) != HCL_XMIN_ABORTED;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return found;
}

/*
 * Has every transaction other than ours whose XID precedes horizon ended,
 * in any database?  (Ours is the one sealing, and refuses to seal a
 * ledger it has written to.)  A snapshot lists the running XIDs below its
 * xmax; those from xmax up to the next one to be assigned are all still
 * running, so only ours may be among them.
 */
static bool
hcl_none_running_before(TransactionId horizon)
{
	Snapshot	snap = GetLatestSnapshot();
	TransactionId x;
	int			n = 0;

	for (uint32 i = 0; i < snap->xcnt; i++)
	{
		if (TransactionIdPrecedes(snap->xip[i], horizon))
			return false;
	}
	for (x = snap->xmax; TransactionIdPrecedes(x, horizon);)
	{
		if (!TransactionIdIsCurrentTransactionId(x) || ++n > 64)
			return false;
		TransactionIdAdvance(x);
	}
	return true;
}

/*
 * A gap met with a catalog that cannot keep it pending: may the walk pass
 * it now?  Its ledger may predate the check that a row's number was drawn
 * by its own statement (hcl_row_drawn, 0.3.0), so as before: once no
 * transaction older than the gap, in any database, is running.
 */
static bool
hcl_gap_passable_now(HclRound *r, int64 from, int64 to)
{
	HclLedger  *l = r->s->ledger;
	bool		final;

	if (r->old_gap_row != from)
	{
		r->old_gap_row = from;
		r->old_gap_horizon = ReadNextTransactionId();
	}
	final = hcl_none_running_before(r->old_gap_horizon) && !hcl_any_tuple(r, from, to);
	if (!final)
	{
		l->gap_row = from;
		l->gap_horizon = r->old_gap_horizon;
	}
	return final;
}

/*
 * Read the tuples of row numbers from..to (SnapshotAny), appending what is
 * committed.  Going forward (past the rows passed so far), a number with no
 * tuple becomes a pending gap, and the walk stops before a new number once
 * HCL_MAX_PENDING runs are pending; passed_row follows it.  Rereading a
 * pending run, a number without a tuple is settled: its run was final.
 */
static void
hcl_read_rows(HclRound *r, int64 from, int64 to, bool forward)
{
	HclLedger  *l = r->s->ledger;
	IndexScanDesc scan = index_beginscan(r->rel, r->irel, SnapshotAny, 2, 0);
	int64		expect = from;

	hcl_rescan_rows(scan, from, to);
	while (index_getnext_slot(scan, ForwardScanDirection, r->slot))
	{
		bool		isnull;
		int64		row = DatumGetInt64(slot_getattr(r->slot, l->row_attnum, &isnull));

		if (isnull || row < from || row > to)
			continue;
		if (forward && row != r->row)
		{
			if (r->row >= 0)
			{
				int64		prev = r->row;

				hcl_row_done(r, true);
				if (!hcl_may_pass(r))
					break;
				l->passed_row = prev;
			}
			if (r->npending + r->carried >= HCL_MAX_PENDING)
				break;			/* too much pending: a later round goes on */
			if (row > expect)
			{
				hcl_pend(r, expect, row - 1, true, ReadNextTransactionId());
				if (!hcl_may_pass(r))
					break;
			}
			expect = row + 1;
		}
		hcl_row_tuple(r, row);
	}
	if (forward && r->row >= 0)
	{
		int64		prev = r->row;

		hcl_row_done(r, true);
		if (hcl_may_pass(r))
			l->passed_row = Max(l->passed_row, prev);
	}
	hcl_row_done(r, false);
	ExecClearTuple(r->slot);
	index_endscan(scan);
}

static int
hcl_pending_cmp(const void *a, const void *b)
{
	int64		fa = ((const HclPending *) a)->from;
	int64		fb = ((const HclPending *) b)->from;

	return fa < fb ? -1 : fa > fb ? 1 : 0;
}

/* For the status view: the oldest open transaction and the first gap pending. */
static void
hcl_pending_summary(HclLedger *l)
{
	if (!l->can_pend)
		return;					/* set as the walk stopped */
	l->blocked_by = InvalidTransactionId;
	l->gap_row = -1;
	l->gap_horizon = InvalidTransactionId;
	for (int i = l->npending - 1; i >= 0; i--)
	{
		if (l->pending[i].gap)
		{
			l->gap_row = l->pending[i].from;
			l->gap_horizon = l->pending[i].xid;
		}
		else
			l->blocked_by = l->pending[i].xid;
	}
}

/*
 * One round over a ledger's rows (docs/format.md, "Sealing order"):
 *
 * 1. each pending run of an open transaction that has since ended is read
 *    again, and its committed rows appended;
 * 2. the rows after those passed so far are read in row-number order: a
 *    committed row is appended, a row whose transaction is open becomes
 *    pending (its run), a number with no row yet a pending gap;
 * 3. a gap is settled once no transaction that can still fill it is
 *    running: none of those holding a lock on the table that an insert
 *    takes began before the gap was seen.  A fresh look at its numbers
 *    then appends any row that arrived in the meantime.
 *
 * So an open transaction delays its own rows only, and a gap nothing.
 */
static void
hcl_walk(HclSealer *s, Relation rel, int64 last_issued)
{
	HclLedger  *l = s->ledger;
	HclRound	r;
	HclPending *gaps;
	int			ngaps = 0;
	int			nkept;
	TransactionId *writers;
	int			nwriters;

	memset(&r, 0, sizeof(r));
	r.s = s;
	r.rel = rel;
	r.irel = index_open(hcl_ledger_row_index(l, rel), AccessShareLock);
	r.slot = table_slot_create(rel, NULL);
	r.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "hcledger seal row",
									 ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&r.buf);
	r.maxpending = Max(16, l->npending * 2);
	r.pending = palloc(sizeof(HclPending) * r.maxpending);
	r.row = -1;
	r.old_gap_row = l->gap_row;
	r.old_gap_horizon = l->gap_horizon;
	gaps = palloc(sizeof(HclPending) * Max(1, l->npending));
	l->blocked_by = InvalidTransactionId;
	l->gap_row = -1;
	l->gap_horizon = InvalidTransactionId;

	/*
	 * 1. runs of transactions open when passed (one of another cluster's,
	 * restored from a dump, has ended)
	 */
	for (int i = 0; i < l->npending; i++)
	{
		HclPending *p = &l->pending[i];

		if (p->gap)
			gaps[ngaps++] = *p;
		else if (!p->foreign && TransactionIdIsInProgress(p->xid))
			hcl_pend(&r, p->from, p->to, false, p->xid);
		else
			hcl_read_rows(&r, p->from, p->to, false);
	}
	/*
	 * 2. onwards (the gaps kept aside count towards the limit); row numbers
	 * the sequence has not issued are not the writers': left out
	 */
	r.carried = ngaps;
	if (last_issued > l->passed_row)
		hcl_read_rows(&r, l->passed_row + 1, last_issued, true);

	/* 3. gaps, the old ones and those just seen */
	nkept = r.npending;
	gaps = repalloc(gaps, sizeof(HclPending) * Max(1, ngaps + nkept));
	r.npending = 0;
	for (int i = 0; i < nkept; i++)
	{
		if (r.pending[i].gap)
			gaps[ngaps++] = r.pending[i];
		else
			r.pending[r.npending++] = r.pending[i];
	}
	nwriters = ngaps > 0 ? hcl_table_writers(l->relid, &writers) : 0;
	for (int i = 0; i < ngaps; i++)
	{
		if (gaps[i].foreign || hcl_gap_final(gaps[i].xid, writers, nwriters))
			hcl_read_rows(&r, gaps[i].from, gaps[i].to, false);
		else
			hcl_pend(&r, gaps[i].from, gaps[i].to, true, gaps[i].xid);
	}

	qsort(r.pending, r.npending, sizeof(HclPending), hcl_pending_cmp);
	l->pending = r.pending;
	l->npending = r.npending;
	hcl_pending_summary(l);
	ExecDropSingleTupleTableSlot(r.slot);
	index_close(r.irel, AccessShareLock);
	MemoryContextDelete(r.rowcxt);
}

/* The checkpoint body of docs/format.md. */
char *
hcl_checkpoint_body(const char *origin, int64 tree_size, const hcl_hash root,
					const hcl_hash prev, int64 unix_time, int64 last_row)
{
	char		root64[64];
	char		prev64[64];
	int			n1 = pg_b64_encode((const char *) root, HCL_HASH_LEN, root64, sizeof(root64) - 1);
	int			n2 = pg_b64_encode((const char *) prev, HCL_HASH_LEN, prev64, sizeof(prev64) - 1);

	if (n1 < 0 || n2 < 0)
		elog(ERROR, "hcledger: base64 encoding failed");
	root64[n1] = '\0';
	prev64[n2] = '\0';
	return psprintf("%s\n%lld\n%s\nhcledger-prev %s\nhcledger-time %lld\nhcledger-row %lld\n",
					origin, (long long) tree_size, root64, prev64,
					(long long) unix_time, (long long) last_row);
}

static void hcl_sign_deferred(HclSealer *s);

static void
hcl_store_checkpoint(HclSealer *s)
{
	HclLedger  *l = s->ledger;
	hcl_hash	root;
	hcl_hash	cp_hash;
	int64		unix_time = (int64) timestamptz_to_time_t(GetCurrentTimestamp());
	char	   *body;
	char	   *note;
	Oid			argtypes[10] = {INT4OID, INT8OID, BYTEAOID, INT8OID, INT8OID,
	BYTEAOID, TEXTOID, BYTEAOID, TEXTOID, BYTEAOID};
	Datum		args[10];
	char		nulls[10] = "          ";

	if (!hcl_acc_root(&l->frontier, root))
		hcl_crypto_failed("SHA-256");
	body = hcl_checkpoint_body(l->origin, l->tree_size, root, l->last_checkpoint,
							   unix_time, l->last_row);
	if (!hcl_sha256(body, strlen(body), cp_hash))
		hcl_crypto_failed("SHA-256");
	/*
	 * Never two histories: the new tree must extend what this node signed
	 * before.  Once the log this round extends is known to be the one
	 * signed last, each checkpoint of the round extends it by construction.
	 * Below the size signed last nothing can be shown yet: the checkpoint
	 * is stored unsigned, and signed once a later one of the round is
	 * shown to extend the signed log (it is a prefix of that log then); a
	 * round that never gets there aborts, taking it with it.
	 */
	if (!s->continues && l->tree_size < s->signed_size)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		int64	   *size = palloc(sizeof(int64));

		*size = l->tree_size;
		s->unsigned_sizes = lappend(s->unsigned_sizes, size);
		s->unsigned_bodies = lappend(s->unsigned_bodies, pstrdup(body));
		MemoryContextSwitchTo(old);
		note = NULL;
	}
	else
	{
		if (!s->continues)
		{
			/* the guard reads from the tiles what the entries no longer hold */
			hcl_flush_tiles(s);
			hcl_signed_guard(l, root, &s->entries);
			s->continues = true;
			hcl_sign_deferred(s);
		}
		note = hcl_sign_checkpoint(l->origin, body);
		if (note != NULL)
			hcl_signed_note(l, root);
	}
	args[0] = Int32GetDatum(l->ledger_id);
	args[1] = Int64GetDatum(l->tree_size);
	args[2] = PointerGetDatum(hcl_bytea_of(root, HCL_HASH_LEN));
	args[3] = Int64GetDatum(l->last_row);
	args[4] = Int64GetDatum(unix_time);
	args[5] = PointerGetDatum(hcl_bytea_of(l->last_checkpoint, HCL_HASH_LEN));
	args[6] = CStringGetTextDatum(body);
	args[7] = PointerGetDatum(hcl_bytea_of(cp_hash, HCL_HASH_LEN));
	args[8] = note ? CStringGetTextDatum(note) : (Datum) 0;
	nulls[8] = note ? ' ' : 'n';
	args[9] = PointerGetDatum(hcl_bytea_of(s->entries.data, s->entries.len));
	if (SPI_execute_with_args("INSERT INTO hcledger.checkpoints"
							  " (ledger_id, tree_size, root, last_row, sealed_at, prev_hash, body, checkpoint_hash, note, leaves)"
							  " VALUES ($1, $2, $3::hcledger.hash256, $4, to_timestamp($5),"
							  "         $6::hcledger.hash256, $7, $8::hcledger.hash256, $9, $10)",
							  10, argtypes, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "hcledger: could not store a checkpoint");
	memcpy(l->last_checkpoint, cp_hash, HCL_HASH_LEN);
	resetStringInfo(&s->entries);
}

/* Sign the checkpoints of this round stored below the size signed last. */
static void
hcl_sign_deferred(HclSealer *s)
{
	ListCell   *ls,
			   *lb;
	Oid			argtypes[3] = {INT4OID, INT8OID, TEXTOID};

	forboth(ls, s->unsigned_sizes, lb, s->unsigned_bodies)
	{
		char	   *note = hcl_sign_checkpoint(s->ledger->origin, lfirst(lb));
		Datum		args[3];

		if (note == NULL)
			continue;
		args[0] = Int32GetDatum(s->ledger->ledger_id);
		args[1] = Int64GetDatum(*(int64 *) lfirst(ls));
		args[2] = CStringGetTextDatum(note);
		if (SPI_execute_with_args("UPDATE hcledger.checkpoints SET note = $3 WHERE ledger_id = $1 AND tree_size = $2",
								  3, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "hcledger: could not sign a checkpoint");
	}
	s->unsigned_sizes = s->unsigned_bodies = NIL;
}

/*
 * A recent XID (one running, or a horizon just read) with its epoch: the
 * pending list stores full XIDs, so that a list restored into another
 * cluster, whose XIDs are behind, is seen to be foreign (ledger.c).
 */
static int64
hcl_full_xid(TransactionId xid)
{
	FullTransactionId next = ReadNextFullTransactionId();
	uint32		epoch = EpochFromFullTransactionId(next);

	if (xid > XidFromFullTransactionId(next) && epoch > 0)
		epoch--;
	return (int64) (((uint64) epoch << 32) | xid);
}

/* hcledger.ledgers.pending (ledger.c reads it back) */
static ArrayType *
hcl_pending_array(HclLedger *l)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(1, 4 * l->npending));

	for (int i = 0; i < l->npending; i++)
	{
		elems[4 * i] = Int64GetDatum(l->pending[i].gap ? HCL_PENDING_GAP : HCL_PENDING_ROWS);
		elems[4 * i + 1] = Int64GetDatum(l->pending[i].from);
		elems[4 * i + 2] = Int64GetDatum(l->pending[i].to);
		elems[4 * i + 3] = Int64GetDatum(hcl_full_xid(l->pending[i].xid));
	}
	return construct_array(elems, 4 * l->npending, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

static void
hcl_store_state(HclLedger *l)
{
	Oid			argtypes[10] = {INT4OID, INT8OID, INT8OID, BYTEAOID, BYTEAOID,
	INT8OID, INT8OID, INT8OID, INT8OID, INT8ARRAYOID};
	Datum		args[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

	args[0] = Int32GetDatum(l->ledger_id);
	args[1] = Int64GetDatum(l->tree_size);
	args[2] = Int64GetDatum(l->last_row);
	args[3] = PointerGetDatum(hcl_bytea_of(l->frontier.stack,
										   (Size) l->frontier.depth * HCL_HASH_LEN));
	args[4] = PointerGetDatum(hcl_bytea_of(l->last_checkpoint, HCL_HASH_LEN));
	args[5] = Int64GetDatum(l->gap_row);
	args[6] = Int64GetDatum((int64) l->gap_horizon);
	args[7] = Int64GetDatum((int64) l->blocked_by);
	args[8] = Int64GetDatum(l->passed_row);
	args[9] = PointerGetDatum(hcl_pending_array(l));
	if (l->gap_row < 0)
		nulls[5] = nulls[6] = 'n';
	if (!TransactionIdIsValid(l->blocked_by))
		nulls[7] = 'n';
	/* a catalog before its update to 0.3.0 has no passed_row, pending */
	if (SPI_execute_with_args(l->can_pend ?
							  "UPDATE hcledger.ledgers SET tree_size = $2, last_row = $3,"
							  " frontier = $4, last_checkpoint = $5::hcledger.hash256,"
							  " gap_row = $6, gap_horizon = $7, blocked_by = $8,"
							  " passed_row = $9, pending = $10,"
							  " last_sealed_at = now()"
							  " WHERE ledger_id = $1" :
							  "UPDATE hcledger.ledgers SET tree_size = $2, last_row = $3,"
							  " frontier = $4, last_checkpoint = $5::hcledger.hash256,"
							  " gap_row = $6, gap_horizon = $7, blocked_by = $8,"
							  " last_sealed_at = now()"
							  " WHERE ledger_id = $1",
							  l->can_pend ? 10 : 8, argtypes, args, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "hcledger: could not update the ledger catalog");
}

static bool
hcl_same_pending(HclLedger *a, HclLedger *b)
{
	if (a->npending != b->npending)
		return false;
	for (int i = 0; i < a->npending; i++)
	{
		HclPending *p = &a->pending[i];
		HclPending *q = &b->pending[i];

		if (p->from != q->from || p->to != q->to || p->gap != q->gap || p->xid != q->xid)
			return false;
	}
	return true;
}

/* Rows to append in a given order (a member's log restored from a peer). */
typedef struct HclListed
{
	int64		from_position;
	int64		last_issued;	/* the sequence's last value (hcl_seal sets it) */
	int64	   *rows;
	int			nrows;
} HclListed;

static void hcl_append_listed(HclSealer *s, Relation rel, HclListed *listed);

static int64 hcl_seal(Oid relid, bool wait, HclListed *listed);

int64
hcl_seal_ledger(Oid relid, bool wait)
{
	return hcl_seal(relid, wait, NULL);
}

static int64
hcl_seal(Oid relid, bool wait, HclListed *listed)
{
	HclSealer	s;
	HclLedger	was;
	Relation	rel;
	int64		last_issued;
	Oid			upsert_types[5] = {INT4OID, INT4OID, INT8OID, BYTEAOID, BYTEAOID};

	memset(&s, 0, sizeof(s));
	s.ledger = hcl_ledger_load(relid, wait ? HCL_LOAD_LOCK : HCL_LOAD_TRY_LOCK);
	if (s.ledger == NULL)
		return 0;				/* another sealer is at it */
	/*
	 * The worker never waits for a lock another session holds on a ledger
	 * (an owner's ALTER TABLE left open, VACUUM FULL, CLUSTER): it skips the
	 * ledger this round, so no one's lock holds up the other ledgers.
	 */
	if (!wait && !ConditionalLockRelationOid(relid, AccessShareLock))
	{
		ereport(LOG,
				(errmsg("hcledger skipped sealing ledger \"%s\" this round: another session holds a lock on it",
						s.ledger->relname)));
		return 0;
	}
	rel = table_open(relid, wait ? AccessShareLock : NoLock);
	if (listed == NULL && CheckRelationLockedByMe(rel, RowExclusiveLock, true))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot seal ledger \"%s\" in a transaction that writes to it",
						s.ledger->relname),
				 errhint("Seal after the transaction commits.")));
	hcl_ledger_resolve(s.ledger, rel);
	if (!wait && !ConditionalLockRelationOid(hcl_ledger_row_index(s.ledger, rel), AccessShareLock))
	{
		ereport(LOG,
				(errmsg("hcledger skipped sealing ledger \"%s\" this round: another session holds a lock on its row-number index",
						s.ledger->relname)));
		table_close(rel, NoLock);
		return 0;
	}
	last_issued = hcl_row_sequence_last(s.ledger, true);
	if (hcl_node_key_set())
	{
		hcl_hash	signed_root;
		hcl_hash	root_now;
		hcl_merkle_acc signed_range;

		if (!hcl_signed_last(s.ledger->origin, &s.signed_size, signed_root, &signed_range))
			s.signed_size = 0;
		/* nothing signed yet, or the log starts exactly where the last signature ended */
		s.continues = s.signed_size == 0 ||
			(s.signed_size == s.ledger->tree_size && hcl_acc_root(&s.ledger->frontier, root_now) &&
			 memcmp(root_now, signed_root, HCL_HASH_LEN) == 0);
	}
	hcl_load_tiles(&s);
	s.first_row = -1;
	if (s.ledger->tree_size > 0)
	{
		HclTile    *t0 = &s.tiles[0];

		s.last_entry_row = t0->width > 0 ? t0->rows[t0->width - 1] :
			hcl_stored_row_at(s.ledger, s.ledger->tree_size - 1);
	}
	initStringInfo(&s.entries);
	s.upsert = SPI_prepare("INSERT INTO hcledger.tiles (ledger_id, level, tile, hashes, row_numbers)"
						   " VALUES ($1, $2, $3, $4, $5)"
						   " ON CONFLICT (ledger_id, level, tile)"
						   " DO UPDATE SET hashes = EXCLUDED.hashes, row_numbers = EXCLUDED.row_numbers",
						   5, upsert_types);
	if (s.upsert == NULL)
		elog(ERROR, "hcledger: could not prepare the tile upsert");

	was = *s.ledger;
	if (listed != NULL)
	{
		listed->last_issued = last_issued;
		hcl_append_listed(&s, rel, listed);
	}
	else
		hcl_walk(&s, rel, last_issued);
	table_close(rel, AccessShareLock);

	hcl_flush_tiles(&s);
	/* a round that ends below the size signed last signs nothing (the guard says why) */
	if (!s.continues && s.ledger->tree_size < s.signed_size &&
		(s.entries.len > 0 || s.unsigned_sizes != NIL))
	{
		hcl_hash	root;

		if (!hcl_acc_root(&s.ledger->frontier, root))
			hcl_crypto_failed("SHA-256");
		hcl_signed_guard(s.ledger, root, &s.entries);
	}
	if (s.entries.len > 0)
		hcl_store_checkpoint(&s);
	/* write the catalog row only when something changed */
	if (s.appended > 0 || was.passed_row != s.ledger->passed_row ||
		!hcl_same_pending(&was, s.ledger) || was.blocked_by != s.ledger->blocked_by ||
		was.gap_row != s.ledger->gap_row || was.gap_horizon != s.ledger->gap_horizon)
		hcl_store_state(s.ledger);
	SPI_freeplan(s.upsert);
	return s.appended;
}

static int
hcl_int64_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Append the listed rows, in their order, at the log's end (which must be
 * from_position): the rows of a member's log past what its backup held,
 * as a peer accepted them (recover_codes), so that the log is rebuilt with
 * the same leaves in the same order as the one it signed, late rows
 * included.  Each must be a row of the table, visible to this transaction
 * (it may have just put them back), and not sealed or settled yet.  The
 * rows passed now reach the highest listed; the numbers below it not
 * listed become pending gaps, looked at again by the next round.
 */
static void
hcl_append_listed(HclSealer *s, Relation rel, HclListed *listed)
{
	HclLedger  *l = s->ledger;
	Relation	irel = index_open(hcl_ledger_row_index(l, rel), AccessShareLock);
	IndexScanDesc scan = index_beginscan(rel, irel, GetActiveSnapshot(), 1, 0);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	StringInfoData buf;
	int64	   *sorted = palloc(sizeof(int64) * Max(1, listed->nrows));
	HclRound	r;
	int64		old_passed = l->passed_row;
	int64		high = old_passed;
	int			k = 0;
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "hcledger listed row",
												 ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;

	/*
	 * Only what the node signed: a peer accepts only signed checkpoints, so
	 * rows past the size signed last are none a peer could have.
	 */
	if (s->signed_size > 0 && listed->from_position + listed->nrows > s->signed_size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%d rows from position %lld would take the log of ledger \"%s\" past the %lld leaves its node signed",
						listed->nrows, (long long) listed->from_position, l->relname,
						(long long) s->signed_size),
				 errhint("Put back only rows a peer accepted (hcledger.verified_peer_rows).")));
	if (listed->from_position != l->tree_size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the log of ledger \"%s\" holds %lld leaves, so rows can be put back from position %lld, not %lld",
						l->relname, (long long) l->tree_size, (long long) l->tree_size,
						(long long) listed->from_position)));
	initStringInfo(&buf);
	memcpy(sorted, listed->rows, sizeof(int64) * listed->nrows);
	qsort(sorted, listed->nrows, sizeof(int64), hcl_int64_cmp);
	for (int i = 1; i < listed->nrows; i++)
	{
		if (sorted[i] == sorted[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("row %lld is listed twice", (long long) sorted[i])));
	}
	for (int i = 0; i < listed->nrows; i++)
	{
		int64		row = listed->rows[i];
		ScanKeyData key;
		bool		should_free;
		hcl_hash	leaf;

		if (row > listed->last_issued)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("row %lld of ledger \"%s\" is past the last number its sequence gave (%lld)",
							(long long) row, l->relname, (long long) listed->last_issued)));
		if (row <= l->passed_row && !hcl_row_unsettled(l, row))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("row %lld of ledger \"%s\" is already sealed, or was passed over for good",
							(long long) row, l->relname)));
		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(row));
		index_rescan(scan, &key, 1, NULL, 0);
		if (!index_getnext_slot(scan, ForwardScanDirection, slot))
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("row %lld of ledger \"%s\" is not in the table", (long long) row, l->relname)));
		(void) ExecFetchSlotHeapTuple(slot, false, &should_free);
		old = MemoryContextSwitchTo(rowcxt);
		slot_getallattrs(slot);
		(void) hcl_row_leaf_hash(l, row, slot->tts_values, slot->tts_isnull, &buf, leaf);
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
		hcl_append_leaf(s, leaf, row);
		if (s->entries.len >= HCL_CHECKPOINT_MAX_LEAVES * HCL_LOG_ENTRY_LEN)
			hcl_store_checkpoint(s);
		high = Max(high, row);
		CHECK_FOR_INTERRUPTS();
	}
	/* what stays pending: the old runs without the listed rows, and the numbers skipped */
	memset(&r, 0, sizeof(r));
	r.maxpending = 16;
	r.pending = palloc(sizeof(HclPending) * r.maxpending);
	for (int i = 0; i <= l->npending; i++)
	{
		HclPending	p;
		int64		from;

		if (i < l->npending)
			p = l->pending[i];
		else
		{
			if (high <= old_passed)
				break;
			p.from = old_passed + 1;
			p.to = high;
			p.gap = true;
			p.xid = ReadNextTransactionId();
		}
		from = p.from;
		while (k < listed->nrows && sorted[k] < p.from)
			k++;
		for (; k < listed->nrows && sorted[k] <= p.to; k++)
		{
			if (sorted[k] > from)
				hcl_pend(&r, from, sorted[k] - 1, p.gap, p.xid);
			from = sorted[k] + 1;
		}
		if (from <= p.to)
			hcl_pend(&r, from, p.to, p.gap, p.xid);
	}
	l->pending = r.pending;
	l->npending = r.npending;
	l->passed_row = high;
	hcl_pending_summary(l);
	MemoryContextDelete(rowcxt);
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	index_close(irel, AccessShareLock);
}

/*
 * SQL function: append_listed_rows(ledger regclass, from_position bigint,
 *   rows bigint[]) returns bigint
 */
PG_FUNCTION_INFO_V1(hcl_append_listed_rows);
Datum
hcl_append_listed_rows(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(2);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	HclListed	listed;
	int64		appended;

	deconstruct_array(a, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	listed.from_position = PG_GETARG_INT64(1);
	listed.nrows = n;
	listed.rows = palloc(sizeof(int64) * Max(1, n));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a row number to put back is NULL")));
		listed.rows[i] = DatumGetInt64(elems[i]);
	}
	SPI_connect();
	appended = hcl_seal(PG_GETARG_OID(0), true, &listed);
	SPI_finish();
	PG_RETURN_INT64(appended);
}

/* SQL function: seal_ledger(ledger regclass) returns bigint */
PG_FUNCTION_INFO_V1(hcl_seal_ledger_sql);
Datum
hcl_seal_ledger_sql(PG_FUNCTION_ARGS)
{
	int64		n;

	SPI_connect();
	n = hcl_seal_ledger(PG_GETARG_OID(0), true);
	SPI_finish();
	PG_RETURN_INT64(n);
}
