/*
 * worker.h
 *		The sealer: its launcher, its workers and their settings.
 */
#ifndef HCL_WORKER_H
#define HCL_WORKER_H

#include "postgres.h"

extern int	hcl_seal_interval;
extern char *hcl_database;

extern void hcl_register_worker(void);
extern PGDLLEXPORT void hcl_sealer_main(Datum arg);
extern PGDLLEXPORT void hcl_launcher_main(Datum arg);

#endif							/* HCL_WORKER_H */
