"""The bilingual demo: users of every role, two subjects with knowledge points, 300+ items with IRT parameters,
an open exam, and a closed past exam with thousands of simulated sittings drawn from a known IRT model.

Idempotent: a second run finds the demo admin and changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from exam.auth.models import Role, User
from exam.auth.passwords import hash_password
from exam.db import utcnow
from exam.delivery.models import Candidate, Exam, ExamStaff, PaperItem, Response, ResultsPolicy, Sitting
from exam.delivery.services import freeze_exam
from itembank.models import Item, ItemBank, ItemType, ItemVersion, KnowledgePoint, Subject

# (role, username, password) — printed by `exam run`.
DEMO_LOGINS: list[tuple[str, str, str]] = [
    ("admin", "admin", "admin-demo-2026"),
    ("examiner", "teacher.li", "examiner-demo"),
    ("examiner", "teacher.smith", "examiner-demo"),
    ("proctor", "proctor.wang", "proctor-demo"),
    ("marker", "marker.zhao", "marker-demo"),
    ("marker", "marker.jones", "marker-demo"),
    ("student", "student01", "student-demo"),
    ("student", "student02", "student-demo"),
]
DEMO_NAMES = {
    "admin": "系统管理员 Admin",
    "teacher.li": "李老师 Ms Li",
    "teacher.smith": "Mr Smith 史密斯老师",
    "proctor.wang": "王监考 Proctor Wang",
    "marker.zhao": "赵阅卷 Marker Zhao",
    "marker.jones": "Ms Jones 琼斯",
}
STUDENT_NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "Emily Chen", "Jack Wang", "Sophia Li", "杨磊", "黄敏"]
CLASSES = ["高一(1)班 Grade 10 Class 1", "高一(2)班 Grade 10 Class 2", "International A"]

MATH_POINTS = [
    ("1", "Numbers and operations", "数与运算", None),
    ("1.1", "Arithmetic", "四则运算", "1"),
    ("1.2", "Fractions and percentages", "分数与百分数", "1"),
    ("2", "Algebra", "代数", None),
    ("2.1", "Linear equations", "一元一次方程", "2"),
    ("2.2", "Quadratic functions", "二次函数", "2"),
    ("3", "Geometry", "几何", None),
    ("3.1", "Area and perimeter", "面积与周长", "3"),
    ("3.2", "Pythagorean theorem", "勾股定理", "3"),
    ("4", "Number theory", "数论", None),
    ("4.1", "Primes and divisibility", "质数与整除", "4"),
]
ENGLISH_POINTS = [
    ("1", "Vocabulary", "词汇", None),
    ("1.1", "Word meaning", "词义", "1"),
    ("1.2", "Word matching", "词语搭配", "1"),
    ("2", "Grammar", "语法", None),
    ("2.1", "Verb tenses", "动词时态", "2"),
    ("2.2", "Sentence order", "语序", "2"),
    ("3", "Writing", "写作", None),
    ("3.1", "Short response", "简答", "3"),
    ("3.2", "Essay", "作文", "3"),
]
VOCABULARY = [
    ("apple", "苹果"), ("library", "图书馆"), ("weather", "天气"), ("journey", "旅程"), ("courage", "勇气"),
    ("science", "科学"), ("history", "历史"), ("environment", "环境"), ("friendship", "友谊"), ("knowledge", "知识"),
    ("government", "政府"), ("hospital", "医院"), ("language", "语言"), ("mountain", "山"), ("river", "河流"),
    ("festival", "节日"), ("tradition", "传统"), ("opportunity", "机会"), ("experiment", "实验"), ("culture", "文化"),
    ("discussion", "讨论"), ("energy", "能源"), ("future", "未来"), ("health", "健康"), ("invention", "发明"),
]  # fmt: skip
VERBS = [
    ("go", "went", "gone"), ("eat", "ate", "eaten"), ("write", "wrote", "written"), ("see", "saw", "seen"),
    ("take", "took", "taken"), ("speak", "spoke", "spoken"), ("begin", "began", "begun"), ("drive", "drove", "driven"),
    ("swim", "swam", "swum"), ("sing", "sang", "sung"), ("choose", "chose", "chosen"), ("fly", "flew", "flown"),
]  # fmt: skip
SENTENCES = [
    "I have lived here for three years", "She is reading a book in the library", "We will visit the museum tomorrow",
    "They played football after school", "He has never been to Beijing", "My mother cooks dinner every evening",
]  # fmt: skip


@dataclass
class DraftItem:
    """An item before it is written: type, content, key and metadata."""

    type: ItemType
    stem: str
    key: Any
    kp: str
    level: int
    options: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    points: float = 2.0
    seconds: int = 60
    explanation: str | None = None


def _letters(values: list[str]) -> list[dict[str, Any]]:
    return [{"key": "ABCDEFGH"[i], "text": str(v)} for i, v in enumerate(values)]


def _choice(rng: np.random.Generator, correct: Any, wrong: list[Any]) -> tuple[list[dict[str, Any]], str]:
    values = [correct, *wrong[:3]]
    order = rng.permutation(len(values))
    shuffled = [values[i] for i in order]
    return _letters([str(v) for v in shuffled]), "ABCD"[int(np.where(order == 0)[0][0])]


def _math_items(rng: np.random.Generator) -> list[DraftItem]:
    items: list[DraftItem] = []
    for n in range(40):  # arithmetic, single choice
        a, b = int(rng.integers(12, 99)), int(rng.integers(12, 99))
        options, key = _choice(rng, a * b, [a * b + 10, a * b - 1, (a + 1) * b])
        items.append(
            DraftItem(
                ItemType.SINGLE_CHOICE,
                f"<p>计算 Compute: \\({a} \\times {b}\\) = ?</p>",
                key,
                "1.1",
                1 + n % 3,
                options,
            )
        )
    for n in range(30):  # linear equations, fill in the blank
        x, a, b = int(rng.integers(-9, 10)), int(rng.integers(2, 9)), int(rng.integers(1, 20))
        items.append(
            DraftItem(
                ItemType.FILL_BLANK,
                f"<p>解方程 Solve \\({a}x + {b} = {a * x + b}\\)：x = ____</p>",
                [{"accepted": [str(x)], "numeric": True, "tolerance": 0}],
                "2.1",
                2 + n % 3,
                explanation=f"x = ({a * x + b} - {b}) / {a} = {x}",
            )
        )
    for n in range(30):  # primes, true/false
        value = int(rng.integers(20, 200))
        is_prime = value > 1 and all(value % d for d in range(2, math.isqrt(value) + 1))
        items.append(
            DraftItem(
                ItemType.TRUE_FALSE, f"<p>{value} 是质数。{value} is a prime number.</p>", is_prime, "4.1", 2 + n % 2
            )
        )
    for n in range(25):  # primes, multiple choice
        values = [int(v) for v in rng.choice(np.arange(2, 60), size=5, replace=False)]
        primes = [v for v in values if all(v % d for d in range(2, math.isqrt(v) + 1))]
        if not primes:
            values[0], primes = 53, [53]
        options = _letters([str(v) for v in values])
        key = sorted(o["key"] for o in options if int(o["text"]) in primes)
        items.append(
            DraftItem(
                ItemType.MULTIPLE_CHOICE,
                "<p>下列哪些是质数？Which of these are prime?</p>",
                key,
                "4.1",
                3 + n % 2,
                options,
            )
        )
    for n in range(25):  # geometry, numerical with tolerance
        r = int(rng.integers(2, 15))
        items.append(
            DraftItem(
                ItemType.NUMERICAL,
                f"<p>半径为 {r} cm 的圆的面积是多少（保留一位小数）？"
                f"Area of a circle of radius {r} cm (one decimal)? \\(S = \\pi r^2\\)</p>",
                {"value": round(math.pi * r * r, 1), "tolerance": 0.1, "units": ["cm^2", "cm²"]},
                "3.1",
                3 + n % 2,
            )
        )
    for n in range(20):  # Pythagorean triples, fill blank
        k = int(rng.integers(1, 6))
        a, b, c = [(3, 4, 5), (5, 12, 13), (8, 15, 17)][n % 3]
        items.append(
            DraftItem(
                ItemType.FILL_BLANK,
                f"<p>直角三角形两直角边为 {a * k} 和 {b * k}，斜边为 ____。"
                f"Legs {a * k} and {b * k}; the hypotenuse is ____.</p>",
                [{"accepted": [str(c * k)], "numeric": True, "tolerance": 0}],
                "3.2",
                2 + n % 3,
            )
        )
    for n in range(15):  # fractions and percentages
        num, den = int(rng.integers(1, 9)), 2 ** int(rng.integers(1, 4))
        items.append(
            DraftItem(
                ItemType.FILL_BLANK,
                f"<p>把 \\(\\frac{{{num}}}{{{den}}}\\) 写成小数。Write {num}/{den} as a decimal.</p>",
                [{"accepted": [f"{num / den:g}"], "numeric": True, "tolerance": 0}],
                "1.2",
                1 + n % 3,
            )
        )
    for _ in range(10):  # quadratic functions, short answer
        p = int(rng.integers(1, 6))
        items.append(
            DraftItem(
                ItemType.SHORT_ANSWER,
                f"<p>说明二次函数 \\(y = (x - {p})^2 + 1\\) 的顶点和开口方向。"
                f"Give the vertex and the direction of opening of \\(y = (x - {p})^2 + 1\\).</p>",
                f"顶点 ({p}, 1)，开口向上 / vertex ({p}, 1), opens upward",
                "2.2",
                3,
                points=4.0,
                seconds=180,
            )
        )
    items.append(
        DraftItem(
            ItemType.ORDERING,
            "<p>从小到大排列 Order from smallest to largest.</p>",
            ["C", "A", "D", "B"],
            "1.2",
            2,
            _letters(["0.5", "0.9", "1/4", "2/3"]),
        )
    )
    return items


def _english_items(rng: np.random.Generator) -> list[DraftItem]:
    items: list[DraftItem] = []
    meanings = [m for _, m in VOCABULARY]
    for n, (word, meaning) in enumerate(VOCABULARY * 2):
        wrong = [m for m in rng.permutation(meanings) if m != meaning][:3]
        options, key = _choice(rng, meaning, wrong)
        items.append(
            DraftItem(
                ItemType.SINGLE_CHOICE,
                f"<p>“{word}” 的中文意思是？What does “{word}” mean?</p>",
                key,
                "1.1",
                1 + n % 4,
                options,
            )
        )
    for n, (base, past, participle) in enumerate(VERBS * 3):
        if n % 2:
            stem = f"<p>Yesterday I ____ ({base}) to my friend.</p>"
            key = [{"accepted": [past]}]
        else:
            stem = f"<p>She has already ____ ({base}) it.</p>"
            key = [{"accepted": [participle]}]
        items.append(DraftItem(ItemType.FILL_BLANK, stem, key, "2.1", 2 + n % 3))
    for n, (base, past, _) in enumerate(VERBS * 2):
        claimed = past if n % 2 == 0 else base + "ed"
        items.append(
            DraftItem(
                ItemType.TRUE_FALSE,
                f"<p>The past tense of “{base}” is “{claimed}”. “{base}” 的过去式是 “{claimed}”。</p>",
                claimed == past,
                "2.1",
                2 + n % 2,
            )
        )
    for n in range(10):
        pairs = [VOCABULARY[(n * 4 + i) % len(VOCABULARY)] for i in range(4)]
        left = [{"key": str(i + 1), "text": w, "side": "left"} for i, (w, _) in enumerate(pairs)]
        order = rng.permutation(4)
        right = [{"key": "abcd"[j], "text": pairs[order[j]][1], "side": "right"} for j in range(4)]
        key = {str(order[j] + 1): "abcd"[j] for j in range(4)}
        items.append(
            DraftItem(
                ItemType.MATCHING,
                "<p>把单词与中文意思配对。Match each word with its meaning.</p>",
                key,
                "1.2",
                2,
                left + right,
            )
        )
    for n, sentence in enumerate(SENTENCES):
        words = sentence.split()
        options = _letters(words) if len(words) <= 8 else _letters(words[:8])
        shuffled = list(rng.permutation(len(options)))
        shown = [options[i] for i in shuffled]
        relabelled = [{"key": "ABCDEFGH"[i], "text": o["text"]} for i, o in enumerate(shown)]
        key = ["ABCDEFGH"[shuffled.index(i)] for i in range(len(options))]
        items.append(
            DraftItem(
                ItemType.ORDERING,
                "<p>把单词排成正确的句子。Put the words in order.</p>",
                key,
                "2.2",
                3 + n % 2,
                relabelled,
            )
        )
    for n in range(8):
        topic = ["your favourite festival", "a book you like", "protecting the environment", "your best friend"][n % 4]
        items.append(
            DraftItem(
                ItemType.SHORT_ANSWER,
                f"<p>In 2-3 sentences, describe {topic}. 用 2-3 句英语描述。</p>",
                None,
                "3.1",
                3,
                points=4.0,
                seconds=240,
            )
        )
    for n in range(4):
        topic = ["My dream school", "Technology and learning", "A journey I remember", "Why friendship matters"][n]
        items.append(
            DraftItem(
                ItemType.ESSAY, f"<p>Essay 作文：{topic} (120-150 words)</p>", None, "3.2", 4, points=10.0, seconds=1200
            )
        )
    return items


def _irt_params(rng: np.random.Generator, draft: DraftItem) -> tuple[str, float, float, float | None]:
    a = float(np.clip(rng.lognormal(0.1, 0.3), 0.4, 2.5))
    b = float(np.clip(rng.normal((draft.level - 3) * 0.6, 0.5), -3, 3))
    if draft.type in (ItemType.SINGLE_CHOICE, ItemType.MULTIPLE_CHOICE):
        return "3pl", round(a, 3), round(b, 3), round(float(rng.uniform(0.1, 0.25)), 3)
    return "2pl", round(a, 3), round(b, 3), None


def _wrong_answer(rng: np.random.Generator, draft: DraftItem) -> Any:
    """A plausible wrong answer of the right shape (for simulated students)."""
    keys = [o["key"] for o in draft.options]
    if draft.type is ItemType.SINGLE_CHOICE:
        return str(rng.choice([k for k in keys if k != draft.key]))
    if draft.type is ItemType.MULTIPLE_CHOICE:
        wrong = [k for k in keys if k not in draft.key]
        return sorted({*draft.key[:-1], *(wrong[:1] or [])}) or [keys[0]]
    if draft.type is ItemType.TRUE_FALSE:
        return not draft.key
    if draft.type is ItemType.FILL_BLANK:
        return ["?" + str(rng.integers(0, 99))]
    if draft.type is ItemType.NUMERICAL:
        return str(round(draft.key["value"] * 1.5, 1))
    if draft.type is ItemType.MATCHING:
        values = list(draft.key.values())
        return dict(zip(draft.key.keys(), values[1:] + values[:1], strict=True))
    if draft.type is ItemType.ORDERING:
        return list(reversed(draft.key))
    return ""


def _right_answer(draft: DraftItem) -> Any:
    if draft.type is ItemType.FILL_BLANK:
        return [b["accepted"][0] for b in draft.key]
    if draft.type is ItemType.NUMERICAL:
        return f"{draft.key['value']} cm^2"
    return draft.key


SHORT_ANSWERS = {
    0: ["I don't know.", "不会", "It is a thing."],
    1: ["The vertex is somewhere and it goes up.", "It is nice and I like it because it is good.",
        "顶点在右边，开口向上。"],
    2: ["The vertex is at the point and the parabola opens upward since the coefficient is positive.",
        "My favourite festival is the Spring Festival. We eat dumplings with family.",
        "顶点坐标正确，开口向上，因为二次项系数为正。"],
    3: ["The vertex is (p, 1) and it opens upward because the x^2 coefficient is positive; the axis is x = p.",
        "The Spring Festival is my favourite festival because the whole family gathers, we make dumplings and "
        "watch fireworks together, which makes me feel warm and connected to our traditions.",
        "顶点为 (p,1)，对称轴 x=p，二次项系数 1>0，所以开口向上，函数有最小值 1。"],
    4: ["Vertex (p, 1), axis of symmetry x = p, opens upward as a = 1 > 0, minimum value 1 at x = p.",
        "Protecting the environment matters because clean air and water keep us healthy; I sort rubbish, take "
        "the bus and turn off lights, and I think schools should teach everyone to do the same.",
        "顶点 (p,1)，开口向上，最小值为 1，当 x=p 时取得；图像关于直线 x=p 对称。"],
}  # fmt: skip


def load_demo(session: Session, *, students: int = 2000, seed: int = 20261124) -> list[str]:
    """Load the demo once; returns lines that summarise what exists."""
    if session.scalar(select(User.id).where(User.username == "admin")) is not None:
        return ["The demo is already loaded; nothing changed.", *_summary(session)]
    rng = np.random.default_rng(seed)
    now = utcnow()

    staff: dict[str, User] = {}
    for role, username, password in DEMO_LOGINS:
        user = User(
            username=username,
            role=Role(role),
            password_hash=hash_password(password),
            display_name=DEMO_NAMES.get(username, STUDENT_NAMES[len(staff) % len(STUDENT_NAMES)]),
            locale="zh_CN" if username in ("teacher.li", "proctor.wang", "marker.zhao") else None,
            class_name=CLASSES[0] if role == "student" else None,
        )
        session.add(user)
        staff[username] = user
    session.flush()

    subjects = {
        "MATH": Subject(code="MATH", name_en="Mathematics", name_zh="数学"),
        "ENG": Subject(code="ENG", name_en="English", name_zh="英语"),
    }
    session.add_all(subjects.values())
    session.flush()
    points: dict[tuple[str, str], KnowledgePoint] = {}
    for code, table in (("MATH", MATH_POINTS), ("ENG", ENGLISH_POINTS)):
        for kp_code, en, zh, parent in table:
            kp = KnowledgePoint(
                subject_id=subjects[code].id,
                code=kp_code,
                name_en=en,
                name_zh=zh,
                parent=points[(code, parent)] if parent else None,
            )
            session.add(kp)
            points[(code, kp_code)] = kp
    session.flush()

    banks = {
        "MATH": ItemBank(name="数学题库 Mathematics bank", subject=subjects["MATH"], owner=staff["teacher.li"]),
        "ENG": ItemBank(name="English bank 英语题库", subject=subjects["ENG"], owner=staff["teacher.smith"]),
    }
    session.add_all(banks.values())
    session.flush()
    drafts = {"MATH": _math_items(rng), "ENG": _english_items(rng)}
    written: dict[str, list[tuple[DraftItem, Item, ItemVersion]]] = {"MATH": [], "ENG": []}
    for code, items in drafts.items():
        for n, draft in enumerate(items, start=1):
            model, a, b, c = _irt_params(rng, draft)
            item = Item(
                bank=banks[code],
                type=draft.type,
                source_id=f"demo-{code}-{n:03d}",
                level=draft.level,
                tags=["demo", code.lower()],
                created_by_id=banks[code].owner_id,
                irt_model=model,
                irt_a=a,
                irt_b=b,
                irt_c=c,
                knowledge_points=[points[(code, draft.kp)]],
            )
            version = ItemVersion(
                item=item,
                number=1,
                stem=draft.stem,
                options=draft.options,
                key=draft.key,
                settings=draft.settings,
                points=draft.points,
                seconds=draft.seconds,
                explanation=draft.explanation,
                created_by_id=banks[code].owner_id,
            )
            session.add_all([item, version])
            written[code].append((draft, item, version))
    session.flush()
    for entries in written.values():
        for _, item, version in entries:
            item.current_version_id = version.id

    student_hash = hash_password("student-demo")
    real_students = [u for u in staff.values() if u.role is Role.STUDENT]
    # Simulated students share one (fast) hash: thousands of strong hashes would take minutes and they never sign in.
    sim_hash = hash_password(f"simulated-{seed}", fast=True)
    session.execute(
        insert(User),
        [
            {
                "username": f"sim{i:05d}",
                "display_name": f"{STUDENT_NAMES[i % len(STUDENT_NAMES)]} {i:05d}",
                "password_hash": sim_hash,
                "role": Role.STUDENT,
                "class_name": CLASSES[i % len(CLASSES)],
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(students)
        ],
    )
    for user in real_students:
        user.password_hash = student_hash
    sim_ids = list(session.scalars(select(User.id).where(User.username.like("sim%")).order_by(User.id)))

    # The open exam: mathematics, objective items plus one short answer, for the demo students.
    math_entries = written["MATH"]
    # Two of each objective type (positions follow _math_items' order), a short answer and the ordering item.
    chosen = [math_entries[i] for i in (0, 1, 40, 41, 70, 71, 100, 101, 125, 126, 150, 170, 185, 195)]
    open_exam = Exam(
        title="期中数学测验 Mid-term Mathematics Quiz",
        owner=staff["teacher.li"],
        subject=subjects["MATH"],
        bank=banks["MATH"],
        opens_at=now - timedelta(hours=1),
        closes_at=now + timedelta(days=7),
        duration_minutes=45,
        shuffle_options=True,
        multiple_choice_rule="cn_partial",
        results_policy=ResultsPolicy.IMMEDIATELY,
        proctored=True,
        description="可随时开始；45 分钟。Start any time; 45 minutes.",
    )
    session.add(open_exam)
    for position, (draft, _, version) in enumerate(chosen):
        session.add(
            PaperItem(
                exam=open_exam,
                position=position,
                item_version=version,
                points=draft.points,
                section="选择题 Choice" if draft.options else "填空与解答 Constructed",
            )
        )
    for user in real_students:
        session.add(Candidate(exam=open_exam, user_id=user.id))
    session.add_all(
        [
            ExamStaff(exam=open_exam, user_id=staff["proctor.wang"].id, role="proctor"),
            ExamStaff(exam=open_exam, user_id=staff["marker.zhao"].id, role="marker"),
        ]
    )
    session.flush()
    freeze_exam(session, open_exam, now)

    # The past exam: 40 items of both subjects, thousands of sittings simulated from the items' IRT parameters.
    eng = written["ENG"]
    past_entries = [math_entries[i] for i in range(0, 160, 6)][:24] + [eng[i] for i in range(0, 140, 10)][:14]
    past_entries += [
        next(e for e in eng if e[0].type is ItemType.SHORT_ANSWER),
        next(e for e in eng if e[0].type is ItemType.ESSAY),
    ]
    past = Exam(
        title="2026 春季学期期末考试 Spring 2026 Final",
        owner=staff["teacher.li"],
        subject=subjects["MATH"],
        bank=banks["MATH"],
        opens_at=now - timedelta(days=40),
        closes_at=now - timedelta(days=39),
        duration_minutes=90,
        multiple_choice_rule="cn_partial",
        results_policy=ResultsPolicy.AFTER_CLOSE,
    )
    session.add(past)
    paper_items = []
    for position, (draft, _, version) in enumerate(past_entries):
        paper_item = PaperItem(exam=past, position=position, item_version=version, points=draft.points)
        session.add(paper_item)
        paper_items.append(paper_item)
    session.add(ExamStaff(exam=past, user_id=staff["marker.jones"].id, role="marker"))
    session.flush()
    freeze_exam(session, past, past.opens_at)
    session.execute(insert(Candidate), [{"exam_id": past.id, "user_id": uid, "extra_minutes": 0} for uid in sim_ids])

    thetas = rng.normal(0, 1, size=len(sim_ids))
    started = past.opens_at + timedelta(minutes=5)
    session.execute(
        insert(Sitting),
        [
            {
                "exam_id": past.id,
                "user_id": uid,
                "form_no": 1,
                "state": "submitted",
                "started_at": started,
                "deadline_at": started + timedelta(minutes=90),
                "submitted_at": started + timedelta(minutes=80),
                "submitted_by": "student",
                "item_order": [p.id for p in paper_items],
                "option_orders": {},
                "position": 0,
            }
            for uid in sim_ids
        ],
    )
    sitting_ids = list(session.scalars(select(Sitting.id).where(Sitting.exam_id == past.id).order_by(Sitting.user_id)))
    response_rows: list[dict[str, Any]] = []
    totals = np.zeros(len(sim_ids))
    for (draft, item, version), paper_item in zip(past_entries, paper_items, strict=True):
        a, b, c = item.irt_a or 1.0, item.irt_b or 0.0, item.irt_c or 0.0
        p = c + (1 - c) / (1 + np.exp(-a * (thetas - b)))
        if draft.type in (ItemType.SHORT_ANSWER, ItemType.ESSAY):
            # Graded response: the probability curve sets how many rubric steps the answer reaches.
            steps = 4
            levels = np.clip(
                (rng.uniform(size=len(thetas))[:, None] < p[:, None] ** np.arange(1, steps + 1)).sum(axis=1), 0, steps
            )
            scores = np.round(levels / steps * draft.points, 1)
            for row, (sid, level, score) in enumerate(zip(sitting_ids, levels, scores, strict=True)):
                texts = SHORT_ANSWERS[int(level)]
                response_rows.append(
                    {
                        "sitting_id": sid,
                        "paper_item_id": paper_item.id,
                        "item_version_id": version.id,
                        "answer": texts[row % len(texts)],
                        "flagged": False,
                        "client_seq": 1,
                        "saved_at": started,
                        "score": float(score),
                        "max_score": draft.points,
                        "score_source": "human",
                        "score_detail": {"marker": "marker.jones", "simulated": True},
                    }
                )
                totals[row] += score
            continue
        correct = rng.uniform(size=len(thetas)) < p
        right = _right_answer(draft)
        for row, (sid, ok) in enumerate(zip(sitting_ids, correct, strict=True)):
            response_rows.append(
                {
                    "sitting_id": sid,
                    "paper_item_id": paper_item.id,
                    "item_version_id": version.id,
                    "answer": right if ok else _wrong_answer(rng, draft),
                    "flagged": False,
                    "client_seq": 1,
                    "saved_at": started,
                    "score": draft.points if ok else 0.0,
                    "max_score": draft.points,
                    "score_source": "rule",
                    "score_detail": None,
                }
            )
            totals[row] += draft.points if ok else 0.0
    for start in range(0, len(response_rows), 20_000):
        session.execute(insert(Response), response_rows[start : start + 20_000])
    maximum = float(sum(d.points for d, _, _ in past_entries))
    session.execute(
        update(Sitting),
        [  # bulk UPDATE by primary key
            {"id": sid, "score": float(total), "max_score": maximum, "needs_marking": False}
            for sid, total in zip(sitting_ids, totals, strict=True)
        ],
    )
    session.flush()
    return ["Demo loaded.", *_summary(session)]


def _summary(session: Session) -> list[str]:
    users = session.scalar(select(func.count(User.id)))
    items = session.scalar(select(func.count(Item.id)))
    sittings = session.scalar(select(func.count(Sitting.id)))
    return [f"users: {users}, items: {items}, sittings: {sittings}"]
