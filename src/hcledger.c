/*
 * hcledger.c
 *		Module entry point: settings, and the sealer worker and the
 *		replicator's login guard when preloaded.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "authority.h"
#include "ledger.h"
#include "replicator.h"
#include "signing.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Read by SQL (hcledger.peer_max_age()), through current_setting. */
static int	hcl_peer_max_age = 300;

void
_PG_init(void)
{
	DefineCustomIntVariable("hcledger.seal_interval",
							"Milliseconds between the sealer's rounds.",
							"Each round appends the committed rows of every ledger to its Merkle log.",
							&hcl_seal_interval,
							1000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomStringVariable("hcledger.database",
							   "Databases whose ledgers the sealer seals: * for every database with the extension, or a comma-separated list of names.",
							   NULL,
							   &hcl_database,
							   "*",
							   PGC_SIGHUP, GUC_LIST_INPUT,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("hcledger.peer_max_age",
							"The largest age a consortium member's state may have here before verdicts on its codes say it is stale.",
							"The age runs from the member's last accepted checkpoint or the last message of its subscription, whichever is later. 0: no limit.",
							&hcl_peer_max_age,
							300, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	hcl_define_signing_settings();
	hcl_define_sm2_settings();
	hcl_define_signed_settings();
	hcl_define_authority_settings();
	MarkGUCPrefixReserved("hcledger");

	if (process_shared_preload_libraries_in_progress)
	{
		hcl_register_worker();
		hcl_install_replicator_guard();
	}
}
