/*
 * signing.h
 *		The node's checkpoint signing key (hcledger.signing_key_file).
 */
#ifndef HCL_SIGNING_H
#define HCL_SIGNING_H

extern char *hcl_signing_key_file;

extern void hcl_define_signing_settings(void);

/*
 * The signed note of a checkpoint body: body, a blank line, and the Ed25519
 * signature line under the key name origin.  NULL when no key is set;
 * an error when one is set but cannot be used.
 */
extern char *hcl_sign_checkpoint(const char *origin, const char *body);

#endif							/* HCL_SIGNING_H */
