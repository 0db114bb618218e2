-- Restart a failed workflow run (client.dlq.restart): a new run, in the same partition, from
-- the first run's initial body and settings; the dead-lettered step's entry goes with it.
-- KEYS: gate wait run steps members runs old_message messages...
-- ARGV: gated run_id config created_ms step idle_ms stream_id messages...
-- This guard runs in front of workflow_trigger.lua (scripts.py `continues`), which starts
-- the new run: KEY.run, KEY.steps, KEY.members are the new run's (a fresh id, chosen to hash
-- to this partition), ARG.step its first raw step, the tail its first message. The first run
-- stays as it ended. Taking the entry is the guard: a second restart of it finds it gone and
-- starts nothing ({0, ''}); else the trigger's answer, {1, the first message id}.
if redis.call('XDEL', DLQ, ARG.stream_id) == 0 then return {0, ''} end
redis.call('DEL', KEY.old_message)
