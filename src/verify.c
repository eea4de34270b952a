/*
 * verify.c
 *		verify_ledger(): recompute a ledger's leaves from its rows and its
 *		tree from the leaves, check every stored node and checkpoint, and
 *		report each problem with its log position, row number and kind.
 *
 * Two trees are grown side by side over the log positions: one from the
 * stored leaf hashes, one from the leaves recomputed from the rows.  At each
 * checkpoint both roots are compared with the checkpoint's, which says
 * whether a leaf that disagrees was changed in the table (the stored log
 * still matches the checkpoint) or in the log (the rows still do).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "hash256.h"
#include "ledger.h"
#include "signing.h"

/* The largest leaf a suspect row keeps, to look for a swapped pair. */
#define HCL_SUSPECT_MAX_LEAF	(16 * 1024 * 1024)

#define HCL_PROGRESS_EVERY 1000000
#define HCL_MAX_PAIR_CHECK 256

typedef struct HclProblem
{
	const char *kind;
	int64		position;		/* -1: none */
	int64		row;			/* -1: none */
	char	   *detail;
} HclProblem;

/* A leaf that disagrees with the log, kept until a checkpoint says why. */
typedef struct HclSuspect
{
	int64		position;
	int64		row;
	bool		missing;		/* no row with this number */
	hcl_hash	stored;
	StringInfo	leaf;			/* recomputed leaf bytes, unless missing */
} HclSuspect;

typedef struct HclCheckpoint
{
	int64		size;
	int64		last_row;
	hcl_hash	root;
} HclCheckpoint;

/* A stretch of log positions whose row numbers increase. */
typedef struct HclRun
{
	int64		start;
	int64		first_row;
	int64		last_row;
} HclRun;

typedef struct HclVerifier
{
	HclLedger  *ledger;
	List	   *problems;
	List	   *suspects;
	HclCheckpoint *cps;
	int			ncps;
	int			next_cp;
	hcl_merkle_acc stored;		/* tree of the stored leaf hashes */
	hcl_merkle_acc rows;		/* tree of the recomputed leaves */
	uint8	   *upper[HCL_MAX_LEVELS];	/* stored tiles of levels >= 1 */
	int64		nupper[HCL_MAX_LEVELS];
	bool		upper_reported[HCL_MAX_LEVELS];
	MemoryContext cxt;			/* for problems and suspects */
	int64		last_issued;	/* the row-number sequence's last value */
	StringInfoData entries;		/* the log entries since the last checkpoint
								 * reached, as checkpoints.leaves lists them */
	int64		max_row;		/* the highest row number listed so far */
	HTAB	   *passed;			/* rows the walk passed that the log has not
								 * listed yet (a late row comes after) */
	IndexScanDesc probe;		/* finds one row by number */
	TupleTableSlot *probe_slot;
	HclRun	   *runs;			/* the log's runs (docs/format.md) */
	int			nruns;
	int			maxruns;
} HclVerifier;

static void
hcl_problem(HclVerifier *v, const char *kind, int64 position, int64 row,
			const char *fmt,...) pg_attribute_printf(5, 6);

static void
hcl_problem(HclVerifier *v, const char *kind, int64 position, int64 row,
			const char *fmt,...)
{
	MemoryContext old = MemoryContextSwitchTo(v->cxt);
	HclProblem *p = palloc(sizeof(HclProblem));
	StringInfoData buf;
	va_list		args;

	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	p->kind = kind;
	p->position = position;
	p->row = row;
	p->detail = buf.data;
	v->problems = lappend(v->problems, p);
	MemoryContextSwitchTo(old);
}

static bool
hcl_bytes_at(HeapTuple tup, TupleDesc desc, int col, uint8 *out, Size want)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	bytea	   *b;

	if (isnull)
		return false;
	b = DatumGetByteaPP(d);
	if (VARSIZE_ANY_EXHDR(b) != want)
		return false;
	memcpy(out, VARDATA_ANY(b), want);
	return true;
}

/*
 * A checkpoint's signed note (if it has one) must carry its body as its
 * text, and a signature by a known key (registry or node) must verify.
 * Signatures by keys unknown here are not judged.
 */
