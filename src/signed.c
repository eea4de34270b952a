/*
 * signed.c
 *		The record of what the node has signed: never two histories of one
 *		log.
 *
 * A restore, a point-in-time recovery or a failover to a standby that had
 * not replayed everything puts the database back before checkpoints the
 * node has already signed and given out.  Sealing on from there would sign
 * a second history of the same log with the same key.  So, for each origin,
 * the node keeps the last checkpoint it signed (size, root and compact
 * range) in a file outside the data directory, where recovery does not
 * rewind it: in hcledger.signing_state_dir, by default the signing key
 * file's own directory.  Before it signs a checkpoint it checks that the
 * new tree extends the recorded one (the compact range extended by the
 * leaves after it gives the new root), and refuses to sign otherwise; after
 * signing, the record is replaced and fsync'd before the signature can be
 * committed.
 *
 * The file (docs/operations.md, "The signing record"):
 *   hcledger-signed/v1
 *   <origin>
 *   <tree size>
 *   <root, base64>
 *   <compact range: its hashes, largest subtree first, concatenated, base64>
 */
#include "postgres.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "common/base64.h"
#include "funcapi.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "crypto.h"
#include "hash256.h"
#include "ledger.h"
#include "signing.h"

#define HCL_SIGNED_MAGIC	"hcledger-signed/v1"

char	   *hcl_signing_state_dir = NULL;

/*
 * The record this transaction will write as it commits (the last checkpoint
 * it signed of one log), and the lock file held meanwhile: written at
 * pre-commit, so an aborted transaction leaves the record as it was, and
 * held until the transaction ends, so two sealers of one origin (two
 * databases cloned from one, a primary and a standby sharing the state
 * directory) check and record one after the other.
 */
typedef struct HclPendingRecord
{
	char	   *origin;
	int64		size;
	hcl_hash	root;
	hcl_merkle_acc range;
} HclPendingRecord;

/* An origin's lock file, held by this transaction. */
typedef struct HclHeldLock
{
	char	   *origin;
	int			fd;
	SubTransactionId subid;		/* the subtransaction whose file it is */
} HclHeldLock;

static List *hcl_pending = NIL;	/* in TopTransactionContext */
static List *hcl_locked = NIL;	/* HclHeldLocks, in TopTransactionContext */
static bool hcl_xact_callback = false;

static void hcl_signed_xact(XactEvent event, void *arg);
static void hcl_signed_subxact(SubXactEvent event, SubTransactionId mySubid,
							   SubTransactionId parentSubid, void *arg);

static void
hcl_signed_callback(void)
{
	if (!hcl_xact_callback)
	{
		RegisterXactCallback(hcl_signed_xact, NULL);
		RegisterSubXactCallback(hcl_signed_subxact, NULL);
		hcl_xact_callback = true;
	}
}

/* The record's path for an origin, palloc'd. */
static char *
hcl_signed_path(const char *origin)
{
	const char *dir = hcl_signing_state_dir;
	char	   *keydir = NULL;
	hcl_hash	h;
	char		hex[2 * 16 + 1];

	if (dir == NULL || dir[0] == '\0')
	{
		/* beside the key: where the setting names it (relative: to the data directory) */
		keydir = pstrdup(hcl_signing_key_file);
		get_parent_directory(keydir);
		dir = keydir[0] != '\0' ? keydir : ".";
	}
	if (!hcl_sha256(origin, strlen(origin), h))
		hcl_crypto_failed("SHA-256");
	hex_encode((const char *) h, 16, hex);
	hex[32] = '\0';
	return psprintf("%s/hcledger-signed-%s.state", dir, hex);
}

static char *
hcl_b64(const uint8 *data, size_t len)
{
	char	   *out = palloc(pg_b64_enc_len(len) + 1);
	int			n = pg_b64_encode((const char *) data, len, out, pg_b64_enc_len(len));

	if (n < 0)
		elog(ERROR, "hcledger: base64 encoding failed");
	out[n] = '\0';
	return out;
}

static bool
hcl_unb64(const char *text, uint8 *out, size_t outlen, size_t *len)
{
	int			n = pg_b64_decode(text, strlen(text), (char *) out, outlen);

	if (n < 0)
		return false;
	*len = (size_t) n;
	return true;
}

/*
 * Read the record for an origin.  False if there is none; an error if it
 * cannot be read or is malformed (never silently treated as absent).
 */
