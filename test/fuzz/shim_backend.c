/*
 * shim_backend.c
 *		The server functions the backend-only sources (hash256.c, codes.c,
 *		consortium.c) call on the paths the harnesses drive: error
 *		reporting, fmgr's detoasting, hex and the wire-format helpers, the
 *		database encoding (UTF-8).  Each follows its PostgreSQL 15
 *		counterpart's behaviour on valid and invalid input.
 *
 * Server functions the harnesses never reach (SPI, catalogs, tuples) are
 * in shim_stubs.c, where each one aborts if it is ever called.
 */
#include "postgres.h"

#include <setjmp.h>
#include <stdarg.h>

#include "common/jsonapi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "pgcompat.h"
#include "pgshim.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/* Use the C library's formatting (intercepted by the sanitizers). */
#undef vsnprintf
#undef snprintf
#undef fprintf

sigjmp_buf *PG_exception_stack = NULL;

/* ---------- ereport / elog ---------- */

static int	shim_elevel;
static int	shim_sqlstate;
static char shim_message[1024];
static char shim_scratch[1024];
static char shim_caught[1024];
static int	shim_caught_sqlstate;

static bool
shim_verbose(void)
{
	static int	verbose = -1;

	if (verbose < 0)
		verbose = getenv("HCL_FUZZ_VERBOSE") != NULL;
	return verbose;
}

bool
errstart(int elevel, const char *domain)
{
	shim_elevel = elevel;
	shim_sqlstate = elevel >= ERROR ? ERRCODE_INTERNAL_ERROR : 0;
	shim_message[0] = '\0';
	/* every message is formatted, so that bad format arguments are seen */
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (shim_verbose())
		fprintf(stderr, "pgshim: elevel %d at %s:%d: %s\n", shim_elevel,
				filename, lineno, shim_message);
	if (shim_elevel < ERROR)
		return;
	if (shim_elevel > ERROR || PG_exception_stack == NULL)
	{
		fprintf(stderr, "pgshim: %s outside shim_try, at %s:%d (%s): %s\n",
				shim_elevel > ERROR ? "FATAL or PANIC" : "ERROR",
				filename, lineno, funcname ? funcname : "?", shim_message);
		abort();
	}
	memcpy(shim_caught, shim_message, sizeof(shim_caught));
	shim_caught_sqlstate = shim_sqlstate;
	siglongjmp(*PG_exception_stack, 1);
}

void
pg_re_throw(void)
{
	if (PG_exception_stack == NULL)
	{
		fprintf(stderr, "pgshim: re-throw outside shim_try\n");
		abort();
	}
	siglongjmp(*PG_exception_stack, 1);
}

int
errcode(int sqlerrcode)
{
	shim_sqlstate = sqlerrcode;
	return 0;
}

#define SHIM_FORMAT(buf, fmt) \
	do { \
		va_list		ap; \
		va_start(ap, fmt); \
		vsnprintf(buf, sizeof(buf), fmt, ap); \
		va_end(ap); \
	} while (0)

int
errmsg(const char *fmt,...)
{
	SHIM_FORMAT(shim_message, fmt);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	SHIM_FORMAT(shim_message, fmt);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	SHIM_FORMAT(shim_scratch, fmt);
	return 0;
}

int
errdetail_internal(const char *fmt,...)
{
	SHIM_FORMAT(shim_scratch, fmt);
	return 0;
}

int
errhint(const char *fmt,...)
{
	SHIM_FORMAT(shim_scratch, fmt);
	return 0;
}

int
errcode_for_file_access(void)
{
	shim_sqlstate = ERRCODE_INTERNAL_ERROR;
	return 0;
}

/* PostgreSQL 16 dropped the errorType argument */
void
#if PG_VERSION_NUM >= 160000
ExceptionalCondition(const char *conditionName, const char *fileName, int lineNumber)
{
	fprintf(stderr, "pgshim: failed Assert(\"%s\") at %s:%d\n", conditionName, fileName, lineNumber);
	abort();
}
#else
ExceptionalCondition(const char *conditionName, const char *errorType,
					 const char *fileName, int lineNumber)
{
	fprintf(stderr, "pgshim: %s(\"%s\") at %s:%d\n", errorType, conditionName,
			fileName, lineNumber);
	abort();
}
#endif

bool
shim_try(void (*fn) (void *), void *arg)
{
	sigjmp_buf	jb;
	sigjmp_buf *volatile save = PG_exception_stack;

	if (sigsetjmp(jb, 0) == 0)
	{
		PG_exception_stack = &jb;
		fn(arg);
		PG_exception_stack = save;
		return true;
	}
	PG_exception_stack = save;
	return false;
}

int
shim_last_sqlstate(void)
{
	return shim_caught_sqlstate;
}

const char *
shim_last_message(void)
{
	return shim_caught;
}

void
shim_alloc_too_large(size_t size)
{
	elog(ERROR, "invalid memory alloc request size %zu", size);
	pg_unreachable();
}

/* ---------- fmgr ---------- */

