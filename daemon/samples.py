"""The bundled sample mailbox: realistic clients, threads and timings, with ground truth.

``generate(now, seed)`` returns the messages (raw RFC 5322 bytes and the folder each lives
in) and, for every client, the figures SPEC defines, worked out from the generator's own
events rather than by the code under test: latency samples are recorded as the gaps are
drawn, business hours are counted minute by minute, chasers and unanswered runs as they are
written. ``demo`` and the exact-metric tests both use it.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

ME = "mara@studio-kvadrat.example"
MY_NAME = "Mara Horvat"
TIMEZONE = "Europe/Zagreb"
WORK_START, WORK_END = 9, 18  # my working hours, Monday to Friday

# What each kind of client writes. Written for the demo; not part of the training corpus.
TEXTS = {
    "neutral": [
        "Hi Mara,\n\nThanks for the drafts. We like option B best - could you try it with the darker green?\n\nBest,\n{name}",
        "Hello,\n\nAttached are the photos for the about page. Let me know if you need higher resolution.\n\nThanks!\n{name}",
        "Thanks, that works for us. Talk on Thursday.\n{name}",
        "Hi,\nquick one: can we move our call to 3pm? Something came up.\n{name}",
        "Looks great, approved. Please go ahead with the print files.\n\n{name}",
        "Invoice received, it's been paid today. Thanks for the smooth project!\n{name}",
        "Hi Mara, the copy for the landing page is in the shared folder now. No rush, next week is fine.\n{name}",
    ],
    "controlling": [
        "Any update?? It's been two hours.",
        "Before you post ANYTHING, even replies to comments, send it to me first for approval. Every single one.\n{name}",
        "Why didn't you answer last night? I expect you to be reachable in the evenings and at weekends while we work together.",
        "Please send me a screenshot every hour so I can see progress. And use the fonts I picked, not the ones you suggested.",
        "just checking in again - where are we? i need to see the files now, not on friday",
        "Honestly I could do this better myself. From now on I decide the layout and you just execute it.",
        "While you're at it, the brochure and the trade-show banner are obviously part of the logo package. Send them by Monday.",
    ],
    "stalling": [
        "Hi Mara,\n\nKeep working on the next phase, we'll pay everything at the end once the site is live.\n\n{name}",
        "Sorry, our accountant is away again, the invoice will have to wait until next month.",
        "Honestly the invoice doesn't feel like 40 hours of work. Let's revisit the number after launch.",
        "Another studio quoted us half of your fee for the same thing. Can you match that? Otherwise we can't pay the balance yet.",
        "We still can't decide on the logo, but the launch date stays the same of course!",
        "Could you do the landing page too? Then we'll settle everything together.",
    ],
    "abusive": [
        "Are you actually this incompetent or is it deliberate? A child could have done better. I'll make sure everyone in this town hears about you.",
        "This is GARBAGE. You are a useless amateur and I regret ever hiring you.",
    ],
    "ko_neutral": [
        "안녕하세요 마라님,\n\n보내주신 시안 잘 받았습니다. B안으로 진행해 주시면 감사하겠습니다.\n\n{name} 드림",
        "확인했습니다. 목요일 회의 때 뵙겠습니다.\n{name}",
        "인보이스 금액 오늘 송금했습니다. 수고 많으셨습니다!\n{name} 드림",
    ],
    "hr_stalling": [
        "Pozdrav Mara,\n\nsamo nastavite raditi, platit ćemo sve na kraju kad projekt završi.\n\nLp, {name}",
        "Računovođa je opet na godišnjem, račun ćemo platiti idući mjesec.\n{name}",
        "Još se nismo odlučili za logo, ali rok ostaje isti, zar ne?\n{name}",
    ],
}


# the [[clients]] entries of the sample's config; the other clients are auto-discovered
CONFIG_CLIENTS: tuple[tuple[str, list[str]], ...] = (
    ("Northwind Design", ["*@northwind.example"]),
    ("Kowalski Bakery", ["*@kowalski-bakery.example"]),
    ("Jadran Tours", ["*@jadran-tours.example"]),
)


@dataclass
class Expected:
    """Ground truth for one client, in the SPEC's units (hours)."""

    name: str
    addresses: set[str]
    from_client: int = 0
    to_client: int = 0
    latency_hours: list[float] = field(default_factory=list)
    business_hours: list[float] = field(default_factory=list)
    unanswered: int = 0
    chasers: int = 0
    off_hours: int = 0
    tones: dict[str, int] = field(default_factory=dict)
    expected_flags: set[str] = field(default_factory=set)


