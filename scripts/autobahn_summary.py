"""Reads an Autobahn report (index.json), prints the cases by group as a Markdown table, and
exits 1 unless every case passed: OK, NON-STRICT or INFORMATIONAL, for the behaviour and for
the close. With --update-docs, writes the table into the WebSocket echo chapter."""

import json
import re
import sys
from collections import Counter, defaultdict

PASSING = {"OK", "NON-STRICT", "INFORMATIONAL"}
GROUPS = {
    "1": "Framing",
    "2": "Pings and pongs",
    "3": "Reserved bits",
    "4": "Opcodes",
    "5": "Fragmentation",
    "6": "UTF-8 handling",
    "7": "Close handling",
    "9": "Limits and performance",
    "10": "Miscellaneous",
}
CHAPTER = "docs/src/06-ws-echo.md"


def main():
    report = json.load(open(sys.argv[1]))
    cases = {case: result for agent in report.values() for case, result in agent.items()}
    by_group = defaultdict(Counter)
    failed = []
    for case, result in cases.items():
        verdicts = {result["behavior"], result["behaviorClose"]}
        group = case.split(".")[0]
        if verdicts <= PASSING:
            worst = next(v for v in ["INFORMATIONAL", "NON-STRICT", "OK"] if v in verdicts)
            by_group[group][worst] += 1
        else:
            by_group[group]["FAILED"] += 1
            failed.append(f"{case}: {result['behavior']} / close {result['behaviorClose']}")

    rows = ["| group | cases | OK | NON-STRICT | INFORMATIONAL | failed |", "|---|---|---|---|---|---|"]
    for group in sorted(by_group, key=int):
        c = by_group[group]
        name = GROUPS.get(group, "?")
        rows.append(
            f"| {group}. {name} | {sum(c.values())} | {c['OK']} | {c['NON-STRICT']} | {c['INFORMATIONAL']} | {c['FAILED']} |"
        )
    total = Counter()
    for c in by_group.values():
        total.update(c)
    rows.append(
        f"| **all** | **{sum(total.values())}** | {total['OK']} | {total['NON-STRICT']} | {total['INFORMATIONAL']} | {total['FAILED']} |"
    )
    table = "\n".join(rows)
    print(table)

    if "--update-docs" in sys.argv:
        text = open(CHAPTER).read()
        marked = re.compile(r"(<!-- autobahn-summary:start -->\n)(?:.*?\n)?(<!-- autobahn-summary:end -->)", re.S)
        if not marked.search(text):
            sys.exit(f"{CHAPTER} has no autobahn-summary markers")
        open(CHAPTER, "w").write(marked.sub(lambda m: m.group(1) + table + "\n" + m.group(2), text))
        print(f"updated {CHAPTER}")

    if failed or not cases:
        print(f"{len(failed)} case(s) failed:" if cases else "the report holds no cases")
        print("\n".join(failed))
        sys.exit(1)
    print(f"all {len(cases)} cases passed")


if __name__ == "__main__":
    main()
