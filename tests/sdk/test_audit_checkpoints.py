"""Signed checkpoints of the audit log and the tamper diagnosis (rule article 17).

Every test runs on SQLite and PostgreSQL (the ``workspace`` fixture) and tampers with the
database directly, as an attacker with write access but without the seal key would. The
checkpoint PDFs are checked by poppler's ``pdfsig`` and read by ``pdfinfo``, which share no code
with bdcert.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, delete, insert, select, update

from bdcert.audit import AUTOMATIC, ChainLink, diagnose_chain
from bdcert.errors import PermissionDenied, SealingError
from bdcert.lifecycle import Registry
from bdcert_plugins.storage_sql.checkpoints import AUDIT_CHECKPOINT_COUNTER
from bdcert_plugins.storage_sql.codec import audit_hash, audit_payload, canonical_json
from bdcert_plugins.storage_sql.schema import (
    AUDIT_COUNTER,
    audit_checkpoints,
    audit_events,
    sequences,
)
from tests.support import AUTHORITIES, make_workspace, raw_database, run_cli

CHENGDU_1 = "川(2024)成都市不动产权第0000001号"


def _configure(ws: Any, text: str) -> None:
    config = ws.path / "bdcert.toml"
    config.write_text(config.read_text(encoding="utf-8") + f"\n{text}\n", encoding="utf-8")


@pytest.fixture
def ws(workspace: Any) -> Any:
    """The demo workspace with automatic checkpoints off (each test makes its own)."""
    _configure(workspace, "[audit]\ncheckpoint_every = 0")
    return workspace


@contextmanager
def _registry(ws: Any) -> Iterator[Registry]:
    with Registry.open(ws.path) as registry:
        yield registry


def _push(ws: Any, timeline: list[dict[str, Any]], *lines: int) -> None:
    with _registry(ws) as registry:
        platform = registry.authenticate({"operator": "platform"})
        for line in lines:
            registry.push(timeline[line], principal=platform)


def _checkpoint(ws: Any) -> Any:
    with _registry(ws) as registry:
        return registry.checkpoint_audit(principal=registry.authenticate({"operator": "platform"}))


def _verify(ws: Any, copies: tuple[tuple[str, bytes], ...] = ()) -> list[str]:
    with _registry(ws) as registry:
        auditor = registry.authenticate({"operator": "auditor"})
        return registry.verify_audit(principal=auditor, checkpoints=copies)


def _rows(conn: Connection) -> list[Any]:
    return list(conn.execute(select(audit_events).order_by(audit_events.c.id)))


def _set_counter(conn: Connection, key: tuple[str, int, str], value: int) -> None:
    conn.execute(
        update(sequences)
        .where(
            sequences.c.authority == key[0], sequences.c.year == key[1], sequences.c.kind == key[2]
        )
        .values(last_value=value)
    )


def _rehash(row: Any, prev_hash: str, **changes: Any) -> dict[str, Any]:
    """A row's values with ``changes`` applied and its hash recomputed after ``prev_hash``."""
    values = {**row._asdict(), **changes, "prev_hash": prev_hash}
    payload = audit_payload(
        values["action"],
        values["actor"],
        values["subject"],
        values["at"],
        json.loads(values["details"]),
    )
    return {**values, "hash": audit_hash(prev_hash, payload)}


def _rewrite_from(conn: Connection, first: int, **changes: Any) -> None:
    """Edit event ``first`` and recompute every hash from there on: a consistent forged chain."""
    rows = _rows(conn)
    prev_hash = next(r.hash for r in rows if r.id == first - 1) if first > 1 else "0" * 64
    for row in rows:
        if row.id < first:
            continue
        values = _rehash(row, prev_hash, **(changes if row.id == first else {}))
        conn.execute(update(audit_events).where(audit_events.c.id == row.id).values(values))
        prev_hash = values["hash"]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} (poppler-utils) is not installed")
    return path


# -------------------------------------------------------------------------- making checkpoints


