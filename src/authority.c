/*
 * authority.c
 *		The issuing authority's two secrets: the ES256 or SM2 key that signs
 *		credentials (hcledger.credential_key_file) and the HMAC key of
 *		subject pseudonyms (hcledger.pseudonym_key_file).
 *
 * Both are SIGHUP, superuser-only settings naming files that must not be
 * readable by group or others (like ssl_key_file and
 * hcledger.signing_key_file).  A file that cannot be used is reported with
 * a WARNING at reload, and issuing then fails with an error until it is
 * fixed: no credential is ever signed with another key or pseudonymised
 * with another secret.
 *
 * Unlike the checkpoint key, which is read per signature (a seal signs
 * once a second), these are used for every issued code: each backend
 * parses the file once, on first use after a reload, and keeps the parsed
 * key (as PostgreSQL keeps ssl_key_file's key in every backend).  It is
 * checked against what the reload loaded, so a file swapped without a
 * reload is refused, and is cleared when the setting changes.  No secret
 * reaches a table, a log line or an error message.
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "authority.h"
#include "crypto.h"
#include "signing.h"
#include "pgcompat.h"

#define HCL_PSEUDONYM_KEY_MIN 32
#define HCL_PSEUDONYM_KEY_MAX 1024

char	   *hcl_credential_key_file = NULL;
char	   *hcl_pseudonym_key_file = NULL;

/* What a reload found in a file (GUC "extra", malloc'd): no secret. */
typedef struct HclSecretState
{
	bool		usable;
	hcl_key_kind kind;			/* a credential key's: P-256 or SM2 */
	uint8		fingerprint[65];	/* public point, or SHA-256 of the secret */
	char		problem[256];
} HclSecretState;

static HclSecretState *hcl_credential_state = NULL;
static HclSecretState *hcl_pseudonym_state = NULL;

/* This backend's parsed copies, made on first use after a reload. */
static hcl_p256_signer *hcl_signer = NULL;
static uint8 hcl_pseudonym_key[HCL_PSEUDONYM_KEY_MAX];
static size_t hcl_pseudonym_keylen = 0;

/*
 * Load the credential key file: its signer (if signer), its kind (a P-256
 * key signs ES256, a key on SM2's curve SM2) and its public point.
 */
static bool
hcl_load_credential_key(const char *path, hcl_p256_signer **signer, hcl_key_kind *kind,
						uint8 pub[65], char *problem, size_t problemlen)
{
	char		buf[HCL_KEY_FILE_MAX];
	size_t		len;
	hcl_sign_result rc;
	hcl_p256_signer *s = NULL;

	if (!hcl_read_key_file(path, "credential key file", buf, sizeof(buf), &len,
						   problem, problemlen))
	{
		explicit_bzero(buf, sizeof(buf));
		return false;
	}
	*kind = HCL_KEY_KIND_P256;
	rc = hcl_p256_signer_from_pem(buf, len, &s, pub);
	if (rc == HCL_SIGN_WRONG_ALGORITHM)
	{
		*kind = HCL_KEY_KIND_SM2;
		rc = hcl_sm2_signer_from_pem(buf, len, &s, pub);
	}
	explicit_bzero(buf, sizeof(buf));
	if (signer != NULL)
		*signer = s;
	else
		hcl_p256_signer_free(s);
	return hcl_key_file_result(rc, "credential key file", path, "ECDSA P-256 (ES256) or SM2",
							   problem, problemlen);
}

/* Load the pseudonym key file into key (HCL_PSEUDONYM_KEY_MAX bytes). */
static bool
hcl_load_pseudonym_key(const char *path, uint8 *key, size_t *keylen,
					   char *problem, size_t problemlen)
{
	char		buf[HCL_PSEUDONYM_KEY_MAX + 1];
	size_t		len;

	if (!hcl_read_key_file(path, "pseudonym key file", buf, sizeof(buf), &len,
						   problem, problemlen))
	{
		explicit_bzero(buf, sizeof(buf));
		return false;
	}
	if (len < HCL_PSEUDONYM_KEY_MIN)
	{
		explicit_bzero(buf, sizeof(buf));
		snprintf(problem, problemlen,
				 "pseudonym key file \"%s\" holds %zu bytes; it needs at least %d random bytes",
				 path, len, HCL_PSEUDONYM_KEY_MIN);
		return false;
	}
	memcpy(key, buf, len);
	*keylen = len;
	explicit_bzero(buf, sizeof(buf));
	return true;
}

