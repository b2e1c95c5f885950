from app.db import SessionLocal
from app.models import Job


def run_job(job_id: int) -> None:
    session = SessionLocal()
    try:
        job = session.get(Job, job_id)
        if job is None:
            raise LookupError(f"Job not found: {job_id}")
        job.status = "COMPLETED"
        session.commit()
    finally:
        session.close()


def mark_failed(job_id: int) -> None:
    session = SessionLocal()
    job = session.get(Job, job_id)
    job.status = "FAILED"
    session.flush()
    session.close()
