-- Re-publish a dead-lettered message as a new one and drop the DLQ entry, atomically.
-- KEYS[5] old message hash, KEYS[6] new message hash.
-- ARGV[3] DLQ id, ARGV[4..10] the new message (see create_children in lib.lua).
-- Returns 0 when the DLQ entry is already gone (deleted, retried or expired), else 1.
if redis.call('XDEL', DLQ, ARGV[3]) == 0 then return 0 end
redis.call('DEL', KEYS[5])
create_children(6, 4, nil)
return 1
