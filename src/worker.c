/*
 * worker.c
 *		The sealer: a launcher that, every hcledger.seal_interval
 *		milliseconds, starts one short-lived worker for each database with
 *		ledgers, which seals that database's ledgers and exits.
 *
 * Registered only when hcledger is in shared_preload_libraries.  Without
 * it, rows are sealed by explicit hcledger.seal() calls, and the status
 * view shows them as pending until then.
 *
 * The launcher is connected to no database: it reads pg_database only, and
 * never waits for a worker (one still at work is not started again).  A
 * sealing worker holds its database's connection for one round, so
 * CREATE DATABASE ... TEMPLATE and DROP DATABASE of it (which wait a few
 * seconds for other sessions to leave) find it gone between rounds.  A
 * database without the extension is looked at again after a minute, or at
 * once when CREATE EXTENSION hcledger runs there (wake_sealer()).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "ledger.h"
#include "worker.h"

int			hcl_seal_interval = 1000;
char	   *hcl_database = NULL;

/* Databases found without the extension, not looked at again until then. */
#define HCL_MAX_ABSENT 256
#define HCL_ABSENT_SECONDS 60

typedef struct HclSealerShared
{
	slock_t		mutex;
	int			n;
	Oid			dboid[HCL_MAX_ABSENT];
	TimestampTz until[HCL_MAX_ABSENT];
} HclSealerShared;

static HclSealerShared *hcl_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
hcl_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(HclSealerShared)));
}

static void
hcl_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	hcl_shared = ShmemInitStruct("hcledger sealer", sizeof(HclSealerShared), &found);
	if (!found)
	{
		memset(hcl_shared, 0, sizeof(HclSealerShared));
		SpinLockInit(&hcl_shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Note that a database has no extension (until > 0) or may have one (0). */
static void
hcl_mark_absent(Oid dboid, TimestampTz until)
{
	int			i;

	if (hcl_shared == NULL)
		return;
	SpinLockAcquire(&hcl_shared->mutex);
	for (i = 0; i < hcl_shared->n && hcl_shared->dboid[i] != dboid; i++)
		;
	if (until == 0)
	{
		if (i < hcl_shared->n)
		{
			hcl_shared->n--;
			hcl_shared->dboid[i] = hcl_shared->dboid[hcl_shared->n];
			hcl_shared->until[i] = hcl_shared->until[hcl_shared->n];
		}
	}
	else
	{
		/* a new entry takes a free slot, else the one that expires first */
		if (i == hcl_shared->n && hcl_shared->n < HCL_MAX_ABSENT)
			hcl_shared->n++;
		else if (i == hcl_shared->n)
		{
			int			j;

			for (i = 0, j = 1; j < hcl_shared->n; j++)
				if (hcl_shared->until[j] < hcl_shared->until[i])
					i = j;
		}
		hcl_shared->dboid[i] = dboid;
		hcl_shared->until[i] = until;
	}
	SpinLockRelease(&hcl_shared->mutex);
}

static bool
hcl_known_absent(Oid dboid, TimestampTz now)
{
	bool		absent = false;
	int			i;

	if (hcl_shared == NULL)
		return false;
	SpinLockAcquire(&hcl_shared->mutex);
	for (i = 0; i < hcl_shared->n; i++)
		if (hcl_shared->dboid[i] == dboid)
			absent = hcl_shared->until[i] > now;
	SpinLockRelease(&hcl_shared->mutex);
	return absent;
}

void
hcl_register_worker(void)
{
	BackgroundWorker worker;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = hcl_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = hcl_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "hcledger");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "hcl_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "hcledger launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "hcledger launcher");
	RegisterBackgroundWorker(&worker);
}

