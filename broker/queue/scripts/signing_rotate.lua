-- Rotate the signing keys: current <- next, and a fresh next, in one step so that two
-- rotations never interleave. Runs in the {hs:global} slot.
-- KEYS: signing_keys
-- ARGV: fresh
-- Returns {new current, new next}.
local next_key = redis.call('HGET', KEY.signing_keys, 'next')
redis.call('HSET', KEY.signing_keys, 'current', next_key, 'next', ARG.fresh)
return {next_key, ARG.fresh}
