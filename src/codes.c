/*
 * codes.c
 *		Health codes: canonical claims, the signed credential message, and
 *		the traveller's payload (HCL1: or HCL2: + Base45), as
 *		docs/health-codes.md defines them.
 *
 * The SQL around them (issue_code, set_status, revoke_code, verify_code)
 * is in sql/hcledger.sql; this file holds what must be exact to the byte.
 * No function here puts a claim value into an error message: a message
 * names a field at most, never its value.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "funcapi.h"
#include "port/pg_bswap.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "authority.h"
#include "ledger.h"
#include "pgcompat.h"
#include "crypto.h"
#include "code_payload.h"

/* ---------- canonical claims (RFC 8785 for the JSON subset allowed) ---------- */

static void hcl_canon_value(JsonbValue *v, StringInfo out, int depth);

static void
hcl_claims_error(const char *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid claims: %s", msg),
			 errhint("Claims are a JSON object of lower-case keys with strings, integers, booleans, null, arrays and objects; see docs/health-codes.md, \"Claims\".")));
}

/* A JSON string as RFC 8785 writes it: only ", \ and controls escaped. */
static void
hcl_canon_string(const char *s, int len, StringInfo out)
{
	appendStringInfoChar(out, '"');
	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		switch (c)
		{
			case '"':
				appendStringInfoString(out, "\\\"");
				break;
			case '\\':
				appendStringInfoString(out, "\\\\");
				break;
			case '\b':
				appendStringInfoString(out, "\\b");
				break;
			case '\f':
				appendStringInfoString(out, "\\f");
				break;
			case '\n':
				appendStringInfoString(out, "\\n");
				break;
			case '\r':
				appendStringInfoString(out, "\\r");
				break;
			case '\t':
				appendStringInfoString(out, "\\t");
				break;
			default:
				if (c < 0x20)
					appendStringInfo(out, "\\u%04x", c);
				else
					appendStringInfoChar(out, (char) c);
		}
	}
	appendStringInfoChar(out, '"');
}

/* An integer within +-(2^53 - 1), in shortest decimal form. */
static void
hcl_canon_number(Numeric num, StringInfo out)
{
	char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(num)));
	char	   *p = text;
	bool		neg = false;
	int64		v = 0;

	if (*p == '-')
	{
		neg = true;
		p++;
	}
	if (!isdigit((unsigned char) *p))
		hcl_claims_error("a number is not finite");
	for (; isdigit((unsigned char) *p); p++)
	{
		v = v * 10 + (*p - '0');
		if (v > HCL_SAFE_INTEGER)
			hcl_claims_error("an integer is beyond +-(2^53 - 1); write it as a string");
	}
	if (*p == '.')
		for (p++; *p == '0'; p++)
			;
	if (*p != '\0')
		hcl_claims_error("a number is not an integer; write it as a string");
	appendStringInfo(out, INT64_FORMAT, neg ? -v : v);
}

typedef struct HclMember
{
	JsonbValue	key;
	JsonbValue	value;
} HclMember;

static int
hcl_member_cmp(const void *a, const void *b)
{
	const JsonbValue *ka = &((const HclMember *) a)->key;
	const JsonbValue *kb = &((const HclMember *) b)->key;
	int			c = memcmp(ka->val.string.val, kb->val.string.val,
						   Min(ka->val.string.len, kb->val.string.len));

	return c != 0 ? c : ka->val.string.len - kb->val.string.len;
}

/* The members of an object, sorted by key, each key checked. */
static HclMember *
hcl_object_members(JsonbContainer *jc, int *count)
{
	JsonbIterator *it = JsonbIteratorInit(jc);
	JsonbValue	v;
	JsonbIteratorToken tok;
	HclMember  *members = NULL;
	int			n = 0,
				cap = 0;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			if (!hcl_key_name_ok(v.val.string.val, v.val.string.len))
				hcl_claims_error("a key is not 1 to 64 characters of a-z, 0-9 and _ starting with a letter");
			if (n == cap)
			{
				cap = cap == 0 ? 16 : cap * 2;
				members = members == NULL ? palloc(cap * sizeof(HclMember)) :
					repalloc(members, cap * sizeof(HclMember));
			}
			members[n].key = v;
		}
		else if (tok == WJB_VALUE)
			members[n++].value = v;
	}
	if (n > 1)
		qsort(members, n, sizeof(HclMember), hcl_member_cmp);
	*count = n;
	return members;
}

