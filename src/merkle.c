/*
 * merkle.c
 *		RFC 9162 section 2.1 Merkle tree algorithms, written from the RFC.
 *
 * Notation follows the RFC: MTH(D[n]) is the tree head of n leaves, k is the
 * largest power of two smaller than n, PATH is the inclusion proof and PROOF
 * the consistency proof.
 */
#include "merkle.h"

#include <string.h>

bool
hcl_empty_root(hcl_hash out)
{
	return hcl_sha256(NULL, 0, out);
}

bool
hcl_leaf_hash(const void *leaf, size_t len, hcl_hash out)
{
	return hcl_sha256_prefixed(0x00, leaf, len, NULL, 0, out);
}

bool
hcl_node_hash(const hcl_hash left, const hcl_hash right, hcl_hash out)
{
	return hcl_sha256_prefixed(0x01, left, HCL_HASH_LEN, right, HCL_HASH_LEN,
							   out);
}

void
hcl_acc_init(hcl_merkle_acc *acc)
{
	acc->size = 0;
	acc->depth = 0;
}

bool
hcl_acc_push_tracked(hcl_merkle_acc *acc, const hcl_hash leaf_hash,
					 hcl_hash *completed, int *ncompleted)
{
	hcl_hash	cur;
	uint64_t	s;
	int			h = 0;

	memcpy(cur, leaf_hash, HCL_HASH_LEN);
	if (completed != NULL)
		memcpy(completed[h++], cur, HCL_HASH_LEN);
	/* each trailing one bit of size is a perfect subtree to merge with */
	for (s = acc->size; s & 1; s >>= 1)
	{
		if (!hcl_node_hash(acc->stack[--acc->depth], cur, cur))
			return false;
		if (completed != NULL)
			memcpy(completed[h++], cur, HCL_HASH_LEN);
	}
	memcpy(acc->stack[acc->depth++], cur, HCL_HASH_LEN);
	acc->size++;
	if (ncompleted != NULL)
		*ncompleted = h;
	return true;
}

bool
hcl_acc_push(hcl_merkle_acc *acc, const hcl_hash leaf_hash)
{
	return hcl_acc_push_tracked(acc, leaf_hash, NULL, NULL);
}

bool
hcl_acc_restore(hcl_merkle_acc *acc, uint64_t size, const uint8_t *stack,
				size_t stack_len)
{
	int			depth = 0;
	uint64_t	s;

	for (s = size; s != 0; s &= s - 1)
		depth++;				/* one entry per set bit of size */
	if (stack_len != (size_t) depth * HCL_HASH_LEN)
		return false;
	acc->size = size;
	acc->depth = depth;
	memcpy(acc->stack, stack, stack_len);
	return true;
}

bool
hcl_acc_root(const hcl_merkle_acc *acc, hcl_hash out)
{
	hcl_hash	cur;
	int			i;

	if (acc->depth == 0)
		return hcl_empty_root(out);
	memcpy(cur, acc->stack[acc->depth - 1], HCL_HASH_LEN);
	for (i = acc->depth - 2; i >= 0; i--)
	{
		if (!hcl_node_hash(acc->stack[i], cur, cur))
			return false;
	}
	memcpy(out, cur, HCL_HASH_LEN);
	return true;
}

uint64_t
hcl_split(uint64_t n)
{
	uint64_t	k = 1;

	while (k < n - k)
		k <<= 1;
	return k;
}

bool
hcl_merkle_root(const hcl_hash *leaves, uint64_t n, hcl_hash out)
{
	hcl_hash	left,
				right;
	uint64_t	k;

	if (n == 0)
		return hcl_empty_root(out);
	if (n == 1)
	{
		memcpy(out, leaves[0], HCL_HASH_LEN);
		return true;
	}
	k = hcl_split(n);
	return hcl_merkle_root(leaves, k, left) &&
		hcl_merkle_root(leaves + k, n - k, right) &&
		hcl_node_hash(left, right, out);
}

/*
 * PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])      if m < k
 *               = PATH(m - k, D[k:n]) : MTH(D[0:k])  if m >= k
 * The recursion is unrolled: the innermost (deepest) sibling comes first.
 */
bool
hcl_inclusion_path_with(hcl_subtree_fn subtree, void *arg, uint64_t n,
						uint64_t m, hcl_hash *path, int *len)
{
	hcl_hash	siblings[HCL_MAX_PROOF];
	uint64_t	start = 0;
	int			count = 0;
	int			i;

	while (n > 1)
	{
		uint64_t	k = hcl_split(n);

		if (m < k)
		{
			if (!subtree(arg, start + k, n - k, siblings[count++]))
				return false;
			n = k;
		}
		else
		{
			if (!subtree(arg, start, k, siblings[count++]))
				return false;
			start += k;
			m -= k;
			n -= k;
		}
	}
	for (i = 0; i < count; i++)
		memcpy(path[i], siblings[count - 1 - i], HCL_HASH_LEN);
	*len = count;
	return true;
}

/*
 * SUBPROOF(m, D[m], true)  = {}
 * SUBPROOF(m, D[m], false) = {MTH(D[m])}
 * SUBPROOF(m, D[n], b)     = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])          if m <= k
 *                          = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])  if m > k
 * PROOF(m, D[n]) = SUBPROOF(m, D[n], true); empty for m = 0 and m = n.
 */
