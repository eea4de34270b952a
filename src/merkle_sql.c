/*
 * merkle_sql.c
 *		SQL entry points for RFC 9162 hashing, tree heads and proofs.
 *
 * The stateless proof makers take the whole list of leaves as an array, as
 * the RFC's PATH(m, D[n]) and PROOF(m, D[n]) do; the verifiers follow the
 * RFC's verification algorithms (merkle.c).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/lsyscache.h"

#include "hash256.h"
#include "merkle.h"

/* A bigint argument that must be zero or more. */
static inline uint64
hcl_arg_count(FunctionCallInfo fcinfo, int argno, const char *what)
{
	int64		v = PG_GETARG_INT64(argno);

	if (v < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", what),
				 errdetail("The value given was " INT64_FORMAT ".", v)));
	return (uint64) v;
}

/* Reject arrays of more than one dimension and arrays with NULLs. */
static void
hcl_check_array(ArrayType *a, const char *what)
{
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	if (array_contains_nulls(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not contain NULL elements", what)));
}

/* Leaf hashes of a bytea[] of leaves, palloc'd; the count in *n. */
static hcl_hash *
hcl_leaf_hashes(ArrayType *leaves, uint64 *n)
{
	Datum	   *elems;
	int			count;
	int			i;
	hcl_hash   *hashes;

	hcl_check_array(leaves, "leaves");
	deconstruct_array(leaves, BYTEAOID, -1, false, TYPALIGN_INT,
					  &elems, NULL, &count);
	hashes = (hcl_hash *) palloc(sizeof(hcl_hash) * Max(count, 1));
	for (i = 0; i < count; i++)
	{
		bytea	   *leaf = DatumGetByteaPP(elems[i]);

		if (!hcl_leaf_hash(VARDATA_ANY(leaf), VARSIZE_ANY_EXHDR(leaf),
						   hashes[i]))
			hcl_crypto_failed("SHA-256");
	}
	*n = (uint64) count;
	return hashes;
}

/*
 * The hashes of a hash256[] proof.  Returns false (the proof cannot verify)
 * when it has more elements than any proof can have.
 */
bool
hcl_proof_hashes(ArrayType *proof, hcl_hash *out, int *len)
{
	Datum	   *elems;
	int			count;
	int			i;

	hcl_check_array(proof, "proof");
	if (ArrayGetNItems(ARR_NDIM(proof), ARR_DIMS(proof)) >= HCL_MAX_PROOF)
		return false;
	deconstruct_array(proof, ARR_ELEMTYPE(proof), HCL_HASH_LEN, false,
					  TYPALIGN_CHAR, &elems, NULL, &count);
	for (i = 0; i < count; i++)
		memcpy(out[i], DatumGetHash256P(elems[i])->data, HCL_HASH_LEN);
	*len = count;
	return true;
}

/* A hash256[] of the hashes, elemtype being hash256's OID. */
ArrayType *
hcl_hash_array(Oid elemtype, hcl_hash *hashes, int n)
{
	Datum	   *elems = (Datum *) palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	if (!OidIsValid(elemtype))
		elog(ERROR, "hcledger: function does not return an array");
	for (i = 0; i < n; i++)
		elems[i] = PointerGetDatum(hashes[i]);
	return construct_array(elems, n, elemtype, HCL_HASH_LEN, false,
						   TYPALIGN_CHAR);
}

/* The element type of this function's array result. */
static inline Oid
hcl_result_elemtype(FunctionCallInfo fcinfo)
{
	return get_element_type(get_func_rettype(fcinfo->flinfo->fn_oid));
}

/* SQL function: leaf_hash(bytea) returns hash256 */
PG_FUNCTION_INFO_V1(hcl_leaf_hash_sql);
Datum
hcl_leaf_hash_sql(PG_FUNCTION_ARGS)
{
	bytea	   *leaf = PG_GETARG_BYTEA_PP(0);
	Hash256    *result = (Hash256 *) palloc(sizeof(Hash256));

	if (!hcl_leaf_hash(VARDATA_ANY(leaf), VARSIZE_ANY_EXHDR(leaf),
					   result->data))
		hcl_crypto_failed("SHA-256");
	PG_RETURN_HASH256_P(result);
}

/* SQL function: node_hash(hash256, hash256) returns hash256 */
PG_FUNCTION_INFO_V1(hcl_node_hash_sql);
Datum
hcl_node_hash_sql(PG_FUNCTION_ARGS)
{
	Hash256    *result = (Hash256 *) palloc(sizeof(Hash256));

	if (!hcl_node_hash(PG_GETARG_HASH256_P(0)->data,
					   PG_GETARG_HASH256_P(1)->data, result->data))
		hcl_crypto_failed("SHA-256");
	PG_RETURN_HASH256_P(result);
}

/* The aggregate state, allocated in the aggregate's context. */
static hcl_merkle_acc *
hcl_agg_state(FunctionCallInfo fcinfo)
{
	MemoryContext aggctx;
	hcl_merkle_acc *acc;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "hcledger: merkle_root transition called outside an aggregate");
	if (!PG_ARGISNULL(0))
		return (hcl_merkle_acc *) PG_GETARG_POINTER(0);
	acc = (hcl_merkle_acc *) MemoryContextAlloc(aggctx, sizeof(hcl_merkle_acc));
	hcl_acc_init(acc);
	return acc;
}

static inline void
hcl_agg_no_null(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a Merkle tree leaf must not be NULL")));
}

/* SQL function: merkle_root_accum(internal, bytea) returns internal */
PG_FUNCTION_INFO_V1(hcl_merkle_root_accum);
Datum
hcl_merkle_root_accum(PG_FUNCTION_ARGS)
{
	hcl_merkle_acc *acc = hcl_agg_state(fcinfo);
	bytea	   *leaf;
	hcl_hash	h;

	hcl_agg_no_null(fcinfo);
	leaf = PG_GETARG_BYTEA_PP(1);
	if (!hcl_leaf_hash(VARDATA_ANY(leaf), VARSIZE_ANY_EXHDR(leaf), h) ||
		!hcl_acc_push(acc, h))
		hcl_crypto_failed("SHA-256");
	PG_RETURN_POINTER(acc);
}

/* SQL function: merkle_root_hash_accum(internal, hash256) returns internal */
PG_FUNCTION_INFO_V1(hcl_merkle_root_hash_accum);
Datum
hcl_merkle_root_hash_accum(PG_FUNCTION_ARGS)
{
	hcl_merkle_acc *acc = hcl_agg_state(fcinfo);

	hcl_agg_no_null(fcinfo);
	if (!hcl_acc_push(acc, PG_GETARG_HASH256_P(1)->data))
		hcl_crypto_failed("SHA-256");
	PG_RETURN_POINTER(acc);
}

/* SQL function: merkle_root_final(internal) returns hash256 */
PG_FUNCTION_INFO_V1(hcl_merkle_root_final);
Datum
hcl_merkle_root_final(PG_FUNCTION_ARGS)
{
	Hash256    *result = (Hash256 *) palloc(sizeof(Hash256));
	bool		ok;

	if (PG_ARGISNULL(0))
		ok = hcl_empty_root(result->data);
	else
		ok = hcl_acc_root((hcl_merkle_acc *) PG_GETARG_POINTER(0),
						  result->data);
	if (!ok)
		hcl_crypto_failed("SHA-256");
	PG_RETURN_HASH256_P(result);
}

/* SQL function: inclusion_proof(leaves bytea[], leaf_index bigint) returns hash256[] */
PG_FUNCTION_INFO_V1(hcl_inclusion_proof_sql);
Datum
hcl_inclusion_proof_sql(PG_FUNCTION_ARGS)
{
	uint64		n;
	hcl_hash   *leaves = hcl_leaf_hashes(PG_GETARG_ARRAYTYPE_P(0), &n);
	uint64		m = hcl_arg_count(fcinfo, 1, "leaf_index");
	hcl_hash	path[HCL_MAX_PROOF];
	int			len;

	if (m >= n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("leaf_index " UINT64_FORMAT " is out of range for a tree of " UINT64_FORMAT " leaves",
						m, n),
				 errhint("Leaves are numbered from 0.")));
	if (!hcl_inclusion_path(leaves, n, m, path, &len))
		hcl_crypto_failed("SHA-256");
	PG_RETURN_ARRAYTYPE_P(hcl_hash_array(hcl_result_elemtype(fcinfo), path, len));
}