/* A container (object or array), members in key order. */
static void
hcl_canon_container(JsonbContainer *jc, StringInfo out, int depth)
{
	if (depth > HCL_CLAIMS_DEPTH)
		hcl_claims_error("nested more than 8 deep");
	if (JsonContainerIsScalar(jc))
		hcl_claims_error("not a JSON object");
	if (JsonContainerIsObject(jc))
	{
		int			n;
		HclMember  *members = hcl_object_members(jc, &n);

		appendStringInfoChar(out, '{');
		for (int i = 0; i < n; i++)
		{
			if (i > 0)
				appendStringInfoChar(out, ',');
			hcl_canon_string(members[i].key.val.string.val, members[i].key.val.string.len, out);
			appendStringInfoChar(out, ':');
			hcl_canon_value(&members[i].value, out, depth);
		}
		appendStringInfoChar(out, '}');
	}
	else
	{
		JsonbIterator *it = JsonbIteratorInit(jc);
		JsonbValue	v;
		JsonbIteratorToken tok;

		appendStringInfoChar(out, '[');
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			if (out->data[out->len - 1] != '[')
				appendStringInfoChar(out, ',');
			hcl_canon_value(&v, out, depth);
		}
		appendStringInfoChar(out, ']');
	}
}

static void
hcl_canon_value(JsonbValue *v, StringInfo out, int depth)
{
	switch (v->type)
	{
		case jbvNull:
			appendStringInfoString(out, "null");
			break;
		case jbvBool:
			appendStringInfoString(out, v->val.boolean ? "true" : "false");
			break;
		case jbvString:
			hcl_canon_string(v->val.string.val, v->val.string.len, out);
			break;
		case jbvNumeric:
			hcl_canon_number(v->val.numeric, out);
			break;
		case jbvBinary:
			hcl_canon_container(v->val.binary.data, out, depth + 1);
			break;
		default:
			hcl_claims_error("a value has an unsupported type");
	}
}

/*
 * The canonical claims of a jsonb object, checked: an object with a
 * non-empty string "document_number", at most HCL_CLAIMS_MAX bytes.
 * The document number is returned in *document (palloc'd).
 */
static void
hcl_canonical_claims(Jsonb *claims, StringInfo out, char **document)
{
	JsonbValue *doc;

	if (!JB_ROOT_IS_OBJECT(claims))
		hcl_claims_error("not a JSON object");
	initStringInfo(out);
	hcl_canon_container(&claims->root, out, 1);
	if (out->len > HCL_CLAIMS_MAX)
		hcl_claims_error("longer than 2048 bytes in canonical form");
	doc = getKeyJsonValueFromContainer(&claims->root, "document_number", 15, NULL);
	if (doc == NULL || doc->type != jbvString || doc->val.string.len == 0)
		hcl_claims_error("\"document_number\" must be a non-empty string");
	if (document != NULL)
		*document = pnstrdup(doc->val.string.val, doc->val.string.len);
}

