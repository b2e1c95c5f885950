from app import jobs, worker
from app.models import Job


def test_create_job(test_sessions):
    job_id = jobs.create_job("nightly-report")
    assert jobs.job_status(job_id) == "PENDING"


def test_worker_runs_job(test_sessions):
    job_id = jobs.create_job("resize-images")
    worker.run_job(job_id)
    assert jobs.job_status(job_id) == "COMPLETED"


def test_failed_job_is_reported(test_sessions, monkeypatch):
    monkeypatch.setattr(worker, "SessionLocal", test_sessions)
    job_id = jobs.create_job("send-invoices")
    worker.mark_failed(job_id)
    assert jobs.job_status(job_id) == "FAILED"


def test_listed_jobs_include_new_one(session):
    session.add(Job(name="backfill"))
    session.flush()
    assert jobs.list_jobs() == ["backfill"]
