/*
 * codes.c
 *		Health codes: canonical claims, the signed credential message, and
 *		the traveller's payload (HCL1: + Base45), as docs/health-codes.md
 *		defines them.
 *
 * The SQL around them (issue_code, set_status, revoke_code, verify_code)
 * is in sql/hcledger.sql; this file holds what must be exact to the byte.
 * No function here puts a claim value into an error message: a message
 * names a field at most, never its value.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "funcapi.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "authority.h"
#include "ledger.h"
#include "pgcompat.h"
#include "crypto.h"

#define HCL_CODE_PREFIX		"HCL1:"
#define HCL_CODE_PREFIX_LEN	5
#define HCL_CODE_MAX		4096	/* characters of a payload */
#define HCL_CLAIMS_MAX		2048	/* bytes of canonical claims */
#define HCL_CLAIMS_DEPTH	8
#define HCL_KEY_NAME_MAX	64
#define HCL_SALT_LEN		16
#define HCL_SALT_MAX		64
#define HCL_ID_LEN			16
#define HCL_TIME_MAX		INT64CONST(253402300799)	/* 9999-12-31 23:59:59 UTC */
#define HCL_SAFE_INTEGER	INT64CONST(9007199254740991)	/* 2^53 - 1 */

static const char hcl_b45[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

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

static bool
hcl_key_name_ok(const char *s, int len)
{
	if (len < 1 || len > HCL_KEY_NAME_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	for (int i = 1; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* A container (object or array), members in key order. */
static void
hcl_canon_container(JsonbContainer *jc, StringInfo out, int depth)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		object;
	HclMember  *members = NULL;
	int			n = 0,
				cap = 0;

	if (depth > HCL_CLAIMS_DEPTH)
		hcl_claims_error("nested more than 8 deep");
	it = JsonbIteratorInit(jc);
	tok = JsonbIteratorNext(&it, &v, true);
	object = (tok == WJB_BEGIN_OBJECT);
	if (tok == WJB_BEGIN_ARRAY && v.val.array.rawScalar)
		hcl_claims_error("not a JSON object");
	appendStringInfoChar(out, object ? '{' : '[');
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
		else if (tok == WJB_VALUE && object)
			members[n++].value = v;
		else if (tok == WJB_ELEM)
		{
			if (out->data[out->len - 1] != '[')
				appendStringInfoChar(out, ',');
			hcl_canon_value(&v, out, depth);
		}
	}
	if (object)
	{
		if (n > 1)
			qsort(members, n, sizeof(HclMember), hcl_member_cmp);
		for (int i = 0; i < n; i++)
		{
			if (i > 0)
				appendStringInfoChar(out, ',');
			hcl_canon_string(members[i].key.val.string.val, members[i].key.val.string.len, out);
			appendStringInfoChar(out, ':');
			hcl_canon_value(&members[i].value, out, depth);
		}
	}
	appendStringInfoChar(out, object ? '}' : ']');
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

/* ---------- Base45 (RFC 9285) ---------- */

static void
hcl_base45_encode(const uint8 *in, size_t len, StringInfo out)
{
	size_t		i;

	for (i = 0; i + 1 < len; i += 2)
	{
		uint32		n = in[i] * 256 + in[i + 1];

		appendStringInfoChar(out, hcl_b45[n % 45]);
		appendStringInfoChar(out, hcl_b45[(n / 45) % 45]);
		appendStringInfoChar(out, hcl_b45[n / 2025]);
	}
	if (i < len)
	{
		appendStringInfoChar(out, hcl_b45[in[i] % 45]);
		appendStringInfoChar(out, hcl_b45[in[i] / 45]);
	}
}

static int
hcl_b45_value(char c)
{
	const char *p = c == '\0' ? NULL : strchr(hcl_b45, c);

	return p == NULL ? -1 : (int) (p - hcl_b45);
}

/* Decode Base45 into out (len * 2 / 3 bytes); -1 if not valid Base45. */
static int
hcl_base45_decode(const char *in, size_t len, uint8 *out)
{
	size_t		i;
	int			n = 0;

	if (len % 3 == 1)
		return -1;
	for (i = 0; i < len; i += 3)
	{
		int			c = hcl_b45_value(in[i]);
		int			d = hcl_b45_value(in[i + 1]);
		int			e = i + 2 < len ? hcl_b45_value(in[i + 2]) : 0;
		uint32		v;

		if (c < 0 || d < 0 || e < 0)
			return -1;
		v = c + d * 45 + e * 2025;
		if (i + 2 < len)
		{
			if (v > 0xFFFF)
				return -1;
			out[n++] = v >> 8;
			out[n++] = v & 0xFF;
		}
		else
		{
			if (v > 0xFF)
				return -1;
			out[n++] = v;
		}
	}
	return n;
}

/* ---------- the credential and its payload ---------- */

typedef struct HclCode
{
	uint8		id[HCL_ID_LEN];
	int64		issued_at;		/* unix seconds */
	int64		valid_from;
	int64		valid_until;
	uint8		sig[64];
	int			saltlen;
	uint8		salt[HCL_SALT_MAX];
	char	   *authority;		/* NUL-terminated */
	char	   *key_id;
	const char *claims;			/* canonical claims (not terminated) */
	int			claimslen;
} HclCode;

/* A name fit for a line of the signed message: 1-255 bytes, no controls. */
static bool
hcl_line_ok(const char *s, size_t len)
{
	if (len < 1 || len > 255)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) s[i] < 0x20 || s[i] == 0x7F)
			return false;
	return true;
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

/* The message an authority signs (docs/health-codes.md, "Credential"). */
static bytea *
hcl_code_message(const char *authority, const char *key_id, const uint8 id[HCL_ID_LEN],
				 int64 issued_at, int64 valid_from, int64 valid_until,
				 const uint8 commitment[32])
{
	StringInfoData m;
	char		hex[65];

	initStringInfo(&m);
	appendBinaryStringInfo(&m, "\0\0\0\0", VARHDRSZ);
	appendStringInfo(&m, "hcledger-credential/1\n%s\n%s\n", authority, key_id);
	hex[hex_encode((const char *) id, HCL_ID_LEN, hex)] = '\0';
	appendStringInfo(&m, "%s\n" INT64_FORMAT "\n" INT64_FORMAT "\n" INT64_FORMAT "\n",
					 hex, issued_at, valid_from, valid_until);
	hex[hex_encode((const char *) commitment, 32, hex)] = '\0';
	appendStringInfo(&m, "%s\n", hex);
	SET_VARSIZE(m.data, m.len);
	return (bytea *) m.data;
}

static bool
hcl_commitment(const HclCode *c, uint8 out[32])
{
	/* SHA-256(salt || claims); the salt is never empty */
	return hcl_sha256_prefixed(c->salt[0], c->salt + 1, c->saltlen - 1,
							   c->claims, c->claimslen, out);
}

static void
hcl_put_be64(StringInfo out, int64 v)
{
	uint64		be = pg_hton64((uint64) v);

	appendBinaryStringInfo(out, (char *) &be, 8);
}

/* The payload text: HCL1: and the Base45 of the binary layout. */
static text *
hcl_code_payload(const HclCode *c)
{
	StringInfoData bin;
	StringInfoData txt;
	uint8		len8;
	uint16		len16;

	initStringInfo(&bin);
	appendBinaryStringInfo(&bin, (const char *) c->id, HCL_ID_LEN);
	hcl_put_be64(&bin, c->issued_at);
	hcl_put_be64(&bin, c->valid_from);
	hcl_put_be64(&bin, c->valid_until);
	appendBinaryStringInfo(&bin, (const char *) c->sig, 64);
	len8 = c->saltlen;
	appendBinaryStringInfo(&bin, (char *) &len8, 1);
	appendBinaryStringInfo(&bin, (const char *) c->salt, c->saltlen);
	len8 = strlen(c->authority);
	appendBinaryStringInfo(&bin, (char *) &len8, 1);
	appendBinaryStringInfo(&bin, c->authority, len8);
	len8 = strlen(c->key_id);
	appendBinaryStringInfo(&bin, (char *) &len8, 1);
	appendBinaryStringInfo(&bin, c->key_id, len8);
	len16 = pg_hton16((uint16) c->claimslen);
	appendBinaryStringInfo(&bin, (char *) &len16, 2);
	appendBinaryStringInfo(&bin, c->claims, c->claimslen);

	initStringInfo(&txt);
	appendStringInfoString(&txt, HCL_CODE_PREFIX);
	hcl_base45_encode((uint8 *) bin.data, bin.len, &txt);
	if (txt.len > HCL_CODE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the health code would be %d characters long, over the limit of %d",
						txt.len, HCL_CODE_MAX),
				 errhint("Record less in the claims.")));
	return cstring_to_text_with_len(txt.data, txt.len);
}

