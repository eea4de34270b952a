/*
 * guard.c
 *		Guards that must act before a command changes anything: row numbers
 *		that were not drawn from the ledger's sequence, and DDL that commits
 *		part of its work before the DDL guard (an event trigger at the end
 *		of the command) could see it.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/inval.h"

#include "columns.h"
#include "ledger.h"
#include "pgcompat.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/*
 * The value this session last drew from a sequence, as currval() gives it;
 * false if it has drawn none.  currval() checks the caller's privileges on
 * the sequence, which a writer of an identity column need not have (its
 * default draws without them), so it is asked as the bootstrap superuser:
 * it only reads this session's own state.
 */
static bool
hcl_session_currval(Oid seqid, int64 *value)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			save_userid;
	int			save_sec_context;
	volatile bool ok = true;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		*value = DatumGetInt64(DirectFunctionCall1(currval_oid, ObjectIdGetDatum(seqid)));
	}
	PG_CATCH();
	{
		ErrorData  *e;

		/* "not yet defined in this session" is an answer; anything else is an error */
		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		if (e->sqlerrcode != ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE)
		{
			SetUserIdAndSecContext(save_userid, save_sec_context);
			PG_RE_THROW();
		}
		FreeErrorData(e);
		FlushErrorState();
		ok = false;
	}
	PG_END_TRY();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return ok;
}

/*
 * What this session knows of each ledger sequence's numbers: the last one
 * it let through (never twice), and the sequence's last value when the
 * current INSERT or COPY statement began (a row of the statement must have
 * a later one: a number drawn by an earlier statement whose row failed
 * before this check ran, say on a NOT NULL column, is not fresh).
 */
typedef struct HclRowUsed
{
	Oid			seqid;			/* hash key */
	int64		row;			/* last let through; 0 if none */
	int64		floor;			/* the sequence's value before the statement */
} HclRowUsed;

static HTAB *hcl_rows_used = NULL;