/* SQL function: consistency_proof(leaves bytea[], old_size bigint) returns hash256[] */
PG_FUNCTION_INFO_V1(hcl_consistency_proof_sql);
Datum
hcl_consistency_proof_sql(PG_FUNCTION_ARGS)
{
	uint64		n;
	hcl_hash   *leaves = hcl_leaf_hashes(PG_GETARG_ARRAYTYPE_P(0), &n);
	uint64		m = hcl_arg_count(fcinfo, 1, "old_size");
	hcl_hash	proof[HCL_MAX_PROOF];
	int			len;

	if (m > n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("old_size " UINT64_FORMAT " is larger than the tree of " UINT64_FORMAT " leaves",
						m, n)));
	if (!hcl_consistency_proof(leaves, n, m, proof, &len))
		hcl_crypto_failed("SHA-256");
	PG_RETURN_ARRAYTYPE_P(hcl_hash_array(hcl_result_elemtype(fcinfo), proof, len));
}

/* Turn a proof check's result into a boolean, or an error if hashing failed. */
static inline bool
hcl_proof_bool(hcl_proof_result r)
{
	if (r == HCL_PROOF_ERROR)
		hcl_crypto_failed("SHA-256");
	return r == HCL_PROOF_VALID;
}

/*
 * SQL function: verify_inclusion(leaf_hash hash256, leaf_index bigint,
 *   tree_size bigint, proof hash256[], root hash256) returns boolean
 */