/* A cursor over the payload bytes. */
typedef struct HclReader
{
	const uint8 *p;
	const uint8 *end;
} HclReader;

static bool
hcl_take(HclReader *r, void *dst, size_t n)
{
	if ((size_t) (r->end - r->p) < n)
		return false;
	memcpy(dst, r->p, n);
	r->p += n;
	return true;
}

static bool
hcl_take_be64(HclReader *r, int64 *v)
{
	uint64		be;

	if (!hcl_take(r, &be, 8))
		return false;
	*v = (int64) pg_ntoh64(be);
	return true;
}

/* A length-prefixed name; NULL if it is missing or not a valid line. */
static char *
hcl_take_name(HclReader *r)
{
	uint8		len;
	char	   *s;

	if (!hcl_take(r, &len, 1) || len == 0 || (size_t) (r->end - r->p) < len)
		return NULL;
	s = pnstrdup((const char *) r->p, len);
	if (strlen(s) != len || !hcl_line_ok(s, len) || !pg_verifymbstr(s, len, true))
		return NULL;
	r->p += len;
	return s;
}

/*
 * Decode a payload.  NULL on success, else why it is not a health code
 * (the reason never quotes the payload).
 */
static const char *
hcl_code_decode(text *payload, HclCode *c)
{
	const char *s = VARDATA_ANY(payload);
	size_t		len = VARSIZE_ANY_EXHDR(payload);
	uint8	   *bin;
	int			n;
	HclReader	r;
	uint8		len8;
	uint16		len16;

	memset(c, 0, sizeof(*c));
	if (len > HCL_CODE_MAX)
		return "the payload is longer than 4096 characters";
	if (len < 4 || memcmp(s, "HCL", 3) != 0)
		return "the payload does not start with HCL1:";
	if (len < HCL_CODE_PREFIX_LEN || memcmp(s, HCL_CODE_PREFIX, HCL_CODE_PREFIX_LEN) != 0)
		return "the payload is of an unknown version (only HCL1: is known)";
	bin = palloc(len);
	n = hcl_base45_decode(s + HCL_CODE_PREFIX_LEN, len - HCL_CODE_PREFIX_LEN, bin);
	if (n < 0)
		return "the payload is not valid Base45";
	r.p = bin;
	r.end = bin + n;
	if (!hcl_take(&r, c->id, HCL_ID_LEN) ||
		!hcl_take_be64(&r, &c->issued_at) ||
		!hcl_take_be64(&r, &c->valid_from) ||
		!hcl_take_be64(&r, &c->valid_until) ||
		!hcl_take(&r, c->sig, 64) ||
		!hcl_take(&r, &len8, 1))
		return "the payload is truncated";
	if (len8 < HCL_SALT_LEN || len8 > HCL_SALT_MAX)
		return "the payload's salt is not 16 to 64 bytes";
	c->saltlen = len8;
	if (!hcl_take(&r, c->salt, c->saltlen))
		return "the payload is truncated";
	if ((c->authority = hcl_take_name(&r)) == NULL)
		return "the payload's authority is missing or not a valid name";
	if ((c->key_id = hcl_take_name(&r)) == NULL)
		return "the payload's key id is missing or not a valid name";
	if (!hcl_take(&r, &len16, 2))
		return "the payload is truncated";
	c->claimslen = pg_ntoh16(len16);
	if (c->claimslen == 0 || c->claimslen > HCL_CLAIMS_MAX ||
		(size_t) (r.end - r.p) < (size_t) c->claimslen)
		return "the payload's claims are missing, truncated or too long";
	c->claims = (const char *) r.p;
	r.p += c->claimslen;
	if (r.p != r.end)
		return "the payload has bytes after its claims";
	if (c->issued_at < 0 || c->valid_from < 0 || c->issued_at > HCL_TIME_MAX ||
		c->valid_from > HCL_TIME_MAX || c->valid_until > HCL_TIME_MAX)
		return "the payload's times are out of range";
	if (c->valid_until <= c->valid_from)
		return "the payload's times are not in order";
	return NULL;
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

	for (int i = 0; i < 6; i++)
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
	c.saltlen = HCL_SALT_LEN;
	if (!pg_strong_random(c.id, HCL_ID_LEN) || !pg_strong_random(c.salt, c.saltlen))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not draw random bytes for a health code")));

	hcl_pseudonym(c.authority, document, pseudonym);
	explicit_bzero(document, strlen(document));

	if (!hcl_commitment(&c, commitment))
		elog(ERROR, "hcledger: SHA-256 failed");
	msg = hcl_code_message(c.authority, c.key_id, c.id, c.issued_at, c.valid_from,
						   c.valid_until, commitment);
	hcl_credential_sign((uint8 *) VARDATA(msg), VARSIZE(msg) - VARHDRSZ, c.sig);

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
 *   OUT commitment bytea, OUT signature bytea, OUT message bytea)
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
	Datum		values[10];
	bool		nulls[10];

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "hcledger: code_decode must return a record");
	memset(nulls, true, sizeof(nulls));
	if (PG_ARGISNULL(0))
		problem = "there is no payload (NULL)";
	else
		problem = hcl_code_decode(PG_GETARG_TEXT_PP(0), &c);
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
		values[9] = PointerGetDatum(hcl_code_message(c.authority, c.key_id, c.id, c.issued_at,
													 c.valid_from, c.valid_until, commitment));
		memset(nulls + 1, false, sizeof(bool) * 9);
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
 *   timestamptz, commitment bytea) returns bytea
 */
