/*
 * signing.c
 *		The node's checkpoint signing key.
 *
 * hcledger.signing_key_file names a PEM file holding an unencrypted Ed25519
 * private key (PKCS#8, as `openssl genpkey -algorithm ed25519` writes).
 * It is a SIGHUP setting, so only postgresql.conf or ALTER SYSTEM (both
 * superuser) set it, and only superusers can read it.  Like ssl_key_file,
 * the file is refused if group or others have any access to it.
 *
 * The private key is never kept: the file is read when the setting is
 * loaded (to check it and learn its public key) and again for each
 * signature, into a stack buffer that is wiped right after; OpenSSL clears
 * the parsed key when it is freed.  It never reaches a table, a log line or
 * an error message.  A signature is made only if the file still holds the
 * key that was loaded, so changing the file takes effect at a reload, and a
 * reload with a file that cannot be used stops signing (and sealing) with
 * an error until it is fixed, rather than signing with another key or not
 * at all.
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "crypto.h"
#include "note.h"
#include "signing.h"
#include "pgcompat.h"


char	   *hcl_signing_key_file = NULL;

/* What loading the setting found (GUC "extra", malloc'd). */
typedef struct HclSigningState
{
	bool		usable;
	uint8		pub[32];
	char		problem[256];	/* why not usable */
} HclSigningState;

static HclSigningState *hcl_signing = NULL;

/*
 * Read a secret file into buf (bufsize bytes; the content must be shorter):
 * it must be a regular file without group or world access, like
 * ssl_key_file.  False with the reason in problem.  what names the file in
 * messages ("signing key file").  The caller wipes buf.
 */
bool
hcl_read_key_file(const char *path, const char *what, char *buf, size_t bufsize,
				  size_t *len, char *problem, size_t problemlen)
{
	struct stat st;
	ssize_t		n;
	int			fd;

	fd = open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
	{
		snprintf(problem, problemlen, "could not open %s \"%s\": %m", what, path);
		return false;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		close(fd);
		snprintf(problem, problemlen, "%s \"%s\" is not a regular file", what, path);
		return false;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		close(fd);
		snprintf(problem, problemlen,
				 "%s \"%s\" has group or world access; it must be u=rw (0600) or less",
				 what, path);
		return false;
	}
	n = read(fd, buf, bufsize);
	close(fd);
	if (n < 0 || (size_t) n == bufsize)
	{
		snprintf(problem, problemlen, "could not read %s \"%s\" (unreadable or over %zu bytes)",
				 what, path, bufsize - 1);
		return false;
	}
	*len = (size_t) n;
	return true;
}

/*
 * Read the key file, check it and use the key: its public key into pub and,
 * if msg is not NULL, its signature of msg into sig.  False with the
 * reason in problem on any failure.
 */
static bool
hcl_use_key_file(const char *path, const uint8 *msg, size_t msglen,
				 uint8 sig[64], uint8 pub[32], char *problem, size_t problemlen)
{
	char		buf[HCL_KEY_FILE_MAX];
	size_t		len;
	hcl_sign_result rc;

	if (!hcl_read_key_file(path, "signing key file", buf, sizeof(buf), &len,
						   problem, problemlen))
	{
		explicit_bzero(buf, sizeof(buf));
		return false;
	}
	rc = hcl_ed25519_sign_pem(buf, len, msg, msglen, sig, pub);
	explicit_bzero(buf, sizeof(buf));
	return hcl_key_file_result(rc, "signing key file", path, "Ed25519", problem, problemlen);
}

bool
hcl_key_file_result(hcl_sign_result rc, const char *what, const char *path,
					const char *algorithm, char *problem, size_t problemlen)
{
	switch (rc)
	{
		case HCL_SIGN_OK:
			return true;
		case HCL_SIGN_UNPARSEABLE:
			snprintf(problem, problemlen,
					 "%s \"%s\" does not hold an unencrypted PEM private key", what, path);
			break;
		case HCL_SIGN_WRONG_ALGORITHM:
			snprintf(problem, problemlen, "%s \"%s\" holds a key that is not %s", what, path, algorithm);
			break;
		case HCL_SIGN_FAILURE:
			snprintf(problem, problemlen, "OpenSSL failed while using %s \"%s\"", what, path);
			break;
	}
	return false;
}

/*
 * Check hook: load the file.  A file that cannot be used is accepted as
 * the setting (so that a reload cannot silently keep the old key or fall
 * back to no key) but marked unusable, with a warning now and an error at
 * every seal until it is fixed.
 */
