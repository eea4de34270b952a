/*
 * receipt.c
 *		Receipts: parse and write the JSON text form, and verify one
 *		(docs/receipts.md).
 *
 * Compiled into the extension and into hcledger-verify.  JSON is parsed
 * with PostgreSQL's own parser (common/jsonapi.h); base64 is
 * common/base64.h.  A receipt is accepted only in its exact shape: one
 * object, known keys once each, hashes in lower-case hex, numbers as plain
 * decimals, so that changing any byte of a field changes what is checked.
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include "common/base64.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#include "crypto.h"
#include "pgcompat.h"
#include "receipt.h"

/* Semantic actions return a status from PostgreSQL 16 on. */
#if PG_VERSION_NUM >= 160000
#define HCL_JSON_ACTION JsonParseErrorType
#define HCL_JSON_DONE return JSON_SUCCESS
#else
#define HCL_JSON_ACTION void
#define HCL_JSON_DONE return
#endif

static const char hcl_leaf_magic[16] = "hcledger-row-v1\n";

enum hcl_field
{
	F_FORMAT, F_ROW, F_LEAF, F_LEAF_HASH, F_LEAF_INDEX, F_TREE_SIZE,
	F_PROOF, F_CHECKPOINT, F_OLD_CHECKPOINT, F_NEW_CHECKPOINT, F_COUNT
};

static const char *const hcl_field_names[F_COUNT] = {
	"format", "row", "leaf", "leaf_hash", "leaf_index", "tree_size",
	"proof", "checkpoint", "old_checkpoint", "new_checkpoint"
};

typedef struct hcl_parse_state
{
	hcl_receipt *r;
	int			depth;			/* object nesting */
	bool		in_proof;
	int			field;			/* current field, or -1 */
	unsigned	seen;			/* bit per field */
	bool		has_format;
	const char *error;			/* first problem found */
} hcl_parse_state;

static bool
hcl_hex_decode(const char *s, size_t len, uint8_t *out, size_t outlen)
{
	if (len != outlen * 2)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		int			v;

		if (s[i] >= '0' && s[i] <= '9')
			v = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			v = s[i] - 'a' + 10;
		else
			return false;		/* lower case only: one spelling per hash */
		if (i % 2 == 0)
			out[i / 2] = (uint8_t) (v << 4);
		else
			out[i / 2] |= (uint8_t) v;
	}
	return true;
}

/* A JSON number that is a plain non-negative decimal (no sign, fraction, exponent). */
static bool
hcl_json_count(const char *token, JsonTokenType type, int64_t *out)
{
	return type == JSON_TOKEN_NUMBER && hcl_parse_decimal(token, strlen(token), out);
}

static void
hcl_fail(hcl_parse_state *st, const char *why)
{
	if (st->error == NULL)
		st->error = why;
}

static HCL_JSON_ACTION
hcl_object_start(void *arg)
{
	hcl_parse_state *st = arg;

	if (++st->depth > 1 || st->in_proof)
		hcl_fail(st, "the receipt has a nested object");
	HCL_JSON_DONE;
}

static HCL_JSON_ACTION
hcl_object_end(void *arg)
{
	((hcl_parse_state *) arg)->depth--;
	HCL_JSON_DONE;
}

static HCL_JSON_ACTION
hcl_array_start(void *arg)
{
	hcl_parse_state *st = arg;

	if (st->depth != 1 || st->field != F_PROOF || st->in_proof)
		hcl_fail(st, "the receipt has an array other than \"proof\"");
	st->in_proof = true;
	HCL_JSON_DONE;
}

static HCL_JSON_ACTION
hcl_array_end(void *arg)
{
	((hcl_parse_state *) arg)->in_proof = false;
	HCL_JSON_DONE;
}

static HCL_JSON_ACTION
hcl_field_start(void *arg, char *fname, bool isnull)
{
	hcl_parse_state *st = arg;

	st->field = -1;
	if (st->depth != 1)
	{
		if (fname != NULL)
			pfree(fname);
		HCL_JSON_DONE;
	}
	for (int f = 0; f < F_COUNT; f++)
		if (strcmp(fname, hcl_field_names[f]) == 0)
			st->field = f;
	if (st->field < 0)
		hcl_fail(st, "the receipt has an unknown key");
	else if (st->seen & (1u << st->field))
		hcl_fail(st, "the receipt has a key twice");
	else
		st->seen |= 1u << st->field;
	if (st->field == F_PROOF)
		st->r->proof_len = 0;
	if (fname != NULL)
		pfree(fname);			/* ours (the parser's copy), not kept */
	HCL_JSON_DONE;
}