static bool
hcl_signed_read(const char *origin, int64 *size, hcl_hash root, hcl_merkle_acc *range)
{
	char	   *path = hcl_signed_path(origin);
	FILE	   *f = AllocateFile(path, "r");
	char		line[5][4096];
	int			i;
	size_t		len;
	uint8		stack[64 * HCL_HASH_LEN];
	hcl_hash	check;
	char	   *end;

	if (f == NULL)
	{
		if (errno == ENOENT)
			return false;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read the signing record \"%s\": %m", path)));
	}
	for (i = 0; i < 5; i++)
	{
		if (fgets(line[i], sizeof(line[i]), f) == NULL)
			line[i][0] = '\0';
		line[i][strcspn(line[i], "\n")] = '\0';
	}
	FreeFile(f);
	errno = 0;
	*size = strtoll(line[2], &end, 10);
	if (strcmp(line[0], HCL_SIGNED_MAGIC) != 0 || strcmp(line[1], origin) != 0 ||
		errno != 0 || *end != '\0' || *size <= 0 ||
		!hcl_unb64(line[3], root, HCL_HASH_LEN, &len) || len != HCL_HASH_LEN ||
		!hcl_unb64(line[4], stack, sizeof(stack), &len) || len % HCL_HASH_LEN != 0 ||
		!hcl_acc_restore(range, (uint64) *size, stack, len) ||
		!hcl_acc_root(range, check) || memcmp(check, root, HCL_HASH_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the signing record \"%s\" is malformed", path),
				 errhint("Restore it from where it was copied, or see docs/operations.md, \"The signing record\".")));
	return true;
}

/*
 * The directory of the record is outside the data directory, or recovery
 * would rewind it with the data (an error if not).
 */
static void
hcl_signed_dir_outside(const char *path)
{
	char		dir[MAXPGPATH];
	char	   *real_dir;
	char	   *real_data;
	size_t		n;
	bool		inside;

	strlcpy(dir, path, sizeof(dir));
	get_parent_directory(dir);
	real_dir = realpath(dir[0] != '\0' ? dir : ".", NULL);
	real_data = realpath(DataDir, NULL);
	if (real_dir == NULL || real_data == NULL)
	{
		int			save_errno = errno;

		free(real_dir);
		free(real_data);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not resolve the directory of the signing record \"%s\": %m", path)));
	}
	n = strlen(real_data);
	inside = strncmp(real_dir, real_data, n) == 0 && (real_dir[n] == '\0' || real_dir[n] == '/');
	if (inside)
	{
		char	   *shown = pstrdup(real_dir);

		free(real_dir);
		free(real_data);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("the signing record would be inside the data directory (%s)", shown),
				 errdetail("Restore and recovery rewind the data directory, and the record with it: the node could sign two histories of a log."),
				 errhint("Set hcledger.signing_state_dir (or keep hcledger.signing_key_file) outside the data directory.")));
	}
	free(real_dir);
	free(real_data);
}

/* Hold the origin's lock file until the transaction ends (an error if it cannot be had). */
static void
hcl_signed_lock(const char *origin)
{
	char	   *path;
	int			fd;
	ListCell   *lc;
	MemoryContext old;
	HclHeldLock *held;

	/* a second flock by this process on another descriptor would wait for itself */
	foreach(lc, hcl_locked)
		if (strcmp(((HclHeldLock *) lfirst(lc))->origin, origin) == 0)
			return;
	path = psprintf("%s.lock", hcl_signed_path(origin));

	hcl_signed_dir_outside(path);
	/* a transient file is closed, and so its lock released, as the transaction ends */
	fd = OpenTransientFile(path, O_RDWR | O_CREAT | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open the signing record's lock file \"%s\": %m", path),
				 errhint("The server must be able to write hcledger.signing_state_dir (by default the signing key's directory).")));
	/* waiting for another sealer of the origin to commit, interruptibly */
	while (flock(fd, LOCK_EX | LOCK_NB) != 0)
	{
		if (errno != EWOULDBLOCK && errno != EINTR)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not lock the signing record's lock file \"%s\": %m", path)));
		CHECK_FOR_INTERRUPTS();
		pg_usleep(10000L);
	}
	hcl_signed_callback();
	old = MemoryContextSwitchTo(TopTransactionContext);
	held = palloc(sizeof(HclHeldLock));
	held->origin = pstrdup(origin);
	held->fd = fd;
	held->subid = GetCurrentSubTransactionId();
	hcl_locked = lappend(hcl_locked, held);
	MemoryContextSwitchTo(old);
}

