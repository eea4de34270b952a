/*
 * fuzz_proof.c
 *		Merkle proof verification, src/merkle.c: hcl_verify_inclusion and
 *		hcl_verify_consistency with attacker-chosen sizes, indexes, hashes
 *		and proof arrays (0 to HCL_MAX_PROOF hashes, as the SQL functions
 *		and receipts pass them), and the proof makers and compact range
 *		that produce what they check.
 *
 * The first byte picks a mode:
 *   0  verify_inclusion, everything from the input;
 *   1  verify_consistency, everything from the input;
 *   2  an honest tree of up to 2048 leaves: the inclusion proof made by
 *      hcl_inclusion_path must verify, and must fail once the leaf, the
 *      root, the index or any proof hash is changed, or the proof is
 *      shortened or lengthened; the compact range (hcl_acc_*) must give
 *      the same root as hcl_merkle_root;
 *   3  the same for consistency proofs (hcl_consistency_proof).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "merkle.h"
#include "fuzz_common.h"

#define MAX_LEAVES 2048

/* Sizes: the full 64-bit range, or (flag set) small ones. */
static uint64_t
fz_size(fz_in *in, bool small)
{
	uint64_t	v = fz_u64(in);

	return small ? v % 4096 : v;
}

/* A proof of len hashes from the input (zeros past its end), exact-size. */
static hcl_hash *
fz_proof(fz_in *in, int len)
{
	hcl_hash   *p = fz_dup("", (size_t) len * HCL_HASH_LEN);

	for (int i = 0; i < len; i++)
	{
		size_t		got;
		const uint8_t *b = fz_bytes(in, HCL_HASH_LEN, &got);

		memset(p[i], 0, HCL_HASH_LEN);
		memcpy(p[i], b, got);
	}
	return p;
}

static void
fz_hash(fz_in *in, hcl_hash out)
{
	size_t		got;
	const uint8_t *b = fz_bytes(in, HCL_HASH_LEN, &got);

	memset(out, 0, HCL_HASH_LEN);
	memcpy(out, b, got);
}

static void
raw_inclusion(fz_in *in, uint8_t flags)
{
	uint64_t	index = fz_size(in, flags & 1);
	uint64_t	size = fz_size(in, flags & 2);
	int			len = fz_u8(in) % (HCL_MAX_PROOF + 1);
	hcl_hash	leaf,
				root;
	hcl_hash   *path;
	hcl_proof_result r;

	fz_hash(in, leaf);
	fz_hash(in, root);
	path = fz_proof(in, len);
	r = hcl_verify_inclusion(leaf, index, size, path, len, root);
	FZ_CHECK(r == HCL_PROOF_VALID || r == HCL_PROOF_INVALID);
	if (index >= size)
		FZ_CHECK(r == HCL_PROOF_INVALID);
	free(path);
}

static void
raw_consistency(fz_in *in, uint8_t flags)
{
	uint64_t	old_size = fz_size(in, flags & 1);
	uint64_t	new_size = fz_size(in, flags & 2);
	int			len = fz_u8(in) % (HCL_MAX_PROOF + 1);
	hcl_hash	old_root,
				new_root;
	hcl_hash   *proof;
	hcl_proof_result r;

	fz_hash(in, old_root);
	fz_hash(in, new_root);
	proof = fz_proof(in, len);
	r = hcl_verify_consistency(old_size, new_size, old_root, new_root, proof, len);
	FZ_CHECK(r == HCL_PROOF_VALID || r == HCL_PROOF_INVALID);
	if (old_size > new_size)
		FZ_CHECK(r == HCL_PROOF_INVALID);
	free(proof);
}

/* n distinct leaf hashes, derived from a seed. */
static hcl_hash *
make_leaves(uint64_t n, uint32_t seed)
{
	hcl_hash   *leaves = fz_dup("", (size_t) n * HCL_HASH_LEN);

	for (uint64_t i = 0; i < n; i++)
	{
		uint8_t		b[12];

		memcpy(b, &i, 8);
		memcpy(b + 8, &seed, 4);
		FZ_CHECK(hcl_leaf_hash(b, sizeof(b), leaves[i]));
	}
	return leaves;
}

/* Check the compact range over the leaves against the recursive MTH. */
static void
check_compact_range(const hcl_hash *leaves, uint64_t n, const hcl_hash root)
{
	hcl_merkle_acc acc,
				again;
	hcl_hash	r;

	hcl_acc_init(&acc);
	for (uint64_t i = 0; i < n; i++)
	{
		hcl_hash	completed[HCL_MAX_PROOF];
		int			nc = -1;

		FZ_CHECK(hcl_acc_push_tracked(&acc, leaves[i], completed, &nc));
		FZ_CHECK(nc >= 1 && nc <= HCL_MAX_PROOF);
		FZ_CHECK(memcmp(completed[0], leaves[i], HCL_HASH_LEN) == 0);
		/* completed[h] is the root of the 2^h leaves ending here (checked
		 * for the last leaf only: the check is quadratic) */
		for (int h = 1; i == n - 1 && h < nc; h++)
		{
			hcl_hash	sub;

			FZ_CHECK(hcl_merkle_root(leaves + i + 1 - ((uint64_t) 1 << h),
									 (uint64_t) 1 << h, sub));
			FZ_CHECK(memcmp(sub, completed[h], HCL_HASH_LEN) == 0);
		}
	}
	FZ_CHECK(acc.size == n);
	FZ_CHECK(hcl_acc_root(&acc, r));
	FZ_CHECK(memcmp(r, root, HCL_HASH_LEN) == 0);
	FZ_CHECK(hcl_acc_restore(&again, n, (const uint8_t *) acc.stack,
							 (size_t) acc.depth * HCL_HASH_LEN));
	FZ_CHECK(hcl_acc_root(&again, r));
	FZ_CHECK(memcmp(r, root, HCL_HASH_LEN) == 0);
	if (acc.depth > 0)
		FZ_CHECK(!hcl_acc_restore(&again, n, (const uint8_t *) acc.stack,
								  (size_t) (acc.depth - 1) * HCL_HASH_LEN));
}

