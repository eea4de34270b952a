/*
 * note.h
 *		Checkpoints as C2SP signed notes: parse, sign lines, verify.
 *
 * Shared by the extension and the offline verifier (compiled once for
 * each, with or without FRONTEND).  Nothing here raises an error: parse
 * and verify return a reason.  Strings are palloc'd (the frontend's palloc
 * is libpgcommon's).  The format is docs/format.md, "Checkpoints".
 */
#ifndef HCL_NOTE_H
#define HCL_NOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HCL_NOTE_MAX_SIGS	64	/* C2SP: at least 16 must be accepted */
#define HCL_NOTE_ED25519	0x01	/* C2SP signature type of Ed25519 */
#define HCL_TIME_NONE		INT64_MAX	/* no bound */

/*
 * The SM2 signature line (docs/receipts.md, "The SM2 line"): C2SP assigns
 * SM2 no signature type byte, so its type is 0xff (reserved for types
 * without an assigned byte) followed by a longer identifier, as the spec
 * recommends.  The signature is SM2 with SM3 over Z_A || note text, Z_A
 * made with GM/T 0009's default identity, raw r || s.
 */
#define HCL_NOTE_SM2_TYPE		"\xff" "hcledger/sm2-sm3"
#define HCL_NOTE_SM2_TYPE_LEN	17
#define HCL_NOTE_SM2_ID			"1234567812345678"
#define HCL_NOTE_SM2_ID_LEN		16

typedef struct hcl_note_sig
{
	const char *name;			/* key name (points into the note) */
	size_t		namelen;
	uint8_t		key_id[4];
	uint8_t		sig[64];
	size_t		siglen;			/* 64 for an Ed25519 signature */
} hcl_note_sig;

typedef struct hcl_checkpoint
{
	const char *text;			/* the signed text, with its last newline */
	size_t		textlen;
	char	   *origin;			/* palloc'd, NUL-terminated */
	uint64_t	size;
	uint8_t		root[32];
	bool		has_time;		/* hcledger-time line */
	int64_t		time;
	int			nsigs;
	hcl_note_sig sigs[HCL_NOTE_MAX_SIGS];
} hcl_checkpoint;

/* A public key trusted for checkpoints signed at times in its bounds. */
typedef struct hcl_trusted_key
{
	uint8_t		pub[32];		/* Ed25519 */
	int64_t		valid_from;		/* unix seconds; INT64_MIN for none */
	int64_t		valid_until;	/* HCL_TIME_NONE for none */
	int64_t		revoked_at;		/* HCL_TIME_NONE if not revoked */
	const char *label;			/* how messages name it */
} hcl_trusted_key;

/* An SM2 public key (65-byte uncompressed point), with the same bounds. */
typedef struct hcl_trusted_sm2_key
{
	uint8_t		pub[65];
	int64_t		valid_from;
	int64_t		valid_until;
	int64_t		revoked_at;
	const char *label;
} hcl_trusted_sm2_key;

/* A key trusted for all times (one given directly, not from the registry). */
extern void hcl_trust_always(hcl_trusted_key *key, const uint8_t pub[32],
							 const char *label);

/* C2SP key ID: SHA-256(name || 0x0A || 0x01 || pub)[:4].  False if SHA-256 fails. */
extern bool hcl_note_key_id(const char *name, size_t namelen,
							const uint8_t pub[32], uint8_t out[4]);

/*
 * Key ID of an SM2 signature line:
 * SHA-256(name || 0x0A || 0xFF || "hcledger/sm2-sm3" || pub)[:4].
 */
extern bool hcl_note_sm2_key_id(const char *name, size_t namelen,
								const uint8_t pub[65], uint8_t out[4]);

/* A decimal with no sign or leading zeros, at most INT64_MAX; false if not. */
extern bool hcl_parse_decimal(const char *s, size_t len, int64_t *out);

/* Standard base64 with padding, canonical only; -1 if not. */
extern int	hcl_b64_decode_strict(const char *src, size_t len,
								  uint8_t *dst, size_t dstlen);

/* Parse a signed checkpoint note.  NULL on success, else the reason. */
extern const char *hcl_checkpoint_parse(const char *note, size_t len,
										hcl_checkpoint *cp);

/* The signature line "— <name> base64(key ID || sig)\n", palloc'd. */
extern char *hcl_note_signature_line(const char *name, const uint8_t key_id[4],
									 const uint8_t sig[64]);

/*
 * Check a parsed checkpoint's signatures against trusted keys.  Only lines
 * whose key name is the checkpoint's origin count.  A line whose name and
 * key ID match trusted keys must verify under one of them (every key with
 * that ID is tried: IDs are 4 bytes), or the note is rejected; one such
 * signature made (by the note's hcledger-time) within the key's validity,
 * before any revocation, accepts it.  Returns true and the key's index in
 * *which, or false and the reason.  *known (if not NULL) says whether any
 * signature line was by one of the keys.
 */
extern bool hcl_checkpoint_verify(const hcl_checkpoint *cp,
								  const hcl_trusted_key *keys, int nkeys,
								  int *which, bool *known,
								  char *reason, size_t reasonlen);

/*
 * Check a parsed checkpoint's SM2 signature lines against the SM2 keys of
 * its signer (sm2keys) and its Ed25519 keys (edkeys, only to know them).
 * Only lines under the origin's name count:
 *  - a line whose key ID is that of one of sm2keys must verify under one
 *    of them (whatever required says), or the note is rejected;
 *  - if required, every line must be by one of sm2keys or edkeys (a line
 *    by a key the signer never registered is rejected), and one SM2 line
 *    must verify under a key valid (and not revoked) at the note's
 *    hcledger-time.
 * True (and the key's index in *which, -1 if none) or false with the
 * reason.
 */
extern bool hcl_checkpoint_verify_sm2(const hcl_checkpoint *cp,
									  const hcl_trusted_sm2_key *sm2keys, int nsm2,
									  const hcl_trusted_key *edkeys, int ned,
									  bool required, int *which,
									  char *reason, size_t reasonlen);

#endif							/* HCL_NOTE_H */
