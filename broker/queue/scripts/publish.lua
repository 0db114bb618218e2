-- Store new messages atomically, into their gate when they have one.
-- KEYS: gate wait messages...
-- ARGV: gated messages...
-- ARG.gated is '1' to pass the gate (an ordered queue or a flow-control key), else '0'; the
-- tail is seven values per message (see create_messages in partition.lua).
-- A gate that does not exist (never configured) would hold its messages forever: skip it.
local gated = ARG.gated == '1' and redis.call('EXISTS', KEY.gate) == 1
local created = create_messages(nil, gated and KEY.wait or nil)
if gated then pump(KEY.gate, KEY.wait) end
return created
