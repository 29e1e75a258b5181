"""``python -m mnlab.diagrams [DIRECTORY] [NAME ...]``: write the diagrams as SVG (``make figures``)."""
import argparse

from mnlab.diagrams import DIAGRAMS, render_all


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mnlab.diagrams", description=__doc__)
    parser.add_argument("directory", nargs="?", default="figures", help="where to write the SVGs (default: figures)")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"diagrams to draw (default: all): {', '.join(DIAGRAMS)}")
    args = parser.parse_args(argv)
    for path in render_all(args.directory, args.names or None):
        print(path)


if __name__ == "__main__":
    main()
