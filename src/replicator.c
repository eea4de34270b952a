/*
 * replicator.c
 *		The role members' changes are applied as: nobody logs in as it.
 *
 * On PostgreSQL 16 and later, every member's subscription belongs to
 * hcledger_replicator (restrict_subscriptions() in
 * sql/install/14_consortium_members.sql), and PostgreSQL starts each apply
 * worker as the subscription's owner, which must therefore be a role that
 * may log in.  Nobody else is to be that role: with hcledger preloaded, a
 * client connection as hcledger_replicator is refused once authenticated,
 * whatever pg_hba.conf allows (a background worker never passes here).
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq/auth.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"

#include "replicator.h"

#define HCL_REPLICATOR "hcledger_replicator"

static ClientAuthentication_hook_type hcl_prev_client_auth = NULL;
static bool hcl_replicator_guarded = false;

static void
hcl_refuse_replicator(Port *port, int status)
{
	if (hcl_prev_client_auth)
		hcl_prev_client_auth(port, status);
	if (status == STATUS_OK && port->user_name != NULL &&
		strcmp(port->user_name, HCL_REPLICATOR) == 0)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("role \"%s\" is for applying consortium members' changes only", HCL_REPLICATOR),
				 errdetail("hcledger lets no client connect as it; logical replication apply workers run as it.")));
}

/* Called from _PG_init while shared_preload_libraries is processed. */
void
hcl_install_replicator_guard(void)
{
	hcl_prev_client_auth = ClientAuthentication_hook;
	ClientAuthentication_hook = hcl_refuse_replicator;
	hcl_replicator_guarded = true;
}

/*
 * SQL function: replicator_guard_active() returns boolean: whether this
 * server refuses clients as hcledger_replicator (hcledger preloaded).
 */
PG_FUNCTION_INFO_V1(hcl_replicator_guard_active);
Datum
hcl_replicator_guard_active(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(hcl_replicator_guarded);
}