/* SQL function: canonical_claims(jsonb) returns text */
PG_FUNCTION_INFO_V1(hcl_canonical_claims_sql);
Datum
hcl_canonical_claims_sql(PG_FUNCTION_ARGS)
{
	StringInfoData out;

	hcl_canonical_claims(PG_GETARG_JSONB_P(0), &out, NULL);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/* An authority and key id fit for the signed message, or an error. */
static void
hcl_check_names(const char *authority, const char *key_id)
{
	if (!hcl_line_ok(authority, strlen(authority)) || !hcl_line_ok(key_id, strlen(key_id)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an authority or key id must be 1 to 255 bytes without control characters")));
}

/*
 * The message an authority signs (docs/health-codes.md, "Credential"), as
 * bytea.  Its first line names the algorithm of an SM2 code, so that no
 * signature is read as one over a message of the other algorithm.
 */
static bytea *
hcl_code_message(hcl_key_kind alg, bool selective, const char *authority, const char *key_id,
				 const uint8 id[HCL_ID_LEN], int64 issued_at, int64 valid_from,
				 int64 valid_until, const uint8 commitment[32])
{
	StringInfoData m;

	initStringInfo(&m);
	appendBinaryStringInfo(&m, "\0\0\0\0", VARHDRSZ);
	hcl_code_message_append(&m, alg, selective, authority, key_id, id, issued_at, valid_from,
							valid_until, commitment);
	SET_VARSIZE(m.data, m.len);
	return (bytea *) m.data;
}

/* A code's algorithm as SQL names it, and back (an error if unknown). */
static const char *
hcl_code_algorithm_name(hcl_key_kind alg)
{
	return alg == HCL_KEY_KIND_SM2 ? "sm2" : "es256";
}

static hcl_key_kind
hcl_code_algorithm_of(const char *name)
{
	if (strcmp(name, "es256") == 0)
		return HCL_KEY_KIND_P256;
	if (strcmp(name, "sm2") == 0)
		return HCL_KEY_KIND_SM2;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("a health code's algorithm is es256 or sm2")));
	return HCL_KEY_KIND_P256;	/* not reached */
}

static void
hcl_put_be64(StringInfo out, int64 v)
{
	uint64		be = pg_hton64((uint64) v);

	appendBinaryStringInfo(out, (char *) &be, 8);
}

/*
 * The payload text: HCL1: and the Base45 of the binary layout, or for SM2
 * HCL2: and the Base45 of the algorithm byte and the same layout.
 */
static text *
hcl_code_payload(const HclCode *c)
{
	StringInfoData bin;
	StringInfoData txt;
	uint8		len8;
	uint16		len16;

	initStringInfo(&bin);
	if (c->alg == HCL_KEY_KIND_SM2 || c->selective)
	{
		len8 = c->alg == HCL_KEY_KIND_SM2 ? HCL_CODE_ALG_SM2 : HCL_CODE_ALG_ES256;
		appendBinaryStringInfo(&bin, (char *) &len8, 1);
	}
	appendBinaryStringInfo(&bin, (const char *) c->id, HCL_ID_LEN);
	hcl_put_be64(&bin, c->issued_at);
	hcl_put_be64(&bin, c->valid_from);
	hcl_put_be64(&bin, c->valid_until);
	appendBinaryStringInfo(&bin, (const char *) c->sig, 64);
	if (!c->selective)
	{
		len8 = c->saltlen;
		appendBinaryStringInfo(&bin, (char *) &len8, 1);
		appendBinaryStringInfo(&bin, (const char *) c->salt, c->saltlen);
	}
	len8 = strlen(c->authority);
	appendBinaryStringInfo(&bin, (char *) &len8, 1);
	appendBinaryStringInfo(&bin, c->authority, len8);
	len8 = strlen(c->key_id);
	appendBinaryStringInfo(&bin, (char *) &len8, 1);
	appendBinaryStringInfo(&bin, c->key_id, len8);
	if (c->selective)
	{
		len8 = c->ndigests;
		appendBinaryStringInfo(&bin, (char *) &len8, 1);
		appendBinaryStringInfo(&bin, (const char *) c->digests, c->ndigests * 32);
		len8 = c->ndisclosed;
		appendBinaryStringInfo(&bin, (char *) &len8, 1);
		for (int i = 0; i < c->ndisclosed; i++)
		{
			len16 = pg_hton16((uint16) c->disclosurelen[i]);
			appendBinaryStringInfo(&bin, (char *) &len16, 2);
			appendBinaryStringInfo(&bin, (const char *) c->disclosures[i], c->disclosurelen[i]);
		}
	}
	else
	{
		len16 = pg_hton16((uint16) c->claimslen);
		appendBinaryStringInfo(&bin, (char *) &len16, 2);
		appendBinaryStringInfo(&bin, c->claims, c->claimslen);
	}

	initStringInfo(&txt);
	appendStringInfoString(&txt, c->selective ? HCL_CODE_PREFIX_SD :
						   c->alg == HCL_KEY_KIND_SM2 ? HCL_CODE_PREFIX_SM2 : HCL_CODE_PREFIX);
	hcl_base45_encode((uint8 *) bin.data, bin.len, &txt);
	if (txt.len > HCL_CODE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the health code would be %d characters long, over the limit of %d",
						txt.len, HCL_CODE_MAX),
				 errhint("Record less in the claims.")));
	return cstring_to_text_with_len(txt.data, txt.len);
}

