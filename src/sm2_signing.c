/*
 * sm2_signing.c
 *		The node's SM2 key (hcledger.sm2_key_file) and SQL's SM2 signatures.
 *
 * The same rules as the Ed25519 signing key (signing.c): a PEM file with an
 * unencrypted private key, here on SM2's curve (`openssl genpkey -algorithm
 * SM2`), without group or world access; a SIGHUP, superuser-only setting;
 * the file read when the setting is loaded and again for each signature,
 * into a stack buffer wiped right after; a signature made only if the file
 * still holds the key that was loaded.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "crypto.h"
#include "hash256.h"
#include "pgcompat.h"
#include "signing.h"

static char *hcl_sm2_key_file = NULL;

typedef struct HclSm2State
{
	bool		usable;
	uint8		pub[65];
	char		problem[256];
} HclSm2State;

static HclSm2State *hcl_sm2 = NULL;

/*
 * Read the key file and use the key: its public point into pub and, if msg
 * is not NULL, its signature of msg for identity id into sig.  False with
 * the reason in problem.  Every OpenSSL object is freed before returning.
 */
static bool
hcl_use_sm2_key_file(const char *path, const uint8 *id, size_t idlen,
					 const uint8 *msg, size_t msglen, uint8 sig[64], uint8 pub[65],
					 char *problem, size_t problemlen)
{
	char		buf[HCL_KEY_FILE_MAX];
	size_t		len;
	hcl_sm2_signer *signer = NULL;
	hcl_sign_result rc;

	if (!hcl_read_key_file(path, "SM2 key file", buf, sizeof(buf), &len,
						   problem, problemlen))
	{
		explicit_bzero(buf, sizeof(buf));
		return false;
	}
	rc = hcl_sm2_signer_from_pem(buf, len, &signer, pub);
	explicit_bzero(buf, sizeof(buf));
	if (rc == HCL_SIGN_OK && msg != NULL &&
		!hcl_sm2_sign(signer, id, idlen, msg, msglen, sig))
		rc = HCL_SIGN_FAILURE;
	hcl_sm2_signer_free(signer);
	return hcl_key_file_result(rc, "SM2 key file", path, "an SM2 key", problem, problemlen);
}

static bool
hcl_check_sm2_key_file(char **newval, void **extra, GucSource source)
{
	HclSm2State *state;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	state = hcl_guc_extra_alloc(sizeof(HclSm2State));
	if (state == NULL)
		return false;
	memset(state, 0, sizeof(*state));
	state->usable = hcl_use_sm2_key_file(*newval, NULL, 0, NULL, 0, NULL, state->pub,
										 state->problem, sizeof(state->problem));
	if (!state->usable)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("hcledger.sm2_key_file: %s", state->problem),
				 errdetail("Nothing is signed with SM2 until the file is fixed and the configuration reloaded.")));
	*extra = state;
	return true;
}

static void
hcl_assign_sm2_key_file(const char *newval, void *extra)
{
	hcl_sm2 = extra;
}

void
hcl_define_sm2_settings(void)
{
	DefineCustomStringVariable("hcledger.sm2_key_file",
							   "PEM file with the node's SM2 private key.",
							   "Empty: the node signs nothing with SM2. A relative path is relative to the data directory.",
							   &hcl_sm2_key_file,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   hcl_check_sm2_key_file,
							   hcl_assign_sm2_key_file,
							   NULL);
}

/* The loaded key's state: NULL if none is set, an error if it is unusable. */
static HclSm2State *
hcl_sm2_state(void)
{
	if (hcl_sm2 == NULL)
		return NULL;
	if (!hcl_sm2->usable)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("hcledger.sm2_key_file cannot be used: %s", hcl_sm2->problem),
				 errhint("Fix the file, then reload the configuration (SELECT pg_reload_conf()).")));
	return hcl_sm2;
}

/* SQL function: sm2_public_key() returns bytea (65-byte point; NULL: no key set). */
PG_FUNCTION_INFO_V1(hcl_sm2_public_key);
Datum
hcl_sm2_public_key(PG_FUNCTION_ARGS)
{
	HclSm2State *state = hcl_sm2_state();
	bytea	   *result;

	if (state == NULL)
		PG_RETURN_NULL();
	result = palloc(VARHDRSZ + 65);
	SET_VARSIZE(result, VARHDRSZ + 65);
	memcpy(VARDATA(result), state->pub, 65);
	PG_RETURN_BYTEA_P(result);
}

/*
 * Sign msg with the node's SM2 key for identity id: the signature in sig and
 * the key's point in pub.  False when no key is set; an error when one is
 * set but cannot be used, or the file holds another key than was loaded.
 */
bool
hcl_node_sm2_sign(const uint8 *id, size_t idlen, const uint8 *msg, size_t len,
				  uint8 sig[64], uint8 pub[65])
{
	HclSm2State *state = hcl_sm2_state();
	char		problem[256];

	if (state == NULL)
		return false;
	if (!hcl_use_sm2_key_file(hcl_sm2_key_file, id, idlen, msg, len, sig, pub,
							  problem, sizeof(problem)))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("could not sign with hcledger.sm2_key_file: %s", problem),
				 errhint("Fix the file (a PEM key, readable only by the server's user), then reload the configuration (SELECT pg_reload_conf()).")));
	if (memcmp(pub, state->pub, 65) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("could not sign: SM2 key file \"%s\" holds another key than when the configuration was loaded",
						hcl_sm2_key_file),
				 errhint("Reload the configuration to rotate to the new key.")));
	return true;
}

/*
 * SQL function: sm2_sign(message bytea, signer_id bytea) returns bytea: the
 * raw r || s signature with the node's SM2 key (NULL: no key set).
 */
PG_FUNCTION_INFO_V1(hcl_sm2_sign_sql);
Datum
hcl_sm2_sign_sql(PG_FUNCTION_ARGS)
{
	bytea	   *msg = PG_GETARG_BYTEA_PP(0);
	bytea	   *id = PG_GETARG_BYTEA_PP(1);
	uint8		pub[65];
	bytea	   *result;

	hcl_check_sm2_id(VARSIZE_ANY_EXHDR(id));
	result = palloc(VARHDRSZ + 64);
	SET_VARSIZE(result, VARHDRSZ + 64);
	if (!hcl_node_sm2_sign((const uint8 *) VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id),
						   (const uint8 *) VARDATA_ANY(msg), VARSIZE_ANY_EXHDR(msg),
						   (uint8 *) VARDATA(result), pub))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(result);
}