static void
hcl_check_note(HclVerifier *v, HclCheckpoint *cp, const char *body,
			   const char *note, const hcl_trusted_key *keys, int nkeys)
{
	hcl_checkpoint parsed;
	const char *why;
	char		reason[512];
	int			which;
	bool		known;

	if (note == NULL)
		return;
	why = hcl_checkpoint_parse(note, strlen(note), &parsed);
	if (why != NULL)
		hcl_problem(v, "altered_checkpoint", cp->size, cp->last_row,
					"checkpoint at tree size %lld: its signed note is malformed (%s)",
					(long long) cp->size, why);
	else if (parsed.textlen != strlen(body) || memcmp(parsed.text, body, parsed.textlen) != 0)
		hcl_problem(v, "altered_checkpoint", cp->size, cp->last_row,
					"checkpoint at tree size %lld: its signed note does not carry its body",
					(long long) cp->size);
	else if (!hcl_checkpoint_verify(&parsed, keys, nkeys, &which, &known, reason, sizeof(reason)) &&
			 known)
		hcl_problem(v, "altered_checkpoint", cp->size, cp->last_row,
					"checkpoint at tree size %lld: %s", (long long) cp->size, reason);
}

/* Read and check the checkpoints: body, hash, chain, sizes, signatures. */
static void
hcl_load_checkpoints(HclVerifier *v)
{
	HclLedger  *l = v->ledger;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(l->ledger_id)};
	hcl_hash	prev;
	int64		prev_size = 0;
	uint64		i;
	int			nkeys;
	hcl_trusted_key *keys = hcl_registry_keys(NULL, l->origin, &nkeys);

	/* signatures are checked with the registry's keys and the node's own */
	if (hcl_node_key(&keys[nkeys]))
		nkeys++;
	memset(prev, 0, HCL_HASH_LEN);
	if (SPI_execute_with_args("SELECT tree_size, root::bytea, last_row,"
							  "       extract(epoch FROM sealed_at)::bigint,"
							  "       prev_hash::bytea, body, checkpoint_hash::bytea, note"
							  "  FROM hcledger.checkpoints WHERE ledger_id = $1"
							  " ORDER BY tree_size",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "hcledger: could not read checkpoints");
	v->cps = palloc0(sizeof(HclCheckpoint) * Max(SPI_processed, 1));
	v->ncps = 0;
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		HclCheckpoint *cp = &v->cps[v->ncps];
		bool		isnull;
		hcl_hash	prev_stored,
					cp_hash,
					body_hash;
		int64		when = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		char	   *body = SPI_getvalue(tup, desc, 6);
		char	   *expect;
		bool		fields_ok;

		cp->size = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		cp->last_row = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		fields_ok = hcl_bytes_at(tup, desc, 2, cp->root, HCL_HASH_LEN) &&
			hcl_bytes_at(tup, desc, 5, prev_stored, HCL_HASH_LEN) &&
			hcl_bytes_at(tup, desc, 7, cp_hash, HCL_HASH_LEN) && body != NULL;
		if (!fields_ok)
		{
			hcl_problem(v, "altered_checkpoint", cp->size, cp->last_row,
						"checkpoint at tree size %lld has a missing or malformed field",
						(long long) cp->size);
			continue;
		}
		expect = hcl_checkpoint_body(l->origin, cp->size, cp->root, prev_stored,
									 when, cp->last_row);
		if (!hcl_sha256(body, strlen(body), body_hash))
			hcl_crypto_failed("SHA-256");
		if (strcmp(expect, body) != 0)
			hcl_problem(v, "altered_checkpoint", cp->size, cp->last_row,
						"checkpoint at tree size %lld: its body does not state its size, root, predecessor, time and last row",
						(long long) cp->size);
		else if (memcmp(body_hash, cp_hash, HCL_HASH_LEN) != 0)
			hcl_problem(v, "altered_checkpoint", cp->size, cp->last_row,
						"checkpoint at tree size %lld: checkpoint_hash is not the hash of its body",
						(long long) cp->size);
		else if (memcmp(prev_stored, prev, HCL_HASH_LEN) != 0)
			hcl_problem(v, "altered_checkpoint", cp->size, cp->last_row,
						"checkpoint at tree size %lld does not name the previous checkpoint (the chain is broken)",
						(long long) cp->size);
		else
			hcl_check_note(v, cp, body, SPI_getvalue(tup, desc, 8), keys, nkeys);
		if (cp->size <= prev_size)
			hcl_problem(v, "altered_checkpoint", cp->size, cp->last_row,
						"checkpoint at tree size %lld does not grow the tree", (long long) cp->size);
		memcpy(prev, cp_hash, HCL_HASH_LEN);
		prev_size = cp->size;
		v->ncps++;
	}
	if (v->ncps > 0 && memcmp(prev, l->last_checkpoint, HCL_HASH_LEN) != 0)
		hcl_problem(v, "altered_checkpoint", prev_size, -1,
					"the ledger catalog does not name the last checkpoint as its latest");
}

