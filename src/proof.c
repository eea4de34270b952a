/*
 * proof.c
 *		Inclusion and consistency proofs for ledger rows, answered from the
 *		stored tiles (docs/format.md) in O(log n) tile reads.
 *
 * Any subtree hash the RFC 9162 proof recursion asks for is either a stored
 * tile entry (a complete subtree of 256^l leaves), the root of up to 255
 * consecutive entries of one level, or a split of the range into those.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "hash256.h"
#include "ledger.h"

typedef struct HclTileKey
{
	int32		level;
	int64		tile;
} HclTileKey;

typedef struct HclTileEntry
{
	HclTileKey	key;
	int			width;
	uint8	   *hashes;
	uint8	   *rows;			/* level 0 only */
} HclTileEntry;

typedef struct HclProver
{
	HclLedger  *ledger;
	HTAB	   *tiles;			/* tiles read so far */
	MemoryContext cxt;			/* where they are kept */
	int			runs_listed;	/* log_runs has rows for it: 0 not read yet, 1 no, 2 yes */
} HclProver;

/* One stored tile (cached); errors if it is missing. */
static HclTileEntry *
hcl_tile(HclProver *pr, int level, int64 tile)
{
	HclTileKey	key;
	HclTileEntry *e;
	bool		found;

	memset(&key, 0, sizeof(key));
	key.level = level;
	key.tile = tile;
	e = hash_search(pr->tiles, &key, HASH_ENTER, &found);
	if (!found)
	{
		bytea	   *hashes;
		bytea	   *rows;
		MemoryContext old = MemoryContextSwitchTo(pr->cxt);
		bool		have = hcl_read_tile(pr->ledger, level, tile, false, &hashes, &rows);

		MemoryContextSwitchTo(old);
		if (!have)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the Merkle log of ledger \"%s\" is missing tile %lld of level %d",
							pr->ledger->relname, (long long) tile, level),
					 errhint("Run hcledger.verify_ledger() to locate the damage.")));
		e->width = VARSIZE_ANY_EXHDR(hashes) / HCL_HASH_LEN;
		e->hashes = (uint8 *) VARDATA_ANY(hashes);
		/* row numbers of the wrong length are as good as none: reported as damage */
		e->rows = (level == 0 && rows != NULL &&
				   VARSIZE_ANY_EXHDR(rows) == (Size) e->width * 8) ?
			(uint8 *) VARDATA_ANY(rows) : NULL;
	}
	return e;
}

/* Entry i of level l (the root of 256^l leaves from i * 256^l). */
static const uint8 *
hcl_entry(HclProver *pr, int level, int64 i)
{
	HclTileEntry *e = hcl_tile(pr, level, i / HCL_TILE_WIDTH);

	if (i % HCL_TILE_WIDTH >= e->width)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the Merkle log of ledger \"%s\" lacks node %lld of level %d",
						pr->ledger->relname, (long long) i, level),
				 errhint("Run hcledger.verify_ledger() to locate the damage.")));
	return e->hashes + (i % HCL_TILE_WIDTH) * HCL_HASH_LEN;
}

/*
 * MTH of leaves [start, start + n), n >= 1: the hcl_subtree_fn that
 * merkle.c's proof recursion asks (errors are raised, never returned).
 */
static bool
hcl_subtree(void *arg, uint64 start, uint64 n, hcl_hash out)
{
	HclProver  *pr = (HclProver *) arg;

	if ((n & (n - 1)) == 0 && start % n == 0)
	{
		int			h = 0;
		int			level;
		int			count;
		hcl_hash	entries[HCL_TILE_WIDTH];
		int			i;

		while (((uint64) 1 << h) < n)
			h++;
		level = h / HCL_TILE_HEIGHT;
		count = 1 << (h % HCL_TILE_HEIGHT);
		/* a perfect subtree: the root of 'count' entries of one level */
		for (i = 0; i < count; i++)
			memcpy(entries[i],
				   hcl_entry(pr, level, (int64) (start >> (HCL_TILE_HEIGHT * level)) + i),
				   HCL_HASH_LEN);
		if (!hcl_merkle_root(entries, count, out))
			hcl_crypto_failed("SHA-256");
	}
	else
	{
		uint64		k = hcl_split(n);
		hcl_hash	left,
					right;

		hcl_subtree(pr, start, k, left);
		hcl_subtree(pr, start + k, n - k, right);
		if (!hcl_node_hash(left, right, out))
			hcl_crypto_failed("SHA-256");
	}
	return true;
}

