/*
 * gen_seeds.c
 *		Writes the valid seed inputs of corpus/ (bash test/fuzz/run.sh
 *		--seeds): checkpoints signed by the seed key, receipts of a small
 *		ledger's log with their proofs, keys and signatures in every form
 *		the extension takes, health-code payloads, log entries.  It uses
 *		the extension's own code (crypto.c, merkle.c, note.c, receipt.c) to
 *		make them and checks that each verifies before writing it.
 *
 * Not part of make fuzz or make fuzz-regress: the corpus is committed.
 * The P-256 key is drawn afresh on each run, so its seeds change.
 */
#include "postgres_fe.h"

#include <errno.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/base64.h"
#include "lib/stringinfo.h"

#include "crypto.h"
#include "merkle.h"
#include "note.h"
#include "receipt.h"
#include "fuzz_common.h"

#define CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "gen_seeds: failed: %s (line %d)\n", #cond, __LINE__); \
			exit(1); \
		} \
	} while (0)

static const char *outdir;
static int	nfiles;

static void
put(const char *harness, const char *name, const void *data, size_t len)
{
	char		path[1024];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/fuzz_%s", outdir, harness);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		CHECK(false);
	snprintf(path, sizeof(path), "%s/fuzz_%s/%s", outdir, harness, name);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	CHECK(len == 0 || fwrite(data, 1, len, f) == len);
	CHECK(fclose(f) == 0);
	nfiles++;
}

static void
put_str(const char *harness, const char *name, const char *s)
{
	put(harness, name, s, strlen(s));
}

/* A growing binary buffer. */
static void
be(StringInfo b, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		appendStringInfoChar(b, (char) (v >> (8 * i)));
}

static char *
b64(const void *p, size_t n)
{
	int			len = pg_b64_enc_len((int) n);
	char	   *s = palloc(len + 1);

	len = pg_b64_encode(p, (int) n, s, len);
	s[len] = '\0';
	return s;
}

/* ---------- keys ---------- */

static const char *seed_pem;
static size_t seed_pemlen;

static void
write_pubkey_forms(EVP_PKEY *k, const char *prefix, uint8_t want_ed, StringInfo pem_out,
				   StringInfo der_out)
{
	BIO		   *b = BIO_new(BIO_s_mem());
	char	   *p;
	long		n;
	unsigned char *der = NULL;
	int			dlen;
	StringInfoData s;
	char		name[64];

	CHECK(PEM_write_bio_PUBKEY(b, k) == 1);
	n = BIO_get_mem_data(b, &p);
	initStringInfo(pem_out);
	appendBinaryStringInfo(pem_out, p, (int) n);
	BIO_free(b);
	dlen = i2d_PUBKEY(k, &der);
	CHECK(dlen > 0);
	initStringInfo(der_out);
	appendBinaryStringInfo(der_out, (char *) der, dlen);
	OPENSSL_free(der);

	initStringInfo(&s);
	appendStringInfoChar(&s, (char) want_ed);
	appendBinaryStringInfo(&s, pem_out->data, pem_out->len);
	snprintf(name, sizeof(name), "%s-pem", prefix);
	put("public_key", name, s.data, s.len);
	resetStringInfo(&s);
	appendStringInfoChar(&s, (char) want_ed);
	appendBinaryStringInfo(&s, der_out->data, der_out->len);
	snprintf(name, sizeof(name), "%s-der", prefix);
	put("public_key", name, s.data, s.len);
}

/* One fuzz_signature input. */
static void
put_sig(const char *name, uint8_t mode, const void *key, size_t keylen,
		const void *sig, size_t siglen, const char *msg)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoChar(&s, (char) mode);
	be(&s, keylen, 2);
	appendBinaryStringInfo(&s, key, (int) keylen);
	appendStringInfoChar(&s, (char) siglen);
	appendBinaryStringInfo(&s, sig, (int) siglen);
	appendStringInfoString(&s, msg);
	put("signature", name, s.data, s.len);
}