/* Stored tiles of levels 1 and up, each level as one flat array. */
static void
hcl_load_upper(HclVerifier *v)
{
	Oid			argtypes[2] = {INT4OID, INT4OID};
	int			level;

	for (level = 1; level < HCL_MAX_LEVELS; level++)
	{
		Datum		args[2] = {Int32GetDatum(v->ledger->ledger_id), Int32GetDatum(level)};
		StringInfoData buf;
		uint64		i;

		initStringInfo(&buf);
		if (SPI_execute_with_args("SELECT tile, hashes FROM hcledger.tiles"
								  " WHERE ledger_id = $1 AND level = $2 ORDER BY tile",
								  2, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "hcledger: could not read tiles");
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			int64		tile = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1, &isnull));
			bytea	   *h = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc, 2, &isnull));

			if (tile != (int64) i || VARSIZE_ANY_EXHDR(h) % HCL_HASH_LEN != 0 ||
				(buf.len % (HCL_TILE_WIDTH * HCL_HASH_LEN)) != 0)
			{
				hcl_problem(v, "altered_node", -1, -1,
							"tile %lld of level %d is missing, misplaced or of the wrong size",
							(long long) tile, level);
				break;
			}
			appendBinaryStringInfo(&buf, VARDATA_ANY(h), VARSIZE_ANY_EXHDR(h));
		}
		v->upper[level] = (uint8 *) buf.data;
		v->nupper[level] = buf.len / HCL_HASH_LEN;
	}
}

/* Compare the subtrees completed at this position with the stored tiles. */
static void
hcl_check_upper(HclVerifier *v, int64 position, hcl_hash *completed, int n)
{
	int			level;

	for (level = 1; level < HCL_MAX_LEVELS && n > HCL_TILE_HEIGHT * level; level++)
	{
		int64		span = (int64) 1 << (HCL_TILE_HEIGHT * level);
		int64		entry = (position + 1) / span - 1;

		if (v->upper_reported[level])
			continue;
		if (entry >= v->nupper[level] ||
			memcmp(v->upper[level] + entry * HCL_HASH_LEN,
				   completed[HCL_TILE_HEIGHT * level], HCL_HASH_LEN) != 0)
		{
			hcl_problem(v, "altered_node", entry * span, -1,
						"stored node of level %d for positions %lld to %lld is %s",
						level, (long long) (entry * span), (long long) ((entry + 1) * span - 1),
						entry >= v->nupper[level] ? "missing" : "not the hash of the leaves below it");
			v->upper_reported[level] = true;	/* once per level is enough */
		}
	}
}

/* Find swapped pairs among suspects: each one's content under the other's number. */
static void
hcl_find_swaps(HclVerifier *v, List *suspects, bool *swapped)
{
	int			n = list_length(suspects);
	int			i,
				j;

	if (n > HCL_MAX_PAIR_CHECK)
		return;
	for (i = 0; i < n; i++)
	{
		HclSuspect *a = list_nth(suspects, i);

		if (a->missing || a->leaf == NULL || swapped[i])
			continue;
		for (j = i + 1; j < n; j++)
		{
			HclSuspect *b = list_nth(suspects, j);
			hcl_hash	ha,
						hb;
			uint64		be;

			if (b->missing || b->leaf == NULL || swapped[j])
				continue;
			/* a's content under b's row number, and the other way round */
			be = pg_hton64((uint64) b->row);
			memcpy(a->leaf->data + 32, &be, 8);
			if (!hcl_leaf_hash(a->leaf->data, a->leaf->len, ha))
				hcl_crypto_failed("SHA-256");
			be = pg_hton64((uint64) a->row);
			memcpy(a->leaf->data + 32, &be, 8);
			memcpy(b->leaf->data + 32, &be, 8);
			if (!hcl_leaf_hash(b->leaf->data, b->leaf->len, hb))
				hcl_crypto_failed("SHA-256");
			be = pg_hton64((uint64) b->row);
			memcpy(b->leaf->data + 32, &be, 8);
			if (memcmp(ha, b->stored, HCL_HASH_LEN) == 0 &&
				memcmp(hb, a->stored, HCL_HASH_LEN) == 0)
			{
				swapped[i] = swapped[j] = true;
				break;
			}
		}
	}
}

/*
 * Report the suspects before the given size.  rows_changed: the stored log
 * matches its checkpoint, so the rows were changed; otherwise the log was.
 */
