/*
 * fuzz_log_entries.c
 *		Consortium log entries, src/consortium.c (backend code, #included
 *		for its static functions): the 40-byte entries (8-byte row number,
 *		32-byte leaf hash) of a peer's checkpoints as they arrive over
 *		logical replication, read by log_entries(entries) and
 *		log_extend(frontier, tree_size, entries), which restores a peer's
 *		compact range from attacker-chosen bytes and extends it.
 *
 * The SQL functions themselves are called; the server functions that
 * build their result rows are replaced here by ones that record the
 * values, which are then checked.
 *
 * Input: a mode byte, then
 *   mode 0 (any frontier): 8 bytes of tree_size (a bigint, may be
 *     negative), 2 bytes of frontier length, the frontier, the entries;
 *   mode 1 (an honest frontier): 2 bytes k, the entries; the compact range
 *     of the first k entries' leaves is made with hcl_acc_push, and
 *     log_extend of it by the rest must give the root of all the leaves
 *     (hcl_merkle_root), the size, and the compact range of all of them.
 * log_entries must return one row per entry with its row number and leaf
 * hash, or raise an ERROR if the length is not a multiple of 40.
 */
#include "../../src/consortium.c"

#include "fuzz_common.h"
#include "pgshim.h"

/* ---------- result capture, instead of the server's tuple code ---------- */

#define MAX_ROWS 4096

static struct
{
	int32		entry;
	int64		row;
	uint8		hash[HCL_HASH_LEN];
}			rows[MAX_ROWS];
static int	nrows;

static Datum result_values[3];
static bool result_formed;

void
InitMaterializedSRF(FunctionCallInfo fcinfo, bits32 flags)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = (Tuplestorestate *) &rows;
	rsinfo->setDesc = NULL;
	nrows = 0;
}

void
tuplestore_putvalues(Tuplestorestate *state, TupleDesc tdesc,
					 SHIM_CONST Datum *values, SHIM_CONST bool *isnull)
{
	FZ_CHECK(state == (Tuplestorestate *) &rows);
	FZ_CHECK(!isnull[0] && !isnull[1] && !isnull[2]);
	FZ_CHECK(nrows < MAX_ROWS);
	rows[nrows].entry = DatumGetInt32(values[0]);
	rows[nrows].row = DatumGetInt64(values[1]);
	memcpy(rows[nrows].hash, DatumGetHash256P(values[2])->data, HCL_HASH_LEN);
	nrows++;
}

TypeFuncClass
get_call_result_type(FunctionCallInfo fcinfo, Oid *resultTypeId, TupleDesc *resultTupleDesc)
{
	*resultTupleDesc = NULL;
	return TYPEFUNC_COMPOSITE;
}

TupleDesc
BlessTupleDesc(TupleDesc tupdesc)
{
	return tupdesc;
}

HeapTuple
heap_form_tuple(TupleDesc tupleDescriptor, SHIM_CONST Datum *values, SHIM_CONST bool *isnull)
{
	static HeapTupleData tuple;

	for (int i = 0; i < 3; i++)
	{
		FZ_CHECK(!isnull[i]);
		result_values[i] = values[i];
	}
	result_formed = true;
	tuple.t_data = NULL;
	return &tuple;
}

Datum
HeapTupleHeaderGetDatum(HeapTupleHeader tuple)
{
	return (Datum) 0;
}

/* ---------- calling the SQL functions ---------- */

typedef struct Call
{
	bytea	   *frontier;
	int64		size;
	bytea	   *entries;
} Call;

static void
do_log_entries(void *arg)
{
	Call	   *c = arg;
	LOCAL_FCINFO(fcinfo, 1);
	ReturnSetInfo rsinfo;

	memset(&rsinfo, 0, sizeof(rsinfo));
	rsinfo.type = T_ReturnSetInfo;
	rsinfo.allowedModes = SFRM_Materialize;
	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, (Node *) &rsinfo);
	fcinfo->args[0].value = PointerGetDatum(c->entries);
	fcinfo->args[0].isnull = false;
	(void) hcl_log_entries(fcinfo);
}

