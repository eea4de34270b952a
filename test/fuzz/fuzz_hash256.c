/*
 * fuzz_hash256.c
 *		The hash256 type's outside input, in src/hash256.c (backend code,
 *		linked with the shim): the text form (hash256_in), the binary form
 *		(hash256_recv) and the cast from bytea (hash256_from_bytea).
 *
 * The input is used three ways: as the cstring hash256_in receives (up to
 * its first NUL), as the message hash256_recv reads, and as a bytea.
 * Besides crashes and sanitizer reports, checks that hash256_in accepts
 * exactly the documented form ("\x" optional, then 64 hex digits of either
 * case), decodes it right, and that hash256_out gives it back in lower
 * case; that recv and the cast accept exactly 32 bytes.
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "lib/stringinfo.h"

#include "hash256.h"
#include "fuzz_common.h"

extern Datum hash256_in(PG_FUNCTION_ARGS);
extern Datum hash256_out(PG_FUNCTION_ARGS);
extern Datum hash256_recv(PG_FUNCTION_ARGS);
extern Datum hash256_send(PG_FUNCTION_ARGS);
extern Datum hash256_cmp(PG_FUNCTION_ARGS);
extern Datum hash256_from_bytea(PG_FUNCTION_ARGS);
extern Datum hash256_to_bytea(PG_FUNCTION_ARGS);

static Datum
call(PGFunction fn, int nargs, Datum a0, Datum a1)
{
	LOCAL_FCINFO(fcinfo, 2);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, nargs, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = a0;
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = a1;
	fcinfo->args[1].isnull = false;
	result = fn(fcinfo);
	FZ_CHECK(!fcinfo->isnull);
	return result;
}

typedef struct Call
{
	PGFunction	fn;
	Datum		arg;
	Datum		result;
} Call;

static void
do_call(void *arg)
{
	Call	   *c = arg;

	c->result = call(c->fn, 1, c->arg, 0);
}

static bool
try_call(PGFunction fn, Datum arg, Datum *result)
{
	Call		c = {fn, arg, 0};
	bool		ok = shim_try(do_call, &c);

	*result = c.result;
	return ok;
}

static int
hexval(char c)
{
	return isdigit((unsigned char) c) ? c - '0' : tolower((unsigned char) c) - 'a' + 10;
}

static void
check_text(const uint8_t *data, size_t size)
{
	char	   *str = fz_strdup(data, size);
	const char *body = str;
	bool		expect;
	Datum		d;
	bool		ok;

	/* what hash256_in is documented to accept */
	if (body[0] == '\\' && body[1] == 'x')
		body += 2;
	expect = strlen(body) == 2 * HCL_HASH_LEN;
	for (size_t i = 0; expect && i < 2 * HCL_HASH_LEN; i++)
		expect = isxdigit((unsigned char) body[i]);

	ok = try_call(hash256_in, CStringGetDatum(str), &d);
	FZ_CHECK(ok == expect);
	if (ok)
	{
		Hash256    *h = DatumGetHash256P(d);
		char	   *out;
		Datum		again;

		for (int i = 0; i < HCL_HASH_LEN; i++)
			FZ_CHECK(h->data[i] == (hexval(body[2 * i]) << 4 | hexval(body[2 * i + 1])));
		out = DatumGetCString(call(hash256_out, 1, d, 0));
		FZ_CHECK(strlen(out) == 2 * HCL_HASH_LEN);
		for (int i = 0; i < 2 * HCL_HASH_LEN; i++)
			FZ_CHECK(out[i] == tolower((unsigned char) body[i]));
		FZ_CHECK(try_call(hash256_in, CStringGetDatum(out), &again));
		FZ_CHECK(DatumGetInt32(call(hash256_cmp, 2, d, again)) == 0);
	}
	free(str);
}

static void
check_recv(const uint8_t *data, size_t size)
{
	StringInfoData buf;
	Datum		d;
	bool		ok;

	/* as the server hands a message to a receive function: NUL after it */
	buf.data = fz_strdup(data, size);
	buf.len = (int) size;
	buf.maxlen = (int) size + 1;
	buf.cursor = 0;
	ok = try_call(hash256_recv, PointerGetDatum(&buf), &d);
	FZ_CHECK(ok == (size == HCL_HASH_LEN));
	if (ok)
	{
		bytea	   *sent = DatumGetByteaPP(call(hash256_send, 1, d, 0));

		FZ_CHECK(buf.cursor == buf.len);
		FZ_CHECK(VARSIZE_ANY_EXHDR(sent) == HCL_HASH_LEN);
		FZ_CHECK(memcmp(VARDATA_ANY(sent), data, HCL_HASH_LEN) == 0);
	}
	free(buf.data);
}

static void
check_bytea(const uint8_t *data, size_t size, bool short_header)
{
	bytea	   *b;
	Datum		d;
	bool		ok;

	if (short_header)
	{
		if (size > VARATT_SHORT_MAX - VARHDRSZ_SHORT)
			return;
		b = palloc(VARHDRSZ_SHORT + size);
		SET_VARSIZE_SHORT(b, VARHDRSZ_SHORT + size);
	}
	else
	{
		b = palloc(VARHDRSZ + size);
		SET_VARSIZE(b, VARHDRSZ + size);
	}
	memcpy(VARDATA_ANY(b), data, size);
	ok = try_call(hash256_from_bytea, PointerGetDatum(b), &d);
	FZ_CHECK(ok == (size == HCL_HASH_LEN));
	if (ok)
	{
		bytea	   *back = DatumGetByteaPP(call(hash256_to_bytea, 1, d, 0));

		FZ_CHECK(VARSIZE_ANY_EXHDR(back) == HCL_HASH_LEN);
		FZ_CHECK(memcmp(VARDATA_ANY(back), data, HCL_HASH_LEN) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_text(data, size);
	check_recv(data, size);
	check_bytea(data, size, false);
	check_bytea(data, size, true);
	shim_reset();
	return 0;
}