/* Replace the record for an origin, durably (written, fsync'd, renamed, directory fsync'd). */
static void
hcl_signed_write(const char *origin, int64 size, const hcl_hash root, const hcl_merkle_acc *range)
{
	char	   *path = hcl_signed_path(origin);
	char	   *tmp = psprintf("%s.tmp", path);
	char	   *text = psprintf("%s\n%s\n%lld\n%s\n%s\n", HCL_SIGNED_MAGIC, origin, (long long) size,
								hcl_b64(root, HCL_HASH_LEN),
								hcl_b64((const uint8 *) range->stack, (size_t) range->depth * HCL_HASH_LEN));
	char	   *dir = pstrdup(path);
	int			fd;
	size_t		len = strlen(text);

	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write the signing record \"%s\": %m", tmp),
				 errhint("The server must be able to write hcledger.signing_state_dir (by default the signing key's directory).")));
	if (write(fd, text, len) != (ssize_t) len || pg_fsync(fd) != 0)
	{
		int			save_errno = errno;

		CloseTransientFile(fd);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write the signing record \"%s\": %m", tmp)));
	}
	CloseTransientFile(fd);
	if (durable_rename(tmp, path, ERROR) != 0)
		elog(ERROR, "hcledger: could not replace the signing record \"%s\"", path);
	get_parent_directory(dir);
	fsync_fname(dir[0] != '\0' ? dir : ".", true);
}

/*
 * The leaf hashes of log positions [from, to) of a ledger, from its level-0
 * tiles (SPI connected), appended to range.
 */
static void
hcl_extend_from_tiles(HclLedger *l, int64 from, int64 to, hcl_merkle_acc *range)
{
	int64		p = from;

	while (p < to)
	{
		int64		tile = p / HCL_TILE_WIDTH;
		bytea	   *hashes = NULL;
		bytea	   *rows = NULL;
		int64		last = Min(to, (tile + 1) * HCL_TILE_WIDTH);

		if (!hcl_read_tile(l, 0, tile, true, &hashes, &rows) ||
			VARSIZE_ANY_EXHDR(hashes) < (Size) (last - tile * HCL_TILE_WIDTH) * HCL_HASH_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the Merkle log of ledger \"%s\" is damaged: tile %lld is missing or short",
							l->relname, (long long) tile)));
		for (; p < last; p++)
			if (!hcl_acc_push(range, (const uint8 *) VARDATA_ANY(hashes) +
							  (p - tile * HCL_TILE_WIDTH) * HCL_HASH_LEN))
				hcl_crypto_failed("SHA-256");
	}
}

/*
 * Before the node signs the checkpoint of size l->tree_size and root root:
 * an error unless it extends the last checkpoint it signed of this log.
 * entries are the log entries (docs/format.md) of the positions just
 * before l->tree_size, not yet in the stored tiles.
 */
void
hcl_signed_guard(HclLedger *l, const hcl_hash root, const StringInfo entries)
{
	int64		signed_size;
	hcl_hash	signed_root;
	hcl_hash	got;
	hcl_merkle_acc range;
	int64		n = l->tree_size;
	int64		mem_start = n - entries->len / HCL_LOG_ENTRY_LEN;
	int64		p;

	if (!hcl_node_key_set())
		return;
	if (!hcl_signed_last(l->origin, &signed_size, signed_root, &range))
		return;
	if (n >= signed_size)
	{
		/* the recorded compact range, extended by the leaves after it */
		if (signed_size < mem_start)
			hcl_extend_from_tiles(l, signed_size, mem_start, &range);
		for (p = Max(signed_size, mem_start); p < n; p++)
			if (!hcl_acc_push(&range, (const uint8 *) entries->data +
							  (p - mem_start) * HCL_LOG_ENTRY_LEN + 8))
				hcl_crypto_failed("SHA-256");
		if (!hcl_acc_root(&range, got))
			hcl_crypto_failed("SHA-256");
		if (memcmp(got, root, HCL_HASH_LEN) == 0)
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("hcledger will not sign a checkpoint of size %lld of log %s: it does not extend the checkpoint of size %lld this node signed before",
					(long long) n, l->origin, (long long) signed_size),
			 errdetail(n < signed_size ?
					   "The log is shorter than what was signed: the database was restored, recovered to an earlier point, or failed over to a server that had not received everything." :
					   "The log's first leaves differ from those signed: signing would make two histories of one log."),
			 errhint("Nothing more of this log is signed. See docs/operations.md, \"A signed history that does not continue\": recover the missing rows, or start a new log with hcledger.restart_log(table, reason).")));
}

