"""Who is a client: configured patterns, domain and free-mail discovery, me, colleagues, robots."""
from __future__ import annotations

import email.utils
import zoneinfo
from datetime import datetime, time, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clientwatch.config import ClientRule, MeConfig
from clientwatch.identity import ROLE_CLIENT, ROLE_ME, Identity
from clientwatch.mime import parse_addresses, parse_raw
from clientwatch.records import Message

ME = "mara@studio.example"
T0 = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
_n = iter(range(1, 10_000))


def me_config(*addresses: str) -> MeConfig:
    return MeConfig(addresses or (ME,), zoneinfo.ZoneInfo("Europe/Zagreb"), time(9), time(18), frozenset(range(5)))


def mail(sender: str, to: tuple[str, ...] = (ME,), cc: tuple[str, ...] = (), automated: bool = False) -> Message:
    n = next(_n)
    return Message(f"<{n}@x>", T0 + timedelta(minutes=n), sender, "", to, cc, f"subject {n}", (), (), "", automated)


def grouped(messages: list[Message], rules: tuple[ClientRule, ...] = (), auto: bool = True,
            me: MeConfig | None = None) -> dict[str, dict[str, object]]:
    """``name -> {"addresses": set, "roles": [(sender, role), ...]}`` for compact assertions."""
    clients = Identity(me or me_config(), rules, auto).group(messages)
    return {name: {"addresses": c.addresses, "roles": [(m.from_addr, role) for m, role in c.messages]}
            for name, c in clients.items()}


def test_free_mail_senders_are_grouped_by_address_others_by_domain() -> None:
    got = grouped([mail("rick.moody77@gmail.com"), mail("someone.else@gmail.com"), mail("ana@acme.example"),
                   mail("boss@acme.example"), mail("jiwoo@naver.com"), mail("x@sub.acme.example")])
    assert set(got) == {"rick.moody77@gmail.com", "someone.else@gmail.com", "acme.example", "jiwoo@naver.com",
                        "sub.acme.example"}
    assert got["acme.example"]["addresses"] == {"ana@acme.example", "boss@acme.example"}
    assert got["rick.moody77@gmail.com"]["addresses"] == {"rick.moody77@gmail.com"}


def test_configured_patterns_win_over_discovery_and_first_rule_wins() -> None:
    rules = (ClientRule("Acme Ltd", ("*@acme.example", "ceo.acme@gmail.com")),
             ClientRule("Acme Catch-all", ("*acme*",)),
             ClientRule("Wildcard Bakery", ("piotr?@bakery.example",)))
    got = grouped([mail("ana@acme.example"), mail("ceo.acme@gmail.com"), mail("ops@mail.acme.example"),
                   mail("piotr1@bakery.example"), mail("piotr12@bakery.example")], rules)
    assert got["Acme Ltd"]["addresses"] == {"ana@acme.example", "ceo.acme@gmail.com"}
    assert got["Acme Catch-all"]["addresses"] == {"ops@mail.acme.example"}  # not *@acme.example: a subdomain
    assert got["Wildcard Bakery"]["addresses"] == {"piotr1@bakery.example"}
    assert got["bakery.example"]["addresses"] == {"piotr12@bakery.example"}  # no rule matched: discovered
    assert "gmail.com" not in got and "ceo.acme@gmail.com" not in got and "acme.example" not in got


def test_discovery_off_keeps_only_configured_clients() -> None:
    rules = (ClientRule("Acme Ltd", ("*@acme.example",)),)
    got = grouped([mail("ana@acme.example"), mail("stranger@elsewhere.example"), mail(ME, to=("new@elsewhere.example",))],
                  rules, auto=False)
    assert list(got) == ["Acme Ltd"]


def test_my_addresses_and_my_colleagues_are_never_clients() -> None:
    me = me_config(ME, "Mara.Private@gmail.com")
    got = grouped([mail("stipe@studio.example"),                       # colleague at my own domain
                   mail("mara.private@gmail.com", to=("ana@acme.example",)),  # me, from my free-mail address
                   mail(ME, to=("stipe@studio.example",)),             # me to a colleague only
                   mail("friend@gmail.com")], me=me)                    # free mail is not "my domain"
    assert set(got) == {"acme.example", "friend@gmail.com"}
    assert got["acme.example"]["roles"] == [("mara.private@gmail.com", ROLE_ME)]


