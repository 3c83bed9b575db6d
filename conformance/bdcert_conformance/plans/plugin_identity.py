"""The plugins plan's identity provider checks (P-221..F-222..P-223): every configured
mapping, refusal of unknown credentials, no secret in reprs, str or error messages."""

from __future__ import annotations

import contextlib

from bdcert_conformance.kit.model import Evidence, Verdict, check, failed, passed
from bdcert_conformance.plans.plugin_subjects import (
    PLAN,
    PluginsContext,
    describe,
    found_text,
)


@check("P-221", PLAN, "identity: every role and authority mapping",
       "规则第11条 (who acts, in which role, for which authority)")  # fmt: skip
def identity_mappings(context: PluginsContext) -> Verdict:
    """Each configured credential authenticates as the principal the configuration gives it:
    the same name, exactly the same roles, the same authority (a registrar of 510700 is never
    one of 510100), the same holder ID number."""
    subject = context.identity
    if subject is None:
        return context.skip("identity")
    findings = []
    for case in subject.cases:
        try:
            got = subject.provider.authenticate(dict(case.credentials))
        except Exception as exc:
            findings.append(Evidence(case.label, case.expected(), found_text(exc)))
            continue
        ok = (
            (case.name is None or got.name == case.name)
            and frozenset(got.roles) == case.roles
            and got.authority == case.authority
            and got.id_number == case.id_number
        )
        if not ok:
            findings.append(Evidence(case.label, case.expected(), describe(got)))
    if findings:
        return failed(
            f"{len(findings)} of {len(subject.cases)} credentials map to the wrong principal "
            f"({subject.source})",
            findings,
        )
    roles = sorted({r for c in subject.cases for r in c.roles})
    authorities = sorted({c.authority for c in subject.cases if c.authority})
    return passed(
        f"{len(subject.cases)} credentials, roles {', '.join(roles)}, authorities "
        f"{', '.join(authorities) or 'none'}: each the configured principal ({subject.source})"
    )


def _unknown_credentials(context: PluginsContext) -> list[tuple[str, dict[str, str]]]:
    """Credentials that identify nobody: random and near-miss tokens, an unknown operator, no
    credentials, a malformed certificate."""
    import secrets

    assert context.identity is not None
    cases: list[tuple[str, dict[str, str]]] = [
        ("a random token", {"token": secrets.token_urlsafe(32)}),
        ("an empty token", {"token": ""}),
        ("an unknown operator", {"operator": "bdcert-conformance-nobody"}),
        ("no credentials", {}),
        ("a malformed client certificate", {"client_cert_pem": "-----BEGIN CERTIFICATE-----"}),
    ]
    tokens = [c.credentials["token"] for c in context.identity.cases if "token" in c.credentials]
    if tokens:
        token = tokens[0]
        cases += [
            ("a known token with one character more", {"token": token + "A"}),
            ("a known token without its last character", {"token": token[:-1]}),
            ("a known token in other case", {"token": token.swapcase()}),
        ]
    return [(label, creds) for label, creds in cases if creds.get("token") not in tokens]


@check("F-222", PLAN, "identity: unknown credentials are refused",
       "规则第11条 (only authenticated users act)")  # fmt: skip
def identity_refuses_unknown(context: PluginsContext) -> Verdict:
    """Random, empty and near-miss tokens, an unknown operator, no credentials and a malformed
    client certificate each raise :class:`bdcert.errors.IdentityError` (what the service turns
    into a 401), never a principal and never another exception."""
    from bdcert.errors import IdentityError

    subject = context.identity
    if subject is None:
        return context.skip("identity")
    attempts = _unknown_credentials(context)
    findings = []
    for label, credentials in attempts:
        try:
            got = subject.provider.authenticate(credentials)
        except IdentityError:
            continue
        except Exception as exc:
            findings.append(Evidence(label, "IdentityError", found_text(exc)))
        else:
            findings.append(Evidence(label, "IdentityError", f"authenticated as {describe(got)}"))
    if findings:
        return failed(
            f"{len(findings)} of {len(attempts)} unknown credentials not refused", findings
        )
    return passed(
        f"{len(attempts)} unknown credentials each refused with IdentityError "
        f"({', '.join(label for label, _ in attempts)})"
    )


@check("P-223", PLAN, "identity: no secret in reprs, str or error messages",
       "规则第11条; GB/T 22239-2019 §8.1.4 (authentication data protected)")  # fmt: skip
def identity_keeps_secrets(context: PluginsContext) -> Verdict:
    """No token, password or stored token hash shows in the provider's ``repr`` or ``str``, in
    an authenticated principal's, or in the message of an ``IdentityError`` for a wrong token
    (which must not echo what was presented): these end up in logs."""
    from bdcert.errors import IdentityError

    subject = context.identity
    if subject is None:
        return context.skip("identity")
    texts: list[tuple[str, str]] = [
        ("repr(provider)", repr(subject.provider)),
        ("str(provider)", str(subject.provider)),
    ]
    for case in subject.cases:
        with contextlib.suppress(Exception):
            texts.append(
                (
                    f"repr(principal of {case.label})",
                    repr(subject.provider.authenticate(dict(case.credentials))),
                )
            )
    presented: list[tuple[str, str]] = []
    for label, credentials in _unknown_credentials(context):
        if not credentials.get("token"):
            continue
        presented.append((f"the token presented ({label})", credentials["token"]))
        try:
            subject.provider.authenticate(credentials)
        except IdentityError as exc:
            texts.append((f"IdentityError for {label}", str(exc)))
        except Exception as exc:
            texts.append((f"{type(exc).__name__} for {label}", str(exc)))
    secrets = [(what, s) for what, s in (*subject.secrets, *presented) if len(s) >= 8]
    findings = []
    for where, text in texts:
        shown = dict.fromkeys(what for what, secret in secrets if secret in text)
        findings += [Evidence(where, "no secret", f"shows {what}") for what in shown]
    if findings:
        return failed(f"secrets shown in {len({e.field for e in findings})} texts", findings)
    return passed(
        f"{len(texts)} reprs, strs and error messages hold none of {len(secrets)} secrets"
    )
