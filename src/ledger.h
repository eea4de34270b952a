/*
 * ledger.h
 *		Ledger tables: the catalog entry, the canonical row encoding, and
 *		the sealer and verifier that use them.
 */
#ifndef HCL_LEDGER_H
#define HCL_LEDGER_H

#include "postgres.h"

#include "access/genam.h"
#include "access/htup.h"
#include "access/tupdesc.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/relcache.h"

#include "merkle.h"

#define HCL_ROW_COLUMN		"hcl_row"
#define HCL_UUID_LEN		16
#define HCL_TILE_HEIGHT		8
#define HCL_TILE_WIDTH		256
#define HCL_MAX_LEVELS		8	/* tile levels: 256^8 = 2^64 leaves */
#define HCL_ROW_MAGIC		"hcledger-row-v1\n"
/* A published log entry (checkpoints.leaves): 8-byte row number, leaf hash. */
#define HCL_LOG_ENTRY_LEN	(8 + HCL_HASH_LEN)
/* A value this long or longer goes straight into a streamed leaf's hash. */
#define HCL_STREAM_CHUNK	(64 * 1024)
/* The canonical quiet NaNs a float column's NaN is encoded as (docs/format.md). */
#define HCL_NAN4			UINT32_C(0x7fc00000)
#define HCL_NAN8			UINT64_C(0x7ff8000000000000)

/*
 * How a column's value is written: through its type's send function, or,
 * for common built-in types, directly as the bytes that function would give.
 */
typedef enum HclSendKind
{
	HCL_SEND_CALL,				/* call the send function */
	HCL_SEND_INT2,				/* 2 bytes big-endian */
	HCL_SEND_INT4,				/* 4 bytes big-endian (int4, date) */
	HCL_SEND_INT8,				/* 8 bytes big-endian (int8, timestamp[tz], time) */
	HCL_SEND_FLOAT4,			/* IEEE 754 bits, big-endian */
	HCL_SEND_FLOAT8,
	HCL_SEND_BOOL,				/* one byte, 0 or 1 */
	HCL_SEND_UUID,				/* the 16 bytes */
	HCL_SEND_RAW,				/* the varlena's bytes (text, varchar, bpchar, bytea) */
	HCL_SEND_FLOAT_ARRAY		/* an array of float4 or float8: its send function,
								 * NaNs made canonical first (docs/format.md) */
} HclSendKind;

/* One hashed column: recorded in its column set, resolved against the table. */
typedef struct HclColumn
{
	char	   *name;			/* as encoded */
	char	   *type_name;		/* "<schema>.<type>" as recorded */
	char	   *source;			/* the table's column holding its values, by
								 * today's name; NULL: dropped, its values
								 * archived (hcledger.dropped_values) */
	AttrNumber	attnum;			/* of source in the table as it is now */
	FmgrInfo	send;			/* the type's binary send function */
	HclSendKind kind;
	StringInfoData header;		/* name and type, length-prefixed */
} HclColumn;

/*
 * The columns a ledger hashes from one row number on (hcledger.ledger_columns,
 * docs/format.md "Column sets"): a row is encoded with the last set whose
 * from_row is at most its number.
 */
typedef struct HclColumnSet
{
	int64		from_row;
	int			ncolumns;
	HclColumn  *columns;
} HclColumnSet;

/* Archived values of dropped columns, a run of rows read ahead (ledger.c). */
typedef struct HclArchiveCache HclArchiveCache;

/*
 * Row numbers the sealer passed over without settling them
 * (hcledger.ledgers.pending; docs/format.md, "Sealing order"): a run of
 * rows inserted by one transaction still open when it was passed (xid, its
 * top-level XID), or a gap, numbers with no row yet (xid, the XID horizon
 * when it was first seen).
 */
typedef struct HclPending
{
	int64		from;
	int64		to;
	bool		gap;
	bool		foreign;		/* its XID is another cluster's (a restored dump) */
	TransactionId xid;
} HclPending;

/* The kinds of hcledger.ledgers.pending's runs (its first number of four). */
#define HCL_PENDING_ROWS 0
#define HCL_PENDING_GAP 1

/* The sealer stops going forward while this many runs are pending. */
#define HCL_MAX_PENDING 1024

/* A ledger's catalog entry (hcledger.ledgers), as loaded. */
typedef struct HclLedger
{
	int32		ledger_id;
	Oid			relid;
	char	   *relname;		/* schema-qualified, for messages */
	uint8		uuid[HCL_UUID_LEN];
	char	   *origin;
	int			nsets;			/* column sets, by ascending from_row */
	HclColumnSet *sets;
	AttrNumber	row_attnum;		/* hcl_row */
	int64		tree_size;
	int64		last_row;		/* the highest row number in the log */
	int64		passed_row;		/* every row number up to this one is in the
								 * log, settled (aborted, never used) or
								 * pending */
	int			npending;
	HclPending *pending;		/* by ascending from */
	bool		pending_ok;		/* the stored pending runs were well formed */
	bool		can_pend;		/* the catalog keeps passed_row and pending
								 * (0.3.0 on; before its update, not) */
	hcl_merkle_acc frontier;
	hcl_hash	last_checkpoint;
	int64		gap_row;
	TransactionId gap_horizon;
	TransactionId blocked_by;
	bool		frontier_ok;	/* the stored frontier fits the tree size */
	bool		nan_canonical;	/* float NaNs encoded as the canonical NaN */
	HclArchiveCache *archive;	/* read on demand */
	bool		archive_lenient;	/* a missing archived value makes a leaf
									 * that matches nothing (the verifier),
									 * rather than an error */
	bool		streaming;		/* the leaf being encoded goes into its hash */
	int64		streamed;		/* how many of its bytes so far */
} HclLedger;

