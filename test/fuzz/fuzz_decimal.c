/*
 * fuzz_decimal.c
 *		hcl_parse_decimal (src/note.c): the tree size and hcledger-time of
 *		a checkpoint, and every count in a receipt.
 *
 * Compared with a reference: accepted iff 1 to 19 ASCII digits, no leading
 * zero (but "0" itself), value at most INT64_MAX; the value must match.
 * The input is passed with its exact length (no NUL after it).
 */
#include "postgres_fe.h"

#include "note.h"
#include "fuzz_common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = fz_dup(data, size);
	int64_t		got = -1;
	bool		ok = hcl_parse_decimal(s, size, &got);
	bool		expect = size >= 1 && size <= 19 && !(size > 1 && s[0] == '0');
	unsigned __int128 v = 0;

	for (size_t i = 0; expect && i < size; i++)
	{
		expect = s[i] >= '0' && s[i] <= '9';
		v = v * 10 + (unsigned) (s[i] - '0');
	}
	if (expect && v > INT64_MAX)
		expect = false;
	FZ_CHECK(ok == expect);
	if (ok)
		FZ_CHECK((unsigned __int128) got == v);
	free(s);
	return 0;
}
