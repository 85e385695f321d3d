"""The exam of one document version: a paper drawn from its question bank, graded on the server.

    paper = draw_paper(bank, attempt=1)              # questions and choices shuffled; no answers in it
    result = grade(bank, paper, answers)             # answers as submitted: [{"question": n, "choice": i}]

A paper names, for each question it asks (`n` from 1), the bank question (`q`) and the order
its choices are shown in (`order`: bank choice indices). It holds no answers: it travels in
the instance data the trainee's page reads. An answer is the position of a choice as shown.

Grading trusts nothing the client sends: the correct answers come from the bank revision
the paper was drawn from (its change id); an answer to a question the paper does not ask, a
second answer to one question, a choice outside the choices shown, a value that is not a
whole number, or any other field is ignored or counted wrong, and said so in the result.
Every answer is kept in the result with its wording (the training record shows them).
"""
from __future__ import annotations

import random
from typing import Any, Mapping, Sequence

from masterdata.question_bank import QuestionBank

_random = random.SystemRandom()


def draw_paper(bank: QuestionBank, attempt: int) -> dict[str, Any]:
    """Every question of the bank, in shuffled order, each with its choices shuffled."""
    order = list(range(len(bank.questions)))
    _random.shuffle(order)
    questions = []
    for n, index in enumerate(order, start=1):
        choices = list(range(len(bank.questions[index].choices)))
        _random.shuffle(choices)
        questions.append({"n": n, "q": index, "order": choices})
    return {"code": bank.code, "version": bank.version, "change_id": bank.change_id, "attempt": attempt,
            "pass_mark_pct": bank.pass_mark_pct, "max_attempts": bank.max_attempts, "questions": questions}


def shown(bank: QuestionBank, paper: Mapping[str, Any], lang: str = "en") -> list[dict[str, Any]]:
    """The paper as the trainee sees it: each question's wording and its choices in the order shown."""
    found = []
    for item in paper.get("questions") or []:
        question = bank.questions[item["q"]]
        found.append({"n": item["n"], "text": question.wording(lang),
                      "choices": [question.choice(i, lang) for i in item["order"]]})
    return found


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def grade(bank: QuestionBank, paper: Mapping[str, Any], answers: Any) -> dict[str, Any]:
    """Score `answers` against the paper's bank; see the module docstring for what is ignored."""
    asked = {item["n"]: item for item in paper.get("questions") or []}
    given: dict[int, Any] = {}
    ignored: list[str] = []
    for number, entry in enumerate(answers if isinstance(answers, Sequence) and not isinstance(answers, str)
                                   else [], start=1):
        if not isinstance(entry, Mapping):
            ignored.append(f"answer {number}: not a question and a choice")
            continue
        n = _whole(entry.get("question"))
        extra = sorted(str(k) for k in entry if k not in ("question", "choice"))
        if extra:
            ignored.append(f"answer {number}: fields {', '.join(extra)} ignored")
        if n not in asked:
            ignored.append(f"answer {number}: the paper has no question {entry.get('question')!r}")
            continue
        if n in given:
            ignored.append(f"answer {number}: question {n} was answered already")
            continue
        given[n] = entry.get("choice")
    if answers is not None and not isinstance(answers, Sequence) or isinstance(answers, str):
        ignored.append("the answers were not a list")
    lines = []
    correct = 0
    for n in sorted(asked):
        item = asked[n]
        question = bank.questions[item["q"]]
        raw = given.get(n)
        position = _whole(raw)
        line: dict[str, Any] = {"n": n, "question": question.text, "question_zh": question.text_zh,
                                "correct_choice": question.choices[question.answer]}
        if n not in given:
            line.update(chosen=None, chosen_text=None, correct=False, problem="not answered")
        elif position is None or not 0 <= position < len(item["order"]):
            line.update(chosen=raw if isinstance(raw, (int, str)) else None, chosen_text=None, correct=False,
                        problem="not one of the choices shown")
        else:
            choice = item["order"][position]
            line.update(chosen=position, chosen_text=question.choices[choice], correct=choice == question.answer,
                        problem=None)
        correct += 1 if line["correct"] else 0
        lines.append(line)
    total = len(lines)
    score = round(100 * correct / total, 1) if total else 0.0
    pass_mark = int(paper.get("pass_mark_pct") or bank.pass_mark_pct)
    return {"code": bank.code, "version": bank.version, "attempt": int(paper.get("attempt") or 1),
            "correct": correct, "total": total, "score_pct": score, "pass_mark_pct": pass_mark,
            "passed": total > 0 and score >= pass_mark, "answers": lines, "ignored": ignored}
