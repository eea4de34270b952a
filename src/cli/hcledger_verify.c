/*
 * hcledger-verify: check a hcledger receipt with no database.
 *
 *   hcledger-verify --key PUBLIC_KEY_FILE [--key ...]
 *                   [--sm2-key SM2_PUBLIC_KEY_FILE ...] RECEIPT_FILE
 *
 * RECEIPT_FILE ("-" for standard input) is a receipt of a row
 * (hcledger-receipt/1) or a consistency receipt between two checkpoints
 * (hcledger-consistency/1), as docs/receipts.md describes.  Each key file
 * holds an Ed25519 public key: PEM, SubjectPublicKeyInfo DER, or the raw
 * 32 bytes.  A receipt verifies if its proofs hold and a checkpoint
 * signature under the checkpoint's origin verifies with one of the keys.
 * Other signature lines (an SM2 line among them) are ignored, unless SM2
 * keys are given: then the checkpoint's SM2 line must verify with one of
 * them, and every line under the origin's name must be by a key given
 * (docs/receipts.md, "The SM2 line").
 *
 * Prints one line, "VALID: ..." or "INVALID: <reason>", and exits 0 if
 * valid, 1 if not, 2 on a usage or file error.
 *
 *   hcledger-verify code --bundle FILE --key PUBLIC_KEY_FILE [--key ...]
 *                        [--max-age SECONDS] [--at UNIX_SECONDS] PAYLOAD|-
 *
 * verifies health codes offline from a trust bundle (offline_code.c).  The checking code is the
 * extension's own (note.c, receipt.c, merkle.c, crypto.c).
 */
#include "postgres_fe.h"

#include <errno.h>
#include <time.h>

#include "../crypto.h"
#include "../receipt.h"
#include "offline_code.h"

#define HCL_MAX_KEYS 64
/* the largest text PostgreSQL makes (a receipt whose leaf is up to about 750 MB) */
#define HCL_MAX_FILE (1024 * 1024 * 1024)

static void
usage(FILE *to)
{
	fprintf(to,
			"Usage: hcledger-verify --key PUBLIC_KEY_FILE [--key PUBLIC_KEY_FILE ...]\n"
			"                       [--sm2-key SM2_PUBLIC_KEY_FILE ...] RECEIPT_FILE\n"
			"Checks a hcledger receipt (a row's inclusion, or a log's consistency)\n"
			"against Ed25519 public keys, offline.  RECEIPT_FILE may be - for stdin.\n"
			"With --sm2-key, the checkpoints' SM2 signature line is required too.\n"
			"Prints VALID or INVALID with the reason; exits 0 (valid), 1 (invalid), 2 (error).\n"
			"\n"
			"       hcledger-verify code --bundle FILE --key PUBLIC_KEY_FILE [--key ...]\n"
			"                            [--max-age SECONDS] [--at UNIX_SECONDS] PAYLOAD|-\n"
			"Verifies health codes offline from a trust bundle signed by one of the keys\n"
			"(hcledger.trust_bundle()); - reads payloads one per line.  Prints per payload\n"
			"verdict, colour, authority, age of the bundle's knowledge (s) and reason,\n"
			"tab-separated; exits 0 (all valid), 1 (one not valid), 2 (error, refused bundle).\n"
			"--max-age (default 86400): knowledge older than this many seconds is stale.\n");
}

