"""Guest fixes: other platforms' agents disabled (their packages stay; uninstall them later if wanted)."""

from __future__ import annotations

from workbench.fixes import Fix, View, register_fix
from workbench.fixes.services import disable_units


@register_fix("fix.remove-agents", "Disable other hypervisors' and clouds' agents")
def remove_agents(fix: Fix, view: View) -> None:
    disable_units(fix, view)
    fix.notes.append("the agents are disabled, not uninstalled: their packages stay in the image")
