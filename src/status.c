/*
 * status.c
 *		What the status view counts, without running anyone's code.
 *
 * The view is read by operators, monitoring and every role: counting a
 * ledger's rows with a query would run the table owner's row-level
 * security policies (and whatever functions they call) with the reader's
 * rights.  The count here walks the row-number index under the reader's
 * snapshot, as the sealer and the verifier do: no policy, rule or trigger
 * is involved, only the btree's own int8 comparisons.  And it never waits:
 * a ledger someone holds locked is reported as not counted.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "ledger.h"

/*
 * SQL function: ledger_unsealed_rows(ledger regclass) returns bigint
 *
 * The rows not yet sealed that the caller's snapshot sees (committed after
 * the sealer passed them, or not passed yet); NULL if the caller may not read the table
 * or another session holds a lock that would make the count wait.
 */
PG_FUNCTION_INFO_V1(hcl_ledger_unsealed_rows);
Datum
hcl_ledger_unsealed_rows(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	HclLedger  *l;
	Relation	rel;
	Relation	irel;
	Oid			indexid;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	int64		n = 0;

	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		PG_RETURN_NULL();
	if (!ConditionalLockRelationOid(relid, AccessShareLock))
		PG_RETURN_NULL();
	SPI_connect();
	l = hcl_ledger_load(relid, HCL_LOAD_READ);
	rel = table_open(relid, NoLock);
	hcl_ledger_resolve(l, rel);
	indexid = hcl_ledger_row_index(l, rel);
	if (!ConditionalLockRelationOid(indexid, AccessShareLock))
	{
		table_close(rel, NoLock);
		SPI_finish();
		PG_RETURN_NULL();
	}
	irel = index_open(indexid, NoLock);
	scan = index_beginscan(rel, irel, GetActiveSnapshot(), 2, 0);
	slot = table_slot_create(rel, NULL);
	/* the pending runs (rows of transactions open when passed, gaps), then the rows not passed yet */
	for (int i = 0; i <= l->npending; i++)
	{
		bool		run = i < l->npending;
		hcl_rescan_rows(scan, run ? l->pending[i].from : l->passed_row + 1,
						run ? l->pending[i].to : PG_INT64_MAX);
		while (index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			n++;
			CHECK_FOR_INTERRUPTS();
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	index_close(irel, NoLock);
	table_close(rel, NoLock);
	SPI_finish();
	PG_RETURN_INT64(n);
}
