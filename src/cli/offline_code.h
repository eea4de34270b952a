/*
 * offline_code.h
 *		hcledger-verify code: a trust bundle, and a code's verdict from it
 *		(docs/offline-verification.md).
 */
#ifndef HCL_OFFLINE_CODE_H
#define HCL_OFFLINE_CODE_H

#include <stdint.h>

#include "../note.h"

/* --max-age when not given: a day (docs/offline-verification.md) */
#define HCL_OFFLINE_MAX_AGE 86400

typedef struct Bundle Bundle;

typedef struct hcl_offline_result
{
	const char *verdict;		/* verify_code's verdicts, or "stale" for an old bundle */
	const char *colour;			/* NULL where verify_code's is NULL */
	const char *authority;		/* points into authority_buf */
	const char *reason;			/* NULL if none */
	char		authority_buf[256];
	int64_t		age;			/* seconds: how old the bundle's knowledge is */
} hcl_offline_result;

/* Load and check a bundle signed by one of keys; NULL, or why it is refused. */
extern const char *hcl_bundle_load(const char *file, size_t len,
								   const hcl_trusted_key *keys, int nkeys,
								   Bundle **out);

/* The verdict on one payload at time now_us (unix microseconds); max_age < 0: no limit. */
extern void hcl_offline_verdict(const Bundle *b, const char *payload, size_t len,
								int64_t now_us, int64_t max_age, hcl_offline_result *r);

#endif							/* HCL_OFFLINE_CODE_H */
