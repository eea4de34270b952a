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
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/base64.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
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

/* Append one leaf: to the tree, to level 0, and completed subtrees above. */
static void
hcl_append_leaf(HclSealer *s, const hcl_hash leaf, int64 row)
{
	hcl_hash	completed[HCL_MAX_PROOF];
	int			n;
	int			level;
	uint64		be;

	if (!hcl_acc_push_tracked(&s->ledger->frontier, leaf, completed, &n))
		hcl_crypto_failed("SHA-256");
	hcl_tile_append(s, 0, leaf, row);
	be = pg_hton64((uint64) row);
	appendBinaryStringInfo(&s->entries, (const char *) &be, 8);
	appendBinaryStringInfo(&s->entries, (const char *) leaf, HCL_HASH_LEN);
	for (level = 1; level < HCL_MAX_LEVELS && n > HCL_TILE_HEIGHT * level; level++)
		hcl_tile_append(s, level, completed[HCL_TILE_HEIGHT * level], 0);
	s->ledger->tree_size++;
	s->ledger->last_row = row;
	s->appended++;
}

/*
 * Has every transaction other than ours whose XID precedes horizon ended?
 * (Our own is excluded: it is the one sealing, not inserting, and refuses
 * to seal a ledger it has written to.)  A snapshot lists the running XIDs
 * below its xmax; the XIDs from xmax up to the next one to be assigned are
 * all still running (none has ended, or xmax would be past it), so only
 * ours may be among them.
 */
