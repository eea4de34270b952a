/*
 * merkle.h
 *		RFC 9162 section 2.1 Merkle trees: hashing, proofs, verification.
 *
 * Plain C with no PostgreSQL dependency (shared with the offline verifier).
 * Functions that hash return false (or HCL_PROOF_ERROR) only if SHA-256
 * itself failed, which the caller reports as an internal error.
 */
#ifndef HCL_MERKLE_H
#define HCL_MERKLE_H

#include "crypto.h"

/* Longest proof for a tree of at most 2^64 - 1 leaves, plus one. */
#define HCL_MAX_PROOF 65

typedef uint8_t hcl_hash[HCL_HASH_LEN];

/* The tree head of the empty tree: SHA-256 of the empty string. */
extern bool hcl_empty_root(hcl_hash out);

/* Leaf hash: SHA-256(0x00 || leaf). */
extern bool hcl_leaf_hash(const void *leaf, size_t len, hcl_hash out);

/* Interior node hash: SHA-256(0x01 || left || right). */
extern bool hcl_node_hash(const hcl_hash left, const hcl_hash right,
						  hcl_hash out);

/*
 * Compact range: the perfect subtrees covering leaves [0, size), largest
 * first.  Appending a leaf is amortised O(1) hashes; the root is O(log n).
 */
typedef struct hcl_merkle_acc
{
	uint64_t	size;
	int			depth;			/* entries used in stack */
	hcl_hash	stack[64];
} hcl_merkle_acc;

extern void hcl_acc_init(hcl_merkle_acc *acc);
extern bool hcl_acc_push(hcl_merkle_acc *acc, const hcl_hash leaf_hash);

/*
 * As hcl_acc_push, and also reports the perfect subtrees the new leaf
 * completed: completed[h] is the root of the subtree of 2^h leaves ending at
 * this leaf, for h = 0 .. *ncompleted - 1 (room for 65 entries).
 */
extern bool hcl_acc_push_tracked(hcl_merkle_acc *acc, const hcl_hash leaf_hash,
								 hcl_hash *completed, int *ncompleted);

/* Restore a compact range from its stack (depth entries, largest first). */
extern bool hcl_acc_restore(hcl_merkle_acc *acc, uint64_t size,
							const uint8_t *stack, size_t stack_len);
extern bool hcl_acc_root(const hcl_merkle_acc *acc, hcl_hash out);

/* Largest power of two strictly smaller than n (n >= 2): RFC 9162's k. */
extern uint64_t hcl_split(uint64_t n);

/* MTH of n leaf hashes. */
extern bool hcl_merkle_root(const hcl_hash *leaves, uint64_t n, hcl_hash out);

/*
 * Inclusion proof PATH(m, D[n]) and consistency proof PROOF(m, D[n]) over
 * n leaf hashes.  The proof is written to path (room for HCL_MAX_PROOF
 * entries) and its length to *len.  Preconditions (checked by the caller):
 * m < n for PATH; m <= n for PROOF.
 */
extern bool hcl_inclusion_path(const hcl_hash *leaves, uint64_t n, uint64_t m,
							   hcl_hash *path, int *len);
extern bool hcl_consistency_proof(const hcl_hash *leaves, uint64_t n,
								  uint64_t m, hcl_hash *proof, int *len);

/*
 * The same, taking each subtree hash MTH(D[start : start + n]) from a
 * callback instead of an array (a ledger's stored tiles).
 */
typedef bool (*hcl_subtree_fn) (void *arg, uint64_t start, uint64_t n,
								hcl_hash out);
extern bool hcl_inclusion_path_with(hcl_subtree_fn subtree, void *arg,
									uint64_t n, uint64_t m,
									hcl_hash *path, int *len);
extern bool hcl_consistency_proof_with(hcl_subtree_fn subtree, void *arg,
									   uint64_t n, uint64_t m,
									   hcl_hash *proof, int *len);

typedef enum hcl_proof_result
{
	HCL_PROOF_VALID,
	HCL_PROOF_INVALID,
	HCL_PROOF_ERROR				/* SHA-256 failed */
} hcl_proof_result;

/* RFC 9162 2.1.3.2: verify an inclusion proof. */
extern hcl_proof_result hcl_verify_inclusion(const hcl_hash leaf_hash,
											 uint64_t index, uint64_t size,
											 const hcl_hash *path, int len,
											 const hcl_hash root);

/* RFC 9162 2.1.4.2: verify a consistency proof (see merkle.c for m = 0 and m = n). */
extern hcl_proof_result hcl_verify_consistency(uint64_t old_size,
											   uint64_t new_size,
											   const hcl_hash old_root,
											   const hcl_hash new_root,
											   const hcl_hash *proof, int len);

#endif							/* HCL_MERKLE_H */