def test_my_mail_counts_for_every_client_in_to_and_cc_once() -> None:
    got = grouped([mail(ME, to=("ana@acme.example", "boss@acme.example"), cc=("lena@northwind.example", ME))])
    assert got["acme.example"]["roles"] == [(ME, ROLE_ME)]  # two addresses, one client: counted once
    assert got["acme.example"]["addresses"] == {"ana@acme.example", "boss@acme.example"}
    assert got["northwind.example"]["roles"] == [(ME, ROLE_ME)]


def test_a_clients_mail_is_theirs_even_when_it_copies_other_clients() -> None:
    got = grouped([mail("ana@acme.example", to=(ME,), cc=("lena@northwind.example",))])
    assert got == {"acme.example": {"addresses": {"ana@acme.example"}, "roles": [("ana@acme.example", ROLE_CLIENT)]}}


def raw(sender: str, extra: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: {ME}\r\nSubject: hi\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n"
            f"Message-ID: <{next(_n)}@x>\r\n{extra}\r\nhello\r\n").encode()


@pytest.mark.parametrize("sender,extra", [
    ("news@acme.example", "List-Id: <news.acme.example>\r\n"),
    ("news@acme.example", "List-Unsubscribe: <https://acme.example/u>\r\n"),
    ("ana@acme.example", "Precedence: bulk\r\n"),
    ("ana@acme.example", "Auto-Submitted: auto-replied\r\n"),          # out-of-office answer
    ("ana@acme.example", "X-Autoreply: yes\r\n"),
    ("ana@acme.example", "X-Auto-Response-Suppress: OOF, AutoReply\r\n"),
    ("noreply@acme.example", ""),
    ("no-reply+invoice@acme.example", ""),
    ("MAILER-DAEMON@acme.example", ""),
    ("notifications@acme.example", ""),
])
def test_automated_senders_are_never_clients_even_when_a_rule_matches(sender: str, extra: str) -> None:
    rules = (ClientRule("Acme Ltd", ("*@acme.example",)),)
    robot = parse_raw(raw(sender, extra))
    assert robot.automated
    human = parse_raw(raw("ana@acme.example"))
    got = grouped([robot, human], rules)
    assert got["Acme Ltd"]["roles"] == [("ana@acme.example", ROLE_CLIENT)]
    assert grouped([robot], rules) == {}


def test_addresses_are_matched_case_insensitively() -> None:
    rules = (ClientRule("Acme Ltd", ("*@acme.example",)),)
    msg = parse_raw(raw("Ana <Ana.Horvat@ACME.Example>"))
    identity = Identity(me_config("MARA@Studio.Example"), rules, True)
    assert identity.client_of(msg.from_addr) == "Acme Ltd"
    assert identity.client_of("Mara@studio.example") is None
    assert identity.client_of("Someone@Gmail.COM") == "someone@gmail.com"


def reference_addresses(value: str) -> list[tuple[str, str]]:
    """What parse_addresses gave before its fast path: email.utils.getaddresses, filtered."""
    return [(name.strip(), addr.strip().strip("<>").lower())
            for name, addr in email.utils.getaddresses([value])
            if "@" in addr and " " not in addr.strip().strip("<>") and len(addr.strip().strip("<>")) <= 254]


_atom = st.text("abcXYZ019.-_+'!#ščž", min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(_atom, max_size=3), _atom, _atom, st.sampled_from([" ", "  ", "\r\n ", "\t"]),
                          st.booleans()), min_size=1, max_size=4))
@example([(["Ana", "Horvat"], "ana", "acme.example", " ", True)])
def test_the_fast_address_path_agrees_with_getaddresses(people: list) -> None:
    pieces = []
    for words, local, domain, gap, with_name in people:
        address = f"{local}@{domain}"
        pieces.append(f"{gap.join(words)}{gap}<{address}>" if with_name and words else address)
    value = ", ".join(pieces)
    assert parse_addresses([value]) == reference_addresses(value)


@pytest.mark.parametrize("value", [
    '"Doe, John" <john@doe.example>', "John (the boss) <john@doe.example>", "Team: a@x.example, b@x.example;",
    "<just@angle.example>", "a@x.example,,b@x.example", "Ana <ana@x.example> <second@x.example>", "not an address",
    "=?utf-8?q?Ana_=C5=A0imi=C4=87?= <ana@x.example>", "ana@x.example (Ana)", "Ana <ana @x.example>",
])
def test_unusual_address_lists_take_the_full_parser(value: str) -> None:
    assert parse_addresses([value]) == reference_addresses(
        "Ana Šimić <ana@x.example>" if value.startswith("=?") else value)