/* How hcl_ledger_load reads the catalog row. */
typedef enum HclLoadMode
{
	HCL_LOAD_READ,				/* no lock, the caller's snapshot */
	HCL_LOAD_LOCK,				/* lock it, waiting for another sealer */
	HCL_LOAD_TRY_LOCK			/* lock it, or return NULL if another sealer has it */
} HclLoadMode;

/* A query planned once per backend into *slot (SPI connected); returns it. */
extern SPIPlanPtr hcl_kept_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes);

/*
 * Load the active ledger on relid through SPI (the caller is connected).
 * Errors if relid is no ledger.  When reading, a damaged frontier is noted
 * in frontier_ok for the verifier to report; when locking, it is an error.
 */
extern HclLedger *hcl_ledger_load(Oid relid, HclLoadMode mode);

/*
 * The last value of the ledger's row-number sequence (0 if none drawn).
 * When strict, errors unless the sequence still counts by one, uncached,
 * and has not been moved back below the last sealed row.
 */
extern int64 hcl_row_sequence_last(HclLedger *ledger, bool strict);

/* Resolve the recorded columns against the open table (by name). */
extern void hcl_ledger_resolve(HclLedger *ledger, Relation rel);

/* The same against a row type: a table's, or a record's with those columns. */
extern void hcl_ledger_resolve_desc(HclLedger *ledger, TupleDesc desc);

/* The btree index on hcl_row of the open table. */
extern Oid	hcl_ledger_row_index(HclLedger *ledger, Relation rel);

/*
 * Is a row not in the log still to be sealed (after the rows passed, or
 * in a pending run), rather than passed over for good?
 */
extern bool hcl_row_unsettled(HclLedger *ledger, int64 row_number);

/* Point an index scan of a ledger's row-number index at rows from..to. */
extern void hcl_rescan_rows(IndexScanDesc scan, int64 from, int64 to);

/* The column set row row_number is encoded with. */
extern HclColumnSet *hcl_column_set(HclLedger *ledger, int64 row_number);

/*
 * Append the canonical bytes of one column's value (docs/format.md: the
 * presence byte, length and send form; no header) to out.
 */
extern void hcl_encode_value(HclLedger *ledger, HclColumn *col, Datum d, bool isnull,
							 StringInfo out);

/*
 * The leaf hash of one row, SHA-256(0x00 || leaf), the leaf streamed into
 * the hash through scratch (emptied), never held whole: a row's leaf may
 * exceed the 1 GB a buffer can hold.  Returns the leaf's length.
 */
extern int64 hcl_row_leaf_hash(HclLedger *ledger, int64 row_number, Datum *values,
							   bool *nulls, StringInfo scratch, hcl_hash leaf_hash);

/* Append the canonical leaf bytes of one row (docs/format.md) to out. */
extern void hcl_encode_row(HclLedger *ledger, int64 row_number,
						   Datum *values, bool *nulls, StringInfo out);

/* A palloc'd bytea holding a copy of data. */
extern bytea *hcl_bytea_of(const void *data, Size len);

/* The leaf bytes of one row appended to leaf; false if there is no such row. */
extern bool hcl_row_leaf_of(HclLedger *ledger, int64 row_number, StringInfo leaf);

/*
 * One stored tile of the ledger's log (SPI connected): its hashes, and for
 * level 0 its row numbers (NULL if absent), as copies in the current memory
 * context.  fresh: read with a new snapshot rather than the caller's.
 * Returns false if there is no such tile.
 */
extern bool hcl_read_tile(HclLedger *ledger, int level, int64 tile, bool fresh,
						  bytea **hashes, bytea **rows);

/*
 * Run SQL as the bootstrap superuser, in a security-restricted operation
 * with search_path pinned (owner.c): a command's author may have no right
 * to read or write hcledger's catalog, and no operator or function of the
 * author's path may stand in for the catalog's.  Between begin and end,
 * SPI is connected.
 */
typedef struct HclAsCatalog
{
	Oid			userid;
	int			sec_context;
	int			nestlevel;
} HclAsCatalog;

extern void hcl_as_catalog_begin(HclAsCatalog *save);
extern void hcl_as_catalog_end(HclAsCatalog *save);

/* Relation OIDs of all active ledgers (SPI connected). */
extern List *hcl_active_ledgers(void);

/* The checkpoint body of docs/format.md, palloc'd. */
extern char *hcl_checkpoint_body(const char *origin, int64 tree_size,
								 const hcl_hash root, const hcl_hash prev,
								 int64 unix_time, int64 last_row);

/*
 * The record of what the node signed (signed.c): before signing a
 * checkpoint of the ledger's current size and root, an error unless it
 * extends the last one signed of that log (entries: the log entries just
 * before the current size, not yet in the stored tiles); after signing,
 * record it.
 */
extern char *hcl_signing_state_dir;
extern void hcl_signed_guard(HclLedger *l, const hcl_hash root, const StringInfo entries);
extern void hcl_signed_note(HclLedger *l, const hcl_hash root);
extern bool hcl_signed_last(const char *origin, int64 *size, hcl_hash root, hcl_merkle_acc *range);
extern void hcl_define_signed_settings(void);

/* Note the session's last drawn row number as an INSERT begins (guard.c). */
extern void hcl_note_statement_floor(Relation rel);

/*
 * Sealing one ledger: returns the number of rows appended to its log.  When
 * another sealer holds the ledger, waits if wait, else returns 0 at once.
 */
extern int64 hcl_seal_ledger(Oid relid, bool wait);

#endif							/* HCL_LEDGER_H */
