-- Store the messages of several requests (the items of one batch that share this partition)
-- in one step: each request into its gate when it has one (opened first), and at most once
-- per its deduplication key, as publish.lua and publish_once.lua do for a single request.
-- KEYS: requests...
-- ARGV: requests...
-- Per request, KEYS: gate, wait, dedup, then one key per message; ARGV: gate_kind, parallelism,
-- rate, period_ms (as in publish.lua), window_ms (0: not deduplicated), answer (what a later
-- duplicate gets), the message count, then seven values per message (see create_messages in
-- partition.lua; no body suffix here).
-- Returns {per request the earlier answer when it was a duplicate, else false; per request
-- 1 when the caller must add its gate to the index, else 0}.
-- All or nothing: what makes Redis refuse a write (OOM, READONLY) refuses the script's first
-- write, before anything is stored; nothing after it can fail on keys of these types.
local replies, unindexed = {}, {}
local k, a = KEY_TAIL, ARG_TAIL
while ARGV[a] do
  local gate, wait, dedup = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local kind, window, count = ARGV[a], tonumber(ARGV[a + 4]), tonumber(ARGV[a + 6])
  local gated = kind ~= ''
  unindexed[#unindexed + 1] = gated and open_gate(gate, kind, ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]) or 0
  local earlier = window > 0 and redis.call('GET', dedup)
  if earlier then
    replies[#replies + 1] = earlier
  else
    for i = 0, count - 1 do
      local at = a + 7 + i * 7
      create_message(KEYS[k + 3 + i], ARGV[at], ARGV[at + 1], ARGV[at + 2],
        tonumber(ARGV[at + 4]), tonumber(ARGV[at + 5]), ARGV[at + 6], gated and wait or nil)
    end
    if gated then pump(gate, wait) end
    if window > 0 then redis.call('SET', dedup, ARGV[a + 5], 'PX', window) end
    replies[#replies + 1] = false
  end
  k = k + 3 + count
  a = a + 7 + count * 7
end
return {replies, unindexed}