static void
hcl_prover_init(HclProver *pr, Oid relid)
{
	HASHCTL		ctl;

	memset(pr, 0, sizeof(*pr));
	pr->cxt = CurrentMemoryContext;
	pr->ledger = hcl_ledger_load(relid, HCL_LOAD_READ);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(HclTileKey);
	ctl.entrysize = sizeof(HclTileEntry);
	ctl.hcxt = CurrentMemoryContext;
	pr->tiles = hash_create("hcledger proof tiles", 64, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* The tree size asked for: NULL means the ledger's latest; checked. */
static uint64
hcl_proof_size(FunctionCallInfo fcinfo, int argno, HclProver *pr, const char *what)
{
	int64		size;

	if (PG_ARGISNULL(argno))
		return (uint64) pr->ledger->tree_size;
	size = PG_GETARG_INT64(argno);
	if (size < 0 || size > pr->ledger->tree_size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %lld is out of range for ledger \"%s\" of %lld sealed rows",
						what, (long long) size, pr->ledger->relname,
						(long long) pr->ledger->tree_size)));
	return (uint64) size;
}

/* The row number stored at a log position; an error if the tile is damaged. */
static int64
hcl_row_at(HclProver *pr, int64 pos)
{
	HclTileEntry *e = hcl_tile(pr, 0, pos / HCL_TILE_WIDTH);
	uint64		be;

	if (e->rows == NULL || pos % HCL_TILE_WIDTH >= e->width)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the Merkle log of ledger \"%s\" is damaged at position %lld",
						pr->ledger->relname, (long long) pos),
				 errhint("Run hcledger.verify_ledger() to locate the damage.")));
	memcpy(&be, e->rows + (pos % HCL_TILE_WIDTH) * 8, 8);
	return (int64) pg_ntoh64(be);
}

/*
 * The position of a row number among positions lo..hi, a run of the log
 * (row numbers increase along it, with gaps): a binary search over the
 * level-0 tiles.  The row's position is at most lo + (row - first row) and
 * at least hi - (last row - row): with few gaps that window lies in one or
 * two tiles.  -1 if it is not there.
 */
static int64
hcl_search_run(HclProver *pr, int64 row, int64 lo, int64 hi)
{
	int64		first;
	int64		last;
	int64		end = hi;

	if (lo > hi)
		return -1;
	first = hcl_row_at(pr, lo);
	last = hcl_row_at(pr, hi);
	if (row < first || row > last)
		return -1;
	hi = Min(hi, lo + (row - first));
	lo = Max(lo, end - (last - row));
	while (lo <= hi)
	{
		int64		mid = lo + (hi - lo) / 2;
		int64		r = hcl_row_at(pr, mid);

		if (r == row)
			return mid;
		if (r < row)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/*
 * The log position of a row number.  A log sealed in row-number order is
 * one run; once late rows broke the order, hcledger.log_runs lists its
 * runs (docs/format.md, "Sealing order"), and the row is looked for in
 * each run whose row numbers span it.
 */
static int64
hcl_position_of(HclProver *pr, int64 row, bool missing_ok)
{
	static SPIPlanPtr runs_plan = NULL;
	static SPIPlanPtr any_plan = NULL;
	Oid			argtypes[2] = {INT4OID, INT8OID};
	Datum		args[2] = {Int32GetDatum(pr->ledger->ledger_id), Int64GetDatum(row)};
	int64		size = pr->ledger->tree_size;
	int64		pos = -1;
	SPITupleTable *runs;
	uint64		nruns;

	/* a catalog before its update to 0.3.0 has no runs: its log is in row order */
	if (pr->ledger->can_pend && pr->runs_listed == 0)
	{
		/* a log never broken is one run, not listed: read once per prover */
		hcl_kept_plan(&any_plan, "SELECT FROM hcledger.log_runs WHERE ledger_id = $1 LIMIT 1",
					  1, argtypes);
		if (SPI_execute_plan(any_plan, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "hcledger: could not read the log's runs");
		pr->runs_listed = SPI_processed == 0 ? 1 : 2;
	}
	if (!pr->ledger->can_pend || pr->runs_listed == 1)
		pos = hcl_search_run(pr, row, 0, size - 1);
	else
	{
		/* the runs whose row numbers span row, each up to the next run's start */
		hcl_kept_plan(&runs_plan,
					  "SELECT r.start_position,"
					  "       (SELECT min(n.start_position) - 1 FROM hcledger.log_runs n"
					  "         WHERE n.ledger_id = $1 AND n.start_position > r.start_position)"
					  "  FROM hcledger.log_runs r"
					  " WHERE r.ledger_id = $1 AND int8range(r.first_row, r.last_row, '[]') @> $2"
					  " ORDER BY r.start_position", 2, argtypes);
		if (SPI_execute_plan(runs_plan, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "hcledger: could not read the log's runs");
		runs = SPI_tuptable;
		nruns = SPI_processed;
		for (uint64 i = 0; i < nruns && pos < 0; i++)
		{
			bool		isnull;
			bool		open;
			int64		start = DatumGetInt64(SPI_getbinval(runs->vals[i], runs->tupdesc, 1, &isnull));
			int64		end = DatumGetInt64(SPI_getbinval(runs->vals[i], runs->tupdesc, 2, &open));

			pos = hcl_search_run(pr, row, start, open ? size - 1 : Min(end, size - 1));
		}
		SPI_freetuptable(runs);
	}
	if (pos >= 0 || missing_ok)
		return pos;
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("row %lld of ledger \"%s\" is not sealed", (long long) row,
					pr->ledger->relname),
			 errhint("Rows are sealed within hcledger.seal_interval of their commit, or by hcledger.seal().")));
	return -1;
}

/*
 * SQL function: ledger_inclusion_proof(ledger regclass, row_number bigint,
 *   tree_size bigint DEFAULT NULL)
 *   returns table(leaf_index bigint, tree_size bigint, leaf_hash hash256,
 *                 proof hash256[], root hash256)
 */
PG_FUNCTION_INFO_V1(hcl_ledger_inclusion_proof);
Datum
hcl_ledger_inclusion_proof(PG_FUNCTION_ARGS)
{
	HclProver	pr;
	TupleDesc	desc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	int64		index;
	uint64		size;
	hcl_hash	path[HCL_MAX_PROOF];
	hcl_hash	root;
	hcl_hash	leaf;
	int			len;
	Oid			elemtype;
	HeapTuple	result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "hcledger: return type must be a row type");
	elemtype = get_element_type(TupleDescAttr(desc, 3)->atttypid);
	SPI_connect();
	hcl_prover_init(&pr, PG_GETARG_OID(0));
	size = hcl_proof_size(fcinfo, 2, &pr, "tree_size");
	index = hcl_position_of(&pr, PG_GETARG_INT64(1), false);
	if ((uint64) index >= size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("row %lld was sealed at position %lld, after the tree of %llu leaves",
						(long long) PG_GETARG_INT64(1), (long long) index,
						(unsigned long long) size)));
	(void) hcl_inclusion_path_with(hcl_subtree, &pr, size, (uint64) index, path, &len);
	hcl_subtree(&pr, 0, size, root);
	memcpy(leaf, hcl_entry(&pr, 0, index), HCL_HASH_LEN);
	SPI_finish();				/* frees the tiles read */

	values[0] = Int64GetDatum(index);
	values[1] = Int64GetDatum((int64) size);
	values[2] = PointerGetDatum(hcl_make_hash256(leaf));
	values[3] = PointerGetDatum(hcl_hash_array(elemtype, path, len));
	values[4] = PointerGetDatum(hcl_make_hash256(root));
	result = heap_form_tuple(BlessTupleDesc(desc), values, nulls);
	PG_RETURN_DATUM(HeapTupleGetDatum(result));
}

