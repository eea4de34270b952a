/*
 * code_payload.c
 *		Decoding a health code's payload and building the message its
 *		authority signed (docs/health-codes.md, "Credential", "Payload",
 *		"Selective disclosure").  Built into the extension and, with
 *		-DFRONTEND, into the offline verifier, so that both read a payload
 *		the same way.  Nothing here reads a table or raises an error: a
 *		payload that is not a health code gets a reason, never quoting it.
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#include "common/string.h"
#include "mb/pg_wchar.h"
#else
#include "postgres.h"
#include "mb/pg_wchar.h"
#endif

#include "port/pg_bswap.h"

#include "code_payload.h"

static const char hcl_sd_context[] = "hcledger-sd/1\n";	/* the digests' prefix */

static const char hcl_b45[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";


/* Valid UTF-8 (the server: in the database's encoding, as text is). */
static bool
hcl_utf8_ok(const char *s, size_t len)
{
#ifdef FRONTEND
	return pg_encoding_verifymbstr(PG_UTF8, s, (int) len) == (int) len;
#else
	return pg_verifymbstr(s, (int) len, true);
#endif
}

static void
hcl_append_hex(StringInfo out, const uint8 *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++)
	{
		appendStringInfoChar(out, digits[b[i] >> 4]);
		appendStringInfoChar(out, digits[b[i] & 0x0F]);
	}
}

