-- Re-publish a dead-lettered message as a new one and drop the DLQ entry, atomically. A
-- message of an ordered queue goes to the back of that queue when the queue still exists.
-- KEYS[5] queue hash, KEYS[6] queue wait list, KEYS[7] old message hash, KEYS[8] new one.
-- ARGV[3] DLQ stream id, ARGV[4..10] the new message (see create_children in lib.lua).
-- Returns 0 when the DLQ entry is already gone (deleted, retried or expired), else 1.
if redis.call('XDEL', DLQ, ARGV[3]) == 0 then return 0 end
redis.call('DEL', KEYS[7])
local queued = redis.call('EXISTS', KEYS[5]) == 1
create_children(8, 4, nil, queued and KEYS[6] or nil)
if queued then pump(KEYS[5], KEYS[6]) end
return 1
