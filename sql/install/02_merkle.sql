--
-- Hashing and RFC 9162 Merkle trees.
--
CREATE FUNCTION sha256(data bytea) RETURNS hash256
	AS 'MODULE_PATHNAME', 'hcl_sha256_bytea' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sha256(bytea) IS 'SHA-256 of data, as hash256 (call it as hcledger.sha256: pg_catalog.sha256 returns bytea)';

CREATE FUNCTION sm3(data bytea) RETURNS hash256
	AS 'MODULE_PATHNAME', 'hcl_sm3_bytea' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sm3(bytea) IS 'SM3 (GB/T 32905) of data, as hash256';

CREATE FUNCTION leaf_hash(leaf bytea) RETURNS hash256
	AS 'MODULE_PATHNAME', 'hcl_leaf_hash_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION leaf_hash(bytea) IS 'RFC 9162 leaf hash: SHA-256(0x00 || leaf)';

CREATE FUNCTION node_hash(left_hash hash256, right_hash hash256) RETURNS hash256
	AS 'MODULE_PATHNAME', 'hcl_node_hash_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION node_hash(hash256, hash256) IS 'RFC 9162 interior node hash: SHA-256(0x01 || left || right)';

CREATE FUNCTION merkle_root_accum(internal, bytea) RETURNS internal
	AS 'MODULE_PATHNAME', 'hcl_merkle_root_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION merkle_root_hash_accum(internal, hash256) RETURNS internal
	AS 'MODULE_PATHNAME', 'hcl_merkle_root_hash_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION merkle_root_final(internal) RETURNS hash256
	AS 'MODULE_PATHNAME', 'hcl_merkle_root_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE merkle_root(leaf bytea) (
	SFUNC = merkle_root_accum,
	STYPE = internal,
	FINALFUNC = merkle_root_final,
	FINALFUNC_EXTRA = false
);
COMMENT ON AGGREGATE merkle_root(bytea) IS 'RFC 9162 tree head of the leaves in aggregate order (use ORDER BY)';

CREATE AGGREGATE merkle_root_of_leaf_hashes(leaf_hash hash256) (
	SFUNC = merkle_root_hash_accum,
	STYPE = internal,
	FINALFUNC = merkle_root_final
);
COMMENT ON AGGREGATE merkle_root_of_leaf_hashes(hash256) IS 'RFC 9162 tree head of already computed leaf hashes in aggregate order';

CREATE FUNCTION inclusion_proof(leaves bytea[], leaf_index bigint) RETURNS hash256[]
	AS 'MODULE_PATHNAME', 'hcl_inclusion_proof_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION inclusion_proof(bytea[], bigint) IS 'RFC 9162 inclusion proof PATH(leaf_index, leaves)';

CREATE FUNCTION consistency_proof(leaves bytea[], old_size bigint) RETURNS hash256[]
	AS 'MODULE_PATHNAME', 'hcl_consistency_proof_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consistency_proof(bytea[], bigint) IS 'RFC 9162 consistency proof PROOF(old_size, leaves)';

CREATE FUNCTION verify_inclusion(leaf_hash hash256, leaf_index bigint, tree_size bigint,
								 proof hash256[], root hash256) RETURNS boolean
	AS 'MODULE_PATHNAME', 'hcl_verify_inclusion_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION verify_inclusion(hash256, bigint, bigint, hash256[], hash256) IS 'RFC 9162 section 2.1.3.2 inclusion proof verification';

CREATE FUNCTION verify_consistency(old_size bigint, new_size bigint, old_root hash256,
								   new_root hash256, proof hash256[]) RETURNS boolean
	AS 'MODULE_PATHNAME', 'hcl_verify_consistency_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION verify_consistency(bigint, bigint, hash256, hash256, hash256[]) IS 'RFC 9162 section 2.1.4.2 consistency proof verification';

