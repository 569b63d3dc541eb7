"""Expression speed: parsing, a map filter over 100,000 items, and sort_by over 100,000 items.

    python bench/bench_filter.py [--items 100000] [--repeat 5]

Prints the best of `--repeat` runs for each measurement (the budget is < 0.5 s for the
filter over 100k items).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from prodigy.compiler import expression_grammar, expressions
from prodigy.compiler.expressions import parse_filter, parse_sort, parse_template
from prodigy.runtime.expr import Scope, filter_items, render_template, sort_items

FILTER = "severity == 'high' && priority > 5"
SORT = "priority DESC, name ASC NULLS FIRST"
TEMPLATE = "claude /fix ${item.location.file} --line ${item.line} --score ${item.score:-0}"


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def items(n: int) -> list[dict[str, object]]:
    rng = random.Random(42)
    severities = ["low", "medium", "high", "critical"]
    out: list[dict[str, object]] = []
    for i in range(n):
        item: dict[str, object] = {"id": i, "severity": rng.choice(severities),
                                   "priority": rng.randint(0, 10), "name": f"item-{i % 977}",
                                   "location": {"file": f"src/f{i}.rs"}, "line": i}
        if i % 10 == 0:
            item["priority"] = None
        out.append(item)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    start = time.perf_counter()
    expression_grammar.expression_parser()
    expression_grammar.template_parser()
    print(f"grammar load (both parsers, once)  {1000 * (time.perf_counter() - start):8.2f} ms")

    def parse_uncached() -> None:
        expressions._expression.cache_clear()
        parse_filter(FILTER)
    print(f"parse filter (uncached)            {1e6 * best(parse_uncached, 200):8.1f} us")
    cached = best(lambda: parse_filter(FILTER), 200)
    print(f"parse filter (cached)              {1e6 * cached:8.2f} us")

    def parse_template_uncached() -> None:
        expressions._template.cache_clear()
        expression_grammar.var_path.cache_clear()
        parse_template(TEMPLATE)
    print(f"parse template (uncached)          {1e6 * best(parse_template_uncached, 200):8.1f} us")

    data = items(args.items)
    node, diags = parse_filter(FILTER)
    assert node is not None and not diags
    kept = filter_items(data, node)
    seconds = best(lambda: filter_items(data, node), args.repeat)
    print(f"filter {args.items:,} items: {FILTER!r}  {1000 * seconds:8.1f} ms"
          f"  ({len(kept):,} kept)")

    spec, diags = parse_sort(SORT)
    assert spec is not None and not diags
    seconds = best(lambda: sort_items(data, spec), args.repeat)
    print(f"sort {args.items:,} items: {SORT!r}  {1000 * seconds:8.1f} ms")

    template, _ = parse_template(TEMPLATE)
    assert template is not None
    scopes = [Scope({"item": item}) for item in data[:10_000]]
    seconds = best(lambda: [render_template(template, s) for s in scopes], args.repeat)
    print(f"render template x 10,000           {1000 * seconds:8.1f} ms")


if __name__ == "__main__":
    main()
