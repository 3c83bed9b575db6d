"""The audit log's hash chain (rule article 17): the hash formula every store must use, and the
diagnosis of a broken chain. See :mod:`bdcert.audit`."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from bdcert.model import CHINA_TZ, AuditEvent
from bdcert.wire import canonical_json, converter

__all__ = ["GENESIS_SHA256", "ChainLink", "audit_hash", "audit_payload", "diagnose_chain"]

#: ``prev_hash`` of the first audit event and ``prev_sha256`` of the first checkpoint.
GENESIS_SHA256 = "0" * 64


# -------------------------------------------------------------------------- the hash formula


def audit_payload(
    action: str, actor: str, subject: str, at: datetime, details: Mapping[str, Any]
) -> dict[str, Any]:
    """The unstructured form of an audit event as stored: ``at`` in China time (+08:00).

    ``details`` must already be JSON data (as read back from the store), so that the hash
    computed on append is the hash recomputed on verification.
    """
    event = AuditEvent(
        action=action, actor=actor, subject=subject, at=at.astimezone(CHINA_TZ), details=details
    )
    return converter.unstructure(event)  # type: ignore[no-any-return]


def audit_hash(prev_hash: str, payload: Mapping[str, Any]) -> str:
    """``sha256(prev_hash || canonical JSON of the event)``, lower-case hex (rule article 17).

    ``prev_hash`` is the previous event's hash, :data:`GENESIS_SHA256` for the first; the payload
    is :func:`audit_payload`. Every store must compute exactly this, byte for byte.
    """
    return hashlib.sha256((prev_hash + canonical_json(payload)).encode("utf-8")).hexdigest()


# -------------------------------------------------------------------------- chain diagnosis


@attrs.define(frozen=True)
class ChainLink:
    """One stored audit record as the chain diagnosis sees it.

    :ivar id: its stored id (1, 2, … when intact).
    :ivar prev_hash: the stored hash of the record it is chained to (hex SHA-256).
    :ivar hash: its stored hash.
    :ivar content_hash: the hash recomputed from its stored content and ``prev_hash``; None when
        the content cannot be read (e.g. details that are not JSON).
    """

    id: int
    prev_hash: str
    hash: str
    content_hash: str | None


def _ids(first: int, last: int) -> str:
    return f"audit event {first} is" if first == last else f"audit events {first}..{last} are"


def _chain_order(links: Sequence[ChainLink]) -> list[ChainLink] | None:
    """The records in the order their hashes chain them, when they form one unforked chain from
    the start that takes in every record; else None."""
    following: dict[str, list[ChainLink]] = {}
    for link in links:
        following.setdefault(link.prev_hash, []).append(link)
    if any(len(group) > 1 for group in following.values()):
        return None
    order: list[ChainLink] = []
    current = GENESIS_SHA256
    while current in following and len(order) <= len(links):
        link = following[current][0]
        order.append(link)
        current = link.hash
    return order if len(order) == len(links) else None


def diagnose_chain(links: Sequence[ChainLink], appended: int | None) -> list[str]:
    """Messages naming every edited, deleted, inserted or reordered audit record (rule article 17).

    :param links: every stored record, in id order.
    :param appended: how many events the store's audit counter says were appended (None: no
        counter); finds records deleted from, or inserted at, the end.
    :returns: one sentence per finding, naming the record(s); empty when the chain is intact.

    Edited: the content does not match its hash. Reordered: every record is genuine and chained,
    but stored in another order (each misplaced record is named with its place in the chain).
    Deleted: ids skip, or a record's predecessor in the chain is nowhere in the log. Inserted: a
    record sits between another and the record it is chained to, or the log holds more records
    than were appended. A record rewritten together with its hash shows as a break after it.
    """
    problems: list[str] = []
    for link in links:
        if link.content_hash is None:
            problems.append(f"audit event {link.id}: edited: its content cannot be read")
        elif link.content_hash != link.hash:
            problems.append(f"audit event {link.id}: edited: its content does not match its hash")
    order = _chain_order(links)
    if order is not None and order != list(links):
        for place, link in enumerate(order, 1):
            if links[place - 1] is not link:
                problems.append(
                    f"audit event {link.id} is out of order: its hash chain puts it at place "
                    f"{place} (after event {order[place - 2].id if place > 1 else 'none'})"
                )
    else:
        problems.extend(_broken_links(links))
    count, last_id = len(links), links[-1].id if links else 0
    if appended is not None:
        if appended > last_id:
            problems.append(f"{_ids(last_id + 1, appended)} missing (deleted from the end)")
        if count > appended:
            problems.append(
                f"the log holds {count} events but the audit counter says {appended} were "
                f"appended: {count - appended} inserted"
            )
    return problems


def _broken_links(links: Sequence[ChainLink]) -> list[str]:
    """Walk the records in id order and explain each record not chained to the one before."""
    where: dict[str, int] = {}
    for index, link in enumerate(links):
        where.setdefault(link.hash, index)
    inserted: set[int] = set()
    found: list[tuple[int, str]] = []
    for i, link in enumerate(links):
        before = links[i - 1] if i else None
        expected_id = before.id + 1 if before else 1
        if link.id < expected_id:
            found.append((i, f"audit event {link.id}: ids start at 1 (inserted)"))
            continue
        if link.id > expected_id:
            found.append((i, f"{_ids(expected_id, link.id - 1)} missing (deleted)"))
        if link.prev_hash == (before.hash if before else GENESIS_SHA256) or link.id > expected_id:
            continue
        j = -1 if link.prev_hash == GENESIS_SHA256 else where.get(link.prev_hash)
        if j is None:
            target = f"event {before.id}" if before else "the start of the log"
            found.append(
                (
                    i,
                    f"audit event {link.id} is not chained to {target}: the event it was chained "
                    "to is gone (the one before it was rewritten with a new hash, or an event "
                    "between them was deleted and the ids renumbered)",
                )
            )
        elif j < i - 1:
            between = [links[k].id for k in range(j + 1, i)]
            inserted.update(range(j + 1, i))
            to = f"event {links[j].id}" if j >= 0 else "the start of the log"
            found.append(
                (
                    i,
                    f"{_ids(between[0], between[-1])} inserted: event {link.id} is chained "
                    f"directly to {to}",
                )
            )
        else:
            found.append(
                (
                    i,
                    f"audit event {link.id} is out of order: it is chained after event "
                    f"{links[j].id}, which is stored after it",
                )
            )
    # an inserted record's own link to the record before it explains nothing more
    return [message for i, message in found if i not in inserted]
