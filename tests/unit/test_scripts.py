"""Each Lua script's header names exactly the KEYS and ARGV its declaration binds."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from broker.queue import scripts
from broker.queue.keys import DELAYED_HEAD_CHANNEL

FOLDER = resources.files("broker.queue") / "scripts"
PRELUDES = {"core.lua", "partition.lua"}


def _header(name: str, kind: str) -> str:
    text = (FOLDER / f"{name}.lua").read_text()
    match = re.search(rf"^-- {kind}:(.*)$", text, re.MULTILINE)
    assert match, f"{name}.lua has no '-- {kind}:' line"
    return match.group(1).strip()


@pytest.mark.parametrize("script", scripts.ALL, ids=lambda s: s.name)
def test_header_matches_the_declaration(script: scripts.Script) -> None:
    """The `-- KEYS:` and `-- ARGV:` lines say word for word what the declaration binds."""
    assert (_header(script.name, "KEYS"), _header(script.name, "ARGV")) == (
        script.keys,
        script.args,
    )


def test_every_script_file_is_declared_once() -> None:
    """No .lua file is left out of the loader, and no two declarations share a file."""
    files = {p.name for p in FOLDER.iterdir() if p.name.endswith(".lua")} - PRELUDES
    declared = [f"{s.name}.lua" for s in scripts.ALL]
    assert sorted(declared) == sorted(files)


@pytest.mark.parametrize("script", scripts.ALL, ids=lambda s: s.name)
def test_body_reads_only_declared_names(script: scripts.Script) -> None:
    """Every KEY.x and ARG.x a script's body reads is one its declaration binds."""
    body = (FOLDER / f"{script.name}.lua").read_text()
    assert set(re.findall(r"\bKEY\.(\w+)", body)) <= set(script.key_names)
    assert set(re.findall(r"\bARG\.(\w+)", body)) <= set(script.arg_names)


def test_bindings_number_keys_and_args_in_declaration_order() -> None:
    """The generated prelude puts the partition's keys first and the tail after the rest."""
    bindings = scripts.SETTLE_RETRY.source().split("\n", 3)[:3]
    assert bindings[0].startswith("local KEY = {ready = KEYS[1], delayed = KEYS[2]")
    assert "gate = KEYS[5], wait = KEYS[6], message = KEYS[7]}" in bindings[0]
    assert "consumer = ARGV[3], entry_id = ARGV[4]" in bindings[1]
    assert bindings[2] == "local KEY_TAIL, ARG_TAIL = 8, 9"


def test_binding_refuses_a_wrong_or_missing_name() -> None:
    """A caller that names a key or argument the script does not declare fails at once."""
    with pytest.raises(TypeError, match="cancel"):
        scripts.CANCEL.bind({"gate": "g", "wait": "w", "msg": "m"}, {"message_id": "x"})
    with pytest.raises(TypeError, match="cancel"):
        scripts.CANCEL.bind({"gate": "g", "wait": "w", "message": "m"}, {})
    keys, args = scripts.CANCEL.bind({"gate": "g", "wait": "w", "message": "m"}, {"message_id": 7})
    assert (keys, args) == (["g", "w", "m"], [7])


def test_delayed_head_channel_is_the_one_workers_subscribe_to() -> None:
    """partition.lua announces new delayed heads on the channel keys.py names (Lua cannot
    import it): a rename on one side only would silently stop every wake-up."""
    prelude = (resources.files("broker.queue") / "scripts" / "partition.lua").read_text()
    assert f"local WAKE_CHANNEL = '{DELAYED_HEAD_CHANNEL}'" in prelude


def _prelude_names() -> set[str]:
    """Every local name the preludes define."""
    text = "".join((FOLDER / name).read_text() for name in sorted(PRELUDES))
    functions = re.findall(r"^local function (\w+)", text, re.MULTILINE)
    values = re.findall(r"^local ([\w ,]+?)\s*=", text, re.MULTILINE)
    return {*functions, *(n.strip() for group in values for n in group.split(","))}


def _forms(script: scripts.Script) -> list[str]:
    return [script.source(), *([script.batch_source()] if script.partition else [])]


@pytest.mark.parametrize("script", scripts.ALL, ids=lambda s: s.name)
def test_every_prelude_name_a_script_uses_is_defined_in_it(script: scripts.Script) -> None:
    """A script carries only the prelude definitions it uses; one it uses but lacks would be
    a nil global, an error only when that branch runs."""
    for source in _forms(script):
        defined = set(re.findall(r"^local function (\w+)", source, re.MULTILINE))
        for group in re.findall(r"^local ([\w ,]+?)\s*=", source, re.MULTILINE):
            defined |= {name.strip() for name in group.split(",")}
        used = set(re.findall(r"[A-Za-z_]\w*", source)) & _prelude_names()
        assert used <= defined, f"{script.name}: {sorted(used - defined)}"


def test_a_script_leaves_out_the_prelude_it_does_not_use() -> None:
    """The settle of a delivery needs no workflow or cancel step, a schedule script nothing of
    a partition, and a publish no settle; what they do use is there, in prelude order."""
    settle = scripts.SETTLE_DELIVERED.batch_source()
    assert "local function end_run" not in settle
    assert "local function finish_cancelled" not in settle
    assert settle.index("local function add_event") < settle.index("local function ack")
    assert "local READY" not in scripts.SCHEDULE_CLAIM.source()
    assert "local function now_ms" in scripts.SCHEDULE_CLAIM.source()
    publish = scripts.PUBLISH.source()
    assert "local function settle_attempt" not in publish
    assert "local function create_messages" in publish
