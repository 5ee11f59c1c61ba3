/* backoff.c - capped exponential backoff with equal jitter (backoff.h). */
#include "backoff.h"

#include <event2/util.h>

void
backoff_init(struct backoff *b, unsigned min_ms, unsigned max_ms)
{
	b->min_ms = min_ms ? min_ms : 1;
	b->max_ms = max_ms < b->min_ms ? b->min_ms : max_ms;
	b->attempt = 0;
}

void
backoff_reset(struct backoff *b)
{
	b->attempt = 0;
}

unsigned
backoff_next_ms(struct backoff *b, uint32_t rnd)
{
	uint64_t step = b->min_ms;
	unsigned half;

	for (unsigned i = 0; i < b->attempt && step < b->max_ms; i++)
		step *= 2;
	if (step > b->max_ms)
		step = b->max_ms;
	if (b->attempt < 64)
		b->attempt++;
	half = (unsigned)(step / 2);
	return (unsigned)(step - half) + (half ? rnd % (half + 1) : 0);
}

unsigned
backoff_next_ms_random(struct backoff *b)
{
	uint32_t rnd;

	evutil_secure_rng_get_bytes(&rnd, sizeof(rnd));
	return backoff_next_ms(b, rnd);
}