/* A fresh state for a check hook, or NULL (out of memory). */
static HclSecretState *
hcl_new_state(void)
{
	HclSecretState *state = hcl_guc_extra_alloc(sizeof(HclSecretState));

	if (state != NULL)
		memset(state, 0, sizeof(*state));
	return state;
}

static void
hcl_warn_unusable(const char *setting, const HclSecretState *state)
{
	ereport(WARNING,
			(errcode(ERRCODE_CONFIG_FILE_ERROR),
			 errmsg("%s: %s", setting, state->problem),
			 errdetail("Health codes cannot be issued until the file is fixed and the configuration reloaded.")));
}

static bool
hcl_check_credential_key_file(char **newval, void **extra, GucSource source)
{
	HclSecretState *state;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if ((state = hcl_new_state()) == NULL)
		return false;
	state->usable = hcl_load_credential_key(*newval, NULL, &state->kind, state->fingerprint,
											state->problem, sizeof(state->problem));
	if (!state->usable)
		hcl_warn_unusable("hcledger.credential_key_file", state);
	*extra = state;
	return true;
}

static void
hcl_assign_credential_key_file(const char *newval, void *extra)
{
	hcl_credential_state = extra;
	hcl_p256_signer_free(hcl_signer);
	hcl_signer = NULL;
}

static bool
hcl_check_pseudonym_key_file(char **newval, void **extra, GucSource source)
{
	HclSecretState *state;
	uint8		key[HCL_PSEUDONYM_KEY_MAX];
	size_t		keylen = 0;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if ((state = hcl_new_state()) == NULL)
		return false;
	state->usable = hcl_load_pseudonym_key(*newval, key, &keylen,
										   state->problem, sizeof(state->problem));
	if (state->usable && !hcl_sha256(key, keylen, state->fingerprint))
	{
		state->usable = false;
		snprintf(state->problem, sizeof(state->problem), "SHA-256 failed");
	}
	explicit_bzero(key, sizeof(key));
	if (!state->usable)
		hcl_warn_unusable("hcledger.pseudonym_key_file", state);
	*extra = state;
	return true;
}

static void
hcl_assign_pseudonym_key_file(const char *newval, void *extra)
{
	hcl_pseudonym_state = extra;
	explicit_bzero(hcl_pseudonym_key, sizeof(hcl_pseudonym_key));
	hcl_pseudonym_keylen = 0;
}

void
hcl_define_authority_settings(void)
{
	DefineCustomStringVariable("hcledger.credential_key_file",
							   "PEM file with the private key that signs health codes: ECDSA P-256 (ES256) or SM2.",
							   "Empty: this server does not issue codes. A relative path is relative to the data directory.",
							   &hcl_credential_key_file,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   hcl_check_credential_key_file,
							   hcl_assign_credential_key_file,
							   NULL);
	DefineCustomStringVariable("hcledger.pseudonym_key_file",
							   "File of at least 32 secret random bytes that key the HMAC pseudonyms of code holders.",
							   "Empty: this server does not issue codes. A relative path is relative to the data directory.",
							   &hcl_pseudonym_key_file,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   hcl_check_pseudonym_key_file,
							   hcl_assign_pseudonym_key_file,
							   NULL);
}

/* The state of a setting, or an error if it is empty or unusable. */
static HclSecretState *
hcl_secret_state(HclSecretState *state, const char *setting)
{
	if (state == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s is not set", setting),
				 errhint("An issuing authority needs hcledger.credential_key_file and hcledger.pseudonym_key_file; see docs/health-codes.md, \"Deploying\".")));
	if (!state->usable)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("%s cannot be used: %s", setting, state->problem),
				 errhint("Fix the file, then reload the configuration (SELECT pg_reload_conf()).")));
	return state;
}

hcl_key_kind
hcl_credential_kind(void)
{
	return hcl_secret_state(hcl_credential_state, "hcledger.credential_key_file")->kind;
}

