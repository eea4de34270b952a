/*
 * shim_stubs.c
 *		Server and extension functions that codes.c and consortium.c refer
 *		to but that the harnesses never reach (SPI, catalogs, tuples, the
 *		keys): each aborts, naming itself, if it is called.  Weak, so that
 *		a harness may define one for real (fuzz_log_entries.c captures the
 *		result rows).  Also the two small helpers the harnesses do reach.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "replication/logicalworker.h"
#include "replication/worker_internal.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "authority.h"
#include "pgshim.h"
#include "ledger.h"
#include "signing.h"

#define WEAK __attribute__((weak))
#define UNREACHED() \
	do { \
		fprintf(stderr, "pgshim: %s is not available outside a server\n", __func__); \
		abort(); \
	} while (0)

WEAK MemoryContext CurrentMemoryContext = NULL;
WEAK Subscription *MySubscription = NULL;

/* ledger.c's: a palloc'd bytea holding a copy of data. */
WEAK bytea *
hcl_bytea_of(const void *data, Size len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

/* utils/adt/timestamp.c (PostgreSQL 15) */
WEAK TimestampTz
time_t_to_timestamptz(pg_time_t tm)
{
	TimestampTz result;

	result = (TimestampTz) tm -
		((POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY);
	result *= USECS_PER_SEC;
	return result;
}

WEAK pg_time_t
timestamptz_to_time_t(TimestampTz t)
{
	UNREACHED();
}

WEAK JsonbIteratorToken
JsonbIteratorNext(JsonbIterator **it, JsonbValue *val, bool skipNested)
{
	UNREACHED();
}

WEAK JsonbIterator *
JsonbIteratorInit(JsonbContainer *container)
{
	UNREACHED();
}

WEAK JsonbValue *
getKeyJsonValueFromContainer(JsonbContainer *container, const char *keyVal,
							 int keyLen, JsonbValue *res)
{
	UNREACHED();
}

WEAK struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	UNREACHED();
}

WEAK Datum
numeric_out(PG_FUNCTION_ARGS)
{
	UNREACHED();
}

WEAK Datum
namein(PG_FUNCTION_ARGS)
{
	UNREACHED();
}

/* code_disclose's names (src/codes.c): the harnesses never call it */
WEAK void
deconstruct_array(ArrayType *array, Oid elmtype, int elmlen, bool elmbyval, char elmalign,
				  Datum **elemsp, bool **nullsp, int *nelemsp)
{
	UNREACHED();
}

WEAK HeapTuple
heap_form_tuple(TupleDesc tupleDescriptor, SHIM_CONST Datum *values, SHIM_CONST bool *isnull)
{
	UNREACHED();
}

WEAK void
heap_deform_tuple(HeapTuple tuple, TupleDesc tupleDesc, Datum *values, bool *isnull)
{
	UNREACHED();
}

WEAK TypeFuncClass
get_call_result_type(FunctionCallInfo fcinfo, Oid *resultTypeId, TupleDesc *resultTupleDesc)
{
	UNREACHED();
}

WEAK TupleDesc
BlessTupleDesc(TupleDesc tupdesc)
{
	UNREACHED();
}

WEAK Datum
HeapTupleHeaderGetDatum(HeapTupleHeader tuple)
{
	UNREACHED();
}

WEAK HeapTupleHeader
DatumGetHeapTupleHeader(Datum d)
{
	UNREACHED();
}

WEAK TupleDesc
lookup_rowtype_tupdesc(Oid type_id, int32 typmod)
{
	UNREACHED();
}

WEAK void
DecrTupleDescRefCount(TupleDesc tupdesc)
{
	UNREACHED();
}

WEAK void *
MemoryContextAllocZero(MemoryContext context, Size size)
{
	UNREACHED();
}

WEAK int
SPI_connect(void)
{
	UNREACHED();
}

WEAK int
SPI_finish(void)
{
	UNREACHED();
}

WEAK bool
IsLogicalWorker(void)
{
	UNREACHED();
}

WEAK void
hcl_pseudonym(const char *authority, const char *document, uint8 out[32])
{
	UNREACHED();
}

WEAK hcl_key_kind
hcl_credential_kind(void)
{
	UNREACHED();
}

WEAK void
hcl_credential_sign(hcl_key_kind kind, const uint8 *msg, size_t msglen, uint8 sig[64])
{
	UNREACHED();
}

WEAK bool
hcl_node_sign(const uint8 *msg, size_t len, uint8 *sig, uint8 *pub)
{
	UNREACHED();
}

WEAK HclLedger *
hcl_ledger_load(Oid relid, HclLoadMode mode)
{
	UNREACHED();
}

WEAK void
hcl_ledger_resolve_desc(HclLedger *ledger, TupleDesc desc)
{
	UNREACHED();
}

WEAK void
hcl_encode_row(HclLedger *ledger, int64 row_number, Datum *values, bool *nulls,
			   StringInfo out)
{
	UNREACHED();
}

WEAK void
InitMaterializedSRF(FunctionCallInfo fcinfo, bits32 flags)
{
	UNREACHED();
}

WEAK void
tuplestore_putvalues(Tuplestorestate *state, TupleDesc tdesc, SHIM_CONST Datum *values, SHIM_CONST bool *isnull)
{
	UNREACHED();
}
