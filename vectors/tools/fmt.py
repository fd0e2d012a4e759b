#!/usr/bin/env python3
"""Writes vector JSON in the house style: 2-space indent, one key per line, and
short containers of scalars on one line. Used by scripts that add vectors.

  vectors/tools/fmt.py FILE...          reformat in place
  vectors/tools/fmt.py --check FILE...  exit 1 if a file is not in the house style
"""
import json
import sys

WIDTH = 120


def _scalar(v):
    return not isinstance(v, (dict, list)) or len(v) == 0


def _inline(v):
    return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))


def render(v, indent=0):
    pad = " " * indent
    if isinstance(v, dict) and v:
        if all(_scalar(x) for x in v.values()) and indent + len(_inline(v)) <= WIDTH:
            return _inline(v)
        items = [f'{pad}  {json.dumps(k, ensure_ascii=False)}: {render(x, indent + 2)}'
                 for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(v, list) and v:
        if all(_scalar(x) for x in v) and indent + len(_inline(v)) <= WIDTH:
            return _inline(v)
        items = [pad + "  " + render(x, indent + 2) for x in v]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return _inline(v)


def formatted(path):
    with open(path, encoding="utf-8") as f:
        return render(json.load(f)) + "\n"


def main(argv):
    check = "--check" in argv
    bad = 0
    for path in (a for a in argv if a != "--check"):
        text = formatted(path)
        with open(path, encoding="utf-8") as f:
            same = f.read() == text
        if check and not same:
            print(f"{path}: not in the house style (run vectors/tools/fmt.py {path})")
            bad += 1
        elif not check and not same:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