struct varlena *
pg_detoast_datum_packed(struct varlena *datum)
{
	/* the harnesses pass plain in-line values: 4-byte or 1-byte headers */
	if (VARATT_IS_EXTENDED(datum) && !VARATT_IS_SHORT(datum))
	{
		fprintf(stderr, "pgshim: a toasted or compressed datum\n");
		abort();
	}
	return datum;
}

Datum
DirectFunctionCall1Coll(PGFunction func, Oid collation, Datum arg1)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, collation, NULL, NULL);
	fcinfo->args[0].value = arg1;
	fcinfo->args[0].isnull = false;
	result = (*func) (fcinfo);
	if (fcinfo->isnull)
		elog(ERROR, "function %p returned NULL", (void *) func);
	return result;
}

/* ---------- utils/adt: encode.c, varlena.c ---------- */

static const char shim_hextbl[] = "0123456789abcdef";

uint64
hex_encode(const char *src, size_t len, char *dst)
{
	const char *end = src + len;

	while (src < end)
	{
		*dst++ = shim_hextbl[(*src >> 4) & 0xF];
		*dst++ = shim_hextbl[*src & 0xF];
		src++;
	}
	return (uint64) len * 2;
}

static char
shim_get_hex(const char *cp)
{
	unsigned char c = (unsigned char) *cp;

	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid hexadecimal digit: \"%.*s\"", pg_mblen(cp), cp)));
	return 0;
}

/* PostgreSQL 15's hex_decode: whitespace skipped, an ERROR on anything else. */
uint64
hex_decode(const char *src, size_t len, char *dst)
{
	const char *s = src;
	const char *srcend = src + len;
	char	   *p = dst;

	while (s < srcend)
	{
		char		v1,
					v2;

		if (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		{
			s++;
			continue;
		}
		v1 = shim_get_hex(s) << 4;
		s++;
		if (s >= srcend)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid hexadecimal data: odd number of digits")));
		v2 = shim_get_hex(s);
		s++;
		*p++ = v1 | v2;
	}
	return p - dst;
}

int
pg_mblen(const char *mbstr)
{
	return pg_utf_mblen((const unsigned char *) mbstr);
}

text *
cstring_to_text_with_len(const char *s, int len)
{
	text	   *result = (text *) palloc(len + VARHDRSZ);

	SET_VARSIZE(result, len + VARHDRSZ);
	memcpy(VARDATA(result), s, len);
	return result;
}

text *
cstring_to_text(const char *s)
{
	return cstring_to_text_with_len(s, strlen(s));
}

char *
text_to_cstring(const text *t)
{
	text	   *tunpacked = pg_detoast_datum_packed(unconstify(text *, t));
	int			len = VARSIZE_ANY_EXHDR(tunpacked);
	char	   *result = (char *) palloc(len + 1);

	memcpy(result, VARDATA_ANY(tunpacked), len);
	result[len] = '\0';
	return result;
}

/* ---------- libpq/pqformat.c ---------- */

void
pq_copymsgbytes(StringInfo msg, char *buf, int datalen)
{
	if (datalen < 0 || datalen > (msg->len - msg->cursor))
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("insufficient data left in message")));
	memcpy(buf, &msg->data[msg->cursor], datalen);
	msg->cursor += datalen;
}

void
#if PG_VERSION_NUM >= 160000
pq_sendbytes(StringInfo buf, const void *data, int datalen)
#else
pq_sendbytes(StringInfo buf, const char *data, int datalen)
#endif
{
	appendBinaryStringInfo(buf, data, datalen);
}

void
pq_begintypsend(StringInfo buf)
{
	initStringInfo(buf);
	appendStringInfoCharMacro(buf, '\0');
	appendStringInfoCharMacro(buf, '\0');
	appendStringInfoCharMacro(buf, '\0');
	appendStringInfoCharMacro(buf, '\0');
}

bytea *
pq_endtypsend(StringInfo buf)
{
	bytea	   *result = (bytea *) buf->data;

	Assert(buf->len >= VARHDRSZ);
	SET_VARSIZE(result, buf->len);
	return result;
}

/* ---------- mb/mbutils.c: a UTF-8 database ---------- */

int
GetDatabaseEncoding(void)
{
	return PG_UTF8;
}

bool
pg_verifymbstr(const char *mbstr, int len, bool noError)
{
	if (pg_encoding_verifymbstr(PG_UTF8, mbstr, len) == len)
		return true;
	if (noError)
		return false;
	ereport(ERROR,
			(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
			 errmsg("invalid byte sequence for encoding \"UTF8\"")));
	return false;
}

/*
 * jsonb_in, as code_claims calls it: only after the claims passed
 * pg_parse_json.  The server's jsonb_in parses the same text with the same
 * parser; here it checks that it parses and returns a dummy value.
 */
Datum
jsonb_in(PG_FUNCTION_ARGS)
{
	char	   *json = PG_GETARG_CSTRING(0);
	JsonLexContext *lex = hcl_json_lexer(json, strlen(json), PG_UTF8, true);

	if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type json")));
	PG_RETURN_POINTER(json);
}
