/*
 * receipt.h
 *		Receipts: everything needed to check one ledger row, or the growth of
 *		a ledger's log, with no database.  The text form (JSON) is
 *		docs/receipts.md.
 *
 * Shared by the extension and hcledger-verify, like note.h: nothing here
 * raises an error; parse and verify return reasons.
 */
#ifndef HCL_RECEIPT_H
#define HCL_RECEIPT_H

#include "lib/stringinfo.h"

#include "merkle.h"
#include "note.h"

#define HCL_RECEIPT_FORMAT		"hcledger-receipt/1"
#define HCL_CONSISTENCY_FORMAT	"hcledger-consistency/1"

typedef enum hcl_receipt_kind
{
	HCL_RECEIPT_INCLUSION,
	HCL_RECEIPT_CONSISTENCY
} hcl_receipt_kind;

typedef struct hcl_receipt
{
	hcl_receipt_kind kind;
	/* inclusion */
	bool		has_row;		/* the row number (only with the leaf) */
	int64_t		row;
	uint8_t    *leaf;			/* canonical row bytes, or NULL */
	size_t		leaf_len;
	hcl_hash	leaf_hash;
	uint64_t	leaf_index;
	uint64_t	tree_size;
	char	   *checkpoint;		/* signed note; the new one for consistency */
	size_t		checkpoint_len;
	/* consistency */
	char	   *old_checkpoint;
	size_t		old_checkpoint_len;
	/* both */
	hcl_hash	proof[HCL_MAX_PROOF];
	int			proof_len;
} hcl_receipt;

typedef struct hcl_verdict
{
	bool		valid;
	char		reason[512];
	int			key;			/* which trusted key signed (new checkpoint) */
	int			old_key;		/* and the old one (consistency) */
	hcl_checkpoint cp;			/* the (new) checkpoint, when it parsed */
	hcl_checkpoint old;			/* the old one (consistency) */
	bool		cp_parsed;
} hcl_verdict;

/* The row number in a leaf of at least 42 bytes (docs/format.md). */
extern int64_t hcl_leaf_row(const uint8_t *leaf);

/* Parse the JSON text form.  NULL on success, else the reason. */
extern const char *hcl_receipt_parse(char *json, size_t len, hcl_receipt *r);

/* Append the canonical JSON text form (no whitespace, fixed key order). */
extern void hcl_receipt_format(const hcl_receipt *r, StringInfo out);

/* Verify a parsed receipt against trusted keys; v says why. */
extern bool hcl_receipt_verify(const hcl_receipt *r,
							   const hcl_trusted_key *keys, int nkeys,
							   hcl_verdict *v);

#endif							/* HCL_RECEIPT_H */