/* The whole file (NUL-terminated), or exit 2. */
static char *
read_all(const char *path, size_t *len)
{
	FILE	   *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char	   *buf;
	size_t		cap = 65536,
				n = 0;

	if (f == NULL)
	{
		fprintf(stderr, "hcledger-verify: could not open \"%s\": %s\n", path, strerror(errno));
		exit(2);
	}
	buf = pg_malloc(cap + 1);
	for (;;)
	{
		size_t		got = fread(buf + n, 1, cap - n, f);

		n += got;
		if (n < cap)
			break;
		if (cap >= HCL_MAX_FILE)
		{
			fprintf(stderr, "hcledger-verify: \"%s\" is larger than %d bytes\n", path, HCL_MAX_FILE);
			exit(2);
		}
		cap *= 2;
		buf = pg_realloc(buf, cap + 1);
	}
	if (ferror(f))
	{
		fprintf(stderr, "hcledger-verify: could not read \"%s\": %s\n", path, strerror(errno));
		exit(2);
	}
	if (f != stdin)
		fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/*
 * What parsing (and verifying, if v) a receipt allocated.  The checking
 * code is the extension's, which allocates with palloc and leaves freeing
 * to a memory context; here there is none.
 */
static void
free_receipt(hcl_receipt *r, hcl_verdict *v)
{
	if (r->leaf != NULL)
		pfree(r->leaf);
	if (r->checkpoint != NULL)
		pfree(r->checkpoint);
	if (r->old_checkpoint != NULL)
		pfree(r->old_checkpoint);
	if (v != NULL && v->cp.origin != NULL)
		pfree(v->cp.origin);
	if (v != NULL && v->old.origin != NULL)
		pfree(v->old.origin);
}

/* The SM2 line of a checkpoint, required, under the SM2 keys given. */
static bool
sm2_lines_verify(const hcl_checkpoint *cp, const hcl_trusted_sm2_key *sm2keys, int nsm2,
				 const hcl_trusted_key *keys, int nkeys, char *reason, size_t reasonlen)
{
	int			which;

	return hcl_checkpoint_verify_sm2(cp, sm2keys, nsm2, keys, nkeys, true, &which,
									 reason, reasonlen);
}

/* An Ed25519 public key file (PEM, DER or raw) into key, or exit 2. */
static void
load_ed25519_key(const char *path, hcl_trusted_key *key)
{
	size_t		klen,
				rawlen = 0;
	char	   *k = read_all(path, &klen);
	uint8_t		raw[65];
	hcl_verify_result rc;

	rc = hcl_public_key_raw_of((const uint8_t *) k, klen, HCL_KEY_KIND_ED25519, raw, &rawlen);
	pg_free(k);
	if (rc != HCL_SIG_VALID)
	{
		fprintf(stderr, "hcledger-verify: \"%s\" is not %s\n", path,
				rc == HCL_KEY_WRONG_ALGORITHM ? "an Ed25519 key" : "a public key (PEM, DER or raw 32 bytes)");
		exit(2);
	}
	hcl_trust_always(key, raw, path);
}

static bool
parse_seconds(const char *s, int64_t *out)
{
	return hcl_parse_decimal(s, strlen(s), out);
}

/* hcledger-verify code ...: argv[0] is "code". */
static int
code_main(int argc, char **argv)
{
	hcl_trusted_key keys[HCL_MAX_KEYS];
	int			nkeys = 0;
	const char *bundle_path = NULL;
	const char *payload = NULL;
	int64_t		max_age = HCL_OFFLINE_MAX_AGE;
	bool		at_given = false;
	int64_t		now_us = 0;
	struct timespec ts;
	char	   *file;
	size_t		len;
	Bundle	   *b;
	const char *why;
	int			status = 0;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
		{
			if (nkeys == HCL_MAX_KEYS)
			{
				fprintf(stderr, "hcledger-verify: at most %d keys\n", HCL_MAX_KEYS);
				return 2;
			}
			load_ed25519_key(argv[++i], &keys[nkeys++]);
		}
		else if (strcmp(argv[i], "--bundle") == 0 && i + 1 < argc)
			bundle_path = argv[++i];
		else if (strcmp(argv[i], "--max-age") == 0 && i + 1 < argc)
		{
			if (!parse_seconds(argv[++i], &max_age))
			{
				fprintf(stderr, "hcledger-verify: --max-age takes a number of seconds\n");
				return 2;
			}
		}
		else if (strcmp(argv[i], "--at") == 0 && i + 1 < argc)
		{
			at_given = true;
			if (!parse_seconds(argv[++i], &now_us) || now_us > INT64_MAX / 1000000)
			{
				fprintf(stderr, "hcledger-verify: --at takes unix seconds\n");
				return 2;
			}
		}
		else if (payload == NULL && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0))
			payload = argv[i];
		else
		{
			usage(stderr);
			return 2;
		}
	}
	if (bundle_path == NULL || payload == NULL || nkeys == 0)
	{
		usage(stderr);
		return 2;
	}
	if (at_given)
		now_us *= 1000000;
	else
	{
		clock_gettime(CLOCK_REALTIME, &ts);
		now_us = (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	}
	file = read_all(bundle_path, &len);
	if ((why = hcl_bundle_load(file, len, keys, nkeys, &b)) != NULL)
	{
		printf("REFUSED: the bundle: %s\n", why);
		return 2;
	}
	for (;;)
	{
		char	   *line = NULL;
		size_t		cap = 0;
		ssize_t		n;
		hcl_offline_result r;

		if (strcmp(payload, "-") == 0)
		{
			if ((n = getline(&line, &cap, stdin)) < 0)
				break;
			while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
				line[--n] = '\0';
			hcl_offline_verdict(b, line, (size_t) n, now_us, max_age, &r);
			free(line);
		}
		else
			hcl_offline_verdict(b, payload, strlen(payload), now_us, max_age, &r);
		printf("%s\t%s\t%s\t%lld\t%s\n", r.verdict, r.colour ? r.colour : "-",
			   r.authority ? r.authority : "-", (long long) r.age, r.reason ? r.reason : "");
		if (strcmp(r.verdict, "valid") != 0)
			status = 1;
		if (strcmp(payload, "-") != 0)
			break;
	}
	return status;
}