/* Decode a payload given as text (see hcl_code_decode). */
static const char *
hcl_code_decode_text(text *payload, HclCode *c)
{
	return hcl_code_decode(VARDATA_ANY(payload), VARSIZE_ANY_EXHDR(payload), c);
}

static TimestampTz
hcl_to_timestamptz(int64 t)
{
	return time_t_to_timestamptz((pg_time_t) t);
}

static int64
hcl_whole_seconds(TimestampTz t, const char *what)
{
	if (TIMESTAMP_NOT_FINITE(t) || t % USECS_PER_SEC != 0 || t < -((int64) 946684800) * USECS_PER_SEC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite time after 1970 in whole seconds", what)));
	return (int64) timestamptz_to_time_t(t);
}

static int
hcl_digest_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/*
 * HCL3: a disclosure per top-level claim, each with its own salt, in order
 * of the names; their digests and decoys (random 32-byte values, so that
 * the count is the next multiple of 8 above the claims'), sorted.
 */
static void
hcl_sd_make(HclCode *c, Jsonb *claims)
{
	int			n;
	HclMember  *m = hcl_object_members(&claims->root, &n);
	int			ndigests = (n / HCL_SD_DIGEST_STEP + 1) * HCL_SD_DIGEST_STEP;
	uint8	   *digests;

	if (n > HCL_SD_CLAIMS_MAX)
		hcl_claims_error("more than 31 claims for a code with selective disclosure");
	digests = palloc((Size) ndigests * 32);
	for (int i = 0; i < n; i++)
	{
		StringInfoData d;
		uint8		salt[HCL_SALT_LEN];

		initStringInfo(&d);
		if (!pg_strong_random(salt, HCL_SALT_LEN))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not draw random bytes for a health code")));
		appendBinaryStringInfo(&d, (const char *) salt, HCL_SALT_LEN);
		appendStringInfoChar(&d, '[');
		hcl_canon_string(m[i].key.val.string.val, m[i].key.val.string.len, &d);
		appendStringInfoChar(&d, ',');
		hcl_canon_value(&m[i].value, &d, 1);
		appendStringInfoChar(&d, ']');
		c->disclosures[i] = (const uint8 *) d.data;
		c->disclosurelen[i] = d.len;
		if (!hcl_sha256(d.data, d.len, digests + 32 * i))
			elog(ERROR, "hcledger: SHA-256 failed");
	}
	if (!pg_strong_random(digests + 32 * n, (size_t) (ndigests - n) * 32))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not draw random bytes for a health code")));
	qsort(digests, ndigests, 32, hcl_digest_cmp);
	c->ndigests = ndigests;
	c->digests = digests;
	c->ndisclosed = n;
}

/*
 * SQL function: code_issue_parts(claims jsonb, authority text, key_id text,
 *   issued_at timestamptz, valid_from timestamptz, valid_until timestamptz,
 *   OUT credential_id bytea, OUT subject bytea, OUT commitment bytea,
 *   OUT signature bytea, OUT payload text)
 * Draws the id and salt, makes the pseudonym, commitment and signature.
 * Signs with the authority's key: not executable by PUBLIC.
 */
PG_FUNCTION_INFO_V1(hcl_code_issue_parts);
Datum
hcl_code_issue_parts(PG_FUNCTION_ARGS)
{
	HclCode		c;
	StringInfoData claims;
	char	   *document;
	uint8		pseudonym[32];
	uint8		commitment[32];
	bytea	   *msg;
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false};

	for (int i = 0; i < PG_NARGS(); i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("the parts of a health code must not be NULL")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "hcledger: code_issue_parts must return a record");
	memset(&c, 0, sizeof(c));
	hcl_canonical_claims(PG_GETARG_JSONB_P(0), &claims, &document);
	c.claims = claims.data;
	c.claimslen = claims.len;
	c.authority = text_to_cstring(PG_GETARG_TEXT_PP(1));
	c.key_id = text_to_cstring(PG_GETARG_TEXT_PP(2));
	hcl_check_names(c.authority, c.key_id);
	c.issued_at = hcl_whole_seconds(PG_GETARG_TIMESTAMPTZ(3), "issued_at");
	c.valid_from = hcl_whole_seconds(PG_GETARG_TIMESTAMPTZ(4), "valid_from");
	c.valid_until = hcl_whole_seconds(PG_GETARG_TIMESTAMPTZ(5), "valid_until");
	if (c.valid_until <= c.valid_from)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("valid_until must be after valid_from")));
	c.alg = hcl_credential_kind();
	/* 0.2.0's SQL, until ALTER EXTENSION UPDATE, passes no selective */
	c.selective = PG_NARGS() > 6 && PG_GETARG_BOOL(6);
	if (c.selective)
		hcl_sd_make(&c, PG_GETARG_JSONB_P(0));
	c.saltlen = HCL_SALT_LEN;
	if (!pg_strong_random(c.id, HCL_ID_LEN) || !pg_strong_random(c.salt, c.saltlen))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not draw random bytes for a health code")));

	hcl_pseudonym(c.authority, document, pseudonym);
	explicit_bzero(document, strlen(document));

	if (!hcl_commitment(&c, commitment))
		elog(ERROR, "hcledger: SHA-256 failed");
	msg = hcl_code_message(c.alg, c.selective, c.authority, c.key_id, c.id, c.issued_at, c.valid_from,
						   c.valid_until, commitment);
	hcl_credential_sign(c.alg, (uint8 *) VARDATA(msg), VARSIZE(msg) - VARHDRSZ, c.sig);

	values[0] = PointerGetDatum(hcl_bytea_of(c.id, HCL_ID_LEN));
	values[1] = PointerGetDatum(hcl_bytea_of(pseudonym, 32));
	values[2] = PointerGetDatum(hcl_bytea_of(commitment, 32));
	values[3] = PointerGetDatum(hcl_bytea_of(c.sig, 64));
	values[4] = PointerGetDatum(hcl_code_payload(&c));
	tupdesc = BlessTupleDesc(tupdesc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * SQL function: code_decode(payload text, OUT problem text, OUT authority
 *   text, OUT key_id text, OUT credential_id bytea, OUT issued_at
 *   timestamptz, OUT valid_from timestamptz, OUT valid_until timestamptz,
 *   OUT commitment bytea, OUT signature bytea, OUT message bytea,
 *   OUT algorithm text, OUT selective boolean, OUT disclosure_problem text)
 * Never errors on a bad payload: problem says what is wrong, the rest is NULL.
 */
PG_FUNCTION_INFO_V1(hcl_code_decode_sql);
Datum
hcl_code_decode_sql(PG_FUNCTION_ARGS)
{
	HclCode		c;
	const char *problem = NULL;
	uint8		commitment[32];
	TupleDesc	tupdesc;
	Datum		values[13];
	bool		nulls[13];

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "hcledger: code_decode must return a record");
	memset(nulls, true, sizeof(nulls));
	if (PG_ARGISNULL(0))
		problem = "there is no payload (NULL)";
	else
		problem = hcl_code_decode_text(PG_GETARG_TEXT_PP(0), &c);
	if (problem == NULL)
	{
		if (!hcl_commitment(&c, commitment))
			elog(ERROR, "hcledger: SHA-256 failed");
		values[1] = CStringGetTextDatum(c.authority);
		values[2] = CStringGetTextDatum(c.key_id);
		values[3] = PointerGetDatum(hcl_bytea_of(c.id, HCL_ID_LEN));
		values[4] = TimestampTzGetDatum(hcl_to_timestamptz(c.issued_at));
		values[5] = TimestampTzGetDatum(hcl_to_timestamptz(c.valid_from));
		values[6] = TimestampTzGetDatum(hcl_to_timestamptz(c.valid_until));
		values[7] = PointerGetDatum(hcl_bytea_of(commitment, 32));
		values[8] = PointerGetDatum(hcl_bytea_of(c.sig, 64));
		values[9] = PointerGetDatum(hcl_code_message(c.alg, c.selective, c.authority, c.key_id, c.id,
													 c.issued_at, c.valid_from, c.valid_until, commitment));
		values[10] = CStringGetTextDatum(hcl_code_algorithm_name(c.alg));
		memset(nulls + 1, false, sizeof(bool) * 10);
		/* 0.2.0's SQL, until ALTER EXTENSION UPDATE, has 11 columns */
		if (tupdesc->natts >= 13)
		{
			values[11] = BoolGetDatum(c.selective);
			nulls[11] = false;
			if (c.disclosure_problem != NULL)
			{
				values[12] = CStringGetTextDatum(c.disclosure_problem);
				nulls[12] = false;
			}
		}
	}
	else
	{
		values[0] = CStringGetTextDatum(problem);
		nulls[0] = false;
	}
	tupdesc = BlessTupleDesc(tupdesc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * SQL function: code_message(authority text, key_id text, credential_id
 *   bytea, issued_at timestamptz, valid_from timestamptz, valid_until
 *   timestamptz, commitment bytea, algorithm text DEFAULT 'es256',
 *   selective boolean DEFAULT false) returns bytea
 */
PG_FUNCTION_INFO_V1(hcl_code_message_sql);
Datum
hcl_code_message_sql(PG_FUNCTION_ARGS)
{
	char	   *authority = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *key_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bytea	   *id = PG_GETARG_BYTEA_PP(2);
	bytea	   *commitment = PG_GETARG_BYTEA_PP(6);
	/* 0.2.0's SQL, until ALTER EXTENSION UPDATE, passes no algorithm */
	hcl_key_kind alg = PG_NARGS() > 7 ? hcl_code_algorithm_of(text_to_cstring(PG_GETARG_TEXT_PP(7)))
		: HCL_KEY_KIND_P256;
	bool		selective = PG_NARGS() > 8 && PG_GETARG_BOOL(8);

	if (VARSIZE_ANY_EXHDR(id) != HCL_ID_LEN || VARSIZE_ANY_EXHDR(commitment) != 32)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a credential id is 16 bytes and a commitment 32")));
	hcl_check_names(authority, key_id);
	PG_RETURN_BYTEA_P(hcl_code_message(alg, selective, authority, key_id, (uint8 *) VARDATA_ANY(id),
									   hcl_whole_seconds(PG_GETARG_TIMESTAMPTZ(3), "issued_at"),
									   hcl_whole_seconds(PG_GETARG_TIMESTAMPTZ(4), "valid_from"),
									   hcl_whole_seconds(PG_GETARG_TIMESTAMPTZ(5), "valid_until"),
									   (uint8 *) VARDATA_ANY(commitment)));
}

/*
 * An HCL3: code's disclosed claims as one JSON object text: each
 * ["name",value] becomes "name":value, in the disclosures' order (by name).
 */
static void
hcl_sd_claims(const HclCode *c, StringInfo out)
{
	initStringInfo(out);
	appendStringInfoChar(out, '{');
	for (int i = 0; i < c->ndisclosed; i++)
	{
		const char *name;
		int			namelen = hcl_disclosure_name(c->disclosures[i], c->disclosurelen[i], &name);
		const char *value = name + namelen + 2;	/* after the quote and the comma */
		int			valuelen = c->disclosurelen[i] - HCL_SALT_LEN - (namelen + 4) - 1;

		if (i > 0)
			appendStringInfoChar(out, ',');
		appendStringInfoChar(out, '"');
		appendBinaryStringInfo(out, name, namelen);
		appendStringInfoString(out, "\":");
		appendBinaryStringInfo(out, value, valuelen);
	}
	appendStringInfoChar(out, '}');
}

/*
 * SQL function: code_claims(payload text) returns jsonb: the claims a
 * payload carries (what the traveller shows: of an HCL3: code, those it
 * discloses, each checked against the signed digests), or an error if it
 * is no health code.  Reads no table.
 */
PG_FUNCTION_INFO_V1(hcl_code_claims);
Datum
hcl_code_claims(PG_FUNCTION_ARGS)
{
	HclCode		c;
	const char *problem = hcl_code_decode_text(PG_GETARG_TEXT_PP(0), &c);
	const char *claims = NULL;
	int			claimslen = 0;

	if (problem == NULL && c.selective)
	{
		StringInfoData sd;

		problem = c.disclosure_problem;
		/*
		 * each disclosure on its own is JSON (and UTF-8), so that with the
		 * object they make it can only be one [name, value] pair: no value
		 * can carry a second member into the object
		 */
		for (int i = 0; problem == NULL && i < c.ndisclosed; i++)
		{
			const char *j = (const char *) c.disclosures[i] + HCL_SALT_LEN;
			int			n = c.disclosurelen[i] - HCL_SALT_LEN;

			if (!pg_verifymbstr(j, n, true) ||
				pg_parse_json(hcl_json_lexer((char *) j, n, GetDatabaseEncoding(), true),
							  &nullSemAction) != JSON_SUCCESS)
				problem = "a disclosure is not valid JSON";
		}
		hcl_sd_claims(&c, &sd);
		claims = sd.data;
		claimslen = sd.len;
	}
	else if (problem == NULL)
	{
		claims = c.claims;
		claimslen = c.claimslen;
	}
	if (problem == NULL && !pg_verifymbstr(claims, claimslen, true))
		problem = "its claims are not valid UTF-8";
	if (problem == NULL)
	{
		/* checked first, so that jsonb_in's messages (which quote) cannot show a claim */
		JsonLexContext *lex = hcl_json_lexer((char *) claims, claimslen,
											 GetDatabaseEncoding(), true);

		if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
			problem = "its claims are not valid JSON";
	}
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("not a health code: %s", problem)));
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(pnstrdup(claims, claimslen)));
}

