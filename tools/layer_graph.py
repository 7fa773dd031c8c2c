"""What imports what inside ov_seg_ros, read from the source (function-local imports too).

`python tools/layer_graph.py` prints the layer diagram of docs/architecture.md as a mermaid block;
test/test_layers.py checks the layer rules with the same reader and that the document's diagram is
the one the code draws today.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

PACKAGE = Path(__file__).resolve().parent.parent / "ov_seg_ros"
LAYERS = ("engine", "parameters", "messages", "node", "offline")


def imported_modules(source: str, module: str) -> List[str]:
    """Absolute names of everything `module` (dotted, e.g. ov_seg_ros.engine.model) imports."""
    names = []
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            names.append(base)
            if base.startswith("ov_seg_ros"):  # `from .. import messages` imports the sub-package
                names += [f"{base}.{alias.name}" for alias in node.names]
    return names


def package_modules() -> Iterator[Tuple[str, str, Path]]:
    """(layer, dotted module name, path) of every module in a layer package (an __init__ is its package)."""
    for layer in LAYERS:
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield layer, ".".join(parts), path


def layer_edges() -> Dict[str, Set[str]]:
    """layer -> the other layers its modules import."""
    edges: Dict[str, Set[str]] = {layer: set() for layer in LAYERS}
    for layer, module, path in package_modules():
        for name in imported_modules(path.read_text(), module):
            parts = name.split(".")
            if parts[0] == "ov_seg_ros" and len(parts) > 1 and parts[1] in LAYERS and parts[1] != layer:
                edges[layer].add(parts[1])
    return edges


def mermaid() -> str:
    """The layers as boxes (with their modules) and their imports as arrows, in mermaid."""
    lines = ["```mermaid", "flowchart TD"]
    for layer in LAYERS:
        modules = sorted(m.split(".", 2)[2] for lay, m, _ in package_modules() if lay == layer and m.count(".") > 1)
        lines.append(f'  {layer}["<b>{layer}/</b><br/>{"<br/>".join(modules)}"]')
    for layer, targets in layer_edges().items():
        lines += [f"  {layer} --> {target}" for target in sorted(targets)]
    lines.append("```")
    return "\n".join(lines)


if __name__ == "__main__":
    print(mermaid())
