/*
 * fuzz_code_payload.c
 *		Health-code payloads, src/codes.c (backend code, linked with the
 *		shim): hcl_code_decode, behind code_decode, code_claims and
 *		verify_code, and what code_decode computes from a decoded payload
 *		(the commitment and the signed message); and code_claims itself
 *		(the claims' UTF-8 and JSON checks).
 *
 * codes.c is #included to reach its static functions; it is compiled
 * exactly as in the extension.  The input is the payload text.  Checks:
 * hcl_code_decode never raises an ERROR (a bad payload is a reason, not
 * an error); a payload it accepts has fields within their documented
 * limits and is re-encoded by hcl_code_payload to exactly the same text
 * (Base45 and the layout have one spelling per value); code_claims either
 * returns or raises an ERROR (ERRCODE_INVALID_TEXT_REPRESENTATION) for
 * exactly the payloads it must refuse.  HCL1: (ES256), HCL2: (SM2,
 * its algorithm byte first and a 16-byte salt) and HCL3: (selective
 * disclosure: digests and disclosures, each in ascending order).
 */
#include "../../src/code_payload.c"
#include "../../src/codes.c"

#include "fuzz_common.h"

typedef struct ClaimsCall
{
	text	   *payload;
} ClaimsCall;

static void
do_code_claims(void *arg)
{
	ClaimsCall *c = arg;
	LOCAL_FCINFO(fcinfo, 1);

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = PointerGetDatum(c->payload);
	fcinfo->args[0].isnull = false;
	(void) hcl_code_claims(fcinfo);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	text	   *payload = palloc(VARHDRSZ + size);
	HclCode		c;
	const char *problem;
	ClaimsCall	call;
	bool		claims_ok;

	SET_VARSIZE(payload, VARHDRSZ + size);
	memcpy(VARDATA(payload), data, size);

	problem = hcl_code_decode_text(payload, &c);
	if (problem == NULL)
	{
		uint8		commitment[32];
		bytea	   *msg;
		text	   *again;

		FZ_CHECK(c.alg == HCL_KEY_KIND_P256 || c.alg == HCL_KEY_KIND_SM2);
		if (c.selective)
		{
			/* HCL3: digests in steps of 8, ascending; fewer disclosures, ascending names */
			FZ_CHECK(memcmp(data, HCL_CODE_PREFIX_SD, HCL_CODE_PREFIX_LEN) == 0);
			FZ_CHECK(c.ndigests >= HCL_SD_DIGEST_STEP && c.ndigests <= HCL_SD_DIGESTS_MAX &&
					 c.ndigests % HCL_SD_DIGEST_STEP == 0);
			FZ_CHECK(c.ndisclosed >= 0 && c.ndisclosed < c.ndigests);
			for (int i = 1; i < c.ndigests; i++)
				FZ_CHECK(memcmp(c.digests + 32 * (i - 1), c.digests + 32 * i, 32) < 0);
			for (int i = 0; i < c.ndisclosed; i++)
			{
				const char *name;

				FZ_CHECK(c.disclosurelen[i] >= HCL_SD_DISCLOSURE_MIN &&
						 c.disclosurelen[i] <= HCL_SD_DISCLOSURE_MAX);
				FZ_CHECK(hcl_disclosure_name(c.disclosures[i], c.disclosurelen[i], &name) > 0);
			}
		}
		else
		{
			FZ_CHECK(c.saltlen >= HCL_SALT_LEN && c.saltlen <= HCL_SALT_MAX);
			/* HCL2: fixes the salt; the prefix names the algorithm */
			FZ_CHECK(c.alg != HCL_KEY_KIND_SM2 || c.saltlen == HCL_SALT_LEN);
			FZ_CHECK(memcmp(data, c.alg == HCL_KEY_KIND_SM2 ? HCL_CODE_PREFIX_SM2 : HCL_CODE_PREFIX,
							HCL_CODE_PREFIX_LEN) == 0);
			FZ_CHECK(c.claimslen >= 1 && c.claimslen <= HCL_CLAIMS_MAX);
		}
		FZ_CHECK(c.authority != NULL && hcl_line_ok(c.authority, strlen(c.authority)));
		FZ_CHECK(c.key_id != NULL && hcl_line_ok(c.key_id, strlen(c.key_id)));
		FZ_CHECK(c.issued_at >= 0 && c.issued_at <= HCL_TIME_MAX);
		FZ_CHECK(c.valid_from >= 0 && c.valid_from < c.valid_until &&
				 c.valid_until <= HCL_TIME_MAX);

		/* what code_decode does with it */
		FZ_CHECK(hcl_commitment(&c, commitment));
		msg = hcl_code_message(c.alg, c.selective, c.authority, c.key_id, c.id, c.issued_at,
							   c.valid_from, c.valid_until, commitment);
		FZ_CHECK(VARSIZE(msg) > VARHDRSZ);
		(void) hcl_to_timestamptz(c.valid_until);

		/* one spelling per payload */
		again = hcl_code_payload(&c);
		FZ_CHECK(VARSIZE_ANY_EXHDR(again) == size);
		FZ_CHECK(memcmp(VARDATA_ANY(again), data, size) == 0);
	}
	else
		FZ_CHECK(problem[0] != '\0');

	call.payload = payload;
	claims_ok = shim_try(do_code_claims, &call);
	if (!claims_ok)
		FZ_CHECK(shim_last_sqlstate() == ERRCODE_INVALID_TEXT_REPRESENTATION);
	if (problem != NULL)
		FZ_CHECK(!claims_ok);
	shim_reset();
	return 0;
}