/*
 * SQL function: code_disclose(payload text, claims text[]) returns text:
 * an HCL3: code presenting only the named claims (each must be disclosed
 * by the payload given).  Needs no key and reads no table: the traveller's
 * own device can do the same from docs/health-codes.md.
 */
PG_FUNCTION_INFO_V1(hcl_code_disclose);
Datum
hcl_code_disclose(PG_FUNCTION_ARGS)
{
	HclCode		c;
	const char *problem = hcl_code_decode_text(PG_GETARG_TEXT_PP(0), &c);
	ArrayType  *names = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *elems;
	bool	   *elemnulls;
	int			nnames;
	bool		keep[HCL_SD_DIGESTS_MAX] = {false};
	int			kept = 0;

	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("not a health code: %s", problem)));
	if (!c.selective)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("only an HCL3: code discloses its claims one by one"),
				 errhint("Issue it with issue_code(..., selective => true).")));
	if (c.disclosure_problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the code cannot be presented: %s", c.disclosure_problem)));
	if (ARR_NDIM(names) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("claims must be a one-dimensional array of names")));
	deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elemnulls, &nnames);
	for (int i = 0; i < nnames; i++)
	{
		char	   *want;
		int			j;

		if (elemnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a claim's name must not be NULL")));
		want = TextDatumGetCString(elems[i]);
		for (j = 0; j < c.ndisclosed; j++)
		{
			const char *name;
			int			namelen = hcl_disclosure_name(c.disclosures[j], c.disclosurelen[j], &name);

			if (namelen == (int) strlen(want) && memcmp(name, want, namelen) == 0)
				break;
		}
		if (j == c.ndisclosed)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the code discloses no claim named \"%s\"", want)));
		keep[j] = true;
	}
	for (int j = 0; j < c.ndisclosed; j++)
		if (keep[j])
		{
			c.disclosures[kept] = c.disclosures[j];
			c.disclosurelen[kept] = c.disclosurelen[j];
			kept++;
		}
	c.ndisclosed = kept;
	PG_RETURN_TEXT_P(hcl_code_payload(&c));
}

/* SQL function: pseudonym(authority text, document_number text) returns bytea */
PG_FUNCTION_INFO_V1(hcl_pseudonym_sql);
Datum
hcl_pseudonym_sql(PG_FUNCTION_ARGS)
{
	uint8		out[32];

	hcl_pseudonym(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)), out);
	PG_RETURN_BYTEA_P(hcl_bytea_of(out, 32));
}
