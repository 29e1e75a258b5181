"""``python -m mnlab.diagrams [DIRECTORY] [NAME ...]``: write the diagrams, and the chapters' figures that
:func:`mnlab.plots.exported_figures` lists, as SVG (``make figures``)."""
import argparse
import pathlib

from mnlab.diagrams import DIAGRAMS, render_all
from mnlab.diagrams.style import save_svg
from mnlab.plots import exported_figures


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mnlab.diagrams", description=__doc__)
    parser.add_argument("directory", nargs="?", default="figures", help="where to write the SVGs (default: figures)")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"diagrams to draw (default: all): {', '.join(DIAGRAMS)}")
    args = parser.parse_args(argv)
    chapter_figures = exported_figures()
    names = args.names or [*DIAGRAMS, *chapter_figures]
    unknown = [n for n in names if n not in DIAGRAMS and n not in chapter_figures]
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; known: {', '.join([*DIAGRAMS, *chapter_figures])}")
    for path in render_all(args.directory, [n for n in names if n in DIAGRAMS]):
        print(path)
    for name in (n for n in names if n in chapter_figures):
        print(save_svg(chapter_figures[name](), pathlib.Path(args.directory) / f"{name}.svg"))


if __name__ == "__main__":
    main()