/*
 * SQL function: ledger_consistency_proof(ledger regclass, old_size bigint,
 *   new_size bigint DEFAULT NULL) returns hash256[]
 */
PG_FUNCTION_INFO_V1(hcl_ledger_consistency_proof);
Datum
hcl_ledger_consistency_proof(PG_FUNCTION_ARGS)
{
	HclProver	pr;
	uint64		old_size,
				new_size;
	hcl_hash	proof[HCL_MAX_PROOF];
	int			len;
	Oid			elemtype = get_element_type(get_func_rettype(fcinfo->flinfo->fn_oid));

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	SPI_connect();
	hcl_prover_init(&pr, PG_GETARG_OID(0));
	old_size = hcl_proof_size(fcinfo, 1, &pr, "old_size");
	new_size = hcl_proof_size(fcinfo, 2, &pr, "new_size");
	if (old_size > new_size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("old_size %llu is larger than new_size %llu",
						(unsigned long long) old_size, (unsigned long long) new_size)));
	(void) hcl_consistency_proof_with(hcl_subtree, &pr, new_size, old_size, proof, &len);
	SPI_finish();
	PG_RETURN_ARRAYTYPE_P(hcl_hash_array(elemtype, proof, len));
}

/* SQL function: ledger_row_at(ledger regclass, leaf_index bigint) returns bigint */
PG_FUNCTION_INFO_V1(hcl_ledger_row_at);
Datum
hcl_ledger_row_at(PG_FUNCTION_ARGS)
{
	HclProver	pr;
	int64		index = PG_GETARG_INT64(1);
	int64		row;

	SPI_connect();
	hcl_prover_init(&pr, PG_GETARG_OID(0));
	if (index < 0 || index >= pr.ledger->tree_size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("log position %lld is out of range for ledger \"%s\" of %lld sealed rows",
						(long long) index, pr.ledger->relname, (long long) pr.ledger->tree_size),
				 errhint("A row is in the log once sealed: hcledger.seal() seals now, and hcledger.status shows each ledger's sealed rows.")));
	row = hcl_row_at(&pr, index);
	SPI_finish();
	PG_RETURN_INT64(row);
}