/* A JSON string field kept as bytes (the token is palloc'd, NUL-terminated). */
static bool
hcl_json_string(hcl_parse_state *st, char *token, JsonTokenType type,
				char **out, size_t *len)
{
	if (type != JSON_TOKEN_STRING)
	{
		hcl_fail(st, "a receipt field that must be a string is not");
		return false;
	}
	*out = token;
	*len = strlen(token);
	return true;
}

static HCL_JSON_ACTION
hcl_scalar(void *arg, char *token, JsonTokenType type)
{
	hcl_parse_state *st = arg;
	hcl_receipt *r = st->r;
	int64_t		n = 0;
	size_t		len;
	char	   *s;
	bool		kept = false;	/* the token is now the receipt's */

	/*
	 * The token is ours (the parser's palloc'd copy): it is freed unless
	 * the receipt keeps it (a checkpoint), so that the frontend, which has
	 * no memory context to reset, does not leak one per token.  After the
	 * first problem nothing more is checked or kept (the first is what
	 * parse reports), so a repeated key cannot replace a kept token.
	 */
	if (st->error != NULL)
		goto done;
	if (st->depth != 1)
	{
		hcl_fail(st, "the receipt is not a JSON object");
		goto done;
	}
	if (st->in_proof)
	{
		if (type != JSON_TOKEN_STRING || r->proof_len == HCL_MAX_PROOF ||
			!hcl_hex_decode(token, strlen(token), r->proof[r->proof_len], HCL_HASH_LEN))
			hcl_fail(st, "a proof element is not 64 lower-case hex digits");
		else
			r->proof_len++;
		goto done;
	}
	switch (st->field)
	{
		case F_FORMAT:
			st->has_format = true;
			if (hcl_json_string(st, token, type, &s, &len))
			{
				if (strcmp(token, HCL_RECEIPT_FORMAT) == 0)
					r->kind = HCL_RECEIPT_INCLUSION;
				else if (strcmp(token, HCL_CONSISTENCY_FORMAT) == 0)
					r->kind = HCL_RECEIPT_CONSISTENCY;
				else
					hcl_fail(st, "the receipt's format is not " HCL_RECEIPT_FORMAT " or " HCL_CONSISTENCY_FORMAT);
			}
			break;
		case F_ROW:
			/* row numbers may be negative in principle; receipts carry sealed ones */
			if (!hcl_json_count(token, type, &r->row))
				hcl_fail(st, "row is not a plain decimal number");
			r->has_row = true;
			break;
		case F_LEAF:
			if (hcl_json_string(st, token, type, &s, &len))
			{
				int			got;

				r->leaf = palloc(len + 3);
				got = hcl_b64_decode_strict(s, len, r->leaf, len);
				if (got < 0)
					hcl_fail(st, "leaf is not canonical base64");
				else
					r->leaf_len = (size_t) got;
			}
			break;
		case F_LEAF_HASH:
			if (type != JSON_TOKEN_STRING ||
				!hcl_hex_decode(token, strlen(token), r->leaf_hash, HCL_HASH_LEN))
				hcl_fail(st, "leaf_hash is not 64 lower-case hex digits");
			break;
		case F_LEAF_INDEX:
			if (!hcl_json_count(token, type, &n))
				hcl_fail(st, "leaf_index is not a plain decimal number");
			r->leaf_index = (uint64_t) n;
			break;
		case F_TREE_SIZE:
			if (!hcl_json_count(token, type, &n))
				hcl_fail(st, "tree_size is not a plain decimal number");
			r->tree_size = (uint64_t) n;
			break;
		case F_CHECKPOINT:
		case F_NEW_CHECKPOINT:
			kept = hcl_json_string(st, token, type, &r->checkpoint, &r->checkpoint_len);
			break;
		case F_OLD_CHECKPOINT:
			kept = hcl_json_string(st, token, type, &r->old_checkpoint, &r->old_checkpoint_len);
			break;
		case F_PROOF:
			hcl_fail(st, "proof is not an array");
			break;
		default:
			break;				/* unknown key: already failed */
	}
done:
	if (!kept && token != NULL)
		pfree(token);
	HCL_JSON_DONE;
}

