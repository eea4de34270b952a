/*
 * worker.c
 *		The sealer background worker: seals every ledger of one database
 *		every hcledger.seal_interval milliseconds.
 *
 * Registered only when hcledger is in shared_preload_libraries.  Without
 * it, rows are sealed by explicit hcledger.seal() calls, and the status
 * view shows them as pending until then.
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "ledger.h"
#include "worker.h"

int			hcl_seal_interval = 1000;
char	   *hcl_database = NULL;

void
hcl_register_worker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "hcledger");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "hcl_sealer_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "hcledger sealer");
	snprintf(worker.bgw_type, BGW_MAXLEN, "hcledger sealer");
	RegisterBackgroundWorker(&worker);
}

/* Is the extension installed in this database?  (In a transaction.) */
static bool
hcl_extension_present(void)
{
	bool		present;

	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'hcledger'",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "hcledger: could not look for the extension");
	present = SPI_processed == 1;
	return present;
}

/* Seal one ledger in a transaction of its own; log and go on on error. */
static void
hcl_seal_one(Oid relid)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		(void) hcl_seal_ledger(relid, false);	/* skip it if a seal() has it */
		PopActiveSnapshot();
		SPI_finish();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		RESUME_INTERRUPTS();
	}
	PG_END_TRY();
}

/* One round: every active ledger of the database. */
static void
hcl_seal_round(void)
{
	List	   *ledgers = NIL;
	ListCell   *lc;
	MemoryContext round = AllocSetContextCreate(TopMemoryContext, "hcledger round",
												ALLOCSET_DEFAULT_SIZES);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (hcl_extension_present())
	{
		List	   *found = hcl_active_ledgers();	/* in SPI memory */
		MemoryContext old = MemoryContextSwitchTo(round);

		ledgers = list_copy(found);
		MemoryContextSwitchTo(old);
	}
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();

	MemoryContextSwitchTo(round);
	foreach(lc, ledgers)
	{
		pgstat_report_activity(STATE_RUNNING, "sealing");
		hcl_seal_one(lfirst_oid(lc));
		CHECK_FOR_INTERRUPTS();
	}
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextSwitchTo(TopMemoryContext);
	MemoryContextDelete(round);
}

void
hcl_sealer_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(hcl_database, NULL, 0);
	pgstat_report_appname("hcledger sealer");

	/*
	 * The worker runs as the bootstrap superuser.  Whatever search_path the
	 * database's owner set for it (ALTER DATABASE ... SET), its queries
	 * resolve names in pg_catalog only, so no one's function or operator
	 * runs in its place.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	for (;;)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 hcl_seal_interval, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			/* a new interval starts a new wait */
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			continue;
		}
		hcl_seal_round();
	}
}