def test_a_checkpoint_is_a_sealed_pdf_that_independent_tools_check(
    ws: Any, timeline: list[dict[str, Any]], tmp_path: Path
) -> None:
    _push(ws, timeline, 0, 1)
    made = _checkpoint(ws)
    with raw_database(ws) as conn:
        last = _rows(conn)[-1]
    assert made.number == 1 and made.made_by == "platform" and made.authority_code == "510100"
    assert (made.event_id, made.event_hash) == (last.id - 1, _rows_hash(ws, last.id - 1))
    assert last.action == "checkpoint"  # its making is logged after the event it seals
    assert json.loads(last.details)["pdf_sha256"] == made.pdf_sha256
    file = tmp_path / "checkpoint.pdf"
    file.write_bytes(made.pdf)
    report = subprocess.run(
        [_tool("pdfsig"), "-nocert", str(file)], capture_output=True, text=True, check=False
    ).stdout
    # the seal, then (PAdES B-LTA, the default level) the document timestamp covering it all
    seal, *stamps = report.split("Signature #")[1:]
    assert "ETSI.CAdES.detached" in seal and "Signature is Valid" in seal, report
    assert len(stamps) == 1 and "Total document signed" in stamps[0], report
    info = subprocess.run(
        [_tool("pdfinfo"), str(file)], capture_output=True, text=True, check=True
    ).stdout
    subject = re.search(r"(?m)^Subject:\s+(\{.*\})$", info)
    assert subject is not None, info
    stated = json.loads(subject[1])
    assert stated["event_id"] == made.event_id and stated["event_hash"] == made.event_hash
    assert stated["number"] == 1 and stated["prev_sha256"] == "0" * 64
    assert _verify(ws) == []
    second = _checkpoint(ws)
    assert second.number == 2 and second.prev_sha256 == made.pdf_sha256
    assert second.event_id == made.event_id + 1  # the first checkpoint's own event
    assert _verify(ws) == []


def _rows_hash(ws: Any, event_id: int) -> str:
    with raw_database(ws) as conn:
        return str(next(r.hash for r in _rows(conn) if r.id == event_id))


def test_only_the_platform_makes_checkpoints_and_an_empty_log_has_none(ws: Any) -> None:
    with _registry(ws) as registry:
        auditor = registry.authenticate({"operator": "auditor"})
        with pytest.raises(PermissionDenied):
            registry.checkpoint_audit(principal=auditor)
        (denial,) = registry.audit_log(principal=auditor, actor="auditor")
        assert denial.action == "deny"
        assert registry.audit_checkpoints(principal=auditor) == []