bool
hcl_consistency_proof_with(hcl_subtree_fn subtree, void *arg, uint64_t n,
						   uint64_t m, hcl_hash *proof, int *len)
{
	hcl_hash	parts[HCL_MAX_PROOF];
	uint64_t	start = 0;
	int			count = 0;
	bool		b = true;
	int			i;

	if (m == 0)
	{
		*len = 0;
		return true;
	}
	while (m < n)
	{
		uint64_t	k = hcl_split(n);

		if (m <= k)
		{
			if (!subtree(arg, start + k, n - k, parts[count++]))
				return false;
			n = k;
		}
		else
		{
			if (!subtree(arg, start, k, parts[count++]))
				return false;
			start += k;
			m -= k;
			n -= k;
			b = false;
		}
	}
	if (!b && !subtree(arg, start, m, parts[count++]))
		return false;
	for (i = 0; i < count; i++)
		memcpy(proof[i], parts[count - 1 - i], HCL_HASH_LEN);
	*len = count;
	return true;
}

/* Subtree hashes of an array of leaf hashes. */
static bool
hcl_array_subtree(void *arg, uint64_t start, uint64_t n, hcl_hash out)
{
	return hcl_merkle_root((const hcl_hash *) arg + start, n, out);
}

bool
hcl_inclusion_path(const hcl_hash *leaves, uint64_t n, uint64_t m,
				   hcl_hash *path, int *len)
{
	return hcl_inclusion_path_with(hcl_array_subtree, (void *) leaves, n, m,
								   path, len);
}

bool
hcl_consistency_proof(const hcl_hash *leaves, uint64_t n, uint64_t m,
					  hcl_hash *proof, int *len)
{
	return hcl_consistency_proof_with(hcl_array_subtree, (void *) leaves, n, m,
									  proof, len);
}

hcl_proof_result
hcl_verify_inclusion(const hcl_hash leaf_hash, uint64_t index, uint64_t size,
					 const hcl_hash *path, int len, const hcl_hash root)
{
	uint64_t	fn,
				sn;
	hcl_hash	r;
	int			i;

	if (index >= size)
		return HCL_PROOF_INVALID;
	fn = index;
	sn = size - 1;
	memcpy(r, leaf_hash, HCL_HASH_LEN);
	for (i = 0; i < len; i++)
	{
		if (sn == 0)
			return HCL_PROOF_INVALID;
		if ((fn & 1) || fn == sn)
		{
			if (!hcl_node_hash(path[i], r, r))
				return HCL_PROOF_ERROR;
			while (!(fn & 1) && fn != 0)
			{
				fn >>= 1;
				sn >>= 1;
			}
		}
		else if (!hcl_node_hash(r, path[i], r))
			return HCL_PROOF_ERROR;
		fn >>= 1;
		sn >>= 1;
	}
	return (sn == 0 && memcmp(r, root, HCL_HASH_LEN) == 0) ?
		HCL_PROOF_VALID : HCL_PROOF_INVALID;
}

/*
 * RFC 9162 2.1.4.2 covers 0 < old_size < new_size.  At the edges, as the
 * RFC's PROOF defines them: old_size = new_size is consistent iff the proof
 * is empty and the roots are equal; old_size = 0 iff the proof is empty and
 * old_root is the empty tree's head.  old_size > new_size never is.
 */
hcl_proof_result
hcl_verify_consistency(uint64_t old_size, uint64_t new_size,
					   const hcl_hash old_root, const hcl_hash new_root,
					   const hcl_hash *proof, int len)
{
	uint64_t	fn,
				sn;
	hcl_hash	fr,
				sr,
				empty;
	int			i = 0;

	if (old_size > new_size)
		return HCL_PROOF_INVALID;
	if (old_size == 0)
	{
		if (!hcl_empty_root(empty))
			return HCL_PROOF_ERROR;
		return (len == 0 && memcmp(old_root, empty, HCL_HASH_LEN) == 0) ?
			HCL_PROOF_VALID : HCL_PROOF_INVALID;
	}
	if (old_size == new_size)
		return (len == 0 && memcmp(old_root, new_root, HCL_HASH_LEN) == 0) ?
			HCL_PROOF_VALID : HCL_PROOF_INVALID;

	/* step 1 */
	if (len == 0)
		return HCL_PROOF_INVALID;
	/* steps 2 and 5: a power-of-two old tree is its own first element */
	if ((old_size & (old_size - 1)) == 0)
		memcpy(fr, old_root, HCL_HASH_LEN);
	else
		memcpy(fr, proof[i++], HCL_HASH_LEN);
	memcpy(sr, fr, HCL_HASH_LEN);
	/* steps 3 and 4 */
	fn = old_size - 1;
	sn = new_size - 1;
	while (fn & 1)
	{
		fn >>= 1;
		sn >>= 1;
	}
	/* step 6 */
	for (; i < len; i++)
	{
		if (sn == 0)
			return HCL_PROOF_INVALID;
		if ((fn & 1) || fn == sn)
		{
			if (!hcl_node_hash(proof[i], fr, fr) ||
				!hcl_node_hash(proof[i], sr, sr))
				return HCL_PROOF_ERROR;
			while (!(fn & 1) && fn != 0)
			{
				fn >>= 1;
				sn >>= 1;
			}
		}
		else if (!hcl_node_hash(sr, proof[i], sr))
			return HCL_PROOF_ERROR;
		fn >>= 1;
		sn >>= 1;
	}
	/* step 7 */
	return (sn == 0 && memcmp(fr, old_root, HCL_HASH_LEN) == 0 &&
			memcmp(sr, new_root, HCL_HASH_LEN) == 0) ?
		HCL_PROOF_VALID : HCL_PROOF_INVALID;
}
