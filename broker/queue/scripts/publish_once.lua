-- Publish unless this deduplication key was seen within the window.
-- KEYS: gate wait dedup messages...
-- ARGV: gate_kind parallelism rate period_ms window_ms answer messages...
-- The gate and the tail are as in publish.lua; ARG.answer is what to remember (JSON). The
-- gate is opened (its limits taken) even for a duplicate, whose messages are not written.
-- Returns {the earlier answer for a duplicate, else false; 1 when the caller must add the
-- gate to its index, else 0}.
local gated, unindexed = ARG.gate_kind ~= '', 0
if gated then
  unindexed = open_gate(KEY.gate, ARG.gate_kind, ARG.parallelism, ARG.rate, ARG.period_ms)
end
local earlier = redis.call('GET', KEY.dedup)
if earlier then return {earlier, unindexed} end
create_messages(nil, gated and KEY.wait or nil)
if gated then pump(KEY.gate, KEY.wait) end
redis.call('SET', KEY.dedup, ARG.answer, 'PX', ARG.window_ms)
return {false, unindexed}
