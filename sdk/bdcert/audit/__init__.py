"""Tamper evidence for the audit log (rule article 17): signed checkpoints and the chain diagnosis.

The store keeps every lifecycle event and access in a hash chain (each record holds
``sha256(prev_hash || canonical JSON of the event)``: :func:`audit_hash`, here in the SDK so
every store computes the same). A chain alone
proves nothing against someone who can write to the database: they can rewrite every record from
some point on and recompute the hashes. So every ``checkpoint_every`` events, and on demand, bdcert
makes a **checkpoint**: a one-page PDF that states

* its number (1, 2, … without gaps) and the SHA-256 of the previous checkpoint's PDF,
* the id and hash of the last audit event at that moment,
* the time (China time, +08:00), who asked for it, and the sealing authority,

sealed with the authority's e-seal through the configured seal provider (``seal_pdf``, so
software, PKCS#11, remote and SM2 seals all work). The statement is printed on the page and, as
canonical JSON, in the PDF's ``/Subject``; ``pdfsig`` and ``pdfinfo`` check and read it without
bdcert. The checkpoint is stored with its PDF, and its creation is itself an audit event.

:func:`diagnose_chain` names each edited, deleted, inserted or reordered record;
:meth:`Checkpointer.verify` checks every checkpoint's seal (against the workspace trust roots),
that its stored row says what its sealed PDF says, that the checkpoints follow each other, and
that the log's event at each sealed id still has the sealed hash.

What stays undetectable: an attacker who holds the seal key as well as the database can make new
checkpoints for a rewritten log. Without the key, an attacker can still (1) append forged events
after the last checkpoint and raise the audit counter to match, or rewrite the events after it
(the newest alone included) with recomputed hashes, and (2) delete the newest
checkpoints together with everything logged after the newest one left, resetting both counters
— unless a copy of a checkpoint is kept outside the database (``bdcert audit checkpoint --out``;
``bdcert audit verify --checkpoint FILE`` checks the log against it).
"""

from __future__ import annotations

from bdcert.audit.chain import (
    GENESIS_SHA256,
    ChainLink,
    audit_hash,
    audit_payload,
    diagnose_chain,
)
from bdcert.audit.checkpoints import (
    AUTOMATIC,
    CHECKPOINT_KEYWORD,
    DEFAULT_CHECKPOINT_EVERY,
    STATEMENT_FIELDS,
    AuditSettings,
    Checkpointer,
    CheckpointingStorage,
    read_statement,
    statement_of,
)
from bdcert.audit.register import issued_digests, register_problems, stored_file_problem

__all__ = [
    "AUTOMATIC",
    "CHECKPOINT_KEYWORD",
    "DEFAULT_CHECKPOINT_EVERY",
    "GENESIS_SHA256",
    "STATEMENT_FIELDS",
    "AuditSettings",
    "ChainLink",
    "Checkpointer",
    "CheckpointingStorage",
    "audit_hash",
    "audit_payload",
    "diagnose_chain",
    "issued_digests",
    "read_statement",
    "register_problems",
    "statement_of",
    "stored_file_problem",
]
