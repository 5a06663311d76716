#!/usr/bin/env python3
"""Finds import circles among the modules of each crate, so a newcomer can read a crate from
the bottom up. Run by hand from the repository root: `python3 scripts/module-cycles.py`
(optionally with crate roots such as crates/evm/src/lib.rs); it prints each crate's module
graph with `-v` and exits 1 if any crate has a circle.

A module depends on another when it names it: `use crate::a::..`, `super::..`, a child
module's path, or the same paths written inline in code. Declaring a child (`mod a;`) is not
a dependency, and `#[cfg(test)]` modules are left out (their `use super::*` is how tests
work). An edge goes to the deepest module a path names, so `use crate::Foo` (a re-export at
the root) counts as depending on the module it re-exports `Foo` from."""

import re
import sys
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip(text):
    """The code without comments, string or char literals, and #[cfg(test)] modules."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"'(?:\\.|[^'\\])'", "' '", text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+" + IDENT + r"\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def expand_use(tree):
    """`a::{b, c::{d as e}}` → [('a::b', 'b'), ('a::c::d', 'e')]: each path and the name it binds."""
    tree = tree.strip()
    brace = tree.find("{")
    if brace < 0:
        m = re.match(r"(.*?)(?:\s+as\s+(" + IDENT + r"))?$", tree, flags=re.S)
        path = m.group(1).strip()
        return [(path, m.group(2) or path.split("::")[-1].strip())]
    prefix, inner = tree[:brace], tree[brace + 1 : tree.rindex("}")]
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    parts.append(cur)
    out = []
    for p in parts:
        if p.strip():
            out += [(prefix + q, n) for q, n in expand_use(p)]
    return out


def child_file(parent_file, is_dir_owner, name):
    base = parent_file.parent if is_dir_owner else parent_file.parent / parent_file.stem
    for f in (base / f"{name}.rs", base / name / "mod.rs"):
        if f.exists():
            return f
    return None


def modules(root):
    """Module path (tuple) → source file, following `mod x;` declarations from the root."""
    found, todo = {}, [((), root)]
    while todo:
        path, f = todo.pop()
        found[path] = f
        owner = f.name in ("lib.rs", "main.rs", "mod.rs") or not path
        decl = r"(?:^|\n)\s*(#\[cfg\(test\)\]\s*)?(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;"
        for m in re.finditer(decl, strip(f.read_text())):
            if m.group(1):
                continue  # a test module, left out like inline ones
            m = m.group(2)
            cf = child_file(f, owner, m)
            if cf:
                todo.append((path + (m,), cf))
    return found


USE = r"\b(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);"


def paths_in(code):
    """Every path a file names that could point inside its crate, and what it re-exports. A
    re-export (`pub use`) is a door for others, not a dependency, unless the file's own code
    uses the name it brings in."""
    body = re.sub(USE, " ", code)
    words = set(re.findall(IDENT, body))
    out, reexports = [], {}
    for m in re.finditer(USE, code):
        for path, bound in expand_use(m.group(2)):
            if m.group(1):
                reexports[bound] = path
                if bound not in words:
                    continue
            out.append(path)
    out += re.findall(r"(?<![A-Za-z0-9_:])((?:crate|super|self|" + IDENT + r")(?:::" + IDENT + r")+)", body)
    return out, reexports


def resolve(path, here, mods, reexports, depth=0):
    """The deepest module `path` names from module `here`, looking through re-exports."""
    segs = [s for s in re.split(r"::", path.replace(" ", "")) if s]
    if not segs:
        return None
    if segs[0] == "crate":
        at, segs = (), segs[1:]
    elif segs[0] in ("super", "self"):
        at = here
        while segs and segs[0] in ("super", "self"):
            if segs.pop(0) == "super":
                at = at[:-1]
    elif here + (segs[0],) in mods:
        at = here
    else:
        return None  # another crate, std, or a local item
    for s in segs:
        if at + (s,) in mods:
            at = at + (s,)
        elif s in reexports.get(at, {}) and depth < 10 and at != here:
            return resolve(reexports[at][s], at, mods, reexports, depth + 1) or at
        else:
            break
    return at


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def name(path):
    return "::".join(path) or "crate"


def check(root, verbose):
    mods = modules(root)
    graph, why = {p: set() for p in mods}, {}
    found = {p: paths_in(strip(f.read_text())) for p, f in mods.items()}
    reexports = {p: r for p, (_, r) in found.items()}
    for here, (paths, _) in found.items():
        for path in paths:
            to = resolve(path, here, mods, reexports)
            if to is not None and to != here:
                graph[here].add(to)
                why.setdefault((here, to), path)
    found = cycles(graph)
    if verbose or found:
        print(f"{root}:")
        for p in sorted(graph, key=name):
            print(f"  {name(p)} -> {', '.join(sorted(map(name, graph[p]))) or '-'}")
    for c in found:
        print(f"  CYCLE: {' <-> '.join(map(name, c))}")
        for a in c:
            for b in sorted(graph[a] & set(c), key=name):
                print(f"    {name(a)} -> {name(b)}  ({why[(a, b)]})")
    return not found


def main():
    args = [a for a in sys.argv[1:] if a != "-v"]
    roots = [Path(a) for a in args] or sorted(
        p for p in Path(".").glob("**/src/*.rs") if p.name in ("lib.rs", "main.rs") and "target" not in p.parts
    )
    ok = all([check(r, "-v" in sys.argv) for r in roots])
    print("no module cycles" if ok else "module cycles found")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
