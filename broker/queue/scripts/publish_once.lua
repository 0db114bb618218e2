-- Publish unless this deduplication key was seen within the window.
-- KEYS[5] queue hash, KEYS[6] queue wait list, KEYS[7] dedup key, KEYS[8..] message hashes.
-- ARGV[3] '1' to enqueue into that ordered queue, ARGV[4] window ms, ARGV[5] the answer to
-- remember (JSON), ARGV[6..] the messages (seven values each, see create_children).
-- Returns the earlier answer for a duplicate (nothing is written), else nil.
local earlier = redis.call('GET', KEYS[7])
if earlier then return earlier end
-- A gate that does not exist (never configured) would hold its messages forever: skip it.
local queued = ARGV[3] == '1' and redis.call('EXISTS', KEYS[5]) == 1
create_children(8, 6, nil, queued and KEYS[6] or nil)
if queued then pump(KEYS[5], KEYS[6]) end
redis.call('SET', KEYS[7], ARGV[5], 'PX', ARGV[4])
return false