/*
 * Does the JSON nest more than max arrays and objects deep?  PostgreSQL's
 * parser recurses once per level and, built for the frontend
 * (hcledger-verify), has no stack depth check: a receipt of a few tens of
 * thousands of "[" overflowed the stack.  Strings are skipped as the
 * parser's lexer reads them, so on any prefix the parser accepts, this
 * depth is the parser's.
 */
static bool
hcl_json_too_deep(const char *json, size_t len, int max)
{
	int			depth = 0;
	bool		in_string = false;

	for (size_t i = 0; i < len; i++)
	{
		if (in_string)
		{
			if (json[i] == '\\')
				i++;
			else if (json[i] == '"')
				in_string = false;
		}
		else if (json[i] == '"')
			in_string = true;
		else if (json[i] == '[' || json[i] == '{')
		{
			if (++depth > max)
				return true;
		}
		else if (json[i] == ']' || json[i] == '}')
			depth--;
	}
	return false;
}

const char *
hcl_receipt_parse(char *json, size_t len, hcl_receipt *r)
{
	JsonLexContext *lex;
	JsonSemAction sem;
	hcl_parse_state st;
	JsonParseErrorType rc;
	unsigned	need,
				allowed;

	memset(r, 0, sizeof(*r));
	memset(&st, 0, sizeof(st));
	st.r = r;
	st.field = -1;
	if (len > (size_t) PG_INT32_MAX / 2)
		return "the receipt is too large";
	if (pg_encoding_verifymbstr(PG_UTF8, json, (int) len) != (int) len)
		return "the receipt is not valid UTF-8";
	/* a receipt nests two deep (the object and its proof) */
	if (hcl_json_too_deep(json, len, 64))
		return "the receipt is nested too deeply";
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &st;
	sem.object_start = hcl_object_start;
	sem.object_end = hcl_object_end;
	sem.array_start = hcl_array_start;
	sem.array_end = hcl_array_end;
	sem.object_field_start = hcl_field_start;
	sem.scalar = hcl_scalar;
#ifdef FRONTEND
	/*
	 * The syntax first, with no actions: on a syntax error PostgreSQL's
	 * parser (15, 16) drops the token it was about to hand to an action,
	 * which the frontend (no memory context) would leak.  (Neither version
	 * has a function to free a lexer.)  In the server the memory context
	 * takes it, so the receipt is parsed once.
	 */
	lex = hcl_json_lexer(json, len, PG_UTF8, false);
	rc = pg_parse_json(lex, &nullSemAction);
	hcl_json_lexer_free(lex);
	if (rc != JSON_SUCCESS)
		return "the receipt is not valid JSON";
#endif
	lex = hcl_json_lexer(json, len, PG_UTF8, true);
	rc = pg_parse_json(lex, &sem);
	hcl_json_lexer_free(lex);
	if (rc != JSON_SUCCESS)
		return "the receipt is not valid JSON";
	if (st.error != NULL)
		return st.error;
	if (!st.has_format)
		return "the receipt has no format";

#define BIT(f) (1u << (f))
	if (r->kind == HCL_RECEIPT_INCLUSION)
	{
		need = BIT(F_FORMAT) | BIT(F_LEAF_HASH) | BIT(F_LEAF_INDEX) |
			BIT(F_TREE_SIZE) | BIT(F_PROOF) | BIT(F_CHECKPOINT);
		allowed = need | BIT(F_ROW) | BIT(F_LEAF);
		if (((st.seen & BIT(F_ROW)) != 0) != ((st.seen & BIT(F_LEAF)) != 0))
			return "the receipt has a row number without the leaf, or the leaf without one";
	}
	else
	{
		need = BIT(F_FORMAT) | BIT(F_PROOF) | BIT(F_OLD_CHECKPOINT) | BIT(F_NEW_CHECKPOINT);
		allowed = need;
	}
	if ((st.seen & need) != need)
		return "the receipt lacks a required key";
	if ((st.seen & ~allowed) != 0)
		return "the receipt has a key that does not belong to its format";
#undef BIT
	return NULL;
}

/* A JSON string literal. */
static void
hcl_json_quote(StringInfo out, const char *s, size_t len)
{
	appendStringInfoChar(out, '"');
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\')
		{
			appendStringInfoChar(out, '\\');
			appendStringInfoChar(out, (char) c);
		}
		else if (c == '\n')
			appendStringInfoString(out, "\\n");
		else if (c < 0x20)
			appendStringInfo(out, "\\u%04x", c);
		else
			appendStringInfoChar(out, (char) c);
	}
	appendStringInfoChar(out, '"');
}

