/*
 * status_snapshot.h
 *		A status snapshot's bytes (docs/offline-verification.md, "Layout"):
 *		the parser shared by the extension (status_snapshot_sql.c, which
 *		lets a peer check a snapshot against its own copy of the log) and
 *		the offline verifier (cli/offline_code.c).
 */
#ifndef HCL_STATUS_SNAPSHOT_H
#define HCL_STATUS_SNAPSHOT_H

/* the state byte (docs/offline-verification.md, "Layout") */
#define HCL_ST_COLOUR		0x03
#define HCL_ST_REVOKED		0x04
#define HCL_ST_PENDING		0x08
#define HCL_ST_TAMPERED		0x10
#define HCL_ST_SRC_REVOKED	0x20
#define HCL_ST_SRC_TAMPERED	0x40
#define HCL_ST_SRC_UNSURE	0x80

typedef struct HclSnapEntry
{
	uint8		key[4];
	uint8		check[4];
	uint8		state;
	int64		revoke_at_us;	/* state & HCL_ST_REVOKED */
} HclSnapEntry;

typedef struct HclSnapshot
{
	char	   *authority;		/* NUL-terminated */
	int64		as_of;			/* unix seconds */
	int64		made_at;
	int64		tree_size;
	int64		missing_rows;
	uint8		salt[16];
	int64		nentries;
	HclSnapEntry *entries;		/* in the snapshot's order (palloc'd) */
} HclSnapshot;

/* NULL if s[0..len) is a well-formed snapshot (then *out is filled), else why not */
extern const char *hcl_snapshot_parse(const char *s, size_t len, HclSnapshot *out);

#endif							/* HCL_STATUS_SNAPSHOT_H */
