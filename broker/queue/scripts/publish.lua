-- Store new messages atomically.
-- KEYS[5..]: one message hash per message.  ARGV[3..]: seven values per message
-- (id, envelope, body, '', not-before ms or 0, delay ms, event header); see create_children in lib.lua.
return create_children(5, 3, nil)
