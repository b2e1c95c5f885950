from sqlalchemy import select

from app import db
from app.models import Job


def create_job(name: str) -> int:
    with db.SessionLocal() as session:
        job = Job(name=name)
        session.add(job)
        session.commit()
        return job.id


def list_jobs() -> list[str]:
    with db.SessionLocal() as session:
        return [job.name for job in session.scalars(select(Job).order_by(Job.id))]


def job_status(job_id: int) -> str:
    with db.SessionLocal() as session:
        return session.get(Job, job_id).status
