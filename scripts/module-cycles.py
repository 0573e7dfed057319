#!/usr/bin/env python3
"""Import cycles between the modules of a crate, and children that import their parent.

Usage: scripts/module-cycles.py [SRC_DIR ...]   (default: src emulator/src)
Reads every `crate::…` and `super::…` path in the .rs files (use statements and inline
paths, comments and doc comments left out), resolves each to the module that defines
it, and prints every cycle of the module graph (strongly connected components) and every
module that imports its own parent. Exits 1 when it finds either.
"""
import os
import re
import sys


def modules(src):
    """module path (tuple) -> file, for every .rs file under src."""
    found = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src)[:-3].split(os.sep)
            if rel[0] == "bin":
                continue
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            found[tuple(rel)] = path
    return found


PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")


def code_of(path):
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"//[^\n]*", "", text)
    # cut the unit tests: they may use whatever they test
    cut = re.search(r"#\[cfg\(test\)\]\s*mod tests\s*\{", text)
    return text[: cut.start()] if cut else text


def expand_groups(text):
    """`use a::{b, c::d}` -> paths a::b, a::c::d (one level of braces is enough here)."""
    out = []
    for m in re.finditer(r"\b((?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^{}]*)\}", text):
        for part in m.group(2).split(","):
            part = part.strip().split(" as ")[0].strip()
            if part and part != "self":
                out.append(m.group(1) + "::" + part)
            elif part == "self":
                out.append(m.group(1))
    return out


def root_exports(mods, src):
    """Names the crate root re-exports (`pub use module::{A, B}`) -> the module."""
    root = mods.get(())
    if root is None:
        return {}
    out = {}
    code = code_of(root)
    for m in re.finditer(r"pub use ([A-Za-z_][A-Za-z0-9_:]*)::\{([^{}]*)\}", code):
        for part in m.group(2).split(","):
            part = part.strip().split(" as ")[-1].strip()
            if part:
                out[part] = tuple(m.group(1).split("::"))
    for m in re.finditer(r"pub use ([A-Za-z_][A-Za-z0-9_:]*)::([A-Za-z_][A-Za-z0-9_]*);", code):
        out[m.group(2)] = tuple(m.group(1).split("::"))
    return out


def graph(src):
    mods = modules(src)
    exports = root_exports(mods, src)
    edges = {m: set() for m in mods}
    for mod, path in mods.items():
        # a test-only module is its parent's unit tests
        if mod and mod[-1] == "tests":
            continue
        code = code_of(path)
        paths = [m.group(0) for m in PATH.finditer(code)] + expand_groups(code)
        for p in paths:
            parts = p.split("::")
            base = list(mod)
            if parts[0] == "crate":
                base = []
                parts = parts[1:]
            else:
                while parts and parts[0] == "super":
                    # a file module's `super` is its parent
                    base = base[:-1]
                    parts = parts[1:]
            target = tuple(base)
            for part in parts:
                if target + (part,) in mods:
                    target = target + (part,)
                else:
                    break
            # `crate::Name` re-exported by the root: an arrow to the module defining it
            if target == () and parts and parts[0] in exports:
                target = exports[parts[0]]
                while target not in mods and target:
                    target = target[:-1]
            if target != mod:
                edges[mod].add(target)
    return mods, edges


def cycles(edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
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
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            strong(v)
    return out


def name(mod, crate):
    return "::".join((crate,) + mod)


def main():
    dirs = sys.argv[1:] or ["src", "emulator/src"]
    bad = False
    for src in dirs:
        crate = "crate" if src == "src" else src.split("/")[0]
        mods, edges = graph(src)
        for comp in cycles(edges):
            bad = True
            print(f"cycle: {' <-> '.join(sorted(name(m, crate) for m in comp))}")
        for mod, targets in sorted(edges.items()):
            if mod and mod[:-1] in targets and mod[:-1] != ():
                bad = True
                print(f"child imports parent: {name(mod, crate)} -> {name(mod[:-1], crate)}")
    if not bad:
        print("no import cycle, no child importing its parent")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
