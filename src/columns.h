/*
 * columns.h
 *		Schema evolution of ledger tables: column sets and the archived
 *		values of dropped columns (columns.c).
 */
#ifndef HCL_COLUMNS_H
#define HCL_COLUMNS_H

#include "postgres.h"

#include "nodes/nodes.h"

#include "ledger.h"

/*
 * The archived send form of a dropped column's value in one row (NULL if
 * the value was NULL); *found is false if none is archived.
 */
extern bytea *hcl_archived_value(HclLedger *ledger, const char *name, int64 row, bool *found);

/* The first row of the ledger's current column set (0: none recorded). */
extern int64 hcl_column_set_from(Oid relid);

/* An ALTER TABLE (or RENAME COLUMN) about to run (ddl_command_start). */
extern void hcl_columns_ddl_start(Node *parsetree);

#endif