PG_FUNCTION_INFO_V1(hcl_code_message_sql);
Datum
hcl_code_message_sql(PG_FUNCTION_ARGS)
{
	char	   *authority = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *key_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bytea	   *id = PG_GETARG_BYTEA_PP(2);
	bytea	   *commitment = PG_GETARG_BYTEA_PP(6);

	if (VARSIZE_ANY_EXHDR(id) != HCL_ID_LEN || VARSIZE_ANY_EXHDR(commitment) != 32)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a credential id is 16 bytes and a commitment 32")));
	hcl_check_names(authority, key_id);
	PG_RETURN_BYTEA_P(hcl_code_message(authority, key_id, (uint8 *) VARDATA_ANY(id),
									   hcl_whole_seconds(PG_GETARG_TIMESTAMPTZ(3), "issued_at"),
									   hcl_whole_seconds(PG_GETARG_TIMESTAMPTZ(4), "valid_from"),
									   hcl_whole_seconds(PG_GETARG_TIMESTAMPTZ(5), "valid_until"),
									   (uint8 *) VARDATA_ANY(commitment)));
}

/*
 * SQL function: code_claims(payload text) returns jsonb: the claims a
 * payload carries (what the traveller shows), or an error if it is no
 * health code.  Reads no table.
 */
PG_FUNCTION_INFO_V1(hcl_code_claims);
Datum
hcl_code_claims(PG_FUNCTION_ARGS)
{
	HclCode		c;
	const char *problem = hcl_code_decode(PG_GETARG_TEXT_PP(0), &c);

	if (problem == NULL && !pg_verifymbstr(c.claims, c.claimslen, true))
		problem = "its claims are not valid UTF-8";
	if (problem == NULL)
	{
		/* checked first, so that jsonb_in's messages (which quote) cannot show a claim */
		JsonLexContext *lex = hcl_json_lexer((char *) c.claims, c.claimslen,
											 GetDatabaseEncoding(), true);

		if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
			problem = "its claims are not valid JSON";
	}
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("not a health code: %s", problem)));
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(pnstrdup(c.claims, c.claimslen)));
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
