"""`prodigy template list` and `prodigy template show NAME`: the templates `template: NAME` finds.

Both read the places composition looks in (compiler/compose_templates.py), in its order; a name
found in two places is the first one, as the lookup would use it.
"""

from __future__ import annotations

import argparse
import sys

from prodigy.cli.common import ExitCode, invalid_input


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    template = commands.add_parser(
        "template", help="list and show the workflow templates `template: NAME` can use",
        description="Templates are workflow files in .prodigy/templates/, templates/ and "
                    "$PRODIGY_HOME/templates/ (the first one found wins).")
    verbs = template.add_subparsers(dest="verb", metavar="VERB", required=True)
    verbs.add_parser("list", help="every template found, with its description",
                     description="List every template found, with its description."
                     ).set_defaults(handler=cmd_list)
    show = verbs.add_parser("show", help="a template's file, parameters and steps",
                            description="Show a template's file, parameters and steps.")
    show.add_argument("name", metavar="NAME")
    show.set_defaults(handler=cmd_show)


def _header(path: str) -> tuple[str | None, dict[str, object]]:
    from prodigy.compiler.source import load_file

    data = load_file(path).data
    if not isinstance(data, dict):
        return None, {}
    description = data.get("description")
    return (description if isinstance(description, str) else None), data


def cmd_list(args: argparse.Namespace) -> ExitCode:
    from prodigy.compiler.compose_templates import all_templates, template_dirs

    found = all_templates()
    if not found:
        places = ", ".join(f"{d}/" for d in template_dirs())
        print(f"no templates (looked in {places})", file=sys.stderr)
        return ExitCode.OK
    width = max(map(len, found))
    for name, path in found.items():
        description, _ = _header(str(path))
        print(f"{name:<{width}}  {path}{'  ' + description if description else ''}")
    return ExitCode.OK


def cmd_show(args: argparse.Namespace) -> ExitCode:
    from prodigy.compiler.compose_templates import declared, find_template

    path, looked = find_template(args.name)
    if path is None:
        return invalid_input(f"no template '{args.name}' (looked for "
                             f"{', '.join(str(p) for p in looked[::2])}, .yaml too)")
    description, data = _header(str(path))
    print(f"{args.name}: {path}")
    if description:
        print(description)
    params = declared(data.get("parameters"), ("parameters",))
    print("parameters:" if params else "parameters: none")
    for decl in params.values():
        kind = decl.type + (", required" if decl.required else "")
        default = f" (default {decl.default!r})" if decl.has_default else ""
        print(f"  {decl.name} ({kind}): {decl.description or ''}{default}")
    print("---")
    print(path.read_text(encoding="utf-8"), end="")
    return ExitCode.OK