static void
hcl_settle(HclVerifier *v, int64 size, bool rows_changed)
{
	MemoryContext old = MemoryContextSwitchTo(v->cxt);
	List	   *settle = NIL;
	List	   *keep = NIL;
	ListCell   *lc;
	bool	   *swapped;
	int			i = 0;

	foreach(lc, v->suspects)
	{
		HclSuspect *s = lfirst(lc);

		if (s->position < size)
			settle = lappend(settle, s);
		else
			keep = lappend(keep, s);
	}
	swapped = palloc0(sizeof(bool) * (list_length(settle) + 1));
	if (rows_changed)
		hcl_find_swaps(v, settle, swapped);
	foreach(lc, settle)
	{
		HclSuspect *s = lfirst(lc);

		if (!rows_changed)
			hcl_problem(v, "altered_node", s->position, s->row,
						"the stored leaf hash at position %lld is not the hash of row %lld, which still matches the checkpoint",
						(long long) s->position, (long long) s->row);
		else if (swapped[i])
			hcl_problem(v, "reordered", s->position, s->row,
						"row %lld holds the content sealed under another row number of this ledger",
						(long long) s->row);
		else if (s->missing)
			hcl_problem(v, "removed_row", s->position, s->row,
						"row %lld, sealed at position %lld, is gone",
						(long long) s->row, (long long) s->position);
		else
			hcl_problem(v, "changed_value", s->position, s->row,
						"row %lld no longer hashes to the leaf sealed at position %lld",
						(long long) s->row, (long long) s->position);
		i++;
	}
	list_free(v->suspects);
	v->suspects = keep;
	MemoryContextSwitchTo(old);
}

/* At a checkpoint's size: compare both trees' roots with it. */
static void
hcl_check_checkpoint(HclVerifier *v, HclCheckpoint *cp)
{
	hcl_hash	stored_root,
				rows_root;
	bool		stored_ok,
				rows_ok;

	if (!hcl_acc_root(&v->stored, stored_root) || !hcl_acc_root(&v->rows, rows_root))
		hcl_crypto_failed("SHA-256");
	stored_ok = memcmp(stored_root, cp->root, HCL_HASH_LEN) == 0;
	rows_ok = memcmp(rows_root, cp->root, HCL_HASH_LEN) == 0;
	if (!stored_ok && !rows_ok)
		hcl_problem(v, "altered_checkpoint", cp->size, cp->last_row,
					"the root of checkpoint %lld matches neither the stored log nor the rows: the checkpoint, or rows and log together, were changed",
					(long long) cp->size);
	hcl_settle(v, cp->size, stored_ok || !rows_ok);
}

/* Rows not in the log: inserted behind the sealer's back, or still pending. */
static void
hcl_extra_row(HclVerifier *v, int64 row, int64 position, bool duplicate)
{
	if (duplicate)
		hcl_problem(v, "inserted_row", position, row,
					"a second row numbered %lld", (long long) row);
	else if (row > v->last_issued)
		hcl_problem(v, "inserted_row", position, row,
					"row number %lld was never issued by the ledger's sequence (at %lld)",
					(long long) row, (long long) v->last_issued);
	else if (!hcl_row_unsettled(v->ledger, row))
		hcl_problem(v, "inserted_row", position, row,
					"row %lld is not in the log, though the sealer has passed it and sealed rows after it",
					(long long) row);
}

typedef struct HclRowCursor
{
	IndexScanDesc scan;
	TupleTableSlot *slot;
	bool		valid;
	int64		row;
} HclRowCursor;

static void
hcl_row_next(HclVerifier *v, HclRowCursor *c)
{
	bool		isnull;
	MemoryContext old = MemoryContextSwitchTo(v->cxt);	/* the scan allocates */

	c->valid = index_getnext_slot(c->scan, ForwardScanDirection, c->slot);
	MemoryContextSwitchTo(old);
	if (c->valid)
		c->row = DatumGetInt64(slot_getattr(c->slot, v->ledger->row_attnum, &isnull));
}

/*
 * At a checkpoint's size: its published log entries (checkpoints.leaves)
 * must be exactly those it added, the row number and stored leaf hash of
 * each log position since the checkpoint before it.
 */
static void
hcl_check_entries(HclVerifier *v, HclCheckpoint *cp)
{
	static SPIPlanPtr plan;
	Oid			argtypes[2] = {INT4OID, INT8OID};
	Datum		args[2] = {Int32GetDatum(v->ledger->ledger_id), Int64GetDatum(cp->size)};
	int64		n = v->entries.len / HCL_LOG_ENTRY_LEN;
	MemoryContext caller = CurrentMemoryContext;	/* SPI leaves its own current */

	if (SPI_execute_plan(hcl_kept_plan(&plan, "SELECT leaves FROM hcledger.checkpoints"
									   " WHERE ledger_id = $1 AND tree_size = $2",
									   2, argtypes),
						 args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "hcledger: could not read checkpoints");
	MemoryContextSwitchTo(caller);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		bytea	   *b = isnull ? NULL : DatumGetByteaPP(d);	/* de-TOASTed in the row's context */

		if (b == NULL)
			hcl_problem(v, "altered_entries", cp->size, cp->last_row,
						"checkpoint at tree size %lld publishes no log entries (checkpoints.leaves), where it added %lld",
						(long long) cp->size, (long long) n);
		else if (VARSIZE_ANY_EXHDR(b) != (Size) v->entries.len ||
				 memcmp(VARDATA_ANY(b), v->entries.data, v->entries.len) != 0)
			hcl_problem(v, "altered_entries", cp->size, cp->last_row,
						"checkpoint at tree size %lld: its published log entries (checkpoints.leaves) are not the %lld it added to the log",
						(long long) cp->size, (long long) n);
	}
	SPI_freetuptable(SPI_tuptable);
	resetStringInfo(&v->entries);
}