static void
gen_keys_and_signatures(void)
{
	EVP_PKEY   *ed = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
												  (const unsigned char *) HCL_FUZZ_SEED_KEY, 32);
	EVP_PKEY   *p256 = EVP_EC_gen("P-256");
	EVP_PKEY   *p384 = EVP_EC_gen("P-384");
	StringInfoData edpem,
				edder,
				ppem,
				pder,
				xpem,
				xder,
				s;
	uint8_t		raw65[65],
				raw33[33],
				sig[64],
				pub[32];
	size_t		len;
	const char *msg = "hcledger-credential/1\nmacau-ssm\nes256-2026\n";
	hcl_p256_signer *signer;
	BIO		   *b;
	char	   *p;
	long		n;

	CHECK(ed != NULL && p256 != NULL && p384 != NULL);
	write_pubkey_forms(ed, "ed25519", 1, &edpem, &edder);
	write_pubkey_forms(p256, "p256", 0, &ppem, &pder);
	write_pubkey_forms(p384, "p384-wrong-algorithm", 0, &xpem, &xder);

	/* raw forms */
	initStringInfo(&s);
	appendStringInfoChar(&s, 1);
	appendBinaryStringInfo(&s, HCL_FUZZ_SEED_PUB, 32);
	put("public_key", "ed25519-raw", s.data, s.len);
	CHECK(EVP_PKEY_get_octet_string_param(p256, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
										  raw65, 65, &len) == 1 && len == 65);
	resetStringInfo(&s);
	appendStringInfoChar(&s, 0);
	appendBinaryStringInfo(&s, (char *) raw65, 65);
	put("public_key", "p256-raw65", s.data, s.len);
	/* compressed: the parity of y, then x */
	raw33[0] = 0x02 | (raw65[64] & 1);
	memcpy(raw33 + 1, raw65 + 1, 32);
	resetStringInfo(&s);
	appendStringInfoChar(&s, 0);
	appendBinaryStringInfo(&s, (char *) raw33, 33);
	put("public_key", "p256-raw33", s.data, s.len);
	resetStringInfo(&s);
	appendStringInfoChar(&s, 1);
	appendBinaryStringInfo(&s, ppem.data, ppem.len);
	put("public_key", "p256-pem-wrong-algorithm", s.data, s.len);
	resetStringInfo(&s);
	appendStringInfoChar(&s, 0);
	appendBinaryStringInfo(&s, edder.data, edder.len);
	put("public_key", "ed25519-der-wrong-algorithm", s.data, s.len);

	/* Ed25519 signatures, with the key in each form */
	CHECK(hcl_ed25519_sign_pem(seed_pem, seed_pemlen, (const uint8_t *) msg, strlen(msg),
							   sig, pub) == HCL_SIGN_OK);
	CHECK(hcl_ed25519_verify(pub, 32, (const uint8_t *) msg, strlen(msg), sig, 64) == HCL_SIG_VALID);
	put_sig("ed25519-raw-key", 0, pub, 32, sig, 64, msg);
	put_sig("ed25519-pem-key", 0, edpem.data, edpem.len, sig, 64, msg);
	put_sig("ed25519-der-key", 0, edder.data, edder.len, sig, 64, msg);

	/* ES256 signatures, raw and DER */
	b = BIO_new(BIO_s_mem());
	CHECK(PEM_write_bio_PrivateKey(b, p256, NULL, NULL, 0, NULL, NULL) == 1);
	n = BIO_get_mem_data(b, &p);
	CHECK(hcl_p256_signer_from_pem(p, (size_t) n, &signer, raw65) == HCL_SIGN_OK);
	BIO_free(b);
	CHECK(hcl_p256_sign(signer, (const uint8_t *) msg, strlen(msg), sig));
	CHECK(hcl_p256_verify(raw65, 65, (const uint8_t *) msg, strlen(msg), sig, 64,
						  HCL_SIG_RAW) == HCL_SIG_VALID);
	put_sig("p256-raw-sig-raw65-key", 1, raw65, 65, sig, 64, msg);
	put_sig("p256-raw-sig-raw33-key", 1, raw33, 33, sig, 64, msg);
	put_sig("p256-raw-sig-pem-key", 1, ppem.data, ppem.len, sig, 64, msg);
	{
		ECDSA_SIG  *es = ECDSA_SIG_new();
		unsigned char *der = NULL;
		int			dlen;

		CHECK(ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL)) == 1);
		dlen = i2d_ECDSA_SIG(es, &der);
		CHECK(dlen > 0);
		CHECK(hcl_p256_verify((uint8_t *) pder.data, pder.len,
							  (const uint8_t *) msg, strlen(msg), der, dlen,
							  HCL_SIG_DER) == HCL_SIG_VALID);
		put_sig("p256-der-sig-der-key", 3, pder.data, pder.len, der, dlen, msg);
		put_sig("p256-der-sig-raw65-key", 3, raw65, 65, der, dlen, msg);
		OPENSSL_free(der);
		ECDSA_SIG_free(es);
	}
	hcl_p256_signer_free(signer);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
}

