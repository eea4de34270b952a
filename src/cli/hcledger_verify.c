/*
 * hcledger-verify: check a hcledger receipt with no database.
 *
 *   hcledger-verify --key PUBLIC_KEY_FILE [--key ...] RECEIPT_FILE
 *
 * RECEIPT_FILE ("-" for standard input) is a receipt of a row
 * (hcledger-receipt/1) or a consistency receipt between two checkpoints
 * (hcledger-consistency/1), as docs/receipts.md describes.  Each key file
 * holds an Ed25519 public key: PEM, SubjectPublicKeyInfo DER, or the raw
 * 32 bytes.  A receipt verifies if its proofs hold and a checkpoint
 * signature under the checkpoint's origin verifies with one of the keys.
 *
 * Prints one line, "VALID: ..." or "INVALID: <reason>", and exits 0 if
 * valid, 1 if not, 2 on a usage or file error.  The checking code is the
 * extension's own (note.c, receipt.c, merkle.c, crypto.c).
 */
#include "postgres_fe.h"

#include <errno.h>
#include <time.h>

#include "../crypto.h"
#include "../receipt.h"

#define HCL_MAX_KEYS 64
/* the largest text PostgreSQL makes (a receipt whose leaf is up to about 750 MB) */
#define HCL_MAX_FILE (1024 * 1024 * 1024)

static void
usage(FILE *to)
{
	fprintf(to,
			"Usage: hcledger-verify --key PUBLIC_KEY_FILE [--key PUBLIC_KEY_FILE ...] RECEIPT_FILE\n"
			"Checks a hcledger receipt (a row's inclusion, or a log's consistency)\n"
			"against Ed25519 public keys, offline.  RECEIPT_FILE may be - for stdin.\n"
			"Prints VALID or INVALID with the reason; exits 0 (valid), 1 (invalid), 2 (error).\n");
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

int
main(int argc, char **argv)
{
	hcl_trusted_key keys[HCL_MAX_KEYS];
	int			nkeys = 0;
	const char *receipt_path = NULL;
	char	   *json;
	size_t		len;
	hcl_receipt r;
	hcl_verdict v;
	const char *why;
	int			status = 1;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
		{
			usage(stdout);
			return 0;
		}
		else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
		{
			size_t		klen,
						rawlen = 0;
			char	   *k;
			uint8_t		raw[65];
			hcl_verify_result rc;

			if (nkeys == HCL_MAX_KEYS)
			{
				fprintf(stderr, "hcledger-verify: at most %d keys\n", HCL_MAX_KEYS);
				return 2;
			}
			k = read_all(argv[++i], &klen);
			rc = hcl_public_key_raw_of((const uint8_t *) k, klen, HCL_KEY_KIND_ED25519, raw, &rawlen);
			pg_free(k);
			if (rc != HCL_SIG_VALID)
			{
				fprintf(stderr, "hcledger-verify: \"%s\" is not %s\n", argv[i],
						rc == HCL_KEY_WRONG_ALGORITHM ? "an Ed25519 key" : "a public key (PEM, DER or raw 32 bytes)");
				return 2;
			}
			hcl_trust_always(&keys[nkeys++], raw, argv[i]);
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