/* The leaf of row r (in slot) against the stored one: a suspect if they differ. */
static HclSuspect *
hcl_row_against(HclVerifier *v, TupleTableSlot *slot, int64 r, const hcl_hash stored,
				hcl_hash leaf)
{
	HclSuspect *s = NULL;
	StringInfoData buf;
	int64		len;

	initStringInfo(&buf);
	slot_getallattrs(slot);
	len = hcl_row_leaf_hash(v->ledger, r, slot->tts_values, slot->tts_isnull, &buf, leaf);
	if (memcmp(leaf, stored, HCL_HASH_LEN) != 0)
	{
		MemoryContext old = MemoryContextSwitchTo(v->cxt);

		s = palloc0(sizeof(HclSuspect));
		/* its bytes, to look for a swapped pair: not for a leaf too large to hold */
		if (len <= HCL_SUSPECT_MAX_LEAF)
		{
			s->leaf = makeStringInfo();
			hcl_encode_row(v->ledger, r, slot->tts_values, slot->tts_isnull, s->leaf);
		}
		MemoryContextSwitchTo(old);
	}
	pfree(buf.data);
	return s;
}

/* Row number r as the verifier's snapshot sees it, into probe_slot. */
static bool
hcl_probe_row(HclVerifier *v, int64 r)
{
	ScanKeyData key;
	bool		found;
	MemoryContext old = MemoryContextSwitchTo(v->cxt);	/* the scan allocates */

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(r));
	index_rescan(v->probe, &key, 1, NULL, 0);
	found = index_getnext_slot(v->probe, ForwardScanDirection, v->probe_slot);
	MemoryContextSwitchTo(old);
	return found;
}

/* A row the walk passed before the log listed it, and where. */
typedef struct HclPassed
{
	int64		row;
	int64		position;
} HclPassed;

/* The walk passes row number row before the log lists it (or never does). */
static void
hcl_pass_row(HclVerifier *v, int64 row, int64 p)
{
	bool		found;
	HclPassed  *e = hash_search(v->passed, &row, HASH_ENTER, &found);

	if (found)
		hcl_extra_row(v, row, p, true);
	else
		e->position = p;
}

/* One log position against the rows. */
static void
hcl_check_position(HclVerifier *v, HclRowCursor *c, int64 p, int64 r,
				   const hcl_hash stored)
{
	hcl_hash	leaf;
	hcl_hash	completed[HCL_MAX_PROOF];
	int			ncompleted;
	HclSuspect *s = NULL;
	bool		found = false;

	if (r > v->max_row)
	{
		/* in row-number order: the rows before it are passed for now */
		while (c->valid && c->row < r)
		{
			hcl_pass_row(v, c->row, p);
			hcl_row_next(v, c);
		}
		if (c->valid && c->row == r)
		{
			found = true;
			s = hcl_row_against(v, c->slot, r, stored, leaf);
			hcl_row_next(v, c);
			while (c->valid && c->row == r)
			{
				hcl_extra_row(v, r, p + 1, true);
				hcl_row_next(v, c);
			}
		}
		v->max_row = r;
	}
	else
	{
		/*
		 * A late row (its transaction was open when rows after it were
		 * sealed): the walk passed it; or a row the log already listed.
		 */
		bool		passed;

		(void) hash_search(v->passed, &r, HASH_REMOVE, &passed);
		if (hcl_probe_row(v, r))
		{
			found = true;
			s = hcl_row_against(v, v->probe_slot, r, stored, leaf);
			if (!passed)
				hcl_problem(v, "altered_node", p, r,
							"the log lists row %lld a second time, at position %lld",
							(long long) r, (long long) p);
		}
	}
	if (!found)
	{
		memset(leaf, 0, HCL_HASH_LEN);
		s = MemoryContextAllocZero(v->cxt, sizeof(HclSuspect));
		s->missing = true;
	}
	if (v->ledger->pending_ok && hcl_row_unsettled(v->ledger, r))
		hcl_problem(v, "altered_node", p, r,
					"the sealer's state (hcledger.ledgers: passed_row, pending) has row %lld, which the log holds, still to be sealed: it would be sealed again",
					(long long) r);
	if (s != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(v->cxt);

		s->position = p;
		s->row = r;
		memcpy(s->stored, stored, HCL_HASH_LEN);
		v->suspects = lappend(v->suspects, s);
		MemoryContextSwitchTo(old);
	}
	if (!hcl_acc_push_tracked(&v->stored, stored, completed, &ncompleted) ||
		!hcl_acc_push(&v->rows, leaf))
		hcl_crypto_failed("SHA-256");
	hcl_check_upper(v, p, completed, ncompleted);
	if (v->next_cp < v->ncps)	/* a checkpoint is yet to come */
	{
		uint64		be = pg_hton64((uint64) r);

		appendBinaryStringInfo(&v->entries, (const char *) &be, 8);
		appendBinaryStringInfo(&v->entries, (const char *) stored, HCL_HASH_LEN);
	}
	/* sizes are increasing unless tampered with: pass over any left behind */
	while (v->next_cp < v->ncps && v->cps[v->next_cp].size <= p + 1)
	{
		if (v->cps[v->next_cp].size == p + 1)
		{
			if (v->cps[v->next_cp].last_row != v->max_row)
				hcl_problem(v, "altered_checkpoint", p + 1, v->cps[v->next_cp].last_row,
							"checkpoint at tree size %lld names row %lld as the highest in the log, which is row %lld",
							(long long) (p + 1), (long long) v->cps[v->next_cp].last_row,
							(long long) v->max_row);
			hcl_check_checkpoint(v, &v->cps[v->next_cp]);
			hcl_check_entries(v, &v->cps[v->next_cp]);
		}
		v->next_cp++;
	}
}

