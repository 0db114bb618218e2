-- Store new messages atomically.
-- KEYS[5] queue hash, KEYS[6] queue wait list, KEYS[7..] one message hash per message.
-- ARGV[3] '1' to enqueue into that ordered queue, else '0'; ARGV[4..] seven values per message
-- (id, envelope, body, '', not-before ms or 0, delay ms, event header); see create_children.
-- A gate that does not exist (never configured) would hold its messages forever: skip it.
local queued = ARGV[3] == '1' and redis.call('EXISTS', KEYS[5]) == 1
local created = create_children(7, 4, nil, queued and KEYS[6] or nil)
if queued then pump(KEYS[5], KEYS[6]) end
return created
