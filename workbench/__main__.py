"""python -m workbench: the same as the `workbench` command."""

if __name__ == "__main__":
    from workbench.cli import main

    raise SystemExit(main())
