-- Create or change a gate (an ordered queue or a flow-control key), then admit what its new
-- settings allow.
-- KEYS: gate wait
-- ARGV: parallelism paused create_only rate period_ms from_message
-- ARG.paused is '1'/'0'; ARG.create_only '1' only creates a missing gate; ARG.from_message '1'
-- when the settings come with a message (a delayed flow-controlled message entering its
-- gate): then a pinned parallelism or rate is left alone. An empty value keeps the current
-- one. Returns set_gate's `unindexed` (partition.lua): 1 while the caller must index the gate.
local unindexed = set_gate(KEY.gate, ARG.parallelism, ARG.paused, ARG.create_only == '1',
  ARG.rate, ARG.period_ms, ARG.from_message == '1')
pump(KEY.gate, KEY.wait)
return unindexed
