"""Inject the parser (and the chosen fixes) into an image: plan, apply, verify, undo.

plan.py computes every write from the pulled tree (previewable before anything is
written); writer.py applies a plan through a writable session (shared with the boot
rehearsal); verify.py reads every write back; run.py stages the output; uninject.py
restores what the manifest lists.
"""

from workbench.inject.plan import FIRST, InjectError, InjectionPlan, build_plan
from workbench.inject.run import InjectResult, inject
from workbench.inject.uninject import uninject
from workbench.inject.verify import VerifyItem, verify_mounted
from workbench.inject.writer import BACKUP_DIR, MANIFEST, Writer, apply_plan

__all__ = ["FIRST", "InjectError", "InjectionPlan", "build_plan", "InjectResult", "inject", "uninject",
           "VerifyItem", "verify_mounted", "BACKUP_DIR", "MANIFEST", "Writer", "apply_plan"]