static void
hcl_json_hex(StringInfo out, const uint8_t *h)
{
	static const char digits[] = "0123456789abcdef";

	appendStringInfoChar(out, '"');
	for (int i = 0; i < HCL_HASH_LEN; i++)
	{
		appendStringInfoChar(out, digits[h[i] >> 4]);
		appendStringInfoChar(out, digits[h[i] & 15]);
	}
	appendStringInfoChar(out, '"');
}

static void
hcl_json_proof(StringInfo out, const hcl_receipt *r)
{
	appendStringInfoString(out, ",\"proof\":[");
	for (int i = 0; i < r->proof_len; i++)
	{
		if (i > 0)
			appendStringInfoChar(out, ',');
		hcl_json_hex(out, r->proof[i]);
	}
	appendStringInfoChar(out, ']');
}

void
hcl_receipt_format(const hcl_receipt *r, StringInfo out)
{
	if (r->kind == HCL_RECEIPT_CONSISTENCY)
	{
		appendStringInfoString(out, "{\"format\":\"" HCL_CONSISTENCY_FORMAT "\",\"old_checkpoint\":");
		hcl_json_quote(out, r->old_checkpoint, r->old_checkpoint_len);
		appendStringInfoString(out, ",\"new_checkpoint\":");
		hcl_json_quote(out, r->checkpoint, r->checkpoint_len);
		hcl_json_proof(out, r);
		appendStringInfoChar(out, '}');
		return;
	}
	appendStringInfoString(out, "{\"format\":\"" HCL_RECEIPT_FORMAT "\"");
	if (r->leaf != NULL)
	{
		int			b64len = pg_b64_enc_len((int) r->leaf_len);
		char	   *b64 = palloc(b64len + 1);
		int			n = pg_b64_encode((const char *) r->leaf, (int) r->leaf_len, b64, b64len);

		appendStringInfo(out, ",\"row\":%lld,\"leaf\":", (long long) r->row);
		hcl_json_quote(out, b64, (size_t) n);
		pfree(b64);
	}
	appendStringInfoString(out, ",\"leaf_hash\":");
	hcl_json_hex(out, r->leaf_hash);
	appendStringInfo(out, ",\"leaf_index\":%llu,\"tree_size\":%llu",
					 (unsigned long long) r->leaf_index,
					 (unsigned long long) r->tree_size);
	hcl_json_proof(out, r);
	appendStringInfoString(out, ",\"checkpoint\":");
	hcl_json_quote(out, r->checkpoint, r->checkpoint_len);
	appendStringInfoChar(out, '}');
}

int64_t
hcl_leaf_row(const uint8_t *leaf)
{
	uint64_t	be = 0;

	for (int i = 0; i < 8; i++)
		be = (be << 8) | leaf[32 + i];
	return (int64_t) be;
}

/* Check the signature of a parsed checkpoint of a receipt. */
static bool
hcl_check_note(const char *what, const hcl_checkpoint *cp,
			   const hcl_trusted_key *keys, int nkeys, int *which, hcl_verdict *v)
{
	char		reason[400];

	if (!hcl_checkpoint_verify(cp, keys, nkeys, which, NULL, reason, sizeof(reason)))
	{
		snprintf(v->reason, sizeof(v->reason), "%s: %s", what, reason);
		return false;
	}
	return true;
}

/* The leaf's own fields must agree with the receipt and the checkpoint. */
static bool
hcl_check_leaf(const hcl_receipt *r, hcl_verdict *v)
{
	hcl_hash	h;
	int64_t		row;
	const char *slash;
	char		uuid[33];

	if (!hcl_leaf_hash(r->leaf, r->leaf_len, h))
	{
		snprintf(v->reason, sizeof(v->reason), "SHA-256 failed");
		return false;
	}
	if (memcmp(h, r->leaf_hash, HCL_HASH_LEN) != 0)
	{
		snprintf(v->reason, sizeof(v->reason), "leaf_hash is not the hash of the leaf");
		return false;
	}
	if (r->leaf_len < 42 || memcmp(r->leaf, hcl_leaf_magic, 16) != 0)
	{
		snprintf(v->reason, sizeof(v->reason), "the leaf is not a hcledger-row-v1 row encoding");
		return false;
	}
	row = hcl_leaf_row(r->leaf);
	if (row != r->row)
	{
		snprintf(v->reason, sizeof(v->reason), "row %lld is not the row number in the leaf (%lld)",
				 (long long) r->row, (long long) row);
		return false;
	}
	for (int i = 0; i < 16; i++)
		snprintf(uuid + 2 * i, 3, "%02x", r->leaf[16 + i]);
	slash = strrchr(v->cp.origin, '/');
	if (slash == NULL || strcmp(slash + 1, uuid) != 0)
	{
		snprintf(v->reason, sizeof(v->reason),
				 "the leaf's ledger id %s is not the one in the checkpoint's origin", uuid);
		return false;
	}
	return true;
}

