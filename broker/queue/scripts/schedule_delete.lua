-- Delete a schedule. Runs in the {hs:sched} slot.
-- KEYS[1] due zset, KEYS[2] index zset, KEYS[3] schedule hash. ARGV[1] schedule id.
-- A tick claimed before the delete is still published. Returns 1 when it existed.
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[3])
