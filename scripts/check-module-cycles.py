#!/usr/bin/env python3
"""Find import cycles between the modules of each crate under crates/*/src.

Usage: python3 scripts/check-module-cycles.py [--allow-cycle MODULE]... [REPO_ROOT]

Exits 0 and prints each crate's module graph (every module with the modules it uses,
in dependency order) when no crate has a cycle; exits 1 naming every cycle, with the
line that makes each of its edges. Python 3 standard library only.

`--allow-cycle MODULE` (repeatable) tolerates, with a warning, the cycles that lie
entirely inside the subtree of MODULE (MODULE itself or MODULE::...) in any crate: a
known debt being paid elsewhere, not a way to hide new cycles (a cycle that leaves the
subtree still fails).

Why a script: `cargo modules` draws the same graph, but it has to build the
rust-analyzer crates first (a long build on a shared 2-core machine) and its output
format changes between releases; this reads the sources directly and runs in well
under a second.

# The graph

Nodes are modules at the granularity of files: `lib.rs`/`main.rs` is the crate root
(printed as `crate`), `foo.rs` and `foo/mod.rs` are `foo`, `foo/bar.rs` is `foo::bar`.
Inline `mod name { ... }` blocks belong to the file they are written in. Modules are
found by following `mod name;` declarations from each crate root (`src/lib.rs`,
`src/main.rs`, `src/bin/*.rs`; every root is a separate graph).

An edge M -> N means code in module M names an item of module N:
- a `use` declaration whose path resolves into N: `use crate::a::b::Item`,
  `use super::x::Item`, `use self::x::Item`, `use child::Item` (a child module of M
  named without a prefix), including every leaf of a brace tree
  (`use crate::{a::X, b::{Y, Z}}`);
- a path in ordinary code: `crate::a::f(...)`, `super::g`, `self::x::h`, `child::f`.

A path resolves to the longest prefix of it that is a module: `crate::train::fused::
dot_simd` is `train::fused`; `super::FLUSH_EVERY` written in `train/sgd.rs` is `train`
(the constant lives in `train/mod.rs`). A name that a module re-exports with `pub use`
is followed to where it is defined: with `pub use data::Dataset;` in `lib.rs`,
`crate::Dataset` is the module `data`, not the crate root. Names brought in by a glob
re-export (`pub use x::*`) cannot be followed from the sources alone and stay at the
re-exporting module. Paths into other crates (`std::`, `labelnoise_core::`, ...) are
not edges.

# Parents and children

A module declaring a child (`mod child;`) does not depend on it, and neither does a
module that re-exports a descendant's items (`pub use child::Item;`, any `pub(...)`
visibility): a `mod.rs` or `lib.rs` that only declares and re-exports is a table of
contents. A parent whose own code uses a child's items (a private `use child::X;`,
or `child::f()` in a function body) depends on the child. A child that names its
parent's items (`use super::Trainer` in `train/fused.rs`) depends on the parent, so
a parent that uses its child and a child that uses its parent form a cycle like any
other. A `pub use` of something outside the module's own subtree is an edge (the
module's interface depends on it).

# What is ignored

Comments (doc comments included, so intra-doc links are not edges), string and
character literals, and every item marked `#[cfg(test)]` (the `mod tests { ... }`
block, or a `mod tests;` file and its children): tests may use anything. Macros are
not expanded; `$crate` paths inside `macro_rules!` are not edges.
"""

import os
import re
import sys

IDENT = r"(?:r#)?[A-Za-z_][A-Za-z0-9_]*"


# ---------------------------------------------------------------------------
# Source cleaning


