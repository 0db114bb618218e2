-- Store new messages atomically, into their gate when they have one, opening it first.
-- KEYS: gate wait messages...
-- ARGV: gate_kind parallelism rate period_ms messages...
-- ARG.gate_kind is '' (no gate), 'queue' or 'flow', with a flow-control key's limits (see
-- open_gate in partition.lua); the tail is seven values per message (see create_messages).
-- Returns 1 when the caller must add the gate to its index (set_gate), else 0.
local gated, unindexed = ARG.gate_kind ~= '', 0
if gated then
  unindexed = open_gate(KEY.gate, ARG.gate_kind, ARG.parallelism, ARG.rate, ARG.period_ms)
end
create_messages(nil, gated and KEY.wait or nil)
if gated then pump(KEY.gate, KEY.wait) end
return unindexed
