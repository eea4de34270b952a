/*
 * code_payload.h
 *		A health code's payload (HCL1:, HCL2:, HCL3:) and the message its
 *		authority signs, as docs/health-codes.md defines them: the decoding
 *		shared by the extension (codes.c) and the offline verifier.
 */
#ifndef HCL_CODE_PAYLOAD_H
#define HCL_CODE_PAYLOAD_H

#include "lib/stringinfo.h"

#include "crypto.h"

#define HCL_CODE_PREFIX		"HCL1:"	/* an ES256 code */
#define HCL_CODE_PREFIX_SM2	"HCL2:"	/* a code of another algorithm, named in its first byte */
#define HCL_CODE_PREFIX_LEN	5
#define HCL_CODE_PREFIX_SD	"HCL3:"	/* claims disclosed one by one (any algorithm) */
#define HCL_CODE_ALG_ES256	0x01	/* HCL3:'s algorithm byte for ES256 */
#define HCL_CODE_ALG_SM2	0x02	/* HCL2:'s and HCL3:'s algorithm byte for SM2 */
#define HCL_CODE_MAX		4096	/* characters of a payload */
#define HCL_CLAIMS_MAX		2048	/* bytes of canonical claims */
#define HCL_CLAIMS_DEPTH	8
#define HCL_KEY_NAME_MAX	64
#define HCL_SALT_LEN		16
#define HCL_SALT_MAX		64
#define HCL_ID_LEN			16
#define HCL_TIME_MAX		INT64CONST(253402300799)	/* 9999-12-31 23:59:59 UTC */
#define HCL_SAFE_INTEGER	INT64CONST(9007199254740991)	/* 2^53 - 1 */
/* HCL3: (docs/health-codes.md, "Selective disclosure") */
#define HCL_SD_DIGEST_STEP	8		/* digests come in multiples of 8 */
#define HCL_SD_DIGESTS_MAX	32
#define HCL_SD_CLAIMS_MAX	(HCL_SD_DIGESTS_MAX - 1)	/* at least one decoy */
#define HCL_SD_DISCLOSURE_MIN	(HCL_SALT_LEN + 7)	/* a salt and ["a",0] */
#define HCL_SD_DISCLOSURE_MAX	(HCL_SALT_LEN + HCL_CLAIMS_MAX)

typedef struct HclCode
{
	hcl_key_kind alg;			/* P-256 (ES256, HCL1:) or SM2 (HCL2:) */
	bool		selective;		/* HCL3: claims committed and disclosed one by one */
	uint8		id[HCL_ID_LEN];
	int64		issued_at;		/* unix seconds */
	int64		valid_from;
	int64		valid_until;
	uint8		sig[64];
	int			saltlen;
	uint8		salt[HCL_SALT_MAX];
	char	   *authority;		/* NUL-terminated */
	char	   *key_id;
	const char *claims;			/* canonical claims (not terminated) */
	int			claimslen;
	/* HCL3: only (salt and claims unused) */
	int			ndigests;
	const uint8 *digests;		/* ndigests x 32 bytes, ascending */
	int			ndisclosed;
	const uint8 *disclosures[HCL_SD_DIGESTS_MAX];	/* salt || ["name",value] */
	int			disclosurelen[HCL_SD_DIGESTS_MAX];
	const char *disclosure_problem; /* a disclosure the digests do not hold */
	uint8	   *buffer;			/* the decoded bytes (claims and digests point into it) */
} HclCode;

extern bool hcl_key_name_ok(const char *s, int len);
extern bool hcl_line_ok(const char *s, size_t len);
extern void hcl_base45_encode(const uint8 *in, size_t len, StringInfo out);
extern int	hcl_base45_decode(const char *in, size_t len, uint8 *out);
extern void hcl_code_message_append(StringInfo m, hcl_key_kind alg, bool selective,
									const char *authority, const char *key_id,
									const uint8 id[HCL_ID_LEN], int64 issued_at,
									int64 valid_from, int64 valid_until,
									const uint8 commitment[32]);
extern bool hcl_commitment(const HclCode *c, uint8 out[32]);
extern int	hcl_disclosure_name(const uint8 *d, int len, const char **name);
extern const char *hcl_code_times_problem(const HclCode *c);
extern const char *hcl_code_decode(const char *s, size_t len, HclCode *c);
/* Free what hcl_code_decode allocated (a verifier's loop over many payloads). */
extern void hcl_code_release(HclCode *c);

#endif							/* HCL_CODE_PAYLOAD_H */
