/*
 * replicator.h
 *		The guard that keeps clients from logging in as hcledger_replicator.
 */
#ifndef HCL_REPLICATOR_H
#define HCL_REPLICATOR_H

extern void hcl_install_replicator_guard(void);

#endif							/* HCL_REPLICATOR_H */