bool
hcl_receipt_verify(const hcl_receipt *r, const hcl_trusted_key *keys,
				   int nkeys, hcl_verdict *v)
{
	hcl_proof_result pr;
	const char *why;

	memset(v, 0, sizeof(*v));
	v->key = v->old_key = -1;

	/* Parse the (new) checkpoint once, first, to report on what it says. */
	why = hcl_checkpoint_parse(r->checkpoint, r->checkpoint_len, &v->cp);
	if (why != NULL)
	{
		snprintf(v->reason, sizeof(v->reason), "checkpoint: %s", why);
		return false;
	}
	v->cp_parsed = true;

	if (r->kind == HCL_RECEIPT_CONSISTENCY)
	{
		why = hcl_checkpoint_parse(r->old_checkpoint, r->old_checkpoint_len, &v->old);
		if (why != NULL)
		{
			snprintf(v->reason, sizeof(v->reason), "old checkpoint: %s", why);
			return false;
		}
		if (!hcl_check_note("old checkpoint", &v->old, keys, nkeys, &v->old_key, v) ||
			!hcl_check_note("new checkpoint", &v->cp, keys, nkeys, &v->key, v))
			return false;
		if (strcmp(v->old.origin, v->cp.origin) != 0)
		{
			snprintf(v->reason, sizeof(v->reason), "the two checkpoints are of different logs");
			return false;
		}
		if (v->old.size > v->cp.size)
		{
			snprintf(v->reason, sizeof(v->reason), "the old checkpoint is larger than the new one");
			return false;
		}
		pr = hcl_verify_consistency(v->old.size, v->cp.size, v->old.root, v->cp.root,
									r->proof, r->proof_len);
		if (pr != HCL_PROOF_VALID)
		{
			snprintf(v->reason, sizeof(v->reason),
					 pr == HCL_PROOF_ERROR ? "SHA-256 failed" :
					 "the log of %llu leaves is not an extension of the log of %llu leaves (consistency proof fails)",
					 (unsigned long long) v->cp.size, (unsigned long long) v->old.size);
			return false;
		}
		v->valid = true;
		snprintf(v->reason, sizeof(v->reason),
				 "the log grew from %llu to %llu leaves without changing its past",
				 (unsigned long long) v->old.size, (unsigned long long) v->cp.size);
		return true;
	}

	if (r->leaf != NULL && !hcl_check_leaf(r, v))
		return false;
	if (r->tree_size != v->cp.size)
	{
		snprintf(v->reason, sizeof(v->reason), "tree_size %llu is not the checkpoint's size %llu",
				 (unsigned long long) r->tree_size, (unsigned long long) v->cp.size);
		return false;
	}
	if (r->leaf_index >= r->tree_size)
	{
		snprintf(v->reason, sizeof(v->reason), "leaf_index %llu is outside a tree of %llu leaves",
				 (unsigned long long) r->leaf_index, (unsigned long long) r->tree_size);
		return false;
	}
	pr = hcl_verify_inclusion(r->leaf_hash, r->leaf_index, r->tree_size,
							  r->proof, r->proof_len, v->cp.root);
	if (pr != HCL_PROOF_VALID)
	{
		snprintf(v->reason, sizeof(v->reason), pr == HCL_PROOF_ERROR ? "SHA-256 failed" :
				 "the inclusion proof does not lead from the leaf to the checkpoint's root");
		return false;
	}
	if (!hcl_check_note("checkpoint", &v->cp, keys, nkeys, &v->key, v))
		return false;
	v->valid = true;
	if (r->leaf != NULL)
		snprintf(v->reason, sizeof(v->reason), "row %lld is leaf %llu of the signed log of %llu leaves",
				 (long long) r->row, (unsigned long long) r->leaf_index,
				 (unsigned long long) r->tree_size);
	else
		snprintf(v->reason, sizeof(v->reason), "the leaf hash is leaf %llu of the signed log of %llu leaves",
				 (unsigned long long) r->leaf_index, (unsigned long long) r->tree_size);
	return true;
}
