/*
 * fuzz_status_snapshot.c
 *		hcl_snapshot_parse (src/status_snapshot.c): a status snapshot, as
 *		hcledger-verify reads it from a trust bundle and
 *		check_status_snapshot from SQL (docs/offline-verification.md,
 *		"Layout").
 *
 * The format has one spelling per snapshot (decimals without leading
 * zeros, lower-case hex): an accepted input, written out again from what
 * was parsed, must give back exactly the input.  The entries must fit
 * the input (at least 9 bytes each), and no colour may be 3.
 */
#include "postgres_fe.h"

#include "port/pg_bswap.h"

#include "status_snapshot.h"
#include "fuzz_common.h"

static void
put(char **p, const void *src, size_t n)
{
	memcpy(*p, src, n);
	*p += n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = fz_dup(data, size);
	HclSnapshot snap;
	const char *why = hcl_snapshot_parse(s, size, &snap);

	if (why == NULL)
	{
		char	   *out = malloc(size + 1);
		char	   *p = out;
		char		line[64];
		int			n;

		FZ_CHECK(snap.nentries >= 0 && (size_t) snap.nentries <= size / 9);
		FZ_CHECK(strlen(snap.authority) > 0);
		n = snprintf(line, sizeof(line), "hcledger-status/1\n");
		put(&p, line, n);
		FZ_CHECK((size_t) (p - out) + strlen(snap.authority) + 1 <= size);
		put(&p, snap.authority, strlen(snap.authority));
		put(&p, "\n", 1);
		n = snprintf(line, sizeof(line), "%lld\n%lld\n%lld\n%lld\n", (long long) snap.as_of,
					 (long long) snap.made_at, (long long) snap.tree_size, (long long) snap.missing_rows);
		FZ_CHECK((size_t) (p - out) + n <= size);
		put(&p, line, n);
		for (int i = 0; i < 16; i++)
		{
			snprintf(line, sizeof(line), "%02x", snap.salt[i]);
			FZ_CHECK((size_t) (p - out) + 2 <= size);
			put(&p, line, 2);
		}
		n = snprintf(line, sizeof(line), "\n%lld\n", (long long) snap.nentries);
		FZ_CHECK((size_t) (p - out) + n <= size);
		put(&p, line, n);
		for (int64 i = 0; i < snap.nentries; i++)
		{
			const HclSnapEntry *e = &snap.entries[i];

			FZ_CHECK((e->state & HCL_ST_COLOUR) != 3);
			FZ_CHECK((size_t) (p - out) + 9 <= size);
			put(&p, e->key, 4);
			put(&p, e->check, 4);
			put(&p, &e->state, 1);
			if (e->state & HCL_ST_REVOKED)
			{
				uint64		be = pg_hton64((uint64) e->revoke_at_us);

				FZ_CHECK((size_t) (p - out) + 8 <= size);
				put(&p, &be, 8);
			}
		}
		FZ_CHECK((size_t) (p - out) == size && memcmp(out, s, size) == 0);
		free(out);
	}
	if (snap.entries != NULL)
		pfree(snap.entries);
	if (snap.authority != NULL)
		pfree(snap.authority);
	free(s);
	return 0;
}
