/* backoff.h - capped exponential backoff with jitter, the one helper every
 * reconnecting module uses so retry behaviour is the same everywhere.
 *
 * Usage: backoff_init() with the configured bounds; on each failure call
 * backoff_next_ms() for the delay before the next attempt; on success call
 * backoff_reset().  Pure: randomness is passed in, so tests are exact. */
#ifndef DS_BACKOFF_H
#define DS_BACKOFF_H

#include <stdint.h>

struct backoff {
	unsigned min_ms;
	unsigned max_ms;
	unsigned attempt;   /* failures since the last reset */
};

void backoff_init(struct backoff *b, unsigned min_ms, unsigned max_ms);
void backoff_reset(struct backoff *b);
/* Delay for the next attempt: the exponential step min*2^attempt capped
 * at max, then "equal jitter" - half fixed, half uniformly random from
 * rnd - so a fleet restarted together does not reconnect in lockstep.
 * Increments attempt. */
unsigned backoff_next_ms(struct backoff *b, uint32_t rnd);
/* Same, drawing rnd from libevent's secure RNG. */
unsigned backoff_next_ms_random(struct backoff *b);

#endif