/* Is the extension installed in this database?  (In a transaction.) */
static bool
hcl_extension_present(void)
{
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'hcledger'",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "hcledger: could not look for the extension");
	return SPI_processed == 1;
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

/* One round: every active ledger of the database; false if it has no extension. */
static bool
hcl_seal_round(void)
{
	List	   *ledgers = NIL;
	ListCell   *lc;
	bool		present;
	MemoryContext round = AllocSetContextCreate(TopMemoryContext, "hcledger round",
												ALLOCSET_DEFAULT_SIZES);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	present = hcl_extension_present();
	if (present)
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
	return present;
}

/* A sealing worker: one round in the database its argument names, then exit. */
void
hcl_sealer_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("hcledger sealer");

	/*
	 * The worker runs as the bootstrap superuser.  Whatever search_path the
	 * database's owner set for it (ALTER DATABASE ... SET), its queries
	 * resolve names in pg_catalog only, so no one's function or operator
	 * runs in its place.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	if (!hcl_seal_round())
		hcl_mark_absent(dboid, TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														   HCL_ABSENT_SECONDS * 1000));
	proc_exit(0);
}

/* Is this database one to seal ("*": all; else a comma-separated list of names)? */
static bool
hcl_database_wanted(const char *name)
{
	char	   *list;
	List	   *names;
	ListCell   *lc;
	bool		wanted = false;

	if (hcl_database == NULL || strcmp(hcl_database, "*") == 0)
		return true;
	list = pstrdup(hcl_database);
	if (!SplitIdentifierString(list, ',', &names))
	{
		ereport(LOG,
				(errmsg("hcledger.database \"%s\" is not a list of database names; no database is sealed",
						hcl_database)));
		return false;
	}
	foreach(lc, names)
		wanted |= strcmp((char *) lfirst(lc), name) == 0;
	return wanted;
}

/* The databases to seal now: connectable, not templates, wanted, not known without the extension. */
static List *
hcl_databases(MemoryContext cxt)
{
	List	   *result = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	TimestampTz now = GetCurrentTimestamp();

	StartTransactionCommand();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (db->datallowconn && !db->datistemplate &&
			hcl_database_wanted(NameStr(db->datname)) && !hcl_known_absent(db->oid, now))
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			result = lappend_oid(result, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return result;
}

/* The sealing worker last started in each database (in TopMemoryContext). */
typedef struct HclSealing
{
	Oid			dboid;
	BackgroundWorkerHandle *handle;
} HclSealing;

static List *hcl_sealing = NIL;
static uint32 hcl_round = 0;

/* Is a worker started in this database still at it?  (Forgets it if not.) */
static bool
hcl_still_sealing(Oid dboid)
{
	ListCell   *lc;

	foreach(lc, hcl_sealing)
	{
		HclSealing *w = lfirst(lc);
		pid_t		pid;

		if (w->dboid != dboid)
			continue;
		if (GetBackgroundWorkerPid(w->handle, &pid) != BGWH_STOPPED)
			return true;
		pfree(w->handle);
		pfree(w);
		hcl_sealing = foreach_delete_current(hcl_sealing, lc);
	}
	return false;
}

/*
 * One round: a sealing worker in each database, all at once, except where
 * the last one is still at work (a lock it waits for, a long round): it is
 * never waited for, so no database holds up the others.  The databases are
 * taken in a turning order, so that when background worker slots run short
 * each gets its turn.
 */
static void
hcl_launch_round(void)
{
	MemoryContext round = AllocSetContextCreate(TopMemoryContext, "hcledger launcher round",
												ALLOCSET_DEFAULT_SIZES);
	List	   *dbs = hcl_databases(round);
	int			n = list_length(dbs);
	int			k;

	hcl_round++;
	for (k = 0; k < n; k++)
	{
		Oid			dboid = list_nth_oid(dbs, (int) ((hcl_round + k) % n));
		BackgroundWorker worker;
		BackgroundWorkerHandle *handle;
		MemoryContext old;

		if (hcl_still_sealing(dboid))
			continue;
		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
		worker.bgw_restart_time = BGW_NEVER_RESTART;
		worker.bgw_main_arg = ObjectIdGetDatum(dboid);
		worker.bgw_notify_pid = 0;	/* never waited for: its state is polled */
		snprintf(worker.bgw_library_name, BGW_MAXLEN, "hcledger");
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "hcl_sealer_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "hcledger sealer");
		snprintf(worker.bgw_type, BGW_MAXLEN, "hcledger sealer");
		/* the handle is made in the current memory context: one that lasts */
		old = MemoryContextSwitchTo(TopMemoryContext);
		if (RegisterDynamicBackgroundWorker(&worker, &handle))
		{
			HclSealing *w = palloc(sizeof(HclSealing));

			w->dboid = dboid;
			w->handle = handle;
			hcl_sealing = lappend(hcl_sealing, w);
			MemoryContextSwitchTo(old);
		}
		else
		{
			MemoryContextSwitchTo(old);
			ereport(LOG,
					(errmsg("hcledger could not start a sealer for database %u this round: no background worker slot is free",
							dboid),
					 errhint("Raise max_worker_processes.")));
		}
	}
	MemoryContextDelete(round);
}

void
hcl_launcher_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("hcledger launcher");

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
		hcl_launch_round();
	}
}

/*
 * SQL function: wake_sealer() returns void
 *   Called as CREATE EXTENSION hcledger ends: this database is sealed from
 *   the next round on, even if it was found without the extension lately.
 */
PG_FUNCTION_INFO_V1(hcl_wake_sealer);
Datum
hcl_wake_sealer(PG_FUNCTION_ARGS)
{
	hcl_mark_absent(MyDatabaseId, 0);
	PG_RETURN_VOID();
}