static bool
hcl_none_running_before(TransactionId horizon)
{
	Snapshot	snap = GetLatestSnapshot();
	TransactionId x;
	uint32		i;
	int			n = 0;

	for (i = 0; i < snap->xcnt; i++)
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
 * May the rows from gap_start up to the next existing row number be passed
 * over?  Only once no transaction that could still insert them is running.
 */
static bool
hcl_gap_resolved(HclLedger *l, int64 gap_start)
{
	if (!l->has_gap || l->gap_row != gap_start)
	{
		l->has_gap = true;
		l->gap_row = gap_start;
		l->gap_horizon = ReadNextTransactionId();
	}
	return hcl_none_running_before(l->gap_horizon);
}

/*
 * Is there no tuple at all (of any status) for the row numbers from..to?
 * Asked again once a gap is found resolved: the walk read the index page holding the
 * gap before the check, and a writer of a gap row may have inserted and
 * committed in between.  Every such writer has ended by now (the check
 * said so), so its tuple is in the index for this fresh scan to find.
 */
static bool
hcl_gap_empty(Relation rel, Relation irel, TupleTableSlot *slot, int64 from, int64 to)
{
	ScanKeyData keys[2];
	IndexScanDesc scan;
	bool		empty;

	ScanKeyInit(&keys[0], 1, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(from));
	ScanKeyInit(&keys[1], 1, BTLessEqualStrategyNumber, F_INT8LE, Int64GetDatum(to));
	scan = index_beginscan(rel, irel, SnapshotAny, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	/*
	 * A tuple, not just an index entry: an aborted insert's heap tuple may
	 * be pruned away while its index entry stays until the next index
	 * vacuum, and the walk, which fetches tuples, never sees such a row.
	 */
	empty = !index_getnext_slot(scan, ForwardScanDirection, slot);
	ExecClearTuple(slot);
	index_endscan(scan);
	return empty;
}

static void hcl_store_checkpoint(HclSealer *s);

/* Walk the rows after the last sealed one, appending what is committed. */
static void
hcl_walk(HclSealer *s, Relation rel, int64 last_issued)
{
	HclLedger  *l = s->ledger;
	Relation	irel = index_open(hcl_ledger_row_index(l, rel), AccessShareLock);
	IndexScanDesc scan;
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	TupleTableSlot *probe = table_slot_create(rel, NULL);	/* hcl_gap_empty's */
	ScanKeyData keys[2];
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext,
												 "hcledger seal row",
												 ALLOCSET_DEFAULT_SIZES);
	int64		resolved = l->last_row;	/* every row number <= this is settled */
	int64		aborted_row = -1;	/* an aborted row number just seen */
	StringInfoData buf;

	initStringInfo(&buf);
	/* row numbers the sequence has not issued are not the writers': left out */
	ScanKeyInit(&keys[0], 1, BTGreaterStrategyNumber, F_INT8GT, Int64GetDatum(l->last_row));
	ScanKeyInit(&keys[1], 1, BTLessEqualStrategyNumber, F_INT8LE, Int64GetDatum(last_issued));
	scan = index_beginscan(rel, irel, SnapshotAny, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	l->blocked_by = InvalidTransactionId;

	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		bool		should_free;
		int64		row = DatumGetInt64(slot_getattr(slot, l->row_attnum, &isnull));
		HeapTuple	tup;
		HclXminStatus status;
		hcl_hash	leaf;
		MemoryContext old;

		if (isnull)
			continue;
		/* an aborted row number with no committed version after it is settled */
		if (aborted_row >= 0 && row > aborted_row)
		{
			resolved = aborted_row;
			aborted_row = -1;
		}
		if (row <= resolved)
			continue;			/* another version of a settled row number */
		tup = ExecFetchSlotHeapTuple(slot, false, &should_free);
		status = hcl_xmin_status(tup->t_data);
		if (status == HCL_XMIN_RUNNING)
		{
			l->blocked_by = HeapTupleHeaderGetRawXmin(tup->t_data);
			break;
		}
		if (row > resolved + 1 &&
			(!hcl_gap_resolved(l, resolved + 1) ||
			 !hcl_gap_empty(rel, irel, probe, resolved + 1, row - 1)))
			break;				/* a later round sees the gap's rows */
		if (status == HCL_XMIN_ABORTED)
		{
			aborted_row = row;	/* a committed version may still follow */
			continue;
		}

		old = MemoryContextSwitchTo(rowcxt);
		slot_getallattrs(slot);
		(void) hcl_row_leaf_hash(l, row, slot->tts_values, slot->tts_isnull, &buf, leaf);
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);

		hcl_append_leaf(s, leaf, row);
		/*
		 * A checkpoint at most every 65,536 leaves (one below the last size
		 * signed, after a restore or a crash at commit, is signed only once
		 * the log reaches that size and is shown to extend it).
		 */
		if (s->entries.len >= HCL_CHECKPOINT_MAX_LEAVES * HCL_LOG_ENTRY_LEN)
			hcl_store_checkpoint(s);
		resolved = row;
		aborted_row = -1;
		l->has_gap = false;
		l->gap_row = -1;
		CHECK_FOR_INTERRUPTS();
	}
	if (l->has_gap && l->gap_row <= resolved)
		l->has_gap = false;		/* the gap was passed over */
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	ExecDropSingleTupleTableSlot(probe);
	index_close(irel, AccessShareLock);
	MemoryContextDelete(rowcxt);
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

static void
hcl_store_state(HclLedger *l)
{
	Oid			argtypes[8] = {INT4OID, INT8OID, INT8OID, BYTEAOID, BYTEAOID,
	INT8OID, INT8OID, INT8OID};
	Datum		args[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

	args[0] = Int32GetDatum(l->ledger_id);
	args[1] = Int64GetDatum(l->tree_size);
	args[2] = Int64GetDatum(l->last_row);
	args[3] = PointerGetDatum(hcl_bytea_of(l->frontier.stack,
										   (Size) l->frontier.depth * HCL_HASH_LEN));
	args[4] = PointerGetDatum(hcl_bytea_of(l->last_checkpoint, HCL_HASH_LEN));
	args[5] = Int64GetDatum(l->gap_row);
	args[6] = Int64GetDatum((int64) l->gap_horizon);
	args[7] = Int64GetDatum((int64) l->blocked_by);
	if (!l->has_gap)
		nulls[5] = nulls[6] = 'n';
	if (!TransactionIdIsValid(l->blocked_by))
		nulls[7] = 'n';
	if (SPI_execute_with_args("UPDATE hcledger.ledgers SET tree_size = $2, last_row = $3,"
							  " frontier = $4, last_checkpoint = $5::hcledger.hash256,"
							  " gap_row = $6, gap_horizon = $7, blocked_by = $8,"
							  " last_sealed_at = now()"
							  " WHERE ledger_id = $1",
							  8, argtypes, args, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "hcledger: could not update the ledger catalog");
}

int64
hcl_seal_ledger(Oid relid, bool wait)
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
	if (CheckRelationLockedByMe(rel, RowExclusiveLock, true))
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
	initStringInfo(&s.entries);
	s.upsert = SPI_prepare("INSERT INTO hcledger.tiles (ledger_id, level, tile, hashes, row_numbers)"
						   " VALUES ($1, $2, $3, $4, $5)"
						   " ON CONFLICT (ledger_id, level, tile)"
						   " DO UPDATE SET hashes = EXCLUDED.hashes, row_numbers = EXCLUDED.row_numbers",
						   5, upsert_types);
	if (s.upsert == NULL)
		elog(ERROR, "hcledger: could not prepare the tile upsert");

	was = *s.ledger;
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
	if (s.appended > 0 || was.has_gap != s.ledger->has_gap ||
		was.gap_row != s.ledger->gap_row || was.gap_horizon != s.ledger->gap_horizon ||
		was.blocked_by != s.ledger->blocked_by)
		hcl_store_state(s.ledger);
	SPI_freeplan(s.upsert);
	return s.appended;
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