static const char *const hcl_row_states[] = {"sealed", "pending", "missing", "altered"};

/*
 * A row's state within the first tree_size leaves of the prover's ledger:
 * 0 sealed (and its content still hashes to its leaf), 1 pending (not yet
 * sealed within tree_size), 2 missing (no such row), 3 altered (its content
 * differs from its leaf, or a committed row below the sealed line is not
 * in the log).
 */
static int
hcl_row_state(HclProver *pr, int64 row, int64 tree_size)
{
	int			state = 0;
	StringInfoData leaf;

	initStringInfo(&leaf);
	if (!hcl_row_leaf_of(pr->ledger, row, &leaf))
		state = 2;
	else if (row > pr->ledger->passed_row)
		state = 1;
	else
	{
		int64		pos = hcl_position_of(pr, row, true);
		hcl_hash	h;

		if (pos < 0)
			state = hcl_row_unsettled(pr->ledger, row) ? 1 : 3;
		else if (pos >= tree_size)
			state = 1;
		else
		{
			if (!hcl_leaf_hash(leaf.data, leaf.len, h))
				hcl_crypto_failed("SHA-256");
			if (memcmp(h, hcl_entry(pr, 0, pos), HCL_HASH_LEN) != 0)
				state = 3;
		}
	}
	pfree(leaf.data);
	return state;
}

/* The rows of an int8[] argument (NULLs flagged), after checking SELECT on the ledger. */
static void
hcl_rows_arg(FunctionCallInfo fcinfo, Datum **elems, bool **nulls, int *n)
{
	if (pg_class_aclcheck(PG_GETARG_OID(0), GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, get_rel_name(PG_GETARG_OID(0)));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  elems, nulls, n);
}

/*
 * SQL function: ledger_rows_check(ledger regclass, rows bigint[],
 *   tree_size bigint, OUT state text, OUT row_number bigint)
 * Are these rows sealed within the first tree_size leaves, each still
 * matching its logged leaf hash?  The worst state (hcl_row_state) and the
 * first row in that state.  NULL rows are skipped.  For verify_code, which
 * runs with the rights to read them.
 */
PG_FUNCTION_INFO_V1(hcl_ledger_rows_check);
Datum
hcl_ledger_rows_check(PG_FUNCTION_ARGS)
{
	int64		tree_size = PG_GETARG_INT64(2);
	Datum	   *elems;
	bool	   *elemnulls;
	int			n;
	int			worst = 0;
	int64		worst_row = 0;
	HclProver	pr;
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "hcledger: return type must be a row type");
	hcl_rows_arg(fcinfo, &elems, &elemnulls, &n);
	SPI_connect();
	hcl_prover_init(&pr, PG_GETARG_OID(0));
	tree_size = Min(tree_size, pr.ledger->tree_size);
	for (int i = 0; i < n; i++)
	{
		int			state;

		if (elemnulls[i])
			continue;
		state = hcl_row_state(&pr, DatumGetInt64(elems[i]), tree_size);
		if (state > worst)
		{
			worst = state;
			worst_row = DatumGetInt64(elems[i]);
		}
	}
	SPI_finish();
	values[0] = CStringGetTextDatum(hcl_row_states[worst]);
	values[1] = Int64GetDatum(worst_row);
	nulls[1] = (worst == 0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * SQL function: ledger_rows_states(ledger regclass, rows bigint[],
 *   tree_size bigint) RETURNS TABLE (row_number bigint, state text)
 * ledger_rows_check row by row (each non-NULL element once, in order), for
 * the status snapshots, which check the rows of every current code at once.
 */
PG_FUNCTION_INFO_V1(hcl_ledger_rows_states);
Datum
hcl_ledger_rows_states(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		tree_size = PG_GETARG_INT64(2);
	Datum	   *elems;
	bool	   *elemnulls;
	int			n;
	HclProver	pr;
	MemoryContext rowcxt;

	hcl_rows_arg(fcinfo, &elems, &elemnulls, &n);
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	hcl_prover_init(&pr, PG_GETARG_OID(0));
	tree_size = Min(tree_size, pr.ledger->tree_size);
	/* what checking one row allocates (its index scan) is freed after it */
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "hcledger row state", ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};
		MemoryContext old;

		if (elemnulls[i])
			continue;
		old = MemoryContextSwitchTo(rowcxt);
		values[0] = elems[i];
		values[1] = CStringGetTextDatum(hcl_row_states[hcl_row_state(&pr, DatumGetInt64(elems[i]), tree_size)]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
	}
	MemoryContextDelete(rowcxt);
	SPI_finish();
	return (Datum) 0;
}
