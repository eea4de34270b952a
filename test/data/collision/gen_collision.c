/*
 * gen_collision.c
 *		Two Ed25519 keys whose C2SP signed-note key IDs collide for one key
 *		name, and one checkpoint signed by each: the test vectors of
 *		sql/trust_boundaries.sql ("Colliding key ids").
 *
 * A signed note names its key by a 4-byte ID, the first 4 bytes of
 * SHA-256(key name || 0x0a || 0x01 || 32-byte public key).  Four bytes are
 * found to collide by a birthday search: about 2^16 keys for even odds, so
 * a few hundred thousand at most.  Everything is deterministic (the i-th
 * private key is SHA-256("hcledger-collision-<i>"), and Ed25519 signatures
 * are deterministic), so a run always prints the same vectors.
 *
 * Build and run (see README):
 *   cc -O2 -o /tmp/gen_collision test/data/collision/gen_collision.c -lcrypto
 *   /tmp/gen_collision > test/data/collision/vectors.txt
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

/* The key name: the origin of a consortium member's log (members.origin). */
static const char origin[] = "hcledger/hcledger.codes/c011151de0c011151de0c011151de000";
/* The checkpoint both keys sign (no hcledger-prev / -row: not needed to verify a note). */
static const char *size_line = "7";
static const char *root_text = "hcledger trust_boundaries collision root";
static const char *time_line = "hcledger-time 1767225600";	/* 2026-01-01T00:00:00Z */

#define MAXKEYS (1u << 22)
#define SLOTS (1u << 24)

static void
seed_of(uint32_t i, unsigned char seed[32])
{
	char		buf[64];
	int			n = snprintf(buf, sizeof(buf), "hcledger-collision-%u", i);

	SHA256((const unsigned char *) buf, (size_t) n, seed);
}

static void
public_of(const unsigned char seed[32], unsigned char pub[32])
{
	EVP_PKEY   *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	size_t		len = 32;

	if (k == NULL || EVP_PKEY_get_raw_public_key(k, pub, &len) != 1 || len != 32)
	{
		fprintf(stderr, "Ed25519 key generation failed\n");
		exit(2);
	}
	EVP_PKEY_free(k);
}

static uint32_t
key_id(const unsigned char pub[32])
{
	unsigned char buf[sizeof(origin) - 1 + 2 + 32];
	unsigned char h[32];
	size_t		n = sizeof(origin) - 1;

	memcpy(buf, origin, n);
	buf[n] = 0x0a;
	buf[n + 1] = 0x01;
	memcpy(buf + n + 2, pub, 32);
	SHA256(buf, sizeof(buf), h);
	return ((uint32_t) h[0] << 24) | ((uint32_t) h[1] << 16) | ((uint32_t) h[2] << 8) | h[3];
}

static void
hex(const char *label, const unsigned char *b, size_t n)
{
	printf("%s ", label);
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

/* The signed note: text, blank line, "— <origin> base64(key id || signature)". */
static void
print_note(const char *label, const unsigned char seed[32], uint32_t id, const char *text)
{
	EVP_PKEY   *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char raw[68];
	unsigned char b64[128];
	size_t		siglen = 64;

	raw[0] = id >> 24;
	raw[1] = id >> 16;
	raw[2] = id >> 8;
	raw[3] = id;
	if (k == NULL || md == NULL || EVP_DigestSignInit(md, NULL, NULL, NULL, k) != 1 ||
		EVP_DigestSign(md, raw + 4, &siglen, (const unsigned char *) text, strlen(text)) != 1 ||
		siglen != 64)
	{
		fprintf(stderr, "signing failed\n");
		exit(2);
	}
	EVP_EncodeBlock(b64, raw, 68);
	printf("%s\n%s\n\xe2\x80\x94 %s %s\n", label, text, origin, b64);
	printf("end %s\n", label);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
}

int
main(void)
{
	uint32_t   *slot = calloc(SLOTS, sizeof(uint32_t));	/* key index + 1 */
	uint32_t   *ids = malloc(MAXKEYS * sizeof(uint32_t));
	unsigned char seed[32], pub[32], seed_a[32], pub_a[32], root[32], rootb64[64];
	char		text[512];

	if (slot == NULL || ids == NULL)
		return 2;
	for (uint32_t i = 0; i < MAXKEYS; i++)
	{
		uint32_t	h;

		seed_of(i, seed);
		public_of(seed, pub);
		ids[i] = key_id(pub);
		for (h = ids[i] & (SLOTS - 1); slot[h] != 0; h = (h + 1) & (SLOTS - 1))
		{
			uint32_t	j = slot[h] - 1;

			if (ids[j] != ids[i])
				continue;
			/* key A: the earlier one, key B: the later one */
			seed_of(j, seed_a);
			public_of(seed_a, pub_a);
			if (memcmp(pub_a, pub, 32) == 0)
				continue;
			SHA256((const unsigned char *) root_text, strlen(root_text), root);
			EVP_EncodeBlock(rootb64, root, 32);
			snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", origin, size_line, rootb64, time_line);
			printf("# two Ed25519 keys with the same signed-note key ID for key name %s\n", origin);
			printf("# (keys tried: %u; key A is number %u, key B number %u)\n", i + 1, j, i);
			printf("origin %s\n", origin);
			printf("key_id %08x\n", ids[i]);
			hex("private_seed_a", seed_a, 32);
			hex("public_key_a", pub_a, 32);
			hex("private_seed_b", seed, 32);
			hex("public_key_b", pub, 32);
			print_note("note_a", seed_a, ids[i], text);
			print_note("note_b", seed, ids[i], text);
			return 0;
		}
		slot[h] = i + 1;
	}
	fprintf(stderr, "no collision among %u keys\n", MAXKEYS);
	return 1;
}
