-- Publish unless this deduplication key was seen within the window.
-- KEYS: gate wait dedup messages...
-- ARGV: gated window_ms answer messages...
-- ARG.answer is what to remember (JSON); the tail is as in publish.lua. Returns the earlier
-- answer for a duplicate (nothing is written), else nil.
local earlier = redis.call('GET', KEY.dedup)
if earlier then return earlier end
-- A gate that does not exist (never configured) would hold its messages forever: skip it.
local gated = ARG.gated == '1' and redis.call('EXISTS', KEY.gate) == 1
create_messages(nil, gated and KEY.wait or nil)
if gated then pump(KEY.gate, KEY.wait) end
redis.call('SET', KEY.dedup, ARG.answer, 'PX', ARG.window_ms)
return false
