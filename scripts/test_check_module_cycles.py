"""Self-test of scripts/check-module-cycles.py on small fixture crates.

Run from the repository root: python3 -m unittest scripts/test_check_module_cycles.py
"""

import importlib.util
import io
import os
import tempfile
import textwrap
import unittest

_HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("check_module_cycles", os.path.join(_HERE, "check-module-cycles.py"))
checker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(checker)


def make_tree(root, files):
    """Writes {relative path: source} under root."""
    for rel, src in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(src))


def run_check(files, allow=()):
    with tempfile.TemporaryDirectory() as root:
        make_tree(root, files)
        out = io.StringIO()
        cycles = checker.check(root, out, allow)
        return cycles, out.getvalue()


# A layered crate: the root only declares and re-exports; `train` uses its children,
# which share `train::kernel` and never name `train` itself; tests and comments name
# anything.
ACYCLIC = {
    "crates/demo/src/lib.rs": """
        //! Uses [`crate::train::Trainer`] in a doc link: not an edge.
        pub mod data;
        pub mod load;
        pub mod train;
        pub use data::Dataset;
        pub use train::Trainer;
    """,
    "crates/demo/src/data.rs": """
        pub struct Dataset;
        // crate::load::load would be a cycle, but this is a comment.
        const NOTE: &str = "crate::load::load";
        #[cfg(test)]
        mod tests {
            use crate::load::load;
        }
    """,
    "crates/demo/src/load.rs": """
        use crate::Dataset;
        pub fn load() -> Dataset { Dataset }
    """,
    "crates/demo/src/train/mod.rs": """
        mod fused;
        pub mod kernel;
        mod sgd;
        pub use kernel::StepParams;
        use crate::data::Dataset;
        pub struct Trainer;
        impl Trainer {
            pub fn run(&self, d: &Dataset) { fused::run(d); sgd::run(d); }
        }
    """,
    "crates/demo/src/train/kernel.rs": """
        pub struct StepParams;
        pub const FLUSH_EVERY: u64 = 64;
    """,
    "crates/demo/src/train/fused.rs": """
        use super::kernel::{StepParams, FLUSH_EVERY};
        use crate::{data::Dataset};
        pub fn run(_: &Dataset) {}
        #[cfg(test)]
        mod tests {
            use crate::train::Trainer;
        }
    """,
    "crates/demo/src/train/sgd.rs": """
        use crate::data::Dataset;
        pub fn run(_: &Dataset) { let _ = crate::train::kernel::FLUSH_EVERY; }
    """,
}


class CycleCheckerTest(unittest.TestCase):
    def test_acyclic_tree_passes_and_prints_the_graph(self):
        cycles, out = run_check(ACYCLIC)
        self.assertEqual(cycles, 0, out)
        self.assertIn("no cycle", out)
        # The parent that uses its children's items depends on them ...
        self.assertIn("    train -> data, train::fused, train::sgd", out)
        # ... the re-exported `crate::Dataset` is followed to `data` ...
        self.assertIn("    load -> data", out)
        # ... and a root that only declares and re-exports depends on nothing.
        self.assertIn("    crate -> -", out)

    def test_cycle_between_siblings_is_reported(self):
        files = dict(ACYCLIC)
        files["crates/demo/src/data.rs"] = """
            pub struct Dataset;
            impl Dataset {
                pub fn open() -> Dataset { crate::load::load() }
            }
        """
        cycles, out = run_check(files)
        self.assertEqual(cycles, 1, out)
        self.assertIn("cycle in demo (src/lib.rs): data -> load -> data", out)
        self.assertIn("data.rs:4", out)

    def test_child_using_its_parent_is_a_cycle(self):
        files = dict(ACYCLIC)
        files["crates/demo/src/train/fused.rs"] = """
            use super::{kernel::StepParams, Trainer};
            pub fn run(_: &crate::data::Dataset) {}
        """
        cycles, out = run_check(files)
        self.assertEqual(cycles, 1, out)
        self.assertIn("train -> train::fused -> train", out)

    def test_allowed_cycles_stay_inside_their_subtree(self):
        files = dict(ACYCLIC)
        files["crates/demo/src/train/fused.rs"] = """
            use super::Trainer;
        """
        cycles, out = run_check(files, allow=["train"])
        self.assertEqual(cycles, 0, out)
        self.assertIn("allowed cycle in demo (src/lib.rs) (--allow-cycle): train -> train::fused -> train", out)
        # Allowing another subtree does not hide it.
        cycles, out = run_check(files, allow=["data"])
        self.assertEqual(cycles, 1, out)

    def test_cycle_through_a_re_export_is_reported(self):
        # `load` names `crate::Dataset`; the root re-exports it from `data`, which uses
        # `load`: a cycle even though no path spells `data`.
        files = dict(ACYCLIC)
        files["crates/demo/src/data.rs"] = """
            pub struct Dataset;
            pub fn open() { let _ = super::load::load(); }
        """
        cycles, out = run_check(files)
        self.assertEqual(cycles, 1, out)
        self.assertIn("data -> load -> data", out)

    def test_use_trees_expand_to_every_leaf(self):
        self.assertEqual(
            checker.expand_use_tree("crate::{a::X, b::{self, Y as Z}, c::*}"),
            [["crate", "a", "X"], ["crate", "b"], ["crate", "b", "Y"], ["crate", "c", "*"]],
        )

    def test_literals_and_comments_are_blanked(self):
        src = 'let s = "crate::x"; /* crate::y /* nested */ */ let c = \'"\'; // crate::z\nlet l: &\'a str;'
        cleaned = checker.strip_comments_and_literals(src)
        self.assertNotIn("crate::", cleaned)
        self.assertIn("&'a str", cleaned)
        self.assertEqual(cleaned.count("\n"), 1)


if __name__ == "__main__":
    unittest.main()