/* A backend-lifetime hash table keyed by an OID. */
static HTAB *
hcl_oid_hash(const char *name, Size entrysize)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = entrysize;
	ctl.hcxt = TopMemoryContext;
	return hash_create(name, 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static HclRowUsed *
hcl_row_used(Oid seqid)
{
	bool		found;
	HclRowUsed *used;

	if (hcl_rows_used == NULL)
		hcl_rows_used = hcl_oid_hash("hcledger row numbers used", sizeof(HclRowUsed));
	used = hash_search(hcl_rows_used, &seqid, HASH_ENTER, &found);
	if (!found)
		used->row = used->floor = 0;
	return used;
}

/*
 * Note, as an INSERT or COPY into a ledger begins (its statement trigger),
 * the last number this session has drawn from the ledger's sequence.
 */
typedef struct HclLedgerSeq
{
	Oid			relid;			/* hash key */
	Oid			seqid;
	bool		set_known;
	int64		set_from;		/* where the ledger's current column set starts */
} HclLedgerSeq;

static HTAB *hcl_ledger_seqs = NULL;

/* The identity sequence of a column (InvalidOid if none). */
static Oid
hcl_identity_sequence(Oid relid, AttrNumber attnum)
{
#if PG_VERSION_NUM >= 170000
	Relation	rel = relation_open(relid, AccessShareLock);
	Oid			seqid = getIdentitySequence(rel, attnum, true);

	relation_close(rel, AccessShareLock);
	return seqid;
#else
	return getIdentitySequence(relid, attnum, true);
#endif
}

/* A table's definition changed: look its sequence up again. */
static void
hcl_forget_ledger_seq(Datum arg, Oid relid)
{
	if (hcl_ledger_seqs == NULL)
		return;
	if (OidIsValid(relid))
		hash_search(hcl_ledger_seqs, &relid, HASH_REMOVE, NULL);
	else
	{
		HASH_SEQ_STATUS status;
		HclLedgerSeq *e;

		hash_seq_init(&status, hcl_ledger_seqs);
		while ((e = hash_seq_search(&status)) != NULL)
			hash_search(hcl_ledger_seqs, &e->relid, HASH_REMOVE, NULL);
	}
}

/* The identity sequence of a ledger's hcl_row (InvalidOid if none), cached. */
static Oid
hcl_ledger_seq(Oid relid)
{
	HclLedgerSeq *e;
	bool		found;

	if (hcl_ledger_seqs == NULL)
	{
		hcl_ledger_seqs = hcl_oid_hash("hcledger ledger sequences", sizeof(HclLedgerSeq));
		CacheRegisterRelcacheCallback(hcl_forget_ledger_seq, (Datum) 0);
	}
	e = hash_search(hcl_ledger_seqs, &relid, HASH_FIND, &found);
	if (!found)
	{
		AttrNumber	attnum = get_attnum(relid, "hcl_row");
		Oid			seqid = attnum == InvalidAttrNumber ? InvalidOid :
			hcl_identity_sequence(relid, attnum);

		e = hash_search(hcl_ledger_seqs, &relid, HASH_ENTER, &found);
		e->seqid = seqid;
		e->set_known = false;
	}
	return e->seqid;
}

/*
 * The first row of the ledger's current column set, cached until the
 * table's definition changes (a change of its columns makes a new set).
 */
static int64
hcl_ledger_set_from(Oid relid)
{
	HclLedgerSeq *e;
	int64		from;

	/* (row_drawn looked the entry up just before: this finds it at once) */
	e = hash_search(hcl_ledger_seqs, &relid, HASH_FIND, NULL);
	if (e != NULL && e->set_known)
		return e->set_from;
	from = hcl_column_set_from(relid);
	/* looked up again: reading the catalog may have processed invalidations */
	e = hash_search(hcl_ledger_seqs, &relid, HASH_FIND, NULL);
	if (e != NULL)
	{
		e->set_from = from;
		e->set_known = true;
	}
	return from;
}

void
hcl_note_statement_floor(Relation rel)
{
	Oid			seqid = hcl_ledger_seq(RelationGetRelid(rel));
	LOCAL_FCINFO(fcinfo, 1);
	Oid			save_userid;
	int			save_sec_context;
	Datum		last;

	if (!OidIsValid(seqid))
		return;
	/*
	 * The sequence's last value as the statement begins, drawn by any
	 * session (every row of this statement draws a later one), read as the
	 * bootstrap superuser: the writer of an identity column need not have
	 * rights on its sequence.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = ObjectIdGetDatum(seqid);
	fcinfo->args[0].isnull = false;
	last = pg_sequence_last_value(fcinfo);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	hcl_row_used(seqid)->floor = fcinfo->isnull ? 0 : DatumGetInt64(last);
}

/*
 * Is row the number this session just drew from seqid, in this statement,
 * and not one it has let through already?  A number drawn for an insert
 * that then failed or rolled back is not fresh again: offered later (with
 * OVERRIDING SYSTEM VALUE after the sealer passed over it as a gap), it is
 * refused.
 */
static bool
hcl_row_fresh(Oid seqid, int64 row)
{
	HclRowUsed *used;
	int64		drawn;

	if (!hcl_session_currval(seqid, &drawn) || drawn != row)
		return false;
	used = hcl_row_used(seqid);
	if (row <= used->floor || row == used->row)
		return false;
	used->row = row;
	return true;
}

/*
 * SQL function: row_drawn(row_number bigint, tbl oid) returns boolean
 *
 * The CHECK constraint hcl_row_drawn of every ledger table,
 * CHECK (hcledger.row_drawn(hcl_row, tableoid)): a row's number must be the
 * one this session just drew from the ledger's sequence, which is what the
 * identity default does for each row of an INSERT or COPY, and must not
 * have been given to a row before (one that failed or rolled back).  A constraint
 * is checked after every BEFORE trigger, so a number forced with
 * OVERRIDING SYSTEM VALUE, given in COPY's column list, or written into
 * NEW.hcl_row by a trigger is refused (SQLSTATE 23514): it can neither take
 * a future writer's number nor fill a gap and enter the log as an honest
 * row.  (An UPDATE, refused by the append-only trigger anyway, fails here
 * too.)  Rows written with session_replication_role = replica (logical
 * replication, a superuser's restore) keep the numbers they arrive with.
 */
PG_FUNCTION_INFO_V1(hcl_row_drawn);
Datum
hcl_row_drawn(PG_FUNCTION_ARGS)
{
	int64		row = PG_GETARG_INT64(0);
	Oid			relid = PG_GETARG_OID(1);
	Oid			seqid;

	if (SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA)
		PG_RETURN_BOOL(true);
	seqid = hcl_ledger_seq(relid);
	if (!OidIsValid(seqid))
		elog(ERROR, "hcledger: table %u has no identity column hcl_row", relid);
	if (row < hcl_ledger_set_from(relid))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("row number %lld of ledger \"%s\" comes before its current column set, which starts at row %lld",
						(long long) row, get_rel_name(relid), (long long) hcl_ledger_set_from(relid)),
				 errdetail("The ledger's row-number sequence was set back; a row numbered there would be hashed with columns the table no longer has."),
				 errhint("Set the sequence forward: SELECT setval(pg_get_serial_sequence('%s', 'hcl_row'), %lld).",
						 get_rel_name(relid), (long long) hcl_ledger_set_from(relid) - 1)));
	if (hcl_row_fresh(seqid, row))
		PG_RETURN_BOOL(true);
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("row number %lld of ledger \"%s\" was not drawn from its sequence",
					(long long) row, get_rel_name(relid)),
			 errdetail("A ledger numbers its rows itself; a number given with OVERRIDING SYSTEM VALUE, in COPY's column list or by a trigger is refused, and its rows are never updated."),
			 errhint("Insert the row without a value for hcl_row.")));
	PG_RETURN_BOOL(false);		/* not reached */
}