static bool
hcl_check_signing_key_file(char **newval, void **extra, GucSource source)
{
	HclSigningState *state;
	uint8		sig[64];

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	state = hcl_guc_extra_alloc(sizeof(HclSigningState));
	if (state == NULL)
		return false;
	memset(state, 0, sizeof(*state));
	state->usable = hcl_use_key_file(*newval, NULL, 0, sig, state->pub,
									 state->problem, sizeof(state->problem));
	if (!state->usable)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("hcledger.signing_key_file: %s", state->problem),
				 errdetail("Checkpoints cannot be signed, so ledgers are not sealed until the file is fixed and the configuration reloaded.")));
	*extra = state;
	return true;
}

static void
hcl_assign_signing_key_file(const char *newval, void *extra)
{
	hcl_signing = extra;
}

void
hcl_define_signing_settings(void)
{
	DefineCustomStringVariable("hcledger.signing_key_file",
							   "PEM file with the Ed25519 private key that signs checkpoints.",
							   "Empty: checkpoints are not signed. A relative path is relative to the data directory.",
							   &hcl_signing_key_file,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   hcl_check_signing_key_file,
							   hcl_assign_signing_key_file,
							   NULL);
}

/* The state of the key, or an error if one is set but unusable. */
static HclSigningState *
hcl_signing_state(void)
{
	if (hcl_signing == NULL)
		return NULL;
	if (!hcl_signing->usable)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("hcledger.signing_key_file cannot be used: %s", hcl_signing->problem),
				 errhint("Fix the file, then reload the configuration (SELECT pg_reload_conf()).")));
	return hcl_signing;
}

bool
hcl_node_sign(const uint8 *msg, size_t len, uint8 *sig, uint8 *pub)
{
	HclSigningState *state = hcl_signing_state();
	char		problem[256];

	if (state == NULL)
		return false;
	if (!hcl_use_key_file(hcl_signing_key_file, msg, len, sig, pub, problem, sizeof(problem)))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("could not sign with hcledger.signing_key_file: %s", problem),
				 errhint("Fix the file (a PEM key, readable only by the server's user), then reload the configuration (SELECT pg_reload_conf()).")));
	if (memcmp(pub, state->pub, 32) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("could not sign: signing key file \"%s\" holds another key than when the configuration was loaded",
						hcl_signing_key_file),
				 errhint("Reload the configuration to rotate to the new key.")));
	return true;
}

char *
hcl_sign_checkpoint(const char *origin, const char *body)
{
	uint8		sig[64];
	uint8		pub[32];
	uint8		sm2_pub[65];
	uint8		key_id[4];
	char	   *line;

	if (!hcl_node_sign((const uint8 *) body, strlen(body), sig, pub))
		return NULL;
	if (!hcl_note_key_id(origin, strlen(origin), pub, key_id))
		elog(ERROR, "hcledger: SHA-256 failed");
	line = hcl_note_signature_line(origin, key_id, sig);
	/*
	 * The SM2 line signs the same bytes, on the same path: whatever keeps
	 * the Ed25519 key from signing two histories of a log keeps it too.
	 */
	if (!hcl_node_sm2_sign((const uint8 *) HCL_NOTE_SM2_ID, HCL_NOTE_SM2_ID_LEN,
						   (const uint8 *) body, strlen(body), sig, sm2_pub))
		return psprintf("%s\n%s", body, line);
	if (!hcl_note_sm2_key_id(origin, strlen(origin), sm2_pub, key_id))
		elog(ERROR, "hcledger: SHA-256 failed");
	return psprintf("%s\n%s%s", body, line, hcl_note_signature_line(origin, key_id, sig));
}

bool
hcl_node_key_set(void)
{
	return hcl_signing != NULL && hcl_signing->usable;
}

bool
hcl_node_key(hcl_trusted_key *key)
{
	if (hcl_signing == NULL || !hcl_signing->usable)
		return false;
	hcl_trust_always(key, hcl_signing->pub, "hcledger.signing_key_file");
	return true;
}

/* SQL function: signing_public_key() returns bytea (NULL: no key set). */
PG_FUNCTION_INFO_V1(hcl_signing_public_key);
Datum
hcl_signing_public_key(PG_FUNCTION_ARGS)
{
	HclSigningState *state = hcl_signing_state();
	bytea	   *result;

	if (state == NULL)
		PG_RETURN_NULL();
	result = palloc(VARHDRSZ + 32);
	SET_VARSIZE(result, VARHDRSZ + 32);
	memcpy(VARDATA(result), state->pub, 32);
	PG_RETURN_BYTEA_P(result);
}
