"""Who is who: my addresses, configured clients, auto-discovered clients (SPEC "Identity").

A configured ``[[clients]]`` pattern wins; otherwise, with discovery on, senders are grouped
by domain, or by address for free-mail domains. Automated mail is never a client, and
neither are my own addresses or colleagues at my own (non-free-mail) domain.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Iterable

from .config import ClientRule, MeConfig
from .records import Message

FREEMAIL_DOMAINS = frozenset("""
gmail.com googlemail.com yahoo.com yahoo.co.uk yahoo.de yahoo.es yahoo.fr ymail.com rocketmail.com
outlook.com hotmail.com hotmail.co.uk hotmail.de hotmail.es hotmail.fr live.com live.de msn.com
icloud.com me.com mac.com aol.com gmx.de gmx.net gmx.at gmx.ch gmx.com web.de t-online.de freenet.de
posteo.de mailbox.org protonmail.com proton.me pm.me tutanota.com tuta.io zoho.com yandex.ru yandex.com
mail.ru fastmail.com hey.com naver.com hanmail.net daum.net nate.com kakao.com rediffmail.com
yahoo.co.in outlook.in libero.it virgilio.it orange.fr laposte.net free.fr wanadoo.fr seznam.cz
wp.pl o2.pl onet.pl interia.pl net.hr t-com.hr inet.hr email.t-com.hr abv.bg qq.com 163.com 126.com
""".split())

ROLE_CLIENT = "client"  # the message was written by the client
ROLE_ME = "me"          # I wrote it to the client


@dataclass
class ClientMessages:
    """A client with the messages that involve it, each tagged with its role."""

    name: str
    addresses: set[str] = field(default_factory=set)
    messages: list[tuple[Message, str]] = field(default_factory=list)


class Identity:
    """Maps addresses to "me", a client name, or nobody."""

    def __init__(self, me: MeConfig, rules: Iterable[ClientRule], auto: bool) -> None:
        self.mine = frozenset(a.lower() for a in me.addresses)
        self.my_domains = frozenset(a.split("@", 1)[1] for a in self.mine if "@" in a) - FREEMAIL_DOMAINS
        self.rules = tuple(rules)
        self.auto = auto
        self._cache: dict[str, str | None] = {}

    def is_mine(self, address: str) -> bool:
        return address.lower() in self.mine

    def client_of(self, address: str) -> str | None:
        """The client an address belongs to, or None (me, colleagues, unknown with discovery off)."""
        address = address.lower()
        if address in self._cache:
            return self._cache[address]
        name = self._resolve(address)
        self._cache[address] = name
        return name

    def _resolve(self, address: str) -> str | None:
        if not address or address in self.mine:
            return None
        for rule in self.rules:
            if any(fnmatchcase(address, pattern) for pattern in rule.match):
                return rule.name
        if not self.auto or "@" not in address:
            return None
        domain = address.rsplit("@", 1)[1]
        if domain in self.my_domains:
            return None
        return address if domain in FREEMAIL_DOMAINS else domain

    def group(self, messages: Iterable[Message]) -> dict[str, ClientMessages]:
        """Group messages by client: messages from the client, and mine to the client."""
        clients: dict[str, ClientMessages] = {}

        def entry(name: str) -> ClientMessages:
            if name not in clients:
                clients[name] = ClientMessages(name)
            return clients[name]

        for msg in messages:
            if msg.automated:
                continue
            if self.is_mine(msg.from_addr):
                named: dict[str, None] = {}
                for addr in (*msg.to, *msg.cc):
                    name = self.client_of(addr)
                    if name is not None:
                        entry(name).addresses.add(addr)
                        named[name] = None
                for name in named:
                    clients[name].messages.append((msg, ROLE_ME))
            else:
                name = self.client_of(msg.from_addr)
                if name is not None:
                    client = entry(name)
                    client.addresses.add(msg.from_addr)
                    client.messages.append((msg, ROLE_CLIENT))
        return clients