/* ---------- checkpoints and receipts ---------- */

static const uint8_t uuid[16] = {
	0x01, 0x8f, 0x3c, 0x5e, 0x7a, 0x90, 0x4b, 0x12, 0x9c, 0xde, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd
};

static char *
origin(void)
{
	static char o[100];

	if (o[0] == '\0')
	{
		int			k = snprintf(o, sizeof(o), "hcledger/public.visits/");

		for (int i = 0; i < 16; i++)
			k += snprintf(o + k, sizeof(o) - k, "%02x", uuid[i]);
	}
	return o;
}

/* A checkpoint note signed by the seed key; extra: extension lines. */
static char *
signed_note(const char *org, uint64_t size, const hcl_hash root, const char *extra,
			const char *more_sigs)
{
	char	   *body = psprintf("%s\n%llu\n%s\n%s", org, (unsigned long long) size,
								b64(root, 32), extra);
	uint8_t		sig[64],
				pub[32],
				id[4];

	CHECK(hcl_ed25519_sign_pem(seed_pem, seed_pemlen, (const uint8_t *) body, strlen(body),
							   sig, pub) == HCL_SIGN_OK);
	CHECK(hcl_note_key_id(org, strlen(org), pub, id));
	return psprintf("%s\n%s%s", body, hcl_note_signature_line(org, id, sig), more_sigs);
}

static void
check_note(const char *note)
{
	hcl_checkpoint cp;
	hcl_trusted_key key;
	char		reason[300];
	int			which;
	const char *why = hcl_checkpoint_parse(note, strlen(note), &cp);

	if (why != NULL)
		fprintf(stderr, "%s\n%s", why, note);
	CHECK(why == NULL);
	hcl_trust_always(&key, (const uint8_t *) HCL_FUZZ_SEED_PUB, "seed");
	CHECK(hcl_checkpoint_verify(&cp, &key, 1, &which, NULL, reason, sizeof(reason)));
}

static void
put_receipt(const char *name, const hcl_receipt *r)
{
	StringInfoData out;
	hcl_receipt again;
	hcl_verdict v;
	hcl_trusted_key key;

	initStringInfo(&out);
	hcl_receipt_format(r, &out);
	CHECK(hcl_receipt_parse(out.data, out.len, &again) == NULL);
	hcl_trust_always(&key, (const uint8_t *) HCL_FUZZ_SEED_PUB, "seed");
	if (!hcl_receipt_verify(&again, &key, 1, &v))
		fprintf(stderr, "%s: %s\n", name, v.reason);
	CHECK(v.valid);
	put("receipt", name, out.data, out.len);
}

#define NLEAVES 8

