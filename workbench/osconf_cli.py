"""`workbench osconf validate FILE` and `workbench osconf render [--from-json FILE]`: values are never evaluated."""

from __future__ import annotations

import json
import sys
from typing import Callable

from workbench import osconf
from workbench.errors import UsageError


def osconf_command(args, read_input: Callable[[str, str], bytes]) -> int:
    """Validate: exit 0 when valid, 1 with one `key: message` line per problem. Render: the os.conf from JSON."""
    if args.osconf_command == "validate":
        conf, problems = osconf.validate(read_input(args.file, "os.conf"))
        for p in problems:
            print(p.line())
        return 0 if conf is not None else 1
    if args.osconf_command == "render":
        if args.from_json:
            raw = read_input(args.from_json, "JSON file")
        elif not sys.stdin.isatty():
            raw = sys.stdin.buffer.read(1 << 20)
        else:
            print(osconf.EXAMPLE_VPC, end="")
            return 0
        try:
            values = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UsageError(f"the JSON input is not valid JSON ({e})") from None
        if not isinstance(values, dict):
            raise UsageError("the JSON input must be an object of os.conf keys")
        values = {k: (None if v is None else str(v) if isinstance(v, (int, float)) else v) for k, v in values.items()}
        conf, problems = osconf.from_values(values)
        for p in problems:
            print(p.line(), file=sys.stderr)
        if conf is None:
            return 1
        print(conf.render(), end="")
        return 0
    raise UsageError("workbench osconf: say validate FILE or render (see workbench osconf --help)")
