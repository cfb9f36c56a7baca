"""The worked example of docs/python.md runs as written, and its PyTorch snippet too."""

import pathlib
import re

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "python.md"


def block_after(heading):
    text = DOC.read_text()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_figure1_example_runs_as_written(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(block_after("## Worked example"), "docs/python.md", "exec"), scope)
    assert (tmp_path / "fig1.png").stat().st_size > 10_000
    plain, noisy, x, y = scope["plain"], scope["noisy"], scope["x"], scope["y"]
    ln = scope["ln"]
    # The claim the example illustrates: label noise lowers reg below plain SGD's.
    reg = lambda runs: sorted(ln.analyze(r.model, x, y).reg for r in runs)
    assert max(reg(noisy)) < min(reg(plain))


def test_pytorch_snippet_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(block_after("## PyTorch"), "docs/python.md", "exec"), scope)
    assert (tmp_path / "m.safetensors").exists()
    assert scope["net"].hidden == [64]
