"""``make mutation``'s verdict: the mutants of ``shared/domain`` that survived ``tests/unit``,
against ``mutation-baseline`` (the survivors we accept, one per line with its reason).

    python -m tools.mutation_report [--baseline mutation-baseline]

It reads ``mutmut results --all true`` (run ``mutmut run`` first) and fails when a mutant
survives that the baseline does not list (a rule changed and no test noticed: write the test),
or when fewer than 95% of the mutants that change behaviour are killed. Baseline entries whose
mutant is killed now are reported as stale (delete them). A baseline line is
``<mutant name>  # why it cannot or need not be killed`` (wording only, equivalent, ...).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

REQUIRED_SCORE = 0.95
SURVIVING = {"survived", "no tests"}
NOT_RUN = {"not checked", "skipped"}  # (a narrowed run, MUTANTS=...)
_LINE = re.compile(r"^\s*(?P<name>[\w.]+__mutmut_\d+):\s*(?P<status>.+?)\s*$")


def statuses(results: str) -> dict[str, str]:
    found = {}
    for line in results.splitlines():
        if (match := _LINE.match(line)) and match.group("status") not in NOT_RUN:
            found[match.group("name")] = match.group("status")
    return found


def baseline(path: Path) -> dict[str, str]:
    accepted = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, reason = line.partition("#")
        if not reason.strip():
            raise SystemExit(f"{path}:{number}: {name.strip()} needs a reason after '#'")
        accepted[name.strip()] = reason.strip()
    return accepted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mutation_report")
    parser.add_argument("--baseline", type=Path, default=Path("mutation-baseline"))
    parser.add_argument("--mutmut", default=str(Path(sys.executable).parent / "mutmut"))
    args = parser.parse_args(argv)
    done = subprocess.run(
        [args.mutmut, "results", "--all", "true"], capture_output=True, text=True, check=False
    )
    found = statuses(done.stdout)
    if not found:
        print("no mutmut results: run `mutmut run` first", file=sys.stderr)
        return 2
    accepted = baseline(args.baseline) if args.baseline.exists() else {}
    counts = Counter(found.values())
    survivors = {name for name, status in found.items() if status in SURVIVING}
    unexpected = sorted(survivors - set(accepted))
    stale = sorted(name for name in accepted if name in found and found[name] not in SURVIVING)
    behavioural = len(found) - len(survivors & set(accepted))
    killed = behavioural - len(unexpected)
    score = killed / behavioural if behavioural else 1.0
    print(", ".join(f"{status}: {n}" for status, n in sorted(counts.items())))
    print(f"accepted survivors (baseline): {len(survivors & set(accepted))}")
    print(f"killed {killed} of {behavioural} mutants that change behaviour: {score:.1%}")
    for name in stale:
        print(f"stale baseline entry (killed now, delete it): {name}")
    for name in unexpected:
        print(f"SURVIVED {name}  (mutmut show {name})")
    if unexpected:
        print(f"{len(unexpected)} survivors are not in {args.baseline}: a test should kill them")
    return 0 if score >= REQUIRED_SCORE and not unexpected else 1


if __name__ == "__main__":
    sys.exit(main())
