/*
 * authority.h
 *		The issuing authority's secrets (credential key, pseudonym key).
 */
#ifndef HCL_AUTHORITY_H
#define HCL_AUTHORITY_H

extern char *hcl_credential_key_file;
extern char *hcl_pseudonym_key_file;

extern void hcl_define_authority_settings(void);

#include "crypto.h"

/* The credential key's kind (P-256: ES256, or SM2); errors if unset. */
extern hcl_key_kind hcl_credential_kind(void);

/*
 * The credential key's signature of msg (raw r || s): ES256, or SM2 with
 * the default identity 1234567812345678.  kind is what the caller built
 * msg for; errors if it is not the key's, or if the key is unset.
 */
extern void hcl_credential_sign(hcl_key_kind kind, const uint8 *msg, size_t msglen, uint8 sig[64]);

/*
 * The pseudonym of a document number issued by an authority:
 * HMAC-SHA-256(pseudonym key, "hcledger-subject/1\n" authority "\n" document).
 * Errors if the key is unset.
 */
extern void hcl_pseudonym(const char *authority, const char *document, uint8 out[32]);

#endif							/* HCL_AUTHORITY_H */
