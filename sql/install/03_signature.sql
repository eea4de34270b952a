--
-- Signature checks.
--
CREATE FUNCTION ed25519_verify(public_key bytea, message bytea, signature bytea) RETURNS boolean
	AS 'MODULE_PATHNAME', 'hcl_ed25519_verify_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ed25519_verify(bytea, bytea, bytea) IS 'Ed25519 (RFC 8032) signature check; key as raw 32 bytes, SubjectPublicKeyInfo DER or PEM';

CREATE FUNCTION ecdsa_p256_verify(public_key bytea, message bytea, signature bytea,
								  signature_format text DEFAULT 'raw') RETURNS boolean
	AS 'MODULE_PATHNAME', 'hcl_p256_verify_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecdsa_p256_verify(bytea, bytea, bytea, text) IS 'ECDSA P-256 with SHA-256; signature raw r||s (ES256) or DER; key as a raw point, SubjectPublicKeyInfo DER or PEM';

-- SM2 (GB/T 32918.2): SM3 over Z_A || message, Z_A from the signer's
-- identity (GM/T 0009's default 1234567812345678) and the key.
CREATE FUNCTION sm2_verify(public_key bytea, message bytea, signature bytea,
						   signature_format text DEFAULT 'raw',
						   signer_id bytea DEFAULT '\x31323334353637383132333435363738') RETURNS boolean
	AS 'MODULE_PATHNAME', 'hcl_sm2_verify_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sm2_verify(bytea, bytea, bytea, text, bytea) IS 'SM2 signature check with SM3 and the signer identity (default 1234567812345678); signature raw r||s or DER; key as a raw point, SubjectPublicKeyInfo DER or PEM';

CREATE FUNCTION sm2_public_key() RETURNS bytea
	AS 'MODULE_PATHNAME', 'hcl_sm2_public_key' LANGUAGE C STABLE;
COMMENT ON FUNCTION sm2_public_key() IS 'the raw SM2 public key (65-byte point) of hcledger.sm2_key_file (NULL if none is set)';

CREATE FUNCTION sm2_sign(message bytea, signer_id bytea DEFAULT '\x31323334353637383132333435363738') RETURNS bytea
	AS 'MODULE_PATHNAME', 'hcl_sm2_sign_sql' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION sm2_sign(bytea, bytea) IS 'the node''s SM2 signature (raw r||s) of message for the signer identity, with hcledger.sm2_key_file (NULL if none is set)';
REVOKE EXECUTE ON FUNCTION sm2_sign(bytea, bytea) FROM PUBLIC;