/*
 * The ledger whose only usable row-number index is indexid (NULL if none):
 * dropping that index would stop the ledger's sealing.
 */
static char *
hcl_ledger_of_row_index(Oid indexid)
{
	static const char *sql =
		"WITH q AS ("
		"  SELECT i.indexrelid, i.indrelid FROM pg_catalog.pg_index i"
		"  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid"
		"  JOIN pg_catalog.pg_am am ON am.oid = ic.relam"
		"  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attname = 'hcl_row'"
		"  WHERE am.amname = 'btree' AND i.indisunique AND i.indisvalid AND i.indnatts = 1"
		"    AND i.indkey[0] = a.attnum AND i.indoption[0] = 0 AND i.indpred IS NULL)"
		" SELECT format('%I.%I', n.nspname, c.relname) FROM hcledger.ledgers l JOIN q ON q.indrelid = l.relid"
		"  JOIN pg_catalog.pg_class c ON c.oid = l.relid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
		"  WHERE l.dropped_at IS NULL AND q.indexrelid = $1"
		"    AND NOT EXISTS (SELECT FROM q q2 WHERE q2.indrelid = l.relid AND q2.indexrelid <> $1)";
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(indexid)};
	MemoryContext caller = CurrentMemoryContext;
	char	   *ledger = NULL;
	HclAsCatalog save;

	/* the DDL's author may have no right to read hcledger's catalog */
	hcl_as_catalog_begin(&save);
	if (SPI_execute_with_args(sql, 1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "hcledger: could not read the ledger catalog");
	if (SPI_processed > 0)
		ledger = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 1));
	hcl_as_catalog_end(&save);
	return ledger;
}

/*
 * SQL function: ddl_start_guard() returns event_trigger (ddl_command_start)
 *
 * DROP INDEX CONCURRENTLY commits in steps: the index is made invalid and
 * that is committed before the command ends, so a guard at its end refuses
 * too late (the ledger would stop sealing, and every later DDL be refused).
 * Here the command is refused before it starts when it would drop a
 * ledger's only row-number index.  The index names are resolved as the
 * command will resolve them: with the author's search_path (this function
 * is not SECURITY DEFINER).  (CREATE INDEX and REINDEX CONCURRENTLY,
 * the other commands that commit in steps, never leave a ledger without a
 * valid row-number index.)
 *
 * ALTER TABLE of a ledger whose DDL is unlocked: a column about to be
 * renamed, dropped or rewritten is followed or archived first (columns.c).
 */
PG_FUNCTION_INFO_V1(hcl_ddl_start_guard);
Datum
hcl_ddl_start_guard(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata = (EventTriggerData *) fcinfo->context;
	DropStmt   *stmt;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "hcledger: ddl_start_guard called outside an event trigger");
	if (IsA(trigdata->parsetree, AlterTableStmt) || IsA(trigdata->parsetree, RenameStmt))
	{
		hcl_columns_ddl_start(trigdata->parsetree);
		PG_RETURN_NULL();
	}
	if (!IsA(trigdata->parsetree, DropStmt))
		PG_RETURN_NULL();
	stmt = (DropStmt *) trigdata->parsetree;
	if (stmt->removeType != OBJECT_INDEX || !stmt->concurrent)
		PG_RETURN_NULL();
	foreach(lc, stmt->objects)
	{
		RangeVar   *rv = makeRangeVarFromNameList((List *) lfirst(lc));
		Oid			indexid = RangeVarGetRelid(rv, NoLock, true);
		char	   *ledger;

		if (!OidIsValid(indexid))
			continue;			/* the command itself reports it */
		if ((ledger = hcl_ledger_of_row_index(indexid)) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot drop index %s: it is the row-number index of ledger table %s",
							rv->relname, ledger),
					 errdetail("Without it the ledger cannot be sealed."),
					 errhint("Use hcledger.drop_ledger(table, reason) to stop the table being a ledger.")));
	}
	PG_RETURN_NULL();
}

