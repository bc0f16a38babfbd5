"""A new job starts as a placeholder: the job manager's part that follows it to the job its
worker planned (a new one, or the existing job for the same image and options)."""

from __future__ import annotations

from ...core.jobs import Job


class Placeholders:
    """Mixed into the job manager: uses its aliases, jobs, worker tables, locks,
    deliveries, paused, reimport, requests, start notes and started hooks."""

    def resolve(self, job_id: str) -> str:
        """The id a job goes by now: a placeholder's is its planned job's."""
        seen = set()
        while job_id in self.aliases and job_id not in seen:
            seen.add(job_id)
            job_id = self.aliases[job_id]
        return job_id

    def _planned(self, placeholder_id: str, data: dict) -> Job:
        """A new job's worker planned it: follow the planned job under its own id."""
        job = Job.from_dict(data["job"])
        notes = data["notes"]
        self.requests.pop(placeholder_id, None)
        if data["lock"] is None:  # it ends here (already being made, or maybe paid before)
            self.aliases[placeholder_id] = job.id
            if job.id not in self.active_ids():  # a job running here keeps its live copy
                self.jobs[job.id] = job  # as planning left it (e.g. a cut-off submit: submit_unknown)
            return job
        if job.id != placeholder_id:
            self.aliases[placeholder_id] = job.id
            for table in (self.threads, self.stops, self.worker_tokens, self.paused):
                if placeholder_id in table:
                    table[job.id] = table.pop(placeholder_id)
            if placeholder_id in self.stop_requested:
                self.stop_requested.discard(placeholder_id)
                self.stop_requested.add(job.id)
            self.jobs.pop(placeholder_id, None)
            self.ignored.discard(job.id)  # a job a bug stopped, asked for again: its new worker counts
        self.jobs[job.id] = job
        self.offer_only.discard(job.id)  # asked for here and now
        self.locks[job.id] = data["lock"]
        self.deliveries[job.id] = data["delivery"]
        if job.id in self.paused:  # paused while it was planned: it resumes with its delivery
            self.paused[job.id] = data["delivery"]
        if data["decision"] == "reimport":
            self.reimport.add(job.id)
        if notes:
            self.start_notes[job.id] = list(notes)
            self.report_job(job, "INFO", " ".join(notes))
        if job.id != placeholder_id:
            for hook in list(self.started_hooks):
                hook(job, None)
        return job
