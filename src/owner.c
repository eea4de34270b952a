/*
 * owner.c
 *		Running SQL on a user's table as that table's owner, inside a
 *		security-restricted operation, as PostgreSQL's own VACUUM, ANALYZE,
 *		CREATE INDEX and REFRESH MATERIALIZED VIEW do (vacuum.c, matview.c).
 *
 * A statement that writes a table runs code its owner controls: triggers,
 * CHECK constraints, index expressions and predicates, generated columns,
 * rules, row-level security policies.  Run as whoever called hcledger (in
 * practice a superuser), that code would have the caller's rights.  Here it
 * has only the owner's, and no way out of them: SET ROLE, SET SESSION
 * AUTHORIZATION and the like are refused within a security-restricted
 * operation, and settings it changes are undone at its end.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "catalog/pg_class.h"
#include "access/htup_details.h"

#include "ledger.h"

/* The owner of a relation; an error if there is none. */
static Oid
hcl_relation_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * SQL function: run_as_owner(tbl regclass, statement text) returns bigint
 *
 * Runs one statement as the owner of tbl in a security-restricted operation
 * with search_path pg_catalog, pg_temp; returns the rows it processed.  The
 * caller must already have the owner's privileges (be the owner, a member
 * of its role, or a superuser), so this gives nobody rights they did not
 * have: it takes the caller's away.  Only hcledger's own functions call it
 * (EXECUTE is revoked from PUBLIC).
 */
PG_FUNCTION_INFO_V1(hcl_run_as_owner);
Datum
hcl_run_as_owner(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Oid			owner = hcl_relation_owner(relid);
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	int64		processed;

	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s", get_rel_name(relid))));

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "hcledger: SPI_connect failed");
	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "hcledger: could not run a statement as the table's owner");
	processed = (int64) SPI_processed;
	SPI_finish();

	/* an error on the way unwinds both with the (sub)transaction */
	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	PG_RETURN_INT64(processed);
}

/* The catalog's owner's rights: see ledger.h. */
void
hcl_as_catalog_begin(HclAsCatalog *save)
{
	GetUserIdAndSecContext(&save->userid, &save->sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save->sec_context |
						   SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	save->nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "hcledger: SPI_connect failed");
}

void
hcl_as_catalog_end(HclAsCatalog *save)
{
	SPI_finish();
	AtEOXact_GUC(false, save->nestlevel);
	SetUserIdAndSecContext(save->userid, save->sec_context);
}