PG_FUNCTION_INFO_V1(hcl_verify_inclusion_sql);
Datum
hcl_verify_inclusion_sql(PG_FUNCTION_ARGS)
{
	Hash256    *leaf = PG_GETARG_HASH256_P(0);
	uint64		index = hcl_arg_count(fcinfo, 1, "leaf_index");
	uint64		size = hcl_arg_count(fcinfo, 2, "tree_size");
	Hash256    *root = PG_GETARG_HASH256_P(4);
	hcl_hash	path[HCL_MAX_PROOF];
	int			len;

	if (!hcl_proof_hashes(PG_GETARG_ARRAYTYPE_P(3), path, &len))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(hcl_proof_bool(hcl_verify_inclusion(leaf->data, index, size,
													   path, len, root->data)));
}

/*
 * SQL function: verify_consistency(old_size bigint, new_size bigint,
 *   old_root hash256, new_root hash256, proof hash256[]) returns boolean
 */
PG_FUNCTION_INFO_V1(hcl_verify_consistency_sql);
Datum
hcl_verify_consistency_sql(PG_FUNCTION_ARGS)
{
	uint64		old_size = hcl_arg_count(fcinfo, 0, "old_size");
	uint64		new_size = hcl_arg_count(fcinfo, 1, "new_size");
	Hash256    *old_root = PG_GETARG_HASH256_P(2);
	Hash256    *new_root = PG_GETARG_HASH256_P(3);
	hcl_hash	proof[HCL_MAX_PROOF];
	int			len;

	if (!hcl_proof_hashes(PG_GETARG_ARRAYTYPE_P(4), proof, &len))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(hcl_proof_bool(hcl_verify_consistency(old_size, new_size,
														 old_root->data,
														 new_root->data,
														 proof, len)));
}