static void
do_log_extend(void *arg)
{
	Call	   *c = arg;
	LOCAL_FCINFO(fcinfo, 3);

	InitFunctionCallInfoData(*fcinfo, NULL, 3, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = PointerGetDatum(c->frontier);
	fcinfo->args[1].value = Int64GetDatum(c->size);
	fcinfo->args[2].value = PointerGetDatum(c->entries);
	for (int i = 0; i < 3; i++)
		fcinfo->args[i].isnull = false;
	result_formed = false;
	(void) hcl_log_extend(fcinfo);
	FZ_CHECK(result_formed);
}

static bytea *
make_bytea(const uint8_t *p, size_t n)
{
	return hcl_bytea_of(p, n);	/* shim_stubs.c */
}

static int
popcount64(uint64 v)
{
	int			n = 0;

	for (; v != 0; v &= v - 1)
		n++;
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_in		in = {data, size};
	uint8_t		mode = fz_u8(&in) % 2;
	Call		call;
	const uint8_t *ents;
	size_t		nbytes;
	int64		n;
	uint64		k = 0;
	hcl_merkle_acc acc;
	bool		ok;

	memset(&call, 0, sizeof(call));
	if (mode == 0)
	{
		size_t		flen;
		const uint8_t *f;

		call.size = (int64) fz_u64(&in);
		f = fz_bytes(&in, fz_u16(&in) % (65 * HCL_HASH_LEN + 1), &flen);
		call.frontier = make_bytea(f, flen);
	}
	else
		k = fz_u16(&in);
	ents = fz_bytes(&in, in.n, &nbytes);
	if (nbytes / HCL_LOG_ENTRY_LEN >= MAX_ROWS)
		nbytes = (MAX_ROWS - 1) * HCL_LOG_ENTRY_LEN;
	call.entries = make_bytea(ents, nbytes);
	n = (int64) (nbytes / HCL_LOG_ENTRY_LEN);

	/* log_entries */
	ok = shim_try(do_log_entries, &call);
	FZ_CHECK(ok == (nbytes % HCL_LOG_ENTRY_LEN == 0));
	if (ok)
	{
		FZ_CHECK(nrows == n);
		for (int i = 0; i < nrows; i++)
		{
			const uint8_t *e = ents + (size_t) i * HCL_LOG_ENTRY_LEN;
			uint64		be = 0;

			for (int j = 0; j < 8; j++)
				be = be << 8 | e[j];
			FZ_CHECK(rows[i].entry == i);
			FZ_CHECK(rows[i].row == (int64) be);
			FZ_CHECK(memcmp(rows[i].hash, e + 8, HCL_HASH_LEN) == 0);
		}
	}
	else
		FZ_CHECK(shim_last_sqlstate() == ERRCODE_INVALID_BINARY_REPRESENTATION);

	/* log_extend */
	if (mode == 1)
	{
		if (n == 0)
			goto out;
		k %= (uint64) n + 1;
		hcl_acc_init(&acc);
		for (uint64 i = 0; i < k; i++)
			FZ_CHECK(hcl_acc_push(&acc, ents + i * HCL_LOG_ENTRY_LEN + 8));
		call.frontier = make_bytea((const uint8_t *) acc.stack, (size_t) acc.depth * HCL_HASH_LEN);
		call.size = (int64) k;
		call.entries = make_bytea(ents + k * HCL_LOG_ENTRY_LEN, (size_t) (n - k) * HCL_LOG_ENTRY_LEN);
	}
	ok = shim_try(do_log_extend, &call);
	if (mode == 1)
		FZ_CHECK(ok);
	if (ok)
	{
		int64		newsize = DatumGetInt64(result_values[0]);
		Hash256    *root = DatumGetHash256P(result_values[1]);
		bytea	   *frontier = DatumGetByteaPP(result_values[2]);

		FZ_CHECK(call.size >= 0);
		FZ_CHECK((uint64) newsize == (uint64) call.size +
				 VARSIZE_ANY_EXHDR(call.entries) / HCL_LOG_ENTRY_LEN);
		FZ_CHECK(VARSIZE_ANY_EXHDR(frontier) ==
				 (Size) popcount64((uint64) newsize) * HCL_HASH_LEN);
		if (mode == 1)
		{
			hcl_hash   *leaves = fz_dup("", (size_t) n * HCL_HASH_LEN);
			hcl_hash	expect;

			for (int64 i = 0; i < n; i++)
				memcpy(leaves[i], ents + i * HCL_LOG_ENTRY_LEN + 8, HCL_HASH_LEN);
			FZ_CHECK(hcl_merkle_root(leaves, (uint64) n, expect));
			FZ_CHECK(memcmp(root->data, expect, HCL_HASH_LEN) == 0);
			/* the new compact range is the one of all the leaves */
			hcl_acc_init(&acc);
			for (int64 i = 0; i < n; i++)
				FZ_CHECK(hcl_acc_push(&acc, leaves[i]));
			FZ_CHECK(VARSIZE_ANY_EXHDR(frontier) == (Size) acc.depth * HCL_HASH_LEN);
			FZ_CHECK(memcmp(VARDATA_ANY(frontier), acc.stack, VARSIZE_ANY_EXHDR(frontier)) == 0);
			free(leaves);
		}
	}
	else
		FZ_CHECK(shim_last_sqlstate() == ERRCODE_INVALID_PARAMETER_VALUE ||
				 shim_last_sqlstate() == ERRCODE_INVALID_BINARY_REPRESENTATION ||
				 shim_last_sqlstate() == ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE);	/* past 2^63 - 1 leaves */
out:
	shim_reset();
	return 0;
}