/* Write the records of what this transaction signed, as it commits. */
static void
hcl_signed_xact(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (event == XACT_EVENT_PRE_COMMIT)
	{
		foreach(lc, hcl_pending)
		{
			HclPendingRecord *r = lfirst(lc);

			hcl_signed_write(r->origin, r->size, r->root, &r->range);
		}
		/* the records written, the locks go (an abort closes the files itself) */
		foreach(lc, hcl_locked)
			CloseTransientFile(((HclHeldLock *) lfirst(lc))->fd);
		hcl_locked = NIL;
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		/* their memory goes with the transaction; its files (and locks) are closed */
		hcl_pending = NIL;
		hcl_locked = NIL;
	}
}

/*
 * A subtransaction's transient files are closed as it aborts, its locks
 * released with them: forget them (a seal() that failed inside a savepoint
 * or a plpgsql exception block).  As it commits they pass to its parent.
 */
static void
hcl_signed_subxact(SubXactEvent event, SubTransactionId mySubid,
				   SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	foreach(lc, hcl_locked)
	{
		HclHeldLock *held = lfirst(lc);

		if (held->subid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			held->subid = parentSubid;
		else if (event == SUBXACT_EVENT_ABORT_SUB)
			hcl_locked = foreach_delete_current(hcl_locked, lc);
	}
}

/* This transaction's pending record of an origin, if it has one. */
static HclPendingRecord *
hcl_pending_of(const char *origin)
{
	ListCell   *lc;

	foreach(lc, hcl_pending)
	{
		HclPendingRecord *r = lfirst(lc);

		if (strcmp(r->origin, origin) == 0)
			return r;
	}
	return NULL;
}

/*
 * The last checkpoint signed of a log: this transaction's, or the record's
 * (taking the origin's lock for the rest of the transaction first).
 */
bool
hcl_signed_last(const char *origin, int64 *size, hcl_hash root, hcl_merkle_acc *range)
{
	HclPendingRecord *r = hcl_pending_of(origin);

	if (r != NULL)
	{
		*size = r->size;
		memcpy(root, r->root, HCL_HASH_LEN);
		*range = r->range;
		return true;
	}
	hcl_signed_lock(origin);
	return hcl_signed_read(origin, size, root, range);
}

/*
 * After the node signed the checkpoint of size l->tree_size: record it, as
 * the transaction commits (before the signature is visible to anyone).
 */
void
hcl_signed_note(HclLedger *l, const hcl_hash root)
{
	HclPendingRecord *r = hcl_pending_of(l->origin);
	MemoryContext old;

	hcl_signed_callback();
	if (r == NULL)
	{
		old = MemoryContextSwitchTo(TopTransactionContext);
		r = palloc0(sizeof(HclPendingRecord));
		r->origin = pstrdup(l->origin);
		hcl_pending = lappend(hcl_pending, r);
		MemoryContextSwitchTo(old);
	}
	r->size = l->tree_size;
	memcpy(r->root, root, HCL_HASH_LEN);
	r->range = l->frontier;
}

/*
 * SQL function: signed_record(origin text, OUT tree_size bigint, OUT root hash256)
 *   The last checkpoint of a log this node signed, as its record says (no
 *   row if there is none).
 */
PG_FUNCTION_INFO_V1(hcl_signed_record_sql);
Datum
hcl_signed_record_sql(PG_FUNCTION_ARGS)
{
	char	   *origin = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		size;
	hcl_hash	root;
	hcl_merkle_acc range;
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "hcledger: return type must be a row type");
	if (!hcl_node_key_set() || !hcl_signed_read(origin, &size, root, &range))
		PG_RETURN_NULL();
	values[0] = Int64GetDatum(size);
	values[1] = PointerGetDatum(hcl_make_hash256(root));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

void
hcl_define_signed_settings(void)
{
	DefineCustomStringVariable("hcledger.signing_state_dir",
							   "Directory of the record of the last checkpoint the node signed of each log.",
							   "Empty: the signing key file's directory. Keep it out of the data directory, where recovery would rewind it; share it with standbys as the key is.",
							   &hcl_signing_state_dir,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
}
