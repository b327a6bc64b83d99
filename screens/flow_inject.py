"""The inject and report steps of the App: confirmation, the writing worker, its progress and result; the export."""

from __future__ import annotations

import os

from textual import work

from screens.messages import ExportDone, ExportProgress, InjectDone, InjectProgress, Notice
from screens.modals import ConfirmModal, TypedConfirmModal
from workbench.errors import WorkbenchError
from workbench.state import InjectTarget


class InjectFlow:
    """Mixin for WorkbenchApp (which holds the session as state, the UI's progress as ui, path and the screens)."""

    @work(thread=True, exclusive=True, exit_on_error=False, group="inject")
    def run_inject(self, target: InjectTarget) -> None:
        result = self.state.compute_inject(target, progress=lambda p: self.post_message(InjectProgress(p.phase)),
                                           notify=lambda t: self.post_message(Notice(t)))
        self.post_message(InjectDone(result))

    # -- report ----------------------------------------------------------------------------------------
    def action_export_report(self) -> None:
        """The session's document (the same the CLI's report writes), in the format the file name asks for."""
        from workbench.report import document
        from workbench.staging import write_text

        st = self.state
        if st.review is None:
            self.notify("Nothing to report yet", severity="warning")
            return
        screen = self.get_screen("report")
        out = screen.output if screen.is_mounted else None
        if not out:
            self.notify("Say where to write the report", severity="warning")
            return
        if os.path.splitext(out)[1].lower() not in document.SUFFIXES:
            self.notify("The report's file name must end in .md, .html or .json", severity="error")
            return
        try:
            write_text(out, document.render(st.document(), os.path.splitext(out)[1]), force=True)
        except WorkbenchError as e:
            self.notify(str(e), severity="error")
            return
        except OSError as e:
            self.notify(f"{out} cannot be written ({e.strerror})", severity="error")
            return
        st.report_path = out
        self._refresh_screens()
        self.notify(f"Report written to {out}")

    # -- the hand-off to the import ------------------------------------------------------------------
    def import_commands(self) -> dict[str, str]:
        if self.state.review is None:
            return {}
        return self.state.import_plan()[1]

    def action_copy_import(self) -> None:
        """The aliyun ImportImage command to the terminal's clipboard (OSC 52, as Textual does it)."""
        command = self.import_commands().get("aliyun")
        if not command:
            self.notify("Nothing to import yet: the review is still running", severity="warning")
            return
        self.copy_to_clipboard(command)
        self.notify("The aliyun ecs ImportImage command is on the clipboard (fill in BUCKET and OBJECT, or use "
                    "workbench import-plan --bucket --object)")

    def action_export_image(self) -> None:
        if self.ui.export_phase:
            self.notify("An export is already running", severity="warning")
            return
        screen = self.get_screen("report")
        out = screen.export_output if screen.is_mounted else ""
        if not out:
            self.notify("Say where to write the exported image", severity="warning")
            return
        self.ui.export_phase = "Starting"
        self.state.take_export(None)
        self._refresh_screens()
        self.run_export(out)

    @work(thread=True, exclusive=True, exit_on_error=False, group="export")
    def run_export(self, out: str) -> None:
        result = self.state.compute_export(out, progress=lambda phase, done, total: self.post_message(
            ExportProgress(phase, done, total)))
        self.post_message(ExportDone(result))

    def on_export_progress(self, message: ExportProgress) -> None:
        pct = message.done * 100 // message.total if message.total else 0
        self.ui.export_phase = f"{message.phase} {pct}%"
        screen = self.get_screen("report")
        if screen.is_mounted:
            screen.update_view()

    def on_export_done(self, message: ExportDone) -> None:
        self.ui.export_phase = None
        self.state.take_export(message.result)
        self._refresh_screens()
        self.notify(f"Exported and verified: {message.result.output}")

    # -- inject ------------------------------------------------------------------------------------
    def action_write_image(self) -> None:
        screen = self.get_screen("inject")
        plan, why = self.state.injection_plan(screen.with_osconf)
        if plan is None:
            self.notify(why or "no plan yet", severity="warning")
            return
        name = self.state.review.facts.name
        writes = f"{len(plan.writes)} writes ({', '.join(plan.fixes) or 'no fixes'}), then a verification"
        if screen.in_place:
            self.push_screen(TypedConfirmModal(name, f"The parser and {writes} go into {self.path} itself. "
                                                     "There is no copy to fall back on."),
                             lambda ok: ok and self._start_inject(InjectTarget(in_place=True,
                                                                               with_osconf=screen.with_osconf)))
            return
        out = screen.output
        if not out:
            self.notify("Say where to write the new image", severity="warning")
            return
        self.push_screen(ConfirmModal("Write a new image?", f"{out} will be a copy of {name} with the parser "
                                      f"and {writes}. {name} itself is not modified.", "Write"),
                         lambda ok: ok and self._start_inject(InjectTarget(out, with_osconf=screen.with_osconf)))

    def _start_inject(self, target: InjectTarget) -> None:
        if target.in_place:  # in place: our read-only handle holds the image
            self.state.close()
        self.state.take_inject(None)
        self.run_inject(target)

    def on_inject_progress(self, message: InjectProgress) -> None:
        self.ui.inject_phase = message.phase if message.phase != "Done" else None
        screen = self.get_screen("inject")
        if screen.is_mounted:
            screen.show_progress(self.ui.inject_phase)

    def on_inject_done(self, message: InjectDone) -> None:
        self.ui.inject_phase = None
        self.state.take_inject(message.result)
        self._refresh_screens()
        self.notify(f"Written and verified: {message.result.output}")