int
main(int argc, char **argv)
{
	hcl_trusted_key keys[HCL_MAX_KEYS];
	int			nkeys = 0;
	hcl_trusted_sm2_key sm2keys[HCL_MAX_KEYS];
	int			nsm2 = 0;
	char		sm2_reason[512];
	const char *receipt_path = NULL;
	char	   *json;
	size_t		len;
	hcl_receipt r;
	hcl_verdict v;
	const char *why;
	int			status = 1;

	if (argc > 1 && strcmp(argv[1], "code") == 0)
		return code_main(argc - 1, argv + 1);
	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
		{
			usage(stdout);
			return 0;
		}
		else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
		{
			if (nkeys == HCL_MAX_KEYS)
			{
				fprintf(stderr, "hcledger-verify: at most %d keys\n", HCL_MAX_KEYS);
				return 2;
			}
			load_ed25519_key(argv[++i], &keys[nkeys++]);
		}
		else if (strcmp(argv[i], "--sm2-key") == 0 && i + 1 < argc)
		{
			size_t		klen,
						rawlen = 0;
			char	   *k;
			hcl_trusted_sm2_key *key = &sm2keys[nsm2];
			hcl_verify_result rc;

			if (nsm2 == HCL_MAX_KEYS)
			{
				fprintf(stderr, "hcledger-verify: at most %d SM2 keys\n", HCL_MAX_KEYS);
				return 2;
			}
			k = read_all(argv[++i], &klen);
			rc = hcl_public_key_raw_of((const uint8_t *) k, klen, HCL_KEY_KIND_SM2, key->pub, &rawlen);
			pg_free(k);
			if (rc != HCL_SIG_VALID)
			{
				fprintf(stderr, "hcledger-verify: \"%s\" is not %s\n", argv[i],
						rc == HCL_KEY_WRONG_ALGORITHM ? "an SM2 key" : "a public key (PEM, DER or the raw 65-byte point)");
				return 2;
			}
			key->valid_from = INT64_MIN;
			key->valid_until = HCL_TIME_NONE;
			key->revoked_at = HCL_TIME_NONE;
			key->label = argv[i];
			nsm2++;
		}
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
		{
			usage(stderr);
			return 2;
		}
		else if (receipt_path == NULL)
			receipt_path = argv[i];
		else
		{
			usage(stderr);
			return 2;
		}
	}
	if (receipt_path == NULL || nkeys == 0)
	{
		usage(stderr);
		return 2;
	}

	json = read_all(receipt_path, &len);
	/* a trailing newline (as files usually end) is not part of the receipt */
	while (len > 0 && json[len - 1] == '\n')
		json[--len] = '\0';
	why = hcl_receipt_parse(json, len, &r);
	if (why != NULL)
		printf("INVALID: %s\n", why);
	else if (!hcl_receipt_verify(&r, keys, nkeys, &v))
		printf("INVALID: %s\n", v.reason);
	else if (nsm2 > 0 && !sm2_lines_verify(&v.cp, sm2keys, nsm2, keys, nkeys,
										   sm2_reason, sizeof(sm2_reason)))
		printf("INVALID: checkpoint: %s\n", sm2_reason);
	else if (nsm2 > 0 && r.kind == HCL_RECEIPT_CONSISTENCY &&
			 !sm2_lines_verify(&v.old, sm2keys, nsm2, keys, nkeys,
							   sm2_reason, sizeof(sm2_reason)))
		printf("INVALID: old checkpoint: %s\n", sm2_reason);
	else
	{
		printf("VALID: %s (%s, checkpoint signed by %s", v.reason, v.cp.origin, keys[v.key].label);
		if (v.cp.has_time)
		{
			time_t		t = (time_t) v.cp.time;
			struct tm	tm;
			char		when[32];

			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			printf(" at %s", when);
		}
		printf(")\n");
		status = 0;
	}
	free_receipt(&r, why == NULL ? &v : NULL);
	pg_free(json);
	return status;
}