void
hcl_credential_sign(hcl_key_kind kind, const uint8 *msg, size_t msglen, uint8 sig[64])
{
	HclSecretState *state = hcl_secret_state(hcl_credential_state, "hcledger.credential_key_file");
	bool		ok;

	if (hcl_signer == NULL)
	{
		char		problem[256];
		uint8		pub[65];
		hcl_key_kind loaded;

		if (!hcl_load_credential_key(hcl_credential_key_file, &hcl_signer, &loaded, pub,
									 problem, sizeof(problem)))
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("could not sign a health code: %s", problem),
					 errhint("Fix the file (a PEM key, readable only by the server's user), then reload the configuration (SELECT pg_reload_conf()).")));
		if (loaded != state->kind || memcmp(pub, state->fingerprint, 65) != 0)
		{
			hcl_p256_signer_free(hcl_signer);
			hcl_signer = NULL;
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("could not sign a health code: credential key file \"%s\" holds another key than when the configuration was loaded",
							hcl_credential_key_file),
					 errhint("Reload the configuration to rotate to the new key, after registering it with hcledger.rotate_key().")));
		}
	}
	/* the caller built the message for the kind it read: never sign another's */
	if (kind != state->kind)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not sign a health code: the credential key changed algorithm while it was being made"),
				 errhint("Issue the code again.")));
	if (kind == HCL_KEY_KIND_SM2)
		ok = hcl_sm2_sign(hcl_signer, (const uint8 *) HCL_SM2_DEFAULT_ID, strlen(HCL_SM2_DEFAULT_ID),
						  msg, msglen, sig);
	else
		ok = hcl_p256_sign(hcl_signer, msg, msglen, sig);
	if (!ok)
		elog(ERROR, "hcledger: %s signing failed in OpenSSL", kind == HCL_KEY_KIND_SM2 ? "SM2" : "ES256");
}

void
hcl_pseudonym(const char *authority, const char *document, uint8 out[32])
{
	StringInfoData msg;
	HclSecretState *state = hcl_secret_state(hcl_pseudonym_state, "hcledger.pseudonym_key_file");

	if (hcl_pseudonym_keylen == 0)
	{
		char		problem[256];
		uint8		fingerprint[32];
		size_t		len = 0;

		if (!hcl_load_pseudonym_key(hcl_pseudonym_key_file, hcl_pseudonym_key, &len,
									problem, sizeof(problem)))
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("could not make a pseudonym: %s", problem),
					 errhint("Fix the file (at least 32 random bytes, readable only by the server's user), then reload the configuration (SELECT pg_reload_conf()).")));
		if (!hcl_sha256(hcl_pseudonym_key, len, fingerprint) ||
			memcmp(fingerprint, state->fingerprint, 32) != 0)
		{
			explicit_bzero(hcl_pseudonym_key, sizeof(hcl_pseudonym_key));
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("could not make a pseudonym: pseudonym key file \"%s\" holds another secret than when the configuration was loaded",
							hcl_pseudonym_key_file),
					 errhint("Changing the secret changes every pseudonym; if that is meant, reload the configuration.")));
		}
		hcl_pseudonym_keylen = len;
	}
	/* HMAC(key, "hcledger-subject/1\n" authority "\n" document number) */
	initStringInfo(&msg);
	appendStringInfo(&msg, "hcledger-subject/1\n%s\n%s", authority, document);
	if (!hcl_hmac_sha256(hcl_pseudonym_key, hcl_pseudonym_keylen, msg.data, msg.len, out))
		elog(ERROR, "hcledger: HMAC-SHA-256 failed in OpenSSL");
	explicit_bzero(msg.data, msg.len);
}

/* SQL function: credential_public_key() returns bytea (NULL: none set). */
PG_FUNCTION_INFO_V1(hcl_credential_public_key);
Datum
hcl_credential_public_key(PG_FUNCTION_ARGS)
{
	HclSecretState *state;

	if (hcl_credential_state == NULL)
		PG_RETURN_NULL();
	state = hcl_secret_state(hcl_credential_state, "hcledger.credential_key_file");
	PG_RETURN_BYTEA_P(cstring_to_text_with_len((const char *) state->fingerprint, 65));
}

/*
 * SQL function: credential_key_algorithm() returns text: 'es256' or 'sm2',
 * the algorithm the credential key signs with (NULL: none set).
 */
PG_FUNCTION_INFO_V1(hcl_credential_key_algorithm);
Datum
hcl_credential_key_algorithm(PG_FUNCTION_ARGS)
{
	if (hcl_credential_state == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(hcl_credential_kind() == HCL_KEY_KIND_SM2 ? "sm2" : "es256"));
}