static void
hcl_new_run(HclVerifier *v, int64 start, int64 first_row)
{
	if (v->nruns == v->maxruns)
	{
		v->maxruns = Max(16, v->maxruns * 2);
		v->runs = v->runs == NULL ?
			MemoryContextAlloc(v->cxt, sizeof(HclRun) * v->maxruns) :
			repalloc(v->runs, sizeof(HclRun) * v->maxruns);
	}
	v->runs[v->nruns].start = start;
	v->runs[v->nruns].first_row = first_row;
	v->runs[v->nruns].last_row = first_row;
	v->nruns++;
}

/*
 * hcledger.log_runs, which proofs use to find a row, must list the log's
 * runs (none for a log of one run), the last one open.
 */
static void
hcl_check_runs(HclVerifier *v)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(v->ledger->ledger_id)};
	bool		same;

	if (!v->ledger->can_pend)
		return;					/* a catalog before its update to 0.3.0: one run */
	if (SPI_execute_with_args("SELECT start_position, first_row, last_row FROM hcledger.log_runs"
							  " WHERE ledger_id = $1 ORDER BY start_position",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "hcledger: could not read the log's runs");
	same = SPI_processed == (v->nruns > 1 ? (uint64) v->nruns : 0);
	for (uint64 i = 0; same && i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bool		lastnull;
		int64		start = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		int64		first = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		int64		last = DatumGetInt64(SPI_getbinval(tup, desc, 3, &lastnull));

		same = start == v->runs[i].start && first == v->runs[i].first_row &&
			(i == SPI_processed - 1 ? lastnull : (!lastnull && last == v->runs[i].last_row));
	}
	SPI_freetuptable(SPI_tuptable);
	if (!same)
		hcl_problem(v, "altered_node", -1, -1,
					"the runs of the log recorded in hcledger.log_runs are not those of the stored log (%d); proofs may not find rows",
					v->nruns);
}

