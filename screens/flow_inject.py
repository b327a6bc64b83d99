"""The inject and report steps of the App: confirmation, the writing worker, its progress and result; the export."""

from __future__ import annotations

import os

from textual import work

from screens.messages import ExportDone, ExportProgress, InjectDone, InjectProgress, Notice
from screens.modals import ConfirmModal, TypedConfirmModal
from workbench import osconf
from workbench.errors import WorkbenchError


class InjectFlow:
    """Mixin for WorkbenchApp (which holds state, session, path and the screens)."""

    @work(thread=True, exclusive=True, exit_on_error=False, group="inject")
    def run_inject(self, output: str | None, fix_ids: list[str], osconf_text: str | None) -> None:
        from workbench.inject import inject

        st = self.state
        result = inject(self.path, output, output is None, False, st.effective_flavor(), st.custom_script,
                        tuple(fix_ids), osconf_text,
                        progress=lambda p: self.post_message(InjectProgress(p.phase)),
                        notify=lambda t: self.post_message(Notice(t)),
                        allow_backing=bool(st.options.get("allow_backing")))
        self.post_message(InjectDone(result))

    # -- report ----------------------------------------------------------------------------------------
    def action_export_report(self) -> None:
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
        plan, _ = st.injection_plan(False)
        doc = document.ReviewDocument(st.review, st.osconf_text(), osconf.from_values(st.osconf_values)[1],
                                      st.changeset, plan, st.inject_result)
        try:
            write_text(out, document.render(doc, os.path.splitext(out)[1]), force=True)
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
        from workbench import importplan

        st = self.state
        if st.review is None:
            return {}
        return importplan.commands(importplan.build(st.review), self.path)

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
        st = self.state
        if st.export_phase:
            self.notify("An export is already running", severity="warning")
            return
        screen = self.get_screen("report")
        out = screen.export_output if screen.is_mounted else ""
        if not out:
            self.notify("Say where to write the exported image", severity="warning")
            return
        st.export_phase, st.export_error, st.export_result = "Starting", None, None
        self._refresh_screens()
        self.run_export(out)

    @work(thread=True, exclusive=True, exit_on_error=False, group="export")
    def run_export(self, out: str) -> None:
        from workbench.export import export, infer_format

        fmt = infer_format(out)
        try:
            result = export(self.path, out, fmt, progress=lambda phase, done, total: self.post_message(
                ExportProgress(phase, done, total)), allow_backing=bool(self.state.options.get("allow_backing")))
        except WorkbenchError as e:
            self.post_message(ExportDone(None, str(e)))
            return
        self.post_message(ExportDone(result))

    def on_export_progress(self, message: ExportProgress) -> None:
        pct = message.done * 100 // message.total if message.total else 0
        self.state.export_phase = f"{message.phase} {pct}%"
        screen = self.get_screen("report")
        if screen.is_mounted:
            screen.update_view()

    def on_export_done(self, message: ExportDone) -> None:
        st = self.state
        st.export_phase, st.export_result, st.export_error = None, message.result, message.error
        self._refresh_screens()
        if message.error:
            self.notify(message.error, severity="error")
        else:
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
                             lambda ok: ok and self._start_inject(plan, None, screen.with_osconf))
            return
        out = screen.output
        if not out:
            self.notify("Say where to write the new image", severity="warning")
            return
        self.push_screen(ConfirmModal("Write a new image?", f"{out} will be a copy of {name} with the parser "
                                      f"and {writes}. {name} itself is not modified.", "Write"),
                         lambda ok: ok and self._start_inject(plan, out, screen.with_osconf))

    def _start_inject(self, plan, output: str | None, with_osconf: bool) -> None:
        if output is None and self.session is not None:  # in place: our read-only handle holds the image
            self.session.close()
            self.session = None
        self.state.inject_result = self.state.inject_error = None
        self.run_inject(output, plan.fixes, self.state.osconf_text() if with_osconf else None)

    def on_inject_progress(self, message: InjectProgress) -> None:
        self.state.inject_phase = message.phase if message.phase != "Done" else None
        screen = self.get_screen("inject")
        if screen.is_mounted:
            screen.show_progress(self.state.inject_phase)

    def on_inject_done(self, message: InjectDone) -> None:
        self.state.inject_phase = None
        self.state.inject_result = message.result
        self._refresh_screens()
        self.notify(f"Written and verified: {message.result.output}")