static void
flip(uint8_t *h, uint8_t bit)
{
	h[(bit >> 3) % HCL_HASH_LEN] ^= (uint8_t) (1u << (bit & 7));
}

static void
honest_inclusion(fz_in *in)
{
	uint64_t	n = 1 + fz_u16(in) % MAX_LEAVES;
	uint64_t	m = fz_u16(in) % n;
	uint32_t	seed = fz_u8(in);
	uint8_t		what = fz_u8(in);
	uint8_t		bit = fz_u8(in);
	hcl_hash   *leaves = make_leaves(n, seed);
	hcl_hash	root,
				leaf;
	hcl_hash	path[HCL_MAX_PROOF + 1];
	hcl_hash   *exact;
	int			len = -1;

	FZ_CHECK(hcl_merkle_root(leaves, n, root));
	FZ_CHECK(hcl_inclusion_path(leaves, n, m, path, &len));
	FZ_CHECK(len >= 0 && len < HCL_MAX_PROOF);
	exact = fz_dup(path, (size_t) len * HCL_HASH_LEN);
	FZ_CHECK(hcl_verify_inclusion(leaves[m], m, n, exact, len, root) == HCL_PROOF_VALID);
	check_compact_range(leaves, n, root);

	memcpy(leaf, leaves[m], HCL_HASH_LEN);
	switch (what % 6)
	{
		case 0:
			flip(leaf, bit);
			break;
		case 1:
			flip(root, bit);
			break;
		case 2:
			if (len == 0)
				goto out;
			flip(exact[bit % len], bit);
			break;
		case 3:					/* one hash fewer */
			if (len == 0)
				goto out;
			len--;
			break;
		case 4:					/* one hash more */
			memcpy(path[len], leaves[bit % n], HCL_HASH_LEN);
			free(exact);
			exact = fz_dup(path, (size_t) (len + 1) * HCL_HASH_LEN);
			len++;
			break;
		case 5:					/* another leaf's position */
			{
				uint64_t	other = (m + 1 + bit) % n;

				if (other == m)
					goto out;
				m = other;
			}
			break;
	}
	FZ_CHECK(hcl_verify_inclusion(leaf, m, n, exact, len, root) == HCL_PROOF_INVALID);
out:
	free(exact);
	free(leaves);
}

static void
honest_consistency(fz_in *in)
{
	uint64_t	n = 1 + fz_u16(in) % MAX_LEAVES;
	uint64_t	m = fz_u16(in) % (n + 1);
	uint32_t	seed = fz_u8(in);
	uint8_t		what = fz_u8(in);
	uint8_t		bit = fz_u8(in);
	hcl_hash   *leaves = make_leaves(n, seed);
	hcl_hash	old_root,
				new_root;
	hcl_hash	proof[HCL_MAX_PROOF + 1];
	hcl_hash   *exact;
	int			len = -1;

	FZ_CHECK(hcl_merkle_root(leaves, m, old_root));
	FZ_CHECK(hcl_merkle_root(leaves, n, new_root));
	FZ_CHECK(hcl_consistency_proof(leaves, n, m, proof, &len));
	FZ_CHECK(len >= 0 && len < HCL_MAX_PROOF);
	FZ_CHECK((m == 0 || m == n) == (len == 0));
	exact = fz_dup(proof, (size_t) len * HCL_HASH_LEN);
	FZ_CHECK(hcl_verify_consistency(m, n, old_root, new_root, exact, len) == HCL_PROOF_VALID);

	switch (what % 5)
	{
		case 0:
			flip(old_root, bit);
			break;
		case 1:
			if (m == 0)			/* the empty tree is consistent with any */
				goto out;
			flip(new_root, bit);
			break;
		case 2:
			if (len == 0)
				goto out;
			flip(exact[bit % len], bit);
			break;
		case 3:
			if (len == 0)
				goto out;
			len--;
			break;
		case 4:
			memcpy(proof[len], leaves[bit % n], HCL_HASH_LEN);
			free(exact);
			exact = fz_dup(proof, (size_t) (len + 1) * HCL_HASH_LEN);
			len++;
			break;
	}
	FZ_CHECK(hcl_verify_consistency(m, n, old_root, new_root, exact, len) == HCL_PROOF_INVALID);
out:
	free(exact);
	free(leaves);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_in		in = {data, size};
	uint8_t		mode = fz_u8(&in);

	switch (mode % 4)
	{
		case 0:
			raw_inclusion(&in, mode >> 2);
			break;
		case 1:
			raw_consistency(&in, mode >> 2);
			break;
		case 2:
			honest_inclusion(&in);
			break;
		case 3:
			honest_consistency(&in);
			break;
	}
	return 0;
}
