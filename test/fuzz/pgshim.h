/*
 * pgshim.h
 *		Just enough of a PostgreSQL server for the fuzzing harnesses to
 *		link the extension's own C sources outside a server (shim_mem.c,
 *		shim_backend.c).
 */
#ifndef HCL_FUZZ_PGSHIM_H
#define HCL_FUZZ_PGSHIM_H

#include <stdbool.h>
#include <stddef.h>

/*
 * PostgreSQL 17 made the value arrays of heap_form_tuple and
 * tuplestore_putvalues const: the harnesses' stand-ins follow.  (Include
 * this after postgres.h.)
 */
#if PG_VERSION_NUM >= 170000
#define SHIM_CONST const
#else
#define SHIM_CONST
#endif

/* Free everything palloc'd since the last reset: the end of a query. */
extern void shim_reset(void);

/*
 * Run fn(arg).  Returns true if it returned, false if it raised an ERROR
 * (ereport/elog), which longjmps back here as it would to the server's
 * error handler.  An ERROR raised outside shim_try, a FATAL or PANIC, or a
 * failed Assert aborts: that is a finding.
 */
extern bool shim_try(void (*fn) (void *), void *arg);

/* SQLSTATE and message of the last ERROR caught by shim_try. */
extern int	shim_last_sqlstate(void);
extern const char *shim_last_message(void);

/* palloc of more than MaxAllocSize: an ERROR, as in the server. */
extern void shim_alloc_too_large(size_t size) __attribute__((noreturn));

#endif							/* HCL_FUZZ_PGSHIM_H */