static int
hcl_passed_cmp(const void *a, const void *b)
{
	int64		x = ((const HclPassed *) a)->row;
	int64		y = ((const HclPassed *) b)->row;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* Rows the walk passed that the log never listed, in row order, where passed. */
static void
hcl_unlisted_rows(HclVerifier *v)
{
	HASH_SEQ_STATUS seq;
	HclPassed  *e;
	HclPassed  *rows = palloc(sizeof(HclPassed) * Max(1, hash_get_num_entries(v->passed)));
	long		n = 0;

	hash_seq_init(&seq, v->passed);
	while ((e = hash_seq_search(&seq)) != NULL)
		rows[n++] = *e;
	qsort(rows, n, sizeof(HclPassed), hcl_passed_cmp);
	for (long i = 0; i < n; i++)
		hcl_extra_row(v, rows[i].row, rows[i].position, false);
	pfree(rows);
}

/* Walk the level-0 tiles in order, merged with the rows in row order. */
static int64
hcl_walk_log(HclVerifier *v, HclRowCursor *c)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(v->ledger->ledger_id)};
	SPIPlanPtr	plan;
	Portal		portal;
	int64		p = 0;
	int64		prev_row = PG_INT64_MIN;
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext,
												 "hcledger verify row",
												 ALLOCSET_DEFAULT_SIZES);
	MemoryContext tilecxt = AllocSetContextCreate(CurrentMemoryContext,
												  "hcledger verify tiles",
												  ALLOCSET_DEFAULT_SIZES);

	plan = SPI_prepare("SELECT tile, hashes, row_numbers FROM hcledger.tiles"
					   " WHERE ledger_id = $1 AND level = 0 ORDER BY tile", 1, argtypes);
	portal = SPI_cursor_open(NULL, plan, args, NULL, true);
	for (;;)
	{
		uint64		t;

		SPITupleTable *tiles;
		uint64		ntiles;

		SPI_cursor_fetch(portal, true, 64);
		/* kept: checking a checkpoint's entries runs a query of its own */
		tiles = SPI_tuptable;
		ntiles = SPI_processed;
		if (ntiles == 0)
			break;
		for (t = 0; t < ntiles; t++)
		{
			HeapTuple	tup = tiles->vals[t];
			TupleDesc	desc = tiles->tupdesc;
			bool		isnull,
						rnull;
			int64		tile = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			MemoryContext tileold = MemoryContextSwitchTo(tilecxt);	/* de-TOAST here */
			bytea	   *h = DatumGetByteaPP(SPI_getbinval(tup, desc, 2, &isnull));
			Datum		rd = SPI_getbinval(tup, desc, 3, &rnull);
			bytea	   *rows = rnull ? NULL : DatumGetByteaPP(rd);
			int			width = VARSIZE_ANY_EXHDR(h) / HCL_HASH_LEN;
			int			i;

			MemoryContextSwitchTo(tileold);

			if (tile * HCL_TILE_WIDTH != p || width < 1 || width > HCL_TILE_WIDTH ||
				VARSIZE_ANY_EXHDR(h) != (Size) width * HCL_HASH_LEN ||
				rows == NULL || VARSIZE_ANY_EXHDR(rows) != (Size) width * 8)
			{
				hcl_problem(v, "altered_node", p, -1,
							"leaf tile %lld is missing, misplaced or malformed: the log cannot be read past position %lld",
							(long long) (p / HCL_TILE_WIDTH), (long long) p);
				goto done;
			}
			for (i = 0; i < width; i++, p++)
			{
				uint64		be;
				int64		r;
				MemoryContext old;

				memcpy(&be, VARDATA_ANY(rows) + 8 * i, 8);
				r = (int64) pg_ntoh64(be);
				if (p == 0 || r <= prev_row)
					hcl_new_run(v, p, r);
				v->runs[v->nruns - 1].last_row = r;
				prev_row = r;
				old = MemoryContextSwitchTo(rowcxt);
				hcl_check_position(v, c, p, r,
								   (const uint8 *) VARDATA_ANY(h) + i * HCL_HASH_LEN);
				MemoryContextSwitchTo(old);
				MemoryContextReset(rowcxt);
				if ((p + 1) % HCL_PROGRESS_EVERY == 0)
					ereport(NOTICE,
							(errmsg("verify_ledger: %lld of %lld log positions checked",
									(long long) (p + 1), (long long) v->ledger->tree_size)));
				CHECK_FOR_INTERRUPTS();
			}
		}
		SPI_freetuptable(tiles);
		MemoryContextReset(tilecxt);
	}
done:
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
	MemoryContextDelete(rowcxt);
	MemoryContextDelete(tilecxt);
	return p;
}

static int
hcl_problem_cmp(const ListCell *a, const ListCell *b)
{
	const HclProblem *pa = lfirst(a);
	const HclProblem *pb = lfirst(b);

	if (pa->position != pb->position)
		return pa->position < pb->position ? -1 : 1;
	return 0;
}

/*
 * Collapse removed rows that run to the end of the log into one
 * truncated_tail entry.  The problems are sorted by position.
 */
static void
hcl_collapse_tail(HclVerifier *v, int64 log_size)
{
	List	   *out = NIL;
	int64		first = log_size;
	ListCell   *lc;
	int			i;

	/* walk back over removed rows at log_size - 1, log_size - 2, ... */
	for (i = list_length(v->problems) - 1; i >= 0; i--)
	{
		HclProblem *p = list_nth(v->problems, i);

		if (p->position >= first)
			continue;
		if (strcmp(p->kind, "removed_row") != 0 || p->position != first - 1)
			break;
		first = p->position;
	}
	if (first == log_size)
		return;
	foreach(lc, v->problems)
	{
		HclProblem *p = lfirst(lc);

		if (strcmp(p->kind, "removed_row") == 0 && p->position >= first)
		{
			if (p->position > first)
				continue;
			p->kind = "truncated_tail";
			p->detail = psprintf("the %lld rows sealed at positions %lld to %lld are gone",
								 (long long) (log_size - first), (long long) first,
								 (long long) (log_size - 1));
		}
		out = lappend(out, p);
	}
	v->problems = out;
}

