/*
 * signing.h
 *		The node's checkpoint signing key (hcledger.signing_key_file).
 */
#ifndef HCL_SIGNING_H
#define HCL_SIGNING_H

#include "crypto.h"
#include "note.h"

#define HCL_KEY_FILE_MAX 8192

extern char *hcl_signing_key_file;

/*
 * Read a secret file (a regular file without group or world access) into
 * buf; false with the reason in problem.  The caller wipes buf.
 */
extern bool hcl_read_key_file(const char *path, const char *what, char *buf,
							  size_t bufsize, size_t *len, char *problem,
							  size_t problemlen);

/*
 * Turn the result of using a key file into true, or false with the reason
 * in problem ("<what> \"<path>\" holds a key that is not <algorithm>").
 */
extern bool hcl_key_file_result(hcl_sign_result rc, const char *what, const char *path,
								const char *algorithm, char *problem, size_t problemlen);

extern void hcl_define_signing_settings(void);

/* hcledger.sm2_key_file (sm2_signing.c). */
extern void hcl_define_sm2_settings(void);

/*
 * Sign msg with the node's SM2 key for the signer identity id: r || s in
 * sig[64], the key's point in pub[65].  false when no key is set; an error
 * when one is set but cannot be used.
 */
extern bool hcl_node_sm2_sign(const uint8 *id, size_t idlen, const uint8 *msg,
							  size_t len, uint8 sig[64], uint8 pub[65]);

/*
 * The signed note of a checkpoint body: body, a blank line, and the Ed25519
 * signature line under the key name origin, then, when hcledger.sm2_key_file
 * is set, the SM2 line over the same text (note.h).  NULL when no Ed25519
 * key is set; an error when a key is set but cannot be used.
 */
extern char *hcl_sign_checkpoint(const char *origin, const char *body);

/* Is a usable signing key set? */
extern bool hcl_node_key_set(void);

/*
 * Sign msg with the node's key (Ed25519): the signature in sig[64] and the
 * public key in pub[32].  false when no key is set; an error when one is
 * set but cannot be used.
 */
extern bool hcl_node_sign(const uint8 *msg, size_t len, uint8 *sig, uint8 *pub);

/* The node's own public key, trusted with no time bounds; false if none is usable. */
extern bool hcl_node_key(hcl_trusted_key *key);

/*
 * The key registry's Ed25519 keys of one authority (the one named, else the
 * owner of the origin's log, else all), in an array with room for one more
 * (the node's own key, for verify_ledger).
 */
extern hcl_trusted_key *hcl_registry_keys(const char *authority, const char *origin,
										  int *nkeys);

#endif							/* HCL_SIGNING_H */
