/*
 * status_snapshot.c
 *		Parsing a status snapshot (docs/offline-verification.md, "Layout"),
 *		in the extension and in the offline verifier alike.
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include "port/pg_bswap.h"

#include "note.h"
#include "status_snapshot.h"

/* A header line: from *p to its newline, which must be there. */
static bool
snapshot_line(const char **p, const char *end, const char **line, size_t *len)
{
	const char *nl = memchr(*p, '\n', end - *p);

	if (nl == NULL)
		return false;
	*line = *p;
	*len = (size_t) (nl - *p);
	*p = nl + 1;
	return true;
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

const char *
hcl_snapshot_parse(const char *s, size_t len, HclSnapshot *out)
{
	const char *p = s;
	const char *end = s + len;
	const char *line;
	size_t		ll;
	int64		v[4];
	int64		count;

	memset(out, 0, sizeof(*out));
	if (!snapshot_line(&p, end, &line, &ll) || ll != 17 || memcmp(line, "hcledger-status/1", 17) != 0)
		return "it does not start with hcledger-status/1";
	if (!snapshot_line(&p, end, &line, &ll) || ll == 0 || memchr(line, '\0', ll) != NULL)
		return "its authority line is malformed";
	out->authority = pnstrdup(line, ll);
	for (int i = 0; i < 4; i++)
		if (!snapshot_line(&p, end, &line, &ll) || !hcl_parse_decimal(line, ll, &v[i]))
			return "its header is malformed";
	out->as_of = v[0];
	out->made_at = v[1];
	out->tree_size = v[2];
	out->missing_rows = v[3];
	if (!snapshot_line(&p, end, &line, &ll) || ll != 32)
		return "its salt is not 32 lower-case hex digits";
	for (int i = 0; i < 16; i++)
	{
		int			hi = hex_digit(line[2 * i]);
		int			lo = hex_digit(line[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return "its salt is not 32 lower-case hex digits";
		out->salt[i] = (uint8) (hi * 16 + lo);
	}
	if (!snapshot_line(&p, end, &line, &ll) || !hcl_parse_decimal(line, ll, &count) ||
		count > (int64) ((end - p) / 9))
		return "its entry count is malformed";
	out->entries = palloc0(sizeof(HclSnapEntry) * (count > 0 ? count : 1));
	out->nentries = count;
	for (int64 i = 0; i < count; i++)
	{
		HclSnapEntry *e = &out->entries[i];

		if (end - p < 9)
			return "it is truncated";
		memcpy(e->key, p, 4);
		memcpy(e->check, p + 4, 4);
		e->state = (uint8) p[8];
		p += 9;
		if ((e->state & HCL_ST_COLOUR) == 3)
			return "an entry has an unknown colour";
		if (e->state & HCL_ST_REVOKED)
		{
			uint64		be;

			if (end - p < 8)
				return "it is truncated";
			memcpy(&be, p, 8);
			e->revoke_at_us = (int64) pg_ntoh64(be);
			p += 8;
		}
	}
	if (p != end)
		return "it has bytes after its entries";
	return NULL;
}