@dataclass
class SampleMailbox:
    now: datetime
    inbox: list[bytes]
    sent: list[bytes]
    expected: dict[str, Expected]
    automated: int = 0
    config_clients: list[tuple[str, list[str]]] = field(default_factory=list)

    def all_messages(self) -> list[tuple[str, bytes]]:
        return [("INBOX", m) for m in self.inbox] + [("Sent", m) for m in self.sent]


def business_hours_bruteforce(start: datetime, end: datetime) -> float:
    """Working time between two instants, counted minute by minute in my time zone."""
    tz = ZoneInfo(TIMEZONE)
    t, minutes = start, 0
    step = timedelta(minutes=1)
    while t < end:
        local = t.astimezone(tz)
        if local.weekday() < 5 and WORK_START <= local.hour < WORK_END:
            minutes += 1
        t += step
    return minutes / 60


def _is_off_hours(moment: datetime) -> bool:
    local = moment.astimezone(ZoneInfo(TIMEZONE))
    return not (local.weekday() < 5 and WORK_START <= local.hour < WORK_END)


class _Writer:
    def __init__(self, now: datetime, rng: random.Random) -> None:
        self.now, self.rng = now, rng
        self.inbox: list[bytes] = []
        self.sent: list[bytes] = []
        self.counter = 0

    def message(self, sender: tuple[str, str], to: list[str], subject: str, body: str, date: datetime,
                parent_ids: list[str], link: bool, extra: dict[str, str] | None = None, cc: list[str] | None = None) -> str:
        self.counter += 1
        msg = EmailMessage()
        msg["From"] = f"{sender[0]} <{sender[1]}>"
        msg["To"] = ", ".join(to)
        if cc:
            msg["Cc"] = ", ".join(cc)
        msg["Subject"] = subject
        msg["Date"] = format_datetime(date.astimezone(ZoneInfo(TIMEZONE)))
        message_id = f"<sample.{self.counter:05d}.{self.rng.randrange(10**8):08d}@{sender[1].split('@')[1]}>"
        msg["Message-ID"] = message_id
        if link and parent_ids:
            msg["In-Reply-To"] = parent_ids[-1]
            msg["References"] = " ".join(parent_ids[-10:])
        for k, v in (extra or {}).items():
            msg[k] = v
        msg.set_content(body)
        raw = bytes(msg)
        (self.sent if sender[1] == ME else self.inbox).append(raw)
        return message_id


def _reply_prefix(lang: str) -> str:
    return {"de": "AW: ", "hr": "Odg: ", "ko": "RE: ", "pl": "Odp: "}.get(lang, "Re: ")


