/*
 * fuzz_base64.c
 *		hcl_b64_decode_strict (src/note.c): checkpoint root hashes and
 *		signature lines, and the leaf of a receipt.
 *
 * Input: two bytes of dstlen (the room the caller gives, 0 to 4095), then
 * the text.  Compared with a reference decoder written here: accepted iff
 * the text is non-empty standard base64 with padding, canonical (zero
 * padding bits, no whitespace), and decodes to at most dstlen bytes; the
 * bytes must match.  The destination is followed by a guard area, checked
 * after the call, because the decoding itself is libpgcommon's
 * pg_b64_decode, which is not built with AddressSanitizer.
 */
#include "postgres_fe.h"

#include "note.h"
#include "fuzz_common.h"

#define GUARD 64

static int
b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Canonical padded base64 into out (room for len * 3 / 4); -1 if not. */
static int
reference_decode(const char *s, size_t len, uint8_t *out)
{
	int			n = 0;

	if (len == 0 || len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4)
	{
		int			v[4];
		int			pad = 0;
		bool		last = i + 4 == len;

		for (int j = 0; j < 4; j++)
		{
			if (s[i + j] == '=' && last && j >= 2)
			{
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[j] = b64val(s[i + j])) < 0)
				return -1;
		}
		if (pad == 1 && (v[2] & 3) != 0)
			return -1;
		if (pad == 2 && (v[1] & 15) != 0)
			return -1;
		out[n++] = (uint8_t) (v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[n++] = (uint8_t) ((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			out[n++] = (uint8_t) ((v[2] & 3) << 6 | v[3]);
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_in		in = {data, size};
	size_t		dstlen = fz_u16(&in) % 4096;
	char	   *src = fz_dup(in.p, in.n);
	size_t		len = in.n;
	uint8_t    *dst = malloc(dstlen + GUARD);
	uint8_t    *ref = malloc(len * 3 / 4 + 1);
	int			n,
				expect;

	memset(dst, 0xA5, dstlen + GUARD);
	n = hcl_b64_decode_strict(src, len, dst, dstlen);
	for (size_t i = dstlen; i < dstlen + GUARD; i++)
		FZ_CHECK(dst[i] == 0xA5);
	expect = reference_decode(src, len, ref);
	if (expect > (int) dstlen)
		expect = -1;
	FZ_CHECK(n == expect);
	if (n > 0)
		FZ_CHECK(memcmp(dst, ref, n) == 0);
	free(ref);
	free(dst);
	free(src);
	shim_reset();
	return 0;
}