/*
 * The defects each ledger had as each DDL command started (see ddl_before
 * and ddl_guard in sql/hcledger.sql), kept where no SQL can reach them: in
 * a setting, a function the command runs (a CHECK constraint validated by
 * ALTER TABLE, say) could rewrite them and have the guard tolerate what the
 * command breaks.  A stack, as commands nest (a function run by one may
 * run another), belonging to one transaction.
 */
typedef struct HclDdlNote
{
	SubTransactionId subid;		/* pushed in this subtransaction */
	char	   *defects;
} HclDdlNote;

static List *hcl_ddl_stack = NIL;
static LocalTransactionId hcl_ddl_lxid = InvalidLocalTransactionId;
static bool hcl_ddl_callback = false;

static void
hcl_ddl_note_free(HclDdlNote *note)
{
	pfree(note->defects);
	pfree(note);
}

/*
 * A subtransaction ends: the notes of a command that failed in it (its end
 * never came to take its note off) go with it; a committed one's belong to
 * its parent from now on.
 */
static void
hcl_ddl_subxact(SubXactEvent event, SubTransactionId mySubid,
				SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		foreach(lc, hcl_ddl_stack)
		{
			HclDdlNote *note = lfirst(lc);

			if (note->subid == mySubid)
			{
				hcl_ddl_note_free(note);
				hcl_ddl_stack = foreach_delete_current(hcl_ddl_stack, lc);
			}
		}
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, hcl_ddl_stack)
		{
			HclDdlNote *note = lfirst(lc);

			if (note->subid == mySubid)
				note->subid = parentSubid;
		}
	}
}

static void
hcl_ddl_stack_for_this_xact(void)
{
	if (!hcl_ddl_callback)
	{
		RegisterSubXactCallback(hcl_ddl_subxact, NULL);
		hcl_ddl_callback = true;
	}
	if (hcl_ddl_lxid != HCL_MY_LXID)
	{
		while (hcl_ddl_stack != NIL)
		{
			hcl_ddl_note_free(linitial(hcl_ddl_stack));
			hcl_ddl_stack = list_delete_first(hcl_ddl_stack);
		}
		hcl_ddl_lxid = HCL_MY_LXID;
	}
}

/* SQL function: ddl_defects_push(defects text) returns void (EXECUTE revoked from PUBLIC) */
PG_FUNCTION_INFO_V1(hcl_ddl_defects_push);
Datum
hcl_ddl_defects_push(PG_FUNCTION_ARGS)
{
	MemoryContext old;
	HclDdlNote *note;

	hcl_ddl_stack_for_this_xact();
	old = MemoryContextSwitchTo(TopMemoryContext);
	note = palloc(sizeof(HclDdlNote));
	note->subid = GetCurrentSubTransactionId();
	note->defects = PG_ARGISNULL(0) ? pstrdup("") : text_to_cstring(PG_GETARG_TEXT_PP(0));
	hcl_ddl_stack = lcons(note, hcl_ddl_stack);
	MemoryContextSwitchTo(old);
	PG_RETURN_VOID();
}

/*
 * SQL function: ddl_defects_pop(pop boolean) returns text (EXECUTE revoked from PUBLIC)
 *   The defects noted as the current command started (NULL if none were);
 *   removed from the stack if pop (at the command's end, not at sql_drop).
 */
PG_FUNCTION_INFO_V1(hcl_ddl_defects_pop);
Datum
hcl_ddl_defects_pop(PG_FUNCTION_ARGS)
{
	HclDdlNote *top;
	text	   *result;

	hcl_ddl_stack_for_this_xact();
	if (hcl_ddl_stack == NIL)
		PG_RETURN_NULL();
	top = linitial(hcl_ddl_stack);
	result = cstring_to_text(top->defects);
	if (PG_GETARG_BOOL(0))
	{
		hcl_ddl_stack = list_delete_first(hcl_ddl_stack);
		hcl_ddl_note_free(top);
	}
	PG_RETURN_TEXT_P(result);
}