def generate(now: datetime | None = None, seed: int = 7) -> SampleMailbox:
    """Build the sample mailbox ending at ``now`` (UTC); same seed and now, same bytes."""
    now = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    rng = random.Random(seed)
    w = _Writer(now, rng)
    expected: dict[str, Expected] = {}

    def work_time(t: datetime) -> datetime:
        """Nudge my own replies into my working hours, as a real freelancer's would mostly be."""
        local = t.astimezone(ZoneInfo(TIMEZONE))
        while local.weekday() >= 5 or not WORK_START <= local.hour < WORK_END - 1:
            local += timedelta(minutes=37)
        return local.astimezone(timezone.utc)

    def thread(client: Expected, who: tuple[str, str], lang: str, subject: str, start: datetime,
               steps: list[tuple[str, float, str]], link: bool = True) -> None:
        """steps: (role, hours after the previous message, tone key or 'me')."""
        ids: list[str] = []
        t = start
        run_start: datetime | None = None
        last_client: datetime | None = None
        last_role = None
        for n, (role, gap, tone) in enumerate(steps):
            # whole seconds: the Date header cannot carry more, and the ground truth must be what is written
            t = (t + timedelta(hours=gap)).replace(microsecond=0) if n else t
            subj = subject if n == 0 else _reply_prefix(lang) + subject
            if role == "me":
                t = work_time(t)
                body = f"Hi,\n\nthanks - here is the update on {subject.lower()}.\n\nBest,\n{MY_NAME}"
                ids.append(w.message((MY_NAME, ME), [who[1]], subj, body, t, ids, link))
                client.to_client += 1
                if run_start is None:
                    run_start = t
                last_role = "me"
            else:
                text = rng.choice(TEXTS[tone]).format(name=who[0].split()[0])
                ids.append(w.message(who, [ME], subj, text, t, ids, link))
                client.from_client += 1
                label = tone.split("_")[-1]
                client.tones[label] = client.tones.get(label, 0) + 1
                client.off_hours += _is_off_hours(t)
                if run_start is not None:
                    client.latency_hours.append((t - run_start).total_seconds() / 3600)
                    client.business_hours.append(business_hours_bruteforce(run_start, t))
                    run_start = None
                elif last_role == "client" and last_client is not None and t - last_client <= timedelta(hours=24):
                    client.chasers += 1
                last_client = t
                last_role = "client"
        if run_start is not None and run_start < now - timedelta(days=5):
            client.unanswered += 1

    def days_ago(d: float, hour: int = 10) -> datetime:
        base = (now - timedelta(days=d)).astimezone(ZoneInfo(TIMEZONE)).replace(hour=hour, minute=rng.randrange(60))
        return base.astimezone(timezone.utc)

    # 1. a good client, configured by name: quick, civil answers
    good = expected.setdefault("Northwind Design", Expected("Northwind Design", {"lena@northwind.example"}))
    lena = ("Lena Fischer", "lena@northwind.example")
    for i, subject in enumerate(["Spring catalogue", "Website refresh", "Trade fair stand", "Photo shoot plan"]):
        steps = [("me", 0, "me")]
        for _ in range(rng.randrange(2, 4)):
            steps += [("client", rng.uniform(2, 20), "neutral"), ("me", rng.uniform(3, 24), "me")]
        steps.append(("client", rng.uniform(1, 12), "neutral"))
        thread(good, lena, "de", subject, days_ago(80 - i * 18), steps)

    # 2. a controlling client (auto-discovered by domain): chasers, night mail, constant approvals
    ctl = expected.setdefault("brightside.example", Expected("brightside.example", {"tom@brightside.example", "ops@brightside.example"}))
    tom = ("Tom Brandt", "tom@brightside.example")
    for i, subject in enumerate(["Social calendar May", "Launch posts", "Newsletter template", "Ad creatives"]):
        steps = [("client", 0, "neutral"), ("me", rng.uniform(2, 6), "me"),
                 ("client", rng.uniform(0.5, 2), "controlling"), ("client", rng.uniform(1, 5), "controlling"),
                 ("me", rng.uniform(1, 4), "me"), ("client", rng.uniform(10, 14), "controlling")]
        thread(ctl, tom, "en", subject, days_ago(70 - i * 15, hour=22), steps)
    ops = ("Brightside Ops", "ops@brightside.example")
    thread(ctl, ops, "en", "Access to the ad account", days_ago(12, hour=23),
           [("client", 0, "neutral"), ("me", 10, "me"), ("client", 3, "neutral")])

    # 3. a stalling client: slow answers, payment excuses, unanswered reminders
    stl = expected.setdefault("Kowalski Bakery", Expected("Kowalski Bakery", {"piotr@kowalski-bakery.example"}))
    piotr = ("Piotr Kowalski", "piotr@kowalski-bakery.example")
    for i, subject in enumerate(["Packaging redesign", "Invoice 2026-031", "Menu boards"]):
        steps = [("me", 0, "me"), ("client", rng.uniform(150, 260), "stalling"), ("me", rng.uniform(5, 30), "me"),
                 ("client", rng.uniform(130, 220), "stalling" if i else "neutral")]
        thread(stl, piotr, "pl", subject, days_ago(85 - i * 20), steps)
    for i, subject in enumerate(["Overdue invoice 2026-031", "Final files waiting", "Reminder: payment"]):
        thread(stl, piotr, "en", subject, days_ago(30 - i * 7), [("me", 0, "me"), ("me", 48, "me")])

    # 4. an abusive client on free mail: grouped by address, one message is enough
    abu = expected.setdefault("rick.moody77@gmail.com", Expected("rick.moody77@gmail.com", {"rick.moody77@gmail.com"}))
    rick = ("Rick Moody", "rick.moody77@gmail.com")
    thread(abu, rick, "en", "Logo for my food truck", days_ago(20),
           [("client", 0, "neutral"), ("me", 5, "me"), ("client", 30, "neutral"), ("me", 20, "me"),
            ("client", 40, "abusive")])

    # 5. a Korean client, neutral, replies without References (threaded by subject)
    ko = expected.setdefault("hanbit.example", Expected("hanbit.example", {"jiwoo@hanbit.example"}))
    jiwoo = ("박지우", "jiwoo@hanbit.example")
    for i, subject in enumerate(["브랜드 가이드", "웹사이트 리뉴얼"]):
        thread(ko, jiwoo, "ko", subject, days_ago(60 - i * 25),
               [("me", 0, "me"), ("client", rng.uniform(20, 50), "ko_neutral"), ("me", 24, "me"),
                ("client", rng.uniform(10, 40), "ko_neutral")], link=False)

    # 6. a Croatian client who stalls in Croatian
    hr = expected.setdefault("Jadran Tours", Expected("Jadran Tours", {"ivana@jadran-tours.example"}))
    ivana = ("Ivana Perić", "ivana@jadran-tours.example")
    thread(hr, ivana, "hr", "Brošura 2027", days_ago(45),
           [("me", 0, "me"), ("client", 30, "hr_stalling"), ("me", 8, "me"), ("client", 100, "hr_stalling"),
            ("me", 10, "me"), ("client", 120, "hr_stalling")])

    # automated mail and a colleague: never clients
    automated = 0
    for i in range(4):
        w.message(("Design Weekly", "news@designweekly.example"), [ME], f"Design Weekly #{120 + i}",
                  "This week's picks... Unsubscribe: https://designweekly.example/u", days_ago(60 - i * 14), [], False,
                  {"List-Id": "<weekly.designweekly.example>", "List-Unsubscribe": "<https://designweekly.example/u>"})
        automated += 1
    w.message(("Mail Delivery System", "mailer-daemon@mx.example"), [ME], "Undelivered Mail Returned to Sender",
              "Your message could not be delivered.", days_ago(9), [], False, {"Auto-Submitted": "auto-replied"})
    automated += 1
    w.message(("Stipe", "stipe@studio-kvadrat.example"), [ME], "Coffee?", "Coffee at 11?", days_ago(3), [], False)

    for e in expected.values():
        e.expected_flags = _expected_flags(e)
    return SampleMailbox(now, w.inbox, w.sent, expected, automated, config_clients=list(CONFIG_CLIENTS))


