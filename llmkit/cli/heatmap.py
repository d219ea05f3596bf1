"""Attention heatmaps: coloured grids in the terminal (rich) and a PNG (matplotlib)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from llmkit.errors import ConfigurationError

__all__ = ["render_terminal", "write_png"]

_SHADES = " ░▒▓█"


def _label(token: str, width: int = 8) -> str:
    shown = token.replace("\n", "\\n").replace("\t", "\\t").replace(" ", "·")
    return (shown[: width - 1] + "…") if len(shown) > width else shown.ljust(width)


def render_terminal(tokens: list[str], maps: Any, layers: Iterable[int], heads: Iterable[int], title: str) -> None:
    """One small grid per (layer, head); darker and warmer means more attention."""
    from rich.console import Console
    from rich.text import Text

    console = Console()
    console.print(f"[bold]{title}[/bold]  rows attend to columns; each row sums to 1")
    heads = list(heads)
    for layer in layers:
        for head in heads:
            grid = maps[layer, head]
            console.print(f"\n[bold]layer {layer} head {head}[/bold]")
            console.print(" " * 9 + " ".join(_label(t, 3) for t in tokens), highlight=False)
            for i, token in enumerate(tokens):
                line = Text(_label(token) + " ")
                for j in range(len(tokens)):
                    w = float(grid[i, j])
                    if j > i:
                        line.append("    ")
                        continue
                    shade = _SHADES[min(len(_SHADES) - 1, int(w * len(_SHADES)))]
                    red = int(80 + 175 * w)
                    line.append(shade * 3 + " ", style=f"rgb({red},{int(60 + 80 * (1 - w))},60)")
                console.print(line)


def write_png(tokens: list[str], maps: Any, path: str, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigurationError("writing a PNG needs matplotlib", hint="pip install 'llmkit[plot]'") from None
    n_layer, n_head = maps.shape[0], maps.shape[1]
    fig, axes = plt.subplots(n_layer, n_head, figsize=(2.2 * n_head, 2.2 * n_layer), squeeze=False)
    labels = [t.replace("\n", "\\n") for t in tokens]
    for layer in range(n_layer):
        for head in range(n_head):
            ax = axes[layer][head]
            ax.imshow(maps[layer, head].numpy(), cmap="viridis", vmin=0, vmax=1)
            ax.set_title(f"L{layer} H{head}", fontsize=8)
            ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
            ax.set_yticks(range(len(labels)), labels, fontsize=6)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
