-- Create or change an ordered queue, then admit what its new settings allow.
-- KEYS[5] queue hash, KEYS[6] queue wait list.
-- ARGV[3] parallelism ('' = keep, default 1), ARGV[4] paused ('1', '0', '' = keep),
-- ARGV[5] '1' to only create a missing queue (enqueue's auto-create), else '0'.
-- Returns 1 when the queue was created.
local now = now_ms()
local created = redis.call('HSETNX', KEYS[5], 'createdAt', now)
if created == 0 and ARGV[5] == '1' then return 0 end
redis.call('HSETNX', KEYS[5], 'parallelism', 1)
redis.call('HSETNX', KEYS[5], 'paused', 0)
redis.call('HSETNX', KEYS[5], 'active', 0)
if ARGV[3] ~= '' then redis.call('HSET', KEYS[5], 'parallelism', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[5], 'paused', ARGV[4]) end
redis.call('HSET', KEYS[5], 'updatedAt', now)
pump(KEYS[5], KEYS[6])
return created
