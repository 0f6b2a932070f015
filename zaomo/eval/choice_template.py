"""The one multiple-choice template. `answer_text` renders what follows the answer cue, both in a few-shot
example and as the continuation that is scored, so the model is scored on exactly the form the shots showed
it: " B" after "答案：" in letter mode, " <option text>" in full-choice mode."""

from __future__ import annotations

LETTERS = "ABCDEFGHIJ"
ANSWER_CUE = "答案："


def answer_index(answer, n_choices: int) -> int | None:
    """The 0-based option of an answer field: exactly one letter (A, b, " C ") or an integer index within
    the options; None for anything else ("AB", "E" of four, 4 of four, True, "1")."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int):
        return answer if 0 <= answer < n_choices else None
    if isinstance(answer, str):
        a = answer.strip().upper()
        if len(a) == 1 and a in LETTERS[:n_choices]:
            return LETTERS.index(a)
    return None


def question_block(question: str, choices: list[str]) -> str:
    opts = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
    return f"{question}\n{opts}\n{ANSWER_CUE}"


def answer_text(choices: list[str], i: int, mode: str) -> str:
    """What follows the cue for option `i`: the shot's answer and the scored continuation alike."""
    return f" {LETTERS[i]}" if mode == "letter" else f" {choices[i]}"


def choice_prompt(question: str, choices: list[str], shots: list[dict], mode: str) -> str:
    """Shots (each with a valid "answer") answered in the template's form, then the question at the cue."""
    done = "".join(question_block(s["question"], s["choices"])
                   + answer_text(s["choices"], answer_index(s["answer"], len(s["choices"])), mode) + "\n\n"
                   for s in shots)
    return done + question_block(question, choices)
