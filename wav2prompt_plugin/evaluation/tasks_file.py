"""The tasks file, read and checked in one place: wav2prompt-eval, the demo page and the recipes' LLM
training read the same JSON.

    {"st_fr": {"template": "Translate into French: {speech} French:",
               "target": "fr", "metric": "bleu", "label": "En→Fr BLEU", "kinds": ["describe"]}}

A task names its prompt template, the manifest column its answers are scored against, the metric
(wer | bleu | acc), and optionally the sentence `kinds` it applies to and the `label` of its figure.
"""
import json
from typing import Dict, Iterable, Optional, Sequence

from wav2prompt_plugin.data.templates import PromptTemplate, TemplateError
from wav2prompt_plugin.evaluation.metrics import METRICS
from wav2prompt_plugin.runtime.errors import InputError

SCORED = ("template", "target", "metric")  # what a task needs to be scored


def read_json(path: str, what: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise InputError(f"{path}: cannot read the {what} ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not JSON ({e})") from None


def check_task(path: str, name: str, task, needs: Sequence[str]):
    if not isinstance(task, dict):
        raise InputError(f"{path}: task {name!r} is not an object")
    for key in needs:
        if key not in task:
            raise InputError(f"{path}: task {name!r} has no {key!r}")
    if "metric" in task and task["metric"] not in METRICS:
        raise InputError(f"{path}: task {name!r} has unknown metric {task['metric']!r} "
                         f"(metrics: {', '.join(METRICS)})")
    if not isinstance(task.get("label", ""), str):
        raise InputError(f"{path}: task {name!r} has a label that is not a string")
    if "template" in task:
        try:
            PromptTemplate(task["template"])
        except TemplateError as e:
            raise TemplateError(f"{path}: task {name!r}: {e}") from None


class TasksFile:
    """The file's tasks, each checked for the fields `needs` (a demo needs only templates)."""

    def __init__(self, path: str, needs: Sequence[str] = SCORED):
        self.path = path
        tasks = read_json(path, "tasks file")
        if not isinstance(tasks, dict):
            raise InputError(f"{path}: expected an object of tasks, got {type(tasks).__name__}")
        for name, task in tasks.items():
            check_task(path, name, task, needs)
        self.tasks: Dict[str, dict] = tasks

    def select(self, names: Iterable[str] = ()) -> Dict[str, dict]:
        """The tasks `names`, in that order (all, in the file's order, for none)."""
        names = [n for n in names if n] or list(self.tasks)
        for name in names:
            if name not in self.tasks:
                raise InputError(f"{self.path}: no task {name!r} (tasks: {', '.join(self.tasks)})")
        return {n: self.tasks[n] for n in names}

    def templates(self) -> Dict[str, str]:
        return {n: t["template"] for n, t in self.tasks.items()}

    def transcription_template(self, selected: Dict[str, dict], column: str) -> Optional[str]:
        """The template Wav2Prompt's confidence is measured under: that of the task whose target is the
        transcript column, among the selected tasks if one is, else in the whole file (a model scored
        with `--tasks st_fr` alone is judged on what it heard, not on its French); None where the file
        has none (transcribe() then uses the model's training template)."""
        for pool in (selected, self.tasks):
            for task in pool.values():
                if task.get("target") == column and "template" in task \
                        and not PromptTemplate(task["template"]).fields:
                    return task["template"]
        return None


def read_paraphrases(path: str, tasks: Dict[str, dict]) -> Dict[str, str]:
    """task -> a second wording of its template, for the tasks among `tasks`."""
    if not path:
        return {}
    paraphrases = read_json(path, "paraphrases")
    for name, template in paraphrases.items():
        if name not in tasks:
            raise InputError(f"{path}: no task {name!r} in the tasks file")
        PromptTemplate(template)
    return {n: t for n, t in paraphrases.items() if n in tasks}