def _expected_flags(e: Expected) -> set[str]:
    """Flags per SPEC's default thresholds, assuming the tone model reads the texts as written."""
    flags = set()
    if e.tones.get("abusive", 0) >= 1:
        flags.add("abusive")
    ctl = e.tones.get("controlling", 0)
    if (ctl >= 3 and ctl / max(e.from_client, 1) >= 0.25) or e.chasers >= 3:
        flags.add("controlling")
    lat = sorted(e.latency_hours)
    median = (lat[(len(lat) - 1) // 2] + lat[len(lat) // 2]) / 2 if lat else 0
    if e.tones.get("stalling", 0) >= 2 or (len(lat) >= 3 and median >= 120) or e.unanswered >= 3:
        flags.add("stalling")
    return flags


def sample_config_toml(db_path: str, imap: dict[str, object] | None = None) -> str:
    """A config for the sample mailbox (the demo's, and the tests')."""
    lines = []
    if imap:
        lines.append("[imap]")
        lines += [f"{k} = {_toml(v)}" for k, v in imap.items()]
    lines += ["[me]", f'addresses = ["{ME}"]', f'timezone = "{TIMEZONE}"',
              f'working_hours = "{WORK_START:02d}:00-{WORK_END:02d}:00"',
              'working_days = ["mon", "tue", "wed", "thu", "fri"]',
              "[storage]", f"path = {_toml(db_path)}"]
    for name, patterns in CONFIG_CLIENTS:  # not generate(): its minute-by-minute oracle takes 0.2 s
        lines += ["[[clients]]", f"name = {_toml(name)}", f"match = {_toml(patterns)}"]
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    import json
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)
