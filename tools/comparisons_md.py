#!/usr/bin/env python3
"""Print the "comparisons" of an example's summary.json as a markdown table, for the README.

Usage: tools/comparisons_md.py runs/<name>/summary.json
       tools/comparisons_md.py runs/<name>/summary.json --table ["column,column,..."]
The second form prints the results table ("table", one object per row) instead, with the columns
in the order given (default: the file's order).

Each comparison is train::compare's paired difference over seeds ("A beats B on metric"):
difference = mean(a - b) with its 95% interval, and "shown" true only when the whole interval lies
on A's side of 0. An interval that excludes 0 on the other side shows the reverse of the claim, so
the table says so instead of a bare "not shown". Numbers are rounded so the interval's half-width
keeps two significant digits (the digits beyond that are noise at 3 to 5 seeds).
"""
import json
import math
import sys


def decimals_for(low, high):
    """Decimals that leave two significant digits in the interval's half-width (0 to 4)."""
    half_width = (high - low) / 2.0
    if not math.isfinite(half_width) or half_width <= 0.0:
        return 4
    return max(0, min(4, 1 - math.floor(math.log10(half_width))))


def signed(value, decimals):
    """A number with its sign written out, and a real minus sign, as the README writes them."""
    if not math.isfinite(value):
        return str(value)
    text = f"{value:+.{decimals}f}"
    return text.replace("-", "\u2212")


def result(comparison):
    low, high = comparison["ci95"]
    if comparison["shown"]:
        return "shown"
    if low > 0.0 or high < 0.0:
        return "not shown; the reverse is shown"
    return "not shown at this scale"


def row(comparison):
    low, high = comparison["ci95"]
    decimals = decimals_for(low, high)
    cells = [
        comparison["claim"],
        f"{comparison['a']} \u2212 {comparison['b']}",
        comparison["metric"],
        signed(comparison["difference"], decimals),
        f"[{signed(low, decimals)}, {signed(high, decimals)}]",
        str(comparison["seeds"]),
        result(comparison),
    ]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def cell(value):
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("|", "\\|")


def print_results_table(summary, path, columns):
    rows = summary.get("table")
    if not rows:
        sys.exit(f"comparisons_md: {path} has no \"table\" list")
    if columns is None:
        columns = list(rows[0].keys())
    print("| " + " | ".join(columns) + " |")
    print("|" + " --- |" * len(columns))
    for entry in rows:
        print("| " + " | ".join(cell(entry.get(column, "")) for column in columns) + " |")


def main(argv):
    usage = "usage: tools/comparisons_md.py runs/<name>/summary.json [--table [column,column,...]]"
    if len(argv) < 2 or len(argv) > 4 or (len(argv) > 2 and argv[2] != "--table"):
        sys.exit(usage)
    try:
        with open(argv[1], encoding="utf-8") as file:
            summary = json.load(file)
    except (OSError, json.JSONDecodeError) as error:
        sys.exit(f"comparisons_md: cannot read {argv[1]}: {error}")
    if len(argv) > 2:
        print_results_table(summary, argv[1], argv[3].split(",") if len(argv) == 4 else None)
        return
    comparisons = summary.get("comparisons")
    if not comparisons:
        sys.exit(f"comparisons_md: {argv[1]} has no \"comparisons\" list")
    print("| claim | a \u2212 b | metric | difference | 95% interval | seeds | result |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for comparison in comparisons:
        print(row(comparison))


if __name__ == "__main__":
    main(sys.argv)
