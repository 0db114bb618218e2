-- Delete a schedule. Runs in the {hs:sched} slot.
-- KEYS: due index schedule
-- ARGV: id
-- A tick claimed before the delete is still published. Returns 1 when it existed.
redis.call('ZREM', KEY.due, ARG.id)
redis.call('ZREM', KEY.index, ARG.id)
return redis.call('DEL', KEY.schedule)
