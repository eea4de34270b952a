/*
 * fuzz_base45.c
 *		Base45 (RFC 9285), src/codes.c: hcl_base45_decode, the first step
 *		of decoding a health-code payload (backend code, #included for its
 *		static functions).
 *
 * The input is the Base45 text (what follows "HCL1:").  The output buffer
 * is exactly len * 2 / 3 bytes, the room the function's comment asks for.
 * Checks: the decoded length is within it, and re-encoding with
 * hcl_base45_encode gives back exactly the input (RFC 9285 has one
 * spelling per byte string); and that the decoder accepts exactly what a
 * reference check written here accepts.
 */
#include "../../src/code_payload.c"
#include "../../src/codes.c"

#include "fuzz_common.h"

/* RFC 9285: groups of 3 (value <= 65535) and a final 2 (value <= 255). */
static bool
reference_valid(const uint8_t *s, size_t len)
{
	if (len % 3 == 1)
		return false;
	for (size_t i = 0; i < len; i += 3)
	{
		size_t		g = len - i >= 3 ? 3 : 2;
		uint32		v = 0,
					mul = 1;

		for (size_t j = 0; j < g; j++)
		{
			const char *p = s[i + j] != '\0' ? memchr(hcl_b45, s[i + j], 45) : NULL;

			if (p == NULL)
				return false;
			v += (uint32) (p - hcl_b45) * mul;
			mul *= 45;
		}
		if (v > (g == 3 ? 0xFFFFu : 0xFFu))
			return false;
	}
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *in = fz_dup(data, size);
	size_t		room = size * 2 / 3;
	uint8	   *out = fz_dup("", room);
	int			n = hcl_base45_decode(in, size, out);

	FZ_CHECK(n >= -1);
	FZ_CHECK((n >= 0) == reference_valid(data, size));
	if (n >= 0)
	{
		StringInfoData again;

		FZ_CHECK((size_t) n <= room);
		initStringInfo(&again);
		hcl_base45_encode(out, (size_t) n, &again);
		FZ_CHECK((size_t) again.len == size && memcmp(again.data, data, size) == 0);
	}
	free(out);
	free(in);
	shim_reset();
	return 0;
}