static void
gen_checkpoints_and_receipts(void)
{
	uint8_t		leaf[NLEAVES][42];
	hcl_hash	hashes[NLEAVES];
	hcl_hash	root8,
				root3,
				root1,
				empty;
	const char *org = origin();
	char	   *note8,
			   *note3,
			   *note1,
			   *n;
	char		zero[32] = {0};
	hcl_receipt r;
	uint8_t		cosig[4 + 8 + 64];

	for (int i = 0; i < NLEAVES; i++)
	{
		memcpy(leaf[i], "hcledger-row-v1\n", 16);
		memcpy(leaf[i] + 16, uuid, 16);
		for (int j = 0; j < 8; j++)
			leaf[i][32 + j] = (uint8_t) ((uint64_t) (i + 1) >> (8 * (7 - j)));
		leaf[i][40] = leaf[i][41] = 0;	/* no columns */
		CHECK(hcl_leaf_hash(leaf[i], 42, hashes[i]));
	}
	CHECK(hcl_merkle_root(hashes, 8, root8));
	CHECK(hcl_merkle_root(hashes, 3, root3));
	CHECK(hcl_merkle_root(hashes, 1, root1));
	CHECK(hcl_empty_root(empty));

	/* checkpoints: times inside and outside fuzz_checkpoint's key bounds */
	note8 = signed_note(org, 8, root8,
						psprintf("hcledger-prev %s\nhcledger-time 1763950000\nhcledger-row 8\n",
								 b64(zero, 32)), "");
	note3 = signed_note(org, 3, root3, "hcledger-time 1763940000\nhcledger-row 3\n", "");
	note1 = signed_note(org, 1, root1, "hcledger-time 1200000000\n", "");
	check_note(note8);
	check_note(note3);
	check_note(note1);
	put_str("checkpoint", "size8-time-in-key1", note8);
	put_str("checkpoint", "size3", note3);
	put_str("checkpoint", "size1-time-in-key0", note1);
	n = signed_note(org, 0, empty, "", "");
	check_note(n);
	put_str("checkpoint", "size0-no-time", n);
	n = signed_note(org, 8, root8, "hcledger-time 1850000000\n", "");
	check_note(n);
	put_str("checkpoint", "time-after-revocation", n);
	/* a witness cosignature (type 0x04 style: 72 bytes) and a foreign line */
	memset(cosig, 0x5a, sizeof(cosig));
	n = signed_note(org, 8, root8, "hcledger-time 1763950000\n",
					psprintf("\xe2\x80\x94 witness.example/w1 %s\n\xe2\x80\x94 other.example/log %s\n",
							 b64(cosig, sizeof(cosig)), b64(cosig, 68)));
	check_note(n);
	put_str("checkpoint", "cosigned", n);
	put_str("checkpoint", "unsigned-text", "example.com/log\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n");

	/* receipts */
	memset(&r, 0, sizeof(r));
	r.kind = HCL_RECEIPT_INCLUSION;
	r.has_row = true;
	r.row = 6;
	r.leaf = leaf[5];
	r.leaf_len = 42;
	memcpy(r.leaf_hash, hashes[5], 32);
	r.leaf_index = 5;
	r.tree_size = 8;
	r.checkpoint = note8;
	r.checkpoint_len = strlen(note8);
	CHECK(hcl_inclusion_path(hashes, 8, 5, r.proof, &r.proof_len));
	put_receipt("inclusion-with-leaf", &r);

	r.has_row = false;
	r.row = 0;
	r.leaf = NULL;
	r.leaf_len = 0;
	memcpy(r.leaf_hash, hashes[0], 32);
	r.leaf_index = 0;
	CHECK(hcl_inclusion_path(hashes, 8, 0, r.proof, &r.proof_len));
	put_receipt("inclusion-leaf-hash-only", &r);

	r.has_row = true;
	r.row = 1;
	r.leaf = leaf[0];
	r.leaf_len = 42;
	r.tree_size = 1;
	r.checkpoint = note1;
	r.checkpoint_len = strlen(note1);
	r.proof_len = 0;
	put_receipt("inclusion-tree-of-one", &r);

	memset(&r, 0, sizeof(r));
	r.kind = HCL_RECEIPT_CONSISTENCY;
	r.old_checkpoint = note3;
	r.old_checkpoint_len = strlen(note3);
	r.checkpoint = note8;
	r.checkpoint_len = strlen(note8);
	CHECK(hcl_consistency_proof(hashes, 8, 3, r.proof, &r.proof_len));
	put_receipt("consistency-3-to-8", &r);

	r.old_checkpoint = note8;
	r.old_checkpoint_len = strlen(note8);
	r.proof_len = 0;
	put_receipt("consistency-8-to-8", &r);

	/* proofs: modes 0 and 1 with valid values, 2 and 3 */
	{
		StringInfoData s;
		hcl_hash	path[HCL_MAX_PROOF];
		int			len;

		initStringInfo(&s);
		appendStringInfoChar(&s, 0);
		be(&s, 5, 8);
		be(&s, 8, 8);
		CHECK(hcl_inclusion_path(hashes, 8, 5, path, &len));
		appendStringInfoChar(&s, (char) len);
		appendBinaryStringInfo(&s, (char *) hashes[5], 32);
		appendBinaryStringInfo(&s, (char *) root8, 32);
		appendBinaryStringInfo(&s, (char *) path, len * 32);
		put("proof", "inclusion-5-of-8", s.data, s.len);

		resetStringInfo(&s);
		appendStringInfoChar(&s, 1);
		be(&s, 3, 8);
		be(&s, 8, 8);
		CHECK(hcl_consistency_proof(hashes, 8, 3, path, &len));
		appendStringInfoChar(&s, (char) len);
		appendBinaryStringInfo(&s, (char *) root3, 32);
		appendBinaryStringInfo(&s, (char *) root8, 32);
		appendBinaryStringInfo(&s, (char *) path, len * 32);
		put("proof", "consistency-3-to-8", s.data, s.len);

		put("proof", "honest-inclusion", "\x02\x03\xe8\x01\xf4\x07\x02\x11", 8);
		put("proof", "honest-consistency", "\x03\x03\xe8\x01\xf3\x07\x02\x11", 8);
		put("proof", "huge-sizes", "\x00\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x40", 18);

		/* log entries: rows 1..8 */
		resetStringInfo(&s);
		appendStringInfoChar(&s, 1);
		be(&s, 3, 2);
		for (int i = 0; i < NLEAVES; i++)
		{
			be(&s, (uint64_t) i + 1, 8);
			appendBinaryStringInfo(&s, (char *) hashes[i], 32);
		}
		put("log_entries", "honest-3-then-5", s.data, s.len);

		resetStringInfo(&s);
		appendStringInfoChar(&s, 0);
		be(&s, 3, 8);
		be(&s, 64, 2);
		{
			hcl_merkle_acc acc;

			hcl_acc_init(&acc);
			for (int i = 0; i < 3; i++)
				CHECK(hcl_acc_push(&acc, hashes[i]));
			appendBinaryStringInfo(&s, (char *) acc.stack, acc.depth * 32);
		}
		for (int i = 3; i < NLEAVES; i++)
		{
			be(&s, (uint64_t) i + 1, 8);
			appendBinaryStringInfo(&s, (char *) hashes[i], 32);
		}
		put("log_entries", "frontier-of-3", s.data, s.len);

		/* the largest bigint tree, 63 frontier hashes, one more entry */
		resetStringInfo(&s);
		appendStringInfoChar(&s, 0);
		be(&s, INT64_MAX, 8);
		be(&s, 63 * 32, 2);
		for (int i = 0; i < 63; i++)
			appendBinaryStringInfo(&s, (char *) hashes[i % NLEAVES], 32);
		be(&s, 9, 8);
		appendBinaryStringInfo(&s, (char *) hashes[0], 32);
		put("log_entries", "largest-tree", s.data, s.len);
	}

	/* small ones */
	{
		char		hex[65];
		StringInfoData s;

		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", root8[i]);
		put_str("hash256", "lower", hex);
		put_str("hash256", "prefixed-upper",
				"\\xBA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
		put("hash256", "binary-32", root8, 32);
		put_str("hash256", "63-digits",
				"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a");

		put_str("decimal", "zero", "0");
		put_str("decimal", "int64-max", "9223372036854775807");
		put_str("decimal", "int64-max-plus-1", "9223372036854775808");
		put_str("decimal", "leading-zero", "0123");
		put_str("decimal", "twenty-digits", "18446744073709551616");

		initStringInfo(&s);
		be(&s, 35, 2);
		appendStringInfoString(&s, b64(root8, 32));
		put("base64", "root-hash", s.data, s.len);
		resetStringInfo(&s);
		be(&s, 92, 2);
		appendStringInfoString(&s, b64(cosig, 68));
		put("base64", "signature-line", s.data, s.len);
		put("base64", "one-byte", "\x00\x01" "AA==", 6);
		put("base64", "padding-bits", "\x00\x10" "AB==", 6);
	}
}

/* ---------- health codes ---------- */

static const char b45[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

static char *
base45(const uint8_t *in, size_t len)
{
	StringInfoData s;
	size_t		i;

	initStringInfo(&s);
	for (i = 0; i + 1 < len; i += 2)
	{
		uint32_t	n = in[i] * 256u + in[i + 1];

		appendStringInfoChar(&s, b45[n % 45]);
		appendStringInfoChar(&s, b45[(n / 45) % 45]);
		appendStringInfoChar(&s, b45[n / 2025]);
	}
	if (i < len)
	{
		appendStringInfoChar(&s, b45[in[i] % 45]);
		appendStringInfoChar(&s, b45[in[i] / 45]);
	}
	return s.data;
}

static void
put_payload(const char *name, int saltlen, const char *authority, const char *key_id,
			const char *claims)
{
	StringInfoData b;
	uint8_t		fill[64];

	initStringInfo(&b);
	for (int i = 0; i < 16; i++)
		appendStringInfoChar(&b, (char) (0x26 + i));
	be(&b, 1795491552, 8);
	be(&b, 1795491552, 8);
	be(&b, 1796096352, 8);
	memset(fill, 0x6a, sizeof(fill));
	appendBinaryStringInfo(&b, (char *) fill, 64);
	appendStringInfoChar(&b, (char) saltlen);
	appendBinaryStringInfo(&b, (char *) fill, saltlen);
	appendStringInfoChar(&b, (char) strlen(authority));
	appendStringInfoString(&b, authority);
	appendStringInfoChar(&b, (char) strlen(key_id));
	appendStringInfoString(&b, key_id);
	be(&b, strlen(claims), 2);
	appendStringInfoString(&b, claims);
	put_str("code_payload", name, psprintf("HCL1:%s", base45((uint8_t *) b.data, b.len)));
}

static void
gen_codes(void)
{
	/* the test vector of docs/health-codes.md */
	put_str("code_payload", "docs-test-vector",
			"HCL1:D+4I6D NB3ODQPQQO3W-SHT1000000$ND5*0000000$ND5*00000001OD-B8HKD%6AYC57WVQ/91 2U003-HR6T+DO7TARTP2+NTE56AJ8U5MULMTR5EAX.O- UWJH$NMJ LTTF+R164EB SXVTXLC2JJ4XI$32A8KVW6TP4BCWXIT6 KBIJ9KSB$DGPCR EZQEEZD6$CSF69%6NF6TF6020MPF%JC5LEY8DRFFGECWE41A6FA73Q5GVC PCF$DG/D+2C1%EYJCDJEWF7ITA2OA3W5646646N963Q5..DF$DWE4DF46$CSUEG7A4LE-3EIE42G41ECOPC..D7WETTCOH76LEG$C");
	put_payload("salt16", 16, "macau-ssm", "es256-2026",
				"{\"document_number\":\"TEST-000001\",\"name\":\"Zo\xc3\xab\"}");
	put_payload("salt64-utf8-authority", 64, "\xe5\xbb\xa3\xe6\x9d\xb1\xe7\x9c\x81\xe8\xa1\x9b\xe7\x94\x9f",
				"k1", "{\"a\":[1,[true,null,{\"b\":\"\\u00e9\"}]],\"document_number\":\"X\"}");
	put_payload("claims-not-json", 16, "a", "b", "{\"document_number\":");
	put_payload("claims-scalar", 20, "a", "b", "42");
	put_str("code_payload", "prefix-only", "HCL1:");
	put_str("code_payload", "other-version", "HCL3:QED8WEX0");
	/* the SM2 test vector of docs/health-codes.md (HCL2:) */
	put_str("code_payload", "docs-sm2-vector",
			"HCL2:PE0UFF*L8V/H5+VJDRFXT9VS*:L000H20BM2:F9000H20BM2:F9000H20XT3KTPST3/MOZ943YC3FVGJJ4$DYJD75TU8KR*F-717X1TO5Q70QC11QMVQ4HEP$+FQ4937UB5P+:NCQ7OQI6IP8CA9K9$14L2C9:J1VEKVK1YNPN30OHOU1:-EVCUPP1Y$E3/DGVC3/DEX5HNCTQEKF6NF6TF6020MPF%JC5LEY8DRFFGECWE41A6FA73Q5GVC PCF$DG/D+2C1%EYJCDJEWF7ITA2OA3W56466469F63Q5..DF$DWE4DF46$CSUEG7A4LE-3EIE42G41ECOPC..D7WETTCOH76LEG$C");
	put_str("code_payload", "sm2-prefix-only", "HCL2:");
	put_str("code_payload", "lower-case", "HCL1:qed8wex0");

	put_str("base45", "rfc9285-ietf", "QED8WEX0");
	put_str("base45", "rfc9285-hello", "%69 VD92EX0");
	put_str("base45", "rfc9285-base-45", "UJCLQE7W581");
	put_str("base45", "max-triple", "FGW");
	put_str("base45", "max-pair", "U5");
	put_str("base45", "over-triple", "GGW");
}

int
main(int argc, char **argv)
{
	if (argc != 2)
	{
		fprintf(stderr, "usage: gen_seeds CORPUS_DIR\n");
		return 2;
	}
	outdir = argv[1];
	seed_pem = fz_seed_key_pem(&seed_pemlen);
	gen_keys_and_signatures();
	gen_checkpoints_and_receipts();
	gen_codes();
	printf("gen_seeds: %d files written under %s\n", nfiles, outdir);
	return 0;
}