def strip_comments_and_literals(src):
    """Returns `src` with comments and string/char literals replaced by spaces.

    Newlines are kept, so line numbers stay valid.
    """
    out = []
    i, n = 0, len(src)

    def blank(text):
        return "".join(c if c == "\n" else " " for c in text)

    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(src[i:j]))
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(src[i:j]))
            i = j
        elif re.match(r'b?r(#*)"', src[i:i + 260]) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            m = re.match(r'b?r(#*)"', src[i:])
            close = '"' + m.group(1)
            j = src.find(close, i + m.end())
            j = n if j < 0 else j + len(close)
            out.append(blank(src[i:j]))
            i = j
        elif c == '"' or (c == "b" and src.startswith('b"', i) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_"))):
            j = i + (2 if c == "b" else 1)
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(blank(src[i:j]))
            i = j
        elif c == "'":
            # A char literal ('a', '\n', '\u{1F600}') or a lifetime ('a): only the
            # former has a closing quote right after one (possibly escaped) character.
            m = re.match(r"'(?:\\(?:u\{[0-9A-Fa-f]*\}|x[0-9A-Fa-f]{2}|.)|[^\\'])'", src[i:i + 16])
            if m:
                out.append(blank(m.group(0)))
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def matching_brace(text, open_at):
    """Index just past the `}` that closes the `{` at `open_at`."""
    depth = 0
    for j in range(open_at, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(text)


CFG_TEST = re.compile(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]")


def strip_test_items(text):
    """Blanks every item marked `#[cfg(test)]`; returns (text, names of `mod x;` items)."""
    test_mods = []
    pos = 0
    while True:
        m = CFG_TEST.search(text, pos)
        if not m:
            return text, test_mods
        j = m.end()
        # Skip further attributes on the same item.
        while True:
            k = re.match(r"\s*#\s*\[", text[j:])
            if not k:
                break
            depth, t = 0, j + k.end() - 1
            while t < len(text):
                if text[t] == "[":
                    depth += 1
                elif text[t] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                t += 1
            j = t + 1
        # The item ends at its first `;` or at the brace that closes its first `{`.
        semi, brace = text.find(";", j), text.find("{", j)
        if brace >= 0 and (semi < 0 or brace < semi):
            end = matching_brace(text, brace)
        else:
            end = len(text) if semi < 0 else semi + 1
            decl = re.match(r"\s*(?:pub(?:\s*\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", text[j:end])
            if decl:
                test_mods.append(decl.group(1))
        text = text[:m.start()] + "".join(c if c == "\n" else " " for c in text[m.start():end]) + text[end:]
        pos = m.start()


# ---------------------------------------------------------------------------
# Use trees


USE_DECL = re.compile(r"(?<![\w:])(pub(?:\s*\([^)]*\))?\s+)?use\s+([^;]*);", re.S)
TOKEN = re.compile(r"::|\{|\}|,|\*|" + IDENT)


def expand_use_tree(tree):
    """`a::{b, c::{d, e as f}}` -> [['a','b'], ['a','c','d'], ['a','c','e']]."""
    tokens = TOKEN.findall(tree)
    paths = []

    def parse(k, prefix):
        segs = list(prefix)
        while k < len(tokens):
            t = tokens[k]
            if t == "::":
                k += 1
            elif t == "{":
                k += 1
                while k < len(tokens) and tokens[k] != "}":
                    if tokens[k] == ",":
                        k += 1
                        continue
                    k = parse(k, segs)
                return k + 1
            elif t == "*":
                paths.append(segs + ["*"])
                return k + 1
            elif t in (",", "}"):
                break
            else:
                segs.append(t)
                k += 1
                if k < len(tokens) and tokens[k] == "::":
                    continue
                if k + 1 < len(tokens) and tokens[k] == "as":
                    k += 2
                if segs and segs[-1] == "self":
                    segs.pop()
                paths.append(segs)
                return k
        if segs:
            paths.append(segs)
        return k

    k = 0
    while k < len(tokens):
        k = parse(k, [])
        while k < len(tokens) and tokens[k] in (",", "}"):
            k += 1
    return paths


CODE_PATH = re.compile(r"(?<![\w:$])((?:" + IDENT + r")(?:\s*::\s*(?:" + IDENT + r"))+)")


# ---------------------------------------------------------------------------
# Crate model


class Module:
    def __init__(self, path, file, text, test_mods):
        self.path = path  # tuple of segments, () for the crate root
        self.file = file
        self.text = text  # cleaned source
        self.test_mods = test_mods
        self.children = []
        self.reexports = {}  # name -> absolute path (tuple of segments)
        self.uses = []  # (segments relative to this module, line, is_pub_use)
        self.code_paths = []  # (segments, line)


def module_name(path):
    return "::".join(path) if path else "crate"


MOD_DECL = re.compile(r"(?<![\w:])(?:pub(?:\s*\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;")


def load_crate(root_file):
    """Reads the module tree under `root_file`; returns {path tuple: Module}."""
    modules = {}

    def load(path, file, child_dir):
        with open(file, encoding="utf-8") as f:
            raw = f.read()
        text, test_mods = strip_test_items(strip_comments_and_literals(raw))
        mod = Module(path, file, text, test_mods)
        modules[path] = mod
        for m in MOD_DECL.finditer(text):
            name = m.group(1)
            for candidate in (os.path.join(child_dir, name + ".rs"), os.path.join(child_dir, name, "mod.rs")):
                if os.path.exists(candidate):
                    mod.children.append(name)
                    load(path + (name,), candidate, os.path.join(child_dir, name))
                    break
        return mod

    load((), root_file, os.path.dirname(root_file))
    return modules


def line_of(text, index):
    return text.count("\n", 0, index) + 1


def collect_references(mod):
    text = mod.text
    for m in USE_DECL.finditer(text):
        line = line_of(text, m.start())
        for segs in expand_use_tree(m.group(2)):
            mod.uses.append((segs, line, m.group(1) is not None))
    # Blank the use declarations and `mod` lines, then read paths in code.
    code = USE_DECL.sub(lambda m: "".join(c if c == "\n" else " " for c in m.group(0)), text)
    for m in CODE_PATH.finditer(code):
        segs = [s.strip() for s in m.group(1).split("::")]
        mod.code_paths.append((segs, line_of(code, m.start())))


class Resolver:
    def __init__(self, modules):
        self.modules = modules

    def absolute(self, here, segs):
        """Absolute segments of a path written in module `here`, or None (another crate)."""
        if not segs:
            return None
        head = segs[0]
        if head == "crate":
            base, rest = (), segs[1:]
        elif head in ("self", "super"):
            base, rest = here, segs
            while rest and rest[0] in ("self", "super"):
                if rest[0] == "super":
                    if not base:
                        return None
                    base = base[:-1]
                rest = rest[1:]
        elif head in self.modules[here].children:
            base, rest = here, segs
        else:
            return None
        return tuple(base) + tuple(rest)

    def module_of(self, abs_segs, depth=0):
        """The module that defines the item at an absolute path (re-exports followed)."""
        cur = ()
        for k, seg in enumerate(abs_segs):
            if cur + (seg,) in self.modules:
                cur = cur + (seg,)
                continue
            target = self.modules[cur].reexports.get(seg)
            if target is not None and depth < 16 and target != tuple(abs_segs[: k + 1]):
                return self.module_of(target + tuple(abs_segs[k + 1:]), depth + 1)
            break
        return cur


def build_graph(modules):
    """Returns {module: {dependency: (file, line, excerpt)}}."""
    for mod in modules.values():
        collect_references(mod)
    res = Resolver(modules)
    # Re-exports first: `pub use` names, as absolute paths.
    for mod in modules.values():
        for segs, _line, is_pub in mod.uses:
            if not is_pub or not segs or segs[-1] == "*":
                continue
            target = res.absolute(mod.path, segs)
            if target is not None:
                mod.reexports[segs[-1]] = target
    graph = {path: {} for path in modules}
    for mod in modules.values():
        with open(mod.file, encoding="utf-8") as f:
            lines = f.read().splitlines()
        refs = [(segs, line, is_pub) for segs, line, is_pub in mod.uses]
        refs += [(segs, line, False) for segs, line in mod.code_paths]
        for segs, line, is_pub in refs:
            target = res.absolute(mod.path, [s for s in segs if s != "*"])
            if target is None:
                continue
            dep = res.module_of(target)
            if dep == mod.path:
                continue
            if is_pub and dep[: len(mod.path)] == mod.path:
                continue  # re-exporting a descendant's item
            if dep not in graph[mod.path]:
                excerpt = lines[line - 1].strip() if line - 1 < len(lines) else ""
                graph[mod.path][dep] = (os.path.relpath(mod.file), line, excerpt)
    return graph


# ---------------------------------------------------------------------------
# Cycles


def strongly_connected(graph):
    """Tarjan's algorithm, iterative; returns the components with more than one module."""
    index, low, on_stack, stack, comps = {}, {}, set(), [], []
    counter = [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    v = stack.pop()
                    on_stack.discard(v)
                    comp.append(v)
                    if v == node:
                        break
                if len(comp) > 1:
                    comps.append(sorted(comp))
    return comps


def cycle_through(graph, comp):
    """One shortest cycle inside a strongly connected component, as a list of modules."""
    members = set(comp)
    best = None
    for start in comp:
        # Breadth-first search back to `start`.
        prev, frontier, found = {start: None}, [start], None
        while frontier and found is None:
            nxt_frontier = []
            for v in frontier:
                for w in sorted(graph[v]):
                    if w not in members:
                        continue
                    if w == start:
                        found = v
                        break
                    if w not in prev:
                        prev[w] = v
                        nxt_frontier.append(w)
                if found is not None:
                    break
            frontier = nxt_frontier
        if found is None:
            continue
        path = [found]
        while prev[path[-1]] is not None:
            path.append(prev[path[-1]])
        path.reverse()
        if best is None or len(path) < len(best):
            best = path
    return best


def order_for_print(graph):
    """Dependencies first; the members of an allowed cycle are printed in name order."""
    order, done = [], set()

    def visit(v, stack):
        if v in done or v in stack:
            return
        stack.add(v)
        for w in sorted(graph[v]):
            visit(w, stack)
        stack.discard(v)
        done.add(v)
        order.append(v)

    for v in sorted(graph):
        visit(v, set())
    return order


def crate_roots(crate_dir):
    src = os.path.join(crate_dir, "src")
    roots = [os.path.join(src, f) for f in ("lib.rs", "main.rs") if os.path.exists(os.path.join(src, f))]
    bins = os.path.join(src, "bin")
    if os.path.isdir(bins):
        for f in sorted(os.listdir(bins)):
            if f.endswith(".rs"):
                roots.append(os.path.join(bins, f))
            elif os.path.exists(os.path.join(bins, f, "main.rs")):
                roots.append(os.path.join(bins, f, "main.rs"))
    return roots


def check(repo_root, out=sys.stdout, allow=()):
    """Checks every crate under `repo_root`/crates; returns the number of cycles found
    outside the subtrees named in `allow` (those are printed as warnings)."""
    crates_dir = os.path.join(repo_root, "crates")
    graphs = []
    for name in sorted(os.listdir(crates_dir)):
        crate_dir = os.path.join(crates_dir, name)
        for root in crate_roots(crate_dir):
            modules = load_crate(root)
            label = "%s (%s)" % (name, os.path.relpath(root, crate_dir))
            graphs.append((label, build_graph(modules)))
    cycles, allowed = 0, 0

    def inside(module, subtree):
        return module[: len(subtree)] == subtree

    for label, graph in graphs:
        for comp in strongly_connected(graph):
            path = cycle_through(graph, comp)
            names = " -> ".join(module_name(p) for p in path + [path[0]])
            if any(all(inside(m, tuple(a.split("::"))) for m in comp) for a in allow):
                allowed += 1
                print("allowed cycle in %s (--allow-cycle): %s" % (label, names), file=out)
                continue
            cycles += 1
            print("cycle in %s: %s" % (label, names), file=out)
            for a, b in zip(path, path[1:] + [path[0]]):
                file, line, excerpt = graph[a][b]
                print("    %s -> %s  (%s:%d: %s)" % (module_name(a), module_name(b), file, line, excerpt), file=out)
            if len(comp) > len(path):
                print("    (all modules in this cycle: %s)" % ", ".join(module_name(p) for p in comp), file=out)
    if cycles:
        print("%d module cycle(s) found" % cycles, file=out)
        return cycles
    for label, graph in graphs:
        edges = sum(len(d) for d in graph.values())
        verdict = "no cycle" if not any(strongly_connected(graph)) else "only allowed cycles"
        print("%s: %d modules, %d edges, %s" % (label, len(graph), edges, verdict), file=out)
        for v in order_for_print(graph):
            deps = ", ".join(sorted(module_name(d) for d in graph[v])) or "-"
            print("    %s -> %s" % (module_name(v), deps), file=out)
    return 0


def main(argv):
    allow, rest, k = [], [], 1
    while k < len(argv):
        if argv[k] == "--allow-cycle" and k + 1 < len(argv):
            allow.append(argv[k + 1])
            k += 2
        elif argv[k].startswith("--allow-cycle="):
            allow.append(argv[k].split("=", 1)[1])
            k += 1
        elif argv[k].startswith("-"):
            print("usage: check-module-cycles.py [--allow-cycle MODULE]... [REPO_ROOT]", file=sys.stderr)
            return 2
        else:
            rest.append(argv[k])
            k += 1
    repo_root = rest[0] if rest else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    return 1 if check(os.path.abspath(repo_root), allow=allow) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