static void
hcl_verify(HclVerifier *v, Relation rel)
{
	HclLedger  *l = v->ledger;
	Relation	irel = index_open(hcl_ledger_row_index(l, rel), AccessShareLock);
	HclRowCursor c;
	int64		log_size;
	hcl_hash	root;

	hcl_acc_init(&v->stored);
	hcl_acc_init(&v->rows);
	v->last_issued = hcl_row_sequence_last(l, false);
	hcl_load_checkpoints(v);
	hcl_load_upper(v);

	c.scan = index_beginscan(rel, irel, GetActiveSnapshot(), 0, 0);
	index_rescan(c.scan, NULL, 0, NULL, 0);
	c.slot = table_slot_create(rel, NULL);
	hcl_row_next(v, &c);

	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(HclPassed);
		ctl.hcxt = v->cxt;
		v->passed = hash_create("hcledger verify passed rows", 256, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	v->max_row = PG_INT64_MIN;
	v->probe = index_beginscan(rel, irel, GetActiveSnapshot(), 1, 0);
	v->probe_slot = table_slot_create(rel, NULL);
	log_size = hcl_walk_log(v, &c);
	hcl_unlisted_rows(v);
	hcl_check_runs(v);
	if (!l->pending_ok)
		hcl_problem(v, "altered_node", -1, -1,
					"the sealer's pending rows (hcledger.ledgers.pending) are malformed");
	/* suspects after the last checkpoint: nothing to tell row from log, blame the rows */
	hcl_settle(v, PG_INT64_MAX, true);
	if (v->ncps > 0 && v->cps[v->ncps - 1].size > log_size)
	{
		int64		unlogged = 0;

		/* the rows past the stored log are what it lost: count, don't list */
		for (; c.valid; hcl_row_next(v, &c))
			unlogged += (c.row <= l->last_row);
		hcl_problem(v, "truncated_log", log_size, -1,
					"the log holds %lld leaves but checkpoint %lld was made; %lld sealed rows are no longer in it",
					(long long) log_size, (long long) v->cps[v->ncps - 1].size,
					(long long) unlogged);
	}
	for (; c.valid; hcl_row_next(v, &c))
		hcl_extra_row(v, c.row, log_size, false);
	if (log_size != l->tree_size || !l->frontier_ok ||
		!hcl_acc_root(&v->stored, root) ||
		v->stored.depth != l->frontier.depth ||
		memcmp(v->stored.stack, l->frontier.stack, (Size) v->stored.depth * HCL_HASH_LEN) != 0)
		hcl_problem(v, "altered_node", log_size, -1,
					"the ledger catalog's tree state (size %lld and frontier) does not match the stored log (size %lld)",
					(long long) l->tree_size, (long long) log_size);

	ExecDropSingleTupleTableSlot(c.slot);
	index_endscan(c.scan);
	ExecDropSingleTupleTableSlot(v->probe_slot);
	index_endscan(v->probe);
	index_close(irel, AccessShareLock);
	list_sort(v->problems, hcl_problem_cmp);
	hcl_collapse_tail(v, log_size);
}

/*
 * SQL function: verify_ledger(ledger regclass)
 *   returns table(kind text, log_position bigint, row_number bigint, detail text)
 */
PG_FUNCTION_INFO_V1(hcl_verify_ledger);
Datum
hcl_verify_ledger(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = PG_GETARG_OID(0);
	HclVerifier v;
	Relation	rel;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	memset(&v, 0, sizeof(v));
	SPI_connect();
	v.cxt = CurrentMemoryContext;
	initStringInfo(&v.entries);
	v.ledger = hcl_ledger_load(relid, HCL_LOAD_READ);
	v.ledger->archive_lenient = true;	/* a lost archived value is a problem to report */
	rel = table_open(relid, AccessShareLock);
	hcl_ledger_resolve(v.ledger, rel);
	hcl_verify(&v, rel);
	table_close(rel, AccessShareLock);

	foreach(lc, v.problems)
	{
		HclProblem *p = lfirst(lc);
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(p->kind);
		values[1] = Int64GetDatum(p->position);
		nulls[1] = p->position < 0;
		values[2] = Int64GetDatum(p->row);
		nulls[2] = p->row < 0;
		values[3] = CStringGetTextDatum(p->detail);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