bool
hcl_key_name_ok(const char *s, int len)
{
	if (len < 1 || len > HCL_KEY_NAME_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	for (int i = 1; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* ---------- Base45 (RFC 9285) ---------- */

void
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
int
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


/* A name fit for a line of the signed message: 1-255 bytes, no controls. */
bool
hcl_line_ok(const char *s, size_t len)
{
	if (len < 1 || len > 255)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) s[i] < 0x20 || s[i] == 0x7F)
			return false;
	return true;
}

/*
 * The message an authority signs (docs/health-codes.md, "Credential").  Its
 * first line names the algorithm of an SM2 code, so that no signature is
 * read as one over a message of the other algorithm.
 */
void
hcl_code_message_append(StringInfo m, hcl_key_kind alg, bool selective, const char *authority,
						const char *key_id, const uint8 id[HCL_ID_LEN], int64 issued_at,
						int64 valid_from, int64 valid_until, const uint8 commitment[32])
{
	appendStringInfo(m, "%s/%d\n%s\n%s\n",
					 alg == HCL_KEY_KIND_SM2 ? "hcledger-credential-sm2" : "hcledger-credential",
					 selective ? 3 : 1, authority, key_id);
	hcl_append_hex(m, id, HCL_ID_LEN);
	appendStringInfo(m, "\n" INT64_FORMAT "\n" INT64_FORMAT "\n" INT64_FORMAT "\n",
					 issued_at, valid_from, valid_until);
	hcl_append_hex(m, commitment, 32);
	appendStringInfoChar(m, '\n');
}

bool
hcl_commitment(const HclCode *c, uint8 out[32])
{
	/* HCL3: SHA-256("hcledger-sd/1\n" || digests) */
	if (c->selective)
		return hcl_sha256_prefixed((uint8) hcl_sd_context[0], &hcl_sd_context[1], strlen(hcl_sd_context) - 1,
								   c->digests, (size_t) c->ndigests * 32, out);
	/* SHA-256(salt || claims); the salt is never empty */
	return hcl_sha256_prefixed(c->salt[0], c->salt + 1, c->saltlen - 1,
							   c->claims, c->claimslen, out);
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
	if (strlen(s) != len || !hcl_line_ok(s, len) || !hcl_utf8_ok(s, len))
		return NULL;
	r->p += len;
	return s;
}

/*
 * The name a disclosure discloses (salt, then ["name",value] as canonical
 * JSON): its length, with *name pointing at it; 0 if the disclosure is not
 * of that shape.  The value is not checked here (code_claims parses it).
 */
int
hcl_disclosure_name(const uint8 *d, int len, const char **name)
{
	const char *j = (const char *) d + HCL_SALT_LEN;
	int			n = len - HCL_SALT_LEN;
	int			k = 2;

	if (n < 7 || j[0] != '[' || j[1] != '"' || j[n - 1] != ']')
		return 0;
	while (k < n && j[k] != '"')
		k++;
	/* a name, its closing quote and comma, a value of at least one byte, ] */
	if (k + 3 > n - 1 || j[k + 1] != ',' || !hcl_key_name_ok(j + 2, k - 2))
		return 0;
	*name = j + 2;
	return k - 2;
}

/*
 * HCL3:'s claims, after the key id: the digests, ascending, and the
 * disclosures, in ascending order of their names.  NULL on success.  A
 * disclosure whose digest is not among the digests is not a decoding
 * failure but a changed or added claim: c->disclosure_problem says so.
 */
static const char *
hcl_decode_disclosures(HclReader *r, HclCode *c)
{
	uint8		len8;
	uint16		len16;
	const char *prev = NULL;
	int			prevlen = 0;

	if (!hcl_take(r, &len8, 1))
		return "the payload is truncated";
	if (len8 < HCL_SD_DIGEST_STEP || len8 > HCL_SD_DIGESTS_MAX || len8 % HCL_SD_DIGEST_STEP != 0)
		return "the payload's digests are not 8, 16, 24 or 32";
	c->ndigests = len8;
	if ((size_t) (r->end - r->p) < (size_t) c->ndigests * 32)
		return "the payload is truncated";
	c->digests = r->p;
	r->p += c->ndigests * 32;
	for (int i = 1; i < c->ndigests; i++)
		if (memcmp(c->digests + 32 * (i - 1), c->digests + 32 * i, 32) >= 0)
			return "the payload's digests are not in ascending order";
	if (!hcl_take(r, &len8, 1))
		return "the payload is truncated";
	if (len8 >= c->ndigests)
		return "the payload discloses as many claims as it has digests or more";
	c->ndisclosed = len8;
	for (int i = 0; i < c->ndisclosed; i++)
	{
		const char *name;
		int			namelen;
		uint8		digest[32];
		bool		found = false;

		if (!hcl_take(r, &len16, 2))
			return "the payload is truncated";
		c->disclosurelen[i] = pg_ntoh16(len16);
		if (c->disclosurelen[i] < HCL_SD_DISCLOSURE_MIN || c->disclosurelen[i] > HCL_SD_DISCLOSURE_MAX ||
			(size_t) (r->end - r->p) < (size_t) c->disclosurelen[i])
			return "the payload's disclosures are missing, truncated or too long";
		c->disclosures[i] = r->p;
		r->p += c->disclosurelen[i];
		namelen = hcl_disclosure_name(c->disclosures[i], c->disclosurelen[i], &name);
		if (namelen == 0)
			return "a disclosure is not a salt and a [name, value] pair";
		if (prev != NULL)
		{
			int			cmp = memcmp(prev, name, Min(prevlen, namelen));

			if (cmp > 0 || (cmp == 0 && prevlen >= namelen))
				return "the payload's disclosures are not in ascending order of their names";
		}
		prev = name;
		prevlen = namelen;
		if (!hcl_sha256(c->disclosures[i], c->disclosurelen[i], digest))
			return "SHA-256 failed";
		for (int j = 0; j < c->ndigests && !found; j++)
			found = memcmp(digest, c->digests + 32 * j, 32) == 0;
		if (!found && c->disclosure_problem == NULL)
			c->disclosure_problem = "a disclosed claim is not one the authority signed";
	}
	return NULL;
}

/* Why a decoded code's times are not acceptable (NULL: they are). */
const char *
hcl_code_times_problem(const HclCode *c)
{
	if (c->issued_at < 0 || c->valid_from < 0 || c->issued_at > HCL_TIME_MAX ||
		c->valid_from > HCL_TIME_MAX || c->valid_until > HCL_TIME_MAX)
		return "the payload's times are out of range";
	if (c->valid_until <= c->valid_from)
		return "the payload's times are not in order";
	return NULL;
}

/*
 * Decode a payload.  NULL on success, else why it is not a health code
 * (the reason never quotes the payload).
 */
const char *
hcl_code_decode(const char *s, size_t len, HclCode *c)
{
	uint8	   *bin;
	int			n;
	HclReader	r;
	uint8		len8;
	uint16		len16;

	memset(c, 0, sizeof(*c));
	if (len > HCL_CODE_MAX)
		return "the payload is longer than 4096 characters";
	if (len < 4 || memcmp(s, "HCL", 3) != 0)
		return "the payload does not start with HCL1:, HCL2: or HCL3:";
	if (len >= HCL_CODE_PREFIX_LEN && memcmp(s, HCL_CODE_PREFIX, HCL_CODE_PREFIX_LEN) == 0)
		c->alg = HCL_KEY_KIND_P256;
	else if (len >= HCL_CODE_PREFIX_LEN && memcmp(s, HCL_CODE_PREFIX_SM2, HCL_CODE_PREFIX_LEN) == 0)
		c->alg = HCL_KEY_KIND_SM2;
	else if (len >= HCL_CODE_PREFIX_LEN && memcmp(s, HCL_CODE_PREFIX_SD, HCL_CODE_PREFIX_LEN) == 0)
		c->selective = true;
	else
		return "the payload is of an unknown version (only HCL1:, HCL2: and HCL3: are known)";
	bin = palloc(len);
	c->buffer = bin;
	n = hcl_base45_decode(s + HCL_CODE_PREFIX_LEN, len - HCL_CODE_PREFIX_LEN, bin);
	if (n < 0)
		return "the payload is not valid Base45";
	r.p = bin;
	r.end = bin + n;
	if (c->alg == HCL_KEY_KIND_SM2 || c->selective)
	{
		/* HCL2: and HCL3: name their algorithm first; HCL2: is SM2 only */
		if (!hcl_take(&r, &len8, 1))
			return "the payload is truncated";
		if (len8 == HCL_CODE_ALG_SM2)
			c->alg = HCL_KEY_KIND_SM2;
		else if (len8 == HCL_CODE_ALG_ES256 && c->selective)
			c->alg = HCL_KEY_KIND_P256;
		else
			return "the payload's signature algorithm is unknown";
	}
	if (!hcl_take(&r, c->id, HCL_ID_LEN) ||
		!hcl_take_be64(&r, &c->issued_at) ||
		!hcl_take_be64(&r, &c->valid_from) ||
		!hcl_take_be64(&r, &c->valid_until) ||
		!hcl_take(&r, c->sig, 64))
		return "the payload is truncated";
	if (c->selective)
	{
		const char *problem;

		if ((c->authority = hcl_take_name(&r)) == NULL)
			return "the payload's authority is missing or not a valid name";
		if ((c->key_id = hcl_take_name(&r)) == NULL)
			return "the payload's key id is missing or not a valid name";
		if ((problem = hcl_decode_disclosures(&r, c)) != NULL)
			return problem;
		if (r.p != r.end)
			return "the payload has bytes after its claims";
		return hcl_code_times_problem(c);
	}
	if (!hcl_take(&r, &len8, 1))
		return "the payload is truncated";
	if (len8 < HCL_SALT_LEN || len8 > HCL_SALT_MAX)
		return "the payload's salt is not 16 to 64 bytes";
	/* HCL2: fixes the salt, so that no byte moves between salt and claims */
	if (c->alg == HCL_KEY_KIND_SM2 && len8 != HCL_SALT_LEN)
		return "the payload's salt is not 16 bytes (HCL2:)";
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
	return hcl_code_times_problem(c);
}


void
hcl_code_release(HclCode *c)
{
	if (c->buffer != NULL)
		pfree(c->buffer);
	if (c->authority != NULL)
		pfree(c->authority);
	if (c->key_id != NULL)
		pfree(c->key_id);
	c->buffer = NULL;
	c->authority = NULL;
	c->key_id = NULL;
}