def test_checkpoints_are_made_automatically_and_a_failing_seal_never_fails_a_push(
    workspace: Any, timeline: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    _configure(workspace, '[audit]\ncheckpoint_every = 3\nauthority = "510700"')
    _push(workspace, timeline, 0, 1, 2, 3)  # 5 issue events
    with _registry(workspace) as registry:
        auditor = registry.authenticate({"operator": "auditor"})
        made = registry.audit_checkpoints(principal=auditor)
        assert [c.number for c in made] == [1]
        assert made[0].made_by == AUTOMATIC and made[0].authority_code == "510700"
        assert made[0].event_id == 4  # due after the push that made it 4 events unsealed

        class Broken:
            name = "broken"

            def seal_pdf(self, pdf: bytes, request: Any) -> bytes:
                raise SealingError("the HSM is unplugged")

        working = registry.checkpointer.seal_provider
        registry.checkpointer.seal_provider = Broken()  # type: ignore[assignment]
        platform = registry.authenticate({"operator": "platform"})
        with caplog.at_level(logging.ERROR, logger="bdcert.audit"):
            for line in (4, 5, 6):
                assert registry.push(timeline[line], principal=platform).numbers
        assert "could not make the automatic audit checkpoint" in caplog.text
        assert len(registry.audit_checkpoints(principal=auditor)) == 1
        registry.checkpointer.seal_provider = working
        registry.push(timeline[7], principal=platform)  # the next opportunity catches up
        made = registry.audit_checkpoints(principal=auditor)
        assert [c.number for c in made] == [1, 2]
        with registry.storage.transaction() as tx:
            head = tx.audit_head()
            assert head is not None and made[1].event_id == head[0] - 1
            assert tx.uncheckpointed_audit_events() < 3
        logged = [e for e in registry.audit_log(principal=auditor) if e.action == "checkpoint"]
        assert [e.details["number"] for e in logged] == [1, 2]
        assert all(e.details["automatic"] for e in logged)
        assert registry.verify_audit(principal=auditor) == []


def test_checkpoints_work_with_sm2_seals(workspace: Any, timeline: list[dict[str, Any]]) -> None:
    url = workspace.table("storage")["url"]
    from bdcert_adapters.cli import main

    directory = workspace.path
    code = main(
        [
            "init",
            "--demo",
            "--algorithm",
            "sm2",
            "--force",
            "--workspace",
            str(directory),
            "--authorities",
            str(AUTHORITIES),
        ]
    )
    assert code == 0
    config = directory / "bdcert.toml"
    config.write_text(
        re.sub(r'(?m)^url = ".*"$', f'url = "{url}"', config.read_text(encoding="utf-8")),
        encoding="utf-8",
    )
    _push(workspace, timeline, 0)
    made = _checkpoint(workspace)
    assert _verify(workspace) == []
    with raw_database(workspace) as conn:
        forged = bytearray(made.pdf)
        at = forged.index(b"/Contents <") + 40  # inside the SM2 signature value
        forged[at : at + 2] = b"00" if forged[at : at + 2] != b"00" else b"11"
        conn.execute(update(audit_checkpoints).values(pdf=bytes(forged)))
    assert any("audit checkpoint #1: its seal fails" in p for p in _verify(workspace))


# -------------------------------------------------------------------------- records tampered with


def test_an_edited_record_is_named(ws: Any, timeline: list[dict[str, Any]]) -> None:
    _push(ws, timeline, 0, 1, 2)
    with raw_database(ws) as conn:
        conn.execute(update(audit_events).where(audit_events.c.id == 2).values(actor="mallory"))
    assert _verify(ws) == ["audit event 2: edited: its content does not match its hash"]


def test_a_record_edited_with_its_hash_recomputed_breaks_the_next_link(
    ws: Any, timeline: list[dict[str, Any]]
) -> None:
    _push(ws, timeline, 0, 1, 2)
    with raw_database(ws) as conn:
        (row,) = [r for r in _rows(conn) if r.id == 2]
        forged = _rehash(row, row.prev_hash, actor="mallory")
        conn.execute(update(audit_events).where(audit_events.c.id == 2).values(forged))
    (problem,) = _verify(ws)
    assert problem.startswith("audit event 3 is not chained to event 2: the event it was chained")


def test_a_deleted_record_in_the_middle_is_named(ws: Any, timeline: list[dict[str, Any]]) -> None:
    _push(ws, timeline, 0, 1, 2)
    with raw_database(ws) as conn:
        conn.execute(delete(audit_events).where(audit_events.c.id == 2))
    assert _verify(ws) == ["audit event 2 is missing (deleted)"]


def test_records_deleted_from_the_end_are_named(ws: Any, timeline: list[dict[str, Any]]) -> None:
    _push(ws, timeline, 0, 1, 2)  # 4 events
    with raw_database(ws) as conn:
        conn.execute(delete(audit_events).where(audit_events.c.id >= 3))
    assert _verify(ws) == ["audit events 3..4 are missing (deleted from the end)"]


def test_a_record_deleted_and_the_rest_renumbered_is_found(
    ws: Any, timeline: list[dict[str, Any]]
) -> None:
    _push(ws, timeline, 0, 1, 2)  # 4 events
    with raw_database(ws) as conn:
        conn.execute(delete(audit_events).where(audit_events.c.id == 2))
        for old in (3, 4):
            conn.execute(update(audit_events).where(audit_events.c.id == old).values(id=old - 1))
    problems = _verify(ws)
    assert problems[0].startswith("audit event 2 is not chained to event 1: the event it was")
    assert problems[1:] == ["audit event 4 is missing (deleted from the end)"]


def test_an_inserted_record_is_named(ws: Any, timeline: list[dict[str, Any]]) -> None:
    _push(ws, timeline, 0, 1, 2)  # 4 events
    with raw_database(ws) as conn:
        rows = _rows(conn)
        for row in reversed(rows[1:]):  # make room at id 2, from the end (unique ids)
            conn.execute(
                update(audit_events).where(audit_events.c.id == row.id).values(id=row.id + 1)
            )
        forged = _rehash(rows[1], rows[0].hash, id=2, subject=CHENGDU_1, details=canonical_json({}))
        conn.execute(insert(audit_events).values(forged))  # chained after event 1, hash right
    assert _verify(ws) == [
        "audit event 2 is inserted: event 3 is chained directly to event 1",
        "the log holds 5 events but the audit counter says 4 were appended: 1 inserted",
    ]


def test_a_record_appended_behind_bdcerts_back_is_found(
    ws: Any, timeline: list[dict[str, Any]]
) -> None:
    _push(ws, timeline, 0, 1)  # 2 events
    with raw_database(ws) as conn:
        last = _rows(conn)[-1]
        conn.execute(insert(audit_events).values(_rehash(last, last.hash, id=3)))
    assert _verify(ws) == [
        "the log holds 3 events but the audit counter says 2 were appended: 1 inserted"
    ]


def test_reordered_records_are_named(ws: Any, timeline: list[dict[str, Any]]) -> None:
    _push(ws, timeline, 0, 1, 2, 3)  # 5 events
    with raw_database(ws) as conn:
        rows = {r.id: r._asdict() for r in _rows(conn)}
        for a, b in ((2, 4), (4, 2)):
            values = {k: v for k, v in rows[b].items() if k != "id"}
            conn.execute(update(audit_events).where(audit_events.c.id == a).values(values))
    assert _verify(ws) == [
        "audit event 4 is out of order: its hash chain puts it at place 2 (after event 1)",
        "audit event 2 is out of order: its hash chain puts it at place 4 (after event 3)",
    ]


def test_the_diagnosis_of_a_whole_chain() -> None:
    """diagnose_chain alone, for a store plugin of another kind: two adjacent records swapped."""

    def link(i: int, prev: str) -> ChainLink:
        return ChainLink(i, prev, f"h{i}", f"h{i}")

    good = [link(1, "0" * 64), link(2, "h1"), link(3, "h2"), link(4, "h3")]
    assert diagnose_chain(good, 4) == []
    swapped = [good[0], ChainLink(2, "h2", "h3", "h3"), ChainLink(3, "h1", "h2", "h2"), good[3]]
    assert diagnose_chain(swapped, 4) == [
        "audit event 3 is out of order: its hash chain puts it at place 2 (after event 1)",
        "audit event 2 is out of order: its hash chain puts it at place 3 (after event 3)",
    ]


# -------------------------------------------------------------------------- checkpoints tampered with


def test_a_chain_rewritten_with_recomputed_hashes_is_caught_by_the_checkpoints(
    ws: Any, timeline: list[dict[str, Any]]
) -> None:
    _push(ws, timeline, 0, 1)
    first = _checkpoint(ws)  # seals event 2
    _push(ws, timeline, 2, 3)
    second = _checkpoint(ws)
    _push(ws, timeline, 4)
    sealed = _rows_hash(ws, second.event_id)
    with raw_database(ws) as conn:
        _rewrite_from(conn, first.event_id + 2, actor="mallory")  # after the first checkpoint
    current = _rows_hash(ws, second.event_id)
    assert current != sealed
    with _registry(ws) as registry, registry.storage.transaction() as tx:
        assert tx.verify_audit_chain() == []  # the chain alone cannot tell
    assert _verify(ws) == [
        f"audit checkpoint #2: the log's event {second.event_id} is not the sealed one (hash "
        f"{current[:12]}…, sealed {sealed[:12]}…): the log "
        f"was rewritten after event {first.event_id} and at or before event {second.event_id}"
    ]
    # the attacker fixes the stored row too: the sealed PDF still says no
    with raw_database(ws) as conn:
        conn.execute(
            update(audit_checkpoints)
            .where(audit_checkpoints.c.number == 2)
            .values(event_hash=current)
        )
    problems = _verify(ws)
    assert (
        problems[0]
        == "audit checkpoint #2: the stored record differs from its sealed PDF in event_hash (edited)"
    )
    assert "the log was rewritten after event" in problems[1]


def test_deleted_checkpoints_are_named(ws: Any, timeline: list[dict[str, Any]]) -> None:
    _push(ws, timeline, 0)
    for _ in range(3):
        _checkpoint(ws)
    with raw_database(ws) as conn:
        conn.execute(delete(audit_checkpoints).where(audit_checkpoints.c.number == 2))
    assert _verify(ws) == ["audit checkpoint #2 missing (deleted)"]
    with raw_database(ws) as conn:
        conn.execute(delete(audit_checkpoints).where(audit_checkpoints.c.number == 3))
    assert _verify(ws) == ["audit checkpoint #2..#3 missing (deleted from the end)"]
    with raw_database(ws) as conn:  # the counter reset too: the log still records the making
        _set_counter(conn, AUDIT_CHECKPOINT_COUNTER, 1)
    assert _verify(ws) == [
        "the audit log records making checkpoint #2, which is not stored (deleted)",
        "the audit log records making checkpoint #3, which is not stored (deleted)",
    ]


def test_a_checkpoint_whose_pdf_was_replaced_is_named(
    ws: Any, timeline: list[dict[str, Any]], tmp_path: Path
) -> None:
    _push(ws, timeline, 0)
    made = _checkpoint(ws)
    _checkpoint(ws)
    with raw_database(ws) as conn:
        corrupted = bytearray(made.pdf)
        at = corrupted.index(b"/Keywords")  # inside the signed bytes
        corrupted[at + 1 : at + 2] = b"k"
        conn.execute(
            update(audit_checkpoints)
            .where(audit_checkpoints.c.number == 1)
            .values(pdf=bytes(corrupted))
        )
    problems = _verify(ws)
    assert problems[0].startswith("audit checkpoint #1: its seal fails (digest_mismatch"), problems
    assert problems[1:] == [
        "audit checkpoint #2 does not follow checkpoint #1: the previous checkpoint's PDF is not "
        "the one it was chained to (replaced)"
    ]
    # a checkpoint sealed with a key the trust roots do not know: a self-made PKI
    other = make_workspace(tmp_path / "other", f"sqlite:///{tmp_path / 'other.sqlite3'}")
    _push(other, timeline, 0)
    forged = _checkpoint(other)
    with raw_database(ws) as conn:
        conn.execute(
            update(audit_checkpoints)
            .where(audit_checkpoints.c.number == 1)
            .values(pdf=forged.pdf, pdf_sha256=forged.pdf_sha256)
        )
    problems = _verify(ws)
    assert problems[0].startswith("audit checkpoint #1: its seal fails (untrusted_signer"), problems


def test_a_checkpoint_copy_kept_elsewhere_catches_what_the_database_cannot(
    ws: Any, timeline: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The documented limit: delete the newest checkpoint, every event after the one before it,
    and reset both counters, and the database agrees with itself. A copy of the newest
    checkpoint, kept outside, still finds it."""
    _push(ws, timeline, 0)
    first = _checkpoint(ws)
    _push(ws, timeline, 1, 2)
    copy = tmp_path / "checkpoint-2.pdf"
    done = run_cli(ws, "audit", "checkpoint", "--out", str(copy))
    assert done.returncode == 0, done.stderr
    kept = first.event_id + 1  # the first checkpoint's own event
    with raw_database(ws) as conn:
        conn.execute(delete(audit_checkpoints).where(audit_checkpoints.c.number == 2))
        conn.execute(delete(audit_events).where(audit_events.c.id > kept))
        _set_counter(conn, AUDIT_CHECKPOINT_COUNTER, 1)
        _set_counter(conn, AUDIT_COUNTER, kept)
    assert _verify(ws) == []
    problems = _verify(ws, ((copy.name, copy.read_bytes()),))
    assert len(problems) == 2 and all(
        p.startswith("checkpoint file checkpoint-2.pdf (#2, event ") for p in problems
    )
    assert "(deleted)" in problems[0] and "no longer holds checkpoint #2" in problems[1]


# -------------------------------------------------------------------------- command line, coverage


def test_audit_checkpoint_and_verify_on_the_command_line(
    ws: Any, timeline: list[dict[str, Any]], tmp_path: Path
) -> None:
    _push(ws, timeline, 0, 5)
    copy = tmp_path / "cp.pdf"
    made = run_cli(ws, "audit", "checkpoint", "--json", "--out", str(copy))
    assert made.returncode == 0, made.stderr
    record = json.loads(made.stdout)
    assert record["number"] == 1 and record["event_id"] == 2 and record["authority"] == "510100"
    assert copy.is_file()
    refused = run_cli(ws, "audit", "checkpoint", "--operator", "auditor")
    assert refused.returncode == 2 and "may not" in refused.stderr
    ok = run_cli(ws, "audit", "verify", "--operator", "auditor", "--checkpoint", str(copy))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "intact" in ok.stdout and "the latest, #1, seals event 2" in ok.stdout
    with raw_database(ws) as conn:
        conn.execute(update(audit_events).where(audit_events.c.id == 1).values(subject="x"))
    broken = run_cli(ws, "audit", "verify", "--operator", "auditor")
    assert broken.returncode == 1
    assert "BROKEN audit event 1: edited: its content does not match its hash" in broken.stdout


def test_every_lifecycle_event_and_access_is_logged(
    ws: Any, timeline: list[dict[str, Any]]
) -> None:
    _push(ws, timeline, *range(20), 28)  # issue, supersede, announce, cancel, restrict, replay
    with _registry(ws) as registry:
        platform = registry.authenticate({"operator": "platform"})
        auditor = registry.authenticate({"operator": "auditor"})
        mianyang = registry.authenticate({"operator": "registrar-510700"})
        pdf = registry.pdf(CHENGDU_1, principal=platform)
        registry.verify(pdf)
        registry.lookup(number=CHENGDU_1, name="王晓明")
        with pytest.raises(PermissionDenied):
            registry.certificate(CHENGDU_1, principal=mianyang)
        registry.reconcile(timeline[:1], principal=auditor)
        registry.redeliver(principal=platform)  # an empty outbox: nothing to log
        registry.checkpoint_audit(principal=platform)
        actions = {e.action for e in registry.audit_log(principal=auditor)}
        on_chengdu_1 = [e.action for e in registry.audit_log(principal=auditor, subject=CHENGDU_1)]
    expected = {"issue", "supersede", "announce", "cancel", "restrict", "replay"}
    expected |= {"read", "download", "verify", "lookup", "deny", "reconcile", "checkpoint"}
    assert expected <= actions, expected - actions
    assert on_chengdu_1 == ["issue", "supersede", "read", "download", "verify", "lookup", "deny"]
    assert "redeliver" not in actions
    assert _verify(ws) == []


def test_a_bad_audit_setting_is_named(workspace: Any) -> None:
    _configure(workspace, '[audit]\nauthority = "999999"')
    with pytest.raises(ValueError, match="999999"):
        Registry.open(workspace.path)
